"""The endpoints controller: one Endpoints object per Service, listing its pods.

Kubernetes' ``pkg/controller/endpoint`` in kemu's words.

For every Service with a selector, the controller keeps an Endpoints object
of the same name whose ``subsets`` list the IPs of the pods the selector
matches, split into ``addresses`` (ready: kube-proxy sends traffic there) and
``notReadyAddresses`` (running but not ready, or on a node that stopped
answering: the node lifecycle controller sets those pods' Ready condition to
False), with the ports resolved per pod (a named ``targetPort`` such as
``http`` is looked up among each pod's container ports, so two pods may
serve one Service on different numbers). Each address carries ``nodeName``
and a ``targetRef`` to its pod.

Rules that follow Kubernetes (``ShouldPodBeInEndpoints``, ``addEndpointSubset``):

- a pod without an IP, or Succeeded/Failed, is left out;
- a pod being deleted (``deletionTimestamp`` set) is left out at once, so a
  rolling update or an eviction takes it out of rotation before its
  containers get SIGTERM's grace period;
- ``publishNotReadyAddresses: true`` lists every such pod as ready,
  terminating or not (a StatefulSet's peers find each other before they are
  ready);
- a Service without a selector is left alone: its Endpoints are written by
  hand (``kubectl apply`` of an Endpoints manifest), as are ExternalName
  Services;
- when the Service goes, so does its Endpoints object.

Threads. The handlers of three shared informers (Service, Pod, Endpoints)
only enqueue Service keys: a Service change enqueues itself; a Pod change
enqueues every Service of the pod's namespace whose selector matched the old
or matches the new labels, and only when something the Endpoints show
changed (:func:`pod_change_affects_endpoints`); an Endpoints deletion
enqueues its Service (recreate it). ``--concurrent-endpoint-syncs`` workers
run :meth:`EndpointsController.sync`, which recomputes the subsets from the
caches with :func:`compute_subsets` and writes only when they differ from
the cached Endpoints (a stale cache gives a 409 Conflict, retried shortly by
:class:`~controllermanager.base.QueueController`). At start, every existing
Endpoints object is enqueued once, so leftovers of Services deleted while
the controller was down are removed (``checkLeftoverEndpoints``).

The decisions are pure functions at the top of this module, unit-tested in
``tests/unit/test_endpoints_logic.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from controllermanager.base import (
    ControllerContext,
    Handlers,
    Obj,
    QueueController,
    deep_copy,
    is_pod_ready,
    is_pod_terminating,
    key_of,
    obj_fields,
    split_key,
)
from kemu.api import errors

__all__ = [
    "HEADLESS_LABEL",
    "EndpointsController",
    "compute_subsets",
    "desired_labels",
    "endpoint_address",
    "endpoint_ips",
    "find_port",
    "pod_change_affects_endpoints",
    "repack_subsets",
    "selector_matches",
    "service_selector",
    "should_pod_be_in_endpoints",
]

HEADLESS_LABEL = "service.kubernetes.io/headless"
"""Label the controller puts on the Endpoints of a headless Service (``v1.IsHeadlessService``)."""


# -- pure decisions ---------------------------------------------------------------------------


def service_selector(service: Obj) -> dict[str, str] | None:
    """The Service's selector, or None when it has none (an empty map counts
    as none: the API drops it, and Kubernetes then manages no endpoints)."""
    selector = (service.get("spec") or {}).get("selector")
    return dict(selector) if selector else None


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str] | None) -> bool:
    """A Service selector (a plain map, every pair must be present) against labels.

    >>> selector_matches({"app": "web"}, {"app": "web", "tier": "fe"})
    True
    >>> selector_matches({"app": "web"}, {"app": "db"})
    False
    """
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """Whether ``pod`` appears in a Service's Endpoints at all (ready or not).

    Left out: pods without an IP (not started yet), pods that finished
    (Succeeded/Failed), and terminating pods unless ``include_terminating``
    (the Service's ``publishNotReadyAddresses``).
    """
    status = pod.get("status") or {}
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    if status.get("phase") in ("Succeeded", "Failed"):
        return False
    return include_terminating or not is_pod_terminating(pod)


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """The pod's port number for one Service port (``podutil.FindPort``).

    A numeric ``targetPort`` is taken as is (default: the Service ``port``);
    a named one is looked up among the pod's containers' ports with the same
    name and protocol. None when the pod has no such named port (the pod is
    then left out of that port's subset).

    >>> pod = {"spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]}}
    >>> find_port(pod, {"port": 80, "targetPort": "http"})
    8080
    >>> find_port(pod, {"port": 80, "targetPort": 9090})
    9090
    >>> find_port(pod, {"port": 80, "targetPort": "metrics"}) is None
    True
    """
    target = service_port.get("targetPort")
    if target is None or target == "" or target == 0:
        target = service_port.get("port")
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                number = port.get("containerPort")
                return int(number) if number is not None else None
    return None


def endpoint_address(pod: Obj, service: Obj) -> Obj:
    """The EndpointAddress of ``pod`` (``podToEndpointAddressForService``):
    its IP, node and a reference to it; ``hostname`` when the pod asks for
    one in this Service's subdomain (``spec.hostname`` + ``spec.subdomain``)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    ip = status.get("podIP") or ((status.get("podIPs") or [{}])[0]).get("ip")
    address: Obj = {"ip": ip}
    svc_meta = service.get("metadata") or {}
    if (
        spec.get("hostname")
        and spec.get("subdomain") == svc_meta.get("name")
        and meta.get("namespace") == svc_meta.get("namespace")
    ):
        address["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        address["nodeName"] = spec["nodeName"]
    address["targetRef"] = {
        "kind": "Pod",
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
    }
    return address


def _address_key(address: Obj) -> tuple[str, str]:
    ref = address.get("targetRef") or {}
    return (str(address.get("ip") or ""), str(ref.get("uid") or ref.get("name") or ""))


def _ip_sort_key(address: Obj) -> tuple[Any, ...]:
    ip = str(address.get("ip") or "")
    parts = ip.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return (0, tuple(int(p) for p in parts), _address_key(address))
    return (1, ip, _address_key(address))


def _port_key(port: Obj) -> tuple[str, int, str]:
    return (str(port.get("name") or ""), int(port.get("port") or 0), str(port.get("protocol") or "TCP"))


def repack_subsets(entries: Iterable[tuple[Obj, Obj | None, bool]]) -> list[Obj]:
    """Fold ``(address, port or None, ready)`` triples into Endpoints
    ``subsets`` (``endpoints.RepackSubsets``): ports whose sets of (address,
    readiness) are the same share one subset. Addresses are sorted by IP,
    ports by name and number; empty lists are left out.

    Worked example: pods A (ready) and B (not ready) both serving port
    ``http`` 80 give one subset ``{addresses: [A], notReadyAddresses: [B],
    ports: [http/80]}``; if B served 8080 instead, two subsets, one per port.
    """
    by_port: dict[tuple[str, int, str] | None, set[tuple[tuple[str, str], bool]]] = {}
    ports: dict[tuple[str, int, str] | None, Obj | None] = {}
    addresses: dict[tuple[str, str], Obj] = {}
    for address, port, ready in entries:
        akey = _address_key(address)
        addresses.setdefault(akey, address)
        pkey = _port_key(port) if port is not None else None
        ports.setdefault(pkey, port)
        by_port.setdefault(pkey, set()).add((akey, ready))
    groups: dict[frozenset[tuple[tuple[str, str], bool]], list[tuple[str, int, str] | None]] = {}
    for pkey, port_members in by_port.items():
        groups.setdefault(frozenset(port_members), []).append(pkey)
    subsets: list[Obj] = []
    for members, pkeys in groups.items():
        subset: Obj = {}
        ready_list = sorted((addresses[a] for a, r in members if r), key=_ip_sort_key)
        not_ready_list = sorted((addresses[a] for a, r in members if not r), key=_ip_sort_key)
        if ready_list:
            subset["addresses"] = [deep_copy(a) for a in ready_list]
        if not_ready_list:
            subset["notReadyAddresses"] = [deep_copy(a) for a in not_ready_list]
        port_objs = [ports[k] for k in sorted(k for k in pkeys if k is not None)]
        if port_objs:
            subset["ports"] = [dict(p) for p in port_objs if p is not None]
        subsets.append(subset)

    def subset_order(subset: Obj) -> tuple[Any, ...]:
        first = (subset.get("addresses") or subset.get("notReadyAddresses") or [{}])[0]
        return (tuple(_port_key(p) for p in subset.get("ports") or []), _ip_sort_key(first))

    return sorted(subsets, key=subset_order)


def compute_subsets(service: Obj, pods: Sequence[Obj]) -> tuple[list[Obj], int, int]:
    """The Endpoints ``subsets`` for ``service`` given the pods its selector
    matches, with the number of ready and not-ready (address, port) pairs.

    Worked example: a Service ``web`` (port 80 -> ``targetPort: http``) over
    pods ``a`` (ready, ``http`` = 80), ``b`` (not ready) and ``c``
    (terminating) gives ``[{addresses: [a], notReadyAddresses: [b], ports:
    [{port: 80, protocol: TCP}]}]`` and ``(1, 1)``: ``c`` left at once.
    """
    spec = service.get("spec") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    service_ports = spec.get("ports") or []
    headless = spec.get("clusterIP") == "None"
    entries: list[tuple[Obj, Obj | None, bool]] = []
    ready_count = not_ready_count = 0
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, publish_not_ready):
            continue
        address = endpoint_address(pod, service)
        ready = publish_not_ready or is_pod_ready(pod)
        if not service_ports:
            if headless:  # a headless Service may have no ports: addresses only
                entries.append((address, None, ready))
                ready_count += ready
                not_ready_count += not ready
            continue
        for sp in service_ports:
            number = find_port(pod, sp)
            if number is None:
                continue
            port: Obj = {"port": number, "protocol": sp.get("protocol") or "TCP"}
            if sp.get("name"):
                port = {"name": sp["name"], **port}
            if sp.get("appProtocol"):
                port["appProtocol"] = sp["appProtocol"]
            entries.append((address, port, ready))
            ready_count += ready
            not_ready_count += not ready
    return repack_subsets(entries), ready_count, not_ready_count


def desired_labels(service: Obj) -> dict[str, str]:
    """The Endpoints' labels: the Service's, plus ``service.kubernetes.io/headless``
    for a headless Service."""
    labels = dict((service.get("metadata") or {}).get("labels") or {})
    labels.pop(HEADLESS_LABEL, None)
    if (service.get("spec") or {}).get("clusterIP") in (None, "", "None"):
        labels[HEADLESS_LABEL] = ""
    return labels


def endpoint_ips(subsets: Sequence[Obj] | None, field: str = "addresses") -> set[str]:
    """Every IP listed under ``field`` (``addresses`` or ``notReadyAddresses``)."""
    return {str(a.get("ip")) for s in subsets or [] for a in s.get(field) or []}


def pod_change_affects_endpoints(old: Obj, new: Obj) -> bool:
    """Whether a pod update can change any Endpoints (``podEndpointsChanged``
    plus label changes): IP, readiness, terminating, phase, node, labels,
    hostname/subdomain or container ports. Status churn such as restart
    counts or probe timestamps is not."""

    def view(pod: Obj) -> tuple[Any, ...]:
        meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
        ports = [
            (p.get("name"), p.get("containerPort"), p.get("protocol"))
            for c in spec.get("containers") or []
            for p in c.get("ports") or []
        ]
        return (
            status.get("podIP"),
            is_pod_ready(pod),
            bool(meta.get("deletionTimestamp")),
            status.get("phase"),
            spec.get("nodeName"),
            tuple(sorted((meta.get("labels") or {}).items())),
            spec.get("hostname"),
            spec.get("subdomain"),
            tuple(ports),
        )

    return view(old) != view(new)


# -- the controller ----------------------------------------------------------------------------


class EndpointsController(QueueController[str]):
    """Keeps each selector Service's Endpoints in line with its pods; see the module doc."""

    name = "endpoints"
    component = "endpoint-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, workers=ctx.options.concurrent_endpoint_syncs)
        self.recorder = ctx.recorder(self.component)
        self.services = ctx.informer("Service")
        self.pods = ctx.informer("Pod")
        self.endpoints = ctx.informer("Endpoints")
        self.services.add_handler(
            Handlers(add=self.enqueue_obj, update=lambda _old, new: self.enqueue_obj(new), delete=self.enqueue_obj)
        )
        self.pods.add_handler(Handlers(add=self._pod_added, update=self._pod_updated, delete=self._pod_added))
        self.endpoints.add_handler(Handlers(delete=self.enqueue_obj))

    # -- handlers (informer threads: enqueue only) ---------------------------------

    def _services_for_labels(self, namespace: str, *label_sets: Mapping[str, str] | None) -> set[str]:
        keys: set[str] = set()
        for svc in self.services.by_index("namespace", namespace):
            selector = service_selector(svc)
            if selector is None:
                continue
            if any(selector_matches(selector, labels) for labels in label_sets):
                keys.add(key_of(svc))
        return keys

    def _pod_added(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        for key in self._services_for_labels(meta.get("namespace", ""), meta.get("labels")):
            self.enqueue(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if not pod_change_affects_endpoints(old, new):
            return
        meta = new.get("metadata") or {}
        old_labels = (old.get("metadata") or {}).get("labels")
        for key in self._services_for_labels(meta.get("namespace", ""), old_labels, meta.get("labels")):
            self.enqueue(key)

    # -- the work --------------------------------------------------------------------

    def on_start(self) -> None:
        # checkLeftoverEndpoints: Endpoints whose Service went while we were down.
        for key in self.endpoints.keys():  # noqa: SIM118 - an Informer, not a dict
            self.enqueue(key)

    def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.services.get(key)
        if service is None:
            self._delete_endpoints(namespace, name)
            return
        spec = service.get("spec") or {}
        selector = service_selector(service)
        if spec.get("type") == "ExternalName" or selector is None:
            return  # endpoints managed by hand (or none at all)
        pods = [p for p in self.pods.by_index("namespace", namespace) if selector_matches(selector, p["metadata"].get("labels"))]
        subsets, ready, not_ready = compute_subsets(service, pods)
        labels = desired_labels(service)
        current = self.endpoints.get(key)
        if current is not None and (current.get("subsets") or []) == subsets and (current["metadata"].get("labels") or {}) == labels:
            return
        log = self.log.bind(**obj_fields(service))
        if current is None:
            obj: Obj = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": name, "namespace": namespace, **({"labels": labels} if labels else {})},
                "subsets": subsets,
            }
            try:
                written = self.client.create(obj)
            except errors.ApiError as exc:
                # 409 AlreadyExists: our cache lags behind; the base class looks again shortly.
                if exc.code != 409:
                    self.recorder.event(service, "Warning", "FailedToCreateEndpoint",
                                        f"Failed to create endpoint for service {namespace}/{name}: {exc.message}")
                raise
            old_ready: set[str] = set()
        else:
            obj = deep_copy(current)
            obj["subsets"] = subsets
            if labels:
                obj["metadata"]["labels"] = labels
            else:
                obj["metadata"].pop("labels", None)
            try:
                written = self.client.update(obj)
            except errors.ApiError as exc:
                if exc.code not in (404, 409):
                    self.recorder.event(service, "Warning", "FailedToUpdateEndpoint",
                                        f"Failed to update endpoint {namespace}/{name}: {exc.message}")
                raise
            old_ready = endpoint_ips(current.get("subsets"))
        new_ready = endpoint_ips(subsets)
        log.info(
            "endpoints updated" if current is not None else "endpoints created",
            ready=ready,
            not_ready=not_ready,
            added=sorted(new_ready - old_ready),
            removed=sorted(old_ready - new_ready),
            endpointsResourceVersion=written["metadata"].get("resourceVersion"),
        )

    def _delete_endpoints(self, namespace: str, name: str) -> None:
        try:
            self.client.delete("Endpoints", name, namespace)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
            return
        self.log.info("endpoints deleted with their service", kind="Endpoints", key=f"{namespace}/{name}")
