"""One timeline from every component's log: what ``kemu journal`` prints.

Each process of a local cluster appends JSON lines to
``<data-dir>/logs/<process>.log`` (:mod:`kemu.log`). ``cat logs/*.log | sort``
is not a timeline: every line begins with ``{"event": ...``, so ``sort``
orders by event text, and a line being written is cut in half. Here every
complete line of every file is read, put in timestamp order (``ts``: UTC
with microseconds, the same width everywhere, so the text sorts as the
time), and filtered:

- ``since``: lines at or after a moment (a duration back from now, as
  ``kubectl logs --since=5m``, or an RFC 3339 time);
- ``components``: a process (``kubelet-node-2``), a component (``kubelet``:
  every node's) or a node (``node-2``: its kubelet and kube-proxy);
- ``keys``: the object key a line is about (``default/web-x7k2p``);
- ``level``: that level and above (``warning``: warnings and errors).

A last line without its newline is being written: it is skipped now and read
whole on the next pass (``follow``). A line that is not JSON (a traceback
of a crash) keeps its place after the line before it in its file; it has no
key nor level, so only the time and component filters can keep it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["Filter", "Record", "Tail", "parse_since", "read_lines", "render", "timeline"]

_RANK = {"debug": 0, "info": 1, "warning": 2, "error": 3, "critical": 3, "exception": 3}

_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


@dataclass(frozen=True)
class Record:
    """One log line and where it came from."""

    ts: str
    """Its timestamp as written (``2026-12-04T22:30:26.123456Z``), or the
    previous line's for a line without one."""
    source: str
    """The process that wrote it: the log file's name (``kubelet-node-2``)."""
    seq: int
    """Its place in its file, which breaks ties between equal timestamps."""
    line: str
    event: dict[str, Any] | None
    """The parsed JSON object, None for a line that is not one."""


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``--since``: a Go-style duration back from ``now`` (``30s``, ``5m``,
    ``1h30m``, as ``kubectl logs --since``) or an RFC 3339 time
    (``2026-12-04T22:30:00Z``). ``ValueError`` names what was wrong."""
    text = value.strip()
    bad = (f'invalid argument "{value}" for "--since": not a duration (5m, 1h30m) '
           f"nor an RFC 3339 time (2026-12-04T22:30:00Z)")
    parts = _DURATION.findall(text)
    if text and "".join(n + u for n, u in parts) == text:
        seconds = sum(float(n) * _UNIT[u] for n, u in parts)
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(bad) from None
    if "T" not in text.upper() or moment.tzinfo is None:
        raise ValueError(f'invalid argument "{value}" for "--since": an RFC 3339 time has a date, '
                         f"a time and an offset (2026-12-04T22:30:00Z)")
    return moment.astimezone(UTC)


def _stamp(moment: datetime) -> str:
    """``moment`` written as kemu.log writes ``ts`` (so the texts compare as the times)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Filter:
    """Which lines to keep; an empty field keeps every line."""

    since: datetime | None = None
    components: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    level: str | None = None

    def __post_init__(self) -> None:
        if self.level is not None and self.level not in _RANK:
            raise ValueError(f"level must be one of debug, info, warning, error, not {self.level!r}")

    def keeps(self, record: Record) -> bool:
        event = record.event or {}
        if self.since is not None and record.ts < _stamp(self.since):
            return False
        if self.components and not any(
            # A node by the process's name (kubelet-node-2), not by a "node" field:
            # the scheduler's lines name the node a pod goes to.
            c in (record.source, event.get("component")) or record.source.endswith("-" + c)
            for c in self.components
        ):
            return False
        if self.keys and event.get("key") not in self.keys:
            return False
        if self.level is not None:
            level = str(event.get("level", ""))
            if _RANK.get(level, -1) < _RANK[self.level]:
                return False
        return True


def read_lines(path: Path, offset: int = 0, *, last_ts: str = "", seq: int = 0) -> tuple[list[Record], int, str, int]:
    """The complete lines of ``path`` from byte ``offset``: the records, the
    offset after the last complete line (a torn one is read next time), and
    the last timestamp and line number, to carry on from."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset, last_ts, seq
    complete = data.rfind(b"\n") + 1
    records: list[Record] = []
    for raw in data[:complete].splitlines():
        line = raw.decode(errors="replace").rstrip("\r")
        if not line.strip():
            continue
        event: dict[str, Any] | None
        try:
            parsed = json.loads(line)
            event = parsed if isinstance(parsed, dict) else None
        except ValueError:
            event = None
        if event is not None and isinstance(event.get("ts"), str):
            last_ts = event["ts"]
        seq += 1
        records.append(Record(last_ts, path.stem, seq, line, event))
    return records, offset + complete, last_ts, seq


def _order(record: Record) -> tuple[str, str, int]:
    return (record.ts, record.source, record.seq)


@dataclass
class Tail:
    """Where each log file of a directory was read up to, to read on from
    there (``kemu journal -f``); files that appear later are read too."""

    log_dir: Path
    _files: dict[Path, tuple[int, str, int]] = field(default_factory=dict)
    """File to (offset, last timestamp, line count)."""

    def read(self) -> list[Record]:
        """Every complete line written since the last read, in time order."""
        out: list[Record] = []
        for path in sorted(self.log_dir.glob("*.log")):
            offset, last_ts, seq = self._files.get(path, (0, "", 0))
            try:
                if path.stat().st_size < offset:  # truncated: start over
                    offset, last_ts, seq = 0, "", 0
            except OSError:
                continue
            records, offset, last_ts, seq = read_lines(path, offset, last_ts=last_ts, seq=seq)
            self._files[path] = (offset, last_ts, seq)
            out.extend(records)
        return sorted(out, key=_order)


def timeline(log_dir: Path, keep: Filter = Filter()) -> list[Record]:
    """Every complete line of every ``*.log`` in ``log_dir`` that ``keep``
    keeps, in timestamp order."""
    return [r for r in Tail(log_dir).read() if keep.keeps(r)]


def follow(log_dir: Path, keep: Filter, out: Callable[[Iterable[Record]], None], stop: threading.Event,
           interval: float = 0.2) -> None:
    """:func:`timeline`, then every new line as it is written, until ``stop``
    is set. Each pass is in time order; a line written late with an earlier
    timestamp comes when it is written."""
    tail = Tail(log_dir)
    while True:
        out([r for r in tail.read() if keep.keeps(r)])
        if stop.wait(interval):
            return


def render(record: Record, *, text: bool) -> str:
    """The line as written (JSON, for jq) or, with ``text``, for a person:
    time, level, process, event, then the other fields."""
    if not text:
        return record.line
    if record.event is None:
        return f"{record.ts[11:26]:<15} {'':<4} {record.source:<22} {record.line}"
    event = dict(record.event)
    ts = str(event.pop("ts", record.ts))[11:26]
    level = str(event.pop("level", "")).upper()[:4]
    msg = event.pop("event", "")
    event.pop("component", None)
    event.pop("node", None)
    rest = " ".join(f"{k}={v}" for k, v in event.items())
    return f"{ts:<15} {level:<4} {record.source:<22} {msg} {rest}".rstrip()
