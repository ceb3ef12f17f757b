"""The scheduler's filters: which nodes can run a pod, and why not.

Each filter is a pure function ``filter(pod, node) -> Status | None`` in the
shape of a Kubernetes ``FilterPlugin``: None means the node passes, a
:class:`Status` carries the reasons in Kubernetes' exact wording, which the
scheduler adds up into the FailedScheduling message (``0/3 nodes are
available: 2 Insufficient cpu. ...``). :data:`FILTERS` lists them in
kube-scheduler's default order; a node's first failing filter is the one
reported, as in ``RunFilterPlugins``.

The inputs are prepared once, not per node:

- :class:`PodInfo` is computed from a pod object once per scheduling attempt
  (effective requests, host ports, tolerations, parsed node affinity), so the
  per-node work of a filter is a few comparisons;
- :class:`NodeInfo` is the scheduler cache's entry for one node: the node's
  parsed fields and the running sums of the pods on it (bound pods and pods
  this scheduler *assumed* but has not seen bound yet). The cache updates it
  incrementally as pods come and go, so no filter ever walks the pods of the
  cluster. Filters only read it.

A :class:`Status` also says whether preemption could help
(``unresolvable``), because Kubernetes' message ends with what preemption
found: ``preemption: 0/3 nodes are available: 3 Preemption is not helpful
for scheduling.`` (see :mod:`scheduler.scores`' ``fit_error_message``).

``NodeReady`` is kemu's own: a node whose Ready condition is not True is
treated as if it carried the taint the node lifecycle controller will give it
(``node.kubernetes.io/not-ready`` or, when the condition is Unknown,
``node.kubernetes.io/unreachable``, effect NoSchedule), with the same wording,
so the message does not depend on whether the controller has acted yet, and a
pod that tolerates that taint may still go there, as in Kubernetes.
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kemu.api.quantity import cpu_millis, memory_bytes, parse_quantity
from kemu.api.selectors import Operator, Requirement
from kemu.types import Obj

__all__ = [
    "DEFAULT_MEMORY_REQUEST",
    "DEFAULT_MILLI_CPU_REQUEST",
    "FILTERS",
    "TAINT_NOT_READY",
    "TAINT_UNREACHABLE",
    "TAINT_UNSCHEDULABLE",
    "FilterFn",
    "HostPort",
    "NodeInfo",
    "NodeSelectorTerm",
    "PodInfo",
    "PreferredTerm",
    "Resources",
    "Status",
    "Taint",
    "Toleration",
    "find_untolerated_taint",
    "node_affinity",
    "node_name",
    "node_ports",
    "node_ready",
    "node_resources_fit",
    "node_unschedulable",
    "pod_requests",
    "run_filters",
    "taint_toleration",
    "tolerates",
]


TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"

DEFAULT_MILLI_CPU_REQUEST = 100
"""What scoring counts for a container without a cpu request (``schedutil.DefaultMilliCPURequest``)."""
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024
"""What scoring counts for a container without a memory request (200Mi, ``schedutil.DefaultMemoryRequest``)."""

ERR_UNSCHEDULABLE = "node(s) were unschedulable"
ERR_NODE_NAME = "node(s) didn't match the requested node name"
ERR_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
ERR_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports"
ERR_TOO_MANY_PODS = "Too many pods"
ERR_INSUFFICIENT_CPU = "Insufficient cpu"
ERR_INSUFFICIENT_MEMORY = "Insufficient memory"


# -- results ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Status:
    """Why a filter rejected a node (Kubernetes' ``framework.Status``)."""

    reasons: tuple[str, ...]
    """Each reason counts once in the FailedScheduling histogram ("Insufficient cpu", ...)."""
    unresolvable: bool
    """True for ``UnschedulableAndUnresolvable``: evicting pods could not make room."""
    plugin: str = ""
    """The filter that said no (``NodeResourcesFit``)."""

    @property
    def reason(self) -> str:
        """All reasons in one string, as ``Status.Message()`` joins them."""
        return ", ".join(self.reasons)

    def __str__(self) -> str:
        return self.reason


def _reject(plugin: str, *reasons: str, unresolvable: bool = True) -> Status:
    return Status(tuple(reasons), unresolvable, plugin)


# -- parsed pieces of pods and nodes ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resources:
    """Requested or allocatable amounts the scheduler checks."""

    milli_cpu: int = 0
    memory: int = 0
    pods: int = 0
    """Only meaningful for allocatable: how many pods the node takes."""


@dataclass(frozen=True, slots=True)
class Taint:
    """A node taint: ``key=value:effect``."""

    key: str
    value: str
    effect: str

    @classmethod
    def from_dict(cls, taint: Mapping[str, Any]) -> Taint:
        return cls(str(taint.get("key") or ""), str(taint.get("value") or ""), str(taint.get("effect") or ""))


@dataclass(frozen=True, slots=True)
class Toleration:
    """A pod toleration; an empty operator means Equal."""

    key: str
    operator: str
    value: str
    effect: str

    @classmethod
    def from_dict(cls, toleration: Mapping[str, Any]) -> Toleration:
        return cls(
            str(toleration.get("key") or ""),
            str(toleration.get("operator") or "Equal"),
            str(toleration.get("value") or ""),
            str(toleration.get("effect") or ""),
        )

    def tolerates(self, taint: Taint) -> bool:
        """``Toleration.ToleratesTaint``: the effect matches (or is empty), the
        key matches (or is empty, with Exists: tolerate everything), and the
        value is equal (Equal) or anything (Exists)."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        if self.operator == "Equal":
            return self.value == taint.value
        return False


def tolerates(tolerations: Iterable[Toleration], taint: Taint) -> bool:
    """Whether any of ``tolerations`` tolerates ``taint``."""
    return any(t.tolerates(taint) for t in tolerations)


def find_untolerated_taint(
    taints: Iterable[Taint], tolerations: tuple[Toleration, ...], effects: frozenset[str]
) -> Taint | None:
    """The first taint with one of ``effects`` that no toleration tolerates."""
    for taint in taints:
        if taint.effect in effects and not tolerates(tolerations, taint):
            return taint
    return None


@dataclass(frozen=True, slots=True)
class HostPort:
    """A host port a pod asks for; ``ip`` 0.0.0.0 means every address."""

    ip: str
    protocol: str
    port: int


class _FieldOp(enum.Enum):
    IN = "In"
    NOT_IN = "NotIn"


_NODE_SELECTOR_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
    "Gt": Operator.GREATER_THAN,
    "Lt": Operator.LESS_THAN,
}


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    """One ``nodeSelectorTerms`` entry: all its expressions and fields must
    match. A term that could not be parsed, or has nothing in it, matches no
    node (as in Kubernetes)."""

    expressions: tuple[Requirement, ...] = ()
    name_in: tuple[tuple[bool, frozenset[str]], ...] = ()
    """``matchFields`` on ``metadata.name``: (negated, names) pairs."""
    valid: bool = True

    @classmethod
    def from_dict(cls, term: Mapping[str, Any]) -> NodeSelectorTerm:
        expressions = term.get("matchExpressions") or []
        fields = term.get("matchFields") or []
        if not expressions and not fields:
            return cls(valid=False)
        try:
            reqs = tuple(
                Requirement.make(str(e["key"]), _NODE_SELECTOR_OPERATORS[e["operator"]], [str(v) for v in e.get("values") or []])
                for e in expressions
            )
            names = tuple(cls._field(f) for f in fields)
        except (KeyError, TypeError, ValueError):
            return cls(valid=False)
        return cls(reqs, names)

    @staticmethod
    def _field(req: Mapping[str, Any]) -> tuple[bool, frozenset[str]]:
        if req.get("key") != "metadata.name":
            raise ValueError(f"unsupported matchFields key {req.get('key')!r}")
        op = _FieldOp(req.get("operator"))
        values = req.get("values") or []
        if len(values) != 1:
            raise ValueError("matchFields on metadata.name takes exactly one value")
        return op is _FieldOp.NOT_IN, frozenset(str(v) for v in values)

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        if not self.valid:
            return False
        if not all(r.matches(labels) for r in self.expressions):
            return False
        return all((name in names) != negated for negated, names in self.name_in)


@dataclass(frozen=True, slots=True)
class PreferredTerm:
    """A ``preferredDuringSchedulingIgnoredDuringExecution`` entry."""

    weight: int
    term: NodeSelectorTerm


# -- pod ------------------------------------------------------------------------------------


def _quantity(resources: Mapping[str, Any] | None, name: str, parse: Callable[[Any], int]) -> int | None:
    """A container's request for ``name``, or None when it asks for none."""
    if not resources or name not in resources:
        return None
    try:
        return parse(resources[name])
    except (ValueError, TypeError, ArithmeticError):
        return None


def _container_requests(container: Mapping[str, Any], *, non_zero: bool) -> tuple[int, int]:
    resources = container.get("resources") or {}
    # The apiserver defaults requests from limits; read limits too in case an
    # object skipped defaulting.
    requests = resources.get("requests") or resources.get("limits") or {}
    cpu = _quantity(requests, "cpu", cpu_millis)
    mem = _quantity(requests, "memory", memory_bytes)
    if non_zero:
        return (DEFAULT_MILLI_CPU_REQUEST if cpu is None else cpu), (DEFAULT_MEMORY_REQUEST if mem is None else mem)
    return cpu or 0, mem or 0


def pod_requests(spec: Mapping[str, Any], *, non_zero: bool = False) -> Resources:
    """A pod's effective cpu and memory requests, as Kubernetes computes them
    (``resourcehelper.PodRequests``): the larger of the app containers' sum
    and the biggest init container, where sidecars (init containers with
    ``restartPolicy: Always``) keep running and add to both; plus
    ``spec.overhead``.

    Example: app containers 100m + 200m, init containers 500m and 50m: 500m.
    With a sidecar of 10m first: max(10+300, 10+500, 10+50) = 510m.

    ``non_zero`` counts a container without a cpu or memory request as 100m
    and 200Mi, as scoring does so that request-less pods still spread.
    """
    cpu = mem = 0
    for container in spec.get("containers") or []:
        c, m = _container_requests(container, non_zero=non_zero)
        cpu, mem = cpu + c, mem + m
    side_cpu = side_mem = init_cpu = init_mem = 0
    for container in spec.get("initContainers") or []:
        c, m = _container_requests(container, non_zero=non_zero)
        if container.get("restartPolicy") == "Always":
            side_cpu, side_mem = side_cpu + c, side_mem + m
            cpu, mem = cpu + c, mem + m
            c, m = side_cpu, side_mem
        else:
            c, m = c + side_cpu, m + side_mem
        init_cpu, init_mem = max(init_cpu, c), max(init_mem, m)
    cpu, mem = max(cpu, init_cpu), max(mem, init_mem)
    overhead = spec.get("overhead") or {}
    cpu += _quantity(overhead, "cpu", cpu_millis) or 0
    mem += _quantity(overhead, "memory", memory_bytes) or 0
    return Resources(cpu, mem)


def _host_ports(spec: Mapping[str, Any]) -> tuple[HostPort, ...]:
    containers = list(spec.get("containers") or [])
    containers += [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    ports = []
    for container in containers:
        for port in container.get("ports") or []:
            host_port = port.get("hostPort") or 0
            if isinstance(host_port, int) and host_port > 0:
                ports.append(HostPort(port.get("hostIP") or "0.0.0.0", port.get("protocol") or "TCP", host_port))
    return tuple(ports)


def _controller_uid(meta: Mapping[str, Any]) -> str | None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("uid"):
            return str(ref["uid"])
    return None


def _node_affinity(spec: Mapping[str, Any]) -> tuple[tuple[NodeSelectorTerm, ...] | None, tuple[PreferredTerm, ...]]:
    affinity = ((spec.get("affinity") or {}).get("nodeAffinity")) or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    terms = None
    if required is not None:
        terms = tuple(NodeSelectorTerm.from_dict(t) for t in required.get("nodeSelectorTerms") or [])
    preferred = tuple(
        PreferredTerm(int(p.get("weight") or 0), NodeSelectorTerm.from_dict(p.get("preference") or {}))
        for p in affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    )
    return terms, preferred


@dataclass(frozen=True, slots=True)
class PodInfo:
    """What the scheduler needs of one pod, computed once from the object."""

    key: str
    """``namespace/name``."""
    namespace: str
    name: str
    uid: str
    labels: Mapping[str, str]
    requests: Resources
    """Effective requests: what NodeResourcesFit checks and the node's sums hold."""
    non_zero_requests: Resources
    """Requests with 100m/200Mi for containers that ask for nothing: what scoring counts."""
    host_ports: tuple[HostPort, ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    node_name: str = ""
    """``spec.nodeName`` when the pod asks for a node by name."""
    node_selector: Mapping[str, str] = field(default_factory=dict)
    required_terms: tuple[NodeSelectorTerm, ...] | None = None
    """Required node affinity (terms ORed), or None when there is none."""
    preferred_terms: tuple[PreferredTerm, ...] = ()
    controller_uid: str | None = None
    """The uid of the pod's controller (its ReplicaSet), for spreading."""
    priority: int = 0
    preemption_policy: str = "PreemptLowerPriority"

    @classmethod
    def from_pod(cls, pod: Mapping[str, Any]) -> PodInfo:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        required, preferred = _node_affinity(spec)
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        return cls(
            key=f"{namespace}/{name}",
            namespace=namespace,
            name=name,
            uid=str(meta.get("uid") or ""),
            labels=dict(meta.get("labels") or {}),
            requests=pod_requests(spec),
            non_zero_requests=pod_requests(spec, non_zero=True),
            host_ports=_host_ports(spec),
            tolerations=tuple(Toleration.from_dict(t) for t in spec.get("tolerations") or []),
            node_name=str(spec.get("nodeName") or ""),
            node_selector=dict(spec.get("nodeSelector") or {}),
            required_terms=required,
            preferred_terms=preferred,
            controller_uid=_controller_uid(meta),
            priority=int(spec.get("priority") or 0),
            preemption_policy=str(spec.get("preemptionPolicy") or "PreemptLowerPriority"),
        )


# -- node -----------------------------------------------------------------------------------


def _allocatable(status: Mapping[str, Any]) -> Resources:
    alloc = status.get("allocatable") or status.get("capacity") or {}
    return Resources(
        _quantity(alloc, "cpu", cpu_millis) or 0,
        _quantity(alloc, "memory", memory_bytes) or 0,
        _quantity(alloc, "pods", _count) or 0,
    )


def _ready_status(status: Mapping[str, Any]) -> str:
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            return str(cond.get("status") or "Unknown")
    return ""


def _bump(counter: Counter[Any], key: Any, delta: int) -> None:
    """Add ``delta``; drop the entry at zero so counters do not grow forever."""
    value = counter[key] + delta
    if value > 0:
        counter[key] = value
    else:
        counter.pop(key, None)


def _count(quantity: Any) -> int:
    return math.ceil(parse_quantity(quantity))


class NodeInfo:
    """The scheduler cache's entry for one node: the node's parsed fields and
    running sums of the pods on it (bound and assumed).

    Mutated only by the cache, under its lock; filters and scores read it.
    A NodeInfo can exist without its Node (``node is None``) when pods bound
    to a node arrive before the node, or stay after it was deleted; such an
    entry is never offered to filters.
    """

    __slots__ = (
        "allocatable",
        "labels",
        "memory",
        "milli_cpu",
        "name",
        "node",
        "non_zero_memory",
        "non_zero_milli_cpu",
        "owner_counts",
        "pods",
        "ready",
        "taints",
        "unschedulable",
        "used_port_numbers",
        "used_ports",
    )

    name: str
    node: Obj | None
    """The Node object as last seen (shared with the informer: never mutate)."""
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    unschedulable: bool
    """``spec.unschedulable`` (cordoned)."""
    ready: str
    """The Ready condition's status: ``True``, ``False``, ``Unknown``, or "" when missing."""
    allocatable: Resources
    milli_cpu: int
    """Sum of the effective cpu requests of the pods on the node."""
    memory: int
    non_zero_milli_cpu: int
    """Sum of the non-zero cpu requests (for scoring)."""
    non_zero_memory: int
    pods: dict[str, PodInfo]
    """Pods on the node by key, bound or assumed."""
    used_ports: Counter[HostPort]
    used_port_numbers: Counter[tuple[str, int]]
    """(protocol, port) in use on any address, to check 0.0.0.0 requests in O(1)."""
    owner_counts: Counter[str]
    """Pods on the node per controller uid, for spreading."""

    def __init__(self, name: str, node: Obj | None = None):
        self.name = name
        self.pods = {}
        self.milli_cpu = self.memory = self.non_zero_milli_cpu = self.non_zero_memory = 0
        self.used_ports = Counter()
        self.used_port_numbers = Counter()
        self.owner_counts = Counter()
        self.set_node(node)

    def set_node(self, node: Obj | None) -> None:
        """Take the node's fields (or forget them when ``node`` is None)."""
        self.node = node
        spec = (node or {}).get("spec") or {}
        status = (node or {}).get("status") or {}
        self.labels = dict(((node or {}).get("metadata") or {}).get("labels") or {})
        self.taints = tuple(Taint.from_dict(t) for t in spec.get("taints") or [])
        self.unschedulable = bool(spec.get("unschedulable"))
        self.ready = _ready_status(status)
        self.allocatable = _allocatable(status)

    def add_pod(self, pod: PodInfo) -> None:
        if pod.key in self.pods:
            self.remove_pod(pod.key)
        self.pods[pod.key] = pod
        self._account(pod, 1)

    def remove_pod(self, key: str) -> PodInfo | None:
        pod = self.pods.pop(key, None)
        if pod is not None:
            self._account(pod, -1)
        return pod

    def _account(self, pod: PodInfo, sign: int) -> None:
        self.milli_cpu += sign * pod.requests.milli_cpu
        self.memory += sign * pod.requests.memory
        self.non_zero_milli_cpu += sign * pod.non_zero_requests.milli_cpu
        self.non_zero_memory += sign * pod.non_zero_requests.memory
        for port in pod.host_ports:
            _bump(self.used_ports, port, sign)
            _bump(self.used_port_numbers, (port.protocol, port.port), sign)
        if pod.controller_uid:
            _bump(self.owner_counts, pod.controller_uid, sign)

    def port_in_use(self, port: HostPort) -> bool:
        """``HostPortInfo.CheckConflict``: 0.0.0.0 conflicts with the port on any
        address, a specific address with itself and with 0.0.0.0."""
        if port.ip == "0.0.0.0":
            return self.used_port_numbers[(port.protocol, port.port)] > 0
        return (
            self.used_ports[port] > 0
            or self.used_ports[HostPort("0.0.0.0", port.protocol, port.port)] > 0
        )

    def __repr__(self) -> str:
        return (
            f"NodeInfo({self.name!r}, pods={len(self.pods)}, cpu={self.milli_cpu}m/{self.allocatable.milli_cpu}m, "
            f"memory={self.memory}/{self.allocatable.memory})"
        )


# -- filters --------------------------------------------------------------------------------

FilterFn = Callable[[PodInfo, NodeInfo], Status | None]

_NO_SCHEDULE_EFFECTS = frozenset({"NoSchedule", "NoExecute"})


def node_unschedulable(pod: PodInfo, node: NodeInfo) -> Status | None:
    """``NodeUnschedulable``: a cordoned node takes only pods that tolerate
    the ``node.kubernetes.io/unschedulable:NoSchedule`` taint."""
    if node.unschedulable and not tolerates(pod.tolerations, Taint(TAINT_UNSCHEDULABLE, "", "NoSchedule")):
        return _reject("NodeUnschedulable", ERR_UNSCHEDULABLE)
    return None


def node_name(pod: PodInfo, node: NodeInfo) -> Status | None:
    """``NodeName``: a pod that names a node fits only that node."""
    if pod.node_name and pod.node_name != node.name:
        return _reject("NodeName", ERR_NODE_NAME)
    return None


def _untolerated(taint: Taint) -> str:
    return f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"


def taint_toleration(pod: PodInfo, node: NodeInfo) -> Status | None:
    """``TaintToleration``: the first NoSchedule or NoExecute taint the pod does not tolerate."""
    taint = find_untolerated_taint(node.taints, pod.tolerations, _NO_SCHEDULE_EFFECTS)
    if taint is not None:
        return _reject("TaintToleration", _untolerated(taint))
    return None


def node_ready(pod: PodInfo, node: NodeInfo) -> Status | None:
    """kemu's ``NodeReady``: a node whose Ready condition is not True counts as
    tainted ``not-ready`` (False or missing) or ``unreachable`` (Unknown) with
    effect NoSchedule, the taints the node lifecycle controller adds."""
    if node.ready == "True":
        return None
    taint = Taint(TAINT_UNREACHABLE if node.ready == "Unknown" else TAINT_NOT_READY, "", "NoSchedule")
    if tolerates(pod.tolerations, taint):
        return None
    return _reject("NodeReady", _untolerated(taint))


def node_affinity(pod: PodInfo, node: NodeInfo) -> Status | None:
    """``NodeAffinity``: every ``nodeSelector`` label matches, and one of the
    required ``nodeSelectorTerms`` matches (expressions on labels, fields on
    ``metadata.name``)."""
    labels = node.labels
    if any(labels.get(k) != v for k, v in pod.node_selector.items()):
        return _reject("NodeAffinity", ERR_NODE_AFFINITY)
    terms = pod.required_terms
    if terms is not None and not any(t.matches(node.name, labels) for t in terms):
        return _reject("NodeAffinity", ERR_NODE_AFFINITY)
    return None


def node_ports(pod: PodInfo, node: NodeInfo) -> Status | None:
    """``NodePorts``: every requested host port is free on the node.
    Evicting the pod that holds it would help, so it is resolvable."""
    if any(node.port_in_use(p) for p in pod.host_ports):
        return _reject("NodePorts", ERR_NODE_PORTS, unresolvable=False)
    return None


def node_resources_fit(pod: PodInfo, node: NodeInfo) -> Status | None:
    """``NodeResourcesFit``: one more pod fits the node's ``pods`` allocatable,
    and the pod's requests fit what the pods on it (bound and assumed) left.

    Example: allocatable cpu 2, pods on the node request 1500m: a 600m pod
    gets "Insufficient cpu" (resolvable: evicting could free room), a 3 cpu
    pod too, but unresolvable (it would not fit the empty node).
    """
    reasons: list[str] = []
    unresolvable = False
    alloc = node.allocatable
    if len(node.pods) + 1 > alloc.pods:
        reasons.append(ERR_TOO_MANY_PODS)
    req = pod.requests
    if req.milli_cpu > 0 and req.milli_cpu > alloc.milli_cpu - node.milli_cpu:
        reasons.append(ERR_INSUFFICIENT_CPU)
        unresolvable |= req.milli_cpu > alloc.milli_cpu
    if req.memory > 0 and req.memory > alloc.memory - node.memory:
        reasons.append(ERR_INSUFFICIENT_MEMORY)
        unresolvable |= req.memory > alloc.memory
    if reasons:
        return _reject("NodeResourcesFit", *reasons, unresolvable=unresolvable)
    return None


FILTERS: tuple[tuple[str, FilterFn], ...] = (
    ("NodeUnschedulable", node_unschedulable),
    ("NodeName", node_name),
    ("TaintToleration", taint_toleration),
    ("NodeReady", node_ready),
    ("NodeAffinity", node_affinity),
    ("NodePorts", node_ports),
    ("NodeResourcesFit", node_resources_fit),
)
"""The filters in kube-scheduler's default order (NodeReady after the taints,
so a node the lifecycle controller already tainted reports the real taint)."""


def run_filters(pod: PodInfo, node: NodeInfo, filters: Iterable[tuple[str, FilterFn]] = FILTERS) -> Status | None:
    """The first failing filter's status, or None when the node fits."""
    for _, check in filters:
        status = check(pod, node)
        if status is not None:
            return status
    return None
