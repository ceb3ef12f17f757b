"""``kemu down`` stops every process of its cluster, also one restarted by
hand from its command line, says which, and touches nothing else (a
component of another cluster, a process that only mentions the data dir)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from kemu.leftovers import addresses, cluster_processes, read_cmdline
from kemu.procs import pid_alive, wait_for
from kemu.testing import descendants, free_port_pair, running_cluster

pytestmark = pytest.mark.timeout(180)


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, KEMU_LOG_FORMAT="json", PYTHONUNBUFFERED="1")
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def test_down_stops_a_kubelet_restarted_by_hand_and_nothing_else() -> None:
    """The hand-started kubelet is stopped and named; other clusters' and unrelated processes live on."""
    from kemu.cli.main import cli

    extra: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="kemu-down-") as d, tempfile.TemporaryDirectory(prefix="kemu-other-") as o:
        root, other = Path(d), Path(o)
        try:
            with running_cluster(root, nodes=2, with_dns=False, log_level="info", pod_sandbox=False) as local:
                old = local.state.pids["kubelet-node-2"]
                argv = read_cmdline(old)
                assert argv and "kubelet" in argv
                # What a user does: kill it, paste its command line from /proc.
                os.kill(old, signal.SIGKILL)
                wait_for(lambda: not pid_alive(old), 10, message="the old kubelet to die")
                by_hand = _spawn(argv, root / "logs" / "kubelet-node-2.by-hand.log")
                extra.append(by_hand)
                # Another cluster's kubelet (its own data dir and apiserver) and a
                # process that only names this data dir: neither is this cluster's.
                port = free_port_pair()
                theirs = _spawn([sys.executable, "-m", "kubelet", "--server", f"tcp://127.0.0.1:{port}", "--node",
                                 "node-2", "--node-ip", "127.0.9.2", "--root-dir", str(other / "nodes" / "node-2"),
                                 "--pod-network", ""], other / "kubelet.log")
                bystander = _spawn([sys.executable, "-c", "import time; time.sleep(120)", str(root / "logs")],
                                   other / "bystander.log")
                extra += [theirs, bystander]
                wait_for(lambda: (root / "logs" / "kubelet-node-2.by-hand.log").stat().st_size > 0, 20,
                         message="the hand-started kubelet to log")
                found = cluster_processes(root, addresses(local.state.server, local.state.spec), local.state.pids)
                assert {(p.name, p.recorded) for p in found if p.pid == by_hand.pid} == {("kubelet-node-2", False)}
                assert theirs.pid not in {p.pid for p in found} and bystander.pid not in {p.pid for p in found}
                pids = [p for name, p in local.state.pids.items() if pid_alive(p)]

                result = CliRunner().invoke(cli, ["down", "--data-dir", str(root), "--grace", "3"])

                assert result.exit_code == 0, result.output
                assert f"kubelet-node-2 stopped (pid {by_hand.pid}, started by hand)" in result.output
                assert "apiserver stopped" in result.output and "kubelet-node-1 stopped" in result.output
                wait_for(lambda: by_hand.poll() is not None, 10, message="the hand-started kubelet to be reaped")
                assert not [p for p in pids if pid_alive(p)]
                assert cluster_processes(root, addresses(local.state.server, local.state.spec), local.state.pids) == []
                assert not [p for p in descendants(os.getpid()) if p not in (theirs.pid, bystander.pid)
                            and (read_cmdline(p) or [""])[0] == sys.executable and "-m" in (read_cmdline(p) or [])]
                assert theirs.poll() is None and bystander.poll() is None

                again = CliRunner().invoke(cli, ["down", "--data-dir", str(root)])
                assert again.exit_code == 0 and "nothing running" in again.output
        finally:
            for proc in extra:
                if proc.poll() is None:
                    proc.kill()
                proc.wait(10)
