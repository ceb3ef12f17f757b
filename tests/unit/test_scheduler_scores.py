"""The scheduler's scores, node choice, and the FailedScheduling message."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from kemu.api.selectors import LabelSelector
from scheduler.filters import NodeInfo, PodInfo, Status
from scheduler.scores import (
    CycleState,
    FitError,
    NodeScore,
    default_normalize_score,
    fit_error_message,
    least_allocated_scores,
    node_affinity_scores,
    num_feasible_nodes_to_find,
    prioritize,
    select_host,
    selector_spread_scores,
    taint_toleration_scores,
)
from kemu.types import Obj


TAINT_UNREACHABLE = "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"


def make_pod(
    name: str = "web-abc",
    *,
    cpu: str | None = None,
    memory: str | None = None,
    owner: str | None = None,
    labels: dict[str, str] | None = None,
    namespace: str = "default",
    **spec: Any,
) -> PodInfo:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: Obj = {"name": "main", "image": "nginx", "resources": {"requests": requests}}
    meta: Obj = {"name": name, "namespace": namespace, "uid": f"uid-{name}", "labels": labels or {}}
    if owner:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "uid": owner, "controller": True}]
    return PodInfo.from_pod({"metadata": meta, "spec": {"containers": [container], **spec}})


def make_node(
    name: str, *, cpu: str = "2", memory: str = "4Gi", labels: dict[str, str] | None = None, taints: list[Obj] | None = None
) -> NodeInfo:
    return NodeInfo(
        name,
        {
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {"taints": taints or []},
            "status": {
                "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        },
    )


def nodes_with(*pods_per_node: list[PodInfo]) -> list[NodeInfo]:
    nodes = []
    for i, pods in enumerate(pods_per_node, start=1):
        node = make_node(f"node-{i}")
        for pod in pods:
            node.add_pod(pod)
        nodes.append(node)
    return nodes


class TestDefaultNormalizeScore:
    @pytest.mark.parametrize(
        ("raw", "reverse", "expected"),
        [
            ([0, 2, 4], False, [0, 50, 100]),
            ([0, 2, 4], True, [100, 50, 0]),
            ([0, 0, 0], False, [0, 0, 0]),
            ([0, 0, 0], True, [100, 100, 100]),
            ([1, 3], False, [33, 100]),
        ],
    )
    def test_scales_to_the_highest(self, raw: list[int], reverse: bool, expected: list[int]) -> None:
        """Scores scale by the highest raw score, with integer division, optionally reversed."""
        assert default_normalize_score(raw, reverse=reverse) == expected


class TestLeastAllocated:
    def test_worked_example(self) -> None:
        """2 cpu / 4Gi with 1 cpu and 1Gi requested, pod 500m/1Gi: cpu 25, memory 50, score 37."""
        node = make_node("node-1")
        node.add_pod(make_pod("a", cpu="1", memory="1Gi"))
        assert least_allocated_scores(make_pod(cpu="500m", memory="1Gi"), [node], CycleState()) == [37]

    def test_emptier_node_scores_higher(self) -> None:
        """The node with more free cpu and memory wins."""
        nodes = nodes_with([make_pod("a", cpu="1", memory="2Gi")], [])
        busy, free = least_allocated_scores(make_pod(cpu="100m", memory="100Mi"), nodes, CycleState())
        assert free > busy

    def test_overcommitted_resource_scores_zero(self) -> None:
        """Requests above capacity score 0 for that resource."""
        node = make_node("node-1", cpu="1")
        node.add_pod(make_pod("a", cpu="1", memory="0"))
        assert least_allocated_scores(make_pod(cpu="500m", memory="0"), [node], CycleState()) == [(0 + 100) // 2]

    def test_pods_without_requests_still_count(self) -> None:
        """Request-less pods count 100m/200Mi each, so they spread too."""
        nodes = nodes_with([make_pod("a"), make_pod("b")], [])
        crowded, empty = least_allocated_scores(make_pod(), nodes, CycleState())
        assert empty > crowded


class TestSelectorSpread:
    def test_fewer_pods_of_the_same_controller_scores_higher(self) -> None:
        """Counts of the same ReplicaSet's pods [2, 0, 1] score [0, 100, 50]."""
        nodes = nodes_with(
            [make_pod("a", owner="rs-1"), make_pod("b", owner="rs-1")],
            [make_pod("c", owner="rs-2")],
            [make_pod("d", owner="rs-1")],
        )
        assert selector_spread_scores(make_pod(owner="rs-1"), nodes, CycleState()) == [0, 100, 50]

    def test_no_group_means_no_preference(self) -> None:
        """A bare pod no Service selects scores 100 everywhere."""
        nodes = nodes_with([make_pod("a", owner="rs-1")], [])
        assert selector_spread_scores(make_pod(), nodes, CycleState()) == [100, 100]

    def test_service_selector_groups_pods(self) -> None:
        """Pods a Service selecting this pod also selects count, in the same namespace only."""
        app = {"app": "web"}
        nodes = nodes_with(
            [make_pod("a", labels=app), make_pod("b", labels=app)],
            [make_pod("c", labels=app, namespace="other"), make_pod("d", labels={"app": "db"})],
        )
        state = CycleState((LabelSelector.from_labels(app),))
        assert selector_spread_scores(make_pod(labels=app), nodes, state) == [0, 100]


