"""The layers of the house hold by contract, not by discipline: import-linter
checks the contracts in pyproject.toml ([tool.importlinter]) with the tests.

- the components never import each other (they meet only on the wire);
- kemu.api never imports the CLI or the launcher;
- the shared library never imports a component;
- only kemu.wire speaks msgpack, and only the modules that own a ZeroMQ
  socket import zmq (each is named in the contract).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_import_contracts_hold() -> None:
    tool = Path(sys.executable).parent / "lint-imports"
    if not tool.exists() and shutil.which("lint-imports") is None:
        pytest.skip("import-linter is not installed (it is in the test extra: pip install -e '.[test]')")
    result = subprocess.run([str(tool) if tool.exists() else "lint-imports", "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
