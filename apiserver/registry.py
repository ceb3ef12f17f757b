"""Kubernetes semantics on top of the store: what create, update, patch,
delete and bind mean for each kind.

This is the apiserver's "registry + strategy" layer. The store knows rows and
revisions; the registry knows that a create gets a uid and a
creationTimestamp, that a spec write leaves status alone, that generation
moves only when spec does, that deleting a pod on a node only marks it
(its kubelet finishes the job), that finalizers hold an object back, and
that a stale resourceVersion is a Conflict.

Every method checks everything before its first write, so an
:class:`~kemu.api.errors.ApiError` never leaves a half-done change behind.
Objects returned are the stored ones: callers serialise them, never mutate.
"""

from __future__ import annotations

import builtins
import base64
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apiserver.store import Store, copy_obj, node_of
from kemu.api import errors, reviews, selectors
from kemu.api import patch as patches
from kemu.api.defaults import apply_defaults, carry_over_allocated
from kemu.api.kinds import KindInfo, lookup_kind
from kemu.api.validation import check_schema, validate
from kemu.clock import Clock, RealClock, rfc3339
from kemu.types import Obj

__all__ = ["Registry", "AdmissionConfig", "SYSTEM_NAMESPACES"]


LIST_PAGE_BYTES = 16 * 1024 * 1024
"""The most object bytes one list reply carries (a quarter of the wire's
message limit, leaving room for the envelope)."""

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
"""Created at start-up; the first two may not be deleted, as in Kubernetes."""

_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' SimpleNameGenerator alphabet

TERMINAL_POD_PHASES = ("Succeeded", "Failed")


@dataclass
class AdmissionConfig:
    """Knobs of the built-in admission steps."""

    default_not_ready_toleration_seconds: int = 2
    """DefaultTolerationSeconds: how long a pod tolerates the
    ``node.kubernetes.io/not-ready:NoExecute`` taint (Kubernetes: 300)."""
    default_unreachable_toleration_seconds: int = 2
    """The same for ``node.kubernetes.io/unreachable`` (Kubernetes: 300)."""
    mutators: list[Callable[[str, Obj, Obj | None], None]] = field(default_factory=list)
    """Extra admission steps ``(kind, new, old)`` run after defaulting, before
    validation (service IP allocation plugs in here)."""


