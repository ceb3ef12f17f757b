"""The HTTP front door's watches: fan-out latency, and resume replays.

One apiserver and one ``python -m apiserver.http`` (ipc sockets, a
temporary directory). W HTTP watchers (threads of this process, each a
chunked ``GET ...?watch=1`` read line by line) watch ConfigMaps while one
writer creates N of them at a steady rate, each carrying its send time
(``time.monotonic()``, system-wide on Linux) in an annotation:

- ``latency_ms``: send -> the event's line read by a watcher (request,
  commit, publish, the front door's informer and fan-out, HTTP);
- ``front_door_cpu_per_delivery_us``: the front door's CPU (from ``/proc``)
  over the run, per event delivered to one watcher;
- ``resume_ms``: a watch from the resourceVersion before the N creates,
  until its N events are read: served from the front door's history
  (``--default-watch-cache-size``, default 5000) or, with ``--ring 0``,
  from the apiserver's.

    python bench/httpwatch.py                  # W=1,10, N=300 at 50/s
    python bench/httpwatch.py --watchers 1,10,50 --events 500
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from apiserver.http.testing import HttpFrontDoor  # noqa: E402
from kemu.client import Client  # noqa: E402
from kemu.testing import ApiServerProcess  # noqa: E402

SENT = "bench.kemu.io/sent"
PATH = "/api/v1/namespaces/default/configmaps"


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    s = sorted(samples)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))]  # noqa: E731
    return {"p50": round(pick(0.5), 3), "p90": round(pick(0.9), 3), "p99": round(pick(0.99), 3),
            "max": round(s[-1], 3), "mean": round(statistics.fmean(s), 3)}


class HttpWatcher(threading.Thread):
    """One watch stream; stamps the ADDED events it reads."""

    def __init__(self, url: str, query: str, expect: int, prefix: str):
        super().__init__(daemon=True)
        self.url, self.query, self.expect, self.prefix = url, query, expect, prefix
        self.latencies: list[float] = []
        self.started = threading.Event()
        self.done = threading.Event()
        self.first_request_at = 0.0
        self.finished_at = 0.0

    def run(self) -> None:
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        try:
            self.first_request_at = time.monotonic()
            conn.request("GET", f"{PATH}?watch=1&{self.query}")
            response = conn.getresponse()
            self.started.set()
            while len(self.latencies) < self.expect:
                line = response.readline()
                if not line:
                    break
                now = time.monotonic()
                event = json.loads(line)
                meta = event["object"].get("metadata", {})
                if event["type"] == "ADDED" and meta.get("name", "").startswith(self.prefix):
                    self.latencies.append((now - float(meta["annotations"][SENT])) * 1000)
            self.finished_at = time.monotonic()
        finally:
            conn.close()
            self.started.set()
            self.done.set()


def run_level(door: HttpFrontDoor, client: Client, watchers: int, events: int, rate: float, level: str) -> dict[str, Any]:
    rv = client.list_all("ConfigMap", "default")["metadata"]["resourceVersion"]
    prefix = f"{level}-"
    streams = [HttpWatcher(door.url, f"resourceVersion={rv}&timeoutSeconds=120", events, prefix) for _ in range(watchers)]
    for w in streams:
        w.start()
    for w in streams:
        w.started.wait(30)
    time.sleep(0.5)  # the streams are open and registered
    assert door.proc is not None
    cpu_before = _cpu_seconds(door.proc.pid)
    interval = 1.0 / rate
    next_at = time.monotonic()
    for i in range(events):
        next_at += interval
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sent = repr(time.monotonic())
        client.create({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": f"{prefix}{i}", "namespace": "default", "annotations": {SENT: sent}}})
    for w in streams:
        w.done.wait(30)
    cpu = _cpu_seconds(door.proc.pid) - cpu_before
    samples = [x for w in streams for x in w.latencies]
    resume = HttpWatcher(door.url, f"resourceVersion={rv}&timeoutSeconds=60", events, prefix)
    resume.run()
    return {
        "watchers": watchers,
        "events": events,
        "rate_per_s": rate,
        "samples": len(samples),
        "missing": watchers * events - len(samples),
        "latency_ms": _percentiles(samples),
        "front_door_cpu_per_delivery_us": round(cpu / max(1, len(samples)) * 1e6, 1),
        "resume_ms": round((resume.finished_at - resume.first_request_at) * 1000, 1),
        "resume_events": len(resume.latencies),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--watchers", default="1,10", help="Watcher counts, comma-separated [1,10].")
    ap.add_argument("--events", type=int, default=300, help="Creates per level [300].")
    ap.add_argument("--rate", type=float, default=50.0, help="Creates per second [50].")
    ap.add_argument("--ring", type=int, default=None, help="The front door's --default-watch-cache-size [its default].")
    args = ap.parse_args()
    levels = []
    with tempfile.TemporaryDirectory(prefix="kemu-hw-") as tmp:
        root = Path(tmp)
        server = ApiServerProcess(root)
        extra = [] if args.ring is None else ["--default-watch-cache-size", str(args.ring)]
        door = HttpFrontDoor(root, server.address, extra_args=extra)
        try:
            server.start()
            door.start()
            with Client(server.address, timeout=10.0) as client:
                for n in (int(x) for x in args.watchers.split(",")):
                    levels.append(run_level(door, client, n, args.events, args.rate, f"w{n}"))
                    print(f"http watch w={n}: p99 {levels[-1]['latency_ms'].get('p99')} ms", file=sys.stderr)
        finally:
            door.stop()
            door.kill()
            server.stop()
            server.kill()
    print(json.dumps({"config": vars(args), "levels": levels}, indent=2))


if __name__ == "__main__":
    main()
