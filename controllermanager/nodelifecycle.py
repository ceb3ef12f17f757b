"""Node lifecycle: notice dead nodes, taint them, and evict their pods.

Two controllers, as in Kubernetes (``pkg/controller/nodelifecycle`` and
``pkg/controller/tainteviction``); :class:`NodeLifecycleController` starts
:class:`TaintEvictionController` with itself.

**Node health.** A kubelet proves it is alive by renewing its Lease
(``kube-node-lease/<node>``, ``spec.renewTime``) and by posting its ``Ready``
condition (``lastHeartbeatTime``). The controller does not compare those
timestamps with its own clock (the kubelet may run on another machine with
another clock): it remembers, per node, *when it saw a heartbeat change*
(:class:`Heartbeat`, on the injected monotonic clock). A node whose heartbeat
has not changed for ``--node-monitor-grace-period`` seconds is Unknown.

:func:`decide_node` turns (now, heartbeat record, conditions, grace) into a
:class:`NodeDecision`: the node's state, whether its conditions must be
written Unknown (reason ``NodeStatusUnknown``, ``Kubelet stopped posting node
status.``), and the taints it needs:

==========  =================================================================
state       taints (NoSchedule and NoExecute, ``timeAdded`` set)
==========  =================================================================
Ready       none
NotReady    ``node.kubernetes.io/not-ready`` (the kubelet reports Ready=False)
Unknown     ``node.kubernetes.io/unreachable`` (no heartbeat within the grace)
==========  =================================================================

plus the NoSchedule taints for the kubelet's pressure conditions and for
``spec.unschedulable``. One kemu deviation: when a node the controller marked
Unknown renews its lease again, it counts as Ready (its taints go) even before
its kubelet re-posts the Ready condition; the lease is the proof of life.

On the transition away from Ready the controller sets the ``Ready`` condition
of every pod on the node to False (``MarkPodsNotReady``, a status patch) and
records ``NodeNotReady`` events on the node ("Node node-2 status is now:
NodeNotReady") and on each pod ("Node is not ready").

Threads: a ticker (every ``--node-monitor-period``) observes heartbeats from
the Node and Lease caches and enqueues only the nodes whose state needs a
write; workers run :meth:`NodeLifecycleController.sync` per node name and do
the writes (status update, spec update, pod patches), each with the
resourceVersion they read (a Conflict just retries later).

**Taint eviction.** For each pod on a node with NoExecute taints: a taint the
pod does not tolerate evicts it at once; otherwise it is evicted when the
smallest ``tolerationSeconds`` of the tolerations it uses has elapsed after
the taint's ``timeAdded`` (:func:`eviction_time`). The pod's key is queued
with ``add_after`` for that moment; when the taint goes away first, the sync
finds nothing to do (that is the cancellation). Eviction is a normal graceful
delete, announced by a ``TaintManagerEviction`` event ("Marking for deletion
Pod default/web-abcde"): a dead node's kubelet cannot finish it, so the pod
stays Terminating, as in Kubernetes, and its ReplicaSet replaces it at once.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from controllermanager.base import (
    ControllerContext,
    Handlers,
    Obj,
    QueueController,
    deep_copy,
    is_pod_ready,
    is_pod_terminating,
    obj_fields,
    parse_time,
)
from kemu.api import errors
from kemu.clock import rfc3339

__all__ = [
    "EVICT_NOW",
    "LEASE_NAMESPACE",
    "MANAGED_TAINT_KEYS",
    "TAINT_NOT_READY",
    "TAINT_UNREACHABLE",
    "TAINT_UNSCHEDULABLE",
    "Heartbeat",
    "NodeDecision",
    "NodeLifecycleController",
    "NodeState",
    "TaintEvictionController",
    "decide_node",
    "eviction_time",
    "observe_heartbeat",
    "reconcile_taints",
    "tolerates",
    "unknown_conditions",
]

LEASE_NAMESPACE = "kube-node-lease"

TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
_PRESSURE_TAINTS = {
    "MemoryPressure": "node.kubernetes.io/memory-pressure",
    "DiskPressure": "node.kubernetes.io/disk-pressure",
    "PIDPressure": "node.kubernetes.io/pid-pressure",
    "NetworkUnavailable": "node.kubernetes.io/network-unavailable",
}
MANAGED_TAINT_KEYS = frozenset({TAINT_NOT_READY, TAINT_UNREACHABLE, TAINT_UNSCHEDULABLE, *_PRESSURE_TAINTS.values()})
"""The taint keys this controller owns on nodes; it leaves every other taint alone."""

_UNKNOWN_CONDITION_TYPES = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
"""Conditions set to Unknown when the kubelet goes silent (NetworkUnavailable is not the kubelet's)."""

EVICT_NOW = float("-inf")
"""What :func:`eviction_time` returns for a pod that does not tolerate a taint."""


class NodeState(str, enum.Enum):
    """A node's health as the controller sees it."""

    READY = "Ready"
    NOT_READY = "NotReady"
    UNKNOWN = "Unknown"
    PENDING = "Pending"
    """Heard from, but no Ready condition yet (a kubelet still registering): leave it alone."""


# -- pure: node health -----------------------------------------------------------------------


@dataclass(frozen=True)
class Heartbeat:
    """What the controller remembers of a node's heartbeats."""

    probe_time: float
    """Monotonic clock reading when a heartbeat last changed (or when the node was first seen)."""
    lease_renew_time: float | None
    """The Lease's ``spec.renewTime`` seen then (epoch seconds), to notice the next renewal."""
    ready_heartbeat: float | None
    """The Ready condition's ``lastHeartbeatTime`` seen then (epoch seconds)."""
    renewed: bool = False
    """True when ``probe_time`` is a heartbeat seen *changing*, False when it is
    only the first look (a restarted controller has not heard the node yet)."""


def observe_heartbeat(prev: Heartbeat | None, lease_renew_time: float | None, ready_heartbeat: float | None, now: float) -> Heartbeat:
    """The new record after looking at a node's lease and Ready heartbeat at ``now``.

    A first look starts the grace period; a *newer* renewTime or heartbeat
    (whatever the kubelet's clock says) restarts it; anything else keeps it.

    >>> hb = observe_heartbeat(None, 100.0, None, now=5.0)
    >>> observe_heartbeat(hb, 100.0, None, now=7.0).probe_time   # same renewTime
    5.0
    >>> observe_heartbeat(hb, 100.2, None, now=7.0).probe_time   # renewed
    7.0
    """
    if prev is None:
        return Heartbeat(now, lease_renew_time, ready_heartbeat)
    renewed = lease_renew_time is not None and (prev.lease_renew_time is None or lease_renew_time > prev.lease_renew_time)
    posted = ready_heartbeat is not None and (prev.ready_heartbeat is None or ready_heartbeat > prev.ready_heartbeat)
    if renewed or posted:
        return Heartbeat(
            now,
            lease_renew_time if renewed else prev.lease_renew_time,
            ready_heartbeat if posted else prev.ready_heartbeat,
            renewed=True,
        )
    return prev


@dataclass(frozen=True)
class NodeDecision:
    """What the node needs, from :func:`decide_node`."""

    state: NodeState
    """The node's health."""
    mark_unknown: bool
    """Its conditions must be written Unknown (status update)."""
    taints: frozenset[tuple[str, str]] | None
    """``(key, effect)`` of every managed taint it must carry; None: leave them as they are."""


def _condition(conditions: Sequence[Obj], ctype: str) -> Obj | None:
    return next((c for c in conditions if c.get("type") == ctype), None)


_OUR_UNKNOWN_REASONS = ("NodeStatusUnknown", "NodeStatusNeverUpdated")


def decide_node(now: float, heartbeat: Heartbeat, conditions: Sequence[Obj], grace: float, *, unschedulable: bool = False) -> NodeDecision:
    """Decide a node's state and taints (the node lifecycle state machine).

    Worked example, grace 2 s, heartbeat last changed at t=10:

    - t=11, Ready=True: Ready, no taints.
    - t=12.5, Ready=True: Unknown; write the conditions Unknown; taints
      ``unreachable:NoSchedule`` and ``unreachable:NoExecute``.
    - t=13, Ready=Unknown (written by us): Unknown, nothing more to write.
    - the lease renews at t=14 (heartbeat now 14, ``renewed``), Ready still
      our Unknown: Ready again; the unreachable taints go. (Right after a
      restart of the controller, before any renewal was seen, our Unknown
      stays Unknown.)
    - t=15, the kubelet posts Ready=False: NotReady; ``not-ready`` taints.
    """
    ready = _condition(conditions, "Ready")
    stale = now - heartbeat.probe_time > grace
    no_schedule: set[tuple[str, str]] = {(TAINT_UNSCHEDULABLE, "NoSchedule")} if unschedulable else set()
    if stale:
        mark = any(
            (c := _condition(conditions, ctype)) is None or c.get("status") != "Unknown" for ctype in _UNKNOWN_CONDITION_TYPES
        )
        taints = {(TAINT_UNREACHABLE, "NoSchedule"), (TAINT_UNREACHABLE, "NoExecute")} | no_schedule
        return NodeDecision(NodeState.UNKNOWN, mark, frozenset(taints))
    if ready is None:
        return NodeDecision(NodeState.PENDING, False, None)
    status = ready.get("status")
    if status == "Unknown" and (ready.get("reason") not in _OUR_UNKNOWN_REASONS or not heartbeat.renewed):
        # Unknown, and not heard from since: a restarted controller keeps the
        # taints until the node renews its lease or the grace runs out.
        taints = {(TAINT_UNREACHABLE, "NoSchedule"), (TAINT_UNREACHABLE, "NoExecute")} | no_schedule
        return NodeDecision(NodeState.UNKNOWN, False, frozenset(taints))
    if status == "False":
        state = NodeState.NOT_READY
        taints = {(TAINT_NOT_READY, "NoSchedule"), (TAINT_NOT_READY, "NoExecute")} | no_schedule
    else:
        # True, or the Unknown we wrote ourselves while the lease proves the kubelet is back.
        state = NodeState.READY
        taints = set(no_schedule)
    for ctype, key in _PRESSURE_TAINTS.items():
        cond = _condition(conditions, ctype)
        if cond is not None and cond.get("status") == "True":
            taints.add((key, "NoSchedule"))
    return NodeDecision(state, False, frozenset(taints))


def unknown_conditions(conditions: Sequence[Obj], now_text: str, created_text: str | None) -> list[Obj]:
    """The node's conditions after its kubelet went silent: Ready, MemoryPressure,
    DiskPressure and PIDPressure become Unknown (``NodeStatusUnknown``,
    "Kubelet stopped posting node status."; a condition never posted is added
    with ``NodeStatusNeverUpdated``). ``lastHeartbeatTime`` is kept: it is the
    last time the kubelet was heard."""
    out = [dict(c) for c in conditions]
    for ctype in _UNKNOWN_CONDITION_TYPES:
        cond = _condition(out, ctype)
        if cond is None:
            out.append(
                {
                    "type": ctype,
                    "status": "Unknown",
                    "reason": "NodeStatusNeverUpdated",
                    "message": "Kubelet never posted node status.",
                    "lastHeartbeatTime": created_text,
                    "lastTransitionTime": now_text,
                }
            )
        elif cond.get("status") != "Unknown":
            cond.update(
                status="Unknown",
                reason="NodeStatusUnknown",
                message="Kubelet stopped posting node status.",
                lastTransitionTime=now_text,
            )
    return out


def reconcile_taints(current: Sequence[Obj], wanted: Iterable[tuple[str, str]], now_text: str) -> list[Obj] | None:
    """The node's new ``spec.taints``, or None when nothing changes.

    Taints with keys this controller does not manage are kept; managed taints
    not wanted go; wanted ones missing are added with ``timeAdded`` (kept when
    already there, so a toleration's clock is not restarted).
    """
    wanted_set = set(wanted)
    kept = [t for t in current if t.get("key") not in MANAGED_TAINT_KEYS or (t.get("key"), t.get("effect")) in wanted_set]
    have = {(t.get("key"), t.get("effect")) for t in kept}
    added = [{"key": k, "effect": e, "timeAdded": now_text} for k, e in sorted(wanted_set - have)]
    if not added and len(kept) == len(current):
        return None
    return kept + added


# -- pure: toleration ------------------------------------------------------------------------------


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """Whether ``toleration`` tolerates ``taint`` (``Toleration.ToleratesTaint``).

    An empty effect matches every effect; an empty key with ``Exists``
    matches every taint; ``Equal`` (the default operator) compares values.
    """
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def eviction_time(tolerations: Sequence[Obj], taints: Sequence[Obj], taint_start: Callable[[Obj], float]) -> float | None:
    """When a pod on a node with these NoExecute ``taints`` must be evicted.

    Returns :data:`EVICT_NOW` when some taint is not tolerated, None when
    every taint is tolerated forever, else the earliest ``taint_start(taint) +
    tolerationSeconds`` over the taints (each uses the first toleration that
    matches it; a negative ``tolerationSeconds`` counts as 0).

    Worked example: taint ``unreachable:NoExecute`` added at t=100 and the
    default toleration (``tolerationSeconds: 2``): evict at t=102. The same
    pod with a toleration without ``tolerationSeconds``: never.
    """
    deadline: float | None = None
    for taint in taints:
        if taint.get("effect") != "NoExecute":
            continue
        used = next((t for t in tolerations if tolerates(t, taint)), None)
        if used is None:
            return EVICT_NOW
        seconds = used.get("tolerationSeconds")
        if seconds is None:
            continue
        at = taint_start(taint) + max(0, int(seconds))
        deadline = at if deadline is None else min(deadline, at)
    return deadline


def _no_execute_taints(node: Obj | None) -> list[Obj]:
    if node is None:
        return []
    return [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]


# -- node lifecycle controller ----------------------------------------------------------------


@dataclass
class _NodeRecord:
    heartbeat: Heartbeat
    state: NodeState | None = None
    """The state the last successful sync acted on (None: not yet)."""


class NodeLifecycleController(QueueController[str]):
    """See the module doc. Keys are node names."""

    name = "nodelifecycle"
    component = "node-controller"

    grace: float
    """``--node-monitor-grace-period``, seconds."""
    period: float
    """``--node-monitor-period``, seconds."""

    def __init__(self, ctx: ControllerContext, *, with_taint_eviction: bool = True) -> None:
        super().__init__(ctx, workers=2, max_backoff=2.0)
        self.grace = ctx.options.node_monitor_grace_period
        self.period = ctx.options.node_monitor_period
        self.recorder = ctx.recorder(self.component)
        self.nodes = ctx.informer("Node")
        self.leases = ctx.informer("Lease")
        self.pods = ctx.informer("Pod")
        self._records: dict[str, _NodeRecord] = {}
        self._lock = threading.Lock()
        self.taint_eviction: TaintEvictionController | None = TaintEvictionController(ctx) if with_taint_eviction else None
        self.nodes.add_handler(
            Handlers(add=self.enqueue_obj, update=lambda _old, new: self.enqueue_obj(new), delete=self._node_deleted)
        )

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> None:
        super().start()
        self.every(self.period, self.monitor_node_health, "monitor")
        if self.taint_eviction is not None:
            self.taint_eviction.start()

    def stop(self) -> None:
        super().stop()
        if self.taint_eviction is not None:
            self.taint_eviction.stop()

    def join(self, timeout: float) -> None:
        super().join(timeout)
        if self.taint_eviction is not None:
            self.taint_eviction.join(timeout)

    def _node_deleted(self, node: Obj) -> None:
        with self._lock:
            self._records.pop(node["metadata"]["name"], None)

    # -- observing ---------------------------------------------------------------------

    def _observe(self, node: Obj) -> _NodeRecord:
        name = node["metadata"]["name"]
        lease = self.leases.get(f"{LEASE_NAMESPACE}/{name}")
        renew = parse_time(((lease or {}).get("spec") or {}).get("renewTime"))
        ready = _condition((node.get("status") or {}).get("conditions") or [], "Ready")
        beat = parse_time((ready or {}).get("lastHeartbeatTime"))
        if ready is not None and ready.get("reason") in _OUR_UNKNOWN_REASONS:
            beat = None  # our own write is no heartbeat
        now = self.clock.now()
        with self._lock:
            rec = self._records.get(name)
            if rec is None:
                rec = self._records[name] = _NodeRecord(observe_heartbeat(None, renew, beat, now))
            else:
                rec.heartbeat = observe_heartbeat(rec.heartbeat, renew, beat, now)
            return rec

    def _decide(self, node: Obj, rec: _NodeRecord) -> NodeDecision:
        return decide_node(
            self.clock.now(),
            rec.heartbeat,
            (node.get("status") or {}).get("conditions") or [],
            self.grace,
            unschedulable=bool((node.get("spec") or {}).get("unschedulable")),
        )

    def _needs_work(self, node: Obj, rec: _NodeRecord, decision: NodeDecision) -> bool:
        if decision.mark_unknown or (rec.state is not None and rec.state != decision.state):
            return True
        if rec.state is None and decision.state != NodeState.PENDING:
            return True
        if decision.taints is not None:
            return reconcile_taints((node.get("spec") or {}).get("taints") or [], decision.taints, "") is not None
        return False

    def monitor_node_health(self) -> None:
        """One pass of the ticker: observe every node, enqueue those needing a write."""
        for node in self.nodes.list():
            rec = self._observe(node)
            if self._needs_work(node, rec, self._decide(node, rec)):
                self.enqueue(node["metadata"]["name"])

    # -- acting (workers) ---------------------------------------------------------------------

    def sync(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None:
            with self._lock:
                self._records.pop(key, None)
            return
        rec = self._observe(node)
        decision = self._decide(node, rec)
        now_text = rfc3339(self.clock.wall())
        try:
            if decision.mark_unknown:
                node = self._write_unknown(node, now_text)
            if decision.taints is not None:
                node = self._write_taints(node, decision.taints, now_text)
        except errors.ApiError as exc:
            if exc.code == 409:
                # Our cache is behind someone's write (the kubelet's, or our own);
                # its update event requeues the node, this is a fallback.
                self.enqueue_after(key, 0.1)
                return
            raise
        prev = rec.state
        if prev != decision.state and decision.state != NodeState.PENDING:
            self._transition(node, prev, decision.state)
        with self._lock:
            rec.state = decision.state

    def _write_unknown(self, node: Obj, now_text: str) -> Obj:
        new = deep_copy(node)
        status = new.setdefault("status", {})
        status["conditions"] = unknown_conditions(
            status.get("conditions") or [], now_text, node["metadata"].get("creationTimestamp")
        )
        updated = self.client.update_status(new)
        self.log.info(
            "node stopped posting status, conditions set Unknown",
            producedResourceVersion=updated["metadata"].get("resourceVersion"), **obj_fields(node),
        )
        return updated

    def _write_taints(self, node: Obj, wanted: frozenset[tuple[str, str]], now_text: str) -> Obj:
        taints = reconcile_taints((node.get("spec") or {}).get("taints") or [], wanted, now_text)
        if taints is None:
            return node
        new = deep_copy(node)
        if taints:
            new.setdefault("spec", {})["taints"] = taints
        else:
            # omitempty in Go: an uncordoned node shows no "taints: []".
            new.setdefault("spec", {}).pop("taints", None)
        updated = self.client.update(new)
        self.log.info(
            "node taints updated",
            taints=[f"{t['key']}:{t['effect']}" for t in taints],
            producedResourceVersion=updated["metadata"].get("resourceVersion"), **obj_fields(node),
        )
        return updated

    def _transition(self, node: Obj, prev: NodeState | None, state: NodeState) -> None:
        name = node["metadata"]["name"]
        if state == NodeState.READY:
            if prev is not None:
                self.recorder.event(node, "Normal", "NodeReady", f"Node {name} status is now: NodeReady")
            return
        if prev in (None, NodeState.PENDING) and state != NodeState.UNKNOWN:
            return  # first sight of a node that is simply not ready yet
        if prev in (NodeState.NOT_READY, NodeState.UNKNOWN) and state in (NodeState.NOT_READY, NodeState.UNKNOWN):
            return
        self.log.info("node is not ready", state=state.value, previous=prev.value if prev else None, **obj_fields(node))
        self.recorder.event(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        self.mark_pods_not_ready(node)

    def mark_pods_not_ready(self, node: Obj) -> None:
        """Set the Ready condition of every pod on ``node`` to False (``MarkPodsNotReady``)."""
        now_text = rfc3339(self.clock.wall())
        failed: errors.ApiError | None = None
        for pod in self.pods.by_index("node", node["metadata"]["name"]):
            if not is_pod_ready(pod):
                continue
            meta = pod["metadata"]
            patch = {"status": {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now_text}]}}
            try:
                updated = self.client.patch(
                    "Pod", meta["name"], patch, meta.get("namespace"), patch_type="strategic", subresource="status"
                )
            except errors.ApiError as exc:
                if exc.code != 404:
                    failed = failed or exc
                continue
            self.log.info(
                "marked pod not ready", producedResourceVersion=updated["metadata"].get("resourceVersion"), **obj_fields(pod)
            )
            self.recorder.event(pod, "Warning", "NodeNotReady", "Node is not ready")
        if failed is not None:
            raise failed


# -- taint eviction controller ----------------------------------------------------------------


class TaintEvictionController(QueueController[str]):
    """Evicts pods from nodes with NoExecute taints they do not tolerate (long
    enough). Keys are pod keys; see the module doc."""

    name = "taint-eviction"
    component = "taint-eviction-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, workers=2, max_backoff=2.0)
        self.recorder = ctx.recorder(self.component)
        self.nodes = ctx.informer("Node")
        self.pods = ctx.informer("Pod")
        self._first_seen: dict[tuple[str, str, str], float] = {}
        self._evicted: dict[str, float] = {}
        """uid -> clock reading of pods this controller deleted: the cache may show
        one still alive for a moment, and one eviction (and event) is enough."""
        self._lock = threading.Lock()
        self.nodes.add_handler(Handlers(add=self._node_added, update=self._node_updated, delete=self._node_deleted))
        self.pods.add_handler(Handlers(add=self._pod_changed, update=lambda _old, new: self._pod_changed(new)))

    # -- handlers -----------------------------------------------------------------------

    def _enqueue_pods_on(self, node_name: str) -> None:
        for pod in self.pods.by_index("node", node_name):
            if not is_pod_terminating(pod):
                self.enqueue_obj(pod)

    def _node_added(self, node: Obj) -> None:
        if _no_execute_taints(node):
            self._enqueue_pods_on(node["metadata"]["name"])

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if _no_execute_taints(old) != _no_execute_taints(new):
            self._enqueue_pods_on(new["metadata"]["name"])

    def _node_deleted(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        with self._lock:
            for k in [k for k in self._first_seen if k[0] == name]:
                del self._first_seen[k]

    def _pod_changed(self, pod: Obj) -> None:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name or is_pod_terminating(pod):
            return
        if _no_execute_taints(self.nodes.get(node_name)):
            self.enqueue_obj(pod)

    # -- sync ----------------------------------------------------------------------------

    def _taint_start(self, node_name: str) -> Callable[[Obj], float]:
        def start(taint: Obj) -> float:
            added = parse_time(taint.get("timeAdded"))
            if added is not None:
                return added
            key = (node_name, str(taint.get("key")), str(taint.get("value") or ""))
            with self._lock:
                return self._first_seen.setdefault(key, self.clock.wall())

        return start

    def sync(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None or is_pod_terminating(pod):
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            return
        taints = _no_execute_taints(self.nodes.get(node_name))
        if not taints:
            return  # no taint (any more): nothing scheduled survives this
        at = eviction_time((pod.get("spec") or {}).get("tolerations") or [], taints, self._taint_start(node_name))
        if at is None:
            return
        now = self.clock.wall()
        if at > now:
            self.enqueue_after(key, at - now)
            return
        uid = pod["metadata"].get("uid", "")
        with self._lock:
            if uid in self._evicted:
                return
        self._evict(pod, taints)
        with self._lock:
            self._evicted[uid] = self.clock.now()
            if len(self._evicted) > 10_000:
                cutoff = self.clock.now() - 300.0
                self._evicted = {u: t for u, t in self._evicted.items() if t >= cutoff}

    def _evict(self, pod: Obj, taints: list[Obj]) -> None:
        meta = pod["metadata"]
        ns, name = meta.get("namespace", "default"), meta["name"]
        self.recorder.event(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {ns}/{name}")
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastTransitionTime": rfc3339(self.clock.wall()),
        }
        try:
            self.client.patch("Pod", name, {"status": {"conditions": [condition]}}, ns, patch_type="strategic", subresource="status")
        except errors.ApiError as exc:
            if exc.code == 404:
                return
            self.log.warning("could not add the DisruptionTarget condition", error=exc.message, **obj_fields(pod))
        try:
            deleted = self.client.delete("Pod", name, ns, preconditions={"uid": meta["uid"]})
        except errors.ApiError as exc:
            if exc.code in (404, 409):
                return
            raise
        self.log.info(
            "evicted pod",
            taints=[f"{t.get('key')}:{t.get('effect')}" for t in taints],
            node=(pod.get("spec") or {}).get("nodeName"),
            producedResourceVersion=deleted["metadata"].get("resourceVersion"),
            **obj_fields(pod),
        )

