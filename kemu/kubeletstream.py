"""Streaming sessions with a kubelet: exec and attach with stdin and a TTY.

The kubelet's request/reply methods (:mod:`kubelet.server`) answer once; an
interactive ``kubectl exec -it`` or ``kubectl attach`` needs bytes flowing
both ways while the command runs. This module is the protocol of such a
*session* between a client (the HTTP front door, bridging a WebSocket; or
the CLI, bridging a terminal) and the kubelet, over the same ZeroMQ ROUTER
socket as the request API, and the client side of it
(:class:`StreamSession`, asyncio). The kubelet side is :mod:`kubelet.streams`.

Frames
------
Every message is one ZeroMQ multipart message of four frames (the ROUTER
adds the client's identity in front on the kubelet's side)::

    [ b"kemu-stream/1" | session id (16 bytes) | type (1 byte) | payload ]

The first frame tells stream messages from request frames (a msgpack map).
The client chooses the session id (random), so it needs no round trip
before it may send. Types, and their payloads:

client -> kubelet
    ``O`` open: msgpack map ``{namespace, pod, container, command, stdin,
    stdout, stderr, tty, width, height}``; ``command`` absent or empty means
    *attach* to the container's main process.
    ``0`` stdin bytes; an empty payload closes stdin (v5's ``[255, 0]``).
    ``4`` resize: msgpack ``[width, height]``.
    ``a`` ack: msgpack int, output bytes the client has delivered.
    ``h`` heartbeat (sent every :data:`HEARTBEAT` seconds).
    ``c`` close: the client is done; the kubelet ends the session.

kubelet -> client
    ``S`` started: msgpack ``{"container"}``.
    ``1`` stdout bytes, ``2`` stderr bytes (none with a TTY: one stream).
    ``a`` ack: msgpack int, stdin bytes written to the process.
    ``h`` heartbeat.
    ``x`` exit, the last message: msgpack ``{"exitCode": int}`` when the
    command ended (attach: 0 when the container exited or the client left),
    or ``{"error": Status}`` when the session could not start or broke.

Flow stays bounded
------------------
Each direction has a window of :data:`WINDOW` bytes: the kubelet stops
reading the command's output while more than a window of it is unacked
(so a slow reader blocks the command's writes, as a full pipe does), and
the client stops taking stdin while more than a window of it is unacked.
A client that sends more than its window, a malformed frame or a message
for an unknown session gets ``x`` with an error; nothing it sends can hurt
the kubelet. A session whose client is silent for :data:`SILENCE` seconds
(it vanished: no heartbeat) is ended, and ending a session kills the exec'd
command's whole process tree; a client that hears nothing from the kubelet
for as long gives up the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import zmq
import zmq.asyncio

from kemu import wire
from kemu.api import errors
from kemu.types import Obj

__all__ = [
    "ACK",
    "CLOSE",
    "EXIT",
    "HEARTBEAT",
    "MAGIC",
    "OPEN",
    "RESIZE",
    "SILENCE",
    "STARTED",
    "STDERR",
    "STDIN",
    "STDOUT",
    "WINDOW",
    "PING",
    "StreamFrame",
    "StreamSession",
    "StreamSpec",
]


MAGIC = b"kemu-stream/1"
OPEN, STDIN, RESIZE, ACK, PING, CLOSE = b"O", b"0", b"4", b"a", b"h", b"c"
STARTED, STDOUT, STDERR, EXIT = b"S", b"1", b"2", b"x"
CLIENT_TYPES = frozenset({OPEN, STDIN, RESIZE, ACK, PING, CLOSE})
SERVER_TYPES = frozenset({STARTED, STDOUT, STDERR, ACK, PING, EXIT})
WINDOW = 256 * 1024
"""Unacked bytes allowed in flight per direction."""
CHUNK = 32 * 1024
"""The most bytes per data message."""
HEARTBEAT = 1.0
SILENCE = 10.0
"""Seconds of silence after which the other side counts as gone."""
SESSION_ID_BYTES = 16


@dataclass(frozen=True, slots=True)
class StreamFrame:
    """One stream message (without the ROUTER's identity frames)."""

    session: bytes
    type: bytes
    payload: bytes = b""

    def encode(self) -> list[bytes]:
        return [MAGIC, self.session, self.type, self.payload]

    @classmethod
    def decode(cls, frames: list[bytes], allowed: frozenset[bytes]) -> StreamFrame:
        """Check the layout; raises :class:`~kemu.wire.WireError`."""
        if len(frames) != 4 or frames[0] != MAGIC:
            raise wire.WireError("a stream message has four frames, the first b'kemu-stream/1'")
        _, session, kind, payload = frames
        if len(session) != SESSION_ID_BYTES:
            raise wire.WireError(f"a stream session id has {SESSION_ID_BYTES} bytes")
        if kind not in allowed:
            raise wire.WireError(f"unknown stream message type {kind!r}")
        return cls(bytes(session), bytes(kind), bytes(payload))

    def count(self) -> int:
        """The int of an ``a`` (ack) payload; raises ``WireError``."""
        value = wire.unpack(self.payload)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise wire.WireError("an ack carries a non-negative int")
        return value


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What a session runs: an exec (``command``) or an attach (no command)."""

    namespace: str
    pod: str
    container: str | None
    command: list[str]
    stdin: bool
    stdout: bool = True
    stderr: bool = True
    tty: bool = False
    width: int = 0
    height: int = 0

    def open_payload(self) -> bytes:
        return wire.pack({
            "namespace": self.namespace, "pod": self.pod, "container": self.container,
            "command": list(self.command), "stdin": self.stdin, "stdout": self.stdout,
            "stderr": self.stderr, "tty": self.tty, "width": self.width, "height": self.height,
        })


class StreamSession:
    """The client side of one session (asyncio; one DEALER socket per session).

    ``on_output(channel, data)`` is awaited for every piece of output
    (``b"1"`` stdout, ``b"2"`` stderr) in order; the kubelet's window is
    re-opened once it returned, so a slow consumer slows the command down.
    :meth:`run` returns the final ``x`` payload (``{"exitCode"}`` or
    ``{"error": Status}``).

    ``ctx`` is the caller's asyncio context (the front door shares one across
    sessions); without one, the session makes its own and destroys it on
    :meth:`close` (a one-shot ``kemu exec``).
    """

    def __init__(self, address: str, spec: StreamSpec, *, ctx: zmq.asyncio.Context | None = None,
                 on_output: Callable[[bytes, bytes], Awaitable[None]]):
        self.address = address
        self.spec = spec
        self.session = os.urandom(SESSION_ID_BYTES)
        self._on_output = on_output
        self._own_ctx: zmq.asyncio.Context | None = None
        if ctx is None:
            ctx = self._own_ctx = zmq.asyncio.Context()
        self._sock: zmq.asyncio.Socket = wire.make_socket(ctx, zmq.DEALER, hwm=1000)
        self._sock.connect(address)
        self._stdin_unacked = 0
        self._stdin_room = asyncio.Event()
        self._stdin_room.set()
        self._last_heard = time.monotonic()
        self._closed = False
        self.container: str | None = None
        """Set once the kubelet said ``S`` (started)."""
        self.started = asyncio.Event()

    async def _send(self, kind: bytes, payload: bytes = b"") -> None:
        if not self._closed:
            await self._sock.send_multipart(StreamFrame(self.session, kind, payload).encode())

    async def write_stdin(self, data: bytes) -> None:
        """Send stdin, waiting while a window of it is unacked."""
        for start in range(0, len(data), CHUNK):
            await self._stdin_room.wait()
            piece = data[start:start + CHUNK]
            self._stdin_unacked += len(piece)
            if self._stdin_unacked >= WINDOW:
                self._stdin_room.clear()
            await self._send(STDIN, piece)

    async def close_stdin(self) -> None:
        await self._send(STDIN, b"")

    async def resize(self, width: int, height: int) -> None:
        await self._send(RESIZE, wire.pack([int(width), int(height)]))

    async def run(self) -> Obj:
        """Open the session and pump output until the kubelet's ``x``."""
        await self._send(OPEN, self.spec.open_payload())
        beat = asyncio.create_task(self._heartbeat())
        try:
            while True:
                if not await self._sock.poll(int(HEARTBEAT * 1000)):
                    if time.monotonic() - self._last_heard > SILENCE:
                        return {"error": errors.status_dict(
                            503, "ServiceUnavailable", f"the kubelet at {self.address} stopped answering")}
                    continue
                frames = await self._sock.recv_multipart()
                self._last_heard = time.monotonic()
                try:
                    frame = StreamFrame.decode(frames, SERVER_TYPES)
                except wire.WireError:
                    continue
                if frame.session != self.session:
                    continue
                result = await self._on_frame(frame)
                if result is not None:
                    return result
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _on_frame(self, frame: StreamFrame) -> Obj | None:
        if frame.type in (STDOUT, STDERR):
            await self._on_output(frame.type, frame.payload)
            await self._send(ACK, wire.pack(len(frame.payload)))
        elif frame.type == ACK:
            with contextlib.suppress(wire.WireError):
                self._stdin_unacked = max(0, self._stdin_unacked - frame.count())
            if self._stdin_unacked < WINDOW:
                self._stdin_room.set()
        elif frame.type == STARTED:
            with contextlib.suppress(wire.WireError):
                body = wire.unpack(frame.payload)
                self.container = str(body.get("container")) if isinstance(body, dict) else None
            self.started.set()
        elif frame.type == EXIT:
            try:
                body = wire.unpack(frame.payload)
            except wire.WireError:
                body = None
            self._stdin_room.set()
            return body if isinstance(body, dict) else {"error": errors.internal_error("bad exit frame").status}
        return None

    async def _heartbeat(self) -> None:
        while True:
            await self._send(PING)
            await asyncio.sleep(HEARTBEAT)

    async def close(self) -> None:
        """Tell the kubelet the client is done (it ends the session, killing
        the command) and close the socket."""
        if self._closed:
            return
        with contextlib.suppress(zmq.ZMQError):
            await self._sock.send_multipart(StreamFrame(self.session, CLOSE).encode(), zmq.NOBLOCK)
        self._closed = True
        self._stdin_room.set()
        self._sock.close(linger=200)
        if self._own_ctx is not None:
            self._own_ctx.destroy(linger=0)
