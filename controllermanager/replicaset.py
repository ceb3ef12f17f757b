"""The ReplicaSet controller: keep ``spec.replicas`` pods running.

Kubernetes' ``pkg/controller/replicaset`` in kemu's words.

Threads. The Pod and ReplicaSet informers' handlers (on the informer threads)
map every event to the key of the ReplicaSet concerned (its controller, or
every ReplicaSet whose selector matches an orphan) and record *observations*
in :class:`~controllermanager.base.Expectations`. ``--concurrent-replicaset-syncs``
worker threads run :meth:`ReplicaSetController.sync`; the work queue never hands
one ReplicaSet to two workers at once. Creates and deletes of one sync run in
parallel on a small thread pool, in slow-start batches.

One sync:

1. Read the ReplicaSet from the cache (gone: forget its expectations, stop).
2. Take the *active* pods of its namespace (not terminating, not
   Succeeded/Failed) and *claim* them: keep those it controls whose labels
   still match, adopt matching orphans (a patch adding the controller
   ownerReference, after a live re-read confirms the ReplicaSet is not being
   deleted), release those it controls that no longer match.
3. If its expectations are satisfied (every create and delete of the previous
   sync observed, or five minutes passed) and it is not being deleted: create
   the missing pods (``generateName: <rs>-``) in batches of 1, 2, 4 ...
   stopping at the first failure, at most ``burstReplicas`` per sync; or
   delete the surplus, unscheduled and not-ready pods first
   (:func:`rank_pods_for_deletion`).
4. Write ``status`` (replicas, fullyLabeledReplicas, readyReplicas,
   availableReplicas, observedGeneration, the ReplicaFailure condition) with
   ``update_status``, only when it changed; requeue for the moment a ready pod
   becomes available (``minReadySeconds``).

A terminating pod is not a replica: when a node dies and its pods are evicted
they stay Terminating (their kubelet cannot finish the delete), and the
replacements are created at once.

The decisions are pure functions at the top of this module, unit-tested in
``tests/unit/test_replicaset_logic.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor
from typing import Any

from controllermanager.base import (
    ControllerContext,
    Expectations,
    Handlers,
    Obj,
    QueueController,
    controller_ref,
    deep_copy,
    is_pod_active,
    is_pod_ready,
    is_pod_terminating,
    key_of,
    obj_fields,
    owner_ref_for,
    parse_time,
    pod_condition,
)
from kemu.api import errors
from kemu.api.selectors import LabelSelector
from kemu.clock import rfc3339
from kemu.types import OwnerReference

__all__ = [
    "BURST_REPLICAS",
    "POD_DELETION_COST",
    "ClaimDecision",
    "ReplicaSetController",
    "calculate_status",
    "claim_decision",
    "deletion_rank_key",
    "get_pods_to_delete",
    "is_pod_available",
    "max_container_restarts",
    "next_availability_check",
    "pod_from_template",
    "rank_pods_for_deletion",
    "replicas_diff",
    "slow_start_batch",
    "slow_start_batches",
]

BURST_REPLICAS = 500
"""Pods created or deleted in one sync at most (Kubernetes' ``BurstReplicas``)."""

POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
"""Annotation: pods with a lower cost are deleted first (default 0)."""

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


# -- pure decisions ---------------------------------------------------------------------------


def max_container_restarts(pod: Obj) -> int:
    """The highest ``restartCount`` among the pod's containers (0 without statuses)."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)


def _deletion_cost(pod: Obj) -> int:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(POD_DELETION_COST)
    try:
        return int(raw) if raw is not None else 0
    except (TypeError, ValueError):
        return 0


def deletion_rank_key(pod: Obj, rank: int = 0) -> tuple[Any, ...]:
    """Sort key putting the pod to delete first first (``ActivePodsWithRanks.Less``).

    In order, a pod goes first when it is:

    1. unassigned (no ``spec.nodeName``) rather than assigned;
    2. Pending rather than Unknown rather than Running;
    3. not ready rather than ready;
    4. of lower ``controller.kubernetes.io/pod-deletion-cost``;
    5. doubled up: ``rank`` (related active pods on its node) is higher;
    6. ready for less time (both ready; an unknown ready time counts as least);
    7. restarted more (highest container restart count);
    8. newer (an unknown creation time counts as newest).

    >>> a = {"spec": {}, "status": {"phase": "Pending"}}
    >>> b = {"spec": {"nodeName": "node-1"}, "status": {"phase": "Pending"}}
    >>> deletion_rank_key(a) < deletion_rank_key(b)
    True
    """
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    ready = is_pod_ready(pod)
    ready_ts = parse_time((pod_condition(pod, "Ready") or {}).get("lastTransitionTime")) if ready else None
    created_ts = parse_time((pod.get("metadata") or {}).get("creationTimestamp"))
    return (
        1 if spec.get("nodeName") else 0,
        _PHASE_ORDINAL.get(status.get("phase") or "", 0),
        1 if ready else 0,
        _deletion_cost(pod),
        -rank,
        (1, -ready_ts) if ready_ts is not None else (0, 0.0),
        -max_container_restarts(pod),
        (1, -created_ts) if created_ts is not None else (0, 0.0),
    )


def rank_pods_for_deletion(pods: Sequence[Obj], related_pods: Sequence[Obj] = ()) -> list[Obj]:
    """``pods`` sorted so the ones to delete first come first.

    A pod's rank is the number of active ``related_pods`` (the pods of every
    ReplicaSet with the same controller, a Deployment's old and new sets) on
    its node, so a scale-down spreads what is left across nodes.
    """
    on_node: dict[str, int] = {}
    for pod in related_pods:
        if is_pod_active(pod):
            node = (pod.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1
    return sorted(pods, key=lambda p: deletion_rank_key(p, on_node.get((p.get("spec") or {}).get("nodeName") or "", 0)))


def get_pods_to_delete(pods: Sequence[Obj], related_pods: Sequence[Obj], diff: int) -> list[Obj]:
    """The ``diff`` pods to delete first (all of them when ``diff >= len(pods)``)."""
    if diff <= 0:
        return []
    if diff >= len(pods):
        return list(pods)
    return rank_pods_for_deletion(pods, related_pods)[:diff]


def replicas_diff(active: int, desired: int, burst: int = BURST_REPLICAS) -> int:
    """Pods to create (positive) or delete (negative) this sync, at most ``burst``.

    >>> replicas_diff(2, 6)
    4
    >>> replicas_diff(6, 2)
    -4
    >>> replicas_diff(0, 1000, burst=500)
    500
    """
    diff = desired - active
    return max(-burst, min(burst, diff))


def slow_start_batches(count: int, initial: int = 1) -> list[int]:
    """The batch sizes of a slow start creating ``count`` objects, when every call succeeds.

    >>> slow_start_batches(10)
    [1, 2, 4, 3]
    >>> slow_start_batches(3, initial=2)
    [2, 1]
    >>> slow_start_batches(0)
    []
    """
    sizes: list[int] = []
    remaining = count
    size = min(remaining, initial)
    while size > 0:
        sizes.append(size)
        remaining -= size
        size = min(2 * size, remaining)
    return sizes


def slow_start_batch(
    count: int,
    fn: Callable[[], None],
    *,
    initial_batch_size: int = 1,
    run_batch: Callable[[int, Callable[[], None]], list[BaseException | None]] | None = None,
) -> tuple[int, BaseException | None]:
    """Call ``fn`` ``count`` times in growing batches; stop after the first
    batch with a failure. Returns ``(successes, first error or None)``.

    ``run_batch(size, fn)`` runs one batch (in parallel, in the controller)
    and returns one entry per call: None for success or the exception. By
    default calls run one after the other.

    Worked example: 10 creates where the 5th call fails run batches of 1, 2
    and then 4 (calls 4-7: one fails), so the result is ``(6, error)`` and the
    last 3 creates are never attempted.
    """

    def sequential(size: int, call: Callable[[], None]) -> list[BaseException | None]:
        results: list[BaseException | None] = []
        for _ in range(size):
            try:
                call()
                results.append(None)
            except Exception as exc:  # noqa: BLE001 - collected, like the goroutines' error channel
                results.append(exc)
        return results

    run = run_batch or sequential
    successes = 0
    for size in slow_start_batches(count, initial_batch_size):
        results = run(size, fn)
        failures = [r for r in results if r is not None]
        successes += len(results) - len(failures)
        if failures:
            return successes, failures[0]
    return successes, None


def is_pod_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """Ready, and for more than ``min_ready_seconds`` (``podutil.IsPodAvailable``).

    ``now`` is wall-clock epoch seconds. A pod Ready since 12:00:00 with
    ``minReadySeconds: 10`` is available from just after 12:00:10.
    """
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time((pod_condition(pod, "Ready") or {}).get("lastTransitionTime"))
    return since is not None and since + min_ready_seconds < now


def next_availability_check(pods: Sequence[Obj], min_ready_seconds: int, now: float) -> float | None:
    """Seconds until the next ready-but-not-yet-available pod becomes available, or None."""
    if min_ready_seconds <= 0:
        return None
    waits = []
    for pod in pods:
        if is_pod_ready(pod) and not is_pod_available(pod, min_ready_seconds, now):
            since = parse_time((pod_condition(pod, "Ready") or {}).get("lastTransitionTime"))
            if since is not None:
                waits.append(max(0.0, since + min_ready_seconds - now))
    return min(waits) if waits else None


def calculate_status(rs: Obj, pods: Sequence[Obj], manage_error: BaseException | None, now: float, now_text: str) -> Obj:
    """The ReplicaSet's new ``status`` from the pods it owns (``calculateStatus``).

    ``fullyLabeledReplicas`` counts pods carrying every label of the pod
    template; ``availableReplicas`` those ready for ``minReadySeconds``. A
    failed create or delete adds the ``ReplicaFailure`` condition (reason
    ``FailedCreate``/``FailedDelete``); a clean sync removes it.
    """
    spec = rs.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    status = deep_copy(rs.get("status") or {})
    fully = sum(
        1 for p in pods if all(((p.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in template_labels.items())
    )
    status["replicas"] = len(pods)
    status["fullyLabeledReplicas"] = fully
    status["readyReplicas"] = sum(1 for p in pods if is_pod_ready(p))
    status["availableReplicas"] = sum(1 for p in pods if is_pod_available(p, min_ready, now))
    status["observedGeneration"] = int((rs.get("metadata") or {}).get("generation") or 0)
    conditions = list(status.get("conditions") or [])
    failure = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
    if manage_error is not None and failure is None:
        desired = int(spec.get("replicas", 1))
        reason = "FailedCreate" if len(pods) < desired else "FailedDelete"
        message = getattr(manage_error, "message", None) or str(manage_error)
        conditions.append(
            {"type": "ReplicaFailure", "status": "True", "lastTransitionTime": now_text, "reason": reason, "message": message}
        )
    elif manage_error is None and failure is not None:
        conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    return status


def pod_from_template(rs: Obj) -> Obj:
    """A new pod for ``rs`` (``GetPodFromTemplate``): the template's labels,
    annotations, finalizers and spec, ``generateName: <rs-name>-``, and the
    controller ownerReference (``controller`` and ``blockOwnerDeletion`` true)."""
    meta = rs["metadata"]
    template = (rs.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    pod_meta: Obj = {
        "generateName": f"{meta['name']}-",
        "namespace": meta.get("namespace", "default"),
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [owner_ref_for(rs)],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        pod_meta["finalizers"] = list(tmeta["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": deep_copy(template.get("spec") or {})}


class ClaimDecision:
    """What a ReplicaSet does with one active pod of its namespace (``ClaimObject``)."""

    OWNED = "owned"
    """Controlled by the ReplicaSet and matching: one of its replicas."""
    ADOPT = "adopt"
    """An orphan whose labels match: add the controller reference."""
    RELEASE = "release"
    """Controlled by it but no longer matching: remove the reference."""
    IGNORE = "ignore"
    """Someone else's, or an orphan it does not want."""


def claim_decision(pod: Obj, rs: Obj, selector: LabelSelector) -> str:
    """One of the :class:`ClaimDecision` values.

    A ReplicaSet being deleted keeps what it owns but neither adopts nor
    releases; a terminating pod is never adopted.
    """
    rs_deleting = bool(rs["metadata"].get("deletionTimestamp"))
    matches = selector.matches((pod.get("metadata") or {}).get("labels") or {})
    ref = controller_ref(pod)
    if ref is not None:
        if ref.get("uid") != rs["metadata"].get("uid"):
            return ClaimDecision.IGNORE
        if matches:
            return ClaimDecision.OWNED
        return ClaimDecision.IGNORE if rs_deleting else ClaimDecision.RELEASE
    if rs_deleting or not matches or is_pod_terminating(pod):
        return ClaimDecision.IGNORE
    return ClaimDecision.ADOPT


def _namespace_terminating(exc: errors.ApiError) -> bool:
    return exc.code == 403 and "being terminated" in (exc.message or "")


# -- the controller ------------------------------------------------------------------------------


class ReplicaSetController(QueueController[str]):
    """See the module doc.

    The kind it manages is a parameter, as ``NewBaseController`` makes it in
    Kubernetes: :class:`~controllermanager.replicationcontroller.ReplicationManager`
    runs this very controller for ReplicationControllers, overriding
    :attr:`kind`, :attr:`noun` and :meth:`selector_of`."""

    name = "replicaset"
    component = "replicaset-controller"
    kind = "ReplicaSet"
    """The kind whose objects this controller keeps at ``spec.replicas`` pods."""
    noun = "replicaset"
    """How log events name one of them (``replicaset scaled``)."""

    expectations: Expectations
    """Creates and deletes not yet observed, per ReplicaSet key."""
    burst_replicas: int
    """Creates or deletes per sync at most."""

    def __init__(self, ctx: ControllerContext, *, workers: int | None = None) -> None:
        super().__init__(ctx, workers=workers if workers is not None else ctx.options.concurrent_replicaset_syncs)
        self.burst_replicas = ctx.options.burst_replicas
        self.expectations = Expectations(ctx.clock)
        self.recorder = ctx.recorder(self.component)
        self.rs_informer = ctx.informer(self.kind)
        self.pods = ctx.informer("Pod")
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="replicaset-io")
        self.rs_informer.add_handler(Handlers(add=self.enqueue_obj, update=self._rs_updated, delete=self.enqueue_obj))
        self.pods.add_handler(Handlers(add=self._pod_added, update=self._pod_updated, delete=self._pod_deleted))

    def stop(self) -> None:
        super().stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def selector_of(self, rs: Obj) -> LabelSelector:
        """The pods ``rs`` wants, from its ``spec.selector`` (a ``LabelSelector``
        here); raises ``ValueError`` for a malformed one."""
        return LabelSelector.from_dict((rs.get("spec") or {}).get("selector"))

    # -- handlers (informer threads: enqueue only) ---------------------------------

    def _rs_updated(self, old: Obj, new: Obj) -> None:
        old_replicas = (old.get("spec") or {}).get("replicas")
        new_replicas = (new.get("spec") or {}).get("replicas")
        if old_replicas != new_replicas:
            self.log.info(f"{self.noun} scaled", old_replicas=old_replicas, replicas=new_replicas, **obj_fields(new))
        self.enqueue_obj(new)

    def _resolve(self, namespace: str, ref: OwnerReference) -> Obj | None:
        """The ReplicaSet a controller reference points to, if it is one we know (by uid)."""
        if ref.get("kind") != self.kind:
            return None
        rs = self.rs_informer.get(f"{namespace}/{ref.get('name')}")
        if rs is None or rs["metadata"].get("uid") != ref.get("uid"):
            return None
        return rs

    def _matching_replicasets(self, pod: Obj) -> list[Obj]:
        """Every ReplicaSet of the pod's namespace whose (non-empty) selector matches it."""
        meta = pod["metadata"]
        labels = meta.get("labels") or {}
        out = []
        for rs in self.rs_informer.by_index("namespace", meta.get("namespace", "")):
            try:
                selector = self.selector_of(rs)
            except ValueError:
                continue
            if not selector.empty and selector.matches(labels):
                out.append(rs)
        return out

    def _pod_added(self, pod: Obj) -> None:
        if is_pod_terminating(pod):
            # Seen for the first time already terminating (a relist after a restart).
            self._pod_deleted(pod)
            return
        ref = controller_ref(pod)
        if ref is not None:
            rs = self._resolve(pod["metadata"].get("namespace", ""), ref)
            if rs is not None:
                key = key_of(rs)
                self.expectations.creation_observed(key)
                self.enqueue(key)
            return
        for rs in self._matching_replicasets(pod):
            self.enqueue_obj(rs)

    def _pod_updated(self, old: Obj, cur: Obj) -> None:
        labels_changed = (old["metadata"].get("labels") or {}) != (cur["metadata"].get("labels") or {})
        if is_pod_terminating(cur):
            # A graceful delete started: the pod stopped being a replica now, not
            # when its kubelet finishes.
            self._pod_deleted(cur)
            if labels_changed:
                self._pod_deleted(old)
            return
        ns = cur["metadata"].get("namespace", "")
        cur_ref, old_ref = controller_ref(cur), controller_ref(old)
        ref_changed = cur_ref != old_ref
        if ref_changed and old_ref is not None:
            rs = self._resolve(ns, old_ref)
            if rs is not None:
                self.enqueue_obj(rs)
        if cur_ref is not None:
            rs = self._resolve(ns, cur_ref)
            if rs is not None:
                self.enqueue_obj(rs)
            return
        if labels_changed or ref_changed:
            for rs in self._matching_replicasets(cur):
                self.enqueue_obj(rs)

    def _pod_deleted(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is None:
            return
        rs = self._resolve(pod["metadata"].get("namespace", ""), ref)
        if rs is None:
            return
        key = key_of(rs)
        self.expectations.deletion_observed(key, key_of(pod))
        self.enqueue(key)

    # -- sync (worker threads) ---------------------------------------------------------

    def sync(self, key: str) -> None:
        rs = self.rs_informer.get(key)
        if rs is None:
            self.expectations.delete(key)
            return
        needs_sync = self.expectations.satisfied(key)
        try:
            selector = self.selector_of(rs)
        except ValueError as exc:
            self.log.error(f"invalid selector, ignoring {self.noun}", error=str(exc), **obj_fields(rs))
            return
        namespace = rs["metadata"].get("namespace", "")
        active = [p for p in self.pods.by_index("namespace", namespace) if is_pod_active(p)]
        pods = self._claim_pods(rs, selector, active)
        manage_error: errors.ApiError | None = None
        if needs_sync and not rs["metadata"].get("deletionTimestamp"):
            try:
                self._manage_replicas(key, rs, pods)
            except errors.ApiError as exc:
                manage_error = exc
        now = self.clock.wall()
        status = calculate_status(rs, pods, manage_error, now, rfc3339(now))
        self._update_status(rs, status)
        if manage_error is None:
            wait = next_availability_check(pods, int((rs.get("spec") or {}).get("minReadySeconds") or 0), now)
            if wait is not None:
                # Whole-second timestamps: look again just after the pod turns available.
                self.enqueue_after(key, wait + 0.05)
        if manage_error is not None:
            raise manage_error

    # -- claiming ------------------------------------------------------------------------

    def _claim_pods(self, rs: Obj, selector: LabelSelector, pods: list[Obj]) -> list[Obj]:
        claimed: list[Obj] = []
        can_adopt: list[bool] = []  # computed once, lazily: a live read per sync at most
        for pod in pods:
            decision = claim_decision(pod, rs, selector)
            if decision == ClaimDecision.OWNED:
                claimed.append(pod)
            elif decision == ClaimDecision.ADOPT:
                if not can_adopt:
                    can_adopt.append(self._recheck_not_deleting(rs))
                if can_adopt[0]:
                    adopted = self._adopt(rs, pod)
                    if adopted is not None:
                        claimed.append(adopted)
            elif decision == ClaimDecision.RELEASE:
                self._release(rs, pod)
        return claimed

    def _recheck_not_deleting(self, rs: Obj) -> bool:
        """A quorum read before adopting: the cache may not show a fresh deletion."""
        try:
            fresh = self.client.get(self.kind, rs["metadata"]["name"], rs["metadata"].get("namespace"))
        except errors.ApiError as exc:
            if exc.code == 404:
                return False
            raise
        return fresh["metadata"].get("uid") == rs["metadata"].get("uid") and not fresh["metadata"].get("deletionTimestamp")

    def _adopt(self, rs: Obj, pod: Obj) -> Obj | None:
        patch = {"metadata": {"ownerReferences": [owner_ref_for(rs)], "uid": pod["metadata"]["uid"]}}
        try:
            updated = self.client.patch(
                "Pod", pod["metadata"]["name"], patch, pod["metadata"].get("namespace"), patch_type="strategic"
            )
        except errors.ApiError as exc:
            if exc.code in (404, 409, 422):
                return None  # gone, replaced, or adopted by someone else meanwhile
            raise
        self.log.info(
            "adopted pod", pod=key_of(pod), pod_uid=pod["metadata"]["uid"],
            producedResourceVersion=updated["metadata"].get("resourceVersion"), **obj_fields(rs),
        )
        return updated

    def _release(self, rs: Obj, pod: Obj) -> None:
        patch = {
            "metadata": {
                "ownerReferences": [{"$patch": "delete", "uid": rs["metadata"]["uid"]}],
                "uid": pod["metadata"]["uid"],
            }
        }
        try:
            updated = self.client.patch(
                "Pod", pod["metadata"]["name"], patch, pod["metadata"].get("namespace"), patch_type="strategic"
            )
        except errors.ApiError as exc:
            if exc.code in (404, 409, 422):
                return
            raise
        self.log.info(
            "released pod", pod=key_of(pod), pod_uid=pod["metadata"]["uid"],
            producedResourceVersion=updated["metadata"].get("resourceVersion"), **obj_fields(rs),
        )

    # -- scaling ----------------------------------------------------------------------------

    def _run_batch(self, size: int, call: Callable[[], None]) -> list[BaseException | None]:
        return self._run_each([call] * size)

    def _run_each(self, calls: Sequence[Callable[[], None]]) -> list[BaseException | None]:
        """Run ``calls`` in parallel on the I/O pool; one result per call (None or its exception)."""
        futures = [self._pool.submit(call) for call in calls]
        results: list[BaseException | None] = []
        for future in futures:
            try:
                results.append(future.exception())
            except CancelledError as exc:  # the controller is stopping
                results.append(exc)
        return results

    def _manage_replicas(self, key: str, rs: Obj, pods: list[Obj]) -> None:
        desired = int((rs.get("spec") or {}).get("replicas", 1))
        diff = replicas_diff(len(pods), desired, self.burst_replicas)
        if diff > 0:
            self.log.info("too few replicas", need=desired, have=len(pods), creating=diff, **obj_fields(rs))
            self.expectations.expect_creations(key, diff)
            successes, error = slow_start_batch(diff, lambda: self._create_pod(key, rs), run_batch=self._run_batch)
            skipped = diff - successes
            if skipped > 0:
                self.log.info("slow-start failure, skipping creates", skipped=skipped, **obj_fields(rs))
                self.expectations.lower_expectations(key, skipped)
            if error is not None:
                raise error
        elif diff < 0:
            count = -diff
            related = self._related_pods(rs)
            victims = get_pods_to_delete(pods, related, count)
            self.log.info(
                "too many replicas", need=desired, have=len(pods), deleting=count,
                pods=[p["metadata"]["name"] for p in victims], **obj_fields(rs),
            )
            self.expectations.expect_deletions(key, [key_of(p) for p in victims])
            results = self._run_each([functools.partial(self._delete_pod, key, rs, p) for p in victims])
            first = next((r for r in results if r is not None), None)
            if first is not None:
                raise first

    def _create_pod(self, key: str, rs: Obj) -> None:
        try:
            pod = self.client.create(pod_from_template(rs))
        except errors.ApiError as exc:
            if _namespace_terminating(exc):
                # Every create will fail; the namespace controller deletes the set.
                self.expectations.creation_observed(key)
                return
            self.recorder.event(rs, "Warning", "FailedCreate", f"Error creating: {exc.message}")
            raise
        name = pod["metadata"]["name"]
        self.log.info(
            "created pod", pod=f"{pod['metadata'].get('namespace')}/{name}", pod_uid=pod["metadata"].get("uid"),
            producedResourceVersion=pod["metadata"].get("resourceVersion"), **obj_fields(rs),
        )
        self.recorder.event(rs, "Normal", "SuccessfulCreate", f"Created pod: {name}")

    def _delete_pod(self, key: str, rs: Obj, pod: Obj) -> None:
        meta = pod["metadata"]
        try:
            deleted = self.client.delete("Pod", meta["name"], meta.get("namespace"), preconditions={"uid": meta["uid"]})
        except errors.ApiError as exc:
            # Never observed: lower the expectation so the next sync can act.
            self.expectations.deletion_observed(key, key_of(pod))
            if exc.code in (404, 409):
                return
            self.recorder.event(rs, "Warning", "FailedDelete", f"Error deleting: {exc.message}")
            raise
        self.log.info(
            "deleted pod", pod=key_of(pod), pod_uid=meta.get("uid"),
            producedResourceVersion=deleted["metadata"].get("resourceVersion"), **obj_fields(rs),
        )
        self.recorder.event(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}")

    def _related_pods(self, rs: Obj) -> list[Obj]:
        """Pods of every ReplicaSet sharing ``rs``'s controller (none without one)."""
        ref = controller_ref(rs)
        if ref is None:
            return []
        out: dict[str, Obj] = {}
        for sibling in self.rs_informer.by_index("owner", ref.get("uid", "")):
            if (controller_ref(sibling) or {}).get("uid") != ref.get("uid"):
                continue
            for pod in self.pods.by_index("owner", sibling["metadata"].get("uid", "")):
                out[pod["metadata"].get("uid", key_of(pod))] = pod
        return list(out.values())

    # -- status ---------------------------------------------------------------------------------

    def _update_status(self, rs: Obj, status: Obj) -> None:
        if (rs.get("status") or {}) == status:
            return
        new = deep_copy(rs)
        new["status"] = status
        try:
            updated = self.client.update_status(new)
        except errors.ApiError as exc:
            if exc.code != 409:
                raise
            fresh = self.client.get(self.kind, rs["metadata"]["name"], rs["metadata"].get("namespace"))
            if fresh["metadata"].get("uid") != rs["metadata"].get("uid") or (fresh.get("status") or {}) == status:
                return
            fresh["status"] = status
            updated = self.client.update_status(fresh)
        self.log.info(
            f"updated {self.noun} status", replicas=status.get("replicas"), ready=status.get("readyReplicas"),
            available=status.get("availableReplicas"),
            producedResourceVersion=updated["metadata"].get("resourceVersion"), **obj_fields(rs),
        )
