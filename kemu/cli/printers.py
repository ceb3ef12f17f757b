"""What ``kemu get`` prints, exactly as kubectl v1.32 prints it.

Everything here is a pure function of API objects (plain dicts shaped like
Kubernetes JSON) and ``now`` (seconds since the epoch): no I/O, no clock.

Tables
    One :class:`_Table` per kind holds the column names kubectl shows (the
    apiserver's Table printers in ``pkg/printers/internalversion/printers.go``)
    and a function that turns one object into its row. ``-o wide`` switches to
    the wide column list, ``-A`` prepends ``NAMESPACE`` for namespaced kinds,
    several kinds at once prefix names with their resource (``pod/web-1``).

Layout
    :class:`TabWriter` is Go's ``text/tabwriter`` (with liggitt/tabwriter's
    ``RememberWidths``), cell for cell: kubectl's tables, its ``describe``
    sections and ``get -w`` all come out of it, so trailing spaces and column
    blocks land exactly where kubectl puts them.

Other outputs
    ``-o yaml|json|name|jsonpath=...|custom-columns=...`` as kubectl renders
    them: keys sorted, several objects wrapped in a ``v1/List``, JSON indented
    by four with Go's HTML escaping, YAML quoted the way go-yaml quotes.

Watching
    kubectl's watch printer keeps one tab writer for the whole watch: headers
    once, and column widths that only ever grow. :class:`WatchState` is that
    memory; :func:`watch_row` prints one change with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import yaml

from kemu.api.kinds import KINDS
from kemu.apimachinery import parse_time

__all__ = [
    "PrintResult",
    "TabWriter",
    "WatchState",
    "age",
    "format_endpoints",
    "format_label_selector",
    "format_labels",
    "format_table",
    "human_duration",
    "label_selector_string",
    "node_roles",
    "parse_timestamp",
    "pod_status",
    "print_objects",
    "resource_name",
    "table_columns",
    "table_row",
    "watch_row",
]

ObjView = Mapping[str, Any]
"""A read-only view of an API object (:data:`kemu.types.Obj` is the owned, mutable one)."""

# kubectl's table writer (cli-runtime printers.GetNewTabWriter).
_TABLE_MINWIDTH = 6
_TABLE_PADDING = 3
# Node role labels (pkg/printers/internalversion/printers.go).
_NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
_NODE_ROLE_LABEL = "kubernetes.io/role"
# A LoadBalancer's addresses are clipped to this many bytes outside -o wide.
_LOAD_BALANCER_WIDTH = 16

_NS_PER_SECOND = 1_000_000_000
_NS_PER_MINUTE = 60 * _NS_PER_SECOND
_NS_PER_HOUR = 60 * _NS_PER_MINUTE


# -- time ----------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """A duration as ``k8s.io/apimachinery/pkg/util/duration.HumanDuration``
    writes it: two or three significant figures.

    >>> [human_duration(s) for s in (5, 150, 600, 11100, 183600, 432000)]
    ['5s', '2m30s', '10m', '3h5m', '2d3h', '5d']

    Up to two seconds in the future counts as now (``0s``: clocks drift);
    further in the future is ``<invalid>``.
    """
    ns = int(Decimal(str(seconds)) * _NS_PER_SECOND)
    whole_seconds = int(Decimal(ns) / _NS_PER_SECOND)  # truncates toward zero, as Go does
    if whole_seconds < -1:
        return "<invalid>"
    if whole_seconds < 0:
        return "0s"
    if whole_seconds < 60 * 2:
        return f"{whole_seconds}s"
    minutes = ns // _NS_PER_MINUTE
    if minutes < 10:
        secs = (ns // _NS_PER_SECOND) % 60
        return f"{minutes}m" if secs == 0 else f"{minutes}m{secs}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = ns // _NS_PER_HOUR
    if hours < 8:
        mins = minutes % 60
        return f"{hours}h" if mins == 0 else f"{hours}h{mins}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def parse_timestamp(value: str) -> float:
    """Seconds since the epoch for an RFC 3339 timestamp (``metav1.Time`` or
    ``MicroTime``: ``2024-05-01T10:00:00Z``, ``...00.123456Z``, ``...+02:00``).

    Raises ``ValueError`` for text that is not a timestamp.
    """
    return parse_time(value).epoch


def age(timestamp_rfc3339: str | None, now: float) -> str:
    """How long ago ``timestamp_rfc3339`` was (kubectl's ``AGE`` column), or
    ``<unknown>`` when the object has no such timestamp."""
    if not timestamp_rfc3339:
        return "<unknown>"
    try:
        return human_duration(now - parse_timestamp(timestamp_rfc3339))
    except ValueError:
        return "<unknown>"


# -- tabwriter -------------------------------------------------------------------------


class TabWriter:
    """Go's ``text/tabwriter`` with padding by spaces, as kubectl uses it.

    Text is cut into lines and lines into tab-terminated cells; the text after
    a line's last tab is not part of any column. A column block is a run of
    consecutive lines that all have a cell in that column; each block is as
    wide as its widest cell plus ``padding`` (never less than ``minwidth``).
    With ``remember_widths`` (liggitt/tabwriter, kubectl's table printer) a
    column never gets narrower than it was in an earlier :meth:`format` call,
    which keeps ``kubectl get -w`` rows under their headers.

    ``kubectl get`` uses ``TabWriter(minwidth=6, padding=3, remember_widths=True)``;
    ``kubectl describe`` uses ``TabWriter(minwidth=0, padding=2)``.
    """

    minwidth: int
    """Minimal cell width, padding included."""
    padding: int
    """Spaces added to a cell's text before its column width is computed."""
    remember_widths: bool
    """True to keep each column's widest width across calls to :meth:`format`."""
    _max_widths: list[int]

    def __init__(self, *, minwidth: int = 0, padding: int = 2, remember_widths: bool = False):
        self.minwidth = minwidth
        self.padding = padding
        self.remember_widths = remember_widths
        self._max_widths = []

    def format(self, text: str) -> str:
        """``text`` laid out in columns (one ``Flush`` of the Go writer)."""
        lines = [line.split("\t") for line in text.split("\n")]
        out: list[str] = []
        self._format(lines, 0, len(lines), [], out)
        return "".join(out)

    def _format(self, lines: list[list[str]], line0: int, line1: int, widths: list[int], out: list[str]) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            # This line has a cell in this column: a column block starts here.
            self._write_lines(lines, line0, this, widths, out)
            line0 = this
            width = self.minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + self.padding)
                this += 1
            width = self._remembered(column, width, widths)
            self._format(lines, line0, this, [*widths, width], out)
            line0 = this
        self._write_lines(lines, line0, line1, widths, out)

    def _remembered(self, column: int, width: int, widths: list[int]) -> int:
        if not self.remember_widths:
            return width
        if len(self._max_widths) < len(widths):
            self._max_widths.extend(widths[len(self._max_widths):])
        if len(self._max_widths) == column:
            self._max_widths.append(width)
        elif self._max_widths[column] > width:
            width = self._max_widths[column]
        else:
            self._max_widths[column] = width
        return width

    @staticmethod
    def _write_lines(lines: list[list[str]], line0: int, line1: int, widths: list[int], out: list[str]) -> None:
        for i in range(line0, line1):
            for j, cell in enumerate(lines[i]):
                out.append(cell)
                if j < len(widths):
                    out.append(" " * (widths[j] - len(cell)))
            if i + 1 < len(lines):
                out.append("\n")


def format_table(headers: list[str], rows: list[list[str]], *, no_headers: bool = False) -> str:
    """``headers`` and ``rows`` as kubectl lays out a table: left-aligned
    columns at least three spaces apart (and at least six wide), no trailing
    spaces, one line per row, each ending in a newline."""
    return _layout_table(headers, rows, no_headers=no_headers, writer=_table_writer())


def _table_writer() -> TabWriter:
    return TabWriter(minwidth=_TABLE_MINWIDTH, padding=_TABLE_PADDING, remember_widths=True)


def _layout_table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, no_headers: bool, writer: TabWriter) -> str:
    lines = [] if no_headers else ["\t".join(headers)]
    lines.extend("\t".join(_cell(c) for c in row) for row in rows)
    return writer.format("".join(line + "\n" for line in lines))


