"""Services end to end with real processes: Deployments of nginx pods behind
ClusterIP and NodePort Services, reached through the nodes' kube-proxies;
the endpoints controller following scale, deletion, readiness and a dead
node; Service environment variables; the cluster DNS queried with dnspython.

Most tests share one three-node cluster (each test brings its own
Deployment and Service, and deletes them); the node-failure tests start a
cluster of their own. Every process is started by ``running_cluster`` and
stopped at the end, whatever happens.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from kemu import testing
from kemu.api import errors
from kemu.client import Client
from kemu.launcher import LocalCluster, dns_ip
from kemu.procs import wait_for
from kemu.testing import container, running_cluster
from kemu.types import Obj

pytestmark = pytest.mark.timeout(180)


# -- helpers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """Who answered one HTTP request."""

    pod: str
    node: str
    image: str


def http_get(ip: str, port: int, *, source: str | None = None, timeout: float = 3.0) -> Reply:
    """One connection, one ``GET /``; raises on any failure."""
    conn = http.client.HTTPConnection(ip, port, timeout=timeout, source_address=(source, 0) if source else None)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise OSError(f"HTTP {resp.status}")
        return Reply(resp.getheader("X-Kemu-Pod") or "", resp.getheader("X-Kemu-Node") or "", resp.getheader("X-Kemu-Image") or "")
    finally:
        conn.close()


def sample(ip: str, port: int, n: int = 30, **kw: Any) -> list[Reply]:
    return [http_get(ip, port, **kw) for _ in range(n)]


def deployment(name: str, replicas: int = 3, *, image: str = "nginx:1.25", pod_spec: Obj | None = None) -> Obj:
    pod_spec = dict(pod_spec or {})
    nginx = {**container("nginx", image, ports=[{"name": "http", "containerPort": 80}]), **pod_spec.pop("container", {})}
    return testing.deployment(name, replicas=replicas, containers=[nginx], grace=2, pod_spec=pod_spec)


def service(name: str, *, kind: str = "ClusterIP", **spec: Any) -> Obj:
    return testing.service(name, type=kind, **spec)


def ready_ips(client: Client, name: str, namespace: str = "default") -> set[str]:
    try:
        eps = client.get("Endpoints", name, namespace)
    except errors.ApiError:
        return set()
    return {a["ip"] for s in eps.get("subsets") or [] for a in s.get("addresses") or []}


def live_pods(client: Client, app: str) -> list[Obj]:
    return [p for p in client.list("Pod", label_selector=f"app={app}")["items"] if not p["metadata"].get("deletionTimestamp")]


def wait_endpoints(client: Client, name: str, count: int, timeout: float = 30) -> set[str]:
    wait_for(lambda: len(ready_ips(client, name)) == count, timeout, message=f"{count} ready endpoints for {name}")
    return ready_ips(client, name)


def wait_traffic(ip: str, port: int, pods: set[str], timeout: float = 15, **kw: Any) -> None:
    """Until connections through ``ip:port`` reach exactly ``pods`` (the proxies caught up)."""

    def check() -> bool:
        try:
            return {r.pod for r in sample(ip, port, 3 * max(1, len(pods)), **kw)} == pods
        except OSError:
            return False

    wait_for(check, timeout, interval=0.1, message=f"traffic through {ip}:{port} to reach {sorted(pods)}")


def pod_keys(client: Client, app: str) -> set[str]:
    return {f"default/{p['metadata']['name']}" for p in live_pods(client, app)}


def cleanup(client: Client, name: str) -> None:
    for kind in ("Service", "Deployment"):
        try:
            client.delete(kind, name, "default")
        except errors.ApiError:
            pass


@dataclass
class LoopClient:
    """Connects to ``ip:port`` in a loop on a thread, recording every outcome."""

    ip: str
    port: int
    results: list[tuple[float, Reply | None, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> LoopClient:
        def run() -> None:
            while not self.stop.is_set():
                try:
                    self.results.append((time.monotonic(), http_get(self.ip, self.port, timeout=2.0), ""))
                except OSError as exc:
                    self.results.append((time.monotonic(), None, f"{type(exc).__name__}: {exc}"))
                time.sleep(0.01)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(5)

    @property
    def failures(self) -> list[str]:
        return [err for _, reply, err in self.results if reply is None]


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with tempfile.TemporaryDirectory(prefix="kemu-") as d, running_cluster(Path(d), nodes=3, with_proxy=True, with_dns=True) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster.spec.server) as c:
        yield c


def node_ips(cluster: LocalCluster) -> list[str]:
    return [info["ip"] for info in cluster.state.nodes.values()]


# -- ClusterIP, NodePort, endpoints -----------------------------------------------------------


class TestClusterIP:
    def test_three_replicas_answer_through_the_cluster_ip(self, client: Client) -> None:
        """30 connections to the ClusterIP are answered by all 3 pods of the Deployment."""
        client.create(deployment("web"))
        svc = client.create(service("web"))
        try:
            wait_endpoints(client, "web", 3)
            ip = svc["spec"]["clusterIP"]
            wait_traffic(ip, 80, pod_keys(client, "web"))
            replies = sample(ip, 80, 30)
            counts = Counter(r.pod for r in replies)
            assert set(counts) == pod_keys(client, "web")
            assert len(counts) == 3
        finally:
            cleanup(client, "web")

    def test_endpoints_name_pods_nodes_and_resolved_ports(self, client: Client) -> None:
        """The Endpoints list each ready pod with its node and a targetRef; `targetPort: http` became 80."""
        client.create(deployment("epweb", replicas=2))
        client.create(service("epweb"))
        try:
            wait_endpoints(client, "epweb", 2)
            eps = client.get("Endpoints", "epweb")
            (subset,) = eps["subsets"]
            assert subset["ports"] == [{"name": "http", "port": 80, "protocol": "TCP"}]
            pods = {p["metadata"]["name"]: p for p in live_pods(client, "epweb")}
            for address in subset["addresses"]:
                pod = pods[address["targetRef"]["name"]]
                assert address["ip"] == pod["status"]["podIP"]
                assert address["nodeName"] == pod["spec"]["nodeName"]
                assert address["targetRef"]["uid"] == pod["metadata"]["uid"]
        finally:
            cleanup(client, "epweb")
        wait_for(lambda: not ready_ips(client, "epweb"), 10, message="Endpoints deleted with their Service")

    def test_node_port_answers_on_every_node(self, client: Client, cluster: LocalCluster) -> None:
        """A NodePort Service answers on each node's IP at its node port."""
        client.create(deployment("np", replicas=2))
        svc = client.create(service("np", kind="NodePort"))
        try:
            wait_endpoints(client, "np", 2)
            node_port = svc["spec"]["ports"][0]["nodePort"]
            assert 30000 <= node_port <= 32767
            expected = pod_keys(client, "np")
            for ip in node_ips(cluster):
                wait_traffic(ip, node_port, expected)
        finally:
            cleanup(client, "np")

    def test_scaling_to_five_adds_endpoints_that_get_traffic(self, client: Client) -> None:
        """Scaling 3 -> 5 gives 5 ready endpoints, and connections reach all 5 pods."""
        client.create(deployment("scale"))
        svc = client.create(service("scale"))
        try:
            wait_endpoints(client, "scale", 3)
            client.patch("Deployment", "scale", {"spec": {"replicas": 5}}, "default")
            wait_endpoints(client, "scale", 5)
            ip = svc["spec"]["clusterIP"]
            wait_traffic(ip, 80, pod_keys(client, "scale"))
            assert len({r.pod for r in sample(ip, 80, 50)}) == 5
        finally:
            cleanup(client, "scale")

    def test_deleted_pod_stops_receiving_traffic(self, client: Client) -> None:
        """A deleted pod leaves the Endpoints at once and gets no more connections; none fail meanwhile."""
        client.create(deployment("del"))
        svc = client.create(service("del"))
        ip = svc["spec"]["clusterIP"]
        try:
            wait_endpoints(client, "del", 3)
            wait_traffic(ip, 80, pod_keys(client, "del"))
            victim = live_pods(client, "del")[0]
            loop = LoopClient(ip, 80).start()
            try:
                client.delete("Pod", victim["metadata"]["name"], "default")
                wait_for(lambda: victim["status"]["podIP"] not in ready_ips(client, "del"), 5, message="victim out of the Endpoints")
                time.sleep(0.5)  # let every proxy apply it
                cut = time.monotonic()
                time.sleep(1.0)
            finally:
                loop.finish()
            victim_key = f"default/{victim['metadata']['name']}"
            after = [r for t, r, _ in loop.results if r is not None and t > cut]
            assert after, "no connection succeeded after the deletion"
            assert victim_key not in {r.pod for r in after}
            assert loop.failures == []
        finally:
            cleanup(client, "del")

    def test_unready_pod_stops_receiving_traffic(self, client: Client, cluster: LocalCluster) -> None:
        """A pod whose readiness probe fails moves to notReadyAddresses and gets no traffic; it returns when ready."""
        # The flags are a ConfigMap volume (a pod sees no host files): a key named after a pod makes it unready.
        client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rdy-flags"}, "data": {"none": ""}})
        probe = {
            "exec": {"command": ["sh", "-c", 'test ! -e "/flags/$HOSTNAME"']},
            "periodSeconds": 1,
            "failureThreshold": 1,
        }
        client.create(deployment("rdy", pod_spec={
            "container": {"readinessProbe": probe, "volumeMounts": [{"name": "flags", "mountPath": "/flags"}]},
            "volumes": [{"name": "flags", "configMap": {"name": "rdy-flags"}}],
        }))
        svc = client.create(service("rdy"))
        ip = svc["spec"]["clusterIP"]
        try:
            wait_endpoints(client, "rdy", 3)
            victim = live_pods(client, "rdy")[0]
            name, victim_ip = victim["metadata"]["name"], victim["status"]["podIP"]
            client.patch("ConfigMap", "rdy-flags", {"data": {name: "unready"}}, "default")
            wait_for(lambda: victim_ip not in ready_ips(client, "rdy"), 15, message="unready pod out of the ready addresses")
            eps = client.get("Endpoints", "rdy")
            assert victim_ip in {a["ip"] for s in eps["subsets"] for a in s.get("notReadyAddresses") or []}
            others = pod_keys(client, "rdy") - {f"default/{name}"}
            wait_traffic(ip, 80, others)
            client.patch("ConfigMap", "rdy-flags", {"data": {name: None}}, "default")
            wait_endpoints(client, "rdy", 3, timeout=15)
            wait_traffic(ip, 80, pod_keys(client, "rdy"))
        finally:
            cleanup(client, "rdy")
            client.delete("ConfigMap", "rdy-flags", "default")

    def test_session_affinity_client_ip(self, client: Client) -> None:
        """With sessionAffinity ClientIP each client IP sticks to one pod (through every proxy); clients spread."""
        client.create(deployment("sticky"))
        svc = client.create(service("sticky", sessionAffinity="ClientIP"))
        ip = svc["spec"]["clusterIP"]
        try:
            wait_endpoints(client, "sticky", 3)
            wait_for(lambda: _try(lambda: http_get(ip, 80, source="127.0.9.200")), 15, message="service answering")
            time.sleep(0.5)  # every proxy has the three endpoints
            chosen = {}
            for i in range(1, 13):
                source = f"127.0.9.{i}"
                pods = {r.pod for r in sample(ip, 80, 8, source=source)}
                assert len(pods) == 1, f"client {source} was sent to {pods}"
                chosen[source] = pods.pop()
            assert len(set(chosen.values())) >= 2
        finally:
            cleanup(client, "sticky")

    def test_selectorless_service_uses_manual_endpoints(self, client: Client) -> None:
        """A Service without a selector proxies to hand-written Endpoints, which the controller leaves alone."""
        client.create(deployment("backend", replicas=1))
        wait_for(lambda: any(p["status"].get("podIP") and _ready(p) for p in live_pods(client, "backend")), 30, message="backend pod")
        pod = live_pods(client, "backend")[0]
        svc = client.create({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "manual"},
            "spec": {"ports": [{"name": "web", "port": 8080, "targetPort": 80}]},
        })
        client.create({
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
            "subsets": [{"addresses": [{"ip": pod["status"]["podIP"]}], "ports": [{"name": "web", "port": 80}]}],
        })
        try:
            wait_traffic(svc["spec"]["clusterIP"], 8080, {f"default/{pod['metadata']['name']}"})
            time.sleep(1.0)
            assert ready_ips(client, "manual") == {pod["status"]["podIP"]}
        finally:
            cleanup(client, "manual")
            cleanup(client, "backend")


