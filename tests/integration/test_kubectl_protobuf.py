"""The real kubectl's protobuf bodies against a whole kemu cluster.

kubectl 1.32's typed clients (``kubectl create deployment|namespace|configmap|
service ...``) send ``Content-Type: application/vnd.kubernetes.protobuf`` and
``Accept: application/vnd.kubernetes.protobuf,application/json``. One cluster
(``kemu up`` in-process, HTTPS and a token, three nodes, no DNS) serves the
module; the tutorial's first command must make a Deployment whose pod runs.

A second path checks kemu's protobuf *answers* with the real client-go: a
small proxy in front of the front door records what kubectl sends and
narrows its ``Accept`` to protobuf only, so kemu answers protobuf, and
kubectl's own decoder reads it (``-o json`` prints what it decoded).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web

from kemu.api import protobuf as pb
from kemu.kubeconfig import write_kubeconfig
from kemu.procs import wait_for
from kemu.testing import free_port, kubectl_env, running_cluster

KUBECTL = "/usr/bin/kubectl"
PROTOBUF = "application/vnd.kubernetes.protobuf"

pytestmark = [
    pytest.mark.timeout(150),
    pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason=f"the real kubectl is not installed at {KUBECTL}"),
]



@dataclass
class Request:
    """One request kubectl sent, as the proxy saw it."""

    method: str
    path: str
    content_type: str
    accept: str
    answer_type: str = ""
    """The Content-Type of kemu's answer."""


@dataclass
class AcceptNarrowingProxy:
    """HTTP on a free loopback port, forwarding to the front door with its
    token; an ``Accept`` that names protobuf is cut down to protobuf only."""

    upstream: str
    token: str
    cafile: str
    seen: list[Request] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        accept = request.headers.get("Accept", "")
        seen = Request(request.method, request.path, request.headers.get("Content-Type", ""), accept)
        self.seen.append(seen)
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "content-length", "accept-encoding", "connection")}
        if PROTOBUF in accept:
            headers["Accept"] = PROTOBUF
        headers["Authorization"] = f"Bearer {self.token}"
        body = await request.read()
        context = ssl.create_default_context(cafile=self.cafile)
        async with ClientSession() as session, session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body or None, ssl=context
        ) as answer:
            payload = await answer.read()
            seen.answer_type = answer.headers.get("Content-Type", "")
            kept = {k: v for k, v in answer.headers.items()
                    if k.lower() not in ("content-length", "transfer-encoding", "content-encoding", "connection")}
            return web.Response(body=payload, status=answer.status, headers=kept)

    def start(self) -> AcceptNarrowingProxy:
        self.port = free_port()
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application(client_max_size=16 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._forward)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
            ready.set()

        def run() -> None:
            loop.run_until_complete(serve())
            loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True, name="accept-proxy")
        self._thread.start()
        assert ready.wait(10), "the proxy did not start"
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        loop = self._loop
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        loop.close()


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]
    url: str
    token: str
    cafile: str
    proxy: AcceptNarrowingProxy
    proxy_env: dict[str, str]

    def post(self, path: str, body: bytes, content_type: str, accept: str = "application/json") -> tuple[int, bytes, str]:
        return self.request("POST", path, body, content_type, accept)

    def request(
        self, method: str, path: str, body: bytes | None, content_type: str, accept: str = "application/json"
    ) -> tuple[int, bytes, str]:
        """One raw request to the front door: (code, body, Content-Type)."""
        request = urllib.request.Request(self.url + path, data=body, method=method, headers={
            "Content-Type": content_type, "Accept": accept, "Authorization": f"Bearer {self.token}",
        })
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=self.cafile)),
        )
        try:
            with opener.open(request, timeout=10) as response:
                return response.status, response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            return err.code, err.read(), err.headers.get("Content-Type", "")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="kemu-") as d:
        root = Path(d)
        spec = {"with_dns": False, "log_level": "info"}
        with running_cluster(root, nodes=3, with_http=True, http_port=free_port(), **spec) as local:
            assert local.kubeconfig is not None
            tls = local.state.spec["tls"]
            url = f"https://127.0.0.1:{local.spec.http_port}"
            env = kubectl_env(root, local.kubeconfig)
            token = Path(tls["token_file"]).read_text().strip()
            proxy = AcceptNarrowingProxy(url, token, tls["cert"]).start()
            try:
                proxy_config = write_kubeconfig(root / "proxy-kubeconfig", f"http://127.0.0.1:{proxy.port}", None,
                                                cluster_name="proxy")
                proxy_env = kubectl_env(root, proxy_config, cache="proxy-cache")
                yield Cluster(root, env, url, token, tls["cert"], proxy, proxy_env)
            finally:
                proxy.stop()


