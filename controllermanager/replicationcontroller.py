"""The replication manager: ReplicationControllers kept at ``spec.replicas`` pods.

Kubernetes' ``pkg/controller/replication`` is a thin adapter over the
ReplicaSet controller (``NewBaseController`` with the ReplicationController's
GroupVersionKind and a conversion of every object); kemu's is the same idea
without the conversion: :class:`ReplicationManager` *is* a
:class:`~controllermanager.replicaset.ReplicaSetController` for another kind,
with the one thing that differs, the selector, read differently.

Everything else is the ReplicaSet's: claiming pods (adoption, release,
orphans matched by the selector), expectations, slow-start creates, which
pods to delete first, the status it writes (``replicas``,
``fullyLabeledReplicas``, ``readyReplicas``, ``availableReplicas``,
``observedGeneration``, the ``ReplicaFailure`` condition), the events
(``SuccessfulCreate``, ``SuccessfulDelete``). So ``kubectl scale rc``, a
deleted pod and a failed node are answered as for a ReplicaSet. The pods it
creates carry a controller reference of ``kind: ReplicationController``, so
the garbage collector deletes them with it.
"""

from __future__ import annotations

from controllermanager.base import ControllerContext, Obj
from controllermanager.replicaset import ReplicaSetController
from kemu.api.replicationcontrollers import label_selector_of
from kemu.api.selectors import LabelSelector

__all__ = ["ReplicationManager"]


class ReplicationManager(ReplicaSetController):
    """See the module doc."""

    name = "replicationcontroller"
    component = "replication-controller"
    kind = "ReplicationController"
    noun = "replicationcontroller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, workers=ctx.options.concurrent_rc_syncs)

    def selector_of(self, rs: Obj) -> LabelSelector:
        """``spec.selector`` is a plain map: every key must equal its value."""
        return LabelSelector.from_dict(label_selector_of((rs.get("spec") or {}).get("selector")))
