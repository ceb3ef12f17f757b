"""Test helpers that ship with kemu: real component processes on ipc paths in
a temporary directory, always stopped, even when the test fails."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from kemu.client import Client
from kemu.procs import Proc, spawn, wait_for

if TYPE_CHECKING:
    from kemu.launcher import LocalCluster

__all__ = ["ApiServerProcess", "running_apiserver", "running_cluster", "descendants", "free_port_pair"]


class ApiServerProcess:
    """A ``python -m apiserver`` on ipc sockets under ``root``."""

    def __init__(self, root: Path, *extra_args: str):
        self.root = root
        self.data_dir = root / "data"
        self.address = f"ipc://{root}/api.sock"
        self.watch_address = f"ipc://{root}/watch.sock"
        self.extra_args = list(extra_args)
        self.proc: Proc | None = None

    def start(self, timeout: float = 15.0) -> ApiServerProcess:
        self.proc = spawn(
            "apiserver",
            [
                "apiserver",
                "--data-dir", str(self.data_dir),
                "--listen", self.address,
                "--watch-listen", self.watch_address,
                *self.extra_args,
            ],
            self.root / "apiserver.log",
        )
        with Client(self.address, timeout=1.0) as probe:
            wait_for(lambda: probe.ping(timeout=0.5), timeout, message="the apiserver to answer ping")
        return self

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(grace=5)

    def log(self) -> str:
        try:
            return (self.root / "apiserver.log").read_text()
        except FileNotFoundError:
            return ""


@contextmanager
def running_apiserver(root: Path, *extra_args: str) -> Iterator[ApiServerProcess]:
    server = ApiServerProcess(root, *extra_args).start()
    try:
        yield server
    finally:
        server.stop()
        server.kill()


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` in the process tree (children,
    grandchildren ...), read from /proc."""
    import os

    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the HTTP front door's, a proxy's)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubectl_env(root: Path, kubeconfig: Path | str, cache: str = "kube-cache") -> dict[str, str]:
    """The environment a test runs the real kubectl in: the cluster's own
    kubeconfig, ``HOME`` and discovery cache under ``root`` (never the user's)."""
    import os

    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "KUBECONFIG": str(kubeconfig),
            "KUBECACHEDIR": str(root / cache)}


def free_port_pair() -> int:
    """A TCP port ``p`` on 127.0.0.1 such that ``p`` and ``p + 1`` are free
    (the apiserver's request and watch ports)."""
    import socket

    for _ in range(100):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return int(port)
    raise RuntimeError("no free port pair found")


@contextmanager
def running_cluster(root: Path, *, nodes: int = 3, **spec: object) -> Iterator[LocalCluster]:
    """A whole local cluster (``kemu up`` in-process) on free ports and
    address ranges of its own, stopped at the end whatever happens. Node,
    pod and service addresses are kept apart from the default ones so a
    user's own cluster on the same machine is never disturbed."""
    from kemu.launcher import ClusterSpec, LocalCluster

    # Random ranges, so two test sessions on one machine never share pod,
    # node or service addresses (kube-proxies bind ClusterIPs with
    # SO_REUSEPORT: a shared address would silently mix two clusters).
    rnd = random.Random()
    defaults: dict[str, object] = {
        "node_ip_prefix": f"127.0.{rnd.randint(2, 250)}",
        "cluster_cidr": f"127.{rnd.randint(200, 239)}.0.0/16",
        "service_cidr": f"127.{rnd.randint(100, 139)}.0.0/16",
        "log_level": "debug",
    }
    defaults.update(spec)
    cluster = LocalCluster(ClusterSpec(data_dir=root, nodes=nodes, api_port=free_port_pair(), **defaults))  # type: ignore[arg-type]
    try:
        cluster.start(timeout=30)
        yield cluster
    finally:
        cluster.stop(grace=3)