def _cell(value: object) -> str:
    """A table cell as kubectl prints it: cut at the first line break, with an
    ellipsis to show it was cut."""
    text = value if isinstance(value, str) else _go_sprint(value)
    cut = min((i for i in (text.find("\n"), text.find("\r"), text.find("\f")) if i >= 0), default=-1)
    return text if cut < 0 else text[:cut] + "..."


# -- shared formatting ---------------------------------------------------------------


def format_labels(labels: Mapping[str, str] | None) -> str:
    """``labels.FormatLabels``: ``a=1,b=2`` sorted by key, or ``<none>``."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


_SELECTOR_OPERATORS: dict[str, Callable[[str, list[str]], str]] = {
    "In": lambda key, values: f"{key} in ({','.join(sorted(values))})",
    "NotIn": lambda key, values: f"{key} notin ({','.join(sorted(values))})",
    "Exists": lambda key, values: key,
    "DoesNotExist": lambda key, values: f"!{key}",
}


def label_selector_string(selector: Mapping[str, Any] | None) -> str:
    """A ``LabelSelector`` as ``labels.Selector.String()`` writes it
    (``app=web,tier in (a,b),!canary``, requirements sorted by key); an empty
    or missing selector is ``""``."""
    if not selector:
        return ""
    requirements = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        render = _SELECTOR_OPERATORS.get(expr.get("operator", ""))
        if render is None:
            return "<error>"
        requirements.append((expr.get("key", ""), render(expr.get("key", ""), list(expr.get("values") or []))))
    requirements.sort(key=lambda r: r[0])
    return ",".join(text for _, text in requirements)


def format_label_selector(selector: Mapping[str, Any] | None) -> str:
    """``metav1.FormatLabelSelector``: :func:`label_selector_string`, or
    ``<none>`` when that is empty."""
    return label_selector_string(selector) or "<none>"


def node_roles(node: ObjView) -> list[str]:
    """A node's roles, sorted: the ``<role>`` of ``node-role.kubernetes.io/<role>``
    labels and the value of a ``kubernetes.io/role`` label."""
    roles: set[str] = set()
    for key, value in ((node.get("metadata") or {}).get("labels") or {}).items():
        if key.startswith(_NODE_ROLE_PREFIX) and key[len(_NODE_ROLE_PREFIX):]:
            roles.add(key[len(_NODE_ROLE_PREFIX):])
        elif key == _NODE_ROLE_LABEL and value:
            roles.add(value)
    return sorted(roles)


def _join_host_port(host: str, port: object) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def format_endpoints(endpoints: ObjView | None, port_names: set[str] | None = None) -> str:
    """An Endpoints object's addresses as kubectl shows them: at most three
    ``ip:port`` then ``+ N more...``; ``<none>`` without subsets. With
    ``port_names`` only ports of those names count (``describe service``)."""
    subsets = (endpoints or {}).get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    limit, count, more = 3, 0, False
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        if not ports:  # headless services may have no ports
            targets = [addresses]
        else:
            targets = [
                [_join_host_port(ip, p.get("port", 0)) for ip in addresses]
                for p in ports
                if port_names is None or p.get("name", "") in port_names
            ]
        for target in targets:
            count += len(target)
            for item in target:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(item)
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


def resource_name(kind: str) -> str:
    """How ``-o name`` and multi-kind tables name a kind: ``pod``,
    ``deployment.apps``, ``lease.coordination.k8s.io``."""
    info = KINDS.get(kind)
    if info is None:
        return kind.lower()
    return f"{info.kind.lower()}.{info.group}" if info.group else info.kind.lower()


def _meta(obj: ObjView) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _name(obj: ObjView) -> str:
    return str(_meta(obj).get("name", ""))


def _created(obj: ObjView, now: float) -> str:
    return age(_meta(obj).get("creationTimestamp"), now)


def _containers_cells(template: ObjView | None) -> list[str]:
    """``CONTAINERS`` and ``IMAGES`` of a pod template."""
    containers = (((template or {}).get("spec") or {}).get("containers")) or []
    return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)]


# -- pods --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PodSummary:
    """The READY, STATUS and RESTARTS of a pod, as printPod computes them."""

    ready: int
    """Ready containers (app containers and started restartable init containers)."""
    total: int
    """App containers plus restartable init containers (sidecars)."""
    reason: str
    """The STATUS column."""
    restarts: int
    """Restarts that count for the RESTARTS column."""
    last_restart: float | None
    """When the most recent counted restart's previous run finished."""


def _later(current: float | None, state: ObjView | None) -> float | None:
    finished = (state or {}).get("finishedAt")
    try:
        when = parse_timestamp(finished) if finished else None
    except ValueError:
        when = None
    if when is None:
        return current
    return when if current is None or when > current else current


def _condition_true(status: ObjView, kind: str) -> bool:
    """True when the first condition of type ``kind`` is ``True``."""
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return bool(cond.get("status") == "True")
    return False


