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

How the code is split
---------------------
This module is the facade that composes the parts, each its own module:
:mod:`kubelet.plan` (spec to :class:`~kubelet.plan.Launch`: argv, env,
executable lookup, working directory, limits), :mod:`kubelet.mounts` (the
path arithmetic of volumes), :mod:`kubelet.processes` (the shim zygote,
/proc liveness, killing what is left), :mod:`kubelet.cgroups` (cgroup v2
limits), :mod:`kubelet.containers` (the handle, exit status and
``meta.json`` record) and :mod:`kubelet.container_exec` (exec). Their
public names are re-exported here, so ``from kubelet.runtime import ...``
is all a caller needs.

Not emulated: PID namespaces (a container's main process is not PID 1, so
PID 1's signal semantics do not apply), users (``runAsUser``), image file
systems beyond the catalog's few files (the host's tools stand in).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import threading
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from kemu.images import ImageCatalog, ImageSpec
from kubelet.cgroups import CgroupV2
from kubelet.container_exec import (
    ContainerExecError,
    ContainerNotRunningError,
    ExecProcess,
    ExecResult,
    ExecTimeoutError,
    exec_config,
    run_exec,
)
from kubelet.containers import (
    CONTAINER_ID_SCHEME,
    ContainerHandle,
    ExitStatus,
    StaleContainer,
    await_listening,
    parse_shim_time,
    read_json,
    utcnow,
    write_meta,
)
from kubelet.mounts import Mount
from kubelet.plan import (
    ContainerStartError,
    Launch,
    build_rootfs,
    check_bind_permission,
    expand_vars,
    plan_launch,
    start_error,
)
from kubelet.processes import KILL_WAIT, Zygote, alive, kill_stale, read_report, run_probe, session_members
from kubelet.shim import ShimConfig

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
        self._zygote = Zygote(self._lifeline_r, self.root_dir / "zygote.log")

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
        ok = os.geteuid() == 0 and run_probe()
        if not ok and self._isolation_wanted == "namespaces":
            raise ContainerStartError(
                reason="RunContainerError", message="mount namespaces are not available (kemu needs root for them)"
            )
        return "namespaces" if ok else "none"

    def _cgroups(self) -> CgroupV2 | None:
        with self._lock:
            if "memory_mode" not in self._probed:
                cg = None
                if self._memory_wanted in ("auto", "cgroup"):
                    cg = CgroupV2.detect(self._cgroup_root, self.node_name)
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
            launch = plan_launch(
                spec=spec,
                container=container,
                env=dict(env),
                pod_name=pod_name,
                pod_namespace=pod_namespace,
                pod_ip=pod_ip,
                mounts=mounts,
                rootfs=working_dir_root or state_dir / "rootfs",
                isolate=self.isolation == "namespaces",
                node_name=self.node_name,
                root_dir=self.root_dir,
                log=self._log,
                sandboxed=sandboxed,
            )
            if sandboxed:
                launch.sandbox_pid = sandbox_pid
                launch.rootfs = build_rootfs(state_dir, spec, pod_files or {})
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
            await_listening(handle, *launch.listen)
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

    # -- launching the shim

    def _launch(
        self, hex_id: str, state_dir: Path, launch: Launch, ident: Mapping[str, Any], pod_name: str
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
            report = read_report(report_r, popen, state_dir)
        finally:
            os.close(report_r)
        if "error" in report:
            popen.wait(KILL_WAIT)
            if cgroup_dir is not None:
                CgroupV2.remove(cgroup_dir)
            raise start_error(str(report["error"]), launch.argv[0])
        handle = ContainerHandle(
            popen=popen,
            container_id=hex_id,
            pid=int(report["pid"]),
            started_at=parse_shim_time(report.get("started_at")) or utcnow(),
            launch=launch,
            isolated=self.isolation == "namespaces",
            cgroup_dir=cgroup_dir,
            ident=ident,
        )
        write_meta(state_dir, handle, self._instance)
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
        cfg = exec_config(handle, argv, self._lifeline_r)
        return run_exec(cfg, self._lifeline_r, timeout, stdin)

    def open_exec(self, handle: ContainerHandle, argv: Sequence[str], *, tty: bool, stdin: bool) -> ExecProcess:
        """Start ``argv`` in the container as :meth:`exec` does, but hand back
        the running command (an :class:`ExecProcess`) to stream: with ``tty`` its
        stdin, stdout and stderr are one pseudo-terminal, else pipes (stdin
        only when asked for, else ``/dev/null``). Same errors as :meth:`exec`."""
        cfg = exec_config(handle, argv, self._lifeline_r)
        if tty and "TERM" not in cfg.env:
            cfg = dataclasses.replace(cfg, env={**cfg.env, "TERM": "xterm"})  # as containerd sets for a TTY
        cfg = dataclasses.replace(cfg, tty=tty)
        return ExecProcess.start(cfg, self._lifeline_r, tty=tty, stdin=stdin)
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
            meta = read_json(state_dir / "meta.json")
            if meta is None or meta.get("instance") == self._instance:
                continue
            running = alive(meta["shim_pid"], meta.get("shim_start")) or bool(
                session_members(meta["pid"], meta.get("pid_start"))
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
            meta = read_json(item.state_dir / "meta.json") or {}
            kill_stale(meta)
            if meta.get("cgroup_dir"):
                CgroupV2.remove(Path(meta["cgroup_dir"]))
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
            t.join(grace_seconds + 2 * KILL_WAIT)
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

