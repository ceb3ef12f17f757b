"""Probes: the threshold logic (pure), the handlers against real sockets on
127.0.0.1, and the scheduler driven by a fake clock."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from kemu.clock import FakeClock
from kubelet.probes import (
    ContainerProbeStatus,
    HookError,
    ProbeKind,
    ProbeManager,
    ProbeOutcome,
    ProbeRunner,
    ProbeSpec,
    ProbeState,
    ProbeTarget,
    Result,
    container_probe_status,
    may_run,
    resolve_port,
)

pytestmark = pytest.mark.timeout(30)

S, F = Result.SUCCESS, Result.FAILURE


def target(container: dict[str, Any] | None = None, ip: str = "127.0.0.1", cid: str = "kemu://c1", started_at: float = 0.0) -> ProbeTarget:
    return ProbeTarget("uid-1", "default", "web", "c", cid, ip, container or {"name": "c"}, handle=object(), started_at=started_at)


class TestProbeSpec:
    def test_defaults_are_kubernetes(self) -> None:
        """A bare probe: no delay, every 10 s, 1 s timeout, thresholds 1 and 3."""
        spec = ProbeSpec.from_spec({"httpGet": {"port": 80}})
        assert (spec.handler, spec.initial_delay, spec.period, spec.timeout) == ("httpGet", 0.0, 10.0, 1.0)
        assert (spec.success_threshold, spec.failure_threshold, spec.termination_grace) == (1, 3, None)

    def test_fields_are_read(self) -> None:
        """Every counter of the probe is honoured."""
        spec = ProbeSpec.from_spec({"exec": {"command": ["true"]}, "initialDelaySeconds": 5, "periodSeconds": 2,
                                    "timeoutSeconds": 3, "successThreshold": 2, "failureThreshold": 4,
                                    "terminationGracePeriodSeconds": 7})
        assert spec == ProbeSpec("exec", {"command": ["true"]}, 5.0, 2.0, 3.0, 2, 4, 7.0)

    def test_a_probe_without_handler_is_refused(self) -> None:
        """ValueError names the four handlers."""
        with pytest.raises(ValueError, match="httpGet, tcpSocket, exec or grpc"):
            ProbeSpec.from_spec({"periodSeconds": 1})


class TestProbeState:
    def test_initial_results(self) -> None:
        """Readiness starts failed, liveness succeeded, startup unknown."""
        assert ProbeState(ProbeKind.READINESS).result is F
        assert ProbeState(ProbeKind.LIVENESS).result is S
        assert ProbeState(ProbeKind.STARTUP).result is Result.UNKNOWN

    def test_liveness_fails_after_failure_threshold_and_holds(self) -> None:
        """failureThreshold 3: two failures change nothing, the third settles Failure and holds the probe."""
        state = ProbeState(ProbeKind.LIVENESS, failure_threshold=3)
        assert [state.observe(F), state.observe(F)] == [False, False]
        assert state.result is S
        assert state.observe(F) is True
        assert (state.result, state.on_hold, state.run) == (F, True, 0)

    def test_a_success_resets_the_failure_run(self) -> None:
        """F, F, S, F, F: never three failures in a row, never failed."""
        state = ProbeState(ProbeKind.LIVENESS, failure_threshold=3)
        for raw in (F, F, S, F, F):
            state.observe(raw)
        assert state.result is S and not state.on_hold

    def test_readiness_needs_success_threshold(self) -> None:
        """successThreshold 2: ready after the second success in a row; one failure (threshold 1) unreadies."""
        state = ProbeState(ProbeKind.READINESS, success_threshold=2, failure_threshold=1)
        assert state.observe(S) is False and state.result is F
        assert state.observe(S) is True and state.result is S
        assert state.observe(F) is True and state.result is F
        assert not state.on_hold  # readiness never holds

    def test_startup_failure_holds(self) -> None:
        """A startup probe that reaches its failure threshold holds, like liveness."""
        state = ProbeState(ProbeKind.STARTUP, failure_threshold=1)
        assert state.observe(F) is True and state.on_hold


class TestContainerStatus:
    def test_no_probes_is_started_and_ready(self) -> None:
        """Without probes a running container is started and ready."""
        assert container_probe_status({}) == ContainerProbeStatus(started=True, ready=True)

    def test_readiness_probe_starts_not_ready(self) -> None:
        """A container with a readiness probe is not ready before its first success."""
        assert container_probe_status({ProbeKind.READINESS: ProbeState(ProbeKind.READINESS)}).ready is False

    def test_startup_gates_started_and_ready(self) -> None:
        """Until the startup probe succeeds the container is neither started nor ready."""
        states = {ProbeKind.STARTUP: ProbeState(ProbeKind.STARTUP)}
        assert container_probe_status(states) == ContainerProbeStatus(started=False, ready=False)
        states[ProbeKind.STARTUP].observe(S)
        assert container_probe_status(states) == ContainerProbeStatus(started=True, ready=True)

    def test_failed_liveness_asks_for_a_kill(self) -> None:
        """A settled liveness failure is a kill reason; so is a startup failure (it wins)."""
        live = ProbeState(ProbeKind.LIVENESS, failure_threshold=1)
        live.observe(F)
        assert container_probe_status({ProbeKind.LIVENESS: live}).kill_reason == "liveness"
        startup = ProbeState(ProbeKind.STARTUP, failure_threshold=1)
        startup.observe(F)
        assert container_probe_status({ProbeKind.LIVENESS: live, ProbeKind.STARTUP: startup}).kill_reason == "startup"

    def test_liveness_and_readiness_wait_for_startup(self) -> None:
        """may_run: only the startup probe runs until it succeeded, then only the others."""
        states = {k: ProbeState(k) for k in ProbeKind}
        assert [may_run(k, states) for k in ProbeKind] == [False, False, True]
        states[ProbeKind.STARTUP].observe(S)
        assert [may_run(k, states) for k in ProbeKind] == [True, True, False]


class TestResolvePort:
    def test_number_and_name(self) -> None:
        """A number is itself; a name is looked up among the container's ports."""
        container = {"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}
        assert resolve_port(80, container) == 80
        assert resolve_port("8081", container) == 8081
        assert resolve_port("http", container) == 8080

    def test_unknown_name(self) -> None:
        """A name no port has is an error in Kubernetes' words."""
        with pytest.raises(ValueError, match="couldn't find port: metrics in container web"):
            resolve_port("metrics", {"name": "web"})


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(1.0)
        codes = {"/ok": 200, "/redirect": 302, "/missing": 404, "/boom": 500, "/slow": 200}
        code = codes.get(self.path, 200)
        if self.path == "/from-node":
            code = 200 if self.client_address[0] == "127.0.0.9" else 403
        if self.path == "/header":
            code = 200 if self.headers.get("X-Probe") == "yes" and self.headers.get("User-Agent", "").startswith("kube-probe/") else 400
        try:
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"hi")
        except BrokenPipeError:
            pass  # the probe timed out and hung up

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestHttpGet:
    def test_2xx_and_3xx_succeed(self, http_port: int) -> None:
        """200 and 302 are successes (redirects are not followed)."""
        runner = ProbeRunner()
        for path in ("/ok", "/redirect"):
            assert runner.run("httpGet", {"path": path, "port": http_port}, target(), 1).result is S

    def test_4xx_and_5xx_fail_with_the_status_code(self, http_port: int) -> None:
        """The message is Kubernetes' own."""
        runner = ProbeRunner()
        assert runner.run("httpGet", {"path": "/missing", "port": http_port}, target(), 1) == ProbeOutcome(
            F, "HTTP probe failed with statuscode: 404"
        )
        assert runner.run("httpGet", {"path": "/boom", "port": http_port}, target(), 1).message == (
            "HTTP probe failed with statuscode: 500"
        )

    def test_named_port_and_headers(self, http_port: int) -> None:
        """port by container port name; httpHeaders are sent with kube-probe's User-Agent."""
        container = {"name": "c", "ports": [{"name": "web", "containerPort": http_port}]}
        action = {"path": "/header", "port": "web", "httpHeaders": [{"name": "X-Probe", "value": "yes"}]}
        assert ProbeRunner().run("httpGet", action, target(container), 1).result is S

    def test_probes_leave_from_the_node_ip(self, http_port: int) -> None:
        """With source_ip, a container's access log shows the node probing it."""
        assert ProbeRunner(source_ip="127.0.0.9").run("httpGet", {"path": "/from-node", "port": http_port}, target(), 1).result is S
        assert ProbeRunner().run("httpGet", {"path": "/from-node", "port": http_port}, target(), 1).result is F

    def test_timeout(self, http_port: int) -> None:
        """A server slower than timeoutSeconds fails the probe."""
        outcome = ProbeRunner().run("httpGet", {"path": "/slow", "port": http_port}, target(), 0.2)
        assert outcome.result is F and "context deadline exceeded" in outcome.message

    def test_connection_refused(self) -> None:
        """Nothing listening: Go's dial error."""
        port = closed_port()
        outcome = ProbeRunner().run("httpGet", {"path": "/", "port": port}, target(), 1)
        assert outcome == ProbeOutcome(F, f'Get "http://127.0.0.1:{port}/": dial tcp 127.0.0.1:{port}: connect: connection refused')


