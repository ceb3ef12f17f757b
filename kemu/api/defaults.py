"""Defaulting: fill in what the apiserver fills in before it validates.

:func:`apply_defaults` mutates an object in place, as the apiserver's
defaulting functions do after decoding (``SetDefaults_*`` in
``pkg/apis/core/v1/defaults.go`` and ``pkg/apis/apps/v1/defaults.go``), plus
the few normalizations that the real registry strategies perform before
validation and that validation relies on (a Service's ``clusterIP`` mirrored
into ``clusterIPs``, a Node's ``podCIDR`` into ``podCIDRs``, a Namespace's
``kubernetes`` finalizer).

Rules worth knowing, each as Kubernetes has it:

- a *Pod* gets ``SetDefaults_Pod`` (``enableServiceLinks: true``, requests
  copied from limits) on top of the pod-spec defaults; a pod *template* in a
  ReplicaSet or Deployment gets only the pod-spec, container, probe and volume
  defaults, so ``kubectl get deploy -o yaml`` shows no ``enableServiceLinks``;
- a string field is defaulted when absent or ``""``, a pointer field only when
  absent (``replicas: 0`` stays 0), an integer probe field when absent or 0;
- every quantity is rewritten in its canonical form (``cpu: 0.5`` is stored
  as ``500m``), and quantities in resource lists are rounded up to ``1m``.

Defaulting never raises: it runs after :func:`kemu.api.validation.check_schema`,
and anything still malformed is left for validation to report.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from kemu import apimachinery
from kemu.api import quantity, schema

__all__ = ["apply_defaults", "carry_over_allocated"]

_UNSET: tuple[Any, ...] = (None,)
_EMPTY_STRING: tuple[Any, ...] = (None, "")
_ZERO: tuple[Any, ...] = (None, 0)

_DEFAULT_MODE = 420  # 0644, for secret, configMap, downwardAPI and projected volumes
_TOKEN_EXPIRATION_SECONDS = 3600


def _default(obj: dict[str, Any], key: str, value: Any, unset: tuple[Any, ...] = _EMPTY_STRING) -> None:
    """Set ``obj[key] = value`` when the current value counts as unset."""
    current = obj.get(key)
    if any(current is u or (u is not None and type(current) is type(u) and current == u) for u in unset):
        obj[key] = value


def _dict(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """``obj[key]`` as a dict, created when absent (``None`` counts as absent)."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = {}
        obj[key] = value
    return value


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a list, ignoring anything malformed."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _child(obj: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = obj.get(key)
    return value if isinstance(value, dict) else None


# --- containers ----------------------------------------------------------------


