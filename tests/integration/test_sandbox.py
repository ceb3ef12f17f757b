"""Pod sandboxes (kubelet.sandbox): each pod its own localhost, host name,
root file system and the cluster's DNS, on a whole cluster run as root.

Every check goes through ``kemu exec`` into real containers: two containers
of a pod talk over ``localhost``; two pods both listen on 127.0.0.1:8080;
pods reach each other by IP, Services by name, NodePorts and the
``kubernetes`` Service; the host name is the pod's; the image's files are
where the real image has them; a container's writes stay in its own layer
and go with it; and nothing (namespace, mount, device, process) is left after
a pod is deleted or after its kubelet is killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kemu.client import Client
from kemu.launcher import LocalCluster
from kemu.procs import wait_for
from kemu.testing import free_port, running_cluster
from kubelet import sandbox
from kemu.types import Obj

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(bool(sandbox.probe()), reason=f"pod sandboxes need: {', '.join(sandbox.probe())}"),
]

BUSYBOX_SLEEP = {"image": "busybox", "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]}


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with tempfile.TemporaryDirectory() as d, running_cluster(Path(d), nodes=2, with_http=True,
                                                             http_port=free_port()) as local:
        yield local


@pytest.fixture(scope="module")
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster.spec.server) as c:
        yield c


def kexec(cluster: LocalCluster, pod: str, container: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """``kemu exec POD -c C -- ARGV``."""
    return subprocess.run(
        [sys.executable, "-c", "from kemu.cli.main import main; main()", "--server", cluster.spec.server,
         "exec", pod, "-c", container, "--", *argv],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def out(cluster: LocalCluster, pod: str, container: str, *argv: str) -> str:
    done = kexec(cluster, pod, container, *argv)
    assert done.returncode == 0, f"{argv}: {done.returncode} {done.stdout} {done.stderr}"
    return done.stdout


def make_pod(name: str, containers: list[Obj], node: str | None = None, **spec: Any) -> Obj:
    body: Obj = {"containers": containers, "terminationGracePeriodSeconds": 1, **spec}
    if node:
        body["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}}, "spec": body}


def running(client: Client, name: str, timeout: float = 30) -> Obj:
    def ready() -> Obj | None:
        pod = client.get("Pod", name, "default")
        statuses = pod.get("status", {}).get("containerStatuses") or []
        return pod if statuses and all(s.get("ready") for s in statuses) else None

    return wait_for(ready, timeout, message=f"pod {name} ready")  # type: ignore[no-any-return]


def gone(client: Client, name: str) -> None:
    client.delete("Pod", name, "default")
    wait_for(lambda: not client.list("Pod", "default", field_selector=f"metadata.name={name}")["items"], 30,
             message=f"pod {name} gone")


def net_namespaces() -> set[int]:
    """The inodes of every network namespace some process is in."""
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                found.add(os.stat(f"/proc/{pid}/ns/net").st_ino)
            except OSError:
                continue
    return found


def fabric_devices(cluster: LocalCluster) -> str:
    return subprocess.run(["ip", "-n", cluster.pod_network, "-o", "link", "show"], capture_output=True, text=True,
                          timeout=10, check=False).stdout


# -- a pod's containers share localhost; pods do not ---------------------------------------------


class TestLocalhost:
    def test_containers_of_a_pod_talk_over_localhost(self, cluster: LocalCluster, client: Client) -> None:
        """The sidecar reaches the bootcamp app at localhost:8080, as in every explanation of a Pod."""
        client.create(make_pod("duo", [
            {"name": "app", "image": "gcr.io/google-samples/kubernetes-bootcamp:v1"},
            {"name": "side", **BUSYBOX_SLEEP},
        ]))  # fmt: skip
        try:
            running(client, "duo")
            answer = out(cluster, "duo", "side", "wget", "-q", "-O-", "http://localhost:8080/")
            assert answer == "Hello Kubernetes bootcamp! | Running on: duo | v=1\n"
            assert out(cluster, "duo", "app", "hostname") == "duo\n"
        finally:
            gone(client, "duo")

    def test_two_pods_bind_the_same_localhost_port(self, cluster: LocalCluster, client: Client) -> None:
        """Two pods on one node both listen on 127.0.0.1:8080; each sees only its own."""
        server = "echo pod-$HOSTNAME > /tmp/index.html && cd /tmp && exec python3 -m http.server --bind 127.0.0.1 8080"
        for name in ("lo-a", "lo-b"):
            client.create(make_pod(name, [
                {"name": "srv", "image": "busybox", "command": ["sh", "-c", server]},
                {"name": "cli", **BUSYBOX_SLEEP},
            ], node="node-1"))  # fmt: skip
        try:
            for name in ("lo-a", "lo-b"):
                running(client, name)
                page = wait_for(lambda n=name: kexec(cluster, n, "cli", "wget", "-q", "-O-",
                                                     "http://127.0.0.1:8080/index.html").stdout, 15,
                                message="the pod's own server")
                assert page == f"pod-{name}\n"
        finally:
            for name in ("lo-a", "lo-b"):
                gone(client, name)


class TestKubernetesDocsExamples:
    def test_two_containers_sharing_a_volume(self, cluster: LocalCluster, client: Client) -> None:
        """The docs' two-container pod, unchanged (tasks/access-application-cluster/communicate-
        containers-same-pod-shared-volume): the debian container writes index.html into the shared
        emptyDir, and curl localhost inside the nginx container gets it."""
        manifest = yaml.safe_load(TWO_CONTAINERS)
        client.create(manifest)
        try:
            wait_for(lambda: (client.get("Pod", "two-containers", "default")["status"].get("containerStatuses") or [])
                     and any(s["name"] == "nginx-container" and s.get("ready")
                             for s in client.get("Pod", "two-containers", "default")["status"]["containerStatuses"]),
                     30, message="nginx running")
            page = wait_for(lambda: kexec(cluster, "two-containers", "nginx-container", "curl", "-s", "localhost").stdout,
                            15, message="nginx answering on localhost")
            assert page == "Hello from the debian container\n"
        finally:
            gone(client, "two-containers")


TWO_CONTAINERS = """
apiVersion: v1
kind: Pod
metadata:
  name: two-containers
