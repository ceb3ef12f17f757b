"""The kubelet's container runtime: container specs in, OS process trees out.

One :class:`ContainerRuntime` per kubelet (an object, no module state, so
many kubelets may share a process). It resolves the image in the catalog,
works out what to run, and starts one *shim* per container
(:mod:`kubelet.shim`), which owns the container's process tree, writes its
CRI-format log and its exit status. The runtime never talks to the apiserver.

What runs concurrently with what
--------------------------------
- Pod workers call :meth:`ContainerRuntime.start`, :meth:`ContainerHandle.poll`,
  :meth:`ContainerHandle.stop` and :meth:`ContainerRuntime.exec` from their
  own threads. Each handle has its own lock; the runtime's lock guards only its
  table of handles and the lazy host probes. Nothing here runs a thread.
- Each shim is a separate process (a direct child of the kubelet, in its own
  session) that runs in parallel with everything. The runtime talks to it by
  signals only (SIGTERM: graceful stop; SIGUSR1: kill the tree) and reads
  what it wrote (a start report on a pipe, ``status.json`` at exit).

Nothing outlives the kubelet
----------------------------
The runtime creates a *lifeline* pipe and keeps its write end (never
inherited by any child). Every shim inherits the read end; when the kubelet
dies, however it dies, the kernel closes the write end, every shim reads EOF
and SIGKILLs its whole container tree (the shim is a child subreaper, so
grandchildren that were orphaned are re-parented to it). Shims also get a
parent-death signal, but only as a hint: it fires when the *thread* that
forked the shim exits, so the shim re-checks ``getppid()`` before acting.
The container's main process has ``PDEATHSIG=SIGKILL`` on the shim (a
single-threaded process, so that one is exact). :meth:`cleanup_orphans`
handles what a previous kubelet may still have left (pidfiles and process
start times under ``root_dir``).

A pod's sandbox and a root file system per container
----------------------------------------------------
With a pod sandbox (``sandbox_pid``: :mod:`kubelet.sandbox`, root) the
container joins the pod's network, UTS and IPC namespaces and gets a mount
namespace whose ``/`` is its own (:class:`kubelet.shim.RootFs`): an overlay
of the host's ``/`` (read-only below) and a tmpfs layer private to the
container, with the image's files (:func:`kubelet.servers.image_files`) and
the pod's ``/etc/hosts``, ``/etc/hostname`` and ``/etc/resolv.conf`` written
into that layer; ``/proc`` fresh, ``/dev`` and ``/sys`` bound from the host;
every volume bind-mounted at its ``mountPath`` inside it; then
``pivot_root``. Writes land in the layer and go with the container; nothing
on the host is created or hidden. ``PATH`` is the image's alone, and
built-in servers listen on every address of the pod's namespace.

Volumes without a sandbox: mount namespaces when possible, path substitution otherwise
--------------------------------------------------------------------------------------
Without a sandbox a container sees the host's files and runs the host's
tools. For volume mounts the runtime picks, per runtime:

- ``namespaces`` (root, and ``unshare`` works -- probed once): the container
  gets private mount and UTS namespaces (``/`` made rprivate, so nothing
  propagates back to the host). Each volume is bind-mounted at its
  ``mountPath`` (read-only when asked; ``subPath`` honoured), so a container
  that writes ``/data/x`` writes the pod's volume, and only that container
  sees it there. The host name is the pod name. A missing mountPath
  *directory* is created on the host as an empty mount point -- the only
  change kemu makes to the host outside ``root_dir``; such directories are
  left in place (removing one could detach another container's mount).
  A mountPath that would hide what containers need (``/``, ``/usr``,
  ``/etc``, ``/proc``, a ``PATH`` directory, Python's prefix, ``root_dir`` or a
  volume's own source) is not bind-mounted and falls back to substitution.
- ``none`` (not root, or namespaces unavailable): *path substitution*.
  Occurrences of a mountPath at path boundaries in the command, args,
  environment values and workingDir are replaced by the volume's host path.
  Honest but approximate: a path the program computes itself is not mapped,
  and read-only is not enforced.

The working directory is the container's ``workingDir`` (or the image's
WORKDIR); unless it lies in a volume it maps to a private per-container
directory (``working_dir_root``, by default ``<state dir>/rootfs/<path>``), so
relative writes never land in the host's directories.

Images and commands
-------------------
``command``-behaviour images run ``command``/``args`` (after Kubernetes'
``$(VAR)`` expansion, ``$$`` escaping) with the host's tools: ``argv[0]`` is
looked up on the container's ``PATH`` (the image's ``PATH`` followed by the
host's); an absolute path missing on the host is looked up by its base name;
``python``/``python3`` fall back to the kubelet's interpreter. Not found fails
like containerd (``exec: "foo": executable file not found in $PATH``).
``http`` images run :mod:`kubelet.servers` bound to the pod IP (a port below
1024 without root fails up front with the fix in the message); ``pause``
images run a shell loop that exits 0 on SIGTERM. Command containers share the
host's network namespace: what they listen on is up to them.

Resource limits
---------------
``resources.limits.memory`` is enforced with cgroup v2 when a delegated
hierarchy is writable (``<cgroup root>/kemu/<node>/<container>`` with
``memory.max`` and ``memory.oom.group``; exact OOMKilled), otherwise by the
shim's RSS watchdog (approximate, reports OOMKilled/137), or with
``RLIMIT_AS`` when asked (``memory_mode="rlimit"``; virtual size, failures
surface inside the program). ``limits.cpu`` is enforced only with cgroup v2
(``cpu.max``). The chosen mode is :attr:`ContainerRuntime.memory_mode`.

Streams
-------
A container whose spec has ``stdin`` (and ``tty``) gets its stdin (and a
pseudo-terminal) from its shim, which serves attach clients on an abstract
Unix socket (:class:`kubelet.shim.AttachDecoder` documents the frames) and
still writes all output to the log; ``stdinOnce`` closes that stdin when
the first attached writer leaves. :meth:`ContainerRuntime.open_exec` starts
an exec'd command with a terminal or pipes for a streaming session
(:mod:`kubelet.streams`).

Not emulated: PID namespaces (a container's main process is not PID 1, so
PID 1's signal semantics do not apply), users (``runAsUser``), image file
systems beyond the catalog's few files (the host's tools stand in).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, UTC
from pathlib import Path
from typing import Any, Literal, NamedTuple

from kemu.api.quantity import cpu_millis, memory_bytes
from kemu.apimachinery import format_time, parse_micro_time
from kemu.images import ImageCatalog, ImageSpec, effective_argv
from kubelet import servers
from kubelet.shim import BindMount, ExecConfig, RootFs, ShimConfig

__all__ = [
    "ContainerExecError",
    "ContainerHandle",
    "ContainerNotRunningError",
    "ContainerRuntime",
    "ContainerStartError",
    "ExecProcess",
    "ExecResult",
    "ExecTimeoutError",
    "ExitStatus",
    "Isolation",
    "MemoryMode",
    "Mount",
    "StaleContainer",
    "check_bind_permission",
    "expand_vars",
]

Isolation = Literal["auto", "namespaces", "none"]
"""How volumes reach containers: ``namespaces`` (bind mounts in a private
mount namespace), ``none`` (path substitution), ``auto`` (namespaces when the
host allows them)."""

MemoryMode = Literal["auto", "cgroup", "rss", "rlimit", "none"]
"""How memory limits are enforced; ``auto`` is cgroup v2 when usable, else rss."""

CONTAINER_ID_SCHEME = "kemu://"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_SHIM_PATH = Path(__file__).with_name("shim.py")
_SERVERS_PATH = Path(__file__).with_name("servers.py")
_PYTHON_FLAGS = ("-I", "-S")  # stdlib only: fast start, immune to the kubelet's env
_START_TIMEOUT = 15.0
_KILL_WAIT = 5.0
_PAUSE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"
_SYSTEM_DIRS = (
    "/", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr", "/etc", "/proc", "/sys", "/dev",
    "/run", "/boot", "/var",
)  # fmt: skip
_OCI_PREFIX = (
    "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
    "runc create failed: unable to start container process: "
)


# ---------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Mount:
    """A volume mount of one container, already resolved to a host directory."""

    host_path: Path
    """The volume's directory on the host (an emptyDir under the pod's dir ...)."""
    container_path: str
    """``mountPath``: where the container sees it."""
    read_only: bool = False
    """``readOnly``."""
    sub_path: str = ""
    """``subPath``: mount this path inside the volume instead of its root."""

    @property
    def source(self) -> Path:
        """The host path that appears at :attr:`container_path`."""
        return self.host_path / self.sub_path if self.sub_path else self.host_path


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
            state["startedAt"] = _rfc3339(self.started_at)
        state["finishedAt"] = _rfc3339(self.finished_at)
        if container_id:
            state["containerID"] = container_id
        return state


class ContainerStartError(Exception):
    """The container could not be started.

    ``reason`` is the waiting reason the kubelet reports (``RunContainerError``);
    ``terminated_reason`` and ``exit_code`` are what ``lastState.terminated``
    shows for such a failure in Kubernetes (``StartError``, 128).
    """

    def __init__(self, *, reason: str, message: str, exit_code: int = 128, terminated_reason: str = "StartError"):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.exit_code = exit_code
        self.terminated_reason = terminated_reason


class ContainerNotRunningError(RuntimeError):
    """An exec into a container that has exited."""


class ContainerExecError(RuntimeError):
    """An exec that could not start (executable not found ...); the message is containerd's."""


