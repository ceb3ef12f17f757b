"""The Deployment controller: roll pod templates out through ReplicaSets.

Kubernetes' ``pkg/controller/deployment`` in kemu's words. The arithmetic
(fenceposts, the rolling-update ladder, proportional scaling, revisions,
hashes, conditions) is pure and lives in :mod:`controllermanager.rollout`;
this module reads caches, calls it, and writes.

Threads. The Deployment, ReplicaSet and Pod informers' handlers (informer
threads) map each event to the key of the Deployment concerned: a
ReplicaSet's controller (or, for an orphan, every Deployment whose selector
matches it), a pod's ReplicaSet's controller. ``--concurrent-deployment-syncs``
workers run :meth:`DeploymentController.sync`; the work queue never hands one
Deployment to two workers at once. Pods are watched because the controller
counts them itself (see "Stricter than Kubernetes" below), so a pod turning
Ready or Terminating must wake its Deployment even before its ReplicaSet's
status says so.

One sync (``syncDeployment``):

1. Read the Deployment from the cache (gone: stop). An empty selector selects
   everything: refuse (a ``SelectingAll`` warning event).
2. *Claim* the ReplicaSets of its namespace: keep those it controls that
   still match, adopt matching orphans, release those that no longer match
   (``ownerReferences`` with ``controller: true``).
3. Being deleted: only write status. Paused: record the ``DeploymentPaused``
   (or, once resumed, ``DeploymentResumed``) Progressing condition, then
   only scale (no new ReplicaSet, no rollout). A *scaling event* (some
   active ReplicaSet's ``desired-replicas`` annotation differs from
   ``spec.replicas``): only scale, proportionally while a rollout is in
   flight.
4. Otherwise roll: find or create the ReplicaSet of the current template
   (``<deployment>-<pod-template-hash>``, the next revision, the
   Deployment's annotations such as ``kubernetes.io/change-cause``), then
   either **RollingUpdate** (scale the new set up if the surge allows, else
   scale old sets down if availability allows, else clean up) or
   **Recreate** (scale old sets to 0, wait until none of their pods is left,
   then scale the new set up).
5. Write status: counts, ``observedGeneration``, the ``Available`` and
   ``Progressing`` conditions; requeue for the moment the progress deadline
   would pass. Old ReplicaSets beyond ``revisionHistoryLimit`` (scaled to 0)
   are deleted once a rollout is complete.

Every write carries the resourceVersion it was computed from, so a sync that
acted on a stale cache gets a 409 and runs again on fresh data. Events go to
the Deployment: ``ScalingReplicaSet`` ("Scaled up replica set web-5d4b7c9f8
from 0 to 1").

Stricter than Kubernetes. Kubernetes bounds a rollout on the ReplicaSets'
``spec.replicas`` and ``status.availableReplicas``; pods themselves can
briefly exceed the surge (an old set's surplus pod not yet deleted while the
new set's pod is created) or a stale status can overstate availability. kemu
also looks at the pods in its cache: a ReplicaSet counts as
``max(spec.replicas, its live pods)`` pods when deciding to scale up, and as
``min(status.availableReplicas, its available pods, spec.replicas)``
available pods when deciding to scale down. So a watch on pods never sees
more than ``replicas + maxSurge`` live pods, nor fewer than
``replicas - maxUnavailable`` available ones, during a rollout of healthy
pods.

Rollback is client-side, as kubectl does it for apps/v1: ``kemu rollout
undo`` copies an old ReplicaSet's template into the Deployment; the
controller then finds that ReplicaSet again, gives it the next revision, and
rolls back to it like any other template change.
"""

from __future__ import annotations

from collections.abc import Sequence

from controllermanager import rollout
from controllermanager.base import (
    ControllerContext,
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
)
from controllermanager.replicaset import ClaimDecision, claim_decision, is_pod_available
from kemu.api import errors
from kemu.api.selectors import LabelSelector
from kemu.clock import rfc3339
from kemu.types import OwnerReference

__all__ = ["DEFAULT_WORKERS", "DeploymentController"]

