"""The cluster DNS server: informer caches answered over UDP and TCP.

Threads and tasks::

    informer-Service    (thread)  Services, indexed by namespace and ClusterIP
    informer-Endpoints  (thread)  Endpoints, indexed by ready address IP
    informer-Pod        (thread)  only with ``--pods verified``: pods by IP
    main thread         asyncio loop: one UDP endpoint, one TCP server;
                        each query is parsed, resolved and answered inline

A query never waits on the apiserver: :func:`clusterdns.records.resolve`
reads the caches (each guarded by its informer's lock) and returns at once,
so one loop thread answers everything; there is nothing to gain from a
thread per query. Packets are parsed and built with dnslib. A malformed
packet is dropped (or answered ``FORMERR`` when its header can be read) and
logged at debug level; the server never dies of one. A UDP answer larger
than the client's buffer (512 bytes, or its EDNS0 size) is sent truncated
(``TC``) so the client retries over TCP, as every resolver does.

Queries are not logged one by one at info level (a busy cluster would drown
the log); at debug level each is (name, type, rcode, client).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Sequence
from typing import Any

from dnslib import (
    AAAA,
    CNAME,
    NS,
    PTR,
    QTYPE,
    RCODE,
    RR,
    SOA,
    SRV,
    A,
    DNSHeader,
    DNSRecord,
)

from clusterdns.records import DEFAULT_TTL, Answer, Record, resolve
from kemu.client import Client
from kemu.informer import DEFAULT_INDEXERS, Informer
from kemu.log import get_logger
from kemu.types import Obj

__all__ = ["ClusterDNS", "InformerView", "answer_packet"]


TCP_IDLE_TIMEOUT = 10.0
"""Seconds a TCP client may stay silent between queries."""

_RDATA = {"A": A, "AAAA": AAAA, "CNAME": CNAME, "PTR": PTR, "NS": NS}


def _service_ips(obj: Obj) -> list[str]:
    ip = (obj.get("spec") or {}).get("clusterIP")
    return [str(ip)] if ip and ip != "None" else []


def _endpoint_ips(obj: Obj) -> list[str]:
    return sorted({str(a["ip"]) for s in obj.get("subsets") or [] for a in s.get("addresses") or [] if a.get("ip")})


def _pod_ips(obj: Obj) -> list[str]:
    ip = (obj.get("status") or {}).get("podIP")
    return [str(ip)] if ip else []


class InformerView:
    """:class:`~clusterdns.records.ClusterView` over informer caches."""

    def __init__(self, services: Informer, endpoints: Informer, pods: Informer | None) -> None:
        self.services = services
        self._endpoints = endpoints
        self.pods = pods

    def service(self, namespace: str, name: str) -> Obj | None:
        return self.services.get(f"{namespace}/{name}")

    def endpoints(self, namespace: str, name: str) -> Obj | None:
        return self._endpoints.get(f"{namespace}/{name}")

    def services_by_ip(self, ip: str) -> Sequence[Obj]:
        return self.services.by_index("clusterIP", ip)

    def endpoints_by_ip(self, ip: str) -> Sequence[Obj]:
        return self._endpoints.by_index("ip", ip)

    def pod_ip_exists(self, namespace: str, ip: str) -> bool | None:
        if self.pods is None:
            return None
        return any((p.get("metadata") or {}).get("namespace") == namespace for p in self.pods.by_index("ip", ip))


def _rr(record: Record) -> RR:
    rtype = getattr(QTYPE, record.rtype)
    if record.rtype == "SRV":
        priority, weight, port, target = record.data
        rdata: Any = SRV(priority=priority, weight=weight, port=port, target=target + ".")
    elif record.rtype == "SOA":
        mname, rname, serial, refresh, retry, expire, minimum = record.data
        rdata = SOA(mname + ".", rname + ".", (serial, refresh, retry, expire, minimum))
    elif record.rtype in ("CNAME", "PTR", "NS"):
        rdata = _RDATA[record.rtype](record.data[0] + ".")
    else:
        rdata = _RDATA[record.rtype](record.data[0])
    return RR(record.name + ".", rtype, rdata=rdata, ttl=record.ttl)


def _max_udp_size(request: DNSRecord) -> int:
    for rr in request.ar:
        if rr.rtype == QTYPE.OPT:
            return max(512, min(int(rr.rclass), 65535))
    return 512


def answer_packet(data: bytes, resolver: Any, *, udp: bool) -> tuple[bytes | None, str, str, str]:
    """The reply bytes for one query packet, with (name, type, rcode) for the log.
    ``resolver(name, type) -> Answer``. None when the packet cannot be answered at all."""
    try:
        request = DNSRecord.parse(data)
    except Exception:  # noqa: BLE001 - dnslib raises many kinds of errors on bad input
        if len(data) >= 12:  # the header is readable: say FORMERR, as servers do
            ident = struct.unpack("!H", data[:2])[0]
            reply = DNSRecord(DNSHeader(id=ident, qr=1, rcode=RCODE.FORMERR))
            return reply.pack(), "", "", "FORMERR"
        return None, "", "", "DROPPED"
    reply = request.reply(ra=0, aa=1)
    if request.header.opcode != 0 or request.header.qr:
        reply.header.rcode = RCODE.NOTIMP
        return reply.pack(), "", "", "NOTIMP"
    if len(request.questions) != 1:
        reply.header.rcode = RCODE.FORMERR
        return reply.pack(), "", "", "FORMERR"
    question = request.q
    name = str(question.qname)
    qtype = QTYPE.get(question.qtype, str(question.qtype))
    answer: Answer = resolver(name, str(qtype))
    reply.header.rcode = getattr(RCODE, answer.rcode)
    if answer.rcode == "REFUSED":
        reply.header.aa = 0
    for record in answer.answers:
        reply.add_answer(_rr(record))
    for record in answer.authority:
        reply.add_auth(_rr(record))
    for record in answer.additional:
        reply.add_ar(_rr(record))
    packed = reply.pack()
    if udp and len(packed) > _max_udp_size(request):
        truncated = request.reply(ra=0, aa=1)
        truncated.header.tc = 1
        truncated.header.rcode = reply.header.rcode
        packed = truncated.pack()
    return packed, name, str(qtype), answer.rcode


class _UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: ClusterDNS) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.server.handle(data, addr[0], udp=True)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        self.server.log.debug("udp error", error=str(exc))


class ClusterDNS:
    """See the module doc."""

    host: str
    """Address the server listens on (the ``kube-dns`` Service's ClusterIP)."""
    port: int
    """Port (53)."""
    zone: str
    """The cluster domain (``cluster.local``)."""
    ttl: int
    """TTL of every answer, seconds."""
    pods: str
    """Pod records mode: ``insecure``, ``verified`` or ``disabled``."""

    def __init__(
        self,
        client: Client,
        host: str,
        port: int = 53,
        *,
        zone: str = "cluster.local",
        ttl: int = DEFAULT_TTL,
        pods: str = "insecure",
    ) -> None:
        self.client = client
        self.host, self.port = host, port
        self.zone, self.ttl, self.pods = zone.rstrip(".").lower(), ttl, pods
        self.log = get_logger()
        self.services = Informer(
            client, "Service", name="informer-Service", indexers={**DEFAULT_INDEXERS, "clusterIP": _service_ips}
        )
        self.endpoints = Informer(
            client, "Endpoints", name="informer-Endpoints", indexers={**DEFAULT_INDEXERS, "ip": _endpoint_ips}
        )
        self.pod_informer = (
            Informer(client, "Pod", name="informer-Pod", indexers={**DEFAULT_INDEXERS, "ip": _pod_ips})
            if pods == "verified"
            else None
        )
        self.view = InformerView(self.services, self.endpoints, self.pod_informer)
        self.queries = 0
        """Queries answered since start."""

    def _informers(self) -> list[Informer]:
        return [i for i in (self.services, self.endpoints, self.pod_informer) if i is not None]

    def resolve(self, name: str, qtype: str) -> Answer:
        """One question against the caches."""
        return resolve(self.view, name, qtype, zone=self.zone, ttl=self.ttl, pods=self.pods)

    def handle(self, data: bytes, client: str, *, udp: bool) -> bytes | None:
        """Reply bytes for one query (never raises)."""
        try:
            reply, name, qtype, rcode = answer_packet(data, self.resolve, udp=udp)
        except Exception:
            self.log.exception("query failed", client=client)
            return None
        self.queries += 1
        self.log.debug("query", name=name, type=qtype, rcode=rcode, client=client, transport="udp" if udp else "tcp")
        return reply

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        try:
            while True:
                try:
                    size_bytes = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT)
                    (size,) = struct.unpack("!H", size_bytes)
                    data = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE_TIMEOUT)
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                reply = self.handle(data, str(peer[0]), udp=False)
                if reply is None:
                    return
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Start informers, bind UDP and TCP, serve until ``stop`` is set.
        Raises ``OSError`` (with a hint in the message) when the address cannot be bound."""
        loop = asyncio.get_running_loop()
        for informer in self._informers():
            informer.start()
        udp_transport: asyncio.BaseTransport | None = None
        tcp_server: asyncio.base_events.Server | None = None
        try:
            udp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                tcp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                udp_sock.bind((self.host, self.port))
                tcp_sock.bind((self.host, self.port))
                tcp_sock.listen(128)
            except OSError as exc:
                udp_sock.close()
                tcp_sock.close()
                raise OSError(exc.errno, _bind_hint(exc, self.host, self.port)) from exc
            udp_transport, _ = await loop.create_datagram_endpoint(lambda: _UDPProtocol(self), sock=udp_sock)
            tcp_server = await asyncio.start_server(self._tcp_client, sock=tcp_sock)
            started = time.monotonic()
            while not all(i.synced for i in self._informers()):
                if stop.is_set():
                    return
                await asyncio.sleep(0.05)
            self.log.info(
                "cluster DNS serving",
                listen=f"{self.host}:{self.port}",
                zone=self.zone,
                pods=self.pods,
                synced_after=round(time.monotonic() - started, 3),
            )
            await stop.wait()
        finally:
            if udp_transport is not None:
                udp_transport.close()
            if tcp_server is not None:
                tcp_server.close()
            self.log.info("cluster DNS stopped", queries=self.queries)

    def stop_informers(self, timeout: float = 5.0) -> None:
        """Stop the informer threads (after :meth:`run` returned)."""
        for informer in self._informers():
            informer.stop(timeout)


def _bind_hint(exc: OSError, host: str, port: int) -> str:
    text = f"cannot listen on {host}:{port}: {exc.strerror}"
    if port < 1024 and exc.errno == 13:
        return text + (
            f" (port {port} is below 1024: run as root, or `sysctl net.ipv4.ip_unprivileged_port_start={port}`,"
            " or pass --listen with a port >= 1024)"
        )
    if exc.errno == 98:
        return text + " (another DNS server, or another kemu cluster with the same service range, holds it)"
    return text