class ExecTimeoutError(TimeoutError):
    """An exec that did not finish within its timeout; it was killed."""

    def __init__(self, timeout: float, stdout: bytes, stderr: bytes) -> None:
        super().__init__(f"command timed out after {timeout:g}s")
        self.timeout = timeout
        self.stdout = stdout
        self.stderr = stderr


class ExecResult(NamedTuple):
    """The outcome of :meth:`ContainerRuntime.exec`."""

    exit_code: int
    stdout: bytes
    stderr: bytes


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


# ------------------------------------------------------------ pure helpers


def expand_vars(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion (third_party/forked/golang/expansion).

    ``$(VAR)`` becomes the value when ``VAR`` is defined and stays as written
    otherwise; ``$$`` is an escaped ``$``; any other ``$`` is literal.

    >>> expand_vars("echo $(GREETING) $$(GREETING) $(MISSING)", {"GREETING": "hi"})
    'echo hi $(GREETING) $(MISSING)'
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(" and (close := text.find(")", i + 2)) >= 0:
            name = text[i + 2 : close]
            out.append(env[name] if name in env else f"$({name})")
            i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def check_bind_permission(
    port: int,
    *,
    euid: int | None = None,
    unprivileged_port_start: int | None = None,
    cap_net_bind_service: bool | None = None,
) -> str | None:
    """Why ``port`` cannot be bound by this process, or ``None`` if it can.

    Linux refuses ports below ``net.ipv4.ip_unprivileged_port_start`` (1024 by
    default) to processes that are neither root nor hold CAP_NET_BIND_SERVICE.
    The arguments default to this process's real situation.
    """
    euid = os.geteuid() if euid is None else euid
    if euid == 0:
        return None
    start = _unprivileged_port_start() if unprivileged_port_start is None else unprivileged_port_start
    if port >= start:
        return None
    capable = _has_cap_net_bind_service() if cap_net_bind_service is None else cap_net_bind_service
    if capable:
        return None
    return (
        f"cannot bind port {port} without root: run kemu as root or set "
        f"net.ipv4.ip_unprivileged_port_start=0 (sudo sysctl -w net.ipv4.ip_unprivileged_port_start=0), "
        f"or use a port of {start} or above"
    )


def _unprivileged_port_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        return 1024


def _has_cap_net_bind_service() -> bool:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << 10))
    except (OSError, ValueError):
        pass
    return False


def _under(path: str, root: str) -> bool:
    """True when ``path`` is ``root`` or inside it (both normalised, absolute)."""
    return path == root or root == "/" or path.startswith(root.rstrip("/") + "/")


def _substitute(text: str, subs: Sequence[tuple[str, str]]) -> str:
    """Replace container paths by host paths at path boundaries (longest first)."""
    for container_path, host_path in sorted(subs, key=lambda s: len(s[0]), reverse=True):
        pattern = rf"(?<![\w.\-/]){re.escape(container_path.rstrip('/'))}(?=/|$|[^\w.\-])"
        text = re.sub(pattern, host_path.replace("\\", "\\\\"), text)
    return text


def _map_path(path: str, mounts: Sequence[Mount]) -> str | None:
    """The host path of container ``path`` when a mount covers it (deepest mount wins)."""
    norm = os.path.normpath(path)
    best: Mount | None = None
    for m in mounts:
        mp = os.path.normpath(m.container_path)
        if _under(norm, mp) and (best is None or len(mp) > len(os.path.normpath(best.container_path))):
            best = m
    if best is None:
        return None
    rel = os.path.relpath(norm, os.path.normpath(best.container_path))
    return str(best.source) if rel == "." else str(best.source / rel)


def _proc_start_ticks(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    return int(fields[19]) if fields[0] != b"Z" else None


def _alive(pid: int, start_ticks: int | None) -> bool:
    """``pid`` is a live (non-zombie) process started at ``start_ticks``."""
    ticks = _proc_start_ticks(pid)
    return ticks is not None and (start_ticks is None or ticks == start_ticks)


def _session_members(sid: int, started_after: int | None) -> list[int]:
    """Live processes of the container whose main process was ``sid``: members
    of that session started no earlier than the container.

    Empty when ``sid`` now names an unrelated live process (pid reuse): its
    session is not ours to kill.
    """
    leader = _proc_start_ticks(sid)
    if leader is not None and started_after is not None and leader != started_after:
        return []
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2 :].split()
        if int(fields[3]) != sid or fields[0] == b"Z":
            continue
        if started_after is None or int(fields[19]) >= started_after:
            members.append(int(name))
    return members


