"""Running commands inside a started container: exec probes and ``kubectl exec``.

An exec is a ``shim.py exec`` helper that joins the container's namespaces
(when it has them) and runs the command with the container's environment,
working directory and volume mapping, owning the command's process tree
(it kills the tree on SIGTERM and when the kubelet's lifeline closes). Two
shapes: :func:`run_exec` runs to completion and returns its output (probes,
non-interactive exec); :class:`ExecProcess` is a running command with a
terminal or pipes for a streaming session (:mod:`kubelet.streams`). Apart
from the runtime because it only needs a handle and the lifeline, and its
errors are containerd's exec wording, not the start path's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import NamedTuple

from kubelet.containers import ContainerHandle
from kubelet.mounts import host_view, substitute_paths
from kubelet.plan import DEFAULT_PATH, OCI_PREFIX, ContainerStartError, resolve_executable
from kubelet.processes import KILL_WAIT, PYTHON_FLAGS, SHIM_PATH
from kubelet.shim import ExecConfig

__all__ = [
    "ContainerExecError",
    "ContainerNotRunningError",
    "ExecProcess",
    "ExecResult",
    "ExecTimeoutError",
    "exec_config",
    "run_exec",
]


class ContainerNotRunningError(RuntimeError):
    """An exec into a container that has exited."""


class ContainerExecError(RuntimeError):
    """An exec that could not start (executable not found ...); the message is containerd's."""


class ExecTimeoutError(TimeoutError):
    """An exec that did not finish within its timeout; it was killed."""

    def __init__(self, timeout: float, stdout: bytes, stderr: bytes) -> None:
        super().__init__(f"command timed out after {timeout:g}s")
        self.timeout = timeout
        self.stdout = stdout
        self.stderr = stderr


class ExecResult(NamedTuple):
    """The outcome of :meth:`kubelet.runtime.ContainerRuntime.exec`."""

    exit_code: int
    stdout: bytes
    stderr: bytes


def exec_config(handle: ContainerHandle, argv: Sequence[str], lifeline_r: int) -> ExecConfig:
    """How to run ``argv`` in ``handle``'s environment (its env, working
    directory, volumes and namespaces); raises the exec errors above."""
    if not argv:
        raise ContainerExecError("OCI runtime exec failed: exec failed: no command specified: unknown")
    if handle.poll() is not None:
        raise ContainerNotRunningError(f'cannot exec in a stopped container "{handle.container_name}"')
    launch = handle.launch
    args = [substitute_paths(a, launch.subs) for a in argv] if launch.subs else list(argv)
    try:
        exe = resolve_executable(args[0], launch.env.get("PATH", DEFAULT_PATH), launch.cwd, host_view(launch.binds))
    except ContainerStartError as exc:
        detail = exc.message.removeprefix(OCI_PREFIX)
        raise ContainerExecError(
            f"OCI runtime exec failed: exec failed: unable to start container process: {detail}"
        ) from None
    return ExecConfig(
        exe=exe,
        argv=args,
        env=launch.env,
        cwd=launch.cwd,
        lifeline_fd=lifeline_r,
        kubelet_pid=os.getpid(),
        ns_pid=handle.pid if handle.isolated else None,
    )


def run_exec(cfg: ExecConfig, lifeline_r: int, timeout: float, stdin: bytes | None) -> ExecResult:
    proc = subprocess.Popen(
        [sys.executable, *PYTHON_FLAGS, str(SHIM_PATH), "exec", cfg.to_json()],
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(lifeline_r,),
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the helper kills the command's tree and exits
        try:
            out, err = proc.communicate(timeout=KILL_WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise ExecTimeoutError(timeout, out or b"", err or b"") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return ExecResult(proc.returncode, out, err)


class ExecProcess:
    """A command exec'd in a container for a streaming session (``shim.py
    exec`` owns its tree). The caller reads :attr:`stdout`/:attr:`stderr`
    and writes :attr:`stdin` (non-blocking fds it must close with
    :meth:`close`); with a TTY all three are the pseudo-terminal's master
    (``stderr`` is None) and :meth:`resize` sets its window size.
    :meth:`kill` ends the whole tree (the helper kills it on SIGTERM)."""

    def __init__(self, proc: subprocess.Popen[bytes], *, stdin: int | None, stdout: int, stderr: int | None,
                 tty: bool) -> None:
        self._proc = proc
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.tty = tty
        self.pid = proc.pid

    @classmethod
    def start(cls, cfg: ExecConfig, lifeline_r: int, *, tty: bool, stdin: bool) -> ExecProcess:
        argv = [sys.executable, *PYTHON_FLAGS, str(SHIM_PATH), "exec", cfg.to_json()]
        if tty:
            master, slave = os.openpty()
            try:
                proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, pass_fds=(lifeline_r,),
                                        start_new_session=True)
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            os.set_blocking(master, False)
            return cls(proc, stdin=master, stdout=master, stderr=None, tty=True)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, pass_fds=(lifeline_r,), start_new_session=True)
        fds = [os.dup(f.fileno()) if f is not None else None for f in (proc.stdin, proc.stdout, proc.stderr)]
        for f in (proc.stdin, proc.stdout, proc.stderr):
            if f is not None:
                f.close()
        for fd in fds:
            if fd is not None:
                os.set_blocking(fd, False)
        assert fds[1] is not None
        return cls(proc, stdin=fds[0], stdout=fds[1], stderr=fds[2], tty=False)

    def resize(self, width: int, height: int) -> None:
        """TIOCSWINSZ on the terminal (the kernel sends the foreground process
        group SIGWINCH); nothing without a TTY."""
        if not self.tty or width <= 0 or height <= 0:
            return
        import fcntl
        import struct
        import termios

        with contextlib.suppress(OSError):
            fcntl.ioctl(self.stdout, termios.TIOCSWINSZ, struct.pack("HHHH", min(height, 65535), min(width, 65535), 0, 0))

    def close_stdin(self) -> None:
        """EOF on the command's stdin: close the pipe; on a terminal, the EOF
        character (what ^D does), since closing the master hangs it up."""
        if self.stdin is None:
            return
        if self.tty:
            with contextlib.suppress(OSError):
                os.write(self.stdin, b"\x04")
            return
        with contextlib.suppress(OSError):
            os.close(self.stdin)
        self.stdin = None

    def poll(self) -> int | None:
        """The command's exit code once it ended (137 when it was killed)."""
        return self._proc.poll()

    def kill(self) -> int:
        """End the command's whole tree and return its exit code."""
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(KILL_WAIT)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(KILL_WAIT)
        return int(self._proc.returncode)

    def close(self) -> None:
        """Kill what still runs and close the fds."""
        self.kill()
        for fd in {self.stdin, self.stdout, self.stderr} - {None}:
            assert fd is not None
            with contextlib.suppress(OSError):
                os.close(fd)
        self.stdin = None
