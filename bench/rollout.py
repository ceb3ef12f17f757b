"""Rollout time: roll a Deployment of 100 replicas on 5 nodes to a new image.

One local cluster (5 nodes, its own address ranges) and one Deployment with
the default strategy (RollingUpdate, 25% surge, 25% unavailable: at most 125
pods, at least 75 available). Once the first version is rolled out and every
pod is Ready, the image changes (``nginx:1.24`` -> ``nginx:1.25`` by default)
and a watch on the Deployment's pods follows the rollout to its end:

- ``seconds``: from the image change until the Deployment reports every
  replica updated and available and no old pod left (what ``kemu rollout
  status`` waits for);
- ``events``: pod watch events seen meanwhile;
- ``max_surge_seen``: the most live (not terminating) pods at any event,
  minus ``replicas``;
- ``max_unavailable_seen``: ``replicas`` minus the fewest live Ready pods at
  any event.

Prints one JSON object. nginx pods each run an HTTP server; on a small
machine ``--old registry.k8s.io/pause:3.9 --new registry.k8s.io/pause:3.10``
measures the control plane without them.

    python bench/rollout.py
    python bench/rollout.py --old registry.k8s.io/pause:3.9 --new registry.k8s.io/pause:3.10
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from kemu import log
from kemu import testing
from kemu.client import Client
from kemu.informer import Informer
from kemu.procs import wait_for
from kemu.testing import running_cluster
from kemu.types import Obj


RANGES = {"node_ip_prefix": "127.0.7", "cluster_cidr": "127.249.0.0/16", "service_cidr": "127.101.0.0/16"}


def deployment(name: str, image: str, replicas: int) -> Obj:
    return testing.deployment(name, replicas=replicas, image=image, grace=2)


def is_ready(pod: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def is_live(pod: Obj) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")


class Extremes:
    """Pod watch handlers keeping the most live and the fewest Ready pods seen."""

    def __init__(self, informer: Informer):
        self.informer = informer
        self.lock = threading.Lock()
        self.armed = False
        self.events = 0
        self.max_live = 0
        self.min_ready: int | None = None
        informer.add_handler(self)

    def arm(self) -> None:
        with self.lock:
            self.armed, self.events, self.max_live, self.min_ready = True, 0, 0, None

    def disarm(self) -> None:
        with self.lock:
            self.armed = False

    def _observe(self) -> None:
        with self.lock:
            if not self.armed:
                return
            live = [p for p in self.informer.list() if is_live(p)]
            ready = sum(1 for p in live if is_ready(p))
            self.events += 1
            self.max_live = max(self.max_live, len(live))
            self.min_ready = ready if self.min_ready is None else min(self.min_ready, ready)

    def on_add(self, obj: Obj) -> None:
        self._observe()

    def on_update(self, old: Obj, new: Obj) -> None:
        self._observe()

    def on_delete(self, obj: Obj) -> None:
        self._observe()


def rolled_out(client: Client, name: str, replicas: int, generation: int) -> bool:
    d = client.get("Deployment", name)
    s = d.get("status") or {}
    return (
        int(s.get("observedGeneration") or 0) >= generation
        and s.get("updatedReplicas") == replicas
        and s.get("replicas") == replicas
        and s.get("availableReplicas") == replicas
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--old", default="nginx:1.24", help="Image of the first revision.")
    parser.add_argument("--new", default="nginx:1.25", help="Image rolled out.")
    parser.add_argument("--timeout", type=float, default=600.0, help="Seconds allowed for each rollout.")
    args = parser.parse_args()
    log.configure("bench", level="warning")
    name = "bench"
    with (
        tempfile.TemporaryDirectory(prefix="kemu-bench-") as d,
        running_cluster(Path(d), nodes=args.nodes, log_level="warning", **RANGES) as cluster,
        Client(cluster.spec.server, timeout=30) as client,
    ):
        informer = Informer(client, "Pod", label_selector=f"app={name}")
        extremes = Extremes(informer)
        informer.start()
        try:
            t0 = time.monotonic()
            client.create(deployment(name, args.old, args.replicas))
            wait_for(lambda: rolled_out(client, name, args.replicas, 1), args.timeout, interval=0.25,
                     message="first rollout")
            first = time.monotonic() - t0
            wait_for(lambda: sum(1 for p in informer.list() if is_live(p) and is_ready(p)) == args.replicas,
                     60, interval=0.1, message="every pod Ready in the watch")
            extremes.arm()
            t0 = time.monotonic()
            client.patch(name=name, kind="Deployment", patch_type="strategic", patch={
                "spec": {"template": {"spec": {"containers": [{"name": "main", "image": args.new}]}}}})
            wait_for(lambda: rolled_out(client, name, args.replicas, 2), args.timeout, interval=0.1,
                     message="rollout")
            seconds = time.monotonic() - t0
            extremes.disarm()
        finally:
            informer.stop()
    result = {
        "replicas": args.replicas,
        "nodes": args.nodes,
        "strategy": "RollingUpdate 25%/25%",
        "images": f"{args.old} -> {args.new}",
        "first_rollout_seconds": round(first, 2),
        "seconds": round(seconds, 2),
        "events": extremes.events,
        "max_surge_seen": extremes.max_live - args.replicas,
        "max_unavailable_seen": args.replicas - (extremes.min_ready if extremes.min_ready is not None else 0),
        "allowed_surge": -(-args.replicas * 25 // 100),
        "allowed_unavailable": args.replicas * 25 // 100,
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
