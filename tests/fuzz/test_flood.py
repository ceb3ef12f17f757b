"""A good client is served while another floods the request socket with
bad requests (issue 20). The latency figures are bench/api.py's ``flood``
section; this test reuses its flooding client and asserts only a generous
bound: every good request answered within 5 s."""

from __future__ import annotations

import importlib
import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from kemu.client import Client
from kemu.testing import ApiServerProcess

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]

BOUND = 5.0
"""Seconds a good request may take during the flood: generous, as the brief
says (the bench measures; before issue 20's fixes a good request waited 23 s)."""


@pytest.fixture(scope="module")
def bench_api() -> Iterator[ModuleType]:
    """bench/api.py, imported as ``bench.api`` from the repository root."""
    sys.path.insert(0, str(REPO))
    try:
        yield importlib.import_module("bench.api")
    finally:
        sys.path.remove(str(REPO))


def test_good_client_is_answered_during_a_flood_of_1000_bad_requests(
    bench_api: ModuleType, apiserver: ApiServerProcess
) -> None:
    """While 1,000 bad requests (64 in flight) are answered with 4xx, each of a
    good client's creates and gets is answered within the bound."""
    go, out = threading.Event(), queue.Queue()  # type: ignore[var-annotated]
    flooder = threading.Thread(target=bench_api._flood_worker, args=(apiserver.address, 1000, 64, go, out),
                               name="flooder", daemon=True)
    latencies: list[float] = []
    with Client(apiserver.address, timeout=BOUND) as good:  # a slower answer raises ApiError (timeout)
        good.create(bench_api.configmap("target"))
        flooder.start()
        go.set()
        try:
            i = 0
            while flooder.is_alive() or len(latencies) < 20:
                started = time.monotonic()
                if i % 2 == 0:
                    good.create(bench_api.configmap(f"good-{i}"))
                else:
                    assert good.get("ConfigMap", f"good-{i - 1}", "default")["metadata"]["name"] == f"good-{i - 1}"
                latencies.append(time.monotonic() - started)
                i += 1
        finally:
            flooder.join(30)
    result = out.get(timeout=10)
    assert result["answered"] == 1000 and result["non_4xx"] == 0, result
    assert latencies and max(latencies) < BOUND, max(latencies)
    assert good_names_stored(apiserver, i) == len(range(0, i, 2))


def good_names_stored(apiserver: ApiServerProcess, count: int) -> int:
    """How many of the good client's ConfigMaps are in the store (all of them, or a write was lost)."""
    with Client(apiserver.address, timeout=10.0) as c:
        names = {o["metadata"]["name"] for o in c.list("ConfigMap", "default")["items"]}
    return len([n for n in (f"good-{j}" for j in range(0, count, 2)) if n in names])