def _has_ready_condition(status: ObjView) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _terminated_reason(term: ObjView, prefix: str) -> str:
    if term.get("reason"):
        return f"{prefix}{term['reason']}"
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


@dataclass(slots=True)
class _Tally:
    """What printPod accumulates while it walks a pod's container statuses."""

    reason: str
    """The STATUS so far."""
    ready: int = 0
    """Ready containers counted so far."""
    restarts: int = 0
    """Restarts counted so far."""
    last_restart: float | None = None
    """The latest ``lastState.terminated.finishedAt`` counted so far."""

    def count_restarts(self, status: ObjView) -> None:
        self.restarts += status.get("restartCount", 0)
        self.last_restart = _later(self.last_restart, (status.get("lastState") or {}).get("terminated"))


def _walk_init_containers(pod: ObjView, tally: _Tally) -> tuple[bool, _Tally]:
    """Init containers in order until the first one not done: it names the
    STATUS (``Init:Error``, ``Init:1/2``...). Returns whether the pod is still
    initializing, and the tally of its sidecars (restartable init containers)
    alone, which is what counts once initialization is over."""
    init_specs = (pod.get("spec") or {}).get("initContainers") or []
    sidecar_names = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    sidecars = _Tally(reason="")
    for i, cs in enumerate((pod.get("status") or {}).get("initContainerStatuses") or []):
        tally.count_restarts(cs)
        is_sidecar = cs.get("name") in sidecar_names
        if is_sidecar:
            sidecars.count_restarts(cs)
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term is not None and term.get("exitCode", 0) == 0:
            continue
        if is_sidecar and cs.get("started"):
            tally.ready += 1 if cs.get("ready") else 0
            continue
        if term is not None:
            tally.reason = _terminated_reason(term, "Init:")
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            tally.reason = "Init:" + waiting["reason"]
        else:
            tally.reason = f"Init:{i}/{len(init_specs)}"
        return True, sidecars
    return False, sidecars


def _walk_app_containers(status: ObjView, tally: _Tally) -> None:
    """App containers, last to first: any waiting or terminated one names the
    STATUS; a ``Completed`` pod with containers still running is not done."""
    has_running = False
    for cs in reversed(status.get("containerStatuses") or []):
        tally.count_restarts(cs)
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if waiting is not None and waiting.get("reason"):
            tally.reason = waiting["reason"]
        elif term is not None:
            tally.reason = _terminated_reason(term, "")
        elif cs.get("ready") and state.get("running") is not None:
            has_running = True
            tally.ready += 1
    if tally.reason == "Completed" and has_running:
        tally.reason = "Running" if _has_ready_condition(status) else "NotReady"


