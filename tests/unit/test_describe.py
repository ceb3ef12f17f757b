"""What ``kemu describe`` prints: kubectl v1.32's describers, their
tab-aligned sections, events table, quantities and QoS, checked against
literal expected text."""

from __future__ import annotations

import copy
from datetime import datetime, timezone, UTC
from typing import Any

import pytest

from kemu.cli.describe import Quantity, _probe_text, _smart_label, _toleration_text, describe, events_for, qos_class

NOW = 1_717_243_200.0  # Sat, 01 Jun 2024 12:00:00 UTC


def ts(seconds_ago: float) -> str:
    """An RFC 3339 timestamp ``seconds_ago`` before NOW."""
    return datetime.fromtimestamp(NOW - seconds_ago, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(obj: dict[str, Any], events: list[dict[str, Any]] | None = None, related: dict[str, list[dict[str, Any]]] | None = None) -> str:
    return describe(obj, events=events, related=related, now=NOW, tz=UTC)


def lines(*texts: str) -> str:
    return "\n".join(texts) + "\n"


def event(kind: str, name: str, reason: str, message: str, *, uid: str = "", first: float = 600, last: float = 600, count: int = 1, component: str = "kubelet", **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{name}.{reason.lower()}", "namespace": "default"},
        "involvedObject": {"kind": kind, "name": name, "namespace": "default", "uid": uid},
        "reason": reason,
        "message": message,
        "type": "Normal",
        "count": count,
        "firstTimestamp": ts(first),
        "lastTimestamp": ts(last),
        "source": {"component": component},
        **extra,
    }


def web_pod() -> dict[str, Any]:
    """A running nginx pod of a ReplicaSet, restarted once."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-5d4b7c9f8-x2x7k",
            "namespace": "default",
            "uid": "u-pod",
            "creationTimestamp": ts(600),
            "labels": {"app": "web", "pod-template-hash": "5d4b7c9f8"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d4b7c9f8", "uid": "u-rs", "controller": True}],
        },
        "spec": {
            "nodeName": "node-1",
            "serviceAccountName": "default",
            "priority": 0,
            "containers": [
                {
                    "name": "web",
                    "image": "nginx:1.25",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m", "memory": "64Mi"}},
                    "livenessProbe": {"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
                    "env": [{"name": "MODE", "value": "prod"}, {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}],
                    "volumeMounts": [{"name": "html", "mountPath": "/usr/share/nginx/html"}],
                }
            ],
            "volumes": [{"name": "html", "emptyDir": {}}],
            "tolerations": [
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ],
        },
        "status": {
            "phase": "Running",
            "hostIP": "127.0.1.1",
            "podIP": "127.244.1.5",
            "podIPs": [{"ip": "127.244.1.5"}],
            "startTime": ts(600),
            "conditions": [
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "True"},
                {"type": "ContainersReady", "status": "True"},
                {"type": "PodScheduled", "status": "True"},
            ],
            "containerStatuses": [
                {
                    "name": "web",
                    "ready": True,
                    "restartCount": 1,
                    "image": "nginx:1.25",
                    "imageID": "kemu://nginx@sha256:abc",
                    "containerID": "kemu://1234",
                    "state": {"running": {"startedAt": ts(300)}},
                    "lastState": {"terminated": {"exitCode": 137, "reason": "Error", "startedAt": ts(595), "finishedAt": ts(301)}},
                }
            ],
        },
    }


def web_pod_events() -> list[dict[str, Any]]:
    return [
        event("Pod", "web-5d4b7c9f8-x2x7k", "Scheduled", "Successfully assigned default/web-5d4b7c9f8-x2x7k to node-1", uid="u-pod", component="default-scheduler"),
        event("Pod", "web-5d4b7c9f8-x2x7k", "Started", "Started container web", uid="u-pod", first=595, last=300, count=2),
        event("Pod", "other-pod", "Started", "Started container web", uid="u-other"),
    ]


TEMPLATE: dict[str, Any] = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}
DEPLOYMENT_REF = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u-dep", "controller": True}]


def web_deployment() -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-dep", "creationTimestamp": ts(3600), "labels": {"app": "web"}, "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": copy.deepcopy(TEMPLATE),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        },
        "status": {
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 3,
            "availableReplicas": 3,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        },
    }


def replicaset(name: str, pod_hash: str, image: str, replicas: int, created: float) -> dict[str, Any]:
    template = copy.deepcopy(TEMPLATE)
    template["metadata"]["labels"]["pod-template-hash"] = pod_hash
    template["spec"]["containers"][0]["image"] = image
    return {
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"u-{name}",
            "creationTimestamp": ts(created),
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {"deployment.kubernetes.io/desired-replicas": "3", "deployment.kubernetes.io/max-replicas": "4", "deployment.kubernetes.io/revision": "2"},
            "ownerReferences": DEPLOYMENT_REF,
        },
        "spec": {"replicas": replicas, "selector": {"matchLabels": dict(template["metadata"]["labels"])}, "template": template},
        "status": {"replicas": replicas},
    }


def pod_of(rs: dict[str, Any], name: str, phase: str) -> dict[str, Any]:
    ref = {"kind": "ReplicaSet", "name": rs["metadata"]["name"], "uid": rs["metadata"]["uid"], "controller": True}
    return {"metadata": {"name": name, "namespace": "default", "ownerReferences": [ref]}, "status": {"phase": phase}}


def web_node() -> dict[str, Any]:
    return {
        "kind": "Node",
        "metadata": {
            "name": "node-1",
            "uid": "u-node",
            "creationTimestamp": ts(7200),
            "labels": {"kubernetes.io/hostname": "node-1", "kubernetes.io/os": "linux", "node-role.kubernetes.io/worker": ""},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {
            "podCIDR": "127.244.1.0/24",
            "podCIDRs": ["127.244.1.0/24"],
            "taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}, {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}],
        },
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [
                {"type": "Ready", "status": "True", "lastHeartbeatTime": ts(2), "lastTransitionTime": ts(7195), "reason": "KubeletReady", "message": "kubelet is posting ready status"}
            ],
            "addresses": [{"type": "InternalIP", "address": "127.0.1.1"}, {"type": "Hostname", "address": "node-1"}],
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": "6.1.0",
                "osImage": "kemu",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "containerRuntimeVersion": "kemu://0.1.0",
                "kubeletVersion": "v1.32.0-kemu",
            },
        },
    }


def node_pods() -> list[dict[str, Any]]:
    limited = {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}}
    return [
        {"metadata": {"name": "web-1", "namespace": "default", "creationTimestamp": ts(600)}, "spec": {"nodeName": "node-1", "containers": [limited]}, "status": {"phase": "Running"}},
        {"metadata": {"name": "idle", "namespace": "default", "creationTimestamp": ts(3600)}, "spec": {"nodeName": "node-1", "containers": [{"name": "a"}]}, "status": {"phase": "Running"}},
        {"metadata": {"name": "done", "namespace": "default"}, "spec": {"nodeName": "node-1", "containers": [{"name": "a"}]}, "status": {"phase": "Succeeded"}},
        {"metadata": {"name": "elsewhere", "namespace": "default"}, "spec": {"nodeName": "node-2", "containers": [limited]}, "status": {"phase": "Running"}},
    ]


NODE_LEASE: dict[str, Any] = {"metadata": {"name": "node-1", "namespace": "kube-node-lease"}, "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40, "renewTime": "2024-06-01T11:59:59.123456Z"}}


class TestPod:
    """describe pod."""

    def test_running_pod(self) -> None:
        """A running pod: header, container with state, probes and env, conditions, volumes, QoS, tolerations, events."""
        assert run(web_pod(), web_pod_events()) == lines(
            "Name:             web-5d4b7c9f8-x2x7k",
            "Namespace:        default",
            "Priority:         0",
            "Service Account:  default",
            "Node:             node-1/127.0.1.1",
            "Start Time:       Sat, 01 Jun 2024 11:50:00 +0000",
            "Labels:           app=web",
            "                  pod-template-hash=5d4b7c9f8",
            "Annotations:      <none>",
            "Status:           Running",
            "IP:               127.244.1.5",
            "IPs:",
            "  IP:           127.244.1.5",
            "Controlled By:  ReplicaSet/web-5d4b7c9f8",
            "Containers:",
            "  web:",
            "    Container ID:   kemu://1234",
            "    Image:          nginx:1.25",
            "    Image ID:       kemu://nginx@sha256:abc",
            "    Port:           80/TCP",
            "    Host Port:      0/TCP",
            "    State:          Running",
            "      Started:      Sat, 01 Jun 2024 11:55:00 +0000",
            "    Last State:     Terminated",
            "      Reason:       Error",
            "      Exit Code:    137",
            "      Started:      Sat, 01 Jun 2024 11:50:05 +0000",
            "      Finished:     Sat, 01 Jun 2024 11:54:59 +0000",
            "    Ready:          True",
            "    Restart Count:  1",
            "    Limits:",
            "      cpu:     500m",
            "      memory:  128Mi",
            "    Requests:",
            "      cpu:     250m",
            "      memory:  64Mi",
            "    Liveness:  http-get http://:80/ delay=0s timeout=1s period=10s #success=1 #failure=3",
            "    Environment:",
            "      MODE:    prod",
            "      POD_IP:  127.244.1.5 (v1:status.podIP)",
            "    Mounts:",
            "      /usr/share/nginx/html from html (rw)",
            "Conditions:",
            "  Type              Status",
            "  Initialized       True ",
            "  Ready             True ",
            "  ContainersReady   True ",
            "  PodScheduled      True ",
            "Volumes:",
            "  html:",
            "    Type:        EmptyDir (a temporary directory that shares a pod's lifetime)",
            "    Medium:      ",
            "    SizeLimit:   <unset>",
            "QoS Class:       Burstable",
            "Node-Selectors:  <none>",
            "Tolerations:     node.kubernetes.io/not-ready:NoExecute op=Exists for 300s",
            "                 node.kubernetes.io/unreachable:NoExecute op=Exists for 300s",
            "Events:",
            "  Type    Reason     Age                 From               Message",
            "  ----    ------     ----                ----               -------",
            "  Normal  Scheduled  10m                 default-scheduler  Successfully assigned default/web-5d4b7c9f8-x2x7k to node-1",
            "  Normal  Started    5m (x2 over 9m55s)  kubelet            Started container web",
        )

    def test_no_events_aligns_with_the_last_section(self) -> None:
        """``Events: <none>`` joins the column block above it (here the volume's), as in kubectl."""
        assert run(web_pod(), []).endswith(
            lines(
                "    Type:        EmptyDir (a temporary directory that shares a pod's lifetime)",
                "    Medium:      ",
                "    SizeLimit:   <unset>",
                "QoS Class:       Burstable",
                "Node-Selectors:  <none>",
                "Tolerations:     node.kubernetes.io/not-ready:NoExecute op=Exists for 300s",
                "                 node.kubernetes.io/unreachable:NoExecute op=Exists for 300s",
                "Events:          <none>",
            )
        )

    def test_events_none_leaves_the_section_out(self) -> None:
        """``events=None`` is ``--show-events=false``."""
        assert "Events:" not in run(web_pod(), None)

    def test_unscheduled_pending_pod(self) -> None:
        """A pending pod without node or IP, its container waiting."""
        pod = web_pod()
        del pod["spec"]["nodeName"], pod["status"]["podIP"], pod["status"]["podIPs"], pod["status"]["startTime"]
        pod["status"]["phase"] = "Pending"
        pod["status"]["containerStatuses"] = [{"name": "web", "ready": False, "restartCount": 0, "image": "nginx:1.25", "imageID": "", "state": {"waiting": {"reason": "ErrImagePull"}}}]
        text = run(pod)
        assert "Node:             <none>\n" in text
        assert "IP:               \nIPs:              <none>\n" in text
        assert "    State:          Waiting\n      Reason:       ErrImagePull\n    Ready:          False\n" in text

    def test_terminating_pod(self) -> None:
        """A pod being deleted says how long it has left (``<invalid>`` once past, as kubectl)."""
        pod = web_pod()
        pod["metadata"]["deletionTimestamp"] = ts(-30)
        pod["metadata"]["deletionGracePeriodSeconds"] = 30
        assert "Status:                    Terminating (lasts <invalid>)\nTermination Grace Period:  30s\n" in run(pod)

    def test_init_containers_and_commands(self) -> None:
        """Init containers come first; commands and args print one line per item."""
        pod = web_pod()
        pod["spec"]["initContainers"] = [{"name": "setup", "image": "busybox", "command": ["sh", "-c"], "args": ["echo hi\necho there"]}]
        pod["status"]["initContainerStatuses"] = [
            {"name": "setup", "ready": True, "restartCount": 0, "containerID": "kemu://1", "imageID": "kemu://busybox", "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": ts(598), "finishedAt": ts(597)}}}
        ]
        assert "\n".join(run(pod).splitlines()[14:38]) == "\n".join(
            [
                "Init Containers:",
                "  setup:",
                "    Container ID:  kemu://1",
                "    Image:         busybox",
                "    Image ID:      kemu://busybox",
                "    Port:          <none>",
                "    Host Port:     <none>",
                "    Command:",
                "      sh",
                "      -c",
                "    Args:",
                "      echo hi",
                "      echo there",
                "    State:          Terminated",
                "      Reason:       Completed",
                "      Exit Code:    0",
                "      Started:      Sat, 01 Jun 2024 11:50:02 +0000",
                "      Finished:     Sat, 01 Jun 2024 11:50:03 +0000",
                "    Ready:          True",
                "    Restart Count:  0",
                "    Environment:    <none>",
                "    Mounts:         <none>",
                "Containers:",
                "  web:",
            ]
        )

    def test_times_follow_the_zone(self) -> None:
        """Times print in the zone given (kubectl uses the local zone)."""
        from datetime import timedelta

        text = describe(web_pod(), events=None, now=NOW, tz=timezone(timedelta(hours=2)))
        assert "Start Time:       Sat, 01 Jun 2024 13:50:00 +0200\n" in text


