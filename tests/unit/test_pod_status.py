"""What the kubelet decides and reports about a pod, as pure functions:
status, phase and conditions; restarts and the CrashLoopBackOff sequence;
admission (ports); volumes; and the container logs ``kemu logs`` reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kemu.api.errors import ApiError
from kemu.cli.printers import pod_status
from kubelet.logs import (
    LogCursor,
    format_records,
    generations,
    parse_cri_line,
    read_chunk,
    rotate,
    tail_offset,
)
from kubelet.podenv import VolumeError, configmaps_used, prepare_volumes
from kubelet.pods import (
    Backoff,
    crashloop_delays,
    host_port_conflict,
    port_conflict,
    should_restart,
)
from kubelet.server import choose_container
from kubelet.status import (
    ContainerState,
    condition_messages,
    container_status,
    pod_conditions,
    pod_phase,
)

DONE = {"exitCode": 0, "reason": "Completed"}
FAILED = {"exitCode": 1, "reason": "Error"}


def running(name: str, **kw: object) -> ContainerState:
    return ContainerState(name, "busybox", running_since="2026-11-25T19:13:48Z", waiting_reason="", **kw)  # type: ignore[arg-type]


def exited(name: str, term: dict[str, object], **kw: object) -> ContainerState:
    return ContainerState(name, "busybox", terminated=dict(term), waiting_reason="", **kw)  # type: ignore[arg-type]


class TestBackoff:
    def test_kubernetes_sequence(self) -> None:
        """10 s doubling to 5 min, the first restart at once."""
        assert crashloop_delays(Backoff(base=10, cap=300), 9) == [0.0, 10, 20, 40, 80, 160, 300, 300, 300]

    def test_kemu_short_defaults(self) -> None:
        """kemu's flags: base 1 s, cap 20 s."""
        assert crashloop_delays(Backoff(), 7) == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0]


