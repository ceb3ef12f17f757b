"""The garbage collector: cascading deletion along ownerReferences.

Kubernetes' ``pkg/controller/garbagecollector`` without its full dependency
graph: the informers' ``owner`` index (dependents filed under their owners'
uids) answers "who depends on X", and an owner reference is resolved by uid,
first in the owner kind's informer, then by a live read (a cache that has not
seen a brand-new owner must never get its dependents deleted).

Three behaviours, as ``kubectl delete --cascade=...`` chooses them:

- **background** (the default): once every owner of an object is gone (no
  object of that kind and name, or one with another uid: the owner was
  re-created), the object is deleted. An object with a live owner too only
  loses the dangling references.
- **foreground**: an owner deleted with ``propagationPolicy: Foreground``
  carries a deletionTimestamp and the ``foregroundDeletion`` finalizer. Its
  dependents are deleted (with Foreground themselves when they have
  dependents, so the chain waits bottom-up); when no dependent that blocks
  it (``blockOwnerDeletion: true``) is left, the finalizer is removed and the
  apiserver removes the owner. A pod terminating on a live node is still
  there, so it still blocks, until its kubelet finishes it.
- **orphan**: an owner with the ``orphan`` finalizer: the references to it
  are removed from every dependent, then the finalizer.

Threads. The handlers of every watched kind's informer enqueue
``(kind, key)`` for an object that has owners, that is being deleted with one
of the two finalizers, or whose dependents (or owners) should look again
because it was deleted. Workers run :meth:`GarbageCollector.sync`, which
decides with :func:`classify_owners` and writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from controllermanager.base import (
    ControllerContext,
    Handlers,
    Obj,
    QueueController,
    key_of,
    obj_fields,
    update_with_retry,
)
from kemu.api import errors
from kemu.api.kinds import lookup_kind

__all__ = [
    "DEFAULT_KINDS",
    "FOREGROUND",
    "ORPHAN",
    "GCKey",
    "GarbageCollector",
    "OwnerState",
    "classify_owners",
    "deletion_policy",
]

GCKey = tuple[str, str]
"""``(kind, "namespace/name")`` (or ``(kind, "name")`` for cluster-scoped kinds)."""

DEFAULT_KINDS = ("Pod", "ReplicaSet", "ReplicationController", "Deployment", "Lease", "Node")
"""Kinds watched for owners and dependents (Nodes own Leases)."""

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"

OwnerState = Literal["solid", "dangling", "waiting"]
"""An owner that exists; one that is gone; one that exists but is being
deleted in the foreground (waiting for its dependents)."""


def classify_owners(states: Sequence[tuple[Obj, OwnerState]]) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """Split ``(ownerReference, state)`` pairs into (solid, dangling, waiting) references."""
    solid = [r for r, s in states if s == "solid"]
    dangling = [r for r, s in states if s == "dangling"]
    waiting = [r for r, s in states if s == "waiting"]
    return solid, dangling, waiting


def deletion_policy(obj: Obj, waiting: Sequence[Obj], has_dependents: bool) -> str:
    """The propagationPolicy the collector deletes an ownerless ``obj`` with.

    - an owner is deleting in the foreground and ``obj`` has dependents of its
      own: ``Foreground`` (they go first, the chain waits);
    - ``obj`` already carries the orphan or foregroundDeletion finalizer: the
      matching policy;
    - otherwise ``Background``.
    """
    finalizers = (obj.get("metadata") or {}).get("finalizers") or []
    if waiting and has_dependents:
        return "Foreground"
    if ORPHAN in finalizers:
        return "Orphan"
    if FOREGROUND in finalizers:
        return "Foreground"
    return "Background"


def _owner_key(ref: Obj, namespace: str) -> tuple[str, str] | None:
    """``(kind, key)`` of the owner a reference names, or None for a kind kemu does not serve."""
    info = lookup_kind(str(ref.get("kind") or ""))
    if info is None or not ref.get("name"):
        return None
    return info.kind, f"{namespace}/{ref['name']}" if info.namespaced else str(ref["name"])


class GarbageCollector(QueueController[GCKey]):
    """See the module doc."""

    name = "garbagecollector"
    component = "garbage-collector-controller"

    kinds: tuple[str, ...]
    """The kinds whose informers the collector watches."""

    def __init__(self, ctx: ControllerContext, kinds: Iterable[str] = DEFAULT_KINDS) -> None:
        super().__init__(ctx, workers=ctx.options.concurrent_gc_syncs)
        self.kinds = tuple(kinds)
        self.informers = {kind: ctx.informer(kind) for kind in self.kinds}
        for kind, inf in self.informers.items():
            inf.add_handler(self._handlers_for(kind))

    def _handlers_for(self, kind: str) -> Handlers:
        """Handlers that know which kind they watch (one informer per kind)."""

        def added(obj: Obj) -> None:
            self._changed(kind, obj)

        def updated(old: Obj, new: Obj) -> None:
            self._updated(kind, old, new)

        def deleted(obj: Obj) -> None:
            self._deleted(kind, obj)

        return Handlers(add=added, update=updated, delete=deleted)

    def on_start(self) -> None:
        # Objects whose owners vanished while no collector ran.
        for kind, inf in self.informers.items():
            for obj in inf.list():
                self._changed(kind, obj)

    # -- handlers -------------------------------------------------------------------

    @staticmethod
    def _interesting(obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        if meta.get("ownerReferences"):
            return True
        finalizers = meta.get("finalizers") or []
        return bool(meta.get("deletionTimestamp")) and (ORPHAN in finalizers or FOREGROUND in finalizers)

    def _changed(self, kind: str, obj: Obj) -> None:
        if self._interesting(obj):
            self.enqueue((kind, key_of(obj)))

    def _updated(self, kind: str, old: Obj, new: Obj) -> None:
        om, nm = old.get("metadata") or {}, new.get("metadata") or {}
        if (
            om.get("ownerReferences") != nm.get("ownerReferences")
            or om.get("deletionTimestamp") != nm.get("deletionTimestamp")
            or om.get("finalizers") != nm.get("finalizers")
        ):
            self._changed(kind, new)
        # A dependent started terminating: a foreground owner may be waiting on it.
        if nm.get("deletionTimestamp") and not om.get("deletionTimestamp"):
            self._enqueue_owners(new)

    def _deleted(self, kind: str, obj: Obj) -> None:
        uid = (obj.get("metadata") or {}).get("uid")
        if uid:
            for dep_kind, inf in self.informers.items():
                for dep in inf.by_index("owner", uid):
                    self.enqueue((dep_kind, key_of(dep)))
        self._enqueue_owners(obj)

    def _enqueue_owners(self, obj: Obj) -> None:
        ns = (obj.get("metadata") or {}).get("namespace", "")
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
            owner = _owner_key(ref, ns)
            if owner is not None and owner[0] in self.informers:
                self.enqueue(owner)

    # -- sync -----------------------------------------------------------------------

    def sync(self, key: GCKey) -> None:
        kind, obj_key = key
        inf = self.informers.get(kind)
        if inf is None:
            return
        obj = inf.get(obj_key)
        if obj is None:
            return
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            finalizers = meta.get("finalizers") or []
            if ORPHAN in finalizers:
                self._orphan_dependents(obj)
            elif FOREGROUND in finalizers:
                self._delete_dependents(obj)
            return
        refs = meta.get("ownerReferences") or []
        if not refs:
            return
        ns = meta.get("namespace", "")
        solid, dangling, waiting = classify_owners([(ref, self._owner_state(ref, ns)) for ref in refs])
        if solid:
            if dangling or waiting:
                self._remove_references(obj, [r["uid"] for r in dangling + waiting])
            return
        policy = deletion_policy(obj, waiting, bool(self._dependents(obj)))
        self._delete(obj, policy, owners=[r.get("name") for r in refs])

    def _owner_state(self, ref: Obj, namespace: str) -> OwnerState:
        """Resolve one reference: the cache first, then a live read."""
        owner_key = _owner_key(ref, namespace)
        if owner_key is None:
            return "solid"  # a kind we cannot look up: never delete on a guess
        kind, key = owner_key
        owner: Obj | None = None
        inf = self.informers.get(kind)
        if inf is not None:
            cached = inf.get(key)
            if cached is not None and cached["metadata"].get("uid") == ref.get("uid"):
                owner = cached
        if owner is None:
            try:
                owner = self.client.get(kind, str(ref["name"]), namespace or None)
            except errors.ApiError as exc:
                if exc.code == 404:
                    return "dangling"
                raise
            if owner["metadata"].get("uid") != ref.get("uid"):
                return "dangling"  # same name, another object: the owner we knew is gone
        om = owner["metadata"]
        if om.get("deletionTimestamp") and FOREGROUND in (om.get("finalizers") or []):
            return "waiting"
        return "solid"

    def _dependents(self, owner: Obj) -> list[tuple[str, Obj]]:
        uid = owner["metadata"].get("uid", "")
        return [(kind, dep) for kind, inf in self.informers.items() for dep in inf.by_index("owner", uid)]

    # -- foreground and orphan ---------------------------------------------------------

    def _delete_dependents(self, owner: Obj) -> None:
        uid = owner["metadata"]["uid"]
        blocking = []
        for kind, dep in self._dependents(owner):
            ref: Obj = next((r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") == uid), {})
            if ref.get("blockOwnerDeletion") is True:
                blocking.append((kind, dep))
            if not dep["metadata"].get("deletionTimestamp"):
                self.enqueue((kind, key_of(dep)))  # its sync sees a waiting owner and deletes it
        if blocking:
            self.log.debug("waiting for dependents", remaining=len(blocking), **obj_fields(owner))
            return
        self._remove_finalizer(owner, FOREGROUND)

    def _orphan_dependents(self, owner: Obj) -> None:
        uid = owner["metadata"]["uid"]
        for _kind, dep in self._dependents(owner):
            self._remove_references(dep, [uid])
        self._remove_finalizer(owner, ORPHAN)

    # -- writes --------------------------------------------------------------------------

    def _delete(self, obj: Obj, policy: str, owners: list[object]) -> None:
        meta = obj["metadata"]
        try:
            result = self.client.delete(
                obj["kind"], meta["name"], meta.get("namespace"), propagation_policy=policy, preconditions={"uid": meta["uid"]}
            )
        except errors.ApiError as exc:
            if exc.code in (404, 409):
                return
            raise
        self.log.info(
            "deleting object, its owners are gone", policy=policy, owners=owners,
            producedResourceVersion=(result.get("metadata") or {}).get("resourceVersion"), **obj_fields(obj),
        )

    def _remove_references(self, obj: Obj, uids: list[str]) -> None:
        meta = obj["metadata"]
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": u} for u in uids], "uid": meta["uid"]}}
        try:
            updated = self.client.patch(obj["kind"], meta["name"], patch, meta.get("namespace"), patch_type="strategic")
        except errors.ApiError as exc:
            if exc.code in (404, 409):
                return
            raise
        self.log.info(
            "removed owner references", owners=uids,
            producedResourceVersion=updated["metadata"].get("resourceVersion"), **obj_fields(obj),
        )

    def _remove_finalizer(self, obj: Obj, finalizer: str) -> None:
        def drop(o: Obj) -> None:
            o["metadata"]["finalizers"] = [f for f in o["metadata"].get("finalizers") or [] if f != finalizer]

        updated = update_with_retry(self.client, obj, drop)
        if updated is None:
            return
        self.log.info(
            "removed finalizer", finalizer=finalizer,
            producedResourceVersion=(updated.get("metadata") or {}).get("resourceVersion"), **obj_fields(obj),
        )