class TestProbesAndTolerations:
    """One-line renderings of probes and tolerations."""

    @pytest.mark.parametrize(
        ("probe", "expected"),
        [
            ({"httpGet": {"path": "/healthz", "port": 8080}}, "http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3"),
            ({"httpGet": {"port": "http", "scheme": "HTTPS", "host": "127.0.0.1"}, "initialDelaySeconds": 5}, "http-get https://127.0.0.1:http delay=5s timeout=1s period=10s #success=1 #failure=3"),
            ({"tcpSocket": {"port": 5432}, "periodSeconds": 2, "failureThreshold": 1}, "tcp-socket :5432 delay=0s timeout=1s period=2s #success=1 #failure=1"),
            ({"exec": {"command": ["cat", "/tmp/healthy"]}}, "exec [cat /tmp/healthy] delay=0s timeout=1s period=10s #success=1 #failure=3"),
        ],
    )
    def test_probe(self, probe: dict[str, Any], expected: str) -> None:
        """DescribeProbe, with the apiserver's defaults for unset timings."""
        assert _probe_text(probe) == expected

    @pytest.mark.parametrize(
        ("toleration", "expected"),
        [
            ({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}, "node.kubernetes.io/not-ready:NoExecute op=Exists for 300s"),
            ({"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}, "dedicated=db:NoSchedule"),
            ({"operator": "Exists"}, "op=Exists"),
            ({"key": "gpu", "operator": "Exists"}, "gpu op=Exists"),
        ],
    )
    def test_toleration(self, toleration: dict[str, Any], expected: str) -> None:
        """Tolerations as ``key=value:Effect op=Exists for Ns``."""
        assert _toleration_text(toleration) == expected


class TestQoS:
    """The QoS Class line."""

    @staticmethod
    def pod(*resources: dict[str, Any], status: str | None = None) -> dict[str, Any]:
        pod: dict[str, Any] = {"spec": {"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(resources)]}}
        if status:
            pod["status"] = {"qosClass": status}
        return pod

    @pytest.mark.parametrize(
        ("resources", "expected"),
        [
            ([{}], "BestEffort"),
            ([{"requests": {"cpu": "100m"}}], "Burstable"),
            ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
            ([{"limits": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
            ([{"limits": {"cpu": "1000m", "memory": "1024Mi"}, "requests": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
            ([{"limits": {"cpu": "1"}}], "Burstable"),
            ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}], "Burstable"),
            ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),
            ([{"requests": {"ephemeral-storage": "1Gi"}}], "BestEffort"),
        ],
    )
    def test_computed(self, resources: list[dict[str, Any]], expected: str) -> None:
        """Computed from cpu and memory as the kubelet does."""
        assert qos_class(self.pod(*resources)) == expected

    def test_status_wins(self) -> None:
        """``status.qosClass`` is used when the kubelet set it."""
        assert qos_class(self.pod({}, status="Guaranteed")) == "Guaranteed"


class TestWorkloads:
    """describe deployment and replicaset."""

    def test_deployment(self) -> None:
        """Replicas summary, strategy, pod template, conditions, old and new ReplicaSets."""
        new = replicaset("web-5d4b7c9f8", "5d4b7c9f8", "nginx:1.25", 3, 1800)
        old = replicaset("web-7f9c6d5b4", "7f9c6d5b4", "nginx:1.24", 0, 3600)
        scaled = event("Deployment", "web", "ScalingReplicaSet", "Scaled up replica set web-5d4b7c9f8 to 3", uid="u-dep", first=1800, last=1800, component="deployment-controller")
        assert run(web_deployment(), [scaled], {"ReplicaSet": [new, old]}) == lines(
            "Name:                   web",
            "Namespace:              default",
            "CreationTimestamp:      Sat, 01 Jun 2024 11:00:00 +0000",
            "Labels:                 app=web",
            "Annotations:            deployment.kubernetes.io/revision: 2",
            "Selector:               app=web",
            "Replicas:               3 desired | 3 updated | 3 total | 3 available | 0 unavailable",
            "StrategyType:           RollingUpdate",
            "MinReadySeconds:        0",
            "RollingUpdateStrategy:  25% max unavailable, 25% max surge",
            "Pod Template:",
            "  Labels:  app=web",
            "  Containers:",
            "   web:",
            "    Image:         nginx:1.25",
            "    Port:          80/TCP",
            "    Host Port:     0/TCP",
            "    Environment:   <none>",
            "    Mounts:        <none>",
            "  Volumes:         <none>",
            "  Node-Selectors:  <none>",
            "  Tolerations:     <none>",
            "Conditions:",
            "  Type           Status  Reason",
            "  ----           ------  ------",
            "  Available      True    MinimumReplicasAvailable",
            "  Progressing    True    NewReplicaSetAvailable",
            "OldReplicaSets:  web-7f9c6d5b4 (0/0 replicas created)",
            "NewReplicaSet:   web-5d4b7c9f8 (3/3 replicas created)",
            "Events:",
            "  Type    Reason             Age   From                   Message",
            "  ----    ------             ----  ----                   -------",
            "  Normal  ScalingReplicaSet  30m   deployment-controller  Scaled up replica set web-5d4b7c9f8 to 3",
        )

    def test_deployment_without_replicasets(self) -> None:
        """Without ReplicaSets the Old/New lines are left out."""
        text = run(web_deployment())
        assert "OldReplicaSets" not in text and "NewReplicaSet:" not in text

    def test_recreate_strategy(self) -> None:
        """A Recreate deployment has no RollingUpdateStrategy line."""
        dep = web_deployment()
        dep["spec"]["strategy"] = {"type": "Recreate"}
        text = run(dep)
        assert "StrategyType:       Recreate\n" in text and "RollingUpdateStrategy" not in text

    def test_replicaset(self) -> None:
        """Pods Status counts the phases of the pods this ReplicaSet controls."""
        rs = replicaset("web-5d4b7c9f8", "5d4b7c9f8", "nginx:1.25", 3, 1800)
        other = replicaset("web-7f9c6d5b4", "7f9c6d5b4", "nginx:1.24", 0, 3600)
        pods = [pod_of(rs, "a", "Running"), pod_of(rs, "b", "Running"), pod_of(rs, "c", "Pending"), pod_of(other, "d", "Running")]
        assert run(rs, [], {"Pod": pods}) == lines(
            "Name:           web-5d4b7c9f8",
            "Namespace:      default",
            "Selector:       app=web,pod-template-hash=5d4b7c9f8",
            "Labels:         app=web",
            "                pod-template-hash=5d4b7c9f8",
            "Annotations:    deployment.kubernetes.io/desired-replicas: 3",
            "                deployment.kubernetes.io/max-replicas: 4",
            "                deployment.kubernetes.io/revision: 2",
            "Controlled By:  Deployment/web",
            "Replicas:       3 current / 3 desired",
            "Pods Status:    2 Running / 1 Waiting / 0 Succeeded / 0 Failed",
            "Pod Template:",
            "  Labels:  app=web",
            "           pod-template-hash=5d4b7c9f8",
            "  Containers:",
            "   web:",
            "    Image:         nginx:1.25",
            "    Port:          80/TCP",
            "    Host Port:     0/TCP",
            "    Environment:   <none>",
            "    Mounts:        <none>",
            "  Volumes:         <none>",
            "  Node-Selectors:  <none>",
            "  Tolerations:     <none>",
            "Events:            <none>",
        )


class TestNetworking:
    """describe service and endpoints."""

    def test_service(self) -> None:
        """A NodePort service with its endpoints."""
        svc = {
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "type": "NodePort",
                "selector": {"app": "web"},
                "clusterIP": "127.96.0.10",
                "clusterIPs": ["127.96.0.10"],
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}],
                "sessionAffinity": "None",
                "externalTrafficPolicy": "Cluster",
                "internalTrafficPolicy": "Cluster",
            },
        }
        eps = {"metadata": {"name": "web"}, "subsets": [{"addresses": [{"ip": "127.244.1.5"}, {"ip": "127.244.2.7"}], "ports": [{"port": 8080, "protocol": "TCP"}]}]}
        assert run(svc, [], {"Endpoints": [eps]}) == lines(
            "Name:                     web",
            "Namespace:                default",
            "Labels:                   <none>",
            "Annotations:              <none>",
            "Selector:                 app=web",
            "Type:                     NodePort",
            "IP Family Policy:         SingleStack",
            "IP Families:              IPv4",
            "IP:                       127.96.0.10",
            "IPs:                      127.96.0.10",
            "Port:                     <unset>  80/TCP",
            "TargetPort:               8080/TCP",
            "NodePort:                 <unset>  30080/TCP",
            "Endpoints:                127.244.1.5:8080,127.244.2.7:8080",
            "Session Affinity:         None",
            "External Traffic Policy:  Cluster",
            "Internal Traffic Policy:  Cluster",
            "Events:                   <none>",
        )

    def test_service_without_endpoints(self) -> None:
        """No Endpoints object means ``<none>``."""
        svc = {"kind": "Service", "metadata": {"name": "db"}, "spec": {"ports": [{"name": "pg", "port": 5432, "targetPort": "pg"}]}}
        assert "Port:              pg  5432/TCP\nTargetPort:        pg/TCP\nEndpoints:         <none>\n" in run(svc)

    def test_endpoints(self) -> None:
        """Subsets with ready and not-ready addresses and a ports table."""
        eps = {
            "kind": "Endpoints",
            "metadata": {"name": "web", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "127.244.1.5"}, {"ip": "127.244.2.7"}], "notReadyAddresses": [{"ip": "127.244.3.2"}], "ports": [{"port": 80, "protocol": "TCP"}]}],
        }
        assert run(eps, []) == lines(
            "Name:         web",
            "Namespace:    default",
            "Labels:       <none>",
            "Annotations:  <none>",
            "Subsets:",
            "  Addresses:          127.244.1.5,127.244.2.7",
            "  NotReadyAddresses:  127.244.3.2",
            "  Ports:",
            "    Name     Port  Protocol",
            "    ----     ----  --------",
            "    <unset>  80    TCP",
            "",
            "Events:  <none>",
        )


