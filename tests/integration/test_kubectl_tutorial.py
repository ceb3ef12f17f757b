"""The Kubernetes Basics tutorial, command by command, with the real kubectl.

https://kubernetes.io/docs/tutorials/kubernetes-basics/ is the first thing a
learner runs. Its modules are replayed here unchanged against a whole kemu
cluster (``kemu up`` in-process, HTTPS and a token): create the deployment,
``kubectl proxy`` and curl the pod through it, get/describe/logs/exec -ti,
expose it as a NodePort and curl it, label, scale to 4 and see the load
spread, set image, rollout status, a broken image and ``rollout undo``.
What each step prints is checked as the tutorial shows it.

One test walks the modules in order (each builds on the one before, as in
the tutorial). The steps inside the container (``cat server.js``, ``curl
http://localhost:8080``) need the pod's sandbox, so they run as root.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kemu.procs import wait_for
from kemu.testing import free_port, kubectl_env, running_cluster

KUBECTL = "/usr/bin/kubectl"
NODE_PREFIX = "127.0.17"

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason=f"the real kubectl is not installed at {KUBECTL}"),
]

BOOTCAMP = re.compile(r"^Hello Kubernetes bootcamp! \| Running on: (kubernetes-bootcamp-[a-z0-9]+-[a-z0-9]+) \| v=(\d)$")



@dataclass
class Tutorial:
    """kubectl's environment for the tutorial's cluster."""

    env: dict[str, str]

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=self.env, timeout=timeout,
                                check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def __call__(self, *args: str, timeout: float = 60) -> str:
        return self.run(*args, timeout=timeout).stdout

    def pod_names(self, selector: str = "app=kubernetes-bootcamp") -> list[str]:
        out = self("get", "pods", "-l", selector, "--field-selector=status.phase=Running",
                   "-o", "go-template", "--template", '{{range .items}}{{.metadata.name}}{{"\\n"}}{{end}}')
        return sorted(out.split())

    def tty(self, *args: str, typed: bytes, timeout: float = 30) -> tuple[int, str]:
        """Run kubectl on a pseudo-terminal, type ``typed``, return its exit code and what it printed."""
        pid, fd = pty.fork()
        if pid == 0:  # the child: kubectl on the terminal
            os.execve(KUBECTL, [KUBECTL, *args], self.env)
        output = b""
        try:
            time.sleep(1.0)
            os.write(fd, typed)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.5)
                if not ready:
                    if os.waitpid(pid, os.WNOHANG) != (0, 0):
                        break
                    continue
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
        finally:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == 0:
                os.kill(pid, 9)
                _, status = os.waitpid(pid, 0)
            os.close(fd)
        return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


@pytest.fixture(scope="module")
def kubectl() -> Iterator[Tutorial]:
    with tempfile.TemporaryDirectory(prefix="kemu-") as d:
        root = Path(d)
        spec = {"node_ip_prefix": NODE_PREFIX, "cluster_cidr": "127.217.0.0/16", "service_cidr": "127.117.0.0/16",
                "with_dns": False, "log_level": "info"}
        with running_cluster(root, nodes=3, with_http=True, http_port=free_port(), **spec) as local:
            assert local.kubeconfig is not None
            env = {**kubectl_env(root, local.kubeconfig), "TERM": "dumb"}
            yield Tutorial(env)


def get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


class KubectlProxy:
    """``kubectl proxy --port=N`` in the background, stopped at the end."""

    def __init__(self, tutorial: Tutorial):
        self.port = free_port()
        self.proc = subprocess.Popen([KUBECTL, "proxy", f"--port={self.port}"], env=tutorial.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def __enter__(self) -> KubectlProxy:
        wait_for(self._answers, 15, message="kubectl proxy to listen")
        return self

    def _answers(self) -> bool:
        try:
            get(f"http://127.0.0.1:{self.port}/version", timeout=1)
            return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def test_kubernetes_basics(kubectl: Tutorial) -> None:
    """Modules 2-6 of the Kubernetes Basics tutorial, in order, as the tutorial shows them."""
    # -- Module 2: create a Deployment --------------------------------------------------
    out = kubectl("create", "deployment", "kubernetes-bootcamp", "--image=gcr.io/google-samples/kubernetes-bootcamp:v1")
    assert out.strip() == "deployment.apps/kubernetes-bootcamp created"
    kubectl("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=60s")
    rows = kubectl("get", "deployments").splitlines()
    assert rows[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows[1].split()[:4] == ["kubernetes-bootcamp", "1/1", "1", "1"]

    with KubectlProxy(kubectl) as proxy:
        assert '"gitVersion"' in get(f"http://127.0.0.1:{proxy.port}/version")
        [pod] = kubectl.pod_names()
        answer = get(f"http://127.0.0.1:{proxy.port}/api/v1/namespaces/default/pods/{pod}:8080/proxy/")
        assert BOOTCAMP.match(answer.strip()) and f"Running on: {pod} | v=1" in answer

    # -- Module 3: explore the app ------------------------------------------------------
    assert pod in kubectl("get", "pods")
    described = kubectl("describe", "pods")
    assert f"Name:             {pod}" in described and "gcr.io/google-samples/kubernetes-bootcamp:v1" in described
    assert "Kubernetes Bootcamp App Started At:" in kubectl("logs", pod)
    env = kubectl("exec", pod, "--", "env")
    assert f"HOSTNAME={pod}" in env
    code, screen = kubectl.tty("exec", "-ti", pod, "--", "bash", typed=b"echo $((6*7))\nexit 3\n")
    assert "42" in screen and code == 3, screen
    if os.geteuid() == 0:  # the pod's own root file system and localhost (its sandbox) need root
        code, screen = kubectl.tty("exec", "-ti", pod, "--", "bash",
                                   typed=b"cat server.js\ncurl http://localhost:8080\nexit\n")
        assert "response.write(\"Hello Kubernetes bootcamp! | Running on: \");" in screen, screen
        assert f"Hello Kubernetes bootcamp! | Running on: {pod} | v=1" in screen and code == 0, screen

    # -- Module 4: expose the app publicly ----------------------------------------------
    out = kubectl("expose", "deployment/kubernetes-bootcamp", "--type=NodePort", "--port", "8080")
    assert out.strip() == "service/kubernetes-bootcamp exposed"
    assert "kubernetes-bootcamp   NodePort" in kubectl("get", "services")
    described = kubectl("describe", "services/kubernetes-bootcamp")
    assert "Type:                     NodePort" in described
    node_port = kubectl("get", "services/kubernetes-bootcamp", "-o", "go-template={{(index .spec.ports 0).nodePort}}")
    assert 30000 <= int(node_port) <= 32767
    node_ip = f"{NODE_PREFIX}.1"
    wait_for(lambda: BOOTCAMP.match(_try_get(f"http://{node_ip}:{node_port}")) is not None, 15,
             message="the NodePort answers")
    assert "app=kubernetes-bootcamp" in kubectl("describe", "deployment")
    assert pod in kubectl("get", "pods", "-l", "app=kubernetes-bootcamp")
    assert "kubernetes-bootcamp" in kubectl("get", "services", "-l", "app=kubernetes-bootcamp")
    assert kubectl("label", "pods", pod, "version=v1").strip() == f"pod/{pod} labeled"
    assert "version=v1" in kubectl("describe", "pods", pod)
    assert pod in kubectl("get", "pods", "-l", "version=v1")
    assert kubectl("delete", "service", "-l", "app=kubernetes-bootcamp").strip() == (
        'service "kubernetes-bootcamp" deleted')
    wait_for(lambda: _try_get(f"http://{node_ip}:{node_port}") == "", 15, message="the NodePort stops answering")

    # -- Module 5: scale up -------------------------------------------------------------
    assert "kubernetes-bootcamp-" in kubectl("get", "rs")
    assert kubectl("scale", "deployments/kubernetes-bootcamp", "--replicas=4").strip() == (
        "deployment.apps/kubernetes-bootcamp scaled")
    kubectl("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=60s")
    assert kubectl("get", "deployments").splitlines()[1].split()[:4] == ["kubernetes-bootcamp", "4/4", "4", "4"]
    wide = kubectl("get", "pods", "-o", "wide")
    assert len(set(re.findall(r"127\.217\.\d+\.\d+", wide))) == 4
    assert "Replicas:               4 desired | 4 updated | 4 total | 4 available" in kubectl(
        "describe", "deployments/kubernetes-bootcamp")
    kubectl("expose", "deployment/kubernetes-bootcamp", "--type=NodePort", "--port", "8080")
    node_port = kubectl("get", "services/kubernetes-bootcamp", "-o", "go-template={{(index .spec.ports 0).nodePort}}")
    wait_for(lambda: BOOTCAMP.match(_try_get(f"http://{node_ip}:{node_port}")) is not None, 15,
             message="the NodePort answers again")
    seen = {m.group(1) for m in (BOOTCAMP.match(_try_get(f"http://{node_ip}:{node_port}")) for _ in range(40)) if m}
    assert len(seen) >= 3, seen  # the load spreads over the pods
    assert kubectl("scale", "deployments/kubernetes-bootcamp", "--replicas=2").strip() == (
        "deployment.apps/kubernetes-bootcamp scaled")
    wait_for(lambda: len(kubectl.pod_names()) == 2, 30, message="two pods left")

    # -- Module 6: update the app -------------------------------------------------------
    out = kubectl("set", "image", "deployments/kubernetes-bootcamp",
                  "kubernetes-bootcamp=docker.io/jocatalin/kubernetes-bootcamp:v2")
    assert out.strip() == "deployment.apps/kubernetes-bootcamp image updated"
    status = kubectl("rollout", "status", "deployments/kubernetes-bootcamp", "--timeout=90s")
    assert status.splitlines()[-1] == 'deployment "kubernetes-bootcamp" successfully rolled out'
    wait_for(lambda: _version(f"http://{node_ip}:{node_port}") == "2", 15, message="v=2 answers")
    kubectl("set", "image", "deployments/kubernetes-bootcamp", "kubernetes-bootcamp=gcr.io/google-samples/kubernetes-bootcamp:v10")
    wait_for(lambda: re.search(r"ErrImagePull|ImagePullBackOff", kubectl("get", "pods")) is not None, 30,
             message="the v10 pods fail to pull")
    assert "gcr.io/google-samples/kubernetes-bootcamp:v10" in kubectl("describe", "pods")
    assert kubectl("rollout", "undo", "deployments/kubernetes-bootcamp").strip() == (
        "deployment.apps/kubernetes-bootcamp rolled back")
    kubectl("rollout", "status", "deployments/kubernetes-bootcamp", "--timeout=90s")
    assert "ImagePullBackOff" not in kubectl("get", "pods")
    assert "docker.io/jocatalin/kubernetes-bootcamp:v2" in kubectl("describe", "pods")
    assert _version(f"http://{node_ip}:{node_port}") == "2"


def _try_get(url: str) -> str:
    try:
        return get(url, timeout=2).strip()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return ""


def _version(url: str) -> str | None:
    match = BOOTCAMP.match(_try_get(url))
    return match.group(2) if match else None
