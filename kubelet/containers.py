"""A started container as the kubelet sees it: its handle, exit status and record.

:class:`ContainerHandle` is the kubelet's grip on one running container
(poll, wait, graceful stop, kill; thread-safe and bounded), :class:`ExitStatus`
what ``state.terminated`` reports once it ended, and ``meta.json`` the
record under ``root_dir`` from which a later kubelet finds a container it
did not start (:class:`StaleContainer`). Apart from the runtime because
these are the objects the rest of the kubelet holds on to; how a container
is planned (:mod:`kubelet.plan`) and started (:mod:`kubelet.runtime`) is
not their business.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kemu.apimachinery import format_time, parse_micro_time
from kemu.images import ImageSpec
from kubelet.cgroups import CgroupV2
from kubelet.plan import Launch
from kubelet.processes import KILL_WAIT, ForkedShim, kill_session, proc_start_ticks

__all__ = [
    "CONTAINER_ID_SCHEME",
    "ContainerHandle",
    "ExitStatus",
    "StaleContainer",
    "await_listening",
    "parse_shim_time",
    "read_json",
    "utcnow",
    "write_meta",
]

CONTAINER_ID_SCHEME = "kemu://"


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a container ended: what ``state.terminated`` reports."""

    exit_code: int
    """The exit code; 128+N when signal N ended the process."""
    reason: str
    """``Completed`` (0), ``Error``, ``OOMKilled`` or ``ContainerStatusUnknown``."""
    finished_at: datetime
    """When it ended (UTC)."""
    started_at: datetime | None = None
    """When it started (UTC)."""
    signal: int | None = None
    """The signal that ended the main process, if one did."""
    message: str = ""
    """Extra detail (the OOM limit, "its kubelet exited" ...)."""

    @property
    def oom_killed(self) -> bool:
        return self.reason == "OOMKilled"

    def as_terminated(self, container_id: str = "") -> dict[str, Any]:
        """The Kubernetes ``ContainerStateTerminated`` for this status."""
        state: dict[str, Any] = {"exitCode": self.exit_code, "reason": self.reason}
        if self.signal is not None:
            state["signal"] = self.signal
        if self.message:
            state["message"] = self.message
        if self.started_at is not None:
            state["startedAt"] = format_time(self.started_at)
        state["finishedAt"] = format_time(self.finished_at)
        if container_id:
            state["containerID"] = container_id
        return state


@dataclass(frozen=True, slots=True)
class StaleContainer:
    """A container recorded under ``root_dir`` that this runtime did not start."""

    container_id: str
    pod_uid: str
    pod_namespace: str
    pod_name: str
    container_name: str
    shim_pid: int
    pid: int
    running: bool
    """Some process of it is still alive."""
    pod_known: bool
    """Its pod is among the kubelet's current pods."""
    state_dir: Path


def parse_shim_time(text: str | None) -> datetime | None:
    """The shim's times are ``metav1.MicroTime`` texts."""
    return parse_micro_time(text).to_datetime() if text else None


def utcnow() -> datetime:
    return datetime.now(UTC)


