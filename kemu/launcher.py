"""The local launcher behind ``kemu up``: a whole cluster as separate processes.

``kemu up`` starts, in order, the apiserver, the controller manager, the
scheduler, the cluster DNS server (``clusterdns``, on the service range's
``.10``, after creating the ``kube-system/kube-dns`` Service that names it),
and per node a kubelet and a kube-proxy, each a separate
``python -m <component>`` process writing JSON log lines to
``<data-dir>/logs/<name>.log``. It records what it started in
``<data-dir>/cluster.json`` (pids, addresses, node names) so that later
commands (``kemu down``, ``kemu node kill node-2``) act on the real processes
with real signals: the same effect a user gets from ``kill -9 <pid>``.

In the foreground, the launcher tails every log file into one labelled
stream and stops the cluster on Ctrl-C. Detached (``-d``), the components
run in their own session and the launcher exits once the nodes are Ready.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kemu.client import Client
from kemu.leftovers import StopReport, stop_cluster
from kemu.leftovers import addresses as leftover_addresses
from kemu.log import get_logger
from kemu.procs import Proc, pid_alive, spawn, wait_for

__all__ = ["ClusterSpec", "LocalCluster", "load_state", "node_ip", "dns_ip", "ClusterState"]


def dns_ip(service_cidr: str) -> str:
    """The cluster DNS address: the service range's ``.10``, as in Kubernetes
    (``127.96.0.0/16`` -> ``127.96.0.10``); the apiserver never hands it out."""
    import ipaddress

    return str(ipaddress.ip_network(service_cidr).network_address + 10)


def node_ip(index: int, prefix: str = "127.0.1") -> str:
    """The InternalIP of the index-th node (from 1): ``127.0.1.<index>``."""
    if not 1 <= index <= 254:
        raise ValueError("node index must be between 1 and 254")
    return f"{prefix}.{index}"


@dataclass
class ClusterSpec:
    """What ``kemu up`` starts."""

    data_dir: Path
    nodes: int = 3
    api_port: int = 7100
    """Request port; the watch port is the next one."""
    bind_host: str = "127.0.0.1"
    node_monitor_grace_period: float = 2.0
    toleration_seconds: int = 2
    heartbeat_interval: float = 0.3
    log_level: str = "info"
    with_proxy: bool = True
    """Run a kube-proxy per node (Services' ClusterIPs and NodePorts)."""
    with_dns: bool = True
    """Run the cluster DNS server on the ``kube-dns`` Service's ClusterIP."""
    dns_port: int = 53
    with_http: bool = False
    """Also run the Kubernetes HTTP API (for kubectl) and write a kubeconfig."""
    http_port: int = 6443
    node_ip_prefix: str = "127.0.1"
    """Nodes get ``<prefix>.1``, ``<prefix>.2`` ..."""
    cluster_cidr: str = "127.244.0.0/16"
    """Pod IPs: each node gets a /24 of it."""
    service_cidr: str = "127.96.0.0/16"
    """Service ClusterIPs."""
    pod_sandbox: bool = True
    """Give every pod its own network namespace, host name and root file
    system (:mod:`kubelet.sandbox`; needs root, else pods share the host's)."""
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"tcp://{self.bind_host}:{self.api_port}"

    @property
    def watch(self) -> str:
        return f"tcp://{self.bind_host}:{self.api_port + 1}"

    def node_name(self, index: int) -> str:
        return f"node-{index}"


@dataclass
class ClusterState:
    """``cluster.json``: what is running, for later commands."""

    server: str
    data_dir: str
    pids: dict[str, int]
    """Process name (``kubelet-node-2``) to pid."""
    nodes: dict[str, dict[str, Any]]
    """Node name to ``{"ip": ..., "index": ...}``."""
    spec: dict[str, Any]

    def save(self, data_dir: Path) -> None:
        """Write ``cluster.json`` atomically, readable by its owner only (it
        names the cluster's key files; the token itself is never in it)."""
        tmp = data_dir / "cluster.json.tmp"
        write_private(tmp, json.dumps(asdict(self), indent=2))
        tmp.replace(data_dir / "cluster.json")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, created with mode 0600 (never a moment
    readable by others, whatever the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)  # an older file keeps its mode through O_CREAT


def load_state(data_dir: Path) -> ClusterState:
    path = data_dir / "cluster.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no cluster found in {data_dir} (run `kemu up` first)") from None
    return ClusterState(**data)


