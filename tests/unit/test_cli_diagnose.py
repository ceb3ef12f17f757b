"""kemu get's hint and kemu up's refusal agree on a cluster's state (issue 22, point 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kemu.cli import diagnose
from kemu.cli.diagnose import Condition, RecordedCluster, examine, find_cluster, unreachable_hint, up_refusal

SERVER = "tcp://127.0.0.1:7300"
PIDS = {"apiserver": 101, "controllermanager": 102, "scheduler": 103, "kubelet-node-1": 104}


def record(data_dir: Path, server: str = SERVER) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "cluster.json").write_text(json.dumps(
        {"server": server, "data_dir": str(data_dir), "pids": PIDS, "nodes": {}, "spec": {}}))
    return data_dir


def cluster(tmp_path: Path, *running: str) -> RecordedCluster:
    alive = {PIDS[name] for name in running}
    found = examine(record(tmp_path / "c"), alive=lambda pid: pid in alive)
    assert found is not None
    return found


class TestCondition:
    def test_nothing_running_is_stopped(self, tmp_path: Path) -> None:
        """A record whose processes are all gone is a stopped cluster."""
        assert cluster(tmp_path).condition is Condition.STOPPED

    def test_apiserver_gone_others_running_is_half_dead(self, tmp_path: Path) -> None:
        """kill -9 of the apiserver leaves the cluster half dead."""
        assert cluster(tmp_path, "scheduler", "kubelet-node-1").condition is Condition.HALF_DEAD

    def test_a_killed_node_is_still_running(self, tmp_path: Path) -> None:
        """A node killed in a drill does not make the cluster half dead."""
        assert cluster(tmp_path, "apiserver", "controllermanager", "scheduler").condition is Condition.RUNNING

    def test_no_record(self, tmp_path: Path) -> None:
        """A data dir without cluster.json, or with one kemu did not write, is no cluster."""
        assert examine(tmp_path) is None
        (tmp_path / "cluster.json").write_text('{"surprise": 1}')
        assert examine(tmp_path) is None


class TestMessagesAgree:
    def test_half_dead(self, tmp_path: Path) -> None:
        """After kill -9 of the apiserver both say: kemu down, then kemu up, naming what still runs."""
        c = cluster(tmp_path, "controllermanager", "scheduler", "kubelet-node-1")
        down, up = f"kemu down --data-dir {c.data_dir}", f"kemu up --data-dir {c.data_dir}"
        assert unreachable_hint(c, refused=True) == (
            f"the apiserver of the cluster in {c.data_dir} is gone (pid 101 exited) while controllermanager,"
            f" kubelet-node-1, scheduler still run: run `{down}` to stop them, then `{up}`"
        )
        assert up_refusal(c) == (
            f"error: the cluster in {c.data_dir} is half dead: apiserver gone, controllermanager,"
            f" kubelet-node-1, scheduler still running: run `{down}` to stop them, then `{up}`"
        )

    def test_stopped(self, tmp_path: Path) -> None:
        """With nothing left, get says kemu up, and kemu up does not refuse."""
        c = cluster(tmp_path)
        assert f"run `kemu up --data-dir {c.data_dir}` to start it again" in unreachable_hint(c, refused=True)
        assert up_refusal(c) is None

    def test_frozen_apiserver(self, tmp_path: Path) -> None:
        """An apiserver that exists but is silent is named with its pid and kill -CONT."""
        c = cluster(tmp_path, *PIDS)
        assert "(pid 101) runs but does not answer; if it was frozen, `kill -CONT 101`" in unreachable_hint(c, refused=False)
        assert up_refusal(c) == (
            f"error: a cluster is already running from {c.data_dir} (apiserver, controllermanager, kubelet-node-1,"
            f" scheduler running): `kemu down --data-dir {c.data_dir}` stops it"
        )

    def test_nothing_recorded(self) -> None:
        """No record: start one with kemu up, and up may go ahead."""
        assert unreachable_hint(None, refused=True) == "is the apiserver running? start one with `kemu up`"
        assert up_refusal(None) is None

    def test_default_data_dir_needs_no_flag(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The commands named carry --data-dir only outside the default place."""
        monkeypatch.setattr(diagnose, "DEFAULT_DATA_DIR", tmp_path / "c")
        c = cluster(tmp_path, "scheduler")
        assert unreachable_hint(c, refused=True).endswith("run `kemu down` to stop them, then `kemu up`")


class TestFindCluster:
    def test_by_server(self, tmp_path: Path) -> None:
        """The record whose server is the one asked about is found; another server's is not."""
        other, mine = record(tmp_path / "other", "tcp://127.0.0.1:9999"), record(tmp_path / "mine")
        found = find_cluster(SERVER, dirs=[other, mine], alive=lambda _pid: False)
        assert found is not None and found.data_dir == mine
        assert find_cluster("tcp://127.0.0.1:1", dirs=[other, mine]) is None
