"""SPDY/3.1, the multiplexing Kubernetes' streaming subresources speak.

``kubectl port-forward`` (and ``exec``/``attach``/``cp`` before the
WebSocket protocols) opens one connection to the apiserver and upgrades it
to SPDY/3.1; over it, the client opens one *stream* per thing it wants
(port-forward: an ``error`` and a ``data`` stream per TCP connection;
exec: ``stdin``, ``stdout``, ``stderr``, ``error``, ``resize``), each with
a header block saying what it is. This module is that layer, written from
the SPDY/3 draft and from what moby/spdystream (the Go implementation
Kubernetes uses) accepts, in three parts:

**Framing** (pure, no I/O): :class:`FrameParser` turns bytes into frames
(:class:`SynStream`, :class:`SynReply`, :class:`RstStream`,
:class:`Settings`, :class:`Ping`, :class:`GoAway`, :class:`Headers`,
:class:`WindowUpdate`, :class:`Data`) and :func:`encode_frame` frames back
into bytes. Header blocks are zlib-compressed with SPDY's dictionary
(:data:`HEADER_DICTIONARY`), one compression context per direction for the
whole connection, so a :class:`HeaderCompressor` / :class:`HeaderDecompressor`
lives as long as the connection. Anything malformed -- a bad version, a
length that does not fit its type, a stream id 0 where one is needed, a
header block that does not inflate or parse, an oversized one -- raises
:class:`SpdyError`; a parser never raises anything else.

**Session** (asyncio, transport-agnostic): :class:`SpdyConnection` is the
server side of one connection. Bytes come in through
:meth:`SpdyConnection.feed_data` (sync: aiohttp's protocol calls it from
``data_received``) and go out through a ``send`` coroutine; one task
(:meth:`SpdyConnection.serve`) handles the frames in order. A new stream is
offered to the ``accept`` callback, which says yes (a ``SYN_REPLY`` is
sent) or no (``RST_STREAM REFUSED_STREAM``); the accepted
:class:`SpdyStream` is read and written by whoever the callback handed it
to. Pings are echoed, ``GOAWAY`` or the end of the transport ends every
stream. **Flow control** is not enforced in either direction:
spdystream neither sends ``WINDOW_UPDATE`` nor honours windows, so a
sender that waited for window would stall after 64 KiB; ``WINDOW_UPDATE``
frames are accepted and ignored, as spdystream does.

**Upgrades** (aiohttp): :func:`upgrade` accepts either transport kubectl
tries -- a WebSocket whose subprotocol is ``SPDY/3.1+<protocol>`` (SPDY
frames tunnelled inside binary messages, kubectl 1.31+'s
PortForwardWebsockets), or the plain ``Upgrade: SPDY/3.1`` with
``X-Stream-Protocol-Version`` negotiation (``101 Switching Protocols``) --
and returns a running :class:`SpdyConnection`. A handler then waits on
:meth:`SpdyConnection.wait_closed` and returns the response it was given.
Exec and attach can serve their SPDY fallback with the same call and their
own ``accept``.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web
from aiohttp.http_writer import StreamWriter

from kemu.api import errors
from kemu.log import get_logger

__all__ = [
    "Accept",
    "CANCEL",
    "FLAG_FIN",
    "FLAG_UNIDIRECTIONAL",
    "HEADER_DICTIONARY",
    "PROTOCOL_ERROR",
    "REFUSED_STREAM",
    "TUNNEL_PREFIX",
    "Data",
    "Frame",
    "FrameParser",
    "GoAway",
    "HeaderBlock",
    "HeaderCompressor",
    "HeaderDecompressor",
    "Headers",
    "HeadersFrame",
    "Ping",
    "RstStream",
    "Settings",
    "SpdyConnection",
    "SpdyError",
    "SpdyStream",
    "SynReply",
    "SynStream",
    "WindowUpdate",
    "encode_frame",
    "negotiate_protocol",
    "upgrade",
    "wants_spdy",
]

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
"""``SYN_STREAM`` only: the receiver may not send on the stream."""

# RST_STREAM status codes (SPDY/3 section 2.6.3).
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, UNSUPPORTED_VERSION, CANCEL, INTERNAL_ERROR = 1, 2, 3, 4, 5, 6
FLOW_CONTROL_ERROR, STREAM_IN_USE, STREAM_ALREADY_CLOSED = 7, 8, 9
# GOAWAY status codes.
GOAWAY_OK, GOAWAY_PROTOCOL_ERROR, GOAWAY_INTERNAL_ERROR = 0, 1, 2

MAX_FRAME = (1 << 24) - 1
"""A frame's length field is 24 bits."""
MAX_HEADER_BLOCK = 256 * 1024
"""The most bytes an inflated header block may take (a zlib bomb is an error)."""
MAX_DATA_CHUNK = 32 * 1024
"""Payload bytes per DATA frame written (client-go copies 32 KiB at a time)."""
TUNNEL_PREFIX = "SPDY/3.1+"
"""WebSocket subprotocols that tunnel SPDY: ``SPDY/3.1+portforward.k8s.io``."""
UPGRADE_TOKEN = "SPDY/3.1"

