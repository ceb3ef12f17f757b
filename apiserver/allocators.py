"""Service ClusterIP and NodePort allocation (an admission step).

A Service gets a ClusterIP from ``--service-cluster-ip-range`` (the first
address is kept for the ``kubernetes`` service, as in Kubernetes) and, for
``NodePort``/``LoadBalancer`` services, a node port per port from
30000-32767. A requested address or port is honoured when it is free and in
range, and refused with Kubernetes' wording otherwise.

What is allocated is read from the stored Services each time, not kept in
a separate bitmap: the store is the only truth, so allocations survive a
restart, are released with the Service, and are rolled back with a failed
transaction without any extra bookkeeping. Scanning a few hundred Services
per Service write is cheap.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from apiserver.store import Store
from kemu.api import errors
from kemu.api.errors import Cause
from kemu.types import Obj

__all__ = ["ServiceAllocator"]


class ServiceAllocator:
    """Fills ``spec.clusterIP(s)`` and ``nodePort``s of Services being written."""

    def __init__(self, store: Store, *, cidr: str = "127.96.0.0/16", node_ports: tuple[int, int] = (30000, 32767)):
        self.store = store
        self.network = ipaddress.ip_network(cidr)
        self.node_ports = node_ports

    def __call__(self, kind: str, new: Obj, old: Obj | None) -> None:
        if kind != "Service":
            return
        spec = new.setdefault("spec", {})
        svc_type = spec.get("type", "ClusterIP")
        name = new["metadata"].get("name", "")
        if svc_type == "ExternalName":
            return
        key = (new["metadata"].get("namespace", ""), name)
        self._cluster_ip(spec, name, key, old)
        if svc_type in ("NodePort", "LoadBalancer"):
            self._node_ports(spec, name, key)
        else:
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)

    # -- ClusterIP -----------------------------------------------------------------

    def _services(self, skip: tuple[str, str]) -> Iterator[Obj]:
        for svc in self.store.list("Service"):
            if (svc["metadata"].get("namespace", ""), svc["metadata"]["name"]) != skip:
                yield svc

    def _cluster_ip(self, spec: Obj, name: str, key: tuple[str, str], old: Obj | None) -> None:
        requested = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
        if requested == "None":
            spec["clusterIP"] = "None"
            spec["clusterIPs"] = ["None"]
            return
        if old is not None and requested and requested == (old.get("spec") or {}).get("clusterIP"):
            return  # unchanged (immutability is validation's business)
        used = {s["spec"].get("clusterIP") for s in self._services(key)}
        if requested:
            self._check_requested_ip(str(requested), used, name)
            ip = str(requested)
        else:
            ip = self._next_free_ip(used, name)
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")

    def _check_requested_ip(self, requested: str, used: set[Any], name: str) -> None:
        field = "spec.clusterIPs"
        shown = f'[]string{{"{requested}"}}'
        try:
            addr = ipaddress.ip_address(requested)
        except ValueError:
            raise errors.invalid(
                "Service", name, [Cause(field, "FieldValueInvalid", f"{field}[0]: Invalid value: \"{requested}\": "
                                      "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
            ) from None
        if addr not in self.network or addr == self.network.network_address or addr == self.network.broadcast_address:
            raise errors.invalid(
                "Service",
                name,
                [Cause(field, "FieldValueInvalid", f"{field}: Invalid value: {shown}: failed to allocate IP {requested}: "
                       f"the provided IP ({requested}) is not in the valid range. The range of valid IPs is {self.network}")],
            )
        if requested in used:
            raise errors.invalid(
                "Service",
                name,
                [Cause(field, "FieldValueInvalid",
                       f"{field}: Invalid value: {shown}: failed to allocate IP {requested}: provided IP is already allocated")],
            )

    def _next_free_ip(self, used: set[Any], name: str) -> str:
        # .1 belongs to the kubernetes service; hand out from .10 so the first
        # addresses stay free for well-known services (DNS is .10 in Kubernetes).
        for offset in range(11, self.network.num_addresses - 1):
            ip = str(self.network.network_address + offset)
            if ip not in used:
                return ip
        raise errors.ApiError(
            errors.status_dict(500, "InternalError",
                               f"Internal error occurred: failed to allocate a serviceIP: range is full ({self.network})",
                               name=name, kind="services")
        )

    # -- NodePort ---------------------------------------------------------------------

    def _node_ports(self, spec: Obj, name: str, key: tuple[str, str]) -> None:
        used = {
            p.get("nodePort")
            for s in self._services(key)
            for p in (s.get("spec") or {}).get("ports") or []
            if p.get("nodePort")
        }
        lo, hi = self.node_ports
        mine: set[int] = set()
        for i, port in enumerate(spec.get("ports") or []):
            requested = port.get("nodePort")
            if requested:
                path = f"spec.ports[{i}].nodePort"
                if not lo <= int(requested) <= hi:
                    raise errors.invalid("Service", name, [Cause(
                        path, "FieldValueInvalid", f"{path}: Invalid value: {requested}: provided port is not in the valid range. "
                        f"The range of valid ports is {lo}-{hi}")])
                if requested in used or requested in mine:
                    raise errors.invalid("Service", name, [Cause(
                        path, "FieldValueInvalid", f"{path}: Invalid value: {requested}: provided port is already allocated")])
                mine.add(int(requested))
        for port in spec.get("ports") or []:
            if port.get("nodePort"):
                continue
            for candidate in range(lo, hi + 1):
                if candidate not in used and candidate not in mine:
                    port["nodePort"] = candidate
                    mine.add(candidate)
                    break
            else:
                raise errors.ApiError(errors.status_dict(
                    500, "InternalError", "Internal error occurred: failed to allocate a nodePort: range is full"))
