"""From API objects to what a kube-proxy does: pure functions, no sockets.

A Service becomes one *listener* per address it is reachable on, each bound
to a :class:`ServicePortName` (``namespace/name:port-name``, Kubernetes'
``proxy.ServicePortName``):

- ``clusterIP:port`` for every TCP port of a Service with a ClusterIP;
- ``<node IP>:nodePort`` on this node for ``NodePort`` and ``LoadBalancer``
  Services;
- ``<externalIP>:port`` for each of ``spec.externalIPs``.

Services left alone (:func:`should_proxy`): headless (``clusterIP: None``),
``ExternalName``, and any Service labelled
``service.kubernetes.io/service-proxy-name`` (Kubernetes' way of saying
"another proxy implements this one"; kemu's cluster DNS Service uses it
because the DNS server listens on the ClusterIP itself).

An Endpoints object becomes, per port name, the list of ready
``(ip, port)`` pairs (:func:`endpoints_by_port`, ``BuildPortsToEndpointsMap``);
``notReadyAddresses`` never receive traffic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from kemu.types import Obj

__all__ = [
    "DEFAULT_AFFINITY_TIMEOUT",
    "SERVICE_PROXY_NAME_LABEL",
    "Endpoint",
    "ListenAddr",
    "ServicePortInfo",
    "ServicePortName",
    "desired_listeners",
    "endpoints_by_port",
    "listeners_for_service",
    "should_proxy",
]


SERVICE_PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name"
"""A Service with this label is implemented by some other proxy; kube-proxy skips it."""

DEFAULT_AFFINITY_TIMEOUT = 10800.0
"""Seconds a ClientIP affinity lasts when the Service does not say (Kubernetes: 3 hours)."""

Endpoint = tuple[str, int]
"""A backend: ``(ip, port)``."""


@dataclass(frozen=True, order=True)
class ServicePortName:
    """One port of one Service: what a balancer state and endpoints are keyed by."""

    namespace: str
    """The Service's namespace."""
    name: str
    """The Service's name."""
    port: str
    """The port's name ("" for a Service's single unnamed port)."""

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}:{self.port}" if self.port else f"{self.namespace}/{self.name}"


@dataclass(frozen=True, order=True)
class ListenAddr:
    """An address a kube-proxy listens on."""

    ip: str
    """The ClusterIP, this node's InternalIP (NodePort) or an external IP."""
    port: int
    """The Service port, or the node port."""
    protocol: str = "TCP"
    """Only TCP is proxied."""

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}/{self.protocol}"


@dataclass(frozen=True)
class ServicePortInfo:
    """What a listener needs to know to place a connection."""

    name: ServicePortName
    """Which Service port the listener serves."""
    affinity: str = "None"
    """``None`` or ``ClientIP`` (``spec.sessionAffinity``)."""
    affinity_timeout: float = DEFAULT_AFFINITY_TIMEOUT
    """Seconds a client sticks to its endpoint after its last connection."""
    kind: str = "ClusterIP"
    """Why it listens there: ``ClusterIP``, ``NodePort`` or ``ExternalIP``."""


def should_proxy(service: Obj) -> bool:
    """Whether kube-proxy implements ``service`` (see the module doc).

    >>> should_proxy({"spec": {"clusterIP": "127.96.0.11", "ports": [{"port": 80}]}})
    True
    >>> should_proxy({"spec": {"clusterIP": "None"}})
    False
    """
    spec = service.get("spec") or {}
    labels = (service.get("metadata") or {}).get("labels") or {}
    if SERVICE_PROXY_NAME_LABEL in labels:
        return False
    if spec.get("type") == "ExternalName":
        return False
    ip = spec.get("clusterIP")
    return bool(ip) and ip != "None"


def _affinity(spec: Mapping[str, Any]) -> tuple[str, float]:
    if spec.get("sessionAffinity") != "ClientIP":
        return "None", DEFAULT_AFFINITY_TIMEOUT
    timeout = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds")
    try:
        seconds = float(timeout) if timeout else DEFAULT_AFFINITY_TIMEOUT
    except (TypeError, ValueError):
        seconds = DEFAULT_AFFINITY_TIMEOUT
    return "ClientIP", seconds


def listeners_for_service(service: Obj, node_ip: str | None) -> dict[ListenAddr, ServicePortInfo]:
    """Every address ``service`` must be reachable on through this node's
    proxy, with what each serves.

    Worked example: a NodePort Service ``default/web`` with ClusterIP
    127.96.0.11 and port ``http`` 80 -> nodePort 30080, seen from a node whose
    IP is 127.0.1.2, gives ``127.96.0.11:80/TCP`` (ClusterIP) and
    ``127.0.1.2:30080/TCP`` (NodePort), both serving ``default/web:http``.
    """
    if not should_proxy(service):
        return {}
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    affinity, timeout = _affinity(spec)
    cluster_ip = str(spec["clusterIP"])
    node_ports = spec.get("type") in ("NodePort", "LoadBalancer")
    out: dict[ListenAddr, ServicePortInfo] = {}
    for port in spec.get("ports") or []:
        protocol = port.get("protocol") or "TCP"
        if protocol != "TCP" or not port.get("port"):
            continue
        spn = ServicePortName(str(meta.get("namespace") or "default"), str(meta.get("name")), str(port.get("name") or ""))

        def info(kind: str, spn: ServicePortName = spn) -> ServicePortInfo:
            return ServicePortInfo(spn, affinity, timeout, kind)

        out[ListenAddr(cluster_ip, int(port["port"]))] = info("ClusterIP")
        for ext in spec.get("externalIPs") or []:
            out[ListenAddr(str(ext), int(port["port"]))] = info("ExternalIP")
        if node_ports and node_ip and port.get("nodePort"):
            out[ListenAddr(node_ip, int(port["nodePort"]))] = info("NodePort")
    return out


def desired_listeners(services: Iterable[Obj], node_ip: str | None) -> dict[ListenAddr, ServicePortInfo]:
    """The union of :func:`listeners_for_service` over ``services``. When two
    Services claim one address (only possible with externalIPs), the first
    in ``namespace/name`` order wins."""
    out: dict[ListenAddr, ServicePortInfo] = {}
    ordered = sorted(services, key=lambda s: ((s.get("metadata") or {}).get("namespace") or "", (s.get("metadata") or {}).get("name") or ""))
    for svc in ordered:
        for addr, info in listeners_for_service(svc, node_ip).items():
            out.setdefault(addr, info)
    return out


def endpoints_by_port(endpoints: Obj | None) -> dict[str, list[Endpoint]]:
    """Ready backends of an Endpoints object, by port name
    (``BuildPortsToEndpointsMap``), each list sorted.

    >>> endpoints_by_port({"subsets": [{"addresses": [{"ip": "127.244.1.5"}],
    ...                                  "notReadyAddresses": [{"ip": "127.244.2.7"}],
    ...                                  "ports": [{"name": "http", "port": 80}]}]})
    {'http': [('127.244.1.5', 80)]}
    """
    out: dict[str, list[Endpoint]] = {}
    for subset in (endpoints or {}).get("subsets") or []:
        for port in subset.get("ports") or []:
            if (port.get("protocol") or "TCP") != "TCP" or not port.get("port"):
                continue
            bucket = out.setdefault(str(port.get("name") or ""), [])
            for address in subset.get("addresses") or []:
                if address.get("ip"):
                    bucket.append((str(address["ip"]), int(port["port"])))
    return {name: sorted(set(eps)) for name, eps in out.items()}
