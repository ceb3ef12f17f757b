"""The kubelet as a real process: pods become processes, report status, stop
gracefully, and die with their node."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kemu import testing
from kemu.client import Client
from kemu.procs import Proc, pid_alive, spawn, wait_for
from kemu.testing import ApiServerProcess, descendants
from kemu.types import Obj

pytestmark = pytest.mark.timeout(60)


def start_kubelet(apiserver: ApiServerProcess, root: Path, node: str = "node-1", ip: str = "127.0.1.1") -> Proc:
    return spawn(
        f"kubelet-{node}",
        ["kubelet", "--server", apiserver.address, "--node", node, "--node-ip", ip, "--root-dir", str(root / node),
         "--crashloop-backoff-base", "0.5", "--crashloop-backoff-max", "2"],
        root / f"kubelet-{node}.log",
    )


@pytest.fixture
def kubelet(apiserver: ApiServerProcess, client: Client, short_tmp: Path) -> Iterator[Proc]:
    proc = start_kubelet(apiserver, short_tmp)
    try:
        wait_for(lambda: client.get("Node", "node-1"), 15, message="node registration")
        # No controller manager here: give the node its podCIDR as node IPAM would.
        client.patch("Node", "node-1", {"spec": {"podCIDR": "127.244.1.0/24", "podCIDRs": ["127.244.1.0/24"]}})
        yield proc
    finally:
        proc.kill()


def pod(name: str, image: str = "nginx:1.25", **spec: object) -> Obj:
    return testing.pod(name, image=image, node="node-1", **spec)


def pod_processes(kubelet: Proc) -> set[int]:
    """The kubelet's descendants except its shim fork server (which serves every pod)."""
    out = set()
    for pid in descendants(kubelet.pid):
        try:
            if b"zygote" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                out.add(pid)
        except OSError:
            continue
    return out


def phase(client: Client, name: str) -> str:
    return client.get("Pod", name)["status"].get("phase", "")


class TestKubelet:
    def test_node_registers_ready_with_a_lease(self, client: Client, kubelet: Proc) -> None:
        """The node is Ready, has its InternalIP and renews its Lease."""
        node = client.get("Node", "node-1")
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        assert ready["Ready"] == "True"
        assert {"type": "InternalIP", "address": "127.0.1.1"} in node["status"]["addresses"]
        first = client.get("Lease", "node-1", "kube-node-lease")["spec"]["renewTime"]
        wait_for(lambda: client.get("Lease", "node-1", "kube-node-lease")["spec"]["renewTime"] != first, 5, message="lease renewal")

    def test_pod_runs_and_answers_on_its_ip(self, client: Client, kubelet: Proc) -> None:
        """An nginx pod gets an IP from the podCIDR and answers HTTP there, naming itself."""
        client.create(pod("web"))
        wait_for(lambda: phase(client, "web") == "Running", 15, message="pod running")
        status = client.get("Pod", "web")["status"]
        assert status["podIP"].startswith("127.244.1.")
        conds = {c["type"]: c["status"] for c in status["conditions"]}
        assert conds["Ready"] == "True" and conds["ContainersReady"] == "True"
        with urllib.request.urlopen(f"http://{status['podIP']}:80/", timeout=5) as resp:
            assert resp.status == 200
            assert resp.headers["X-Kemu-Pod"] == "default/web"
            assert b"Welcome to nginx!" in resp.read()

    def test_two_pods_share_port_80(self, client: Client, kubelet: Proc) -> None:
        """Two pods on one node both listen on :80, each on its own IP."""
        client.create(pod("a"))
        client.create(pod("b"))
        wait_for(lambda: phase(client, "a") == phase(client, "b") == "Running", 15, message="both running")
        ips = {client.get("Pod", n)["status"]["podIP"] for n in ("a", "b")}
        assert len(ips) == 2

    def test_crashing_container_backs_off(self, client: Client, kubelet: Proc) -> None:
        """A container that exits 3 is restarted, then shows CrashLoopBackOff with lastState."""
        client.create(pod("crash", "busybox:1.36", containers=[{"name": "c", "image": "busybox:1.36", "command": ["sh", "-c", "exit 3"]}]))

        def crashlooping() -> bool:
            cs = client.get("Pod", "crash")["status"]["containerStatuses"][0]
            return cs["restartCount"] >= 2 and cs["lastState"].get("terminated", {}).get("exitCode") == 3

        wait_for(crashlooping, 20, message="restarts")
        assert phase(client, "crash") == "Running"

    def test_restart_policy_never_fails_the_pod(self, client: Client, kubelet: Proc) -> None:
        """restartPolicy Never: a non-zero exit makes the pod Failed, 0 makes it Succeeded."""
        client.create(pod("fail", restartPolicy="Never", containers=[{"name": "c", "image": "busybox", "command": ["false"]}]))
        client.create(pod("ok", restartPolicy="Never", containers=[{"name": "c", "image": "busybox", "command": ["true"]}]))
        wait_for(lambda: phase(client, "fail") == "Failed" and phase(client, "ok") == "Succeeded", 15, message="terminal phases")

    def test_unknown_image_is_err_image_pull(self, client: Client, kubelet: Proc) -> None:
        """An image the catalog does not know goes ErrImagePull, then ImagePullBackOff."""
        client.create(pod("bad", "nginx:9.99"))

        def reason() -> str:
            cs = client.get("Pod", "bad")["status"].get("containerStatuses") or [{}]
            return cs[0].get("state", {}).get("waiting", {}).get("reason", "")

        wait_for(lambda: reason() == "ImagePullBackOff", 15, message="ImagePullBackOff")
        assert phase(client, "bad") == "Pending"

    def test_delete_stops_processes_then_removes_pod(self, client: Client, kubelet: Proc) -> None:
        """Deleting a pod stops its processes and the kubelet removes the object."""
        client.create(pod("web"))
        wait_for(lambda: phase(client, "web") == "Running", 15, message="running")
        before = pod_processes(kubelet)
        assert before
        client.delete("Pod", "web")
        wait_for(lambda: not client.list("Pod", field_selector="metadata.name=web")["items"], 20, message="pod removed")
        assert not [p for p in before if pid_alive(p) and p in pod_processes(kubelet)]

    def test_sigkill_of_kubelet_kills_every_pod_process(self, client: Client, kubelet: Proc) -> None:
        """The node is the process: SIGKILL the kubelet and no pod process survives."""
        client.create(pod("web"))
        client.create(pod("forker", containers=[{"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 1000 & sleep 1000"]}]))
        wait_for(lambda: phase(client, "web") == phase(client, "forker") == "Running", 15, message="running")
        procs = descendants(kubelet.pid)
        assert len(procs) >= 4  # shims, nginx, sh, sleeps
        kubelet.kill()
        wait_for(lambda: not [p for p in procs if pid_alive(p)], 10, message="every pod process gone")

    def test_restarted_kubelet_rejoins_and_cleans_terminating_pods(self, apiserver: ApiServerProcess, client: Client,
                                                                   kubelet: Proc, short_tmp: Path) -> None:
        """A pod deleted while its kubelet was dead is finished when a new kubelet comes up."""
        client.create(pod("web"))
        wait_for(lambda: phase(client, "web") == "Running", 15, message="running")
        kubelet.kill()
        client.delete("Pod", "web")
        assert client.get("Pod", "web")["metadata"]["deletionTimestamp"]
        again = start_kubelet(apiserver, short_tmp)
        try:
            wait_for(lambda: not client.list("Pod", field_selector="metadata.name=web")["items"], 20, message="stale pod cleaned")
        finally:
            again.kill()
