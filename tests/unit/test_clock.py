"""Tests for kemu.clock: the fake clock's waiting rules and the timestamp formats."""

from __future__ import annotations

import threading
import time

import pytest

from kemu.clock import REAL_CLOCK, Clock, FakeClock, RealClock, parse_rfc3339, rfc3339, rfc3339_micro

pytestmark = pytest.mark.timeout(10)


def _start(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


class TestRealClock:
    def test_satisfies_protocol(self) -> None:
        """RealClock and FakeClock both implement the Clock protocol."""
        assert isinstance(REAL_CLOCK, Clock)
        assert isinstance(FakeClock(), Clock)

    def test_now_is_monotonic_and_wall_is_epoch(self) -> None:
        """now() reads time.monotonic and wall() reads time.time."""
        clock = RealClock()
        assert abs(clock.now() - time.monotonic()) < 1.0
        assert abs(clock.wall() - time.time()) < 1.0

    def test_wait_with_zero_timeout_returns_false_at_once(self) -> None:
        """A zero timeout does not block and reports a timeout."""
        cond = threading.Condition()
        with cond:
            assert REAL_CLOCK.wait(cond, 0) is False


class TestFakeClock:
    def test_starts_where_told(self) -> None:
        """now() and wall() start at the given readings."""
        clock = FakeClock(5.0, wall_start=1000.0)
        assert clock.now() == 5.0
        assert clock.wall() == 1000.0

    def test_default_wall_start_is_fixed(self) -> None:
        """The default wall clock is a fixed, recognisable instant."""
        assert rfc3339(FakeClock().wall()) == "2026-11-25T19:13:48Z"

    def test_step_moves_both_readings(self) -> None:
        """step() advances monotonic and wall time together."""
        clock = FakeClock(0.0, wall_start=100.0)
        clock.step(2.5)
        assert clock.now() == 2.5
        assert clock.wall() == 102.5

    def test_step_backwards_is_refused(self) -> None:
        """A monotonic clock cannot go back."""
        with pytest.raises(ValueError, match="backwards"):
            FakeClock().step(-1)

    def test_set_wall_leaves_monotonic_alone(self) -> None:
        """set_wall() jumps the wall clock only."""
        clock = FakeClock(3.0)
        clock.set_wall(50.0)
        assert clock.wall() == 50.0
        assert clock.now() == 3.0

    def test_sleep_blocks_until_stepped_past_deadline(self) -> None:
        """A sleeping thread wakes only once time passes its deadline."""
        clock = FakeClock()
        woke = threading.Event()
        thread = _start(lambda: (clock.sleep(10), woke.set()))
        assert clock.block_until_waiters(1)
        clock.step(9)
        assert not woke.wait(0.05)
        clock.step(1)
        assert woke.wait(1)
        thread.join(1)

    def test_sleep_with_auto_advance_steps_the_clock(self) -> None:
        """With auto_advance, sleep() moves time itself and returns at once."""
        clock = FakeClock(auto_advance=True)
        clock.sleep(3)
        assert clock.now() == 3

    def test_sleep_of_zero_returns_at_once(self) -> None:
        """Sleeping for no time does not wait for a step."""
        FakeClock().sleep(0)

    def test_wait_wakes_on_notify(self) -> None:
        """A thread in wait() returns when its condition is notified."""
        clock = FakeClock()
        cond = threading.Condition()
        results: list[bool] = []

        def waiter() -> None:
            with cond:
                results.append(clock.wait(cond, None))

        thread = _start(waiter)
        assert clock.block_until_waiters(1)
        with cond:
            cond.notify_all()
        thread.join(1)
        assert results == [True]

    def test_wait_reports_timeout_after_step(self) -> None:
        """wait() returns False once a step carries time past its timeout."""
        clock = FakeClock()
        cond = threading.Condition()
        results: list[bool] = []

        def waiter() -> None:
            with cond:
                results.append(clock.wait(cond, 5))

        thread = _start(waiter)
        assert clock.block_until_waiters(1)
        clock.step(5)
        thread.join(1)
        assert results == [False]

    def test_waiters_counts_parked_threads(self) -> None:
        """waiters counts threads parked on the clock, and drops them when they wake."""
        clock = FakeClock()
        threads = [_start(clock.sleep, 1) for _ in range(3)]
        assert clock.block_until_waiters(3)
        assert clock.waiters == 3
        clock.step(1)
        for thread in threads:
            thread.join(1)
        assert clock.waiters == 0
        assert clock.has_waiters() is False

    def test_block_until_waiters_gives_up(self) -> None:
        """block_until_waiters() returns False after its real-time bound."""
        assert FakeClock().block_until_waiters(1, timeout=0.01) is False


class TestTimestamps:
    @pytest.mark.parametrize(
        ("ts", "text"),
        [
            (0, "1970-01-01T00:00:00Z"),
            (1795634028, "2026-11-25T19:13:48Z"),
            (1795634028.999, "2026-11-25T19:13:48Z"),
        ],
    )
    def test_rfc3339_whole_seconds(self, ts: float, text: str) -> None:
        """metav1.Time drops the fraction of a second."""
        assert rfc3339(ts) == text

    @pytest.mark.parametrize(
        ("ts", "text"),
        [
            (0, "1970-01-01T00:00:00.000000Z"),
            (1795634028.123456, "2026-11-25T19:13:48.123456Z"),
        ],
    )
    def test_rfc3339_micro(self, ts: float, text: str) -> None:
        """metav1.MicroTime keeps six fractional digits."""
        assert rfc3339_micro(ts) == text

    def test_rfc3339_defaults_to_now(self) -> None:
        """Without an argument the current wall time is formatted."""
        assert abs(parse_rfc3339(rfc3339()) - time.time()) < 2

    @pytest.mark.parametrize(
        ("text", "ts"),
        [
            ("2026-11-25T19:13:48Z", 1795634028.0),
            ("2026-11-25T19:13:48.5Z", 1795634028.5),
            ("2026-11-25T19:13:48.123456Z", 1795634028.123456),
            ("2026-11-25T19:13:48.123456789Z", 1795634028.123456789),
            ("2026-11-25T20:13:48+01:00", 1795634028.0),
            ("2026-11-25T18:13:48-01:00", 1795634028.0),
        ],
    )
    def test_parse_rfc3339(self, text: str, ts: float) -> None:
        """Both formats parse, with any fraction and any offset."""
        assert parse_rfc3339(text) == pytest.approx(ts, abs=1e-6)

    @pytest.mark.parametrize(
        "text",
        ["", "yesterday", "2026-11-25", "2026-13-25T19:13:48Z", "2026-11-25T19:13:48", "2026-11-25t19:13:48z"],
    )
    def test_parse_rfc3339_rejects_garbage(self, text: str) -> None:
        """Text that Go's time.Parse(time.RFC3339) refuses (lower-case 't'/'z' included) raises ValueError."""
        with pytest.raises(ValueError, match=f'^parsing time "{text}"'):
            parse_rfc3339(text)

    def test_micro_round_trips(self) -> None:
        """Formatting a parsed MicroTime gives the same text back."""
        text = "2026-11-25T19:13:48.000001Z"
        assert rfc3339_micro(parse_rfc3339(text)) == text
