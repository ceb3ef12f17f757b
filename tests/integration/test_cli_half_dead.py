"""After kill -9 of a cluster's apiserver, ``kemu get`` and ``kemu up`` agree (issue 22, point 6).

The cluster is the launcher's (what ``kemu up`` runs), on free ports and
address ranges of its own (``kemu.testing.running_cluster``), with no nodes:
only its apiserver, controller manager and scheduler matter here. The real
``kemu`` command runs as a process, with its own HOME and config naming that
cluster, so the user's ~/.kemu is never read or written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kemu.launcher import LocalCluster
from kemu.procs import pid_alive, wait_for
from kemu.testing import free_port_pair, running_cluster

pytestmark = pytest.mark.timeout(90)

KEMU = [sys.executable, "-c", "from kemu.cli.main import main; main()"]


@pytest.fixture
def cluster(short_tmp: Path) -> Iterator[LocalCluster]:
    with running_cluster(short_tmp / "cluster", nodes=0, with_dns=False, with_proxy=False) as c:
        yield c


def kemu(root: Path, cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    config = root / "kemu-config.yaml"
    config.write_text(yaml.safe_dump({"current": "t", "clusters": {
        "t": {"server": cluster.spec.server, "data_dir": str(cluster.data_dir)}}}))
    env = {**os.environ, "HOME": str(root), "KEMU_CONFIG": str(config)}
    env.pop("KEMU_SERVER", None)
    return subprocess.run([*KEMU, *args], capture_output=True, text=True, env=env, timeout=40, check=False)


class TestKilledApiserver:
    def test_get_and_up_name_the_same_fix(self, cluster: LocalCluster, short_tmp: Path) -> None:
        """kemu get and kemu up both say the apiserver is gone and that kemu down, then kemu up, fix it."""
        apiserver = cluster.state.pids["apiserver"]
        os.kill(apiserver, signal.SIGKILL)
        wait_for(lambda: not pid_alive(apiserver), 10, message="the apiserver to die")
        down, up = f"kemu down --data-dir {cluster.data_dir}", f"kemu up --data-dir {cluster.data_dir}"

        got = kemu(short_tmp, cluster, "--request-timeout", "3", "get", "pods")
        assert got.returncode == 1
        assert f"the apiserver of the cluster in {cluster.data_dir} is gone (pid {apiserver} exited)" in got.stderr
        assert f"run `{down}` to stop them, then `{up}`" in got.stderr
        assert "start one with `kemu up`" not in got.stderr

        # Should the refusal ever fail, this `kemu up` would start a cluster:
        # on free ports, with no nodes, proxies, DNS or HTTP, so it disturbs nothing.
        port = free_port_pair()
        refused = kemu(short_tmp, cluster, "up", "--data-dir", str(cluster.data_dir), "--port", str(port),
                       "--nodes", "0", "--no-proxy", "--no-dns", "--no-http", "-d")
        assert refused.returncode == 1, refused.stderr
        assert f"error: the cluster in {cluster.data_dir} is half dead: apiserver gone," in refused.stderr
        assert "controllermanager" in refused.stderr and "scheduler" in refused.stderr
        assert f"run `{down}` to stop them, then `{up}`" in refused.stderr

    def test_frozen_apiserver_names_kill_cont(self, cluster: LocalCluster, short_tmp: Path) -> None:
        """A stopped (SIGSTOP) apiserver is named with its pid and how to resume it."""
        apiserver = cluster.state.pids["apiserver"]
        os.kill(apiserver, signal.SIGSTOP)
        try:
            got = kemu(short_tmp, cluster, "--request-timeout", "2", "get", "pods")
        finally:
            os.kill(apiserver, signal.SIGCONT)
        assert got.returncode == 1
        assert f"(pid {apiserver}) runs but does not answer; if it was frozen, `kill -CONT {apiserver}`" in got.stderr
