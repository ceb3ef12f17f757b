"""The arithmetic and bookkeeping of a Deployment rollout, as pure functions.

Everything the Deployment controller (:mod:`controllermanager.deployment`)
*decides* lives here; the controller only reads caches, calls these, and
writes. Nothing in this module touches the network, a clock or a lock, so
each rule reads (and is tested, ``tests/unit/test_rollout_logic.py``) like the
worked examples of Kubernetes' documentation and of
``pkg/controller/deployment/util/deployment_util.go``.

The rules, in the order a rolling update meets them:

1. **Fenceposts** (:func:`resolve_fenceposts`). ``maxSurge`` and
   ``maxUnavailable`` are integers or percentages of ``spec.replicas``; a
   surge percentage rounds *up*, an unavailability percentage rounds *down*
   (so both err on the side of availability), and when both come out 0 the
   unavailability becomes 1 (otherwise nothing could ever move).
2. **Scale up the new ReplicaSet** (:func:`new_rs_replicas_rolling`) while
   the total of every ReplicaSet's ``spec.replicas`` stays within
   ``replicas + maxSurge``.
3. **Scale down old ReplicaSets**: first their *unhealthy* replicas
   (:func:`cleanup_unhealthy`), which cannot lower availability, then
   available ones (:func:`scale_down_old`), only while at least
   ``replicas - maxUnavailable`` pods stay available.
4. **Proportional scaling** (:func:`proportional_scale`): when
   ``spec.replicas`` changes in the middle of a rollout, the difference is
   spread over the active ReplicaSets in proportion to their size, using the
   ``deployment.kubernetes.io/max-replicas`` annotation each ReplicaSet was
   last scaled with; leftovers go to the largest.
5. **Revisions** (:func:`sync_new_rs_annotations`): every ReplicaSet carries
   ``deployment.kubernetes.io/revision``; the newest is ``max(old) + 1``; a
   ReplicaSet brought back by a rollback gets a new number and remembers its
   old ones in ``deployment.kubernetes.io/revision-history``.
6. **Identity** (:func:`pod_template_hash`): one ReplicaSet per pod template,
   named ``<deployment>-<hash>``, the hash an FNV-1a of the canonical template
   (and ``status.collisionCount``) in Kubernetes' safe alphabet;
   :func:`new_replica_set` is the whole body the controller creates.
7. **Progress** (:func:`deployment_complete`, :func:`deployment_progressing`,
   :func:`deployment_timed_out`) and the conditions they set
   (:func:`set_condition`).

Objects are the plain dicts of the API (``Obj``); counts are ``int``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from kemu.types import Obj

__all__ = [
    "ANNOTATIONS_TO_SKIP",
    "AVAILABLE",
    "CHANGE_CAUSE_ANNOTATION",
    "DESIRED_REPLICAS_ANNOTATION",
    "MAX_REPLICAS_ANNOTATION",
    "MAX_REV_HISTORY_LENGTH",
    "POD_TEMPLATE_HASH_LABEL",
    "PROGRESSING",
    "REPLICA_FAILURE",
    "REVISION_ANNOTATION",
    "REVISION_HISTORY_ANNOTATION",
    "SAFE_ALPHABET",
    "Reason",
    "ReplicaSetShare",
    "TimeParser",
    "by_creation",
    "by_revision",
    "calculate_status",
    "cleanup_unhealthy",
    "copy_deployment_annotations",
    "deployment_complete",
    "deployment_progressing",
    "deployment_timed_out",
    "desired_replicas_annotation",
    "equal_ignore_hash",
    "find_active_or_latest",
    "find_new_replica_set",
    "fnv1a_32",
    "get_condition",
    "has_progress_deadline",
    "is_saturated",
    "max_replicas_annotation",
    "max_revision",
    "max_scaled_down",
    "max_surge",
    "max_unavailable",
    "new_condition",
    "new_replica_set",
    "new_rs_replicas_rolling",
    "pod_template_hash",
    "proportional_scale",
    "remove_condition",
    "replica_set_fraction",
    "replica_set_proportion",
    "replica_sets_to_clean",
    "replicas_annotations",
    "requeue_after",
    "resolve_fenceposts",
    "revision_of",
    "rollout_status",
    "round_half_up",
    "safe_encode",
    "scale_down_old",
    "scaled_value",
    "set_condition",
    "spec_replicas",
    "status_count",
    "sync_new_rs_annotations",
]

TimeParser = Callable[[str], "float | None"]
"""Turns an RFC 3339 text into epoch seconds (``kemu.clock.parse_rfc3339``)."""

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
"""The revision of a ReplicaSet (and of its Deployment: the newest)."""
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
"""Earlier revisions of a ReplicaSet that a rollback brought back, comma-separated."""
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
"""``spec.replicas`` of the Deployment when it last scaled this ReplicaSet."""
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
"""``spec.replicas + maxSurge`` of the Deployment when it last scaled this ReplicaSet."""
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
"""Why a revision was made; copied from the Deployment to its new ReplicaSet."""
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
"""The label that keeps the ReplicaSets of one Deployment apart (``DefaultDeploymentUniqueLabelKey``)."""
MAX_REV_HISTORY_LENGTH = 2000
"""Characters of ``revision-history`` kept at most (``maxRevHistoryLengthInChars``)."""

ANNOTATIONS_TO_SKIP = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        "deprecated.deployment.rollback.to",
    }
)
"""Deployment annotations never copied to a ReplicaSet (and kept by a rollback)."""

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""``rand.SafeEncodeString``'s alphabet: no vowels (no words), no 0/1/3 (no look-alikes)."""

AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"