spec:

  restartPolicy: Never

  volumes:
  - name: shared-data
    emptyDir: {}

  containers:

  - name: nginx-container
    image: nginx
    volumeMounts:
    - name: shared-data
      mountPath: /usr/share/nginx/html

  - name: debian-container
    image: debian
    volumeMounts:
    - name: shared-data
      mountPath: /pod-data
    command: ["/bin/sh"]
    args: ["-c", "echo Hello from the debian container > /pod-data/index.html"]
"""


# -- the cluster network -------------------------------------------------------------------------


class TestClusterNetwork:
    def test_pod_to_pod_service_dns_node_port_and_the_api(self, cluster: LocalCluster, client: Client) -> None:
        """From inside a pod: another pod by IP (on another node), a Service by name, a NodePort on
        a node IP, and the kubernetes Service; from the host: the pod IP and the Service."""
        client.create(make_pod("web", [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}],
                               node="node-2"))
        client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                       "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]}})
        client.create(make_pod("probe", [{"name": "c", **BUSYBOX_SLEEP}], node="node-1"))
        try:
            web_ip = running(client, "web")["status"]["podIP"]
            running(client, "probe")
            svc = client.get("Service", "web", "default")
            assert "Welcome to nginx!" in out(cluster, "probe", "c", "wget", "-q", "-O-", f"http://{web_ip}/")
            fqdn = "web.default.svc.cluster.local"
            hosts = out(cluster, "probe", "c", "getent", "hosts", fqdn)
            assert hosts.split() == [svc["spec"]["clusterIP"], fqdn]
            page = wait_for(lambda: kexec(cluster, "probe", "c", "wget", "-T", "3", "-q", "-O-", "http://web/").stdout,
                            15, message="the Service by its short name")
            assert "Welcome to nginx!" in page
            node_ip, node_port = cluster.state.nodes["node-1"]["ip"], svc["spec"]["ports"][0]["nodePort"]
            assert "Welcome to nginx!" in out(cluster, "probe", "c", "wget", "-q", "-O-", f"http://{node_ip}:{node_port}/")
            api = out(cluster, "probe", "c", "getent", "hosts", "kubernetes.default")
            kubernetes = client.get("Service", "kubernetes", "default")
            assert api.split()[0] == kubernetes["spec"]["clusterIP"]
            env = out(cluster, "probe", "c", "env")
            assert f"KUBERNETES_SERVICE_HOST={kubernetes['spec']['clusterIP']}" in env.splitlines()
            assert "KUBERNETES_SERVICE_PORT=443" in env.splitlines()
            # the API through the kubernetes Service (TLS; its certificate is for 127.0.0.1, so not verified):
            # /version, or the front door's 401 Status for a client without a token
            answer = out(cluster, "probe", "c", "curl", "-sk", "https://kubernetes.default/version")
            assert '"gitVersion"' in answer or '"kind":"Status"' in answer.replace(" ", ""), answer
            with urllib.request.urlopen(f"http://{web_ip}/", timeout=5) as r:
                assert r.status == 200
        finally:
            gone(client, "probe")
            gone(client, "web")
            client.delete("Service", "web", "default")

    def test_resolv_conf_and_hosts(self, cluster: LocalCluster, client: Client) -> None:
        """ClusterFirst resolv.conf (search domains, ndots:5) and the kubelet's /etc/hosts with
        the pod's own entry; dnsPolicy None takes dnsConfig alone."""
        client.create(make_pod("names", [{"name": "c", **BUSYBOX_SLEEP}], hostname="box", subdomain="sub"))
        client.create(make_pod("custom", [{"name": "c", **BUSYBOX_SLEEP}], dnsPolicy="None",
                               dnsConfig={"nameservers": ["127.0.0.53"], "searches": ["example.test"],
                                          "options": [{"name": "ndots", "value": "2"}]}))
        try:
            ip = running(client, "names")["status"]["podIP"]
            running(client, "custom")
            resolv = out(cluster, "names", "c", "cat", "/etc/resolv.conf").splitlines()
            assert resolv[0] == "search default.svc.cluster.local svc.cluster.local cluster.local"
            assert resolv[1].startswith("nameserver 127.") and resolv[2] == "options ndots:5"
            hosts = out(cluster, "names", "c", "cat", "/etc/hosts")
            assert hosts.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
            assert f"{ip}\tbox.sub.default.svc.cluster.local\tbox\n" in hosts
            assert out(cluster, "names", "c", "hostname") == "box\n"
            assert out(cluster, "custom", "c", "cat", "/etc/resolv.conf") == (
                "search example.test\nnameserver 127.0.0.53\noptions ndots:2\n")
        finally:
            gone(client, "names")
            gone(client, "custom")


