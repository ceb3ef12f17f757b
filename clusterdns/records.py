"""Which records a name has: Kubernetes' DNS specification as pure functions.

The answers follow the Kubernetes DNS-based service discovery specification
(``kubernetes/dns``: ``docs/specification.md``) as CoreDNS' ``kubernetes``
plugin implements it, for the cluster domain ``<zone>`` (``cluster.local``):

=========================================  ========================================================
name                                       records
=========================================  ========================================================
``<svc>.<ns>.svc.<zone>``                  A: the ClusterIP; headless: one A per ready endpoint;
                                           ExternalName: a CNAME to ``spec.externalName``
``_<port>._<proto>.<svc>.<ns>.svc.<zone>`` SRV per named port: target ``<svc>.<ns>.svc.<zone>``
                                           (headless: one per ready endpoint, target
                                           ``<hostname or a-b-c-d>.<svc>.<ns>.svc.<zone>``),
                                           with the targets' A records as additional records
``<host>.<svc>.<ns>.svc.<zone>``           A of the headless Service's endpoint whose
                                           ``hostname`` (or dashed IP) is ``<host>``
``<a-b-c-d>.<ns>.pod.<zone>``              A ``a.b.c.d`` (``pods insecure``, CoreDNS' default;
                                           ``verified``: only when a pod of ``<ns>`` has that IP)
``d.c.b.a.in-addr.arpa``                   PTR for a ClusterIP or an endpoint IP
=========================================  ========================================================

A name that exists but has no record of the asked type (an AAAA query for a
Service; ``svc.<zone>`` itself) is ``NOERROR`` with no answer ("NODATA"), so
resolvers that ask A and AAAA together are not told the name does not exist.
Unknown names in the zone are ``NXDOMAIN``; both carry the zone's SOA in the
authority section for negative caching. Names outside the cluster domain
(and outside ``in-addr.arpa``) are ``REFUSED``: kemu's DNS forwards nothing,
there is no internet to forward to.

Everything here reads a :class:`ClusterView` (the DNS server's informer
caches; a dict-backed fake in tests) and returns an :class:`Answer` of plain
:class:`Record` tuples; the server turns those into wire format with dnslib.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from kemu.types import Obj

__all__ = [
    "DEFAULT_TTL",
    "Answer",
    "ClusterView",
    "Record",
    "dashed_ip",
    "resolve",
    "soa_record",
]


DEFAULT_TTL = 5
"""Seconds answers may be cached (CoreDNS' kubernetes plugin default)."""

_PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class Record:
    """One resource record, wire-agnostic."""

    name: str
    """Owner name, lower case, without the trailing dot."""
    rtype: str
    """``A``, ``SRV``, ``CNAME``, ``PTR``, ``SOA`` or ``NS``."""
    ttl: int
    """Seconds."""
    data: tuple[Any, ...]
    """A/CNAME/PTR/NS: ``(text,)``; SRV: ``(priority, weight, port, target)``;
    SOA: ``(mname, rname, serial, refresh, retry, expire, minimum)``."""


@dataclass
class Answer:
    """What to reply."""

    rcode: str = "NOERROR"
    """``NOERROR``, ``NXDOMAIN`` or ``REFUSED``."""
    answers: list[Record] = field(default_factory=list)
    """The answer section."""
    additional: list[Record] = field(default_factory=list)
    """Additional records (the A records of SRV targets)."""
    authority: list[Record] = field(default_factory=list)
    """The SOA, for NXDOMAIN and NODATA."""


class ClusterView(Protocol):
    """What the resolver reads (the DNS server's caches)."""

    def service(self, namespace: str, name: str) -> Obj | None:
        """The Service ``namespace/name``, or None."""

    def endpoints(self, namespace: str, name: str) -> Obj | None:
        """The Endpoints ``namespace/name``, or None."""

    def services_by_ip(self, ip: str) -> Sequence[Obj]:
        """Services whose ClusterIP is ``ip``."""

    def endpoints_by_ip(self, ip: str) -> Sequence[Obj]:
        """Endpoints objects listing ``ip`` as a ready address."""

    def pod_ip_exists(self, namespace: str, ip: str) -> bool | None:
        """Whether a pod of ``namespace`` has ``ip``; None when pods are not watched."""


def dashed_ip(ip: str) -> str:
    """``127.244.1.5`` -> ``127-244-1-5`` (the pod/endpoint label form).

    >>> dashed_ip("127.244.1.5")
    '127-244-1-5'
    """
    return ip.replace(".", "-").replace(":", "-")


def _undashed(label: str) -> str | None:
    text = label.replace("-", ".")
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        return None


def soa_record(zone: str, ttl: int, serial: int = 1) -> Record:
    """The zone's SOA (CoreDNS' shape: ``ns.dns.<zone>``, ``hostmaster.<zone>``)."""
    return Record(zone, "SOA", ttl, (f"ns.dns.{zone}", f"hostmaster.{zone}", serial, 7200, 1800, 86400, ttl))


def _ready_addresses(endpoints: Obj | None) -> list[Obj]:
    """Ready addresses of an Endpoints object, one per IP, sorted."""
    seen: dict[str, Obj] = {}
    for subset in (endpoints or {}).get("subsets") or []:
        for address in subset.get("addresses") or []:
            ip = address.get("ip")
            if ip and ip not in seen:
                seen[ip] = address
    return [seen[ip] for ip in sorted(seen, key=_ip_key)]


def _ip_key(ip: str) -> tuple[int, ...] | tuple[int, str]:
    try:
        return tuple(int(p) for p in ip.split("."))
    except ValueError:
        return (1 << 9, ip)


def _endpoint_host(address: Obj) -> str:
    return str(address.get("hostname") or dashed_ip(str(address.get("ip"))))


def _endpoint_ports(endpoints: Obj | None, port_name: str, protocol: str) -> list[tuple[Obj, int]]:
    """(ready address, port number) pairs of one named port."""
    out: list[tuple[Obj, int]] = []
    for subset in (endpoints or {}).get("subsets") or []:
        for port in subset.get("ports") or []:
            if (port.get("name") or "") == port_name and (port.get("protocol") or "TCP").lower() == protocol:
                for address in subset.get("addresses") or []:
                    out.append((address, int(port.get("port") or 0)))
    return sorted(out, key=lambda pair: (_ip_key(str(pair[0].get("ip"))), pair[1]))


def _is_headless(service: Obj) -> bool:
    return (service.get("spec") or {}).get("clusterIP") in (None, "", "None")


def _service_a(view: ClusterView, service: Obj, name: str, ttl: int) -> list[Record]:
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return [Record(name, "CNAME", ttl, (str(spec.get("externalName") or "").rstrip(".").lower(),))]
    if not _is_headless(service):
        return [Record(name, "A", ttl, (str(spec["clusterIP"]),))]
    meta = service.get("metadata") or {}
    eps = view.endpoints(str(meta.get("namespace")), str(meta.get("name")))
    return [Record(name, "A", ttl, (str(a["ip"]),)) for a in _ready_addresses(eps)]


def _service_srv(view: ClusterView, service: Obj, svc_name: str, port_label: str, proto_label: str, qname: str,
                 ttl: int) -> tuple[list[Record], list[Record]] | None:
    """SRV answers and additional A records for ``_<port>._<proto>.<svc name>``, or None
    when the Service has no such port."""
    if not (port_label.startswith("_") and proto_label.startswith("_")):
        return None
    port_name, protocol = port_label[1:], proto_label[1:]
    spec = service.get("spec") or {}
    match = [p for p in spec.get("ports") or [] if (p.get("name") or "") == port_name and (p.get("protocol") or "TCP").lower() == protocol]
    if not match or not port_name:
        return None
    if not _is_headless(service):
        answers = [Record(qname, "SRV", ttl, (0, 100, int(p["port"]), svc_name)) for p in match]
        return answers, [Record(svc_name, "A", ttl, (str(spec["clusterIP"]),))]
    meta = service.get("metadata") or {}
    pairs = _endpoint_ports(view.endpoints(str(meta.get("namespace")), str(meta.get("name"))), port_name, protocol)
    if not pairs:
        return [], []
    weight = max(1, 100 // len(pairs))
    answers, additional = [], []
    for address, number in pairs:
        target = f"{_endpoint_host(address)}.{svc_name}"
        answers.append(Record(qname, "SRV", ttl, (0, weight, number, target)))
        additional.append(Record(target, "A", ttl, (str(address["ip"]),)))
    return answers, additional


def _nodata(zone: str, ttl: int) -> Answer:
    return Answer("NOERROR", authority=[soa_record(zone, ttl)])


def _nxdomain(zone: str, ttl: int) -> Answer:
    return Answer("NXDOMAIN", authority=[soa_record(zone, ttl)])


def _filter(records: list[Record], qtype: str, zone: str, ttl: int, additional: list[Record] | None = None) -> Answer:
    """The records of type ``qtype`` (a CNAME answers any type); NODATA when none."""
    wanted = [r for r in records if qtype == "ANY" or r.rtype == qtype or r.rtype == "CNAME"]
    if not wanted:
        return _nodata(zone, ttl)
    return Answer("NOERROR", wanted, additional or [])


def _resolve_svc(view: ClusterView, labels: list[str], qname: str, qtype: str, zone: str, ttl: int) -> Answer:
    """``labels`` are the parts before ``svc.<zone>``, outermost last (``[..., svc, ns]``)."""
    if len(labels) <= 1:
        return _nodata(zone, ttl)  # svc.<zone>, <ns>.svc.<zone>: empty non-terminals
    ns, svc_label = labels[-1], labels[-2]
    service = view.service(ns, svc_label)
    if service is None:
        return _nxdomain(zone, ttl)
    svc_name = f"{svc_label}.{ns}.svc.{zone}"
    rest = labels[:-2]
    if not rest:
        return _filter(_service_a(view, service, svc_name, ttl), qtype, zone, ttl)
    if len(rest) == 2:
        srv = _service_srv(view, service, svc_name, rest[0], rest[1], qname, ttl)
        if srv is not None:
            answers, additional = srv
            return _filter(answers, qtype, zone, ttl, additional) if answers else _nodata(zone, ttl)
    if len(rest) == 1:
        if rest[0].startswith("_") and rest[0][1:] in _PROTOCOLS:
            return _nodata(zone, ttl)  # _tcp.<svc>: an empty non-terminal of the SRV names
        if rest[0].startswith("_") and any(
            (p.get("name") or "") == rest[0][1:] for p in (service.get("spec") or {}).get("ports") or []
        ):
            return _nodata(zone, ttl)
        if _is_headless(service):
            eps = view.endpoints(ns, svc_label)
            hits = [a for a in _ready_addresses(eps) if _endpoint_host(a) == rest[0] or dashed_ip(str(a["ip"])) == rest[0]]
            if hits:
                return _filter([Record(qname, "A", ttl, (str(a["ip"]),)) for a in hits], qtype, zone, ttl)
    return _nxdomain(zone, ttl)


def _resolve_pod(view: ClusterView, labels: list[str], qname: str, qtype: str, zone: str, ttl: int, pods: str) -> Answer:
    if len(labels) <= 1:
        return _nodata(zone, ttl)
    if len(labels) != 2 or pods == "disabled":
        return _nxdomain(zone, ttl)
    ns, host = labels[1], labels[0]
    ip = _undashed(host)
    if ip is None:
        return _nxdomain(zone, ttl)
    if pods == "verified" and view.pod_ip_exists(ns, ip) is False:
        return _nxdomain(zone, ttl)
    return _filter([Record(qname, "A", ttl, (ip,))], qtype, zone, ttl)


def _resolve_ptr(view: ClusterView, qname: str, qtype: str, zone: str, ttl: int) -> Answer:
    parts = qname[: -len(".in-addr.arpa")].split(".")
    if len(parts) != 4:
        return Answer("NXDOMAIN")
    ip = ".".join(reversed(parts))
    try:
        ipaddress.IPv4Address(ip)
    except ValueError:
        return Answer("NXDOMAIN")
    names: list[str] = []
    for svc in view.services_by_ip(ip):
        meta = svc.get("metadata") or {}
        names.append(f"{meta.get('name')}.{meta.get('namespace')}.svc.{zone}")
    for eps in view.endpoints_by_ip(ip):
        meta = eps.get("metadata") or {}
        for address in _ready_addresses(eps):
            if address.get("ip") == ip:
                names.append(f"{_endpoint_host(address)}.{meta.get('name')}.{meta.get('namespace')}.svc.{zone}")
    if not names:
        return Answer("NXDOMAIN")
    records = [Record(qname, "PTR", ttl, (n,)) for n in sorted(set(names))]
    return _filter(records, qtype, zone, ttl) if qtype in ("PTR", "ANY") else Answer("NOERROR")


def resolve(view: ClusterView, qname: str, qtype: str, *, zone: str = "cluster.local", ttl: int = DEFAULT_TTL, pods: str = "insecure") -> Answer:
    """The answer to one question (see the module doc for the rules).

    ``qname`` may carry a trailing dot and any case; ``qtype`` is a type
    mnemonic (``A``, ``AAAA``, ``SRV``, ``PTR``, ``ANY`` ...); ``pods`` is
    ``insecure``, ``verified`` or ``disabled``.
    """
    name = qname.rstrip(".").lower()
    zone = zone.rstrip(".").lower()
    qtype = qtype.upper()
    if name.endswith(".in-addr.arpa"):
        return _resolve_ptr(view, name, qtype, zone, ttl)
    if name == zone:
        if qtype in ("SOA", "ANY"):
            return Answer("NOERROR", [soa_record(zone, ttl)])
        if qtype == "NS":
            return Answer("NOERROR", [Record(zone, "NS", ttl, (f"ns.dns.{zone}",))])
        return _nodata(zone, ttl)
    if not name.endswith("." + zone):
        return Answer("REFUSED")
    labels = name[: -len(zone) - 1].split(".")
    # labels: outermost last, e.g. ["web", "default", "svc"]
    kind = labels[-1]
    inner = labels[:-1]
    if kind == "svc":
        return _resolve_svc(view, inner, name, qtype, zone, ttl)
    if kind == "pod":
        return _resolve_pod(view, inner, name, qtype, zone, ttl, pods)
    return _nxdomain(zone, ttl)