def _qos_class(pod: Obj) -> str:
    """BestEffort, Burstable or Guaranteed, as Kubernetes computes it."""
    containers = list(pod.get("spec", {}).get("containers", [])) + list(
        pod.get("spec", {}).get("initContainers", [])
    )
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and str(req[r]) != str(lim[r])):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class Registry:
    """The request semantics of every kind. See the module doc."""

    store: Store
    clock: Clock
    admission: AdmissionConfig

    def __init__(self, store: Store, *, clock: Clock | None = None, admission: AdmissionConfig | None = None):
        self.store = store
        self.clock = clock or RealClock()
        self.admission = admission or AdmissionConfig()

    # -- helpers ---------------------------------------------------------------

    @staticmethod
    def kind_info(kind: str | None) -> KindInfo:
        info = lookup_kind(kind or "")
        if info is None:
            raise errors.ApiError(
                errors.status_dict(404, "NotFound", f'the server could not find the requested resource (kind "{kind}")')
            )
        return info

    def _scope(self, info: KindInfo, namespace: str | None) -> str:
        if not info.namespaced:
            return ""
        if not namespace:
            raise errors.bad_request(f"a namespace is required for {info.plural}")
        return namespace

    def _get(self, info: KindInfo, namespace: str, name: str | None) -> Obj:
        if not name:
            raise errors.bad_request("a resource name is required")
        obj = self.store.get(info.kind, namespace, name)
        if obj is None:
            raise errors.not_found(info.kind, name)
        return obj

    def _now(self) -> str:
        return rfc3339(self.clock.wall())

    def ensure_system_namespaces(self) -> None:
        """Create the namespaces every cluster has; call inside a transaction."""
        for ns in SYSTEM_NAMESPACES:
            if self.store.get("Namespace", "", ns) is None:
                self.create("Namespace", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    # -- reads -----------------------------------------------------------------

    def get(self, kind: str | None, namespace: str | None, name: str | None) -> Obj:
        info = self.kind_info(kind)
        return self._get(info, self._scope(info, namespace) if info.namespaced and namespace else "", name)

    def list(
        self,
        kind: str | None,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Obj:
        """A ``<Kind>List``: items sorted by namespace and name, with the
        revision the list reflects (watch from there)."""
        info = self.kind_info(kind)
        try:
            lsel = selectors.LabelSelector.parse(label_selector or "")
            fsel = selectors.FieldSelector.parse(field_selector or "").validate(info.kind)
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
        ns = namespace if info.namespaced and namespace else None
        node = fsel.requires_exact_match("spec.nodeName") if info.kind == "Pod" else None
        candidates = self.store.pods_on_node(node) if node else self.store.list(info.kind, ns)
        if lsel.empty and fsel.empty and not node:
            items = list(candidates)  # the common case: no filtering at all
        else:
            items = [
                o
                for o in candidates
                if (ns is None or o["metadata"].get("namespace") == ns)
                and lsel.matches(o["metadata"].get("labels") or {})
                and fsel.matches(o, kind=info.kind)
            ]
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        meta: Obj = {"resourceVersion": str(self.store.revision)}
        if continue_token:
            after = _decode_continue(continue_token)
            items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after]
        cut = limit if limit and limit > 0 and len(items) > limit else len(items)
        cut = self._fit_page(info.kind, items, cut)
        if cut < len(items):
            last = items[cut - 1]["metadata"]
            meta["continue"] = _encode_continue(last.get("namespace", ""), last["name"])
            meta["remainingItemCount"] = len(items) - cut
            items = items[:cut]
        return {"apiVersion": info.api_version, "kind": f"{info.kind}List", "metadata": meta, "items": items}

    def _fit_page(self, kind: str, items: builtins.list[Obj], cut: int) -> int:
        """How many of the first ``cut`` items fit in one reply of at most
        :data:`LIST_PAGE_BYTES` (at least one): a bigger list is served in
        pages with a continue token, which :meth:`kemu.client.Client.list_all`
        follows, so lists of any size work and only single objects are bounded."""
        budget = LIST_PAGE_BYTES
        if self.store.total_size(kind) <= budget:  # the common case: the whole kind fits
            return cut
        size_of = self.store.size_of
        for i in range(cut):
            meta = items[i]["metadata"]
            budget -= size_of(kind, meta.get("namespace") or "", meta["name"])
            if budget < 0:
                return max(i, 1)
        return cut

    # -- create ----------------------------------------------------------------

    def create(self, kind: str | None, namespace: str | None, body: Any, *, dry_run: bool = False) -> Obj:
        info = self.kind_info(kind)
        obj = self._decode_body(info, body)
        if info.kind in reviews.REVIEW_KINDS:
            return reviews.evaluate(obj)  # answered, never stored
        meta = obj.setdefault("metadata", {})
        if info.namespaced:
            ns = namespace or meta.get("namespace") or "default"
            if meta.get("namespace") and meta["namespace"] != ns:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = ns
            self._check_namespace_open(ns)
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = self._generate_name(info, meta.get("namespace", ""), str(meta["generateName"]))
        apply_defaults(obj)
        self._admit(info.kind, obj, None)
        validate(obj)
        name = meta["name"]
        if self.store.get(info.kind, meta.get("namespace", ""), name) is not None:
            raise errors.already_exists(info.kind, name)
        for transient in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            meta.pop(transient, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self._now()
        if "spec" in obj or info.kind in ("Deployment", "ReplicaSet", "ReplicationController", "Pod", "Service"):
            meta["generation"] = 1
        self._prepare_status_for_create(info, obj)
        if dry_run:
            return obj
        return self.store.put(info.kind, obj, created=True)

    def _decode_body(self, info: KindInfo, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of the request must be a {info.kind} object")
        obj = copy_obj(body)
        obj.setdefault("apiVersion", info.api_version)
        obj.setdefault("kind", info.kind)
        if obj["kind"] != info.kind or obj["apiVersion"] != info.api_version:
            raise errors.bad_request(
                f"the API version in the data ({obj['apiVersion']}) does not match the expected API version"
                f" ({info.api_version})"
                if obj["kind"] == info.kind
                else f"the kind in the data ({obj['kind']}) does not match the expected kind ({info.kind})"
            )
        if not isinstance(obj.get("metadata", {}), dict):
            raise errors.bad_request(
                f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: '
                "json: cannot unmarshal into Go struct field .metadata of type v1.ObjectMeta"
            )
        check_schema(obj)
        return obj

    def _check_namespace_open(self, ns: str) -> None:
        nso = self.store.get("Namespace", "", ns)
        if nso is None:
            raise errors.not_found("Namespace", ns)
        if nso["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                f"unable to create new content in namespace {ns} because it is being terminated",
                kind=None,
                name=None,
            )

    def _generate_name(self, info: KindInfo, ns: str, prefix: str) -> str:
        base = prefix[: 63 - 5]
        for _ in range(16):
            name = base + "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(5))
            if self.store.get(info.kind, ns, name) is None:
                return name
        raise errors.ApiError(
            errors.status_dict(
                409, "AlreadyExists", f"could not generate a unique name for {info.plural} with prefix {prefix!r}"
            )
        )

    def _prepare_status_for_create(self, info: KindInfo, obj: Obj) -> None:
        if info.kind == "Pod":
            obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj)}
        elif info.kind == "Namespace":
            obj["status"] = {"phase": "Active"}
        elif info.kind in ("Deployment", "ReplicaSet"):
            obj["status"] = {}
        elif info.kind == "ReplicationController":
            obj["status"] = {"replicas": 0}
        elif info.kind == "Service" or info.kind == "Ingress":
            obj["status"] = {"loadBalancer": {}}
        elif info.kind == "ResourceQuota":
            obj["status"] = {}
            _mirror_quota_hard(obj, None)

    def _admit(self, kind: str, obj: Obj, old: Obj | None) -> None:
        if kind == "Pod" and old is None:
            self._default_tolerations(obj)
            self._default_service_account(obj)
        if kind == "ResourceQuota" and old is not None:
            _mirror_quota_hard(obj, old)
        for mutate in self.admission.mutators:
            mutate(kind, obj, old)

    def _default_tolerations(self, pod: Obj) -> None:
        """DefaultTolerationSeconds admission: every pod tolerates a not-ready
        or unreachable node for a while before it is evicted."""
        spec = pod.setdefault("spec", {})
        tolerations = spec.setdefault("tolerations", [])
        for key, seconds in (
            ("node.kubernetes.io/not-ready", self.admission.default_not_ready_toleration_seconds),
            ("node.kubernetes.io/unreachable", self.admission.default_unreachable_toleration_seconds),
        ):
            if any(t.get("key") == key and t.get("effect") in (None, "", "NoExecute") for t in tolerations):
                continue
            tolerations.append(
                {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}
            )

    def _default_service_account(self, pod: Obj) -> None:
        """The ServiceAccount admission plugin: a pod runs as ``default``
        unless it names another account, and a named account must exist.

        The plugin also mounts a projected API token (``kube-api-access-*``)
        into every container; kemu does not, since no process in a kemu pod
        can use it (tokens grant nothing, see :mod:`kemu.api.reviews`). A
        missing ``default`` is let through: its controller creates it within
        moments of the namespace, and refusing pods in that window (as
        Kubernetes does, "retry after the service account is created") would
        only make a new namespace's first pod flaky.
        """
        spec = pod.setdefault("spec", {})
        name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec["serviceAccountName"] = spec["serviceAccount"] = name
        ns = pod.get("metadata", {}).get("namespace", "")
        if name != "default" and self.store.get("ServiceAccount", ns, name) is None:
            raise errors.forbidden(
                f'pods "{pod["metadata"].get("name") or pod["metadata"].get("generateName", "")}" is forbidden: '
                f'error looking up service account {ns}/{name}: serviceaccount "{name}" not found',
                kind="Pod",
                name=pod["metadata"].get("name"),
            )

    # -- update ----------------------------------------------------------------

    def update(
        self,
        kind: str | None,
        namespace: str | None,
        name: str | None,
        body: Any,
        *,
        status: bool = False,
        dry_run: bool = False,
    ) -> Obj:
        """A full replace of spec and metadata (``status=False``) or of status
        only (``status=True``), with optimistic concurrency."""
        info = self.kind_info(kind)
        ns = self._scope(info, namespace)
        old = self._get(info, ns, name)
        new = self._decode_body(info, body)
        meta = new.setdefault("metadata", {})
        if meta.get("name", name) != name:
            raise errors.bad_request(
                f'the name of the object ({meta.get("name")}) does not match the name on the URL ({name})'
            )
        meta["name"] = name
        if info.namespaced:
            if meta.get("namespace", ns) != ns:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = ns
        self._check_preconditions(info, old, meta.get("uid"), meta.get("resourceVersion"))
        if status:
            if not info.has_status:
                raise errors.ApiError(errors.status_dict(404, "NotFound", f"{info.plural} has no status subresource"))
            merged = copy_obj(old)
            merged["status"] = new.get("status") or {}
            new = merged
        else:
            self._keep_system_metadata(old, new)
            if info.has_status:
                if old.get("status") is not None:
                    new["status"] = copy_obj(old["status"])
                else:
                    new.pop("status", None)
            apply_defaults(new)
            carry_over_allocated(new, old)  # a PUT without clusterIP keeps the allocated one
            self._admit(info.kind, new, old)
        validate(new, old)
        if (new.get("spec") != old.get("spec")) and "generation" in old["metadata"]:
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        return self._write_update(info, old, new, dry_run=dry_run)

    def _keep_system_metadata(self, old: Obj, new: Obj) -> None:
        om, nm = old["metadata"], new["metadata"]
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if key in om:
                nm[key] = om[key]
            else:
                nm.pop(key, None)

    def _check_preconditions(self, info: KindInfo, old: Obj, uid: Any, rv: Any) -> None:
        om = old["metadata"]
        name = om["name"]
        if uid and uid != om.get("uid"):
            raise errors.conflict(
                info.kind, name, f"Precondition failed: UID in precondition: {uid}, UID in object meta: {om.get('uid')}"
            )
        if rv not in (None, "") and str(rv) != om.get("resourceVersion"):
            raise errors.conflict(
                info.kind, name, "the object has been modified; please apply your changes to the latest version and try again"
            )

    def _write_update(self, info: KindInfo, old: Obj, new: Obj, *, dry_run: bool) -> Obj:
        new["metadata"]["resourceVersion"] = old["metadata"].get("resourceVersion")
        if new == old:
            return old  # a no-op write changes nothing, not even the resourceVersion
        if dry_run:
            return new
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not self._awaits_kubelet(info, new):
            return self.store.remove(info.kind, new)
        return self.store.put(info.kind, new, created=False)

    @staticmethod
    def _awaits_kubelet(info: KindInfo, obj: Obj) -> bool:
        """A terminating pod on a node stays until its kubelet deletes it with
        grace 0 (or the grace period is 0 already)."""
        if info.kind == "Namespace":
            return bool(obj.get("spec", {}).get("finalizers"))
        return (
            info.kind == "Pod"
            and bool(node_of(obj))
            and int(obj["metadata"].get("deletionGracePeriodSeconds") or 0) > 0
            and obj.get("status", {}).get("phase") not in TERMINAL_POD_PHASES
        )

    # -- patch -----------------------------------------------------------------

    def patch(
        self,
        kind: str | None,
        namespace: str | None,
        name: str | None,
        body: Any,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Apply a JSON merge patch (``merge``), a strategic merge patch
        (``strategic``) or a JSON patch (``json``), then update."""
        info = self.kind_info(kind)
        ns = self._scope(info, namespace)
        current = self._get(info, ns, name)
        try:
            if patch_type == "merge":
                if not isinstance(body, dict):
                    raise ValueError("a merge patch must be a JSON object")
                patched = patches.merge_patch(current, body)
            elif patch_type == "strategic":
                if not isinstance(body, dict):
                    raise ValueError("a strategic merge patch must be a JSON object")
                patched = patches.strategic_merge_patch(current, body, info.kind)
            elif patch_type == "json":
                if not isinstance(body, list):
                    raise ValueError("a JSON patch must be a list of operations")
                patched = patches.json_patch(current, body)
            else:
                raise errors.ApiError(
                    errors.status_dict(415, "UnsupportedMediaType", f"unsupported patch type {patch_type!r}")
                )
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
        except (TypeError, AttributeError, KeyError) as exc:  # a patch whose shape the object does not have
            raise errors.bad_request(f"unable to apply the {patch_type} patch: {type(exc).__name__}: {exc}") from None
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch did not produce an object")
        meta = patched.get("metadata")
        if not isinstance(meta, dict) or meta.get("name") != name:
            found = meta.get("name", "") if isinstance(meta, dict) else ""
            raise errors.bad_request(f"the name of the object ({found}) does not match the name on the URL ({name})")
        if patched.get("metadata", {}).get("resourceVersion") is None:
            patched.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
        status = subresource == "status"
        if subresource not in (None, "", "status"):
            raise errors.bad_request(f"unsupported subresource {subresource!r} for patch")
        return self.update(info.kind, ns, name, patched, status=status, dry_run=dry_run)

    # -- delete ----------------------------------------------------------------

    def delete(
        self,
        kind: str | None,
        namespace: str | None,
        name: str | None,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Delete now, or mark for deletion when finalizers or a graceful pod
        termination hold the object back. Returns the object as deleted or as
        marked."""
        info = self.kind_info(kind)
        ns = self._scope(info, namespace)
        old = self._get(info, ns, name)
        pre = preconditions or {}
        self._check_preconditions(info, old, pre.get("uid"), pre.get("resourceVersion"))
        if propagation_policy not in (None, "", "Orphan", "Background", "Foreground"):
            raise errors.bad_request(
                f'Unsupported value: "{propagation_policy}": supported values: "Foreground", "Background", "Orphan"'
            )
        if grace_period_seconds is not None and grace_period_seconds < 0:
            raise errors.bad_request("gracePeriodSeconds must be greater than or equal to 0")
        if info.kind == "Namespace" and name in ("default", "kube-system", "kube-public"):
            raise errors.forbidden(f"namespace {name} is forbidden: this namespace may not be deleted")
        new = copy_obj(old)
        meta = new["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if propagation_policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        if propagation_policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if finalizers:
            meta["finalizers"] = finalizers
        grace = self._grace_period(info, old, grace_period_seconds)
        already = bool(old["metadata"].get("deletionTimestamp"))
        if already:
            # A second delete may only shorten the grace period.
            current = int(old["metadata"].get("deletionGracePeriodSeconds") or 0)
            if grace >= current and finalizers == list(old["metadata"].get("finalizers") or []):
                if grace == 0 and current == 0 and not finalizers:
                    return old if dry_run else self.store.remove(info.kind, old)
                return old
        if grace > 0 or finalizers or info.kind == "Namespace":
            if not already or grace < int(old["metadata"].get("deletionGracePeriodSeconds") or 0):
                meta["deletionTimestamp"] = rfc3339(self.clock.wall() + grace)
                meta["deletionGracePeriodSeconds"] = grace
            if info.kind == "Namespace":
                new.setdefault("status", {})["phase"] = "Terminating"
            if dry_run:
                return new
            if not finalizers and not self._awaits_kubelet(info, new):
                return self.store.remove(info.kind, new)
            return self.store.put(info.kind, new, created=False)
        if dry_run:
            return old
        return self.store.remove(info.kind, old)

    def _grace_period(self, info: KindInfo, obj: Obj, requested: int | None) -> int:
        if info.kind != "Pod":
            return 0
        if not node_of(obj) or obj.get("status", {}).get("phase") in TERMINAL_POD_PHASES:
            return 0  # nothing runs it: delete at once
        if requested is not None:
            return requested
        return int(obj.get("spec", {}).get("terminationGracePeriodSeconds", 30) or 0)

    # -- bind ------------------------------------------------------------------

    def bind(self, namespace: str | None, name: str | None, body: Any) -> Obj:
        """pods/binding: set ``spec.nodeName`` once, and the PodScheduled condition."""
        info = self.kind_info("Pod")
        ns = self._scope(info, namespace)
        pod = self._get(info, ns, name)
        target = body.get("target", {}).get("name") if isinstance(body, dict) else None
        if not isinstance(target, str) or not target:
            raise errors.bad_request("a binding needs target.name (the node)")
        if node_of(pod):
            raise errors.conflict("Pod", str(name), f'pod {name} is already assigned to node "{node_of(pod)}"')
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.conflict("Pod", str(name), "pod is being deleted, cannot be assigned to a host")
        new = copy_obj(pod)
        new["spec"]["nodeName"] = target
        conds = [c for c in new.setdefault("status", {}).get("conditions", []) if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": self._now()})
        new["status"]["conditions"] = conds
        return self.store.put("Pod", new, created=False)


def _mirror_quota_hard(quota: Obj, old: Obj | None) -> None:
    """``status.hard`` of a ResourceQuota follows ``spec.hard`` (the quota
    controller's first job, done at write time here so a quota reads right
    at once); ``status.used`` keeps what was counted, starting each newly
    limited resource at zero until the controller counts it."""
    hard = dict((quota.get("spec") or {}).get("hard") or {})
    status = quota.get("status")
    if not isinstance(status, dict):
        status = quota["status"] = copy_obj((old or {}).get("status") or {})
    used = dict(status.get("used") or {})
    status["hard"] = hard
    status["used"] = {name: used.get(name, "0") for name in hard}


def _encode_continue(ns: str, name: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([ns, name]).encode()).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        ns, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(ns), str(name)
    except (ValueError, TypeError):  # bad base64, bad JSON, not a pair
        raise errors.bad_request("continue key is not valid: malformed token") from None

