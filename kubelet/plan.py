"""Planning a container: from a Kubernetes container spec to what exactly runs.

Everything the runtime decides before a shim starts, as functions of the
spec, the image and the host: ``$(VAR)`` expansion, the environment, the
command or built-in server and its argv, the executable looked up as the
container would (with containerd's error wording when it is missing), the
working directory, which volumes are bind-mounted and which substituted,
the limits, and the container's own root file system. The result is a
:class:`Launch`; nothing here starts a process or keeps state, which is
why it is apart from the runtime (and testable without one).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kemu.api.quantity import cpu_millis, memory_bytes
from kemu.images import ImageSpec, effective_argv
from kubelet import servers
from kubelet.mounts import (
    Mount,
    host_view,
    map_path,
    normal_dir,
    other_file_systems,
    own_root_mounts,
    split_mounts,
    substitute_paths,
    working_dir,
)
from kubelet.processes import PYTHON_FLAGS, SHIM_PATH
from kubelet.shim import BindMount, RootFs

__all__ = [
    "DEFAULT_PATH",
    "OCI_PREFIX",
    "ContainerStartError",
    "Launch",
    "build_rootfs",
    "check_bind_permission",
    "expand_vars",
    "oci_error",
    "plan_launch",
    "resolve_executable",
    "start_error",
]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_PAUSE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"
_SYSTEM_DIRS = (
    "/", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr", "/etc", "/proc", "/sys", "/dev",
    "/run", "/boot", "/var",
)  # fmt: skip
_SERVERS_PATH = Path(__file__).with_name("servers.py")
OCI_PREFIX = (
    "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
    "runc create failed: unable to start container process: "
)


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


@dataclass(slots=True)
class Launch:
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
            out.append(env.get(name, f"$({name})"))
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


def oci_error(detail: str) -> ContainerStartError:
    return ContainerStartError(reason="RunContainerError", message=f"{OCI_PREFIX}{detail}: unknown")


def start_error(error: str, argv0: str) -> ContainerStartError:
    """A shim start failure in containerd's words."""
    try:
        detail = json.loads(error)
    except ValueError:
        return ContainerStartError(reason="RunContainerError", message=error)
    step, err = detail.get("step"), str(detail.get("error", ""))
    if step == "exec":
        return oci_error(f'exec: "{argv0}": {err.split(": ", 1)[-1] if ": " in err else err}')
    if step == "chdir":
        return oci_error(f"chdir to cwd: {err}")
    return oci_error(f"{step}: {err}")


