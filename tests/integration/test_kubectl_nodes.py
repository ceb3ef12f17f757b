"""Node maintenance and the legacy ReplicationController with the real
``kubectl`` (and the official client): ``create -f rc.yaml``, ``scale rc``,
a deleted pod replaced, ``delete rc``; cordon (new pods avoid the node,
``Ready,SchedulingDisabled``), drain (evictions; the Deployment's pods land
elsewhere; a pod without a controller needs ``--force``), uncordon; and
``kubectl delete node``: the pod GC deletes the node's pods, their
controllers replace them, the still-running kubelet registers a new Node
that turns Ready.

One 3-node cluster serves the module; each test works in its own namespace
and leaves every node schedulable and Ready again, so the tests do not
depend on their order.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kemu.procs import wait_for
from kemu.testing import free_port, kubectl_env, running_cluster

kubernetes = pytest.importorskip("kubernetes", reason="the official client is in the test extra: pip install -e '.[test]'")

from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402

KUBECTL = "/usr/bin/kubectl"
NODE_PREFIX = "127.0.19"
RANGES = {"node_ip_prefix": NODE_PREFIX, "cluster_cidr": "127.219.0.0/16", "service_cidr": "127.119.0.0/16"}

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason=f"the real kubectl is not installed at {KUBECTL}"),
]

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: nginx, image: nginx:1.24}
"""

RC = """\
apiVersion: v1
kind: ReplicationController
metadata:
  name: nginx
spec:
  replicas: 3
  selector:
    app: nginx
  template:
    metadata:
      name: nginx
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx
        ports:
        - containerPort: 80
"""