class TestNode:
    """describe node."""

    def test_node(self) -> None:
        """Roles, taints, lease, conditions, resources, system info and the node's running pods."""
        ready = event("Node", "node-1", "NodeReady", "Node node-1 status is now: NodeReady", uid="node-1", first=7195, last=7195)
        assert run(web_node(), [ready], {"Pod": node_pods(), "Lease": [NODE_LEASE]}) == lines(
            "Name:               node-1",
            "Roles:              worker",
            "Labels:             kubernetes.io/hostname=node-1",
            "                    kubernetes.io/os=linux",
            "                    node-role.kubernetes.io/worker=",
            "Annotations:        node.alpha.kubernetes.io/ttl: 0",
            "CreationTimestamp:  Sat, 01 Jun 2024 10:00:00 +0000",
            "Taints:             node.kubernetes.io/unreachable:NoExecute",
            "                    node.kubernetes.io/unreachable:NoSchedule",
            "Unschedulable:      false",
            "Lease:",
            "  HolderIdentity:  node-1",
            "  AcquireTime:     <unset>",
            "  RenewTime:       Sat, 01 Jun 2024 11:59:59 +0000",
            "Conditions:",
            "  Type    Status  LastHeartbeatTime                 LastTransitionTime                Reason         Message",
            "  ----    ------  -----------------                 ------------------                ------         -------",
            "  Ready   True    Sat, 01 Jun 2024 11:59:58 +0000   Sat, 01 Jun 2024 10:00:05 +0000   KubeletReady   kubelet is posting ready status",
            "Addresses:",
            "  InternalIP:  127.0.1.1",
            "  Hostname:    node-1",
            "Capacity:",
            "  cpu:     4",
            "  memory:  8Gi",
            "  pods:    110",
            "Allocatable:",
            "  cpu:     4",
            "  memory:  8Gi",
            "  pods:    110",
            "System Info:",
            "  Machine ID:                 ",
            "  System UUID:                ",
            "  Boot ID:                    ",
            "  Kernel Version:             6.1.0",
            "  OS Image:                   kemu",
            "  Operating System:           linux",
            "  Architecture:               amd64",
            "  Container Runtime Version:  kemu://0.1.0",
            "  Kubelet Version:            v1.32.0-kemu",
            "PodCIDR:                      127.244.1.0/24",
            "PodCIDRs:                     127.244.1.0/24",
            "Non-terminated Pods:          (2 in total)",
            "  Namespace                   Name     CPU Requests  CPU Limits  Memory Requests  Memory Limits  Age",
            "  ---------                   ----     ------------  ----------  ---------------  -------------  ---",
            "  default                     idle     0 (0%)        0 (0%)      0 (0%)           0 (0%)         60m",
            "  default                     web-1    250m (6%)     500m (12%)  64Mi (0%)        128Mi (1%)     10m",
            "Allocated resources:",
            "  (Total limits may be over 100 percent, i.e., overcommitted.)",
            "  Resource           Requests   Limits",
            "  --------           --------   ------",
            "  cpu                250m (6%)  500m (12%)",
            "  memory             64Mi (0%)  128Mi (1%)",
            "  ephemeral-storage  0 (0%)     0 (0%)",
            "Events:",
            "  Type    Reason     Age   From     Message",
            "  ----    ------     ----  ----     -------",
            "  Normal  NodeReady  119m  kubelet  Node node-1 status is now: NodeReady",
        )

    def test_missing_lease(self) -> None:
        """Without its Lease the node says so as kubectl does."""
        assert 'Lease:              Failed to get lease: leases.coordination.k8s.io "node-1" not found\n' in run(web_node())

    def test_unschedulable_without_taints(self) -> None:
        """Cordoned node: ``Unschedulable: true``, ``Taints: <none>``."""
        node = web_node()
        node["spec"] = {"unschedulable": True}
        text = run(node)
        assert "Taints:             <none>\nUnschedulable:      true\n" in text