_counter = iter(range(1, 10_000))


class Kubectl:
    def __init__(self, env: dict[str, str], namespace: str):
        self.env = env
        self.namespace = namespace

    def run(self, *args: str, check: bool = True, timeout: float = 40) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([KUBECTL, "-n", self.namespace, *args], check=False, capture_output=True, text=True,
                                env=self.env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def __call__(self, *args: str, **kwargs: Any) -> str:
        return self.run(*args, **kwargs).stdout


@pytest.fixture
def kubectl(cluster: Cluster) -> Kubectl:
    """A namespace of its own, made with ``kubectl create namespace`` (protobuf)."""
    name = f"pb{next(_counter)}"
    assert Kubectl(cluster.env, "default")("create", "namespace", name).strip() == f"namespace/{name} created"
    return Kubectl(cluster.env, name)


def _running_pods(kubectl: Kubectl, selector: str) -> list[str]:
    out = kubectl("get", "pods", "-l", selector, "--field-selector=status.phase=Running",
                  "-o", "jsonpath={.items[*].metadata.name}")
    return out.split()


def _http_get(url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as response:
        return response.read().decode()


class TestCreateGenerators:
    def test_tutorial_first_command_runs_a_pod(self, kubectl: Kubectl) -> None:
        """``kubectl create deployment kubernetes-bootcamp`` makes a Deployment whose pod runs."""
        out = kubectl("create", "deployment", "kubernetes-bootcamp", "--image=gcr.io/google-samples/kubernetes-bootcamp:v1")
        assert out.strip() == "deployment.apps/kubernetes-bootcamp created"
        status = kubectl("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=40s", timeout=50)
        assert status.splitlines()[-1] == 'deployment "kubernetes-bootcamp" successfully rolled out'
        assert len(_running_pods(kubectl, "app=kubernetes-bootcamp")) == 1
        deploy = json.loads(kubectl("get", "deployment", "kubernetes-bootcamp", "-o", "json"))
        assert deploy["spec"]["replicas"] == 1
        assert deploy["spec"]["selector"] == {"matchLabels": {"app": "kubernetes-bootcamp"}}
        assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "gcr.io/google-samples/kubernetes-bootcamp:v1"

    def test_expose_as_node_port_and_curl_it(self, kubectl: Kubectl, cluster: Cluster) -> None:
        """The tutorial's ``expose deployment --type=NodePort --port 8080`` answers on the NodePort."""
        kubectl("create", "deployment", "kubernetes-bootcamp", "--image=gcr.io/google-samples/kubernetes-bootcamp:v1")
        kubectl("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=40s", timeout=50)
        out = kubectl("expose", "deployment", "kubernetes-bootcamp", "--type=NodePort", "--port", "8080")
        assert out.strip() == "service/kubernetes-bootcamp exposed"
        service = json.loads(kubectl("get", "service", "kubernetes-bootcamp", "-o", "json"))
        assert service["spec"]["type"] == "NodePort"
        port = service["spec"]["ports"][0]
        assert (port["port"], port["targetPort"]) == (8080, 8080)
        node_ip = json.loads(kubectl("get", "nodes", "-o", "json"))["items"][0]["status"]["addresses"][0]["address"]
        url = f"http://{node_ip}:{port['nodePort']}/"
        answers: list[str] = []

        def answered() -> bool:
            try:
                answers.append(_http_get(url))
            except OSError:
                return False
            return True

        wait_for(answered, 20, message=f"the NodePort at {url} to answer")
        assert answers[-1].startswith("Hello Kubernetes bootcamp!")

    def test_replicas_zero_survives(self, kubectl: Kubectl) -> None:
        """``--replicas=0`` is kept as an explicit zero, not defaulted to 1."""
        kubectl("create", "deployment", "idle", "--image=nginx", "--replicas=0")
        assert kubectl("get", "deployment", "idle", "-o", "jsonpath={.spec.replicas}") == "0"
        assert kubectl("get", "pods", "-l", "app=idle", "-o", "name") == ""

    def test_namespace_and_configmap(self, kubectl: Kubectl) -> None:
        assert kubectl("get", "namespace", kubectl.namespace, "-o", "jsonpath={.status.phase}") == "Active"
        out = kubectl("create", "configmap", "settings", "--from-literal=color=blue", "--from-literal=size=L")
        assert out.strip() == "configmap/settings created"
        assert json.loads(kubectl("get", "configmap", "settings", "-o", "jsonpath={.data}")) == {"color": "blue", "size": "L"}

    def test_services(self, kubectl: Kubectl) -> None:
        """``create service clusterip|nodeport`` keep their ports, targetPorts and nodePort."""
        assert kubectl("create", "service", "clusterip", "web", "--tcp=80:8080").strip() == "service/web created"
        web = json.loads(kubectl("get", "service", "web", "-o", "json"))
        assert web["spec"]["type"] == "ClusterIP" and web["spec"]["clusterIP"]
        assert web["spec"]["ports"] == [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}]
        assert web["spec"]["selector"] == {"app": "web"}
        node_port = 30000 + next(_counter) % 2000
        kubectl("create", "service", "nodeport", "np", "--tcp=80:8080", f"--node-port={node_port}")
        np = json.loads(kubectl("get", "service", "np", "-o", "json"))
        assert np["spec"]["type"] == "NodePort"
        assert np["spec"]["ports"][0]["nodePort"] == node_port

    def test_errors_come_back_as_statuses(self, kubectl: Kubectl) -> None:
        """A second create is kemu's AlreadyExists, read by kubectl as usual."""
        kubectl("create", "configmap", "twice")
        result = kubectl.run("create", "configmap", "twice", check=False)
        assert result.returncode == 1
        assert 'configmaps "twice" already exists' in result.stderr


class TestMalformedBodies:
    def test_malformed_protobuf_is_a_400_status(self, cluster: Cluster) -> None:
        """Truncated, garbled and mismatched protobuf bodies get 400 Statuses; the server lives on."""
        good = pb.encode_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}})
        for body in (pb.MAGIC + b"\x0a\xff\xff\xff\xff\x0f", good[: len(good) - 3], b"not protobuf at all",
                     pb.MAGIC + b"\x0b\x0c"):
            code, raw, content_type = cluster.post("/api/v1/namespaces/default/configmaps", body, PROTOBUF)
            status = json.loads(raw)
            assert (code, status["kind"], status["reason"]) == (400, "Status", "BadRequest"), status
            assert content_type.startswith("application/json")
        wrong_kind = pb.encode_object({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})
        code, raw, _ = cluster.post("/api/v1/namespaces/default/configmaps", wrong_kind, PROTOBUF)
        assert code == 400 and json.loads(raw)["reason"] == "BadRequest"
        code, raw, _ = cluster.post("/api/v1/namespaces/default/configmaps", good, PROTOBUF)
        assert code == 201 and json.loads(raw)["data"] == {"a": "b"}

    def test_protobuf_only_client_gets_protobuf(self, cluster: Cluster) -> None:
        """A client whose Accept names only protobuf gets protobuf, errors included."""
        body = pb.encode_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pbonly"}})
        code, raw, content_type = cluster.post("/api/v1/namespaces/default/configmaps", body, PROTOBUF, accept=PROTOBUF)
        assert (code, content_type) == (201, PROTOBUF)
        created = pb.decode_object(raw)
        assert created["kind"] == "ConfigMap" and created["metadata"]["uid"]
        code, raw, content_type = cluster.post("/api/v1/namespaces/default/configmaps", body, PROTOBUF, accept=PROTOBUF)
        assert (code, content_type) == (409, PROTOBUF)
        assert pb.decode_object(raw)["reason"] == "AlreadyExists"


