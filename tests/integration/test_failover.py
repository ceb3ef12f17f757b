"""The failover slice, end to end with real processes: a ReplicaSet on three
kubelets, a node killed, frozen and restarted, control-plane components
killed mid-way. Every process is started by ``running_cluster`` and stopped
at the end, whatever happens."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kemu import testing
from kemu.client import Client
from kemu.informer import Informer
from kemu.launcher import LocalCluster
from kemu.procs import pid_alive, wait_for
from kemu.testing import container, descendants, running_cluster
from kemu.types import Obj

pytestmark = pytest.mark.timeout(120)

REPLICAS = 6


def replicaset(name: str = "web", replicas: int = REPLICAS, image: str = "nginx:1.25") -> Obj:
    return testing.replicaset(name, replicas=replicas, containers=[container("c", image)], grace=2)


def is_ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def live_pods(client: Client, selector: str = "app=web") -> list[dict]:
    """Pods that are not being deleted."""
    return [p for p in client.list("Pod", label_selector=selector)["items"] if not p["metadata"].get("deletionTimestamp")]


def running_ready(client: Client, exclude_node: str | None = None) -> list[dict]:
    return [
        p
        for p in live_pods(client)
        if p["status"].get("phase") == "Running" and is_ready(p) and p["spec"].get("nodeName") != exclude_node
    ]


def node_ready(client: Client, name: str) -> str:
    node = client.get("Node", name)
    return next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready")


@pytest.fixture
def cluster(short_tmp: Path) -> Iterator[LocalCluster]:
    with running_cluster(short_tmp, nodes=3) as c:
        yield c


@pytest.fixture
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster.spec.server) as c:
        yield c


class RunningCounter:
    """Watches pods and records the most Running, non-terminating pods ever
    seen at once on the nodes that are still reachable."""

    def __init__(self, client: Client, dead: set[str]):
        self.dead = dead
        self.max_seen = 0
        self.lock = threading.Lock()
        self.informer = Informer(client, "Pod", label_selector="app=web")
        self.informer.add_handler(self)

    def _count(self) -> None:
        n = sum(
            1
            for p in self.informer.list()
            if p["status"].get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")
            and p["spec"].get("nodeName") not in self.dead
        )
        with self.lock:
            self.max_seen = max(self.max_seen, n)

    def on_add(self, obj: dict) -> None:
        self._count()

    def on_update(self, old: dict, new: dict) -> None:
        self._count()

    def on_delete(self, obj: dict) -> None:
        self._count()


class TestReplicaSetOnNodes:
    def test_six_replicas_spread_over_three_nodes(self, client: Client) -> None:
        """A ReplicaSet of 6 gets 6 Running pods, on every node."""
        client.create(replicaset())
        wait_for(lambda: len(running_ready(client)) == REPLICAS, 30, message="6 running pods")
        nodes = {p["spec"]["nodeName"] for p in running_ready(client)}
        assert len(nodes) == 3
        rs = client.get("ReplicaSet", "web")
        wait_for(lambda: client.get("ReplicaSet", "web")["status"].get("readyReplicas") == REPLICAS, 10, message="rs status")
        assert rs["metadata"]["name"] == "web"

    def test_deleted_pod_is_replaced(self, client: Client) -> None:
        """Deleting a pod brings a replacement with another name."""
        client.create(replicaset())
        wait_for(lambda: len(running_ready(client)) == REPLICAS, 30, message="6 running pods")
        victim = running_ready(client)[0]["metadata"]["name"]
        client.delete("Pod", victim)
        wait_for(
            lambda: len(running_ready(client)) == REPLICAS and victim not in {p["metadata"]["name"] for p in running_ready(client)},
            30,
            message="replacement",
        )

    def test_killed_container_process_is_restarted(self, client: Client, cluster: LocalCluster) -> None:
        """SIGKILL of a container's process: the kubelet restarts it (restartCount 1)."""
        client.create(replicaset(replicas=1))
        wait_for(lambda: len(running_ready(client)) == 1, 30, message="1 running pod")
        pod = running_ready(client)[0]
        kubelet_pid = cluster.procs[f"kubelet-{pod['spec']['nodeName']}"].pid
        servers = [p for p in descendants(kubelet_pid) if b"servers.py" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert servers
        os.kill(servers[0], signal.SIGKILL)
        name = pod["metadata"]["name"]
        wait_for(
            lambda: client.get("Pod", name)["status"]["containerStatuses"][0]["restartCount"] == 1
            and is_ready(client.get("Pod", name)),
            20,
            message="restart",
        )


class TestNodeFailure:
    def test_sigkill_of_a_kubelet_moves_its_pods(self, client: Client, cluster: LocalCluster) -> None:
        """Kill node-2's kubelet: NotReady, its pods evicted, replacements on
        node-1 and node-3, no process left from its pods, never more than 6
        running among reachable nodes, and node-2 rejoins when restarted."""
        client.create(replicaset())
        wait_for(lambda: len(running_ready(client)) == REPLICAS, 30, message="6 running pods")
        victims = {p["metadata"]["name"] for p in running_ready(client) if p["spec"]["nodeName"] == "node-2"}
        assert victims
        dead: set[str] = set()
        counter = RunningCounter(client, dead)
        counter.informer.start()
        try:
            assert counter.informer.wait_synced(10)
            kubelet = cluster.procs["kubelet-node-2"]
            pod_procs = descendants(kubelet.pid)
            dead.add("node-2")
            kubelet.kill()
            wait_for(lambda: not [p for p in pod_procs if pid_alive(p)], 10, message="node-2's pod processes gone")
            wait_for(lambda: node_ready(client, "node-2") == "Unknown", 15, message="node-2 NotReady")
            node = client.get("Node", "node-2")
            assert {t["key"] for t in node["spec"].get("taints", [])} >= {"node.kubernetes.io/unreachable"}
            wait_for(
                lambda: len(running_ready(client, exclude_node="node-2")) == REPLICAS,
                40,
                message="6 running pods on node-1 and node-3",
            )
            evicted = [client.get("Pod", v) for v in victims if client.list("Pod", field_selector=f"metadata.name={v}")["items"]]
            assert all(p["metadata"].get("deletionTimestamp") for p in evicted)
            assert counter.max_seen <= REPLICAS
            reasons = {e["reason"] for e in client.list("Event", all_namespaces=True)["items"]}
            assert {"NodeNotReady", "TaintManagerEviction", "SuccessfulCreate", "Scheduled"} <= reasons
        finally:
            counter.informer.stop()
        cluster.start_node("node-2")
        wait_for(lambda: node_ready(client, "node-2") == "True", 20, message="node-2 Ready again")
        wait_for(
            lambda: not [p for p in client.list("Pod", field_selector="spec.nodeName=node-2")["items"] if p["metadata"]["name"] in victims],
            20,
            message="stale pods cleaned by the new kubelet",
        )
        assert len(running_ready(client)) == REPLICAS

    def test_frozen_kubelet_stops_its_pods_when_thawed(self, client: Client, cluster: LocalCluster) -> None:
        """SIGSTOP node-3: its pods are replaced; on SIGCONT it stops the evicted
        ones, leaving exactly 6 running pods."""
        client.create(replicaset())
        wait_for(lambda: len(running_ready(client)) == REPLICAS, 30, message="6 running pods")
        kubelet = cluster.procs["kubelet-node-3"]
        frozen_pods = {p["metadata"]["name"] for p in running_ready(client) if p["spec"]["nodeName"] == "node-3"}
        kubelet.signal(signal.SIGSTOP)
        try:
            wait_for(lambda: node_ready(client, "node-3") == "Unknown", 15, message="node-3 NotReady")
            wait_for(lambda: len(running_ready(client, exclude_node="node-3")) == REPLICAS, 40, message="replacements")
        finally:
            kubelet.signal(signal.SIGCONT)
        wait_for(lambda: node_ready(client, "node-3") == "True", 20, message="node-3 Ready")
        wait_for(
            lambda: not ({p["metadata"]["name"] for p in client.list("Pod")["items"]} & frozen_pods),
            30,
            message="evicted pods stopped and removed",
        )
        time.sleep(1)
        assert len(running_ready(client)) == REPLICAS
        assert len(live_pods(client)) == REPLICAS


class TestControlPlaneRestarts:
    @pytest.mark.parametrize("component", ["scheduler", "controllermanager"])
    def test_killed_component_converges_after_restart(self, client: Client, cluster: LocalCluster, component: str) -> None:
        """Kill the scheduler or the controller manager mid-way, scale up, restart it:
        nothing is lost and the ReplicaSet converges without over-creating."""
        client.create(replicaset(replicas=3))
        wait_for(lambda: len(running_ready(client)) == 3, 30, message="3 running pods")
        cluster.procs[component].kill()
        rs = client.get("ReplicaSet", "web")
        rs["spec"]["replicas"] = REPLICAS
        client.update(rs)
        time.sleep(1)
        cluster.start_component(component)
        wait_for(lambda: len(running_ready(client)) == REPLICAS, 40, message="6 running pods")
        time.sleep(1)
        assert len(live_pods(client)) == REPLICAS