class Reason:
    """The reasons of a Deployment's conditions, as ``deployment_util.go`` names them."""

    MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
    MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"
    NEW_RS_CREATED = "NewReplicaSetCreated"
    FOUND_NEW_RS = "FoundNewReplicaSet"
    RS_UPDATED = "ReplicaSetUpdated"
    NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
    TIMED_OUT = "ProgressDeadlineExceeded"
    FAILED_RS_CREATE = "ReplicaSetCreateError"
    PAUSED = "DeploymentPaused"
    RESUMED = "DeploymentResumed"


# -- fenceposts -------------------------------------------------------------------------------


def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int:
    """An ``IntOrString`` resolved against ``total`` (``GetScaledValueFromIntOrPercent``).

    >>> scaled_value("25%", 10, round_up=True), scaled_value("25%", 10, round_up=False)
    (3, 2)
    >>> scaled_value(3, 10, round_up=True)
    3
    >>> scaled_value(None, 10, round_up=True)
    0

    A malformed string raises ``ValueError``, a value of another type
    ``TypeError`` (validation keeps both out).
    """
    if value is None:
        return 0
    if isinstance(value, bool):
        raise TypeError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if value.endswith("%"):
            try:
                percent = int(value[:-1])
            except ValueError:
                raise ValueError(f"invalid value for IntOrString: invalid value {value!r}") from None
            scaled = percent * total
            return -((-scaled) // 100) if round_up else scaled // 100
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {value!r}") from None
    raise TypeError(f"invalid value for IntOrString: {value!r}")


def resolve_fenceposts(surge: int | str | None, unavailable: int | str | None, desired: int) -> tuple[int, int]:
    """``(maxSurge, maxUnavailable)`` as pod counts for ``desired`` replicas.

    Surge rounds up, unavailability rounds down; if both are 0,
    unavailability becomes 1 (Kubernetes' ``ResolveFenceposts``).

    10 replicas, maxSurge 3, maxUnavailable 2: at most 13 pods, at least 8 available.

    >>> resolve_fenceposts(3, 2, 10)
    (3, 2)

    The defaults, 25% each, on 10 replicas: 2.5 rounds to 3 up and 2 down.

    >>> resolve_fenceposts("25%", "25%", 10)
    (3, 2)

    1 replica, maxSurge 0, maxUnavailable 25% (0.25 rounds down to 0): both 0,
    so one pod may be unavailable and the rollout can move.

    >>> resolve_fenceposts(0, "25%", 1)
    (0, 1)
    """
    s = scaled_value(surge if surge is not None else 0, desired, round_up=True)
    u = scaled_value(unavailable if unavailable is not None else 0, desired, round_up=False)
    if s == 0 and u == 0:
        u = 1
    return s, u


def _replicas(deploy: Obj) -> int:
    spec = deploy.get("spec") or {}
    return int(spec["replicas"]) if spec.get("replicas") is not None else 1


def _rolling(deploy: Obj) -> Obj | None:
    strategy = (deploy.get("spec") or {}).get("strategy") or {}
    if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
        return None
    return strategy.get("rollingUpdate") or {}


def max_surge(deploy: Obj) -> int:
    """The Deployment's ``maxSurge`` in pods; 0 unless it rolls (``MaxSurge``).

    >>> max_surge({"spec": {"replicas": 3, "strategy": {"type": "RollingUpdate",
    ...     "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}})
    1
    >>> max_surge({"spec": {"replicas": 3, "strategy": {"type": "Recreate"}}})
    0
    """
    rolling = _rolling(deploy)
    if rolling is None:
        return 0
    return resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), _replicas(deploy))[0]


def max_unavailable(deploy: Obj) -> int:
    """The Deployment's ``maxUnavailable`` in pods, never more than
    ``spec.replicas``; 0 unless it rolls or when it has no replicas.

    >>> max_unavailable({"spec": {"replicas": 3, "strategy": {"type": "RollingUpdate",
    ...     "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}})
    0
    >>> max_unavailable({"spec": {"replicas": 1, "strategy": {"type": "RollingUpdate",
    ...     "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 5}}}})
    1
    """
    rolling = _rolling(deploy)
    replicas = _replicas(deploy)
    if rolling is None or replicas == 0:
        return 0
    unavailable = resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"), replicas)[1]
    return min(unavailable, replicas)


# -- the rolling-update ladder -------------------------------------------------------------------


def new_rs_replicas_rolling(desired: int, surge: int, current_total: int, new_rs_replicas: int) -> int:
    """The new ReplicaSet's next size in a rolling update (``NewRSNewReplicas``).

    ``current_total`` is every ReplicaSet's pod count (new and old); the new
    set grows by what the surge allows, never past ``desired``.

    10 replicas, maxSurge 3: the new ReplicaSet starts at 3 (13 pods in all);
    it cannot grow again until old pods are scaled down.

    >>> new_rs_replicas_rolling(10, 3, current_total=10, new_rs_replicas=0)
    3
    >>> new_rs_replicas_rolling(10, 3, current_total=13, new_rs_replicas=3)
    3

    Old sets scaled down to 5, so 8 pods in all: the new one grows to 8, and
    at the end it stops at ``desired``.

    >>> new_rs_replicas_rolling(10, 3, current_total=8, new_rs_replicas=3)
    8
    >>> new_rs_replicas_rolling(10, 3, current_total=10, new_rs_replicas=8)
    10
    """
    max_total = desired + surge
    if current_total >= max_total:
        return new_rs_replicas
    step = min(max_total - current_total, desired - new_rs_replicas)
    return new_rs_replicas + max(0, step)