class TestTcpSocket:
    def test_open_port(self, http_port: int) -> None:
        """A listening port passes."""
        assert ProbeRunner().run("tcpSocket", {"port": http_port}, target(), 1).result is S

    def test_closed_port(self) -> None:
        """A closed port fails with the dial error."""
        port = closed_port()
        assert ProbeRunner().run("tcpSocket", {"port": port}, target(), 1) == ProbeOutcome(
            F, f"dial tcp 127.0.0.1:{port}: connect: connection refused"
        )


class FakeExec:
    """Answers exec probes from a table: argv[0] -> (exit code, output) or an exception."""

    def __init__(self, table: dict[str, Any]):
        self.table = table
        self.calls: list[tuple[list[str], float]] = []

    def __call__(self, handle: Any, argv: Sequence[str], timeout: float) -> tuple[int, str]:
        self.calls.append((list(argv), timeout))
        answer = self.table[argv[0]]
        if isinstance(answer, Exception):
            raise answer
        return tuple(answer)  # type: ignore[return-value]


class TestExec:
    def test_exit_codes(self) -> None:
        """Exit 0 passes; anything else fails with the command's output as the message."""
        runner = ProbeRunner(FakeExec({"true": (0, ""), "false": (1, "not healthy\n")}))
        assert runner.run("exec", {"command": ["true"]}, target(), 1).result is S
        assert runner.run("exec", {"command": ["false"]}, target(), 1) == ProbeOutcome(F, "not healthy")

    def test_timeout_and_errors(self) -> None:
        """A command over timeoutSeconds fails; so does one that cannot run."""
        fake = FakeExec({"sleep": TimeoutError(), "nope": RuntimeError('exec: "nope": executable file not found in $PATH')})
        runner = ProbeRunner(fake)
        assert runner.run("exec", {"command": ["sleep", "5"]}, target(), 2).message == 'command "sleep 5" timed out'
        assert fake.calls[0] == (["sleep", "5"], 2)
        assert "executable file not found" in runner.run("exec", {"command": ["nope"]}, target(), 1).message