class TestTaintTolerationScore:
    def test_untolerated_prefer_no_schedule_taints_lower_the_score(self) -> None:
        """Counts [0, 1, 2] of intolerable PreferNoSchedule taints score [100, 50, 0]."""
        soft = {"effect": "PreferNoSchedule"}
        nodes = [
            make_node("node-1"),
            make_node("node-2", taints=[{"key": "a", **soft}]),
            make_node("node-3", taints=[{"key": "a", **soft}, {"key": "b", **soft}]),
        ]
        assert taint_toleration_scores(make_pod(), nodes, CycleState()) == [100, 50, 0]

    def test_tolerated_taints_do_not_count(self) -> None:
        """A toleration (with effect PreferNoSchedule or none) removes the penalty."""
        nodes = [make_node("node-1"), make_node("node-2", taints=[{"key": "a", "effect": "PreferNoSchedule"}])]
        pod = make_pod(tolerations=[{"key": "a", "operator": "Exists"}])
        assert taint_toleration_scores(pod, nodes, CycleState()) == [100, 100]


class TestNodeAffinityScore:
    def test_preferred_terms_add_their_weights(self) -> None:
        """Weights 80 (zone=a) and 20 (disk=ssd): both, zone only, neither -> [100, 80, 0]."""
        def term(key: str, value: str) -> Obj:
            return {"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}

        pod = make_pod(
            affinity={
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 80, "preference": term("zone", "a")},
                        {"weight": 20, "preference": term("disk", "ssd")},
                    ]
                }
            }
        )
        nodes = [
            make_node("node-1", labels={"zone": "a", "disk": "ssd"}),
            make_node("node-2", labels={"zone": "a"}),
            make_node("node-3", labels={"zone": "b"}),
        ]
        assert node_affinity_scores(pod, nodes, CycleState()) == [100, 80, 0]

    def test_no_preferences_score_zero(self) -> None:
        """Without preferred terms every node scores 0."""
        assert node_affinity_scores(make_pod(), [make_node("node-1")], CycleState()) == [0]


class TestPrioritize:
    def test_totals_are_weighted_sums(self) -> None:
        """The total is 3*TaintToleration + 2*NodeAffinity + 2*SelectorSpread + 1*LeastAllocated."""
        (score,) = prioritize(make_pod(cpu="1", memory="2Gi"), [make_node("node-1")])
        parts = dict(score.parts)
        assert parts == {"TaintToleration": 100, "NodeAffinity": 0, "SelectorSpread": 100, "NodeResourcesLeastAllocated": 50}
        assert score.total == 3 * 100 + 2 * 0 + 2 * 100 + 50

    def test_replicas_spread_over_equal_nodes(self) -> None:
        """A ReplicaSet's next pod prefers the node with fewest of its siblings."""
        nodes = nodes_with([make_pod("a", owner="rs-1")], [], [make_pod("b", owner="rs-1")])
        scores = prioritize(make_pod(owner="rs-1"), nodes)
        assert select_host(scores, random.Random(0)) == "node-2"


