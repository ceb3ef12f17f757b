"""Shared fixtures: a real apiserver process per test (ipc sockets in a
temporary directory), and a client for it. Every process is stopped in the
fixture's teardown, whatever the test did."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kemu.client import Client
from kemu.testing import ApiServerProcess


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short temporary directory (ipc:// paths are limited to ~100 bytes)."""
    with tempfile.TemporaryDirectory(prefix="kemu-") as d:
        yield Path(d)


@pytest.fixture
def apiserver(short_tmp: Path) -> Iterator[ApiServerProcess]:
    server = ApiServerProcess(short_tmp)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.kill()


@pytest.fixture
def client(apiserver: ApiServerProcess) -> Iterator[Client]:
    with Client(apiserver.address, timeout=10.0) as c:
        yield c
