"""Node lifecycle decisions and taint eviction timing, driven by an injected
:class:`~kemu.clock.FakeClock`: no process, no sleep."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from controllermanager.base import ControllerContext, ControllerOptions
from controllermanager.nodelifecycle import (
    EVICT_NOW,
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    TAINT_UNSCHEDULABLE,
    Heartbeat,
    NodeLifecycleController,
    NodeState,
    TaintEvictionController,
    decide_node,
    eviction_time,
    observe_heartbeat,
    reconcile_taints,
    tolerates,
    unknown_conditions,
)
from kemu.clock import FakeClock, rfc3339, rfc3339_micro
from kemu.types import Obj

Objs = list[Obj]

UNREACHABLE = frozenset({(TAINT_UNREACHABLE, "NoSchedule"), (TAINT_UNREACHABLE, "NoExecute")})
NOT_READY = frozenset({(TAINT_NOT_READY, "NoSchedule"), (TAINT_NOT_READY, "NoExecute")})


def cond(ctype: str, status: str, reason: str = "KubeletReady") -> Obj:
    return {"type": ctype, "status": status, "reason": reason, "lastHeartbeatTime": "2026-01-01T00:00:00Z"}


class TestHeartbeat:
    def test_first_look_starts_the_grace(self) -> None:
        """The first observation is not a renewal."""
        hb = observe_heartbeat(None, 100.0, None, now=5.0)
        assert hb == Heartbeat(5.0, 100.0, None, renewed=False)

    def test_unchanged_keeps_the_probe_time(self) -> None:
        """The same renewTime again is no news."""
        hb = observe_heartbeat(None, 100.0, None, now=5.0)
        assert observe_heartbeat(hb, 100.0, None, now=9.0) is hb

    def test_newer_renew_time_is_a_heartbeat(self) -> None:
        """A newer renewTime restarts the grace, whatever the kubelet's clock says."""
        hb = observe_heartbeat(None, 100.0, None, now=5.0)
        assert observe_heartbeat(hb, 100.1, None, now=9.0) == Heartbeat(9.0, 100.1, None, renewed=True)

    def test_older_renew_time_is_ignored(self) -> None:
        """A lease going backwards (a stale write) proves nothing."""
        hb = observe_heartbeat(None, 100.0, None, now=5.0)
        assert observe_heartbeat(hb, 99.0, None, now=9.0) is hb

    def test_ready_heartbeat_counts_too(self) -> None:
        """A newer Ready lastHeartbeatTime restarts the grace as a lease renewal does."""
        hb = observe_heartbeat(None, None, 50.0, now=5.0)
        assert observe_heartbeat(hb, None, 51.0, now=9.0).probe_time == 9.0