class TestGrpcAndHooks:
    def test_grpc_is_reported_not_supported(self) -> None:
        """grpc probes are not run: a warning, counted as success."""
        outcome = ProbeRunner().run("grpc", {"port": 9000}, target(), 1)
        assert outcome.result is S and outcome.warning and "not supported by kemu" in outcome.message

    def test_failing_exec_hook_raises_in_kubernetes_words(self) -> None:
        """A postStart/preStop exec hook that exits non-zero is a HookError naming the container and pod."""
        runner = ProbeRunner(FakeExec({"false": (1, "")}))
        with pytest.raises(HookError, match=r'Exec lifecycle hook \(\[.false.\]\) for Container "c" in Pod "web_default\(uid-1\)" failed'):
            runner.run_hook("PostStart", {"exec": {"command": ["false"]}}, target(), 1)

    def test_sleep_hook(self) -> None:
        """sleep: waits its seconds (bounded by the timeout)."""
        slept: list[float] = []
        ProbeRunner(sleep=slept.append).run_hook("PreStop", {"sleep": {"seconds": 5}}, target(), 2)
        assert slept == [2]


class ScriptedRunner(ProbeRunner):
    """Returns scripted results per probe handler; records when each ran."""

    def __init__(self, results: dict[str, list[Result]], clock: FakeClock):
        super().__init__()
        self.results = results
        self.clock = clock
        self.runs: list[tuple[str, float]] = []

    def run(self, handler: str, action: Any, target: ProbeTarget, timeout: float) -> ProbeOutcome:
        self.runs.append((str(action.get("name")), self.clock.now()))
        script = self.results[str(action.get("name"))]
        return ProbeOutcome(script.pop(0) if len(script) > 1 else script[0], "scripted")


