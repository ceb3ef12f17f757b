"""kube-proxy cost: a Service's ClusterIP against the pod IP, in the same run.

One local cluster (kube-proxies on, DNS off) and one *stream server* pod
behind a ClusterIP Service. The server is a ``python`` image container
running a 20-line socket server (``STREAM_SERVER`` below): a client sends
``N\\n`` and gets ``N`` bytes from a preallocated buffer, then the server
closes. Why not nginx: the built-in nginx reads a whole file into memory per
request and writes it through ``http.server``; the stream server's cost is
one ``sendall`` of a 1 MiB buffer per MiB, so what the figures compare is
the network path, not the server. Small requests are answered on the
accepting thread (no thread per connection), for the same reason.

Measured, alternating direct and proxied runs so both see the same machine:

- ``throughput``: one connection streaming ``--size-mb`` MiB, ``--rounds``
  times per path; MB/s (10^6 bytes/s) of the median run, and the ratio
  ClusterIP / direct (target >= 0.8); with the CPU the kube-proxies used
  (cores) and how busy the whole machine was, per path: on a small machine
  the ClusterIP path is CPU-bound (a second TCP connection's kernel work
  plus the proxy), so the ratio says more about cores than about the proxy;
- ``connections``: connect, send ``1\\n``, read to EOF, close: per path,
  ``--connections`` sequential ones give the latency p50/p99 (and the
  latency the proxy adds), and ``--concurrency`` client threads for
  ``--seconds`` give the connection rate (conn/s) and its ratio.

The client runs in this process; on the ClusterIP path the kernel hands
each connection to one of the nodes' kube-proxies (they share the listener
with SO_REUSEPORT), which dials the pod.

    python bench/proxy.py                # defaults: 3 nodes, 5 x 512 MiB, 2000 connections
    python bench/proxy.py --size-mb 64 --rounds 2 --connections 300 --seconds 1   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from kemu import log
from kemu.client import Client
from kemu.procs import wait_for
from kemu.testing import running_cluster
from kemu.types import Obj


PORT = 8080

STREAM_SERVER = r"""
import os, socket, threading
buf = memoryview(bytearray(1 << 20))
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((os.environ["POD_IP"], int(os.environ.get("PORT", "8080"))))
srv.listen(4096)
def serve(conn, n):
    with conn:
        while n > 0:
            k = min(n, len(buf))
            conn.sendall(buf[:k])
            n -= k
while True:
    conn, _ = srv.accept()
    try:
        line = conn.makefile("rb").readline()
        n = int(line.strip() or 0)
    except (OSError, ValueError):
        conn.close()
        continue
    if n <= 65536:
        serve(conn, n)
    else:
        threading.Thread(target=serve, args=(conn, n), daemon=True).start()
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[idx]


def fetch(ip: str, port: int, size: int, buf: bytearray) -> int:
    """One connection: ask for ``size`` bytes, read to EOF; returns the bytes read."""
    with socket.create_connection((ip, port), timeout=30) as conn:
        conn.sendall(b"%d\n" % size)
        got = 0
        while True:
            n = conn.recv_into(buf)
            if not n:
                return got
            got += n


def throughput(ip: str, port: int, size: int) -> float:
    """MB/s of one streamed transfer."""
    buf = bytearray(1 << 20)
    start = time.perf_counter()
    got = fetch(ip, port, size, buf)
    elapsed = time.perf_counter() - start
    if got != size:
        raise RuntimeError(f"short transfer from {ip}:{port}: {got} of {size} bytes")
    return got / elapsed / 1e6


def latencies(ip: str, port: int, count: int) -> list[float]:
    """Seconds per connection (connect, 1-byte request, 1-byte answer, EOF), sequentially."""
    buf = bytearray(4096)
    out = []
    for _ in range(count):
        start = time.perf_counter()
        if fetch(ip, port, 1, buf) != 1:
            raise RuntimeError(f"bad answer from {ip}:{port}")
        out.append(time.perf_counter() - start)
    return out


def connection_rate(ip: str, port: int, threads: int, seconds: float) -> float:
    """Connections per second with ``threads`` clients looping for ``seconds``."""
    counts = [0] * threads
    errors: list[BaseException] = []
    deadline = time.perf_counter() + seconds

    def worker(i: int) -> None:
        buf = bytearray(4096)
        try:
            while time.perf_counter() < deadline:
                fetch(ip, port, 1, buf)
                counts[i] += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    start = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise RuntimeError(f"connection rate run failed: {errors[0]!r}")
    return sum(counts) / (time.perf_counter() - start)


def proc_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (from /proc)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs so far, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def stream_pod() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "stream", "labels": {"app": "stream"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "server",
                "image": "python:3.12",
                "command": ["python3", "-c", STREAM_SERVER],
                "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "PORT", "value": str(PORT)}],
                "ports": [{"name": "stream", "containerPort": PORT}],
            }],
        },
    }


def stream_service() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "stream"},
        "spec": {"selector": {"app": "stream"}, "ports": [{"name": "stream", "port": PORT, "targetPort": "stream"}]},
    }


def _ok(fn: Any) -> bool:
    try:
        fn()
        return True
    except OSError:
        return False


