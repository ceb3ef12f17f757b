"""``kubectl top`` and ``kemu top`` against a whole kemu cluster, from real figures.

Three pods run in one namespace: a CPU burner (``sh -c 'while :; do :; done'``),
a pod holding 60 MB of memory (python), and an idle ``sleep``. The kubelets
measure their process trees (:mod:`kubelet.stats`); the front door serves
``metrics.k8s.io`` (:mod:`apiserver.http.metrics`) to the real kubectl and
``kemu top`` scrapes the kubelets itself (:mod:`kemu.metrics`). The
assertions are on rows and their order, not on exact figures: the burner
uses clearly more CPU than the idle pod, the memory pod at least its 60 MB.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kemu.client import Client
from kemu.procs import wait_for
from kemu.testing import free_port, kubectl_env, running_cluster

KUBECTL = "/usr/bin/kubectl"

pytestmark = [
    pytest.mark.timeout(150),
    pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason=f"the real kubectl is not installed at {KUBECTL}"),
]

MEMORY_MB = 60
PODS = f"""\
apiVersion: v1
kind: Pod
metadata: {{name: burner, labels: {{role: burner}}}}
spec:
  containers:
  - name: burn
    image: busybox:1.36
    command: ["sh", "-c", "while :; do :; done"]
---
apiVersion: v1
kind: Pod
metadata: {{name: hog, labels: {{role: hog}}}}
spec:
  containers:
  - name: hold
    image: python:3.12
    command: ["python3", "-c", "import time; b = bytearray({MEMORY_MB} * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); time.sleep(3600)"]
---
apiVersion: v1
kind: Pod
metadata: {{name: idle, labels: {{role: idle}}}}
spec:
  containers:
  - name: sleep
    image: busybox:1.36
    command: ["sleep", "3600"]
