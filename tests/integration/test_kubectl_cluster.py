"""The real ``kubectl`` and the official Python client against a whole kemu cluster.

One cluster (``kemu up`` in-process: apiserver, HTTP front door with HTTPS
and a token, controller manager, scheduler, three nodes with their
kubelets and kube-proxies; no cluster DNS) serves the module. What runs
here needs the controllers, the scheduler and the kubelets: rollouts,
``scale`` and ``wait`` on a Deployment, pods that really run (``get pods -o
wide``, ``describe``, events), and ``logs``/``exec``, which the front door
proxies to the pod's kubelet.

The ``web`` fixture is one nginx Deployment rolled out in its own namespace
for the tests that only look at it; rollout tests make their own.
"""

# The official client's models are typed loosely; mypy's strictness about
# optional attributes is relaxed here.
# mypy: disable-error-code="union-attr,attr-defined,index"

from __future__ import annotations

import os
import re
import select
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kemu.client import Client
from kemu.procs import wait_for
from kemu.testing import free_port, kubectl_env, running_cluster

kubernetes = pytest.importorskip("kubernetes", reason="the official client is in the test extra: pip install -e '.[test]'")

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch
from kubernetes.stream import stream as k8s_stream

KUBECTL = "/usr/bin/kubectl"

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason=f"the real kubectl is not installed at {KUBECTL}"),
]

NODES = ("node-1", "node-2", "node-3")
POD_CIDR_PREFIX = "127.213."

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
        image: nginx:1.24
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
    """What the tests drive: kubectl's environment, a kemu client, the Python client."""

    root: Path
    env: dict[str, str]
    client: Client
    api: k8s.ApiClient


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="kemu-") as d:
        root = Path(d)
        spec = {"node_ip_prefix": "127.0.13", "cluster_cidr": POD_CIDR_PREFIX + "0.0/16",
                "service_cidr": "127.113.0.0/16", "with_dns": False, "log_level": "info"}
        with running_cluster(root, nodes=len(NODES), with_http=True, http_port=free_port(), **spec) as local:
            assert local.kubeconfig is not None
            env = kubectl_env(root, local.kubeconfig)
            api = k8s_config.new_client_from_config(config_file=str(local.kubeconfig))
            with Client(local.spec.server, timeout=10.0) as client, api:
                yield Cluster(root, env, client, api)


class Kubectl:
    """``kubectl`` in one namespace of the module's cluster."""

    def __init__(self, cluster: Cluster, namespace: str):
        self.cluster = cluster
        self.namespace = namespace

    def argv(self, *args: str) -> list[str]:
        return [KUBECTL, "-n", self.namespace, *args]

    def run(self, *args: str, stdin: str | None = None, check: bool = True,
            timeout: float = 40) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self.argv(*args), check=False, input=stdin, capture_output=True, text=True,
                                env=self.cluster.env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def __call__(self, *args: str, **kwargs: object) -> str:
        return self.run(*args, **kwargs).stdout  # type: ignore[arg-type]

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=self.cluster.env)

    def pods(self) -> list[str]:
        """The names of the running pods, sorted."""
        out = self("get", "pods", "--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}")
        return sorted(out.split())


_counter = iter(range(1, 10_000))


def _namespace(cluster: Cluster, prefix: str) -> Kubectl:
    name = f"{prefix}{next(_counter)}"
    cluster.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return Kubectl(cluster, name)


def rolled_out(kubectl: Kubectl) -> None:
    """Apply the manifest and wait for the rollout, as a tutorial does."""
    assert kubectl("apply", "-f", "-", stdin=MANIFEST).splitlines() == ["deployment.apps/web created", "service/web created"]
    status = kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert status.splitlines()[-1] == 'deployment "web" successfully rolled out'


@pytest.fixture
def kubectl(cluster: Cluster) -> Kubectl:
    return _namespace(cluster, "t")


@pytest.fixture(scope="module")
def web(cluster: Cluster) -> Kubectl:
    """A namespace with the web Deployment rolled out (2 nginx pods) and its Service."""
    kubectl = _namespace(cluster, "shop")
    rolled_out(kubectl)
    wait_for(lambda: len(kubectl.pods()) == 2, 10, message="two running pods")
    return kubectl


