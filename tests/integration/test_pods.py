"""Pods as Kubernetes runs them, on a real apiserver and a real kubelet
process: shared volumes, init containers, restarts and back-off, probes,
hooks and termination, and ``kemu logs`` / ``kemu exec`` through the
kubelet's own server.

One apiserver and one kubelet serve the whole module (starting them is most
of a test's cost); every test uses pods of its own names. The node has its
own addresses (127.0.77.1, podCIDR 127.247.77.0/24) and a kubelet port picked
by the kernel, so the module can run beside other kubelet tests.
"""

from __future__ import annotations

import re
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from kemu.api.errors import ApiError
from kemu.cli.main import cli
from kemu.cli.printers import pod_status
from kemu.client import Client
from kemu.procs import Proc, pid_alive, spawn, wait_for
from kemu.testing import ApiServerProcess
from kemu.types import Obj

pytestmark = pytest.mark.timeout(60)

NODE, NODE_IP, POD_CIDR = "node-p", "127.0.77.1", "127.247.77.0/24"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Node:
    """The module's apiserver, kubelet and client."""

    def __init__(self, root: Path, api: ApiServerProcess, kubelet: Proc, client: Client):
        self.root, self.api, self.kubelet, self.client = root, api, kubelet, client

    def kemu(self, *args: str, input: str | bytes | None = None) -> Result:
        """Run ``kemu ARGS`` in-process against this apiserver."""
        return CliRunner().invoke(cli, ["--server", self.api.address, "--request-timeout", "5", *args], input=input)

    def pod(self, name: str) -> Obj:
        return self.client.get("Pod", name)

    def status(self, name: str) -> Obj:
        return self.pod(name).get("status") or {}

    def container(self, pod: str, container: str, *, init: bool = False) -> Obj:
        key = "initContainerStatuses" if init else "containerStatuses"
        return next((c for c in self.status(pod).get(key) or [] if c["name"] == container), {})

    def ready(self, name: str) -> bool:
        return any(c["type"] == "Ready" and c["status"] == "True" for c in self.status(name).get("conditions") or [])

    def events(self, name: str) -> list[Obj]:
        return [e for e in self.client.list("Event")["items"] if e["involvedObject"].get("name") == name]

    def event_messages(self, name: str, reason: str) -> list[str]:
        return [e["message"] for e in self.events(name) if e["reason"] == reason]

    def wait_running(self, name: str, timeout: float = 15) -> Obj:
        wait_for(lambda: self.status(name).get("phase") == "Running", timeout, message=f"{name} running")
        return self.status(name)

    def remove(self, *names: str) -> None:
        for name in names:
            try:
                self.client.delete("Pod", name, grace_period_seconds=0)
            except ApiError:
                pass


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    with tempfile.TemporaryDirectory(prefix="kemu-pods-") as tmp:
        root = Path(tmp)
        api = ApiServerProcess(root)
        kubelet: Proc | None = None
        try:
            api.start()
            client = Client(api.address, timeout=10.0)
            kubelet = spawn(
                "kubelet",
                ["kubelet", "--server", api.address, "--node", NODE, "--node-ip", NODE_IP, "--root-dir", str(root / NODE),
                 "--kubelet-port", "0", "--crashloop-backoff-base", "0.4", "--crashloop-backoff-max", "3.2",
                 "--container-log-max-size", "64Ki"],
                root / "kubelet.log",
            )
            wait_for(lambda: client.get("Node", NODE), 15, message="node registration")
            client.patch("Node", NODE, {"spec": {"podCIDR": POD_CIDR, "podCIDRs": [POD_CIDR]}})
            yield Node(root, api, kubelet, client)
            client.close()
        finally:
            if kubelet is not None:
                kubelet.kill()
            api.stop()
            api.kill()


def make_pod(name: str, containers: list[Obj], **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": containers, **spec}}


def sh(name: str, script: str, **fields: Any) -> Obj:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **fields}


def probe(handler: str, action: Obj, **fields: Any) -> Obj:
    return {handler: action, "periodSeconds": 1, **fields}


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


