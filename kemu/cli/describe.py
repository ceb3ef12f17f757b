"""What ``kemu describe`` prints, laid out as kubectl v1.32's describers do.

:func:`describe` is a pure function: the object, the events about it and the
related objects kubectl would fetch (a ReplicaSet's pods, a Deployment's
ReplicaSets, a Service's Endpoints, a Node's pods and Lease) go in, text comes
out. The caller does the fetching.

Each kind has a describer in :data:`_DESCRIBERS` writing through a
:class:`_PrefixWriter` (kubectl's ``PrefixWriter``: two spaces per level, tabs
between label and value); the text then goes through the same
:class:`~kemu.cli.printers.TabWriter` settings kubectl uses (min width 0,
padding 2), so sections align, and carry trailing spaces, exactly where
kubectl's do. Kinds kubectl has no describer for (Event, Lease and anything
else) get its generic describer: every field, sorted, with "smart" labels.

Where the apiserver would have filled in a default (replicas, probe timings,
port protocols, rolling-update strategy) and the object lacks it, the default
is shown, as a real cluster would show it. Times are written in RFC 1123 with
a numeric zone, in the local zone like kubectl unless ``tz`` says otherwise.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo, UTC
from fractions import Fraction
from typing import Any

from kemu.api.quantity import parse_quantity
from kemu.cli.printers import (
    TabWriter,
    format_endpoints,
    format_label_selector,
    format_labels,
    human_duration,
    label_selector_string,
    node_roles,
    parse_timestamp,
)

__all__ = ["Quantity", "describe", "events_for", "qos_class"]

ObjView = Mapping[str, Any]
"""A read-only view of an API object (:data:`kemu.types.Obj` is the owned, mutable one)."""

# Annotations kubectl never shows.
_SKIPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
# Longer annotations are cut (describe.go maxAnnotationLen).
_MAX_ANNOTATION_LEN = 140
# What kubectl prints for a zero metav1.Time.
_ZERO_TIME = "Mon, 01 Jan 0001 00:00:00 +0000"
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# -- quantities --------------------------------------------------------------------------


_SUFFIX = re.compile(r"^[+-]?[0-9.]+(.*)$")
_EXPONENT_SUFFIX = re.compile(r"^[eE][-+]?[0-9]+$")
_BINARY_SUFFIXES = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_DECIMAL_BY_EXPONENT = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}


@dataclass(frozen=True, slots=True)
class Quantity:
    """A ``resource.Quantity``: an exact amount and the notation it prints in.

    >>> str(Quantity.parse("100m") + Quantity.parse("400m"))
    '500m'
    >>> str(Quantity.parse("1024Mi"))
    '1Gi'
    """

    value: Fraction
    """The amount (cores, bytes...)."""
    notation: str = "DecimalSI"
    """``BinarySI`` (``Ki``, ``Mi``...), ``DecimalSI`` (``m``, ``k``, ``M``...) or ``DecimalExponent`` (``e3``)."""

    @classmethod
    def parse(cls, text: str | int | float) -> Quantity:
        """Parse ``128Mi``, ``0.5``, ``100m``, ``1e3`` (with
        :func:`kemu.api.quantity.parse_quantity`, so ``ValueError`` carries
        apimachinery's wording). Precision beyond nano-units is rounded up, as
        Kubernetes does."""
        value = parse_quantity(text)
        match = _SUFFIX.match(text.strip()) if isinstance(text, str) else None
        suffix = match.group(1) if match else ""
        if suffix in _BINARY_SUFFIXES:
            notation = "BinarySI"
        elif _EXPONENT_SUFFIX.match(suffix):
            notation = "DecimalExponent"
        else:
            notation = "DecimalSI"
        nanos = value * 10**9
        return cls(Fraction(math.ceil(nanos) if nanos > 0 else math.floor(nanos), 10**9), notation)

    def __add__(self, other: Quantity) -> Quantity:
        notation = other.notation if self.value == 0 else self.notation
        return Quantity(self.value + other.value, notation)

    def milli_value(self) -> int:
        """The amount in thousandths, rounded up (``MilliValue``)."""
        return math.ceil(self.value * 1000)

    def int_value(self) -> int:
        """The amount rounded up to a whole unit (``Value``)."""
        return math.ceil(self.value)

    def __str__(self) -> str:
        """The canonical form Kubernetes prints (``500m``, ``1Gi``, ``1500k``)."""
        if self.value == 0:
            return "0"
        if self.notation == "BinarySI" and abs(self.value) >= 1024 and self.value.denominator == 1:
            amount, power = int(self.value), 0
            while amount % 1024 == 0 and power < 6:
                amount, power = amount // 1024, power + 1
            return f"{amount}{('', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei')[power]}"
        mantissa, exponent = int(self.value * 10**9), -9
        while mantissa % 1000 == 0 and exponent < 18:
            mantissa, exponent = mantissa // 1000, exponent + 3
        if self.notation == "DecimalExponent":
            return f"{mantissa}e{exponent}" if exponent else str(mantissa)
        return f"{mantissa}{_DECIMAL_BY_EXPONENT[exponent]}"


_ZERO = Quantity(Fraction(0), "")


def _resource_list(resources: Mapping[str, Any] | None) -> dict[str, Quantity]:
    out = {}
    for name, text in (resources or {}).items():
        try:
            out[name] = Quantity.parse(text)
        except ValueError:
            continue
    return out


def _container_requests(container: ObjView) -> dict[str, Quantity]:
    """Requests as the apiserver defaults them: a limit without a request
    requests the limit."""
    resources = container.get("resources") or {}
    return {**_resource_list(resources.get("limits")), **_resource_list(resources.get("requests"))}


def _container_limits(container: ObjView) -> dict[str, Quantity]:
    return _resource_list((container.get("resources") or {}).get("limits"))


def _add_into(total: dict[str, Quantity], more: Mapping[str, Quantity]) -> None:
    for name, quantity in more.items():
        total[name] = total[name] + quantity if name in total else quantity


def _max_into(total: dict[str, Quantity], other: Mapping[str, Quantity]) -> None:
    for name, quantity in other.items():
        if name not in total or quantity.value > total[name].value:
            total[name] = quantity


def _pod_resources(pod: ObjView, of_container: Callable[[ObjView], dict[str, Quantity]]) -> dict[str, Quantity]:
    """A pod's effective requests or limits (component-helpers' ``PodRequests``):
    app containers and sidecars add up; each plain init container needs its
    own amount plus the sidecars started before it; the pod needs the larger."""
    spec = pod.get("spec") or {}
    total: dict[str, Quantity] = {}
    for container in spec.get("containers") or []:
        _add_into(total, of_container(container))
    sidecars: dict[str, Quantity] = {}
    init_peak: dict[str, Quantity] = {}
    for container in spec.get("initContainers") or []:
        own = of_container(container)
        if container.get("restartPolicy") == "Always":
            _add_into(total, own)
            _add_into(sidecars, own)
            _max_into(init_peak, sidecars)
        else:
            needed = dict(own)
            _add_into(needed, sidecars)
            _max_into(init_peak, needed)
    _max_into(total, init_peak)
    _add_into(total, _resource_list(spec.get("overhead")))
    return total


def qos_class(pod: ObjView) -> str:
    """The pod's QoS class: ``status.qosClass`` when set, else computed as the
    kubelet does (``Guaranteed`` when every container limits cpu and memory
    and requests exactly that, ``BestEffort`` when nothing asks for either,
    ``Burstable`` otherwise)."""
    if (pod.get("status") or {}).get("qosClass"):
        return str(pod["status"]["qosClass"])
    spec = pod.get("spec") or {}
    requests: dict[str, Quantity] = {}
    limits: dict[str, Quantity] = {}
    guaranteed = True
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        wanted = {k: q for k, q in _container_requests(container).items() if k in ("cpu", "memory") and q.value > 0}
        capped = {k: q for k, q in _container_limits(container).items() if k in ("cpu", "memory") and q.value > 0}
        _add_into(requests, wanted)
        _add_into(limits, capped)
        guaranteed = guaranteed and set(capped) == {"cpu", "memory"}
    if not requests and not limits:
        return "BestEffort"
    if (guaranteed and all(name in limits and limits[name].value == q.value for name, q in requests.items())
            and len(requests) == len(limits)):
        return "Guaranteed"
    return "Burstable"


# -- writing -----------------------------------------------------------------------------


class _PrefixWriter:
    """kubectl's ``PrefixWriter``: text at an indentation level (two spaces a
    level), laid out in tab-aligned columns when done."""

    _pending: list[str]
    _flushed: list[str]

    def __init__(self) -> None:
        self._pending = []
        self._flushed = []

    def write(self, level: int, text: str) -> None:
        """``text`` after ``level`` indentations (only its first line is indented)."""
        self._pending.append("  " * level + text)

    def line(self, text: str = "") -> None:
        """``text`` and a newline, not indented (``WriteLine``)."""
        self._pending.append(text + "\n")

    def flush(self) -> None:
        """End the current column blocks (``tabwriter.Flush``)."""
        if self._pending:
            self._flushed.append(TabWriter(minwidth=0, padding=2).format("".join(self._pending)))
            self._pending = []

    def text(self) -> str:
        self.flush()
        return "".join(self._flushed)


@dataclass(frozen=True, slots=True)
class _Context:
    """What a describer needs beside the object."""

    events: list[dict[str, Any]] | None
    """Events about the object; None to leave the Events section out."""
    related: Mapping[str, Sequence[ObjView]]
    """Related objects by kind (``Pod``, ``ReplicaSet``, ``Endpoints``, ``Lease``)."""
    now: float
    """Seconds since the epoch, for ages."""
    tz: tzinfo | None
    """Zone for printed times; None for the local zone."""

    def time(self, timestamp: str | None) -> str:
        """``timestamp`` as Go's ``time.RFC1123Z`` (``Mon, 02 Jan 2006 15:04:05 -0700``)."""
        if not timestamp:
            return _ZERO_TIME
        try:
            moment = datetime.fromtimestamp(parse_timestamp(timestamp), tz=UTC)
        except ValueError:
            return timestamp
        moment = moment.astimezone(self.tz) if self.tz is not None else moment.astimezone()
        return (
            f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} {moment.year:04d} "
            f"{moment:%H:%M:%S} {moment:%z}"
        )

    def since(self, timestamp: str | None) -> str:
        """How long ago ``timestamp`` was, or ``<unknown>``."""
        if not timestamp:
            return "<unknown>"
        try:
            return human_duration(self.now - parse_timestamp(timestamp))
        except ValueError:
            return "<unknown>"


