"""The scheduler's filters, with Kubernetes' own wording for every rejection."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.filters import (
    NodeInfo,
    PodInfo,
    Resources,
    Status,
    node_affinity,
    node_name,
    node_ports,
    node_ready,
    node_resources_fit,
    node_unschedulable,
    pod_requests,
    run_filters,
    taint_toleration,
)
from kemu.types import Obj


UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}
NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
# What the apiserver's DefaultTolerationSeconds admission gives every pod.
DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]


def make_pod(
    name: str = "web-abc",
    *,
    cpu: str | None = None,
    memory: str | None = None,
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> PodInfo:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: Obj = {"name": "main", "image": "nginx"}
    if requests:
        container["resources"] = {"requests": requests}
    body: Obj = {"containers": [container], **spec}
    return PodInfo.from_pod(
        {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": labels or {}}, "spec": body}
    )


def make_node(
    name: str = "node-1",
    *,
    cpu: str = "2",
    memory: str = "4Gi",
    pods: str = "110",
    ready: str | None = "True",
    labels: dict[str, str] | None = None,
    taints: list[Obj] | None = None,
    unschedulable: bool = False,
) -> NodeInfo:
    conditions = [] if ready is None else [{"type": "Ready", "status": ready}]
    return NodeInfo(
        name,
        {
            "metadata": {"name": name, "labels": labels or {"kubernetes.io/hostname": name}},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods}, "conditions": conditions},
        },
    )


def reasons(status: Status | None) -> tuple[str, ...] | None:
    return None if status is None else status.reasons


class TestNodeUnschedulable:
    def test_cordoned_node_is_rejected(self) -> None:
        """A node with spec.unschedulable takes no new pods, and evicting would not help."""
        status = node_unschedulable(make_pod(), make_node(unschedulable=True))
        assert status == Status(("node(s) were unschedulable",), True, "NodeUnschedulable")

    def test_pod_tolerating_the_unschedulable_taint_passes(self) -> None:
        """Tolerating node.kubernetes.io/unschedulable:NoSchedule means tolerating a cordon."""
        pod = make_pod(tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}])
        assert node_unschedulable(pod, make_node(unschedulable=True)) is None

    def test_schedulable_node_passes(self) -> None:
        """An uncordoned node passes."""
        assert node_unschedulable(make_pod(), make_node()) is None


class TestNodeName:
    @pytest.mark.parametrize(
        ("wanted", "expected"),
        [
            ("", None),
            ("node-1", None),
            ("node-2", ("node(s) didn't match the requested node name",)),
        ],
    )
    def test_only_the_named_node_fits(self, wanted: str, expected: tuple[str, ...] | None) -> None:
        """A pod naming a node in spec.nodeName fits that node only; no name fits all."""
        assert reasons(node_name(make_pod(nodeName=wanted), make_node("node-1"))) == expected


class TestTaintToleration:
    @pytest.mark.parametrize(
        ("taints", "tolerations", "expected"),
        [
            ([UNREACHABLE], [], "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"),
            ([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}], [], "node(s) had untolerated taint {dedicated: gpu}"),
            ([{"key": "evict", "effect": "NoExecute"}], [], "node(s) had untolerated taint {evict: }"),
            ([{"key": "soft", "effect": "PreferNoSchedule"}], [], None),
            ([UNREACHABLE], [{"operator": "Exists"}], None),
            ([UNREACHABLE], [{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}], None),
            ([{"key": "k", "value": "v", "effect": "NoSchedule"}], [{"key": "k", "operator": "Equal", "value": "v"}], None),
            ([{"key": "k", "value": "v", "effect": "NoSchedule"}], [{"key": "k", "value": "v"}], None),
            (
                [{"key": "k", "value": "v", "effect": "NoSchedule"}],
                [{"key": "k", "operator": "Equal", "value": "other"}],
                "node(s) had untolerated taint {k: v}",
            ),
            (
                [{"key": "k", "value": "v", "effect": "NoSchedule"}],
                [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
                None,
            ),
            ([UNREACHABLE], DEFAULT_TOLERATIONS, "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"),
            (
                [{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoSchedule"}],
                [{"key": "a", "operator": "Exists"}],
                "node(s) had untolerated taint {b: }",
            ),
        ],
        ids=[
            "unreachable-untolerated",
            "value-in-message",
            "noexecute-untolerated",
            "prefer-no-schedule-ignored",
            "empty-key-exists-tolerates-all",
            "exists-on-key",
            "equal-same-value",
            "operator-defaults-to-equal",
            "equal-other-value",
            "effect-matches",
            "noexecute-toleration-does-not-cover-noschedule",
            "first-untolerated-reported",
        ],
    )
    def test_no_schedule_and_no_execute_taints_need_a_toleration(
        self, taints: list[Obj], tolerations: list[Obj], expected: str | None
    ) -> None:
        """NoSchedule and NoExecute taints reject pods without a matching
        toleration (key, Exists/Equal value, and effect); the message names the
        first one."""
        status = taint_toleration(make_pod(tolerations=tolerations), make_node(taints=taints))
        assert (None if status is None else status.reason) == expected

    def test_taint_rejection_is_unresolvable(self) -> None:
        """Preemption cannot remove a taint."""
        status = taint_toleration(make_pod(), make_node(taints=[UNREACHABLE]))
        assert status is not None and status.unresolvable


class TestNodeReady:
    @pytest.mark.parametrize(
        ("ready", "expected"),
        [
            ("True", None),
            ("False", "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"),
            (None, "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"),
            ("Unknown", "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"),
        ],
    )
    def test_node_not_ready_counts_as_its_lifecycle_taint(self, ready: str | None, expected: str | None) -> None:
        """A node whose Ready condition is not True reads as the NoSchedule taint
        the node lifecycle controller will put on it: not-ready, or unreachable
        when the condition is Unknown."""
        status = node_ready(make_pod(tolerations=DEFAULT_TOLERATIONS), make_node(ready=ready))
        assert (None if status is None else status.reason) == expected

    def test_pod_tolerating_not_ready_no_schedule_may_go_there(self) -> None:
        """As with the real taint, a matching NoSchedule toleration lets the pod through."""
        pod = make_pod(tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}])
        assert node_ready(pod, make_node(ready="False")) is None


NODE_LABELS = {"kubernetes.io/hostname": "node-1", "zone": "a", "disk": "ssd", "cores": "8"}


class TestNodeAffinity:

    @staticmethod
    def required(*terms: Obj) -> Obj:
        return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}

    @staticmethod
    def expr(key: str, operator: str, *values: str) -> Obj:
        return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}

    @pytest.mark.parametrize(
        ("expression", "fits"),
        [
            (("zone", "In", "a", "b"), True),
            (("zone", "In", "b"), False),
            (("zone", "NotIn", "b"), True),
            (("zone", "NotIn", "a"), False),
            (("missing", "NotIn", "a"), True),
            (("disk", "Exists"), True),
            (("missing", "Exists"), False),
            (("missing", "DoesNotExist"), True),
            (("disk", "DoesNotExist"), False),
            (("cores", "Gt", "4"), True),
            (("cores", "Gt", "8"), False),
            (("cores", "Lt", "16"), True),
            (("zone", "Gt", "1"), False),
        ],
    )
    def test_match_expressions_operators(self, expression: tuple[str, ...], fits: bool) -> None:
        """In/NotIn/Exists/DoesNotExist/Gt/Lt read node labels as label selectors
        do (NotIn matches a missing label; Gt/Lt need integers)."""
        pod = make_pod(affinity=self.required({"matchExpressions": [self.expr(*expression)]}))
        status = node_affinity(pod, make_node(labels=NODE_LABELS))
        assert (status is None) == fits

    @pytest.mark.parametrize(
        ("field", "fits"),
        [
            ({"key": "metadata.name", "operator": "In", "values": ["node-1"]}, True),
            ({"key": "metadata.name", "operator": "In", "values": ["node-2"]}, False),
            ({"key": "metadata.name", "operator": "NotIn", "values": ["node-1"]}, False),
        ],
    )
    def test_match_fields_on_node_name(self, field: Obj, fits: bool) -> None:
        """matchFields compares metadata.name with In/NotIn."""
        pod = make_pod(affinity=self.required({"matchFields": [field]}))
        assert (node_affinity(pod, make_node("node-1")) is None) == fits

    def test_terms_are_ored_and_expressions_anded(self) -> None:
        """One matching term is enough; inside a term every expression must match."""
        both = {"matchExpressions": [self.expr("zone", "In", "a"), self.expr("disk", "In", "hdd")]}
        either = {"matchExpressions": [self.expr("zone", "In", "a")]}
        node = make_node(labels=NODE_LABELS)
        assert node_affinity(make_pod(affinity=self.required(both)), node) is not None
        assert node_affinity(make_pod(affinity=self.required(both, either)), node) is None

    def test_empty_term_matches_nothing(self) -> None:
        """A term with neither expressions nor fields selects no node."""
        assert node_affinity(make_pod(affinity=self.required({})), make_node()) is not None

    @pytest.mark.parametrize(
        ("selector", "fits"),
        [({"zone": "a"}, True), ({"zone": "a", "disk": "ssd"}, True), ({"zone": "b"}, False), ({"gpu": "yes"}, False)],
    )
    def test_node_selector_labels_must_all_match(self, selector: dict[str, str], fits: bool) -> None:
        """spec.nodeSelector needs every label, with the same value, on the node."""
        status = node_affinity(make_pod(nodeSelector=selector), make_node(labels=NODE_LABELS))
        assert (status is None) == fits

    def test_rejection_wording(self) -> None:
        """The message is Kubernetes' ErrReasonPod, and preemption cannot help."""
        status = node_affinity(make_pod(nodeSelector={"zone": "b"}), make_node(labels=NODE_LABELS))
        assert status == Status(("node(s) didn't match Pod's node affinity/selector",), True, "NodeAffinity")


