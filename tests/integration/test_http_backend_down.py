"""The front door while its apiserver is stopped, dead, and back (issue 22, point 3).

The real kubectl against a real front door and apiserver: with the apiserver
frozen (SIGSTOP) or killed, ``kubectl get pods`` must end with a
``ServiceUnavailable`` error instead of hanging, ``/readyz`` must fail its
``apiserver`` check as kube-apiserver fails ``etcd``, ``/livez`` stays ok; once
the apiserver runs again, the same front door serves kubectl with no restart.
"""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from apiserver.http.testing import HttpFrontDoor, self_signed_certificate
from kemu.procs import wait_for
from kemu.testing import ApiServerProcess, kubectl_env

KUBECTL = "/usr/bin/kubectl"
TOKEN = "backend-down-token"

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not os.access(KUBECTL, os.X_OK), reason=f"the real kubectl is not installed at {KUBECTL}"),
]


@dataclass
class Door:
    server: ApiServerProcess
    door: HttpFrontDoor
    env: dict[str, str]

    def kubectl(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=self.env, timeout=timeout,
                              check=False)

    def readyz(self, query: str = "") -> tuple[int, str]:
        try:
            return 200, self.door.get("/readyz" + query, timeout=10).decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def backend_down(self) -> bool:
        return self.readyz()[0] == 500


@pytest.fixture
def setup(short_tmp: Path) -> Iterator[Door]:
    server = ApiServerProcess(short_tmp)
    door = HttpFrontDoor(short_tmp, server.address, token=TOKEN, tls=self_signed_certificate(short_tmp))
    if door.tls is None:
        door.token = None  # without openssl: plain HTTP, where kubectl would not send a token
    try:
        server.start()
        door.start()
        yield Door(server, door, kubectl_env(short_tmp, door.write_kubeconfig(short_tmp / "kubeconfig")))
    finally:
        if server.proc is not None:
            server.proc.signal(signal.SIGCONT)  # a stopped process ignores SIGTERM until continued
        door.stop()
        door.kill()
        server.stop()
        server.kill()


def _assert_unavailable(result: subprocess.CompletedProcess[str]) -> None:
    print(result.stderr)  # shown with -s: what a user reads
    assert result.returncode != 0, result.stdout
    assert "ServiceUnavailable" in result.stderr, result.stderr
    assert "is not answering" in result.stderr, result.stderr


class TestBackendDown:
    def test_stopped_apiserver_fails_kubectl_then_recovers(self, setup: Door) -> None:
        """kubectl get pods fails with ServiceUnavailable while the apiserver is frozen, and works after SIGCONT."""
        assert setup.kubectl("get", "pods").returncode == 0
        assert setup.server.proc is not None
        setup.server.proc.signal(signal.SIGSTOP)
        wait_for(setup.backend_down, 20, message="/readyz to notice the stopped apiserver")
        # No --request-timeout: kubectl's default is to wait forever, so only the
        # front door's prompt 503 (without Retry-After) ends this within the bound.
        _assert_unavailable(setup.kubectl("get", "pods", timeout=20))
        _assert_unavailable(setup.kubectl("get", "deployments", "-A", "--request-timeout=15s", timeout=20))
        setup.server.proc.signal(signal.SIGCONT)
        wait_for(lambda: not setup.backend_down(), 20, message="/readyz to see the apiserver again")
        result = setup.kubectl("get", "pods", timeout=30)
        assert result.returncode == 0, result.stderr

    def test_killed_apiserver_readyz_livez_and_restart(self, setup: Door) -> None:
        """After kill -9, /readyz fails its apiserver check (reason withheld), /livez is ok; a restart is found."""
        setup.server.kill()
        wait_for(setup.backend_down, 20, message="/readyz to notice the killed apiserver")
        code, body = setup.readyz()
        assert code == 500
        assert body == "[+]ping ok\n[-]apiserver failed: reason withheld\nreadyz check failed\n"
        assert setup.readyz("?verbose")[1] == body
        assert setup.door.get("/livez").decode() == "ok"
        assert setup.door.get("/livez?verbose").decode() == "[+]ping ok\nlivez check passed\n"
        _assert_unavailable(setup.kubectl("get", "pods", timeout=20))
        assert "at " + setup.server.address in setup.kubectl("get", "pods", "-o", "name", timeout=20).stderr

        setup.server.start()
        wait_for(lambda: not setup.backend_down(), 20, message="/readyz to see the restarted apiserver")
        assert setup.readyz("?verbose") == (200, "[+]ping ok\n[+]apiserver ok\nreadyz check passed\n")
        result = setup.kubectl("create", "namespace", "after-restart", timeout=30)
        assert result.returncode == 0, result.stderr
        result = setup.kubectl("get", "namespace", "after-restart", "-o", "name", timeout=30)
        assert result.stdout.strip() == "namespace/after-restart", result.stderr