def _meta(obj: ObjView) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _go_value(value: Any) -> str:
    """Go's ``%v`` of an unstructured value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, float) and value == int(value) and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_value(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_value(v) for v in value) + "]"
    return str(value)


def _bool_word(value: Any) -> str:
    return "True" if value else "False"


def _int_or_string(value: Any) -> str:
    return str(value) if value is not None else ""


def _labels(w: _PrefixWriter, title: str, labels: Mapping[str, str] | None) -> None:
    """``printLabelsMultiline``: one ``key=value`` per line, sorted."""
    _multiline(w, title, [f"{key}={(labels or {})[key]}" for key in sorted(labels or {})])


def _annotations(w: _PrefixWriter, title: str, annotations: Mapping[str, str] | None) -> None:
    """``printAnnotationsMultiline``: ``key: value``, long or multi-line values
    on their own lines, cut at 140 characters."""
    w.write(0, f"{title}:\t")
    keys = sorted(k for k in annotations or {} if k not in _SKIPPED_ANNOTATIONS)
    if not keys:
        w.line("<none>")
        return
    for i, key in enumerate(keys):
        if i:
            w.write(0, "\t")
        value = (annotations or {})[key].removesuffix("\n")
        if len(value) + len(key) + 2 > _MAX_ANNOTATION_LEN or "\n" in value:
            w.write(0, f"{key}:\n")
            for part in value.split("\n"):
                cut = _MAX_ANNOTATION_LEN - 2
                w.write(0, f"\t  {part[:cut] + '...' if len(part) > cut else part}\n")
        else:
            w.write(0, f"{key}: {value}\n")


def _multiline(w: _PrefixWriter, title: str, items: Sequence[str]) -> None:
    """A title and one item a line, aligned on the first (labels, taints,
    tolerations), or ``<none>``."""
    w.write(0, f"{title}:\t")
    if not items:
        w.line("<none>")
        return
    for i, item in enumerate(items):
        if i:
            w.write(0, "\t")
        w.write(0, item + "\n")


def _toleration_text(toleration: ObjView) -> str:
    key, value, effect = toleration.get("key", ""), toleration.get("value", ""), toleration.get("effect", "")
    text = f"{key}" + (f"={value}" if value else "") + (f":{effect}" if effect else "")
    if toleration.get("operator") == "Exists" and not value:
        text += " op=Exists" if key or effect else "op=Exists"
    if toleration.get("tolerationSeconds") is not None:
        text += f" for {toleration['tolerationSeconds']}s"
    return text


def _tolerations(w: _PrefixWriter, title: str, tolerations: Sequence[ObjView] | None) -> None:
    ordered = sorted(tolerations or [], key=lambda t: t.get("key", ""))
    _multiline(w, title, [_toleration_text(t) for t in ordered])


def _taint_text(taint: ObjView) -> str:
    key, value, effect = taint.get("key", ""), taint.get("value", ""), taint.get("effect", "")
    return f"{key}" + (f"={value}" if value else "") + (f":{effect}" if effect else "")


def _controller(obj: ObjView) -> str:
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return f"{ref.get('kind', '')}/{ref.get('name', '')}"
    return ""


def _controlled_by(obj: ObjView, owner: ObjView) -> bool:
    """True when ``owner`` is ``obj``'s controller (by uid when there is one)."""
    uid = _meta(owner).get("uid")
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller") and (ref.get("uid") == uid if uid else ref.get("name") == _meta(owner).get("name")):
            return True
    return False


# -- events ------------------------------------------------------------------------------


def events_for(obj: ObjView, events: Iterable[dict[str, Any]], *, kind: str | None = None) -> list[dict[str, Any]]:
    """The events among ``events`` about ``obj``, as kubectl's event search
    picks them: same name and namespace, same kind (any kind for a pod), same
    uid when both sides carry one (a node's kubelet uses the node's name as
    uid)."""
    kind = kind or obj.get("kind", "")
    meta = _meta(obj)
    name, namespace, uid = meta.get("name"), meta.get("namespace"), meta.get("uid")
    uids = {uid, name} if kind == "Node" else {uid}

    def about(event: ObjView) -> bool:
        ref = event.get("involvedObject") or {}
        if ref.get("name") != name:
            return False
        if namespace and (ref.get("namespace") or _meta(event).get("namespace")) != namespace:
            return False
        if kind != "Pod" and ref.get("kind") and ref.get("kind") != kind:
            return False
        return not (uid and ref.get("uid") and ref["uid"] not in uids)

    return [e for e in events if about(e)]


