"""What the kubelet measures for ``kubectl top``: CPU and memory per container.

A real kubelet serves ``/stats/summary`` from cAdvisor: for every pod's
containers and for the node, cumulative CPU time, a CPU rate in nanocores
over cAdvisor's last housekeeping window, and the memory *working set*
(usage minus the inactive page cache, what the OOM killer looks at).
metrics-server scrapes it and serves ``metrics.k8s.io``. kemu's kubelet does
the measuring here and answers the ``stats`` method of its server
(:mod:`kubelet.server`); the scraping and the API shapes live in
:mod:`kemu.metrics`.

Where the figures come from
---------------------------
- a container with a cgroup (cgroup v2, see :mod:`kubelet.runtime`):
  ``cpu.stat`` ``usage_usec`` (or v1 ``cpuacct.usage``) and
  ``memory.current`` minus ``inactive_file`` of ``memory.stat`` (v1:
  ``memory.usage_in_bytes`` minus ``total_inactive_file``), as cAdvisor does;
- otherwise the container's process tree: the shim puts the container's main
  process in a session of its own, so every live process of that session
  started no earlier than the container is the container's. CPU time is
  ``utime + stime + cutime + cstime`` of each (``/proc/<pid>/stat``: the
  children a member reaped count through the ``c`` fields, so a shell loop
  that forks short-lived commands is charged for them), memory is the sum of
  their resident sets (``rss`` of the same file, which is ``VmRSS`` of
  ``/proc/<pid>/status``). One scan of ``/proc`` serves every container.
- the node: the sum over its pods plus the node's own processes: the
  kubelet (its ``utime + stime`` only: its ``cutime`` holds reaped shims,
  already counted) and the node's kube-proxy, found once by its command
  line (``kubeproxy ... --node-ip <this node's IP>``, unique per node) and
  kept while its start time matches.

Rates
-----
A rate needs two samples. The kubelet keeps its last sample; a ``stats``
call takes a new one and rates each container over the time between them,
as cAdvisor's housekeeping does. When the last sample is too recent (under
``min_window`` seconds), too old (over ``max_age``), or misses a container
that runs now, the call samples, waits ``min_window`` and samples again, so
every running container gets a figure and a call takes at most
``min_window`` longer. ``window`` and ``timestamp`` (the end of the window)
go into the answer, which metrics-server passes on in ``NodeMetrics`` and
``PodMetrics``.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kemu.apimachinery import format_time
from kemu.types import Obj

__all__ = [
    "CgroupUsage",
    "ProcStat",
    "Sample",
    "StatsProvider",
    "cgroup_usage",
    "is_kube_proxy",
    "nanocores",
    "parse_memory_stat",
    "parse_proc_stat",
    "rate_window",
    "scan_proc",
    "status_rss",
    "tree_usage",
]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
NANOS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ProcStat:
    """What ``/proc/<pid>/stat`` says about one process."""

    pid: int
    state: str
    ppid: int
    session: int
    cpu_ticks: int
    """``utime + stime``."""
    child_ticks: int
    """``cutime + cstime``: what the children it reaped used."""
    start_ticks: int
    rss_pages: int


def parse_proc_stat(pid: int, raw: bytes) -> ProcStat | None:
    """One ``/proc/<pid>/stat`` line, or None when it cannot be read.

    The command name is in parentheses and may hold spaces and ``)``, so the
    fields are counted from the last ``)``.

    >>> s = parse_proc_stat(7, b"7 (sh -c) R 1 7 7 0 -1 4194560 100 0 0 0 250 50 3 2 20 0 1 0 900 2300000 200 18446744073709551615")
    >>> (s.session, s.cpu_ticks, s.child_ticks, s.start_ticks, s.rss_pages)
    (7, 300, 5, 900, 200)
    """
    end = raw.rfind(b")")
    if end < 0:
        return None
    fields = raw[end + 2 :].split()
    try:
        return ProcStat(
            pid=pid,
            state=fields[0].decode(),
            ppid=int(fields[1]),
            session=int(fields[3]),
            cpu_ticks=int(fields[11]) + int(fields[12]),
            child_ticks=int(fields[13]) + int(fields[14]),
            start_ticks=int(fields[19]),
            rss_pages=int(fields[21]),
        )
    except (IndexError, ValueError):
        return None


def status_rss(text: str) -> int | None:
    """``VmRSS`` of a ``/proc/<pid>/status`` in bytes (None for a kernel
    thread or a zombie, which have none).

    >>> status_rss("Name:\\tpython\\nVmRSS:\\t   51200 kB\\nThreads:\\t1\\n")
    52428800
    """
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            return int(parts[1]) * 1024 if len(parts) >= 2 and parts[1].isdigit() else None
    return None


def scan_proc(root: Path = Path("/proc")) -> dict[int, ProcStat]:
    """Every live (non-zombie) process, read once for all containers."""
    found: dict[int, ProcStat] = {}
    try:
        names = os.listdir(root)
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            raw = (root / name / "stat").read_bytes()
        except OSError:
            continue  # gone meanwhile
        stat = parse_proc_stat(int(name), raw)
        if stat is not None and stat.state != "Z":
            found[stat.pid] = stat
    return found


def tree_usage(procs: Iterable[ProcStat], session: int, started_after: int | None,
               *, ticks: int = CLOCK_TICKS, page: int = PAGE_SIZE) -> tuple[int, int, int] | None:
    """``(cpu nanoseconds, working set bytes, processes)`` of the container
    whose main process leads session ``session`` and started at
    ``started_after`` (clock ticks since boot), or None when the leader is
    not there (the container exited, or its pid is reused).

    >>> procs = [ProcStat(10, "R", 5, 10, 150, 50, 900, 100), ProcStat(11, "S", 10, 10, 100, 0, 950, 50),
    ...          ProcStat(12, "S", 1, 12, 999, 0, 100, 999)]
    >>> tree_usage(procs, 10, 900, ticks=100, page=4096)
    (3000000000, 614400, 2)
    """
    cpu = rss = count = 0
    leader = False
    for p in procs:
        if p.session != session or (started_after is not None and p.start_ticks < started_after):
            continue
        if p.pid == session:
            if started_after is not None and p.start_ticks != started_after:
                return None
            leader = True
        cpu += p.cpu_ticks + p.child_ticks
        rss += p.rss_pages
        count += 1
    if not leader:
        return None
    return cpu * NANOS // ticks, rss * page, count


def parse_memory_stat(text: str) -> dict[str, int]:
    """``memory.stat`` as a map.

    >>> parse_memory_stat("anon 100\\ninactive_file 20\\n")["inactive_file"]
    20
    """
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


@dataclass(frozen=True, slots=True)
class CgroupUsage:
    cpu_ns: int
    working_set: int


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def cgroup_usage(path: Path) -> CgroupUsage | None:
    """CPU time and working set of one cgroup directory, v2 or v1 (None
    when it holds neither file, e.g. it is gone)."""
    cpu_ns: int | None = None
    cpu_stat = _read(path / "cpu.stat")
    if cpu_stat is not None:
        usec = parse_memory_stat(cpu_stat).get("usage_usec")
        cpu_ns = usec * 1000 if usec is not None else None
    if cpu_ns is None:
        acct = _read(path / "cpuacct.usage")
        cpu_ns = int(acct) if acct is not None and acct.strip().isdigit() else None
    usage_text = _read(path / "memory.current")
    inactive_key = "inactive_file"
    if usage_text is None:
        usage_text = _read(path / "memory.usage_in_bytes")
        inactive_key = "total_inactive_file"
    if cpu_ns is None or usage_text is None or not usage_text.strip().isdigit():
        return None
    usage = int(usage_text)
    inactive = parse_memory_stat(_read(path / "memory.stat") or "").get(inactive_key, 0)
    return CgroupUsage(cpu_ns, max(usage - inactive, 0) if inactive < usage else 0)


def nanocores(cpu_ns_before: int, cpu_ns_after: int, window_seconds: float) -> int:
    """The CPU rate in nanocores (1e9 = one core busy) over a window, as
    cAdvisor and metrics-server compute it; a counter that went backwards
    (a process of the tree exited and its time left with it) counts as idle.

    >>> nanocores(1_000_000_000, 1_500_000_000, 1.0)
    500000000
    >>> nanocores(5, 3, 1.0)
    0
    """
    if window_seconds <= 0:
        return 0
    return max(int((cpu_ns_after - cpu_ns_before) / window_seconds), 0)


def rate_window(before: float, after: float) -> str:
    """A window in seconds as a Go duration string, as metrics-server writes
    ``window`` (``1.002s``).

    >>> rate_window(10.0, 11.25)
    '1.25s'
    """
    seconds = round(max(after - before, 0.0), 3)
    return f"{seconds:g}s"


def is_kube_proxy(argv: list[bytes], node_ip: str) -> bool:
    """``argv`` is the kube-proxy of the node at ``node_ip``.

    >>> is_kube_proxy([b"python", b"-m", b"kubeproxy", b"--node", b"node-1", b"--node-ip", b"127.0.3.1", b""], "127.0.3.1")
    True
    >>> is_kube_proxy([b"python", b"-m", b"kubelet", b"--node-ip", b"127.0.3.1"], "127.0.3.1")
    False
    """
    if not any(a == b"kubeproxy" or a.endswith((b"/kubeproxy", b"kube-proxy")) for a in argv):
        return False
    ip = node_ip.encode()
    return any(a == b"--node-ip" and b == ip for a, b in itertools.pairwise(argv)) or b"--node-ip=" + ip in argv


@dataclass(slots=True)
class Sample:
    """One reading of every container (by container id) and of the kubelet."""

    monotonic: float
    wall: datetime
    cpu_ns: dict[str, int] = field(default_factory=dict)
    memory: dict[str, int] = field(default_factory=dict)
    self_cpu_ns: int = 0
    self_memory: int = 0


class StatsProvider:
    """Samples the containers of one kubelet's pods; see the module doc."""

    def __init__(self, pods: Any, *, node_ip: str = "", min_window: float = 1.0, max_age: float = 60.0,
                 proc_root: Path = Path("/proc")) -> None:
        self.pods = pods
        """The kubelet's :class:`~kubelet.pods.PodWorkers`."""
        self.min_window = min_window
        self.max_age = max_age
        self.proc_root = proc_root
        self.node_ip = node_ip
        self._last: Sample | None = None
        self._lock = threading.Lock()
        self._proxy: tuple[int, int] | None = None
        """(pid, start ticks) of this node's kube-proxy, once found."""

    def _kube_proxy(self, procs: dict[int, ProcStat]) -> ProcStat | None:
        """This node's kube-proxy process, or None (not running, or not found)."""
        if self._proxy is not None:
            pid, start = self._proxy
            found = procs.get(pid)
            if found is not None and found.start_ticks == start:
                return found
            self._proxy = None
        if not self.node_ip:
            return None
        for pid, stat in procs.items():
            try:
                argv = (self.proc_root / str(pid) / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if is_kube_proxy(argv, self.node_ip):
                self._proxy = (pid, stat.start_ticks)
                return stat
        return None

    def _running(self) -> list[tuple[Any, str, Any]]:
        """``(record, container name, handle)`` of every running container."""
        with self.pods.lock:
            records = list(self.pods.records.values())
        found = []
        for rec in records:
            if rec.terminated or rec.finished:
                continue
            for name, handle in list(rec.handles.items()):
                if handle.poll() is None:
                    found.append((rec, name, handle))
        return found

    def sample(self, running: list[tuple[Any, str, Any]]) -> Sample:
        now = Sample(time.monotonic(), datetime.now(UTC))
        procs: dict[int, ProcStat] | None = None
        for _rec, _name, handle in running:
            cgroup = getattr(handle, "_cgroup_dir", None)
            usage = cgroup_usage(Path(cgroup)) if cgroup else None
            if usage is not None:
                now.cpu_ns[handle.container_id], now.memory[handle.container_id] = usage.cpu_ns, usage.working_set
                continue
            if procs is None:
                procs = scan_proc(self.proc_root)
            tree = tree_usage(procs.values(), handle.pid, getattr(handle, "_pid_start", None))
            if tree is not None:
                now.cpu_ns[handle.container_id], now.memory[handle.container_id] = tree[0], tree[1]
        if procs is None:
            procs = scan_proc(self.proc_root)
        me = procs.get(os.getpid())
        proxy = self._kube_proxy(procs)
        for own in (me, proxy):
            if own is not None:
                now.self_cpu_ns += own.cpu_ticks * NANOS // CLOCK_TICKS
                now.self_memory += own.rss_pages * PAGE_SIZE
        return now

    def _usable(self, last: Sample | None, now: Sample) -> bool:
        if last is None:
            return False
        age = now.monotonic - last.monotonic
        return self.min_window <= age <= self.max_age and all(cid in last.cpu_ns for cid in now.cpu_ns)

    def summary(self, node_name: str) -> Obj:
        """The figures of every running container and of the node, rated over
        the last window (the ``stats`` reply of :mod:`kubelet.server`)."""
        with self._lock:
            running = self._running()
            now = self.sample(running)
            before = self._last
            if not self._usable(before, now):
                before = now
                time.sleep(self.min_window)
                running = self._running()
                now = self.sample(running)
            self._last = now
        assert before is not None
        seconds = now.monotonic - before.monotonic
        window = rate_window(before.monotonic, now.monotonic)
        stamp = format_time(now.wall)
        pods: dict[str, Obj] = {}
        node_cpu = nanocores(before.self_cpu_ns, now.self_cpu_ns, seconds)
        node_mem = now.self_memory
        for rec, name, handle in running:
            cid = handle.container_id
            if cid not in now.cpu_ns or cid not in before.cpu_ns:
                continue  # exited meanwhile, or started after the first sample
            cpu = nanocores(before.cpu_ns[cid], now.cpu_ns[cid], seconds)
            mem = now.memory[cid]
            node_cpu += cpu
            node_mem += mem
            pod = pods.setdefault(rec.uid, {
                "namespace": rec.namespace, "name": rec.name, "uid": rec.uid,
                "labels": dict(((rec.pod or rec.last_seen or {}).get("metadata") or {}).get("labels") or {}),
                "containers": [],
            })
            pod["containers"].append({"name": name, "usageNanoCores": cpu, "usageCoreNanoSeconds": now.cpu_ns[cid],
                                      "workingSetBytes": mem})
        return {
            "node": {"name": node_name, "usageNanoCores": node_cpu, "workingSetBytes": node_mem},
            "pods": sorted(pods.values(), key=lambda p: (p["namespace"], p["name"])),
            "timestamp": stamp,
            "window": window,
        }

