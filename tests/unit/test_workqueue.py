"""Tests for kemu.workqueue: client-go's work queue guarantees, driven by a FakeClock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

from kemu.clock import FakeClock
from kemu.workqueue import (
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    TokenBucketRateLimiter,
    WorkQueue,
    run_workers,
)

pytestmark = pytest.mark.timeout(10)


def _in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(target()), daemon=True)
    thread.start()
    return thread, results


def _eventually(predicate: Callable[[], bool], timeout: float = 1.0) -> bool:
    """Poll ``predicate`` in real time for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


class TestQueue:
    def test_fifo(self) -> None:
        """Keys come out in the order they went in."""
        queue: WorkQueue[str] = WorkQueue()
        for key in ("a", "b", "c"):
            queue.add(key)
        assert [queue.get(timeout=0) for _ in range(3)] == ["a", "b", "c"]

    def test_dedup_while_queued(self) -> None:
        """A key added twice before a worker takes it is handed out once."""
        queue: WorkQueue[str] = WorkQueue()
        queue.add("default/web")
        queue.add("default/web")
        assert len(queue) == 1
        assert queue.get(timeout=0) == "default/web"
        assert queue.get(timeout=0) is None

    def test_no_second_worker_while_processing(self) -> None:
        """A key being processed is not handed out again until it is done."""
        queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
        queue.add("a")
        assert queue.get(timeout=0) == "a"
        queue.add("a")
        assert queue.get(timeout=0) is None
        assert len(queue) == 0

    def test_re_add_while_processing_is_requeued_on_done(self) -> None:
        """A key added while being processed is queued again by done()."""
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        assert queue.get(timeout=0) == "a"
        queue.add("a")
        queue.done("a")
        assert queue.get(timeout=0) == "a"

    def test_done_without_re_add_drops_the_key(self) -> None:
        """done() on a key nobody re-added leaves the queue empty."""
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        queue.done(queue.get(timeout=0) or "")
        assert queue.get(timeout=0) is None

    def test_concurrent_workers_never_share_a_key(self) -> None:
        """Under many adds and four workers, no key is ever processed twice at once."""
        queue: WorkQueue[int] = WorkQueue()
        active: set[int] = set()
        lock = threading.Lock()
        overlaps: list[int] = []
        processed: list[int] = []

        def sync(key: int) -> None:
            with lock:
                if key in active:
                    overlaps.append(key)
                active.add(key)
            threading.Event().wait(0.001)
            with lock:
                active.discard(key)
                processed.append(key)

        threads = run_workers(queue, 4, sync, name="overlap")
        for i in range(200):
            queue.add(i % 5)
        queue.shut_down_with_drain(timeout=None)
        for thread in threads:
            thread.join(2)
        assert overlaps == []
        assert set(processed) == {0, 1, 2, 3, 4}

    def test_get_timeout_on_fake_clock(self) -> None:
        """get(timeout) gives up when the queue's clock passes the timeout."""
        clock = FakeClock()
        queue: WorkQueue[str] = WorkQueue(clock=clock)
        thread, results = _in_thread(lambda: queue.get(timeout=5))
        assert clock.block_until_waiters(1)
        clock.step(5)
        thread.join(1)
        assert results == [None]

    def test_get_wakes_on_add(self) -> None:
        """A getter blocked on an empty queue wakes when a key is added."""
        clock = FakeClock()
        queue: WorkQueue[str] = WorkQueue(clock=clock)
        thread, results = _in_thread(queue.get)
        assert clock.block_until_waiters(1)
        queue.add("a")
        thread.join(1)
        assert results == ["a"]

    def test_none_key_is_refused(self) -> None:
        """None is reserved for "nothing to hand out"."""
        with pytest.raises(ValueError, match="cannot be None"):
            WorkQueue().add(None)


class TestShutdown:
    def test_shutdown_wakes_blocked_getters(self) -> None:
        """Every getter blocked on an empty queue returns None on shut_down()."""
        clock = FakeClock()
        queue: WorkQueue[str] = WorkQueue(clock=clock)
        getters = [_in_thread(queue.get) for _ in range(3)]
        assert clock.block_until_waiters(3)
        queue.shut_down()
        for thread, results in getters:
            thread.join(1)
            assert results == [None]

    def test_queued_keys_drain_after_shutdown(self) -> None:
        """Keys queued before shut_down() are still handed out, then get() returns None."""
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        queue.shut_down()
        assert queue.get() == "a"
        assert queue.get() is None

    def test_adds_after_shutdown_are_ignored(self) -> None:
        """A shut-down queue takes no new keys, delayed or not."""
        queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
        queue.shut_down()
        queue.add("a")
        queue.add_after("b", 1)
        assert queue.get() is None
        assert queue.shutting_down is True

    def test_shutdown_with_drain_waits_for_done(self) -> None:
        """shut_down_with_drain() returns once the key in process is done."""
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        key = queue.get()
        thread, results = _in_thread(lambda: queue.shut_down_with_drain(timeout=2))
        assert not thread.join(0.05) and thread.is_alive()
        queue.done(key or "")
        thread.join(1)
        assert results == [True]