_WORDS = [
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location", "content-md5",
    "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host", "if-match",
    "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after",
    "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
    "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie",
    "keep-alive", "origin"
]
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    """SPDY/3's zlib dictionary (draft 3, section 2.6.10.1): 65 length-prefixed
    header words, then a run of common values."""
    words = b"".join(struct.pack(">I", len(word)) + word.encode() for word in _WORDS)
    return words + _TAIL.encode()


HEADER_DICTIONARY = _dictionary()
"""The dictionary both ends prime their header compressors with (1423 bytes)."""


class SpdyError(Exception):
    """A malformed frame or a protocol violation; ``stream_id`` is 0 when the
    whole connection is at fault (the session must end with ``GOAWAY``)."""

    def __init__(self, message: str, stream_id: int = 0, status: int = PROTOCOL_ERROR):
        super().__init__(message)
        self.stream_id = stream_id
        self.status = status


# -- headers -----------------------------------------------------------------------------


Headers = dict[str, list[str]]
"""A header block: lower-case names, each with its values (SPDY joins
several values of one name with NUL bytes)."""


class HeaderBlock:
    """Helpers for :data:`Headers`."""

    @staticmethod
    def of(items: dict[str, str] | Iterable[tuple[str, str]]) -> Headers:
        """``{"streamType": "data"}`` -> ``{"streamtype": ["data"]}``."""
        pairs = items.items() if isinstance(items, dict) else items
        block: Headers = {}
        for name, value in pairs:
            block.setdefault(name.lower(), []).append(value)
        return block

    @staticmethod
    def get(headers: Headers, name: str) -> str:
        """The first value of ``name`` (any case), or ``""`` as Go's ``Header.Get``."""
        values = headers.get(name.lower())
        return values[0] if values else ""

    @staticmethod
    def encode(headers: Headers) -> bytes:
        """The uncompressed block: count, then length-prefixed names and values."""
        out = bytearray(struct.pack(">I", len(headers)))
        for name, values in headers.items():
            raw_name, raw_value = name.lower().encode(), b"\x00".join(v.encode() for v in values)
            out += struct.pack(">I", len(raw_name)) + raw_name + struct.pack(">I", len(raw_value)) + raw_value
        return bytes(out)

    @staticmethod
    def decode(raw: bytes, stream_id: int) -> Headers:
        """Parse an inflated block; names must be lower case and unique."""
        view = memoryview(raw)
        pos = 0

        def take(n: int) -> bytes:
            nonlocal pos
            if n > len(view) - pos:
                raise SpdyError("header block is truncated", stream_id)
            chunk = bytes(view[pos:pos + n])
            pos += n
            return chunk

        def length() -> int:
            value: int = struct.unpack(">I", take(4))[0]
            return value

        count = length()
        if count > len(raw) // 8:
            raise SpdyError(f"header block claims {count} headers in {len(raw)} bytes", stream_id)
        headers: Headers = {}
        for _ in range(count):
            name_bytes = take(length())
            value_bytes = take(length())
            try:
                name, value = name_bytes.decode(), value_bytes.decode()
            except UnicodeDecodeError:
                raise SpdyError("header block is not UTF-8", stream_id) from None
            if not name:
                raise SpdyError("empty header name", stream_id)
            if name != name.lower():
                raise SpdyError(f"header name {name!r} is not lower case", stream_id)
            if name in headers:
                raise SpdyError(f"duplicate header {name!r}", stream_id)
            headers[name] = value.split("\x00")
        if pos != len(raw):
            raise SpdyError("trailing bytes after the header block", stream_id)
        return headers