class TestOtherKinds:
    """describe namespace, configmap, and the generic describer (lease, event)."""

    def test_namespace(self) -> None:
        """A namespace has no quota or limit range in kemu."""
        ns = {"kind": "Namespace", "metadata": {"name": "default", "labels": {"kubernetes.io/metadata.name": "default"}}, "status": {"phase": "Active"}}
        assert run(ns, []) == lines(
            "Name:         default",
            "Labels:       kubernetes.io/metadata.name=default",
            "Annotations:  <none>",
            "Status:       Active",
            "",
            "No resource quota.",
            "",
            "No LimitRange resource.",
        )

    def test_configmap(self) -> None:
        """Data keys sorted, each value under a dashed rule; binary data by size."""
        cm = {"kind": "ConfigMap", "metadata": {"name": "site", "namespace": "default"}, "data": {"index.html": "<h1>hi</h1>", "a": "1"}, "binaryData": {"logo": "AAEC"}}
        assert run(cm, []) == lines(
            "Name:         site",
            "Namespace:    default",
            "Labels:       <none>",
            "Annotations:  <none>",
            "",
            "Data",
            "====",
            "a:",
            "----",
            "1",
            "",
            "index.html:",
            "----",
            "<h1>hi</h1>",
            "",
            "",
            "BinaryData",
            "====",
            "logo: 3 bytes",
            "",
            "Events:  <none>",
        )

    def test_lease(self) -> None:
        """A Lease gets kubectl's generic describer: every field, smart labels."""
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": "node-1",
                "namespace": "kube-node-lease",
                "uid": "u-l",
                "resourceVersion": "42",
                "creationTimestamp": "2024-06-01T10:00:00Z",
                "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "node-1", "uid": "u-node"}],
            },
            "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40, "renewTime": "2024-06-01T11:59:59.123456Z"},
        }
        assert run(lease, []) == lines(
            "Name:         node-1",
            "Namespace:    kube-node-lease",
            "Labels:       <none>",
            "Annotations:  <none>",
            "API Version:  coordination.k8s.io/v1",
            "Kind:         Lease",
            "Metadata:",
            "  Creation Timestamp:  2024-06-01T10:00:00Z",
            "  Owner References:",
            "    API Version:     v1",
            "    Kind:            Node",
            "    Name:            node-1",
            "    UID:             u-node",
            "  Resource Version:  42",
            "  UID:               u-l",
            "Spec:",
            "  Holder Identity:         node-1",
            "  Lease Duration Seconds:  40",
            "  Renew Time:              2024-06-01T11:59:59.123456Z",
            "Events:                    <none>",
        )

    def test_event(self) -> None:
        """An Event also gets the generic describer; null prints as ``<nil>``, and
        nested fields share a column block with the fields after them."""
        ev = event("Node", "node-1", "NodeReady", "Node node-1 status is now: NodeReady", first=7195, last=7195)
        ev.update(apiVersion="v1", kind="Event", eventTime=None, reportingComponent="kubelet", reportingInstance="node-1")
        assert run(ev, None) == lines(
            "Name:             node-1.nodeready",
            "Namespace:        default",
            "Labels:           <none>",
            "Annotations:      <none>",
            "API Version:      v1",
            "Count:            1",
            "Event Time:       <nil>",
            "First Timestamp:  2024-06-01T10:00:05Z",
            "Involved Object:",
            "  Kind:          Node",
            "  Name:          node-1",
            "  Namespace:     default",
            "  UID:           ",
            "Kind:            Event",
            "Last Timestamp:  2024-06-01T10:00:05Z",
            "Message:         Node node-1 status is now: NodeReady",
            "Metadata:",
            "Reason:               NodeReady",
            "Reporting Component:  kubelet",
            "Reporting Instance:   node-1",
            "Source:",
            "  Component:  kubelet",
            "Type:         Normal",
        )

    @pytest.mark.parametrize(
        ("field", "label"),
        [
            ("apiVersion", "API Version"),
            ("uid", "UID"),
            ("holderIdentity", "Holder Identity"),
            ("leaseDurationSeconds", "Lease Duration Seconds"),
            ("podIPs", "Pod I Ps"),
            ("app.kubernetes.io/name", "app.kubernetes.io/name"),
        ],
    )
    def test_smart_labels(self, field: str, label: str) -> None:
        """Field names become labels as kubectl's smartLabelFor makes them."""
        assert _smart_label(field) == label


