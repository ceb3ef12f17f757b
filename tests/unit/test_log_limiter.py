"""The repeat limiter of kemu.log: a repeated warning is one line per window
and a count, never a lost distinct error (fake clock, no sleeping)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import pytest
import structlog

from kemu.log import RepeatLimiter

pytestmark = pytest.mark.timeout(60)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def warning(event: str = "heartbeat failed", **fields: Any) -> dict[str, Any]:
    return {"event": event, "level": "warning", "component": "kubelet", **fields}


class Harness:
    """A limiter and what it let through, in order (summaries included)."""

    def __init__(self, window: float = 10.0) -> None:
        self.clock = FakeClock()
        self.out: list[dict[str, Any]] = []
        self.limiter = RepeatLimiter(window, clock=self.clock, emit=lambda e: self.out.append(dict(e, summary=True)))

    def log(self, event: dict[str, Any]) -> None:
        try:
            self.out.append(self.limiter(None, "warning", dict(event)))
        except structlog.DropEvent:
            pass


class TestRepeatLimiter:
    def test_the_first_occurrence_passes_at_once(self) -> None:
        """A new warning is written immediately, with no count."""
        h = Harness()
        h.log(warning(error="connection refused"))
        assert h.out == [warning(error="connection refused")]

    def test_repeats_within_the_window_are_counted_then_reported(self) -> None:
        """33 repeats in 10 s are dropped; the next one after the window carries repeated=33."""
        h = Harness()
        for _ in range(35):  # at 0, 0.3 ... 9.9 (counted), 10.2 (written)
            h.log(warning(error="connection refused"))
            h.clock.now += 0.3
        assert len(h.out) == 2
        assert "repeated" not in h.out[0]
        assert h.out[1]["repeated"] == 33
        assert h.out[1]["event"] == "heartbeat failed"

    def test_a_different_error_text_is_a_different_line(self) -> None:
        """Errors are never swallowed: each distinct text is written the first time."""
        h = Harness()
        h.log(warning(error="connection refused"))
        h.log(warning(error="timed out"))
        h.log(warning(error="connection refused"))
        h.log({"event": "heartbeat failed", "level": "error", "component": "kubelet", "error": "connection refused"})
        assert [(e["level"], e["error"]) for e in h.out] == [
            ("warning", "connection refused"), ("warning", "timed out"), ("error", "connection refused")]

    def test_info_lines_are_never_limited(self) -> None:
        """The timeline (debug, info) passes whole."""
        h = Harness()
        for _ in range(5):
            h.log({"event": "pod synced", "level": "info", "key": "default/web"})
        assert len(h.out) == 5

    def test_a_repetition_that_stops_is_flushed_by_the_next_line(self) -> None:
        """Once the window is over, any later line first writes the pending count."""
        h = Harness()
        for _ in range(5):
            h.log(warning(error="connection refused"))
        h.clock.now += 11
        h.log({"event": "heartbeat recovered", "level": "info"})
        assert [e["event"] for e in h.out] == ["heartbeat failed", "heartbeat failed", "heartbeat recovered"]
        assert h.out[1]["summary"] and h.out[1]["repeated"] == 4

    def test_flush_writes_what_is_still_counted(self) -> None:
        """At exit, a count inside its window is written too."""
        h = Harness()
        for _ in range(3):
            h.log(warning(error="x"))
        h.limiter.flush()
        assert h.out[-1]["repeated"] == 2
        h.limiter.flush()
        assert len(h.out) == 2

    def test_a_new_window_starts_after_each_written_line(self) -> None:
        """A line repeated forever is written about once per window."""
        h = Harness()
        for _ in range(1000):  # 100 s at 10 Hz
            h.log(warning(error="connection refused"))
            h.clock.now += 0.1
        h.limiter.flush()
        assert 10 <= len(h.out) <= 12
        written = [e for e in h.out if not e.get("summary")]  # a summary stands for repeats only
        assert sum(e.get("repeated", 0) for e in h.out) + len(written) == 1000


def test_configured_process_writes_a_count_line() -> None:
    """Through kemu.log.configure, 200 identical warnings are two JSON lines, the second with repeated=199."""
    code = (
        "from kemu import log\n"
        "log.configure('kubelet', node='node-1', json=True)\n"
        "lg = log.get_logger(kind='Node', key='node-1')\n"
        "for _ in range(200):\n"
        "    lg.warning('heartbeat failed', error='connection refused')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in io.StringIO(result.stderr)]
    assert len(lines) == 2
    assert lines[0]["event"] == lines[1]["event"] == "heartbeat failed"
    assert "repeated" not in lines[0] and lines[1]["repeated"] == 199
    assert lines[1]["node"] == "node-1" and lines[1]["key"] == "node-1" and lines[1]["level"] == "warning"


def test_a_zero_window_writes_every_line() -> None:
    """KEMU_LOG_REPEAT_WINDOW=0 turns the limiter off (every repeat is written)."""
    import os

    code = (
        "from kemu import log\n"
        "log.configure('kubelet', json=True)\n"
        "for _ in range(5):\n"
        "    log.get_logger().warning('heartbeat failed', error='connection refused')\n"
    )
    env = dict(os.environ, KEMU_LOG_REPEAT_WINDOW="0")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode == 0, result.stderr
    assert len(result.stderr.splitlines()) == 5
