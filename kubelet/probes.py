"""Probes and lifecycle hooks: is the container alive, ready, started?

Kubernetes' prober runs one goroutine per (container, probe). kemu runs one
**scheduler thread** with a heap of due probes and a small **thread pool**
that executes them, because a probe blocks (up to ``timeoutSeconds``) on a
socket or on a command, while deciding *when* to probe does not; a node with
hundreds of containers then costs one thread plus the pool, not hundreds of
threads.

What runs concurrently with what
--------------------------------
- Pod workers call :meth:`ProbeManager.add_container` after a container
  starts and :meth:`ProbeManager.remove_container` when it stops; they read
  :meth:`ProbeManager.status` at each sync. All three take the manager's lock
  briefly.
- The scheduler thread pops due entries and hands them to the pool; it never
  runs a probe itself. One probe of a given (container, kind) is in flight
  at a time: the next one is scheduled only when the previous one finished.
- A pool thread runs the probe (:class:`ProbeRunner`), then, under the lock,
  feeds the result to the probe's :class:`ProbeState` (the threshold logic,
  pure and unit-tested) and schedules the next run. Outside the lock it tells
  the :class:`ProbeListener` (the pod workers: ``Unhealthy`` events, and a
  re-sync of the pod when a settled result changed).

Semantics, as in Kubernetes' ``prober/worker.go``
-------------------------------------------------
- A readiness probe starts at Failure (a container with one starts not
  ready), a liveness probe at Success, a startup probe at Unknown.
- While a startup probe has not succeeded, liveness and readiness probes do
  not run; once it succeeded it stops.
- ``initialDelaySeconds`` after the container started, then every
  ``periodSeconds``; each run is bounded by ``timeoutSeconds``.
- A result must repeat ``successThreshold`` (or ``failureThreshold``) times
  before it is settled. A liveness or startup probe that settles on Failure
  is put on hold: the pod worker kills the container, and the restarted
  container (a new container ID) gets fresh probes.
- ``grpc`` probes are not supported by kemu: they are reported once as a
  ``ProbeWarning`` event and count as succeeding (kemu's images do not speak
  gRPC health checking; failing them would restart every such container).

Handlers (:class:`ProbeRunner`) are shared by probes and lifecycle hooks:
``httpGet`` (host defaults to the pod IP; a port by number or by the name of
a container port; 200-399 is success), ``tcpSocket`` (a connect), ``exec``
(``runtime.exec`` in the container's environment) and, for hooks only,
``sleep``.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from kemu.clock import Clock, RealClock
from kemu.types import Obj

__all__ = [
    "ContainerProbeStatus",
    "ExecFunc",
    "HookError",
    "ProbeKind",
    "ProbeListener",
    "ProbeManager",
    "ProbeOutcome",
    "ProbeRunner",
    "ProbeSpec",
    "ProbeState",
    "ProbeTarget",
    "Result",
    "container_probe_status",
    "may_run",
    "resolve_port",
    "runtime_exec",
]


USER_AGENT = "kube-probe/1.32"
"""What Kubernetes' HTTP prober sends (kube-probe/<major.minor>)."""

_MAX_BODY = 10 * 1024


class ProbeKind(str, Enum):
    """The three kinds of probe, named as Kubernetes' events name them."""

    LIVENESS = "Liveness"
    READINESS = "Readiness"
    STARTUP = "Startup"

    @property
    def field(self) -> str:
        """The container field that holds the probe (``livenessProbe``)."""
        return self.value.lower() + "Probe"


class Result(str, Enum):
    """A probe's result."""

    SUCCESS = "Success"
    FAILURE = "Failure"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """One run of a probe or hook: the result, and what to say about it."""

    result: Result
    message: str = ""
    """Why it failed (``HTTP probe failed with statuscode: 500``), or the warning."""
    warning: bool = False
    """Succeeded with a caveat (a ``ProbeWarning`` event)."""


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """A probe as its container declares it (defaults applied)."""

    handler: str
    """``httpGet``, ``tcpSocket``, ``exec`` or ``grpc``."""
    action: Obj
    """The handler's own fields (``{"path": "/", "port": 80}``)."""
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace: float | None = None
    """The probe's ``terminationGracePeriodSeconds`` (liveness, startup)."""

    @classmethod
    def from_spec(cls, probe: Mapping[str, Any]) -> ProbeSpec:
        """Parse a Kubernetes probe; zero or missing counters take Kubernetes' defaults."""
        handler = next((h for h in ("httpGet", "tcpSocket", "exec", "grpc") if probe.get(h) is not None), "")
        if not handler:
            raise ValueError("a probe needs one of httpGet, tcpSocket, exec or grpc")
        grace = probe.get("terminationGracePeriodSeconds")
        return cls(
            handler=handler,
            action=dict(probe.get(handler) or {}),
            initial_delay=float(probe.get("initialDelaySeconds") or 0),
            period=float(probe.get("periodSeconds") or 10),
            timeout=float(probe.get("timeoutSeconds") or 1),
            success_threshold=int(probe.get("successThreshold") or 1),
            failure_threshold=int(probe.get("failureThreshold") or 3),
            termination_grace=float(grace) if grace is not None else None,
        )


