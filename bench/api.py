"""apiserver figures: durable writes, watch fan-out latency, big lists.

Prints one JSON object. Every section starts its own apiserver
(:class:`kemu.testing.ApiServerProcess`, ipc sockets, SQLite with
``synchronous=FULL``) in a temporary directory and stops it afterwards.

**Writes** (``writes``). Creates of small ConfigMaps, a fixed number per
run, at several concurrency levels. Concurrency C means C requests in
flight, each a create acknowledged only once its batch is committed (the
server replies after the fsync). The load comes from worker *processes*
(at most one per CPU), each with one DEALER socket keeping its share of the
C requests in flight and sending the next as soon as one is acknowledged:
that is C synchronous clients without C Python threads fighting over one
GIL, so the figure is the server's, not the load generator's.

**Raw SQLite** (``raw_sqlite``). In the same run, on the same disk: single
row inserts, one transaction each, WAL with ``synchronous=FULL``, into the
store's own table layout, rows the size of a stored ConfigMap. The ratio
``writes / raw`` says what the apiserver costs over the disk; group commit
lets it exceed 1 once several clients wait at once.

**Watch** (``watch``). One writer creates ConfigMaps at a steady rate, each
carrying its send time (``time.monotonic()``, a system-wide clock on Linux)
in an annotation. S subscribers, real :class:`kemu.informer.Informer`
objects spread over a few subprocesses (so one GIL does not serialise all of
them and hide the server's behaviour), stamp each event when their handler
runs. ``latency_ms`` is send -> handler (request, commit, publish,
delivery, decode); ``ack_to_handler_ms`` subtracts the writer's ack time,
which the server sends just before it publishes, so it approximates
publish -> handler. The rate is kept low (50/s by default) so that the
subscribers' own CPU does not saturate a small machine: the figure is
latency, not queueing. ``subscriber_cpu_per_delivery_us`` and
``apiserver_cpu_per_event_us`` say where the CPU went (the apiserver's from
``/proc``, its ZeroMQ IO thread included).

**List** (``list``). N pods are created, then listed whole R times through
:class:`kemu.client.Client`; the latency is what a client sees (request,
server-side filtering and encoding, transfer, decoding).

**Flood** (``flood``). A good client sends one request at a time (a create
and a get of a ConfigMap, alternately) and times each, first alone, then
while a bad client, in another process, keeps 64 bad requests in flight
(an operation the apiserver does not serve, bodies with integer map keys or
nested 150 deep, strategic patches of the wrong shape, malformed delete
preconditions: every path that once cost the whole server a store reload).
``good_during_flood_ms`` against ``good_alone_ms`` is what one bad client
costs the others.

``--profile DIR`` runs each apiserver under cProfile (``python -m cProfile
-m apiserver``), saves ``DIR/apiserver-<section>.prof`` and adds the top
functions by own time to the JSON.

    python bench/api.py            # the full run (a couple of minutes)
    python bench/api.py --quick    # under a minute
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import pstats
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import zmq

from kemu import wire
from kemu.client import Client
from kemu.informer import Informer
from kemu.procs import spawn, wait_for
from kemu.testing import ApiServerProcess
from kemu.types import Obj

__all__ = [
    "BenchConfig",
    "bench_list",
    "bench_raw_sqlite",
    "bench_watch",
    "bench_writes",
    "main",
    "percentiles",
    "run",
]


SENT_ANNOTATION = "bench.kemu.io/sent"
"""Where the watch writer puts its send time (seconds of ``time.monotonic()``)."""

WRITE_TARGET_RATIO = 0.5
WATCH_TARGET_P99_MS = 5.0


@dataclass
class BenchConfig:
    """Sizes of one run."""

    writes: int = 20_000
    """Creates per concurrency level."""
    concurrency: tuple[int, ...] = (1, 8, 32)
    """Requests in flight, per level."""
    client_procs: int = 0
    """Load-generating processes per level (0: one per CPU, at most C)."""
    raw_inserts: int = 20_000
    """Raw SQLite inserts."""
    subscribers: tuple[int, ...] = (1, 10, 100)
    """Informers, per watch level."""
    subscriber_procs: int = 4
    """Processes the informers of a level are spread over (at most one per informer)."""
    watch_events: int = 500
    """Objects the watch writer creates per level."""
    watch_rate: float = 50.0
    """Creates per second during the watch test: low enough that 100 Python
    subscribers do not saturate a small machine (each delivery costs a
    subscriber ~100 us of CPU), so the figure is latency, not queueing."""
    list_pods: int = 10_000
    """Pods stored before the list test."""
    lists: int = 20
    """Lists timed."""
    profile_dir: str | None = None
    """Run the apiservers under cProfile and save their stats here."""
    flood_requests: int = 20_000
    """Bad requests the flooding client sends."""
    sections: tuple[str, ...] = ("writes", "watch", "list", "flood")


def percentiles(values: Sequence[float], scale: float = 1000.0) -> dict[str, float]:
    """p50, p90, p99, max and mean of ``values`` (seconds), in ms by default."""
    if not values:
        return {"p50": float("nan"), "p90": float("nan"), "p99": float("nan"), "max": float("nan"), "mean": float("nan")}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * scale, 3)

    return {
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": round(ordered[-1] * scale, 3),
        "mean": round(sum(ordered) / len(ordered) * scale, 3),
    }


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads),
    from ``/proc``; 0.0 where there is no ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _per_item_us(cpu_seconds: float, items: int) -> float:
    return round(cpu_seconds / items * 1e6, 1) if items else float("nan")


def _configure_quiet_logs() -> None:
    """Component log lines go to stderr, warnings only: stdout is the JSON."""
    from kemu import log

    log.configure("bench", level="warning")


# -- servers -----------------------------------------------------------------------------


class ProfiledApiServer(ApiServerProcess):
    """An :class:`ApiServerProcess` run as ``python -m cProfile -o OUT -m apiserver``."""

    def __init__(self, root: Path, profile_out: Path):
        super().__init__(root)
        self.profile_out = profile_out

    def start(self, timeout: float = 15.0) -> ApiServerProcess:
        self.proc = spawn(
            "apiserver",
            [
                "cProfile", "-o", str(self.profile_out), "-m", "apiserver",
                "--data-dir", str(self.data_dir), "--listen", self.address, "--watch-listen", self.watch_address,
            ],
            self.root / "apiserver.log",
        )
        with Client(self.address, timeout=1.0) as probe:
            wait_for(lambda: probe.ping(timeout=0.5), timeout, message="the apiserver to answer ping")
        return self


@contextmanager
def apiserver(root: Path, section: str, cfg: BenchConfig, profiles: dict[str, Any]) -> Iterator[ApiServerProcess]:
    """A fresh apiserver under ``root/section``, stopped (and its profile read) on exit."""
    workdir = root / section
    workdir.mkdir(parents=True)
    profile_out = Path(cfg.profile_dir) / f"apiserver-{section}.prof" if cfg.profile_dir else None
    server = ProfiledApiServer(workdir, profile_out) if profile_out else ApiServerProcess(workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.kill()
        if profile_out is not None and profile_out.exists():
            profiles[section] = top_functions(profile_out)


def top_functions(paths: Path | Sequence[Path], limit: int = 20) -> list[dict[str, Any]]:
    """The functions with the most own time in cProfile dumps (added together)."""
    files = [str(p) for p in ([paths] if isinstance(paths, Path) else paths)]
    stats = pstats.Stats(*files)
    rows = []
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({
            "function": f"{Path(filename).name}:{line}({func})",
            "calls": ncalls,
            "tottime_s": round(tottime, 3),
            "cumtime_s": round(cumtime, 3),
        })
    rows.sort(key=lambda r: r["tottime_s"], reverse=True)
    return rows[:limit]


# -- writes --------------------------------------------------------------------------------


def configmap(name: str, annotations: dict[str, str] | None = None) -> Obj:
    """A small ConfigMap (about 250 bytes once stored)."""
    meta: Obj = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"key": "v" * 32}}


def pod(name: str) -> Obj:
    """A small Pod (defaults make it about 1 KB once stored)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "main", "image": "pause:3.9"}]},
    }


