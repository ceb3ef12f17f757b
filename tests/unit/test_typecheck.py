"""The type checker runs with the tests: every package must pass mypy in strict mode
(configured in pyproject.toml; ``--strict`` is repeated here so the check cannot be
relaxed there without this test saying so)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["kemu", "apiserver", "scheduler", "controllermanager", "kubelet", "kubeproxy", "clusterdns"]


@pytest.mark.timeout(600)
def test_mypy_is_clean() -> None:
    """mypy --strict finds no type errors in kemu's packages."""
    if shutil.which("mypy") is None and not (Path(sys.executable).parent / "mypy").exists():
        pytest.skip("mypy is not installed (it is in the test extra: pip install -e '.[test]')")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", *PACKAGES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=580,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
