"""The ReplicaSet controller's decisions: which pod goes first, how many to
create, slow start, status, claiming, and the expectations that keep it from
over-creating — all pure, no processes."""

from __future__ import annotations


import pytest

from controllermanager.base import Expectations
from controllermanager.replicaset import (
    POD_DELETION_COST,
    ClaimDecision,
    calculate_status,
    claim_decision,
    get_pods_to_delete,
    is_pod_available,
    next_availability_check,
    pod_from_template,
    rank_pods_for_deletion,
    replicas_diff,
    slow_start_batch,
    slow_start_batches,
)
from kemu.api.selectors import LabelSelector
from kemu.clock import FakeClock, parse_rfc3339
from kemu.types import Obj


T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:01:00Z"
T2 = "2026-01-01T00:02:00Z"


def pod(
    name: str,
    *,
    node: str | None = "node-1",
    phase: str = "Running",
    ready: bool = True,
    ready_since: str | None = T0,
    restarts: int = 0,
    created: str | None = T0,
    cost: int | None = None,
    labels: dict[str, str] | None = None,
    owner_uid: str | None = None,
    deleting: bool = False,
) -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": labels or {"app": "web"}}
    if created:
        meta["creationTimestamp"] = created
    if cost is not None:
        meta["annotations"] = {POD_DELETION_COST: str(cost)}
    if owner_uid:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": owner_uid, "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = T2
    cond: Obj = {"type": "Ready", "status": "True" if ready else "False"}
    if ready_since:
        cond["lastTransitionTime"] = ready_since
    return {
        "metadata": meta,
        "spec": {"nodeName": node} if node else {},
        "status": {"phase": phase, "conditions": [cond], "containerStatuses": [{"name": "c", "restartCount": restarts}]},
    }


def names(pods: list[Obj]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def rs(replicas: int = 3, *, min_ready: int = 0, generation: int = 2, status: Obj | None = None, deleting: bool = False) -> Obj:
    meta: Obj = {"name": "web", "namespace": "default", "uid": "rs-uid", "generation": generation}
    if deleting:
        meta["deletionTimestamp"] = T2
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "minReadySeconds": min_ready,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "front"}, "annotations": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
        "status": status or {},
    }


class TestDeletionRanking:
    @pytest.mark.parametrize(
        ("first", "second", "rule"),
        [
            (pod("a", node=None, phase="Pending", ready=False), pod("b"), "unassigned before assigned"),
            (pod("a", phase="Pending", ready=False), pod("b", phase="Unknown", ready=False), "Pending before Unknown"),
            (pod("a", phase="Unknown", ready=False), pod("b", phase="Running", ready=False), "Unknown before Running"),
            (pod("a", ready=False), pod("b", ready=True), "not ready before ready"),
            (pod("a", cost=-5), pod("b"), "lower deletion cost first"),
            (pod("a", ready_since=T1), pod("b", ready_since=T0), "ready for less time first"),
            (pod("a", ready_since=None), pod("b", ready_since=T0), "unknown ready time first"),
            (pod("a", restarts=3), pod("b", restarts=1), "more restarts first"),
            (pod("a", created=T1), pod("b", created=T0), "newer first"),
            (pod("a", created=None), pod("b", created=T0), "unknown creation time first"),
        ],
    )
    def test_rule(self, first: Obj, second: Obj, rule: str) -> None:
        """Each rule of ActivePodsWithRanks puts the first pod ahead, whatever the input order."""
        assert names(rank_pods_for_deletion([second, first])) == ["a", "b"], rule
        assert names(rank_pods_for_deletion([first, second])) == ["a", "b"], rule

    def test_earlier_rules_win(self) -> None:
        """An unassigned pod goes before a newer, restarting, not-ready assigned one."""
        old_unassigned = pod("old", node=None, phase="Pending", ready=False, created=T0)
        noisy = pod("noisy", phase="Pending", ready=False, restarts=9, created=T2)
        assert names(rank_pods_for_deletion([noisy, old_unassigned])) == ["old", "noisy"]

    def test_doubled_up_pods_first(self) -> None:
        """Among equal pods, the one sharing its node with more related pods goes first."""
        a = pod("a", node="crowded")
        b = pod("b", node="alone")
        related = [a, b, pod("c", node="crowded"), pod("d", node="crowded")]
        assert names(rank_pods_for_deletion([b, a], related)) == ["a", "b"]

    def test_full_table(self) -> None:
        """A mixed set sorts in the documented order."""
        pods = [
            pod("running-old", created=T0),
            pod("running-new", created=T1),
            pod("unready", ready=False),
            pod("pending", phase="Pending", ready=False),
            pod("unscheduled", node=None, phase="Pending", ready=False),
        ]
        assert names(rank_pods_for_deletion(pods)) == ["unscheduled", "pending", "unready", "running-new", "running-old"]

    def test_get_pods_to_delete(self) -> None:
        """The first ``diff`` of the ranking; everything when diff covers all; nothing for 0."""
        pods = [pod("ready"), pod("unscheduled", node=None, phase="Pending", ready=False)]
        assert names(get_pods_to_delete(pods, [], 1)) == ["unscheduled"]
        assert len(get_pods_to_delete(pods, [], 5)) == 2
        assert get_pods_to_delete(pods, [], 0) == []