def plan_launch(
    *,
    spec: ImageSpec,
    container: Mapping[str, Any],
    env: dict[str, str],
    pod_name: str,
    pod_namespace: str,
    pod_ip: str,
    mounts: Sequence[Mount],
    rootfs: Path,
    isolate: bool,
    node_name: str,
    root_dir: Path,
    log: Any,
    sandboxed: bool = False,
) -> Launch:
    """What exactly runs for ``container``: argv and executable, env,
    working directory, bind mounts or substitutions, limits.

    ``isolate`` is the runtime's volume strategy (mount namespaces),
    ``rootfs`` the directory private working directories go under,
    ``root_dir`` the runtime's (a bind mount must not hide it). Raises
    :class:`ContainerStartError` in containerd's words when it cannot run.
    """
    subs: list[tuple[str, str]] = []
    if sandboxed:
        binds = own_root_mounts(mounts)
    else:
        binds, subs = split_mounts(mounts, isolate, _needed_paths(mounts, rootfs, root_dir), log)
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
    cwd = normal_dir(wd) if sandboxed else working_dir(wd, mounts, isolate, subs, rootfs)
    launch = Launch(
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
        _plan_builtin(launch, spec, container, pod_namespace, pod_name, pod_ip, mounts, node_name, sandboxed)
    else:
        _plan_command(launch)
    return launch


def _needed_paths(mounts: Sequence[Mount], rootfs: Path, root_dir: Path) -> list[str]:
    """Paths a bind mount must not hide."""
    path_dirs = os.environ.get("PATH", "").split(":") + DEFAULT_PATH.split(":")
    paths = [
        *_SYSTEM_DIRS,
        *path_dirs,
        sys.prefix,
        sys.base_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        str(SHIM_PATH.parent),
        str(root_dir),
        str(rootfs),
        *(str(m.host_path) for m in mounts),
    ]
    return [os.path.realpath(p) for p in paths if p]


def _plan_command(launch: Launch) -> None:
    if not launch.argv:
        raise ContainerStartError(reason="RunContainerError", message=f"{OCI_PREFIX}no command specified: unknown")
    if launch.subs:
        launch.argv = [substitute_paths(a, launch.subs) for a in launch.argv]
        launch.env = {k: substitute_paths(v, launch.subs) for k, v in launch.env.items()}
    launch.exe = resolve_executable(
        launch.argv[0], launch.env.get("PATH", DEFAULT_PATH), launch.cwd, host_view(launch.binds)
    )

def _plan_builtin(
    launch: Launch,
    spec: ImageSpec,
    container: Mapping[str, Any],
    pod_namespace: str,
    pod_name: str,
    pod_ip: str,
    mounts: Sequence[Mount],
    node_name: str,
    sandboxed: bool = False,
) -> None:
    if spec.behaviour == "pause":
        launch.exe = resolve_executable("sh", DEFAULT_PATH + ":" + os.environ.get("PATH", ""), "/", lambda path: path)
        launch.argv = ["sh", "-c", _PAUSE_SCRIPT]
        return
    server = spec.server or ""
    server_args = launch.argv[1:]
    try:
        port = servers.listen_port(server, spec.port, server_args, launch.env, spec.port_env)
    except ValueError as exc:
        raise oci_error(str(exc)) from None
    if port is not None:
        launch.listen = (pod_ip, port)
        problem = check_bind_permission(port)
        if problem:
            name = container.get("name", "")
            raise ContainerStartError(
                reason="RunContainerError", message=f'failed to start container "{name}": {problem}'
            )
    html_root = map_path(spec.html_root, mounts) if spec.html_root else None
    if sandboxed and html_root is not None:
        html_root = spec.html_root  # the volume is mounted there, inside the container's own root
    # In the pod's own network namespace the server listens on every
    # address, as the real image does (``localhost`` inside the pod too).
    bind = "0.0.0.0" if sandboxed else pod_ip
    launch.exe = sys.executable
    launch.argv = [
        sys.executable, *PYTHON_FLAGS, str(_SERVERS_PATH),
        "--server", server, "--bind", bind, "--pod", f"{pod_namespace}/{pod_name}",
        "--node", node_name, "--image", str(container.get("image", "")),
        "--data", json.dumps(dict(spec.data), default=str),
        *(["--port", str(port)] if port is not None else []),
        *(["--html-root", html_root] if html_root else []),
        "--", *server_args,
    ]  # fmt: skip

def build_rootfs(state_dir: Path, spec: ImageSpec, pod_files: Mapping[str, str]) -> RootFs:
    """The container's root file system: the host's ``/`` below, the
    image's files and the pod's identity files in its own layer, and the
    host directories on other file systems that kemu's own programs need."""
    (state_dir / "root").mkdir()
    (state_dir / "layer").mkdir()
    files = servers.image_files(spec.server, spec.html_root, str(spec.data.get("version", "")))
    files.update(pod_files)
    return RootFs(root=str(state_dir / "root"), layer=str(state_dir / "layer"), files=files,
                  binds=list(other_file_systems()))


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


def resolve_executable(name: str, path_env: str, cwd: str, to_host: Callable[[str], str]) -> str:
    """The path to exec for ``argv[0] == name``, looked up as the container
    would (``to_host`` maps container paths to host paths for the checks);
    raises :class:`ContainerStartError` in containerd's words."""
    if "/" in name:
        candidate = name if name.startswith("/") else os.path.join(cwd, name)
        host = to_host(candidate)
        if os.path.isfile(host):
            if not os.access(host, os.X_OK):
                raise oci_error(f'exec: "{name}": permission denied')
            return candidate
        found = _search_path(os.path.basename(name), path_env, to_host) if name.startswith("/") else None
        if found is None:
            raise oci_error(f'exec: "{name}": stat {name}: no such file or directory')
        return found
    found = _search_path(name, path_env, to_host)
    if found is None:
        raise oci_error(f'exec: "{name}": executable file not found in $PATH')
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