class TestOtherBodies:
    def test_eviction_and_delete_options_in_protobuf(self, cluster: Cluster, kubectl: Kubectl) -> None:
        """A typed client's Eviction and DeleteOptions bodies, in protobuf, act; a wrong kind is a 400."""
        ns = kubectl.namespace
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "victim"},
               "spec": {"containers": [{"name": "c", "image": "nginx"}], "terminationGracePeriodSeconds": 1}}
        code, raw, _ = cluster.post(f"/api/v1/namespaces/{ns}/pods", pb.encode_object(pod), PROTOBUF)
        assert code == 201, raw
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}
        code, raw, _ = cluster.post(f"/api/v1/namespaces/{ns}/pods/victim/eviction", pb.encode_object(options), PROTOBUF)
        assert code == 400 and "expected kind (Eviction)" in json.loads(raw)["message"]
        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "victim", "namespace": ns},
                    "deleteOptions": {"gracePeriodSeconds": 0}}
        code, raw, _ = cluster.post(f"/api/v1/namespaces/{ns}/pods/victim/eviction", pb.encode_object(eviction), PROTOBUF)
        assert code == 201, raw
        wait_for(lambda: kubectl("get", "pods", "-o", "name") == "", 20, message="the evicted pod to go")
        kubectl("create", "configmap", "doomed")
        code, raw, _ = cluster.request(
            "DELETE", f"/api/v1/namespaces/{ns}/configmaps/doomed", pb.encode_object(options), PROTOBUF
        )
        assert code == 200, raw
        assert kubectl.run("get", "configmap", "doomed", check=False).returncode == 1