def max_scaled_down(all_pods: int, desired: int, unavailable: int, new_rs_unavailable: int) -> int:
    """Old pods that may go this round (``reconcileOldReplicaSets``):
    ``all_pods - (desired - maxUnavailable) - newRSUnavailable``.

    Unavailable pods of the *new* set count against the budget, so a new
    ReplicaSet that crash-loops never lets the old one shrink further.

    10 replicas, maxSurge 3, maxUnavailable 2; the new set was scaled to 5 and
    the old one to 8 (13 pods), but no new pod ever becomes available:
    13 - 8 - 5 = 0, nothing more goes.

    >>> max_scaled_down(13, 10, 2, new_rs_unavailable=5)
    0

    After ``rollout undo`` the "new" set is the old, healthy one with one pod
    still to become available: 13 - 8 - 1 = 4 crash-looping pods may go.

    >>> max_scaled_down(13, 10, 2, new_rs_unavailable=1)
    4
    """
    return all_pods - (desired - unavailable) - new_rs_unavailable


def cleanup_unhealthy(old: Sequence[tuple[int, int]], max_cleanup: int) -> list[int]:
    """New sizes for old ReplicaSets after removing unhealthy replicas first
    (``cleanupUnhealthyReplicas``); ``old`` is ``(replicas, available)`` per
    set, oldest first, and at most ``max_cleanup`` pods go in all.

    Unhealthy pods can go without lowering availability: an old set of 5 with
    2 available and another of 3 with 3 available, budget 4: the first sheds
    its 3 unhealthy pods, the second none.

    >>> cleanup_unhealthy([(5, 2), (3, 3)], max_cleanup=4)
    [2, 3]
    >>> cleanup_unhealthy([(5, 2), (3, 1)], max_cleanup=4)
    [2, 2]
    """
    sizes = [replicas for replicas, _ in old]
    total = 0
    for i, (replicas, available) in enumerate(old):
        if total >= max_cleanup:
            break
        unhealthy = replicas - min(available, replicas)
        if replicas == 0 or unhealthy <= 0:
            continue
        step = min(max_cleanup - total, unhealthy)
        sizes[i] = replicas - step
        total += step
    return sizes


def scale_down_old(old: Sequence[int], available: int, min_available: int) -> list[int]:
    """New sizes for old ReplicaSets (oldest first) so that at least
    ``min_available`` pods stay available (``scaleDownOldReplicaSetsForRollingUpdate``).

    10 replicas, maxUnavailable 2 (8 must stay available), 3 new pods just
    became available beside the 10 old ones: 13 - 8 = 5 old pods may go.

    >>> scale_down_old([10], available=13, min_available=8)
    [5]

    Two old sets, the oldest emptied first:

    >>> scale_down_old([2, 6], available=10, min_available=8)
    [0, 6]
    >>> scale_down_old([10], available=8, min_available=8)
    [10]
    """
    budget = available - min_available
    sizes = list(old)
    if budget <= 0:
        return sizes
    for i, replicas in enumerate(sizes):
        if budget <= 0:
            break
        if replicas == 0:
            continue
        step = min(replicas, budget)
        sizes[i] = replicas - step
        budget -= step
    return sizes


# -- proportional scaling ----------------------------------------------------------------------


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero (Go's
    ``math.Round``), exactly, for non-negative values.

    >>> round_half_up(144, 13), round_half_up(5, 2), round_half_up(4, 3)
    (11, 3, 1)
    """
    return (2 * numerator + denominator) // (2 * denominator)


def replica_set_fraction(
    rs_replicas: int, rs_max_replicas: int | None, desired: int, surge: int, status_replicas: int
) -> int:
    """How many pods a ReplicaSet should gain (or lose) when its Deployment
    is resized (``getReplicaSetFraction``): its size scaled by
    ``(replicas + maxSurge) / max-replicas annotation``, minus its size.

    A ReplicaSet of 8 last scaled when the Deployment allowed 13 pods, now
    allowed 18 (15 replicas + 3 surge): 8 x 18/13 = 11.08, so +3.

    >>> replica_set_fraction(8, 13, desired=15, surge=3, status_replicas=13)
    3

    Scaling to 0 removes everything; without the annotation the Deployment's
    ``status.replicas`` stands in for it.

    >>> replica_set_fraction(8, 13, desired=0, surge=0, status_replicas=13)
    -8
    >>> replica_set_fraction(5, None, desired=15, surge=3, status_replicas=13)
    2
    """
    if desired == 0:
        return -rs_replicas
    before = rs_max_replicas or 0
    if before == 0:
        before = status_replicas
        if before == 0:
            return 0
    return round_half_up(rs_replicas * (desired + surge), before) - rs_replicas


def replica_set_proportion(fraction: int, rs_replicas: int, to_add: int, added: int) -> int:
    """A ReplicaSet's share of ``to_add`` given what was already ``added``
    (``GetReplicaSetProportion``): its fraction, capped so the total never
    overshoots. Empty sets get nothing.

    >>> replica_set_proportion(3, 8, to_add=5, added=0)
    3
    >>> replica_set_proportion(3, 5, to_add=5, added=4)
    1
    >>> replica_set_proportion(-3, 8, to_add=-2, added=0)
    -2
    >>> replica_set_proportion(3, 0, to_add=5, added=0)
    0
    """
    if rs_replicas == 0 or to_add == 0 or to_add == added:
        return 0
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


class ReplicaSetShare(NamedTuple):
    """One active ReplicaSet as proportional scaling sees it."""

    name: str
    """The ReplicaSet's name."""
    replicas: int
    """Its ``spec.replicas``."""
    max_replicas: int | None
    """Its ``deployment.kubernetes.io/max-replicas`` annotation (None when missing)."""