INITIAL_RESULT: Mapping[ProbeKind, Result] = {
    ProbeKind.LIVENESS: Result.SUCCESS,
    ProbeKind.READINESS: Result.FAILURE,
    ProbeKind.STARTUP: Result.UNKNOWN,
}
"""What a probe reports before its first settled result (Kubernetes' initialValue)."""


@dataclass(slots=True)
class ProbeState:
    """The threshold logic of one probe of one container (pure).

    >>> s = ProbeState(ProbeKind.LIVENESS, failure_threshold=3)
    >>> [s.observe(r) for r in (Result.FAILURE, Result.FAILURE, Result.FAILURE)]
    [False, False, True]
    >>> s.result, s.on_hold
    (<Result.FAILURE: 'Failure'>, True)
    """

    kind: ProbeKind
    success_threshold: int = 1
    failure_threshold: int = 3
    result: Result = Result.UNKNOWN
    """The settled result (what the kubelet acts on)."""
    last: Result | None = None
    """The last raw result."""
    run: int = 0
    """How many times in a row ``last`` came."""
    on_hold: bool = False
    """A liveness or startup probe that failed: no more runs for this container."""

    def __post_init__(self) -> None:
        if self.result is Result.UNKNOWN:
            self.result = INITIAL_RESULT[self.kind]

    def observe(self, raw: Result) -> bool:
        """Feed one raw result; True when the settled result changed."""
        if raw == self.last:
            self.run += 1
        else:
            self.last, self.run = raw, 1
        if raw is Result.FAILURE and self.run < self.failure_threshold:
            return False
        if raw is Result.SUCCESS and self.run < self.success_threshold:
            return False
        changed = raw != self.result
        self.result = raw
        if raw is Result.FAILURE and self.kind in (ProbeKind.LIVENESS, ProbeKind.STARTUP):
            self.on_hold = True
            self.run = 0
        return changed


@dataclass(frozen=True, slots=True)
class ContainerProbeStatus:
    """What the pod worker reads about one running container."""

    started: bool
    """No startup probe, or it succeeded."""
    ready: bool
    """Started, and no readiness probe or it succeeds."""
    kill_reason: str = ""
    """``liveness`` or ``startup`` when a failed probe means the container must be killed."""


def container_probe_status(states: Mapping[ProbeKind, ProbeState]) -> ContainerProbeStatus:
    """Fold a container's probe states into what the kubelet reports (pure)."""
    startup = states.get(ProbeKind.STARTUP)
    started = startup is None or startup.result is Result.SUCCESS
    readiness = states.get(ProbeKind.READINESS)
    ready = started and (readiness is None or readiness.result is Result.SUCCESS)
    liveness = states.get(ProbeKind.LIVENESS)
    kill = ""
    if startup is not None and startup.result is Result.FAILURE:
        kill = "startup"
    elif liveness is not None and liveness.result is Result.FAILURE:
        kill = "liveness"
    return ContainerProbeStatus(started=started, ready=ready, kill_reason=kill)


def may_run(kind: ProbeKind, states: Mapping[ProbeKind, ProbeState]) -> bool:
    """Whether a probe of ``kind`` runs now: not on hold, not a finished
    startup probe, and not liveness/readiness before the startup probe passed."""
    state = states[kind]
    if state.on_hold:
        return False
    startup = states.get(ProbeKind.STARTUP)
    if kind is ProbeKind.STARTUP:
        return state.result is not Result.SUCCESS
    return startup is None or startup.result is Result.SUCCESS


# ---------------------------------------------------------------- handlers