def _kill_session(sid: int, started_after: int | None) -> None:
    """SIGKILL what is left of a container whose shim is gone (bounded)."""
    for _ in range(50):
        members = _session_members(sid, started_after)
        if not members:
            return
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


def _parse_time(text: str | None) -> datetime | None:
    """The shim's times are ``metav1.MicroTime`` texts."""
    return parse_micro_time(text).to_datetime() if text else None


def _rfc3339(when: datetime) -> str:
    return format_time(when)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _oci_error(detail: str) -> ContainerStartError:
    return ContainerStartError(reason="RunContainerError", message=f"{_OCI_PREFIX}{detail}: unknown")


# ----------------------------------------------------------------- cgroups


class _CgroupV2:
    """A delegated cgroup v2 subtree ``<root>/kemu/<node>`` with memory (and
    cpu, when available) enabled; one child group per container."""

    def __init__(self, base: Path, controllers: frozenset[str]) -> None:
        self.base = base
        self.controllers = controllers

    @classmethod
    def detect(cls, root: Path, node_name: str) -> _CgroupV2 | None:
        """The subtree, or ``None`` when cgroup v2 with a writable memory
        controller is not available here (cgroup v1, no root, no delegation)."""
        try:
            available = frozenset((root / "cgroup.controllers").read_text().split())
            if "memory" not in available:
                return None
            wanted = sorted({"memory", "cpu", "pids"} & available)
            enable = " ".join(f"+{c}" for c in wanted)
            base = root / "kemu" / node_name
            (root / "cgroup.subtree_control").write_text(enable)
            base.mkdir(parents=True, exist_ok=True)
            (root / "kemu" / "cgroup.subtree_control").write_text(enable)
            (base / "cgroup.subtree_control").write_text(enable)
            return cls(base, frozenset(wanted))
        except OSError:
            return None

    def create(self, container_id: str, memory: int | None, cpu: float | None) -> Path:
        path = self.base / container_id
        path.mkdir(exist_ok=True)
        if memory is not None:
            (path / "memory.max").write_text(str(memory))
            try:
                (path / "memory.oom.group").write_text("1")  # kill the whole container, as Kubernetes does
            except OSError:
                pass
            try:
                (path / "memory.swap.max").write_text("0")
            except OSError:
                pass  # no swap accounting
        if cpu is not None and "cpu" in self.controllers:
            period = 100_000
            (path / "cpu.max").write_text(f"{max(1000, int(cpu * period))} {period}")
        return path

    @staticmethod
    def remove(path: Path) -> None:
        for _ in range(20):
            try:
                path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)


# ------------------------------------------------------------------ handle


@dataclass(slots=True)
class _Launch:
    """Everything decided before a shim starts."""

    argv: list[str]
    exe: str
    env: dict[str, str]
    cwd: str
    binds: list[BindMount]
    subs: list[tuple[str, str]]
    memory: int | None
    cpu: float | None
    stop_signal: int
    listen: tuple[str, int] | None = None
    """Where a built-in server will listen: start() returns once it does."""
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    """The container spec's ``stdin``, ``stdinOnce`` and ``tty`` (the shim owns them)."""
    sandbox_pid: int | None = None
    """The pod's sandbox holder, whose namespaces the container joins."""
    rootfs: RootFs | None = None
    """The container's own root file system (with a sandbox)."""