def proportional_scale(
    active: Sequence[ReplicaSetShare], desired: int, surge: int, status_replicas: int
) -> tuple[dict[str, int], str]:
    """New sizes for a Deployment's active ReplicaSets when its replica count
    changed mid-rollout (the proportional part of ``scale`` in ``sync.go``),
    and the direction (``"up"``, ``"down"`` or ``""``).

    ``active`` is in creation order, oldest first. The Deployment may have
    ``desired + surge`` pods (0 when ``desired`` is 0); the difference with
    today's total is shared in proportion to each set's size, biggest first
    (newest first among equals when growing, oldest first when shrinking);
    rounding leftovers go to the first, the biggest.

    The Kubernetes documentation's example: 10 replicas, maxSurge 3,
    maxUnavailable 2, a rollout stuck on an image that cannot be pulled (old
    set at 8, new at 5), then scaled to 15 replicas. 5 more pods are allowed:
    3 go to the old ReplicaSet and 2 to the new one.

    >>> proportional_scale([ReplicaSetShare("old", 8, 13), ReplicaSetShare("new", 5, 13)],
    ...                    desired=15, surge=3, status_replicas=13)
    ({'old': 11, 'new': 7}, 'up')

    Scaled down to 5 instead (8 pods allowed, 5 fewer): 3 old and 2 new go.

    >>> proportional_scale([ReplicaSetShare("old", 8, 13), ReplicaSetShare("new", 5, 13)],
    ...                    desired=5, surge=3, status_replicas=13)
    ({'old': 5, 'new': 3}, 'down')
    """
    allowed = desired + surge if desired > 0 else 0
    to_add = allowed - sum(rs.replicas for rs in active)
    indexed = list(enumerate(active))
    if to_add > 0:
        indexed.sort(key=lambda item: (-item[1].replicas, -item[0]))
        direction = "up"
    elif to_add < 0:
        indexed.sort(key=lambda item: (-item[1].replicas, item[0]))
        direction = "down"
    else:
        direction = ""
    sizes: dict[str, int] = {}
    added = 0
    for _, rs in indexed:
        if to_add != 0:
            fraction = replica_set_fraction(rs.replicas, rs.max_replicas, desired, surge, status_replicas)
            share = replica_set_proportion(fraction, rs.replicas, to_add, added)
            sizes[rs.name] = rs.replicas + share
            added += share
        else:
            sizes[rs.name] = rs.replicas
    if indexed and to_add != 0:
        first = indexed[0][1].name
        sizes[first] = max(0, sizes[first] + to_add - added)
    return {rs.name: sizes[rs.name] for rs in active}, direction


def replicas_annotations(desired: int, max_replicas: int) -> dict[str, str]:
    """The annotations a Deployment writes on every ReplicaSet it scales.

    >>> replicas_annotations(10, 13)
    {'deployment.kubernetes.io/desired-replicas': '10', 'deployment.kubernetes.io/max-replicas': '13'}
    """
    return {DESIRED_REPLICAS_ANNOTATION: str(desired), MAX_REPLICAS_ANNOTATION: str(max_replicas)}


# -- identity: the pod-template hash ----------------------------------------------------------------


def fnv1a_32(data: bytes) -> int:
    """The 32-bit FNV-1a hash (Go's ``hash/fnv.New32a``).

    >>> fnv1a_32(b""), fnv1a_32(b"a")
    (2166136261, 3826002220)
    """
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """Kubernetes' ``rand.SafeEncodeString``: each byte picks a letter of
    :data:`SAFE_ALPHABET` (byte modulo 27), so a decimal number becomes a
    short string with no vowels and no look-alike digits.

    >>> safe_encode("1234567890")
    '56789bcdf4'
    """
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in text.encode())


