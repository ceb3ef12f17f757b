"""The real ``kubectl`` against kemu's HTTP front door.

One apiserver and one front door (HTTPS with a self-signed certificate and a
bearer token: kubectl sends tokens over HTTPS only) serve the whole module;
each test works in its own namespace. Nothing here needs controllers,
schedulers or kubelets; test_kubectl_cluster.py drives kubectl against a
whole cluster (rollouts, ``logs``, ``exec``).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from apiserver.http.testing import HttpFrontDoor, self_signed_certificate
from kemu.client import Client
from kemu.testing import ApiServerProcess, kubectl_env

KUBECTL = "/usr/bin/kubectl"

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason=f"the real kubectl is not installed at {KUBECTL}"),
]

TOKEN = "kubectl-test-token"

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
"""


@dataclass
class Cluster:
    """What the tests drive: kubectl's environment and a kemu client."""

    root: Path
    env: dict[str, str]
    client: Client
    door: HttpFrontDoor


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="kemu-") as d:
        root = Path(d)
        server = ApiServerProcess(root)
        door = HttpFrontDoor(root, server.address, token=TOKEN, tls=self_signed_certificate(root))
        if door.tls is None:
            door.token = None  # without openssl: plain HTTP, where kubectl would not send a token
        try:
            server.start()
            door.start()
            env = kubectl_env(root, door.write_kubeconfig(root / "kubeconfig"))
            with Client(server.address, timeout=10.0) as client:
                yield Cluster(root, env, client, door)
        finally:
            door.stop()
            door.kill()
            server.stop()
            server.kill()


class Kubectl:
    """``kubectl`` in one namespace of the module's cluster."""

    def __init__(self, cluster: Cluster, namespace: str):
        self.cluster = cluster
        self.namespace = namespace

    def run(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None, check: bool = True,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [KUBECTL, "-n", self.namespace, *args],
            check=False,
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.cluster.env, **(env or {})},
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def __call__(self, *args: str, **kwargs: object) -> str:
        return self.run(*args, **kwargs).stdout  # type: ignore[arg-type]

    def json(self, *args: str) -> dict[str, Any]:
        return json.loads(self("get", *args, "-o", "json"))


_counter = iter(range(1, 10_000))


@pytest.fixture
def kubectl(cluster: Cluster) -> Kubectl:
    namespace = f"t{next(_counter)}"
    cluster.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    return Kubectl(cluster, namespace)


def applied(kubectl: Kubectl) -> None:
    out = kubectl("apply", "-f", "-", stdin=MANIFEST)
    assert out.splitlines() == ["deployment.apps/web created", "service/web created"]


class TestDiscovery:
    def test_version(self, kubectl: Kubectl) -> None:
        """kubectl version shows kemu's server version."""
        info = json.loads(kubectl("version", "-o", "json"))
        assert info["serverVersion"]["gitVersion"] == "v1.32.0-kemu"

    def test_api_resources(self, kubectl: Kubectl) -> None:
        """api-resources lists every kind with its group version and short names."""
        lines = kubectl("api-resources", "--no-headers").splitlines()
        # metrics.k8s.io has pods and nodes too (as with metrics-server): keyed apart.
        rows = {line.split()[0]: line.split() for line in lines if "metrics.k8s.io/" not in line}
        metrics = {line.split()[0]: line.split() for line in lines if "metrics.k8s.io/" in line}
        assert metrics["pods"][1:] == ["metrics.k8s.io/v1beta1", "true", "PodMetrics"]
        assert metrics["nodes"][1:] == ["metrics.k8s.io/v1beta1", "false", "NodeMetrics"]
        assert rows["deployments"][1:] == ["deploy", "apps/v1", "true", "Deployment"]
        assert rows["pods"][1:] == ["po", "v1", "true", "Pod"]
        assert rows["nodes"][1:] == ["no", "v1", "false", "Node"]
        assert rows["leases"][1:] == ["coordination.k8s.io/v1", "true", "Lease"]

    def test_explain(self, kubectl: Kubectl) -> None:
        """explain reads kemu's OpenAPI v3 schema."""
        out = kubectl("explain", "deployment.spec.replicas")
        assert "KIND:       Deployment" in out
        assert "FIELD: replicas <integer>" in out


