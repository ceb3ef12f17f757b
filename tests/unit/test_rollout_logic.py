"""The rollout arithmetic of the Deployment controller, as pure functions:
fenceposts, the rolling-update ladder, proportional scaling, hashes,
revisions, conditions, and what ``kemu rollout`` prints. The numbers are the
worked examples of Kubernetes' documentation ("Deployments", "Rolling
Update Deployment", "Proportional scaling") and of ``deployment_util.go``."""

from __future__ import annotations

import doctest
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controllermanager import rollout
from controllermanager.rollout import (
    ReplicaSetShare,
    calculate_status,
    cleanup_unhealthy,
    deployment_complete,
    deployment_progressing,
    deployment_timed_out,
    equal_ignore_hash,
    find_active_or_latest,
    find_new_replica_set,
    is_saturated,
    max_scaled_down,
    max_surge,
    max_unavailable,
    new_condition,
    new_rs_replicas_rolling,
    pod_template_hash,
    proportional_scale,
    replica_sets_to_clean,
    requeue_after,
    resolve_fenceposts,
    rollout_status,
    safe_encode,
    scale_down_old,
    scaled_value,
    set_condition,
    sync_new_rs_annotations,
)
from kemu.cli import rollout as cli_rollout
from kemu.cli.base import CommandError
from kemu.clock import parse_rfc3339
from kemu.types import Obj


T0 = "2026-01-01T00:00:00Z"


def condition(status: Obj, ctype: str) -> Obj:
    """The condition of that type, which must be there."""
    cond = rollout.get_condition(status, ctype)
    assert cond is not None, f"no {ctype} condition in {status}"
    return cond


def deployment(replicas: int = 10, surge: int | str = "25%", unavailable: int | str = "25%", **extra: Any) -> Obj:
    spec: Obj = {
        "replicas": replicas,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}},
        "progressDeadlineSeconds": 600,
        "revisionHistoryLimit": 10,
    }
    spec.update(extra)
    return {"metadata": {"name": "web", "namespace": "default", "generation": 1, "uid": "d-uid"}, "spec": spec, "status": {}}


def rs(
    name: str,
    replicas: int,
    *,
    available: int | None = None,
    revision: int | None = None,
    created: str = T0,
    template: Obj | None = None,
    annotations: dict[str, str] | None = None,
) -> Obj:
    ann = dict(annotations or {})
    if revision is not None:
        ann[rollout.REVISION_ANNOTATION] = str(revision)
    avail = replicas if available is None else available
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": created, "generation": 1, "annotations": ann},
        "spec": {"replicas": replicas, "template": template or {}},
        "status": {"replicas": replicas, "readyReplicas": avail, "availableReplicas": avail, "observedGeneration": 1},
    }


class TestFenceposts:
    def test_absolute_values(self) -> None:
        """10 replicas, maxSurge 3, maxUnavailable 2: 13 pods at most, 8 available at least."""
        assert resolve_fenceposts(3, 2, 10) == (3, 2)

    def test_percentages_round_surge_up_and_unavailable_down(self) -> None:
        """25% of 10 is 2.5: surge 3, unavailable 2."""
        assert resolve_fenceposts("25%", "25%", 10) == (3, 2)

    def test_three_replicas_with_defaults(self) -> None:
        """The docs' nginx Deployment (3 replicas, 25%): at most 4 pods, at least 3 available."""
        assert resolve_fenceposts("25%", "25%", 3) == (1, 0)

    def test_never_both_zero(self) -> None:
        """1 replica with 0 surge: 25% unavailable rounds down to 0, so it becomes 1."""
        assert resolve_fenceposts(0, "25%", 1) == (0, 1)
        assert resolve_fenceposts(0, 0, 5) == (0, 1)

    def test_max_unavailable_is_capped_by_replicas(self) -> None:
        """maxUnavailable never exceeds spec.replicas, and is 0 without replicas."""
        assert max_unavailable(deployment(replicas=2, surge=0, unavailable=5)) == 2
        assert max_unavailable(deployment(replicas=0)) == 0

    def test_recreate_has_no_surge_nor_unavailability(self) -> None:
        """Recreate does not roll: both fenceposts are 0."""
        d = deployment(strategy={"type": "Recreate"})
        assert (max_surge(d), max_unavailable(d)) == (0, 0)

    def test_malformed_percentage(self) -> None:
        """A value that is neither an int nor a percentage is refused."""
        with pytest.raises(ValueError):
            scaled_value("abc", 10, round_up=True)