class TestDelays:
    def test_add_after_waits_for_the_clock(self) -> None:
        """A delayed key appears only once the fake clock passes its delay."""
        clock = FakeClock()
        queue: WorkQueue[str] = WorkQueue(clock=clock)
        queue.add_after("a", 1.0)
        assert queue.get(timeout=0) is None
        clock.step(0.999)
        assert len(queue) == 0
        clock.step(0.001)
        assert queue.get(timeout=0) == "a"

    def test_blocked_getter_wakes_when_clock_steps(self) -> None:
        """A getter waiting for a delayed key is woken by clock.step()."""
        clock = FakeClock()
        queue: WorkQueue[str] = WorkQueue(clock=clock)
        queue.add_after("a", 2.0)
        thread, results = _in_thread(queue.get)
        assert clock.block_until_waiters(1)
        clock.step(2.0)
        thread.join(1)
        assert results == ["a"]

    def test_add_after_new_deadline_reaches_blocked_getter(self) -> None:
        """A getter already waiting learns about a delayed key added later."""
        clock = FakeClock()
        queue: WorkQueue[str] = WorkQueue(clock=clock)
        thread, results = _in_thread(queue.get)
        assert clock.block_until_waiters(1)
        queue.add_after("a", 1.0)
        clock.step(1.0)
        thread.join(1)
        assert results == ["a"]

    def test_delayed_keys_come_out_in_ready_order(self) -> None:
        """Delayed keys are handed out in order of their ready times."""
        clock = FakeClock()
        queue: WorkQueue[str] = WorkQueue(clock=clock)
        queue.add_after("late", 3)
        queue.add_after("early", 1)
        clock.step(3)
        assert [queue.get(timeout=0), queue.get(timeout=0)] == ["early", "late"]

    def test_waiting_key_keeps_earlier_time(self) -> None:
        """Adding a waiting key again keeps the earlier of its two ready times."""
        clock = FakeClock()
        queue: WorkQueue[str] = WorkQueue(clock=clock)
        queue.add_after("a", 5)
        queue.add_after("a", 1)
        queue.add_after("a", 10)
        clock.step(1)
        assert queue.get(timeout=0) == "a"
        queue.done("a")
        clock.step(10)
        assert queue.get(timeout=0) is None

    def test_non_positive_delay_adds_now(self) -> None:
        """add_after with no delay is add."""
        queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
        queue.add_after("a", 0)
        assert queue.get(timeout=0) == "a"


class TestRateLimiting:
    @pytest.mark.parametrize(
        ("failures", "delay"),
        [(1, 0.005), (2, 0.010), (3, 0.020), (4, 0.040), (10, 2.56), (18, 655.36), (19, 1000.0), (40, 1000.0)],
    )
    def test_exponential_backoff(self, failures: int, delay: float) -> None:
        """Waits double from 5 ms and stop at 1000 s, as client-go's default."""
        limiter = ItemExponentialFailureRateLimiter()
        delays = [limiter.when("key") for _ in range(failures)]
        assert delays[-1] == pytest.approx(delay)

    def test_backoff_is_per_key(self) -> None:
        """One key's failures do not slow another key."""
        limiter = ItemExponentialFailureRateLimiter(0.1, 10)
        limiter.when("a")
        limiter.when("a")
        assert limiter.when("b") == pytest.approx(0.1)

    def test_configurable_base_and_cap(self) -> None:
        """Base and cap are parameters."""
        limiter = ItemExponentialFailureRateLimiter(1.0, 3.0)
        assert [limiter.when("k") for _ in range(4)] == [1.0, 2.0, 3.0, 3.0]

    def test_huge_failure_count_is_capped(self) -> None:
        """A key that failed thousands of times waits the cap, without overflow."""
        limiter = ItemExponentialFailureRateLimiter()
        for _ in range(2000):
            delay = limiter.when("k")
        assert delay == 1000.0

    def test_forget_resets(self) -> None:
        """forget() restarts the backoff and the requeue count."""
        queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
        for _ in range(3):
            queue.add_rate_limited("a")
        assert queue.num_requeues("a") == 3
        queue.forget("a")
        assert queue.num_requeues("a") == 0

    def test_add_rate_limited_uses_backoff_delay(self) -> None:
        """The first retry waits 5 ms, the second 10 ms, on the queue's clock."""
        clock = FakeClock()
        queue: WorkQueue[str] = WorkQueue(clock=clock)
        queue.add_rate_limited("a")
        clock.step(0.004)
        assert queue.get(timeout=0) is None
        clock.step(0.001)
        assert queue.get(timeout=0) == "a"
        queue.done("a")
        queue.add_rate_limited("a")
        clock.step(0.009)
        assert queue.get(timeout=0) is None
        clock.step(0.001)
        assert queue.get(timeout=0) == "a"

    def test_token_bucket(self) -> None:
        """After the burst, retries are spaced at 1/qps and the bucket refills with time."""
        clock = FakeClock()
        bucket = TokenBucketRateLimiter(qps=10, burst=2, clock=clock)
        assert [bucket.when("x") for _ in range(4)] == pytest.approx([0.0, 0.0, 0.1, 0.2])
        clock.step(1.0)
        assert bucket.when("x") == 0.0

    def test_max_of(self) -> None:
        """The combined limiter waits as long as the slowest of its parts."""
        clock = FakeClock()
        limiter = MaxOfRateLimiter(
            ItemExponentialFailureRateLimiter(), TokenBucketRateLimiter(qps=1, burst=1, clock=clock)
        )
        assert limiter.when("a") == pytest.approx(0.005)
        assert limiter.when("b") == pytest.approx(1.0)
        assert limiter.num_requeues("a") == 1

    def test_queue_with_qps_combines_limiters(self) -> None:
        """Passing qps to the queue adds the token bucket to per-key backoff."""
        clock = FakeClock()
        queue: WorkQueue[str] = WorkQueue(clock=clock, qps=1, burst=1)
        queue.add_rate_limited("a")
        queue.add_rate_limited("b")
        clock.step(0.005)
        assert queue.get(timeout=0) == "a"
        assert queue.get(timeout=0) is None
        clock.step(1.0)
        assert queue.get(timeout=0) == "b"