def _summarize_pod(pod: ObjView) -> _PodSummary:
    """printPod's READY, STATUS and RESTARTS."""
    spec, status, meta = pod.get("spec") or {}, pod.get("status") or {}, _meta(pod)
    phase = status.get("phase") or ""
    tally = _Tally(reason=status.get("reason") or phase)
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            tally.reason = "SchedulingGated"
    initializing, sidecars = _walk_init_containers(pod, tally)
    if not initializing or _condition_true(status, "Initialized"):
        tally.restarts, tally.last_restart = sidecars.restarts, sidecars.last_restart
        _walk_app_containers(status, tally)
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        tally.reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        tally.reason = "Terminating"
    sidecar_count = sum(1 for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always")
    total = len(spec.get("containers") or []) + sidecar_count
    return _PodSummary(tally.ready, total, tally.reason, tally.restarts, tally.last_restart)


def pod_status(pod: ObjView) -> str:
    """The STATUS kubectl shows for a pod (``Running``, ``Init:0/2``,
    ``CrashLoopBackOff``, ``Terminating``, ``Evicted``...)."""
    return _summarize_pod(pod).reason


def _pod_row(pod: ObjView, wide: bool, now: float) -> list[str]:
    summary = _summarize_pod(pod)
    restarts = str(summary.restarts)
    if summary.restarts and summary.last_restart is not None:
        restarts = f"{summary.restarts} ({human_duration(now - summary.last_restart)} ago)"
    row = [_name(pod), f"{summary.ready}/{summary.total}", summary.reason, restarts, _created(pod, now)]
    if wide:
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        pod_ips = status.get("podIPs") or []
        ip = (pod_ips[0].get("ip") if pod_ips else status.get("podIP")) or "<none>"
        row += [ip, spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>", _readiness_gates(pod)]
    return row


def _readiness_gates(pod: ObjView) -> str:
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    if not gates:
        return "<none>"
    conditions = (pod.get("status") or {}).get("conditions") or []
    passed = 0
    for gate in gates:
        match = next((c for c in conditions if c.get("type") == gate.get("conditionType")), None)
        passed += 1 if match is not None and match.get("status") == "True" else 0
    return f"{passed}/{len(gates)}"


# -- other kinds -----------------------------------------------------------------------


def _replicaset_row(rs: ObjView, wide: bool, now: float) -> list[str]:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    row = [_name(rs), str(spec.get("replicas", 1)), str(status.get("replicas", 0)), str(status.get("readyReplicas", 0)), _created(rs, now)]
    if wide:
        row += [*_containers_cells(spec.get("template")), format_label_selector(spec.get("selector"))]
    return row


def _replication_controller_row(rc: ObjView, wide: bool, now: float) -> list[str]:
    """``printReplicationController``: a ReplicaSet's columns, the selector a plain map."""
    spec, status = rc.get("spec") or {}, rc.get("status") or {}
    row = [_name(rc), str(spec.get("replicas", 1)), str(status.get("replicas", 0)), str(status.get("readyReplicas", 0)), _created(rc, now)]
    if wide:
        selector = {"matchLabels": spec["selector"]} if isinstance(spec.get("selector"), dict) else None
        row += [*_containers_cells(spec.get("template")), format_label_selector(selector)]
    return row


def _deployment_row(deploy: ObjView, wide: bool, now: float) -> list[str]:
    spec, status = deploy.get("spec") or {}, deploy.get("status") or {}
    row = [
        _name(deploy),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        str(status.get("updatedReplicas", 0)),
        str(status.get("availableReplicas", 0)),
        _created(deploy, now),
    ]
    if wide:
        row += [*_containers_cells(spec.get("template")), label_selector_string(spec.get("selector"))]
    return row


def _load_balancer_ips(service: ObjView, wide: bool) -> str:
    ingress = (((service.get("status") or {}).get("loadBalancer") or {}).get("ingress")) or []
    found = {i.get("ip") or i.get("hostname") for i in ingress} - {None, ""}
    text = ",".join(sorted(found))
    if not wide and len(text) > _LOAD_BALANCER_WIDTH:
        text = text[: _LOAD_BALANCER_WIDTH - 3] + "..."
    return text


def _service_external_ip(service: ObjView, wide: bool) -> str:
    spec = service.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    external = spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        lb = _load_balancer_ips(service, wide)
        if external:
            return ",".join([*(lb.split(",") if lb else []), *external])
        return lb or "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    return "<unknown>"


def _service_ports(ports: Sequence[ObjView]) -> str:
    pieces = []
    for port in ports:
        protocol = port.get("protocol") or "TCP"
        node_port = port.get("nodePort") or 0
        pieces.append(f"{port.get('port', 0)}:{node_port}/{protocol}" if node_port > 0 else f"{port.get('port', 0)}/{protocol}")
    return ",".join(pieces)


def _service_row(service: ObjView, wide: bool, now: float) -> list[str]:
    spec = service.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    row = [
        _name(service),
        spec.get("type") or "ClusterIP",
        cluster_ips[0] if cluster_ips else "<none>",
        _service_external_ip(service, wide),
        _service_ports(spec.get("ports") or []) or "<none>",
        _created(service, now),
    ]
    if wide:
        row.append(format_labels(spec.get("selector")))
    return row


def _endpoints_row(endpoints: ObjView, wide: bool, now: float) -> list[str]:
    return [_name(endpoints), format_endpoints(endpoints), _created(endpoints, now)]


def _node_status(node: ObjView) -> str:
    ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    status = ["Unknown"] if ready is None else ["Ready" if ready.get("status") == "True" else "NotReady"]
    if (node.get("spec") or {}).get("unschedulable"):
        status.append("SchedulingDisabled")
    return ",".join(status)


def _node_address(node: ObjView, kind: str) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == kind:
            return str(address.get("address", ""))
    return "<none>"


def _node_row(node: ObjView, wide: bool, now: float) -> list[str]:
    info = (node.get("status") or {}).get("nodeInfo") or {}
    row = [_name(node), _node_status(node), ",".join(node_roles(node)) or "<none>", _created(node, now), info.get("kubeletVersion", "")]
    if wide:
        row += [
            _node_address(node, "InternalIP"),
            _node_address(node, "ExternalIP"),
            info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>",
        ]
    return row


def _namespace_row(ns: ObjView, wide: bool, now: float) -> list[str]:
    return [_name(ns), (ns.get("status") or {}).get("phase", ""), _created(ns, now)]


def _event_source(event: ObjView) -> str:
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    host = source.get("host") or event.get("reportingInstance") or ""
    return f"{component}, {host}" if host else component


def _event_row(event: ObjView, wide: bool, now: float) -> list[str]:
    first = age(event.get("firstTimestamp"), now) if event.get("firstTimestamp") else age(event.get("eventTime"), now)
    last = age(event.get("lastTimestamp"), now) if event.get("lastTimestamp") else first
    count = event.get("count") or 0
    series = event.get("series")
    if series is not None:
        last, count = age(series.get("lastObservedTime"), now), series.get("count", 0)
    elif count == 0:
        count = 1  # singleton events of the events.k8s.io API carry no count
    ref = event.get("involvedObject") or {}
    target = f"{ref.get('kind', '').lower()}/{ref['name']}" if ref.get("name") else ref.get("kind", "").lower()
    message = (event.get("message") or "").strip()
    kind, reason = event.get("type", ""), event.get("reason", "")
    if wide:
        return [last, kind, reason, target, ref.get("fieldPath", ""), _event_source(event), message, first, str(count), _name(event)]
    return [last, kind, reason, target, message]


def _configmap_row(cm: ObjView, wide: bool, now: float) -> list[str]:
    return [_name(cm), str(len(cm.get("data") or {}) + len(cm.get("binaryData") or {})), _created(cm, now)]


def _lease_row(lease: ObjView, wide: bool, now: float) -> list[str]:
    return [_name(lease), (lease.get("spec") or {}).get("holderIdentity") or "", _created(lease, now)]


def _default_row(obj: ObjView, wide: bool, now: float) -> list[str]:
    return [_name(obj), _created(obj, now)]


@dataclass(frozen=True, slots=True)
class _Table:
    """How ``kubectl get`` shows one kind."""

    columns: tuple[str, ...]
    """Headers without ``-o wide``."""
    wide_columns: tuple[str, ...]
    """Headers with ``-o wide`` (kubectl's priority-1 columns slot in where the
    server defines them, not always at the end)."""
    row: Callable[[ObjView, bool, float], list[str]]
    """``(obj, wide, now)`` to the row's cells."""

    def name_column(self, wide: bool) -> int | None:
        """Where the object's name is (prefixed with its kind for multi-kind gets)."""
        cols = self.wide_columns if wide else self.columns
        return cols.index("NAME") if "NAME" in cols else None


_POD_COLUMNS = ("NAME", "READY", "STATUS", "RESTARTS", "AGE")
_WORKLOAD_WIDE = ("CONTAINERS", "IMAGES", "SELECTOR")
_RS_COLUMNS = ("NAME", "DESIRED", "CURRENT", "READY", "AGE")
_DEPLOY_COLUMNS = ("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE")
_SVC_COLUMNS = ("NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE")
_NODE_COLUMNS = ("NAME", "STATUS", "ROLES", "AGE", "VERSION")
_EVENT_COLUMNS = ("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")

_TABLES: dict[str, _Table] = {
    "Pod": _Table(_POD_COLUMNS, (*_POD_COLUMNS, "IP", "NODE", "NOMINATED NODE", "READINESS GATES"), _pod_row),
    "ReplicaSet": _Table(_RS_COLUMNS, (*_RS_COLUMNS, *_WORKLOAD_WIDE), _replicaset_row),
    "ReplicationController": _Table(_RS_COLUMNS, (*_RS_COLUMNS, *_WORKLOAD_WIDE), _replication_controller_row),
    "Deployment": _Table(_DEPLOY_COLUMNS, (*_DEPLOY_COLUMNS, *_WORKLOAD_WIDE), _deployment_row),
    "Service": _Table(_SVC_COLUMNS, (*_SVC_COLUMNS, "SELECTOR"), _service_row),
    "Endpoints": _Table(("NAME", "ENDPOINTS", "AGE"), ("NAME", "ENDPOINTS", "AGE"), _endpoints_row),
    "Node": _Table(
        _NODE_COLUMNS,
        (*_NODE_COLUMNS, "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"),
        _node_row,
    ),
    "Namespace": _Table(("NAME", "STATUS", "AGE"), ("NAME", "STATUS", "AGE"), _namespace_row),
    "Event": _Table(
        _EVENT_COLUMNS,
        ("LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME"),
        _event_row,
    ),
    "ConfigMap": _Table(("NAME", "DATA", "AGE"), ("NAME", "DATA", "AGE"), _configmap_row),
    "Lease": _Table(("NAME", "HOLDER", "AGE"), ("NAME", "HOLDER", "AGE"), _lease_row),
}
_DEFAULT_TABLE = _Table(("NAME", "AGE"), ("NAME", "AGE"), _default_row)


# -- Secret, ServiceAccount, RBAC, ResourceQuota, Ingress, PriorityClass -------------
# (printSecret, printServiceAccount, printRoleBinding, printResourceQuota,
# printIngress, printPriorityClass; Roles have no printer upstream and get the
# apiserver's default table, NAME and CREATED AT.)


def _secret_row(secret: ObjView, wide: bool, now: float) -> list[str]:
    return [_name(secret), str(secret.get("type") or ""), str(len(secret.get("data") or {})), _created(secret, now)]


def _service_account_row(sa: ObjView, wide: bool, now: float) -> list[str]:
    return [_name(sa), str(len(sa.get("secrets") or [])), _created(sa, now)]


def _created_at_row(obj: ObjView, wide: bool, now: float) -> list[str]:
    """The apiserver's default Table: the creation time as RFC 3339 UTC."""
    return [_name(obj), str(_meta(obj).get("creationTimestamp") or "")]


def _subjects_strings(subjects: Sequence[ObjView]) -> tuple[str, str, str]:
    """``rbac.SubjectsStrings``: users, groups and ``namespace:name`` service accounts."""
    users, groups, sas = [], [], []
    for subject in subjects:
        kind, name = subject.get("kind"), str(subject.get("name") or "")
        if kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
        elif kind == "ServiceAccount":
            sas.append(f"{subject.get('namespace') or ''}:{name}")
    return ", ".join(users), ", ".join(groups), ", ".join(sas)


def _role_binding_row(binding: ObjView, wide: bool, now: float) -> list[str]:
    ref = binding.get("roleRef") or {}
    row = [_name(binding), f"{ref.get('kind', '')}/{ref.get('name', '')}", _created(binding, now)]
    if wide:
        row.extend(_subjects_strings(binding.get("subjects") or []))
    return row


def _resource_quota_row(quota: ObjView, wide: bool, now: float) -> list[str]:
    """``NAME AGE REQUEST LIMIT``: ``used/hard`` per resource of ``status.hard``,
    ``limits.*`` in LIMIT and everything else in REQUEST."""
    status = quota.get("status") or {}
    hard, used = status.get("hard") or {}, status.get("used") or {}
    requests: list[str] = []
    limits: list[str] = []
    for name in sorted(hard):
        cell = f"{name}: {used.get(name, '0')}/{hard[name]}"
        (limits if name.split(".")[0] == "limits" and "." in name else requests).append(cell)
    return [_name(quota), _created(quota, now), ", ".join(requests), ", ".join(limits)]


def _ingress_hosts(rules: Sequence[ObjView]) -> str:
    """``formatHosts``: at most three hosts, then ``+ N more...``; ``*`` when none is named."""
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True
        if not more and rule.get("host"):
            hosts.append(str(rule["host"]))
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - 3} more..." if more else text


def _ingress_row(ingress: ObjView, wide: bool, now: float) -> list[str]:
    spec = ingress.get("spec") or {}
    return [
        _name(ingress),
        str(spec.get("ingressClassName") or "<none>"),
        _ingress_hosts(spec.get("rules") or []),
        _load_balancer_ips(ingress, wide),
        "80, 443" if spec.get("tls") else "80",
        _created(ingress, now),
    ]


def _priority_class_row(pc: ObjView, wide: bool, now: float) -> list[str]:
    return [
        _name(pc),
        str(pc.get("value", 0)),
        "true" if pc.get("globalDefault") else "false",
        _created(pc, now),
        str(pc.get("preemptionPolicy") or ""),
    ]


_BINDING_COLUMNS = ("NAME", "ROLE", "AGE")
_BINDING_WIDE = (*_BINDING_COLUMNS, "USERS", "GROUPS", "SERVICEACCOUNTS")
_CREATED_AT_COLUMNS = ("NAME", "CREATED AT")
_INGRESS_COLUMNS = ("NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE")
_PC_COLUMNS = ("NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY")
_QUOTA_COLUMNS = ("NAME", "AGE", "REQUEST", "LIMIT")

_TABLES.update(
    {
        "Secret": _Table(("NAME", "TYPE", "DATA", "AGE"), ("NAME", "TYPE", "DATA", "AGE"), _secret_row),
        "ServiceAccount": _Table(("NAME", "SECRETS", "AGE"), ("NAME", "SECRETS", "AGE"), _service_account_row),
        "Role": _Table(_CREATED_AT_COLUMNS, _CREATED_AT_COLUMNS, _created_at_row),
        "ClusterRole": _Table(_CREATED_AT_COLUMNS, _CREATED_AT_COLUMNS, _created_at_row),
        "RoleBinding": _Table(_BINDING_COLUMNS, _BINDING_WIDE, _role_binding_row),
        "ClusterRoleBinding": _Table(_BINDING_COLUMNS, _BINDING_WIDE, _role_binding_row),
        "ResourceQuota": _Table(_QUOTA_COLUMNS, _QUOTA_COLUMNS, _resource_quota_row),
        "Ingress": _Table(_INGRESS_COLUMNS, _INGRESS_COLUMNS, _ingress_row),
        "PriorityClass": _Table(_PC_COLUMNS, _PC_COLUMNS, _priority_class_row),
    }
)


def _namespaced(kind: str) -> bool:
    info = KINDS.get(kind)
    return info.namespaced if info is not None else True


def table_columns(kind: str, wide: bool, *, all_namespaces: bool = False) -> list[str]:
    """The headers ``kubectl get <kind>`` prints (uppercase), with
    ``NAMESPACE`` first for ``-A`` on a namespaced kind."""
    table = _TABLES.get(kind, _DEFAULT_TABLE)
    columns = list(table.wide_columns if wide else table.columns)
    return ["NAMESPACE", *columns] if all_namespaces and _namespaced(kind) else columns


def table_row(
    obj: ObjView,
    *,
    wide: bool,
    now: float,
    kind: str | None = None,
    all_namespaces: bool = False,
    show_kind: bool = False,
) -> list[str]:
    """The cells of ``obj``'s row under :func:`table_columns`.

    ``kind`` defaults to ``obj["kind"]`` (list items from an apiserver carry
    none); ``show_kind`` writes the name as ``deployment.apps/web``.
    """
    kind = kind or obj.get("kind", "")
    table = _TABLES.get(kind, _DEFAULT_TABLE)
    row = table.row(obj, wide, now)
    name_at = table.name_column(wide)
    if show_kind and name_at is not None:
        row[name_at] = f"{resource_name(kind)}/{row[name_at]}"
    if all_namespaces and _namespaced(kind):
        row.insert(0, _meta(obj).get("namespace", ""))
    return row


# -- yaml and json -------------------------------------------------------------------


class _KubectlDumper(yaml.SafeDumper):
    """YAML as go-yaml (sigs.k8s.io/yaml) writes it: strings that would read
    back as something else in double quotes, multi-line strings as literal
    blocks, everything else plain when it can be."""


_GO_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
# YAML 1.1 booleans go-yaml knows and PyYAML does not.
_GO_BOOLS = frozenset({"y", "Y", "n", "N"})


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    resolved = dumper.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    ambiguous = resolved != "tag:yaml.org,2002:str" or value in _GO_BOOLS or _GO_FLOAT.fullmatch(value) is not None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if ambiguous else None)