class _ForkedShim:
    """A shim forked by the zygote, with the part of ``subprocess.Popen``'s
    interface the handle uses. It is not our child (the zygote is its
    parent, and the kernel reaps it), so liveness is read from /proc, with
    the process start time guarding against pid reuse; its exit code is not
    known (the container's is, from ``status.json``)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._start = _proc_start_ticks(pid)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not _alive(self.pid, self._start):
            self.returncode = 0
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"shim {self.pid}", timeout or 0.0)
            time.sleep(0.01)
        return 0

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class _Zygote:
    """The runtime's fork server for shims (see ``shim.zygote``): one
    long-lived ``shim.py zygote`` process, started on first use and again if
    it died; requests are serialised by a lock (each takes about a
    millisecond)."""

    def __init__(self, lifeline_r: int, log_path: Path) -> None:
        self._lifeline_r = lifeline_r
        self._log_path = log_path
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            with open(self._log_path, "ab") as log:
                self._proc = subprocess.Popen(
                    [sys.executable, *_PYTHON_FLAGS, str(_SHIM_PATH), "zygote"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    pass_fds=(self._lifeline_r,),
                    start_new_session=True,
                    close_fds=True,
                )
        return self._proc

    def spawn(self, config: Path, report_fifo: Path, log: Path) -> _ForkedShim:
        """Fork a shim for ``config``; raises ``OSError`` if the zygote fails."""
        request = json.dumps({"config": str(config), "report": str(report_fifo), "log": str(log)}) + "\n"
        with self._lock:
            for attempt in (1, 2):
                proc = self._ensure()
                assert proc.stdin is not None and proc.stdout is not None
                try:
                    proc.stdin.write(request.encode())
                    proc.stdin.flush()
                    line = _readline_timeout(proc.stdout.fileno(), _START_TIMEOUT)
                except OSError:
                    line = b""
                if line.strip().isdigit():
                    return _ForkedShim(int(line))
                proc.kill()
                proc.wait(_KILL_WAIT)
        raise OSError("the shim zygote did not answer")

    def close(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                assert self._proc.stdin is not None
                try:
                    self._proc.stdin.close()
                    self._proc.wait(_KILL_WAIT)
                except (OSError, subprocess.TimeoutExpired):
                    self._proc.kill()
                    self._proc.wait(_KILL_WAIT)


def _readline_timeout(fd: int, timeout: float) -> bytes:
    """One line from ``fd`` (a pipe), or what came before ``timeout``."""
    import selectors

    buf = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while not buf.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                break
            chunk = os.read(fd, 64)
            if not chunk:
                break
            buf += chunk
    return buf


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
        runtime: ContainerRuntime,
        popen: subprocess.Popen[bytes] | _ForkedShim,
        container_id: str,
        pid: int,
        started_at: datetime,
        launch: _Launch,
        isolated: bool,
        cgroup_dir: Path | None,
        ident: Mapping[str, Any],
    ) -> None:
        self._runtime = runtime
        self._popen = popen
        self._launch = launch
        self._isolated = isolated
        self._cgroup_dir = cgroup_dir
        self._lock = threading.Lock()
        self._stop_lock = threading.Lock()
        self._status: ExitStatus | None = None
        self.container_id = CONTAINER_ID_SCHEME + container_id
        self.pid = pid
        self._pid_start = _proc_start_ticks(pid)
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
        status = self.wait(_KILL_WAIT)
        if status is not None:
            return status
        # The shim does not answer: take over its job.
        self._popen.kill()
        self._popen.wait(_KILL_WAIT)
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
            _kill_session(self.pid, self._pid_start)
            status = ExitStatus(
                exit_code=137,
                reason="ContainerStatusUnknown",
                finished_at=_utcnow(),
                started_at=self.started_at,
                message=f"the container's shim exited without a status (exit code {self._popen.returncode})",
            )
        if self._cgroup_dir is not None:
            _CgroupV2.remove(self._cgroup_dir)
        return status


def _await_listening(handle: ContainerHandle, host: str, port: int, timeout: float = 5.0) -> bool:
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
        finished_at=_parse_time(raw.get("finished_at")) or _utcnow(),
        started_at=_parse_time(raw.get("started_at")),
        signal=raw.get("signal"),
        message=str(raw.get("message") or ""),
    )


# ----------------------------------------------------------------- runtime


class ContainerRuntime:
    """Starts, stops and inspects one kubelet's containers; see the module docstring."""

    root_dir: Path
    node_name: str
    catalog: ImageCatalog

    def __init__(
        self,
        *,
        root_dir: Path,
        node_name: str,
        catalog: ImageCatalog,
        isolation: Isolation = "auto",
        memory_mode: MemoryMode = "auto",
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        logger: Any = None,
    ) -> None:
        self.root_dir = Path(root_dir)
        self.node_name = node_name
        self.catalog = catalog
        self._isolation_wanted = isolation
        self._memory_wanted = memory_mode
        self._cgroup_root = cgroup_root
        self._log = logger if logger is not None else _default_logger(node_name)
        self._lock = threading.Lock()
        self._handles: dict[str, ContainerHandle] = {}
        self._instance = secrets.token_hex(8)
        self._probed: dict[str, Any] = {}
        self._closed = False
        (self.root_dir / "containers").mkdir(parents=True, exist_ok=True)
        (self.root_dir / "logs").mkdir(parents=True, exist_ok=True)
        # The lifeline: the write end stays here (non-inheritable, never
        # passed on); every shim inherits the read end and dies on its EOF.
        self._lifeline_r, self._lifeline_w = os.pipe()
        self._zygote = _Zygote(self._lifeline_r, self.root_dir / "zygote.log")

    @property
    def lifeline_fd(self) -> int:
        """The lifeline's read end: a process given it as stdin (a pod's
        sandbox holder) reads EOF when the kubelet dies."""
        return self._lifeline_r

    # -- host capabilities (probed once, lazily)

    @property
    def isolation(self) -> Literal["namespaces", "none"]:
        """The volume strategy in effect (see the module docstring)."""
        with self._lock:
            if "isolation" not in self._probed:
                self._probed["isolation"] = self._probe_isolation()
            return self._probed["isolation"]  # type: ignore[no-any-return]

    @property
    def memory_mode(self) -> Literal["cgroup", "rss", "rlimit", "none"]:
        """How memory limits are enforced here."""
        self._cgroups()
        return self._probed["memory_mode"]  # type: ignore[no-any-return]

    def _probe_isolation(self) -> Literal["namespaces", "none"]:
        if self._isolation_wanted == "none":
            return "none"
        ok = os.geteuid() == 0 and _run_probe()
        if not ok and self._isolation_wanted == "namespaces":
            raise ContainerStartError(
                reason="RunContainerError", message="mount namespaces are not available (kemu needs root for them)"
            )
        return "namespaces" if ok else "none"

    def _cgroups(self) -> _CgroupV2 | None:
        with self._lock:
            if "memory_mode" not in self._probed:
                cg = None
                if self._memory_wanted in ("auto", "cgroup"):
                    cg = _CgroupV2.detect(self._cgroup_root, self.node_name)
                mode = self._memory_wanted if self._memory_wanted != "auto" else ("cgroup" if cg else "rss")
                if mode == "cgroup" and cg is None:
                    mode = "rss"
                    self._log.warning("cgroup v2 not usable; memory limits enforced by RSS sampling")
                self._probed["cgroup"], self._probed["memory_mode"] = cg, mode
            return self._probed["cgroup"]  # type: ignore[no-any-return]

    # -- images

    def pull(self, image_ref: str) -> ImageSpec:
        """Resolve ``image_ref`` in the catalog (kemu's "pull"); raises
        :class:`~kemu.images.ImagePullError`."""
        return self.catalog.resolve(image_ref)

    # -- start

    def start(
        self,
        *,
        pod_uid: str,
        pod_namespace: str,
        pod_name: str,
        pod_ip: str,
        container: Mapping[str, Any],
        env: Mapping[str, str],
        mounts: Sequence[Mount] = (),
        working_dir_root: Path | None = None,
        restart_count: int = 0,
        sandbox_pid: int | None = None,
        pod_files: Mapping[str, str] | None = None,
    ) -> ContainerHandle:
        """Start ``container`` (a Kubernetes container spec) and return once its
        main process runs.

        ``env`` is the container's final environment as the kubelet computed
        it (``env``/``envFrom``/service variables, already expanded); the
        image's ENV and ``HOSTNAME`` go underneath. ``sandbox_pid`` is the
        pod's sandbox holder (:mod:`kubelet.sandbox`): with it (and mount
        namespaces) the container joins the pod's network, UTS and IPC
        namespaces and gets a root file system of its own, with the image's
        files and ``pod_files`` (``/etc/hosts`` ...) in it. Raises
        :class:`~kemu.images.ImagePullError` for an unknown image and
        :class:`ContainerStartError` when the process cannot start.
        """
        if self._closed:
            raise ContainerStartError(reason="RunContainerError", message="the container runtime is closed")
        spec = self.pull(str(container.get("image", "")))
        hex_id = secrets.token_hex(32)
        state_dir = self.root_dir / "containers" / hex_id
        state_dir.mkdir(parents=True)
        sandboxed = sandbox_pid is not None and self.isolation == "namespaces"
        try:
            launch = self._plan(
                spec=spec,
                container=container,
                env=dict(env),
                pod_name=pod_name,
                pod_namespace=pod_namespace,
                pod_ip=pod_ip,
                mounts=mounts,
                rootfs=working_dir_root or state_dir / "rootfs",
                sandboxed=sandboxed,
            )
            if sandboxed:
                launch.sandbox_pid = sandbox_pid
                launch.rootfs = self._rootfs(state_dir, spec, pod_files or {})
            log_path = self._log_path(pod_namespace, pod_name, pod_uid, str(container.get("name", "")), restart_count)
            ident = {
                "image": spec,
                "pod_uid": pod_uid,
                "pod_namespace": pod_namespace,
                "pod_name": pod_name,
                "container_name": str(container.get("name", "")),
                "restart_count": restart_count,
                "log_path": str(log_path),
                "state_dir": str(state_dir),
            }
            handle = self._launch(hex_id, state_dir, launch, ident, pod_name)
        except BaseException:
            shutil.rmtree(state_dir, ignore_errors=True)
            raise
        with self._lock:
            self._handles[hex_id] = handle
        if launch.listen is not None:
            _await_listening(handle, *launch.listen)
        self._log.info(
            "container started",
            pod=f"{pod_namespace}/{pod_name}",
            uid=pod_uid,
            container=ident["container_name"],
            container_id=handle.container_id,
            pid=handle.pid,
            image=spec.name,
        )
        return handle

    def _log_path(self, namespace: str, pod: str, uid: str, container: str, restart_count: int) -> Path:
        path = self.root_dir / "logs" / f"{namespace}_{pod}_{uid}" / container / f"{restart_count}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    # -- planning: what exactly runs

    def _plan(
        self,
        *,
        spec: ImageSpec,
        container: Mapping[str, Any],
        env: dict[str, str],
        pod_name: str,
        pod_namespace: str,
        pod_ip: str,
        mounts: Sequence[Mount],
        rootfs: Path,
        sandboxed: bool = False,
    ) -> _Launch:
        isolate = self.isolation == "namespaces"
        subs: list[tuple[str, str]] = []
        if sandboxed:
            binds = _own_root_mounts(mounts)
        else:
            binds, subs = self._split_mounts(mounts, isolate, rootfs)
        full_env = _container_env(spec, env, pod_name, host_path=not sandboxed)
        if container.get("tty"):
            full_env.setdefault("TERM", "xterm")  # as containerd does for a container with a TTY
        command = [expand_vars(str(c), env) for c in container.get("command") or []]
        args = [expand_vars(str(a), env) for a in container.get("args") or []]
        argv = list(effective_argv(spec, command, args))
        limits = (container.get("resources") or {}).get("limits") or {}
        memory = memory_bytes(limits["memory"]) if limits.get("memory") is not None else None
        cpu = cpu_millis(limits["cpu"]) / 1000 if limits.get("cpu") is not None else None
        wd = container.get("workingDir") or spec.working_dir
        cwd = _normal_dir(wd) if sandboxed else self._working_dir(wd, mounts, isolate, subs, rootfs)
        launch = _Launch(
            argv=argv,
            exe="",
            env=full_env,
            cwd=cwd,
            binds=binds,
            subs=subs,
            memory=memory,
            cpu=cpu,
            stop_signal=int(signal.Signals[spec.stop_signal]),
            stdin=bool(container.get("stdin")),
            stdin_once=bool(container.get("stdinOnce")),
            tty=bool(container.get("tty")),
        )
        if spec.uses_builtin(command):
            self._plan_builtin(launch, spec, container, pod_namespace, pod_name, pod_ip, mounts, sandboxed)
        else:
            self._plan_command(launch, isolate)
        return launch

    def _split_mounts(
        self, mounts: Sequence[Mount], isolate: bool, rootfs: Path
    ) -> tuple[list[BindMount], list[tuple[str, str]]]:
        """Bind mounts for the namespace, substitutions for the rest."""
        binds: list[BindMount] = []
        subs: list[tuple[str, str]] = []
        needed = self._needed_paths(mounts, rootfs)
        for m in sorted(mounts, key=lambda m: os.path.normpath(m.container_path).count("/")):
            source = m.source
            if m.sub_path and not source.exists():
                source.mkdir(parents=True, exist_ok=True)  # as the kubelet does for subPath
            target = _bind_target(m, source, needed) if isolate else None
            if target is not None:
                binds.append(BindMount(str(source), target, m.read_only))
                continue
            if isolate:
                self._log.warning(
                    "volume not bind-mounted (it would hide host paths or cannot be created); "
                    "using path substitution",
                    mount_path=m.container_path,
                )
            subs.append((os.path.normpath(m.container_path), str(source)))
        return binds, subs

    def _needed_paths(self, mounts: Sequence[Mount], rootfs: Path) -> list[str]:
        """Paths a bind mount must not hide."""
        path_dirs = os.environ.get("PATH", "").split(":") + DEFAULT_PATH.split(":")
        paths = [
            *_SYSTEM_DIRS,
            *path_dirs,
            sys.prefix,
            sys.base_prefix,
            os.path.dirname(os.path.realpath(sys.executable)),
            str(_SHIM_PATH.parent),
            str(self.root_dir),
            str(rootfs),
            *(str(m.host_path) for m in mounts),
        ]
        return [os.path.realpath(p) for p in paths if p]

    def _working_dir(
        self, wd: str, mounts: Sequence[Mount], isolate: bool, subs: list[tuple[str, str]], rootfs: Path
    ) -> str:
        wd = os.path.normpath(wd if wd.startswith("/") else "/" + wd)
        in_volume = _map_path(wd, mounts)
        if in_volume is not None:
            Path(in_volume).mkdir(parents=True, exist_ok=True)
            bound = isolate and not any(_under(wd, c) for c, _h in subs)
            return wd if bound else in_volume
        private = rootfs / wd.lstrip("/")
        private.mkdir(parents=True, exist_ok=True)
        return str(private)

    def _plan_command(self, launch: _Launch, isolate: bool) -> None:
        if not launch.argv:
            raise ContainerStartError(reason="RunContainerError", message=f"{_OCI_PREFIX}no command specified: unknown")
        if launch.subs:
            launch.argv = [_substitute(a, launch.subs) for a in launch.argv]
            launch.env = {k: _substitute(v, launch.subs) for k, v in launch.env.items()}
        launch.exe = _resolve_executable(
            launch.argv[0], launch.env.get("PATH", DEFAULT_PATH), launch.cwd, _host_view(launch.binds)
        )

    def _plan_builtin(
        self,
        launch: _Launch,
        spec: ImageSpec,
        container: Mapping[str, Any],
        pod_namespace: str,
        pod_name: str,
        pod_ip: str,
        mounts: Sequence[Mount],
        sandboxed: bool = False,
    ) -> None:
        if spec.behaviour == "pause":
            launch.exe = _resolve_executable("sh", DEFAULT_PATH + ":" + os.environ.get("PATH", ""), "/", _identity)
            launch.argv = ["sh", "-c", _PAUSE_SCRIPT]
            return
        server = spec.server or ""
        server_args = launch.argv[1:]
        try:
            port = servers.listen_port(server, spec.port, server_args, launch.env, spec.port_env)
        except ValueError as exc:
            raise _oci_error(str(exc)) from None
        if port is not None:
            launch.listen = (pod_ip, port)
            problem = check_bind_permission(port)
            if problem:
                name = container.get("name", "")
                raise ContainerStartError(
                    reason="RunContainerError", message=f'failed to start container "{name}": {problem}'
                )
        html_root = _map_path(spec.html_root, mounts) if spec.html_root else None
        if sandboxed and html_root is not None:
            html_root = spec.html_root  # the volume is mounted there, inside the container's own root
        # In the pod's own network namespace the server listens on every
        # address, as the real image does (``localhost`` inside the pod too).
        bind = "0.0.0.0" if sandboxed else pod_ip
        launch.exe = sys.executable
        launch.argv = [
            sys.executable, *_PYTHON_FLAGS, str(_SERVERS_PATH),
            "--server", server, "--bind", bind, "--pod", f"{pod_namespace}/{pod_name}",
            "--node", self.node_name, "--image", str(container.get("image", "")),
            "--data", json.dumps(dict(spec.data), default=str),
            *(["--port", str(port)] if port is not None else []),
            *(["--html-root", html_root] if html_root else []),
            "--", *server_args,
        ]  # fmt: skip

    def _rootfs(self, state_dir: Path, spec: ImageSpec, pod_files: Mapping[str, str]) -> RootFs:
        """The container's root file system: the host's ``/`` below, the
        image's files and the pod's identity files in its own layer, and the
        host directories on other file systems that kemu's own programs need."""
        (state_dir / "root").mkdir()
        (state_dir / "layer").mkdir()
        files = servers.image_files(spec.server, spec.html_root, str(spec.data.get("version", "")))
        files.update(pod_files)
        return RootFs(root=str(state_dir / "root"), layer=str(state_dir / "layer"), files=files,
                      binds=list(_other_file_systems()))

    # -- launching the shim

    def _launch(
        self, hex_id: str, state_dir: Path, launch: _Launch, ident: Mapping[str, Any], pod_name: str
    ) -> ContainerHandle:
        cgroup = self._cgroups()
        mode = self.memory_mode if launch.memory is not None else None
        cgroup_dir = None
        if cgroup is not None and (launch.memory is not None or launch.cpu is not None):
            cgroup_dir = cgroup.create(hex_id, launch.memory, launch.cpu)
        report_fifo = state_dir / "report.fifo"
        os.mkfifo(report_fifo, 0o600)
        # Read-write, so the FIFO never reports EOF before the shim opens it.
        report_r = os.open(report_fifo, os.O_RDWR | os.O_NONBLOCK)
        cfg = ShimConfig(
            container_id=hex_id,
            exe=launch.exe,
            argv=launch.argv,
            env=launch.env,
            cwd=launch.cwd,
            log_path=str(ident["log_path"]),
            status_path=str(state_dir / "status.json"),
            lifeline_fd=self._lifeline_r,
            report_fd=-1,  # the zygote opens the FIFO for the shim
            kubelet_pid=os.getpid(),
            stop_signal=launch.stop_signal,
            memory_limit=launch.memory,
            memory_mode=mode if mode != "none" else None,
            cgroup_dir=str(cgroup_dir) if cgroup_dir else None,
            isolate=self.isolation == "namespaces",
            hostname=pod_name if self.isolation == "namespaces" else None,
            mounts=launch.binds,
            stdin=launch.stdin,
            stdin_once=launch.stdin_once,
            tty=launch.tty,
            sandbox_pid=launch.sandbox_pid,
            rootfs=launch.rootfs,
        )
        config_path = state_dir / "config.json"
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the env
        with os.fdopen(fd, "w") as f:
            f.write(cfg.to_json())
        try:
            popen = self._zygote.spawn(config_path, report_fifo, state_dir / "shim.log")
            report = _read_report(report_r, popen, state_dir)
        finally:
            os.close(report_r)
        if "error" in report:
            popen.wait(_KILL_WAIT)
            if cgroup_dir is not None:
                _CgroupV2.remove(cgroup_dir)
            raise _start_error(str(report["error"]), launch.argv[0])
        handle = ContainerHandle(
            runtime=self,
            popen=popen,
            container_id=hex_id,
            pid=int(report["pid"]),
            started_at=_parse_time(report.get("started_at")) or _utcnow(),
            launch=launch,
            isolated=self.isolation == "namespaces",
            cgroup_dir=cgroup_dir,
            ident=ident,
        )
        _write_meta(state_dir, handle, self._instance)
        return handle

    # -- exec

    def exec(
        self, handle: ContainerHandle, argv: Sequence[str], *, timeout: float, stdin: bytes | None = None
    ) -> ExecResult:
        """Run ``argv`` in the container's environment (same env, working
        directory, volumes and host name) -- exec probes and ``kubectl exec``.

        Raises :class:`ContainerNotRunningError` when the container has
        exited, :class:`ContainerExecError` when ``argv[0]`` cannot be found,
        :class:`ExecTimeoutError` (after killing the command's tree) when it
        runs longer than ``timeout`` seconds.
        """
        cfg = self._exec_config(handle, argv)
        return _run_exec(cfg, self._lifeline_r, timeout, stdin)

    def open_exec(self, handle: ContainerHandle, argv: Sequence[str], *, tty: bool, stdin: bool) -> ExecProcess:
        """Start ``argv`` in the container as :meth:`exec` does, but hand back
        the running command (an :class:`ExecProcess`) to stream: with ``tty`` its
        stdin, stdout and stderr are one pseudo-terminal, else pipes (stdin
        only when asked for, else ``/dev/null``). Same errors as :meth:`exec`."""
        cfg = self._exec_config(handle, argv)
        if tty and "TERM" not in cfg.env:
            cfg = dataclasses.replace(cfg, env={**cfg.env, "TERM": "xterm"})  # as containerd sets for a TTY
        cfg = dataclasses.replace(cfg, tty=tty)
        return ExecProcess.start(cfg, self._lifeline_r, tty=tty, stdin=stdin)

    def _exec_config(self, handle: ContainerHandle, argv: Sequence[str]) -> ExecConfig:
        if not argv:
            raise ContainerExecError("OCI runtime exec failed: exec failed: no command specified: unknown")
        if handle.poll() is not None:
            raise ContainerNotRunningError(f'cannot exec in a stopped container "{handle.container_name}"')
        launch = handle._launch
        args = [_substitute(a, launch.subs) for a in argv] if launch.subs else list(argv)
        try:
            exe = _resolve_executable(args[0], launch.env.get("PATH", DEFAULT_PATH), launch.cwd, _host_view(launch.binds))
        except ContainerStartError as exc:
            detail = exc.message.removeprefix(_OCI_PREFIX)
            raise ContainerExecError(
                f"OCI runtime exec failed: exec failed: unable to start container process: {detail}"
            ) from None
        return ExecConfig(
            exe=exe,
            argv=args,
            env=launch.env,
            cwd=launch.cwd,
            lifeline_fd=self._lifeline_r,
            kubelet_pid=os.getpid(),
            ns_pid=handle.pid if handle._isolated else None,
        )

    # -- housekeeping

    def handles(self) -> list[ContainerHandle]:
        """Every container this runtime started and has not removed."""
        with self._lock:
            return list(self._handles.values())

    def remove(self, handle: ContainerHandle, *, remove_log: bool = False) -> None:
        """Forget an exited container and delete its state (CRI
        RemoveContainer); the log stays unless ``remove_log``. Kills it first
        if it still runs."""
        if handle.poll() is None:
            handle.kill()
        with self._lock:
            self._handles.pop(handle.hex_id, None)
        shutil.rmtree(handle.state_dir, ignore_errors=True)
        if remove_log:
            handle.log_path.unlink(missing_ok=True)

    def list_stale(self, known_pod_uids: Collection[str] = ()) -> list[StaleContainer]:
        """Containers recorded under ``root_dir`` by an earlier kubelet (not
        by this runtime), with whether any of their processes still runs."""
        stale = []
        for state_dir in sorted((self.root_dir / "containers").glob("*")):
            meta = _read_json(state_dir / "meta.json")
            if meta is None or meta.get("instance") == self._instance:
                continue
            running = _alive(meta["shim_pid"], meta.get("shim_start")) or bool(
                _session_members(meta["pid"], meta.get("pid_start"))
            )
            stale.append(
                StaleContainer(
                    container_id=CONTAINER_ID_SCHEME + state_dir.name,
                    pod_uid=meta["pod_uid"],
                    pod_namespace=meta["pod_namespace"],
                    pod_name=meta["pod_name"],
                    container_name=meta["container_name"],
                    shim_pid=meta["shim_pid"],
                    pid=meta["pid"],
                    running=running,
                    pod_known=meta["pod_uid"] in known_pod_uids,
                    state_dir=state_dir,
                )
            )
        return stale

    def cleanup_orphans(self, known_pod_uids: Collection[str] | None = None) -> list[StaleContainer]:
        """Kill every process an earlier kubelet's containers left and delete
        their state. With ``known_pod_uids``, also delete the logs of pods not
        in it. Returns what was found."""
        found = self.list_stale(known_pod_uids or ())
        for item in found:
            meta = _read_json(item.state_dir / "meta.json") or {}
            _kill_stale(meta)
            if meta.get("cgroup_dir"):
                _CgroupV2.remove(Path(meta["cgroup_dir"]))
            shutil.rmtree(item.state_dir, ignore_errors=True)
            self._log.info("stale container cleaned up", container_id=item.container_id, pid=item.pid)
        if known_pod_uids is not None:
            self._remove_unknown_logs(known_pod_uids)
        return found

    def _remove_unknown_logs(self, known_pod_uids: Collection[str]) -> None:
        with self._lock:
            active = {h.pod_uid for h in self._handles.values()}
        for pod_dir in (self.root_dir / "logs").glob("*_*_*"):
            uid = pod_dir.name.rsplit("_", 1)[-1]
            if uid not in known_pod_uids and uid not in active:
                shutil.rmtree(pod_dir, ignore_errors=True)

    def close(self, grace_seconds: float = 0.0) -> None:
        """Stop every container (``grace_seconds`` each, in parallel) and drop
        the lifeline. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            handles = list(self._handles.values())
        threads = [threading.Thread(target=h.stop, args=(grace_seconds,), daemon=True) for h in handles]
        for t in threads:
            t.start()
        for t in threads:
            t.join(grace_seconds + 2 * _KILL_WAIT)
        self._zygote.close()
        os.close(self._lifeline_w)
        os.close(self._lifeline_r)

    def __enter__(self) -> ContainerRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------- runtime helpers


def _default_logger(node_name: str) -> Any:
    from kemu.log import get_logger

    return get_logger(component="kubelet", node=node_name, subsystem="runtime")


def _run_probe() -> bool:
    try:
        result = subprocess.run(
            [sys.executable, *_PYTHON_FLAGS, str(_SHIM_PATH), "probe"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _container_env(spec: ImageSpec, env: Mapping[str, str], pod_name: str, *, host_path: bool = True) -> dict[str, str]:
    """Image ENV, then HOSTNAME, then the kubelet's env. PATH is the image's
    (a container with its own root file system), or the image's followed by
    the host's (``host_path``: a container that runs in the host's file
    system, so host tools are found)."""
    merged = dict(spec.env)
    merged.setdefault("PATH", DEFAULT_PATH)
    extra = os.environ.get("PATH", "") if host_path else ""
    dirs = [d for d in merged["PATH"].split(":") + extra.split(":") if d]
    merged["PATH"] = ":".join(dict.fromkeys(dirs))
    merged["HOSTNAME"] = pod_name
    merged.update(env)
    return merged


def _bind_target(m: Mount, source: Path, needed: Sequence[str]) -> str | None:
    """The host path to bind-mount ``m`` onto, or ``None`` to substitute."""
    target = os.path.realpath(os.path.normpath(m.container_path))
    if any(_under(n, target) for n in needed):
        return None
    if source.is_dir():
        if os.path.isfile(target):
            return None
        try:
            os.makedirs(target, exist_ok=True)  # an empty mount point, left in place
        except OSError:
            return None
        return target
    return target if source.is_file() and os.path.isfile(target) else None


def _own_root_mounts(mounts: Sequence[Mount]) -> list[BindMount]:
    """Every volume bind-mounted at its ``mountPath`` inside the container's
    own root (shallowest first, so nested mounts stack): nothing on the host
    is hidden or created, whatever the path."""
    binds = []
    for m in sorted(mounts, key=lambda m: _normal_dir(m.container_path).count("/")):
        source = m.source
        if m.sub_path and not source.exists():
            source.mkdir(parents=True, exist_ok=True)  # as the kubelet does for subPath
        target = _normal_dir(m.container_path)
        if target != "/":
            binds.append(BindMount(str(source), target, m.read_only))
    return binds


def _normal_dir(path: str) -> str:
    return os.path.normpath(path if path.startswith("/") else "/" + path)


@functools.cache
def _other_file_systems() -> list[str]:
    """Directories kemu runs containers' programs from (Python, its standard
    library, the kubelet's scripts) that do not live on the file system of
    ``/``, so an overlay of ``/`` would not show them."""
    root_dev = os.stat("/").st_dev
    candidates = [sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)), str(_SHIM_PATH.parent)]
    found: list[str] = []
    for path in dict.fromkeys(os.path.realpath(p) for p in candidates if p):
        try:
            if os.stat(path).st_dev != root_dev and not any(_under(path, f) for f in found):
                found.append(path)
        except OSError:
            continue
    return found


def _identity(path: str) -> str:
    return path


def _host_view(binds: Sequence[BindMount]) -> Callable[[str], str]:
    """Where a path the container sees lives on the host: through the bind
    mounts it gets in its namespace (deepest first), else unchanged."""
    ordered = sorted(binds, key=lambda b: len(b.target), reverse=True)

    def to_host(path: str) -> str:
        norm = os.path.normpath(path)
        for b in ordered:
            if _under(norm, b.target):
                rel = os.path.relpath(norm, b.target)
                return b.source if rel == "." else os.path.join(b.source, rel)
        return path

    return to_host


def _resolve_executable(name: str, path_env: str, cwd: str, to_host: Callable[[str], str]) -> str:
    """The path to exec for ``argv[0] == name``, looked up as the container
    would (``to_host`` maps container paths to host paths for the checks);
    raises :class:`ContainerStartError` in containerd's words."""
    if "/" in name:
        candidate = name if name.startswith("/") else os.path.join(cwd, name)
        host = to_host(candidate)
        if os.path.isfile(host):
            if not os.access(host, os.X_OK):
                raise _oci_error(f'exec: "{name}": permission denied')
            return candidate
        found = _search_path(os.path.basename(name), path_env, to_host) if name.startswith("/") else None
        if found is None:
            raise _oci_error(f'exec: "{name}": stat {name}: no such file or directory')
        return found
    found = _search_path(name, path_env, to_host)
    if found is None:
        raise _oci_error(f'exec: "{name}": executable file not found in $PATH')
    return found