class Listener:
    def __init__(self) -> None:
        self.calls: list[tuple[ProbeKind, Result, bool]] = []
        self.cond = threading.Condition()

    def probe_result(self, target: ProbeTarget, kind: ProbeKind, outcome: ProbeOutcome, changed: bool) -> None:
        with self.cond:
            self.calls.append((kind, outcome.result, changed))
            self.cond.notify_all()

    def wait_calls(self, n: int, timeout: float = 5.0) -> list[tuple[ProbeKind, Result, bool]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.calls) >= n, timeout), self.calls
            return list(self.calls)


class TestProbeManager:
    def _manager(self, results: dict[str, list[Result]]) -> tuple[ProbeManager, ScriptedRunner, Listener, FakeClock]:
        clock = FakeClock(100.0)
        runner = ScriptedRunner(results, clock)
        listener = Listener()
        return ProbeManager(runner, listener, clock=clock, workers=2).start(), runner, listener, clock

    def test_initial_delay_and_period(self) -> None:
        """The first run waits initialDelaySeconds; the next ones come every periodSeconds."""
        manager, runner, listener, clock = self._manager({"r": [S]})
        try:
            container = {"name": "c", "readinessProbe": {"exec": {"name": "r"}, "initialDelaySeconds": 5, "periodSeconds": 2}}
            manager.add_container(target(container, started_at=100.0))
            assert clock.block_until_waiters()
            assert runner.runs == []
            clock.step(5)
            assert listener.wait_calls(1) == [(ProbeKind.READINESS, S, True)]
            assert manager.status("kemu://c1") == ContainerProbeStatus(started=True, ready=True)
            clock.step(2)
            listener.wait_calls(2)
            assert [t for _, t in runner.runs] == [105.0, 107.0]
        finally:
            manager.stop()

    def test_liveness_failure_holds_until_removed(self) -> None:
        """Liveness failing twice (threshold 2) asks for a kill and stops probing that container."""
        manager, runner, listener, clock = self._manager({"l": [F]})
        try:
            probe = {"exec": {"name": "l"}, "periodSeconds": 1, "failureThreshold": 2}
            manager.add_container(target({"name": "c", "livenessProbe": probe}, started_at=100.0))
            listener.wait_calls(1)
            clock.step(1)
            assert listener.wait_calls(2)[-1] == (ProbeKind.LIVENESS, F, True)
            assert manager.status("kemu://c1").kill_reason == "liveness"
            clock.step(5)
            time.sleep(0.1)
            assert len(runner.runs) == 2
            manager.remove_container("kemu://c1")
            assert manager.status("kemu://c1") == ContainerProbeStatus(started=True, ready=True)
        finally:
            manager.stop()

    def test_startup_success_releases_readiness(self) -> None:
        """Readiness does not run before the startup probe succeeded, and runs right after it."""
        manager, runner, listener, clock = self._manager({"s": [F, S], "r": [S]})
        try:
            container = {"name": "c", "startupProbe": {"exec": {"name": "s"}, "periodSeconds": 3, "failureThreshold": 5},
                         "readinessProbe": {"exec": {"name": "r"}, "periodSeconds": 10}}
            manager.add_container(target(container, started_at=100.0))
            listener.wait_calls(1)
            assert manager.status("kemu://c1") == ContainerProbeStatus(started=False, ready=False)
            clock.step(3)
            calls = listener.wait_calls(3)
            assert calls[1] == (ProbeKind.STARTUP, S, True)
            assert calls[2] == (ProbeKind.READINESS, S, True)
            assert [name for name, _ in runner.runs] == ["s", "s", "r"]
            assert manager.status("kemu://c1") == ContainerProbeStatus(started=True, ready=True)
        finally:
            manager.stop()

    def test_container_without_probes_is_not_tracked(self) -> None:
        """No probes: nothing scheduled, and the status is started and ready."""
        manager, _, _, _ = self._manager({})
        try:
            manager.add_container(target({"name": "c"}))
            assert not manager.has_probes("kemu://c1")
            assert manager.status("kemu://c1").ready
        finally:
            manager.stop()
