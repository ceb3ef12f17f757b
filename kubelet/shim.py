"""The per-container shim: the process that owns a container's process tree.

Like a containerd shim, one small process per container sits between the
kubelet and the container::

    kubelet (ContainerRuntime)            holds the lifeline pipe's write end
      └─ shim  (python -I -S shim.py run <config.json>)     own session
           └─ container main process  (own session + process group,
                │                      PDEATHSIG=SIGKILL, namespaces when root)
                └─ whatever it forks (sh -c "a & b" ...)

The shim imports only the standard library and starts in tens of
milliseconds. It is single-threaded: one ``selectors`` loop waits on

- the container's stdout and stderr pipes, copied line by line to the
  container log in the CRI format (``<RFC3339Nano> stdout F <line>``, ``P``
  for the pieces of a line longer than 16 KiB) so ``kubectl logs
  --timestamps`` works;
- the *lifeline*: the read end of a pipe whose write end only the kubelet
  holds. EOF means the kubelet is gone -- however it died, SIGKILL included --
  and the shim kills the whole container tree with SIGKILL and exits. This is
  the main mechanism; ``PR_SET_PDEATHSIG`` only fires when the *thread* that
  forked the shim exits, which in a threaded kubelet may be any worker thread,
  so the shim's parent-death signal is a harmless SIGUSR2 that makes it
  re-check ``getppid()``;
- signals, through ``signal.set_wakeup_fd`` (handlers do nothing else):
  SIGCHLD reaps; SIGTERM delivers the image's stop signal to the container's
  process group (graceful stop); SIGUSR1 kills the whole tree with SIGKILL;
- a timer, when a memory limit is watched (see below).

The shim is a child subreaper (``PR_SET_CHILD_SUBREAPER``): a process of the
container whose parent dies is re-parented to the shim, not to init, so the
shim always sees the whole tree by walking ``/proc`` for its descendants (plus
every process still in the container's session). "Kill the tree" is: SIGKILL
the process group, then every descendant and session member, reap, repeat
until nothing is left.

When the container's main process exits, the container has exited (as when
PID 1 of a container exits): the shim kills what is left of the tree, drains
the output pipes, writes the exit status to ``status.json`` (exit code or
signal, start and finish times, OOM-ness) atomically, and exits.

Memory limits (``memory_mode``):

- ``cgroup``: the runtime made a cgroup v2 group with ``memory.max``; the
  container joins it before exec, and ``memory.events``' ``oom_kill`` tells
  OOMKilled. Exact, as in Kubernetes.
- ``rss``: no usable cgroup. The shim samples the tree's anonymous resident
  memory (``/proc/<pid>/statm``: resident - shared) every ``rss_interval``
  seconds and SIGKILLs the tree when it exceeds the limit, reporting
  OOMKilled with exit code 137 like the kernel's OOM killer. Approximate: an
  allocation burst between two samples is not seen, shared pages are not
  charged, and a process forked since the last full ``/proc`` scan (once a
  second) is counted from the next one.
- ``rlimit``: ``RLIMIT_AS`` on the main process (inherited by children,
  per process, not per tree). Virtual size is not memory use (thread stacks
  and malloc arenas count), and failures surface inside the program
  (MemoryError, ENOMEM), so the shim cannot tell an OOM: such exits are
  reported as ``Error`` with a message saying so.

Besides ``run``, the module has two small modes the runtime uses: ``exec``
runs one command in a running container's environment and namespaces (exec
probes, ``kubectl exec``), owning that command's tree the same way; ``probe``
tells whether mount and UTS namespaces can be created here.
"""

from __future__ import annotations

import ctypes
import json
import os
import selectors
import signal
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "ATTACH_PREFIX",
    "AttachDecoder",
    "BindMount",
    "ExecConfig",
    "ShimConfig",
    "attach_frame",
    "main",
]

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
MNT_DETACH = 0x2
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine, 155)
MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

_CRI_MAX_LINE = 16 * 1024
_READ_SIZE = 64 * 1024
_DRAIN_SECONDS = 2.0
_KILL_DEADLINE_SECONDS = 10.0
_RSS_RESCAN_SECONDS = 1.0
_SIGNALS = (signal.SIGCHLD, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)

ATTACH_PREFIX = "\0kemu-attach-"
"""The shim listens on the abstract Unix socket ``ATTACH_PREFIX + container id``
(abstract: no path length limit, nothing to clean up) for attach clients."""
_ATTACH_MAX_FRAME = 1 << 20
_ATTACH_MAX_BACKLOG = 4 << 20
"""Output bytes an attach client may lag behind before the shim drops it."""
_STDIN_MAX_BACKLOG = 256 * 1024
"""Stdin bytes buffered for the container before the shim stops reading clients."""


# ----------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class BindMount:
    """A bind mount made inside the container's mount namespace."""

    source: str
    """Host path (file or directory)."""
    target: str
    """Path in the container (an existing directory or file on the host)."""
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class RootFs:
    """A container's own root file system: the host's ``/`` as the lower
    layer of an overlay whose upper layer is a tmpfs private to the
    container's mount namespace (so writes go nowhere on the host and are gone
    with the container), with the image's files and the pod's identity files
    written into that upper layer first."""

    root: str
    """Empty host directory the overlay is mounted on (in the namespace only)."""
    layer: str
    """Empty host directory the tmpfs upper layer is mounted on."""
    files: dict[str, str]
    """Container path -> text: the image's own files, /etc/hosts,
    /etc/hostname, /etc/resolv.conf."""
    binds: list[str]
    """Host directories on other file systems than ``/`` the container needs
    (the Python that runs kemu's servers and shims): bind-mounted read-only
    at the same path."""


