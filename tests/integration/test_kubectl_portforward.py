"""``kubectl port-forward`` and ``kubectl proxy`` against a kemu cluster.

One cluster (one node, the HTTP front door with HTTPS and a token) serves
the module. The Kubernetes Basics app (``kubernetes-bootcamp``, two
replicas) runs beside a pod of two containers (the bootcamp on 8080,
kemu's echo server on 9090), a Service in front of the bootcamp pods and
a Service that selects nothing. kubectl 1.32 port-forwards over a
WebSocket tunnel first (``SPDY/3.1+portforward.k8s.io``);
``KUBECTL_PORT_FORWARD_WEBSOCKETS=false`` makes it take the plain SPDY
upgrade, and the front door's log says which one served a session.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from kemu.client import Client
from kemu.procs import wait_for
from kemu.testing import free_port, kubectl_env, running_cluster

KUBECTL = "/usr/bin/kubectl"

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason=f"the real kubectl is not installed at {KUBECTL}"),
]

BOOTCAMP = "gcr.io/google-samples/kubernetes-bootcamp:v1"
MANIFEST = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kubernetes-bootcamp
  labels: {{app: kubernetes-bootcamp}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: kubernetes-bootcamp}}
  template:
    metadata:
      labels: {{app: kubernetes-bootcamp}}
    spec:
      containers:
      - name: kubernetes-bootcamp
        image: {BOOTCAMP}
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: kubernetes-bootcamp
spec:
  selector: {{app: kubernetes-bootcamp}}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: nobody
spec:
  selector: {{app: nothing-has-this-label}}
  ports:
  - port: 80
---
apiVersion: v1
kind: Pod
metadata:
  name: duo
spec:
  containers:
  - name: bootcamp
    image: {BOOTCAMP}
    ports:
    - containerPort: 8080
  - name: echo
    image: docker.io/kemu/echo:1
    env:
    - {{name: PORT, value: "9090"}}
    ports:
    - {{name: echo, containerPort: 9090}}
"""
HELLO = re.compile(r"^Hello Kubernetes bootcamp! \| Running on: (\S+) \| v=1\n$")



@dataclass
class Cluster:
    root: Path
    env: dict[str, str]
    client: Client
    namespace: str

    def kubectl(self, *args: str, check: bool = True, env: dict[str, str] | None = None,
                timeout: float = 40) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([KUBECTL, "-n", self.namespace, *args], capture_output=True, text=True,
                                env={**self.env, **(env or {})}, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def running_pods(self, label: str) -> list[str]:
        out = self.kubectl("get", "pods", "-l", label, "--field-selector=status.phase=Running",
                           "-o", "jsonpath={.items[*].metadata.name}").stdout
        return sorted(out.split())

    def front_door_log(self) -> list[dict[str, object]]:
        path = self.root / "logs" / "http.log"
        events = []
        for line in path.read_text().splitlines():
            with_json = line.strip()
            if with_json.startswith("{"):
                events.append(json.loads(with_json))
        return events


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="kemu-") as d:
        root = Path(d)
        spec = {"with_dns": False, "log_level": "info"}
        with running_cluster(root, nodes=1, with_http=True, http_port=free_port(), **spec) as local:
            assert local.kubeconfig is not None
            env = kubectl_env(root, local.kubeconfig)
            with Client(local.spec.server, timeout=10.0) as client:
                client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tour"}})
                c = Cluster(root, env, client, "tour")
                applied = subprocess.run([KUBECTL, "-n", "tour", "apply", "-f", "-"], input=MANIFEST, text=True,
                                         capture_output=True, env=env, timeout=40, check=False)
                assert applied.returncode == 0, applied.stderr
                c.kubectl("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=40s", timeout=50)
                c.kubectl("wait", "--for=condition=Ready", "pod/duo", "--timeout=40s", timeout=50)
                wait_for(lambda: len(c.running_pods("app=kubernetes-bootcamp")) == 2, 20, message="two bootcamp pods")
                yield c


