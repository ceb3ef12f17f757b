"""The arithmetic and the formatting behind ``kubectl top``: :mod:`kubelet.stats`
on fixture ``/proc`` and cgroup files, :mod:`kemu.metrics` on fixture figures."""

from __future__ import annotations

import doctest
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import kemu.metrics
import kubelet.stats
from kemu import metrics
from kemu.client import Unavailable
from kubelet import stats


@pytest.mark.parametrize("module", [kubelet.stats, kemu.metrics])
def test_doctests(module: Any) -> None:
    assert doctest.testmod(module).failed == 0


def _stat_line(pid: int, comm: str, state: str, ppid: int, session: int, utime: int, stime: int,
               cutime: int, cstime: int, start: int, rss: int) -> str:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime cutime cstime priority nice threads itreal starttime vsize rss ...
    return (f"{pid} ({comm}) {state} {ppid} {session} {session} 0 -1 0 0 0 0 0 "
            f"{utime} {stime} {cutime} {cstime} 20 0 1 0 {start} 1000 {rss} 18446744073709551615 0 0\n")


def _proc(root: Path, pid: int, line: str) -> None:
    (root / str(pid)).mkdir(parents=True)
    (root / str(pid) / "stat").write_text(line)


def test_tree_usage_on_a_fixture_proc(tmp_path: Path) -> None:
    # The container's main process (session leader 100), a child with a
    # space and a paren in its name, a zombie, a process of another session,
    # and a reused pid in the same session started before the container.
    _proc(tmp_path, 100, _stat_line(100, "sh", "S", 50, 100, 200, 100, 40, 10, 5000, 300))
    _proc(tmp_path, 101, _stat_line(101, "my (worker)", "R", 100, 100, 500, 0, 0, 0, 5100, 700))
    _proc(tmp_path, 102, _stat_line(102, "dead", "Z", 100, 100, 999, 999, 0, 0, 5200, 0))
    _proc(tmp_path, 200, _stat_line(200, "other", "R", 1, 200, 10_000, 0, 0, 0, 100, 10_000))
    _proc(tmp_path, 103, _stat_line(103, "old", "S", 1, 100, 777, 0, 0, 0, 4000, 777))
    (tmp_path / "self").mkdir()
    procs = stats.scan_proc(tmp_path)
    assert sorted(procs) == [100, 101, 103, 200]  # the zombie is not counted
    cpu_ns, memory, count = stats.tree_usage(procs.values(), 100, 5000, ticks=100, page=4096)  # type: ignore[misc]
    assert count == 2
    assert cpu_ns == (200 + 100 + 40 + 10 + 500) * 10_000_000  # ticks of 10 ms
    assert memory == (300 + 700) * 4096
    assert stats.tree_usage(procs.values(), 100, 4999) is None  # the leader is someone else now
    assert stats.tree_usage(procs.values(), 300, None) is None  # no such container


def test_status_rss() -> None:
    text = "Name:\tpython3\nVmPeak:\t  90000 kB\nVmRSS:\t   61440 kB\nRssAnon:\t 60000 kB\n"
    assert stats.status_rss(text) == 61440 * 1024
    assert stats.status_rss("Name:\tkthreadd\n") is None