def _search_path(name: str, path_env: str, to_host: Callable[[str], str]) -> str | None:
    for directory in path_env.split(":"):
        candidate = os.path.join(directory or ".", name)
        host = to_host(candidate)
        if os.path.isfile(host) and os.access(host, os.X_OK):
            return candidate
    if re.fullmatch(r"python(3(\.\d+)?)?", name):
        return sys.executable
    return None


def _read_report(fd: int, popen: _ForkedShim, state_dir: Path) -> dict[str, Any]:
    """The shim's one-line start report; bounded by ``_START_TIMEOUT``. The
    FIFO is open read-write here (no EOF), so a shim that dies before
    reporting is noticed by polling it."""
    import selectors

    buf = b""
    deadline = time.monotonic() + _START_TIMEOUT
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                popen.kill()
                popen.wait(_KILL_WAIT)
                return {"error": "timed out waiting for the container to start"}
            if not sel.select(min(remaining, 0.05)):
                if popen.poll() is not None:
                    break
                continue
            try:
                buf += os.read(fd, 4096)
            except BlockingIOError:
                continue
    if not buf.strip():
        shim_log = (state_dir / "shim.log").read_text(errors="replace")[-2000:]
        return {"error": f"container shim exited during start: {shim_log.strip() or 'no report'}"}
    return dict(json.loads(buf.split(b"\n", 1)[0]))