"""



@dataclass
class Cluster:
    env: dict[str, str]
    server: str
    namespace: str

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([KUBECTL, "-n", self.namespace, *args], capture_output=True, text=True,
                                env=self.env, timeout=40, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def kemu(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-c", "from kemu.cli.main import main; main()", "--server", self.server, *args],
                                capture_output=True, text=True, timeout=40, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kemu {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="kemu-top-") as d:
        root = Path(d)
        with running_cluster(root, nodes=2, with_http=True, http_port=free_port(), with_dns=False,
                             log_level="info") as local:
            assert local.kubeconfig is not None
            env = kubectl_env(root, local.kubeconfig)
            with Client(local.spec.server, timeout=10.0) as client:
                client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "top"}})
            c = Cluster(env, local.spec.server, "top")
            c.kubectl("apply", "-f", "-", check=False)  # warms kubectl's discovery cache
            result = subprocess.run([KUBECTL, "-n", "top", "apply", "-f", "-"], input=PODS, capture_output=True,
                                    text=True, env=env, timeout=40, check=True)
            assert "pod/burner created" in result.stdout
            c.kubectl("wait", "--for=condition=Ready", "pod/burner", "pod/hog", "pod/idle", "--timeout=60s")
            yield c


def _rows(out: str) -> dict[str, list[str]]:
    lines = out.strip().splitlines()
    return {line.split()[0]: line.split() for line in lines[1:]}


def _milli(text: str) -> int:
    assert text.endswith("m"), text
    return int(text[:-1])


def _mi(text: str) -> int:
    assert text.endswith("Mi"), text
    return int(text[:-2])


def _check_pod_rows(out: str) -> dict[str, list[str]]:
    assert out.splitlines()[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    rows = _rows(out)
    assert {"burner", "hog", "idle"} <= set(rows), out
    assert _milli(rows["burner"][1]) > 300, out  # a core's spin loop, on a 2-core machine shared by others
    assert _milli(rows["burner"][1]) > 5 * max(_milli(rows["idle"][1]), 1), out
    assert _mi(rows["hog"][2]) >= MEMORY_MB, out
    assert _mi(rows["hog"][2]) > _mi(rows["idle"][2]), out
    print(out)
    return rows


def test_kubectl_top_pods(cluster: Cluster) -> None:
    out = wait_for(lambda: (r := cluster.kubectl("top", "pods", check=False)).returncode == 0 and r.stdout,
                   30, interval=1.0, message="kubectl top pods")
    _check_pod_rows(out)
    by_cpu = cluster.kubectl("top", "pods", "--sort-by=cpu").stdout
    assert by_cpu.splitlines()[1].split()[0] == "burner", by_cpu
    by_memory = cluster.kubectl("top", "pods", "--sort-by=memory").stdout
    assert by_memory.splitlines()[1].split()[0] == "hog", by_memory


def test_kubectl_top_pod_selectors_and_containers(cluster: Cluster) -> None:
    out = cluster.kubectl("top", "pods", "-l", "role=burner").stdout
    assert list(_rows(out)) == ["burner"], out
    out = cluster.kubectl("top", "pod", "hog", "--containers").stdout
    assert out.splitlines()[0].split() == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert out.splitlines()[1].split()[:2] == ["hog", "hold"], out
    out = cluster.kubectl("top", "pods", "-A").stdout
    assert out.splitlines()[0].split() == ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert any(line.split()[:2] == ["top", "burner"] for line in out.splitlines()), out


def test_kubectl_top_nodes(cluster: Cluster) -> None:
    out = cluster.kubectl("top", "nodes").stdout
    print(out)
    assert out.splitlines()[0].split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    rows = _rows(out)
    assert len(rows) == 2, out
    burner_node = cluster.kubectl("get", "pod", "burner", "-o", "jsonpath={.spec.nodeName}").stdout
    assert _milli(rows[burner_node][1]) > 300, out
    assert re.fullmatch(r"\d+%", rows[burner_node][2]), out


def test_kubectl_top_missing(cluster: Cluster) -> None:
    result = cluster.kubectl("top", "pod", "nosuchpod", check=False)
    assert result.returncode != 0
    assert 'Error from server (NotFound): pods "nosuchpod" not found' in result.stderr
    result = cluster.kubectl("top", "node", "nosuchnode", check=False)
    assert result.returncode != 0
    assert 'Error from server (NotFound): nodes "nosuchnode" not found' in result.stderr


def test_metrics_api_objects(cluster: Cluster) -> None:
    raw = cluster.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/top/pods/burner").stdout
    pod = json.loads(raw)
    assert pod["kind"] == "PodMetrics" and pod["metadata"]["name"] == "burner"
    assert pod["containers"][0]["usage"]["cpu"].endswith("n") and pod["window"].endswith("s")
    raw = cluster.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=role%3Dhog").stdout
    assert [i["metadata"]["name"] for i in json.loads(raw)["items"]] == ["hog"]
    resources = cluster.kubectl("api-resources", "--api-group=metrics.k8s.io").stdout
    assert "nodes" in resources and "pods" in resources, resources


def test_kemu_top(cluster: Cluster) -> None:
    out = cluster.kemu("top", "pods", "-n", "top").stdout
    _check_pod_rows(out)
    out = cluster.kemu("top", "pods", "-n", "top", "--sort-by", "memory").stdout
    assert out.splitlines()[1].split()[0] == "hog", out
    out = cluster.kemu("top", "pods", "-n", "top", "--containers", "-l", "role=hog").stdout
    assert out.splitlines()[0].split() == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert out.splitlines()[1].split()[:2] == ["hog", "hold"], out
    out = cluster.kemu("top", "nodes").stdout
    print(out)
    assert out.splitlines()[0].split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    assert len(_rows(out)) == 2
    result = cluster.kemu("top", "pod", "-n", "top", "nosuchpod", check=False)
    assert result.returncode != 0 and 'pods "nosuchpod" not found' in result.stderr