class ExecFunc(Protocol):
    """Runs a command in a container: ``(handle, argv, timeout) -> (exit code, output)``.

    Raises :class:`TimeoutError` when the command outlives ``timeout``, and
    ``RuntimeError`` when it cannot run (container stopped, no such binary).
    """

    def __call__(self, handle: Any, argv: Sequence[str], timeout: float) -> tuple[int, str]: ...


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """One running container, as probes and hooks see it."""

    pod_uid: str
    namespace: str
    pod_name: str
    container_name: str
    container_id: str
    pod_ip: str
    container: Obj
    """The container's spec (its ports resolve named probe ports)."""
    handle: Any = None
    """The runtime's handle (for exec)."""
    started_at: float = 0.0
    """When it started, on the prober's clock."""


def runtime_exec(runtime: Any) -> ExecFunc:
    """An :class:`ExecFunc` over :meth:`kubelet.runtime.ContainerRuntime.exec`
    (its exceptions already are ``TimeoutError`` and ``RuntimeError``
    subclasses); the output is stdout then stderr, as the CRI returns it."""

    def run(handle: Any, argv: Sequence[str], timeout: float) -> tuple[int, str]:
        result = runtime.exec(handle, list(argv), timeout=timeout)
        return result.exit_code, (result.stdout + result.stderr).decode(errors="replace")

    return run


class HookError(RuntimeError):
    """A lifecycle hook failed; the message is in Kubernetes' words."""


def resolve_port(port: Any, container: Mapping[str, Any]) -> int:
    """A probe's port: a number, or the name of one of the container's ports.

    >>> resolve_port("http", {"ports": [{"name": "http", "containerPort": 8080}]})
    8080
    """
    if isinstance(port, int) and not isinstance(port, bool):
        if not 0 < port < 65536:
            raise ValueError(f"invalid port number: {port}")
        return port
    text = str(port)
    if text.isdigit():
        return resolve_port(int(text), container)
    for p in container.get("ports") or []:
        if p.get("name") == text:
            return int(p["containerPort"])
    raise ValueError(f"couldn't find port: {text} in container {container.get('name', '')}")