# -- helpers ----------------------------------------------------------------------------


class Lines:
    """A child's output, line by line, with deadlines."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buffer = b""
        self.seen: list[str] = []

    def until(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            while b"\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\n", 1)
                line = raw.decode(errors="replace")
                self.seen.append(line)
                if m := rx.search(line):
                    return m
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r} in {timeout}s; got {self.seen}")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    raise AssertionError(f"output ended before {pattern!r}; got {self.seen}")
                self.buffer += chunk


@dataclass
class Forward:
    proc: subprocess.Popen[bytes]
    ports: dict[int, int]
    """remote port as asked -> local port (kubectl prints a Service's
    target port, so they are matched by order)."""
    stderr: Lines


@contextmanager
def port_forward(cluster: Cluster, target: str, *remotes: int, websockets: bool = True) -> Iterator[Forward]:
    """``kubectl port-forward TARGET :R1 :R2 ...`` on free local ports."""
    env = {**cluster.env, "KUBECTL_PORT_FORWARD_WEBSOCKETS": "true" if websockets else "false"}
    argv = [KUBECTL, "-n", cluster.namespace, "port-forward", "--address", "127.0.0.1", target,
            *(f":{r}" for r in remotes)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        out = Lines(proc.stdout.fileno())
        ports = {}
        for remote in remotes:
            m = out.until(r"^Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)$", 30)
            ports[remote] = int(m.group(1))
        yield Forward(proc, ports, Lines(proc.stderr.fileno()))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def http_get(port: int, path: str = "/", timeout: float = 20) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
        return str(resp.read().decode())


def hammer(port: int, n: int = 50) -> list[str]:
    """``n`` concurrent connections, each one GET; their bodies."""
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _i: http_get(port), range(n)))


def transports(cluster: Cluster) -> list[object]:
    return [e.get("transport") for e in cluster.front_door_log() if e.get("event") == "port-forward started"]


# -- port-forward -------------------------------------------------------------------------


class TestPortForward:
    def test_pod_answers_50_concurrent_connections(self, cluster: Cluster) -> None:
        """port-forward pod/NAME over the WebSocket tunnel: 50 concurrent connections all answered by the pod."""
        pod = cluster.running_pods("app=kubernetes-bootcamp")[0]
        before = transports(cluster).count("websocket")
        with port_forward(cluster, f"pod/{pod}", 8080) as fwd:
            bodies = hammer(fwd.ports[8080])
        assert len(bodies) == 50
        assert {HELLO.match(b).group(1) for b in bodies if HELLO.match(b)} == {pod}  # type: ignore[union-attr]
        assert all(HELLO.match(b) for b in bodies)
        wait_for(lambda: transports(cluster).count("websocket") == before + 1, 10, message="a websocket session logged")

    def test_service_over_plain_spdy(self, cluster: Cluster) -> None:
        """port-forward svc/NAME with WebSockets off: the SPDY upgrade, the
        service port mapped to the pod's 8080, 50 concurrent connections."""
        before = transports(cluster).count("spdy")
        with port_forward(cluster, "svc/kubernetes-bootcamp", 80, websockets=False) as fwd:
            bodies = hammer(fwd.ports[80])
        assert len(bodies) == 50 and all(HELLO.match(b) for b in bodies)
        wait_for(lambda: transports(cluster).count("spdy") == before + 1, 10, message="a SPDY session logged")

    def test_deployment_answers_50_concurrent_connections(self, cluster: Cluster) -> None:
        """port-forward deploy/NAME picks one of its pods; every connection reaches it."""
        with port_forward(cluster, "deploy/kubernetes-bootcamp", 8080) as fwd:
            bodies = hammer(fwd.ports[8080])
        served = {m.group(1) for b in bodies if (m := HELLO.match(b))}
        assert len(bodies) == 50 and len(served) == 1
        assert served <= set(cluster.running_pods("app=kubernetes-bootcamp"))

    def test_two_ports_at_once(self, cluster: Cluster) -> None:
        """Both containers of one pod through one forward, several times each."""
        with port_forward(cluster, "pod/duo", 8080, 9090) as fwd:
            for _ in range(3):
                assert HELLO.match(http_get(fwd.ports[8080])).group(1) == "duo"  # type: ignore[union-attr]
                echoed = json.loads(http_get(fwd.ports[9090], "/hello?x=1"))
                assert (echoed["pod"], echoed["path"], echoed["query"]) == ("duo", "/hello", {"x": "1"})

    def test_bytes_both_ways_and_large(self, cluster: Cluster) -> None:
        """A 900 KB body (the echo server reads up to 1 MiB) goes in and comes
        back whole: dozens of SPDY frames each way."""
        payload = os.urandom(450 * 1024).hex()
        with port_forward(cluster, "pod/duo", 9090) as fwd:
            req = urllib.request.Request(f"http://127.0.0.1:{fwd.ports[9090]}/up", data=payload.encode(),
                                         method="PUT")
            with urllib.request.urlopen(req, timeout=30) as resp:
                echoed = json.loads(resp.read())
        assert echoed["method"] == "PUT" and echoed["body"] == payload

    def test_closed_port_is_reported_in_kubelets_words(self, cluster: Cluster) -> None:
        """A connection to a port nothing listens on: kubectl prints the
        kubelet's error and, as kubectl 1.32 does on any forwarding error,
        ends with 'lost connection to pod'; a new forward works at once."""
        uid = cluster.client.get("Pod", "duo", cluster.namespace)["metadata"]["uid"]
        ip = cluster.client.get("Pod", "duo", cluster.namespace)["status"]["podIP"]
        with port_forward(cluster, "pod/duo", 8080, 8099) as fwd:
            assert HELLO.match(http_get(fwd.ports[8080]))
            with socket.create_connection(("127.0.0.1", fwd.ports[8099]), timeout=10) as conn:
                conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                assert conn.recv(100) == b""  # closed without an answer
            m = fwd.stderr.until(r"an error occurred forwarding (\d+) -> 8099: (.*)\"?$", 20)
            assert m.group(1) == str(fwd.ports[8099])
            assert (f"error forwarding port 8099 to pod {uid}, uid : dial tcp4 {ip}:8099: connect: connection refused"
                    in m.group(2))
            fwd.stderr.until(r"lost connection to pod", 20)
            assert fwd.proc.wait(20) != 0
        with port_forward(cluster, "pod/duo", 8080) as again:
            assert HELLO.match(http_get(again.ports[8080]))

    def test_missing_pod_is_kubectls_not_found(self, cluster: Cluster) -> None:
        """kubectl reads the pod first; a wrong name is the usual NotFound."""
        result = cluster.kubectl("port-forward", "pod/ghost", "8080:80", check=False, timeout=20)
        assert result.returncode != 0
        assert 'pods "ghost" not found' in result.stderr


