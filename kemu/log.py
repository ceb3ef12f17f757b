"""One structlog set-up for every kemu process.

Lines are JSON when stderr is not a terminal (compose, CI, ``kemu up``'s
merged stream) and a readable console rendering when it is. Every line carries
``component`` and, where there is one, ``node``; code binds ``kind``, ``key``,
``uid`` and ``resourceVersion`` as it works, so the lines of many processes can
later be joined into one causal timeline. Timestamps are UTC with microseconds.

Warnings and errors are rate-limited (:class:`RepeatLimiter`): a line that
repeats exactly (same level, event and fields: a different error text is a
different line) within a window is written once, at once; its repeats in
that window are counted, not written, and the next line for it says how many
there were (``"repeated": N``). So a kubelet whose apiserver is down writes a
few ``heartbeat failed`` lines a minute instead of hundreds, and no distinct
error is ever swallowed. klog has no such thing; the count is a field, so the
line stays structured.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

__all__ = ["configure", "get_logger", "LEVELS", "RepeatLimiter"]

LEVELS = ("debug", "info", "warning", "error")

REPEAT_WINDOW = 10.0
"""Seconds during which an identical warning or error is counted, not written
(``KEMU_LOG_REPEAT_WINDOW`` overrides it; ``0`` writes every line)."""

_LIMITED_LEVELS = frozenset({"warning", "error", "critical", "exception"})
_NOT_IDENTITY = frozenset({"ts", "timestamp", "repeated"})
"""Fields that differ between two occurrences of the same line."""


@dataclass
class _Repeat:
    """One distinct line seen lately."""

    since: float
    """When it was last written (the window starts there)."""
    suppressed: int
    """Occurrences since then that were counted, not written."""
    last: dict[str, Any]
    """The last occurrence's fields, for the summary line."""


class RepeatLimiter:
    """A structlog processor that writes a repeated warning or error once per
    ``window`` seconds.

    The first occurrence of a line passes at once. Identical occurrences
    within ``window`` seconds of it are dropped and counted; the first one
    after the window passes with ``repeated`` set to that count, and starts a
    new window. A line that stops repeating is not left uncounted: once its
    window is over, the next line the process logs (of any kind) first
    flushes the count through ``emit`` (a summary carrying the last
    occurrence's fields and ``repeated``), and so does :meth:`flush` at exit.

    Identity is the whole line but its timestamp: level, event and every
    field, so two different error texts are two lines, each written. Debug
    and info lines are never limited (they are the timeline).
    """

    def __init__(self, window: float = REPEAT_WINDOW, *, clock: Callable[[], float] = time.monotonic,
                 emit: Callable[[dict[str, Any]], None] | None = None, max_lines: int = 4096) -> None:
        self.window = window
        self.clock = clock
        self.emit = emit
        """Writes a summary line (``configure`` sends it through the rest of the chain)."""
        self.max_lines = max_lines
        """Distinct lines remembered at most; older quiet ones are forgotten first."""
        self._seen: dict[tuple[tuple[str, str], ...], _Repeat] = {}
        self._lock = threading.Lock()
        self._emitting = threading.local()

    @staticmethod
    def identity(event: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        """What makes two lines the same line."""
        items = [(k, repr(v)) for k, v in event.items() if k not in _NOT_IDENTITY]
        if event.get("exc_info") is True:  # log.exception(): the exception itself tells lines apart
            items.append(("exc_info", repr(sys.exc_info()[1])))
        return tuple(sorted(items))

    def __call__(self, _logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        if getattr(self._emitting, "on", False):
            return event  # a summary line, on its way out
        now = self.clock()
        if str(event.get("level", "")) not in _LIMITED_LEVELS:
            self._write(self._due(now))
            return event
        key = self.identity(event)
        due = self._due(now, skip=key)  # this line's own count goes on this line
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen.since < self.window:
                seen.suppressed += 1
                seen.last = dict(event)
                drop = True
            else:
                if seen is not None and seen.suppressed:
                    event["repeated"] = seen.suppressed
                self._seen[key] = _Repeat(since=now, suppressed=0, last=dict(event))
                self._forget(now)
                drop = False
        self._write(due)
        if drop:
            raise structlog.DropEvent
        return event

    def flush(self) -> None:
        """Write the count of every line still being counted (at exit)."""
        self._write(self._due(float("inf")))

    def _due(self, now: float, skip: tuple[tuple[str, str], ...] | None = None) -> list[dict[str, Any]]:
        """Summaries of lines whose window is over with repeats counted."""
        out: list[dict[str, Any]] = []
        with self._lock:
            for key, seen in list(self._seen.items()):
                if key != skip and seen.suppressed and now - seen.since >= self.window:
                    out.append(dict(seen.last, repeated=seen.suppressed))
                    del self._seen[key]
        return out

    def _forget(self, now: float) -> None:
        if len(self._seen) <= self.max_lines:
            return
        for key, seen in list(self._seen.items()):
            if not seen.suppressed and now - seen.since >= self.window:
                del self._seen[key]
        while len(self._seen) > self.max_lines:  # all recent: the oldest go (a count may be lost, a line never)
            del self._seen[next(iter(self._seen))]

    def _write(self, summaries: list[dict[str, Any]]) -> None:
        if not summaries or self.emit is None:
            return
        self._emitting.on = True
        try:
            for summary in summaries:
                self.emit(summary)
        finally:
            self._emitting.on = False


def configure(component: str, *, level: str = "info", node: str | None = None, json: bool | None = None) -> None:
    """Set up structlog for this process.

    ``json`` forces the renderer; by default JSON is used unless stderr is a
    terminal. ``KEMU_LOG_FORMAT=json|console`` and ``KEMU_LOG_LEVEL`` override
    from the environment (the launcher uses them for its children).
    """
    env_format = os.environ.get("KEMU_LOG_FORMAT")
    if json is None:
        json = env_format == "json" if env_format else not sys.stderr.isatty()
    level = os.environ.get("KEMU_LOG_LEVEL", level).lower()
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    static: dict[str, Any] = {"component": component}
    if node:
        static["node"] = node

    def add_static(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        # Threads start with an empty contextvars context, so the process-wide
        # fields are added by a processor rather than bound as contextvars.
        for key, value in static.items():
            event.setdefault(key, value)
        return event

    def emit(summary: dict[str, Any]) -> None:
        fields = {k: v for k, v in summary.items() if k not in ("event", "level", "ts", "exc_info")}
        structlog.get_logger().log(getattr(logging, str(summary.get("level", "warning")).upper(), logging.WARNING),
                                   summary.get("event", ""), **fields)

    try:
        window = float(os.environ.get("KEMU_LOG_REPEAT_WINDOW", REPEAT_WINDOW))
    except ValueError:
        raise ValueError(f"KEMU_LOG_REPEAT_WINDOW must be a number of seconds, not {os.environ['KEMU_LOG_REPEAT_WINDOW']!r}") from None
    limiter = RepeatLimiter(window, emit=emit)
    atexit.register(limiter.flush)
    processors: list[Any] = [
        add_static,
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        limiter,
        structlog.processors.TimeStamper(fmt="%Y-%m-%dT%H:%M:%S.%fZ", utc=True, key="ts"),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**initial: Any) -> Any:
    """A logger with ``initial`` bound (``kind=``, ``key=`` ...)."""
    return structlog.get_logger().bind(**initial)