@dataclass(frozen=True, slots=True)
class ShimConfig:
    """What one shim runs; written by the runtime as the container's
    ``config.json`` (the way containerd keeps an OCI bundle's config)."""

    container_id: str
    """Hex container ID (without the ``kemu://`` scheme)."""
    exe: str
    """Path handed to ``execve`` (resolved by the runtime)."""
    argv: list[str]
    """The process's argv (``argv[0]`` as the user wrote it)."""
    env: dict[str, str]
    """The complete environment."""
    cwd: str
    """Working directory (a path inside the container's mount namespace)."""
    log_path: str
    """CRI-format container log, opened for append."""
    status_path: str
    """Where the exit status JSON is written when the container exits."""
    lifeline_fd: int
    """Inherited read end of the kubelet's lifeline pipe."""
    report_fd: int
    """Inherited write end of the start report pipe (one JSON line)."""
    kubelet_pid: int
    """The kubelet's pid; a different ``getppid()`` means it died."""
    stop_signal: int = int(signal.SIGTERM)
    """Signal a SIGTERM to the shim forwards to the container's process group."""
    memory_limit: int | None = None
    """Bytes, or ``None`` for no limit."""
    memory_mode: str | None = None
    """``cgroup``, ``rss``, ``rlimit`` or ``None``."""
    cgroup_dir: str | None = None
    """A cgroup v2 directory the container joins before exec."""
    isolate: bool = False
    """Create mount and UTS namespaces for the container (needs root)."""
    hostname: str | None = None
    """Host name inside the UTS namespace (the pod name)."""
    mounts: list[BindMount] = field(default_factory=list)
    """Bind mounts made in the mount namespace, in order."""
    rss_interval: float = 0.1
    """Seconds between memory samples in ``rss`` mode."""
    stdin: bool = False
    """The container's ``stdin``: attach clients write its stdin (else /dev/null)."""
    stdin_once: bool = False
    """``stdinOnce``: the container's stdin is closed when the first attach
    client that wrote it leaves."""
    tty: bool = False
    """``tty``: stdin, stdout and stderr are one pseudo-terminal owned by the shim."""
    sandbox_pid: int | None = None
    """The pod's sandbox holder (:mod:`kubelet.sandbox`): the container joins
    its network, UTS and IPC namespaces instead of making a UTS namespace."""
    rootfs: RootFs | None = None
    """The container's own root file system, or ``None`` for the host's."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> ShimConfig:
        raw = json.loads(text)
        raw["mounts"] = [BindMount(**m) for m in raw.get("mounts", [])]
        if raw.get("rootfs") is not None:
            raw["rootfs"] = RootFs(**raw["rootfs"])
        return cls(**raw)


@dataclass(frozen=True, slots=True)
class ExecConfig:
    """One command run inside a running container (``shim.py exec``)."""

    exe: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    lifeline_fd: int
    kubelet_pid: int
    ns_pid: int | None = None
    """Pid whose network, IPC, UTS and mount namespaces the command enters
    (the container's main process), or ``None`` when the container has none."""
    tty: bool = False
    """stdin (fd 0) is a pseudo-terminal's slave: it becomes the command's
    controlling terminal (so job control and SIGWINCH work)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ExecConfig:
        return cls(**json.loads(text))


# ------------------------------------------------------------------- libc


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _prctl(libc: Any, option: int, value: int) -> None:
    _check(libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), "prctl")


def _mount(libc: Any, source: str | None, target: str, flags: int) -> None:
    src = source.encode() if source is not None else None
    _check(libc.mount(src, target.encode(), None, ctypes.c_ulong(flags), None), f"mount {target}")


def _enter_new_namespaces(libc: Any, cfg: ShimConfig) -> None:
    """In the container child: the pod's sandbox namespaces (or a UTS
    namespace of its own), a private mount namespace with the container's
    root file system and bind mounts, and the host name. Mounts never
    propagate back: ``/`` is made rprivate first."""
    if cfg.sandbox_pid:
        _setns_all(libc, cfg.sandbox_pid, ("net", "uts", "ipc"))
        _check(libc.unshare(CLONE_NEWNS), "unshare")
    else:
        _check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "unshare")
    _mount(libc, None, "/", MS_REC | MS_PRIVATE)
    prefix = ""
    if cfg.rootfs is not None:
        _mount_rootfs(libc, cfg.rootfs)
        prefix = cfg.rootfs.root
    for m in cfg.mounts:
        target = prefix + m.target
        if prefix:
            _mount_point(m.source, target)
        _mount(libc, m.source, target, MS_BIND | MS_REC)
        if m.read_only:
            _mount(libc, None, target, MS_BIND | MS_REMOUNT | MS_RDONLY)
    if cfg.rootfs is not None:
        _pivot_root(libc, cfg.rootfs.root)
    if cfg.hostname and not cfg.sandbox_pid:
        name = cfg.hostname.encode()
        _check(libc.sethostname(name, len(name)), "sethostname")


def _mount_fs(libc: Any, fstype: str, target: str, flags: int = 0, data: str | None = None) -> None:
    options = data.encode() if data is not None else None
    _check(libc.mount(fstype.encode(), target.encode(), fstype.encode(), ctypes.c_ulong(flags), options),
           f"mount {fstype} on {target}")


def _mount_point(source: str, target: str) -> None:
    """Create ``target`` (in the container's layer) as a file or directory, like ``source``."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    elif not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()


def _mount_rootfs(libc: Any, rootfs: RootFs) -> None:
    """Overlay ``/`` (read-only below) with a private tmpfs (written above)
    at ``rootfs.root``, then the kernel file systems a container expects."""
    _mount_fs(libc, "tmpfs", rootfs.layer, 0, "mode=0755")
    upper, work = os.path.join(rootfs.layer, "upper"), os.path.join(rootfs.layer, "work")
    os.mkdir(upper, 0o755)
    os.mkdir(work, 0o700)
    for path, text in rootfs.files.items():
        where = upper + path
        os.makedirs(os.path.dirname(where), exist_ok=True)
        with open(where, "w") as f:
            f.write(text)
    _mount_fs(libc, "overlay", rootfs.root, 0, f"lowerdir=/,upperdir={upper},workdir={work}")
    root = rootfs.root
    _mount_fs(libc, "proc", root + "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for kernel in ("/dev", "/sys"):
        _mount(libc, kernel, root + kernel, MS_BIND | MS_REC)
    for host in rootfs.binds:
        os.makedirs(root + host, exist_ok=True)
        _mount(libc, host, root + host, MS_BIND | MS_REC)
        _mount(libc, None, root + host, MS_BIND | MS_REMOUNT | MS_RDONLY)


def _pivot_root(libc: Any, root: str) -> None:
    """Make ``root`` the namespace's ``/`` and detach the host's."""
    os.chdir(root)
    _check(libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
    _check(libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")


def _setns_all(libc: Any, pid: int, kinds: Sequence[str]) -> None:
    """Enter namespaces of ``pid`` (``net``, ``uts``, ``ipc``, ``mnt``), in that order."""
    flags = {"net": CLONE_NEWNET, "uts": CLONE_NEWUTS, "ipc": CLONE_NEWIPC, "mnt": CLONE_NEWNS}
    fds = [os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY) for ns in kinds]
    try:
        for fd, kind in zip(fds, kinds, strict=True):
            _check(libc.setns(fd, flags[kind]), f"setns {kind}")
    finally:
        for fd in fds:
            os.close(fd)


def _join_namespaces(libc: Any, pid: int) -> None:
    """Enter the network, IPC, UTS and mount namespaces of ``pid`` (a
    single-threaded caller); joining one's own namespace is a no-op."""
    _setns_all(libc, pid, ("net", "ipc", "uts", "mnt"))


# ------------------------------------------------------------ /proc walks


def _proc_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, session, state) for every process."""
    table: dict[int, tuple[int, int, str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2 :].split()
        table[int(name)] = (int(fields[1]), int(fields[3]), fields[0].decode())
    return table


def tree_pids(root: int, session: int | None, table: Mapping[int, tuple[int, int, str]] | None = None) -> set[int]:
    """Live (non-zombie) descendants of ``root`` plus members of ``session``."""
    table = _proc_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, _sid, _state) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    stack = list(children.get(root, ()))
    while stack:
        pid = stack.pop()
        if pid not in found:
            found.add(pid)
            stack.extend(children.get(pid, ()))
    if session is not None:
        found.update(pid for pid, (_p, sid, _s) in table.items() if sid == session)
    found.discard(root)
    return {pid for pid in found if table.get(pid, (0, 0, "Z"))[2] != "Z"}


def _signal_pids(pids: Iterable[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _killpg(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _anon_rss(pids: Iterable[int]) -> int:
    """Resident anonymous+shmem bytes of ``pids`` (statm: resident - shared)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                parts = f.read().split()
            total += (int(parts[1]) - int(parts[2])) * page
        except (OSError, IndexError, ValueError):
            continue
    return total


# -------------------------------------------------------------- CRI log


def _cri_timestamp(ns: int) -> bytes:
    seconds, nanos = divmod(ns, 1_000_000_000)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z").encode()


class CriLogWriter:
    """Append a container's output to its log in the CRI format.

    One record per line: ``<RFC3339Nano> <stream> <F|P> <content>``; a line
    longer than 16 KiB is split into ``P`` (partial) records and a final
    ``F``. Output without a trailing newline at EOF is written as ``F``.
    """

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._pending: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def feed(self, stream: str, data: bytes) -> None:
        buf = self._pending[stream] + data
        now = _cri_timestamp(time.time_ns())
        records: list[bytes] = []
        while True:
            newline = buf.find(b"\n")
            if newline < 0:
                break
            line, buf = buf[:newline], buf[newline + 1 :]
            records += self._records(now, stream, line)
        while len(buf) >= _CRI_MAX_LINE:
            records.append(self._record(now, stream, b"P", buf[:_CRI_MAX_LINE]))
            buf = buf[_CRI_MAX_LINE:]
        self._pending[stream] = buf
        if records:
            os.write(self._fd, b"".join(records))

    def flush(self, stream: str) -> None:
        if self._pending[stream]:
            now = _cri_timestamp(time.time_ns())
            os.write(self._fd, self._record(now, stream, b"F", self._pending[stream]))
            self._pending[stream] = b""

    def close(self) -> None:
        for stream in self._pending:
            self.flush(stream)
        os.close(self._fd)

    def _records(self, now: bytes, stream: str, line: bytes) -> list[bytes]:
        out = []
        while len(line) > _CRI_MAX_LINE:
            out.append(self._record(now, stream, b"P", line[:_CRI_MAX_LINE]))
            line = line[_CRI_MAX_LINE:]
        out.append(self._record(now, stream, b"F", line))
        return out

    @staticmethod
    def _record(now: bytes, stream: str, tag: bytes, content: bytes) -> bytes:
        return b"%s %s %s %s\n" % (now, stream.encode(), tag, content)


# ------------------------------------------------------------ the child


def _reset_signals() -> None:
    """Default dispositions and an empty mask, as a fresh process has them
    (Python ignores SIGPIPE and SIGXFSZ, and ignored signals survive exec)."""
    signal.set_wakeup_fd(-1)
    for signum in range(1, signal.NSIG):
        try:
            signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _close_fds_except(keep: Iterable[int]) -> None:
    keep_set = set(keep)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep_set:
            try:
                os.close(fd)
            except OSError:
                pass


def _exec_container(libc: Any, cfg: ShimConfig, stdin_r: int | None, stdout_w: int, stderr_w: int, err_w: int) -> None:
    """Set the forked child up as the container's main process and exec.
    Never returns; a failure is written to ``err_w`` as JSON."""
    step = "setup"
    try:
        os.setsid()
        _reset_signals()
        _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
        if cfg.cgroup_dir:
            step = "cgroup"
            with open(os.path.join(cfg.cgroup_dir, "cgroup.procs"), "w") as f:
                f.write("0")
        if cfg.isolate:
            step = "namespaces"
            _enter_new_namespaces(libc, cfg)
        if cfg.memory_mode == "rlimit" and cfg.memory_limit:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (cfg.memory_limit, cfg.memory_limit))
        os.dup2(stdin_r if stdin_r is not None else os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(stdout_w, 1)
        os.dup2(stderr_w, 2)
        if cfg.tty:
            import fcntl
            import termios

            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        step = "chdir"
        if cfg.rootfs is not None:
            os.makedirs(cfg.cwd, exist_ok=True)  # the image's WORKDIR, in the container's own layer
        os.chdir(cfg.cwd)
        _close_fds_except((0, 1, 2, err_w))
        step = "exec"
        os.execve(cfg.exe, cfg.argv, cfg.env)
    except BaseException as exc:  # noqa: BLE001 - report anything, then die
        errno_ = getattr(exc, "errno", None)
        os.write(err_w, json.dumps({"step": step, "errno": errno_, "error": str(exc)}).encode())
    finally:
        os._exit(127)


# -------------------------------------------------------------- the shim


def _now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1_000_000):06d}Z"


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