class TestSharedPod:
    def test_sidecar_writes_what_the_web_server_serves(self, node: Node) -> None:
        """nginx serves the index.html its sidecar keeps rewriting in their shared emptyDir."""
        node.client.create(make_pod("shared", [
            {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80, "name": "http"}],
             "volumeMounts": [{"name": "html", "mountPath": "/usr/share/nginx/html"}],
             "livenessProbe": probe("httpGet", {"path": "/", "port": "http"}, failureThreshold=5)},
            sh("refresher", 'i=0; while true; do i=$((i+1)); echo "refresh $i from $HOSTNAME" > /html/index.html; sleep 0.3; done',
               volumeMounts=[{"name": "html", "mountPath": "/html"}]),
        ], volumes=[{"name": "html", "emptyDir": {}}]))
        status = node.wait_running("shared")
        ip = status["podIP"]
        assert ip.startswith("127.247.77.")
        wait_for(lambda: http_get(f"http://{ip}/")[1].startswith(b"refresh "), 10, message="the sidecar's page")
        first = http_get(f"http://{ip}/")[1]
        assert b"from shared" in first  # HOSTNAME is the pod name
        wait_for(lambda: http_get(f"http://{ip}/")[1] != first, 5, message="the page to be refreshed")
        wait_for(lambda: pod_status(node.pod("shared")) == "Running" and node.ready("shared"), 10, message="2/2 ready")
        described = node.kemu("describe", "pod", "shared")
        assert described.exit_code == 0, described.output
        assert re.search(r"Liveness:\s+http-get http://:http/ delay=0s timeout=1s period=1s #success=1 #failure=5", described.output)
        assert "/usr/share/nginx/html from html (rw)" in described.output
        assert "Started container refresher" in described.output
        node.remove("shared")

    def test_downward_api_env_and_hostname(self, node: Node) -> None:
        """fieldRef and resourceFieldRef env vars, and HOSTNAME, are what Kubernetes sets."""
        env = [{"name": n, "valueFrom": {"fieldRef": {"fieldPath": p}}}
               for n, p in (("NAME", "metadata.name"), ("NS", "metadata.namespace"), ("IP", "status.podIP"), ("NODE", "spec.nodeName"))]
        env.append({"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}})
        node.client.create(make_pod("downward", [sh("c", 'echo "$NAME $NS $IP $NODE $MEM $HOSTNAME"; sleep 1000', env=env,
                                                    resources={"limits": {"memory": "64Mi"}})]))
        ip = node.wait_running("downward")["podIP"]
        wait_for(lambda: node.kemu("logs", "downward").output.strip(), 5, message="the line")
        assert node.kemu("logs", "downward").output == f"downward default {ip} {NODE} 64 downward\n"
        node.remove("downward")


class TestMultiContainerExample:
    @pytest.mark.timeout(90)
    def test_the_readme_walkthrough(self, node: Node) -> None:
        """examples/multi-container.yaml: 2/2 Running, each container's logs, exec, then a broken liveness probe."""
        manifest = yaml.safe_load((EXAMPLES / "multi-container.yaml").read_text())
        manifest["spec"]["nodeName"] = NODE  # no scheduler in this module
        manifest["metadata"]["name"] = "example"
        node.client.create(manifest)
        ip = node.wait_running("example")["podIP"]
        wait_for(lambda: re.search(r"example\s+2/2\s+Running", node.kemu("get", "pod", "example").output), 15, message="2/2 Running")
        assert b"Hello from example" in http_get(f"http://{ip}/")[1]
        # this kubelet runs without a pod network: the pod is told, once, what it lacks
        lacks = node.event_messages("example", "NoPodSandbox")
        assert len(lacks) == 1 and lacks[0].startswith("Running without a pod sandbox: the kubelet runs without"), lacks
        assert node.kemu("logs", "example", "-c", "refresher").output.startswith("refresh 1; nginx on localhost ")
        assert "GET / HTTP/1.1" in node.kemu("logs", "example", "-c", "nginx").output
        page = node.kemu("exec", "example", "-c", "nginx", "--", "cat", "/usr/share/nginx/html/index.html")
        assert page.exit_code == 0 and "Hello from example" in page.stdout
        readonly = node.kemu("exec", "example", "-c", "nginx", "--", "touch", "/usr/share/nginx/html/x")
        assert readonly.exit_code == 1  # mounted readOnly
        assert node.kemu("exec", "example", "-c", "refresher", "--", "touch", "/html/broken").exit_code == 0
        wait_for(lambda: node.container("example", "nginx").get("restartCount", 0) >= 1, 30, message="the liveness restart")
        assert "Liveness probe failed: HTTP probe failed with statuscode: 404" in node.event_messages("example", "Unhealthy")
        assert "Container nginx failed liveness probe, will be restarted" in node.event_messages("example", "Killing")
        node.remove("example")


class TestAdmission:
    def test_two_containers_on_one_port_are_refused(self, node: Node) -> None:
        """Two containers of one pod declaring port 8080/TCP: the kubelet rejects the pod."""
        node.client.create(make_pod("dup-port", [
            sh("a", "sleep 1000", ports=[{"containerPort": 8080}]),
            sh("b", "sleep 1000", ports=[{"containerPort": 8080}]),
        ]))
        wait_for(lambda: node.status("dup-port").get("phase") == "Failed", 10, message="rejection")
        status = node.status("dup-port")
        assert status["reason"] == "PortConflict"
        assert status["message"] == (
            'Pod was rejected: containers "a" and "b" both declare containerPort 8080/TCP, '
            "but the containers of a pod share one IP and its ports"
        )

    def test_duplicate_host_port_in_one_pod_is_invalid(self, node: Node) -> None:
        """The apiserver's validation already refuses one hostPort twice in a pod."""
        with pytest.raises(ApiError) as err:
            node.client.create(make_pod("dup-host", [
                sh("a", "sleep 1000", ports=[{"containerPort": 81, "hostPort": 18081}]),
                sh("b", "sleep 1000", ports=[{"containerPort": 82, "hostPort": 18081}]),
            ]))
        assert err.value.code == 422

    def test_host_port_taken_on_the_node(self, node: Node) -> None:
        """A second pod wanting a hostPort held by a running pod is rejected (NodePorts)."""
        node.client.create(make_pod("hp-1", [sh("a", "sleep 1000", ports=[{"containerPort": 81, "hostPort": 18082}])]))
        node.wait_running("hp-1")
        node.client.create(make_pod("hp-2", [sh("a", "sleep 1000", ports=[{"containerPort": 81, "hostPort": 18082}])]))
        wait_for(lambda: node.status("hp-2").get("reason") == "NodePorts", 10, message="rejection")
        assert node.status("hp-2")["message"] == (
            "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"
        )
        node.remove("hp-1", "hp-2")

    def test_host_path_is_refused_with_a_clear_event(self, node: Node) -> None:
        """A hostPath volume never mounts: FailedMount says why, the pod stays ContainerCreating."""
        node.client.create(make_pod("hostpath", [sh("a", "sleep 1000", volumeMounts=[{"name": "h", "mountPath": "/h"}])],
                                    volumes=[{"name": "h", "hostPath": {"path": "/etc"}}]))
        wait_for(lambda: node.event_messages("hostpath", "FailedMount"), 10, message="FailedMount")
        assert node.event_messages("hostpath", "FailedMount")[0] == (
            'MountVolume.SetUp failed: hostPath volume "h" is not allowed in kemu: pods run on your own machine; '
            "use an emptyDir or a configMap volume"
        )
        assert pod_status(node.pod("hostpath")) == "ContainerCreating"
        node.remove("hostpath")


class TestInitContainers:
    def test_app_starts_only_after_the_init_container(self, node: Node) -> None:
        """Init:0/1 while the init container runs; the app sees what it left."""
        node.client.create(make_pod("init", [sh("app", "cat /work/done; sleep 1000", volumeMounts=[{"name": "w", "mountPath": "/work"}])],
                                    initContainers=[sh("prepare", "sleep 1.5; echo prepared > /work/done",
                                                       volumeMounts=[{"name": "w", "mountPath": "/work"}])],
                                    volumes=[{"name": "w", "emptyDir": {}}]))
        wait_for(lambda: pod_status(node.pod("init")) == "Init:0/1", 10, message="Init:0/1")
        conditions = {c["type"]: c["status"] for c in node.status("init")["conditions"]}
        assert conditions["Initialized"] == "False"
        assert node.container("init", "app")["state"]["waiting"]["reason"] == "PodInitializing"
        node.wait_running("init")
        init = node.container("init", "prepare", init=True)
        assert init["state"]["terminated"]["reason"] == "Completed" and init["ready"] is True
        wait_for(lambda: node.kemu("logs", "init", "-c", "app").output == "prepared\n", 5, message="the app's output")
        node.remove("init")

    def test_failing_init_container_statuses(self, node: Node) -> None:
        """Init:Error (Never: the pod fails) and Init:CrashLoopBackOff (Always: retried)."""
        node.client.create(make_pod("init-never", [sh("app", "sleep 1000")], restartPolicy="Never",
                                    initContainers=[sh("fail", "exit 1"), sh("second", "true")]))
        node.client.create(make_pod("init-loop", [sh("app", "sleep 1000")], initContainers=[sh("fail", "exit 1"), sh("second", "true")]))
        wait_for(lambda: node.status("init-never").get("phase") == "Failed", 10, message="Failed")
        assert pod_status(node.pod("init-never")) == "Init:Error"
        wait_for(lambda: pod_status(node.pod("init-loop")) == "Init:CrashLoopBackOff", 10, message="Init:CrashLoopBackOff")
        assert node.status("init-loop")["phase"] == "Pending"
        assert node.container("init-loop", "fail", init=True)["restartCount"] >= 1
        node.remove("init-never", "init-loop")

    def test_native_sidecar_runs_beside_the_app(self, node: Node) -> None:
        """An init container with restartPolicy Always starts first and keeps running."""
        node.client.create(make_pod("native", [sh("app", "sleep 1000")],
                                    initContainers=[sh("side", "sleep 1000", restartPolicy="Always")]))
        node.wait_running("native")
        wait_for(lambda: node.ready("native"), 10, message="ready")
        assert "running" in node.container("native", "side", init=True)["state"]
        out = node.kemu("get", "pod", "native")
        assert re.search(r"native\s+2/2\s+Running", out.output), out.output
        node.remove("native")


class TestRestarts:
    def test_crash_loop_back_off_grows(self, node: Node) -> None:
        """A container exiting 3 restarts at once, then after 0.4, 0.8, 1.6 s ... (CrashLoopBackOff)."""
        node.client.create(make_pod("crash", [sh("c", "echo crashing; exit 3")]))
        seen: dict[int, float] = {}
        statuses: set[str] = set()
        deadline = time.monotonic() + 20
        while 4 not in seen and time.monotonic() < deadline:
            cs = node.container("crash", "c")
            seen.setdefault(cs.get("restartCount", -1), time.monotonic())
            statuses.add(pod_status(node.pod("crash")))
            time.sleep(0.03)
        assert {1, 2, 3, 4} <= set(seen), seen
        gaps = [seen[n + 1] - seen[n] for n in (1, 2, 3)]
        assert gaps[0] < gaps[1] < gaps[2], gaps
        assert 0.25 < gaps[0] < 1.2 and 1.1 < gaps[2] < 3.0, gaps
        assert "CrashLoopBackOff" in statuses
        cs = node.container("crash", "c")
        assert cs["lastState"]["terminated"]["exitCode"] == 3 and cs["lastState"]["terminated"]["reason"] == "Error"
        assert node.event_messages("crash", "BackOff")
        node.remove("crash")

    def test_restart_policies(self, node: Node) -> None:
        """OnFailure restarts a failure but not a success; Never restarts nothing."""
        node.client.create(make_pod("onfail-ok", [sh("c", "exit 0")], restartPolicy="OnFailure"))
        node.client.create(make_pod("onfail-bad", [sh("c", "sleep 0.2; exit 1")], restartPolicy="OnFailure"))
        node.client.create(make_pod("never-bad", [sh("c", "exit 2")], restartPolicy="Never"))
        wait_for(lambda: node.status("onfail-ok").get("phase") == "Succeeded", 10, message="Succeeded")
        wait_for(lambda: node.container("onfail-bad", "c").get("restartCount", 0) >= 2, 10, message="restarts")
        wait_for(lambda: node.status("never-bad").get("phase") == "Failed", 10, message="Failed")
        assert node.container("onfail-ok", "c")["restartCount"] == 0
        assert node.status("onfail-bad")["phase"] == "Running"
        never = node.container("never-bad", "c")
        assert never["restartCount"] == 0 and never["state"]["terminated"]["exitCode"] == 2
        assert pod_status(node.pod("never-bad")) == "Error"
        node.remove("onfail-ok", "onfail-bad", "never-bad")

    def test_memory_limit_is_enforced_and_cpu_limit_reported(self, node: Node) -> None:
        """A container over its memory limit is OOMKilled; a CPU limit this host cannot enforce gets an event."""
        hog = "python3 -c \"import time; b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); time.sleep(30)\""
        node.client.create(make_pod("hog", [sh("c", hog, resources={"limits": {"memory": "50Mi", "cpu": "500m"}})],
                                    restartPolicy="Never"))
        wait_for(lambda: node.container("hog", "c").get("state", {}).get("terminated"), 15, message="the kill")
        assert node.container("hog", "c")["state"]["terminated"]["reason"] == "OOMKilled"
        mode_enforces_cpu = Path("/sys/fs/cgroup/cgroup.controllers").exists()
        if not mode_enforces_cpu:
            assert node.event_messages("hog", "LimitNotEnforced")
        node.remove("hog")


class TestProbes:
    def test_each_probe_kind_passing_and_failing(self, node: Node) -> None:
        """httpGet, tcpSocket and exec readiness probes: passing ones make containers ready, failing ones say why."""
        node.client.create(make_pod("probes-ok", [
            {"name": "web", "image": "nginx:1.25", "readinessProbe": probe("httpGet", {"path": "/", "port": 80}),
             "livenessProbe": probe("tcpSocket", {"port": 80})},
            sh("ok", "sleep 1000", readinessProbe=probe("exec", {"command": ["true"]})),
        ]))
        node.client.create(make_pod("probes-bad", [
            {"name": "web", "image": "nginx:1.25", "readinessProbe": probe("httpGet", {"path": "/nope", "port": 80})},
            sh("tcp", "sleep 1000", readinessProbe=probe("tcpSocket", {"port": 9})),
            sh("exec", "sleep 1000", readinessProbe=probe("exec", {"command": ["sh", "-c", "echo not yet; false"]})),
        ]))
        wait_for(lambda: node.ready("probes-ok"), 10, message="probes-ok ready")
        ip = node.wait_running("probes-bad")["podIP"]
        wait_for(lambda: len(node.event_messages("probes-bad", "Unhealthy")) >= 3, 10, message="three failing probes")
        messages = set(node.event_messages("probes-bad", "Unhealthy"))
        assert "Readiness probe failed: HTTP probe failed with statuscode: 404" in messages
        assert f"Readiness probe failed: dial tcp {ip}:9: connect: connection refused" in messages
        assert "Readiness probe failed: not yet" in messages
        assert not node.ready("probes-bad")
        assert [c["ready"] for c in node.status("probes-bad")["containerStatuses"]] == [False, False, False]
        assert node.kemu("get", "pod", "probes-bad").output.split("\n")[1].split()[1] == "0/3"
        node.remove("probes-ok", "probes-bad")

    def test_readiness_flips_ready(self, node: Node) -> None:
        """A readiness probe on a file: the pod is Ready while the file exists (created and removed with kemu exec)."""
        ready = probe("exec", {"command": ["cat", "/tmp/kemu-flip-ready"]}, failureThreshold=1)
        node.client.create(make_pod("flip", [sh("c", "sleep 1000", readinessProbe=ready,
                                                volumeMounts=[{"name": "t", "mountPath": "/tmp"}])],
                                    volumes=[{"name": "t", "emptyDir": {}}]))
        node.wait_running("flip")
        assert not node.ready("flip")
        assert node.kemu("exec", "flip", "--", "touch", "/tmp/kemu-flip-ready").exit_code == 0
        wait_for(lambda: node.ready("flip"), 5, message="Ready")
        assert node.kemu("exec", "flip", "--", "rm", "/tmp/kemu-flip-ready").exit_code == 0
        wait_for(lambda: not node.ready("flip"), 5, message="not Ready")
        conditions = {c["type"]: c for c in node.status("flip")["conditions"]}
        assert conditions["Ready"]["message"] == "containers with unready status: [c]"
        node.remove("flip")

    def test_failing_liveness_probe_restarts_the_container(self, node: Node) -> None:
        """Liveness on a path nginx 404s: Unhealthy, Killing, and a restart."""
        node.client.create(make_pod("live", [
            {"name": "web", "image": "nginx:1.25", "livenessProbe": probe("httpGet", {"path": "/healthz", "port": 80}, failureThreshold=2)}
        ]))
        node.wait_running("live")
        wait_for(lambda: node.container("live", "web").get("restartCount", 0) >= 1, 15, message="a restart")
        assert "Liveness probe failed: HTTP probe failed with statuscode: 404" in node.event_messages("live", "Unhealthy")
        assert "Container web failed liveness probe, will be restarted" in node.event_messages("live", "Killing")
        node.remove("live")

    def test_startup_probe_holds_liveness_and_readiness(self, node: Node) -> None:
        """Not started (and not ready) until the startup probe passes; a failing liveness probe waits for it."""
        node.client.create(make_pod("startup", [sh("c", "sleep 2; touch /s/started; sleep 1000",
                                                   volumeMounts=[{"name": "s", "mountPath": "/s"}],
                                                   startupProbe=probe("exec", {"command": ["cat", "/s/started"]}, failureThreshold=30),
                                                   readinessProbe=probe("exec", {"command": ["true"]}))],
                                    volumes=[{"name": "s", "emptyDir": {}}]))
        node.wait_running("startup")
        cs = node.container("startup", "c")
        assert cs["started"] is False and cs["ready"] is False
        wait_for(lambda: node.container("startup", "c").get("started") is True, 10, message="started")
        wait_for(lambda: node.ready("startup"), 5, message="ready")
        assert node.container("startup", "c")["restartCount"] == 0
        node.remove("startup")

    def test_post_start_hook_failure_kills_the_container(self, node: Node) -> None:
        """A postStart hook that fails: FailedPostStartHook, and the container is restarted."""
        node.client.create(make_pod("poststart", [sh("c", "sleep 1000", lifecycle={"postStart": {"exec": {"command": ["sh", "-c", "exit 1"]}}})]))
        wait_for(lambda: node.event_messages("poststart", "FailedPostStartHook"), 10, message="FailedPostStartHook")
        wait_for(lambda: node.container("poststart", "c").get("restartCount", 0) >= 1, 10, message="a restart")
        node.remove("poststart")


class TestTermination:
    def test_pre_stop_then_term_then_kill_after_the_grace_period(self, node: Node) -> None:
        """preStop runs first, then SIGTERM (trapped), and SIGKILL comes after the 2 s grace period."""
        trace = node.root / "termination.trace"
        script = f"trap 'echo TERM >> {trace}' TERM; while true; do sleep 0.1; done"
        pre_stop = {"preStop": {"exec": {"command": ["sh", "-c", f"echo preStop >> {trace}"]}}}
        node.client.create(make_pod("graceful", [sh("c", script, lifecycle=pre_stop)],
                                    terminationGracePeriodSeconds=2))
        node.wait_running("graceful")
        started = time.monotonic()
        node.client.delete("Pod", "graceful")
        wait_for(lambda: not node.client.list("Pod", field_selector="metadata.name=graceful")["items"], 10, message="gone")
        took = time.monotonic() - started
        assert 1.8 < took < 4.0, took
        assert trace.read_text().split() == ["preStop", "TERM"]

    def test_force_delete_with_grace_period_zero(self, node: Node) -> None:
        """kemu delete --grace-period 0 --force removes the pod at once; its processes die promptly."""
        pidfile = node.root / "force.pid"
        node.client.create(make_pod("forced", [sh("c", f"trap '' TERM; echo $$$$ > {pidfile}; while true; do sleep 0.1; done")],
                                    terminationGracePeriodSeconds=30))
        node.wait_running("forced")
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 5, message="pid")
        pid = int(pidfile.read_text())
        result = node.kemu("delete", "pod", "forced", "--grace-period", "0", "--force")
        assert result.exit_code == 0, result.output
        assert 'pod "forced" force deleted' in result.output
        assert not node.client.list("Pod", field_selector="metadata.name=forced")["items"]
        wait_for(lambda: not pid_alive(pid), 5, message="the container's process to die")


class TestLogsAndExec:
    def test_logs_previous_tail_and_timestamps(self, node: Node) -> None:
        """--previous shows the run before a restart; --tail and --timestamps shape the output."""
        node.client.create(make_pod("talker", [sh("c", 'echo "run at $(date +%s%N)"; for i in 1 2 3 4 5; do echo line-$i; done; sleep 0.5; exit 1')]))
        wait_for(lambda: node.container("talker", "c").get("restartCount", 0) >= 1, 10, message="a restart")
        previous = node.kemu("logs", "talker", "--previous")
        assert previous.exit_code == 0, previous.output
        lines = previous.output.splitlines()
        assert lines[0].startswith("run at ") and lines[1:] == [f"line-{i}" for i in range(1, 6)]
        wait_for(lambda: node.kemu("logs", "talker").output.endswith("line-5\n"), 5, message="the current run's lines")
        assert node.kemu("logs", "talker").output.splitlines()[0] != lines[0]  # another run
        assert node.kemu("logs", "talker", "--tail", "2").output == "line-4\nline-5\n"
        stamped = node.kemu("logs", "talker", "--tail", "1", "--timestamps").output
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line-5\n", stamped), stamped
        node.remove("talker")

    def test_logs_follow_until_the_container_exits(self, node: Node) -> None:
        """-f prints lines as they come and returns when the container has exited."""
        node.client.create(make_pod("follow", [sh("c", "for i in 1 2 3 4 5 6; do echo tick-$i; sleep 0.3; done")], restartPolicy="Never"))
        node.wait_running("follow")
        started = time.monotonic()
        result = node.kemu("logs", "-f", "follow")
        assert result.exit_code == 0, result.output
        assert result.output == "".join(f"tick-{i}\n" for i in range(1, 7))
        assert time.monotonic() - started < 10
        node.remove("follow")

    def test_follow_survives_log_rotation(self, node: Node) -> None:
        """A log rotated (64 KiB cap here) while followed: lines stay in order, the last one arrives."""
        script = ('i=0; while [ $i -lt 3000 ]; do echo "line $i of a log that grows past its size cap"; '
                  'i=$((i+1)); [ $((i % 300)) -eq 0 ] && sleep 0.3; done; true')
        node.client.create(make_pod("chatty", [sh("c", script)], restartPolicy="Never"))
        node.wait_running("chatty")
        result = node.kemu("logs", "-f", "chatty")
        assert result.exit_code == 0, result.stderr
        numbers = [int(line.split()[1]) for line in result.output.splitlines()]
        assert numbers[-1] == 2999
        assert numbers == sorted(set(numbers))  # in order, nothing twice
        assert len(numbers) > 2500  # copy-truncate may lose a few lines per rotation, never many
        rotated = list((node.root / NODE).rglob("0.log.*"))
        assert rotated, "the log should have been rotated"
        node.remove("chatty")

    def test_logs_errors_as_kubectl_prints_them(self, node: Node) -> None:
        """Several containers need -c; a container that never restarted has no --previous."""
        node.client.create(make_pod("two", [sh("nginx", "sleep 1000"), sh("sidecar", "sleep 1000")]))
        node.wait_running("two")
        result = node.kemu("logs", "two")
        assert result.exit_code == 1
        assert result.stderr == (
            "Error from server (BadRequest): a container name must be specified for pod two, choose one of: [nginx sidecar]\n"
        )
        result = node.kemu("logs", "two", "-c", "nginx", "--previous")
        assert result.stderr == 'Error from server (BadRequest): previous terminated container "nginx" in pod "two" not found\n'
        result = node.kemu("logs", "nope")
        assert result.stderr == 'Error from server (NotFound): pods "nope" not found\n'
        node.remove("two")

    def test_exec_output_exit_code_env_and_stdin(self, node: Node) -> None:
        """exec runs in the container's environment and volumes, and exits with the command's code."""
        node.client.create(make_pod("execme", [sh("c", "echo hello > /data/greeting; sleep 1000", env=[{"name": "GREETING", "value": "hi"}],
                                                  volumeMounts=[{"name": "d", "mountPath": "/data"}])],
                                    volumes=[{"name": "d", "emptyDir": {}}]))
        node.wait_running("execme")
        wait_for(lambda: node.kemu("exec", "execme", "--", "cat", "/data/greeting").output == "hello\n", 5, message="the file")
        result = node.kemu("exec", "execme", "--", "sh", "-c", 'echo "$GREETING $HOSTNAME"; echo oops >&2; exit 3')
        assert result.exit_code == 3
        assert result.stdout == "hi execme\n"
        assert result.stderr == "oops\ncommand terminated with exit code 3\n"
        piped = node.kemu("exec", "-i", "execme", "--", "tr", "a-z", "A-Z", input="shout\n")
        assert piped.exit_code == 0 and piped.stdout == "SHOUT\n"
        missing = node.kemu("exec", "execme", "-c", "c", "--", "no-such-tool")
        assert missing.exit_code == 1
        assert 'exec: "no-such-tool": executable file not found in $PATH' in missing.stderr
        node.remove("execme")


class TestConfigMapVolumes:
    def test_configmap_update_reaches_the_mounted_file(self, node: Node) -> None:
        """items map keys to paths; an update to the ConfigMap shows in the file within seconds."""
        node.client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config"},
                            "data": {"app.conf": "version=1\n", "other": "x"}})
        node.client.create(make_pod("cm", [sh("c", "sleep 1000", volumeMounts=[{"name": "cfg", "mountPath": "/etc/app", "readOnly": True}])],
                                    volumes=[{"name": "cfg", "configMap": {
                                        "name": "app-config", "items": [{"key": "app.conf", "path": "conf/app.conf"}]}}]))
        node.wait_running("cm")
        assert node.kemu("exec", "cm", "--", "cat", "/etc/app/conf/app.conf").stdout == "version=1\n"
        assert node.kemu("exec", "cm", "--", "ls", "/etc/app").stdout == "conf\n"
        node.client.patch("ConfigMap", "app-config", {"data": {"app.conf": "version=2\n"}})
        started = time.monotonic()
        wait_for(lambda: node.kemu("exec", "cm", "--", "cat", "/etc/app/conf/app.conf").stdout == "version=2\n", 5, message="the update")
        assert time.monotonic() - started < 3
        node.remove("cm")

    def test_sub_path_mounts_part_of_a_volume(self, node: Node) -> None:
        """subPath mounts a directory inside the volume; the other container sees it under that name."""
        node.client.create(make_pod("subpath", [
            sh("writer", "echo from-writer > /out/file; sleep 1000", volumeMounts=[{"name": "v", "mountPath": "/out", "subPath": "part"}]),
            sh("reader", "sleep 1000", volumeMounts=[{"name": "v", "mountPath": "/all"}]),
        ], volumes=[{"name": "v", "emptyDir": {}}]))
        node.wait_running("subpath")
        wait_for(lambda: node.kemu("exec", "subpath", "-c", "reader", "--", "cat", "/all/part/file").stdout == "from-writer\n",
                 5, message="the file through the whole volume")
        node.remove("subpath")

    def test_projected_volume(self, node: Node) -> None:
        """A projected volume merges a ConfigMap and downward API files."""
        node.client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "proj"}, "data": {"a": "from-cm"}})
        node.client.create(make_pod("projected", [sh("c", "sleep 1000", volumeMounts=[{"name": "p", "mountPath": "/p"}])],
                                    volumes=[{"name": "p", "projected": {"sources": [
                                        {"configMap": {"name": "proj"}},
                                        {"downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
                                    ]}}]))
        node.wait_running("projected")
        assert node.kemu("exec", "projected", "--", "sh", "-c", "cat /p/a; echo; cat /p/name").stdout == "from-cm\nprojected"
        node.remove("projected")