class TestDiffAndSlowStart:
    @pytest.mark.parametrize(("active", "desired", "burst", "want"),
                             [(2, 6, 500, 4), (6, 2, 500, -4), (3, 3, 500, 0), (0, 1000, 500, 500), (900, 0, 500, -500)])
    def test_replicas_diff(self, active: int, desired: int, burst: int, want: int) -> None:
        """Create the missing, delete the surplus, never more than the burst."""
        assert replicas_diff(active, desired, burst) == want

    def test_batches_double(self) -> None:
        """Batches of 1, 2, 4 ... with the remainder last."""
        assert slow_start_batches(10) == [1, 2, 4, 3]
        assert slow_start_batches(1) == [1]
        assert slow_start_batches(500)[:4] == [1, 2, 4, 8]
        assert sum(slow_start_batches(500)) == 500

    def test_stops_after_the_first_failing_batch(self) -> None:
        """10 creates, the 5th fails: batches 1, 2, 4 run (7 calls), 6 succeed, 3 never tried."""
        calls: list[int] = []

        def create() -> None:
            calls.append(1)
            if len(calls) == 5:
                raise RuntimeError("quota exceeded")

        successes, error = slow_start_batch(10, create)
        assert (successes, str(error)) == (6, "quota exceeded")
        assert len(calls) == 7

    def test_all_succeed(self) -> None:
        """Without failures every call is made."""
        calls: list[int] = []
        assert slow_start_batch(5, lambda: calls.append(1)) == (5, None)
        assert len(calls) == 5


class TestStatus:
    NOW = parse_rfc3339("2026-01-01T00:00:30Z")

    def test_counts(self) -> None:
        """replicas, fullyLabeledReplicas (template labels), ready, available, observedGeneration."""
        pods = [
            pod("a", labels={"app": "web", "tier": "front"}),
            pod("b", labels={"app": "web"}),
            pod("c", ready=False, labels={"app": "web", "tier": "front"}),
        ]
        status = calculate_status(rs(3), pods, None, self.NOW, "2026-01-01T00:00:30Z")
        assert status == {"replicas": 3, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 2, "observedGeneration": 2}

    def test_min_ready_seconds(self) -> None:
        """A pod Ready since 00:00:00 with minReadySeconds 10 is available after 00:00:10, not at it."""
        p = pod("a", ready_since=T0)
        t0 = parse_rfc3339(T0)
        assert not is_pod_available(p, 10, t0 + 10)
        assert is_pod_available(p, 10, t0 + 10.5)
        assert next_availability_check([p], 10, t0 + 4) == pytest.approx(6)
        assert next_availability_check([p], 0, t0) is None

    def test_replica_failure_condition(self) -> None:
        """A failed create adds ReplicaFailure/FailedCreate; a clean sync removes it."""
        failed = calculate_status(rs(3), [pod("a")], RuntimeError("quota"), self.NOW, "now")
        (cond,) = failed["conditions"]
        assert (cond["type"], cond["status"], cond["reason"], cond["message"]) == ("ReplicaFailure", "True", "FailedCreate", "quota")
        healed = calculate_status(rs(3, status=failed), [pod("a")], None, self.NOW, "now")
        assert "conditions" not in healed