def pod_template_hash(template: Obj, collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of a Deployment's pod template (``ComputeHash``).

    Kubernetes hashes the Go struct; kemu hashes the canonical JSON of the
    template (sorted keys, no spaces), then, when the Deployment has a
    ``status.collisionCount``, its 8 little-endian bytes, and encodes the
    decimal FNV-1a value in the safe alphabet. Same template, same hash, in
    every process and after every restart; a new collision count gives a new
    name when two templates ever collide.

    >>> t = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}
    >>> pod_template_hash(t) == pod_template_hash(json.loads(json.dumps(t)))
    True
    >>> pod_template_hash(t) != pod_template_hash(t, collision_count=1)
    True
    """
    data = json.dumps(semantic(template), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if collision_count is not None:
        data += (int(collision_count) & 0xFFFFFFFF).to_bytes(4, "little") + b"\x00" * 4
    return safe_encode(str(fnv1a_32(data)))


def new_replica_set(
    deploy: Obj,
    *,
    new_revision: int,
    desired: int,
    max_replicas: int,
    current_total: int,
    owner_ref: Mapping[str, Any],
) -> Obj:
    """The body of a Deployment's new ReplicaSet (``getNewReplicaSet`` in
    ``pkg/controller/deployment/sync.go``, the create branch).

    The pod template is the Deployment's, with ``pod-template-hash`` added to
    its labels; the selector is the Deployment's with the same label added;
    the ReplicaSet is named ``<deployment>-<hash>`` (deterministic, so a
    retried create is idempotent), labelled like its template, owned by the
    Deployment (``owner_ref``, a controller reference), and carries
    ``minReadySeconds``, the Deployment's annotations and the revision,
    desired- and max-replicas annotations (``SetNewReplicaSetAnnotations``).
    ``spec.replicas`` is ``NewRSNewReplicas`` for a set that has none yet:
    all of ``desired`` with ``Recreate`` (the old sets are already at 0),
    else what ``maxSurge`` allows on top of ``current_total`` (the pods of
    the old sets). ``deploy`` is not changed.

    >>> d = {"metadata": {"name": "web", "namespace": "prod", "annotations": {"team": "a"}},
    ...      "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
    ...               "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}}}
    >>> rs = new_replica_set(d, new_revision=1, desired=3, max_replicas=4, current_total=0, owner_ref={"uid": "u"})
    >>> rs["metadata"]["name"] == "web-" + rs["metadata"]["labels"]["pod-template-hash"]
    True
    >>> rs["spec"]["replicas"], rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
    (3, '1')
    """
    meta = deploy.get("metadata") or {}
    spec = deploy.get("spec") or {}
    collision = (deploy.get("status") or {}).get("collisionCount")
    template: Obj = copy.deepcopy(spec.get("template") or {})
    pod_hash = pod_template_hash(template, collision)
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), POD_TEMPLATE_HASH_LABEL: pod_hash}
    selector: Obj = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_TEMPLATE_HASH_LABEL: pod_hash}
    if str((spec.get("strategy") or {}).get("type") or "RollingUpdate") == "Recreate":
        replicas = desired
    else:
        replicas = new_rs_replicas_rolling(desired, max_surge(deploy), current_total, 0)
    annotations, _ = sync_new_rs_annotations(
        meta.get("annotations") or {}, {}, new_revision, exists=False, desired=desired, max_replicas=max_replicas
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{pod_hash}",
            "namespace": meta.get("namespace", "default"),
            "labels": dict(tmeta["labels"]),
            "annotations": annotations,
            "ownerReferences": [dict(owner_ref)],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": spec.get("minReadySeconds") or 0,
            "selector": selector,
            "template": template,
        },
    }


def semantic(value: Any) -> Any:
    """``value`` without the keys Go would omit: null, ``{}`` and ``[]``.

    Kubernetes compares and hashes templates as Go structs, where
    ``creationTimestamp: null``, ``resources: {}`` and an absent field are
    the same thing; kubectl's ``rollout undo`` sends such a template back.

    >>> semantic({"metadata": {"creationTimestamp": None, "labels": {"a": "b"}}, "spec": {"resources": {}}})
    {'metadata': {'labels': {'a': 'b'}}}
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = semantic(item)
            if item is None or item == {} or item == []:
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [semantic(item) for item in value]
    return value


def _without_hash(template: Obj | None) -> Obj:
    template = dict(template or {})
    meta = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != POD_TEMPLATE_HASH_LABEL}
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    if meta:
        template["metadata"] = meta
    else:
        template.pop("metadata", None)
    return template


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    """True when two pod templates differ at most by ``pod-template-hash``
    (``EqualIgnoreHash``): how a Deployment recognises its ReplicaSet.

    >>> equal_ignore_hash({"metadata": {"labels": {"app": "web", "pod-template-hash": "5d4b7c9f8"}}},
    ...                   {"metadata": {"labels": {"app": "web"}}})
    True
    """
    return bool(semantic(_without_hash(a)) == semantic(_without_hash(b)))


# -- revisions ---------------------------------------------------------------------------------


def revision_of(obj: Obj) -> int | None:
    """The ``deployment.kubernetes.io/revision`` of an object, or None when
    missing or not a number.

    >>> revision_of({"metadata": {"annotations": {"deployment.kubernetes.io/revision": "3"}}})
    3
    >>> revision_of({"metadata": {}}) is None
    True
    """
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def max_revision(objs: Iterable[Obj]) -> int:
    """The highest revision among ``objs`` (0 when none has one): the next
    new ReplicaSet gets this + 1 (``MaxRevision``)."""
    return max((r for r in (revision_of(o) for o in objs) if r is not None), default=0)


def copy_deployment_annotations(deploy_annotations: Mapping[str, str], rs_annotations: dict[str, str]) -> bool:
    """Copy the Deployment's annotations onto a ReplicaSet's, except
    :data:`ANNOTATIONS_TO_SKIP` (``copyDeploymentAnnotationsToReplicaSet``);
    True when something changed. This is how ``kubernetes.io/change-cause``
    reaches the revision it describes."""
    changed = False
    for key, value in deploy_annotations.items():
        if key in ANNOTATIONS_TO_SKIP or rs_annotations.get(key) == value:
            continue
        rs_annotations[key] = value
        changed = True
    return changed


def sync_new_rs_annotations(
    deploy_annotations: Mapping[str, str],
    rs_annotations: Mapping[str, str],
    new_revision: int,
    *,
    exists: bool,
    desired: int,
    max_replicas: int,
    max_history_chars: int = MAX_REV_HISTORY_LENGTH,
) -> tuple[dict[str, str], bool]:
    """The new ReplicaSet's annotations, and whether they changed
    (``SetNewReplicaSetAnnotations``).

    - the Deployment's annotations are copied (change-cause included);
    - the revision is raised to ``new_revision`` when lower (never lowered:
      old sets may have been deleted since);
    - a set that already had a revision and gets a new one is coming back
      (a rollback): its old number joins ``revision-history``;
    - a set about to be created gets the replicas annotations.

    ``rollout undo`` to revision 1 when revision 2 is current: the set of
    revision 1 becomes revision 3 and remembers 1.

    >>> ann, changed = sync_new_rs_annotations({}, {"deployment.kubernetes.io/revision": "1"}, 3,
    ...                                        exists=True, desired=3, max_replicas=4)
    >>> ann["deployment.kubernetes.io/revision"], ann["deployment.kubernetes.io/revision-history"], changed
    ('3', '1', True)
    """
    out = dict(rs_annotations)
    changed = copy_deployment_annotations(deploy_annotations, out)
    old_text = out.get(REVISION_ANNOTATION)
    try:
        old = int(old_text) if old_text is not None else 0
    except ValueError:
        return out, changed
    if old < new_revision:
        out[REVISION_ANNOTATION] = str(new_revision)
        changed = True
        if old_text is not None:
            history = out.get(REVISION_HISTORY_ANNOTATION, "")
            if not history:
                out[REVISION_HISTORY_ANNOTATION] = old_text
            else:
                parts = history.split(",")
                total = len(history) + len(old_text) + 1
                start = 0
                while total > max_history_chars and start < len(parts):
                    total -= len(parts[start]) + 1
                    start += 1
                if total <= max_history_chars:
                    out[REVISION_HISTORY_ANNOTATION] = ",".join([*parts[start:], old_text])
    if not exists:
        wanted = replicas_annotations(desired, max_replicas)
        if any(out.get(k) != v for k, v in wanted.items()):
            out.update(wanted)
            changed = True
    return out, changed


