"""The kubelet's side of streaming sessions: interactive exec and attach.

The frames, windows and heartbeats are :mod:`kemu.kubeletstream`'s (its
docstring is the protocol). Here is what runs where.

- The server's ROUTER thread hands every stream message to
  :meth:`StreamSessions.dispatch`, which never blocks and never raises: an
  ``O`` (open) creates a :class:`_Session` and starts its thread; anything
  else goes to that session's inbox (a deque and a wake-up pipe). A message
  for an unknown session, or a malformed one, is answered with ``x`` and an
  error by the ROUTER thread itself; at most :data:`MAX_SESSIONS` run.
- Each session has one thread, which starts what it streams and then runs
  a ``selectors`` loop over its output fds, its stdin fd (while stdin is
  pending) and the wake-up pipe. It sends through the server's per-thread
  PUSH socket (``send``), which the ROUTER thread forwards.

  * **exec**: :meth:`~kubelet.runtime.ContainerRuntime.open_exec` (a
    pseudo-terminal with ``tty``, else pipes), in the container's
    namespaces as every exec. The session thread is the one that forked
    the helper, so the helper's parent-death signal is tied to the session.
  * **attach**: a connection to the container's shim (its abstract Unix
    socket, :data:`kubelet.shim.ATTACH_PREFIX`), which owns the main
    process's stdin and terminal and copies its output to every attached
    client as well as to the log.

- Output is read only while fewer than a window of bytes is unacked by the
  client; stdin beyond the client's window ends the session with an error.
- The session ends when the command ended and its output is drained (exec;
  ``x`` carries the exit code), the shim closed the connection (attach:
  the container exited), the client said ``c`` or was silent for
  :data:`~kemu.kubeletstream.SILENCE` seconds, or the kubelet stops. Ending
  kills the exec'd command's whole tree (the helper does it on SIGTERM),
  and closes every fd.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from kemu import wire
from kemu.api import errors
from kemu.kubeletstream import (
    ACK,
    CHUNK,
    CLIENT_TYPES,
    CLOSE,
    EXIT,
    HEARTBEAT,
    OPEN,
    PING,
    RESIZE,
    SILENCE,
    STARTED,
    STDERR,
    STDIN,
    STDOUT,
    WINDOW,
    StreamFrame,
)
from kubelet.pods import PodWorkers
from kubelet.runtime import ContainerExecError, ContainerNotRunningError, ContainerRuntime, ExecProcess
from kubelet.shim import ATTACH_PREFIX, AttachDecoder, attach_frame
from kemu.types import Obj

__all__ = ["MAX_SESSIONS", "StreamSessions"]

Send = Callable[[list[bytes]], None]

MAX_SESSIONS = 64
MAX_INBOX = 4096
"""Messages a session may have queued (stdin is bounded by its window besides)."""
_DRAIN_SECONDS = 2.0


def _exit_frames(identity: list[bytes], session: bytes, body: Obj) -> list[bytes]:
    return [*identity, *StreamFrame(session, EXIT, wire.pack(body)).encode()]


class StreamSessions:
    """Every streaming session of one kubelet; see the module doc."""

    def __init__(self, *, pods: PodWorkers, runtime: ContainerRuntime, send: Send, log: Any,
                 choose: Callable[[Obj, str | None], str], release: Callable[[], None] = lambda: None) -> None:
        self.pods = pods
        self.release = release
        """Called by a session's thread as it ends (frees its PUSH socket)."""
        self.runtime = runtime
        self._send = send
        self._choose = choose
        self.log = log.bind(subsystem="streams")
        self._sessions: dict[tuple[bytes, ...], _Session] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def dispatch(self, identity: list[bytes], frames: list[bytes]) -> list[bytes] | None:
        """Take one message (ROUTER thread): returns frames to send back at
        once (an error ``x``), or None."""
        try:
            frame = StreamFrame.decode(frames, CLIENT_TYPES)
        except wire.WireError as exc:
            sid = frames[1] if len(frames) > 1 and len(frames[1]) == 16 else None
            self.log.warning("malformed stream message", error=str(exc))
            return _exit_frames(identity, sid, {"error": errors.bad_request(str(exc)).status}) if sid else None
        key = (*identity, frame.session)
        with self._lock:
            session = self._sessions.get(key)
            if frame.type == OPEN:
                if session is not None:
                    return None  # a repeated open: the first one stands
                if len(self._sessions) >= MAX_SESSIONS or self._stopping.is_set():
                    status = errors.status_dict(429, "TooManyRequests",
                                                f"the kubelet runs at most {MAX_SESSIONS} exec/attach sessions")
                    return _exit_frames(identity, frame.session, {"error": status})
                session = _Session(self, identity, frame.session, frame.payload)
                self._sessions[key] = session
                session.start()
                return None
        if session is None:
            if frame.type in (CLOSE, ACK, PING):
                return None  # late messages of a session that ended: nothing to say
            return _exit_frames(identity, frame.session,
                                {"error": errors.not_found("stream session", frame.session.hex()).status})
        session.deliver(frame)
        return None

    def send(self, frames: list[bytes]) -> None:
        self._send(frames)

    def forget(self, session: _Session) -> None:
        with self._lock:
            self._sessions.pop(session.key, None)

    def stop(self) -> None:
        """End every session (their threads kill what they run)."""
        self._stopping.set()
        with self._lock:
            sessions = list(self._sessions.values())
        for s in sessions:
            s.end()
        for s in sessions:
            s.join(5.0)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)