_KubectlDumper.add_representer(str, _represent_str)


def _to_yaml(obj: ObjView) -> str:
    return yaml.dump(obj, Dumper=_KubectlDumper, default_flow_style=False, sort_keys=True, allow_unicode=True)


_GO_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_JSON_ESCAPE = re.compile("[<>&\u2028\u2029]")


def _go_json(value: object, *, indent: int | None) -> str:
    """``encoding/json`` output: map keys sorted, ``<``, ``>`` and ``&``
    escaped as Go escapes them (they only ever occur inside strings)."""
    separators = (",", ": ") if indent is not None else (",", ":")
    text = json.dumps(value, indent=indent, sort_keys=True, ensure_ascii=False, separators=separators)
    return _GO_JSON_ESCAPE.sub(lambda m: _GO_JSON_ESCAPES[m.group(0)], text)


def _with_type(obj: ObjView, kind: str) -> dict[str, Any]:
    """``obj`` with ``apiVersion`` and ``kind`` filled in, as kubectl prints
    list items (an apiserver's list items carry neither)."""
    typed = dict(obj)
    info = KINDS.get(kind)
    if info is not None:
        typed.setdefault("apiVersion", info.api_version)
    typed.setdefault("kind", kind)
    return typed


def _document(objs: Sequence[ObjView], kind: str, as_list: bool | None) -> dict[str, Any]:
    """What kubectl serializes: the object itself for one named object, else a
    ``v1/List`` of them."""
    items = [_with_type(o, kind) for o in objs]
    if as_list is False or (as_list is None and len(items) == 1):
        return items[0]
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