# -- progress and conditions -----------------------------------------------------------------------


def has_progress_deadline(deploy: Obj) -> bool:
    """True when ``progressDeadlineSeconds`` is set (and not MaxInt32, "no deadline")."""
    value = (deploy.get("spec") or {}).get("progressDeadlineSeconds")
    return value is not None and int(value) != 2**31 - 1


def deployment_complete(deploy: Obj, status: Obj) -> bool:
    """Every desired replica updated and available, no old pod left, and the
    latest spec observed (``DeploymentComplete``).

    >>> d = {"metadata": {"generation": 2}, "spec": {"replicas": 3}}
    >>> deployment_complete(d, {"updatedReplicas": 3, "replicas": 3, "availableReplicas": 3, "observedGeneration": 2})
    True
    >>> deployment_complete(d, {"updatedReplicas": 3, "replicas": 4, "availableReplicas": 3, "observedGeneration": 2})
    False
    """
    replicas = _replicas(deploy)
    return (
        int(status.get("updatedReplicas") or 0) == replicas
        and int(status.get("replicas") or 0) == replicas
        and int(status.get("availableReplicas") or 0) == replicas
        and int(status.get("observedGeneration") or 0) >= int((deploy.get("metadata") or {}).get("generation") or 0)
    )


def deployment_progressing(old: Obj, new: Obj) -> bool:
    """True when ``new`` shows progress over ``old`` (``DeploymentProgressing``):
    more updated, ready or available replicas, or fewer old ones.

    >>> deployment_progressing({"replicas": 4, "updatedReplicas": 1}, {"replicas": 3, "updatedReplicas": 1})
    True
    >>> deployment_progressing({"replicas": 3, "updatedReplicas": 1}, {"replicas": 3, "updatedReplicas": 1})
    False
    """

    def n(status: Obj, key: str) -> int:
        return int(status.get(key) or 0)

    return (
        n(new, "updatedReplicas") > n(old, "updatedReplicas")
        or n(new, "replicas") - n(new, "updatedReplicas") < n(old, "replicas") - n(old, "updatedReplicas")
        or n(new, "readyReplicas") > n(old, "readyReplicas")
        or n(new, "availableReplicas") > n(old, "availableReplicas")
    )


def deployment_timed_out(deploy: Obj, status: Obj, now: float, parse_time: TimeParser) -> bool:
    """True once the Progressing condition of ``status`` was last updated more
    than ``progressDeadlineSeconds`` before ``now`` (``DeploymentTimedOut``).
    A completed rollout never times out; one that timed out stays so.
    ``parse_time`` turns an RFC 3339 text into epoch seconds.

    >>> from kemu.clock import parse_rfc3339
    >>> d = {"spec": {"progressDeadlineSeconds": 5}}
    >>> s = {"conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
    ...                      "lastUpdateTime": "2024-01-01T12:00:00Z"}]}
    >>> t = parse_rfc3339("2024-01-01T12:00:00Z")
    >>> deployment_timed_out(d, s, t + 5, parse_rfc3339), deployment_timed_out(d, s, t + 6, parse_rfc3339)
    (False, True)
    """
    if not has_progress_deadline(deploy):
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == Reason.NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == Reason.TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime") or "") if cond.get("lastUpdateTime") else None
    if since is None:
        return False
    deadline = int((deploy.get("spec") or {}).get("progressDeadlineSeconds") or 0)
    return since + deadline < now


def get_condition(status: Obj, ctype: str) -> Obj | None:
    """The condition of type ``ctype`` in ``status``, or None."""
    conditions: list[Obj] = status.get("conditions") or []
    for cond in conditions:
        if cond.get("type") == ctype:
            return cond
    return None


def new_condition(ctype: str, status: str, reason: str, message: str, now_text: str) -> Obj:
    """A Deployment condition stamped ``now_text`` (``NewDeploymentCondition``)."""
    return {
        "type": ctype,
        "status": status,
        "lastUpdateTime": now_text,
        "lastTransitionTime": now_text,
        "reason": reason,
        "message": message,
    }


def set_condition(status: Obj, cond: Obj) -> None:
    """Put ``cond`` into ``status["conditions"]`` (``SetDeploymentCondition``):
    nothing happens when one with the same status and reason is there; a
    condition whose status did not change keeps its ``lastTransitionTime``;
    the new condition goes last.

    >>> s = {"conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
    ...                      "lastTransitionTime": "t0", "lastUpdateTime": "t0", "message": "m"}]}
    >>> set_condition(s, new_condition("Available", "True", "MinimumReplicasAvailable", "m", "t1"))
    >>> s["conditions"][0]["lastUpdateTime"]
    't0'
    """
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    cond = dict(cond)
    if current is not None and current.get("status") == cond["status"]:
        cond["lastTransitionTime"] = current.get("lastTransitionTime", cond["lastTransitionTime"])
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]] + [cond]


def remove_condition(status: Obj, ctype: str) -> None:
    """Drop the condition of type ``ctype`` (``RemoveDeploymentCondition``)."""
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != ctype]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)


# -- choosing ReplicaSets ---------------------------------------------------------------------------


