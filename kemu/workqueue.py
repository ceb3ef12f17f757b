"""The work queue controllers pop keys from: client-go's ``workqueue`` in Python.

A controller's informer handlers only call ``queue.add(key)``; worker threads
loop on ``key = queue.get()``, call ``sync(key)``, and then ``queue.done(key)``.
The queue gives that loop three guarantees (client-go's, unchanged):

- **dedup**: a key added many times before a worker takes it is handed out
  once (the *dirty* set holds keys waiting to be processed);
- **one worker per key**: a key being processed is never handed to a second
  worker (the *processing* set); if it is added again meanwhile, it is queued
  again when the first worker calls :meth:`WorkQueue.done`, so the change
  that came in during the sync is not lost;
- **backoff**: a failed key goes back through :meth:`WorkQueue.add_rate_limited`,
  which waits ``base * 2**failures`` (5 ms, 10 ms, 20 ms ... capped at
  1000 s, client-go's ``ItemExponentialFailureRateLimiter``), optionally at
  least as long as an overall token bucket asks; :meth:`WorkQueue.forget`
  resets the count after a success.

Delayed keys (:meth:`WorkQueue.add_after`) wait in a heap ordered by ready
time. Instead of client-go's background "waiting loop" goroutine, they are
promoted lazily by whoever touches the queue (``get``, ``len``), and a
blocked ``get`` sleeps on the queue's condition variable through the injected
:class:`kemu.clock.Clock` until the earliest ready time. With a
:class:`~kemu.clock.FakeClock`, ``clock.step()`` wakes those getters, so tests
drive delays deterministically and never sleep; and there is no thread to
leak.

:meth:`WorkQueue.shut_down` makes the queue ignore new keys and wakes every
blocked getter; keys already queued are still handed out (client-go's
semantics) and then ``get`` returns None, which tells a worker to exit.

:func:`run_workers` runs the standard worker loop on named threads and logs
failed syncs with structlog.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

import structlog

from kemu.clock import REAL_CLOCK, Clock

__all__ = [
    "RateLimiter",
    "ItemExponentialFailureRateLimiter",
    "TokenBucketRateLimiter",
    "MaxOfRateLimiter",
    "WorkQueue",
    "run_workers",
]

K = TypeVar("K", bound=Hashable)

log = structlog.get_logger()


# -- rate limiters ----------------------------------------------------------------------


class RateLimiter(Protocol):
    """Decides how long a key waits before it is retried (client-go's ``RateLimiter``)."""

    def when(self, item: Hashable) -> float:
        """Seconds ``item`` should wait now; counts as one more failure."""
        ...

    def forget(self, item: Hashable) -> None:
        """Stop tracking ``item`` (it succeeded)."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many times ``item`` has failed since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """Per-key exponential backoff: ``base_delay * 2**failures``, at most ``max_delay``.

    With client-go's defaults (5 ms, 1000 s) the waits run 5 ms, 10 ms,
    20 ms, 40 ms ... and reach the cap on the 19th failure.
    """

    base_delay: float
    """Wait after the first failure, in seconds."""
    max_delay: float
    """The cap, in seconds."""
    _failures: dict[Hashable, int]
    """Failures per key since it was last forgotten."""
    _lock: threading.Lock
    """Guards ``_failures``."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        if base_delay < 0 or max_delay < 0:
            raise ValueError("backoff delays must not be negative")
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures = {}
        self._lock = threading.Lock()

    def when(self, item: Hashable) -> float:
        with self._lock:
            exponent = self._failures.get(item, 0)
            self._failures[item] = exponent + 1
        # Past 2**1024 a float overflows; any exponent that large is capped anyway.
        if exponent > 1000:
            return self.max_delay
        return min(self.base_delay * 2.0**exponent, self.max_delay)

    def forget(self, item: Hashable) -> None:
        with self._lock:
            self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        with self._lock:
            return self._failures.get(item, 0)


class TokenBucketRateLimiter:
    """One bucket for all keys (client-go's ``BucketRateLimiter``): ``burst``
    retries go at once, then ``qps`` per second; it only ever delays."""

    qps: float
    """Tokens added per second."""
    burst: int
    """Bucket size."""
    _clock: Clock
    """Time source."""
    _tokens: float
    """Tokens left (negative: retries already promised to the future)."""
    _last: float
    """When ``_tokens`` was last brought up to date."""
    _lock: threading.Lock
    """Guards the bucket."""

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Clock = REAL_CLOCK) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("a token bucket needs qps > 0 and burst >= 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.now()
        self._lock = threading.Lock()

    def when(self, item: Hashable) -> float:
        with self._lock:
            now = self._clock.now()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest wait any of several limiters asks for (client-go's ``MaxOfRateLimiter``)."""

    limiters: tuple[RateLimiter, ...]
    """The combined limiters."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


# -- the queue --------------------------------------------------------------------------


class WorkQueue(Generic[K]):
    """A deduplicating, delaying, rate-limited FIFO of keys; thread-safe.

    Keys must be hashable and not None (None is what :meth:`get` returns
    when there is nothing to hand out).
    """

    name: str
    """Names the queue in logs and worker threads (``"replicaset"``)."""
    _clock: Clock
    """Time source for delays, backoff and ``get`` timeouts."""
    _rate_limiter: RateLimiter
    """Decides the delay of :meth:`add_rate_limited`."""
    _cond: threading.Condition
    """Guards every field below; notified when keys arrive or the queue shuts down."""
    _queue: deque[K]
    """Keys ready to hand out, in order; each is also in ``_dirty``."""
    _dirty: set[K]
    """Keys that need processing (queued, or added again while processing)."""
    _processing: set[K]
    """Keys handed out and not yet :meth:`done`."""
    _waiting: dict[K, float]
    """Delayed keys and the clock reading at which each becomes ready."""
    _heap: list[tuple[float, int, K]]
    """``(ready_at, sequence, key)`` for ``_waiting``; entries whose time no longer matches are stale."""
    _sequence: itertools.count[int]
    """Tie-breaker so the heap never compares keys."""
    _shutting_down: bool
    """Set by :meth:`shut_down`."""

    def __init__(
        self,
        name: str = "",
        *,
        clock: Clock = REAL_CLOCK,
        rate_limiter: RateLimiter | None = None,
        base_delay: float = 0.005,
        max_delay: float = 1000.0,
        qps: float | None = None,
        burst: int = 100,
    ) -> None:
        """``rate_limiter`` replaces the default one, which is per-key
        exponential backoff from ``base_delay`` to ``max_delay`` seconds,
        combined (the longer wait wins) with a ``qps``/``burst`` token bucket
        when ``qps`` is given (client-go's default controller limiter uses
        10 qps, burst 100)."""
        self.name = name
        self._clock = clock
        if rate_limiter is None:
            rate_limiter = ItemExponentialFailureRateLimiter(base_delay, max_delay)
            if qps is not None:
                rate_limiter = MaxOfRateLimiter(rate_limiter, TokenBucketRateLimiter(qps, burst, clock=clock))
        self._rate_limiter = rate_limiter
        self._cond = threading.Condition(threading.Lock())
        self._queue = deque()
        self._dirty = set()
        self._processing = set()
        self._waiting = {}
        self._heap = []
        self._sequence = itertools.count()
        self._shutting_down = False

    # -- adding ---------------------------------------------------------------

    def add(self, key: K) -> None:
        """Mark ``key`` as needing processing. A key already waiting is not
        queued twice; a key being processed is queued again when it is done."""
        if key is None:
            raise ValueError("a work queue key cannot be None")
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._cond.notify()

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` once ``delay`` seconds of the queue's clock have passed.
        A key already waiting keeps the earlier of its two ready times."""
        if key is None:
            raise ValueError("a work queue key cannot be None")
        with self._cond:
            if self._shutting_down:
                return
            if delay <= 0:
                self._add_locked(key)
                return
            ready_at = self._clock.now() + delay
            previous = self._waiting.get(key)
            if previous is not None and previous <= ready_at:
                return
            self._waiting[key] = ready_at
            heapq.heappush(self._heap, (ready_at, next(self._sequence), key))
            # Blocked getters may now have an earlier deadline to wait for.
            self._cond.notify_all()

    def add_rate_limited(self, key: K) -> None:
        """Add ``key`` after the rate limiter's delay for it (a failed sync's retry)."""
        self.add_after(key, self._rate_limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset ``key``'s failure count (its sync succeeded). It does not
        remove the key from the queue."""
        self._rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """How many rate-limited retries ``key`` has had since it was last forgotten."""
        return self._rate_limiter.num_requeues(key)

    # -- taking ---------------------------------------------------------------

    def get(self, timeout: float | None = None) -> K | None:
        """The next key to process, blocking until there is one.

        Returns None when the queue is shut down and drained, or when
        ``timeout`` seconds of the queue's clock pass first (``timeout=0``
        polls). The caller must call :meth:`done` with the key afterwards.
        """
        with self._cond:
            deadline = None if timeout is None else self._clock.now() + timeout
            while True:
                self._promote_locked()
                if self._queue:
                    key = self._queue.popleft()
                    self._processing.add(key)
                    self._dirty.discard(key)
                    return key
                if self._shutting_down:
                    return None
                now = self._clock.now()
                if deadline is not None and now >= deadline:
                    return None
                # Sleep until the deadline or the next delayed key, whichever
                # comes first; None means until notified.
                wait = None if deadline is None else deadline - now
                if self._heap:
                    until_ready = self._heap[0][0] - now
                    if until_ready <= 0:
                        continue
                    wait = until_ready if wait is None else min(wait, until_ready)
                self._clock.wait(self._cond, wait)

    def _promote_locked(self) -> None:
        """Move delayed keys whose time has come into the queue."""
        if not self._heap or self._shutting_down:
            return
        now = self._clock.now()
        while self._heap and self._heap[0][0] <= now:
            ready_at, _, key = heapq.heappop(self._heap)
            if self._waiting.get(key) == ready_at:
                del self._waiting[key]
                self._add_locked(key)

    def done(self, key: K) -> None:
        """Mark ``key`` as processed; if it was added meanwhile, queue it again."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()
            elif not self._processing:
                self._cond.notify_all()  # for shut_down_with_drain

    # -- state and shutdown ---------------------------------------------------------

    def len(self) -> int:
        """Keys ready to hand out (not counting delayed or in-process keys)."""
        with self._cond:
            self._promote_locked()
            return len(self._queue)

    def __len__(self) -> int:
        return self.len()

    @property
    def shutting_down(self) -> bool:
        """True once :meth:`shut_down` was called."""
        with self._cond:
            return self._shutting_down

    def shut_down(self) -> None:
        """Ignore new keys, drop delayed ones, and wake every blocked getter."""
        with self._cond:
            self._shutting_down = True
            self._waiting.clear()
            self._heap.clear()
            self._cond.notify_all()

    def shut_down_with_drain(self, timeout: float | None = None) -> bool:
        """:meth:`shut_down`, then wait (on the queue's clock) until every
        handed-out key is done; returns False if ``timeout`` passed first.
        Workers must keep calling :meth:`get` so queued keys drain."""
        self.shut_down()
        with self._cond:
            deadline = None if timeout is None else self._clock.now() + timeout
            while self._processing or self._queue:
                remaining = None if deadline is None else deadline - self._clock.now()
                if remaining is not None and remaining <= 0:
                    return False
                self._clock.wait(self._cond, remaining)
            return True

    def __repr__(self) -> str:
        with self._cond:
            return (
                f"WorkQueue(name={self.name!r}, queued={len(self._queue)}, "
                f"processing={len(self._processing)}, waiting={len(self._waiting)})"
            )


# -- workers ----------------------------------------------------------------------------


def run_workers(
    queue: WorkQueue[K],
    n: int,
    sync: Callable[[K], None],
    *,
    on_error: Callable[[K, Exception], None] | None = None,
    stop_event: threading.Event | None = None,
    max_retries: int | None = None,
    name: str | None = None,
) -> list[threading.Thread]:
    """Start ``n`` daemon threads running the standard controller loop and
    return them (join them to wait for the workers to exit).

    Each worker: ``key = queue.get()``; ``sync(key)``; on success
    ``queue.forget(key)``; on an exception, log it, call ``on_error(key,
    exc)`` and ``queue.add_rate_limited(key)`` (or, once the key has been
    retried ``max_retries`` times, forget it and drop it with a log line);
    finally ``queue.done(key)``. Workers exit when the queue shuts down;
    setting ``stop_event`` shuts the queue down. Threads are named
    ``"<name>-worker-<i>"`` (``name`` defaults to the queue's name).
    """
    if n < 1:
        raise ValueError(f"run_workers needs at least one worker, not {n}")
    label = name or queue.name or "workqueue"
    threads = [
        threading.Thread(
            target=_worker_loop,
            args=(queue, sync, on_error, max_retries, label),
            name=f"{label}-worker-{i}",
            daemon=True,
        )
        for i in range(n)
    ]
    if stop_event is not None:
        threading.Thread(
            target=_shut_down_on_stop, args=(queue, stop_event), name=f"{label}-stopper", daemon=True
        ).start()
    for thread in threads:
        thread.start()
    return threads


def _shut_down_on_stop(queue: WorkQueue[K], stop_event: threading.Event) -> None:
    # Polls the queue too, so this thread also ends when someone else shuts it down.
    while not stop_event.wait(0.05):
        if queue.shutting_down:
            return
    queue.shut_down()


def _worker_loop(
    queue: WorkQueue[K],
    sync: Callable[[K], None],
    on_error: Callable[[K, Exception], None] | None,
    max_retries: int | None,
    label: str,
) -> None:
    worker_log = log.bind(queue=label)
    while (key := queue.get()) is not None:
        try:
            _process(queue, key, sync, on_error, max_retries, worker_log)
        finally:
            queue.done(key)


def _process(
    queue: WorkQueue[K],
    key: K,
    sync: Callable[[K], None],
    on_error: Callable[[K, Exception], None] | None,
    max_retries: int | None,
    worker_log: structlog.typing.FilteringBoundLogger,
) -> None:
    try:
        sync(key)
    except Exception as exc:  # noqa: BLE001 (any failure of a sync requeues the key, as client-go's workers do)
        retries = queue.num_requeues(key)
        if max_retries is not None and retries >= max_retries:
            worker_log.error("dropping key after repeated sync failures", key=str(key), retries=retries, exc_info=exc)
            queue.forget(key)
        else:
            worker_log.error("sync failed, requeuing with backoff", key=str(key), retries=retries, exc_info=exc)
            queue.add_rate_limited(key)
        if on_error is not None:
            try:
                on_error(key, exc)
            except Exception as hook_exc:  # noqa: BLE001 (a broken hook must not kill the worker)
                worker_log.error("on_error hook failed", key=str(key), exc_info=hook_exc)
    else:
        queue.forget(key)
