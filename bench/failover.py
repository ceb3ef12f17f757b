"""Failover time: SIGKILL a kubelet, time until every replica runs elsewhere.

One local cluster (3 nodes) and one ReplicaSet; each run kills the kubelet
of the node holding the most replicas, then follows the recovery through
watches and splits it into phases, each measured from the SIGKILL:

- ``detection``: the node's Ready condition turns Unknown;
- ``eviction``: the first of its pods gets a deletionTimestamp;
- ``creation``: the ReplicaSet has created every replacement;
- ``scheduling``: every replacement is bound to a node;
- ``start``: every replica is Running and Ready on a live node (the total).

After a run the killed node is restarted and must be Ready again before the
next. Prints one JSON object with p50/p99 per phase and the configured grace
and toleration; the target is p99(total) <= 2 x (grace + toleration).

    python bench/failover.py --runs 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from kemu import log
from kemu.client import Client
from kemu.informer import Informer
from kemu.procs import wait_for
from kemu.testing import running_cluster
from kemu.types import Obj


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[idx], 3)


def ready(pod: Obj) -> bool:
    return pod.get("status", {}).get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", [])
    )


class Timeline:
    """Watch handlers that stamp the first time each phase is reached."""

    def __init__(self, pods: Informer, nodes: Informer, replicas: int):
        self.pods, self.nodes, self.replicas = pods, nodes, replicas
        self.lock = threading.Lock()
        self.reset("", 0.0, set())
        pods.add_handler(self)
        nodes.add_handler(_NodeHandler(self))

    def reset(self, victim: str, t0: float, victim_pods: set[str]) -> None:
        with self.lock:
            self.victim, self.t0, self.victim_pods = victim, t0, victim_pods
            self.stamps: dict[str, float] = {}

    def stamp(self, phase: str) -> None:
        if self.t0 and phase not in self.stamps:
            self.stamps[phase] = time.monotonic() - self.t0

    def check_pods(self) -> None:
        with self.lock:
            if not self.t0:
                return
            pods = self.pods.list()
            if any(p["metadata"]["name"] in self.victim_pods and p["metadata"].get("deletionTimestamp") for p in pods):
                self.stamp("eviction")
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            if "eviction" in self.stamps and len(live) >= self.replicas:
                self.stamp("creation")
                if all(p["spec"].get("nodeName") for p in live):
                    self.stamp("scheduling")
                if sum(1 for p in live if ready(p) and p["spec"]["nodeName"] != self.victim) >= self.replicas:
                    self.stamp("start")

    def on_add(self, obj: Obj) -> None:
        self.check_pods()

    def on_update(self, old: Obj, new: Obj) -> None:
        self.check_pods()

    def on_delete(self, obj: Obj) -> None:
        self.check_pods()


class _NodeHandler:
    def __init__(self, timeline: Timeline):
        self.t = timeline

    def on_add(self, obj: Obj) -> None:
        self.on_update(obj, obj)

    def on_update(self, old: Obj, new: Obj) -> None:
        with self.t.lock:
            if new["metadata"]["name"] == self.t.victim:
                conds = {c["type"]: c["status"] for c in new.get("status", {}).get("conditions", [])}
                if conds.get("Ready") in ("Unknown", "False"):
                    self.t.stamp("detection")

    def on_delete(self, obj: Obj) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--replicas", type=int, default=6)
    ap.add_argument("--grace", type=float, default=2.0, help="node-monitor-grace-period")
    ap.add_argument("--toleration", type=int, default=2, help="not-ready/unreachable toleration seconds")
    ap.add_argument("--image", default="nginx:1.25")
    args = ap.parse_args()
    log.configure("bench", level="warning")
    phases = ["detection", "eviction", "creation", "scheduling", "start"]
    results: dict[str, list[float]] = {p: [] for p in phases}
    with tempfile.TemporaryDirectory(prefix="kemu-bench-") as tmp, running_cluster(
        Path(tmp), nodes=3, node_monitor_grace_period=args.grace, toleration_seconds=args.toleration, log_level="info"
    ) as cluster, Client(cluster.spec.server) as client:
        client.create(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {"name": "bench"},
                "spec": {
                    "replicas": args.replicas,
                    "selector": {"matchLabels": {"app": "bench"}},
                    "template": {
                        "metadata": {"labels": {"app": "bench"}},
                        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": args.image}]},
                    },
                },
            }
        )
        pods = Informer(client, "Pod", label_selector="app=bench").start()
        nodes = Informer(client, "Node").start()
        timeline = Timeline(pods, nodes, args.replicas)
        pods.wait_synced(10)
        nodes.wait_synced(10)
        wait_for(lambda: sum(1 for p in pods.list() if ready(p)) == args.replicas, 60, message="replicas ready")
        for run in range(args.runs):
            by_node: dict[str, set[str]] = {}
            for p in pods.list():
                if not p["metadata"].get("deletionTimestamp"):
                    by_node.setdefault(p["spec"].get("nodeName", ""), set()).add(p["metadata"]["name"])
            victim = max(sorted(by_node), key=lambda n: len(by_node[n]))
            timeline.reset(victim, time.monotonic(), by_node[victim])
            cluster.procs[f"kubelet-{victim}"].kill()
            wait_for(lambda: "start" in timeline.stamps, 120, interval=0.02, message=f"recovery from {victim}'s death")
            for p in phases:
                if p in timeline.stamps:
                    results[p].append(timeline.stamps[p])
            print(f"run {run + 1}: {victim} {json.dumps({k: round(v, 3) for k, v in timeline.stamps.items()})}", file=sys.stderr)
            timeline.reset("", 0.0, set())
            cluster.start_node(victim)
            wait_for(
                lambda victim=victim: any(  # type: ignore[misc]
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in client.get("Node", victim)["status"]["conditions"]
                )
                and not [p for p in client.list("Pod", field_selector=f"spec.nodeName={victim}")["items"]
                         if p["metadata"].get("deletionTimestamp")],
                60,
                message="node back and cleaned",
            )
        pods.stop()
        nodes.stop()
    budget = 2 * (args.grace + args.toleration)
    out = {
        "benchmark": "failover",
        "runs": args.runs,
        "replicas": args.replicas,
        "image": args.image,
        "node_monitor_grace_period_s": args.grace,
        "toleration_seconds": args.toleration,
        "phases_s": {p: {"p50": pct(v, 50), "p99": pct(v, 99), "mean": round(statistics.fmean(v), 3) if v else None} for p, v in results.items()},
        "target_p99_total_s": budget,
        "meets_target": pct(results["start"], 99) <= budget,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
