"""The scheduler against a real apiserver process: binding, spreading,
FailedScheduling with Kubernetes' message, and retrying when the cluster
changes. The scheduler runs in-process on its threads; nodes are plain Node
objects created through the client (no kubelets)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kemu.client import Client
from kemu.procs import spawn, wait_for
from kemu.testing import ApiServerProcess
from scheduler.scheduler import Scheduler
from kemu.types import Obj

pytestmark = pytest.mark.timeout(60)


UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}


def node(name: str, *, cpu: str = "2", ready: str = "True", taints: list[Obj] | None = None) -> Obj:
    resources = {"cpu": cpu, "memory": "4Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"taints": taints or []},
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady"}],
        },
    }


def pod(name: str, *, cpu: str | None = None, owner: str | None = None, **spec: Any) -> Obj:
    container: Obj = {"name": "main", "image": "nginx:1.25"}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    meta: Obj = {"name": name, "labels": {"app": "web"}}
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": owner, "controller": True}
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": [container], **spec}}


def node_of(client: Client, name: str) -> str | None:
    return client.get("Pod", name)["spec"].get("nodeName")


def events(client: Client, name: str, reason: str) -> list[Obj]:
    return [
        e
        for e in client.list("Event")["items"]
        if e["involvedObject"].get("name") == name and e["reason"] == reason
    ]


@pytest.fixture
def scheduler(client: Client) -> Iterator[Scheduler]:
    sched = Scheduler(client, rng=random.Random(0), retry_interval=5.0)
    try:
        sched.start()
        assert sched.wait_synced(10), "scheduler informers did not sync"
        yield sched
    finally:
        sched.stop()


class TestScheduling:
    def test_pods_are_bound_and_spread(self, client: Client, scheduler: Scheduler) -> None:
        """Nine replicas of one ReplicaSet on three equal nodes land three per node, each with a Scheduled event."""
        for i in (1, 2, 3):
            client.create(node(f"node-{i}"))
        for i in range(9):
            client.create(pod(f"web-{i}", owner="rs-uid-1"))
        wait_for(lambda: all(node_of(client, f"web-{i}") for i in range(9)), 20, message="9 pods bound")
        placement = Counter(node_of(client, f"web-{i}") for i in range(9))
        assert placement == {"node-1": 3, "node-2": 3, "node-3": 3}
        bound_to = node_of(client, "web-0")
        scheduled = wait_for(lambda: events(client, "web-0", "Scheduled"), 10, message="the Scheduled event")
        assert scheduled[0]["message"] == f"Successfully assigned default/web-0 to {bound_to}"
        assert scheduled[0]["type"] == "Normal"
        assert scheduled[0]["source"]["component"] == "default-scheduler"
        conditions = client.get("Pod", "web-0")["status"]["conditions"]
        assert {"type": "PodScheduled", "status": "True"}.items() <= conditions[0].items()

    def test_other_schedulers_pods_are_left_alone(self, client: Client, scheduler: Scheduler) -> None:
        """A pod naming another scheduler stays pending while ours are bound."""
        client.create(node("node-1"))
        client.create(pod("theirs", schedulerName="other-scheduler"))
        client.create(pod("ours"))
        wait_for(lambda: node_of(client, "ours"), 20, message="our pod bound")
        assert node_of(client, "theirs") is None

    def test_oversized_pod_fails_then_fits_a_new_node(self, client: Client, scheduler: Scheduler) -> None:
        """A pod bigger than every node gets Kubernetes' FailedScheduling message
        and the PodScheduled=False condition, and is bound once a big enough
        node joins."""
        client.create(node("node-1", taints=[UNREACHABLE]))
        client.create(node("node-2"))
        client.create(node("node-3"))
        client.create(pod("big", cpu="3"))
        expected = (
            "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, "
            "2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        )
        failed = wait_for(lambda: events(client, "big", "FailedScheduling"), 20, message="FailedScheduling")
        assert failed[0]["message"] == expected
        assert failed[0]["type"] == "Warning"

        def condition() -> Obj | None:
            conds = client.get("Pod", "big")["status"].get("conditions") or []
            return next((c for c in conds if c["type"] == "PodScheduled" and c["status"] == "False"), None)

        cond = wait_for(condition, 10, message="PodScheduled=False")
        assert (cond["reason"], cond["message"]) == ("Unschedulable", expected)

        client.create(node("node-big", cpu="4"))
        assert wait_for(lambda: node_of(client, "big"), 20, message="the big pod bound") == "node-big"
        wait_for(lambda: events(client, "big", "Scheduled"), 10, message="the Scheduled event")
        conds = client.get("Pod", "big")["status"]["conditions"]
        assert [c["status"] for c in conds if c["type"] == "PodScheduled"] == ["True"]

    def test_tainted_and_not_ready_nodes_are_skipped(self, client: Client, scheduler: Scheduler) -> None:
        """Nothing lands on a node tainted unreachable or whose Ready condition is not True."""
        client.create(node("node-1", taints=[UNREACHABLE]))
        client.create(node("node-2"))
        client.create(node("node-3", ready="Unknown"))
        for i in range(6):
            client.create(pod(f"web-{i}"))
        wait_for(lambda: all(node_of(client, f"web-{i}") for i in range(6)), 20, message="6 pods bound")
        assert {node_of(client, f"web-{i}") for i in range(6)} == {"node-2"}

    def test_deleted_pod_frees_room(self, client: Client, scheduler: Scheduler) -> None:
        """A pod waiting for cpu is bound once a pod on the full node is deleted;
        meanwhile the message says preemption found no victims."""
        client.create(node("node-1"))
        client.create(pod("first", cpu="1500m"))
        wait_for(lambda: node_of(client, "first"), 20, message="the first pod bound")
        client.create(pod("second", cpu="1"))
        failed = wait_for(lambda: events(client, "second", "FailedScheduling"), 20, message="FailedScheduling")
        assert failed[0]["message"] == (
            "0/1 nodes are available: 1 Insufficient cpu. "
            "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        )
        client.delete("Pod", "first", grace_period_seconds=0)
        assert wait_for(lambda: node_of(client, "second"), 20, message="the second pod bound") == "node-1"


class TestSchedulerProcess:
    def test_runs_as_a_process_and_stops_on_sigterm(self, apiserver: ApiServerProcess, client: Client, short_tmp: Path) -> None:
        """``python -m scheduler --server ADDR`` binds pods and exits 0 on SIGTERM."""
        proc = spawn("scheduler", ["scheduler", "--server", apiserver.address], short_tmp / "scheduler.log")
        try:
            client.create(node("node-1"))
            client.create(pod("web-0"))
            assert wait_for(lambda: node_of(client, "web-0"), 20, message="the pod bound") == "node-1"
            assert proc.stop(grace=10) == 0
            assert '"scheduler stopped"' in (short_tmp / "scheduler.log").read_text()
        finally:
            proc.kill()