# -- jsonpath -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Text:
    """Literal template text, or a quoted string in braces (``{"\\n"}``)."""

    text: str


@dataclass(frozen=True, slots=True)
class _Path:
    """A ``{.a.b[*]}`` expression."""

    steps: tuple[tuple[str, Any], ...]


@dataclass(slots=True)
class _Range:
    """``{range <path>}<body>{end}``: the body once per result of the path."""

    path: _Path
    body: list[_Text | _Path | _Range] = field(default_factory=list)


_Node = _Text | _Path | _Range


def _closing(text: str, start: int, opener: str, closer: str) -> int:
    """Index of the ``closer`` matching ``text[start] == opener``, skipping
    quoted strings."""
    depth, quote, i = 0, "", start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == opener:
            depth += 1
        elif ch == closer:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"unclosed {opener} in {text!r}")


def _unquote(text: str) -> str:
    if text.startswith('"'):
        return str(json.loads(text))
    return text[1:-1].replace("\\'", "'")


def _parse_template(template: str) -> list[_Node]:
    """A kubectl JSONPath template as a tree of text, paths and ranges."""
    root: list[_Node] = []
    stack: list[list[_Node]] = [root]
    i, text = 0, ""
    while i < len(template):
        if template[i] != "{":
            text += template[i]
            i += 1
            continue
        end = _closing(template, i, "{", "}")
        if text:
            stack[-1].append(_Text(text))
            text = ""
        inner = template[i + 1 : end].strip()
        i = end + 1
        if inner.startswith("range "):
            node = _Range(_parse_path(inner[len("range "):].strip()))
            stack[-1].append(node)
            stack.append(node.body)
        elif inner == "end":
            if len(stack) == 1:
                raise ValueError("not in range, nothing to end")
            stack.pop()
        elif inner[:1] in ("'", '"'):
            stack[-1].append(_Text(_unquote(inner)))
        elif inner:
            stack[-1].append(_parse_path(inner))
    if text:
        stack[-1].append(_Text(text))
    if len(stack) != 1:
        raise ValueError("unclosed range")
    return root


def _read_name(path: str, i: int) -> tuple[str, int]:
    name = ""
    while i < len(path) and path[i] not in ".[" and not path[i].isspace():
        if path[i] == "\\" and i + 1 < len(path):
            i += 1
        name += path[i]
        i += 1
    return name, i


def _parse_bracket(inner: str) -> tuple[str, Any]:
    inner = inner.strip()
    if inner == "*":
        return ("wildcard", None)
    if inner.startswith("?(") and inner.endswith(")"):
        return ("filter", _parse_filter(inner[2:-1]))
    if inner[:1] in ("'", '"'):
        return ("keys", [_unquote(k.strip()) for k in _split_top(inner, ",")])
    if ":" in inner:
        parts = [int(p) if p.strip() else None for p in inner.split(":")]
        return ("slice", [*parts, None, None][:3])
    return ("indices", [int(p) for p in inner.split(",")])


def _parse_path(path: str) -> _Path:
    steps: list[tuple[str, Any]] = []
    i = 1 if path[:1] in ("$", "@") else 0
    while i < len(path):
        ch = path[i]
        if ch.isspace():
            i += 1
        elif path.startswith("..", i):
            name, i = _read_name(path, i + 2)
            steps.append(("recursive", name))
        elif ch == ".":
            if path.startswith("*", i + 1):
                steps.append(("wildcard", None))
                i += 2
            else:
                name, i = _read_name(path, i + 1)
                if name:
                    steps.append(("field", name))
        elif ch == "[":
            end = _closing(path, i, "[", "]")
            steps.append(_parse_bracket(path[i + 1 : end]))
            i = end + 1
        else:
            raise ValueError(f"unrecognized character in action: {path[i:]!r}")
    return _Path(tuple(steps))


