"""Injected time, and Kubernetes' timestamp formats.

Every kemu component that waits, backs off or times out asks a :class:`Clock`
rather than the :mod:`time` module, so a test can drive time by hand (the
house rule "time is injected, so tests of timeouts do not sleep"). This is
client-go's ``k8s.io/utils/clock`` idea in Python:

- :class:`RealClock` is the process's clock: ``time.monotonic`` for
  durations and deadlines, ``time.time`` for timestamps written into objects.
- :class:`FakeClock` only moves when a test calls :meth:`FakeClock.step`.

Waiting is the subtle part. Code that blocks on a ``threading.Condition``
(the work queue, for instance) must wake both when another thread notifies
the condition and when its deadline passes. A real clock gets the second for
free from ``Condition.wait(timeout)``; a fake clock has no timer thread, so
:meth:`Clock.wait` registers the condition with the clock and
:meth:`FakeClock.step` notifies every registered condition after moving time.
A woken waiter re-reads the clock and re-checks its predicate, exactly as
with any condition variable, so early wake-ups are harmless.

The helpers at the bottom write and read the two timestamp formats of the
Kubernetes API (thin names over :mod:`kemu.apimachinery`, the one copy): ``metav1.Time`` (RFC 3339, whole seconds:
``2026-11-25T19:13:48Z``, used by ``creationTimestamp``,
``lastTransitionTime`` ...) and ``metav1.MicroTime`` (microseconds:
``2026-11-25T19:13:48.123456Z``, used by a Lease's ``renewTime`` and an
Event's ``eventTime``).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

from kemu.apimachinery import format_micro_time, format_time, parse_time

__all__ = [
    "Clock",
    "RealClock",
    "FakeClock",
    "REAL_CLOCK",
    "rfc3339",
    "rfc3339_micro",
    "parse_rfc3339",
]


@runtime_checkable
class Clock(Protocol):
    """What kemu code needs from time."""

    def now(self) -> float:
        """Monotonic seconds: for durations, deadlines and backoff, never for timestamps."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch: for timestamps written into objects."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds`` of this clock's time."""
        ...

    def wait(self, cond: threading.Condition, timeout: float | None = None) -> bool:
        """Wait on ``cond`` (whose lock the caller holds, as for ``cond.wait``)
        until it is notified or ``timeout`` seconds of this clock pass.

        Returns False when the timeout passed, True otherwise. Like any
        condition wait it may return early; callers loop on their predicate.
        """
        ...