# -- proxy -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxy(cluster: Cluster) -> Iterator[str]:
    """``kubectl proxy --port=0``: the base URL it serves on."""
    proc = subprocess.Popen([KUBECTL, "proxy", "--port=0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=cluster.env)
    try:
        assert proc.stdout is not None
        m = Lines(proc.stdout.fileno()).until(r"Starting to serve on 127\.0\.0\.1:(\d+)", 20)
        yield f"http://127.0.0.1:{m.group(1)}"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def fetch(url: str, *, method: str = "GET", data: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=20) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class TestProxy:
    def test_pod_proxy_as_the_tutorial_shows(self, cluster: Cluster, proxy: str) -> None:
        """curl .../pods/NAME:8080/proxy/ answers from that pod."""
        for pod in cluster.running_pods("app=kubernetes-bootcamp"):
            code, _, body = fetch(f"{proxy}/api/v1/namespaces/tour/pods/{pod}:8080/proxy/")
            assert code == 200
            assert body.decode() == f"Hello Kubernetes bootcamp! | Running on: {pod} | v=1\n"

    def test_pod_proxy_without_a_port_uses_the_first_declared(self, cluster: Cluster, proxy: str) -> None:
        """pods/NAME/proxy/ goes to the first container port."""
        code, _, body = fetch(f"{proxy}/api/v1/namespaces/tour/pods/duo/proxy/")
        assert code == 200 and HELLO.match(body.decode())

    def test_no_trailing_slash_redirects(self, cluster: Cluster, proxy: str) -> None:
        """.../proxy is a 301 to .../proxy/, as the apiserver answers."""
        code, headers, _ = fetch(f"{proxy}/api/v1/namespaces/tour/pods/duo:8080/proxy?a=b")
        assert code == 301
        assert headers["Location"] == "/api/v1/namespaces/tour/pods/duo:8080/proxy/?a=b"

    def test_method_headers_body_and_path_reach_the_pod(self, cluster: Cluster, proxy: str) -> None:
        """A POST with a body, a header and a query arrives whole; the API token does not."""
        code, _, body = fetch(f"{proxy}/api/v1/namespaces/tour/pods/duo:echo/proxy/some/path?x=1&y=2",
                              method="POST", data=b'{"hello": "pod"}',
                              headers={"X-Tutorial": "step 3", "Content-Type": "application/json"})
        assert code == 200
        echoed = json.loads(body)
        assert (echoed["method"], echoed["path"], echoed["query"], echoed["body"]) == (
            "POST", "/some/path", {"x": "1", "y": "2"}, '{"hello": "pod"}')
        headers = {k.lower(): v for k, v in echoed["headers"].items()}
        assert headers["x-tutorial"] == "step 3"
        assert headers["content-type"] == "application/json"
        assert "authorization" not in headers
        assert "x-forwarded-for" in headers

    def test_service_proxy_answers_from_a_ready_pod(self, cluster: Cluster, proxy: str) -> None:
        """services/NAME:80/proxy/ (and http:NAME:80) reach one of the service's pods."""
        pods = set(cluster.running_pods("app=kubernetes-bootcamp"))
        for spec in ("kubernetes-bootcamp:80", "http:kubernetes-bootcamp:80", "kubernetes-bootcamp"):
            code, _, body = fetch(f"{proxy}/api/v1/namespaces/tour/services/{spec}/proxy/")
            assert code == 200, body
            m = HELLO.match(body.decode())
            assert m and m.group(1) in pods

    def test_service_without_endpoints_is_503(self, cluster: Cluster, proxy: str) -> None:
        """The apiserver's words: no endpoints available for service "nobody"."""
        code, _, body = fetch(f"{proxy}/api/v1/namespaces/tour/services/nobody:80/proxy/")
        status = json.loads(body)
        assert (code, status["reason"], status["message"]) == (
            503, "ServiceUnavailable", 'no endpoints available for service "nobody"')

    def test_unknown_service_port_is_503(self, cluster: Cluster, proxy: str) -> None:
        """A port number the service does not have."""
        code, _, body = fetch(f"{proxy}/api/v1/namespaces/tour/services/kubernetes-bootcamp:81/proxy/")
        assert code == 503
        assert json.loads(body)["message"] == 'no service port 81 found for service "kubernetes-bootcamp"'

    def test_refused_connection_is_503_error_trying_to_reach_service(self, cluster: Cluster, proxy: str) -> None:
        """A pod port nothing listens on, as the apiserver reports it."""
        ip = cluster.client.get("Pod", "duo", "tour")["status"]["podIP"]
        code, _, body = fetch(f"{proxy}/api/v1/namespaces/tour/pods/duo:8099/proxy/")
        assert code == 503
        assert json.loads(body)["message"] == f"error trying to reach service: dial tcp {ip}:8099: connect: connection refused"

    def test_bad_scheme_is_400(self, cluster: Cluster, proxy: str) -> None:
        """Only http and https are schemes."""
        code, _, body = fetch(f"{proxy}/api/v1/namespaces/tour/pods/ftp:duo:8080/proxy/")
        assert (code, json.loads(body)["message"]) == (400, 'invalid pod request "ftp:duo:8080"')

    def test_node_proxy_answers_what_it_can(self, cluster: Cluster, proxy: str) -> None:
        """nodes/NAME/proxy/healthz from the Ready condition, /pods from the API, the rest a clear 503."""
        code, _, body = fetch(f"{proxy}/api/v1/nodes/node-1/proxy/healthz")
        assert (code, body) == (200, b"ok")
        code, _, body = fetch(f"{proxy}/api/v1/nodes/node-1/proxy/pods")
        names = {p["metadata"]["name"] for p in json.loads(body)["items"]}
        assert code == 200 and "duo" in names
        code, _, body = fetch(f"{proxy}/api/v1/nodes/node-1/proxy/metrics/cadvisor")
        assert code == 503 and "speaks ZeroMQ" in json.loads(body)["message"]

    def test_discovery_lists_the_subresources(self, cluster: Cluster) -> None:
        """kubectl api-resources knows pods/portforward and the proxies (via the raw discovery doc)."""
        doc = json.loads(cluster.kubectl("get", "--raw", "/api/v1").stdout)
        names = {r["name"] for r in doc["resources"]}
        assert {"pods/portforward", "pods/proxy", "services/proxy", "nodes/proxy"} <= names


# -- the wire, without kubectl ---------------------------------------------------------------


def _api(cluster: Cluster) -> tuple[str, int, str]:
    """The front door's host, port and token, from the kubeconfig."""
    import yaml

    config = yaml.safe_load(Path(cluster.env["KUBECONFIG"]).read_text())
    server = config["clusters"][0]["cluster"]["server"]
    host, port = server.split("//", 1)[1].rsplit(":", 1)
    return host, int(port), config["users"][0]["user"]["token"]


def _upgrade(cluster: Cluster, protocol: str) -> tuple[socket.socket, bytes]:
    import ssl

    host, port, token = _api(cluster)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    sock = ctx.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname=host)
    sock.sendall((f"POST /api/v1/namespaces/tour/pods/duo/portforward HTTP/1.1\r\nHost: {host}\r\n"
                  f"Authorization: Bearer {token}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                  f"X-Stream-Protocol-Version: {protocol}\r\nContent-Length: 0\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, head


class TestPortForwardWire:
    def test_malformed_frames_end_the_session_with_goaway(self, cluster: Cluster) -> None:
        """After the upgrade, a SYN_STREAM whose header block is not zlib gets
        GOAWAY PROTOCOL_ERROR and the connection is closed; the front door lives on."""
        sock, head = _upgrade(cluster, "portforward.k8s.io")
        with sock:
            assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
            assert b"X-Stream-Protocol-Version: portforward.k8s.io" in head
            sock.sendall(b"\x80\x03\x00\x01\x00\x00\x00\x0e\x00\x00\x00\x01" + b"\x00" * 6 + b"junk")
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        assert answer == b"\x80\x03\x00\x07\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x01"
        with port_forward(cluster, "pod/duo", 8080) as fwd:
            assert HELLO.match(http_get(fwd.ports[8080]))

    def test_unknown_protocol_is_403(self, cluster: Cluster) -> None:
        """A protocol other than portforward.k8s.io is refused in apimachinery's words."""
        sock, head = _upgrade(cluster, "v4.channel.k8s.io")
        with sock:
            assert head.startswith(b"HTTP/1.1 403 ")

    def test_no_upgrade_is_400(self, cluster: Cluster) -> None:
        """A plain POST is the kubelet's 'Upgrade request required'."""
        host, port, token = _api(cluster)
        import ssl

        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        req = urllib.request.Request(f"https://{host}:{port}/api/v1/namespaces/tour/pods/duo/portforward",
                                     method="POST", data=b"", headers={"Authorization": f"Bearer {token}"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=10, context=ctx)
        assert info.value.code == 400
        assert json.loads(info.value.read())["message"] == "Upgrade request required"