def _pipelined_creates(address: str, make: Callable[[int], Obj], indices: range, depth: int,
                       go: Any | None = None) -> dict[str, Any]:
    """Create ``make(i)`` for every ``i`` with ``depth`` requests in flight on
    one DEALER socket; the acknowledgement latencies and the finish time."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    sock = wire.make_socket(ctx, zmq.DEALER, hwm=100_000)
    try:
        sock.connect(address)
        sock.send(wire.Request(0, "ping").encode())
        if not sock.poll(15_000):
            raise TimeoutError(f"no answer from {address}")
        sock.recv()
        if go is not None:
            go.wait()
        start = time.monotonic()
        sent: dict[int, float] = {}
        todo = iter(indices)
        latencies: list[float] = []
        errors = 0
        first_error = ""
        remaining = len(indices)
        while remaining:
            while len(sent) < depth:
                i = next(todo, None)
                if i is None:
                    break
                body = make(i)
                rid = i + 1
                sent[rid] = time.monotonic()
                sock.send(wire.Request(rid, "create", body["kind"], "default", None, body).encode())
            if not sock.poll(60_000):
                raise TimeoutError(f"{remaining} creates unanswered after 60 s")
            reply = wire.Reply.decode(sock.recv())
            t0 = sent.pop(reply.id, None)
            if t0 is None:
                continue
            latencies.append(time.monotonic() - t0)
            remaining -= 1
            if reply.code >= 300:
                errors += 1
                first_error = first_error or str((reply.body or {}).get("message"))
        return {"start": start, "end": time.monotonic(), "latencies": latencies, "errors": errors,
                "first_error": first_error}
    finally:
        sock.close(linger=0)
        ctx.term()


def _write_worker(address: str, prefix: str, indices: range, depth: int, go: Any, out: Any) -> None:
    """Process entry: pipelined ConfigMap creates, result to ``out``."""
    try:
        out.put(_pipelined_creates(address, lambda i: configmap(f"{prefix}-{i}"), indices, depth, go))
    except Exception as exc:  # noqa: BLE001  (any failure is reported to the parent)
        out.put({"error": f"{type(exc).__name__}: {exc}"})


def _split(total: int, parts: int) -> list[range]:
    step, extra = divmod(total, parts)
    out, start = [], 0
    for p in range(parts):
        size = step + (1 if p < extra else 0)
        out.append(range(start, start + size))
        start += size
    return out


def bench_writes(address: str, total: int, concurrency: int, procs: int = 0,
                 server_pid: int | None = None) -> dict[str, Any]:
    """``total`` ConfigMap creates with ``concurrency`` in flight, from
    ``procs`` processes (0: one per CPU, at most ``concurrency``). With
    ``server_pid``, the apiserver's CPU time per write is reported too."""
    procs = max(1, min(concurrency, procs or (os.cpu_count() or 1)))
    mp = multiprocessing.get_context("spawn")
    go, out = mp.Event(), mp.Queue()
    depths = [len(r) for r in _split(concurrency, procs)]
    workers = [
        mp.Process(target=_write_worker, args=(address, f"c{concurrency}-p{p}", indices, depths[p], go, out))
        for p, indices in enumerate(_split(total, procs))
    ]
    for w in workers:
        w.start()
    try:
        time.sleep(0.2)
        cpu_before = process_cpu_seconds(server_pid) if server_pid else 0.0
        go.set()
        results = [out.get(timeout=600) for _ in workers]
        server_cpu = process_cpu_seconds(server_pid) - cpu_before if server_pid else 0.0
    finally:
        for w in workers:
            w.join(10)
            if w.is_alive():
                w.kill()
    failed = [r["error"] for r in results if "error" in r]
    if failed:
        raise RuntimeError(f"write workers failed: {failed}")
    start = min(r["start"] for r in results)
    seconds = max(r["end"] for r in results) - start
    latencies = [x for r in results for x in r["latencies"]]
    errors = sum(r["errors"] for r in results)
    return {
        "concurrency": concurrency,
        "client_procs": procs,
        "writes": total,
        "errors": errors,
        "first_error": next((r["first_error"] for r in results if r["first_error"]), ""),
        "seconds": round(seconds, 3),
        "writes_per_s": round((total - errors) / seconds, 1),
        "ack_latency_ms": percentiles(latencies),
        "apiserver_cpu_per_write_us": _per_item_us(server_cpu, total) if server_pid else None,
    }