# -- a root file system of its own ---------------------------------------------------------------


class TestRootFileSystem:
    def test_image_files(self, cluster: LocalCluster, client: Client) -> None:
        """server.js is where the bootcamp image has it (the working directory), the image's PATH is the
        container's, and a write lands in the container's own layer, not on the host's /."""
        client.create(make_pod("fs", [{"name": "app", "image": "gcr.io/google-samples/kubernetes-bootcamp:v2"}]))
        marker = f"/kemu-sandbox-test-{os.getpid()}"
        try:
            running(client, "fs")
            assert "v=2" in out(cluster, "fs", "app", "cat", "server.js")
            assert out(cluster, "fs", "app", "pwd") == "/\n"
            out(cluster, "fs", "app", "sh", "-c", f"echo inside > {marker}")
            assert out(cluster, "fs", "app", "cat", marker) == "inside\n"
            assert not os.path.exists(marker), "the container wrote onto the host's /"
            assert out(cluster, "fs", "app", "sh", "-c", "echo $PATH") == (
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
        finally:
            gone(client, "fs")

    def test_a_restart_gets_a_fresh_layer(self, cluster: LocalCluster, client: Client) -> None:
        """A file written in a container is gone after the container restarts."""
        client.create(make_pod("layer", [{"name": "c", "image": "busybox", "command": ["sleep", "3607"]}]))
        try:
            running(client, "layer")
            out(cluster, "layer", "c", "sh", "-c", "echo old > /etc/written-here")
            for pid in filter(str.isdigit, os.listdir("/proc")):  # the container's main process, from the host
                try:
                    if Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x003607\x00":
                        os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    continue
            wait_for(lambda: client.get("Pod", "layer", "default")["status"]["containerStatuses"][0]["restartCount"] >= 1
                     and running(client, "layer"), 30, message="the restart")
            assert kexec(cluster, "layer", "c", "cat", "/etc/written-here").returncode != 0
            assert not os.path.exists("/etc/written-here")
        finally:
            gone(client, "layer")


# -- nothing left behind -------------------------------------------------------------------------


class TestNothingLeftBehind:
    def test_pod_deleted(self, cluster: LocalCluster, client: Client) -> None:
        before = net_namespaces()
        client.create(make_pod("brief", [{"name": "c", **BUSYBOX_SLEEP}]))
        pod = running(client, "brief")
        uid = pod["metadata"]["uid"]
        assert net_namespaces() - before, "the pod has no network namespace of its own"
        gone(client, "brief")
        wait_for(lambda: not (net_namespaces() - before), 15, message="the pod's network namespace to go")
        device = f"v{zlib.crc32(uid.encode()):08x}"
        assert device not in fabric_devices(cluster)
        assert uid not in Path("/proc/self/mountinfo").read_text()

    def test_kubelet_killed(self, cluster: LocalCluster, client: Client) -> None:
        """SIGKILL of a kubelet: its pods' processes, namespaces and mounts all go."""
        before = net_namespaces()
        client.create(make_pod("orphan", [{"name": "c", **BUSYBOX_SLEEP}], node="node-2"))
        running(client, "orphan")
        state_dir = str(cluster.data_dir / "nodes" / "node-2")
        kubelet = cluster.procs["kubelet-node-2"]
        try:
            kubelet.signal(signal.SIGKILL)
            wait_for(lambda: not kubelet.alive(), 10, message="the kubelet to die")

            def leftovers() -> list[str]:
                found = []
                for pid in filter(str.isdigit, os.listdir("/proc")):
                    try:
                        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    except OSError:
                        continue
                    if "orphan" in cmd or state_dir in cmd:
                        found.append(cmd)
                return found

            wait_for(lambda: not leftovers() and not (net_namespaces() - before), 15,
                     message="the node's pods to die with their kubelet")
            assert state_dir not in Path("/proc/self/mountinfo").read_text()
        finally:
            cluster.start_component("kubelet-node-2")
            wait_for(lambda: client.get("Pod", "orphan", "default").get("status", {}).get("phase") == "Running", 30,
                     message="the restarted kubelet to run the pod again")
            gone(client, "orphan")
