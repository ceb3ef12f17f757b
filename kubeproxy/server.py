"""One kube-proxy: informers on Services and Endpoints driving a :class:`~kubeproxy.proxier.Proxier`.

Threads and tasks::

    informer-Service     (thread)  cache + handler -> loop.call_soon_threadsafe(sync)
    informer-Endpoints   (thread)  cache + handler -> loop.call_soon_threadsafe(sync)
    main thread          asyncio loop: listeners, connections, sync, periodic resync

The informers' handlers never touch sockets: they ask the loop for a sync and
return. A sync reads both caches (under their locks) and applies the whole
picture (level-triggered, like a controller's ``sync``), so events that
arrive together are applied together and a lost wake-up is repaired by the
periodic resync (``--sync-period``), which also retries listeners that
failed to open and drops expired ClientIP affinities.

The proxy opens no listener before both caches listed once, so it never
serves a Service with an empty endpoint list just because it has not heard
of its pods yet.
"""

from __future__ import annotations

import asyncio
import time

from kemu.client import Client
from kemu.informer import Informer
from kemu.log import get_logger
from kubeproxy.proxier import Proxier
from kemu.types import Obj

__all__ = ["KubeProxy", "node_internal_ip"]


def node_internal_ip(node: Obj) -> str | None:
    """The Node's ``InternalIP`` from ``status.addresses``, or None.

    >>> node_internal_ip({"status": {"addresses": [{"type": "Hostname", "address": "node-1"},
    ...                                            {"type": "InternalIP", "address": "127.0.1.1"}]}})
    '127.0.1.1'
    """
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP" and address.get("address"):
            return str(address["address"])
    return None


class _Wake:
    """Informer handler: any change asks the loop for a sync."""

    def __init__(self, proxy: KubeProxy) -> None:
        self.proxy = proxy

    def on_add(self, obj: Obj) -> None:
        self.proxy.request_sync()

    def on_update(self, old: Obj, new: Obj) -> None:
        self.proxy.request_sync()

    def on_delete(self, obj: Obj) -> None:
        self.proxy.request_sync()


class KubeProxy:
    """See the module doc. ``run`` is the whole life of the component."""

    node: str
    """This node's name."""
    node_ip: str
    """This node's InternalIP (NodePorts, source of upstream connections)."""
    sync_period: float
    """Seconds between two full resyncs."""

    def __init__(self, client: Client, node: str, node_ip: str, *, sync_period: float = 5.0) -> None:
        self.client = client
        self.node = node
        self.node_ip = node_ip
        self.sync_period = sync_period
        self.log = get_logger()
        self.proxier = Proxier(node_ip=node_ip)
        self.services = Informer(client, "Service", name="informer-Service")
        self.endpoints = Informer(client, "Endpoints", name="informer-Endpoints")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending = False
        wake = _Wake(self)
        self.services.add_handler(wake)
        self.endpoints.add_handler(wake)

    def request_sync(self) -> None:
        """Thread-safe: schedule one sync on the loop (coalesced)."""
        loop = self._loop
        if loop is None or self._pending:
            return
        self._pending = True
        try:
            loop.call_soon_threadsafe(self._sync)
        except RuntimeError:  # the loop closed while we were stopping
            pass

    def _sync(self) -> None:
        # Clear the flag *before* reading the caches: a change landing after
        # this point schedules another sync, one landing before is read now.
        self._pending = False
        try:
            self.proxier.sync(self.services.list(), self.endpoints.get)
        except Exception:
            self.log.exception("proxy sync failed")

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then close listeners and connections."""
        self._loop = asyncio.get_running_loop()
        self.services.start()
        self.endpoints.start()
        try:
            started = time.monotonic()
            warned = 0.0
            while not (self.services.synced and self.endpoints.synced):
                if stop.is_set():
                    return
                waited = time.monotonic() - started
                if waited - warned >= 5.0:
                    warned = waited
                    self.log.warning("informer caches not synced yet (is the apiserver up?)", waited_seconds=round(waited, 1))
                await asyncio.sleep(0.05)
            self._sync()
            self.log.info("kube-proxy running", node_ip=self.node_ip, listeners=len(self.proxier.listeners), mode="userspace")
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), self.sync_period)
                except TimeoutError:
                    self._sync()
                    self.proxier.balancer.cleanup_stale_sessions()
        finally:
            await self.proxier.close()
            stats = self.proxier.stats
            self.log.info(
                "kube-proxy stopped",
                accepted=stats.accepted,
                forwarded=stats.forwarded,
                rejected=stats.rejected,
                dial_failures=stats.dial_failures,
                bytes=stats.bytes,
            )
            self._loop = None

    def stop_informers(self, timeout: float = 5.0) -> None:
        """Stop the informer threads (call after :meth:`run` returned)."""
        self.services.stop(timeout)
        self.endpoints.stop(timeout)