def _event_time(event: ObjView) -> float:
    series = event.get("series") or {}
    stamp = series.get("lastObservedTime") or event.get("lastTimestamp") or event.get("eventTime")
    try:
        return parse_timestamp(stamp) if stamp else float("-inf")
    except ValueError:
        return float("-inf")


def _describe_events(w: _PrefixWriter, events: Sequence[ObjView], ctx: _Context) -> None:
    """``DescribeEvents``: oldest first, ``Age`` like ``12s (x3 over 40s)``."""
    if not events:
        w.write(0, "Events:\t<none>\n")
        return
    w.flush()
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
    w.write(1, "----\t------\t----\t----\t-------\n")
    for event in sorted(events, key=_event_time):
        first = ctx.since(event.get("eventTime")) if event.get("eventTime") else ctx.since(event.get("firstTimestamp"))
        series = event.get("series")
        if series is not None:
            interval = f"{ctx.since(series.get('lastObservedTime'))} (x{series.get('count', 0)} over {first})"
        elif (event.get("count") or 0) > 1:
            interval = f"{ctx.since(event.get('lastTimestamp'))} (x{event['count']} over {first})"
        else:
            interval = first
        source = (event.get("source") or {}).get("component") or event.get("reportingComponent") or ""
        message = (event.get("message") or "").strip()
        w.write(1, f"{event.get('type', '')}\t{event.get('reason', '')}\t{interval}\t{source}\t{message}\n")


def _events_section(w: _PrefixWriter, ctx: _Context) -> None:
    if ctx.events is not None:
        _describe_events(w, ctx.events, ctx)


# -- containers and volumes ---------------------------------------------------------------


def _ports_text(ports: Sequence[ObjView], field: str) -> str:
    parts = []
    for port in ports:
        text = f"{port.get(field, 0)}/{port.get('protocol') or 'TCP'}"
        parts.append(f"{text} ({port['name']})" if port.get("name") else text)
    return ", ".join(parts)


def _probe_text(probe: ObjView) -> str:
    """``DescribeProbe``: ``http-get http://:80/ delay=0s timeout=1s period=10s #success=1 #failure=3``."""
    attrs = (
        f"delay={probe.get('initialDelaySeconds', 0)}s timeout={probe.get('timeoutSeconds', 1)}s "
        f"period={probe.get('periodSeconds', 10)}s #success={probe.get('successThreshold', 1)} "
        f"#failure={probe.get('failureThreshold', 3)}"
    )
    if probe.get("exec") is not None:
        return f"exec {_go_value(probe['exec'].get('command') or [])} {attrs}"
    if probe.get("httpGet") is not None:
        get = probe["httpGet"]
        port = _int_or_string(get.get("port"))
        host = _join_host_port(get.get("host", ""), port) if port else get.get("host", "")
        scheme = (get.get("scheme") or "HTTP").lower()
        return f"http-get {scheme}://{host}{get.get('path', '')} {attrs}"
    if probe.get("tcpSocket") is not None:
        sock = probe["tcpSocket"]
        return f"tcp-socket {sock.get('host', '')}:{_int_or_string(sock.get('port'))} {attrs}"
    if probe.get("grpc") is not None:
        return f"grpc <pod>:{probe['grpc'].get('port', 0)} {probe['grpc'].get('service', '')} {attrs}"
    return f"unknown {attrs}"


