"""Test helpers that ship with kemu: real component processes on ipc paths in
a temporary directory, always stopped, even when the test fails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kemu.client import Client
from kemu.procs import Proc, spawn, wait_for

__all__ = ["ApiServerProcess", "running_apiserver"]


class ApiServerProcess:
    """A ``python -m apiserver`` on ipc sockets under ``root``."""

    def __init__(self, root: Path, *extra_args: str):
        self.root = root
        self.data_dir = root / "data"
        self.address = f"ipc://{root}/api.sock"
        self.watch_address = f"ipc://{root}/watch.sock"
        self.extra_args = list(extra_args)
        self.proc: Proc | None = None

    def start(self, timeout: float = 15.0) -> ApiServerProcess:
        self.proc = spawn(
            "apiserver",
            [
                "apiserver",
                "--data-dir", str(self.data_dir),
                "--listen", self.address,
                "--watch-listen", self.watch_address,
                *self.extra_args,
            ],
            self.root / "apiserver.log",
        )
        with Client(self.address, timeout=1.0) as probe:
            wait_for(lambda: probe.ping(timeout=0.5), timeout, message="the apiserver to answer ping")
        return self

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(grace=5)

    def log(self) -> str:
        try:
            return (self.root / "apiserver.log").read_text()
        except FileNotFoundError:
            return ""


@contextmanager
def running_apiserver(root: Path, *extra_args: str) -> Iterator[ApiServerProcess]:
    server = ApiServerProcess(root, *extra_args).start()
    try:
        yield server
    finally:
        server.stop()
        server.kill()


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` in the process tree (children,
    grandchildren ...), read from /proc."""
    import os

    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out
