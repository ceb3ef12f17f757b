"""``kemu journal`` on a real cluster's logs: one pod's story from every
process in time order, -f follows new lines, and an apiserver outage reads
as a few counted warnings per process."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kemu.client import Client
from kemu.procs import wait_for
from kemu.testing import pod, running_cluster

pytestmark = pytest.mark.timeout(240)


def journal(root: Path, *args: str) -> list[dict[str, Any]]:
    """Run the real ``kemu journal`` (a fresh process, output piped: JSON lines)."""
    result = subprocess.run([sys.executable, "-m", "kemu.cli.main", "journal", "--data-dir", str(root), *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def running(client: Client, name: str) -> bool:
    return client.get("Pod", name, "default").get("status", {}).get("phase") == "Running"


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Path, Client]]:
    with tempfile.TemporaryDirectory(prefix="kemu-journal-") as d:
        root = Path(d)
        with running_cluster(root, nodes=2, with_dns=False, log_level="info", pod_sandbox=False) as local, \
                Client(local.state.server, timeout=5.0) as client:
            yield root, client


def test_one_pods_story_is_chronological_across_processes(cluster: tuple[Path, Client]) -> None:
    """--key default/story: lines of the apiserver, scheduler and a kubelet, sorted by ts."""
    root, client = cluster
    client.create(pod("story", namespace="default"))
    wait_for(lambda: running(client, "story"), 30, message="the pod to run")
    wait_for(lambda: len({e["component"] for e in journal(root, "--key", "default/story")}) >= 2, 10,
             message="the pod's lines from two components")
    lines = journal(root, "--key", "default/story")
    assert [e["ts"] for e in lines] == sorted(e["ts"] for e in lines)
    assert all(e["key"] == "default/story" for e in lines)
    components = {e["component"] for e in lines}
    assert "scheduler" in components and "kubelet" in components
    # The same lines, filtered further: one process only.
    node = client.get("Pod", "story", "default")["spec"]["nodeName"]
    only = journal(root, "--key", "default/story", "--component", f"kubelet-{node}")
    assert only and all(e["component"] == "kubelet" and e.get("node") == node for e in only)


def test_follow_prints_lines_as_they_are_written(cluster: tuple[Path, Client]) -> None:
    """-f: a pod created after the journal started shows up in its output."""
    root, client = cluster
    proc = subprocess.Popen([sys.executable, "-m", "kemu.cli.main", "journal", "--data-dir", str(root), "-f",
                             "--component", "scheduler", "--key", "default/followed"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # let it read the past (not an assertion: the line comes later either way)
        client.create(pod("followed", namespace="default"))
        sel = selectors.DefaultSelector()
        assert proc.stdout is not None
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 30
        got: dict[str, Any] | None = None
        while got is None and time.monotonic() < deadline:
            if sel.select(timeout=1.0):
                line = proc.stdout.readline()
                assert line, proc.stderr.read() if proc.stderr else ""
                got = json.loads(line)
        assert got is not None and got["key"] == "default/followed" and got["component"] == "scheduler"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_an_outage_is_a_few_counted_warnings(cluster: tuple[Path, Client]) -> None:
    """With the apiserver frozen for 8 s, no process writes the same warning twice
    within the repeat window, and the repeats are counted (repeated: N)."""
    root, client = cluster
    state = json.loads((root / "cluster.json").read_text())
    apiserver = state["pids"]["apiserver"]
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    os.kill(apiserver, signal.SIGSTOP)
    try:
        time.sleep(8)
    finally:
        os.kill(apiserver, signal.SIGCONT)
    wait_for(lambda: client.ping(timeout=0.5), 20, message="the apiserver back")
    warnings = journal(root, "--level", "warning", "--since", since)
    assert warnings, "an outage of 8 s made no warning at all"
    assert any("repeated" in e for e in warnings) or len(warnings) <= 2 * 4
    last: dict[tuple[str, ...], float] = {}
    for e in warnings:
        if "repeated" in e:
            continue  # the count of earlier lines, written when the window ended
        identity = tuple(f"{k}={e[k]!r}" for k in sorted(e) if k not in ("ts", "repeated"))
        moment = time.mktime(time.strptime(e["ts"][:19], "%Y-%m-%dT%H:%M:%S"))
        assert moment - last.get(identity, -1e9) >= 9, f"written twice within the window: {e}"
        last[identity] = moment
