"""The controller manager as a real process against a real apiserver.

No kubelet runs: the tests create Node objects, renew their Leases from a
helper thread (:class:`LeaseRenewer`), and fake pod status (phase Running and
a Ready condition) where they need it. Every wait is bounded; every process
is killed in a ``finally``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import pytest

from kemu import testing
from kemu.api.errors import ApiError
from kemu.client import Client
from kemu.clock import rfc3339, rfc3339_micro
from kemu.informer import Informer
from kemu.procs import Proc, spawn, wait_for
from kemu.testing import ApiServerProcess, container
from kemu.types import Obj

pytestmark = pytest.mark.timeout(60)


# -- helpers ---------------------------------------------------------------------------


def start_controller_manager(apiserver: ApiServerProcess, root: Path, *extra: str, name: str = "cm") -> Proc:
    return spawn(
        "controllermanager",
        ["controllermanager", "--server", apiserver.address, "--log-level", "debug", *extra],
        root / f"{name}.log",
    )


@contextmanager
def controller_manager(apiserver: ApiServerProcess, root: Path, *extra: str) -> Iterator[Proc]:
    proc = start_controller_manager(apiserver, root, *extra)
    try:
        yield proc
    finally:
        proc.kill()


def replicaset(name: str = "web", replicas: int = 6, *, labels: dict[str, str] | None = None) -> Obj:
    return testing.replicaset(name, replicas=replicas, labels=labels, object_labels=True,
                              containers=[container("c", "pause:3.9")])


def owned_pods(client: Client, rs: Obj, namespace: str = "default", *, active_only: bool = True) -> list[Obj]:
    uid = rs["metadata"]["uid"]
    out = []
    for pod in client.list("Pod", namespace)["items"]:
        if not any(r.get("uid") == uid and r.get("controller") for r in pod["metadata"].get("ownerReferences") or []):
            continue
        if active_only and pod["metadata"].get("deletionTimestamp"):
            continue
        out.append(pod)
    return out


def ready_condition(status: str = "True") -> Obj:
    now = rfc3339()
    return {"type": "Ready", "status": status, "lastHeartbeatTime": now, "lastTransitionTime": now, "reason": "KubeletReady"}


def make_node(client: Client, name: str) -> Obj:
    client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}})
    node = client.get("Node", name)
    node["status"] = {"conditions": [ready_condition()]}
    return client.update_status(node)


def bind_and_run(client: Client, pod: Obj, node: str) -> Obj:
    """What a scheduler and a kubelet would do: bind, then report Running and Ready."""
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    client.bind(ns, name, node)
    now = rfc3339()
    return client.patch(
        "Pod",
        name,
        {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}},
        ns,
        patch_type="strategic",
        subresource="status",
    )


class LeaseRenewer:
    """A stand-in for kubelets' heartbeats: renews ``kube-node-lease/<node>``
    every ``interval`` seconds for each node not paused."""

    def __init__(self, client: Client, nodes: list[str], interval: float = 0.2) -> None:
        self.client = client
        self.nodes = list(nodes)
        self.interval = interval
        self.paused: set[str] = set()
        self._stop = threading.Event()
        for node in nodes:
            client.create(
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": node, "namespace": "kube-node-lease"},
                    "spec": {"holderIdentity": node, "leaseDurationSeconds": 2, "renewTime": rfc3339_micro()},
                }
            )
        self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for node in self.nodes:
                if node in self.paused:
                    continue
                try:
                    self.client.patch("Lease", node, {"spec": {"renewTime": rfc3339_micro()}}, "kube-node-lease")
                except ApiError:
                    pass


class ActivePodMonitor:
    """Watches pods through an informer and records the most non-terminating
    pods a ReplicaSet (by uid) ever had at once."""

    def __init__(self, client: Client) -> None:
        self.informer = Informer(client, "Pod")
        self.uid = ""
        self.max_active = 0
        self._lock = threading.Lock()
        self.informer.add_handler(self)  # type: ignore[arg-type]

    def watch(self, uid: str) -> None:
        with self._lock:
            self.uid = uid
            self.max_active = 0

    def _count(self) -> None:
        with self._lock:
            if not self.uid:
                return
            active = [p for p in self.informer.by_index("owner", self.uid) if not p["metadata"].get("deletionTimestamp")]
            self.max_active = max(self.max_active, len(active))

    def on_add(self, obj: Obj) -> None:
        self._count()

    def on_update(self, old: Obj, new: Obj) -> None:
        self._count()

    def on_delete(self, obj: Obj) -> None:
        self._count()

    def __enter__(self) -> Self:
        self.informer.start()
        assert self.informer.wait_synced(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.informer.stop()


def node_taints(client: Client, name: str) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in client.get("Node", name).get("spec", {}).get("taints") or []}


def node_ready_status(client: Client, name: str) -> str | None:
    for cond in client.get("Node", name).get("status", {}).get("conditions") or []:
        if cond["type"] == "Ready":
            return cond["status"]
    return None


def events(client: Client, reason: str, namespace: str = "default") -> list[Obj]:
    return [e for e in client.list("Event", namespace)["items"] if e.get("reason") == reason]


# -- ReplicaSet ------------------------------------------------------------------------


class TestReplicaSet:
    def test_creates_exactly_the_replicas_with_owner_references(self, apiserver: ApiServerProcess, client: Client, short_tmp: Path) -> None:
        """A ReplicaSet of 6 gets exactly 6 pods, each controlled by it, and its status says so."""
        with controller_manager(apiserver, short_tmp, "--controllers", "replicaset"):
            rs = client.create(replicaset("web", 6))
            wait_for(lambda: len(owned_pods(client, rs)) == 6, 15, message="6 pods")
            time.sleep(0.5)  # nothing more comes
            pods = owned_pods(client, rs, active_only=False)
            assert len(pods) == 6
            for pod in pods:
                assert pod["metadata"]["name"].startswith("web-")
                assert pod["metadata"]["generateName"] == "web-"
                assert pod["metadata"]["labels"] == {"app": "web"}
                (ref,) = pod["metadata"]["ownerReferences"]
                assert ref == {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web",
                    "uid": rs["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            wait_for(lambda: client.get("ReplicaSet", "web").get("status", {}).get("replicas") == 6, 10, message="status")
            status = client.get("ReplicaSet", "web")["status"]
            assert status["fullyLabeledReplicas"] == 6
            assert status["observedGeneration"] == 1
            assert status["readyReplicas"] == 0
            wait_for(lambda: len(events(client, "SuccessfulCreate")) == 6, 10, message="6 SuccessfulCreate events")
            assert all(e["message"].startswith("Created pod: web-") for e in events(client, "SuccessfulCreate"))

    def test_deleted_pod_is_replaced(self, apiserver: ApiServerProcess, client: Client, short_tmp: Path) -> None:
        """Deleting one pod brings a replacement with a new name."""
        with controller_manager(apiserver, short_tmp, "--controllers", "replicaset"):
            rs = client.create(replicaset("web", 3))
            wait_for(lambda: len(owned_pods(client, rs)) == 3, 15, message="3 pods")
            victim = owned_pods(client, rs)[0]["metadata"]["name"]
            client.delete("Pod", victim)
            wait_for(
                lambda: len(names := {p["metadata"]["name"] for p in owned_pods(client, rs)}) == 3 and victim not in names,
                10,
                message="a replacement pod",
            )

    def test_scale_down_deletes_unscheduled_pods_first(self, apiserver: ApiServerProcess, client: Client, short_tmp: Path) -> None:
        """Of 4 pods, 2 running on a node and 2 pending unscheduled, scaling to 2 deletes the unscheduled ones."""
        make_node(client, "node-1")
        with controller_manager(apiserver, short_tmp, "--controllers", "replicaset"):
            rs = client.create(replicaset("web", 4))
            wait_for(lambda: len(owned_pods(client, rs)) == 4, 15, message="4 pods")
            pods = owned_pods(client, rs)
            running = {bind_and_run(client, p, "node-1")["metadata"]["name"] for p in pods[:2]}
            client.patch("ReplicaSet", "web", {"spec": {"replicas": 2}})
            wait_for(lambda: len(owned_pods(client, rs)) == 2, 10, message="2 pods left")
            assert {p["metadata"]["name"] for p in owned_pods(client, rs)} == running
            wait_for(lambda: client.get("ReplicaSet", "web")["status"].get("readyReplicas") == 2, 10, message="ready 2")
            assert len(events(client, "SuccessfulDelete")) >= 1

    def test_adopts_matching_orphans_and_releases_mismatches(self, apiserver: ApiServerProcess, client: Client, short_tmp: Path) -> None:
        """An orphan pod with matching labels is adopted (and counted); an owned pod relabelled is released."""
        orphan = client.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "stray", "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "pause:3.9"}]},
            }
        )
        with controller_manager(apiserver, short_tmp, "--controllers", "replicaset"):
            rs = client.create(replicaset("web", 2))
            wait_for(lambda: len(owned_pods(client, rs)) == 2, 15, message="2 pods")
            names = {p["metadata"]["name"] for p in owned_pods(client, rs)}
            assert "stray" in names
            assert client.get("Pod", "stray")["metadata"]["uid"] == orphan["metadata"]["uid"]
            other = next(n for n in names if n != "stray")
            client.patch("Pod", other, {"metadata": {"labels": {"app": "elsewhere"}}})
            wait_for(lambda: not client.get("Pod", other)["metadata"].get("ownerReferences"), 10, message="release")
            wait_for(lambda: len(owned_pods(client, rs)) == 2, 10, message="a replacement")
            assert other not in {p["metadata"]["name"] for p in owned_pods(client, rs)}

    def test_restarted_controller_manager_does_not_over_create(self, apiserver: ApiServerProcess, client: Client, short_tmp: Path) -> None:
        """SIGKILL mid-way through creating 30 pods, restart: exactly 30 in the end, never more."""
        with ActivePodMonitor(client) as monitor:
            first = start_controller_manager(apiserver, short_tmp, "--controllers", "replicaset", name="cm1")
            second: Proc | None = None
            try:
                rs = client.create(replicaset("big", 30))
                monitor.watch(rs["metadata"]["uid"])
                wait_for(lambda: len(owned_pods(client, rs)) >= 3, 15, message="some pods")
                first.kill()
                second = start_controller_manager(apiserver, short_tmp, "--controllers", "replicaset", name="cm2")
                wait_for(lambda: len(owned_pods(client, rs)) == 30, 20, message="30 pods")
                time.sleep(1.0)
                assert len(owned_pods(client, rs)) == 30
                assert monitor.max_active == 30
            finally:
                first.kill()
                if second is not None:
                    second.kill()


# -- node lifecycle --------------------------------------------------------------------


class TestNodeLifecycle:
    def test_dead_node_is_tainted_and_its_pods_evicted_and_replaced(
        self, apiserver: ApiServerProcess, client: Client, short_tmp: Path
    ) -> None:
        """A node whose lease stops: Unknown + unreachable taints, pods NotReady then evicted,
        replacements created (never more than 6 active), taints gone when the lease renews."""
        for name in ("node-1", "node-2"):
            make_node(client, name)
        with (
            LeaseRenewer(client, ["node-1", "node-2"]) as renewer,
            ActivePodMonitor(client) as monitor,
            controller_manager(apiserver, short_tmp, "--node-monitor-grace-period", "2", "--node-monitor-period", "0.2"),
        ):
            rs = client.create(replicaset("web", 6))
            monitor.watch(rs["metadata"]["uid"])
            wait_for(lambda: len(owned_pods(client, rs)) == 6, 15, message="6 pods")
            pods = owned_pods(client, rs)
            for i, pod in enumerate(pods):
                bind_and_run(client, pod, "node-1" if i % 2 else "node-2")
            on_node_2 = {p["metadata"]["name"] for i, p in enumerate(pods) if not i % 2}
            time.sleep(1.0)
            assert node_ready_status(client, "node-2") == "True"
            assert node_taints(client, "node-2") == set()

            renewer.paused.add("node-2")
            stopped = time.monotonic()
            wait_for(lambda: node_ready_status(client, "node-2") == "Unknown", 6, message="node-2 Unknown")
            assert time.monotonic() - stopped < 2 + 2.0  # the grace, plus a monitor period and some slack
            wait_for(
                lambda: node_taints(client, "node-2")
                == {("node.kubernetes.io/unreachable", "NoSchedule"), ("node.kubernetes.io/unreachable", "NoExecute")},
                3,
                message="unreachable taints",
            )
            node = client.get("Node", "node-2")
            cond = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
            assert cond["reason"] == "NodeStatusUnknown"
            assert cond["message"] == "Kubelet stopped posting node status."
            assert all(t.get("timeAdded") for t in node["spec"]["taints"])
            assert node_ready_status(client, "node-1") == "True"

            # MarkPodsNotReady, then eviction after the 2 s toleration.
            def pods_on_node_2() -> list[Obj]:
                return [p for p in client.list("Pod")["items"] if p["metadata"]["name"] in on_node_2]

            wait_for(
                lambda: all(
                    any(c["type"] == "Ready" and c["status"] == "False" for c in p["status"].get("conditions", []))
                    or p["metadata"].get("deletionTimestamp")
                    for p in pods_on_node_2()
                ),
                5,
                message="pods on node-2 not ready",
            )
            wait_for(
                lambda: all(p["metadata"].get("deletionTimestamp") for p in pods_on_node_2()),
                6,
                message="pods on node-2 evicted",
            )
            assert len(pods_on_node_2()) == 3  # Terminating: the dead kubelet cannot finish them
            wait_for(lambda: len(owned_pods(client, rs)) == 6, 10, message="3 replacements")
            assert monitor.max_active == 6
            wait_for(lambda: len(events(client, "TaintManagerEviction")) >= 3, 5, message="eviction events")
            assert {e["message"] for e in events(client, "TaintManagerEviction")} == {
                f"Marking for deletion Pod default/{n}" for n in on_node_2
            }
            node_events = [e for e in events(client, "NodeNotReady") if e["involvedObject"]["kind"] == "Node"]
            assert node_events and node_events[0]["message"] == "Node node-2 status is now: NodeNotReady"

            renewer.paused.discard("node-2")
            wait_for(lambda: node_taints(client, "node-2") == set(), 5, message="taints removed")
            time.sleep(0.5)
            assert monitor.max_active == 6


# -- IPAM, garbage collection, namespaces, pod GC -----------------------------------------


class TestNodeIpam:
    def test_nodes_get_distinct_pod_cidrs(self, apiserver: ApiServerProcess, client: Client, short_tmp: Path) -> None:
        """Every node gets its own /24 from 127.244.0.0/16, skipping 127.244.0.0/24; a restart keeps them."""
        make_node(client, "node-1")
        with controller_manager(apiserver, short_tmp, "--controllers", "nodeipam"):
            for i in range(2, 5):
                make_node(client, f"node-{i}")

            def cidrs() -> dict[str, str]:
                return {n["metadata"]["name"]: n["spec"].get("podCIDR") for n in client.list("Node")["items"]}

            wait_for(lambda: all(cidrs().values()), 10, message="every node has a podCIDR")
            got = cidrs()
            assert len(set(got.values())) == 4
            assert all(c.startswith("127.244.") and c.endswith(".0/24") and c != "127.244.0.0/24" for c in got.values())
            for name in got:
                assert client.get("Node", name)["spec"]["podCIDRs"] == [got[name]]
        with controller_manager(apiserver, short_tmp, "--controllers", "nodeipam"):
            make_node(client, "node-5")
            wait_for(lambda: client.get("Node", "node-5")["spec"].get("podCIDR"), 10, message="node-5 podCIDR")
            assert client.get("Node", "node-5")["spec"]["podCIDR"] not in got.values()


class TestGarbageCollector:
    def test_background_cascade(self, apiserver: ApiServerProcess, client: Client, short_tmp: Path) -> None:
        """Deleting a ReplicaSet (default policy) deletes its pods."""
        with controller_manager(apiserver, short_tmp, "--controllers", "replicaset,garbagecollector"):
            rs = client.create(replicaset("web", 3))
            wait_for(lambda: len(owned_pods(client, rs)) == 3, 15, message="3 pods")
            client.delete("ReplicaSet", "web")
            wait_for(lambda: not owned_pods(client, rs, active_only=False), 10, message="pods deleted")

    def test_orphan_cascade(self, apiserver: ApiServerProcess, client: Client, short_tmp: Path) -> None:
        """Deleting a ReplicaSet with propagationPolicy Orphan keeps its pods, without owner references."""
        with controller_manager(apiserver, short_tmp, "--controllers", "replicaset,garbagecollector"):
            rs = client.create(replicaset("web", 3))
            wait_for(lambda: len(owned_pods(client, rs)) == 3, 15, message="3 pods")
            names = {p["metadata"]["name"] for p in owned_pods(client, rs)}
            client.delete("ReplicaSet", "web", propagation_policy="Orphan")

            def rs_gone() -> bool:
                try:
                    client.get("ReplicaSet", "web")
                    return False
                except ApiError as exc:
                    return exc.code == 404

            wait_for(rs_gone, 10, message="the ReplicaSet removed")
            pods = {p["metadata"]["name"]: p for p in client.list("Pod")["items"]}
            assert names <= set(pods)
            assert all(not pods[n]["metadata"].get("ownerReferences") for n in names)

    def test_foreground_cascade(self, apiserver: ApiServerProcess, client: Client, short_tmp: Path) -> None:
        """A Foreground delete keeps the ReplicaSet until its pods are gone."""
        with controller_manager(apiserver, short_tmp, "--controllers", "replicaset,garbagecollector"):
            rs = client.create(replicaset("web", 2))
            wait_for(lambda: len(owned_pods(client, rs)) == 2, 15, message="2 pods")
            client.delete("ReplicaSet", "web", propagation_policy="Foreground")

            def rs_gone() -> bool:
                try:
                    client.get("ReplicaSet", "web")
                    return False
                except ApiError as exc:
                    return exc.code == 404

            wait_for(rs_gone, 10, message="the ReplicaSet removed")
            assert not owned_pods(client, rs, active_only=False)


class TestNamespace:
    def test_deleting_a_namespace_empties_and_removes_it(self, apiserver: ApiServerProcess, client: Client, short_tmp: Path) -> None:
        """A terminating namespace loses its ReplicaSets, pods and config maps, then goes away."""
        client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
        with controller_manager(apiserver, short_tmp, "--controllers", "replicaset,namespace,garbagecollector"):
            rs = client.create(replicaset("web", 3), namespace="team-a")
            client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "b"}}, namespace="team-a")
            wait_for(lambda: len(owned_pods(client, rs, "team-a")) == 3, 15, message="3 pods")
            client.delete("Namespace", "team-a")

            def ns_gone() -> bool:
                try:
                    client.get("Namespace", "team-a")
                    return False
                except ApiError as exc:
                    return exc.code == 404

            wait_for(ns_gone, 15, message="namespace removed")
            for kind in ("Pod", "ReplicaSet", "ConfigMap"):
                assert client.list(kind, "team-a")["items"] == []


class TestPodGC:
    def test_pods_on_a_missing_node_are_force_deleted(self, apiserver: ApiServerProcess, client: Client, short_tmp: Path) -> None:
        """A pod bound to a node that does not exist is deleted after the quarantine; one on a real node stays."""
        make_node(client, "node-1")
        for name, node in (("ghost-pod", "ghost"), ("real-pod", "node-1")):
            client.create(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": name},
                    "spec": {"nodeName": node, "containers": [{"name": "c", "image": "pause:3.9"}]},
                }
            )
        with controller_manager(apiserver, short_tmp, "--controllers", "podgc", "--pod-gc-quarantine", "1"):

            def ghost_gone() -> bool:
                return "ghost-pod" not in {p["metadata"]["name"] for p in client.list("Pod")["items"]}

            wait_for(ghost_gone, 10, message="ghost-pod deleted")
            assert client.get("Pod", "real-pod")