class TestApplyAndGet:
    def test_apply_creates_then_reports_unchanged_and_configured(self, kubectl: Kubectl) -> None:
        """apply creates, re-applies as unchanged, and patches a changed manifest."""
        applied(kubectl)
        assert kubectl("apply", "-f", "-", stdin=MANIFEST).splitlines() == [
            "deployment.apps/web unchanged",
            "service/web unchanged",
        ]
        changed = MANIFEST.replace("replicas: 2", "replicas: 3")
        assert kubectl("apply", "-f", "-", stdin=changed).splitlines()[0] == "deployment.apps/web configured"
        assert kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "3"

    def test_get_wide_yaml_and_json(self, kubectl: Kubectl) -> None:
        """get shows kemu's columns (more with -o wide) and round-trips YAML and JSON."""
        applied(kubectl)
        plain = kubectl("get", "deploy").splitlines()
        assert plain[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        assert plain[1].split()[:2] == ["web", "0/2"]
        wide = kubectl("get", "deploy", "-o", "wide").splitlines()
        assert wide[0].split()[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
        assert wide[1].split()[-3:] == ["nginx", "nginx:1.25", "app=web"]
        svc = kubectl("get", "svc", "web").splitlines()
        assert svc[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
        assert svc[1].split()[1] == "ClusterIP" and svc[1].split()[4] == "80/TCP"
        doc = yaml.safe_load(kubectl("get", "deploy", "web", "-o", "yaml"))
        assert (doc["kind"], doc["metadata"]["namespace"]) == ("Deployment", kubectl.namespace)
        listing = kubectl.json("deploy,svc")
        assert [(i["kind"], i["metadata"]["name"]) for i in listing["items"]] == [
            ("Deployment", "web"),
            ("Service", "web"),
        ]

    def test_get_all_namespaces_adds_the_namespace_column(self, kubectl: Kubectl) -> None:
        """get -A prints NAMESPACE first, from each row's metadata."""
        applied(kubectl)
        lines = [line.split() for line in kubectl("get", "deploy", "-A").splitlines()]
        assert lines[0][:2] == ["NAMESPACE", "NAME"]
        assert [kubectl.namespace, "web"] in [line[:2] for line in lines[1:]]

    def test_describe(self, kubectl: Kubectl) -> None:
        """describe deployment and service read the objects, their replica sets and events."""
        applied(kubectl)
        deploy = kubectl("describe", "deployment", "web")
        assert "Replicas:               2 desired" in deploy
        assert "nginx:1.25" in deploy
        service = kubectl("describe", "service", "web")
        assert "Selector:" in service and "app=web" in service

    def test_server_side_apply(self, kubectl: Kubectl) -> None:
        """apply --server-side creates and then updates through apply patches."""
        out = kubectl("apply", "--server-side", "-f", "-", stdin=MANIFEST)
        assert out.splitlines() == ["deployment.apps/web serverside-applied", "service/web serverside-applied"]
        kubectl("apply", "--server-side", "-f", "-", stdin=MANIFEST.replace("replicas: 2", "replicas: 4"))
        assert kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "4"


class TestChanges:
    def test_scale_label_annotate(self, kubectl: Kubectl) -> None:
        """scale (through the scale subresource), label and annotate change the deployment."""
        applied(kubectl)
        assert kubectl("scale", "deploy", "web", "--replicas=5").strip() == "deployment.apps/web scaled"
        kubectl("label", "deploy", "web", "tier=frontend")
        kubectl("annotate", "deploy", "web", "owner=team-a")
        deploy = kubectl.json("deploy", "web")
        meta = deploy["metadata"]
        assert deploy["spec"]["replicas"] == 5
        assert meta["labels"] == {"app": "web", "tier": "frontend"}
        assert meta["annotations"]["owner"] == "team-a"
        kubectl("label", "deploy", "web", "tier-")
        assert "tier" not in kubectl.json("deploy", "web")["metadata"]["labels"]

    def test_patch_merge_json_and_strategic(self, kubectl: Kubectl) -> None:
        """patch --type merge, json and the default strategic merge all land."""
        applied(kubectl)
        kubectl("patch", "deploy", "web", "--type", "merge", "-p", '{"spec":{"replicas":4}}')
        kubectl("patch", "deploy", "web", "--type", "json", "-p", '[{"op":"replace","path":"/spec/replicas","value":6}]')
        kubectl("patch", "deploy", "web", "-p",
                '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.26"}]}}}}')
        spec = kubectl.json("deploy", "web")["spec"]
        assert spec["replicas"] == 6
        container = spec["template"]["spec"]["containers"][0]
        assert (container["image"], container["ports"][0]["containerPort"]) == ("nginx:1.26", 80)

    def test_edit_with_a_scripted_editor(self, kubectl: Kubectl, cluster: Cluster) -> None:
        """edit opens the object in $EDITOR and saves what the editor changed."""
        applied(kubectl)
        editor = cluster.root / f"editor-{kubectl.namespace}.sh"
        editor.write_text("#!/bin/sh\nsed -i 's/replicas: 2/replicas: 7/' \"$1\"\n")
        editor.chmod(0o755)
        out = kubectl("edit", "deploy", "web", env={"EDITOR": str(editor), "KUBE_EDITOR": str(editor)})
        assert out.strip() == "deployment.apps/web edited"
        assert kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "7"

    def test_delete(self, kubectl: Kubectl) -> None:
        """delete removes the objects (waiting for them to be gone, as kubectl does by default)."""
        applied(kubectl)
        out = kubectl("delete", "-f", "-", stdin=MANIFEST)
        assert out.splitlines() == ['deployment.apps "web" deleted', 'service "web" deleted']
        assert kubectl.run("get", "deploy", "web", check=False).returncode == 1
        assert kubectl("get", "deploy,svc", "-o", "name") == ""

    def test_dry_run_server(self, kubectl: Kubectl) -> None:
        """apply --dry-run=server validates and stores nothing."""
        out = kubectl("apply", "--dry-run=server", "-f", "-", stdin=MANIFEST)
        assert "deployment.apps/web created (server dry run)" in out
        assert kubectl("get", "deploy", "-o", "name") == ""

    def test_create_generators_direct_and_through_apply(self, kubectl: Kubectl) -> None:
        """kubectl create's generators send protobuf, which kemu decodes; piped
        through apply (JSON) they work as well."""
        assert kubectl("create", "configmap", "settings", "--from-literal=a=1").strip() == "configmap/settings created"
        assert kubectl("get", "configmap", "settings", "-o", "jsonpath={.data.a}") == "1"
        manifest = kubectl("create", "deployment", "nginx", "--image=nginx", "--dry-run=client", "-o", "yaml")
        assert kubectl("apply", "-f", "-", stdin=manifest).strip() == "deployment.apps/nginx created"
        assert kubectl("get", "deploy", "nginx", "-o", "jsonpath={.spec.template.spec.containers[0].image}") == "nginx"

    def test_invalid_manifest_is_reported_with_its_field(self, kubectl: Kubectl) -> None:
        """A negative replica count fails with the apiserver's 422 message."""
        result = kubectl.run("apply", "-f", "-", stdin=MANIFEST.replace("replicas: 2", "replicas: -1"), check=False)
        assert result.returncode == 1
        assert "spec.replicas: Invalid value: -1" in result.stderr


class TestWatchAndWait:
    def test_get_watch_sees_a_change(self, kubectl: Kubectl, cluster: Cluster) -> None:
        """get -w prints a new row when the deployment changes."""
        applied(kubectl)
        watcher = subprocess.Popen(
            [KUBECTL, "-n", kubectl.namespace, "get", "deploy", "-w", "--request-timeout=20s"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cluster.env,
        )
        try:
            time.sleep(1.5)
            kubectl("scale", "deploy", "web", "--replicas=4")
            deadline = time.monotonic() + 15
            lines: list[str] = []
            assert watcher.stdout is not None
            while time.monotonic() < deadline and not any(line.split()[1:2] == ["0/4"] for line in lines[1:]):
                line = watcher.stdout.readline()
                if not line:
                    break
                lines.append(line)
        finally:
            watcher.kill()
            watcher.wait(5)
        assert lines[0].split()[0] == "NAME"
        assert lines[1].split()[:2] == ["web", "0/2"]
        assert any(line.split()[:2] == ["web", "0/4"] for line in lines[2:])

    def test_wait_for_delete(self, kubectl: Kubectl, cluster: Cluster) -> None:
        """wait --for=delete returns once the object is deleted."""
        applied(kubectl)
        waiter = subprocess.Popen(
            [KUBECTL, "-n", kubectl.namespace, "wait", "--for=delete", "deploy/web", "--timeout=20s"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cluster.env,
        )
        try:
            time.sleep(1.0)
            kubectl("delete", "deploy", "web", "--wait=false")
            out, err = waiter.communicate(timeout=25)
        finally:
            waiter.kill()
        assert waiter.returncode == 0, err
        assert out.strip() == "deployment.apps/web condition met"

    def test_wait_for_jsonpath(self, kubectl: Kubectl) -> None:
        """wait --for=jsonpath holds for a condition the object already meets."""
        applied(kubectl)
        out = kubectl("wait", "--for=jsonpath={.spec.type}=ClusterIP", "svc/web", "--timeout=10s")
        assert out.strip() == "service/web condition met"


class TestEventsAndErrors:
    def test_get_events(self, kubectl: Kubectl, cluster: Cluster) -> None:
        """get events shows the events components wrote, with kemu's columns."""
        applied(kubectl)
        uid = cluster.client.get("Deployment", "web", kubectl.namespace)["metadata"]["uid"]
        cluster.client.create(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": "web.1", "namespace": kubectl.namespace},
                "involvedObject": {
                    "apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                    "namespace": kubectl.namespace, "uid": uid,
                },
                "reason": "ScalingReplicaSet",
                "message": "Scaled up replica set web-abc to 2",
                "type": "Normal",
                "source": {"component": "deployment-controller"},
                "count": 1,
            }
        )
        lines = kubectl("get", "events").splitlines()
        assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        assert "ScalingReplicaSet" in lines[1] and "deployment/web" in lines[1]
        assert "Scaled up replica set web-abc to 2" in kubectl("describe", "deployment", "web")

    def test_not_found(self, kubectl: Kubectl) -> None:
        """A missing object is kubectl's NotFound message."""
        result = kubectl.run("get", "deploy", "nope", check=False)
        assert result.returncode == 1
        assert 'deployments.apps "nope" not found' in result.stderr

    def test_wrong_token_is_unauthorized(self, kubectl: Kubectl, cluster: Cluster) -> None:
        """With a wrong token kubectl reports that it must log in."""
        if cluster.door.token is None:
            pytest.skip("no openssl for HTTPS, so no token to get wrong")
        config = yaml.safe_load(Path(cluster.env["KUBECONFIG"]).read_text())
        config["users"][0]["user"]["token"] = "wrong"
        bad = cluster.root / "bad-kubeconfig"
        bad.write_text(yaml.safe_dump(config))
        result = kubectl.run("get", "pods", check=False, env={"KUBECONFIG": str(bad)})
        assert result.returncode == 1
        assert "Unauthorized" in result.stderr or "provide credentials" in result.stderr

    def test_logs_and_exec_of_an_unscheduled_pod(self, kubectl: Kubectl) -> None:
        """logs of a pod bound to no node is empty; exec is the apiserver's BadRequest."""
        pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: busybox}\n"
        kubectl("apply", "-f", "-", stdin=pod)
        assert kubectl("logs", "p") == ""
        result = kubectl.run("exec", "p", "--", "ls", check=False)
        assert result.returncode == 1
        assert result.stderr == "Error from server (BadRequest): pod p does not have a host assigned\n"
