"""kemu.journal: the components' log files as one timeline (out-of-order
lines across files come out sorted, a torn last line waits, filters)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kemu.journal import Filter, Tail, parse_since, render, timeline

pytestmark = pytest.mark.timeout(60)


def line(ts: str, event: str, **fields: Any) -> str:
    return json.dumps({"event": event, "component": fields.pop("component", "kubelet"), "level": fields.pop("level", "info"),
                       "ts": f"2026-12-04T22:{ts}Z", **fields})


def write(path: Path, *lines: str, torn: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write("".join(f"{x}\n" for x in lines) + torn)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    d = tmp_path / "logs"
    # Events of one pod across three processes, the files' orders interleaved.
    write(d / "apiserver.log", line("00:01.000001", "created", component="apiserver", key="default/web"),
          line("00:04.000000", "updated", component="apiserver", key="default/web"))
    write(d / "scheduler.log", line("00:02.500000", "bound", component="scheduler", key="default/web"),
          line("00:02.400000", "queued", component="scheduler", key="default/other"))
    write(d / "kubelet-node-2.log", line("00:03.000000", "heartbeat failed", node="node-2", level="warning",
                                          error="connection refused"),
          line("00:03.200000", "container started", node="node-2", key="default/web"),
          torn='{"event": "container exi')
    return d


class TestTimeline:
    def test_lines_of_every_file_come_out_in_time_order(self, logs: Path) -> None:
        """Sorted by ts across files, whatever order each file has."""
        events = [r.event["event"] for r in timeline(logs) if r.event]
        assert events == ["created", "queued", "bound", "heartbeat failed", "container started", "updated"]

    def test_a_torn_last_line_is_skipped_then_read_whole(self, logs: Path) -> None:
        """A half-written line is not printed; once finished, the next read has it."""
        tail = Tail(logs)
        assert len(tail.read()) == 6
        with open(logs / "kubelet-node-2.log", "a") as f:
            f.write('ted", "level": "info", "ts": "2026-12-04T22:00:05.000000Z", "key": "default/web"}\n')
        later = tail.read()
        assert [r.event["event"] for r in later if r.event] == ["container exited"]

    def test_a_line_that_is_not_json_keeps_its_place(self, logs: Path) -> None:
        """A traceback line follows the line before it in its file."""
        write(logs / "scheduler.log", "Traceback (most recent call last):")
        records = timeline(logs, Filter(components=("scheduler",)))
        lines = [r.event["event"] if r.event else r.line for r in records]
        assert lines == ["queued", "Traceback (most recent call last):", "bound"]  # right after the file's last line
        assert records[1].ts == "2026-12-04T22:00:02.400000Z"

    def test_key_filter(self, logs: Path) -> None:
        """--key keeps one object's story, from every process."""
        records = timeline(logs, Filter(keys=("default/web",)))
        assert [(r.source, r.event["event"]) for r in records if r.event] == [
            ("apiserver", "created"), ("scheduler", "bound"), ("kubelet-node-2", "container started"),
            ("apiserver", "updated")]

    def test_component_filter_takes_a_process_a_component_or_a_node(self, logs: Path) -> None:
        """kubelet-node-2, kubelet and node-2 all name the node's kubelet; apiserver names only itself."""
        write(logs / "scheduler.log", line("00:02.600000", "pod bound", component="scheduler", node="node-2"))
        for name in ("kubelet-node-2", "kubelet", "node-2"):
            assert {r.source for r in timeline(logs, Filter(components=(name,)))} == {"kubelet-node-2"}
        assert {r.source for r in timeline(logs, Filter(components=("apiserver", "scheduler")))} == {
            "apiserver", "scheduler"}

    def test_level_filter_keeps_that_level_and_above(self, logs: Path) -> None:
        """--level warning: the heartbeat failure only."""
        assert [r.event["event"] for r in timeline(logs, Filter(level="warning")) if r.event] == ["heartbeat failed"]

    def test_since_filter(self, logs: Path) -> None:
        """--since keeps lines at or after the moment."""
        since = datetime(2026, 12, 4, 22, 0, 3, tzinfo=UTC)
        assert [r.event["event"] for r in timeline(logs, Filter(since=since)) if r.event] == [
            "heartbeat failed", "container started", "updated"]


class TestParseSince:
    NOW = datetime(2026, 12, 4, 22, 30, 0, tzinfo=UTC)

    @pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("1.5s", 1.5),
                                                   ("250ms", 0.25)])
    def test_durations_count_back_from_now(self, text: str, seconds: float) -> None:
        """Go durations, as kubectl logs --since."""
        assert (self.NOW - parse_since(text, self.NOW)).total_seconds() == seconds

    def test_rfc3339_times(self) -> None:
        """A time with its offset, turned to UTC."""
        assert parse_since("2026-12-04T23:00:00+01:00", self.NOW) == datetime(2026, 12, 4, 22, 0, tzinfo=UTC)
        assert parse_since("2026-12-04T22:00:00Z", self.NOW) == datetime(2026, 12, 4, 22, 0, tzinfo=UTC)

    @pytest.mark.parametrize("text", ["", "5", "5x", "yesterday", "2026-12-04T22:00:00", "-5m", "5m garbage"])
    def test_anything_else_is_refused(self, text: str) -> None:
        """A clear error, never a guess."""
        with pytest.raises(ValueError, match="--since"):
            parse_since(text, self.NOW)


def test_render_text_and_json(logs: Path) -> None:
    """JSON as written for jq; text: time, level, process, event, fields."""
    record = timeline(logs, Filter(level="warning"))[0]
    assert json.loads(render(record, text=False))["error"] == "connection refused"
    assert render(record, text=True) == "22:00:03.000000 WARN kubelet-node-2         heartbeat failed error=connection refused"


class TestCommand:
    def test_journal_prints_the_merged_json_lines(self, logs: Path) -> None:
        """kemu journal --key ... -o json: the lines as written, in time order."""
        from kemu.cli.main import cli

        result = CliRunner().invoke(cli, ["journal", "--data-dir", str(logs.parent), "--key", "default/web",
                                          "-o", "json"])
        assert result.exit_code == 0, result.output
        assert [json.loads(x)["event"] for x in result.output.splitlines()] == [
            "created", "bound", "container started", "updated"]

    def test_bad_since_is_an_error_not_a_trace(self, logs: Path) -> None:
        """A kubectl-style error on stderr, exit code 1."""
        from kemu.cli.main import cli

        result = CliRunner().invoke(cli, ["journal", "--data-dir", str(logs.parent), "--since", "soon"])
        assert result.exit_code == 1
        assert 'error: invalid argument "soon" for "--since"' in result.output

    def test_no_logs_dir_is_an_error(self, tmp_path: Path) -> None:
        """No cluster there: say so."""
        from kemu.cli.main import cli

        result = CliRunner().invoke(cli, ["journal", "--data-dir", str(tmp_path / "none")])
        assert result.exit_code == 1 and "no cluster logs" in result.output