class TestDecideNode:
    GRACE = 2.0

    def hb(self, probe: float, renewed: bool = True) -> Heartbeat:
        return Heartbeat(probe, 1.0, None, renewed=renewed)

    def test_ready(self) -> None:
        """Heard from within the grace and Ready: no taints."""
        d = decide_node(11.0, self.hb(10.0), [cond("Ready", "True")], self.GRACE)
        assert (d.state, d.mark_unknown, d.taints) == (NodeState.READY, False, frozenset())

    def test_silent_past_the_grace(self) -> None:
        """Silent for more than the grace: Unknown, conditions to write, unreachable taints."""
        d = decide_node(12.5, self.hb(10.0), [cond("Ready", "True")], self.GRACE)
        assert (d.state, d.mark_unknown, d.taints) == (NodeState.UNKNOWN, True, UNREACHABLE)

    def test_exactly_the_grace_is_still_fine(self) -> None:
        """The grace is inclusive."""
        assert decide_node(12.0, self.hb(10.0), [cond("Ready", "True")], self.GRACE).state == NodeState.READY

    def test_already_unknown_needs_no_write(self) -> None:
        """Once every condition is Unknown, only the taints remain to keep."""
        conditions = unknown_conditions([cond("Ready", "True")], "t", "c")
        d = decide_node(20.0, self.hb(10.0), conditions, self.GRACE)
        assert (d.state, d.mark_unknown, d.taints) == (NodeState.UNKNOWN, False, UNREACHABLE)

    def test_lease_renewed_after_unknown_is_ready_again(self) -> None:
        """Our own Unknown plus a renewal seen since: Ready, taints go."""
        conditions = unknown_conditions([cond("Ready", "True")], "t", "c")
        d = decide_node(21.0, self.hb(20.5, renewed=True), conditions, self.GRACE)
        assert (d.state, d.taints) == (NodeState.READY, frozenset())

    def test_restarted_controller_keeps_the_taints(self) -> None:
        """Our own Unknown and only a first look (no renewal seen): still Unknown, nothing to write."""
        conditions = unknown_conditions([cond("Ready", "True")], "t", "c")
        d = decide_node(21.0, self.hb(20.5, renewed=False), conditions, self.GRACE)
        assert (d.state, d.mark_unknown, d.taints) == (NodeState.UNKNOWN, False, UNREACHABLE)

    def test_kubelet_reports_not_ready(self) -> None:
        """Ready=False from a live kubelet: the not-ready taints."""
        d = decide_node(11.0, self.hb(10.0), [cond("Ready", "False")], self.GRACE)
        assert (d.state, d.taints) == (NodeState.NOT_READY, NOT_READY)

    def test_pressure_and_unschedulable(self) -> None:
        """Pressure conditions and spec.unschedulable add their NoSchedule taints."""
        conditions = [cond("Ready", "True"), cond("MemoryPressure", "True"), cond("DiskPressure", "False")]
        d = decide_node(11.0, self.hb(10.0), conditions, self.GRACE, unschedulable=True)
        assert d.taints == {("node.kubernetes.io/memory-pressure", "NoSchedule"), (TAINT_UNSCHEDULABLE, "NoSchedule")}

    def test_never_posted_and_fresh_is_left_alone(self) -> None:
        """A node still registering (no Ready condition yet) is not tainted."""
        d = decide_node(11.0, self.hb(10.0), [], self.GRACE)
        assert (d.state, d.taints) == (NodeState.PENDING, None)

    def test_state_machine_with_a_fake_clock(self) -> None:
        """The worked example of decide_node's docstring, step by step."""
        clock = FakeClock()
        conditions = [cond("Ready", "True")]
        hb = observe_heartbeat(None, 1000.0, None, clock.now())
        states = []
        for _ in range(5):  # 2.5 s without a renewal
            clock.step(0.5)
            hb = observe_heartbeat(hb, 1000.0, None, clock.now())
            d = decide_node(clock.now(), hb, conditions, 2.0)
            if d.mark_unknown:
                conditions = unknown_conditions(conditions, "t", "c")
            states.append(d.state)
        assert states == [NodeState.READY] * 4 + [NodeState.UNKNOWN]
        clock.step(0.5)
        hb = observe_heartbeat(hb, 1003.0, None, clock.now())  # the lease renews
        assert decide_node(clock.now(), hb, conditions, 2.0).state == NodeState.READY