class LineReader:
    """Lines of a process's stdout, read with a deadline (``select`` on the
    pipe itself, so lines that arrived together are not stuck in a buffer)."""

    def __init__(self, proc: subprocess.Popen[bytes]):
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.buffer = b""

    def until(self, wanted: str, timeout: float) -> list[str]:
        """Lines up to the first that contains ``wanted`` (or all that came in time)."""
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\n", 1)
                lines.append(raw.decode())
                if wanted in lines[-1]:
                    return lines
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
                return lines
            data = os.read(self.fd, 65536)
            if not data:
                return lines
            self.buffer += data


def pod_ip(kubectl: Kubectl, pod: str) -> str:
    return kubectl("get", "pod", pod, "-o", "jsonpath={.status.podIP}")


def http_get(ip: str) -> int:
    with urllib.request.urlopen(f"http://{ip}/", timeout=5) as response:
        return int(response.status)


class TestRollout:
    def test_set_image_rollout_history_and_undo(self, kubectl: Kubectl) -> None:
        """set image rolls out a second revision, history lists both, undo brings the first image back."""
        rolled_out(kubectl)
        assert kubectl("set", "image", "deployment/web", "nginx=nginx:1.25").strip() == "deployment.apps/web image updated"
        status = kubectl("rollout", "status", "deployment/web", "--timeout=30s").splitlines()
        assert status[-1] == 'deployment "web" successfully rolled out'
        assert all(line.startswith('Waiting for deployment "web" rollout to finish: ') for line in status[:-1])
        assert kubectl("rollout", "history", "deployment/web").splitlines() == [
            "deployment.apps/web ",
            "REVISION  CHANGE-CAUSE",
            "1         <none>",
            "2         <none>",
            "",
        ]
        revision = kubectl("rollout", "history", "deployment/web", "--revision=2")
        assert "deployment.apps/web with revision #2" in revision and "Image:\tnginx:1.25" in revision
        assert kubectl("rollout", "undo", "deployment/web").strip() == "deployment.apps/web rolled back"
        kubectl("rollout", "status", "deployment/web", "--timeout=30s")
        image = kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
        assert image == "nginx:1.24"
        history = kubectl("rollout", "history", "deployment/web").splitlines()
        assert history[-2].split() == ["3", "<none>"]
        # Revision 1's ReplicaSet was reused as revision 3, as on a real cluster.
        assert [line.split()[0] for line in history[2:] if line.strip()] == ["2", "3"]
        assert len(kubectl("get", "rs", "-o", "name").split()) == 2
        wait_for(lambda: {kubectl("get", "pod", p, "-o", "jsonpath={.spec.containers[0].image}") for p in kubectl.pods()}
                 == {"nginx:1.24"}, 15, message="only nginx:1.24 pods")

    def test_scale_and_wait_for_available(self, kubectl: Kubectl) -> None:
        """scale to 4 replicas, then wait --for=condition=Available and see 4/4 ready."""
        rolled_out(kubectl)
        assert kubectl("scale", "deployment/web", "--replicas=4").strip() == "deployment.apps/web scaled"
        out = kubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=30s")
        assert out.strip() == "deployment.apps/web condition met"
        kubectl("rollout", "status", "deployment/web", "--timeout=30s")
        row = kubectl("get", "deploy", "web", "--no-headers").split()
        assert row[:4] == ["web", "4/4", "4", "4"]