def _join_host_port(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _container_state(w: _PrefixWriter, title: str, state: ObjView, ctx: _Context) -> None:
    """``describeStatus``: Running/Waiting/Terminated with its details."""
    if state.get("running") is not None:
        w.write(2, f"{title}:\tRunning\n")
        w.write(3, f"Started:\t{ctx.time(state['running'].get('startedAt'))}\n")
    elif state.get("waiting") is not None:
        w.write(2, f"{title}:\tWaiting\n")
        if state["waiting"].get("reason"):
            w.write(3, f"Reason:\t{state['waiting']['reason']}\n")
    elif state.get("terminated") is not None:
        term = state["terminated"]
        w.write(2, f"{title}:\tTerminated\n")
        if term.get("reason"):
            w.write(3, f"Reason:\t{term['reason']}\n")
        if term.get("message"):
            w.write(3, f"Message:\t{term['message']}\n")
        w.write(3, f"Exit Code:\t{term.get('exitCode', 0)}\n")
        if (term.get("signal") or 0) > 0:
            w.write(3, f"Signal:\t{term['signal']}\n")
        w.write(3, f"Started:\t{ctx.time(term.get('startedAt'))}\n")
        w.write(3, f"Finished:\t{ctx.time(term.get('finishedAt'))}\n")
    else:
        w.write(2, f"{title}:\tWaiting\n")


def _resources(w: _PrefixWriter, resources: ObjView | None, level: int) -> None:
    for title in ("limits", "requests"):
        amounts = (resources or {}).get(title) or {}
        if amounts:
            w.write(level, f"{title.capitalize()}:\n")
        for name in sorted(amounts):
            try:
                text = str(Quantity.parse(amounts[name]))
            except ValueError:
                text = str(amounts[name])
            w.write(level + 1, f"{name}:\t{text}\n")


def _field_value(pod: ObjView | None, path: str) -> str:
    """The value of a downward-API ``fieldRef`` (``metadata.name``,
    ``status.podIP``, ``metadata.labels['app']``...)."""
    if pod is None:
        return ""
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((_meta(pod).get(match.group(1)) or {}).get(match.group(2), ""))
    if path == "status.podIPs":
        return ",".join(ip.get("ip", "") for ip in (pod.get("status") or {}).get("podIPs") or [])
    value: Any = pod
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def _resource_field_value(ref: ObjView, container: ObjView) -> str:
    """A downward-API ``resourceFieldRef`` value, in whole ``divisor`` units."""
    resource = ref.get("resource", "")
    section, _, name = resource.partition(".")
    amounts = _container_requests(container) if section == "requests" else _container_limits(container)
    try:
        divisor = Quantity.parse(ref.get("divisor") or "1").value or Fraction(1)
    except ValueError:
        return ""
    amount = amounts.get(name, _ZERO).value
    return str(math.ceil(amount / divisor))


def _environment(w: _PrefixWriter, container: ObjView, pod: ObjView | None) -> None:
    env_from = container.get("envFrom") or []
    if env_from:
        w.write(2, "Environment Variables from:\n")
        for source in env_from:
            ref, origin = (source.get("configMapRef"), "ConfigMap") if source.get("configMapRef") else (source.get("secretRef") or {}, "Secret")
            optional = "true" if (ref or {}).get("optional") else "false"
            prefix = f" with prefix '{source['prefix']}'" if source.get("prefix") else ""
            w.write(3, f"{(ref or {}).get('name', '')}\t{origin}{prefix}\tOptional: {optional}\n")
    env = container.get("env") or []
    w.write(2, "Environment:" + ("" if env else "\t<none>") + "\n")
    for var in env:
        _env_var(w, var, container, pod)


def _env_var(w: _PrefixWriter, var: ObjView, container: ObjView, pod: ObjView | None) -> None:
    name, source = var.get("name", ""), var.get("valueFrom")
    if source is None:
        for i, part in enumerate((var.get("value") or "").split("\n")):
            w.write(3, f"{name}:\t{part}\n" if i == 0 else f"\t{part}\n")
    elif source.get("fieldRef") is not None:
        ref = source["fieldRef"]
        value = _field_value(pod, ref.get("fieldPath", ""))
        w.write(3, f"{name}:\t{value} ({ref.get('apiVersion', 'v1')}:{ref.get('fieldPath', '')})\n")
    elif source.get("resourceFieldRef") is not None:
        ref = source["resourceFieldRef"]
        value = _resource_field_value(ref, container)
        if value == "0" and ref.get("resource") in ("limits.cpu", "limits.memory"):
            value = "node allocatable"
        w.write(3, f"{name}:\t{value} ({ref.get('resource', '')})\n")
    elif source.get("secretKeyRef") is not None:
        ref = source["secretKeyRef"]
        optional = "true" if ref.get("optional") else "false"
        w.write(3, f"{name}:\t<set to the key '{ref.get('key', '')}' in secret '{ref.get('name', '')}'>\tOptional: {optional}\n")
    elif source.get("configMapKeyRef") is not None:
        ref = source["configMapKeyRef"]
        optional = "true" if ref.get("optional") else "false"
        w.write(3, f"{name}:\t<set to the key '{ref.get('key', '')}' of config map '{ref.get('name', '')}'>\tOptional: {optional}\n")


def _mounts(w: _PrefixWriter, container: ObjView) -> None:
    mounts = sorted(container.get("volumeMounts") or [], key=lambda m: m.get("mountPath", ""))
    w.write(2, "Mounts:" + ("" if mounts else "\t<none>") + "\n")
    for mount in mounts:
        flags = ["ro" if mount.get("readOnly") else "rw"]
        if mount.get("subPath"):
            flags.append(f"path={json.dumps(mount['subPath'])}")
        w.write(3, f"{mount.get('mountPath', '')} from {mount.get('name', '')} ({','.join(flags)})\n")


def _containers(
    w: _PrefixWriter,
    title: str,
    containers: Sequence[ObjView],
    statuses: Sequence[ObjView] | None,
    ctx: _Context,
    *,
    space: str = "",
    pod: ObjView | None = None,
) -> None:
    """``describeContainers``: one section per container, its status when known."""
    by_name = {s.get("name"): s for s in statuses or []}
    w.write(0, f"{space}{title}:{'' if containers else ' <none>'}\n")
    for container in containers:
        status = by_name.get(container.get("name"))
        w.write(1, f"{' ' if space else ''}{container.get('name', '')}:\n")
        if status is not None:
            w.write(2, f"Container ID:\t{status.get('containerID', '')}\n")
        w.write(2, f"Image:\t{container.get('image', '')}\n")
        if status is not None:
            w.write(2, f"Image ID:\t{status.get('imageID', '')}\n")
        ports = container.get("ports") or []
        for label, plural, field in (("Port", "Ports", "containerPort"), ("Host Port", "Host Ports", "hostPort")):
            text = _ports_text(ports, field)
            w.write(2, f"{plural}:\t{text}\n" if "," in text else f"{label}:\t{text or '<none>'}\n")
        for label, key in (("Command", "command"), ("Args", "args")):
            if container.get(key):
                w.write(2, f"{label}:\n")
                for part in container[key]:
                    for piece in str(part).split("\n"):
                        w.write(3, f"{piece}\n")
        if status is not None:
            _container_state(w, "State", status.get("state") or {}, ctx)
            last = status.get("lastState") or {}
            if last.get("terminated") is not None:
                _container_state(w, "Last State", last, ctx)
            w.write(2, f"Ready:\t{_bool_word(status.get('ready'))}\n")
            w.write(2, f"Restart Count:\t{status.get('restartCount', 0)}\n")
        _resources(w, container.get("resources"), 2)
        for label, key in (("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"), ("Startup", "startupProbe")):
            if container.get(key) is not None:
                w.write(2, f"{label}:\t{_probe_text(container[key])}\n")
        _environment(w, container, pod)
        _mounts(w, container)


def _volume_lines(volume: ObjView) -> list[str]:
    """The lines under a volume's name (``printEmptyDirVolumeSource``...)."""
    if volume.get("emptyDir") is not None:
        source = volume["emptyDir"]
        limit = source.get("sizeLimit")
        limit_text = str(Quantity.parse(limit)) if limit and Quantity.parse(limit).value > 0 else "<unset>"
        return [
            "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)",
            f"Medium:\t{source.get('medium', '')}",
            f"SizeLimit:\t{limit_text}",
        ]
    if volume.get("hostPath") is not None:
        source = volume["hostPath"]
        return [
            "Type:\tHostPath (bare host directory volume)",
            f"Path:\t{source.get('path', '')}",
            f"HostPathType:\t{source.get('type') or '<none>'}",
        ]
    if volume.get("configMap") is not None:
        source = volume["configMap"]
        return [
            "Type:\tConfigMap (a volume populated by a ConfigMap)",
            f"Name:\t{source.get('name', '')}",
            f"Optional:\t{_go_value(bool(source.get('optional')))}",
        ]
    if volume.get("secret") is not None:
        source = volume["secret"]
        return [
            "Type:\tSecret (a volume populated by a Secret)",
            f"SecretName:\t{source.get('secretName', '')}",
            f"Optional:\t{_go_value(bool(source.get('optional')))}",
        ]
    if volume.get("persistentVolumeClaim") is not None:
        source = volume["persistentVolumeClaim"]
        return [
            "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)",
            f"ClaimName:\t{source.get('claimName', '')}",
            f"ReadOnly:\t{_go_value(bool(source.get('readOnly')))}",
        ]
    if volume.get("downwardAPI") is not None:
        lines = ["Type:\tDownwardAPI (a volume populated by information about the pod)", "Items:"]
        for item in volume["downwardAPI"].get("items") or []:
            if item.get("fieldRef"):
                lines.append(f"  {item['fieldRef'].get('fieldPath', '')} -> {item.get('path', '')}")
            if item.get("resourceFieldRef"):
                lines.append(f"  {item['resourceFieldRef'].get('resource', '')} -> {item.get('path', '')}")
        return lines
    if volume.get("projected") is not None:
        return ["Type:\tProjected (a volume that contains injected data from multiple sources)", *_projected_lines(volume["projected"])]
    return []


def _projected_lines(projected: ObjView) -> list[str]:
    """A projected volume's sources (v1.32 prints the optional flags as the
    pointers they are: ``<nil>`` when unset)."""
    lines = []
    for source in projected.get("sources") or []:
        if source.get("secret") is not None:
            secret = source["secret"]
            lines += [f"SecretName:\t{secret.get('name', '')}", f"SecretOptionalName:\t{_go_value(secret.get('optional'))}"]
        elif source.get("downwardAPI") is not None:
            lines.append("DownwardAPI:\ttrue")
        elif source.get("configMap") is not None:
            config_map = source["configMap"]
            lines += [f"ConfigMapName:\t{config_map.get('name', '')}", f"ConfigMapOptional:\t{_go_value(config_map.get('optional'))}"]
        elif source.get("serviceAccountToken") is not None:
            lines.append(f"TokenExpirationSeconds:\t{source['serviceAccountToken'].get('expirationSeconds', 3607)}")
    return lines


def _volumes(w: _PrefixWriter, volumes: Sequence[ObjView] | None, space: str = "") -> None:
    """``describeVolumes``."""
    if not volumes:
        w.write(0, f"{space}Volumes:\t<none>\n")
        return
    w.write(0, f"{space}Volumes:\n")
    for volume in volumes:
        w.write(1, f"{' ' if space else ''}{volume.get('name', '')}:\n")
        lines = _volume_lines(volume)
        if not lines:
            w.write(1, "<unknown>\n")
        for line in lines:
            w.write(2, line + "\n")


def _pod_template(w: _PrefixWriter, template: ObjView | None, ctx: _Context) -> None:
    """``DescribePodTemplate`` (Deployments, ReplicaSets)."""
    w.write(0, "Pod Template:\n")
    if template is None:
        w.write(1, "<unset>")
        return
    meta, spec = _meta(template), template.get("spec") or {}
    _labels(w, "  Labels", meta.get("labels"))
    if meta.get("annotations"):
        _annotations(w, "  Annotations", meta.get("annotations"))
    if spec.get("serviceAccountName"):
        w.write(1, f"Service Account:\t{spec['serviceAccountName']}\n")
    if spec.get("initContainers"):
        _containers(w, "Init Containers", spec["initContainers"], None, ctx, space="  ")
    _containers(w, "Containers", spec.get("containers") or [], None, ctx, space="  ")
    _volumes(w, spec.get("volumes"), "  ")
    if spec.get("priorityClassName"):
        w.write(1, f"Priority Class Name:\t{spec['priorityClassName']}\n")
    _labels(w, "  Node-Selectors", spec.get("nodeSelector"))
    _tolerations(w, "  Tolerations", spec.get("tolerations"))


# -- describers ---------------------------------------------------------------------------


def _describe_pod(pod: ObjView, ctx: _Context, w: _PrefixWriter) -> None:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    _pod_header(w, pod, ctx)
    _pod_status(w, pod, ctx)
    if spec.get("initContainers"):
        _containers(w, "Init Containers", spec["initContainers"], status.get("initContainerStatuses"), ctx, pod=pod)
    _containers(w, "Containers", spec.get("containers") or [], status.get("containerStatuses"), ctx, pod=pod)
    _pod_conditions(w, pod)
    _volumes(w, spec.get("volumes"))
    w.write(0, f"QoS Class:\t{qos_class(pod)}\n")
    _labels(w, "Node-Selectors", spec.get("nodeSelector"))
    _tolerations(w, "Tolerations", spec.get("tolerations"))
    _events_section(w, ctx)


def _pod_header(w: _PrefixWriter, pod: ObjView, ctx: _Context) -> None:
    """Name to Annotations: who the pod is and where it runs."""
    meta, spec, status = _meta(pod), pod.get("spec") or {}, pod.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    if spec.get("priority") is not None:
        w.write(0, f"Priority:\t{spec['priority']}\n")
    if spec.get("priorityClassName"):
        w.write(0, f"Priority Class Name:\t{spec['priorityClassName']}\n")
    if spec.get("runtimeClassName"):
        w.write(0, f"Runtime Class Name:\t{spec['runtimeClassName']}\n")
    if spec.get("serviceAccountName"):
        w.write(0, f"Service Account:\t{spec['serviceAccountName']}\n")
    node = spec.get("nodeName")
    w.write(0, f"Node:\t{node}/{status.get('hostIP', '')}\n" if node else "Node:\t<none>\n")
    if status.get("startTime"):
        w.write(0, f"Start Time:\t{ctx.time(status['startTime'])}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))


def _pod_status(w: _PrefixWriter, pod: ObjView, ctx: _Context) -> None:
    """Status to NominatedNodeName: phase, addresses, controller."""
    meta, spec, status = _meta(pod), pod.get("spec") or {}, pod.get("status") or {}
    phase = status.get("phase", "")
    if meta.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        grace = meta.get("deletionGracePeriodSeconds", spec.get("terminationGracePeriodSeconds", 30))
        w.write(0, f"Status:\tTerminating (lasts {ctx.since(meta['deletionTimestamp'])})\n")
        w.write(0, f"Termination Grace Period:\t{grace}s\n")
    else:
        w.write(0, f"Status:\t{phase}\n")
    if status.get("reason"):
        w.write(0, f"Reason:\t{status['reason']}\n")
    if status.get("message"):
        w.write(0, f"Message:\t{status['message']}\n")
    pod_ips = status.get("podIPs") or ([{"ip": status["podIP"]}] if status.get("podIP") else [])
    w.write(0, f"IP:\t{status.get('podIP', '')}\n")
    if pod_ips:
        w.write(0, "IPs:\n")
        for entry in pod_ips:
            w.write(1, f"IP:\t{entry.get('ip', '')}\n")
    else:
        w.write(0, "IPs:\t<none>\n")
    if _controller(pod):
        w.write(0, f"Controlled By:\t{_controller(pod)}\n")
    if status.get("nominatedNodeName"):
        w.write(0, f"NominatedNodeName:\t{status['nominatedNodeName']}\n")


def _pod_conditions(w: _PrefixWriter, pod: ObjView) -> None:
    conditions = (pod.get("status") or {}).get("conditions") or []
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    if gates:
        w.write(0, "Readiness Gates:\n  Type\tStatus\n")
        for gate in gates:
            match = next((c for c in conditions if c.get("type") == gate.get("conditionType")), None)
            w.write(1, f"{gate.get('conditionType', '')} \t{match.get('status', '') if match else '<none>'} \n")
    if conditions:
        w.write(0, "Conditions:\n  Type\tStatus\n")
        for cond in conditions:
            w.write(1, f"{cond.get('type', '')} \t{cond.get('status', '')} \n")


def _owned(ctx: _Context, kind: str, owner: ObjView) -> list[ObjView]:
    """``related[kind]`` narrowed to what ``owner`` controls (all of them when
    ``owner`` has neither uid nor owned references to check)."""
    items = list(ctx.related.get(kind) or [])
    return [o for o in items if _controlled_by(o, owner)] if _meta(owner).get("uid") else items


def _describe_replicaset(rs: ObjView, ctx: _Context, w: _PrefixWriter) -> None:
    meta, spec, status = _meta(rs), rs.get("spec") or {}, rs.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    w.write(0, f"Selector:\t{format_label_selector(spec.get('selector'))}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    if _controller(rs):
        w.write(0, f"Controlled By:\t{_controller(rs)}\n")
    w.write(0, f"Replicas:\t{status.get('replicas', 0)} current / {spec.get('replicas', 1)} desired\n")
    phases = [(p.get("status") or {}).get("phase") for p in _owned(ctx, "Pod", rs)]
    counts = [phases.count(p) for p in ("Running", "Pending", "Succeeded", "Failed")]
    w.write(0, "Pods Status:\t{} Running / {} Waiting / {} Succeeded / {} Failed\n".format(*counts))
    _pod_template(w, spec.get("template"), ctx)
    _workload_conditions(w, status)
    _events_section(w, ctx)


def _describe_replication_controller(rc: ObjView, ctx: _Context, w: _PrefixWriter) -> None:
    """``ReplicationControllerDescriber``: the ReplicaSet's page, its map
    selector printed as the equality selector it is."""
    spec = dict(rc.get("spec") or {})
    selector = spec.get("selector")
    spec["selector"] = {"matchLabels": selector} if isinstance(selector, dict) and selector else None
    _describe_replicaset({**rc, "spec": spec}, ctx, w)


def _workload_conditions(w: _PrefixWriter, status: ObjView) -> None:
    conditions = status.get("conditions") or []
    if conditions:
        w.write(0, "Conditions:\n  Type\tStatus\tReason\n")
        w.write(1, "----\t------\t------\n")
        for cond in conditions:
            w.write(1, f"{cond.get('type', '')} \t{cond.get('status', '')}\t{cond.get('reason', '')}\n")


def _template_without_hash(template: ObjView | None) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(template or {}))
    labels = (copy.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop("pod-template-hash", None)
    return copy


def _split_replicasets(deploy: ObjView, ctx: _Context) -> tuple[list[ObjView], list[ObjView]]:
    """The deployment's old ReplicaSets and its new one (the oldest whose pod
    template is the deployment's, ignoring ``pod-template-hash``; failing
    that, the one at the deployment's revision)."""
    owned = sorted(_owned(ctx, "ReplicaSet", deploy), key=lambda rs: (_meta(rs).get("creationTimestamp") or "", _meta(rs).get("name", "")))
    wanted = _template_without_hash((deploy.get("spec") or {}).get("template"))
    new = next((rs for rs in owned if _template_without_hash((rs.get("spec") or {}).get("template")) == wanted), None)
    revision = (_meta(deploy).get("annotations") or {}).get("deployment.kubernetes.io/revision")
    if new is None and revision:
        new = next((rs for rs in owned if (_meta(rs).get("annotations") or {}).get("deployment.kubernetes.io/revision") == revision), None)
    return [rs for rs in owned if rs is not new], [new] if new is not None else []


def _replicasets_text(replicasets: Sequence[ObjView]) -> str:
    texts = [
        f"{_meta(rs).get('name', '')} ({(rs.get('status') or {}).get('replicas', 0)}/{(rs.get('spec') or {}).get('replicas', 1)} replicas created)"
        for rs in replicasets
    ]
    return ", ".join(texts) or "<none>"


def _describe_deployment(deploy: ObjView, ctx: _Context, w: _PrefixWriter) -> None:
    meta, spec, status = _meta(deploy), deploy.get("spec") or {}, deploy.get("status") or {}
    strategy = spec.get("strategy") or {"type": "RollingUpdate"}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    w.write(0, f"CreationTimestamp:\t{ctx.time(meta.get('creationTimestamp'))}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Selector:\t{label_selector_string(spec.get('selector'))}\n")
    w.write(
        0,
        f"Replicas:\t{spec.get('replicas', 1)} desired | {status.get('updatedReplicas', 0)} updated | "
        f"{status.get('replicas', 0)} total | {status.get('availableReplicas', 0)} available | "
        f"{status.get('unavailableReplicas', 0)} unavailable\n",
    )
    w.write(0, f"StrategyType:\t{strategy.get('type', 'RollingUpdate')}\n")
    w.write(0, f"MinReadySeconds:\t{spec.get('minReadySeconds', 0)}\n")
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        rolling = strategy.get("rollingUpdate") or {}
        unavailable, surge = rolling.get("maxUnavailable", "25%"), rolling.get("maxSurge", "25%")
        w.write(0, f"RollingUpdateStrategy:\t{unavailable} max unavailable, {surge} max surge\n")
    _pod_template(w, spec.get("template"), ctx)
    _workload_conditions(w, status)
    old, new = _split_replicasets(deploy, ctx)
    if old or new:
        w.write(0, f"OldReplicaSets:\t{_replicasets_text(old)}\n")
        w.write(0, f"NewReplicaSet:\t{_replicasets_text(new)}\n")
    _events_section(w, ctx)


def _describe_service(service: ObjView, ctx: _Context, w: _PrefixWriter) -> None:
    meta, spec = _meta(service), service.get("spec") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Selector:\t{format_labels(spec.get('selector'))}\n")
    w.write(0, f"Type:\t{spec.get('type') or 'ClusterIP'}\n")
    if spec.get("ipFamilyPolicy"):
        w.write(0, f"IP Family Policy:\t{spec['ipFamilyPolicy']}\n")
    w.write(0, f"IP Families:\t{','.join(spec.get('ipFamilies') or []) or '<none>'}\n")
    w.write(0, f"IP:\t{spec.get('clusterIP', '')}\n")
    w.write(0, f"IPs:\t{','.join(spec.get('clusterIPs') or []) or '<none>'}\n")
    if spec.get("externalIPs"):
        w.write(0, f"External IPs:\t{','.join(spec['externalIPs'])}\n")
    if spec.get("loadBalancerIP"):
        w.write(0, f"Desired LoadBalancer IP:\t{spec['loadBalancerIP']}\n")
    if spec.get("externalName"):
        w.write(0, f"External Name:\t{spec['externalName']}\n")
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if ingress:
        w.write(0, f"LoadBalancer Ingress:\t{', '.join(i.get('ip') or i.get('hostname', '') for i in ingress)}\n")
    endpoints = next((e for e in ctx.related.get("Endpoints") or [] if _meta(e).get("name") == meta.get("name")), None)
    for port in spec.get("ports") or []:
        _service_port(w, port, endpoints)
    w.write(0, f"Session Affinity:\t{spec.get('sessionAffinity') or 'None'}\n")
    if spec.get("externalTrafficPolicy"):
        w.write(0, f"External Traffic Policy:\t{spec['externalTrafficPolicy']}\n")
    if spec.get("internalTrafficPolicy"):
        w.write(0, f"Internal Traffic Policy:\t{spec['internalTrafficPolicy']}\n")
    if spec.get("healthCheckNodePort"):
        w.write(0, f"HealthCheck NodePort:\t{spec['healthCheckNodePort']}\n")
    _events_section(w, ctx)


def _service_port(w: _PrefixWriter, port: ObjView, endpoints: ObjView | None) -> None:
    name = port.get("name") or "<unset>"
    protocol = port.get("protocol") or "TCP"
    w.write(0, f"Port:\t{name}\t{port.get('port', 0)}/{protocol}\n")
    w.write(0, f"TargetPort:\t{_int_or_string(port.get('targetPort', port.get('port', 0)))}/{protocol}\n")
    if port.get("appProtocol"):
        w.write(0, f"AppProtocol:\t{port['appProtocol']}\n")
    if port.get("nodePort"):
        w.write(0, f"NodePort:\t{name}\t{port['nodePort']}/{protocol}\n")
    w.write(0, f"Endpoints:\t{format_endpoints(endpoints, {port.get('name', '')})}\n")


def _describe_endpoints(endpoints: ObjView, ctx: _Context, w: _PrefixWriter) -> None:
    meta = _meta(endpoints)
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, "Subsets:\n")
    for subset in endpoints.get("subsets") or []:
        ready = ",".join(a.get("ip", "") for a in subset.get("addresses") or [])
        not_ready = ",".join(a.get("ip", "") for a in subset.get("notReadyAddresses") or [])
        w.write(1, f"Addresses:\t{ready or '<none>'}\n")
        w.write(1, f"NotReadyAddresses:\t{not_ready or '<none>'}\n")
        if subset.get("ports"):
            w.write(1, "Ports:\n")
            w.write(2, "Name\tPort\tProtocol\n")
            w.write(2, "----\t----\t--------\n")
            for port in subset["ports"]:
                w.write(2, f"{port.get('name') or '<unset>'}\t{port.get('port', 0)}\t{port.get('protocol') or 'TCP'}\n")
        w.write(0, "\n")
    _events_section(w, ctx)


def _describe_namespace(ns: ObjView, ctx: _Context, w: _PrefixWriter) -> None:
    meta, status = _meta(ns), ns.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"Status:\t{status.get('phase', '')}\n")
    if status.get("conditions"):
        w.write(0, "Conditions:\n")
        w.write(1, "Type\tStatus\tLastTransitionTime\tReason\tMessage\n")
        w.write(1, "----\t------\t------------------\t------\t-------\n")
        for c in status["conditions"]:
            w.write(
                1,
                f"{c.get('type', '')}\t{c.get('status', '')}\t{ctx.time(c.get('lastTransitionTime'))}\t"
                f"{c.get('reason', '')}\t{c.get('message', '')}\n",
            )
    # kemu serves no ResourceQuota or LimitRange, so a namespace has none.
    w.write(0, "\n")
    w.write(0, "No resource quota.\n")
    w.write(0, "\n")
    w.write(0, "No LimitRange resource.\n")


def _describe_configmap(cm: ObjView, ctx: _Context, w: _PrefixWriter) -> None:
    meta = _meta(cm)
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, "\nData\n====\n")
    data = cm.get("data") or {}
    for key in sorted(data):
        w.write(0, f"{key}:\n----\n")
        w.write(0, f"{data[key]}\n")
        w.write(0, "\n")
    w.write(0, "\nBinaryData\n====\n")
    binary = cm.get("binaryData") or {}
    for key in sorted(binary):
        w.write(0, f"{key}: {_base64_length(binary[key])} bytes\n")
    w.write(0, "\n")
    _events_section(w, ctx)