def spec_replicas(rs: Obj | None) -> int:
    """A ReplicaSet's ``spec.replicas`` (0 for None; 1 when unset, the API default)."""
    if rs is None:
        return 0
    value = (rs.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_count(rs: Obj | None, key: str) -> int:
    """A count of a ReplicaSet's status (``replicas``, ``availableReplicas`` ...), 0 when absent."""
    if rs is None:
        return 0
    return int((rs.get("status") or {}).get(key) or 0)


def by_creation(rs: Obj) -> tuple[str, str]:
    """Sort key, oldest first, names breaking ties (``ReplicaSetsByCreationTimestamp``)."""
    meta = rs.get("metadata") or {}
    return (meta.get("creationTimestamp") or "", meta.get("name") or "")


def by_revision(rs: Obj) -> tuple[int, str, str]:
    """Sort key, lowest revision first (``ReplicaSetsByRevision``); creation breaks ties."""
    return (revision_of(rs) or 0, *by_creation(rs))


def find_new_replica_set(deploy: Obj, replica_sets: Sequence[Obj]) -> Obj | None:
    """The ReplicaSet whose template is the Deployment's (ignoring
    ``pod-template-hash``); the oldest if several are (``FindNewReplicaSet``).
    This is how a template that returns to an earlier one finds its
    ReplicaSet again instead of making a new one."""
    template = (deploy.get("spec") or {}).get("template")
    for rs in sorted(replica_sets, key=by_creation):
        if equal_ignore_hash((rs.get("spec") or {}).get("template"), template):
            return rs
    return None


def find_active_or_latest(new_rs: Obj | None, old: Sequence[Obj]) -> Obj | None:
    """The one ReplicaSet to resize when a Deployment is scaled
    (``FindActiveOrLatest``): the only active one (``spec.replicas > 0``); the
    new one (or the newest old one) when none is active; None when several
    are (then scaling is proportional)."""
    if new_rs is None and not old:
        return None
    newest_first = sorted(old, key=by_creation, reverse=True)
    candidates = [*newest_first, *([new_rs] if new_rs is not None else [])]
    active = [rs for rs in candidates if spec_replicas(rs) > 0]
    if not active:
        return new_rs if new_rs is not None else newest_first[0]
    if len(active) == 1:
        return active[0]
    return None


def is_saturated(deploy: Obj, rs: Obj | None) -> bool:
    """True when ``rs`` has all the Deployment's replicas, all available, and
    was last scaled for this replica count (``IsSaturated``)."""
    if rs is None:
        return False
    desired = _replicas(deploy)
    annotation = ((rs.get("metadata") or {}).get("annotations") or {}).get(DESIRED_REPLICAS_ANNOTATION)
    try:
        annotated = int(annotation) if annotation is not None else None
    except ValueError:
        annotated = None
    return annotated == desired and spec_replicas(rs) == desired and status_count(rs, "availableReplicas") == desired


def desired_replicas_annotation(rs: Obj) -> int | None:
    """The ``desired-replicas`` annotation of a ReplicaSet, or None."""
    raw = ((rs.get("metadata") or {}).get("annotations") or {}).get(DESIRED_REPLICAS_ANNOTATION)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def max_replicas_annotation(rs: Obj) -> int | None:
    """The ``max-replicas`` annotation of a ReplicaSet, or None."""
    raw = ((rs.get("metadata") or {}).get("annotations") or {}).get(MAX_REPLICAS_ANNOTATION)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def replica_sets_to_clean(old: Sequence[Obj], history_limit: int) -> list[Obj]:
    """Old ReplicaSets to delete so that at most ``history_limit`` remain
    (``cleanupDeployment``): the lowest revisions first, and only those
    fully scaled down (no pods, spec 0, latest spec observed) and not already
    being deleted.

    >>> def rs(name, rev, replicas=0):
    ...     return {"metadata": {"name": name, "generation": 1, "annotations": {REVISION_ANNOTATION: str(rev)}},
    ...             "spec": {"replicas": replicas}, "status": {"replicas": replicas, "observedGeneration": 1}}
    >>> [r["metadata"]["name"] for r in replica_sets_to_clean([rs("c", 3), rs("a", 1), rs("b", 2)], 1)]
    ['a', 'b']
    >>> [r["metadata"]["name"] for r in replica_sets_to_clean([rs("a", 1, replicas=2), rs("b", 2)], 0)]
    ['b']
    """
    alive = [rs for rs in old if not (rs.get("metadata") or {}).get("deletionTimestamp")]
    diff = len(alive) - history_limit
    if diff <= 0:
        return []
    out = []
    for rs in sorted(alive, key=by_revision)[:diff]:
        meta = rs.get("metadata") or {}
        if (
            status_count(rs, "replicas") != 0
            or spec_replicas(rs) != 0
            or int(meta.get("generation") or 0) > status_count(rs, "observedGeneration")
        ):
            continue
        out.append(rs)
    return out


# -- status ---------------------------------------------------------------------------------------


_COUNTS = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas")


def calculate_status(deploy: Obj, all_rs: Sequence[Obj], new_rs: Obj | None, now_text: str) -> Obj:
    """The Deployment's ``status`` from its ReplicaSets (``calculateStatus``),
    with the ``Available`` condition; other conditions are carried over.

    ``replicas``/``readyReplicas``/``availableReplicas`` sum the sets'
    statuses; ``updatedReplicas`` is the new set's; ``unavailableReplicas``
    is every set's desired pods minus the available ones (never negative).
    Zero counts are left out, as the API's ``omitempty`` does.

    >>> d = {"metadata": {"generation": 2}, "spec": {"replicas": 3, "strategy": {"type": "RollingUpdate",
    ...      "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}}
    >>> old = {"spec": {"replicas": 2}, "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2}}
    >>> new = {"spec": {"replicas": 2}, "status": {"replicas": 2, "readyReplicas": 1, "availableReplicas": 1}}
    >>> s = calculate_status(d, [old, new], new, "t")
    >>> [s.get(k) for k in ("replicas", "updatedReplicas", "availableReplicas", "unavailableReplicas")]
    [4, 2, 3, 1]
    >>> s["conditions"][0]["reason"]
    'MinimumReplicasAvailable'
    """
    available = sum(status_count(rs, "availableReplicas") for rs in all_rs)
    total = sum(spec_replicas(rs) for rs in all_rs)
    status: Obj = {
        "observedGeneration": int((deploy.get("metadata") or {}).get("generation") or 0),
        "replicas": sum(status_count(rs, "replicas") for rs in all_rs),
        "updatedReplicas": status_count(new_rs, "replicas"),
        "readyReplicas": sum(status_count(rs, "readyReplicas") for rs in all_rs),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total - available),
    }
    for key in (*_COUNTS, "observedGeneration"):
        if not status[key]:
            del status[key]
    old_status = deploy.get("status") or {}
    if old_status.get("collisionCount") is not None:
        status["collisionCount"] = old_status["collisionCount"]
    if old_status.get("conditions"):
        status["conditions"] = [dict(c) for c in old_status["conditions"]]
    if available >= _replicas(deploy) - max_unavailable(deploy):
        cond = new_condition(
            AVAILABLE, "True", Reason.MINIMUM_REPLICAS_AVAILABLE, "Deployment has minimum availability.", now_text
        )
    else:
        cond = new_condition(
            AVAILABLE, "False", Reason.MINIMUM_REPLICAS_UNAVAILABLE, "Deployment does not have minimum availability.", now_text
        )
    set_condition(status, cond)
    return status