class _Session:
    """One session's thread and state."""

    def __init__(self, owner: StreamSessions, identity: list[bytes], session: bytes, open_payload: bytes) -> None:
        self.owner = owner
        self.identity = identity
        self.session = session
        self.key = (*identity, session)
        self._open_payload = open_payload
        self._inbox: collections.deque[StreamFrame] = collections.deque()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"kubelet-stream-{session.hex()[:8]}", daemon=True)
        self.log = owner.log.bind(session=session.hex()[:12])
        # streaming state (session thread only)
        self._proc: ExecProcess | None = None
        self._attach: socket.socket | None = None
        self._decoder = AttachDecoder()
        self._stdin_fd: int | None = None
        self._stdin_pending = bytearray()
        self._stdin_marks: collections.deque[tuple[int, int]] = collections.deque()
        self._stdin_written = 0
        self._stdin_queued = 0
        self._stdin_close_pending = False
        self._stdin_closed = False
        self._out_unacked = 0
        self._readers: dict[int, bytes] = {}
        """Output fds still open -> the stream type (``1``/``2``, or ``A`` for the shim's socket)."""
        self._last_heard = time.monotonic()
        self._last_sent = 0.0
        self._tty = False
        self._want_stdin = False
        self._stdin_once_closed = False

    # -- ROUTER thread

    def start(self) -> None:
        self._thread.start()

    def deliver(self, frame: StreamFrame) -> None:
        if len(self._inbox) >= MAX_INBOX:
            self.end()
            return
        self._inbox.append(frame)
        self._wake()

    def end(self) -> None:
        self._ended.set()
        self._wake()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"!")

    # -- the session thread

    def _send(self, kind: bytes, payload: bytes = b"") -> None:
        self._last_sent = time.monotonic()
        self.owner.send([*self.identity, *StreamFrame(self.session, kind, payload).encode()])

    def _main(self) -> None:
        result: Obj = {"exitCode": 0}
        try:
            result = self._run()
        except errors.ApiError as exc:
            result = {"error": exc.status}
        except Exception as exc:  # never let a session take the kubelet down
            self.log.exception("stream session failed")
            result = {"error": errors.internal_error(f"{type(exc).__name__}: {exc}").status}
        finally:
            code = self._teardown()
            if "exitCode" in result and result.get("killed"):
                result = {"exitCode": code}
            result.pop("killed", None)
            with contextlib.suppress(Exception):
                self._send(EXIT, wire.pack(result))
            self.owner.forget(self)
            self.owner.release()
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.log.info("stream session ended", result=result)

    def _open(self) -> tuple[Obj, str]:
        try:
            spec = wire.unpack(self._open_payload)
        except wire.WireError as exc:
            raise errors.bad_request(str(exc)) from None
        if not isinstance(spec, dict):
            raise errors.bad_request("a stream open carries a map")
        namespace, name = spec.get("namespace") or "default", spec.get("pod")
        if not isinstance(namespace, str) or not isinstance(name, str) or not name:
            raise errors.bad_request("a stream open names a pod (namespace, pod)")
        command = spec.get("command") or []
        if not isinstance(command, list) or not all(isinstance(a, str) for a in command):
            raise errors.bad_request("command must be a list of strings")
        container = spec.get("container")
        rec = self.owner.pods.find(namespace, name)
        pod = (rec.pod or rec.last_seen) if rec is not None else None
        if rec is None or pod is None:
            raise errors.not_found("Pod", name)
        cname = self.owner._choose(pod, container if isinstance(container, str) else None)
        handle = rec.handles.get(cname)
        if handle is None or handle.poll() is not None or rec.terminating:
            raise errors.bad_request(f'container not found ("{cname}")')
        self._tty = bool(spec.get("tty"))
        self._want_stdin = bool(spec.get("stdin"))
        log = self.log.bind(kind="Pod", key=rec.key, uid=rec.uid, container=cname)
        if command:
            log.info("exec session", command=command, tty=self._tty, stdin=self._want_stdin)
            try:
                self._proc = self.owner.runtime.open_exec(handle, command, tty=self._tty, stdin=self._want_stdin)
            except ContainerNotRunningError:
                raise errors.bad_request(f'container not found ("{cname}")') from None
            except ContainerExecError as exc:
                raise errors.internal_error(
                    f"error executing command in container: failed to exec in container: {exc}") from None
            self._readers[self._proc.stdout] = STDOUT
            if self._proc.stderr is not None:
                self._readers[self._proc.stderr] = STDERR
            self._stdin_fd = self._proc.stdin if self._want_stdin else None
        else:
            log.info("attach session", tty=self._tty, stdin=self._want_stdin)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            try:
                sock.connect(ATTACH_PREFIX + handle.hex_id)
            except OSError as exc:
                sock.close()
                raise errors.internal_error(f"unable to attach to container {cname}: {exc}") from None
            sock.setblocking(False)
            self._attach = sock
            self._readers[sock.fileno()] = b"A"
            self._stdin_fd = sock.fileno()
            if not self._want_stdin:
                self._queue(attach_frame(b"D"))  # this client takes no stdin
        width, height = spec.get("width"), spec.get("height")
        if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
            self._resize(width, height)
        return spec, cname

    def _run(self) -> Obj:
        _spec, cname = self._open()
        self._send(STARTED, wire.pack({"container": cname}))
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ, None)
        exited_at: float | None = None
        try:
            while not self._ended.is_set():
                self._sync_selector(sel)
                for key, mask in sel.select(HEARTBEAT / 2):
                    if key.fd == self._wake_r:
                        with contextlib.suppress(OSError):
                            os.read(self._wake_r, 4096)
                        continue
                    if mask & selectors.EVENT_READ and key.fd in self._readers:
                        self._read(key.fd)
                    if mask & selectors.EVENT_WRITE:
                        self._write_stdin()
                done = self._take_inbox()
                if done is not None:
                    return done
                now = time.monotonic()
                if now - self._last_heard > SILENCE:
                    self.log.info("stream client went silent: ending its session")
                    return {"exitCode": 0, "killed": True}
                if now - self._last_sent >= HEARTBEAT:
                    self._send(PING)
                if self._attach is not None:
                    if not self._readers:
                        return {"exitCode": 0}  # the shim closed: the container exited
                    continue
                assert self._proc is not None
                if self._proc.poll() is not None:
                    exited_at = exited_at or now
                    if not self._readers or now - exited_at > _DRAIN_SECONDS:
                        return {"exitCode": self._proc.poll()}
            return {"exitCode": 0, "killed": True}
        finally:
            sel.close()

    def _sync_selector(self, sel: selectors.BaseSelector) -> None:
        """Register what may be read (output, while the window is open) and
        written (stdin, while some is pending)."""
        wanted: dict[int, int] = {}
        if self._out_unacked < WINDOW:
            for fd in self._readers:
                wanted[fd] = selectors.EVENT_READ
        if self._stdin_fd is not None and (self._stdin_pending or self._stdin_close_pending):
            wanted[self._stdin_fd] = wanted.get(self._stdin_fd, 0) | selectors.EVENT_WRITE
        current = {key.fd: key.events for key in sel.get_map().values() if key.fd != self._wake_r}
        for fd, events in current.items():
            if fd not in wanted:
                sel.unregister(fd)
            elif wanted[fd] != events:
                sel.modify(fd, wanted[fd])
        for fd, events in wanted.items():
            if fd not in current:
                sel.register(fd, events)

    def _read(self, fd: int) -> None:
        kind = self._readers[fd]
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the terminal's last slave closed
                self.log.debug("output read failed", error=str(exc))
            data = b""
        if not data:
            del self._readers[fd]
            return
        if kind == b"A":
            for channel, payload in self._decoder.feed(data):
                if channel in (b"1", b"2") and payload:
                    self._out_unacked += len(payload)
                    self._send(STDOUT if channel == b"1" or self._tty else STDERR, payload)
            if self._decoder.error:
                self.log.warning("bad frame from the shim", error=self._decoder.error)
                del self._readers[fd]
            return
        self._out_unacked += len(data)
        self._send(kind, data)

    def _write_stdin(self) -> None:
        if self._stdin_fd is None:
            return
        if self._stdin_pending:
            try:
                n = os.write(self._stdin_fd, bytes(self._stdin_pending[:CHUNK]))
            except BlockingIOError:
                return
            except OSError:
                self._stdin_pending.clear()  # the command closed its stdin: what is left is lost, as with a pipe
                n = 0
            del self._stdin_pending[:n]
            self._stdin_written += n
            acked = 0
            while self._stdin_marks and self._stdin_marks[0][0] <= self._stdin_written:
                acked += self._stdin_marks.popleft()[1]
            if not self._stdin_pending:
                acked += sum(m[1] for m in self._stdin_marks)
                self._stdin_marks.clear()
                self._stdin_written = self._stdin_queued = 0
            if acked:
                self._send(ACK, wire.pack(acked))
        if not self._stdin_pending and self._stdin_close_pending:
            self._stdin_close_pending = False
            self._stdin_closed = True
            if self._proc is not None:
                self._proc.close_stdin()
                if self._proc.stdin is None:
                    self._stdin_fd = None

    def _take_inbox(self) -> Obj | None:
        while self._inbox:
            frame = self._inbox.popleft()
            self._last_heard = time.monotonic()
            if frame.type == CLOSE:
                return {"exitCode": 0, "killed": True}
            if frame.type == ACK:
                try:
                    self._out_unacked = max(0, self._out_unacked - frame.count())
                except wire.WireError as exc:
                    raise errors.bad_request(str(exc)) from None
            elif frame.type == STDIN:
                self._take_stdin(frame.payload)
            elif frame.type == RESIZE:
                try:
                    size = wire.unpack(frame.payload)
                except wire.WireError:
                    continue
                if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size):
                    self._resize(size[0], size[1])
        return None

    def _take_stdin(self, data: bytes) -> None:
        if not self._want_stdin or self._stdin_fd is None or self._stdin_close_pending or self._stdin_closed:
            if data:  # stdin nobody asked for, or after its end: acked and dropped
                self._send(ACK, wire.pack(len(data)))
            return
        if not data:
            self._stdin_close_pending = True
            if self._attach is not None:
                self._queue(attach_frame(b"E"))
            return
        if len(self._stdin_pending) + len(data) > WINDOW + 2 * CHUNK:
            raise errors.bad_request("the client sent more stdin than its window")
        self._queue(attach_frame(b"I", data) if self._attach is not None else data, acks=len(data))

    def _queue(self, piece: bytes, *, acks: int = 0) -> None:
        """Append bytes for the stdin fd; ``acks`` stdin bytes are acked to
        the client once all of ``piece`` was written."""
        self._stdin_pending += piece
        self._stdin_queued += len(piece)
        if acks:
            self._stdin_marks.append((self._stdin_queued, acks))

    def _resize(self, width: int, height: int) -> None:
        if self._proc is not None:
            self._proc.resize(width, height)
        elif self._attach is not None and self._tty:
            self._queue(attach_frame(b"R", f"{width},{height}".encode()))

    def _teardown(self) -> int:
        """Kill what runs, close every fd; the exec's exit code (0 for attach)."""
        code = 0
        if self._proc is not None:
            code = self._proc.kill()
            self._proc.close()
        if self._attach is not None:
            with contextlib.suppress(OSError):
                self._attach.close()
        return code