def _describe_secret(secret: ObjView, ctx: _Context, w: _PrefixWriter) -> None:
    """``describeSecret``: sizes, never values (but a service-account token's)."""
    meta = _meta(secret)
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"\nType:\t{secret.get('type', '')}\n")
    w.write(0, "\nData\n====\n")
    data = secret.get("data") or {}
    for key in sorted(data):
        if key == "token" and secret.get("type") == "kubernetes.io/service-account-token":
            w.write(0, f"{key}:\t{base64.b64decode(str(data[key])).decode(errors='replace')}\n")
        else:
            w.write(0, f"{key}:\t{_base64_length(str(data[key]))} bytes\n")


def _describe_service_account(sa: ObjView, ctx: _Context, w: _PrefixWriter) -> None:
    """``describeServiceAccount``; kemu mints no token Secrets, so Tokens is
    ``<none>`` unless one names the account."""
    meta = _meta(sa)
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    _multiline(w, "Image pull secrets", [str(r.get("name", "")) for r in sa.get("imagePullSecrets") or []])
    _multiline(w, "Mountable secrets", [str(r.get("name", "")) for r in sa.get("secrets") or []])
    _multiline(w, "Tokens", [])
    _events_section(w, ctx)


def _base64_length(text: str) -> int:
    """How many bytes a base64 ``binaryData`` value decodes to."""
    text = text.strip()
    return len(text) * 3 // 4 - text[-2:].count("=")


