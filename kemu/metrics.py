"""``metrics.k8s.io``: scraping the kubelets, the API objects, ``top`` tables.

metrics-server scrapes every node's kubelet (``/stats/summary``) on a
resolution interval, keeps the last figures and serves ``NodeMetrics`` and
``PodMetrics`` (``metrics.k8s.io/v1beta1``); ``kubectl top`` reads those and
prints them. kemu has two callers of the same scrape: the HTTP front door,
which serves the API to kubectl (:mod:`apiserver.http.metrics`), and ``kemu
top`` (the CLI talks to the kubelets directly, as ``kemu logs`` does). Both go
through this module, which never imports a component:

- **scraping** (:class:`Scraper`): the kubelet of every Ready node with an
  address is asked for its ``stats`` (:mod:`kubelet.stats`) in parallel,
  each call bounded by ``timeout``; a kubelet that does not answer is left
  out of the result and logged, as metrics-server leaves out a node it
  could not scrape. Results are cached for ``resolution`` seconds, so many
  ``kubectl top`` calls cost one scrape per interval;
- **objects** (:func:`node_metrics`, :func:`pod_metrics`): usage as
  metrics-server writes it, CPU in nanocores (``"15234567n"``), memory in
  the canonical binary form (``"23456Ki"``), with ``timestamp`` and
  ``window``;
- **tables** (:func:`top_nodes_rows`, :func:`top_pods_rows`): kubectl's
  columns and formatting (``15m``, ``23Mi``, ``3%``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from kemu import wire
from kemu.api import errors
from kemu.api.quantity import parse_quantity
from kemu.client import Client, Unavailable
from kemu.kubeletclient import kubelet_address
from kemu.log import get_logger
from kemu.types import Obj

__all__ = [
    "GROUP",
    "VERSION",
    "NodeStats",
    "Scraper",
    "format_cpu",
    "format_memory",
    "format_table",
    "memory_quantity",
    "node_metrics",
    "node_ready",
    "nanocores_quantity",
    "pod_metrics",
    "top_nodes_rows",
    "top_pods_rows",
    "usage_totals",
]


GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
DEFAULT_RESOLUTION = 5.0
"""Seconds a scrape is reused (metrics-server's ``--metric-resolution`` is 60 s; kemu's timings are seconds)."""
DEFAULT_SCRAPE_TIMEOUT = 5.0
"""Seconds one kubelet may take to answer (a kubelet may wait a sampling window first)."""


# -- quantities ---------------------------------------------------------------------------


def nanocores_quantity(nanocores: int) -> str:
    """CPU as metrics-server serializes it (``resource.NewScaledQuantity(n, Nano)``).

    >>> nanocores_quantity(15234567), nanocores_quantity(0)
    ('15234567n', '0')
    """
    return f"{nanocores}n" if nanocores else "0"


def memory_quantity(size: int) -> str:
    """Bytes in the canonical binary form (``resource.NewQuantity(b, BinarySI)``).

    >>> memory_quantity(52428800), memory_quantity(1536), memory_quantity(1000)
    ('50Mi', '1536', '1000')
    """
    if size <= 0:
        return "0"
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = 1 << (10 * ("KMGTPE".index(suffix[0]) + 1))
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def format_cpu(quantity: str) -> str:
    """kubectl's CPU column: millicores, rounded up (``MilliValue``).

    >>> format_cpu("15234567n"), format_cpu("0")
    ('16m', '0m')
    """
    amount = parse_quantity(quantity) * 1000
    milli = -(-amount.numerator // amount.denominator)
    return f"{milli}m"


def format_memory(quantity: str) -> str:
    """kubectl's memory column: whole mebibytes, truncated (``Value()/(1024*1024)``).

    >>> format_memory("24000Ki"), format_memory("50Mi")
    ('23Mi', '50Mi')
    """
    size = parse_quantity(quantity)
    return f"{int(-(-size.numerator // size.denominator)) // (1024 * 1024)}Mi"


def _percent(usage: str, available: str | None) -> str:
    if not available:
        return "<unknown>"
    total = parse_quantity(available)
    if total <= 0:
        return "<unknown>"
    return f"{int(float(parse_quantity(usage) / total) * 100)}%"


# -- the objects --------------------------------------------------------------------------


def node_ready(node: Obj) -> bool:
    """The node's ``Ready`` condition is ``True`` (metrics-server scrapes only those)."""
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@dataclass(frozen=True, slots=True)
class NodeStats:
    """One kubelet's answer, as scraped."""

    node: Obj
    """The Node object (for its labels and allocatable)."""
    summary: Obj
    """The kubelet's ``stats`` reply (:mod:`kubelet.stats`)."""

    @property
    def name(self) -> str:
        return str((self.node.get("metadata") or {}).get("name", ""))