class TestProtobufAnswersReadByKubectl:
    """kemu's protobuf answers, decoded by kubectl's own client-go."""

    def test_headers_kubectl_sends(self, cluster: Cluster) -> None:
        """Typed creates send protobuf and accept protobuf or JSON; get accepts JSON."""
        kubectl = Kubectl(cluster.proxy_env, "default")
        cluster.proxy.seen.clear()
        kubectl("create", "configmap", "headers", "--from-literal=a=b")
        kubectl("get", "configmap", "headers", "-o", "name")
        create = [r for r in cluster.proxy.seen if r.method == "POST" and r.path.endswith("/configmaps")]
        assert [(r.content_type, r.accept) for r in create] == [(PROTOBUF, f"{PROTOBUF},application/json")]
        get = [r for r in cluster.proxy.seen if r.method == "GET" and r.path.endswith("/configmaps/headers")]
        assert get and all(PROTOBUF not in r.accept for r in get)

    def test_create_prints_what_it_decoded(self, cluster: Cluster) -> None:
        """``create -o json`` prints the object kubectl decoded from kemu's protobuf."""
        name = f"pbanswer{next(_counter)}"
        Kubectl(cluster.env, "default")("create", "namespace", name)
        kubectl = Kubectl(cluster.proxy_env, name)
        cluster.proxy.seen.clear()
        cm = json.loads(kubectl("create", "configmap", "settings", "--from-literal=a=1", "-o", "json"))
        assert cm["data"] == {"a": "1"}
        assert cm["metadata"]["uid"] and cm["metadata"]["resourceVersion"] and cm["metadata"]["creationTimestamp"]
        deploy = json.loads(kubectl("create", "deployment", "idle", "--image=nginx", "--replicas=0", "-o", "json"))
        assert deploy["spec"]["replicas"] == 0
        assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
        assert deploy["metadata"]["generation"] == 1
        creates = [r for r in cluster.proxy.seen if r.method == "POST"]
        assert len(creates) == 2 and all(r.answer_type == PROTOBUF for r in creates)
        again = kubectl.run("create", "configmap", "settings", check=False)
        assert again.returncode == 1
        assert 'configmaps "settings" already exists' in again.stderr
        assert cluster.proxy.seen[-1].answer_type == PROTOBUF  # the 409 Status, in protobuf