def rollout_status(
    deploy: Obj, all_rs: Sequence[Obj], new_rs: Obj | None, now: float, now_text: str, parse_time: TimeParser
) -> Obj:
    """The status a rolling or recreating Deployment writes after a step
    (``syncRolloutStatus``): :func:`calculate_status` plus the
    ``Progressing`` condition.

    - complete: ``NewReplicaSetAvailable``, "ReplicaSet "web-5d4b7c9f8" has
      successfully progressed.";
    - progress since the last status: ``ReplicaSetUpdated``, "... is
      progressing." (``lastUpdateTime`` refreshed, which restarts the
      deadline);
    - no progress for ``progressDeadlineSeconds``: ``False``,
      ``ProgressDeadlineExceeded``, "... has timed out progressing.";
    - a ``ReplicaFailure`` condition of a ReplicaSet (pods that cannot be
      created) is mirrored on the Deployment.

    A Deployment without a deadline gets no Progressing condition; one whose
    rollout already completed is not re-estimated.
    """
    status = calculate_status(deploy, all_rs, new_rs, now_text)
    if not has_progress_deadline(deploy):
        remove_condition(status, PROGRESSING)
    name = (deploy.get("metadata") or {}).get("name", "")
    subject = f'ReplicaSet "{new_rs["metadata"]["name"]}"' if new_rs is not None else f'Deployment "{name}"'
    current = get_condition(deploy.get("status") or {}, PROGRESSING)
    complete_before = (
        int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)
        and current is not None
        and current.get("reason") == Reason.NEW_RS_AVAILABLE
    )
    if has_progress_deadline(deploy) and not complete_before:
        if deployment_complete(deploy, status):
            set_condition(
                status,
                new_condition(PROGRESSING, "True", Reason.NEW_RS_AVAILABLE, f"{subject} has successfully progressed.", now_text),
            )
        elif deployment_progressing(deploy.get("status") or {}, status):
            cond = new_condition(PROGRESSING, "True", Reason.RS_UPDATED, f"{subject} is progressing.", now_text)
            if current is not None:
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime", now_text)
                remove_condition(status, PROGRESSING)
            status.setdefault("conditions", []).append(cond)
        elif deployment_timed_out(deploy, status, now, parse_time):
            set_condition(
                status,
                new_condition(PROGRESSING, "False", Reason.TIMED_OUT, f"{subject} has timed out progressing.", now_text),
            )
    failure = next(
        (
            c
            for rs in all_rs
            for c in (rs.get("status") or {}).get("conditions") or []
            if c.get("type") == REPLICA_FAILURE and c.get("status") == "True"
        ),
        None,
    )
    if failure is not None:
        set_condition(
            status,
            new_condition(REPLICA_FAILURE, "True", failure.get("reason", ""), failure.get("message", ""), now_text),
        )
    else:
        remove_condition(status, REPLICA_FAILURE)
    return status


def requeue_after(deploy: Obj, new_status: Obj, now: float, parse_time: TimeParser) -> float | None:
    """Seconds until a rollout that shows no progress must be checked for
    its deadline (``requeueStuckDeployment``), or None when there is nothing
    to watch (no deadline, complete, or already timed out).

    Last progress at 00:00:00, deadline 600 s, now 00:03:00: look again in 7
    minutes (the controller adds a second).

    >>> from kemu.clock import parse_rfc3339
    >>> t = parse_rfc3339("2024-01-01T00:00:00Z")
    >>> d = {"metadata": {"generation": 1}, "spec": {"replicas": 3, "progressDeadlineSeconds": 600},
    ...      "status": {"conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
    ...                                 "lastUpdateTime": "2024-01-01T00:00:00Z"}]}}
    >>> requeue_after(d, {"replicas": 3}, t + 180, parse_rfc3339)
    420.0
    """
    current = get_condition(deploy.get("status") or {}, PROGRESSING)
    if not has_progress_deadline(deploy) or current is None:
        return None
    if deployment_complete(deploy, new_status) or current.get("reason") == Reason.TIMED_OUT:
        return None
    since = parse_time(current.get("lastUpdateTime") or "") if current.get("lastUpdateTime") else None
    if since is None:
        return None
    deadline = int((deploy.get("spec") or {}).get("progressDeadlineSeconds") or 0)
    return float(max(0.0, since + deadline - now))