DEFAULT_WORKERS = 5
"""Worker threads when the options do not say (``--concurrent-deployment-syncs``)."""


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _uid(obj: Obj) -> str:
    return str(_meta(obj).get("uid") or "")


def _replicas(deploy: Obj) -> int:
    value = _spec(deploy).get("replicas")
    return 1 if value is None else int(value)


def _strategy(deploy: Obj) -> str:
    return str((_spec(deploy).get("strategy") or {}).get("type") or "RollingUpdate")


def _parse_time(text: str) -> float | None:
    return parse_time(text)


class DeploymentController(QueueController[str]):
    """See the module doc."""

    name = "deployment"
    component = "deployment-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, workers=int(getattr(ctx.options, "concurrent_deployment_syncs", DEFAULT_WORKERS)))
        self.recorder = ctx.recorder(self.component)
        self.deployments = ctx.informer("Deployment")
        self.rs_informer = ctx.informer("ReplicaSet")
        self.pods = ctx.informer("Pod")
        self.deployments.add_handler(
            Handlers(add=self.enqueue_obj, update=self._deployment_updated, delete=self.enqueue_obj)
        )
        self.rs_informer.add_handler(Handlers(add=self._rs_added, update=self._rs_updated, delete=self._rs_deleted))
        self.pods.add_handler(Handlers(add=self._pod_changed, update=self._pod_updated, delete=self._pod_changed))

    # -- handlers (informer threads: enqueue only) -------------------------------------

    def _deployment_updated(self, old: Obj, new: Obj) -> None:
        if _spec(old).get("template") != _spec(new).get("template"):
            self.log.info("deployment template changed", **obj_fields(new))
        self.enqueue_obj(new)

    def _resolve(self, namespace: str, ref: OwnerReference | None) -> Obj | None:
        """The Deployment a controller reference points to, if we know it (by uid)."""
        if ref is None or ref.get("kind") != "Deployment":
            return None
        deploy = self.deployments.get(f"{namespace}/{ref.get('name')}")
        if deploy is None or _uid(deploy) != ref.get("uid"):
            return None
        return deploy

    def _matching_deployments(self, rs: Obj) -> list[Obj]:
        """Deployments of the ReplicaSet's namespace whose (non-empty) selector matches it."""
        labels = _meta(rs).get("labels") or {}
        out = []
        for deploy in self.deployments.by_index("namespace", _meta(rs).get("namespace", "")):
            try:
                selector = LabelSelector.from_dict(_spec(deploy).get("selector"))
            except ValueError:
                continue
            if not selector.empty and selector.matches(labels):
                out.append(deploy)
        return out

    def _rs_added(self, rs: Obj) -> None:
        if _meta(rs).get("deletionTimestamp"):
            self._rs_deleted(rs)
            return
        ref = controller_ref(rs)
        if ref is not None:
            deploy = self._resolve(_meta(rs).get("namespace", ""), ref)
            if deploy is not None:
                self.enqueue_obj(deploy)
            return
        for deploy in self._matching_deployments(rs):
            self.enqueue_obj(deploy)

    def _rs_updated(self, old: Obj, cur: Obj) -> None:
        ns = _meta(cur).get("namespace", "")
        cur_ref, old_ref = controller_ref(cur), controller_ref(old)
        if cur_ref != old_ref and old_ref is not None:
            deploy = self._resolve(ns, old_ref)
            if deploy is not None:
                self.enqueue_obj(deploy)
        if cur_ref is not None:
            deploy = self._resolve(ns, cur_ref)
            if deploy is not None:
                self.enqueue_obj(deploy)
            return
        if cur_ref != old_ref or (_meta(old).get("labels") or {}) != (_meta(cur).get("labels") or {}):
            for deploy in self._matching_deployments(cur):
                self.enqueue_obj(deploy)

    def _rs_deleted(self, rs: Obj) -> None:
        deploy = self._resolve(_meta(rs).get("namespace", ""), controller_ref(rs))
        if deploy is not None:
            self.enqueue_obj(deploy)

    def _deployment_of_pod(self, pod: Obj) -> Obj | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return None
        ns = _meta(pod).get("namespace", "")
        rs = self.rs_informer.get(f"{ns}/{ref.get('name')}")
        if rs is None or _uid(rs) != ref.get("uid"):
            return None
        return self._resolve(ns, controller_ref(rs))

    def _pod_changed(self, pod: Obj) -> None:
        deploy = self._deployment_of_pod(pod)
        if deploy is not None:
            self.enqueue_obj(deploy)

    def _pod_updated(self, old: Obj, cur: Obj) -> None:
        if (
            is_pod_ready(old) != is_pod_ready(cur)
            or is_pod_terminating(old) != is_pod_terminating(cur)
            or (old.get("status") or {}).get("phase") != (cur.get("status") or {}).get("phase")
            or controller_ref(old) != controller_ref(cur)
        ):
            self._pod_changed(cur)
            if controller_ref(old) != controller_ref(cur):
                self._pod_changed(old)

    # -- sync (worker threads) ---------------------------------------------------------------

    def sync(self, key: str) -> None:
        cached = self.deployments.get(key)
        if cached is None:
            return
        d = deep_copy(cached)
        try:
            selector = LabelSelector.from_dict(_spec(d).get("selector"))
        except ValueError as exc:
            self.log.error("invalid selector, ignoring deployment", error=str(exc), **obj_fields(d))
            return
        if selector.empty:
            self.recorder.event(
                d, "Warning", "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required."
            )
            status = d.get("status") or {}
            generation = int(_meta(d).get("generation") or 0)
            if int(status.get("observedGeneration") or 0) < generation:
                self._write_status(d, {**status, "observedGeneration": generation})
            return
        rs_list = self._claim_replicasets(d, selector)
        if _meta(d).get("deletionTimestamp"):
            new_rs, old = self._get_all_replicasets(d, rs_list, create=False)
            self._sync_deployment_status(d, [*old, *([new_rs] if new_rs else [])], new_rs)
            return
        self._check_paused_conditions(d)
        if _spec(d).get("paused"):
            self._sync_scale(d, rs_list)
            return
        if self._is_scaling_event(d, rs_list):
            self._sync_scale(d, rs_list)
            return
        if _strategy(d) == "Recreate":
            self._rollout_recreate(d, rs_list)
        else:
            self._rollout_rolling(d, rs_list)

    # -- claiming ReplicaSets -----------------------------------------------------------------

    def _claim_replicasets(self, d: Obj, selector: LabelSelector) -> list[Obj]:
        """The ReplicaSets ``d`` controls after adopting and releasing (``ClaimReplicaSets``)."""
        claimed: list[Obj] = []
        can_adopt: list[bool] = []
        for rs in self.rs_informer.by_index("namespace", _meta(d).get("namespace", "")):
            decision = claim_decision(rs, d, selector)
            if decision == ClaimDecision.OWNED:
                claimed.append(rs)
            elif decision == ClaimDecision.ADOPT:
                if not can_adopt:
                    can_adopt.append(self._recheck_not_deleting(d))
                if can_adopt[0]:
                    adopted = self._patch_owner(d, rs, adopt=True)
                    if adopted is not None:
                        claimed.append(adopted)
            elif decision == ClaimDecision.RELEASE:
                self._patch_owner(d, rs, adopt=False)
        return claimed

    def _recheck_not_deleting(self, d: Obj) -> bool:
        """A live read before adopting: the cache may not show a fresh deletion."""
        try:
            fresh = self.client.get("Deployment", _meta(d)["name"], _meta(d).get("namespace"))
        except errors.ApiError as exc:
            if exc.code == 404:
                return False
            raise
        return _uid(fresh) == _uid(d) and not _meta(fresh).get("deletionTimestamp")

    def _patch_owner(self, d: Obj, rs: Obj, *, adopt: bool) -> Obj | None:
        ref: Obj = owner_ref_for(d) if adopt else {"$patch": "delete", "uid": _uid(d)}
        patch = {"metadata": {"ownerReferences": [ref], "uid": _uid(rs)}}
        try:
            updated = self.client.patch(
                "ReplicaSet", _meta(rs)["name"], patch, _meta(rs).get("namespace"), patch_type="strategic"
            )
        except errors.ApiError as exc:
            if exc.code in (404, 409, 422):
                return None
            raise
        self.log.info(
            "adopted replicaset" if adopt else "released replicaset", replicaset=key_of(rs),
            producedResourceVersion=_meta(updated).get("resourceVersion"), **obj_fields(d),
        )
        return updated

    # -- pods, as the stricter bounds count them ------------------------------------------------

    def _pods_of(self, rs: Obj) -> list[Obj]:
        uid = _uid(rs)
        return [p for p in self.pods.by_index("owner", uid) if (controller_ref(p) or {}).get("uid") == uid]

    def _live_pods(self, rs: Obj) -> int:
        """Pods the ReplicaSet has or will have: ``max(spec.replicas, live pods)``."""
        return max(rollout.spec_replicas(rs), sum(1 for p in self._pods_of(rs) if is_pod_active(p)))

    def _available(self, rs: Obj, now: float) -> int:
        """Pods of the ReplicaSet surely available: ``min(status, cache, spec)``."""
        min_ready = int(_spec(rs).get("minReadySeconds") or 0)
        in_cache = sum(1 for p in self._pods_of(rs) if is_pod_active(p) and is_pod_available(p, min_ready, now))
        return min(rollout.status_count(rs, "availableReplicas"), in_cache, rollout.spec_replicas(rs))

    # -- finding and creating the new ReplicaSet --------------------------------------------------

    def _get_all_replicasets(self, d: Obj, rs_list: list[Obj], *, create: bool) -> tuple[Obj | None, list[Obj]]:
        """``(new ReplicaSet or None, old ones)``, with revisions synced
        (``getAllReplicaSetsAndSyncRevision``)."""
        existing = rollout.find_new_replica_set(d, rs_list)
        old = [rs for rs in rs_list if existing is None or _uid(rs) != _uid(existing)]
        new_rs = self._get_new_replicaset(d, existing, old, create)
        if new_rs is not None:
            # Later steps of this sync see what was written (rs_list is ours).
            uid = _uid(new_rs)
            rs_list[:] = [rs for rs in rs_list if _uid(rs) != uid] + [new_rs]
        return new_rs, old

    def _get_new_replicaset(self, d: Obj, existing: Obj | None, old: list[Obj], create: bool) -> Obj | None:
        new_revision = rollout.max_revision(old) + 1
        desired = _replicas(d)
        max_replicas = desired + rollout.max_surge(d)
        d_annotations = _meta(d).get("annotations") or {}
        now_text = rfc3339(self.clock.wall())
        if existing is not None:
            annotations, changed = rollout.sync_new_rs_annotations(
                d_annotations, _meta(existing).get("annotations") or {}, new_revision,
                exists=True, desired=desired, max_replicas=max_replicas,
            )
            min_ready = _spec(d).get("minReadySeconds") or 0
            if changed or (_spec(existing).get("minReadySeconds") or 0) != min_ready:
                rs = deep_copy(existing)
                rs["metadata"]["annotations"] = annotations
                rs["spec"]["minReadySeconds"] = min_ready
                updated = self.client.update(rs)
                self.log.info(
                    "updated new replicaset annotations", replicaset=key_of(rs), revision=annotations.get(rollout.REVISION_ANNOTATION),
                    producedResourceVersion=_meta(updated).get("resourceVersion"), **obj_fields(d),
                )
                return updated
            self._set_deployment_revision(d, rollout.revision_of(existing) or new_revision)
            status = deep_copy(d.get("status") or {})
            if rollout.has_progress_deadline(d) and rollout.get_condition(status, rollout.PROGRESSING) is None:
                rollout.set_condition(
                    status,
                    rollout.new_condition(
                        rollout.PROGRESSING, "True", rollout.Reason.FOUND_NEW_RS,
                        f'Found new replica set "{_meta(existing)["name"]}"', now_text,
                    ),
                )
                self._write_status(d, status)
            return existing
        if not create:
            return None
        return self._create_new_replicaset(d, old, new_revision, desired, max_replicas, now_text)

    def _create_new_replicaset(
        self, d: Obj, old: list[Obj], new_revision: int, desired: int, max_replicas: int, now_text: str
    ) -> Obj:
        body = rollout.new_replica_set(
            d,
            new_revision=new_revision,
            desired=desired,
            max_replicas=max_replicas,
            current_total=sum(self._live_pods(rs) for rs in old),
            owner_ref=owner_ref_for(d),
        )
        name, replicas = body["metadata"]["name"], body["spec"]["replicas"]
        already_exists = False
        try:
            created = self.client.create(body)
        except errors.ApiError as exc:
            if exc.reason == "AlreadyExists":
                created = self._existing_or_collision(d, name)
                already_exists = True
            elif exc.code == 403 and "being terminated" in (exc.message or ""):
                raise
            else:
                message = f'Failed to create new replica set "{name}": {exc.message}'
                if rollout.has_progress_deadline(d):
                    status = deep_copy(d.get("status") or {})
                    rollout.set_condition(
                        status,
                        rollout.new_condition(
                            rollout.PROGRESSING, "False", rollout.Reason.FAILED_RS_CREATE, message, now_text
                        ),
                    )
                    try:
                        self._write_status(d, status)
                    except errors.ApiError:
                        pass
                self.recorder.event(d, "Warning", rollout.Reason.FAILED_RS_CREATE, message)
                raise
        if not already_exists:
            self.log.info(
                "created new replicaset", replicaset=key_of(created), replicas=replicas, revision=new_revision,
                producedResourceVersion=_meta(created).get("resourceVersion"), **obj_fields(d),
            )
            if replicas > 0:
                self.recorder.event(
                    d, "Normal", "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {replicas}"
                )
        self._set_deployment_revision(d, new_revision)
        if not already_exists and rollout.has_progress_deadline(d):
            status = deep_copy(d.get("status") or {})
            rollout.set_condition(
                status,
                rollout.new_condition(
                    rollout.PROGRESSING, "True", rollout.Reason.NEW_RS_CREATED, f'Created new replica set "{name}"', now_text
                ),
            )
            self._write_status(d, status)
        return created

    def _existing_or_collision(self, d: Obj, name: str) -> Obj:
        """After AlreadyExists: our own ReplicaSet that the cache has not shown
        yet, or a hash collision (bump ``status.collisionCount`` and retry)."""
        live = self.client.get("ReplicaSet", name, _meta(d).get("namespace"))
        ref = controller_ref(live)
        if (
            ref is not None
            and ref.get("uid") == _uid(d)
            and rollout.equal_ignore_hash(_spec(live).get("template"), _spec(d).get("template"))
        ):
            return live
        status = deep_copy(d.get("status") or {})
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        self._write_status(d, status)
        self.log.info("pod-template-hash collision, bumping collisionCount", replicaset=name,
                      collisionCount=status["collisionCount"], **obj_fields(d))
        raise errors.conflict("ReplicaSet", name, "hash collision; retrying with a new collisionCount")

    # -- writes ------------------------------------------------------------------------------

    def _set_deployment_revision(self, d: Obj, revision: int) -> None:
        """Write ``deployment.kubernetes.io/revision`` on the Deployment when it
        differs (a metadata patch that must apply to the version we read)."""
        annotations = _meta(d).get("annotations") or {}
        if annotations.get(rollout.REVISION_ANNOTATION) == str(revision):
            return
        patch = {
            "metadata": {
                "annotations": {rollout.REVISION_ANNOTATION: str(revision)},
                "resourceVersion": _meta(d).get("resourceVersion"),
                "uid": _uid(d),
            }
        }
        updated = self.client.patch("Deployment", _meta(d)["name"], patch, _meta(d).get("namespace"))
        self.log.info(
            "set deployment revision", revision=revision,
            producedResourceVersion=_meta(updated).get("resourceVersion"), **obj_fields(d),
        )
        status = d.get("status")
        d.clear()
        d.update(updated)
        if status is not None:
            d["status"] = status

    def _write_status(self, d: Obj, status: Obj) -> None:
        """``update_status`` with ``status``; ``d`` becomes the stored object."""
        body = dict(d)
        body["status"] = status
        updated = self.client.update_status(body)
        self.log.info(
            "updated deployment status", replicas=status.get("replicas"), updated=status.get("updatedReplicas"),
            available=status.get("availableReplicas"),
            progressing=(rollout.get_condition(status, rollout.PROGRESSING) or {}).get("reason"),
            producedResourceVersion=_meta(updated).get("resourceVersion"), **obj_fields(d),
        )
        d.clear()
        d.update(updated)

    def _scale_replicaset(self, d: Obj, rs: Obj, new_scale: int, operation: str | None = None) -> tuple[bool, Obj]:
        """Resize ``rs`` (and refresh its replicas annotations); an event when
        the size changed (``scaleReplicaSet``). Returns ``(scaled, rs)``."""
        old_scale = rollout.spec_replicas(rs)
        desired = _replicas(d)
        wanted = rollout.replicas_annotations(desired, desired + rollout.max_surge(d))
        annotations = _meta(rs).get("annotations") or {}
        size_changes = old_scale != new_scale
        if not size_changes and all(annotations.get(k) == v for k, v in wanted.items()):
            return False, rs
        copy = deep_copy(rs)
        copy["spec"]["replicas"] = new_scale
        copy["metadata"]["annotations"] = {**annotations, **wanted}
        updated = self.client.update(copy)
        if size_changes:
            direction = operation or ("up" if new_scale > old_scale else "down")
            self.log.info(
                "scaled replicaset", replicaset=key_of(rs), old_replicas=old_scale, replicas=new_scale,
                producedResourceVersion=_meta(updated).get("resourceVersion"), **obj_fields(d),
            )
            self.recorder.event(
                d, "Normal", "ScalingReplicaSet",
                f"Scaled {direction} replica set {_meta(rs)['name']} from {old_scale} to {new_scale}",
            )
        return size_changes, updated

    # -- scaling (paused, or replicas changed) -------------------------------------------------

    def _is_scaling_event(self, d: Obj, rs_list: list[Obj]) -> bool:
        """True when an active ReplicaSet was last scaled for another replica count."""
        new_rs, old = self._get_all_replicasets(d, rs_list, create=False)
        desired = _replicas(d)
        for rs in [*old, *([new_rs] if new_rs else [])]:
            if rollout.spec_replicas(rs) <= 0:
                continue
            annotated = rollout.desired_replicas_annotation(rs)
            if annotated is not None and annotated != desired:
                return True
        return False

    def _sync_scale(self, d: Obj, rs_list: list[Obj]) -> None:
        """Scale without rolling (``sync``): paused Deployments and scaling events."""
        new_rs, old = self._get_all_replicasets(d, rs_list, create=False)
        new_rs, old = self._scale(d, new_rs, old)
        if _spec(d).get("paused"):
            self._cleanup(d, old)
        self._sync_deployment_status(d, [*old, *([new_rs] if new_rs else [])], new_rs)

    def _scale(self, d: Obj, new_rs: Obj | None, old: list[Obj]) -> tuple[Obj | None, list[Obj]]:
        desired = _replicas(d)
        target = rollout.find_active_or_latest(new_rs, old)
        if target is not None:
            if rollout.spec_replicas(target) != desired:
                _, updated = self._scale_replicaset(d, target, desired)
                return self._replace(new_rs, old, updated)
            return new_rs, old
        if rollout.is_saturated(d, new_rs):
            for rs in list(old):
                if rollout.spec_replicas(rs) > 0:
                    _, updated = self._scale_replicaset(d, rs, 0)
                    new_rs, old = self._replace(new_rs, old, updated)
            return new_rs, old
        if _strategy(d) != "RollingUpdate":
            return new_rs, old
        active = sorted(
            [rs for rs in [*old, *([new_rs] if new_rs else [])] if rollout.spec_replicas(rs) > 0], key=rollout.by_creation
        )
        sizes, direction = rollout.proportional_scale(
            [rollout.ReplicaSetShare(_meta(rs)["name"], rollout.spec_replicas(rs), rollout.max_replicas_annotation(rs)) for rs in active],
            desired,
            rollout.max_surge(d),
            int((d.get("status") or {}).get("replicas") or 0),
        )
        for rs in active:
            _, updated = self._scale_replicaset(d, rs, sizes[_meta(rs)["name"]], direction or None)
            new_rs, old = self._replace(new_rs, old, updated)
        return new_rs, old

    @staticmethod
    def _replace(new_rs: Obj | None, old: list[Obj], updated: Obj) -> tuple[Obj | None, list[Obj]]:
        """``(new_rs, old)`` with the ReplicaSet ``updated`` (same uid) swapped in."""
        uid = _uid(updated)
        if new_rs is not None and _uid(new_rs) == uid:
            return updated, old
        return new_rs, [updated if _uid(rs) == uid else rs for rs in old]

    # -- RollingUpdate -----------------------------------------------------------------------------

    def _rollout_rolling(self, d: Obj, rs_list: list[Obj]) -> None:
        new_rs, old = self._get_all_replicasets(d, rs_list, create=True)
        assert new_rs is not None
        scaled, new_rs = self._reconcile_new_replicaset(d, new_rs, old)
        if not scaled:
            scaled, old = self._reconcile_old_replicasets(d, new_rs, old)
        if not scaled and rollout.deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, old)
        self._sync_rollout_status(d, [*old, new_rs], new_rs)

    def _reconcile_new_replicaset(self, d: Obj, new_rs: Obj, old: list[Obj]) -> tuple[bool, Obj]:
        desired = _replicas(d)
        current = rollout.spec_replicas(new_rs)
        if current == desired:
            return False, new_rs
        if current > desired:
            return self._scale_replicaset(d, new_rs, desired)
        total = self._live_pods(new_rs) + sum(self._live_pods(rs) for rs in old)
        target = rollout.new_rs_replicas_rolling(desired, rollout.max_surge(d), total, current)
        return self._scale_replicaset(d, new_rs, target)

    def _reconcile_old_replicasets(self, d: Obj, new_rs: Obj, old: list[Obj]) -> tuple[bool, list[Obj]]:
        """Scale old ReplicaSets down as far as availability allows (``reconcileOldReplicaSets``)."""
        active_old = sorted([rs for rs in old if rollout.spec_replicas(rs) > 0], key=rollout.by_creation)
        if not active_old:
            return False, old
        now = self.clock.wall()
        desired = _replicas(d)
        unavailable = rollout.max_unavailable(d)
        all_pods = rollout.spec_replicas(new_rs) + sum(rollout.spec_replicas(rs) for rs in old)
        new_unavailable = rollout.spec_replicas(new_rs) - self._available(new_rs, now)
        budget = rollout.max_scaled_down(all_pods, desired, unavailable, new_unavailable)
        if budget <= 0:
            return False, old
        total = 0
        sizes = rollout.cleanup_unhealthy([(rollout.spec_replicas(rs), self._available(rs, now)) for rs in active_old], budget)
        for i, size in enumerate(sizes):
            if size != rollout.spec_replicas(active_old[i]):
                total += rollout.spec_replicas(active_old[i]) - size
                _, active_old[i] = self._scale_replicaset(d, active_old[i], size)
        available = self._available(new_rs, now) + sum(self._available(rs, now) for rs in active_old)
        sizes = rollout.scale_down_old([rollout.spec_replicas(rs) for rs in active_old], available, desired - unavailable)
        for i, size in enumerate(sizes):
            if size != rollout.spec_replicas(active_old[i]):
                total += rollout.spec_replicas(active_old[i]) - size
                _, active_old[i] = self._scale_replicaset(d, active_old[i], size)
        by_uid = {_uid(rs): rs for rs in active_old}
        return total > 0, [by_uid.get(_uid(rs), rs) for rs in old]

    # -- Recreate -------------------------------------------------------------------------------

    def _rollout_recreate(self, d: Obj, rs_list: list[Obj]) -> None:
        new_rs, old = self._get_all_replicasets(d, rs_list, create=False)
        scaled_down = False
        for rs in list(old):
            if rollout.spec_replicas(rs) > 0:
                scaled, updated = self._scale_replicaset(d, rs, 0)
                scaled_down = scaled_down or scaled
                new_rs, old = self._replace(new_rs, old, updated)
        if scaled_down or self._old_pods_running(new_rs, old):
            self._sync_rollout_status(d, [*old, *([new_rs] if new_rs else [])], new_rs)
            return
        if new_rs is None:
            new_rs, old = self._get_all_replicasets(d, rs_list, create=True)
        assert new_rs is not None
        _, new_rs = self._scale_replicaset(d, new_rs, _replicas(d))
        if rollout.deployment_complete(d, d.get("status") or {}):
            self._cleanup(d, old)
        self._sync_rollout_status(d, [*old, new_rs], new_rs)

    def _old_pods_running(self, new_rs: Obj | None, old: Sequence[Obj]) -> bool:
        """True while any old ReplicaSet has a pod that is not Succeeded or
        Failed, terminating ones included (``oldPodsRunning``)."""
        if sum(rollout.status_count(rs, "replicas") for rs in old) > 0:
            return True
        for rs in old:
            for pod in self._pods_of(rs):
                if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                    return True
        return False

    # -- clean-up and status --------------------------------------------------------------------------

    def _cleanup(self, d: Obj, old: Sequence[Obj]) -> None:
        """Delete old ReplicaSets beyond ``revisionHistoryLimit`` (``cleanupDeployment``)."""
        limit = _spec(d).get("revisionHistoryLimit")
        if limit is None:
            return
        for rs in rollout.replica_sets_to_clean(old, int(limit)):
            meta = _meta(rs)
            try:
                deleted = self.client.delete(
                    "ReplicaSet", meta["name"], meta.get("namespace"), preconditions={"uid": meta.get("uid")}
                )
            except errors.ApiError as exc:
                if exc.code in (404, 409):
                    continue
                raise
            self.log.info(
                "deleted old replicaset", replicaset=key_of(rs), revision=rollout.revision_of(rs),
                producedResourceVersion=_meta(deleted).get("resourceVersion"), **obj_fields(d),
            )

    def _sync_deployment_status(self, d: Obj, all_rs: list[Obj], new_rs: Obj | None) -> None:
        status = rollout.calculate_status(d, all_rs, new_rs, rfc3339(self.clock.wall()))
        if status != (d.get("status") or {}):
            self._write_status(d, status)

    def _sync_rollout_status(self, d: Obj, all_rs: list[Obj], new_rs: Obj | None) -> None:
        now = self.clock.wall()
        status = rollout.rollout_status(d, all_rs, new_rs, now, rfc3339(now), _parse_time)
        if status == (d.get("status") or {}):
            after = rollout.requeue_after(d, status, now, _parse_time)
            if after is not None:
                self.enqueue_after(key_of(d), after + 1.0)
            return
        self._write_status(d, status)

    def _check_paused_conditions(self, d: Obj) -> None:
        """Progressing ``Unknown``: ``DeploymentPaused`` while paused,
        ``DeploymentResumed`` once resumed, so time spent paused never counts
        against the progress deadline."""
        if not rollout.has_progress_deadline(d):
            return
        status = deep_copy(d.get("status") or {})
        cond = rollout.get_condition(status, rollout.PROGRESSING)
        if cond is not None and cond.get("reason") == rollout.Reason.TIMED_OUT:
            return
        paused_cond = cond is not None and cond.get("reason") == rollout.Reason.PAUSED
        now_text = rfc3339(self.clock.wall())
        if _spec(d).get("paused") and not paused_cond:
            new = rollout.new_condition(rollout.PROGRESSING, "Unknown", rollout.Reason.PAUSED, "Deployment is paused", now_text)
        elif not _spec(d).get("paused") and paused_cond:
            new = rollout.new_condition(rollout.PROGRESSING, "Unknown", rollout.Reason.RESUMED, "Deployment is resumed", now_text)
        else:
            return
        rollout.set_condition(status, new)
        self._write_status(d, status)