def _describe_node(node: ObjView, ctx: _Context, w: _PrefixWriter) -> None:
    meta, spec, status = _meta(node), node.get("spec") or {}, node.get("status") or {}
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Roles:\t{','.join(node_roles(node)) or '<none>'}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    w.write(0, f"CreationTimestamp:\t{ctx.time(meta.get('creationTimestamp'))}\n")
    taints = sorted(spec.get("taints") or [], key=lambda t: f"{t.get('effect', '')},{t.get('key', '')}")
    _multiline(w, "Taints", [_taint_text(t) for t in taints])
    w.write(0, f"Unschedulable:\t{_go_value(bool(spec.get('unschedulable')))}\n")
    _node_lease(w, node, ctx)
    _node_conditions(w, status, ctx)
    w.write(0, "Addresses:\n")
    for address in status.get("addresses") or []:
        w.write(1, f"{address.get('type', '')}:\t{address.get('address', '')}\n")
    for title, key in (("Capacity", "capacity"), ("Allocatable", "allocatable")):
        if status.get(key):
            w.write(0, f"{title}:\n")
            for name in sorted(status[key]):
                w.write(0, f"  {name}:\t{_quantity_text(status[key][name])}\n")
    _node_system_info(w, status.get("nodeInfo") or {})
    if spec.get("podCIDR"):
        w.write(0, f"PodCIDR:\t{spec['podCIDR']}\n")
    if spec.get("podCIDRs"):
        w.write(0, f"PodCIDRs:\t{','.join(spec['podCIDRs'])}\n")
    if spec.get("providerID"):
        w.write(0, f"ProviderID:\t{spec['providerID']}\n")
    _node_pods(w, node, ctx)
    _events_section(w, ctx)