def run(args: argparse.Namespace, server: str, proxy_pids: list[int]) -> Obj:
    with Client(server) as client:
        client.create(stream_pod())
        svc = client.create(stream_service())
        cluster_ip = svc["spec"]["clusterIP"]

        def pod_ip() -> str | None:
            pod = client.get("Pod", "stream")
            return pod.get("status", {}).get("podIP") if pod.get("status", {}).get("phase") == "Running" else None

        ip = wait_for(pod_ip, 30, message="the stream pod")
        buf = bytearray(4096)
        wait_for(lambda: _ok(lambda: fetch(ip, PORT, 1, buf)), 30, message="the stream server")
        wait_for(lambda: _ok(lambda: fetch(cluster_ip, PORT, 1, buf)), 30, message="the ClusterIP")

    size = args.size_mb << 20
    paths = {"direct": ip, "cluster_ip": cluster_ip}
    # warm-up (page cache, proxies' pipes, TCP windows)
    for target in paths.values():
        throughput(target, PORT, min(size, 64 << 20))
        latencies(target, PORT, 50)

    runs: dict[str, list[float]] = {k: [] for k in paths}
    cpu: dict[str, dict[str, float]] = {k: {"seconds": 0.0, "proxy_cpu": 0.0, "busy": 0, "total": 0} for k in paths}
    for _ in range(args.rounds):
        for name, target in paths.items():
            p0, (b0, t0), w0 = proc_cpu_seconds(proxy_pids), machine_busy(), time.perf_counter()
            runs[name].append(throughput(target, PORT, size))
            p1, (b1, t1), w1 = proc_cpu_seconds(proxy_pids), machine_busy(), time.perf_counter()
            c = cpu[name]
            c["seconds"] += w1 - w0
            c["proxy_cpu"] += p1 - p0
            c["busy"] += b1 - b0
            c["total"] += t1 - t0
    cores = os.cpu_count() or 1

    lat: dict[str, list[float]] = {k: [] for k in paths}
    chunk = max(1, args.connections // 10)
    for _ in range(10):  # interleaved batches
        for name, target in paths.items():
            lat[name].extend(latencies(target, PORT, chunk))

    rate = {name: connection_rate(target, PORT, args.concurrency, args.seconds) for name, target in paths.items()}

    mbps = {name: statistics.median(values) for name, values in runs.items()}
    p50 = {name: pct(values, 50) * 1000 for name, values in lat.items()}
    p99 = {name: pct(values, 99) * 1000 for name, values in lat.items()}
    tp_ratio = mbps["cluster_ip"] / mbps["direct"]
    return {
        "config": {
            "nodes": args.nodes,
            "size_mb": args.size_mb,
            "rounds": args.rounds,
            "connections": chunk * 10,
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "kube_proxies_sharing_the_cluster_ip": args.nodes,
        },
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "splice": hasattr(os, "splice")},
        "throughput": {
            "direct_MBps": round(mbps["direct"], 1),
            "cluster_ip_MBps": round(mbps["cluster_ip"], 1),
            "ratio": round(tp_ratio, 3),
            "runs_MBps": {k: [round(v, 1) for v in vals] for k, vals in runs.items()},
            "kube_proxy_cores": {k: round(c["proxy_cpu"] / c["seconds"], 2) for k, c in cpu.items()},
            "machine_busy_cores": {k: round(cores * c["busy"] / max(1, c["total"]), 2) for k, c in cpu.items()},
        },
        "connections": {
            "direct_conn_per_s": round(rate["direct"], 1),
            "cluster_ip_conn_per_s": round(rate["cluster_ip"], 1),
            "ratio": round(rate["cluster_ip"] / rate["direct"], 3),
        },
        "latency_ms": {
            "direct": {"p50": round(p50["direct"], 3), "p99": round(p99["direct"], 3)},
            "cluster_ip": {"p50": round(p50["cluster_ip"], 3), "p99": round(p99["cluster_ip"], 3)},
            "added_p50": round(p50["cluster_ip"] - p50["direct"], 3),
            "added_p99": round(p99["cluster_ip"] - p99["direct"], 3),
        },
        "targets": {"throughput_ratio": 0.8, "throughput_ratio_met": tp_ratio >= 0.8},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=3, help="cluster nodes (each runs a kube-proxy)")
    ap.add_argument("--size-mb", type=int, default=512, help="MiB per throughput transfer")
    ap.add_argument("--rounds", type=int, default=5, help="throughput transfers per path")
    ap.add_argument("--connections", type=int, default=2000, help="sequential connections per path (latency)")
    ap.add_argument("--concurrency", type=int, default=4, help="client threads for the connection rate")
    ap.add_argument("--seconds", type=float, default=3.0, help="duration of each connection-rate run")
    args = ap.parse_args()
    log.configure("bench", level="warning")
    with tempfile.TemporaryDirectory(prefix="kemu-bench-") as tmp, running_cluster(
        Path(tmp), nodes=args.nodes, with_proxy=True, with_dns=False, log_level="warning"
    ) as cluster:
        proxies = [proc.pid for name, proc in cluster.procs.items() if name.startswith("kubeproxy-")]
        out = run(args, cluster.spec.server, proxies)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