class TestRollingLadder:
    def test_docs_example_first_steps(self) -> None:
        """10 replicas, surge 3, unavailable 2: the new set starts at 3, then 5 old pods may go once 3 new are available."""
        assert new_rs_replicas_rolling(10, 3, current_total=10, new_rs_replicas=0) == 3
        assert max_scaled_down(13, 10, 2, new_rs_unavailable=3) == 2
        assert scale_down_old([10], available=10, min_available=8) == [8]
        assert scale_down_old([10], available=13, min_available=8) == [5]

    def test_no_scale_up_past_surge(self) -> None:
        """With 13 pods in all, the new set cannot grow."""
        assert new_rs_replicas_rolling(10, 3, current_total=13, new_rs_replicas=3) == 3

    def test_new_set_never_past_desired(self) -> None:
        """The last step stops at spec.replicas even if the surge would allow more."""
        assert new_rs_replicas_rolling(10, 3, current_total=9, new_rs_replicas=9) == 10

    def test_crashlooping_new_set_blocks_scale_down(self) -> None:
        """Case 1 of rolling.go: 5 new pods never available, 13 - 8 - 5 = 0."""
        assert max_scaled_down(13, 10, 2, new_rs_unavailable=5) == 0

    def test_rollback_frees_the_crashlooping_pods(self) -> None:
        """After an undo only 1 pod of the (old, healthy) new set is unavailable: 4 may go."""
        assert max_scaled_down(13, 10, 2, new_rs_unavailable=1) == 4

    def test_unhealthy_pods_go_first(self) -> None:
        """Unhealthy replicas of old sets are removed within the budget, oldest set first."""
        assert cleanup_unhealthy([(5, 2), (3, 3)], max_cleanup=4) == [2, 3]
        assert cleanup_unhealthy([(5, 2), (3, 1)], max_cleanup=4) == [2, 2]
        assert cleanup_unhealthy([(5, 5)], max_cleanup=4) == [5]

    def test_scale_down_oldest_first(self) -> None:
        """Old sets are emptied in creation order."""
        assert scale_down_old([2, 6], available=10, min_available=8) == [0, 6]

    @settings(max_examples=300, deadline=None)
    @given(
        replicas=st.integers(min_value=1, max_value=30),
        surge=st.one_of(st.integers(min_value=0, max_value=10), st.sampled_from(["0%", "10%", "25%", "50%", "100%"])),
        unavailable=st.one_of(st.integers(min_value=0, max_value=10), st.sampled_from(["0%", "10%", "25%", "50%"])),
        readiness=st.lists(st.booleans(), min_size=1, max_size=400),
    )
    def test_simulated_rollout_respects_bounds(self, replicas: int, surge: Any, unavailable: Any, readiness: list[bool]) -> None:
        """A rollout driven by the ladder never has more than replicas + maxSurge
        pods nor fewer than replicas - maxUnavailable available, and finishes."""
        s, u = resolve_fenceposts(surge, unavailable, replicas)
        u = min(u, replicas)
        old, new, new_ready = replicas, 0, 0
        ticks = iter(readiness)  # then every pod becomes ready at once
        for _ in range(len(readiness) + 4 * replicas + 10):
            if new == replicas and old == 0 and new_ready == replicas:
                break
            # Scale up if we can ...
            target = new_rs_replicas_rolling(replicas, s, old + new, new)
            if target != new:
                new = target
            else:
                # ... else scale down if we can.
                budget = max_scaled_down(old + new, replicas, u, new - new_ready)
                if budget > 0 and old > 0:
                    (old,) = scale_down_old([old], available=old + new_ready, min_available=replicas - u)
            assert old + new <= replicas + s
            assert old + new_ready >= replicas - u
            # Some new pods become ready.
            if new_ready < new and next(ticks, True):
                new_ready += 1
        assert (old, new, new_ready) == (0, replicas, replicas)