class TestPortForward:
    def test_port_forward_to_a_service(self, client: Client, cluster: LocalCluster) -> None:
        """`kemu port-forward svc/NAME :80` serves a local port that reaches a pod behind the Service."""
        client.create(deployment("pf", replicas=2))
        client.create(service("pf"))
        proc = None
        try:
            wait_endpoints(client, "pf", 2)
            proc = subprocess.Popen(
                [sys.executable, "-c", "from kemu.cli.main import main; main()", "--server", cluster.spec.server, "port-forward", "svc/pf", ":80"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("Forwarding from 127.0.0.1:"), line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
            local = int(line.split(":")[1].split()[0])
            assert line.rstrip().endswith("-> 80")
            replies = {http_get("127.0.0.1", local).pod for _ in range(3)}
            assert len(replies) == 1 and replies <= pod_keys(client, "pf")  # one pod, as kubectl
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(5)
            cleanup(client, "pf")


def _try(fn: Any) -> bool:
    try:
        fn()
        return True
    except OSError:
        return False


def _ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in pod.get("status", {}).get("conditions", []))


# -- service discovery ---------------------------------------------------------------------------


def _container_log(cluster: LocalCluster, pod: Obj, container: str) -> str:
    """The container's first log file (CRI format), read from its node's root directory."""
    meta = pod["metadata"]
    pattern = f"nodes/{pod['spec']['nodeName']}/**/{meta['namespace']}_{meta['name']}_{meta['uid']}/{container}/0.log"
    return "".join(path.read_text() for path in cluster.data_dir.glob(pattern))


class TestDiscovery:
    def test_service_environment_variables(self, client: Client, cluster: LocalCluster) -> None:
        """A container started after the Service sees {SVC}_SERVICE_HOST/_PORT and the docker-link variables."""
        svc = client.create(service("env-web", ports=[{"name": "http", "port": 80, "targetPort": 80}]))
        ip = svc["spec"]["clusterIP"]
        client.create({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "env-probe"},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "env | sort; sleep 30"]}]},
        })
        try:
            wait_for(lambda: "ENV_WEB_SERVICE_HOST" in _container_log(cluster, client.get("Pod", "env-probe"), "c"), 30,
                     message="the env-probe pod's environment in its log")
            text = _container_log(cluster, client.get("Pod", "env-probe"), "c")
            for line in (
                f"ENV_WEB_SERVICE_HOST={ip}",
                "ENV_WEB_SERVICE_PORT=80",
                "ENV_WEB_SERVICE_PORT_HTTP=80",
                f"ENV_WEB_PORT=tcp://{ip}:80",
                f"ENV_WEB_PORT_80_TCP_ADDR={ip}",
            ):
                assert line in text
        finally:
            client.delete("Pod", "env-probe", "default", grace_period_seconds=0)
            cleanup(client, "env-web")

    def test_dns_answers_match_services(self, client: Client, cluster: LocalCluster) -> None:
        """A, SRV, headless, pod, reverse, NXDOMAIN and REFUSED answers, over UDP and TCP."""
        server = dns_ip(cluster.spec.service_cidr)
        client.create(deployment("dnsweb", replicas=2))
        svc = client.create(service("dnsweb"))
        client.create(service("dnsweb-headless", clusterIP="None", selector={"app": "dnsweb"}))
        try:
            wait_endpoints(client, "dnsweb", 2)
            wait_for(lambda: len(ready_ips(client, "dnsweb-headless")) == 2, 15, message="headless endpoints")
            pod_ips = ready_ips(client, "dnsweb")

            def ask(name: str, rdtype: str, tcp: bool = False) -> dns.message.Message:
                query = dns.message.make_query(name, rdtype)
                return (dns.query.tcp if tcp else dns.query.udp)(query, server, timeout=2.0)

            def answers(name: str, rdtype: str, tcp: bool = False) -> set[str]:
                reply = ask(name, rdtype, tcp)
                return {rr.to_text() for rrset in reply.answer for rr in rrset}

            wait_for(lambda: answers("dnsweb-headless.default.svc.cluster.local", "A") == pod_ips, 15, interval=0.2,
                     message="DNS caught up with the Services")
            # the DNS Service itself
            assert answers("kube-dns.kube-system.svc.cluster.local", "A") == {server}
            # ClusterIP A, over UDP and TCP
            assert answers("dnsweb.default.svc.cluster.local", "A") == {svc["spec"]["clusterIP"]}
            assert answers("dnsweb.default.svc.cluster.local", "A", tcp=True) == {svc["spec"]["clusterIP"]}
            # SRV
            srv = ask("_http._tcp.dnsweb.default.svc.cluster.local", "SRV")
            (rrset,) = srv.answer
            assert [(rr.port, rr.target.to_text()) for rr in rrset] == [(80, "dnsweb.default.svc.cluster.local.")]
            # headless: one A per ready pod
            assert answers("dnsweb-headless.default.svc.cluster.local", "A") == pod_ips
            # pod record
            some_ip = min(pod_ips)
            assert answers(f"{some_ip.replace('.', '-')}.default.pod.cluster.local", "A") == {some_ip}
            # reverse
            rev = ".".join(reversed(svc["spec"]["clusterIP"].split("."))) + ".in-addr.arpa"
            assert answers(rev, "PTR") == {"dnsweb.default.svc.cluster.local."}
            # negative answers
            assert ask("nope.default.svc.cluster.local", "A").rcode() == dns.rcode.NXDOMAIN
            assert ask("dnsweb.default.svc.cluster.local", "AAAA").rcode() == dns.rcode.NOERROR
            assert ask("example.com", "A").rcode() == dns.rcode.REFUSED
            # a deleted Service disappears from DNS
            client.delete("Service", "dnsweb", "default")
            wait_for(lambda: ask("dnsweb.default.svc.cluster.local", "A").rcode() == dns.rcode.NXDOMAIN, 10, interval=0.1,
                     message="deleted Service gone from DNS")
        finally:
            cleanup(client, "dnsweb")
            cleanup(client, "dnsweb-headless")