def _split_top(text: str, sep: str) -> list[str]:
    parts, quote, current = [], "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == sep:
            parts.append(current)
            current = ""
            continue
        current += ch
    return [*parts, current]


_FILTER_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")


def _parse_operand(text: str) -> tuple[str, Any]:
    text = text.strip()
    if text[:1] in ("@", "$"):
        return ("path", (text[0] == "$", _parse_path(text)))
    if text[:1] in ("'", '"'):
        return ("literal", _unquote(text))
    literals = {"true": True, "false": False, "null": None}
    if text in literals:
        return ("literal", literals[text])
    return ("literal", float(text) if any(c in text for c in ".eE") else int(text))


def _parse_filter(text: str) -> tuple[tuple[str, Any], str | None, tuple[str, Any] | None]:
    """``@.type=="Ready"`` as (left operand, operator, right operand); a bare
    ``@.field`` tests that the field exists."""
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        else:
            for op in _FILTER_OPERATORS:
                if text.startswith(op, i):
                    return _parse_operand(text[:i]), op, _parse_operand(text[i + len(op):])
    return _parse_operand(text), None, None


def _descendants(value: Any) -> Iterable[Any]:
    yield value
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        yield from _descendants(child)


def _step_field(values: list[Any], name: str, root: Any) -> list[Any]:
    return [v[name] for v in values if isinstance(v, dict) and name in v]


def _step_keys(values: list[Any], names: list[str], root: Any) -> list[Any]:
    return [v[n] for v in values if isinstance(v, dict) for n in names if n in v]


def _step_wildcard(values: list[Any], _: Any, root: Any) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if isinstance(v, dict):
            out.extend(v[k] for k in sorted(v))
        elif isinstance(v, list):
            out.extend(v)
    return out


def _step_indices(values: list[Any], indices: list[int], root: Any) -> list[Any]:
    return [v[i] for v in values if isinstance(v, list) for i in indices if -len(v) <= i < len(v)]


def _step_slice(values: list[Any], bounds: list[int | None], root: Any) -> list[Any]:
    start, stop, step = bounds
    return [item for v in values if isinstance(v, list) for item in v[slice(start, stop, step or None)]]


def _step_recursive(values: list[Any], name: str, root: Any) -> list[Any]:
    found = [d for v in values for d in _descendants(v) if isinstance(d, dict)]
    if name in ("", "*"):
        return [child for d in found for child in d.values()]
    return [d[name] for d in found if name in d]


def _operand_value(operand: tuple[str, Any], item: Any, root: Any) -> tuple[bool, Any]:
    kind, arg = operand
    if kind == "literal":
        return True, arg
    from_root, path = arg
    found = _evaluate(path, root if from_root else item, root)
    return (True, found[0]) if found else (False, None)


def _compare(left: Any, op: str, right: Any) -> bool:
    numbers = (int, float)
    if isinstance(left, bool) or isinstance(right, bool) or not (
        (isinstance(left, numbers) and isinstance(right, numbers)) or type(left) is type(right)
    ):
        return op == "!="
    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }
    try:
        return comparisons[op](left, right)
    except TypeError:
        return False


def _step_filter(values: list[Any], spec: tuple[Any, str | None, Any], root: Any) -> list[Any]:
    lhs, op, rhs = spec
    out = []
    for v in values:
        for item in v if isinstance(v, list) else [v]:
            has_left, left = _operand_value(lhs, item, root)
            if op is None:
                keep = has_left
            else:
                has_right, right = _operand_value(rhs, item, root)
                keep = has_left and has_right and _compare(left, op, right)
            if keep:
                out.append(item)
    return out


_STEPS: dict[str, Callable[[list[Any], Any, Any], list[Any]]] = {
    "field": _step_field,
    "keys": _step_keys,
    "wildcard": _step_wildcard,
    "indices": _step_indices,
    "slice": _step_slice,
    "recursive": _step_recursive,
    "filter": _step_filter,
}


def _evaluate(path: _Path, current: Any, root: Any) -> list[Any]:
    values = [current]
    for op, arg in path.steps:
        values = _STEPS[op](values, arg, root)
    return values


def _go_number(value: float) -> str:
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def _jsonpath_text(value: Any) -> str:
    """One JSONPath result as kubectl prints it: maps and lists as compact
    JSON, scalars as Go prints them."""
    if isinstance(value, (dict, list)):
        return _go_json(value, indent=None)
    return _go_sprint(value)