class HeaderCompressor:
    """One direction's compression context, kept for the whole connection."""

    def __init__(self) -> None:
        self._zlib = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY,
                                      HEADER_DICTIONARY)

    def compress(self, headers: Headers) -> bytes:
        raw = HeaderBlock.encode(headers)
        return self._zlib.compress(raw) + self._zlib.flush(zlib.Z_SYNC_FLUSH)


class HeaderDecompressor:
    """The other direction's context: every header block of the connection
    inflates through it, in order."""

    def __init__(self, limit: int = MAX_HEADER_BLOCK) -> None:
        self._zlib = zlib.decompressobj(15, HEADER_DICTIONARY)
        self.limit = limit

    def decompress(self, block: bytes, stream_id: int) -> Headers:
        try:
            raw = self._zlib.decompress(block, self.limit + 1)
        except zlib.error as exc:
            raise SpdyError(f"header block does not inflate: {exc}") from None
        if len(raw) > self.limit or self._zlib.unconsumed_tail:
            raise SpdyError(f"header block inflates to more than {self.limit} bytes")
        return HeaderBlock.decode(raw, stream_id)


# -- frames --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SynStream:
    stream_id: int
    headers: Headers
    flags: int = 0
    associated_to: int = 0
    priority: int = 0
    """0 (highest) to 7."""
    slot: int = 0


@dataclass(frozen=True, slots=True)
class SynReply:
    stream_id: int
    headers: Headers
    flags: int = 0


@dataclass(frozen=True, slots=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True, slots=True)
class Settings:
    entries: tuple[tuple[int, int, int], ...]
    """``(flags, id, value)`` per setting."""
    flags: int = 0


@dataclass(frozen=True, slots=True)
class Ping:
    ping_id: int


@dataclass(frozen=True, slots=True)
class GoAway:
    last_good_stream_id: int
    status: int = GOAWAY_OK


@dataclass(frozen=True, slots=True)
class HeadersFrame:
    """``HEADERS``: more headers for an open stream (``Headers`` is the block)."""

    stream_id: int
    headers: Headers
    flags: int = 0


@dataclass(frozen=True, slots=True)
class WindowUpdate:
    stream_id: int
    delta: int


@dataclass(frozen=True, slots=True)
class Data:
    stream_id: int
    data: bytes
    flags: int = 0


Frame = SynStream | SynReply | RstStream | Settings | Ping | GoAway | HeadersFrame | WindowUpdate | Data