class TestSelectHost:
    def test_highest_total_wins(self) -> None:
        """The best node is chosen regardless of order."""
        scores = [NodeScore("node-1", 10), NodeScore("node-2", 30), NodeScore("node-3", 20)]
        assert select_host(scores, random.Random(0)) == "node-2"

    def test_ties_are_broken_uniformly(self) -> None:
        """Among equal totals each node is picked about as often."""
        rng = random.Random(42)
        scores = [NodeScore(f"node-{i}", 50) for i in range(3)]
        picks = Counter(select_host(scores, rng) for _ in range(3000))
        assert set(picks) == {"node-0", "node-1", "node-2"}
        assert min(picks.values()) > 850

    def test_seeded_random_is_deterministic(self) -> None:
        """The same seed makes the same choices."""
        scores = [NodeScore(f"node-{i}", 50) for i in range(5)]
        first = [select_host(scores, r) for r in [random.Random(7)] for _ in range(10)]
        second = [select_host(scores, r) for r in [random.Random(7)] for _ in range(10)]
        assert first == second

    def test_nothing_to_choose_from(self) -> None:
        """An empty list is a programming error."""
        with pytest.raises(ValueError, match="at least one"):
            select_host([], random.Random(0))


class TestNumFeasibleNodesToFind:
    @pytest.mark.parametrize(
        ("nodes", "percentage", "expected"),
        [(3, 0, 3), (99, 0, 99), (100, 0, 100), (500, 0, 230), (1000, 0, 420), (5000, 0, 500), (1000, 30, 300), (200, 10, 100)],
    )
    def test_adaptive_percentage(self, nodes: int, percentage: int, expected: int) -> None:
        """Small clusters look at every node; large ones stop at 50% - nodes/125 (at least 5%, at least 100 nodes)."""
        assert num_feasible_nodes_to_find(nodes, percentage) == expected


class TestFitErrorMessage:
    def test_kubernetes_example(self) -> None:
        """One tainted node and two too small, for a pod bigger than any node."""
        message = fit_error_message(3, {TAINT_UNREACHABLE: 1, "Insufficient cpu": 2})
        assert message == (
            "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, "
            "2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        )

    def test_example_from_filter_statuses(self) -> None:
        """FitError builds the same message from each node's first failing filter."""
        error = FitError(
            3,
            {
                "node-1": Status((TAINT_UNREACHABLE,), True, "TaintToleration"),
                "node-2": Status(("Insufficient cpu",), True, "NodeResourcesFit"),
                "node-3": Status(("Insufficient cpu",), True, "NodeResourcesFit"),
            },
        )
        assert error.message == (
            "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, "
            "2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        )

    def test_resolvable_nodes_have_no_victims(self) -> None:
        """Nodes full of other pods (not too small) are where preemption looked and found no victims."""
        error = FitError(
            3,
            {
                "node-1": Status((TAINT_UNREACHABLE,), True),
                "node-2": Status(("Insufficient cpu",), False),
                "node-3": Status(("Insufficient cpu",), False),
            },
        )
        assert error.message == (
            "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, "
            "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
            "2 No preemption victims found for incoming pod."
        )

    def test_a_node_counts_once_per_reason(self) -> None:
        """A node short of cpu and memory appears under both."""
        error = FitError(1, {"node-1": Status(("Insufficient cpu", "Insufficient memory"), True)})
        assert error.message == (
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. "
            "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        )

    def test_entries_sort_as_strings(self) -> None:
        """Like Go's sort.Strings on "<count> <reason>": "10 ..." sorts before "2 ..."."""
        message = fit_error_message(12, {"node(s) were unschedulable": 2, "Insufficient cpu": 10})
        assert message.startswith("0/12 nodes are available: 10 Insufficient cpu, 2 node(s) were unschedulable.")

    def test_preemption_policy_never(self) -> None:
        """A pod that may not preempt says so instead of the preemption histogram."""
        error = FitError(1, {"node-1": Status(("Insufficient cpu",), False)}, preemption_policy="Never")
        assert error.message == (
            "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
        )

    def test_no_nodes(self) -> None:
        """With no nodes at all the message is kube-scheduler's ErrNoNodesAvailable."""
        assert fit_error_message(0, {}) == "no nodes available to schedule pods"
        assert FitError(0, {}).message == "no nodes available to schedule pods"
