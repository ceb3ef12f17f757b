"""``kemu ... | head``: a closed stdout ends kemu quietly (issue 22, point 8).

Each command runs as a real process whose stdout is a pipe with its reading
end already closed (what ``head`` leaves behind once it has its lines), so
every write, or the flush at exit, fails with EPIPE; kemu must exit with the
SIGPIPE status and print nothing on stderr: no traceback, no "Exception
ignored" line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kemu.cli.main import SIGPIPE_EXIT
from kemu.testing import ApiServerProcess

pytestmark = pytest.mark.timeout(60)

KEMU = [sys.executable, "-c", "from kemu.cli.main import main; main()"]


def run_into_closed_pipe(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` with stdout a pipe nobody reads any more."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(argv, stdout=write_end, stderr=subprocess.PIPE, timeout=30, check=False,
                              env={**os.environ, **(env or {})})
    finally:
        os.close(write_end)


def assert_quiet(result: subprocess.CompletedProcess[bytes], code: int = SIGPIPE_EXIT) -> None:
    assert result.stderr.decode() == ""
    assert result.returncode == code


class TestClosedStdout:
    def test_help_flushed_at_exit(self) -> None:
        """Help, printed by click before any kemu command runs, ends quietly too (click's own EPIPE
        handling: status 1)."""
        assert_quiet(run_into_closed_pipe([*KEMU, "--help"]), code=1)

    def test_small_output_flushed_at_exit(self, tmp_path: Path) -> None:
        """Output small enough to sit in the buffer until exit fails quietly at the final flush."""
        (tmp_path / "cluster.json").write_text(json.dumps(
            {"server": "ipc:///nowhere", "data_dir": str(tmp_path), "pids": {"apiserver": os.getpid()},
             "nodes": {}, "spec": {}}))
        assert_quiet(run_into_closed_pipe([*KEMU, "node", "list", "--data-dir", str(tmp_path)]))

    def test_node_list(self, tmp_path: Path) -> None:
        """`kemu node list | head`, the command of the issue, with a recorded cluster."""
        pids = {f"kubelet-node-{i}": os.getpid() for i in range(1, 4)}
        (tmp_path / "cluster.json").write_text(json.dumps(
            {"server": "ipc:///nowhere", "data_dir": str(tmp_path), "pids": pids, "nodes": {}, "spec": {}}))
        assert_quiet(run_into_closed_pipe([*KEMU, "node", "list", "--data-dir", str(tmp_path)]))

    def test_get_against_an_apiserver(self, apiserver: ApiServerProcess) -> None:
        """`kemu get namespaces` into a closed pipe, against a real apiserver."""
        assert_quiet(run_into_closed_pipe([*KEMU, "--server", apiserver.address, "get", "namespaces"]))

    def test_output_larger_than_the_buffer(self) -> None:
        """A write that fails in the middle of a command (output beyond the buffer) ends it quietly too."""
        program = (
            "import click\n"
            "from kemu.cli import main\n"
            "@click.command('many')\n"
            "def many() -> None:\n"
            "    for i in range(200_000):\n"
            "        click.echo(f'line {i}')\n"
            "main.cli.add_command(many)\n"
            "main.main()\n"
        )
        assert_quiet(run_into_closed_pipe([sys.executable, "-c", program, "many"]))

    def test_real_head(self) -> None:
        """`kemu --help | head -1` through a shell prints one line and no error."""
        command = " ".join(f"'{a}'" for a in KEMU) + " --help | head -1"
        result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, timeout=30,
                                check=False)
        assert result.stdout.decode().count("\n") == 1
        assert result.stderr.decode() == ""