def _start_error(error: str, argv0: str) -> ContainerStartError:
    """A shim start failure in containerd's words."""
    try:
        detail = json.loads(error)
    except ValueError:
        return ContainerStartError(reason="RunContainerError", message=error)
    step, err = detail.get("step"), str(detail.get("error", ""))
    if step == "exec":
        return _oci_error(f'exec: "{argv0}": {err.split(": ", 1)[-1] if ": " in err else err}')
    if step == "chdir":
        return _oci_error(f"chdir to cwd: {err}")
    return _oci_error(f"{step}: {err}")


def _write_meta(state_dir: Path, handle: ContainerHandle, instance: str) -> None:
    meta = {
        "instance": instance,
        "container_id": handle.hex_id,
        "pod_uid": handle.pod_uid,
        "pod_namespace": handle.pod_namespace,
        "pod_name": handle.pod_name,
        "container_name": handle.container_name,
        "restart_count": handle.restart_count,
        "shim_pid": handle.shim_pid,
        "shim_start": _proc_start_ticks(handle.shim_pid),
        "pid": handle.pid,
        "pid_start": handle._pid_start,
        "cgroup_dir": str(handle._cgroup_dir) if handle._cgroup_dir else None,
        "log_path": str(handle.log_path),
    }
    tmp = state_dir / "meta.json.tmp"
    tmp.write_text(json.dumps(meta))
    tmp.replace(state_dir / "meta.json")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def _kill_stale(meta: Mapping[str, Any]) -> None:
    """Kill what an earlier kubelet's container left: ask its shim (if alive)
    to kill the tree, then SIGKILL the container's session and process group."""
    shim_pid, pid = meta.get("shim_pid"), meta.get("pid")
    if shim_pid and _alive(shim_pid, meta.get("shim_start")):
        try:
            os.kill(shim_pid, signal.SIGUSR1)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + _KILL_WAIT
        while _alive(shim_pid, meta.get("shim_start")) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _alive(shim_pid, meta.get("shim_start")):
            os.kill(shim_pid, signal.SIGKILL)
    if pid and meta.get("pid_start") is not None:
        _kill_session(pid, meta["pid_start"])