def with_ports(name: str, *ports: Obj) -> PodInfo:
    return make_pod(name, containers=[{"name": "main", "image": "nginx", "ports": list(ports)}])


class TestNodePorts:
    @pytest.mark.parametrize(
        ("taken", "wanted", "free"),
        [
            ({"containerPort": 80, "hostPort": 8080}, {"containerPort": 80, "hostPort": 8080}, False),
            ({"containerPort": 80, "hostPort": 8080}, {"containerPort": 80, "hostPort": 8081}, True),
            ({"containerPort": 80, "hostPort": 8080}, {"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}, True),
            ({"containerPort": 80, "hostPort": 8080, "hostIP": "127.0.1.1"}, {"containerPort": 80, "hostPort": 8080}, False),
            ({"containerPort": 80, "hostPort": 8080}, {"containerPort": 80, "hostPort": 8080, "hostIP": "127.0.1.1"}, False),
            (
                {"containerPort": 80, "hostPort": 8080, "hostIP": "127.0.1.1"},
                {"containerPort": 80, "hostPort": 8080, "hostIP": "127.0.1.2"},
                True,
            ),
            ({"containerPort": 80}, {"containerPort": 80}, True),
        ],
        ids=["same", "other-port", "other-protocol", "any-ip-vs-one", "one-vs-any-ip", "two-ips", "no-host-port"],
    )
    def test_host_ports_conflict(self, taken: Obj, wanted: Obj, free: bool) -> None:
        """A host port is taken per protocol; 0.0.0.0 (the default) overlaps every address."""
        node = make_node()
        node.add_pod(with_ports("holder", taken))
        assert (node_ports(with_ports("web", wanted), node) is None) == free

    def test_port_freed_when_pod_leaves(self) -> None:
        """Removing the pod that held the port frees it."""
        node = make_node()
        node.add_pod(with_ports("holder", {"containerPort": 80, "hostPort": 8080}))
        node.remove_pod("default/holder")
        assert node_ports(with_ports("web", {"containerPort": 80, "hostPort": 8080}), node) is None

    def test_conflict_wording_and_resolvable(self) -> None:
        """The message is Kubernetes' own; evicting the holder could help."""
        node = make_node()
        node.add_pod(with_ports("holder", {"containerPort": 80, "hostPort": 8080}))
        status = node_ports(with_ports("web", {"containerPort": 80, "hostPort": 8080}), node)
        assert status == Status(("node(s) didn't have free ports for the requested pod ports",), False, "NodePorts")


class TestNodeResourcesFit:
    def test_pod_fits_free_node(self) -> None:
        """Requests within allocatable fit."""
        assert node_resources_fit(make_pod(cpu="2", memory="4Gi"), make_node()) is None

    def test_insufficient_cpu_after_other_pods(self) -> None:
        """Pods already on the node take their requests: 1500m used of 2, a 600m pod does not fit, resolvably."""
        node = make_node()
        node.add_pod(make_pod("a", cpu="1500m"))
        assert node_resources_fit(make_pod(cpu="600m"), node) == Status(("Insufficient cpu",), False, "NodeResourcesFit")

    def test_pod_bigger_than_node_is_unresolvable(self) -> None:
        """A pod asking more than the empty node has cannot be helped by preemption."""
        status = node_resources_fit(make_pod(cpu="3"), make_node())
        assert status == Status(("Insufficient cpu",), True, "NodeResourcesFit")

    def test_every_insufficient_resource_is_a_reason(self) -> None:
        """cpu and memory are both reported, in Kubernetes' order."""
        assert reasons(node_resources_fit(make_pod(cpu="3", memory="5Gi"), make_node())) == (
            "Insufficient cpu",
            "Insufficient memory",
        )

    def test_insufficient_memory(self) -> None:
        """Memory is checked in bytes."""
        node = make_node(memory="1Gi")
        node.add_pod(make_pod("a", memory="768Mi"))
        assert reasons(node_resources_fit(make_pod(memory="512Mi"), node)) == ("Insufficient memory",)

    def test_too_many_pods(self) -> None:
        """The pods allocatable caps the count, whatever the requests."""
        node = make_node(pods="2")
        node.add_pod(make_pod("a"))
        node.add_pod(make_pod("b"))
        assert reasons(node_resources_fit(make_pod(), node)) == ("Too many pods",)

    def test_pod_without_requests_fits_full_node(self) -> None:
        """A pod that requests nothing is only limited by the pod count."""
        node = make_node()
        node.add_pod(make_pod("a", cpu="2", memory="4Gi"))
        assert node_resources_fit(make_pod(), node) is None

    def test_removed_pod_frees_its_requests(self) -> None:
        """The node's sums go down when a pod leaves."""
        node = make_node()
        node.add_pod(make_pod("a", cpu="1500m"))
        node.remove_pod("default/a")
        assert node_resources_fit(make_pod(cpu="2"), node) is None


class TestPodRequests:
    @pytest.mark.parametrize(
        ("spec", "cpu"),
        [
            ({"containers": [{"resources": {"requests": {"cpu": "100m"}}}, {"resources": {"requests": {"cpu": "200m"}}}]}, 300),
            (
                {
                    "containers": [{"resources": {"requests": {"cpu": "100m"}}}, {"resources": {"requests": {"cpu": "200m"}}}],
                    "initContainers": [{"resources": {"requests": {"cpu": "500m"}}}, {"resources": {"requests": {"cpu": "50m"}}}],
                },
                500,
            ),
            (
                {
                    "containers": [{"resources": {"requests": {"cpu": "100m"}}}, {"resources": {"requests": {"cpu": "200m"}}}],
                    "initContainers": [
                        {"restartPolicy": "Always", "resources": {"requests": {"cpu": "10m"}}},
                        {"resources": {"requests": {"cpu": "500m"}}},
                    ],
                },
                510,
            ),
            ({"containers": [{"resources": {"requests": {"cpu": "1"}}}], "overhead": {"cpu": "250m"}}, 1250),
            ({"containers": [{"resources": {"limits": {"cpu": "2"}}}]}, 2000),
            ({"containers": [{}]}, 0),
        ],
        ids=["sum-of-containers", "largest-init-container", "sidecar-adds", "overhead", "limits-only", "none"],
    )
    def test_effective_cpu_request(self, spec: Obj, cpu: int) -> None:
        """The larger of the app containers' sum and the biggest init container
        (sidecars running alongside both), plus overhead."""
        assert pod_requests(spec).milli_cpu == cpu

    def test_non_zero_requests_for_scoring(self) -> None:
        """Scoring counts a container without requests as 100m and 200Mi."""
        assert pod_requests({"containers": [{}, {}]}, non_zero=True) == Resources(200, 400 * 1024 * 1024)


class TestRunFilters:
    def test_first_failing_filter_is_reported(self) -> None:
        """A cordoned node that is also full reports the cordon, as filters run in order."""
        node = make_node(unschedulable=True)
        assert reasons(run_filters(make_pod(cpu="3"), node)) == ("node(s) were unschedulable",)

    def test_real_taint_wins_over_readiness(self) -> None:
        """A NotReady node the lifecycle controller already tainted reports that taint."""
        node = make_node(ready="Unknown", taints=[NOT_READY])
        assert reasons(run_filters(make_pod(), node)) == ("node(s) had untolerated taint {node.kubernetes.io/not-ready: }",)

    def test_fitting_node_passes_every_filter(self) -> None:
        """A ready, untainted, roomy node fits."""
        assert run_filters(make_pod(cpu="500m", memory="1Gi"), make_node()) is None