def _control(frame_type: int, flags: int, payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise SpdyError(f"a frame of {len(payload)} bytes does not fit SPDY's 24-bit length")
    return struct.pack(">HHI", 0x8000 | VERSION, frame_type, (flags << 24) | len(payload)) + payload


def _id(value: int) -> int:
    if not 0 <= value < (1 << 31):
        raise SpdyError(f"stream id {value} does not fit 31 bits")
    return value


def encode_frame(frame: Frame, compressor: HeaderCompressor | None = None) -> bytes:
    """The bytes of ``frame``; header blocks go through ``compressor`` (which
    must be the connection's one, used in the order frames are written)."""
    if isinstance(frame, Data):
        if len(frame.data) > MAX_FRAME:
            raise SpdyError(f"a DATA frame of {len(frame.data)} bytes does not fit SPDY's 24-bit length")
        return struct.pack(">II", _id(frame.stream_id), (frame.flags << 24) | len(frame.data)) + frame.data
    if isinstance(frame, (SynStream, SynReply, HeadersFrame)):
        if compressor is None:
            raise ValueError("a frame with headers needs the connection's HeaderCompressor")
        block = compressor.compress(frame.headers)
        if isinstance(frame, SynStream):
            prefix = struct.pack(">IIBB", _id(frame.stream_id), _id(frame.associated_to),
                                 (frame.priority & 0x7) << 5, frame.slot)
            return _control(SYN_STREAM, frame.flags, prefix + block)
        kind = SYN_REPLY if isinstance(frame, SynReply) else HEADERS
        return _control(kind, frame.flags, struct.pack(">I", _id(frame.stream_id)) + block)
    if isinstance(frame, RstStream):
        return _control(RST_STREAM, 0, struct.pack(">II", _id(frame.stream_id), frame.status))
    if isinstance(frame, Settings):
        body = struct.pack(">I", len(frame.entries)) + b"".join(
            struct.pack(">II", (flags << 24) | (sid & 0xFFFFFF), value) for flags, sid, value in frame.entries
        )
        return _control(SETTINGS, frame.flags, body)
    if isinstance(frame, Ping):
        return _control(PING, 0, struct.pack(">I", frame.ping_id))
    if isinstance(frame, GoAway):
        return _control(GOAWAY, 0, struct.pack(">II", _id(frame.last_good_stream_id), frame.status))
    if isinstance(frame, WindowUpdate):
        return _control(WINDOW_UPDATE, 0, struct.pack(">II", _id(frame.stream_id), frame.delta & 0x7FFFFFFF))
    raise TypeError(f"not a SPDY frame: {frame!r}")


_MIN_LENGTH = {SYN_STREAM: 10, SYN_REPLY: 4, RST_STREAM: 8, SETTINGS: 4, PING: 4, GOAWAY: 8, HEADERS: 4,
               WINDOW_UPDATE: 8}
_EXACT_LENGTH = {RST_STREAM: 8, PING: 4, GOAWAY: 8, WINDOW_UPDATE: 8}


class FrameParser:
    """Bytes in, frames out, across arbitrary chunk boundaries.

    One parser per connection direction: it owns that direction's header
    decompressor. After it raised :class:`SpdyError` with ``stream_id`` 0
    its state is undefined (the connection is over).
    """

    def __init__(self, *, max_frame: int = MAX_FRAME) -> None:
        self._buffer = bytearray()
        self.max_frame = max_frame
        self.decompressor = HeaderDecompressor()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            first, second = struct.unpack_from(">II", self._buffer)
            length = second & 0xFFFFFF
            if length > self.max_frame:
                raise SpdyError(f"a frame of {length} bytes is larger than the {self.max_frame} allowed")
            if len(self._buffer) < 8 + length:
                break
            payload = bytes(self._buffer[8:8 + length])
            del self._buffer[:8 + length]
            frame = self._frame(first, second >> 24, payload)
            if frame is not None:
                frames.append(frame)
        return frames

    def _frame(self, first: int, flags: int, payload: bytes) -> Frame | None:
        if not first & 0x80000000:
            return Data(first & 0x7FFFFFFF, payload, flags)
        version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise SpdyError(f"SPDY version {version} is not served (only {VERSION})", status=UNSUPPORTED_VERSION)
        if kind not in _MIN_LENGTH:
            return None  # SPDY/3 2.2.1: unknown control frames are ignored
        if len(payload) < _MIN_LENGTH[kind] or (kind in _EXACT_LENGTH and len(payload) != _EXACT_LENGTH[kind]):
            raise SpdyError(f"control frame type {kind} has a bad length {len(payload)}")
        if kind == SYN_STREAM:
            sid, assoc, prio, slot = struct.unpack_from(">IIBB", payload)
            sid, assoc = sid & 0x7FFFFFFF, assoc & 0x7FFFFFFF
            self._nonzero(sid, "SYN_STREAM")
            return SynStream(sid, self.decompressor.decompress(payload[10:], sid), flags, assoc, prio >> 5, slot)
        if kind in (SYN_REPLY, HEADERS):
            sid = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
            self._nonzero(sid, "SYN_REPLY" if kind == SYN_REPLY else "HEADERS")
            headers = self.decompressor.decompress(payload[4:], sid)
            return SynReply(sid, headers, flags) if kind == SYN_REPLY else HeadersFrame(sid, headers, flags)
        if kind == RST_STREAM:
            sid, status = struct.unpack(">II", payload)
            self._nonzero(sid & 0x7FFFFFFF, "RST_STREAM")
            return RstStream(sid & 0x7FFFFFFF, status)
        if kind == SETTINGS:
            count = struct.unpack_from(">I", payload)[0]
            if len(payload) != 4 + 8 * count:
                raise SpdyError(f"SETTINGS of {count} entries has {len(payload)} bytes")
            entries = tuple(
                (word >> 24, word & 0xFFFFFF, value)
                for word, value in struct.iter_unpack(">II", payload[4:])
            )
            return Settings(entries, flags)
        if kind == PING:
            return Ping(struct.unpack(">I", payload)[0])
        if kind == GOAWAY:
            last, status = struct.unpack(">II", payload)
            return GoAway(last & 0x7FFFFFFF, status)
        sid, delta = struct.unpack(">II", payload)  # WINDOW_UPDATE
        return WindowUpdate(sid & 0x7FFFFFFF, delta & 0x7FFFFFFF)

    @staticmethod
    def _nonzero(stream_id: int, what: str) -> None:
        if stream_id == 0:
            raise SpdyError(f"{what} on stream 0")


# -- the session -----------------------------------------------------------------------------


_END = b""


@dataclass(eq=False)
class SpdyStream:
    """One stream the peer opened: read what it sends, write back."""

    connection: SpdyConnection
    stream_id: int
    headers: Headers
    unidirectional: bool = False
    _inbound: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    remote_closed: bool = False
    """The peer sent FIN (or reset the stream, or the connection ended)."""
    local_closed: bool = False
    """We sent FIN or a reset: nothing more will be written."""
    reset_by_peer: bool = False

    def header(self, name: str) -> str:
        """A header's first value, ``""`` when absent (any case)."""
        return HeaderBlock.get(self.headers, name)

    async def read(self) -> bytes:
        """The next chunk the peer sent; ``b""`` once it closed its side."""
        if self.remote_closed and self._inbound.empty():
            return _END
        chunk = await self._inbound.get()
        if chunk == _END:
            self._inbound.put_nowait(_END)  # later reads see the end too
        return chunk

    async def write(self, data: bytes) -> None:
        """Send ``data`` (split into DATA frames); dropped once the stream was
        closed or reset, as writing to a reset SPDY stream is."""
        for start in range(0, len(data), MAX_DATA_CHUNK):
            if self.local_closed or self.connection.closed:
                return
            await self.connection.send_frame(Data(self.stream_id, data[start:start + MAX_DATA_CHUNK]))

    async def close(self) -> None:
        """Half-close: an empty DATA frame with FIN."""
        if not self.local_closed and not self.connection.closed:
            self.local_closed = True
            await self.connection.send_frame(Data(self.stream_id, b"", FLAG_FIN))
            self.connection.forget_if_done(self)

    async def reset(self, status: int = CANCEL) -> None:
        """Abort both directions with ``RST_STREAM``."""
        was_closed = self.local_closed and self.remote_closed
        self.local_closed = True
        self._remote_end()
        if not was_closed and not self.connection.closed:
            await self.connection.send_frame(RstStream(self.stream_id, status))
        self.connection.forget_if_done(self)

    def _feed(self, data: bytes) -> None:
        if data and not self.remote_closed:
            self._inbound.put_nowait(data)

    def _remote_end(self) -> None:
        if not self.remote_closed:
            self.remote_closed = True
            self._inbound.put_nowait(_END)


Accept = Callable[[SpdyStream], bool]
"""Offered each new stream: True accepts it (``SYN_REPLY``), False refuses it
(``RST_STREAM REFUSED_STREAM``). Must not block; it hands the stream to a
task of its own."""


class SpdyConnection:
    """The server side of one SPDY/3.1 session (see the module doc)."""

    def __init__(self, send: Callable[[bytes], Awaitable[None]], accept: Accept, *,
                 close_transport: Callable[[], Awaitable[None]] | None = None, name: str = "spdy"):
        self._send = send
        self._accept = accept
        self._close_transport = close_transport
        self._parser = FrameParser()
        self._compressor = HeaderCompressor()
        self._write_lock = asyncio.Lock()
        self._frames: asyncio.Queue[Frame | None] = asyncio.Queue()
        self._streams: dict[int, SpdyStream] = {}
        self._last_stream_id = 0
        self._closed_event = asyncio.Event()
        self.closed = False
        """No frame is written any more."""
        self.error: str | None = None
        """Why the session ended, when it was not a clean close."""
        self.log = get_logger().bind(subsystem="spdy", connection=name)
        self._task: asyncio.Task[None] | None = None
        self.reader: asyncio.Task[None] | None = None
        """The task reading the transport, when it is not aiohttp's protocol
        (a WebSocket tunnel); ended with the session."""

    # -- input -------------------------------------------------------------------------

    def feed_data(self, data: bytes) -> None:
        """Bytes from the transport (never raises: a protocol error ends the session)."""
        if self.closed:
            return
        try:
            for frame in self._parser.feed(data):
                self._frames.put_nowait(frame)
        except SpdyError as exc:
            self.error = str(exc)
            self._frames.put_nowait(GoAway(self._last_stream_id, GOAWAY_PROTOCOL_ERROR))
            self._frames.put_nowait(None)

    def feed_eof(self) -> None:
        """The transport ended."""
        self._frames.put_nowait(None)

    def start(self) -> asyncio.Task[None]:
        """Run :meth:`serve` in a task (once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.serve())
        return self._task

    async def serve(self) -> None:
        """Handle frames in order until the session ends."""
        try:
            while True:
                frame = await self._frames.get()
                if frame is None:
                    break
                if isinstance(frame, GoAway) and frame.status == GOAWAY_PROTOCOL_ERROR and self.error:
                    self.log.info("spdy protocol error", error=self.error)
                    with contextlib.suppress(Exception):
                        await self.send_frame(frame)
                    break
                if not await self._handle(frame):
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            await self._shut()

    async def _handle(self, frame: Frame) -> bool:
        """One frame; False ends the session."""
        if isinstance(frame, Data):
            stream = self._streams.get(frame.stream_id)
            if stream is None:
                return True  # a stream that already went away (spdystream drops these too)
            stream._feed(frame.data)
            if frame.flags & FLAG_FIN:
                stream._remote_end()
                self.forget_if_done(stream)
        elif isinstance(frame, SynStream):
            await self._new_stream(frame)
        elif isinstance(frame, RstStream):
            stream = self._streams.pop(frame.stream_id, None)
            if stream is not None:
                stream.reset_by_peer = True
                stream.local_closed = True
                stream._remote_end()
        elif isinstance(frame, HeadersFrame):
            stream = self._streams.get(frame.stream_id)
            if stream is not None:
                stream.headers.update(frame.headers)
                if frame.flags & FLAG_FIN:
                    stream._remote_end()
                    self.forget_if_done(stream)
        elif isinstance(frame, Ping):
            if frame.ping_id % 2 == 1:  # the client's (odd): echo it; even ones would answer ours
                await self.send_frame(frame)
        elif isinstance(frame, GoAway):
            return False
        # SETTINGS, WINDOW_UPDATE and a SYN_REPLY (we open no streams) need nothing.
        return True

    async def _new_stream(self, frame: SynStream) -> None:
        sid = frame.stream_id
        if sid % 2 == 0 or sid <= self._last_stream_id:
            self.log.info("spdy stream refused", stream=sid, why="stream id out of order or not the client's")
            await self.send_frame(RstStream(sid, PROTOCOL_ERROR))
            return
        self._last_stream_id = sid
        stream = SpdyStream(self, sid, frame.headers, unidirectional=bool(frame.flags & FLAG_UNIDIRECTIONAL))
        if frame.flags & FLAG_FIN:
            stream._remote_end()
        if stream.unidirectional:
            stream.local_closed = True
        self._streams[sid] = stream
        try:
            accepted = self._accept(stream)
        except Exception:
            self.log.exception("spdy accept failed", stream=sid)
            accepted = False
        if not accepted:
            self._streams.pop(sid, None)
            stream.local_closed = True
            stream._remote_end()
            await self.send_frame(RstStream(sid, REFUSED_STREAM))
            return
        await self.send_frame(SynReply(sid, {}))

    # -- output --------------------------------------------------------------------------

    async def send_frame(self, frame: Frame) -> None:
        """Write one frame; frames with headers are compressed in write order."""
        async with self._write_lock:
            if self.closed:
                return
            data = encode_frame(frame, self._compressor)
            try:
                await self._send(data)
            except (ConnectionError, RuntimeError) as exc:  # aiohttp raises both for a closed transport
                self.error = self.error or f"write failed: {exc}"
                self.closed = True
                self._frames.put_nowait(None)

    def forget_if_done(self, stream: SpdyStream) -> None:
        """Drop a stream closed in both directions."""
        if stream.local_closed and stream.remote_closed:
            self._streams.pop(stream.stream_id, None)

    @property
    def streams(self) -> int:
        """Streams open now."""
        return len(self._streams)

    async def close(self, status: int = GOAWAY_OK) -> None:
        """Say ``GOAWAY`` and end the session."""
        if not self.closed:
            await self.send_frame(GoAway(self._last_stream_id, status))
        self._frames.put_nowait(None)
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _shut(self) -> None:
        self.closed = True
        if self.reader is not None and self.reader is not asyncio.current_task():
            self.reader.cancel()
        for stream in list(self._streams.values()):
            stream.local_closed = True
            stream._remote_end()
        self._streams.clear()
        if self._close_transport is not None:
            with contextlib.suppress(Exception):
                await self._close_transport()
        self._closed_event.set()

    async def wait_closed(self) -> None:
        await self._closed_event.wait()


# -- upgrades (aiohttp) ------------------------------------------------------------------------


def negotiate_protocol(client: list[str], server: tuple[str, ...]) -> str:
    """The first of the client's protocols the server speaks, as
    apimachinery's ``httpstream.Handshake``; raises a ``403`` in its words.

    >>> negotiate_protocol(["v4.channel.k8s.io", "portforward.k8s.io"], ("portforward.k8s.io",))
    'portforward.k8s.io'
    """
    offered = [p.strip() for value in client for p in value.split(",") if p.strip()]
    for protocol in offered:
        if protocol in server:
            return protocol
    raise errors.ApiError(errors.status_dict(
        403, "Forbidden",
        f"unable to upgrade: unable to negotiate protocol: client supports {_go_list(offered)},"
        f" server accepts {_go_list(list(server))}",
    ))


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(items) + "]"


class _UpgradedReader:
    """What aiohttp's protocol feeds the bytes after an accepted upgrade to
    (the interface of its WebSocket reader)."""

    def __init__(self, connection: SpdyConnection):
        self.connection = connection

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.connection.feed_data(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.connection.feed_eof()


def wants_spdy(request: web.Request) -> bool:
    """The request asks for a SPDY upgrade, plain or tunnelled in a WebSocket."""
    upgrade_to = request.headers.get("Upgrade", "").strip().lower()
    if upgrade_to == UPGRADE_TOKEN.lower():
        return True
    if upgrade_to == "websocket":
        offered = request.headers.get("Sec-WebSocket-Protocol", "")
        return any(p.strip().startswith(TUNNEL_PREFIX) for p in offered.split(","))
    return False


async def upgrade(request: web.Request, protocols: tuple[str, ...], accept: Accept, *,
                  name: str = "spdy") -> tuple[web.StreamResponse, SpdyConnection, str]:
    """Upgrade ``request`` to SPDY over whichever transport it asked for; the
    response to return once the session ended, the running session, and the
    protocol negotiated. Raises a ``400`` Status when it asked for neither."""
    upgrade_to = request.headers.get("Upgrade", "").strip().lower()
    if upgrade_to == "websocket":
        return await _upgrade_websocket(request, protocols, accept, name)
    if upgrade_to == UPGRADE_TOKEN.lower() and "upgrade" in request.headers.get("Connection", "").lower():
        return await _upgrade_plain(request, protocols, accept, name)
    raise errors.bad_request("Upgrade request required")


async def _upgrade_websocket(request: web.Request, protocols: tuple[str, ...], accept: Accept,
                             name: str) -> tuple[web.StreamResponse, SpdyConnection, str]:
    tunnelled = tuple(TUNNEL_PREFIX + p for p in protocols)
    ws = web.WebSocketResponse(protocols=tunnelled, max_msg_size=MAX_FRAME + 16, autoping=True)
    ready = ws.can_prepare(request)
    if not ready.ok or ready.protocol is None:
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        negotiate_protocol(offered, tunnelled)  # raises the 403
        raise errors.bad_request("Upgrade request required")
    await ws.prepare(request)

    async def close_ws() -> None:
        await ws.close()

    connection = SpdyConnection(ws.send_bytes, accept, close_transport=close_ws, name=name)
    connection.start()

    async def pump() -> None:
        try:
            while not connection.closed:
                msg = await ws.receive()
                if msg.type == WSMsgType.BINARY:
                    connection.feed_data(msg.data)
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
                # text messages carry no SPDY: ignored
        finally:
            connection.feed_eof()

    connection.reader = asyncio.get_running_loop().create_task(pump())
    return ws, connection, ready.protocol[len(TUNNEL_PREFIX):]


async def _upgrade_plain(request: web.Request, protocols: tuple[str, ...], accept: Accept,
                         name: str) -> tuple[web.StreamResponse, SpdyConnection, str]:
    offered = request.headers.getall("X-Stream-Protocol-Version", [])
    protocol = negotiate_protocol(offered, protocols) if offered else ""
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("the client went away before the upgrade")
    loop = asyncio.get_running_loop()
    writer = StreamWriter(request.protocol, loop)

    async def send(data: bytes) -> None:
        if transport.is_closing():
            raise ConnectionResetError("the client went away")
        await writer.write(data)

    async def close_transport() -> None:
        transport.close()

    connection = SpdyConnection(send, accept, close_transport=close_transport, name=name)
    # Take the bytes after the request before the 101 goes out: the client's
    # first frames may arrive while we still await the write.
    request.protocol.set_parser(_UpgradedReader(connection))  # type: ignore[arg-type]
    request.protocol.keep_alive(False)
    headers = {"Connection": "Upgrade", "Upgrade": UPGRADE_TOKEN}
    if protocol:
        headers["X-Stream-Protocol-Version"] = protocol
    response = web.StreamResponse(status=101, reason="Switching Protocols", headers=headers)
    await response.prepare(request)
    connection.start()
    return response, connection, protocol