def _run_exec(cfg: ExecConfig, lifeline_r: int, timeout: float, stdin: bytes | None) -> ExecResult:
    proc = subprocess.Popen(
        [sys.executable, *_PYTHON_FLAGS, str(_SHIM_PATH), "exec", cfg.to_json()],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(lifeline_r,),
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the helper kills the command's tree and exits
        try:
            out, err = proc.communicate(timeout=_KILL_WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise ExecTimeoutError(timeout, out or b"", err or b"") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return ExecResult(proc.returncode, out, err)


class ExecProcess:
    """A command exec'd in a container for a streaming session (``shim.py
    exec`` owns its tree). The caller reads :attr:`stdout`/:attr:`stderr`
    and writes :attr:`stdin` (non-blocking fds it must close with
    :meth:`close`); with a TTY all three are the pseudo-terminal's master
    (``stderr`` is None) and :meth:`resize` sets its window size.
    :meth:`kill` ends the whole tree (the helper kills it on SIGTERM)."""

    def __init__(self, proc: subprocess.Popen[bytes], *, stdin: int | None, stdout: int, stderr: int | None,
                 tty: bool) -> None:
        self._proc = proc
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.tty = tty
        self.pid = proc.pid

    @classmethod
    def start(cls, cfg: ExecConfig, lifeline_r: int, *, tty: bool, stdin: bool) -> ExecProcess:
        argv = [sys.executable, *_PYTHON_FLAGS, str(_SHIM_PATH), "exec", cfg.to_json()]
        if tty:
            master, slave = os.openpty()
            try:
                proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, pass_fds=(lifeline_r,),
                                        start_new_session=True)
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            os.set_blocking(master, False)
            return cls(proc, stdin=master, stdout=master, stderr=None, tty=True)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, pass_fds=(lifeline_r,), start_new_session=True)
        fds = [os.dup(f.fileno()) if f is not None else None for f in (proc.stdin, proc.stdout, proc.stderr)]
        for f in (proc.stdin, proc.stdout, proc.stderr):
            if f is not None:
                f.close()
        for fd in fds:
            if fd is not None:
                os.set_blocking(fd, False)
        assert fds[1] is not None
        return cls(proc, stdin=fds[0], stdout=fds[1], stderr=fds[2], tty=False)

    def resize(self, width: int, height: int) -> None:
        """TIOCSWINSZ on the terminal (the kernel sends the foreground process
        group SIGWINCH); nothing without a TTY."""
        if not self.tty or width <= 0 or height <= 0:
            return
        import fcntl
        import struct
        import termios

        with contextlib.suppress(OSError):
            fcntl.ioctl(self.stdout, termios.TIOCSWINSZ, struct.pack("HHHH", min(height, 65535), min(width, 65535), 0, 0))

    def close_stdin(self) -> None:
        """EOF on the command's stdin: close the pipe; on a terminal, the EOF
        character (what ^D does), since closing the master hangs it up."""
        if self.stdin is None:
            return
        if self.tty:
            with contextlib.suppress(OSError):
                os.write(self.stdin, b"\x04")
            return
        with contextlib.suppress(OSError):
            os.close(self.stdin)
        self.stdin = None

    def poll(self) -> int | None:
        """The command's exit code once it ended (137 when it was killed)."""
        return self._proc.poll()

    def kill(self) -> int:
        """End the command's whole tree and return its exit code."""
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(_KILL_WAIT)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(_KILL_WAIT)
        return int(self._proc.returncode)

    def close(self) -> None:
        """Kill what still runs and close the fds."""
        self.kill()
        for fd in {self.stdin, self.stdout, self.stderr} - {None}:
            assert fd is not None
            with contextlib.suppress(OSError):
                os.close(fd)
        self.stdin = None