class LocalCluster:
    """Starts and stops the processes of one local cluster."""

    def __init__(self, spec: ClusterSpec, *, detach: bool = False):
        self.spec = spec
        self.detach = detach
        self.data_dir = spec.data_dir
        self.log_dir = spec.data_dir / "logs"
        self.procs: dict[str, Proc] = {}
        self.kubeconfig: Path | None = None
        """Where kubectl's config was written (with ``with_http``)."""
        self.state = ClusterState(
            server=spec.server,
            data_dir=str(spec.data_dir),
            pids={},
            nodes={spec.node_name(i): {"ip": node_ip(i, spec.node_ip_prefix), "index": i} for i in range(1, spec.nodes + 1)},
            spec={k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(spec).items()},
        )

    # -- component command lines ---------------------------------------------------

    def _env(self) -> dict[str, str]:
        return {"KEMU_LOG_LEVEL": self.spec.log_level, **self.spec.extra_env}

    def apiserver_args(self) -> list[str]:
        s = self.spec
        return [
            "apiserver",
            "--data-dir", str(s.data_dir / "apiserver"),
            "--listen", s.server,
            "--watch-listen", s.watch,
            "--heartbeat-interval", str(s.heartbeat_interval),
            "--default-not-ready-toleration-seconds", str(s.toleration_seconds),
            "--default-unreachable-toleration-seconds", str(s.toleration_seconds),
            "--service-cluster-ip-range", s.service_cidr,
        ]

    def controllermanager_args(self) -> list[str]:
        return [
            "controllermanager",
            "--server", self.spec.server,
            "--node-monitor-grace-period", str(self.spec.node_monitor_grace_period),
            "--cluster-cidr", self.spec.cluster_cidr,
        ]

    def scheduler_args(self) -> list[str]:
        return ["scheduler", "--server", self.spec.server]

    @property
    def pod_network(self) -> str:
        """The pod network's fabric (:mod:`kubelet.sandbox`), one per data dir."""
        from kubelet.sandbox import fabric_name

        return fabric_name(str(self.data_dir.resolve())) if self.spec.pod_sandbox else ""

    def kubelet_args(self, node: str) -> list[str]:
        info = self.state.nodes[node]
        args = [
            "kubelet",
            "--server", self.spec.server,
            "--node", node,
            "--node-ip", info["ip"],
            "--root-dir", str(self.data_dir / "nodes" / node),
            "--pod-network", self.pod_network,
            "--cluster-cidr", self.spec.cluster_cidr,
        ]
        if self.spec.with_dns and self.spec.dns_port == 53:  # resolv.conf cannot name another port
            args += ["--cluster-dns", dns_ip(self.spec.service_cidr)]
        return args

    def kubeproxy_args(self, node: str) -> list[str]:
        return ["kubeproxy", "--server", self.spec.server, "--node", node, "--node-ip", self.state.nodes[node]["ip"]]

    def http_args(self) -> list[str]:
        args = ["apiserver.http", "--server", self.spec.server, "--listen", f"127.0.0.1:{self.spec.http_port}"]
        tls = self.state.spec.get("tls")
        if tls:
            # The token goes by file, never on the command line (/proc/<pid>/cmdline is world-readable).
            args += ["--tls-cert", tls["cert"], "--tls-key", tls["key"], "--token-file", tls["token_file"]]
        return args

    def _prepare_http(self) -> Path:
        """A token and a self-signed certificate (HTTPS: kubectl only sends a
        bearer token over TLS), and the kubeconfig that trusts them. Without
        openssl, plain HTTP on loopback with no token."""
        import secrets

        from kemu.kubeconfig import self_signed_certificate, write_kubeconfig

        pki = self.data_dir / "pki"
        pair = self_signed_certificate(pki)
        path = self.data_dir / "kubeconfig"
        if pair is None:
            self.state.spec["tls"] = None
            return write_kubeconfig(path, f"http://127.0.0.1:{self.spec.http_port}", None, cluster_name="kemu")
        token_file = pki / "token"
        if not token_file.exists():
            write_private(token_file, secrets.token_urlsafe(24))
        cert, key = pair
        self.state.spec["tls"] = {"cert": str(cert), "key": str(key), "token_file": str(token_file)}
        return write_kubeconfig(
            path, f"https://127.0.0.1:{self.spec.http_port}", token_file.read_text().strip(),
            cluster_name="kemu", certificate_authority=cert,
        )

    def dns_args(self) -> list[str]:
        return ["clusterdns", "--server", self.spec.server, "--listen", f"{dns_ip(self.spec.service_cidr)}:{self.spec.dns_port}"]

    def ensure_kubernetes_service(self, client: Client) -> None:
        """``default/kubernetes``: the first address of the service range,
        port 443, to the HTTP front door, as the apiserver keeps it in
        Kubernetes (pods find the API by it: ``KUBERNETES_SERVICE_HOST``,
        ``kubernetes.default`` in the cluster DNS). Its Endpoints name the
        front door's own address."""
        import ipaddress

        ip = str(ipaddress.ip_network(self.spec.service_cidr).network_address + 1)
        labels = {"component": "apiserver", "provider": "kubernetes"}
        objects: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
             "spec": {"clusterIP": ip, "type": "ClusterIP", "sessionAffinity": "None",
                      "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": self.spec.http_port}]}},
            {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
             "subsets": [{"addresses": [{"ip": "127.0.0.1"}],
                          "ports": [{"name": "https", "port": self.spec.http_port, "protocol": "TCP"}]}]},
        ]
        _create_once(client, objects)

    def ensure_dns_service(self, client: Client) -> None:
        """Create ``kube-system/kube-dns`` (Service and Endpoints) once.

        The DNS server listens on the Service's ClusterIP itself, so the
        Service carries ``service.kubernetes.io/service-proxy-name`` (the
        kube-proxies leave it alone: they would otherwise fight the DNS
        server for the address) and has no selector: its Endpoints, written
        here, name that same address. ``kemu get svc,ep -n kube-system``
        shows where DNS is, as on a real cluster."""
        ip = dns_ip(self.spec.service_cidr)
        labels = {"k8s-app": "kube-dns", "kubernetes.io/name": "KubeDNS", "service.kubernetes.io/service-proxy-name": "clusterdns"}
        ports = [{"name": "dns", "port": self.spec.dns_port, "protocol": "UDP"},
                 {"name": "dns-tcp", "port": self.spec.dns_port, "protocol": "TCP"}]
        objects: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
             "spec": {"clusterIP": ip, "ports": [dict(p, targetPort=p["port"]) for p in ports]}},
            {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
             "subsets": [{"addresses": [{"ip": ip}], "ports": ports}]},
        ]
        _create_once(client, objects)

    # -- starting and stopping -----------------------------------------------------------

    def _start(self, name: str, args: list[str]) -> Proc:
        previous = self.procs.get(name)
        if previous is not None and previous.alive():
            # A node restarted after only its kubelet was killed: its old
            # kube-proxy must not outlive the cluster, unseen.
            previous.stop(grace=2)
        proc = spawn(name, args, self.log_dir / f"{name}.log", env=self._env(), new_session=True)
        self.procs[name] = proc
        self.state.pids[name] = proc.pid
        self.state.save(self.data_dir)
        return proc

    def start(self, *, timeout: float = 30.0, on_progress: Callable[[str], None] = lambda _m: None) -> None:
        """Start every component and wait until all nodes are Ready."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.data_dir, 0o700)  # the store, the key and the token live here
        self._start("apiserver", self.apiserver_args())
        with Client(self.spec.server, timeout=1.0) as probe:
            wait_for(lambda: probe.ping(timeout=0.5), timeout, message="the apiserver")
            on_progress(f"apiserver listening on {self.spec.server}")
            if self.spec.with_http:
                self.kubeconfig = self._prepare_http()
                self._start("http", self.http_args())
                self.ensure_kubernetes_service(probe)
            self._start("controllermanager", self.controllermanager_args())
            self._start("scheduler", self.scheduler_args())
            if self.spec.with_dns:
                self.ensure_dns_service(probe)
                self._start("dns", self.dns_args())
            for node in self.state.nodes:
                self.start_node(node)
            wait_for(lambda: self._all_nodes_ready(probe), timeout, interval=0.05, message="every node to be Ready")
        if self.spec.with_http:
            wait_for(lambda: _accepts("127.0.0.1", self.spec.http_port), timeout, message="the Kubernetes HTTP API")
        on_progress(f"{len(self.state.nodes)} nodes Ready")

    def start_component(self, name: str) -> Proc:
        """(Re)start one component by its process name: ``apiserver``,
        ``scheduler``, ``controllermanager``, ``dns``, ``kubelet-node-2``,
        ``kubeproxy-node-2``."""
        fixed = {
            "apiserver": self.apiserver_args,
            "controllermanager": self.controllermanager_args,
            "scheduler": self.scheduler_args,
            "dns": self.dns_args,
            "http": self.http_args,
        }
        if name in fixed:
            return self._start(name, fixed[name]())
        role, _, node = name.partition("-")
        if node in self.state.nodes and role == "kubelet":
            return self._start(name, self.kubelet_args(node))
        if node in self.state.nodes and role == "kubeproxy":
            return self._start(name, self.kubeproxy_args(node))
        raise ValueError(f"unknown component {name!r}")

    def start_node(self, node: str) -> None:
        """A fresh kubelet (and kube-proxy) for ``node``."""
        self._start(f"kubelet-{node}", self.kubelet_args(node))
        if self.spec.with_proxy:
            self._start(f"kubeproxy-{node}", self.kubeproxy_args(node))

    def _all_nodes_ready(self, client: Client) -> bool:
        nodes = client.list("Node", timeout=1.0)["items"]
        ready = {
            n["metadata"]["name"]
            for n in nodes
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in n.get("status", {}).get("conditions", []))
        }
        return set(self.state.nodes) <= ready

    def stop(self, grace: float = 5.0) -> None:
        """Stop nodes first (so their pods stop), then the control plane."""
        order = sorted(self.procs, key=lambda n: (not n.startswith(("kubelet", "kubeproxy")), n != "apiserver", n))
        for name in order:
            self.procs[name].stop(grace)
        stop_pids(self.state.pids, grace)
        self.stop_leftovers(grace)
        if self.pod_network:
            from kubelet.sandbox import remove_fabric

            remove_fabric(self.pod_network)


    def stop_leftovers(self, grace: float = 5.0) -> StopReport:
        """Stop the cluster's processes nobody recorded (a component restarted
        by hand from its command line): :mod:`kemu.leftovers`."""
        report = stop_cluster(self.data_dir, leftover_addresses(self.state.server, self.state.spec), {}, grace)
        log = get_logger(component="launcher", data_dir=str(self.data_dir))
        for proc, why in report.failed:
            log.warning("could not stop process", name=proc.name, pid=proc.pid, error=why)
        return report


def _create_once(client: Client, objects: list[dict[str, Any]]) -> None:
    """Create the cluster's bootstrap objects; a restarted cluster keeps its own."""
    from kemu.api import errors

    for obj in objects:
        try:
            client.create(obj)
        except errors.ApiError as exc:
            if exc.code != 409:  # AlreadyExists
                raise


def stop_pids(pids: dict[str, int], grace: float = 5.0) -> list[str]:
    """SIGTERM every pid still alive, wait, then SIGKILL; nodes first. Returns
    the names that had to be killed. Works from any process (``kemu down``)."""
    order = sorted(pids, key=lambda n: (not n.startswith(("kubelet", "kubeproxy")), n == "apiserver", n))
    for name in order:
        _signal(pids[name], signal.SIGCONT)
        _signal(pids[name], signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids.values()):
        time.sleep(0.05)
    killed = [n for n, p in pids.items() if pid_alive(p)]
    for name in killed:
        _signal(pids[name], signal.SIGKILL)
    return killed


def _accepts(host: str, port: int) -> bool:
    """True when something accepts TCP connections at ``host:port``."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False