class Shim:
    """One container's owner; see the module docstring."""

    def __init__(self, cfg: ShimConfig) -> None:
        self.cfg = cfg
        self.libc = _libc()
        self.main_pid = 0
        self.main_status: int | None = None
        self.started_at = ""
        self.oom = False
        self.kubelet_gone = False
        self.kill_deadline: float | None = None
        self.rss_pids: set[int] = set()
        self.rss_rescan_at = 0.0
        self.sel = selectors.DefaultSelector()
        self.open_streams: set[str] = set()
        self.wakeup_r, self.wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.log = CriLogWriter(cfg.log_path)
        self.attach = _AttachServer(self)

    # -- set-up

    def _install(self) -> None:
        _prctl(self.libc, PR_SET_CHILD_SUBREAPER, 1)
        _prctl(self.libc, PR_SET_PDEATHSIG, signal.SIGUSR2)
        for signum in _SIGNALS:
            signal.signal(signum, lambda *_: None)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.set_wakeup_fd(self.wakeup_w, warn_on_full_buffer=False)

    def _spawn(self) -> str | None:
        """Fork and exec the container; ``None`` on success, else the error."""
        stdin_r: int | None = None
        if self.cfg.tty:  # one terminal for the three: the master's reads are "stdout"
            out_r, out_w = os.openpty()
            os.set_inheritable(out_r, False)
            os.set_inheritable(out_w, False)
            err_r, err_w = -1, out_w
            stdin_r = out_w
            if self.cfg.stdin:
                self.attach.stdin_fd = os.dup(out_r)
        else:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            if self.cfg.stdin:
                stdin_r, self.attach.stdin_fd = os.pipe2(os.O_CLOEXEC)
        fail_r, fail_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            _exec_container(self.libc, self.cfg, stdin_r, out_w, err_w, fail_w)
        for fd in {out_w, err_w, fail_w, stdin_r} - {None}:
            os.close(fd)  # type: ignore[arg-type]
        failure = _read_all(fail_r)
        os.close(fail_r)
        self.main_pid = pid
        if failure:
            for fd in {out_r, err_r, self.attach.stdin_fd} - {None, -1}:
                os.close(fd)  # type: ignore[arg-type]
            self.attach.stdin_fd = None
            os.waitpid(pid, 0)
            return failure.decode(errors="replace")
        self.started_at = _now_iso()
        for fd, stream in ((out_r, "stdout"), (err_r, "stderr")):
            if fd < 0:
                continue
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ, stream)
            self.open_streams.add(stream)
        if self.attach.stdin_fd is not None:
            os.set_blocking(self.attach.stdin_fd, False)
        self.attach.listen(out_r if self.cfg.tty else None)
        return None

    def _report(self, payload: Mapping[str, Any]) -> None:
        try:
            os.write(self.cfg.report_fd, (json.dumps(payload) + "\n").encode())
        except OSError:
            pass  # the kubelet stopped listening; the lifeline will tell
        finally:
            os.close(self.cfg.report_fd)

    # -- the loop

    def run(self) -> int:
        self._install()
        self.sel.register(self.cfg.lifeline_fd, selectors.EVENT_READ, "lifeline")
        self.sel.register(self.wakeup_r, selectors.EVENT_READ, "signal")
        if os.getppid() != self.cfg.kubelet_pid:
            self._report({"error": "kubelet exited before the container started"})
            return 0
        failure = self._spawn()
        if failure is not None:
            self._report({"error": failure})
            return 0
        self._report({"pid": self.main_pid, "started_at": self.started_at})
        self._loop()
        self._finish()
        return 0

    def _loop(self) -> None:
        next_sample = time.monotonic()
        drain_until: float | None = None
        while True:
            if self.main_status is not None:
                drain_until = drain_until or time.monotonic() + _DRAIN_SECONDS
                if not self.open_streams or time.monotonic() >= drain_until:
                    return
            timeout = self._timeout(next_sample, drain_until)
            for key, mask in self.sel.select(timeout):
                self._on_ready(key.fileobj, key.data, mask)  # type: ignore[arg-type]
            self.attach.update_interest()
            if self._watching_rss() and time.monotonic() >= next_sample:
                next_sample = time.monotonic() + self.cfg.rss_interval
                self._check_rss()
            if self.kill_deadline is not None and time.monotonic() > self.kill_deadline:
                return  # a process that SIGKILL cannot end (D state): give up on it

    def _timeout(self, next_sample: float, drain_until: float | None) -> float | None:
        deadlines = [d for d in (drain_until, self.kill_deadline) if d is not None]
        if self._watching_rss():
            deadlines.append(next_sample)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _on_ready(self, fd: int, what: str, mask: int = selectors.EVENT_READ) -> None:
        if what.startswith("attach"):
            self.attach.on_ready(fd, what, mask)
        elif what == "signal":
            self._on_signals()
        elif what == "lifeline":
            self._on_lifeline(fd)
        else:
            self._on_output(fd, what)

    def _on_output(self, fd: int, stream: str) -> None:
        try:
            data = os.read(fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:  # EIO: a terminal whose last slave closed
            data = b""
        if data:
            self.log.feed(stream, data)
            self.attach.output(stream, data)
            return
        self.sel.unregister(fd)
        os.close(fd)
        self.log.flush(stream)
        self.open_streams.discard(stream)

    def _on_lifeline(self, fd: int) -> None:
        if os.read(fd, 4096):
            return  # nobody writes on the lifeline; ignore noise
        self.sel.unregister(fd)
        self._lost_kubelet()

    def _lost_kubelet(self) -> None:
        if not self.kubelet_gone:
            self.kubelet_gone = True
            self._kill_tree()

    def _on_signals(self) -> None:
        try:
            received = os.read(self.wakeup_r, 4096)
        except BlockingIOError:
            return
        for signum in set(received):
            if signum == signal.SIGCHLD:
                self._reap()
            elif signum == signal.SIGTERM:
                _killpg(self.main_pid, self.cfg.stop_signal)
            elif signum == signal.SIGUSR1:
                self._kill_tree()
            elif signum == signal.SIGUSR2 and os.getppid() != self.cfg.kubelet_pid:
                self._lost_kubelet()
        self._reap()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.main_pid and self.main_status is None:
                self.main_status = status
                self._kill_tree()  # the container's init exited: so does the rest

    # -- killing

    def _kill_tree(self) -> None:
        """SIGKILL every process of the container once; the loop reaps, and
        :meth:`_finish` repeats until nothing is left."""
        if self.kill_deadline is None:
            self.kill_deadline = time.monotonic() + _KILL_DEADLINE_SECONDS
        self._cgroup_kill()
        _killpg(self.main_pid, signal.SIGKILL)
        _signal_pids(tree_pids(os.getpid(), self.main_pid), signal.SIGKILL)

    def _cgroup_kill(self) -> None:
        if not self.cfg.cgroup_dir:
            return
        try:
            with open(os.path.join(self.cfg.cgroup_dir, "cgroup.kill"), "w") as f:
                f.write("1")
        except OSError:
            pass

    def _kill_until_gone(self) -> None:
        deadline = self.kill_deadline or time.monotonic() + _KILL_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            self._reap()
            left = tree_pids(os.getpid(), self.main_pid)
            if not left:
                self._reap()
                return
            _killpg(self.main_pid, signal.SIGKILL)
            _signal_pids(left, signal.SIGKILL)
            time.sleep(0.01)

    # -- memory

    def _watching_rss(self) -> bool:
        return (
            self.cfg.memory_mode == "rss"
            and bool(self.cfg.memory_limit)
            and self.main_status is None
            and not self.oom
        )

    def _check_rss(self) -> None:
        """Sample the tree's memory. The tree itself is re-discovered (a full
        /proc scan) only every ``_RSS_RESCAN_SECONDS``; in between, the known
        pids are re-read, which costs microseconds."""
        now = time.monotonic()
        if now >= self.rss_rescan_at:
            self.rss_pids = tree_pids(os.getpid(), self.main_pid)
            self.rss_rescan_at = now + _RSS_RESCAN_SECONDS
        if _anon_rss(self.rss_pids) > (self.cfg.memory_limit or 0):
            self.oom = True
            self._kill_tree()

    def _cgroup_oom(self) -> bool:
        if not self.cfg.cgroup_dir:
            return False
        try:
            with open(os.path.join(self.cfg.cgroup_dir, "memory.events")) as f:
                events = dict(line.split() for line in f if line.strip())
            return int(events.get("oom_kill", "0")) > 0
        except (OSError, ValueError):
            return False

    # -- exit

    def _finish(self) -> None:
        self._kill_until_gone()
        if self.main_status is None:  # gave up waiting: report what we know
            self.main_status = signal.SIGKILL
        self._drain_now()
        self.log.close()
        self.attach.close()
        _write_atomic(self.cfg.status_path, json.dumps(self._status()))

    def _drain_now(self) -> None:
        """Copy what is still buffered in the output pipes (their writers are
        dead, or ignored after the drain deadline) without blocking."""
        for key in list(self.sel.get_map().values()):
            if key.data not in ("stdout", "stderr"):
                continue
            for _ in range(1024):  # at most 64 MiB of backlog
                if key.data not in self.open_streams:
                    break
                try:
                    data = os.read(key.fd, _READ_SIZE)
                except BlockingIOError:
                    break
                except OSError:
                    data = b""
                if not data:
                    self._on_output(key.fd, key.data)  # EOF: close and flush
                    break
                self.log.feed(key.data, data)
                self.attach.output(key.data, data)

    def _status(self) -> dict[str, Any]:
        status = self.main_status or 0
        if os.WIFSIGNALED(status):
            sig: int | None = os.WTERMSIG(status)
            code = 128 + (sig or 0)
        else:
            sig, code = None, os.WEXITSTATUS(status)
        oom = self.oom or self._cgroup_oom()
        message = ""
        if self.kubelet_gone:
            message = "container killed: its kubelet exited (lifeline closed)"
        elif oom and self.cfg.memory_mode == "rss":
            message = f"memory use of the container's processes exceeded the limit of {self.cfg.memory_limit} bytes"
        elif code != 0 and self.cfg.memory_mode == "rlimit":
            message = "memory limit enforced with RLIMIT_AS: an allocation failure inside the container is not an OOM kill"
        reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        return {
            "exit_code": code,
            "signal": sig,
            "reason": reason,
            "message": message,
            "oom_killed": oom,
            "started_at": self.started_at,
            "finished_at": _now_iso(),
            "pid": self.main_pid,
        }


# ---------------------------------------------------------------- attach


def attach_frame(kind: bytes, payload: bytes = b"") -> bytes:
    """One frame of the shim's attach socket: ``kind`` (1 byte), the payload's
    length (4 bytes, big-endian), the payload. Client to shim: ``I`` stdin,
    ``E`` end of this client's stdin, ``D`` this client writes no stdin,
    ``R`` resize (``b"<width>,<height>"``); shim to client: ``1`` stdout,
    ``2`` stderr (a TTY has only ``1``). The shim closes the socket when the
    container exited."""
    return kind + len(payload).to_bytes(4, "big") + payload


class AttachDecoder:
    """Incremental parser of :func:`attach_frame` frames; sets ``error`` (and
    returns nothing more) on a frame over 1 MiB."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.error: str | None = None

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        if self.error:
            return []
        self._buf += data
        out: list[tuple[bytes, bytes]] = []
        while len(self._buf) >= 5:
            size = int.from_bytes(self._buf[1:5], "big")
            if size > _ATTACH_MAX_FRAME:
                self.error = f"attach frame of {size} bytes"
                return out
            if len(self._buf) < 5 + size:
                break
            out.append((bytes(self._buf[:1]), bytes(self._buf[5 : 5 + size])))
            del self._buf[: 5 + size]
        return out


class _AttachClient:
    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.decoder = AttachDecoder()
        self.out = bytearray()
        self.wrote_stdin = False
        self.registered = selectors.EVENT_READ


class _AttachServer:
    """The shim's attach socket: clients get the container's output as it
    is written and write its stdin (when the spec has ``stdin``); see
    :func:`attach_frame`. Part of the shim's one loop, never blocking: a
    client more than 4 MiB behind is dropped, and clients are not read
    while 256 KiB of stdin wait for the container."""

    def __init__(self, shim: Shim) -> None:
        self.shim = shim
        self.listener: Any = None
        self.clients: dict[int, _AttachClient] = {}
        self.stdin_fd: int | None = None
        """Where the container's stdin is written (a pipe, or a dup of the terminal's master)."""
        self.stdin_buf = bytearray()
        self.stdin_registered = False
        self.stdin_closing = False
        self.master: int | None = None

    def listen(self, master: int | None) -> None:
        import socket

        self.master = master
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
            sock.bind(ATTACH_PREFIX + self.shim.cfg.container_id)
            sock.listen(16)
        except OSError as exc:
            sys.stderr.write(f"attach socket: {exc}\n")
            return
        self.listener = sock
        self.shim.sel.register(sock.fileno(), selectors.EVENT_READ, "attach-listen")

    def on_ready(self, fd: int, what: str, mask: int) -> None:
        if what == "attach-listen":
            self._accept()
        elif what == "attach-stdin":
            self._write_stdin()
        elif fd in self.clients:
            client = self.clients[fd]
            if mask & selectors.EVENT_WRITE:
                self._flush(client)
            if mask & selectors.EVENT_READ and fd in self.clients:
                self._read(client)

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        sock.setblocking(False)
        self.clients[sock.fileno()] = _AttachClient(sock)
        self.shim.sel.register(sock.fileno(), selectors.EVENT_READ, "attach")

    def _read(self, client: _AttachClient) -> None:
        try:
            data = client.sock.recv(_READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(client)
            return
        for kind, payload in client.decoder.feed(data):
            if kind == b"I" and self.stdin_fd is not None and not self.stdin_closing:
                client.wrote_stdin = True
                self.stdin_buf += payload
            elif kind == b"E":
                self._client_stdin_ended(client)
            elif kind == b"R":
                self._resize(payload)
        if client.decoder.error:
            self._drop(client)

    def _resize(self, payload: bytes) -> None:
        if self.master is None:
            return
        import fcntl
        import struct
        import termios

        try:
            width, height = (int(v) for v in payload.split(b","))
            if width > 0 and height > 0:
                fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        except (ValueError, OSError, struct.error):
            pass

    def _client_stdin_ended(self, client: _AttachClient) -> None:
        if self.shim.cfg.stdin_once and self.stdin_fd is not None:
            self.stdin_closing = True  # closed once what is buffered is written

    def _drop(self, client: _AttachClient) -> None:
        fd = client.sock.fileno()
        self.clients.pop(fd, None)
        if client.registered:
            try:
                self.shim.sel.unregister(fd)
            except (KeyError, ValueError):
                pass
        client.sock.close()
        self._client_stdin_ended(client)

    def output(self, stream: str, data: bytes) -> None:
        frame = attach_frame(b"1" if stream == "stdout" else b"2", data)
        for client in list(self.clients.values()):
            client.out += frame
            if len(client.out) > _ATTACH_MAX_BACKLOG:
                self._drop(client)  # too slow: its output is in the log
            else:
                self._flush(client)

    def _flush(self, client: _AttachClient) -> None:
        if client.out:
            try:
                n = client.sock.send(client.out)
                del client.out[:n]
            except BlockingIOError:
                pass
            except OSError:
                self._drop(client)

    def _write_stdin(self) -> None:
        if self.stdin_fd is None:
            return
        if self.stdin_buf:
            try:
                n = os.write(self.stdin_fd, self.stdin_buf[:_READ_SIZE])
                del self.stdin_buf[:n]
            except BlockingIOError:
                return
            except OSError:
                self.stdin_buf.clear()
        if not self.stdin_buf and self.stdin_closing:
            self._close_stdin()

    def _close_stdin(self) -> None:
        fd, self.stdin_fd = self.stdin_fd, None
        if fd is None:
            return
        if self.stdin_registered:
            self.shim.sel.unregister(fd)
            self.stdin_registered = False
        if self.shim.cfg.tty:
            try:
                os.write(fd, b"\x04")  # EOF on a terminal: closing the master would hang it up
            except OSError:
                pass
        os.close(fd)

    def update_interest(self) -> None:
        """Once per loop: write interest where bytes wait, read interest on
        clients while the container's stdin is not backed up."""
        if self.stdin_closing and not self.stdin_buf:
            self._close_stdin()
        if self.stdin_fd is not None:
            want = bool(self.stdin_buf)
            if want != self.stdin_registered:
                if want:
                    self.shim.sel.register(self.stdin_fd, selectors.EVENT_WRITE, "attach-stdin")
                else:
                    self.shim.sel.unregister(self.stdin_fd)
                self.stdin_registered = want
        reading = len(self.stdin_buf) < _STDIN_MAX_BACKLOG
        for fd, client in list(self.clients.items()):
            events = (selectors.EVENT_READ if reading else 0) | (selectors.EVENT_WRITE if client.out else 0)
            if events == client.registered:
                continue
            if not client.registered:
                self.shim.sel.register(fd, events, "attach")
            elif not events:
                self.shim.sel.unregister(fd)
            else:
                self.shim.sel.modify(fd, events, "attach")
            client.registered = events

    def close(self) -> None:
        """The container exited: give clients what is buffered (briefly), close."""
        for client in list(self.clients.values()):
            try:
                client.sock.settimeout(1.0)
                client.sock.sendall(client.out)
            except OSError:
                pass
            client.sock.close()
        self.clients.clear()
        if self.listener is not None:
            self.listener.close()
        if self.stdin_fd is not None:
            try:
                os.close(self.stdin_fd)
            except OSError:
                pass
            self.stdin_fd = None