def stored_row(address: str) -> bytes:
    """The bytes the store keeps for a typical ConfigMap (for raw SQLite rows)."""
    with Client(address) as client:
        obj = client.create(configmap("row-size-probe"))
    return msgpack.packb(obj, use_bin_type=True)


def bench_raw_sqlite(path: Path, inserts: int, row: bytes) -> dict[str, Any]:
    """Single-row inserts, one transaction each, WAL + ``synchronous=FULL``."""
    db = sqlite3.connect(str(path), isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(
            "CREATE TABLE objects (kind TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,"
            " data BLOB NOT NULL, PRIMARY KEY (kind, ns, name)) WITHOUT ROWID"
        )
        start = time.monotonic()
        for i in range(inserts):
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO objects VALUES (?, ?, ?, ?)", ("ConfigMap", "default", f"raw-{i}", row))
            db.execute("COMMIT")
        seconds = time.monotonic() - start
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        db.close()
    return {
        "inserts": inserts,
        "seconds": round(seconds, 3),
        "inserts_per_s": round(inserts / seconds, 1),
        "row_bytes": len(row),
        "journal_mode": mode,
        "synchronous": "FULL",
        "sqlite_version": sqlite3.sqlite_version,
    }


# -- watch ---------------------------------------------------------------------------------


class _Stamper:
    """An informer handler that stamps the bench objects it is told about."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.seen: list[tuple[str, float, float]] = []
        """``(name, sent, received)`` per event."""

    def on_add(self, obj: Obj) -> None:
        received = time.monotonic()
        meta = obj["metadata"]
        if meta["name"].startswith(self.prefix):
            self.seen.append((meta["name"], float(meta["annotations"][SENT_ANNOTATION]), received))

    def on_update(self, old: Obj, new: Obj) -> None:
        self.on_add(new)

    def on_delete(self, obj: Obj) -> None:
        pass


class ProfiledInformer(Informer):
    """An :class:`Informer` whose thread runs under cProfile (cProfile only
    sees the thread that enabled it)."""

    profiler: cProfile.Profile

    def _run(self) -> None:
        self.profiler = cProfile.Profile()
        self.profiler.runcall(super()._run)


def _subscriber_worker(address: str, informers: int, prefix: str, expected: int, ready: Any, go: Any,
                       out: Any, timeout: float, profile_out: str | None = None) -> None:
    """Process entry: ``informers`` Informers on ConfigMaps; once every one
    saw ``expected`` events (or ``timeout`` passed), their stamps go to ``out``.
    With ``profile_out``, the informers' threads are profiled into that file."""
    _configure_quiet_logs()
    client = Client(address, timeout=30.0)
    stampers = [_Stamper(prefix) for _ in range(informers)]
    started: list[Informer] = []
    kind = ProfiledInformer if profile_out else Informer
    try:
        for stamper in stampers:
            informer = kind(client, "ConfigMap", namespace="default")
            informer.add_handler(stamper)
            started.append(informer.start())
        for informer in started:
            if not informer.wait_synced(30):
                raise TimeoutError("informer did not sync")
        ready.put(informers)
        go.wait(60)
        cpu_before = time.process_time()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(len(s.seen) < expected for s in stampers):
            time.sleep(0.05)
        out.put({"seen": [s.seen for s in stampers], "relists": sum(i.relists for i in started),
                 "resyncs": sum(i.resyncs for i in started), "cpu_s": time.process_time() - cpu_before})
    except Exception as exc:  # noqa: BLE001  (any failure is reported to the parent)
        ready.put(0)
        out.put({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        for informer in started:
            informer.stop(timeout=1)
        client.close()
        if profile_out:
            profilers = [i.profiler for i in started if isinstance(i, ProfiledInformer) and hasattr(i, "profiler")]
            if profilers:
                stats = pstats.Stats(profilers[0])
                for profiler in profilers[1:]:
                    stats.add(profiler)
                stats.dump_stats(profile_out)


def _paced_writes(address: str, prefix: str, events: int, rate: float) -> dict[str, float]:
    """Create ``events`` ConfigMaps at ``rate`` per second, each stamped with
    its send time; returns each one's acknowledgement time."""
    acked: dict[str, float] = {}
    interval = 1.0 / rate
    with Client(address, timeout=30.0) as client:
        next_at = time.monotonic()
        for i in range(events):
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            name = f"{prefix}{i}"
            client.create(configmap(name, {SENT_ANNOTATION: repr(time.monotonic())}))
            acked[name] = time.monotonic()
            next_at += interval
    return acked


def bench_watch(address: str, subscribers: int, events: int, rate: float, procs: int = 4,
                profile_dir: str | None = None, server_pid: int | None = None) -> dict[str, Any]:
    """Send -> handler latency of ``events`` creates seen by ``subscribers``
    informers; with ``profile_dir``, their threads' profiles are added under
    ``profile``."""
    procs = max(1, min(procs, subscribers))
    prefix = f"w{subscribers}-"
    mp = multiprocessing.get_context("spawn")
    ready, go, out = mp.Queue(), mp.Event(), mp.Queue()
    timeout = events / rate + 30.0
    dumps = [Path(profile_dir) / f"subscribers-s{subscribers}-p{p}.prof" for p in range(procs)] if profile_dir else []
    workers = [
        mp.Process(target=_subscriber_worker,
                   args=(address, n, prefix, events, ready, go, out, timeout, str(dumps[p]) if dumps else None))
        for p, n in enumerate(len(r) for r in _split(subscribers, procs))
    ]
    for w in workers:
        w.start()
    try:
        if sum(ready.get(timeout=120) for _ in workers) != subscribers:
            raise RuntimeError("subscribers failed to start: " + str(out.get(timeout=5)))
        cpu_before = process_cpu_seconds(server_pid) if server_pid else 0.0
        go.set()
        acked = _paced_writes(address, prefix, events, rate)
        server_cpu = process_cpu_seconds(server_pid) - cpu_before if server_pid else 0.0
        results = [out.get(timeout=timeout + 30) for _ in workers]
    finally:
        for w in workers:
            w.join(10)
            if w.is_alive():
                w.kill()
    failed = [r["error"] for r in results if "error" in r]
    if failed:
        raise RuntimeError(f"subscribers failed: {failed}")
    stamps = [s for r in results for per_informer in r["seen"] for s in per_informer]
    profile = {"profile": top_functions([d for d in dumps if d.exists()])} if any(d.exists() for d in dumps) else {}
    return {
        "subscribers": subscribers,
        "subscriber_procs": procs,
        "events": events,
        "rate_per_s": rate,
        "samples": len(stamps),
        "missing": events * subscribers - len(stamps),
        "latency_ms": percentiles([received - sent for _, sent, received in stamps]),
        "ack_to_handler_ms": percentiles([received - acked[name] for name, _, received in stamps if name in acked]),
        "relists": sum(r["relists"] for r in results),
        "gap_resyncs": sum(r["resyncs"] for r in results),
        "subscriber_cpu_per_delivery_us": _per_item_us(sum(r["cpu_s"] for r in results), len(stamps)),
        "apiserver_cpu_per_event_us": _per_item_us(server_cpu, events) if server_pid else None,
        **profile,
    }


# -- list ----------------------------------------------------------------------------------


def bench_list(address: str, pods: int, lists: int, server_pid: int | None = None) -> dict[str, Any]:
    """Store ``pods`` pods, then time ``lists`` full lists of them. With
    ``server_pid``, the apiserver's CPU per list is reported too; the client's
    share is estimated by decoding one reply again."""
    created = _pipelined_creates(address, lambda i: pod(f"pod-{i:05d}"), range(pods), 64)
    if created["errors"]:
        raise RuntimeError(f"pod creates failed: {created['first_error']}")
    latencies: list[float] = []
    with Client(address, timeout=120.0) as client:
        size = 0
        cpu_before = process_cpu_seconds(server_pid) if server_pid else 0.0
        for _ in range(lists):
            start = time.monotonic()
            listing = client.list("Pod")
            latencies.append(time.monotonic() - start)
            if len(listing["items"]) != pods:
                raise RuntimeError(f"listed {len(listing['items'])} pods, expected {pods}")
            size = size or len(msgpack.packb(listing, use_bin_type=True))
        server_cpu = process_cpu_seconds(server_pid) - cpu_before if server_pid else 0.0
    reply = wire.Reply(1, 200, listing).encode()
    start = time.monotonic()
    wire.Reply.decode(reply)
    decode = time.monotonic() - start
    return {
        "pods": pods,
        "lists": lists,
        "create_per_s": round(pods / (created["end"] - created["start"]), 1),
        "reply_bytes": size,
        "latency_ms": percentiles(latencies),
        "apiserver_cpu_ms_per_list": round(server_cpu / lists * 1000, 1) if server_pid else None,
        "client_decode_ms": round(decode * 1000, 1),
    }


# -- flood ---------------------------------------------------------------------------------


def _deep(depth: int) -> Obj:
    top: Obj = {}
    inner = top
    for _ in range(depth):
        inner["x"] = {}
        inner = inner["x"]
    return top


def bad_requests() -> list[Obj]:
    """One of each kind of bad request (the flood cycles through them)."""
    return [
        {"op": "call", "kind": "Pod", "ns": "default", "name": "x", "opts": {}},
        {"op": "create", "kind": "Service", "ns": "default",
         "body": {"metadata": {"name": "odd"}, "spec": {"selector": {1: "x"}, "ports": [{"port": 80}]}}},
        {"op": "create", "kind": "ConfigMap", "ns": "default", "body": {"metadata": {"name": "deep"}, "data": _deep(150)}},
        {"op": "patch", "kind": "ConfigMap", "ns": "default", "name": "target", "body": {"metadata": [1, 2]},
         "opts": {"patch_type": "strategic"}},
        {"op": "delete", "kind": "ConfigMap", "ns": "default", "name": "target", "opts": {"preconditions": [1]}},
    ]


def _flood_worker(address: str, total: int, depth: int, go: Any, out: Any) -> None:
    """Keep ``depth`` bad requests in flight until ``total`` were answered."""
    frames = [msgpack.packb({"v": 1, "id": i, **r}, use_bin_type=True) for i, r in enumerate(bad_requests())]
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(address)
    go.wait()
    sent = answered = bad_codes = 0
    start = time.monotonic()
    try:
        while answered < total:
            while sent < total and sent - answered < depth:
                sock.send(frames[sent % len(frames)])
                sent += 1
            if not sock.poll(10_000):
                break
            reply = wire.Reply.decode(sock.recv())
            answered += 1
            bad_codes += not 400 <= reply.code < 500
    finally:
        sock.close(linger=0)
        ctx.term()
    out.put({"answered": answered, "non_4xx": bad_codes, "seconds": time.monotonic() - start})


def _good_requests(client: Client, until: Callable[[], bool], minimum: int) -> list[float]:
    latencies: list[float] = []
    i = 0
    while len(latencies) < minimum or not until():
        start = time.monotonic()
        if i % 2 == 0:
            client.create(configmap(f"good-{id(latencies)}-{i}"))
        else:
            client.get("ConfigMap", f"good-{id(latencies)}-{i - 1}", "default")
        latencies.append(time.monotonic() - start)
        i += 1
    return latencies


def bench_flood(address: str, bad_total: int, depth: int = 64) -> dict[str, Any]:
    """A good client's latency alone, then while another process floods the
    socket with bad requests (see the module doc)."""
    mp = multiprocessing.get_context("spawn")
    with Client(address, timeout=30.0) as client:
        client.create(configmap("target"))
        alone = _good_requests(client, lambda: True, 500)
        go, out = mp.Event(), mp.Queue()
        flooder = mp.Process(target=_flood_worker, args=(address, bad_total, depth, go, out), daemon=True)
        flooder.start()
        try:
            go.set()
            during = _good_requests(client, lambda: not flooder.is_alive() or not out.empty(), 200)
            result = out.get(timeout=120)
        finally:
            flooder.join(timeout=10)
            if flooder.is_alive():
                flooder.kill()
    return {
        "bad_requests": result["answered"],
        "bad_non_4xx": result["non_4xx"],
        "bad_per_s": round(result["answered"] / result["seconds"], 1),
        "good_alone_ms": percentiles(alone),
        "good_during_flood_ms": percentiles(during),
        "good_requests_during_flood": len(during),
    }


# -- the run -------------------------------------------------------------------------------


@dataclass
class _Results:
    out: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, Any] = field(default_factory=dict)


def _pid(server: ApiServerProcess) -> int | None:
    return server.proc.pid if server.proc is not None else None


def _run_writes(root: Path, cfg: BenchConfig, res: _Results) -> None:
    levels = []
    row = b""
    for c in cfg.concurrency:
        with apiserver(root, f"writes-c{c}", cfg, res.profiles) as server:
            levels.append(bench_writes(server.address, cfg.writes, c, cfg.client_procs, _pid(server)))
            row = row or stored_row(server.address)
        print(f"writes c={c}: {levels[-1]['writes_per_s']}/s", file=sys.stderr)
    raw = bench_raw_sqlite(root / "raw.db", cfg.raw_inserts, row)
    print(f"raw sqlite: {raw['inserts_per_s']}/s", file=sys.stderr)
    best = max(level["writes_per_s"] for level in levels)
    res.out["writes"] = {"levels": levels, "best_writes_per_s": best}
    res.out["raw_sqlite"] = raw
    res.out["write_ratio"] = {
        "best": round(best / raw["inserts_per_s"], 3),
        "by_concurrency": {str(lv["concurrency"]): round(lv["writes_per_s"] / raw["inserts_per_s"], 3) for lv in levels},
    }


def _run_watch(root: Path, cfg: BenchConfig, res: _Results) -> None:
    levels = []
    for s in cfg.subscribers:
        with apiserver(root, f"watch-s{s}", cfg, res.profiles) as server:
            levels.append(bench_watch(server.address, s, cfg.watch_events, cfg.watch_rate, cfg.subscriber_procs,
                                      cfg.profile_dir, _pid(server)))
        print(f"watch s={s}: p99 {levels[-1]['latency_ms']['p99']} ms", file=sys.stderr)
    res.out["watch"] = {"levels": levels}


def _run_list(root: Path, cfg: BenchConfig, res: _Results) -> None:
    with apiserver(root, "list", cfg, res.profiles) as server:
        res.out["list"] = bench_list(server.address, cfg.list_pods, cfg.lists, _pid(server))
    print(f"list {cfg.list_pods} pods: p50 {res.out['list']['latency_ms']['p50']} ms", file=sys.stderr)


def _run_flood(root: Path, cfg: BenchConfig, res: _Results) -> None:
    with apiserver(root, "flood", cfg, res.profiles) as server:
        res.out["flood"] = bench_flood(server.address, cfg.flood_requests)
    flood = res.out["flood"]
    print(f"flood {flood['bad_requests']} bad: good p99 {flood['good_alone_ms']['p99']} ms alone, "
          f"{flood['good_during_flood_ms']['p99']} ms during", file=sys.stderr)


def _targets(out: dict[str, Any]) -> dict[str, Any]:
    targets: dict[str, Any] = {}
    if "write_ratio" in out:
        ratio = out["write_ratio"]["best"]
        targets["writes_vs_raw_sqlite"] = {"target": WRITE_TARGET_RATIO, "measured": ratio, "met": ratio >= WRITE_TARGET_RATIO}
    if "watch" in out:
        top = max(out["watch"]["levels"], key=lambda lv: lv["subscribers"])
        p99, publish_p99 = top["latency_ms"]["p99"], top["ack_to_handler_ms"]["p99"]
        targets["watch_p99_ms"] = {
            "subscribers": top["subscribers"], "target": WATCH_TARGET_P99_MS,
            "measured": p99, "met": p99 <= WATCH_TARGET_P99_MS and top["missing"] == 0,
            "measured_publish_to_handler": publish_p99,
            "met_publish_to_handler": publish_p99 <= WATCH_TARGET_P99_MS and top["missing"] == 0,
        }
    return targets


def run(cfg: BenchConfig, workdir: Path | None = None) -> dict[str, Any]:
    """Run the sections ``cfg`` names; the JSON-ready figures."""
    if cfg.profile_dir:
        Path(cfg.profile_dir).mkdir(parents=True, exist_ok=True)
    res = _Results()
    res.out["config"] = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
    res.out["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform}
    with tempfile.TemporaryDirectory(prefix="kemu-bench-", dir=workdir) as tmp:
        root = Path(tmp)
        steps = {"writes": _run_writes, "watch": _run_watch, "list": _run_list, "flood": _run_flood}
        for section in cfg.sections:
            steps[section](root, cfg, res)
    res.out["targets"] = _targets(res.out)
    if res.profiles:
        res.out["profile"] = res.profiles
    return res.out


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="Small sizes: finishes in under a minute.")
    ap.add_argument("--writes", type=int, help="Creates per concurrency level [20000; quick 2000].")
    ap.add_argument("--concurrency", type=_ints, help="Concurrency levels, comma-separated [1,8,32].")
    ap.add_argument("--client-procs", type=int, default=0, help="Load processes per level (0: one per CPU).")
    ap.add_argument("--raw-inserts", type=int, help="Raw SQLite inserts [= --writes].")
    ap.add_argument("--subscribers", type=_ints, help="Subscriber counts, comma-separated [1,10,100].")
    ap.add_argument("--subscriber-procs", type=int, default=4, help="Processes the informers are spread over [4].")
    ap.add_argument("--watch-events", type=int, help="Creates per watch level [500; quick 100].")
    ap.add_argument("--watch-rate", type=float, default=50.0, help="Creates per second while watching [50].")
    ap.add_argument("--list-pods", type=int, help="Pods to list [10000; quick 2000].")
    ap.add_argument("--lists", type=int, help="Lists timed [20; quick 10].")
    ap.add_argument("--flood-requests", type=int, help="Bad requests in the flood [20000; quick 2000].")
    ap.add_argument("--sections", default="writes,watch,list,flood",
                    help="Which sections to run [writes,watch,list,flood].")
    ap.add_argument("--profile", metavar="DIR", help="Run the apiservers under cProfile, dumps in DIR.")
    ap.add_argument("--workdir", type=Path, help="Where the temporary data directories go (same disk as the figures).")
    args = ap.parse_args(argv)
    _configure_quiet_logs()
    quick = args.quick
    writes = args.writes or (2_000 if quick else 20_000)
    cfg = BenchConfig(
        writes=writes,
        concurrency=args.concurrency or (1, 8, 32),
        client_procs=args.client_procs,
        raw_inserts=args.raw_inserts or writes,
        subscribers=args.subscribers or (1, 10, 100),
        subscriber_procs=args.subscriber_procs,
        watch_events=args.watch_events or (100 if quick else 500),
        watch_rate=args.watch_rate,
        list_pods=args.list_pods or (2_000 if quick else 10_000),
        lists=args.lists or (10 if quick else 20),
        flood_requests=args.flood_requests or (2_000 if quick else 20_000),
        profile_dir=args.profile,
        sections=tuple(s for s in args.sections.split(",") if s),
    )
    print(json.dumps(run(cfg, args.workdir), indent=2))


if __name__ == "__main__":
    main()
