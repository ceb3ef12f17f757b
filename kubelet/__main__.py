"""``python -m kubelet --node NAME``: run one emulated worker node."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import click

from kemu import log
from kemu.api.quantity import memory_bytes
from kemu.client import Client
from kubelet.kubelet import Kubelet, KubeletConfig
from kubelet.node import NodeConfig
from kubelet.pods import Backoff


def _taint(text: str) -> dict[str, Any]:
    """``key=value:Effect`` or ``key:Effect`` (kubectl taint syntax)."""
    kv, _, effect = text.rpartition(":")
    if not kv or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        raise click.BadParameter(f"taint {text!r} must be key[=value]:NoSchedule|PreferNoSchedule|NoExecute")
    key, _, value = kv.partition("=")
    return {"key": key, "value": value, "effect": effect} if value else {"key": key, "effect": effect}


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--server", default="tcp://127.0.0.1:7100", envvar="KEMU_SERVER", help="apiserver request address.")
@click.option("--node", "node_name", required=True, help="Node name (node-1).")
@click.option("--node-ip", required=True, help="The node's InternalIP, in 127.0.0.0/8 (127.0.1.1).")
@click.option("--root-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where this node keeps pod directories, logs and container state.")
@click.option("--cpu", default="4", help="CPU capacity.")
@click.option("--memory", default="8Gi", help="Memory capacity.")
@click.option("--max-pods", type=int, default=110)
@click.option("--node-labels", default="", help="Extra labels: key=value,key2=value2")
@click.option("--register-with-taints", "taints", multiple=True, help="key=value:Effect (repeatable).")
@click.option("--node-lease-renew-interval", type=float, default=0.25, help="Seconds between Lease renewals.")
@click.option("--node-status-update-frequency", type=float, default=5.0, help="Seconds between node status posts.")
@click.option("--crashloop-backoff-base", type=float, default=1.0, help="First CrashLoopBackOff delay (Kubernetes: 10).")
@click.option("--crashloop-backoff-max", type=float, default=20.0, help="Largest CrashLoopBackOff delay (Kubernetes: 300).")
@click.option("--kubelet-port", type=int, default=10250,
              help="Port on the node IP serving kemu logs/exec (0: any free port; advertised in the Node's status).")
@click.option("--container-log-max-size", default="10Mi", help="Rotate a container log larger than this.")
@click.option("--container-log-max-files", type=click.IntRange(min=2), default=5,
              help="Log files kept per container, the current one included.")
@click.option("--image-catalog", "catalogs", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Extra image catalog YAML (repeatable; also $KEMU_IMAGE_CATALOG).")
@click.option("--pod-network", default="", help="The cluster's pod network (kubelet.sandbox's fabric name); "
              "empty: pods share the host's network and file system.")
@click.option("--cluster-cidr", default="127.244.0.0/16", help="Where every pod IP comes from (on-link inside a pod).")
@click.option("--pod-network-scope", type=click.Choice(["cluster", "node"]), default="cluster",
              help="cluster: one fabric for every node's pods (kemu up); node: this node's own fabric, "
              "forwarded between nodes by the shared namespace (compose).")
@click.option("--cluster-dns", default="", help="The cluster DNS server's IP, for pods' /etc/resolv.conf.")
@click.option("--cluster-domain", default="cluster.local", help="The cluster's DNS domain.")
@click.option("--log-level", type=click.Choice(log.LEVELS), default="info")
def main(
    server: str,
    node_name: str,
    node_ip: str,
    root_dir: Path,
    cpu: str,
    memory: str,
    max_pods: int,
    node_labels: str,
    taints: tuple[str, ...],
    node_lease_renew_interval: float,
    node_status_update_frequency: float,
    crashloop_backoff_base: float,
    crashloop_backoff_max: float,
    kubelet_port: int,
    container_log_max_size: str,
    container_log_max_files: int,
    catalogs: tuple[Path, ...],
    pod_network: str,
    cluster_cidr: str,
    pod_network_scope: str,
    cluster_dns: str,
    cluster_domain: str,
    log_level: str,
) -> None:
    """Run the kubelet of one emulated node: its pods are real processes."""
    log.configure("kubelet", level=log_level, node=node_name)
    labels = dict(kv.split("=", 1) for kv in node_labels.split(",") if kv)
    try:
        log_max_size = memory_bytes(container_log_max_size)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--container-log-max-size") from None
    config = KubeletConfig(
        node=NodeConfig(node_name, node_ip, cpu=cpu, memory=memory, pods=max_pods, labels=labels,
                        taints=[_taint(t) for t in taints]),
        root_dir=root_dir,
        lease_interval=node_lease_renew_interval,
        status_interval=node_status_update_frequency,
        backoff=Backoff(base=crashloop_backoff_base, cap=crashloop_backoff_max, reset_after=2 * crashloop_backoff_max),
        image_catalogs=list(catalogs),
        kubelet_port=kubelet_port,
        container_log_max_size=log_max_size,
        container_log_max_files=container_log_max_files,
        pod_network=pod_network,
        cluster_cidr=cluster_cidr if pod_network_scope == "cluster" else "",
        cluster_dns=cluster_dns,
        cluster_domain=cluster_domain,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    client = Client(server)
    kubelet = Kubelet(client, config)
    try:
        kubelet.start()
        stop.wait()
    finally:
        kubelet.stop()
        client.close()


if __name__ == "__main__":
    main()
