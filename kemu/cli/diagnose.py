"""What state a recorded cluster is in, and the one command that fixes it.

``kemu up`` records the processes it starts in ``<data-dir>/cluster.json``
(:class:`kemu.launcher.ClusterState`). When a command cannot reach its
apiserver, and when ``kemu up`` finds a record, both read that record here
and say the same thing, because they decide with the same function
(:func:`examine`) from the same facts:

- **nothing recorded** for the server (no ``cluster.json`` names it): start
  one with ``kemu up``;
- **stopped**: the record's processes are all gone: ``kemu up`` starts the
  cluster again (its objects are in the data dir and survive);
- **half dead**: the apiserver is gone (``kill -9``, a crash) but other
  processes still run: ``kemu down`` stops them, then ``kemu up``;
- **apiserver not answering**: its process exists but is silent (frozen by
  SIGSTOP, or busy): ``kill -CONT <pid>`` if it was frozen, else ``kemu down``
  then ``kemu up``;
- **running**: everything runs (``kemu up`` refuses: ``kemu down`` first).

The commands named carry ``--data-dir`` when the cluster is not in the
default place, so they act on the cluster being talked about.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kemu import config as kconfig
from kemu.launcher import load_state
from kemu.procs import pid_alive

__all__ = [
    "DEFAULT_DATA_DIR",
    "Condition",
    "RecordedCluster",
    "examine",
    "find_cluster",
    "unreachable_hint",
    "up_refusal",
]

DEFAULT_DATA_DIR = Path.home() / ".kemu" / "local"
"""Where ``kemu up`` keeps a cluster without ``--data-dir``."""

APISERVER = "apiserver"
"""The apiserver's name in ``cluster.json``'s ``pids``."""


class Condition(enum.Enum):
    """The state of a recorded cluster (see the module doc)."""

    STOPPED = "stopped"
    HALF_DEAD = "half dead"
    RUNNING = "running"


@dataclass(frozen=True, slots=True)
class RecordedCluster:
    """A ``cluster.json`` and which of its processes still run."""

    data_dir: Path
    server: str
    pids: dict[str, int]
    """Process name to pid, as recorded."""
    running: frozenset[str]
    """The names whose pid is alive now."""

    @property
    def gone(self) -> list[str]:
        return sorted(set(self.pids) - self.running)

    @property
    def condition(self) -> Condition:
        """STOPPED: nothing runs; HALF_DEAD: the apiserver is gone and something
        else runs; RUNNING: the apiserver runs (a killed node, ``kemu node
        kill``'s drill, does not make the cluster half dead)."""
        if not self.running:
            return Condition.STOPPED
        if APISERVER in self.pids and APISERVER not in self.running:
            return Condition.HALF_DEAD
        return Condition.RUNNING

    def command(self, verb: str) -> str:
        """``kemu down``, or ``kemu down --data-dir X`` outside the default place."""
        if self.data_dir.resolve() == DEFAULT_DATA_DIR.resolve():
            return f"kemu {verb}"
        return f"kemu {verb} --data-dir {self.data_dir}"


def examine(data_dir: Path, *, alive: Callable[[int], bool] = pid_alive) -> RecordedCluster | None:
    """The cluster recorded in ``data_dir``, or None when there is no record."""
    try:
        state = load_state(data_dir)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):  # a cluster.json kemu did not write: nothing to go on
        return None
    pids = {str(name): int(pid) for name, pid in state.pids.items()}
    return RecordedCluster(data_dir, state.server, pids, frozenset(n for n, p in pids.items() if alive(p)))


def _candidate_dirs() -> Iterable[Path]:
    """The data dirs a server may be recorded in: each cluster of
    ``~/.kemu/config.yaml``, then the default place."""
    try:
        clusters = kconfig.load_config().get("clusters") or {}
    except (OSError, ValueError):
        clusters = {}
    for entry in clusters.values():
        if isinstance(entry, dict) and entry.get("data_dir"):
            yield Path(str(entry["data_dir"]))
    yield DEFAULT_DATA_DIR


def find_cluster(server: str, *, dirs: Iterable[Path] | None = None,
                 alive: Callable[[int], bool] = pid_alive) -> RecordedCluster | None:
    """The recorded cluster whose apiserver is ``server``, if kemu started one."""
    for data_dir in _candidate_dirs() if dirs is None else dirs:
        cluster = examine(data_dir, alive=alive)
        if cluster is not None and cluster.server == server:
            return cluster
    return None


def _names(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def unreachable_hint(cluster: RecordedCluster | None, refused: bool) -> str:
    """Why the apiserver of ``cluster`` does not answer, and what to run
    (what ``kemu get`` and the other verbs print in parentheses).

    ``refused``: nothing listens at the address (else it was silent).
    """
    if cluster is None:
        return "is the apiserver running? start one with `kemu up`"
    where = f"the cluster in {cluster.data_dir}"
    pid = cluster.pids.get(APISERVER)
    if cluster.condition is Condition.STOPPED:
        return f"{where} is not running, all its processes are gone: run `{cluster.command('up')}` to start it again"
    if APISERVER not in cluster.running:
        return (
            f"the apiserver of {where} is gone (pid {pid} exited) while {_names(cluster.running)} still run:"
            f" run `{cluster.command('down')}` to stop them, then `{cluster.command('up')}`"
        )
    if refused:
        return (
            f"the apiserver of {where} (pid {pid}) runs but does not listen at {cluster.server}:"
            f" run `{cluster.command('down')}`, then `{cluster.command('up')}`"
        )
    return (
        f"the apiserver of {where} (pid {pid}) runs but does not answer; if it was frozen,"
        f" `kill -CONT {pid}` resumes it, else run `{cluster.command('down')}`, then `{cluster.command('up')}`"
    )


def up_refusal(cluster: RecordedCluster | None) -> str | None:
    """Why ``kemu up`` must not start over ``cluster``'s data dir, or None
    when it may (nothing recorded, or nothing of it runs)."""
    if cluster is None or cluster.condition is Condition.STOPPED:
        return None
    if cluster.condition is Condition.RUNNING:
        gone = f"; {_names(cluster.gone)} gone" if cluster.gone else ""
        return (
            f"error: a cluster is already running from {cluster.data_dir} ({_names(cluster.running)} running{gone}):"
            f" `{cluster.command('down')}` stops it"
        )
    return (
        f"error: the cluster in {cluster.data_dir} is half dead: {_names(cluster.gone)} gone,"
        f" {_names(cluster.running)} still running: run `{cluster.command('down')}` to stop them,"
        f" then `{cluster.command('up')}`"
    )
