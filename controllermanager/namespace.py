"""The namespace controller: empty a terminating namespace, then let it go.

``kubectl delete namespace team-a`` only marks the namespace (the apiserver
sets its deletionTimestamp and ``status.phase: Terminating``, and refuses new
objects in it); the namespace stays while ``spec.finalizers`` holds
``kubernetes``. This controller (Kubernetes' ``pkg/controller/namespace``,
``NamespacedResourcesDeleter``) then deletes every namespaced object of every
kind in it — Deployments and ReplicaSets first so nothing re-creates pods,
pods gracefully so their kubelets stop them — and, once a live listing finds
nothing left, removes the ``kubernetes`` finalizer with an update; the
apiserver then removes the namespace.

Threads: the Namespace informer's handlers enqueue namespace names; workers
run :meth:`NamespaceController.sync`. What is left (pods still terminating)
is checked again after a short delay; the listing is live (not cached),
because the controller has no informer for most kinds and must not finalize
on a stale view.
"""

from __future__ import annotations

from controllermanager.base import (
    ControllerContext,
    Handlers,
    Obj,
    QueueController,
    obj_fields,
    update_with_retry,
)
from kemu.api import errors
from kemu.api.kinds import KINDS

__all__ = ["NAMESPACE_FINALIZER", "RECHECK_DELAY", "NamespaceController", "deletion_order"]

NAMESPACE_FINALIZER = "kubernetes"
RECHECK_DELAY = 0.5
"""Seconds before a namespace with content still terminating is looked at again."""

_FIRST = ("Deployment", "ReplicaSet", "Pod")


def deletion_order() -> list[str]:
    """Namespaced kinds in the order their objects are deleted: controllers
    before pods (so nothing re-creates them), then everything else, Events last
    (they tell the story of the deletion until the end).

    >>> deletion_order()[:3]
    ['Deployment', 'ReplicaSet', 'Pod']
    >>> deletion_order()[-1]
    'Event'
    """
    rest = sorted(k for k, info in KINDS.items() if info.namespaced and k not in _FIRST and k != "Event")
    return [*_FIRST, *rest, "Event"]


class NamespaceController(QueueController[str]):
    """See the module doc. Keys are namespace names."""

    name = "namespace"
    component = "namespace-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, workers=ctx.options.concurrent_namespace_syncs)
        self.namespaces = ctx.informer("Namespace")
        self.namespaces.add_handler(
            Handlers(add=self._changed, update=lambda _old, new: self._changed(new))
        )

    def _changed(self, ns: Obj) -> None:
        if ns["metadata"].get("deletionTimestamp"):
            self.enqueue_obj(ns)

    def sync(self, key: str) -> None:
        ns = self.namespaces.get(key)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        if NAMESPACE_FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return  # finalized already; the apiserver removes it
        remaining = self._delete_content(key)
        if remaining:
            self.log.info("namespace content remaining", remaining=remaining, **obj_fields(ns))
            self.enqueue_after(key, RECHECK_DELAY)
            return
        self._finalize(ns)

    def _delete_content(self, namespace: str) -> dict[str, int]:
        """Delete what is in ``namespace``; return what is still there, by kind."""
        remaining: dict[str, int] = {}
        for kind in deletion_order():
            items = self.client.list(kind, namespace)["items"]
            for obj in items:
                meta = obj["metadata"]
                if meta.get("deletionTimestamp"):
                    continue
                try:
                    self.client.delete(kind, meta["name"], namespace, preconditions={"uid": meta.get("uid")})
                except errors.ApiError as exc:
                    if exc.code in (404, 409):
                        continue
                    raise
                self.log.debug("deleted namespace content", **obj_fields(obj))
            if items:
                left = len(self.client.list(kind, namespace)["items"])
                if left:
                    remaining[kind] = left
        return remaining

    def _finalize(self, ns: Obj) -> None:
        def drop(o: Obj) -> None:
            spec = o.setdefault("spec", {})
            spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != NAMESPACE_FINALIZER]

        update_with_retry(self.client, ns, drop)
        self.log.info("namespace emptied and finalized", **obj_fields(ns))
