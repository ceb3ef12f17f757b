"""``python -m clusterdns --server ADDR --listen 127.96.0.10:53``: run the cluster DNS.

The main thread runs the asyncio loop (see :mod:`clusterdns.server`);
SIGTERM and SIGINT set its stop event. The sockets close in the loop's
``finally``, then the informer threads stop, then the client closes.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from clusterdns.records import DEFAULT_TTL
from clusterdns.server import ClusterDNS
from kemu import log
from kemu.client import DEFAULT_SERVER, Client

DEFAULT_LISTEN = "127.96.0.10:53"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``HOST``, port 53) -> ``(host, port)``.

    >>> parse_listen("127.96.0.10:53")
    ('127.96.0.10', 53)
    >>> parse_listen("127.97.0.10")
    ('127.97.0.10', 53)
    """
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, 53
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid port in {text!r}")
    return host, int(port)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--server", default=DEFAULT_SERVER, envvar="KEMU_SERVER", help="The apiserver's request address (tcp:// or ipc://).")
@click.option("--listen", default=DEFAULT_LISTEN,
              help="HOST:PORT to serve on, UDP and TCP (the kube-dns Service's ClusterIP, port 53).")
@click.option("--cluster-domain", default="cluster.local", help="The cluster's DNS domain.")
@click.option("--ttl", type=int, default=DEFAULT_TTL, help="TTL of every answer, in seconds.")
@click.option("--pods", type=click.Choice(["insecure", "verified", "disabled"]), default="insecure",
              help="Pod A records <a-b-c-d>.<ns>.pod.<domain>: for any IP (CoreDNS' default), "
                   "only for existing pods, or none.")
@click.option("--log-level", type=click.Choice(log.LEVELS), default="info")
def main(server: str, listen: str, cluster_domain: str, ttl: int, pods: str, log_level: str) -> None:
    """Run the kemu cluster DNS server."""
    log.configure("cluster-dns", level=log_level)
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    client = Client(server)
    dns = ClusterDNS(client, host, port, zone=cluster_domain, ttl=ttl, pods=pods)
    try:
        asyncio.run(_run(dns))
    except OSError as exc:
        log.get_logger().error("cluster DNS cannot start", error=str(exc))
        sys.exit(1)
    finally:
        dns.stop_informers()
        client.close()


async def _run(dns: ClusterDNS) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await dns.run(stop)


if __name__ == "__main__":
    main()
