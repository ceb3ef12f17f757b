"""The endpoints controller's decisions: which pods a Service lists, ready or
not, on which ports, and how subsets are packed — all pure, no processes."""

from __future__ import annotations


from controllermanager.endpoints import (
    HEADLESS_LABEL,
    compute_subsets,
    desired_labels,
    endpoint_address,
    endpoint_ips,
    find_port,
    pod_change_affects_endpoints,
    repack_subsets,
    selector_matches,
    service_selector,
    should_pod_be_in_endpoints,
)
from kemu.types import Obj


def pod(
    name: str,
    ip: str | None = "127.244.1.2",
    *,
    ready: bool = True,
    phase: str = "Running",
    node: str = "node-1",
    deleting: bool = False,
    ports: list[Obj] | None = None,
    labels: dict[str, str] | None = None,
    hostname: str | None = None,
    subdomain: str | None = None,
) -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": labels or {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec: Obj = {
        "nodeName": node,
        "containers": [{"name": "c", "image": "nginx", "ports": ports if ports is not None else [{"name": "http", "containerPort": 80}]}],
    }
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    status: Obj = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def service(
    *,
    ports: list[Obj] | None = None,
    cluster_ip: str = "127.96.0.11",
    publish_not_ready: bool = False,
    selector: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> Obj:
    spec: Obj = {
        "clusterIP": cluster_ip,
        "selector": selector if selector is not None else {"app": "web"},
        "ports": ports if ports is not None else [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
    }
    if publish_not_ready:
        spec["publishNotReadyAddresses"] = True
    meta: Obj = {"name": "web", "namespace": "default"}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


class TestSelectors:
    def test_selector_matches_subset_of_labels(self) -> None:
        """Every selector pair must be among the pod's labels; extra labels do not matter."""
        assert selector_matches({"app": "web"}, {"app": "web", "tier": "frontend"})
        assert not selector_matches({"app": "web", "tier": "db"}, {"app": "web"})

    def test_empty_selector_means_no_selector(self) -> None:
        """A Service with `selector: {}` gets no managed endpoints, like one with none."""
        assert service_selector(service(selector={})) is None
        assert service_selector(service()) == {"app": "web"}


class TestShouldPodBeInEndpoints:
    def test_running_pod_with_ip(self) -> None:
        """A running pod with an IP is listed."""
        assert should_pod_be_in_endpoints(pod("a"), include_terminating=False)

    def test_pod_without_ip(self) -> None:
        """A pod that has no IP yet is not listed at all."""
        assert not should_pod_be_in_endpoints(pod("a", ip=None), include_terminating=False)

    def test_finished_pods(self) -> None:
        """Succeeded and Failed pods are not listed."""
        assert not should_pod_be_in_endpoints(pod("a", phase="Succeeded"), include_terminating=False)
        assert not should_pod_be_in_endpoints(pod("a", phase="Failed"), include_terminating=False)

    def test_terminating_pod_leaves_at_once(self) -> None:
        """A pod with a deletionTimestamp is dropped, unless publishNotReadyAddresses."""
        assert not should_pod_be_in_endpoints(pod("a", deleting=True), include_terminating=False)
        assert should_pod_be_in_endpoints(pod("a", deleting=True), include_terminating=True)


class TestFindPort:
    def test_named_target_port_resolved_per_pod(self) -> None:
        """`targetPort: http` is the pod's container port named http."""
        sp = {"port": 80, "targetPort": "http", "protocol": "TCP"}
        assert find_port(pod("a", ports=[{"name": "http", "containerPort": 8080}]), sp) == 8080
        assert find_port(pod("b", ports=[{"name": "http", "containerPort": 9090}]), sp) == 9090

    def test_named_port_must_match_protocol(self) -> None:
        """A UDP container port named http does not serve a TCP Service port."""
        sp = {"port": 80, "targetPort": "http", "protocol": "TCP"}
        assert find_port(pod("a", ports=[{"name": "http", "containerPort": 80, "protocol": "UDP"}]), sp) is None

    def test_missing_named_port(self) -> None:
        """A pod without the named port has no port for that Service port."""
        assert find_port(pod("a", ports=[]), {"port": 80, "targetPort": "http"}) is None

    def test_numeric_and_default_target_port(self) -> None:
        """A numeric targetPort is used as is; none means the Service port."""
        assert find_port(pod("a"), {"port": 80, "targetPort": 8080}) == 8080
        assert find_port(pod("a"), {"port": 80}) == 80


class TestEndpointAddress:
    def test_address_carries_node_and_target_ref(self) -> None:
        """An address names the pod's IP, node and the pod itself."""
        address = endpoint_address(pod("a", "127.244.1.7", node="node-2"), service())
        assert address == {
            "ip": "127.244.1.7",
            "nodeName": "node-2",
            "targetRef": {"kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"},
        }

    def test_hostname_only_in_the_service_subdomain(self) -> None:
        """`hostname` is set when the pod's subdomain is this Service's name."""
        assert endpoint_address(pod("a", hostname="a0", subdomain="web"), service())["hostname"] == "a0"
        assert "hostname" not in endpoint_address(pod("a", hostname="a0", subdomain="other"), service())


class TestComputeSubsets:
    def test_ready_and_not_ready_split(self) -> None:
        """Ready pods go to addresses, unready ones to notReadyAddresses, terminating ones nowhere."""
        pods = [
            pod("a", "127.244.1.2"),
            pod("b", "127.244.2.2", ready=False),
            pod("c", "127.244.3.2", deleting=True),
        ]
        subsets, ready, not_ready = compute_subsets(service(), pods)
        assert (ready, not_ready) == (1, 1)
        assert len(subsets) == 1
        assert [a["ip"] for a in subsets[0]["addresses"]] == ["127.244.1.2"]
        assert [a["ip"] for a in subsets[0]["notReadyAddresses"]] == ["127.244.2.2"]
        assert subsets[0]["ports"] == [{"name": "http", "port": 80, "protocol": "TCP"}]

    def test_publish_not_ready_lists_everything_as_ready(self) -> None:
        """publishNotReadyAddresses: unready and terminating pods are listed as ready."""
        pods = [pod("a", "127.244.1.2", ready=False), pod("b", "127.244.2.2", deleting=True)]
        subsets, ready, not_ready = compute_subsets(service(publish_not_ready=True), pods)
        assert (ready, not_ready) == (2, 0)
        assert endpoint_ips(subsets) == {"127.244.1.2", "127.244.2.2"}

    def test_different_port_numbers_give_two_subsets(self) -> None:
        """Pods serving the named port on different numbers land in one subset per number."""
        pods = [
            pod("a", "127.244.1.2", ports=[{"name": "http", "containerPort": 80}]),
            pod("b", "127.244.2.2", ports=[{"name": "http", "containerPort": 8080}]),
        ]
        subsets, _, _ = compute_subsets(service(), pods)
        assert [(s["addresses"][0]["ip"], s["ports"][0]["port"]) for s in subsets] == [
            ("127.244.1.2", 80),
            ("127.244.2.2", 8080),
        ]

    def test_multiple_ports_share_a_subset(self) -> None:
        """Two Service ports served by the same pods share one subset."""
        svc = service(ports=[
            {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
            {"name": "metrics", "port": 9100, "targetPort": 9100, "protocol": "TCP"},
        ])
        subsets, ready, _ = compute_subsets(svc, [pod("a", "127.244.1.2"), pod("b", "127.244.1.3")])
        assert ready == 4
        assert len(subsets) == 1
        assert [p["name"] for p in subsets[0]["ports"]] == ["http", "metrics"]

    def test_pod_without_named_port_is_left_out_of_that_port(self) -> None:
        """A pod lacking the named port appears only under the ports it has."""
        subsets, ready, _ = compute_subsets(service(), [pod("a", "127.244.1.2", ports=[])])
        assert (subsets, ready) == ([], 0)

    def test_headless_without_ports_lists_addresses(self) -> None:
        """A headless Service with no ports still gets its pods' addresses."""
        subsets, ready, _ = compute_subsets(service(ports=[], cluster_ip="None"), [pod("a", "127.244.1.2")])
        assert ready == 1
        assert subsets == [{"addresses": [endpoint_address(pod("a", "127.244.1.2"), service())]}]

    def test_addresses_sorted_by_ip_numerically(self) -> None:
        """127.244.1.10 sorts after 127.244.1.9."""
        subsets, _, _ = compute_subsets(service(), [pod("a", "127.244.1.10"), pod("b", "127.244.1.9")])
        assert [a["ip"] for a in subsets[0]["addresses"]] == ["127.244.1.9", "127.244.1.10"]

    def test_same_input_same_output(self) -> None:
        """The result does not depend on the pods' order (no spurious updates)."""
        pods = [pod("a", "127.244.1.2"), pod("b", "127.244.2.2", ready=False), pod("c", "127.244.3.2")]
        assert compute_subsets(service(), pods) == compute_subsets(service(), list(reversed(pods)))


class TestRepack:
    def test_empty(self) -> None:
        """No entries, no subsets."""
        assert repack_subsets([]) == []

    def test_same_address_sets_merge_ports(self) -> None:
        """Ports with the same (address, readiness) sets share one subset."""
        a = {"ip": "127.244.1.2"}
        x, y = {"name": "x", "port": 1, "protocol": "TCP"}, {"name": "y", "port": 2, "protocol": "TCP"}
        entries = [(a, x, True), (a, y, True)]
        assert repack_subsets(entries) == [{"addresses": [a], "ports": [x, y]}]


class TestLabels:
    def test_service_labels_copied(self) -> None:
        """The Endpoints carry the Service's labels."""
        assert desired_labels(service(labels={"app": "web"})) == {"app": "web"}

    def test_headless_label(self) -> None:
        """A headless Service's Endpoints are labelled service.kubernetes.io/headless."""
        assert desired_labels(service(cluster_ip="None")) == {HEADLESS_LABEL: ""}


class TestPodChange:
    def test_readiness_change_matters(self) -> None:
        """Ready -> not ready changes the Endpoints."""
        assert pod_change_affects_endpoints(pod("a"), pod("a", ready=False))

    def test_label_change_matters(self) -> None:
        """A relabelled pod may leave or join a Service."""
        assert pod_change_affects_endpoints(pod("a"), pod("a", labels={"app": "db"}))

    def test_deletion_matters(self) -> None:
        """A pod starting to terminate leaves the Endpoints."""
        assert pod_change_affects_endpoints(pod("a"), pod("a", deleting=True))

    def test_status_churn_does_not(self) -> None:
        """A restart count or a probe timestamp changes nothing the Endpoints show."""
        old, new = pod("a"), pod("a")
        new["status"]["containerStatuses"] = [{"name": "c", "restartCount": 3}]
        new["metadata"]["resourceVersion"] = "99"
        assert not pod_change_affects_endpoints(old, new)