class ProbeRunner:
    """Runs one handler (``httpGet``, ``tcpSocket``, ``exec``; ``sleep`` for hooks).

    ``source_ip`` is the node's IP: probes to pod IPs leave from it, so a
    container's access log shows the node probing it, as in Kubernetes.
    """

    def __init__(
        self,
        exec_func: ExecFunc | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        source_ip: str | None = None,
    ):
        self._exec = exec_func
        self._sleep = sleep
        self._source_ip = source_ip

    def _source(self, host: str) -> tuple[str, int] | None:
        """Bind probes to the node IP, for loopback-range targets only."""
        if self._source_ip and host.startswith("127."):
            return (self._source_ip, 0)
        return None

    def run(self, handler: str, action: Mapping[str, Any], target: ProbeTarget, timeout: float) -> ProbeOutcome:
        """One run; never raises."""
        try:
            if handler == "httpGet":
                return self.http_get(action, target, timeout)
            if handler == "tcpSocket":
                return self.tcp_socket(action, target, timeout)
            if handler == "exec":
                return self.exec(action, target, timeout)
            if handler == "sleep":
                self._sleep(min(float(action.get("seconds") or 0), timeout))
                return ProbeOutcome(Result.SUCCESS)
            if handler == "grpc":
                return ProbeOutcome(
                    Result.SUCCESS,
                    "grpc probes are not supported by kemu; the probe is not run and counts as succeeding",
                    warning=True,
                )
        except ValueError as exc:
            return ProbeOutcome(Result.FAILURE, str(exc))
        return ProbeOutcome(Result.FAILURE, f"unknown handler {handler!r}")

    def http_get(self, action: Mapping[str, Any], target: ProbeTarget, timeout: float) -> ProbeOutcome:
        """``httpGet``: success for a status in 200-399 (redirects are not followed)."""
        host = action.get("host") or target.pod_ip
        port = resolve_port(action.get("port"), target.container)
        scheme = str(action.get("scheme") or "HTTP").lower()
        path = str(action.get("path") or "/")
        if not path.startswith("/"):
            path = "/" + path
        url = f"{scheme}://{host}:{port}{path}"
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
        for h in action.get("httpHeaders") or []:
            headers[str(h.get("name"))] = str(h.get("value", ""))
        conn: http.client.HTTPConnection
        source = self._source(host)
        if scheme == "https":
            conn = http.client.HTTPSConnection(
                host, port, timeout=timeout, source_address=source, context=ssl._create_unverified_context()
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout, source_address=source)
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read(_MAX_BODY)
        except TimeoutError:
            return ProbeOutcome(
                Result.FAILURE, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
            )
        except OSError as exc:
            return ProbeOutcome(Result.FAILURE, f'Get "{url}": {_dial_error(host, port, exc)}')
        except http.client.HTTPException as exc:
            return ProbeOutcome(Result.FAILURE, f'Get "{url}": {type(exc).__name__}: {exc}')
        finally:
            conn.close()
        if 200 <= resp.status < 400:
            return ProbeOutcome(Result.SUCCESS)
        return ProbeOutcome(Result.FAILURE, f"HTTP probe failed with statuscode: {resp.status}")

    def tcp_socket(self, action: Mapping[str, Any], target: ProbeTarget, timeout: float) -> ProbeOutcome:
        """``tcpSocket``: success when a connection opens."""
        host = action.get("host") or target.pod_ip
        port = resolve_port(action.get("port"), target.container)
        try:
            with socket.create_connection((host, port), timeout=timeout, source_address=self._source(host)):
                return ProbeOutcome(Result.SUCCESS)
        except TimeoutError:
            return ProbeOutcome(Result.FAILURE, f"dial tcp {host}:{port}: i/o timeout")
        except OSError as exc:
            return ProbeOutcome(Result.FAILURE, _dial_error(host, port, exc))

    def exec(self, action: Mapping[str, Any], target: ProbeTarget, timeout: float) -> ProbeOutcome:
        """``exec``: success when the command exits 0; its output is the message."""
        argv = [str(a) for a in action.get("command") or []]
        if self._exec is None or target.handle is None:
            return ProbeOutcome(Result.FAILURE, "exec is not available for this container")
        try:
            code, output = self._exec(target.handle, argv, timeout)
        except TimeoutError:
            return ProbeOutcome(Result.FAILURE, f'command "{" ".join(argv)}" timed out')
        except RuntimeError as exc:
            return ProbeOutcome(Result.FAILURE, str(exc))
        if code == 0:
            return ProbeOutcome(Result.SUCCESS)
        return ProbeOutcome(Result.FAILURE, output.rstrip("\n"))

    def run_hook(self, hook_name: str, hook: Mapping[str, Any], target: ProbeTarget, timeout: float) -> None:
        """Run a ``postStart``/``preStop`` handler; raises :class:`HookError`
        in Kubernetes' words when it fails."""
        handler = next((h for h in ("exec", "httpGet", "tcpSocket", "sleep") if hook.get(h) is not None), "")
        if not handler:
            return
        outcome = self.run(handler, hook.get(handler) or {}, target, timeout)
        if outcome.result is Result.SUCCESS:
            return
        who = f'Container "{target.container_name}" in Pod "{target.pod_name}_{target.namespace}({target.pod_uid})"'
        if handler == "exec":
            argv = (hook.get("exec") or {}).get("command") or []
            raise HookError(
                f"Exec lifecycle hook ({argv}) for {who} failed - error: command '{' '.join(map(str, argv))}' "
                f"exited with non-zero status, message: {outcome.message!r}"
            )
        if handler == "httpGet":
            raise HookError(f"HTTP lifecycle hook ({(hook.get('httpGet') or {}).get('path', '/')}) for {who} failed - error: {outcome.message}")
        raise HookError(f"{hook_name} hook ({handler}) for {who} failed - error: {outcome.message}")


def _dial_error(host: str, port: int, exc: OSError) -> str:
    """Go's wording for a failed dial (``dial tcp 1.2.3.4:80: connect: connection refused``)."""
    if isinstance(exc, ConnectionRefusedError):
        return f"dial tcp {host}:{port}: connect: connection refused"
    return f"dial tcp {host}:{port}: connect: {exc.strerror or exc}"


# --------------------------------------------------------------- scheduler


class ProbeListener(Protocol):
    """Told about every probe run (from a pool thread, outside the manager's lock)."""

    def probe_result(self, target: ProbeTarget, kind: ProbeKind, outcome: ProbeOutcome, changed: bool) -> None: ...


@dataclass(slots=True)
class _Worker:
    """One probe of one container."""

    kind: ProbeKind
    spec: ProbeSpec
    state: ProbeState
    gen: int = 0
    """Bumped to invalidate heap entries (rescheduled or removed)."""
    busy: bool = False
    warned: bool = False


@dataclass(slots=True)
class _Container:
    target: ProbeTarget
    workers: dict[ProbeKind, _Worker] = field(default_factory=dict)