def _go_sprint(value: Any) -> str:
    """``fmt.Sprint`` of an unstructured value (``map[a:1]``, ``[x y]``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, float):
        return _go_number(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_sprint(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_sprint(v) for v in value) + "]"
    return str(value)


def _execute(nodes: Sequence[_Node], current: Any, root: Any, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, _Text):
            out.append(node.text)
        elif isinstance(node, _Path):
            out.append(" ".join(_jsonpath_text(v) for v in _evaluate(node, current, root)))
        else:
            for item in _evaluate(node.path, current, root):
                _execute(node.body, item, root, out)


def _walks_items(nodes: Sequence[_Node]) -> bool:
    """True when a template starts a path at ``.items``: no kind has such a
    field, so the template was written for a List."""
    for node in nodes:
        path = node.path if isinstance(node, _Range) else node if isinstance(node, _Path) else None
        if path is not None and path.steps[:1] in ((("field", "items"),), (("keys", ["items"]),)):
            return True
    return False


def _jsonpath(template: str, objs: Sequence[ObjView], kind: str, as_list: bool | None) -> str:
    nodes = _parse_template(template)
    if as_list is None and len(objs) == 1 and _walks_items(nodes):
        as_list = True
    data = _document(objs, kind, as_list)
    out: list[str] = []
    _execute(nodes, data, data, out)
    return "".join(out)


_RELAXED_PATH = re.compile(r"^\{\.?([^{}]+)\}$|^\.?([^{}]+)$")


def _relaxed_path(expr: str) -> str:
    """custom-columns' ``RelaxedJSONPathExpression``: ``metadata.name``,
    ``.metadata.name`` and ``{metadata.name}`` all mean ``{.metadata.name}``."""
    match = _RELAXED_PATH.match(expr)
    if match is None:
        raise ValueError(
            "unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'"
        )
    return "{." + (match.group(1) or match.group(2)) + "}"


def _custom_columns(spec: str, items: Sequence[ObjView], no_headers: bool, writer: TabWriter) -> str:
    columns = []
    for part in spec.split(","):
        header, sep, expr = part.partition(":")
        if not sep:
            raise ValueError(f"unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>")
        columns.append((header, _parse_template(_relaxed_path(expr))))
    rows = []
    for item in items:
        cells = []
        for _, nodes in columns:
            values = [v for node in nodes if isinstance(node, _Path) for v in _evaluate(node, item, item)]
            cells.append(",".join(_go_sprint(v) for v in values) if values else "<none>")
        rows.append(cells)
    return _layout_table([h for h, _ in columns], rows, no_headers=no_headers, writer=writer)


# -- print_objects --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _TableRequest:
    """The table options of one ``kubectl get``."""

    kind: str
    """The kind of every object printed."""
    wide: bool
    """``-o wide``."""
    all_namespaces: bool
    """``-A``: a NAMESPACE column for namespaced kinds."""
    show_kind: bool
    """Names written ``kind/name`` (several kinds at once)."""
    show_labels: bool
    """``--show-labels``: a LABELS column at the end."""

    def headers(self) -> list[str]:
        headers = table_columns(self.kind, self.wide, all_namespaces=self.all_namespaces)
        return [*headers, "LABELS"] if self.show_labels else headers

    def row(self, obj: ObjView, now: float) -> list[str]:
        row = table_row(obj, wide=self.wide, now=now, kind=self.kind, all_namespaces=self.all_namespaces, show_kind=self.show_kind)
        return [*row, format_labels(_meta(obj).get("labels"))] if self.show_labels else row

    def print(self, objs: Sequence[ObjView], now: float, state: WatchState) -> str:
        """The rows of ``objs`` (after the headers unless ``state`` printed them)."""
        text = _layout_table(self.headers(), [self.row(o, now) for o in objs], no_headers=state.headers_printed, writer=state.writer)
        state.headers_printed = True
        return text



@dataclass(frozen=True, slots=True)
class PrintResult:
    """What a ``kubectl get`` prints: ``stdout``, and on ``stderr`` the
    ``No resources found...`` note kubectl writes there."""

    stdout: str
    """Text for standard output (the table, YAML, JSON...)."""
    stderr: str = ""
    """Text for standard error; empty unless nothing was found."""


_ALLOWED_FORMATS = (
    "custom-columns, custom-columns-file, go-template, go-template-file, json, jsonpath, "
    "jsonpath-as-json, jsonpath-file, name, template, templatefile, wide, yaml"
)


def _not_found(kind: str, all_namespaces: bool, namespace: str) -> str:
    if all_namespaces or not _namespaced(kind):
        return "No resources found\n"
    return f"No resources found in {namespace} namespace.\n"


def print_objects(
    objs: list[dict[str, Any]],
    *,
    output: str | None,
    kind: str,
    wide: bool,
    all_namespaces: bool,
    now: float,
    show_kind: bool = False,
    no_headers: bool = False,
    show_labels: bool = False,
    namespace: str = "default",
    as_list: bool | None = None,
    watch_state: WatchState | None = None,
) -> PrintResult:
    """What ``kubectl get`` prints for ``objs`` (all of kind ``kind``).

    ``output`` is kubectl's ``-o``: ``None`` or ``"wide"`` (a table),
    ``"yaml"``, ``"json"``, ``"name"``, ``"jsonpath=<template>"`` or
    ``"custom-columns=<HEADER>:<path>,..."``. ``as_list`` says whether YAML,
    JSON and JSONPath see a ``v1/List`` (kubectl does unless one object was
    asked for by name); ``None`` lists them unless there is exactly one (and,
    for JSONPath, unless the template walks ``.items``).
    ``watch_state`` lets a following ``get -w`` keep this table's columns.

    An empty table is no output at all, with ``No resources found in
    <namespace> namespace.`` (or ``No resources found``) for stderr.

    Raises ``ValueError`` for an output format kubectl does not know or a
    malformed template.
    """
    if output in (None, "", "wide"):
        if not objs:
            return PrintResult("", _not_found(kind, all_namespaces, namespace))
        state = watch_state if watch_state is not None else WatchState(headers_printed=no_headers)
        table = _TableRequest(kind, wide or output == "wide", all_namespaces, show_kind, show_labels)
        return PrintResult(table.print(objs, now, state))
    if output == "yaml":
        return PrintResult(_to_yaml(_document(objs, kind, as_list)))
    if output == "json":
        return PrintResult(_go_json(_document(objs, kind, as_list), indent=4) + "\n")
    if output == "name":
        return PrintResult("".join(f"{resource_name(kind)}/{_name(o)}\n" for o in objs))
    if output.startswith("jsonpath="):
        return PrintResult(_jsonpath(output[len("jsonpath="):], objs, kind, as_list))
    if output.startswith("custom-columns="):
        items = [_with_type(o, kind) for o in objs]
        return PrintResult(_custom_columns(output[len("custom-columns="):], items, no_headers, _table_writer()))
    raise ValueError(
        f'unable to match a printer suitable for the output format "{output}", allowed formats are: {_ALLOWED_FORMATS}'
    )


# -- watch -----------------------------------------------------------------------------


@dataclass(slots=True)
class WatchState:
    """What kubectl's printer remembers across the changes of one ``get -w``:
    whether the headers are out, and how wide each column has been."""

    headers_printed: bool = False
    """True once a header line was printed."""
    writer: TabWriter = field(default_factory=_table_writer)
    """The tab writer shared by every line of the watch (widths only grow)."""


def watch_row(
    obj: dict[str, Any],
    event_type: str,
    *,
    kind: str | None = None,
    wide: bool = False,
    all_namespaces: bool = False,
    now: float,
    headers: bool | None = None,
    state: WatchState | None = None,
    output_watch_events: bool = False,
    show_kind: bool = False,
) -> str:
    """The line(s) ``kubectl get -w`` prints when ``obj`` changes
    (``event_type`` is ``ADDED``, ``MODIFIED`` or ``DELETED``): its table row,
    after the header line the first time.

    Pass the same ``state`` for every change of a watch to keep columns under
    their headers as kubectl does (and to print headers only once); without
    it, ``headers`` says whether to print them. ``output_watch_events`` adds
    kubectl's ``EVENT`` column.
    """
    kind = kind or obj.get("kind", "")
    if state is None:
        state = WatchState(headers_printed=not headers)
    elif headers is not None:
        state.headers_printed = not headers
    table = _TableRequest(kind, wide, all_namespaces, show_kind, show_labels=False)
    columns, row = table.headers(), table.row(obj, now)
    if output_watch_events:
        columns, row = ["EVENT", *columns], [event_type, *row]
    text = _layout_table(columns, [row], no_headers=state.headers_printed, writer=state.writer)
    state.headers_printed = True
    return text