class TestPodsOnNodes:
    def test_get_pods_wide(self, web: Kubectl) -> None:
        """get pods -o wide shows each pod's IP and node, with the real cluster's columns."""
        lines = [line.split() for line in web("get", "pods", "-o", "wide").splitlines()]
        assert lines[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                            "NOMINATED", "NODE", "READINESS", "GATES"]
        rows = [line for line in lines[1:] if line[2] == "Running"]
        assert len(rows) == 2
        for row in rows:
            assert row[0].startswith("web-") and row[1:4] == ["1/1", "Running", "0"]
            assert row[5].startswith(POD_CIDR_PREFIX) and row[6] in NODES and row[7:] == ["<none>", "<none>"]

    def test_describe_pod(self, web: Kubectl) -> None:
        """describe pod names its node, owner, container state and the events of its start."""
        pod = web.pods()[0]
        node = web("get", "pod", pod, "-o", "jsonpath={.spec.nodeName}")
        host_ip = web("get", "pod", pod, "-o", "jsonpath={.status.hostIP}")
        out = web("describe", "pod", pod)
        fields = dict(re.findall(r"^([A-Z][\w ]+?):\s+(.*)$", out, re.MULTILINE))
        assert fields["Name"] == pod and fields["Namespace"] == web.namespace
        assert fields["Node"] == f"{node}/{host_ip}"
        assert fields["Status"] == "Running"
        assert fields["Controlled By"].startswith("ReplicaSet/web-")
        assert "    State:          Running" in out and "    Image:          nginx:1.24" in out
        assert f"Successfully assigned {web.namespace}/{pod} to {node}" in out
        assert re.search(r"Normal\s+Started\s+\S+\s+kubelet\s+Started container nginx", out)

    def test_get_events(self, web: Kubectl) -> None:
        """get events tells the rollout's story: scaled, created, scheduled, started."""
        lines = web("get", "events").splitlines()
        assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        seen = {(line.split()[2], line.split()[3].split("/")[0]) for line in lines[1:]}
        assert {("ScalingReplicaSet", "deployment"), ("SuccessfulCreate", "replicaset"),
                ("Scheduled", "pod"), ("Started", "pod")} <= seen

    def test_get_watch_sees_a_change(self, web: Kubectl) -> None:
        """get pods -w prints the pods, then a row again when one of them changes."""
        pod = web.pods()[0]
        watcher = web.popen("get", "pods", "-w", "--request-timeout=20s")
        lines = LineReader(watcher)
        try:
            first = lines.until(pod, 10)
            web("label", "pod", pod, "watched=yes")
            later = lines.until(pod, 10)
        finally:
            watcher.kill()
            watcher.wait(5)
        assert first[0].split()[0] == "NAME"
        assert later and later[-1].split()[0] == pod

    def test_python_client_watch_stream(self, web: Kubectl, cluster: Cluster) -> None:
        """watch.Watch().stream lists the pods as ADDED, then sees a label change as MODIFIED."""
        core = k8s.CoreV1Api(cluster.api)
        pod = web.pods()[0]
        watch = k8s_watch.Watch()
        events: list[tuple[str, str]] = []
        for event in watch.stream(core.list_namespaced_pod, web.namespace, label_selector="app=web", timeout_seconds=10):
            events.append((event["type"], event["object"].metadata.name))
            if len(events) == 2:
                web("label", "pod", pod, "streamed=yes", "--overwrite")
            if event["type"] == "MODIFIED" and (event["object"].metadata.labels or {}).get("streamed") == "yes":
                watch.stop()
        assert sorted(events[:2]) == [("ADDED", p) for p in web.pods()]
        assert ("MODIFIED", pod) in events[2:]


