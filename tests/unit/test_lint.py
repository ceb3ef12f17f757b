"""ruff runs with the tests: the rules in pyproject.toml ([tool.ruff]) hold for
the whole tree, tests and benchmarks included."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_ruff_finds_nothing() -> None:
    tool = Path(sys.executable).parent / "ruff"
    if not tool.exists() and shutil.which("ruff") is None:
        pytest.skip("ruff is not installed (it is in the test extra: pip install -e '.[test]')")
    result = subprocess.run([str(tool) if tool.exists() else "ruff", "check", "--no-cache", "."], cwd=ROOT,
                            capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
