"""The resource quota controller: ``status.used`` of every ResourceQuota.

Kubernetes' ``pkg/controller/resourcequota`` recomputes what a namespace
uses of each resource its quotas limit, so ``kubectl describe quota`` and
``kubectl get quota`` (``pods: 3/10``) tell the truth. kemu does the same,
for the resources a beginner meets:

- object counts: ``pods`` (those not Succeeded or Failed), ``services``,
  ``services.nodeports``, ``services.loadbalancers``, ``secrets``,
  ``configmaps``, ``resourcequotas``, ``replicationcontrollers``,
  ``persistentvolumeclaims`` (kemu has none), and ``count/<resource>.<group>``
  for any kind kemu serves;
- compute: ``requests.cpu``/``cpu``, ``requests.memory``/``memory``,
  ``limits.cpu``, ``limits.memory`` and the ``ephemeral-storage`` twins,
  summed over the namespace's non-terminal pods (a pod's request being the
  larger of its containers' sum and its largest init container, as
  ``PodRequests`` computes it);
- the ``Terminating``/``NotTerminating`` and ``BestEffort``/``NotBestEffort``
  scopes narrow which pods count. ``scopeSelector`` (priority classes) is
  not evaluated: such a quota counts every pod.

kemu does not *enforce* quotas: a create over the limit is admitted (the
admission plugin that would refuse it is not built), and this is said in the
README. The counts are what the quota shows.

Shape: the ResourceQuota informer enqueues a quota's key; the Pod, Service,
Secret and ConfigMap informers enqueue every quota of the object's
namespace. ``sync`` recomputes from the caches (other kinds, for
``count/...``, from a live list) and writes ``status`` only when it changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

from controllermanager.base import ControllerContext, Handlers, Obj, QueueController, deep_copy, obj_fields
from kemu.api import quantity
from kemu.api.kinds import KINDS, KindInfo

__all__ = ["ResourceQuotaController", "pod_counts", "quota_usage"]

_COUNTED_KINDS = {
    "pods": "Pod",
    "services": "Service",
    "secrets": "Secret",
    "configmaps": "ConfigMap",
    "resourcequotas": "ResourceQuota",
    "replicationcontrollers": "ReplicationController",
    "persistentvolumeclaims": "PersistentVolumeClaim",
}
_CACHED_KINDS = ("Pod", "Service", "Secret", "ConfigMap")
_COMPUTE = {
    "requests.cpu": ("requests", "cpu"),
    "cpu": ("requests", "cpu"),
    "limits.cpu": ("limits", "cpu"),
    "requests.memory": ("requests", "memory"),
    "memory": ("requests", "memory"),
    "limits.memory": ("limits", "memory"),
    "requests.ephemeral-storage": ("requests", "ephemeral-storage"),
    "ephemeral-storage": ("requests", "ephemeral-storage"),
    "limits.ephemeral-storage": ("limits", "ephemeral-storage"),
}


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _best_effort(pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        res = c.get("resources") or {}
        if res.get("requests") or res.get("limits"):
            return False
    return True


def _in_scopes(pod: Obj, scopes: Sequence[str]) -> bool:
    """Whether ``pod`` is counted by a quota with ``scopes`` (all must match)."""
    spec = pod.get("spec") or {}
    terminating = spec.get("activeDeadlineSeconds") is not None
    checks = {
        "Terminating": terminating,
        "NotTerminating": not terminating,
        "BestEffort": _best_effort(pod),
        "NotBestEffort": not _best_effort(pod),
    }
    return all(checks.get(scope, True) for scope in scopes)


def _pod_amount(pod: Obj, section: str, resource: str) -> Fraction:
    """A pod's effective request (or limit) of ``resource``: the larger of
    its containers' sum and its largest init container."""
    spec = pod.get("spec") or {}

    def of(container: Obj) -> Fraction:
        res = container.get("resources") or {}
        value = (res.get(section) or {}).get(resource)
        if value is None and section == "requests":
            value = (res.get("limits") or {}).get(resource)  # a limit alone defaults the request
        return quantity.parse_quantity(value) if value is not None else Fraction(0)

    total = sum((of(c) for c in spec.get("containers") or []), Fraction(0))
    init = max((of(c) for c in spec.get("initContainers") or []), default=Fraction(0))
    return max(total, init)


def _format(resource: str, amount: Fraction) -> str:
    if resource.endswith("cpu"):
        return quantity.format_cpu(int(amount * 1000))
    if amount.denominator == 1 and amount >= 1024:
        return quantity.format_memory(int(amount))
    return quantity.canonicalize(str(float(amount)) if amount.denominator != 1 else str(int(amount)))


