"""The processes behind containers: shims, their fork server, and /proc.

Everything here is about OS processes and nothing about Kubernetes: the
*zygote* (one long-lived ``shim.py zygote`` that forks a shim per container
in about a millisecond), the :class:`ForkedShim` handle on a shim that is
not our child, reading a shim's start report, and the /proc arithmetic that
tells a live process from a reused pid (start times) and finds and kills
what is left of a container's session. Kept apart from the runtime so the
liveness rules are written once -- the container handle, the stale-container
sweep and exec all use them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "KILL_WAIT",
    "PYTHON_FLAGS",
    "SHIM_PATH",
    "START_TIMEOUT",
    "ForkedShim",
    "Zygote",
    "alive",
    "kill_session",
    "kill_stale",
    "proc_start_ticks",
    "read_report",
    "run_probe",
    "session_members",
]

SHIM_PATH = Path(__file__).with_name("shim.py")
PYTHON_FLAGS = ("-I", "-S")  # stdlib only: fast start, immune to the kubelet's env
START_TIMEOUT = 15.0
KILL_WAIT = 5.0


def proc_start_ticks(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    return int(fields[19]) if fields[0] != b"Z" else None


def alive(pid: int, start_ticks: int | None) -> bool:
    """``pid`` is a live (non-zombie) process started at ``start_ticks``."""
    ticks = proc_start_ticks(pid)
    return ticks is not None and (start_ticks is None or ticks == start_ticks)


def session_members(sid: int, started_after: int | None) -> list[int]:
    """Live processes of the container whose main process was ``sid``: members
    of that session started no earlier than the container.

    Empty when ``sid`` now names an unrelated live process (pid reuse): its
    session is not ours to kill.
    """
    leader = proc_start_ticks(sid)
    if leader is not None and started_after is not None and leader != started_after:
        return []
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2 :].split()
        if int(fields[3]) != sid or fields[0] == b"Z":
            continue
        if started_after is None or int(fields[19]) >= started_after:
            members.append(int(name))
    return members


def kill_session(sid: int, started_after: int | None) -> None:
    """SIGKILL what is left of a container whose shim is gone (bounded)."""
    for _ in range(50):
        members = session_members(sid, started_after)
        if not members:
            return
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


class ForkedShim:
    """A shim forked by the zygote, with the part of ``subprocess.Popen``'s
    interface the handle uses. It is not our child (the zygote is its
    parent, and the kernel reaps it), so liveness is read from /proc, with
    the process start time guarding against pid reuse; its exit code is not
    known (the container's is, from ``status.json``)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._start = proc_start_ticks(pid)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not alive(self.pid, self._start):
            self.returncode = 0
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"shim {self.pid}", timeout or 0.0)
            time.sleep(0.01)
        return 0

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """The runtime's fork server for shims (see ``shim.zygote``): one
    long-lived ``shim.py zygote`` process, started on first use and again if
    it died; requests are serialised by a lock (each takes about a
    millisecond)."""

    def __init__(self, lifeline_r: int, log_path: Path) -> None:
        self._lifeline_r = lifeline_r
        self._log_path = log_path
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            with open(self._log_path, "ab") as log:
                self._proc = subprocess.Popen(
                    [sys.executable, *PYTHON_FLAGS, str(SHIM_PATH), "zygote"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    pass_fds=(self._lifeline_r,),
                    start_new_session=True,
                    close_fds=True,
                )
        return self._proc

    def spawn(self, config: Path, report_fifo: Path, log: Path) -> ForkedShim:
        """Fork a shim for ``config``; raises ``OSError`` if the zygote fails."""
        request = json.dumps({"config": str(config), "report": str(report_fifo), "log": str(log)}) + "\n"
        with self._lock:
            for _attempt in (1, 2):
                proc = self._ensure()
                assert proc.stdin is not None and proc.stdout is not None
                try:
                    proc.stdin.write(request.encode())
                    proc.stdin.flush()
                    line = _readline_timeout(proc.stdout.fileno(), START_TIMEOUT)
                except OSError:
                    line = b""
                if line.strip().isdigit():
                    return ForkedShim(int(line))
                proc.kill()
                proc.wait(KILL_WAIT)
        raise OSError("the shim zygote did not answer")

    def close(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                assert self._proc.stdin is not None
                try:
                    self._proc.stdin.close()
                    self._proc.wait(KILL_WAIT)
                except (OSError, subprocess.TimeoutExpired):
                    self._proc.kill()
                    self._proc.wait(KILL_WAIT)


def _readline_timeout(fd: int, timeout: float) -> bytes:
    """One line from ``fd`` (a pipe), or what came before ``timeout``."""
    import selectors

    buf = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while not buf.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                break
            chunk = os.read(fd, 64)
            if not chunk:
                break
            buf += chunk
    return buf


def run_probe() -> bool:
    try:
        result = subprocess.run(
            [sys.executable, *PYTHON_FLAGS, str(SHIM_PATH), "probe"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def read_report(fd: int, popen: ForkedShim, state_dir: Path) -> dict[str, Any]:
    """The shim's one-line start report; bounded by ``START_TIMEOUT``. The
    FIFO is open read-write here (no EOF), so a shim that dies before
    reporting is noticed by polling it."""
    import selectors

    buf = b""
    deadline = time.monotonic() + START_TIMEOUT
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                popen.kill()
                popen.wait(KILL_WAIT)
                return {"error": "timed out waiting for the container to start"}
            if not sel.select(min(remaining, 0.05)):
                if popen.poll() is not None:
                    break
                continue
            try:
                buf += os.read(fd, 4096)
            except BlockingIOError:
                continue
    if not buf.strip():
        shim_log = (state_dir / "shim.log").read_text(errors="replace")[-2000:]
        return {"error": f"container shim exited during start: {shim_log.strip() or 'no report'}"}
    return dict(json.loads(buf.split(b"\n", 1)[0]))


def kill_stale(meta: Mapping[str, Any]) -> None:
    """Kill what an earlier kubelet's container left: ask its shim (if alive)
    to kill the tree, then SIGKILL the container's session and process group."""
    shim_pid, pid = meta.get("shim_pid"), meta.get("pid")
    if shim_pid and alive(shim_pid, meta.get("shim_start")):
        try:
            os.kill(shim_pid, signal.SIGUSR1)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + KILL_WAIT
        while alive(shim_pid, meta.get("shim_start")) and time.monotonic() < deadline:
            time.sleep(0.02)
        if alive(shim_pid, meta.get("shim_start")):
            os.kill(shim_pid, signal.SIGKILL)
    if pid and meta.get("pid_start") is not None:
        kill_session(pid, meta["pid_start"])