class TestProportionalScaling:
    def test_docs_example_scale_up(self) -> None:
        """10 replicas (surge 3) stuck mid-rollout at 8 old + 5 new, scaled to 15: 3 to the old set, 2 to the new."""
        sizes, direction = proportional_scale(
            [ReplicaSetShare("old", 8, 13), ReplicaSetShare("new", 5, 13)], desired=15, surge=3, status_replicas=13
        )
        assert sizes == {"old": 11, "new": 7}
        assert direction == "up"

    def test_docs_example_with_percentages(self) -> None:
        """The same with 25%: 10 -> 15 replicas moves the allowance from 13 to 19 (surge 4): 4 old, 2 new."""
        s15 = max_surge(deployment(replicas=15))
        sizes, _ = proportional_scale(
            [ReplicaSetShare("old", 8, 13), ReplicaSetShare("new", 5, 13)], desired=15, surge=s15, status_replicas=13
        )
        assert s15 == 4
        assert sizes == {"old": 12, "new": 7}
        assert sum(sizes.values()) == 15 + s15

    def test_scale_down(self) -> None:
        """Scaled to 5 instead (8 allowed): 3 old and 2 new go."""
        sizes, direction = proportional_scale(
            [ReplicaSetShare("old", 8, 13), ReplicaSetShare("new", 5, 13)], desired=5, surge=3, status_replicas=13
        )
        assert (sizes, direction) == ({"old": 5, "new": 3}, "down")

    def test_leftovers_go_to_the_largest(self) -> None:
        """Three equal sets of 1 (max 3) grown to 4 allowed: the rounding leftover lands on the first (newest among equals)."""
        sizes, _ = proportional_scale(
            [ReplicaSetShare("a", 1, 3), ReplicaSetShare("b", 1, 3), ReplicaSetShare("c", 1, 3)],
            desired=4, surge=0, status_replicas=3,
        )
        assert sum(sizes.values()) == 4
        assert sizes["c"] == 2

    def test_scale_to_zero(self) -> None:
        """Scaling to 0 empties every set."""
        sizes, _ = proportional_scale(
            [ReplicaSetShare("old", 8, 13), ReplicaSetShare("new", 5, 13)], desired=0, surge=0, status_replicas=13
        )
        assert sizes == {"old": 0, "new": 0}

    @settings(max_examples=200, deadline=None)
    @given(
        sizes=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=5),
        desired=st.integers(min_value=0, max_value=100),
        surge=st.integers(min_value=0, max_value=10),
    )
    def test_total_is_the_allowance_unless_the_leftover_set_hits_zero(self, sizes: list[int], desired: int,
                                                                        surge: int) -> None:
        """The new total is replicas + maxSurge (0 for 0 replicas), and no size is negative. The one exception
        is sync.go's own: shrinking, the rounding leftover goes to the biggest set and is clamped at 0, so the
        total can stay above the allowance (sizes [1, 1, 1, 1] to 1 + 1 surge give 0, 1, 1, 1, as in
        Kubernetes; the next sync's cleanup takes the rest)."""
        before = sum(sizes)
        shares = [ReplicaSetShare(f"rs{i}", n, before) for i, n in enumerate(sizes)]
        out, _ = proportional_scale(shares, desired=desired, surge=surge, status_replicas=before)
        allowed = desired + surge if desired else 0
        assert all(v >= 0 for v in out.values())
        total = sum(out.values())
        if allowed >= before:
            assert total == allowed
        else:
            biggest = max(range(len(sizes)), key=lambda i: (sizes[i], -i))
            assert total == allowed or (total > allowed and out[f"rs{biggest}"] == 0)

    def test_a_clamped_leftover_is_kubernetes_own(self) -> None:
        """The example hypothesis found: getReplicaSetFraction rounds 1 * 2 / 4 = 0.5 up to 1, so no set gives
        a pod, and the leftover of -2 on rs0 is clamped at 0."""
        shares = [ReplicaSetShare(f"rs{i}", 1, 4) for i in range(4)]
        out, direction = proportional_scale(shares, desired=1, surge=1, status_replicas=4)
        assert (out, direction) == ({"rs0": 0, "rs1": 1, "rs2": 1, "rs3": 1}, "down")


