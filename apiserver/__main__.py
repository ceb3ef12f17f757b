"""``python -m apiserver``: run the apiserver."""

from __future__ import annotations

from pathlib import Path

import click

from apiserver.allocators import ServiceAllocator
from apiserver.registry import AdmissionConfig, Registry
from apiserver.server import ApiServer, ServerConfig, install_signal_handlers
from apiserver.store import Store
from kemu import log


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for the SQLite store (created if missing).")
@click.option("--listen", default="tcp://127.0.0.1:7100", help="Request API address (tcp:// or ipc://).")
@click.option("--watch-listen", default="tcp://127.0.0.1:7101", help="Watch (PUB) address.")
@click.option("--advertise-watch", default=None,
              help="Watch address clients should connect to, when it differs from --watch-listen (0.0.0.0 binds).")
@click.option("--sync", type=click.Choice(["full", "normal"]), default="full",
              help="SQLite synchronous mode: full survives power loss, normal survives process crashes.")
@click.option("--heartbeat-interval", type=float, default=0.5, help="Seconds between watch heartbeats.")
@click.option("--history-size", type=int, default=50_000, help="Changes kept for watch resumption.")
@click.option("--default-not-ready-toleration-seconds", type=int, default=2,
              help="Toleration added to every pod for node.kubernetes.io/not-ready:NoExecute (Kubernetes: 300).")
@click.option("--default-unreachable-toleration-seconds", type=int, default=2,
              help="Toleration added to every pod for node.kubernetes.io/unreachable:NoExecute (Kubernetes: 300).")
@click.option("--service-cluster-ip-range", default="127.96.0.0/16", help="Where Service ClusterIPs come from.")
@click.option("--service-node-port-range", default="30000-32767", help="Where NodePorts come from.")
@click.option("--log-level", type=click.Choice(log.LEVELS), default="info")
def main(
    data_dir: Path,
    listen: str,
    watch_listen: str,
    advertise_watch: str | None,
    sync: str,
    heartbeat_interval: float,
    history_size: int,
    default_not_ready_toleration_seconds: int,
    default_unreachable_toleration_seconds: int,
    service_cluster_ip_range: str,
    service_node_port_range: str,
    log_level: str,
) -> None:
    """Run the kemu apiserver."""
    log.configure("apiserver", level=log_level)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = Store(data_dir / "kemu.db", synchronous=sync, history_size=history_size)
    try:
        lo, hi = (int(p) for p in service_node_port_range.split("-"))
        allocator = ServiceAllocator(store, cidr=service_cluster_ip_range, node_ports=(lo, hi))
    except ValueError as exc:
        raise click.BadParameter(f"bad service range: {exc}") from None
    admission = AdmissionConfig(
        default_not_ready_toleration_seconds=default_not_ready_toleration_seconds,
        default_unreachable_toleration_seconds=default_unreachable_toleration_seconds,
        mutators=[allocator],
    )
    registry = Registry(store, admission=admission)
    server = ApiServer(
        store,
        registry,
        ServerConfig(request_address=listen, watch_address=watch_listen, heartbeat_interval=heartbeat_interval),
    )
    if advertise_watch:
        server.watch_endpoint = advertise_watch
    install_signal_handlers(server)
    try:
        server.run()
    finally:
        store.close()


if __name__ == "__main__":
    main()
