"""The pod garbage collector: pods nobody else will ever finish.

Kubernetes' ``pkg/controller/podgc`` in kemu's words. Two jobs:

- **Orphaned pods.** A pod bound to a node that does not exist (the node was
  deleted, or the pod names a node that never registered) has no kubelet to
  run or finish it. After a *quarantine* (``pod_gc_quarantine``, 2 s: a pod
  can be bound an instant before its node's informer event arrives) and a
  live read confirming the node is really gone, every pod of that node is
  force-deleted (grace 0), terminating ones included, after a
  ``DisruptionTarget`` condition (reason ``DeletionByPodGC``) says why.
- **Terminated pods.** Succeeded and Failed pods beyond
  ``--terminated-pod-gc-threshold`` (12500) are deleted, oldest first.

Threads: the informers' handlers enqueue ``("orphaned", node)`` keys (with
the quarantine as delay) when they see a pod on an unknown node or a node
deleted, and one ``("terminated", "")`` key at most once per
``pod_gc_period`` when a pod finished; workers run :meth:`PodGCController.sync`.
"""

from __future__ import annotations

from collections.abc import Sequence

from controllermanager.base import (
    ControllerContext,
    Handlers,
    Obj,
    QueueController,
    obj_fields,
    parse_time,
)
from kemu.api import errors
from kemu.clock import rfc3339

__all__ = ["PodGCController", "PodGCKey", "terminated_pods_to_delete"]

PodGCKey = tuple[str, str]
"""``("orphaned", node name)`` or ``("terminated", "")``."""

_TERMINAL = ("Succeeded", "Failed")


def terminated_pods_to_delete(pods: Sequence[Obj], threshold: int) -> list[Obj]:
    """The terminated (Succeeded/Failed) pods beyond ``threshold``, oldest first.

    >>> old = {"metadata": {"name": "a", "creationTimestamp": "2024-01-01T00:00:00Z"}, "status": {"phase": "Failed"}}
    >>> new = {"metadata": {"name": "b", "creationTimestamp": "2024-01-02T00:00:00Z"}, "status": {"phase": "Succeeded"}}
    >>> [p["metadata"]["name"] for p in terminated_pods_to_delete([new, old], 1)]
    ['a']
    """
    if threshold <= 0:
        return []
    terminated = [p for p in pods if (p.get("status") or {}).get("phase") in _TERMINAL]
    excess = len(terminated) - threshold
    if excess <= 0:
        return []
    terminated.sort(key=lambda p: (parse_time(p["metadata"].get("creationTimestamp")) or 0.0, p["metadata"].get("name", "")))
    return terminated[:excess]


class PodGCController(QueueController[PodGCKey]):
    """See the module doc."""

    name = "podgc"
    component = "pod-garbage-collector"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, workers=1, max_backoff=5.0)
        self.quarantine = ctx.options.pod_gc_quarantine
        self.threshold = ctx.options.terminated_pod_gc_threshold
        self.period = ctx.options.pod_gc_period
        self.pods = ctx.informer("Pod")
        self.nodes = ctx.informer("Node")
        self.pods.add_handler(Handlers(add=self._pod_changed, update=lambda _old, new: self._pod_changed(new)))
        self.nodes.add_handler(Handlers(delete=self._node_deleted))

    def on_start(self) -> None:
        for pod in self.pods.list():
            self._pod_changed(pod)

    # -- handlers ------------------------------------------------------------------

    def _pod_changed(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and self.nodes.get(node) is None:
            self.enqueue_after(("orphaned", node), self.quarantine)
        if self.threshold > 0 and (pod.get("status") or {}).get("phase") in _TERMINAL:
            self.enqueue_after(("terminated", ""), self.period)

    def _node_deleted(self, node: Obj) -> None:
        self.enqueue_after(("orphaned", node["metadata"]["name"]), self.quarantine)

    # -- sync ----------------------------------------------------------------------

    def sync(self, key: PodGCKey) -> None:
        what, arg = key
        if what == "orphaned":
            self._gc_orphaned(arg)
        elif what == "terminated":
            self._gc_terminated()

    def _gc_orphaned(self, node_name: str) -> None:
        if self.nodes.get(node_name) is not None:
            return
        pods = self.pods.by_index("node", node_name)
        if not pods:
            return
        try:
            self.client.get("Node", node_name)
            return  # the cache is behind: the node exists
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
        for pod in pods:
            self._force_delete(pod, f"PodGC: node {node_name} no longer exists")

    def _gc_terminated(self) -> None:
        victims = terminated_pods_to_delete(self.pods.list(), self.threshold)
        if victims:
            self.log.info("too many terminated pods, deleting the oldest", count=len(victims), threshold=self.threshold)
        for pod in victims:
            self._force_delete(pod, None)

    def _force_delete(self, pod: Obj, why: str | None) -> None:
        meta = pod["metadata"]
        ns, name = meta.get("namespace", "default"), meta["name"]
        if why is not None and (pod.get("status") or {}).get("phase") not in _TERMINAL:
            condition = {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByPodGC",
                "message": why,
                "lastTransitionTime": rfc3339(self.clock.wall()),
            }
            try:
                self.client.patch(
                    "Pod", name, {"status": {"conditions": [condition]}}, ns, patch_type="strategic", subresource="status"
                )
            except errors.ApiError as exc:
                if exc.code == 404:
                    return
                self.log.warning("could not add the DisruptionTarget condition", error=exc.message, **obj_fields(pod))
        try:
            self.client.delete("Pod", name, ns, grace_period_seconds=0, preconditions={"uid": meta["uid"]})
        except errors.ApiError as exc:
            if exc.code in (404, 409):
                return
            raise
        self.log.info("force-deleted pod", reason=why or "terminated-pod threshold", **obj_fields(pod))