class ProbeManager:
    """Schedules the probes of every running container; see the module doc."""

    def __init__(
        self,
        runner: ProbeRunner,
        listener: ProbeListener,
        *,
        clock: Clock | None = None,
        workers: int = 4,
        name: str = "prober",
    ) -> None:
        self.runner = runner
        self.listener = listener
        self.clock = clock or RealClock()
        self._name = name
        self._cond = threading.Condition()
        self._containers: dict[str, _Container] = {}
        self._heap: list[tuple[float, int, str, ProbeKind, int]] = []
        self._seq = itertools.count()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{name}-probe")
        self._stopped = False
        self._thread: threading.Thread | None = None

    # -- life cycle

    def start(self) -> ProbeManager:
        self._thread = threading.Thread(target=self._loop, name=f"{self._name}-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._containers.clear()
            self._cond.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._thread is not None:
            self._thread.join(2.0)

    # -- what pod workers call

    def add_container(self, target: ProbeTarget) -> None:
        """Start probing a container that just started (no-op without probes)."""
        workers = {}
        for kind in ProbeKind:
            probe = target.container.get(kind.field)
            if not probe:
                continue
            spec = ProbeSpec.from_spec(probe)
            state = ProbeState(kind, success_threshold=spec.success_threshold, failure_threshold=spec.failure_threshold)
            workers[kind] = _Worker(kind, spec, state)
        if not workers:
            return
        with self._cond:
            self._containers[target.container_id] = _Container(target, workers)
            for w in workers.values():
                self._schedule_locked(target.container_id, w, target.started_at + w.spec.initial_delay)
            self._cond.notify_all()

    def remove_container(self, container_id: str) -> None:
        """Stop probing (the container stopped or is being killed)."""
        with self._cond:
            self._containers.pop(container_id, None)

    def status(self, container_id: str) -> ContainerProbeStatus:
        """Started / ready / must-be-killed for a container (no probes: started and ready)."""
        with self._cond:
            entry = self._containers.get(container_id)
            if entry is None:
                return ContainerProbeStatus(started=True, ready=True)
            return container_probe_status({k: w.state for k, w in entry.workers.items()})

    def has_probes(self, container_id: str) -> bool:
        with self._cond:
            return container_id in self._containers

    # -- the scheduler thread

    def _schedule_locked(self, container_id: str, w: _Worker, due: float) -> None:
        w.gen += 1
        heapq.heappush(self._heap, (due, next(self._seq), container_id, w.kind, w.gen))

    def _loop(self) -> None:
        with self._cond:
            while not self._stopped:
                now = self.clock.now()
                while self._heap and self._heap[0][0] <= now:
                    _, _, cid, kind, gen = heapq.heappop(self._heap)
                    self._fire_locked(cid, kind, gen)
                timeout = self._heap[0][0] - now if self._heap else None
                self.clock.wait(self._cond, timeout)

    def _fire_locked(self, container_id: str, kind: ProbeKind, gen: int) -> None:
        entry = self._containers.get(container_id)
        w = entry.workers.get(kind) if entry is not None else None
        if entry is None or w is None or w.gen != gen or w.busy:
            return
        if not may_run(kind, {k: x.state for k, x in entry.workers.items()}):
            if not w.state.on_hold and not (kind is ProbeKind.STARTUP and w.state.result is Result.SUCCESS):
                self._schedule_locked(container_id, w, self.clock.now() + w.spec.period)
            return
        w.busy = True
        try:
            self._pool.submit(self._run, entry, w)
        except RuntimeError:  # the pool is shut down
            w.busy = False

    def _run(self, entry: _Container, w: _Worker) -> None:
        began = self.clock.now()
        outcome = self.runner.run(w.spec.handler, w.spec.action, entry.target, w.spec.timeout)
        cid = entry.target.container_id
        with self._cond:
            w.busy = False
            if self._containers.get(cid) is not entry:
                return  # removed while it ran: the result is stale
            changed = w.state.observe(outcome.result)
            if not w.state.on_hold:
                self._schedule_locked(cid, w, max(began + w.spec.period, self.clock.now()))
            if changed and w.kind is ProbeKind.STARTUP and w.state.result is Result.SUCCESS:
                for sibling in entry.workers.values():
                    if sibling is not w:
                        due = max(self.clock.now(), entry.target.started_at + sibling.spec.initial_delay)
                        self._schedule_locked(cid, sibling, due)
            warn = outcome.warning and not w.warned
            w.warned = w.warned or outcome.warning
            self._cond.notify_all()
        if outcome.warning and not warn:
            outcome = ProbeOutcome(outcome.result)
        self.listener.probe_result(entry.target, w.kind, outcome, changed)