class TestRunWorkers:
    def test_success_forgets_and_failure_requeues(self) -> None:
        """sync errors are retried with backoff and logged; success forgets the key."""
        clock = FakeClock()
        queue: WorkQueue[str] = WorkQueue("demo", clock=clock)
        attempts: list[str] = []
        succeeded = threading.Event()
        errors: list[tuple[str, str]] = []

        def sync(key: str) -> None:
            attempts.append(key)
            if len(attempts) < 3:
                raise RuntimeError("apiserver unavailable")
            succeeded.set()

        with capture_logs() as logs:
            threads = run_workers(queue, 1, sync, on_error=lambda k, e: errors.append((k, str(e))))
            queue.add("default/web")
            for failures, backoff in ((1, 0.005), (2, 0.010)):
                assert _eventually(lambda n=failures: queue.num_requeues("default/web") == n)
                clock.step(backoff)
            assert succeeded.wait(1)
            queue.shut_down()
            for thread in threads:
                thread.join(1)
        assert attempts == ["default/web"] * 3
        assert queue.num_requeues("default/web") == 0
        assert errors == [("default/web", "apiserver unavailable")] * 2
        failures = [entry for entry in logs if entry["event"] == "sync failed, requeuing with backoff"]
        assert [(f["key"], f["retries"], f["queue"], f["log_level"]) for f in failures] == [
            ("default/web", 0, "demo", "error"),
            ("default/web", 1, "demo", "error"),
        ]

    def test_max_retries_drops_the_key(self) -> None:
        """After max_retries failed retries the key is forgotten and dropped."""
        clock = FakeClock()
        queue: WorkQueue[str] = WorkQueue(clock=clock)
        done = threading.Event()

        def sync(key: str) -> None:
            raise ValueError("bad object")

        with capture_logs() as logs:
            threads = run_workers(queue, 1, sync, max_retries=0, on_error=lambda k, e: done.set())
            queue.add("a")
            assert done.wait(1)
            queue.shut_down()
            for thread in threads:
                thread.join(1)
        assert queue.num_requeues("a") == 0
        assert [entry["event"] for entry in logs] == ["dropping key after repeated sync failures"]

    def test_threads_are_named(self) -> None:
        """Worker threads carry the queue's name."""
        queue: WorkQueue[str] = WorkQueue("replicaset")
        threads = run_workers(queue, 2, lambda key: None)
        assert [t.name for t in threads] == ["replicaset-worker-0", "replicaset-worker-1"]
        queue.shut_down()
        for thread in threads:
            thread.join(1)

    def test_stop_event_shuts_the_queue_down(self) -> None:
        """Setting stop_event makes the workers exit."""
        queue: WorkQueue[str] = WorkQueue()
        stop = threading.Event()
        threads = run_workers(queue, 2, lambda key: None, stop_event=stop)
        stop.set()
        for thread in threads:
            thread.join(1)
            assert not thread.is_alive()
        assert queue.shutting_down is True

    def test_needs_a_worker(self) -> None:
        """Zero workers is a mistake."""
        with pytest.raises(ValueError, match="at least one worker"):
            run_workers(WorkQueue(), 0, lambda key: None)
