"""Start-up figures: ``kemu up`` to Ready nodes, and pod startup latency.

- ``up_s``: wall time of the launcher from nothing to every node Ready
  (the apiserver, controller manager, scheduler and N kubelets are started
  as processes; the clock stops when the apiserver reports all nodes Ready).
- ``pod_startup_s``: for a ReplicaSet of ``--replicas`` pods on 3 nodes,
  per pod, the time from its creation (its ADDED event on a watch) to its
  first observation Running and Ready (Kubernetes' pod startup SLI, whose
  SLO is p99 <= 5 s). The image is ``pause`` by default, as Kubernetes'
  density test uses; ``--image nginx:1.25`` measures a real server.

    python bench/startup.py --replicas 100
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from kemu import log
from kemu.client import Client
from kemu.informer import Informer
from kemu.launcher import ClusterSpec, LocalCluster
from kemu.procs import wait_for
from kemu.testing import free_port_pair
from kemu.types import Obj


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[idx], 4)


class StartupWatch:
    """Stamps each pod's first ADDED and first Running+Ready sightings."""

    def __init__(self) -> None:
        self.created: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self.lock = threading.Lock()

    def _see(self, pod: Obj) -> None:
        now = time.monotonic()
        name = pod["metadata"]["name"]
        with self.lock:
            self.created.setdefault(name, now)
            status = pod.get("status", {})
            if status.get("phase") == "Running" and any(
                c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])
            ):
                self.ready.setdefault(name, now)

    def on_add(self, obj: Obj) -> None:
        self._see(obj)

    def on_update(self, old: Obj, new: Obj) -> None:
        self._see(new)

    def on_delete(self, obj: Obj) -> None:
        pass


def spec_for(root: Path, nodes: int, sandbox: bool = True) -> ClusterSpec:
    return ClusterSpec(
        pod_sandbox=sandbox,
        data_dir=root,
        nodes=nodes,
        api_port=free_port_pair(),
        node_ip_prefix="127.0.2",
        cluster_cidr="127.245.0.0/16",
        service_cidr="127.97.0.0/16",
        log_level="warning",
    )


def measure_up(runs: int, nodes: int) -> list[float]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="kemu-bench-") as tmp:
            cluster = LocalCluster(spec_for(Path(tmp), nodes))
            t0 = time.monotonic()
            try:
                cluster.start(timeout=30)
                times.append(time.monotonic() - t0)
            finally:
                cluster.stop(grace=3)
    return times


def measure_pods(replicas: int, nodes: int, image: str, sandbox: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kemu-bench-") as tmp:
        cluster = LocalCluster(spec_for(Path(tmp), nodes, sandbox))
        try:
            cluster.start(timeout=30)
            with Client(cluster.spec.server) as client:
                watch = StartupWatch()
                informer = Informer(client, "Pod", label_selector="app=startup")
                informer.add_handler(watch)
                informer.start()
                informer.wait_synced(10)
                t0 = time.monotonic()
                client.create(
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "metadata": {"name": "startup"},
                        "spec": {
                            "replicas": replicas,
                            "selector": {"matchLabels": {"app": "startup"}},
                            "template": {
                                "metadata": {"labels": {"app": "startup"}},
                                "spec": {"containers": [{"name": "c", "image": image}]},
                            },
                        },
                    }
                )
                wait_for(lambda: len(watch.ready) >= replicas, 300, interval=0.05, message="all pods ready")
                total = time.monotonic() - t0
                informer.stop()
                lat = [watch.ready[n] - watch.created[n] for n in watch.ready]
                per_node: dict[str, int] = {}
                for p in client.list("Pod", label_selector="app=startup")["items"]:
                    per_node[p["spec"]["nodeName"]] = per_node.get(p["spec"]["nodeName"], 0) + 1
        finally:
            cluster.stop(grace=3)
    return {
        "replicas": replicas,
        "image": image,
        "pod_sandbox": sandbox and os.geteuid() == 0,
        "all_ready_s": round(total, 3),
        "pod_startup_s": {"p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99), "max": round(max(lat), 4)},
        "pods_per_node": per_node,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replicas", type=int, default=100)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--up-runs", type=int, default=5)
    ap.add_argument("--image", default="registry.k8s.io/pause:3.9")
    ap.add_argument("--compare-sandbox", action="store_true",
                    help="also start the pods without pod sandboxes (what a sandbox costs per pod)")
    args = ap.parse_args()
    log.configure("bench", level="warning")
    up = measure_up(args.up_runs, args.nodes)
    pods = measure_pods(args.replicas, args.nodes, args.image)
    out = {
        "benchmark": "startup",
        "nodes": args.nodes,
        "kemu_up_to_ready_s": {"runs": len(up), "p50": pct(up, 50), "max": round(max(up), 3), "target": 2.0},
        "pods": pods,
        **({"pods_without_sandbox": measure_pods(args.replicas, args.nodes, args.image, sandbox=False)}
           if args.compare_sandbox else {}),
        "pod_startup_target_p99_s": 5.0,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
