"""Every process of one local cluster, found in /proc, and how ``kemu down`` stops them.

``cluster.json`` names the pids ``kemu up`` started, but a user who restarted
a component by hand (pasting its command line from ``ps`` or
``/proc/<pid>/cmdline``) made a process nobody recorded. ``kemu down`` must
stop it too, and say so.

A process belongs to the cluster when it runs one of kemu's component
modules (``python -m kubelet`` ...) **and** its command line names this
cluster: an argument that is the cluster's data dir or a path under it
(``--data-dir``, ``--root-dir``), or the cluster's own apiserver address
(``--server``/``--listen tcp://127.0.0.1:7100``, which one cluster at a time
can bind). Names alone never match, so another cluster on the same machine,
or a test's own apiserver, is never touched.

Stopping is the house ladder for all of them at once: SIGCONT (a frozen
node cannot act on SIGTERM), SIGTERM, a bounded wait, SIGKILL, a bounded
wait; nodes first, the apiserver last. What a stopped process left behind
(a container its kubelet did not get to stop) is found by the process tree
taken before the first signal and stopped the same way.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ClusterProcess", "StopReport", "addresses", "cluster_processes", "component_name", "stop_cluster"]

COMPONENT_MODULES = {
    "apiserver": "apiserver",
    "apiserver.http": "http",
    "scheduler": "scheduler",
    "controllermanager": "controllermanager",
    "clusterdns": "dns",
    "kubelet": "kubelet",
    "kubeproxy": "kubeproxy",
}
"""The module a component runs as, to its process name in ``cluster.json``
(the per-node ones get ``-<node>``)."""

_ADDRESS_OPTIONS = ("--server", "--listen", "--watch-listen")


@dataclass(frozen=True)
class ClusterProcess:
    """One process of the cluster."""

    name: str
    """As in ``cluster.json``: ``apiserver``, ``kubelet-node-2`` ... (a
    container left behind: ``<its component>/<pid>``)."""
    pid: int
    recorded: bool
    """``kemu up`` (or ``kemu node start``) started it; otherwise someone did by hand."""
    argv: tuple[str, ...] = ()


@dataclass
class StopReport:
    """What :func:`stop_cluster` did."""

    stopped: list[ClusterProcess] = field(default_factory=list)
    """Gone after SIGTERM."""
    killed: list[ClusterProcess] = field(default_factory=list)
    """Gone only after SIGKILL."""
    failed: list[tuple[ClusterProcess, str]] = field(default_factory=list)
    """Still there, and why (not ours to signal, or unkillable)."""
    orphans: list[ClusterProcess] = field(default_factory=list)
    """Processes the components left behind (their containers), stopped too."""


def addresses(server: str, spec: dict[str, Any]) -> set[str]:
    """The cluster's own apiserver addresses (request and watch) from ``cluster.json``."""
    out = {server}
    if "api_port" in spec:
        out.add(f"tcp://{spec.get('bind_host', '127.0.0.1')}:{int(spec['api_port']) + 1}")
    return out