def node_metrics(stats: NodeStats) -> Obj:
    """The ``NodeMetrics`` of one scraped node."""
    meta = stats.node.get("metadata") or {}
    node = stats.summary.get("node") or {}
    return {
        "kind": "NodeMetrics",
        "apiVersion": API_VERSION,
        "metadata": {"name": meta.get("name", ""), "creationTimestamp": stats.summary.get("timestamp"),
                     "labels": dict(meta.get("labels") or {})},
        "timestamp": stats.summary.get("timestamp"),
        "window": stats.summary.get("window"),
        "usage": {"cpu": nanocores_quantity(int(node.get("usageNanoCores") or 0)),
                  "memory": memory_quantity(int(node.get("workingSetBytes") or 0))},
    }


def pod_metrics(stats: NodeStats) -> list[Obj]:
    """The ``PodMetrics`` of every pod one scraped node runs."""
    out = []
    for pod in stats.summary.get("pods") or []:
        out.append({
            "kind": "PodMetrics",
            "apiVersion": API_VERSION,
            "metadata": {"name": pod.get("name", ""), "namespace": pod.get("namespace", ""),
                         "creationTimestamp": stats.summary.get("timestamp"),
                         "labels": dict(pod.get("labels") or {})},
            "timestamp": stats.summary.get("timestamp"),
            "window": stats.summary.get("window"),
            "containers": [
                {"name": c.get("name", ""),
                 "usage": {"cpu": nanocores_quantity(int(c.get("usageNanoCores") or 0)),
                           "memory": memory_quantity(int(c.get("workingSetBytes") or 0))}}
                for c in pod.get("containers") or []
            ],
        })
    return out


# -- scraping -----------------------------------------------------------------------------


class Scraper:
    """Scrapes every Ready node's kubelet; see the module doc. Thread-safe."""

    def __init__(self, list_nodes: Callable[[], list[Obj]], *, resolution: float = DEFAULT_RESOLUTION,
                 timeout: float = DEFAULT_SCRAPE_TIMEOUT, ctx: wire.Context | None = None,
                 workers: int = 32) -> None:
        self.list_nodes = list_nodes
        """Reads the Nodes (from the apiserver)."""
        self.resolution = resolution
        self.timeout = timeout
        self.ctx = ctx
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kemu-metrics-scrape")
        self._lock = threading.Lock()
        self._cached: tuple[float, list[NodeStats]] | None = None
        self.log = get_logger().bind(subsystem="metrics-scraper")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def scrape(self) -> list[NodeStats]:
        """The latest figures of every node that answered, at most
        ``resolution`` seconds old."""
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self.resolution:
                return self._cached[1]
            found = self._scrape_now()
            self._cached = (time.monotonic(), found)
            return found

    def _scrape_now(self) -> list[NodeStats]:
        nodes = [n for n in self.list_nodes() if node_ready(n) and kubelet_address(n)]
        futures = {self._pool.submit(self._one, n): n for n in nodes}
        done, _late = wait(futures, timeout=self.timeout + 1.0)
        found = []
        for future in done:
            try:
                found.append(future.result())
            except (errors.ApiError, Unavailable, KeyError, TypeError, ValueError) as exc:
                name = (futures[future].get("metadata") or {}).get("name")
                self.log.warning("failed to scrape node", node=name, error=str(exc))
        for future in _late:
            self.log.warning("failed to scrape node", node=(futures[future].get("metadata") or {}).get("name"),
                             error="timeout")
        return sorted(found, key=lambda s: s.name)

    def _one(self, node: Obj) -> NodeStats:
        name = (node.get("metadata") or {}).get("name", "")
        address = kubelet_address(node)
        assert address is not None
        client = Client(address, timeout=self.timeout, ctx=self.ctx)
        try:
            summary = client.call("call", "Node", None, name, timeout=self.timeout, method="stats")
        except Unavailable:
            raise errors.ApiError(errors.status_dict(
                503, "ServiceUnavailable", f"the kubelet at {address} did not answer within {self.timeout:g}s"
            )) from None
        finally:
            client.close()
        return NodeStats(node, dict(summary))


# -- kubectl's tables ---------------------------------------------------------------------