class TestAnnotations:
    """How annotations print."""

    def test_long_and_multiline_annotations(self) -> None:
        """Long values go on their own line, cut at 140 characters; the last-applied annotation is hidden."""
        ns = {
            "kind": "Namespace",
            "metadata": {
                "name": "n",
                "annotations": {
                    "a.example/long": "x" * 150,
                    "b.example/multi": "one\ntwo\n",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                },
            },
        }
        assert run(ns).splitlines()[2:7] == [
            "Annotations:  a.example/long:",
            "                " + "x" * 138 + "...",
            "              b.example/multi:",
            "                one",
            "                two",
        ]


class TestEvents:
    """The Events section and which events belong to an object."""

    def test_ordered_oldest_first_with_repeats(self) -> None:
        """Events sort by last time seen; repeats read ``12s (x3 over 40s)``."""
        pod = web_pod()
        events = [
            event("Pod", pod["metadata"]["name"], "BackOff", "Back-off restarting failed container", count=3, first=40, last=12, type="Warning"),
            event("Pod", pod["metadata"]["name"], "Pulled", "Container image \"nginx:1.25\" already present on machine", first=50, last=50),
        ]
        assert run(pod, events).endswith(
            lines(
                "Events:",
                "  Type     Reason   Age                From     Message",
                "  ----     ------   ----               ----     -------",
                '  Normal   Pulled   50s                kubelet  Container image "nginx:1.25" already present on machine',
                "  Warning  BackOff  12s (x3 over 40s)  kubelet  Back-off restarting failed container",
            )
        )

    def test_events_for_filters_by_object(self) -> None:
        """Only events naming the object (and its uid, when both have one) are kept."""
        pod = web_pod()
        name = pod["metadata"]["name"]
        mine = event("Pod", name, "Started", "m", uid="u-pod")
        no_uid = event("Pod", name, "Pulled", "m")
        stale = event("Pod", name, "Killing", "m", uid="u-older-pod-of-same-name")
        other = event("Pod", "other", "Started", "m", uid="u-pod")
        assert events_for(pod, [mine, no_uid, stale, other]) == [mine, no_uid]

    def test_node_events_may_use_the_name_as_uid(self) -> None:
        """A kubelet names its node by name in involvedObject.uid."""
        node = web_node()
        by_name = event("Node", "node-1", "NodeReady", "m", uid="node-1")
        by_uid = event("Node", "node-1", "NodeNotReady", "m", uid="u-node")
        assert events_for(node, [by_name, by_uid]) == [by_name, by_uid]