# -- rolling replacement behind a Service ---------------------------------------------------------


class TestRollingUpdate:
    @pytest.mark.parametrize("pre_stop", [True, False], ids=["with-preStop-sleep", "without-preStop"])
    def test_rollout_behind_a_service(self, client: Client, pre_stop: bool) -> None:
        """A rolling update (nginx 1.25 -> 1.24) while a client connects in a loop: every answer
        comes from a live pod; with a preStop sleep (Kubernetes' advice) no connection fails."""
        name = "roll-hook" if pre_stop else "roll"
        extra: Obj = {"container": {"lifecycle": {"preStop": {"sleep": {"seconds": 1}}}}} if pre_stop else {}
        client.create(deployment(name, pod_spec=extra))
        svc = client.create(service(name))
        ip = svc["spec"]["clusterIP"]
        try:
            wait_endpoints(client, name, 3)
            wait_traffic(ip, 80, pod_keys(client, name))
            loop = LoopClient(ip, 80).start()
            try:
                time.sleep(0.5)
                dep = client.get("Deployment", name, "default")
                dep["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.24"  # kubectl set image
                client.update(dep)

                def rolled() -> bool:
                    pods = live_pods(client, name)
                    return len(pods) == 3 and all(p["spec"]["containers"][0]["image"] == "nginx:1.24" and _ready(p) for p in pods) \
                        and len(ready_ips(client, name)) == 3

                wait_for(rolled, 90, interval=0.2, message="the rollout to finish")
                time.sleep(1.0)
            finally:
                loop.finish()
            ok = [r for _, r, _ in loop.results if r is not None]
            images = Counter(r.image.rsplit(":", 1)[-1] for r in ok)
            print(f"\nrollout {name}: {len(loop.results)} connections, {len(loop.failures)} failed, images {dict(images)}; "
                  f"failures: {Counter(loop.failures)}")
            assert ok and ok[-1].image.endswith(":1.24")
            if pre_stop:
                assert loop.failures == []
            else:
                # Without a preStop delay a pod stops listening while proxies may still
                # send it connections; the proxy retries refused dials, so at most a
                # handful that the old pod accepted and then dropped can fail.
                assert len(loop.failures) <= 3
        finally:
            cleanup(client, name)


# -- node failure ----------------------------------------------------------------------------------


@pytest.fixture
def own_cluster() -> Iterator[LocalCluster]:
    with tempfile.TemporaryDirectory(prefix="kemu-") as d, running_cluster(Path(d), nodes=3, with_proxy=True, with_dns=False) as c:
        yield c


class TestNodeFailure:
    @pytest.mark.parametrize("kill_proxy", [False, True], ids=["kubelet-only", "kubelet-and-proxy"])
    def test_sigkill_of_a_kubelet(self, own_cluster: LocalCluster, kill_proxy: bool) -> None:
        """SIGKILL of node-2's kubelet (and kube-proxy): within the failover time every connection
        to the ClusterIP succeeds and none lands on node-2's pods."""
        with Client(own_cluster.spec.server) as client:
            client.create(deployment("fo", replicas=6))
            svc = client.create(service("fo"))
            ip = svc["spec"]["clusterIP"]
            wait_endpoints(client, "fo", 6)
            wait_traffic(ip, 80, pod_keys(client, "fo"))
            dead_ips = {p["status"]["podIP"] for p in live_pods(client, "fo") if p["spec"]["nodeName"] == "node-2"}
            assert dead_ips, "no pod landed on node-2"
            loop = LoopClient(ip, 80).start()
            try:
                time.sleep(0.3)
                killed_at = time.monotonic()
                own_cluster.procs["kubelet-node-2"].kill()
                if kill_proxy:
                    own_cluster.procs["kubeproxy-node-2"].kill()
                wait_for(lambda: not (ready_ips(client, "fo") & dead_ips), 20, message="node-2's pods out of the ready endpoints")
                out_at = time.monotonic()
                wait_endpoints(client, "fo", 6, timeout=30)  # replacements ready
                time.sleep(1.0)
                settled = time.monotonic()
                time.sleep(1.5)
            finally:
                loop.finish()
            after = [(t, r, e) for t, r, e in loop.results if t > settled]
            during = [(t, r, e) for t, r, e in loop.results if killed_at <= t <= settled]
            failed_during = [e for _, r, e in during if r is None]
            print(f"\nfailover (kill_proxy={kill_proxy}): endpoints updated {out_at - killed_at:.2f}s after the kill; "
                  f"{len(during)} connections during failover, {len(failed_during)} failed: {Counter(failed_during)}")
            assert len(after) >= 10
            assert all(r is not None for _, r, _ in after), [e for _, r, e in after if r is None]
            assert not any(r is not None and r.node == "node-2" for _, r, _ in after)
            # A surviving node's proxy serves the ClusterIP too (the kernel may pick any listener).
            assert all(r is not None and r.node != "node-2" for r in sample(ip, 80, 20))
