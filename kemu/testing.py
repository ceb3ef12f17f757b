"""Test helpers that ship with kemu: real component processes on ipc paths in
a temporary directory, always stopped, even when the test fails; free ports;
and the builders of the objects tests and benchmarks create (:func:`pod`,
:func:`deployment`, :func:`replicaset`, :func:`service`), so an object's
shape is written once and each test says only what is special about its own."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kemu.client import Client
from kemu.procs import Proc, spawn, wait_for
from kemu.types import Obj

if TYPE_CHECKING:
    from kemu.launcher import LocalCluster

__all__ = [
    "ApiServerProcess",
    "running_apiserver",
    "running_cluster",
    "descendants",
    "free_port",
    "free_port_pair",
    "kubectl_env",
    "container",
    "pod",
    "deployment",
    "replicaset",
    "service",
]


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


# -- object builders ----------------------------------------------------------------


def container(name: str = "main", image: str = "nginx:1.25", **fields: Any) -> Obj:
    """One container: ``name``, ``image`` and any other field (``command``, ``ports``, probes...)."""
    return {"name": name, "image": image, **fields}


def _metadata(name: str | None, namespace: str | None, labels: dict[str, str] | None,
              generate_name: str | None = None) -> Obj:
    meta: Obj = {}
    if name:
        meta["name"] = name
    if generate_name:
        meta["generateName"] = generate_name
    if namespace:
        meta["namespace"] = namespace
    if labels is not None:
        meta["labels"] = dict(labels)
    return meta


def pod(name: str | None, *, image: str = "nginx:1.25", containers: list[Obj] | None = None,
        labels: dict[str, str] | None = None, namespace: str | None = None, node: str | None = None,
        generate_name: str | None = None, **spec: Any) -> Obj:
    """A Pod of one ``image`` container named ``main`` (or of ``containers``),
    bound to ``node`` when given; ``spec`` adds pod spec fields."""
    body: Obj = {"containers": containers if containers is not None else [container(image=image)], **spec}
    if node:
        body["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _metadata(name, namespace, labels, generate_name),
            "spec": body}


def _workload(kind: str, name: str, replicas: int, image: str, containers: list[Obj] | None,
              labels: dict[str, str] | None, object_labels: bool, grace: int | None, namespace: str | None,
              pod_spec: Obj | None, spec: dict[str, Any]) -> Obj:
    labels = dict(labels) if labels is not None else {"app": name}
    template_spec: Obj = {"containers": containers if containers is not None else [container(image=image)]}
    if grace is not None:
        template_spec["terminationGracePeriodSeconds"] = grace
    template_spec.update(pod_spec or {})
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": _metadata(name, namespace, labels if object_labels else None),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": template_spec},
            **spec,
        },
    }


def deployment(name: str, *, replicas: int = 3, image: str = "nginx:1.25", containers: list[Obj] | None = None,
               labels: dict[str, str] | None = None, object_labels: bool = False, grace: int | None = None,
               namespace: str | None = None, pod_spec: Obj | None = None, **spec: Any) -> Obj:
    """A Deployment whose pods carry ``labels`` (``app: <name>``) and run one
    ``image`` container named ``main`` (or ``containers``). ``object_labels``
    puts the labels on the Deployment too; ``grace`` sets the pods'
    terminationGracePeriodSeconds; ``pod_spec`` adds pod spec fields and
    ``spec`` Deployment spec fields (``strategy``, ``minReadySeconds``...)."""
    return _workload("Deployment", name, replicas, image, containers, labels, object_labels, grace, namespace,
                     pod_spec, spec)


def replicaset(name: str, *, replicas: int = 3, image: str = "nginx:1.25", containers: list[Obj] | None = None,
               labels: dict[str, str] | None = None, object_labels: bool = False, grace: int | None = None,
               namespace: str | None = None, pod_spec: Obj | None = None, **spec: Any) -> Obj:
    """A ReplicaSet, as :func:`deployment` builds a Deployment."""
    return _workload("ReplicaSet", name, replicas, image, containers, labels, object_labels, grace, namespace,
                     pod_spec, spec)


def service(name: str, *, selector: dict[str, str] | None = None, ports: list[Obj] | None = None,
            type: str = "ClusterIP", namespace: str | None = None, **spec: Any) -> Obj:  # noqa: A002 (the field's name)
    """A Service selecting ``selector`` (``app: <name>``) on ``ports`` (80 to
    the pods' port named ``http``)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name, namespace, None),
        "spec": {"type": type, "selector": dict(selector) if selector is not None else {"app": name},
                 "ports": ports if ports is not None else [{"name": "http", "port": 80, "targetPort": "http"}],
                 **spec},
    }