def _quantity_text(value: Any) -> str:
    try:
        return str(Quantity.parse(value))
    except ValueError:
        return str(value)


def _node_lease(w: _PrefixWriter, node: ObjView, ctx: _Context) -> None:
    name = _meta(node).get("name", "")
    lease = next((lease for lease in ctx.related.get("Lease") or [] if _meta(lease).get("name") == name), None)
    if lease is None:
        w.write(0, f'Lease:\tFailed to get lease: leases.coordination.k8s.io "{name}" not found\n')
        return
    spec = lease.get("spec") or {}
    w.write(0, "Lease:\n")
    w.write(1, f"HolderIdentity:\t{spec.get('holderIdentity') or '<unset>'}\n")
    w.write(1, f"AcquireTime:\t{ctx.time(spec['acquireTime']) if spec.get('acquireTime') else '<unset>'}\n")
    w.write(1, f"RenewTime:\t{ctx.time(spec['renewTime']) if spec.get('renewTime') else '<unset>'}\n")


def _node_conditions(w: _PrefixWriter, status: ObjView, ctx: _Context) -> None:
    conditions = status.get("conditions") or []
    if not conditions:
        return
    w.write(0, "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n")
    w.write(1, "----\t------\t-----------------\t------------------\t------\t-------\n")
    for c in conditions:
        w.write(
            1,
            f"{c.get('type', '')} \t{c.get('status', '')} \t{ctx.time(c.get('lastHeartbeatTime'))} \t"
            f"{ctx.time(c.get('lastTransitionTime'))} \t{c.get('reason', '')} \t{c.get('message', '')}\n",
        )


_SYSTEM_INFO = (
    ("Machine ID", "machineID"),
    ("System UUID", "systemUUID"),
    ("Boot ID", "bootID"),
    ("Kernel Version", "kernelVersion"),
    ("OS Image", "osImage"),
    ("Operating System", "operatingSystem"),
    ("Architecture", "architecture"),
    ("Container Runtime Version", "containerRuntimeVersion"),
    ("Kubelet Version", "kubeletVersion"),
)


def _node_system_info(w: _PrefixWriter, info: ObjView) -> None:
    w.write(0, "System Info:\n")
    for label, key in _SYSTEM_INFO:
        w.write(0, f"  {label}:\t{info.get(key, '')}\n")


def _percent(part: int, whole: int) -> int:
    """``int64(float64(part) / float64(whole) * 100)``; 0 against nothing."""
    return int(part / whole * 100) if whole else 0


def _node_pods(w: _PrefixWriter, node: ObjView, ctx: _Context) -> None:
    """``describeNodeResource``: the node's running pods with their share of
    the allocatable cpu and memory, then the totals."""
    status = node.get("status") or {}
    allocatable = _resource_list(status.get("allocatable") or status.get("capacity"))
    requests, limits = _node_pod_table(w, _running_on(node, ctx), allocatable, ctx)
    _allocated_resources(w, requests, limits, allocatable)


def _running_on(node: ObjView, ctx: _Context) -> list[ObjView]:
    """``related["Pod"]`` narrowed to the node's pods that have not finished,
    in the apiserver's order (namespace, name)."""
    name = _meta(node).get("name")
    return sorted(
        (
            p
            for p in ctx.related.get("Pod") or []
            if (p.get("spec") or {}).get("nodeName") == name
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ),
        key=lambda p: (_meta(p).get("namespace", ""), _meta(p).get("name", "")),
    )


