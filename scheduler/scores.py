"""The scheduler's scores, node choice, and the FailedScheduling message.

Scores follow Kubernetes' ``ScorePlugin`` + ``NormalizeScore`` shape: each
function takes the pod and the *feasible* nodes (those every filter passed)
and returns one score per node in 0..100, already normalised across those
nodes; :func:`prioritize` adds them up with the weights of
kube-scheduler's default profile, and :func:`select_host` takes the best,
breaking ties at random by reservoir sampling (as ``selectHost`` does) with
an injectable :class:`random.Random` so tests are deterministic.

=============================  ======  ========================================
score                          weight  prefers
=============================  ======  ========================================
TaintToleration                3       fewer untolerated PreferNoSchedule taints
NodeAffinity                   2       more matched preferred terms (by weight)
SelectorSpread                 2       fewer pods of the same controller/service
NodeResourcesLeastAllocated    1       more free cpu and memory
=============================  ======  ========================================

Everything here is pure: no I/O, no clock, no state. Per node the work is a
few arithmetic operations on :class:`~scheduler.filters.NodeInfo`'s running
sums (spreading by controller reads a per-node counter), so scoring stays
cheap at a thousand nodes; :func:`num_feasible_nodes_to_find` is
kube-scheduler's cap on how many feasible nodes a large cluster looks for.

:func:`fit_error_message` writes the message of ``FitError.Error()``:
the reasons histogram formatted as ``"<count> <reason>"`` and sorted as
strings, then what preemption (``DefaultPreemption``'s PostFilter) found.
kemu does not preempt, so a node where evicting could help reports "No
preemption victims found for incoming pod" (true while pods carry no
priorities), and a node where it could not reports "Preemption is not
helpful for scheduling"::

    0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: },
    2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.

(one line in the real message).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kemu.api.selectors import LabelSelector
from scheduler.filters import NodeInfo, PodInfo, Status, Taint, Toleration, tolerates

__all__ = [
    "MAX_NODE_SCORE",
    "NO_NODES_AVAILABLE",
    "PREEMPTION_NEVER",
    "PREEMPTION_NOT_HELPFUL",
    "PREEMPTION_NO_VICTIMS",
    "SCORES",
    "CycleState",
    "FitError",
    "NodeScore",
    "ScoreFn",
    "default_normalize_score",
    "fit_error_message",
    "least_allocated_scores",
    "node_affinity_scores",
    "num_feasible_nodes_to_find",
    "prioritize",
    "select_host",
    "selector_spread_scores",
    "taint_toleration_scores",
]

MAX_NODE_SCORE = 100

NO_NODES_AVAILABLE = "no nodes available to schedule pods"
PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
PREEMPTION_NO_VICTIMS = "No preemption victims found for incoming pod"
PREEMPTION_NEVER = "not eligible due to preemptionPolicy=Never."

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5


@dataclass(frozen=True, slots=True)
class CycleState:
    """What the scheduler looked up for one pod before scoring (k8s' PreScore state)."""

    selectors: tuple[LabelSelector, ...] = ()
    """Selectors of the Services in the pod's namespace that select it: pods
    on a node matching any of them count as "the same" for spreading."""


ScoreFn = Callable[[PodInfo, Sequence[NodeInfo], CycleState], list[int]]


def default_normalize_score(scores: Sequence[int], *, reverse: bool = False) -> list[int]:
    """``helper.DefaultNormalizeScore``: scale to 0..100 by the highest raw
    score; ``reverse`` makes the highest raw score the worst.

    Examples: [0, 2, 4] -> [0, 50, 100]; reversed -> [100, 50, 0];
    all zero -> all 0, or all 100 reversed.
    """
    highest = max(scores, default=0)
    if highest == 0:
        return [MAX_NODE_SCORE if reverse else 0 for _ in scores]
    scaled = [MAX_NODE_SCORE * s // highest for s in scores]
    return [MAX_NODE_SCORE - s for s in scaled] if reverse else scaled


def _least_requested(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def least_allocated_scores(pod: PodInfo, nodes: Sequence[NodeInfo], state: CycleState) -> list[int]:
    """``NodeResourcesFit`` with the LeastAllocated strategy: per resource
    ``(capacity - requested) * 100 / capacity``, averaged over cpu and
    memory (weight 1 each, skipping a resource the node has none of), where
    requested counts the pods on the node and this pod with their non-zero
    requests.

    Example: 2 cpu / 4Gi node with 1 cpu and 1Gi requested, a pod asking
    500m and 1Gi: cpu (2000-1500)*100/2000 = 25, memory 50: score 37.
    """
    req = pod.non_zero_requests
    out = []
    for node in nodes:
        alloc = node.allocatable
        total = weights = 0
        for capacity, requested in (
            (alloc.milli_cpu, node.non_zero_milli_cpu + req.milli_cpu),
            (alloc.memory, node.non_zero_memory + req.memory),
        ):
            if capacity > 0:
                total += _least_requested(requested, capacity)
                weights += 1
        out.append(total // weights if weights else 0)
    return out


def _same_group_count(pod: PodInfo, node: NodeInfo, selectors: tuple[LabelSelector, ...]) -> int:
    if not selectors:
        return node.owner_counts.get(pod.controller_uid, 0) if pod.controller_uid else 0
    return sum(
        1
        for other in node.pods.values()
        if other.namespace == pod.namespace
        and (
            (pod.controller_uid is not None and other.controller_uid == pod.controller_uid)
            or any(s.matches(other.labels) for s in selectors)
        )
    )


def selector_spread_scores(pod: PodInfo, nodes: Sequence[NodeInfo], state: CycleState) -> list[int]:
    """``SelectorSpread``: fewer pods of the same group on a node scores higher,
    ``100 * (max - count) / max``. The group is the pod's controller (same
    controller ownerReference uid) and, when Services select the pod, every
    pod those Services select.

    Example: counts [2, 0, 1] -> [0, 100, 50]; no such pods anywhere -> all 100.
    """
    counts = [_same_group_count(pod, node, state.selectors) for node in nodes]
    return default_normalize_score(counts, reverse=True)


def taint_toleration_scores(pod: PodInfo, nodes: Sequence[NodeInfo], state: CycleState) -> list[int]:
    """``TaintToleration`` score: count the node's PreferNoSchedule taints that
    the pod's tolerations (those with effect PreferNoSchedule or empty) do
    not tolerate; fewer is better (reverse normalisation).

    Example: intolerable counts [0, 1, 2] -> [100, 50, 0].
    """
    tolerations = tuple(t for t in pod.tolerations if t.effect in ("", "PreferNoSchedule"))
    counts = [sum(1 for t in node.taints if _prefer_not(t, tolerations)) for node in nodes]
    return default_normalize_score(counts, reverse=True)


def _prefer_not(taint: Taint, tolerations: Sequence[Toleration]) -> bool:
    return taint.effect == "PreferNoSchedule" and not tolerates(tolerations, taint)


def node_affinity_scores(pod: PodInfo, nodes: Sequence[NodeInfo], state: CycleState) -> list[int]:
    """``NodeAffinity`` score: the sum of the weights of the preferred terms
    a node matches, normalised so the best node gets 100.

    Example: terms (weight 80: zone=a) and (weight 20: disk=ssd); nodes
    matching both, zone only, neither -> raw [100, 80, 0] -> [100, 80, 0].
    """
    if not pod.preferred_terms:
        return [0] * len(nodes)
    raw = [
        sum(p.weight for p in pod.preferred_terms if p.term.matches(node.name, node.labels)) for node in nodes
    ]
    return default_normalize_score(raw)


SCORES: tuple[tuple[str, int, ScoreFn], ...] = (
    ("TaintToleration", 3, taint_toleration_scores),
    ("NodeAffinity", 2, node_affinity_scores),
    ("SelectorSpread", 2, selector_spread_scores),
    ("NodeResourcesLeastAllocated", 1, least_allocated_scores),
)
"""(name, weight, score) in kube-scheduler's default profile's weights
(SelectorSpread takes PodTopologySpread's weight)."""


@dataclass(frozen=True, slots=True)
class NodeScore:
    """A feasible node's weighted total and what it was made of."""

    name: str
    total: int
    parts: tuple[tuple[str, int], ...] = ()
    """(score name, unweighted 0..100 score), for the debug log."""


def prioritize(
    pod: PodInfo,
    nodes: Sequence[NodeInfo],
    state: CycleState = CycleState(),
    scores: Sequence[tuple[str, int, ScoreFn]] = SCORES,
) -> list[NodeScore]:
    """Every score on every feasible node, weighted and summed."""
    columns = [(name, weight, fn(pod, nodes, state)) for name, weight, fn in scores]
    return [
        NodeScore(
            node.name,
            sum(weight * col[i] for _, weight, col in columns),
            tuple((name, col[i]) for name, _, col in columns),
        )
        for i, node in enumerate(nodes)
    ]


def select_host(node_scores: Sequence[NodeScore], rng: random.Random) -> str:
    """The node with the highest total; among equals each is equally likely
    (reservoir sampling: the n-th equal replaces the choice with chance 1/n)."""
    if not node_scores:
        raise ValueError("select_host needs at least one scored node")
    best = node_scores[0]
    ties = 1
    for candidate in node_scores[1:]:
        if candidate.total > best.total:
            best, ties = candidate, 1
        elif candidate.total == best.total:
            ties += 1
            if rng.randrange(ties) == 0:
                best = candidate
    return best.name


def num_feasible_nodes_to_find(num_all_nodes: int, percentage: int = 0) -> int:
    """How many feasible nodes to look for before scoring
    (``numFeasibleNodesToFind``): all of them below 100 nodes; otherwise
    ``percentage`` of them (0: adaptive, ``50 - nodes/125`` and at least
    5%), and never fewer than 100.

    Examples: 3 -> 3; 500 -> 500*46% = 230; 5000 -> 5000*10% = 500.
    """
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND or percentage >= 100:
        return num_all_nodes
    if percentage <= 0:
        percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    return max(num_all_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


# -- the FailedScheduling message ----------------------------------------------------------


def _histogram(num_nodes: int, reasons: Mapping[str, int]) -> str:
    message = f"0/{num_nodes} nodes are available:"
    parts = sorted(f"{count} {reason}" for reason, count in reasons.items() if count > 0)
    if parts:
        message += f" {', '.join(parts)}."
    return message


def fit_error_message(
    num_nodes: int,
    reasons: Mapping[str, int],
    preemption: Mapping[str, int] | str | None = None,
) -> str:
    """The FailedScheduling message, as ``FitError.Error()`` writes it.

    ``reasons`` counts nodes per filter reason; a node with two reasons
    ("Insufficient cpu" and "Insufficient memory") counts in both. The
    entries are written ``"<count> <reason>"`` and sorted as strings, as Go's
    ``sort.Strings`` does ("1 node(s) ..." before "2 Insufficient cpu").
    ``preemption`` is what the preemption attempt found: counts per outcome,
    or a sentence; by default every node is "Preemption is not helpful for
    scheduling". With no nodes at all the message is kube-scheduler's
    ``ErrNoNodesAvailable``.

    >>> fit_error_message(3, {"Insufficient cpu": 2, "node(s) had untolerated taint {node.kubernetes.io/unreachable: }": 1})
    '0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.'
    """  # noqa: E501 (the doctest shows the whole message)
    if num_nodes <= 0:
        return NO_NODES_AVAILABLE
    if preemption is None:
        preemption = {PREEMPTION_NOT_HELPFUL: num_nodes}
    post = preemption if isinstance(preemption, str) else _histogram(num_nodes, preemption)
    return f"{_histogram(num_nodes, reasons)} preemption: {post}"


@dataclass(frozen=True, slots=True)
class FitError:
    """No node fits a pod: the filter status of every node, and the message."""

    num_nodes: int
    statuses: Mapping[str, Status]
    """Node name -> the first filter that rejected it."""
    preemption_policy: str = "PreemptLowerPriority"
    """The pod's ``spec.preemptionPolicy`` (``Never`` changes the message)."""

    def reasons(self) -> Counter[str]:
        """Nodes per reason."""
        counts: Counter[str] = Counter()
        for status in self.statuses.values():
            counts.update(status.reasons)
        return counts

    def preemption(self) -> Mapping[str, int] | str:
        """What ``DefaultPreemption`` would report, preemption itself aside:
        nodes where evicting cannot help (an unresolvable filter, or a pod
        bigger than the node) are "not helpful"; the others have no victims,
        since kemu's pods carry no priorities to preempt by."""
        if self.preemption_policy == "Never":
            return PREEMPTION_NEVER
        resolvable = sum(1 for s in self.statuses.values() if not s.unresolvable)
        return {PREEMPTION_NOT_HELPFUL: self.num_nodes - resolvable, PREEMPTION_NO_VICTIMS: resolvable}

    @property
    def message(self) -> str:
        return fit_error_message(self.num_nodes, self.reasons(), self.preemption())

    def __str__(self) -> str:
        return self.message