def _image_tag(image: str) -> str:
    """The tag of an image reference as the kubelet reads it: ``latest`` when
    there is neither tag nor digest, ``""`` when there is only a digest."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.split(":", 1)[1]
    return "" if digest else "latest"


def _default_handler(handler: dict[str, Any]) -> None:
    http_get = _child(handler, "httpGet")
    if http_get is not None:
        _default(http_get, "path", "/")
        _default(http_get, "scheme", "HTTP")


def _default_probe(probe: dict[str, Any]) -> None:
    _default_handler(probe)
    _default(probe, "timeoutSeconds", 1, _ZERO)
    _default(probe, "periodSeconds", 10, _ZERO)
    _default(probe, "successThreshold", 1, _ZERO)
    _default(probe, "failureThreshold", 3, _ZERO)


def _default_env(env: list[dict[str, Any]]) -> None:
    for var in env:
        value_from = _child(var, "valueFrom")
        field_ref = _child(value_from, "fieldRef") if value_from else None
        if field_ref is not None:
            _default(field_ref, "apiVersion", "v1")


def _default_container(container: dict[str, Any]) -> None:
    """``SetDefaults_Container`` and the defaults of everything inside one."""
    if container.get("imagePullPolicy") in _EMPTY_STRING:
        tag = _image_tag(str(container.get("image") or ""))
        container["imagePullPolicy"] = "Always" if tag == "latest" else "IfNotPresent"
    _default(container, "terminationMessagePath", "/dev/termination-log")
    _default(container, "terminationMessagePolicy", "File")
    for port in _dicts(container.get("ports")):
        _default(port, "protocol", "TCP")
    _default_env(_dicts(container.get("env")))
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = _child(container, probe_name)
        if probe is not None:
            _default_probe(probe)
    lifecycle = _child(container, "lifecycle")
    for hook in ("postStart", "preStop"):
        handler = _child(lifecycle, hook) if lifecycle else None
        if handler is not None:
            _default_handler(handler)


# --- volumes --------------------------------------------------------------------

_VOLUME_SOURCES = (
    "hostPath emptyDir secret nfs persistentVolumeClaim downwardAPI configMap projected image "
    + " ".join(schema._OPAQUE_VOLUME_SOURCES)
).split()


def _default_downward_items(items: list[dict[str, Any]]) -> None:
    for item in items:
        field_ref = _child(item, "fieldRef")
        if field_ref is not None:
            _default(field_ref, "apiVersion", "v1")


def _default_projected(projected: dict[str, Any]) -> None:
    _default(projected, "defaultMode", _DEFAULT_MODE, _UNSET)
    for source in _dicts(projected.get("sources")):
        token = _child(source, "serviceAccountToken")
        if token is not None:
            _default(token, "expirationSeconds", _TOKEN_EXPIRATION_SECONDS, _UNSET)
        downward = _child(source, "downwardAPI")
        if downward is not None:
            _default_downward_items(_dicts(downward.get("items")))


def _default_volume(volume: dict[str, Any]) -> None:
    """``SetDefaults_Volume`` and its sources: no source at all means emptyDir."""
    if not any(volume.get(source) is not None for source in _VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for source in ("secret", "configMap", "downwardAPI"):
        body = _child(volume, source)
        if body is not None:
            _default(body, "defaultMode", _DEFAULT_MODE, _UNSET)
    downward = _child(volume, "downwardAPI")
    if downward is not None:
        _default_downward_items(_dicts(downward.get("items")))
    projected = _child(volume, "projected")
    if projected is not None:
        _default_projected(projected)
    host_path = _child(volume, "hostPath")
    if host_path is not None:
        _default(host_path, "type", "", _UNSET)


# --- pod specs ----------------------------------------------------------------


def _default_pod_spec(spec: dict[str, Any]) -> None:
    """``SetDefaults_PodSpec`` plus everything nested in a pod spec; applies to
    pods and to pod templates alike."""
    _default(spec, "dnsPolicy", "ClusterFirst")
    _default(spec, "restartPolicy", "Always")
    _default(spec, "securityContext", {}, _UNSET)
    _default(spec, "terminationGracePeriodSeconds", 30, _UNSET)
    _default(spec, "schedulerName", "default-scheduler")
    # v1 keeps the deprecated serviceAccount mirroring serviceAccountName.
    if spec.get("serviceAccountName") in _EMPTY_STRING and spec.get("serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if spec.get("serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    for container in _dicts(spec.get("containers")) + _dicts(spec.get("initContainers")):
        _default_container(container)
    for container in _dicts(spec.get("ephemeralContainers")):
        _default_container(container)
    for volume in _dicts(spec.get("volumes")):
        _default_volume(volume)


def _requests_from_limits(container: dict[str, Any]) -> None:
    resources = _child(container, "resources")
    limits = _child(resources, "limits") if resources else None
    if not limits or resources is None:
        return
    requests = _dict(resources, "requests")
    for name, value in limits.items():
        requests.setdefault(name, value)


def _host_network_ports(containers: list[dict[str, Any]]) -> None:
    for container in containers:
        for port in _dicts(container.get("ports")):
            _default(port, "hostPort", port.get("containerPort"), _ZERO)


def _default_pod(obj: dict[str, Any]) -> None:
    """``SetDefaults_Pod`` on top of the pod-spec defaults."""
    spec = _dict(obj, "spec")
    containers = _dicts(spec.get("containers")) + _dicts(spec.get("initContainers"))
    for container in containers:
        _requests_from_limits(container)
    _default(spec, "enableServiceLinks", True, _UNSET)
    if spec.get("hostNetwork") is True:
        _host_network_ports(containers)
    _default_pod_spec(spec)


def _default_template(spec: dict[str, Any]) -> None:
    template = _child(spec, "template")
    if template is not None:
        _default_pod_spec(_dict(template, "spec"))


def _default_replica_set(obj: dict[str, Any]) -> None:
    spec = _dict(obj, "spec")
    _default(spec, "replicas", 1, _UNSET)
    _default_template(spec)


def _default_deployment(obj: dict[str, Any]) -> None:
    spec = _dict(obj, "spec")
    _default(spec, "replicas", 1, _UNSET)
    strategy = _dict(spec, "strategy")
    _default(strategy, "type", "RollingUpdate")
    if strategy.get("type") == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        _default(rolling, "maxUnavailable", "25%", _UNSET)
        _default(rolling, "maxSurge", "25%", _UNSET)
    _default(spec, "revisionHistoryLimit", 10, _UNSET)
    _default(spec, "progressDeadlineSeconds", 600, _UNSET)
    _default_template(spec)


# --- Service --------------------------------------------------------------------


def _ip_family(ip: str) -> str | None:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return None


def _default_service_ips(spec: dict[str, Any]) -> None:
    """Mirror ``clusterIP``/``clusterIPs`` and fill the IP families, as the
    service registry does before validating."""
    if spec.get("type") == "ExternalName":
        return
    cluster_ip = spec.get("clusterIP")
    cluster_ips = spec.get("clusterIPs")
    if isinstance(cluster_ip, str) and cluster_ip and not cluster_ips:
        spec["clusterIPs"] = cluster_ips = [cluster_ip]
    elif isinstance(cluster_ips, list) and cluster_ips and not cluster_ip and isinstance(cluster_ips[0], str):
        spec["clusterIP"] = cluster_ips[0]
    if not spec.get("ipFamilies"):
        families = [f for f in (_ip_family(ip) for ip in cluster_ips or [] if isinstance(ip, str)) if f]
        spec["ipFamilies"] = families or ["IPv4"]
    if spec.get("ipFamilyPolicy") in _EMPTY_STRING:
        spec["ipFamilyPolicy"] = "RequireDualStack" if len(spec["ipFamilies"]) > 1 else "SingleStack"


def _default_service_ports(spec: dict[str, Any]) -> None:
    for port in _dicts(spec.get("ports")):
        _default(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")


def _externally_accessible(spec: dict[str, Any]) -> bool:
    kind = spec.get("type")
    return kind in ("LoadBalancer", "NodePort") or (kind == "ClusterIP" and bool(spec.get("externalIPs")))


def _default_service(obj: dict[str, Any]) -> None:
    """``SetDefaults_Service`` plus the registry's IP normalization."""
    spec = _dict(obj, "spec")
    _default(spec, "sessionAffinity", "None")
    if spec.get("sessionAffinity") == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec.get("sessionAffinity") == "ClientIP":
        client_ip = _dict(_dict(spec, "sessionAffinityConfig"), "clientIP")
        _default(client_ip, "timeoutSeconds", 10800, _UNSET)
    _default(spec, "type", "ClusterIP")
    _default_service_ports(spec)
    if _externally_accessible(spec):
        _default(spec, "externalTrafficPolicy", "Cluster")
    if spec.get("type") in ("ClusterIP", "NodePort", "LoadBalancer"):
        _default(spec, "internalTrafficPolicy", "Cluster", _UNSET)
    if spec.get("type") == "LoadBalancer":
        _default(spec, "allocateLoadBalancerNodePorts", True, _UNSET)
    _default_service_ips(spec)