class TestQuantity:
    """resource.Quantity parsing and canonical printing."""

    @pytest.mark.parametrize(
        ("text", "canonical"),
        [
            ("100m", "100m"),
            ("0.5", "500m"),
            ("2", "2"),
            (2, "2"),
            ("1500", "1500"),
            ("1500000", "1500k"),
            ("128974848", "128974848"),
            ("129e6", "129e6"),
            ("129M", "129M"),
            ("123Mi", "123Mi"),
            ("1024Mi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("512", "512"),
            ("0", "0"),
            ("1n", "1n"),
            ("2E", "2E"),
            ("0.5Gi", "512Mi"),
        ],
    )
    def test_canonical(self, text: str | int, canonical: str) -> None:
        """Quantities print in Kubernetes' canonical form."""
        assert str(Quantity.parse(text)) == canonical

    @pytest.mark.parametrize(
        ("a", "b", "total"),
        [("100m", "400m", "500m"), ("1", "500m", "1500m"), ("64Mi", "64Mi", "128Mi"), ("0", "64Mi", "64Mi")],
    )
    def test_sum(self, a: str, b: str, total: str) -> None:
        """Sums keep the notation of the first non-zero amount."""
        assert str(Quantity.parse(a) + Quantity.parse(b)) == total

    def test_milli_value_rounds_up(self) -> None:
        """MilliValue and Value round up."""
        quantity = Quantity.parse("1.0001")
        assert (quantity.milli_value(), quantity.int_value()) == (1001, 2)

    def test_garbage_is_refused(self) -> None:
        """Text that is not a quantity raises ValueError in apimachinery's words."""
        with pytest.raises(ValueError, match="quantities must match the regular expression"):
            Quantity.parse("lots")


class TestVolumes:
    """The Volumes section."""

    def test_service_account_token_volume(self) -> None:
        """Each volume is its own column block; the last one's joins the lines below it."""
        pod = web_pod()
        pod["spec"]["volumes"] = [
            {"name": "site", "configMap": {"name": "site"}},
            {
                "name": "kube-api-access-x1",
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt"}},
                        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
                    ]
                },
            },
        ]
        text = run(pod, [])
        assert text[text.index("Volumes:") :] == lines(
            "Volumes:",
            "  site:",
            "    Type:      ConfigMap (a volume populated by a ConfigMap)",
            "    Name:      site",
            "    Optional:  false",
            "  kube-api-access-x1:",
            "    Type:                    Projected (a volume that contains injected data from multiple sources)",
            "    TokenExpirationSeconds:  3607",
            "    ConfigMapName:           kube-root-ca.crt",
            "    ConfigMapOptional:       <nil>",
            "    DownwardAPI:             true",
            "QoS Class:                   Burstable",
            "Node-Selectors:              <none>",
            "Tolerations:                 node.kubernetes.io/not-ready:NoExecute op=Exists for 300s",
            "                             node.kubernetes.io/unreachable:NoExecute op=Exists for 300s",
            "Events:                      <none>",
        )