class TestLogs:
    def test_logs_show_nginx_startup_and_access_lines(self, web: Kubectl) -> None:
        """logs prints what nginx wrote: its startup lines, then a request's access line."""
        pod = web.pods()[0]
        assert "Configuration complete; ready for start up" in web("logs", pod)
        assert http_get(pod_ip(web, pod)) == 200
        wait_for(lambda: '"GET / HTTP/1.1" 200' in web("logs", pod), 5, message="the access log line")

    def test_logs_follow_streams_new_lines(self, web: Kubectl) -> None:
        """logs -f keeps the stream open and prints a new access line as it is written."""
        pod = web.pods()[1]
        follower = web.popen("logs", "-f", pod)
        reader = LineReader(follower)
        try:
            assert reader.until("start worker processes", 10)
            http_get(pod_ip(web, pod))
            lines = reader.until("GET / HTTP/1.1", 10)
            assert follower.poll() is None  # still following
        finally:
            follower.kill()
            follower.wait(5)
        assert any('"GET / HTTP/1.1" 200' in line for line in lines)

    def test_log_options(self, web: Kubectl) -> None:
        """--tail, --timestamps, --limit-bytes and --since shape the log; --previous of a first run is an error."""
        pod = web.pods()[0]
        full = web("logs", pod)
        assert web("logs", pod, "--tail=1") == full.splitlines(keepends=True)[-1]
        stamped = web("logs", pod, "--tail=1", "--timestamps")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z " + re.escape(full.splitlines()[-1]) + "\n", stamped)
        assert web("logs", pod, "--limit-bytes=10") == full[:10]
        assert web("logs", pod, "--since=1h") == full
        previous = web.run("logs", pod, "--previous", check=False)
        assert previous.returncode == 1
        assert previous.stderr == f'Error from server (BadRequest): previous terminated container "nginx" in pod "{pod}" not found\n'

    def test_logs_of_a_deployment(self, web: Kubectl) -> None:
        """logs deployment/web picks one of its pods."""
        assert "Configuration complete; ready for start up" in web("logs", "deployment/web")

    def test_python_client_reads_and_follows_a_log(self, web: Kubectl, cluster: Cluster) -> None:
        """read_namespaced_pod_log returns the log; with follow it streams and stays open."""
        core = k8s.CoreV1Api(cluster.api)
        pod = web.pods()[0]
        assert "Configuration complete; ready for start up" in core.read_namespaced_pod_log(pod, web.namespace)
        assert core.read_namespaced_pod_log(pod, web.namespace, tail_lines=1).count("\n") == 1
        response = core.read_namespaced_pod_log(pod, web.namespace, follow=True, _preload_content=False,
                                                _request_timeout=10)
        try:
            first = next(response.stream(4096))
        finally:
            response.release_conn()
        assert b"Configuration complete" in first


class TestExec:
    def test_exec_prints_the_output(self, web: Kubectl) -> None:
        """exec runs the command in the pod's container (its HOSTNAME is the pod's name)."""
        pod = web.pods()[0]
        assert web("exec", pod, "--", "sh", "-c", "echo $HOSTNAME") == f"{pod}\n"
        assert web("exec", pod, "-c", "nginx", "--", "echo", "a", "b") == "a b\n"

    def test_exec_exit_code(self, web: Kubectl) -> None:
        """A failing command: its stdout and stderr, kubectl's message, and its exit code."""
        result = web.run("exec", web.pods()[0], "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
        assert result.returncode == 3
        assert result.stdout == "out\n"
        assert result.stderr == "err\ncommand terminated with exit code 3\n"

    def test_exec_with_stdin(self, web: Kubectl) -> None:
        """exec -i passes kubectl's stdin to the command."""
        assert web("exec", "-i", web.pods()[0], "--", "tr", "a-z", "A-Z", stdin="shout\n") == "SHOUT\n"

    def test_exec_errors(self, web: Kubectl) -> None:
        """An unknown container is the apiserver's BadRequest; a missing program is an internal error."""
        pod = web.pods()[0]
        result = web.run("exec", pod, "-c", "nope", "--", "ls", check=False)
        assert result.returncode == 1
        assert result.stderr == f"Error from server (BadRequest): container nope is not valid for pod {pod}\n"
        result = web.run("exec", pod, "--", "no-such-tool", check=False)
        assert result.returncode == 1
        assert result.stderr.startswith("error: Internal error occurred: error executing command in container: ")
        assert 'exec: "no-such-tool": executable file not found in $PATH' in result.stderr

    def test_python_client_exec(self, web: Kubectl, cluster: Cluster) -> None:
        """The Python client's stream() (v4.channel.k8s.io) gets stdout, stderr and the exit code."""
        core = k8s.CoreV1Api(cluster.api)
        command = ["sh", "-c", "echo hi; echo oops >&2; exit 4"]
        session = k8s_stream(core.connect_get_namespaced_pod_exec, web.pods()[0], web.namespace, command=command,
                             stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
        session.run_forever(timeout=10)
        assert (session.read_stdout(), session.read_stderr(), session.returncode) == ("hi\n", "oops\n", 4)