# ------------------------------------------------------------------ exec


class ExecRunner:
    """``shim.py exec``: one command in a running container, owning its tree.

    The process exits with the command's exit code (128+N when a signal N
    ended it); when the command's main process exits, whatever it left behind
    is killed, so the caller's output pipes close. SIGTERM kills the tree and
    exits 137 (the runtime's timeout), as does the kubelet's death.
    """

    def __init__(self, cfg: ExecConfig) -> None:
        self.cfg = cfg
        self.libc = _libc()
        self.pid = 0

    def run(self) -> int:
        _prctl(self.libc, PR_SET_CHILD_SUBREAPER, 1)
        _prctl(self.libc, PR_SET_PDEATHSIG, signal.SIGKILL)  # the calling thread blocks until we exit
        if os.getppid() != self.cfg.kubelet_pid:
            return 137
        if self.cfg.ns_pid:
            try:
                _join_namespaces(self.libc, self.cfg.ns_pid)
            except OSError as exc:
                sys.stderr.write(f"cannot enter the container's namespaces (not running?): {exc}\n")
                return 126
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, lambda *_: None)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        self.pid = os.fork()
        if self.pid == 0:
            self._child()
        return self._wait(wake_r)

    def _child(self) -> None:
        try:
            os.setsid()
            _reset_signals()
            if self.cfg.tty:
                import fcntl
                import termios

                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            os.chdir(self.cfg.cwd)
            os.closerange(3, 1 << 16)
            os.execve(self.cfg.exe, self.cfg.argv, self.cfg.env)
        except OSError as exc:
            os.write(2, f"exec failed: {exc}\n".encode())
        finally:
            os._exit(127)

    def _wait(self, wake_r: int) -> int:
        sel = selectors.DefaultSelector()
        sel.register(wake_r, selectors.EVENT_READ, "signal")
        sel.register(self.cfg.lifeline_fd, selectors.EVENT_READ, "lifeline")
        while True:
            for key, _ in sel.select():
                if key.data == "lifeline" and not os.read(self.cfg.lifeline_fd, 4096):
                    return self._kill_all(137)
                if key.data == "signal":
                    received = os.read(wake_r, 4096)
                    if signal.SIGTERM in received:
                        return self._kill_all(137)
            code = self._reap_main()
            if code is not None:
                return self._kill_all(code)

    def _reap_main(self) -> int | None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid == 0:
                return None
            if pid == self.pid:
                return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)

    def _kill_all(self, code: int) -> int:
        deadline = time.monotonic() + _KILL_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            _killpg(self.pid, signal.SIGKILL)
            left = tree_pids(os.getpid(), self.pid)
            _signal_pids(left, signal.SIGKILL)
            try:
                while os.waitpid(-1, os.WNOHANG)[0] > 0:
                    pass
            except ChildProcessError:
                pass
            if not left:
                break
            time.sleep(0.01)
        return code