class TestShouldRestart:
    @pytest.mark.parametrize(
        ("policy", "code", "expected"),
        [("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False), ("OnFailure", 2, True),
         ("Never", 0, False), ("Never", 1, False)],
    )
    def test_app_containers(self, policy: str, code: int, expected: bool) -> None:
        """restartPolicy decides for app containers, by exit code."""
        assert should_restart(policy, init=False, sidecar=False, exit_code=code) is expected

    def test_init_containers_retry_failures_unless_never(self) -> None:
        """An init container is retried after a failure (not under Never) and never after success."""
        assert should_restart("Always", init=True, sidecar=False, exit_code=1)
        assert not should_restart("Always", init=True, sidecar=False, exit_code=0)
        assert not should_restart("Never", init=True, sidecar=False, exit_code=1)

    def test_sidecars_always_restart(self) -> None:
        """A native sidecar restarts whatever the pod's policy."""
        assert should_restart("Never", init=True, sidecar=True, exit_code=0)

    def test_kubelet_kills_restart_unless_never(self) -> None:
        """A container killed for a failed liveness probe restarts even with exit 0 under OnFailure."""
        assert should_restart("OnFailure", init=False, sidecar=False, exit_code=0, killed_by_kubelet=True)
        assert not should_restart("Never", init=False, sidecar=False, exit_code=137, killed_by_kubelet=True)


class TestPorts:
    def test_same_port_in_two_containers(self) -> None:
        """Two containers, one containerPort/protocol: a conflict."""
        spec = {"containers": [{"name": "a", "ports": [{"containerPort": 80}]}, {"name": "b", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}
        assert port_conflict(spec) == (
            'containers "a" and "b" both declare containerPort 80/TCP, but the containers of a pod share one IP and its ports'
        )

    def test_other_protocol_or_init_container_is_fine(self) -> None:
        """80/UDP beside 80/TCP is fine; so is a run-to-completion init container on the same port."""
        spec = {"containers": [{"name": "a", "ports": [{"containerPort": 80}]}, {"name": "b", "ports": [{"containerPort": 80, "protocol": "UDP"}]}],
                "initContainers": [{"name": "i", "ports": [{"containerPort": 80}]}]}
        assert port_conflict(spec) is None

    def test_sidecar_counts(self) -> None:
        """A native sidecar runs beside the app containers, so its ports count."""
        spec = {"containers": [{"name": "a", "ports": [{"containerPort": 9000}]}],
                "initContainers": [{"name": "s", "restartPolicy": "Always", "ports": [{"containerPort": 9000}]}]}
        assert port_conflict(spec) is not None

    def test_host_ports(self) -> None:
        """hostPort conflicts by protocol and address; 0.0.0.0 overlaps every address."""
        def pod(port: int, ip: str = "", proto: str = "TCP") -> dict[str, object]:
            return {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": port, "hostIP": ip, "protocol": proto}]}]}}

        assert host_port_conflict(pod(8080), [pod(8080)])
        assert not host_port_conflict(pod(8080), [pod(8081)])
        assert not host_port_conflict(pod(8080), [pod(8080, proto="UDP")])
        assert host_port_conflict(pod(8080, "127.0.0.5"), [pod(8080)])
        assert not host_port_conflict(pod(8080, "127.0.0.5"), [pod(8080, "127.0.0.6")])


class TestPhase:
    def test_init_running_is_pending(self) -> None:
        """An init container still running: Pending."""
        assert pod_phase([running("init", init=True)], [ContainerState("app", "x")], "Always") == "Pending"

    def test_failed_init_under_never_fails_the_pod(self) -> None:
        """Never + a failed init container: Failed."""
        assert pod_phase([exited("init", FAILED, init=True)], [ContainerState("app", "x")], "Never") == "Failed"

    def test_sidecar_running_beside_app(self) -> None:
        """A running native sidecar does not keep the pod Pending."""
        assert pod_phase([running("side", init=True, sidecar=True, started=True)], [running("app")], "Always") == "Running"

    def test_completed(self) -> None:
        """All exited 0 under OnFailure: Succeeded; a failure under Never: Failed."""
        assert pod_phase([], [exited("a", DONE), exited("b", DONE)], "OnFailure") == "Succeeded"
        assert pod_phase([], [exited("a", DONE), exited("b", FAILED)], "Never") == "Failed"


class TestConditions:
    def test_unready_container_and_message(self) -> None:
        """A running but unready container: Ready False, with the kubelet's message."""
        app = [running("web", ready=False), running("side", ready=True)]
        conditions = pod_conditions([], app, sandbox_ready=True, phase="Running")
        assert conditions["Ready"] == ("False", "ContainersNotReady")
        assert condition_messages([], app)["Ready"] == "containers with unready status: [web]"

    def test_sidecars_count_for_readiness(self) -> None:
        """An unready native sidecar keeps the pod out of Ready (and out of endpoints)."""
        init = [running("side", init=True, sidecar=True, started=True, ready=False)]
        assert pod_conditions(init, [running("web", ready=True)], sandbox_ready=True, phase="Running")["Ready"][0] == "False"

    def test_initialized(self) -> None:
        """Initialized waits for every init container, and names the incomplete ones."""
        init = [exited("one", DONE, init=True), running("two", init=True)]
        assert pod_conditions(init, [ContainerState("app", "x")], sandbox_ready=True, phase="Pending")["Initialized"] == (
            "False", "ContainersNotInitialized")
        assert condition_messages(init, [])["Initialized"] == "containers with incomplete status: [two]"
        init[1] = exited("two", DONE, init=True)
        assert pod_conditions(init, [running("app", ready=True)], sandbox_ready=True, phase="Running")["Initialized"] == ("True", "")

    def test_completed_pod_is_not_ready(self) -> None:
        """Succeeded: Ready False with reason PodCompleted."""
        assert pod_conditions([], [exited("a", DONE)], sandbox_ready=True, phase="Succeeded")["Ready"] == ("False", "PodCompleted")


def _pod(init: list[ContainerState], app: list[ContainerState], phase: str) -> dict[str, object]:
    """A pod object with these statuses, for kubectl's STATUS column."""
    return {
        "metadata": {"name": "p"},
        "spec": {"initContainers": [{"name": c.name, **({"restartPolicy": "Always"} if c.sidecar else {})} for c in init],
                 "containers": [{"name": c.name} for c in app]},
        "status": {"phase": phase, "initContainerStatuses": [container_status(c) for c in init],
                   "containerStatuses": [container_status(c) for c in app],
                   "conditions": [{"type": "Initialized", "status": "False"}]},
    }


class TestWhatKubectlShows:
    def test_init_progress(self) -> None:
        """One of two init containers done, the second running: Init:1/2."""
        init = [exited("a", DONE, init=True), running("b", init=True)]
        assert pod_status(_pod(init, [ContainerState("app", "x", waiting_reason="PodInitializing")], "Pending")) == "Init:1/2"

    def test_init_error_and_crash_loop(self) -> None:
        """A failed init container: Init:Error; in back-off: Init:CrashLoopBackOff."""
        failed = exited("a", FAILED, init=True)
        assert pod_status(_pod([failed], [ContainerState("app", "x")], "Failed")) == "Init:Error"
        failed.waiting_reason = "CrashLoopBackOff"
        assert pod_status(_pod([failed], [ContainerState("app", "x")], "Pending")) == "Init:CrashLoopBackOff"

    def test_crash_loop_back_off_keeps_last_state(self) -> None:
        """A container waiting in back-off shows CrashLoopBackOff, its last run in lastState."""
        c = exited("c", {"exitCode": 3, "reason": "Error"}, restart_count=2)
        c.waiting_reason = "CrashLoopBackOff"
        st = container_status(c)
        assert st["state"] == {"waiting": {"reason": "CrashLoopBackOff"}}
        assert st["lastState"] == {"terminated": {"exitCode": 3, "reason": "Error"}}
        assert st["restartCount"] == 2


class TestVolumes:
    def test_configmap_items_binary_and_update(self, tmp_path: Path) -> None:
        """items map keys to paths; binaryData is decoded; a new version replaces the file."""
        data = {"data": {"app.conf": "v=1"}, "binaryData": {"blob": "aGk="}}
        pod = {"metadata": {"name": "p", "namespace": "default"},
               "spec": {"volumes": [{"name": "cfg", "configMap": {"name": "c", "items": [{"key": "app.conf", "path": "etc/app.conf"}]}},
                                    {"name": "all", "configMap": {"name": "c"}}]}}
        vols = prepare_volumes(pod, tmp_path, lambda ns, name: data)
        assert (vols["cfg"] / "etc/app.conf").read_text() == "v=1"
        assert sorted(p.name for p in vols["all"].iterdir()) == ["app.conf", "blob"]
        assert (vols["all"] / "blob").read_bytes() == b"hi"
        data["data"]["app.conf"] = "v=2"
        prepare_volumes(pod, tmp_path, lambda ns, name: data)
        assert (vols["cfg"] / "etc/app.conf").read_text() == "v=2"

    def test_projected(self, tmp_path: Path) -> None:
        """configMap and downwardAPI sources land in one directory."""
        pod = {"metadata": {"name": "p", "namespace": "default", "labels": {"app": "web"}},
               "spec": {"volumes": [{"name": "p", "projected": {"sources": [
                   {"configMap": {"name": "c"}},
                   {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]}}]}}
        vols = prepare_volumes(pod, tmp_path, lambda ns, name: {"data": {"k": "v"}})
        assert (vols["p"] / "k").read_text() == "v"
        assert (vols["p"] / "labels").read_text() == 'app="web"\n'

    def test_host_path_is_refused(self, tmp_path: Path) -> None:
        """hostPath: a VolumeError that says why and what to use instead."""
        pod = {"metadata": {"name": "p"}, "spec": {"volumes": [{"name": "h", "hostPath": {"path": "/"}}]}}
        with pytest.raises(VolumeError, match='hostPath volume "h" is not allowed in kemu'):
            prepare_volumes(pod, tmp_path, lambda ns, name: None)

    def test_configmaps_used(self) -> None:
        """Volumes, projected sources, env and envFrom all count."""
        pod = {"spec": {
            "volumes": [{"name": "a", "configMap": {"name": "vol"}}, {"name": "b", "projected": {"sources": [{"configMap": {"name": "proj"}}]}}],
            "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "from"}}],
                            "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "key", "key": "k"}}}]}]}}
        assert configmaps_used(pod) == {"vol", "proj", "from", "key"}


def write_log(path: Path, *lines: str) -> None:
    path.write_bytes("".join(f"2026-11-25T19:13:{i:02d}.000000001Z stdout F {line}\n" for i, line in enumerate(lines)).encode())


class TestContainerLogs:
    def test_parse_and_format(self) -> None:
        """F ends a line, P pieces join it; --timestamps prefixes each whole line once."""
        assert parse_cri_line(b"T stderr P abc") is not None
        raw = b"T1 stdout F one\nT2 stdout P tw\nT3 stdout F o\n"
        assert format_records(raw, timestamps=False) == (b"one\ntwo\n", False)
        assert format_records(raw, timestamps=True) == (b"T1 one\nT2 two\n", False)
        assert format_records(b"T1 stdout P par\n", timestamps=True) == (b"T1 par", True)
        assert format_records(b"T2 stdout F tial\n", timestamps=True, mid_line=True) == (b"tial\n", False)

    def test_tail(self, tmp_path: Path) -> None:
        """--tail N starts at the N-th last line, also across small read blocks."""
        log = tmp_path / "0.log"
        write_log(log, *(f"line-{i}" for i in range(50)))
        offset = tail_offset(log, 3, block=40)
        assert format_records(log.read_bytes()[offset:], timestamps=False)[0] == b"line-47\nline-48\nline-49\n"
        assert tail_offset(log, 100) == 0
        assert tail_offset(log, 0) == log.stat().st_size

    def test_read_chunks_only_complete_records(self, tmp_path: Path) -> None:
        """A reader gets whole records; a half-written one waits for its newline."""
        log = tmp_path / "0.log"
        write_log(log, "a", "b")
        with open(log, "ab") as f:
            f.write(b"2026-11-25T19:13:59.0Z stdout F par")
        data, cursor = read_chunk(log, LogCursor(0, 0))
        assert format_records(data, timestamps=False)[0] == b"a\nb\n"
        assert read_chunk(log, cursor)[0] == b""
        with open(log, "ab") as f:
            f.write(b"tial\n")
        assert format_records(read_chunk(log, cursor)[0], timestamps=False)[0] == b"partial\n"

    def test_rotation_keeps_a_follower_whole(self, tmp_path: Path) -> None:
        """A follower mid-file when the log rotates reads the rest of the copy, then the new file."""
        log = tmp_path / "0.log"
        write_log(log, "one", "two")
        first, cursor = read_chunk(log, LogCursor(0, 0), limit=len(log.read_bytes()) // 2 + 5)
        assert format_records(first, timestamps=False)[0] == b"one\n"
        assert rotate(log, max_size=10, max_files=3)
        assert generations(log) == [1] and log.stat().st_size == 0
        write_log(log, "three")
        out = b""
        for _ in range(5):
            data, cursor = read_chunk(log, cursor)
            out += data
        assert format_records(out, timestamps=False)[0] == b"two\nthree\n"

    def test_rotation_prunes_old_copies(self, tmp_path: Path) -> None:
        """max_files 3: the current file and the two newest copies stay."""
        log = tmp_path / "0.log"
        for i in range(4):
            write_log(log, f"generation {i}" * 5)
            assert rotate(log, max_size=10, max_files=3)
        assert generations(log) == [3, 4]
        assert not rotate(log, max_size=10, max_files=3)  # empty now


POD_WITH_THREE: dict[str, Any] = {"metadata": {"name": "web"}, "spec": {
    "containers": [{"name": "nginx"}, {"name": "sidecar"}], "initContainers": [{"name": "init"}]}}


class TestChooseContainer:
    POD = POD_WITH_THREE

    def test_must_choose_among_several(self) -> None:
        """Several containers and no -c: the apiserver's BadRequest."""
        with pytest.raises(ApiError) as err:
            choose_container(self.POD, None)
        assert err.value.message == (
            "a container name must be specified for pod web, choose one of: [nginx sidecar] or one of the init containers: [init]"
        )

    def test_named_default_and_invalid(self) -> None:
        """-c picks (init containers too); the default-container annotation decides; an unknown name is invalid."""
        assert choose_container(self.POD, "init") == "init"
        annotated = {**self.POD, "metadata": {"name": "web", "annotations": {"kubectl.kubernetes.io/default-container": "sidecar"}}}
        assert choose_container(annotated, None) == "sidecar"
        with pytest.raises(ApiError, match="container nope is not valid for pod web"):
            choose_container(self.POD, "nope")