def test_cgroup_v2_working_set(tmp_path: Path) -> None:
    (tmp_path / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    (tmp_path / "memory.current").write_text("104857600\n")
    (tmp_path / "memory.stat").write_text("anon 62914560\nfile 41943040\ninactive_file 20971520\nactive_file 20971520\n")
    usage = stats.cgroup_usage(tmp_path)
    assert usage == stats.CgroupUsage(cpu_ns=2_500_000_000, working_set=104857600 - 20971520)


def test_cgroup_v1_working_set(tmp_path: Path) -> None:
    (tmp_path / "cpuacct.usage").write_text("123456789\n")
    (tmp_path / "memory.usage_in_bytes").write_text("50000000\n")
    (tmp_path / "memory.stat").write_text("cache 1000\ntotal_inactive_file 60000000\n")
    usage = stats.cgroup_usage(tmp_path)
    assert usage == stats.CgroupUsage(cpu_ns=123456789, working_set=0)  # never negative
    assert stats.cgroup_usage(tmp_path / "gone") is None


def test_nanocores_over_a_window() -> None:
    assert stats.nanocores(0, 2_000_000_000, 4.0) == 500_000_000
    assert stats.nanocores(10, 5, 1.0) == 0
    assert stats.nanocores(0, 100, 0.0) == 0
    assert stats.rate_window(1.0, 2.0) == "1s"


class _Handle:
    def __init__(self, cid: str, pid: int) -> None:
        self.container_id, self.pid, self._pid_start = cid, pid, None

    def poll(self) -> None:
        return None


def test_summary_rates_a_real_session(tmp_path: Path) -> None:
    """A real sample of a real process: a child that leads its own session,
    as a container's main process does (the test's own session may have no
    leader left, as under CI's shell)."""
    child = subprocess.Popen([sys.executable, "-c", "x = bytearray(4 << 20); import time; time.sleep(60)"],
                             start_new_session=True)
    try:
        handle = _Handle("kemu://abc", child.pid)
        rec = SimpleNamespace(uid="u1", namespace="default", name="web", pod={"metadata": {"labels": {"app": "web"}}},
                              last_seen=None, terminated=False, finished=False, handles={"main": handle})
        pods = SimpleNamespace(lock=threading.Lock(), records={"u1": rec})
        provider = stats.StatsProvider(pods, min_window=0.2)
        summary = provider.summary("node-1")
        assert summary["window"].endswith("s") and summary["timestamp"].endswith("Z")
        assert summary["node"]["name"] == "node-1"
        [pod] = summary["pods"]
        assert (pod["namespace"], pod["name"], pod["labels"]) == ("default", "web", {"app": "web"})
        [container] = pod["containers"]
        assert container["name"] == "main" and container["workingSetBytes"] > 0
        assert summary["node"]["workingSetBytes"] >= container["workingSetBytes"]
    finally:
        child.kill()
        child.wait(timeout=10)


def _node(name: str, cpu: str = "4", memory: str = "8Gi", ready: bool = True) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": cpu, "memory": memory}, "capacity": {"cpu": cpu, "memory": memory},
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "addresses": [{"type": "InternalIP", "address": "127.0.1.1"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}


SUMMARY = {
    "node": {"name": "node-1", "usageNanoCores": 1_000_000_000, "workingSetBytes": 2 * 1024**3},
    "pods": [
        {"namespace": "default", "name": "burner", "uid": "1", "labels": {"role": "burner"},
         "containers": [{"name": "burn", "usageNanoCores": 944_123_456, "workingSetBytes": 1_200_000}]},
        {"namespace": "default", "name": "hog", "uid": "2", "labels": {"role": "hog"},
         "containers": [{"name": "hold", "usageNanoCores": 100_000, "workingSetBytes": 70 * 1024**2},
                        {"name": "side", "usageNanoCores": 2_000_000, "workingSetBytes": 1024**2}]},
    ],
    "timestamp": "2026-12-04T14:00:00Z",
    "window": "1.002s",
}


def test_metrics_objects() -> None:
    scraped = metrics.NodeStats(_node("node-1"), SUMMARY)
    node = metrics.node_metrics(scraped)
    assert node["kind"] == "NodeMetrics" and node["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert node["usage"] == {"cpu": "1000000000n", "memory": "2Gi"}
    assert node["window"] == "1.002s" and node["timestamp"] == "2026-12-04T14:00:00Z"
    pods = metrics.pod_metrics(scraped)
    assert [p["metadata"]["name"] for p in pods] == ["burner", "hog"]
    assert pods[1]["containers"][0]["usage"] == {"cpu": "100000n", "memory": "70Mi"}
    assert pods[0]["metadata"]["labels"] == {"role": "burner"}


def test_kubectl_formatting() -> None:
    assert metrics.format_cpu("944123456n") == "945m"
    assert metrics.format_cpu("0") == "0m"
    assert metrics.format_memory("1171875Ki") == "1144Mi"
    assert metrics.format_memory("1200000") == "1Mi"


def test_top_pods_table() -> None:
    pods = metrics.pod_metrics(metrics.NodeStats(_node("node-1"), SUMMARY))
    header, rows = metrics.top_pods_rows(pods)
    assert header == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert rows == [["burner", "945m", "1Mi"], ["hog", "3m", "71Mi"]]
    header, rows = metrics.top_pods_rows(pods, sort_by="memory", all_namespaces=True)
    assert header[0] == "NAMESPACE" and [r[1] for r in rows] == ["hog", "burner"]
    header, rows = metrics.top_pods_rows(pods, containers=True)
    assert header == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert rows == [["burner", "burn", "945m", "1Mi"], ["hog", "hold", "1m", "70Mi"], ["hog", "side", "2m", "1Mi"]]
    text = metrics.format_table(header, rows)
    assert text.splitlines()[0] == "POD      NAME   CPU(cores)   MEMORY(bytes)   "


def test_top_nodes_table() -> None:
    scraped = metrics.NodeStats(_node("node-1"), SUMMARY)
    nodes = [_node("node-1"), _node("node-2")]
    header, rows = metrics.top_nodes_rows([metrics.node_metrics(scraped)], nodes)
    assert header == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    assert rows == [["node-1", "1000m", "25%", "2048Mi", "25%"],
                    ["node-2", "<unknown>", "<unknown>", "<unknown>", "<unknown>"]]


def test_scraper_leaves_out_silent_and_not_ready_nodes() -> None:
    asked: list[str] = []

    class Scraper(metrics.Scraper):
        def _one(self, node: dict[str, Any]) -> metrics.NodeStats:
            asked.append(node["metadata"]["name"])
            if node["metadata"]["name"] == "node-2":
                raise Unavailable("tcp://127.0.1.2:10250", "call", 1.0)
            return metrics.NodeStats(node, SUMMARY)

    nodes = [_node("node-1"), _node("node-2"), _node("node-3", ready=False)]
    scraper = Scraper(lambda: nodes, resolution=60.0, timeout=1.0)
    try:
        assert [s.name for s in scraper.scrape()] == ["node-1"]
        assert [s.name for s in scraper.scrape()] == ["node-1"]  # from the cache
    finally:
        scraper.close()
    assert sorted(asked) == ["node-1", "node-2"]