def read_cmdline(pid: int) -> list[str] | None:
    """``/proc/<pid>/cmdline`` as argv; None for a process gone or a kernel thread."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    if not raw:
        return None
    return [part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0")]


def component_name(argv: list[str]) -> str | None:
    """The process name of a kemu component's command line, or None.

    ``python -m kubelet --node node-2 ...`` -> ``kubelet-node-2``;
    ``python -m apiserver.http ...`` -> ``http``."""
    try:
        i = argv.index("-m")
    except ValueError:
        return None
    if i + 1 >= len(argv) or argv[i + 1] not in COMPONENT_MODULES:
        return None
    name = COMPONENT_MODULES[argv[i + 1]]
    if name in ("kubelet", "kubeproxy"):
        node = _option(argv[i + 2:], "--node")
        return f"{name}-{node}" if node else name
    return name


def _option(args: list[str], flag: str) -> str | None:
    for j, arg in enumerate(args):
        if arg == flag and j + 1 < len(args):
            return args[j + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def belongs(argv: list[str], data_dir: Path, addresses: set[str]) -> bool:
    """True when this component command line names the cluster of ``data_dir``:
    a path at or under it, or one of its apiserver ``addresses``."""
    root = str(data_dir.resolve())
    for j, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        if value == root or value.startswith(root + os.sep):
            return True
        flag = arg.split("=", 1)[0]
        if flag in _ADDRESS_OPTIONS:
            address = value if "=" in arg else (argv[j + 1] if j + 1 < len(argv) else "")
            if address in addresses:
                return True
    return False


def cluster_processes(data_dir: Path, addresses: set[str], recorded: dict[str, int]) -> list[ClusterProcess]:
    """Every live process of the cluster: the ``recorded`` pids (name to pid)
    still alive, and every component process whose command line belongs to it
    (:func:`belongs`). Never this process or one of its ancestors."""
    from kemu.procs import pid_alive

    mine = _ancestors(os.getpid())
    # A recorded pid counts only while it still runs a component (a pid the
    # kernel reused after a crash is someone else's).
    known = {pid: name for name, pid in recorded.items()
             if pid_alive(pid) and component_name(read_cmdline(pid) or []) is not None}
    found = [ClusterProcess(name, pid, True, tuple(read_cmdline(pid) or ())) for pid, name in known.items()]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid in known or pid in mine:
            continue
        argv = read_cmdline(pid)
        if not argv:
            continue
        name = component_name(argv)
        if name is None or not belongs(argv, data_dir, addresses) or not pid_alive(pid):
            continue
        found.append(ClusterProcess(name, pid, False, tuple(argv)))
    return sorted(found, key=_stop_order)


def _stop_order(p: ClusterProcess) -> tuple[bool, bool, str, int]:
    """Nodes first (their pods stop while the apiserver still answers), the apiserver last."""
    return (not p.name.startswith(("kubelet", "kubeproxy")), p.name == "apiserver", p.name, p.pid)


def _ancestors(pid: int) -> set[int]:
    out = {pid}
    while pid > 1:
        pid = _ppid(pid)
        if pid <= 0 or pid in out:
            break
        out.add(pid)
    return out


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _tree() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            children.setdefault(_ppid(int(entry)), []).append(int(entry))
    return children


def _below(pid: int, tree: dict[int, list[int]]) -> set[int]:
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks: with the pid, it names one
    process (a pid reused later has another)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


def _send(pid: int, sig: int) -> str | None:
    """Send ``sig``; the reason it could not be, or None."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return None
    except PermissionError:
        return "permission denied"
    return None


def _ladder(procs: list[ClusterProcess], grace: float, report: StopReport, *, orphans: bool = False) -> None:
    from kemu.procs import pid_alive

    starts = {p.pid: _start_time(p.pid) for p in procs}

    def alive(p: ClusterProcess) -> bool:
        return pid_alive(p.pid) and _start_time(p.pid) == starts[p.pid]

    refused: dict[int, str] = {}
    for p in procs:
        _send(p.pid, signal.SIGCONT)
        why = _send(p.pid, signal.SIGTERM)
        if why:
            refused[p.pid] = why
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in procs if p.pid not in refused):
        time.sleep(0.05)
    stubborn = [p for p in procs if p.pid not in refused and alive(p)]
    for p in stubborn:
        _send(p.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(alive(p) for p in stubborn):
        time.sleep(0.05)
    for p in procs:
        if p.pid in refused and alive(p):
            report.failed.append((p, refused[p.pid]))
        elif alive(p):
            report.failed.append((p, "still running after SIGKILL"))
        elif orphans:
            report.orphans.append(p)
        elif p in stubborn:
            report.killed.append(p)
        else:
            report.stopped.append(p)


def stop_cluster(data_dir: Path, addresses: set[str], recorded: dict[str, int], grace: float = 5.0) -> StopReport:
    """Stop every process of the cluster (:func:`cluster_processes`), then
    whatever they left behind, each with SIGTERM, ``grace`` seconds, SIGKILL."""
    report = StopReport()
    procs = cluster_processes(data_dir, addresses, recorded)
    if not procs:
        return report
    tree = _tree()
    below = {pid: (p.name, _start_time(pid)) for p in procs for pid in _below(p.pid, tree)}
    for pid in {p.pid for p in procs}:
        below.pop(pid, None)
    nodes = [p for p in procs if p.name.startswith(("kubelet", "kubeproxy"))]
    control = [p for p in procs if p not in nodes]
    _ladder(nodes, grace, report)
    _ladder(control, grace, report)
    from kemu.procs import pid_alive

    left = [ClusterProcess(f"{owner}/{pid}", pid, False, tuple(read_cmdline(pid) or ()))
            for pid, (owner, started) in sorted(below.items()) if pid_alive(pid) and _start_time(pid) == started]
    if left:
        _ladder(left, min(grace, 2.0), report, orphans=True)
    return report