class RealClock:
    """The process's own clocks."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, cond: threading.Condition, timeout: float | None = None) -> bool:
        if timeout is not None and timeout <= 0:
            return False
        return cond.wait(timeout)

    def __repr__(self) -> str:
        return "RealClock()"


REAL_CLOCK = RealClock()
"""A shared :class:`RealClock`; it has no state, so one is enough."""


# 2026-11-25T19:13:48Z: a fixed, recognisable start so fake timestamps in test
# output are stable from run to run.
_DEFAULT_FAKE_WALL = 1795634028.0


class FakeClock:
    """A clock that moves only when told to, for tests.

    ``now()`` starts at ``start`` and ``wall()`` at ``wall_start``; both move
    together by :meth:`step`. Threads blocked in :meth:`sleep` or :meth:`wait`
    wake when a step carries time past their deadline (and, for ``wait``, when
    their condition is notified). :meth:`block_until_waiters` lets a test wait,
    for a bounded real time, until the thread under test is parked on the
    clock before stepping it, so a test never races the code it drives.

    With ``auto_advance=True``, :meth:`sleep` steps the clock itself (as
    client-go's ``FakeClock.Sleep`` does), which suits single-threaded code
    that sleeps between retries; by default ``sleep`` waits for a step, which
    suits background loops that a test paces by hand.

    All methods are thread-safe.
    """

    _lock: threading.Condition
    """Guards the fields below; notified whenever the set of waiters changes."""
    _now: float
    """Current monotonic reading."""
    _wall_offset: float
    """``wall() - now()``; constant across steps."""
    _waiters: dict[int, threading.Condition]
    """Conditions of threads currently parked in :meth:`wait` or :meth:`sleep`, by ticket."""
    _next_ticket: int
    """Source of waiter tickets."""
    _auto_advance: bool
    """Whether :meth:`sleep` steps the clock instead of waiting for a step."""

    def __init__(
        self,
        start: float = 0.0,
        *,
        wall_start: float = _DEFAULT_FAKE_WALL,
        auto_advance: bool = False,
    ) -> None:
        self._lock = threading.Condition(threading.Lock())
        self._now = float(start)
        self._wall_offset = float(wall_start) - float(start)
        self._waiters = {}
        self._next_ticket = 0
        self._auto_advance = auto_advance

    # -- reading --------------------------------------------------------

    def now(self) -> float:
        with self._lock:
            return self._now

    def wall(self) -> float:
        with self._lock:
            return self._now + self._wall_offset

    # -- moving ---------------------------------------------------------

    def step(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and wake every waiting thread."""
        if seconds < 0:
            raise ValueError(f"a monotonic clock cannot step backwards ({seconds} s)")
        with self._lock:
            self._now += seconds
            waiting = list(self._waiters.values())
        # Notify outside our own lock: a waiter holds its condition's lock
        # while it registers with us, so taking both in the other order here
        # could deadlock.
        for cond in waiting:
            with cond:
                cond.notify_all()

    def set_wall(self, wall: float) -> None:
        """Set the wall clock (an NTP jump, say) without moving monotonic time."""
        with self._lock:
            self._wall_offset = float(wall) - self._now

    # -- waiting --------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._auto_advance:
            self.step(seconds)
            return
        cond = threading.Condition(threading.Lock())
        with cond:
            deadline = self.now() + seconds
            while True:
                remaining = deadline - self.now()
                if remaining <= 0:
                    return
                self.wait(cond, remaining)

    def wait(self, cond: threading.Condition, timeout: float | None = None) -> bool:
        if timeout is not None and timeout <= 0:
            return False
        ticket, started = self._register(cond)
        try:
            if timeout is not None and self.now() >= started + timeout:
                return False
            cond.wait()
        finally:
            self._unregister(ticket)
        return timeout is None or self.now() < started + timeout

    def _register(self, cond: threading.Condition) -> tuple[int, float]:
        # Reading the time under the same lock as registering closes the gap
        # a step could otherwise fall into unnoticed.
        with self._lock:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._waiters[ticket] = cond
            self._lock.notify_all()
            return ticket, self._now

    def _unregister(self, ticket: int) -> None:
        with self._lock:
            self._waiters.pop(ticket, None)
            self._lock.notify_all()

    # -- test helpers ---------------------------------------------------

    @property
    def waiters(self) -> int:
        """How many threads are parked in :meth:`sleep` or :meth:`wait` right now."""
        with self._lock:
            return len(self._waiters)

    def has_waiters(self) -> bool:
        """True when at least one thread is parked on this clock."""
        return self.waiters > 0

    def block_until_waiters(self, count: int = 1, *, timeout: float = 1.0) -> bool:
        """Wait (in real time, at most ``timeout`` seconds) until at least
        ``count`` threads are parked on this clock; returns whether they were."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._waiters) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now()!r}, wall={rfc3339_micro(self.wall())!r})"


# -- timestamps ---------------------------------------------------------


def rfc3339(ts: float | None = None) -> str:
    """``metav1.Time`` text: UTC, whole seconds (truncated, as Kubernetes
    does), ``Z`` suffix. ``rfc3339(0)`` is ``"1970-01-01T00:00:00Z"``; without
    an argument, the current wall time (:func:`kemu.apimachinery.format_time`)."""
    return format_time(ts)


def rfc3339_micro(ts: float | None = None) -> str:
    """``metav1.MicroTime`` text: UTC with six fractional digits,
    ``"2026-11-25T19:13:48.123456Z"``; without an argument, the current wall
    time (:func:`kemu.apimachinery.format_micro_time`)."""
    return format_micro_time(ts)


def parse_rfc3339(text: str) -> float:
    """Epoch seconds for an RFC 3339 timestamp, read as the apiserver reads a
    ``metav1.Time`` (:func:`kemu.apimachinery.parse_time`): a fraction of any
    length (so Go's ``RFC3339Nano`` and ``MicroTime`` texts parse too), ``Z``
    or a numeric offset; anything else is a ``ValueError`` with Go's message.

    >>> parse_rfc3339("1970-01-01T00:01:00Z")
    60.0
    >>> parse_rfc3339("1970-01-01T01:00:00.5+01:00")
    0.5
    """
    return parse_time(text).epoch