class TestIdentity:
    def test_safe_encoding(self) -> None:
        """Digits map onto Kubernetes' safe alphabet (no vowels, no 0/1/3)."""
        assert safe_encode("1234567890") == "56789bcdf4"

    def test_hash_is_stable_and_uses_the_alphabet(self) -> None:
        """The same template always hashes the same; only safe letters appear."""
        t = deployment()["spec"]["template"]
        h = pod_template_hash(t)
        assert h == pod_template_hash({**t})
        assert set(h) <= set(rollout.SAFE_ALPHABET)
        assert 1 <= len(h) <= 10

    def test_collision_count_changes_the_hash(self) -> None:
        """A bumped collisionCount gives another name."""
        t = deployment()["spec"]["template"]
        assert pod_template_hash(t, 1) != pod_template_hash(t) != pod_template_hash(t, 2)

    def test_template_change_changes_the_hash(self) -> None:
        """Another image, another ReplicaSet."""
        t = deployment()["spec"]["template"]
        t2 = {**t, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.24"}]}}
        assert pod_template_hash(t) != pod_template_hash(t2)

    def test_equal_ignore_hash(self) -> None:
        """The hash label alone does not make templates differ; anything else does."""
        t = deployment()["spec"]["template"]
        hashed = {**t, "metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}}
        assert equal_ignore_hash(t, hashed)
        assert not equal_ignore_hash(t, {**hashed, "spec": {}})

    def test_find_new_replica_set_takes_the_oldest_match(self) -> None:
        """The template returning to an earlier one finds that ReplicaSet (the oldest if several)."""
        d = deployment()
        t = d["spec"]["template"]
        a = rs("a", 0, created="2026-01-01T00:00:02Z", template=t)
        b = rs("b", 0, created="2026-01-01T00:00:01Z", template=t)
        c = rs("c", 3, template={"spec": {}})
        assert find_new_replica_set(d, [a, b, c]) is b
        assert find_new_replica_set(d, [c]) is None


class TestRevisions:
    def test_new_replica_set_gets_revision_and_replica_annotations(self) -> None:
        """A set about to be created: revision, change-cause, desired and max replicas."""
        ann, changed = sync_new_rs_annotations(
            {rollout.CHANGE_CAUSE_ANNOTATION: "nginx 1.25", rollout.REVISION_ANNOTATION: "1",
             "kubectl.kubernetes.io/last-applied-configuration": "{}"},
            {}, 2, exists=False, desired=10, max_replicas=13,
        )
        assert changed
        assert ann == {
            rollout.CHANGE_CAUSE_ANNOTATION: "nginx 1.25",
            rollout.REVISION_ANNOTATION: "2",
            rollout.DESIRED_REPLICAS_ANNOTATION: "10",
            rollout.MAX_REPLICAS_ANNOTATION: "13",
        }

    def test_rollback_keeps_history(self) -> None:
        """Going back to revision 1 when 3 is the highest: it becomes 4 and remembers 1."""
        ann, _ = sync_new_rs_annotations({}, {rollout.REVISION_ANNOTATION: "1"}, 4, exists=True, desired=3, max_replicas=4)
        assert (ann[rollout.REVISION_ANNOTATION], ann[rollout.REVISION_HISTORY_ANNOTATION]) == ("4", "1")
        ann, _ = sync_new_rs_annotations({}, ann, 6, exists=True, desired=3, max_replicas=4)
        assert ann[rollout.REVISION_HISTORY_ANNOTATION] == "1,4"

    def test_revision_never_goes_down(self) -> None:
        """Old sets deleted since: a set already at 5 stays 5."""
        ann, changed = sync_new_rs_annotations({}, {rollout.REVISION_ANNOTATION: "5"}, 3, exists=True, desired=3, max_replicas=4)
        assert (ann[rollout.REVISION_ANNOTATION], changed) == ("5", False)

    def test_history_limit_cleans_lowest_revisions_scaled_to_zero(self) -> None:
        """revisionHistoryLimit 1 with three old sets: revisions 1 and 2 go, not a set with pods."""
        old = [rs("c", 0, revision=3), rs("a", 0, revision=1), rs("b", 2, revision=2)]
        assert [r["metadata"]["name"] for r in replica_sets_to_clean(old, 1)] == ["a"]
        assert replica_sets_to_clean(old, 3) == []


class TestScalingChoices:
    def test_single_active_set_is_resized(self) -> None:
        """One active set: it takes the new replica count."""
        new, old = rs("new", 0), [rs("old", 3)]
        assert find_active_or_latest(new, old) is old[0]

    def test_no_active_set_means_the_new_one(self) -> None:
        """Nothing active: the new set (else the newest old one)."""
        new = rs("new", 0)
        assert find_active_or_latest(new, [rs("old", 0)]) is new
        newest = rs("b", 0, created="2026-01-01T00:00:05Z")
        assert find_active_or_latest(None, [rs("a", 0), newest]) is newest

    def test_several_active_sets_mean_proportional(self) -> None:
        """Two active sets: no single target."""
        assert find_active_or_latest(rs("new", 2), [rs("old", 3)]) is None

    def test_saturated(self) -> None:
        """Saturated: annotated for this count, that many replicas, all available."""
        d = deployment(replicas=3)
        full = rs("new", 3, annotations={rollout.DESIRED_REPLICAS_ANNOTATION: "3"})
        assert is_saturated(d, full)
        assert not is_saturated(d, rs("new", 3, available=2, annotations={rollout.DESIRED_REPLICAS_ANNOTATION: "3"}))


class TestStatusAndConditions:
    def test_status_counts(self) -> None:
        """Counts sum the ReplicaSets; updated is the new set's; unavailable never negative."""
        d = deployment(replicas=3)
        s = calculate_status(d, [rs("old", 2), rs("new", 2, available=1)], rs("new", 2, available=1), T0)
        assert (s["replicas"], s["updatedReplicas"], s["availableReplicas"], s["unavailableReplicas"]) == (4, 2, 3, 1)
        assert s["observedGeneration"] == 1

    def test_available_condition(self) -> None:
        """Available when at least replicas - maxUnavailable pods are available."""
        d = deployment(replicas=4)  # maxUnavailable 1
        ok = calculate_status(d, [rs("a", 4, available=3)], None, T0)
        bad = calculate_status(d, [rs("a", 4, available=2)], None, T0)
        assert condition(ok, "Available")["reason"] == "MinimumReplicasAvailable"
        assert condition(bad, "Available")["status"] == "False"
        assert condition(bad, "Available")["message"] == "Deployment does not have minimum availability."

    def test_set_condition_keeps_transition_time(self) -> None:
        """Same status, new reason: lastTransitionTime stays."""
        s: Obj = {}
        set_condition(s, new_condition("Progressing", "True", "NewReplicaSetCreated", "m", "t0"))
        set_condition(s, new_condition("Progressing", "True", "ReplicaSetUpdated", "m", "t1"))
        cond = condition(s, "Progressing")
        assert (cond["lastTransitionTime"], cond["lastUpdateTime"], cond["reason"]) == ("t0", "t1", "ReplicaSetUpdated")

    def test_complete_progressing_timed_out(self) -> None:
        """Complete, progress and the deadline as deployment_util.go defines them."""
        d = deployment(replicas=3)
        assert deployment_complete(d, {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3, "observedGeneration": 1})
        assert deployment_progressing({"replicas": 3, "updatedReplicas": 1}, {"replicas": 3, "updatedReplicas": 2})
        assert not deployment_progressing({"readyReplicas": 3}, {"readyReplicas": 2})
        d["spec"]["progressDeadlineSeconds"] = 5
        status = {"conditions": [new_condition("Progressing", "True", "ReplicaSetUpdated", "m", T0)]}
        assert not deployment_timed_out(d, status, parse_rfc3339(T0) + 4, parse_rfc3339)
        assert deployment_timed_out(d, status, parse_rfc3339(T0) + 6, parse_rfc3339)

    def test_rollout_status_messages(self) -> None:
        """Kubernetes' Progressing messages name the new ReplicaSet."""
        d = deployment(replicas=1, progressDeadlineSeconds=5)
        d["status"] = {"replicas": 1, "updatedReplicas": 1, "readyReplicas": 0, "conditions": [
            new_condition("Progressing", "True", "NewReplicaSetCreated", 'Created new replica set "web-5d4b7c9f8"', T0)]}
        new = rs("web-5d4b7c9f8", 1, available=0)
        now = parse_rfc3339(T0)
        s = rollout_status(d, [new], new, now + 1, T0, parse_rfc3339)
        assert condition(s, "Progressing")["reason"] == "NewReplicaSetCreated"
        s = rollout_status(d, [new], new, now + 10, T0, parse_rfc3339)
        cond = condition(s, "Progressing")
        assert (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")
        assert cond["message"] == 'ReplicaSet "web-5d4b7c9f8" has timed out progressing.'
        done = rs("web-5d4b7c9f8", 1)
        s = rollout_status(d, [done], done, now + 1, T0, parse_rfc3339)
        assert condition(s, "Progressing")["message"] == 'ReplicaSet "web-5d4b7c9f8" has successfully progressed.'
        d["status"] = {"replicas": 2, "updatedReplicas": 1}
        s = rollout_status(d, [done], done, now + 1, T0, parse_rfc3339)
        assert condition(s, "Progressing")["reason"] == "NewReplicaSetAvailable"

    def test_requeue_for_the_deadline(self) -> None:
        """Last progress 3 minutes ago, deadline 10: look again in 7."""
        d = deployment()
        d["status"] = {"conditions": [new_condition("Progressing", "True", "ReplicaSetUpdated", "m", T0)]}
        assert requeue_after(d, {}, parse_rfc3339(T0) + 180, parse_rfc3339) == 420.0


class TestCli:
    def test_status_lines(self) -> None:
        """kubectl's rollout status lines, in their order."""
        d: Obj = {"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 3}, "status": {"observedGeneration": 1}}
        assert cli_rollout.deployment_status(d)[0] == "Waiting for deployment spec update to be observed..."
        d["status"] = {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}
        assert cli_rollout.deployment_status(d) == (
            'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...', False)
        d["status"] = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}
        assert cli_rollout.deployment_status(d)[0] == 'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...'
        d["status"]["availableReplicas"] = 3
        assert cli_rollout.deployment_status(d) == ('deployment "web" successfully rolled out', True)

    def test_status_deadline_is_an_error(self) -> None:
        """ProgressDeadlineExceeded ends the wait with kubectl's error."""
        d = {"metadata": {"name": "web", "generation": 1}, "spec": {"replicas": 3},
             "status": {"observedGeneration": 1, "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]}}
        with pytest.raises(CommandError, match='deployment "web" exceeded its progress deadline'):
            cli_rollout.deployment_status(d)

    def test_rollback_target(self) -> None:
        """Undo picks the second-highest revision, or the one asked for."""
        sets = [rs("a", 0, revision=1), rs("b", 0, revision=3), rs("c", 3, revision=4)]
        assert cli_rollout.rollback_target({}, sets)["metadata"]["name"] == "b"
        assert cli_rollout.rollback_target({}, sets, 1)["metadata"]["name"] == "a"
        with pytest.raises(CommandError, match="unable to find specified revision 2 in history"):
            cli_rollout.rollback_target({}, sets, 2)

    def test_rollback_patch(self) -> None:
        """The template without its hash label, and the set's annotations over the Deployment's own."""
        d = {"metadata": {"annotations": {rollout.REVISION_ANNOTATION: "4", rollout.CHANGE_CAUSE_ANNOTATION: "new"}}}
        target = rs("b", 0, revision=3, annotations={rollout.CHANGE_CAUSE_ANNOTATION: "old"},
                    template={"metadata": {"labels": {"app": "web", "pod-template-hash": "x"}}, "spec": {}})
        ops = cli_rollout.rollback_patch(d, target)
        assert ops[0] == {"op": "replace", "path": "/spec/template", "value": {"metadata": {"labels": {"app": "web"}}, "spec": {}}}
        assert ops[1]["value"] == {rollout.REVISION_ANNOTATION: "4", rollout.CHANGE_CAUSE_ANNOTATION: "old"}

    def test_resource_forms(self) -> None:
        """deploy/web, deployment/web, deployment.apps/web and deploy web name the same thing."""
        for args in (["deploy/web"], ["deployment/web"], ["deployment.apps/web"], ["deploy", "web"]):
            (res,) = cli_rollout.parse_resources(args)
            assert (res.info.kind, res.name, res.ref) == ("Deployment", "web", "deployment.apps/web")

    def test_history_table(self) -> None:
        """REVISION and CHANGE-CAUSE columns, <none> when there is no cause."""
        text = cli_rollout.history_table([rs("b", 0, revision=2, annotations={rollout.CHANGE_CAUSE_ANNOTATION: "x"}), rs("a", 0, revision=1)])
        assert text == "REVISION  CHANGE-CAUSE\n1         <none>\n2         x\n"


@pytest.mark.parametrize("module", [rollout, cli_rollout])
def test_docstring_examples(module: Any) -> None:
    """The worked examples in the docstrings hold."""
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
