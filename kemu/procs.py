"""Starting and stopping component processes (the launcher's and the tests').

A :class:`Proc` is one component process (``python -m kubelet --node node-1``)
with its output appended to a log file. Stopping is always the same ladder:
SIGTERM, wait the grace, SIGKILL, reap; every step bounded in time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Proc", "spawn", "pid_alive", "wait_for"]


@dataclass
class Proc:
    """A running component."""

    name: str
    """``apiserver``, ``kubelet-node-1`` ..."""
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.popen is not None
            try:
                os.kill(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace``; returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                try:
                    self.popen.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        return self.popen.poll()

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.popen is not None and self.popen.poll() is None:
            self.signal(signal.SIGKILL)
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                pass


def spawn(
    name: str,
    module_args: list[str],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    new_session: bool = False,
) -> Proc:
    """Start ``python -m <module_args...>`` with output appended to ``log_path``.

    ``new_session`` detaches it from the terminal's process group (``kemu up -d``),
    so Ctrl-C in that terminal does not reach it.
    """
    argv = [sys.executable, "-m", *module_args]
    full_env = dict(os.environ)
    full_env.setdefault("KEMU_LOG_FORMAT", "json")
    full_env["PYTHONUNBUFFERED"] = "1"
    full_env.update(env or {})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=new_session,
            close_fds=True,
        )
    return Proc(name=name, argv=argv, log_path=log_path, popen=popen, env=env or {})


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_for(predicate, timeout: float, interval: float = 0.05, message: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` passes
    (then raise ``TimeoutError`` naming ``message``). Exceptions from the
    predicate count as "not yet"; the last one is chained."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 (not ready yet, whatever the predicate raised)
            last_exc = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {message}") from last_exc
        time.sleep(interval)
