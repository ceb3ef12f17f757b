"""``python -m controllermanager``: run the controller manager.

The main thread parses flags, builds the controllers, then waits on a stop
event that SIGTERM and SIGINT set; every other thread (informers, workers,
tickers, event writers) is stopped from the ``finally`` below, and the client
is closed last.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from controllermanager.base import ControllerOptions
from controllermanager.manager import CONTROLLERS, ControllerManager, parse_controllers
from kemu import log
from kemu.client import DEFAULT_SERVER, Client


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--server", default=DEFAULT_SERVER, envvar="KEMU_SERVER", help="The apiserver's request address (tcp:// or ipc://).")
@click.option("--controllers", default="*",
              help=f"Controllers to run, comma-separated; '*' is all, '-name' removes one. Known: {', '.join(CONTROLLERS)}.")
@click.option("--node-monitor-grace-period", type=float, default=2.0,
              help="Seconds without a lease renewal or Ready heartbeat before a node is Unknown (Kubernetes: 40).")
@click.option("--node-monitor-period", type=float, default=0.2,
              help="Seconds between two node health checks (Kubernetes: 5).")
@click.option("--cluster-cidr", default="127.244.0.0/16", help="The pod network; node podCIDRs are carved from it.")
@click.option("--node-cidr-mask-size", type=int, default=24, help="Prefix length of each node's podCIDR.")
@click.option("--concurrent-replicaset-syncs", type=int, default=5, help="ReplicaSet controller workers.")
@click.option("--concurrent-deployment-syncs", type=int, default=5, help="Deployment controller workers.")
@click.option("--concurrent-rc-syncs", type=int, default=5, help="Replication manager (ReplicationController) workers.")
@click.option("--concurrent-gc-syncs", type=int, default=5, help="Garbage collector workers.")
@click.option("--concurrent-endpoint-syncs", type=int, default=5, help="Endpoints controller workers.")
@click.option("--terminated-pod-gc-threshold", type=int, default=12500,
              help="Succeeded/Failed pods kept before the oldest are deleted (0 disables).")
@click.option("--pod-gc-quarantine", type=float, default=2.0,
              help="Seconds a pod's node must stay missing before the pod is force-deleted.")
@click.option("--log-level", type=click.Choice(log.LEVELS), default="info")
def main(
    server: str,
    controllers: str,
    node_monitor_grace_period: float,
    node_monitor_period: float,
    cluster_cidr: str,
    node_cidr_mask_size: int,
    concurrent_replicaset_syncs: int,
    concurrent_deployment_syncs: int,
    concurrent_rc_syncs: int,
    concurrent_gc_syncs: int,
    concurrent_endpoint_syncs: int,
    terminated_pod_gc_threshold: int,
    pod_gc_quarantine: float,
    log_level: str,
) -> None:
    """Run the kemu controller manager."""
    log.configure("controller-manager", level=log_level)
    try:
        names = parse_controllers(controllers)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--controllers") from None
    if node_monitor_period <= 0 or node_monitor_grace_period <= 0:
        raise click.BadParameter("node monitor period and grace period must be positive")
    options = ControllerOptions(
        node_monitor_period=node_monitor_period,
        node_monitor_grace_period=node_monitor_grace_period,
        cluster_cidr=cluster_cidr,
        node_cidr_mask_size=node_cidr_mask_size,
        concurrent_replicaset_syncs=concurrent_replicaset_syncs,
        concurrent_deployment_syncs=concurrent_deployment_syncs,
        concurrent_rc_syncs=concurrent_rc_syncs,
        concurrent_gc_syncs=concurrent_gc_syncs,
        concurrent_endpoint_syncs=concurrent_endpoint_syncs,
        terminated_pod_gc_threshold=terminated_pod_gc_threshold,
        pod_gc_quarantine=pod_gc_quarantine,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.get_logger().info("signal received, stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    client = Client(server)
    try:
        try:
            manager = ControllerManager(client, names, options=options)
        except ValueError as exc:  # a bad --cluster-cidr, for instance
            raise click.BadParameter(str(exc)) from None
        manager.run(stop)
    finally:
        client.close()


if __name__ == "__main__":
    main()