class TestConditionsAndTaints:
    def test_unknown_conditions(self) -> None:
        """Posted conditions become Unknown (heartbeat kept); never-posted ones are added."""
        out = unknown_conditions([cond("Ready", "True")], "2026-01-01T00:05:00Z", "2025-12-31T00:00:00Z")
        ready = next(c for c in out if c["type"] == "Ready")
        assert ready == {
            "type": "Ready",
            "status": "Unknown",
            "reason": "NodeStatusUnknown",
            "message": "Kubelet stopped posting node status.",
            "lastHeartbeatTime": "2026-01-01T00:00:00Z",
            "lastTransitionTime": "2026-01-01T00:05:00Z",
        }
        memory = next(c for c in out if c["type"] == "MemoryPressure")
        assert (memory["reason"], memory["message"]) == ("NodeStatusNeverUpdated", "Kubelet never posted node status.")
        assert {c["type"] for c in out} == {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}

    def test_reconcile_adds_with_time_added_and_keeps_foreign_taints(self) -> None:
        """Wanted taints are added with timeAdded; a user's taint stays."""
        current = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
        out = reconcile_taints(current, UNREACHABLE, "2026-01-01T00:00:00Z")
        assert out is not None and out[0] == current[0]
        assert {(t["key"], t["effect"], t["timeAdded"]) for t in out[1:]} == {
            (TAINT_UNREACHABLE, "NoSchedule", "2026-01-01T00:00:00Z"),
            (TAINT_UNREACHABLE, "NoExecute", "2026-01-01T00:00:00Z"),
        }

    def test_reconcile_keeps_time_added_and_reports_no_change(self) -> None:
        """Taints already there are not rewritten (their toleration clock keeps running)."""
        current = [{"key": TAINT_UNREACHABLE, "effect": e, "timeAdded": "old"} for e in ("NoSchedule", "NoExecute")]
        assert reconcile_taints(current, UNREACHABLE, "new") is None

    def test_reconcile_removes_what_is_not_wanted(self) -> None:
        """Ready again: the managed taints go, the others stay."""
        current = [{"key": TAINT_UNREACHABLE, "effect": "NoExecute"}, {"key": "mine", "effect": "NoSchedule"}]
        assert reconcile_taints(current, frozenset(), "t") == [{"key": "mine", "effect": "NoSchedule"}]