def _node_pod_table(
    w: _PrefixWriter, pods: Sequence[ObjView], allocatable: Mapping[str, Quantity], ctx: _Context
) -> tuple[dict[str, Quantity], dict[str, Quantity]]:
    """The Non-terminated Pods table; returns the pods' summed requests and limits."""
    cpu_total = allocatable.get("cpu", _ZERO).milli_value()
    memory_total = allocatable.get("memory", _ZERO).int_value()
    w.write(0, f"Non-terminated Pods:\t({len(pods)} in total)\n")
    w.write(1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n")
    w.write(1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n")
    requests: dict[str, Quantity] = {}
    limits: dict[str, Quantity] = {}
    for pod in pods:
        req, lim = _pod_resources(pod, _container_requests), _pod_resources(pod, _container_limits)
        _add_into(requests, req)
        _add_into(limits, lim)
        cpu_req, cpu_lim = req.get("cpu", _ZERO), lim.get("cpu", _ZERO)
        mem_req, mem_lim = req.get("memory", _ZERO), lim.get("memory", _ZERO)
        w.write(
            1,
            f"{_meta(pod).get('namespace', '')}\t{_meta(pod).get('name', '')}\t\t"
            f"{cpu_req} ({_percent(cpu_req.milli_value(), cpu_total)}%)\t{cpu_lim} ({_percent(cpu_lim.milli_value(), cpu_total)}%)\t"
            f"{mem_req} ({_percent(mem_req.int_value(), memory_total)}%)\t{mem_lim} ({_percent(mem_lim.int_value(), memory_total)}%)\t"
            f"{ctx.since(_meta(pod).get('creationTimestamp'))}\n",
        )
    return requests, limits


def _allocated_resources(
    w: _PrefixWriter, requests: Mapping[str, Quantity], limits: Mapping[str, Quantity], allocatable: Mapping[str, Quantity]
) -> None:
    """The Allocated resources table: totals against what the node offers."""
    w.write(0, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n")
    w.write(1, "Resource\tRequests\tLimits\n")
    w.write(1, "--------\t--------\t------\n")
    scales: list[tuple[str, Callable[[Quantity], int]]] = [
        ("cpu", Quantity.milli_value),
        ("memory", Quantity.int_value),
        ("ephemeral-storage", Quantity.int_value),
    ]
    scales += [(r, Quantity.int_value) for r in sorted(allocatable) if r.startswith("hugepages-")]
    for resource, scale in scales:
        asked, capped = requests.get(resource, _ZERO), limits.get(resource, _ZERO)
        whole = scale(allocatable.get(resource, _ZERO))
        w.write(1, f"{resource}\t{asked} ({_percent(scale(asked), whole)}%)\t{capped} ({_percent(scale(capped), whole)}%)\n")
    standard = {"cpu", "memory", "ephemeral-storage", "pods"}
    for resource in sorted(r for r in allocatable if r not in standard and not r.startswith("hugepages-")):
        w.write(1, f"{resource}\t{requests.get(resource, _ZERO)}\t{limits.get(resource, _ZERO)}\n")


# -- generic -----------------------------------------------------------------------------


_ACRONYMS = ("API", "URL", "UID", "OSB", "GUID")


def _camel_split(text: str) -> list[str]:
    """github.com/fatih/camelcase.Split: ``resourceVersion`` to ``resource``, ``Version``."""
    runs: list[list[str]] = []
    last = 0
    for ch in text:
        cls = 1 if ch.islower() else 2 if ch.isupper() else 3 if ch.isdigit() else 4
        if cls == last:
            runs[-1].append(ch)
        else:
            runs.append([ch])
        last = cls
    for i in range(len(runs) - 1):
        if runs[i][0].isupper() and runs[i + 1][0].islower():
            runs[i + 1].insert(0, runs[i].pop())
    return ["".join(r) for r in runs if r]


def _smart_label(name: str) -> str:
    """describe.go ``smartLabelFor``: ``holderIdentity`` to ``Holder Identity``,
    ``uid`` to ``UID``; keys with other characters stay as they are."""
    if any(not (ch.isalpha() or ch == "-") for ch in name):
        return name
    words = []
    for part in _camel_split(name):
        if part == "_":
            continue
        if part.upper() in _ACRONYMS:
            part = part.upper()
        elif part.lower() == part:
            part = part[:1].upper() + part[1:]
        words.append(part)
    return " ".join(words)


_GENERIC_SKIP = frozenset({".metadata.managedFields", ".metadata.name", ".metadata.namespace", ".metadata.labels", ".metadata.annotations"})


def _unstructured(w: _PrefixWriter, level: int, content: Mapping[str, Any], prefix: str) -> None:
    """``printUnstructuredContent``: every field sorted, maps and lists nested."""
    for key in sorted(content):
        value, path = content[key], f"{prefix}.{key}"
        if path in _GENERIC_SKIP:
            continue
        if isinstance(value, dict):
            w.write(level, f"{_smart_label(key)}:\n")
            _unstructured(w, level + 1, value, path)
        elif isinstance(value, list):
            w.write(level, f"{_smart_label(key)}:\n")
            for item in value:
                if isinstance(item, dict):
                    _unstructured(w, level + 1, item, path)
                else:
                    w.write(level + 1, f"{_go_value(item)}\n")
        else:
            w.write(level, f"{_smart_label(key)}:\t{_go_value(value)}\n")


def _describe_generic(obj: ObjView, ctx: _Context, w: _PrefixWriter) -> None:
    """kubectl's generic describer (what Events, Leases and anything without a
    describer of its own get)."""
    meta = _meta(obj)
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    _labels(w, "Labels", meta.get("labels"))
    _annotations(w, "Annotations", meta.get("annotations"))
    _unstructured(w, 0, obj, "")
    _events_section(w, ctx)


_DESCRIBERS: dict[str, Callable[[ObjView, _Context, _PrefixWriter], None]] = {
    "Pod": _describe_pod,
    "ReplicaSet": _describe_replicaset,
    "ReplicationController": _describe_replication_controller,
    "Deployment": _describe_deployment,
    "Service": _describe_service,
    "Endpoints": _describe_endpoints,
    "Node": _describe_node,
    "Namespace": _describe_namespace,
    "ConfigMap": _describe_configmap,
    "Secret": _describe_secret,
    "ServiceAccount": _describe_service_account,
}


def describe(
    obj: dict[str, Any],
    *,
    events: list[dict[str, Any]] | None,
    related: dict[str, list[dict[str, Any]]] | None = None,
    now: float,
    kind: str | None = None,
    tz: tzinfo | None = None,
) -> str:
    """The text ``kubectl describe`` prints for ``obj``.

    ``events`` are core/v1 Events; those about ``obj`` are shown (see
    :func:`events_for`), and ``None`` leaves the Events section out
    (``--show-events=false``). ``related`` holds what kubectl fetches beside
    the object, by kind: ``Pod`` (a ReplicaSet's pods, a Node's pods),
    ``ReplicaSet`` (a Deployment's), ``Endpoints`` (a Service's), ``Lease``
    (a Node's). ``kind`` defaults to ``obj["kind"]``; ``tz`` is the zone times
    are written in (the local zone by default, as kubectl).
    """
    kind = kind or obj.get("kind", "")
    ctx = _Context(
        events=None if events is None else events_for(obj, events, kind=kind),
        related=related or {},
        now=now,
        tz=tz,
    )
    w = _PrefixWriter()
    _DESCRIBERS.get(kind, _describe_generic)(obj, ctx, w)
    return w.text()
