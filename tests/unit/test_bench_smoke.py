"""bench/api.py still runs: a tiny run of every section checks the JSON it
produces has its keys. Not a timed assertion: the figures are not checked."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench_api() -> Iterator[ModuleType]:
    """bench/api.py imported as ``bench.api`` from the repository root (its
    worker processes are spawned and import it again by that name)."""
    sys.path.insert(0, str(REPO))
    try:
        yield importlib.import_module("bench.api")
    finally:
        sys.path.remove(str(REPO))


@pytest.mark.timeout(120)
def test_tiny_run_produces_every_key(bench_api: ModuleType, tmp_path: Path) -> None:
    """200 writes, 2 subscribers and 100 pods give the full JSON shape."""
    cfg = bench_api.BenchConfig(
        writes=200, concurrency=(1, 4), raw_inserts=200, subscribers=(2,), subscriber_procs=2,
        watch_events=20, watch_rate=100.0, list_pods=100, lists=3, flood_requests=300,
    )
    out = bench_api.run(cfg)
    json.dumps(out)  # JSON-ready
    assert set(out) >= {"config", "machine", "writes", "raw_sqlite", "write_ratio", "watch", "list", "targets"}
    levels = out["writes"]["levels"]
    assert [lv["concurrency"] for lv in levels] == [1, 4]
    assert all(lv["errors"] == 0 and lv["writes_per_s"] > 0 for lv in levels)
    assert set(levels[0]["ack_latency_ms"]) == {"p50", "p90", "p99", "max", "mean"}
    assert out["raw_sqlite"]["inserts_per_s"] > 0 and out["raw_sqlite"]["journal_mode"] == "wal"
    assert set(out["write_ratio"]["by_concurrency"]) == {"1", "4"}
    watch = out["watch"]["levels"][0]
    assert watch["subscribers"] == 2 and watch["missing"] == 0 and watch["samples"] == 40
    assert set(watch["latency_ms"]) == {"p50", "p90", "p99", "max", "mean"}
    assert "ack_to_handler_ms" in watch
    assert out["list"]["pods"] == 100 and out["list"]["lists"] == 3
    assert set(out["targets"]) == {"writes_vs_raw_sqlite", "watch_p99_ms"}
    flood = out["flood"]
    assert flood["bad_requests"] == 300 and flood["bad_non_4xx"] == 0
    assert set(flood["good_during_flood_ms"]) == {"p50", "p90", "p99", "max", "mean"}


@pytest.mark.timeout(120)
def test_profile_adds_hot_spots(bench_api: ModuleType, tmp_path: Path) -> None:
    """--profile puts the apiserver's and the subscribers' top functions in the JSON."""
    cfg = bench_api.BenchConfig(
        writes=50, concurrency=(2,), raw_inserts=50, subscribers=(1,), subscriber_procs=1, watch_events=10,
        watch_rate=100.0, list_pods=20, lists=1, profile_dir=str(tmp_path / "prof"), sections=("writes", "watch"),
    )
    out = bench_api.run(cfg)
    assert set(out["profile"]) == {"writes-c2", "watch-s1"}
    assert out["profile"]["writes-c2"][0].keys() == {"function", "calls", "tottime_s", "cumtime_s"}
    assert out["watch"]["levels"][0]["profile"]