def pod_counts(pods: Iterable[Obj], names: Iterable[str], scopes: Sequence[str] = ()) -> dict[str, str]:
    """``pods`` and compute usage of non-terminal ``pods`` for the quota resource ``names``.

    >>> pod = {"spec": {"containers": [{"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}}]}}
    >>> pod_counts([pod, pod], ["pods", "requests.cpu", "requests.memory"])
    {'pods': '2', 'requests.cpu': '500m', 'requests.memory': '128Mi'}
    """
    live = [p for p in pods if not _terminal(p) and _in_scopes(p, scopes)]
    out: dict[str, str] = {}
    for name in names:
        if name == "pods" or name == "count/pods":
            out[name] = str(len(live))
        elif name in _COMPUTE:
            section, resource = _COMPUTE[name]
            out[name] = _format(resource, sum((_pod_amount(p, section, resource) for p in live), Fraction(0)))
    return out


def _kind_for_count(resource: str) -> KindInfo | None:
    """The kind behind ``count/<plural>[.<group>]`` (``count/deployments.apps``)."""
    plural, _, group = resource.partition(".")
    for info in KINDS.values():
        if info.plural == plural and info.group == group:
            return info
    return None


def quota_usage(quota: Obj, objects: Mapping[str, Sequence[Obj]]) -> dict[str, str]:
    """``status.used`` of ``quota`` given the namespace's ``objects`` by kind;
    resources kemu cannot count are left out (as the controller leaves
    resources no evaluator knows)."""
    hard = (quota.get("spec") or {}).get("hard") or {}
    scopes = list((quota.get("spec") or {}).get("scopes") or [])
    used = pod_counts(objects.get("Pod", ()), hard, scopes)
    for name in hard:
        if name in used:
            continue
        if name in _COUNTED_KINDS:
            used[name] = str(len(objects.get(_COUNTED_KINDS[name], ())))
        elif name.startswith("count/"):
            info = _kind_for_count(name.removeprefix("count/"))
            if info is not None:
                items = objects.get(info.kind, ())
                if info.kind == "Pod":
                    items = [p for p in items if not _terminal(p)]
                used[name] = str(len(items))
        elif name in ("services.nodeports", "services.loadbalancers"):
            services = objects.get("Service", ())
            if name == "services.loadbalancers":
                used[name] = str(sum(1 for s in services if (s.get("spec") or {}).get("type") == "LoadBalancer"))
            else:
                used[name] = str(sum(
                    1
                    for s in services
                    if (s.get("spec") or {}).get("type") in ("NodePort", "LoadBalancer")
                    for p in (s.get("spec") or {}).get("ports") or []
                    if p.get("nodePort")
                ))
    return used


class ResourceQuotaController(QueueController[str]):
    """See the module doc. Keys are ``namespace/name`` of ResourceQuotas."""

    name = "resourcequota"
    component = "resourcequota-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, workers=2)
        self.quotas = ctx.informer("ResourceQuota")
        self.caches = {kind: ctx.informer(kind) for kind in _CACHED_KINDS}
        self.quotas.add_handler(Handlers(add=self.enqueue_obj, update=lambda _old, new: self.enqueue_obj(new)))
        for informer in self.caches.values():
            informer.add_handler(
                Handlers(add=self._touched, update=lambda _old, new: self._touched(new), delete=self._touched)
            )

    def _touched(self, obj: Obj) -> None:
        """Something counted changed: every quota of its namespace is recomputed."""
        for quota in self.quotas.by_index("namespace", str(obj["metadata"].get("namespace", ""))):
            self.enqueue_obj(quota)

    def _objects(self, namespace: str, hard: Iterable[str]) -> dict[str, list[Obj]]:
        objects: dict[str, list[Obj]] = {kind: inf.by_index("namespace", namespace) for kind, inf in self.caches.items()}
        objects["ResourceQuota"] = self.quotas.by_index("namespace", namespace)
        wanted = {_COUNTED_KINDS.get(n) for n in hard} | {
            info.kind for n in hard if n.startswith("count/") and (info := _kind_for_count(n[6:])) is not None
        }
        for kind in wanted:
            if kind and kind not in objects and kind in KINDS and KINDS[kind].namespaced:
                objects[kind] = list(self.client.list(kind, namespace)["items"])
        return objects

    def sync(self, key: str) -> None:
        quota = self.quotas.get(key)
        if quota is None or quota["metadata"].get("deletionTimestamp"):
            return
        namespace = str(quota["metadata"].get("namespace", ""))
        hard = dict((quota.get("spec") or {}).get("hard") or {})
        used = quota_usage(quota, self._objects(namespace, hard))
        status: dict[str, Any] = {"hard": hard, "used": used}
        if (quota.get("status") or {}) == status:
            return
        new = deep_copy(quota)
        new["status"] = status
        written = self.client.update_status(new)
        self.log.info(
            "quota usage updated", used=used, resourceVersion=written["metadata"].get("resourceVersion"), **obj_fields(quota)
        )