class TestTemplateAndClaims:
    def test_pod_from_template(self) -> None:
        """generateName, template labels and annotations, and the controller reference."""
        p = pod_from_template(rs())
        assert p["metadata"]["generateName"] == "web-"
        assert p["metadata"]["labels"] == {"app": "web", "tier": "front"}
        assert p["metadata"]["annotations"] == {"a": "b"}
        assert p["metadata"]["ownerReferences"] == [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs-uid", "controller": True, "blockOwnerDeletion": True}
        ]
        assert p["spec"] == {"containers": [{"name": "c", "image": "nginx"}]}

    @pytest.mark.parametrize(
        ("the_pod", "rs_deleting", "want"),
        [
            (pod("a", owner_uid="rs-uid"), False, ClaimDecision.OWNED),
            (pod("a", owner_uid="rs-uid", labels={"app": "other"}), False, ClaimDecision.RELEASE),
            (pod("a", owner_uid="rs-uid", labels={"app": "other"}), True, ClaimDecision.IGNORE),
            (pod("a", owner_uid="someone-else"), False, ClaimDecision.IGNORE),
            (pod("a"), False, ClaimDecision.ADOPT),
            (pod("a"), True, ClaimDecision.IGNORE),
            (pod("a", labels={"app": "other"}), False, ClaimDecision.IGNORE),
            (pod("a", deleting=True), False, ClaimDecision.IGNORE),
        ],
    )
    def test_claim_decision(self, the_pod: Obj, rs_deleting: bool, want: str) -> None:
        """Own what matches, adopt matching orphans, release mismatches; a deleting set only keeps."""
        selector = LabelSelector.from_dict({"matchLabels": {"app": "web"}})
        assert claim_decision(the_pod, rs(deleting=rs_deleting), selector) == want


class TestExpectations:
    def test_unknown_key_is_satisfied(self) -> None:
        """Nothing recorded: act."""
        assert Expectations(FakeClock()).satisfied("default/web")

    def test_creations(self) -> None:
        """Satisfied only after every expected creation was observed."""
        exp = Expectations(FakeClock())
        exp.expect_creations("default/web", 2)
        assert not exp.satisfied("default/web")
        exp.creation_observed("default/web")
        assert not exp.satisfied("default/web")
        exp.creation_observed("default/web")
        assert exp.satisfied("default/web")

    def test_deletions_count_once_per_pod(self) -> None:
        """A pod seen terminating and then deleted counts once; an unexpected pod not at all."""
        exp = Expectations(FakeClock())
        exp.expect_deletions("default/web", ["default/web-a", "default/web-b"])
        exp.deletion_observed("default/web", "default/web-a")
        exp.deletion_observed("default/web", "default/web-a")
        exp.deletion_observed("default/web", "default/web-zzz")
        assert exp.pending("default/web") == (0, 1)
        assert not exp.satisfied("default/web")
        exp.deletion_observed("default/web", "default/web-b")
        assert exp.satisfied("default/web")

    def test_failed_creates_lower_the_count(self) -> None:
        """Skipped creates will never be observed: lowering them satisfies the record."""
        exp = Expectations(FakeClock())
        exp.expect_creations("default/web", 10)
        for _ in range(6):
            exp.creation_observed("default/web")
        exp.lower_expectations("default/web", 4)
        assert exp.satisfied("default/web")

    def test_ttl(self) -> None:
        """Unmet expectations expire after five minutes of the injected clock."""
        clock = FakeClock()
        exp = Expectations(clock)
        exp.expect_creations("default/web", 1)
        clock.step(299)
        assert not exp.satisfied("default/web")
        clock.step(2)
        assert exp.satisfied("default/web")

    def test_delete(self) -> None:
        """A deleted ReplicaSet's record goes."""
        exp = Expectations(FakeClock())
        exp.expect_creations("default/web", 1)
        exp.delete("default/web")
        assert exp.satisfied("default/web")
