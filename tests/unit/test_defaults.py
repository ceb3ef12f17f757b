"""Defaulting, as the apiserver does it before validation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kemu.api.defaults import apply_defaults, carry_over_allocated


def pod(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": [{"name": "web", "image": "nginx:1.25"}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"}, "spec": body}


def deployment(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]},
        },
    }
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": body}


def service(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"}, "spec": body}


def defaulted(obj: dict[str, Any]) -> dict[str, Any]:
    apply_defaults(obj)
    return obj


class TestPod:
    def test_pod_spec_defaults(self) -> None:
        """SetDefaults_PodSpec and SetDefaults_Pod fill the pod-level fields."""
        spec = defaulted(pod())["spec"]
        assert {k: v for k, v in spec.items() if k != "containers"} == {
            "enableServiceLinks": True,
            "dnsPolicy": "ClusterFirst",
            "restartPolicy": "Always",
            "securityContext": {},
            "terminationGracePeriodSeconds": 30,
            "schedulerName": "default-scheduler",
        }

    def test_container_defaults(self) -> None:
        """A container gets its pull policy and termination message settings."""
        container = defaulted(pod())["spec"]["containers"][0]
        assert container == {
            "name": "web",
            "image": "nginx:1.25",
            "imagePullPolicy": "IfNotPresent",
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }

    @pytest.mark.parametrize(
        ("image", "policy"),
        [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.25", "IfNotPresent"),
            ("localhost:5000/team/app", "Always"),
            ("localhost:5000/team/app:v2", "IfNotPresent"),
            ("nginx@sha256:abcd", "IfNotPresent"),
        ],
    )
    def test_image_pull_policy_from_tag(self, image: str, policy: str) -> None:
        """Always for :latest or no tag, IfNotPresent otherwise."""
        obj = pod(containers=[{"name": "c", "image": image}])
        assert defaulted(obj)["spec"]["containers"][0]["imagePullPolicy"] == policy

    def test_explicit_values_kept(self) -> None:
        """Defaulting never overwrites what the user set."""
        obj = pod(restartPolicy="Never", terminationGracePeriodSeconds=0, enableServiceLinks=False)
        obj["spec"]["containers"][0]["imagePullPolicy"] = "Never"
        spec = defaulted(obj)["spec"]
        assert (spec["restartPolicy"], spec["terminationGracePeriodSeconds"], spec["enableServiceLinks"]) == (
            "Never",
            0,
            False,
        )
        assert spec["containers"][0]["imagePullPolicy"] == "Never"

    def test_empty_string_counts_as_unset(self) -> None:
        """A string field set to "" is defaulted, like Go's zero value."""
        assert defaulted(pod(dnsPolicy=""))["spec"]["dnsPolicy"] == "ClusterFirst"

    def test_port_protocol(self) -> None:
        """Container ports default to TCP."""
        obj = pod(containers=[{"name": "c", "image": "x", "ports": [{"containerPort": 80}]}])
        assert defaulted(obj)["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]

    def test_probe_defaults(self) -> None:
        """Probes get their timing defaults and httpGet its scheme and path."""
        probe = {"httpGet": {"port": 80}, "periodSeconds": 0}
        obj = pod(containers=[{"name": "c", "image": "x", "livenessProbe": probe}])
        assert defaulted(obj)["spec"]["containers"][0]["livenessProbe"] == {
            "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
            "periodSeconds": 10,
            "timeoutSeconds": 1,
            "successThreshold": 1,
            "failureThreshold": 3,
        }

    def test_lifecycle_http_get(self) -> None:
        """Lifecycle httpGet handlers are defaulted too."""
        obj = pod(containers=[{"name": "c", "image": "x", "lifecycle": {"preStop": {"httpGet": {"port": 80}}}}])
        assert defaulted(obj)["spec"]["containers"][0]["lifecycle"]["preStop"]["httpGet"] == {
            "port": 80,
            "path": "/",
            "scheme": "HTTP",
        }

    def test_requests_from_limits(self) -> None:
        """A pod's requests default to its limits."""
        resources = {"limits": {"cpu": "1", "memory": "128Mi"}, "requests": {"cpu": "250m"}}
        obj = pod(containers=[{"name": "c", "image": "x", "resources": resources}])
        assert defaulted(obj)["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "250m", "memory": "128Mi"}

    def test_env_field_ref_api_version(self) -> None:
        """A fieldRef's apiVersion defaults to v1."""
        env = [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
        obj = pod(containers=[{"name": "c", "image": "x", "env": env}])
        assert defaulted(obj)["spec"]["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"

    @pytest.mark.parametrize(
        ("volume", "expected"),
        [
            ({"name": "v"}, {"name": "v", "emptyDir": {}}),
            ({"name": "v", "configMap": {"name": "c"}}, {"name": "v", "configMap": {"name": "c", "defaultMode": 420}}),
            (
                {"name": "v", "secret": {"secretName": "s"}},
                {"name": "v", "secret": {"secretName": "s", "defaultMode": 420}},
            ),
            ({"name": "v", "hostPath": {"path": "/tmp"}}, {"name": "v", "hostPath": {"path": "/tmp", "type": ""}}),
            (
                {"name": "v", "configMap": {"name": "c", "defaultMode": 0o600}},
                {"name": "v", "configMap": {"name": "c", "defaultMode": 0o600}},
            ),
        ],
    )
    def test_volume_defaults(self, volume: dict[str, Any], expected: dict[str, Any]) -> None:
        """Volumes without a source become emptyDir; file modes default to 0644."""
        assert defaulted(pod(volumes=[volume]))["spec"]["volumes"] == [expected]

    def test_projected_defaults(self) -> None:
        """Projected volumes get a mode, token projections an expiry."""
        sources = [{"serviceAccountToken": {"path": "token"}}]
        volume = defaulted(pod(volumes=[{"name": "v", "projected": {"sources": sources}}]))["spec"]["volumes"][0]
        assert volume["projected"] == {
            "sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}],
            "defaultMode": 420,
        }

    def test_quantities_canonicalized(self) -> None:
        """Quantities are stored in canonical form, resource lists rounded to 1m."""
        resources = {"limits": {"cpu": 0.5, "memory": "1024Mi"}, "requests": {"cpu": "100u", "memory": 1000}}
        obj = pod(
            containers=[{"name": "c", "image": "x", "resources": resources}],
            volumes=[{"name": "v", "emptyDir": {"sizeLimit": "0.5Gi"}}],
        )
        spec = defaulted(obj)["spec"]
        assert spec["containers"][0]["resources"] == {
            "limits": {"cpu": "500m", "memory": "1Gi"},
            "requests": {"cpu": "1m", "memory": "1k"},
        }
        assert spec["volumes"][0]["emptyDir"]["sizeLimit"] == "512Mi"

    def test_host_network_ports(self) -> None:
        """With hostNetwork, a port's hostPort defaults to its containerPort."""
        obj = pod(hostNetwork=True, containers=[{"name": "c", "image": "x", "ports": [{"containerPort": 8080}]}])
        assert defaulted(obj)["spec"]["containers"][0]["ports"][0]["hostPort"] == 8080

    def test_service_account_mirrored(self) -> None:
        """The deprecated serviceAccount mirrors serviceAccountName."""
        assert defaulted(pod(serviceAccount="robot"))["spec"]["serviceAccountName"] == "robot"
        assert defaulted(pod(serviceAccountName="robot"))["spec"]["serviceAccount"] == "robot"

    def test_idempotent(self) -> None:
        """Defaulting twice changes nothing more."""
        once = defaulted(pod(volumes=[{"name": "v"}]))
        assert defaulted(copy.deepcopy(once)) == once


class TestWorkloads:
    def test_deployment_defaults(self) -> None:
        """apps/v1 Deployment defaults: one replica, 25%/25% rolling update, limits."""
        spec = defaulted(deployment())["spec"]
        assert (spec["replicas"], spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (1, 10, 600)
        assert spec["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
        }

    def test_zero_replicas_kept(self) -> None:
        """replicas is a pointer: an explicit 0 stays 0."""
        assert defaulted(deployment(replicas=0))["spec"]["replicas"] == 0

    def test_recreate_gets_no_rolling_update(self) -> None:
        """The Recreate strategy gets no rollingUpdate block."""
        assert defaulted(deployment(strategy={"type": "Recreate"}))["spec"]["strategy"] == {"type": "Recreate"}

    def test_partial_rolling_update(self) -> None:
        """Only the missing half of rollingUpdate is defaulted."""
        spec = defaulted(deployment(strategy={"rollingUpdate": {"maxSurge": 1}}))["spec"]
        assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": "25%"}

    def test_template_gets_pod_spec_defaults_only(self) -> None:
        """A pod template gets pod-spec defaults but not enableServiceLinks."""
        template_spec = defaulted(deployment())["spec"]["template"]["spec"]
        assert template_spec["restartPolicy"] == "Always"
        assert template_spec["containers"][0]["imagePullPolicy"] == "Always"
        assert "enableServiceLinks" not in template_spec

    def test_replica_set_defaults(self) -> None:
        """A ReplicaSet defaults to one replica and defaults its template."""
        rs = deployment()
        rs["kind"] = "ReplicaSet"
        spec = defaulted(rs)["spec"]
        assert spec["replicas"] == 1 and "strategy" not in spec
        assert spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


class TestService:
    def test_cluster_ip_service(self) -> None:
        """A plain Service: ClusterIP, TCP, targetPort = port, single-stack IPv4."""
        spec = defaulted(service())["spec"]
        assert spec == {
            "selector": {"app": "web"},
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
            "sessionAffinity": "None",
            "type": "ClusterIP",
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
        }

    def test_named_target_port_kept(self) -> None:
        """A named targetPort is not replaced by the port number."""
        spec = defaulted(service(ports=[{"port": 80, "targetPort": "http"}]))["spec"]
        assert spec["ports"][0]["targetPort"] == "http"

    def test_node_port_service(self) -> None:
        """NodePort services are externally accessible: externalTrafficPolicy Cluster."""
        spec = defaulted(service(type="NodePort"))["spec"]
        assert (spec["externalTrafficPolicy"], spec["internalTrafficPolicy"]) == ("Cluster", "Cluster")

    def test_load_balancer_service(self) -> None:
        """LoadBalancer services allocate node ports by default."""
        spec = defaulted(service(type="LoadBalancer"))["spec"]
        assert spec["allocateLoadBalancerNodePorts"] is True

    def test_client_ip_affinity_timeout(self) -> None:
        """ClientIP affinity gets the three-hour timeout."""
        spec = defaulted(service(sessionAffinity="ClientIP"))["spec"]
        assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}

    def test_no_affinity_drops_config(self) -> None:
        """With sessionAffinity None, a stray sessionAffinityConfig is dropped."""
        spec = defaulted(service(sessionAffinityConfig={"clientIP": {"timeoutSeconds": 5}}))["spec"]
        assert "sessionAffinityConfig" not in spec

    @pytest.mark.parametrize(
        ("given", "cluster_ips", "families"),
        [
            ({"clusterIP": "127.96.0.10"}, ["127.96.0.10"], ["IPv4"]),
            ({"clusterIP": "fd00::10"}, ["fd00::10"], ["IPv6"]),
            ({"clusterIPs": ["127.96.0.10"]}, ["127.96.0.10"], ["IPv4"]),
            ({"clusterIP": "None"}, ["None"], ["IPv4"]),
        ],
    )
    def test_cluster_ips_mirrored(self, given: dict[str, Any], cluster_ips: list[str], families: list[str]) -> None:
        """clusterIP and clusterIPs mirror each other; families follow the IPs."""
        spec = defaulted(service(**given))["spec"]
        assert (spec["clusterIP"], spec["clusterIPs"], spec["ipFamilies"]) == (cluster_ips[0], cluster_ips, families)

    def test_external_name_has_no_ip_fields(self) -> None:
        """ExternalName services get no IP families or traffic policy."""
        spec = defaulted(service(type="ExternalName", externalName="example.com", ports=[]))["spec"]
        assert not {"ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy", "clusterIPs"} & set(spec)

    def test_carry_over_allocated(self) -> None:
        """An update without clusterIP keeps the allocated IPs and node ports."""
        old = defaulted(service(type="NodePort", clusterIP="127.96.0.10", ports=[{"port": 80, "nodePort": 30080}]))
        new = defaulted(service(type="NodePort"))
        carry_over_allocated(new, old)
        assert (new["spec"]["clusterIP"], new["spec"]["clusterIPs"]) == ("127.96.0.10", ["127.96.0.10"])
        assert new["spec"]["ports"][0]["nodePort"] == 30080


class TestOtherKinds:
    def test_namespace(self) -> None:
        """Namespaces get their name label, the kubernetes finalizer and phase Active."""
        ns = defaulted({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}})
        assert ns == {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "dev", "labels": {"kubernetes.io/metadata.name": "dev"}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }

    def test_node(self) -> None:
        """Nodes mirror podCIDR into podCIDRs and allocatable from capacity."""
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "node-1"},
            "spec": {"podCIDR": "127.244.1.0/24"},
            "status": {"capacity": {"cpu": 4, "memory": "8192Mi"}},
        }
        defaulted(node)
        assert node["spec"]["podCIDRs"] == ["127.244.1.0/24"]
        assert node["status"]["allocatable"] == {"cpu": "4", "memory": "8Gi"}

    def test_endpoints_port_protocol(self) -> None:
        """Endpoints ports default to TCP."""
        endpoints = {"apiVersion": "v1", "kind": "Endpoints", "subsets": [{"ports": [{"port": 80}]}]}
        assert defaulted(endpoints)["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]

    @pytest.mark.parametrize("kind", ["ConfigMap", "Event", "Lease", "Unknown"])
    def test_kinds_without_defaults_unchanged(self, kind: str) -> None:
        """Kinds without defaulting functions are left as they are."""
        obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}}
        assert defaulted(copy.deepcopy(obj)) == obj

    def test_malformed_input_never_raises(self) -> None:
        """Defaulting tolerates shapes that validation will refuse."""
        obj = {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": "nginx", "volumes": [1, None]}}
        defaulted(obj)
        assert obj["spec"]["containers"] == "nginx"