# ---------------------------------------------------------------- probe


def probe_namespaces() -> int:
    """Exit 0 when this process can create private mount and UTS namespaces."""
    libc = _libc()
    try:
        _check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "unshare")
        _mount(libc, None, "/", MS_REC | MS_PRIVATE)
    except OSError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    return 0


def zygote() -> int:
    """``shim.py zygote``: a fork server for shims.

    Starting a Python interpreter costs tens of milliseconds of CPU; forking
    one that has already imported this module costs about one. The runtime
    starts one zygote per kubelet and writes one JSON request per line on
    its stdin (``{"config": path, "report": fifo path, "log": path}``); the
    zygote forks, answers the child's pid on stdout, and the child becomes
    that container's shim exactly as ``shim.py run`` would (own session,
    output to the shim log, its start report written to the FIFO). The
    zygote is single-threaded, so forking it is safe. Its children are
    reaped by the kernel (SIGCHLD ignored); each shim resets SIGCHLD for
    its own container. When the kubelet dies, the zygote's stdin reaches EOF
    and it exits; the shims, whose parent it was, see the lifeline close and
    kill their containers, as always.
    """
    import dataclasses

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    stdin = os.fdopen(0, "rb")
    while True:
        line = stdin.readline()
        if not line:
            return 0
        try:
            req = json.loads(line)
        except ValueError:
            continue
        pid = os.fork()
        if pid == 0:  # the new shim
            code = 1
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setsid()
                out = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(out, 1)
                os.dup2(out, 2)
                report_fd = os.open(req["report"], os.O_WRONLY)
                with open(req["config"]) as f:
                    cfg = ShimConfig.from_json(f.read())
                cfg = dataclasses.replace(cfg, report_fd=report_fd, kubelet_pid=os.getppid())
                code = Shim(cfg).run()
            except BaseException as exc:  # noqa: BLE001 (the child must never return into the zygote's loop)
                try:
                    os.write(2, f"shim failed: {type(exc).__name__}: {exc}\n".encode())
                except OSError:
                    pass
            finally:
                os._exit(code)
        os.write(1, f"{pid}\n".encode())


def main(argv: list[str] | None = None) -> int:
    """``shim.py run <config.json>`` | ``shim.py exec <json>`` | ``shim.py probe`` | ``shim.py zygote``."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["zygote"]:
        return zygote()
    if args[:1] == ["run"] and len(args) == 2:
        with open(args[1]) as f:
            cfg = ShimConfig.from_json(f.read())
        return Shim(cfg).run()
    if args[:1] == ["exec"] and len(args) == 2:
        return ExecRunner(ExecConfig.from_json(args[1])).run()
    if args[:1] == ["probe"]:
        return probe_namespaces()
    sys.stderr.write("usage: shim.py run <config.json> | exec <json> | probe\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