class Kubectl:
    def __init__(self, env: dict[str, str], kubeconfig: Path, cluster: Any = None):
        self.env = env
        self.kubeconfig = kubeconfig
        self.cluster = cluster
        """The :class:`~kemu.launcher.LocalCluster`, to kill and restart node processes."""

    def run(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, env=self.env,
                                timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def __call__(self, *args: str, **kwargs: object) -> str:
        return self.run(*args, **kwargs).stdout  # type: ignore[arg-type]

    def json(self, *args: str) -> dict[str, object]:
        return json.loads(self(*args, "-o", "json"))  # type: ignore[no-any-return]

    def pods_by_node(self, namespace: str) -> dict[str, str]:
        """Running pods of ``namespace`` not being deleted: name -> node."""
        out = self("-n", namespace, "get", "pods", "--field-selector=status.phase=Running", "-o",
                   "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.metadata.deletionTimestamp}{\"\\n\"}{end}")
        return {f[0]: f[1] for f in (line.split() for line in out.splitlines()) if len(f) == 2}


@pytest.fixture(scope="module")
def kubectl() -> Iterator[Kubectl]:
    with tempfile.TemporaryDirectory(prefix="kemu-") as d:
        root = Path(d)
        with running_cluster(root, nodes=3, with_http=True, http_port=free_port(), with_dns=False,
                             log_level="info", **RANGES) as local:
            assert local.kubeconfig is not None
            yield Kubectl(kubectl_env(root, local.kubeconfig), Path(local.kubeconfig), local)


def _rolled_out(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "namespace", namespace)
    kubectl("-n", namespace, "apply", "-f", "-", stdin=DEPLOYMENT)
    kubectl("-n", namespace, "rollout", "status", "deployment/web", "--timeout=40s")
    wait_for(lambda: len(kubectl.pods_by_node(namespace)) == 4, 20, message="four running pods")


def _status_column(kubectl: Kubectl, node: str) -> str:
    return kubectl("get", "node", node, "--no-headers").split()[1]


def _ready(kubectl: Kubectl, node: str) -> bool:
    r = kubectl.run("get", "node", node, "-o", "json", check=False)
    if r.returncode != 0:
        return False
    ready = [c for c in json.loads(r.stdout)["status"].get("conditions", []) if c["type"] == "Ready"]
    return bool(ready) and ready[0]["status"] == "True"


def _taint_keys(kubectl: Kubectl, node: str) -> list[str]:
    spec = kubectl.json("get", "node", node)["spec"]
    return [f"{t['key']}:{t['effect']}" for t in spec.get("taints") or []]  # type: ignore[attr-defined]


class TestReplicationController:
    def test_create_scale_replace_delete(self, kubectl: Kubectl) -> None:
        """``create -f rc.yaml``, ``get rc`` columns, ``scale rc`` both ways, a deleted pod replaced,
        ``delete rc`` takes its pods."""
        ns = "rc"
        kubectl("create", "namespace", ns)
        assert kubectl("-n", ns, "create", "-f", "-", stdin=RC).strip() == "replicationcontroller/nginx created"

        def running() -> set[str]:
            return set(kubectl.pods_by_node(ns))

        wait_for(lambda: len(running()) == 3, 30, message="three pods of the rc")
        wait_for(lambda: kubectl("-n", ns, "get", "rc", "nginx", "--no-headers").split()[1:4] == ["3", "3", "3"], 20,
                 message="the rc's status")
        header = kubectl("-n", ns, "get", "rc", "-o", "wide").splitlines()[0].split()
        assert header == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
        row = kubectl("-n", ns, "get", "rc", "-o", "wide", "--no-headers").split()
        assert row[0] == "nginx" and row[-3:] == ["nginx", "nginx", "app=nginx"]
        rc = kubectl.json("-n", ns, "get", "rc", "nginx")
        assert rc["metadata"]["labels"] == {"app": "nginx"}  # type: ignore[index]
        owners = kubectl.json("-n", ns, "get", "pods")["items"][0]["metadata"]["ownerReferences"]  # type: ignore[index]
        assert [(o["kind"], o["name"], o["controller"]) for o in owners] == [("ReplicationController", "nginx", True)]

        assert kubectl("-n", ns, "scale", "rc", "nginx", "--replicas=5").strip() == "replicationcontroller/nginx scaled"
        wait_for(lambda: len(running()) == 5, 30, message="five pods")
        assert kubectl("-n", ns, "scale", "rc/nginx", "--replicas=2").strip() == "replicationcontroller/nginx scaled"
        wait_for(lambda: len(running()) == 2 and len(kubectl("-n", ns, "get", "pods", "-o", "name").split()) == 2, 30,
                 message="two pods")

        victim = sorted(running())[0]
        kubectl("-n", ns, "delete", "pod", victim, "--wait=false")
        wait_for(lambda: len(running()) == 2 and victim not in running(), 30, message="the deleted pod replaced")

        assert kubectl("-n", ns, "delete", "rc", "nginx").strip() == 'replicationcontroller "nginx" deleted'
        wait_for(lambda: kubectl("-n", ns, "get", "pods", "-o", "name") == "", 30, message="the rc's pods gone")

    def test_official_client(self, kubectl: Kubectl) -> None:
        """The official client's CoreV1Api creates, reads, scales and deletes an RC, as its e2e tests do."""
        ns = "rc-client"
        kubectl("create", "namespace", ns)
        api = k8s_config.new_client_from_config(config_file=str(kubectl.kubeconfig))
        try:
            core = k8s.CoreV1Api(api)
            body = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "frontend"},
                    "spec": {"replicas": 2, "selector": {"name": "frontend"},
                             "template": {"metadata": {"labels": {"name": "frontend"}},
                                          "spec": {"containers": [{"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}}
            created = core.create_namespaced_replication_controller(ns, body)
            assert created.spec.selector == {"name": "frontend"} and created.spec.replicas == 2
            wait_for(lambda: (core.read_namespaced_replication_controller_status("frontend", ns).status.ready_replicas or 0) == 2,
                     30, message="two ready replicas")
            scale = core.patch_namespaced_replication_controller_scale("frontend", ns, {"spec": {"replicas": 1}})
            assert scale.spec.replicas == 1 and scale.status.selector == "name=frontend"
            wait_for(lambda: len(core.list_namespaced_pod(ns, label_selector="name=frontend").items) == 1, 30,
                     message="one pod")
            core.delete_namespaced_replication_controller("frontend", ns)
        finally:
            api.close()


def test_cordon_drain_uncordon(kubectl: Kubectl) -> None:
    """cordon: SchedulingDisabled, the unschedulable taint, new pods elsewhere; drain evicts the
    Deployment's pods (replaced on other nodes) and returns once they are gone; uncordon."""
    _rolled_out(kubectl, "drain")
    assert kubectl("cordon", "node-2").strip() == "node/node-2 cordoned"
    assert _status_column(kubectl, "node-2") == "Ready,SchedulingDisabled"
    assert kubectl.json("get", "node", "node-2")["spec"]["unschedulable"] is True  # type: ignore[index]
    wait_for(lambda: "node.kubernetes.io/unschedulable:NoSchedule" in _taint_keys(kubectl, "node-2"), 10,
             message="the unschedulable taint")
    assert "node-2" in kubectl("get", "nodes", "--field-selector=spec.unschedulable=true", "-o", "name")

    # New pods avoid the cordoned node.
    before = kubectl.pods_by_node("drain")
    kubectl("-n", "drain", "scale", "deployment/web", "--replicas=8")
    wait_for(lambda: len(kubectl.pods_by_node("drain")) == 8, 40, message="eight running pods")
    added = {name: node for name, node in kubectl.pods_by_node("drain").items() if name not in before}
    assert len(added) == 4 and "node-2" not in added.values()

    # A pod without a controller stops drain unless --force.
    kubectl("-n", "drain", "run", "lone", "--image=busybox", "--overrides",
            json.dumps({"spec": {"nodeName": "node-2"}}), "--", "sleep", "3600")
    wait_for(lambda: kubectl.pods_by_node("drain").get("lone") == "node-2", 20, message="the lone pod running")
    refused = kubectl.run("drain", "node-2", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=20s",
                          check=False, timeout=60)
    assert refused.returncode != 0
    assert "cannot delete Pods that declare no controller (use --force to override): drain/lone" in refused.stderr

    on_node_2 = {name for name, node in kubectl.pods_by_node("drain").items() if node == "node-2"}
    assert "lone" in on_node_2 and len(on_node_2) > 1
    out = kubectl.run("drain", "node-2", "--ignore-daemonsets", "--delete-emptydir-data", "--force", "--timeout=60s",
                      timeout=90)
    assert "node/node-2 drained" in out.stdout
    for name in on_node_2:
        assert f"pod/{name} evicted" in out.stdout
    # drain returned once the pods were gone: none of them is left, not even terminating.
    names = set(kubectl("-n", "drain", "get", "pods", "-o", "jsonpath={.items[*].metadata.name}").split())
    assert not on_node_2 & names

    # The ReplicaSet replaced its pods elsewhere; the lone pod is simply gone.
    wait_for(lambda: len(kubectl.pods_by_node("drain")) == 8, 40, message="eight running pods again")
    after = kubectl.pods_by_node("drain")
    assert "node-2" not in after.values()
    assert "lone" not in after

    assert kubectl("uncordon", "node-2").strip() == "node/node-2 uncordoned"
    assert _status_column(kubectl, "node-2") == "Ready"
    assert not kubectl.json("get", "node", "node-2")["spec"].get("unschedulable")  # type: ignore[attr-defined]
    wait_for(lambda: _taint_keys(kubectl, "node-2") == [], 10, message="the unschedulable taint removed")
    assert "taints" not in kubectl.json("get", "node", "node-2")["spec"]  # type: ignore[operator]
    kubectl("delete", "namespace", "drain", "--wait=false")


def test_delete_node_gcs_its_pods_and_the_kubelet_registers_again(kubectl: Kubectl) -> None:
    """delete node: its pods are garbage collected and replaced elsewhere; the live kubelet
    registers a new Node (new uid, new Lease owned by it) that turns Ready and takes pods again."""
    _rolled_out(kubectl, "delnode")
    old_uid = kubectl("get", "node", "node-3", "-o", "jsonpath={.metadata.uid}")
    assert old_uid
    on_node_3 = {name for name, node in kubectl.pods_by_node("delnode").items() if node == "node-3"}
    assert on_node_3

    assert kubectl("delete", "node", "node-3").strip() == 'node "node-3" deleted'

    # The pod GC deletes the pods bound to the missing node; the ReplicaSet replaces them.
    def replaced() -> bool:
        pods = kubectl.pods_by_node("delnode")
        return len(pods) == 4 and not on_node_3 & pods.keys()
    wait_for(replaced, 40, message="the deleted node's pods replaced")
    names = set(kubectl("-n", "delnode", "get", "pods", "-o", "jsonpath={.items[*].metadata.name}").split())
    assert not on_node_3 & names

    # The still-running kubelet registers its Node again: a new object, Ready.
    def back() -> bool:
        uid = kubectl.run("get", "node", "node-3", "-o", "jsonpath={.metadata.uid}", check=False).stdout
        return bool(uid) and uid != old_uid and _ready(kubectl, "node-3")
    wait_for(back, 40, message="node-3 registered again and Ready")

    # Its lease is recreated, owned by the new Node.
    def lease_owned() -> bool:
        r = kubectl.run("-n", "kube-node-lease", "get", "lease", "node-3", "-o", "json", check=False)
        if r.returncode != 0:
            return False
        owners = json.loads(r.stdout)["metadata"].get("ownerReferences") or []
        new_uid = kubectl("get", "node", "node-3", "-o", "jsonpath={.metadata.uid}")
        return [o["uid"] for o in owners] == [new_uid]
    wait_for(lease_owned, 20, message="node-3's lease owned by the new Node")
    assert _status_column(kubectl, "node-3") == "Ready"
    assert kubectl("get", "node", "node-3", "-o", "jsonpath={.spec.podCIDR}")

    # The new Node runs pods again: scale up until one lands there.
    kubectl("-n", "delnode", "scale", "deployment/web", "--replicas=9")
    wait_for(lambda: "node-3" in kubectl.pods_by_node("delnode").values(), 40, message="a pod on the new node-3")
    kubectl("delete", "namespace", "delnode", "--wait=false")


def test_node_failure_rc_replaces_its_pods(kubectl: Kubectl) -> None:
    """A node whose kubelet dies: the RC's pods there are evicted (NoExecute taints) and replaced
    on the live nodes, as a ReplicaSet's are; the restarted node turns Ready again. Runs last."""
    ns = "rc-failover"
    kubectl("create", "namespace", ns)
    kubectl("-n", ns, "create", "-f", "-", stdin=RC.replace("replicas: 3", "replicas: 6"))
    wait_for(lambda: len(kubectl.pods_by_node(ns)) == 6, 40, message="six pods of the rc")
    lost = {name for name, node in kubectl.pods_by_node(ns).items() if node == "node-1"}
    assert lost
    kubectl.cluster.procs["kubelet-node-1"].kill()
    try:
        def replaced() -> bool:
            pods = kubectl.pods_by_node(ns)
            return len(pods) == 6 and not lost & pods.keys() and "node-1" not in pods.values()
        wait_for(replaced, 60, message="the dead node's pods replaced on live nodes")
        events = kubectl("-n", ns, "get", "events", "--field-selector=reason=TaintManagerEviction", "-o", "name")
        assert events.strip()
    finally:
        kubectl.cluster.start_node("node-1")
    wait_for(lambda: _ready(kubectl, "node-1"), 40, message="node-1 Ready again")
    kubectl("delete", "namespace", ns, "--wait=false")
