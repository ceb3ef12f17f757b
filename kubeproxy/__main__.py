"""``python -m kubeproxy --server ADDR --node NAME``: run one node's kube-proxy.

The main thread runs the asyncio loop (see :mod:`kubeproxy.server` and
:mod:`kubeproxy.proxier`); SIGTERM and SIGINT set the loop's stop event.
Everything is closed from ``finally`` blocks: listeners and connections by
the loop, then the informer threads, then the client.
"""

from __future__ import annotations

import asyncio
import signal
import time

import click

from kemu import log
from kemu.api import errors
from kemu.client import DEFAULT_SERVER, Client
from kubeproxy.server import KubeProxy, node_internal_ip


def _discover_node_ip(client: Client, node: str, timeout: float) -> str:
    """The Node's InternalIP, waiting for the kubelet to register it."""
    logger = log.get_logger()
    deadline = time.monotonic() + timeout
    warned = False
    while True:
        try:
            ip = node_internal_ip(client.get("Node", node))
            if ip:
                return ip
        except errors.ApiError as exc:
            if exc.code not in (404, 503, 504):
                raise
        if time.monotonic() >= deadline:
            raise click.ClickException(f"node {node!r} has no InternalIP after {timeout:.0f}s; pass --node-ip")
        if not warned:
            logger.info("waiting for the node to register its InternalIP", node=node)
            warned = True
        time.sleep(0.2)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--server", default=DEFAULT_SERVER, envvar="KEMU_SERVER", help="The apiserver's request address (tcp:// or ipc://).")
@click.option("--node", required=True, help="The node this proxy runs on.")
@click.option("--node-ip", default=None,
              help="This node's InternalIP (NodePorts listen there). Default: read from the Node object.")
@click.option("--sync-period", type=float, default=5.0,
              help="Seconds between full resyncs (retry failed listeners, expire ClientIP affinity).")
@click.option("--log-level", type=click.Choice(log.LEVELS), default="info")
def main(server: str, node: str, node_ip: str | None, sync_period: float, log_level: str) -> None:
    """Run the kemu kube-proxy (userspace mode) for one node."""
    log.configure("kube-proxy", level=log_level, node=node)
    if sync_period <= 0:
        raise click.BadParameter("must be positive", param_hint="--sync-period")
    client = Client(server)
    proxy: KubeProxy | None = None
    try:
        ip = node_ip or _discover_node_ip(client, node, timeout=60.0)
        proxy = KubeProxy(client, node, ip, sync_period=sync_period)
        asyncio.run(_run(proxy))
    finally:
        if proxy is not None:
            proxy.stop_informers()
        client.close()


async def _run(proxy: KubeProxy) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await proxy.run(stop)


if __name__ == "__main__":
    main()