class TestToleration:
    TAINT: ClassVar[Obj] = {"key": TAINT_UNREACHABLE, "effect": "NoExecute"}

    @pytest.mark.parametrize(
        ("toleration", "want"),
        [
            ({"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}, True),
            ({"key": TAINT_UNREACHABLE, "operator": "Exists"}, True),
            ({"operator": "Exists"}, True),
            ({"key": TAINT_NOT_READY, "operator": "Exists"}, False),
            ({"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"}, False),
            ({"key": TAINT_UNREACHABLE, "value": ""}, True),
            ({"key": TAINT_UNREACHABLE, "operator": "Equal", "value": "x"}, False),
        ],
    )
    def test_tolerates(self, toleration: Obj, want: bool) -> None:
        """Toleration.ToleratesTaint: effect, key, then Exists or Equal on the value."""
        assert tolerates(toleration, self.TAINT) is want

    def test_untolerated_taint_evicts_now(self) -> None:
        """No toleration for a NoExecute taint: evict at once."""
        assert eviction_time([], [self.TAINT], lambda t: 100.0) == EVICT_NOW

    def test_toleration_seconds_after_time_added(self) -> None:
        """tolerationSeconds 2 and a taint added at t=100: evict at t=102."""
        tol = [{"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}]
        assert eviction_time(tol, [self.TAINT], lambda t: 100.0) == 102.0

    def test_forever(self) -> None:
        """A matching toleration without tolerationSeconds tolerates forever."""
        assert eviction_time([{"operator": "Exists"}], [self.TAINT], lambda t: 100.0) is None

    def test_smallest_wins_and_no_schedule_is_ignored(self) -> None:
        """Two NoExecute taints: the earliest deadline; NoSchedule taints never evict."""
        taints = [
            {"key": "a", "effect": "NoExecute", "added": 100.0},
            {"key": "b", "effect": "NoExecute", "added": 110.0},
            {"key": "c", "effect": "NoSchedule", "added": 0.0},
        ]
        tol = [{"key": "a", "operator": "Exists", "tolerationSeconds": 30}, {"key": "b", "operator": "Exists", "tolerationSeconds": 5}]
        assert eviction_time(tol, taints, lambda t: t["added"]) == 115.0

    def test_negative_seconds_mean_now(self) -> None:
        """A negative tolerationSeconds counts as 0."""
        tol = [{"operator": "Exists", "tolerationSeconds": -1}]
        assert eviction_time(tol, [self.TAINT], lambda t: 100.0) == 100.0


# -- the controllers with fakes and a fake clock -------------------------------------------


class FakeInformer:
    """The informer surface controllers use, filled by the test."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.items: dict[str, Obj] = {}
        self.handlers: list[Any] = []  # EventHandler-shaped

    def add_handler(self, handler: Any) -> None:
        self.handlers.append(handler)

    @staticmethod
    def key(obj: Obj) -> str:
        meta = obj["metadata"]
        return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]

    def set(self, obj: Obj) -> None:
        old = self.items.get(self.key(obj))
        self.items[self.key(obj)] = obj
        for h in self.handlers:
            h.on_add(obj) if old is None else h.on_update(old, obj)

    def get(self, key: str) -> Obj | None:
        return self.items.get(key)

    def list(self) -> Objs:
        return [*self.items.values()]

    def by_index(self, index: str, value: str) -> Objs:
        assert index == "node"
        return [o for o in self.items.values() if o.get("spec", {}).get("nodeName") == value]


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        self.events.append((obj["metadata"]["name"], reason, message))


class FakeClient:
    """Records writes; answers with the object written."""

    def __init__(self, informers: dict[str, FakeInformer]) -> None:
        self.informers = informers
        self.calls: list[tuple[str, ...]] = []
        self.updated: list[Obj] = []

    def update_status(self, obj: Obj) -> Obj:
        self.calls.append(("update_status", obj["kind"], obj["metadata"]["name"]))
        return obj

    def update(self, obj: Obj) -> Obj:
        self.calls.append(("update", obj["kind"], obj["metadata"]["name"]))
        self.updated.append(obj)
        return obj

    def patch(self, kind: str, name: str, patch: Any, namespace: str | None = None, **_: Any) -> Obj:
        self.calls.append(("patch", kind, name))
        return {"metadata": {"name": name, "resourceVersion": "1"}}

    def delete(self, kind: str, name: str, namespace: str | None = None, **_: Any) -> Obj:
        self.calls.append(("delete", kind, name))
        return {"metadata": {"name": name, "resourceVersion": "2"}}


class FakeContext(ControllerContext):
    def __init__(self, clock: FakeClock) -> None:
        self.fakes = {k: FakeInformer(k) for k in ("Node", "Lease", "Pod")}
        self.fake_client = FakeClient(self.fakes)
        self.fake_recorder = FakeRecorder()
        super().__init__(self.fake_client, options=ControllerOptions(), clock=clock)  # type: ignore[arg-type]

    def informer(self, kind: str) -> Any:
        return self.fakes[kind]

    def recorder(self, component: str) -> Any:
        return self.fake_recorder


def node_obj(name: str, *, ready: str = "True", taints: list[Obj] | None = None) -> Obj:
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"taints": taints or []},
        "status": {"conditions": [cond("Ready", ready)]},
    }


def lease_obj(name: str, renew: float) -> Obj:
    return {"kind": "Lease", "metadata": {"name": name, "namespace": "kube-node-lease"}, "spec": {"renewTime": rfc3339_micro(renew)}}


def pod_obj(name: str, node: str, tolerations: list[Obj]) -> Obj:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {"nodeName": node, "tolerations": tolerations},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def drain(controller: Any) -> list[Any]:
    """Sync every key that is ready now (the work a worker would do)."""
    done = []
    while (key := controller.queue.get(timeout=0)) is not None:
        try:
            controller.sync(key)
            done.append(key)
        finally:
            controller.queue.done(key)
    return done


class TestNodeLifecycleController:
    def test_silent_node_is_marked_tainted_and_its_pods_not_ready(self) -> None:
        """Grace 2 s: nothing at 2 s, Unknown + taints + pods NotReady + events past it."""
        clock = FakeClock()
        ctx = FakeContext(clock)
        nlc = NodeLifecycleController(ctx, with_taint_eviction=False)
        ctx.fakes["Node"].set(node_obj("node-2"))
        ctx.fakes["Lease"].set(lease_obj("node-2", clock.wall()))
        ctx.fakes["Pod"].set(pod_obj("web-a", "node-2", []))
        nlc.monitor_node_health()
        drain(nlc)
        assert ctx.fake_client.calls == []
        clock.step(2.0)
        nlc.monitor_node_health()
        drain(nlc)
        assert ctx.fake_client.calls == []
        clock.step(0.2)
        nlc.monitor_node_health()
        assert drain(nlc) == ["node-2"]
        assert ctx.fake_client.calls == [("update_status", "Node", "node-2"), ("update", "Node", "node-2"), ("patch", "Pod", "web-a")]
        assert ("node-2", "NodeNotReady", "Node node-2 status is now: NodeNotReady") in ctx.fake_recorder.events
        assert ("web-a", "NodeNotReady", "Node is not ready") in ctx.fake_recorder.events


    def test_cordon_taints_and_uncordon_clears(self) -> None:
        """spec.unschedulable adds node.kubernetes.io/unschedulable:NoSchedule; uncordon
        removes it, leaving no empty ``taints`` list behind (omitempty)."""
        clock = FakeClock()
        ctx = FakeContext(clock)
        nlc = NodeLifecycleController(ctx, with_taint_eviction=False)
        ctx.fakes["Lease"].set(lease_obj("node-2", clock.wall()))
        cordoned = node_obj("node-2")
        cordoned["spec"]["unschedulable"] = True
        ctx.fakes["Node"].set(cordoned)
        nlc.monitor_node_health()
        drain(nlc)
        tainted = ctx.fake_client.updated[-1]
        assert [(t["key"], t["effect"]) for t in tainted["spec"]["taints"]] == [(TAINT_UNSCHEDULABLE, "NoSchedule")]
        tainted["spec"].pop("unschedulable")
        ctx.fakes["Node"].set(tainted)
        nlc.monitor_node_health()
        drain(nlc)
        assert "taints" not in ctx.fake_client.updated[-1]["spec"]


class TestTaintEvictionController:
    def make(self, tolerations: list[Obj]) -> tuple[FakeClock, FakeContext, TaintEvictionController]:
        clock = FakeClock()
        ctx = FakeContext(clock)
        tec = TaintEvictionController(ctx)
        ctx.fakes["Node"].set(node_obj("node-2"))
        ctx.fakes["Pod"].set(pod_obj("web-a", "node-2", tolerations))
        return clock, ctx, tec

    def taint(self, ctx: FakeContext, clock: FakeClock) -> None:
        taint = {"key": TAINT_UNREACHABLE, "effect": "NoExecute", "timeAdded": rfc3339(clock.wall())}
        ctx.fakes["Node"].set(node_obj("node-2", taints=[taint]))

    def test_evicts_after_the_toleration(self) -> None:
        """tolerationSeconds 2: not at 1.5 s, evicted at 2 s, with the TaintManagerEviction event."""
        clock, ctx, tec = self.make([{"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}])
        self.taint(ctx, clock)
        drain(tec)
        assert ("delete", "Pod", "web-a") not in ctx.fake_client.calls
        clock.step(1.5)
        drain(tec)
        assert ("delete", "Pod", "web-a") not in ctx.fake_client.calls
        clock.step(0.5)
        assert drain(tec) == ["default/web-a"]
        assert ("delete", "Pod", "web-a") in ctx.fake_client.calls
        assert ("web-a", "TaintManagerEviction", "Marking for deletion Pod default/web-a") in ctx.fake_recorder.events

    def test_untolerated_is_evicted_at_once(self) -> None:
        """No toleration: deleted on the first sync."""
        clock, ctx, tec = self.make([])
        self.taint(ctx, clock)
        drain(tec)
        assert ("delete", "Pod", "web-a") in ctx.fake_client.calls

    def test_taint_removed_in_time_cancels(self) -> None:
        """The taint goes before the toleration runs out: the pod stays."""
        clock, ctx, tec = self.make([{"key": TAINT_UNREACHABLE, "operator": "Exists", "tolerationSeconds": 2}])
        self.taint(ctx, clock)
        drain(tec)
        clock.step(1.0)
        ctx.fakes["Node"].set(node_obj("node-2"))
        drain(tec)
        clock.step(5.0)
        drain(tec)
        assert not any(c[0] == "delete" for c in ctx.fake_client.calls)