class ContainerHandle:
    """A started container. Thread-safe; every method is bounded in time
    (except ``wait(None)``, which waits for the exit).

    Created by :meth:`ContainerRuntime.start`, never directly.
    """

    container_id: str
    """``kemu://<64 hex>``, the container status's ``containerID``."""
    pid: int
    """The container's main process."""
    shim_pid: int
    """The shim that owns the container's process tree."""
    started_at: datetime
    """When the main process was exec'd (UTC)."""
    log_path: Path
    """The CRI-format log (``<root>/logs/<ns>_<pod>_<uid>/<container>/<restart>.log``)."""
    image: ImageSpec
    pod_uid: str
    pod_namespace: str
    pod_name: str
    container_name: str
    restart_count: int
    state_dir: Path
    """``config.json``, ``meta.json``, ``status.json`` and the shim's own stderr."""

    def __init__(
        self,
        *,
        popen: subprocess.Popen[bytes] | ForkedShim,
        container_id: str,
        pid: int,
        started_at: datetime,
        launch: Launch,
        isolated: bool,
        cgroup_dir: Path | None,
        ident: Mapping[str, Any],
    ) -> None:
        self._popen = popen
        self._launch = launch
        self._isolated = isolated
        self._cgroup_dir = cgroup_dir
        self._lock = threading.Lock()
        self._stop_lock = threading.Lock()
        self._status: ExitStatus | None = None
        self.container_id = CONTAINER_ID_SCHEME + container_id
        self.pid = pid
        self._pid_start = proc_start_ticks(pid)
        self.shim_pid = popen.pid
        self.started_at = started_at
        self.log_path = Path(ident["log_path"])
        self.image = ident["image"]
        self.pod_uid = ident["pod_uid"]
        self.pod_namespace = ident["pod_namespace"]
        self.pod_name = ident["pod_name"]
        self.container_name = ident["container_name"]
        self.restart_count = ident["restart_count"]
        self.state_dir = Path(ident["state_dir"])

    def __repr__(self) -> str:
        return f"<ContainerHandle {self.pod_namespace}/{self.pod_name}/{self.container_name} pid={self.pid}>"

    @property
    def launch(self) -> Launch:
        """What was planned for it (exec runs with the same env, cwd and mounts)."""
        return self._launch

    @property
    def isolated(self) -> bool:
        """It runs in mount namespaces of its own (exec joins them)."""
        return self._isolated

    @property
    def hex_id(self) -> str:
        return self.container_id.removeprefix(CONTAINER_ID_SCHEME)

    def poll(self) -> ExitStatus | None:
        """The exit status once the container (and its shim) has exited, else
        ``None``. Never blocks."""
        with self._lock:
            if self._status is None and self._popen.poll() is not None:
                self._status = self._collect()
            return self._status

    def wait(self, timeout: float | None = None) -> ExitStatus | None:
        """Block until the container exits or ``timeout`` passes."""
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.poll()

    @property
    def running(self) -> bool:
        return self.poll() is None

    def stop(self, grace_seconds: float) -> ExitStatus:
        """Graceful stop, as the kubelet's KillContainer: the image's stop
        signal (SIGTERM, or e.g. nginx's SIGQUIT) to the container's process
        group, ``grace_seconds`` to exit, then SIGKILL to the whole tree.
        Blocking; safe to call twice and from several threads."""
        with self._stop_lock:
            status = self.poll()
            if status is not None:
                return status
            self._signal_shim(signal.SIGTERM)
            status = self.wait(max(0.0, grace_seconds))
            return status if status is not None else self._force()

    def kill(self) -> ExitStatus:
        """SIGKILL the whole tree now; returns the exit status."""
        with self._stop_lock:
            status = self.poll()
            return status if status is not None else self._force()

    def _force(self) -> ExitStatus:
        self._signal_shim(signal.SIGUSR1)
        status = self.wait(KILL_WAIT)
        if status is not None:
            return status
        # The shim does not answer: take over its job.
        self._popen.kill()
        self._popen.wait(KILL_WAIT)
        return self.poll() or self._collect()

    def _signal_shim(self, signum: int) -> None:
        try:
            self._popen.send_signal(signum)  # no-op once the shim was reaped: no pid reuse
        except ProcessLookupError:
            pass

    def _collect(self) -> ExitStatus:
        """Read ``status.json``; if the shim died without writing it, kill
        what it left and report the container as lost."""
        status = _read_status(self.state_dir / "status.json")
        if status is None:
            kill_session(self.pid, self._pid_start)
            status = ExitStatus(
                exit_code=137,
                reason="ContainerStatusUnknown",
                finished_at=utcnow(),
                started_at=self.started_at,
                message=f"the container's shim exited without a status (exit code {self._popen.returncode})",
            )
        if self._cgroup_dir is not None:
            CgroupV2.remove(self._cgroup_dir)
        return status


def await_listening(handle: ContainerHandle, host: str, port: int, timeout: float = 5.0) -> bool:
    """Wait until a built-in server accepts connections (real nginx is
    listening within milliseconds of its start; a Python server takes a
    little longer, and a pod reported Running should already answer)."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and handle.poll() is None:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.01)
    return False


def _read_status(path: Path) -> ExitStatus | None:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return ExitStatus(
        exit_code=int(raw["exit_code"]),
        reason=str(raw["reason"]),
        finished_at=parse_shim_time(raw.get("finished_at")) or utcnow(),
        started_at=parse_shim_time(raw.get("started_at")),
        signal=raw.get("signal"),
        message=str(raw.get("message") or ""),
    )


def write_meta(state_dir: Path, handle: ContainerHandle, instance: str) -> None:
    meta = {
        "instance": instance,
        "container_id": handle.hex_id,
        "pod_uid": handle.pod_uid,
        "pod_namespace": handle.pod_namespace,
        "pod_name": handle.pod_name,
        "container_name": handle.container_name,
        "restart_count": handle.restart_count,
        "shim_pid": handle.shim_pid,
        "shim_start": proc_start_ticks(handle.shim_pid),
        "pid": handle.pid,
        "pid_start": handle._pid_start,
        "cgroup_dir": str(handle._cgroup_dir) if handle._cgroup_dir else None,
        "log_path": str(handle.log_path),
    }
    tmp = state_dir / "meta.json.tmp"
    tmp.write_text(json.dumps(meta))
    tmp.replace(state_dir / "meta.json")


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None