# --- the rest -----------------------------------------------------------------


def _default_endpoints(obj: dict[str, Any]) -> None:
    for subset in _dicts(obj.get("subsets")):
        for port in _dicts(subset.get("ports")):
            _default(port, "protocol", "TCP")


def _default_namespace(obj: dict[str, Any]) -> None:
    metadata = _dict(obj, "metadata")
    name = metadata.get("name")
    if isinstance(name, str) and name:
        _dict(metadata, "labels")["kubernetes.io/metadata.name"] = name
    spec = _dict(obj, "spec")
    if not metadata.get("deletionTimestamp"):
        # A terminating namespace is finalized by emptying this list: never refill it.
        _default(spec, "finalizers", ["kubernetes"], (None, []))
    _default(_dict(obj, "status"), "phase", "Active")


def _default_node(obj: dict[str, Any]) -> None:
    spec = _child(obj, "spec")
    if spec is not None:
        cidr, cidrs = spec.get("podCIDR"), spec.get("podCIDRs")
        if isinstance(cidr, str) and cidr and not cidrs:
            spec["podCIDRs"] = [cidr]
        elif isinstance(cidrs, list) and cidrs and not cidr:
            spec["podCIDR"] = cidrs[0]
    status = _child(obj, "status")
    if status is not None and isinstance(status.get("capacity"), dict) and status.get("allocatable") is None:
        status["allocatable"] = dict(status["capacity"])


_DEFAULTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "Pod": _default_pod,
    "ReplicaSet": _default_replica_set,
    "Deployment": _default_deployment,
    "Service": _default_service,
    "Endpoints": _default_endpoints,
    "Namespace": _default_namespace,
    "Node": _default_node,
}


# --- quantities ---------------------------------------------------------------


def _canonical(value: Any, *, round_to_milli: bool) -> Any:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return value
    try:
        return quantity.canonicalize(value, round_to_milli=round_to_milli)
    except ValueError:
        return value


def _canonical_time(value: Any, *, micro: bool) -> Any:
    """A ``metav1.Time``/``MicroTime`` as the apiserver writes it back: the
    decoded instant re-encoded in UTC (``+01:00`` becomes ``Z``; a Time drops
    its fraction)."""
    if not isinstance(value, str):
        return value
    try:
        if micro:
            return apimachinery.format_micro_time(apimachinery.parse_micro_time(value))
        return apimachinery.format_time(apimachinery.parse_time(value))
    except ValueError:
        return value


def _canonicalize_quantities(value: Any, typ: schema.Type) -> Any:
    """``value`` with every quantity, and every time, in canonical form (in
    place for containers; the new value is returned for a bare scalar)."""
    if typ is schema.QUANTITY:
        return _canonical(value, round_to_milli=False)
    if typ is schema.TIME or typ is schema.MICRO_TIME:
        return _canonical_time(value, micro=typ is schema.MICRO_TIME)
    if typ is schema.RESOURCE_LIST and isinstance(value, dict):
        for name, item in value.items():
            value[name] = _canonical(item, round_to_milli=True)
    elif isinstance(typ, schema.Struct) and isinstance(value, dict):
        for name, item in value.items():
            child = typ.fields.get(name)
            if child is not None and item is not None:
                value[name] = _canonicalize_quantities(item, child)
    elif isinstance(typ, schema.ListOf) and isinstance(value, list):
        for i, item in enumerate(value):
            value[i] = _canonicalize_quantities(item, typ.item)
    elif isinstance(typ, schema.MapOf) and isinstance(value, dict):
        for name, item in value.items():
            value[name] = _canonicalize_quantities(item, typ.value)
    return value


def apply_defaults(obj: dict[str, Any]) -> None:
    """Fill in ``obj``'s defaults in place, by its ``kind``; unknown kinds are
    left alone."""
    kind = obj.get("kind")
    if not isinstance(kind, str):
        return
    defaulter = _DEFAULTERS.get(kind)
    if defaulter is not None:
        defaulter(obj)
    top = schema.schema_for(kind)
    if top is not None:
        _canonicalize_quantities(obj, top)


# --- updates ------------------------------------------------------------------

_SERVICE_ALLOCATED = ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "healthCheckNodePort")


def _carry_node_ports(new_spec: dict[str, Any], old_spec: dict[str, Any]) -> None:
    old_ports = {(p.get("protocol"), p.get("port")): p.get("nodePort") for p in _dicts(old_spec.get("ports"))}
    for port in _dicts(new_spec.get("ports")):
        old_node_port = old_ports.get((port.get("protocol"), port.get("port")))
        if port.get("nodePort") in (None, 0) and old_node_port:
            port["nodePort"] = old_node_port


def carry_over_allocated(new: dict[str, Any], old: dict[str, Any]) -> None:
    """Keep on ``new`` what the cluster allocated on ``old`` and a client
    left out of its update, as the service registry does: a Service's
    ``clusterIP(s)``, IP families and node ports (unless the type changed to
    or from ``ExternalName``). Call it between defaulting and validating an
    update, so that ``kubectl replace`` of a manifest without ``clusterIP``
    is not taken for an attempt to unset it."""
    if new.get("kind") != "Service" or old.get("kind") != "Service":
        return
    new_spec, old_spec = _dict(new, "spec"), _child(old, "spec") or {}
    if "ExternalName" in (new_spec.get("type"), old_spec.get("type")):
        return
    if new_spec.get("clusterIP") in _EMPTY_STRING and not new_spec.get("clusterIPs"):
        for key in _SERVICE_ALLOCATED:
            if old_spec.get(key) not in (None, "", [], 0):
                new_spec[key] = old_spec[key]
    if new_spec.get("type") in ("NodePort", "LoadBalancer"):
        _carry_node_ports(new_spec, old_spec)