def format_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns as kubectl top's tabwriter lays them out: each cell padded to
    its column's widest plus 3, the last one too (kubectl ends every cell
    with a tab, so its lines end in spaces).

    >>> format_table(["NAME", "CPU(cores)"], [["burner", "944m"]]).splitlines()
    ['NAME     CPU(cores)   ', 'burner   944m         ']
    """
    table = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[i]) + 3 for r in table) for i in range(len(header))]
    return "".join("".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + "\n" for row in table)


def _cpu_of(usage: Obj) -> Any:
    return parse_quantity(usage.get("cpu") or "0")


def _memory_of(usage: Obj) -> Any:
    return parse_quantity(usage.get("memory") or "0")


def top_nodes_rows(metrics: list[Obj], nodes: list[Obj], *, sort_by: str | None = None,
                   show_capacity: bool = False) -> tuple[list[str], list[list[str]]]:
    """``kubectl top nodes``: NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%),
    percentages of allocatable (capacity with ``show_capacity``); a node
    without figures prints ``<unknown>``, as kubectl does."""
    by_name = {m["metadata"]["name"]: m for m in metrics}
    key = "capacity" if show_capacity else "allocatable"
    if sort_by == "cpu":
        metrics = sorted(metrics, key=lambda m: _cpu_of(m["usage"]), reverse=True)
    elif sort_by == "memory":
        metrics = sorted(metrics, key=lambda m: _memory_of(m["usage"]), reverse=True)
    rows = []
    node_by_name = {str((n.get("metadata") or {}).get("name", "")): n for n in nodes}
    for m in metrics:
        name = m["metadata"]["name"]
        available = ((node_by_name.get(name) or {}).get("status") or {}).get(key) or {}
        usage = m["usage"]
        rows.append([name, format_cpu(usage["cpu"]), _percent(usage["cpu"], available.get("cpu")),
                     format_memory(usage["memory"]), _percent(usage["memory"], available.get("memory"))])
    for name in sorted(node_by_name):
        if name not in by_name:
            rows.append([name, "<unknown>", "<unknown>", "<unknown>", "<unknown>"])
    return ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"], rows


def _pod_total(m: Obj, which: Callable[[Obj], Any]) -> Any:
    return sum((which(c.get("usage") or {}) for c in m.get("containers") or []), start=parse_quantity("0"))


def usage_totals(m: Obj) -> tuple[str, str]:
    """``(cpu, memory)`` of a NodeMetrics, or summed over a PodMetrics' containers, in kubectl's format."""
    if "usage" in m:
        return format_cpu(m["usage"].get("cpu") or "0"), format_memory(m["usage"].get("memory") or "0")
    return format_cpu(_as_text(_pod_total(m, _cpu_of))), format_memory(_as_text(_pod_total(m, _memory_of)))


def top_pods_rows(metrics: list[Obj], *, all_namespaces: bool = False, containers: bool = False,
                  sort_by: str | None = None) -> tuple[list[str], list[list[str]]]:
    """``kubectl top pods``: [NAMESPACE] NAME CPU(cores) MEMORY(bytes), or with
    ``containers`` [NAMESPACE] POD NAME CPU(cores) MEMORY(bytes)."""
    if sort_by == "cpu":
        metrics = sorted(metrics, key=lambda m: _pod_total(m, _cpu_of), reverse=True)
    elif sort_by == "memory":
        metrics = sorted(metrics, key=lambda m: _pod_total(m, _memory_of), reverse=True)
    else:
        metrics = sorted(metrics, key=lambda m: (m["metadata"].get("namespace", ""), m["metadata"]["name"]))
    header = ["NAMESPACE"] if all_namespaces else []
    header += ["POD", "NAME"] if containers else ["NAME"]
    header += ["CPU(cores)", "MEMORY(bytes)"]
    rows = []
    for m in metrics:
        prefix = [m["metadata"].get("namespace", "")] if all_namespaces else []
        if containers:
            for c in m.get("containers") or []:
                usage = c.get("usage") or {}
                rows.append([*prefix, m["metadata"]["name"], c.get("name", ""),
                             format_cpu(usage.get("cpu") or "0"), format_memory(usage.get("memory") or "0")])
        cpu, mem = _pod_total(m, _cpu_of), _pod_total(m, _memory_of)
        if not containers:
            rows.append([*prefix, m["metadata"]["name"], format_cpu(_as_text(cpu)), format_memory(_as_text(mem))])
    return header, rows


def _as_text(amount: Any) -> str:
    """A Fraction back to a quantity string the formatters read."""
    return f"{int(amount * 1_000_000_000)}n"
