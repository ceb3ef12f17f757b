"""The wire: every byte kemu's processes exchange goes through this module.

Two channels connect the apiserver to everyone else.

**Requests** (ROUTER on the apiserver, DEALER in each client). A client sends
one frame, a msgpack map (:class:`Request`); the server answers with one frame
(:class:`Reply`) carrying the same ``id``, an HTTP-like status ``code`` and a
``body``: the object, the list, or a Kubernetes ``Status`` on error. A DEALER
is used instead of REQ so a client can time out and reconnect without the REQ
state machine wedging (the Guide's Lazy Pirate).

**Watches** (PUB on the apiserver, SUB in each informer). Each message has two
frames: the topic, then a msgpack map. Topics are ``b"<Kind>\\x00"`` for every
object of a kind and ``b"Pod@<node>\\x00"`` for the pods bound to one node; the
trailing NUL stops ZeroMQ's prefix matching from giving ``Pod@node-1`` to a
subscriber of ``Pod@node-10``. Heartbeats go on their own topic,
``b"\\x00heartbeat\\x00"``, so control messages never share the data keyspace.

Every :class:`WatchEvent` carries its topic's sequence number, assigned by the
server alone, and the server's ``epoch`` (a fresh id per server start). A
subscriber that sees ``seq != last + 1``, a new epoch, or no heartbeat for a
few intervals has lost messages and must resynchronise: this is the ZeroMQ
Guide's Clone pattern, with the gap check the Guide leaves out.

Untrusted bytes: every socket is created with ``ZMQ_MAXMSGSIZE`` and every
frame is decoded by :func:`unpack`, which bounds sizes and raises
:class:`WireError` (never anything else) on garbage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypeVar, cast, get_args

import msgpack
import zmq

__all__ = [
    "MAX_MESSAGE_BYTES",
    "PROTOCOL_VERSION",
    "HEARTBEAT_TOPIC",
    "OPS",
    "WireError",
    "Request",
    "Reply",
    "WatchEvent",
    "Heartbeat",
    "pack",
    "unpack",
    "kind_topic",
    "node_topic",
    "topic_bytes",
    "decode_watch",
    "EVENT_TYPES",
    "EventType",
    "Op",
    "EventsSince",
    "PastEvent",
    "deep_copy",
    "make_socket",
]

Context: TypeAlias = "zmq.Context[zmq.Socket[bytes]]"
"""A ZeroMQ context, as every kemu socket owner holds one."""
Socket: TypeAlias = "zmq.Socket[bytes]"
"""A ZeroMQ socket (frames are bytes)."""
S = TypeVar("S", bound="zmq.Socket[Any]")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""The largest frame any kemu socket accepts (a list of 10,000 pods is ~20 MB)."""

PROTOCOL_VERSION = 1

HEARTBEAT_TOPIC = b"\x00heartbeat\x00"

Op = Literal[
    "ping",
    "create",
    "get",
    "list",
    "update",
    "update_status",
    "patch",
    "delete",
    "bind",
    "events_since",
    "call",  # forwarded to a component (kubelet logs/exec); see apiserver
]
OPS: frozenset[str] = frozenset(get_args(Op))
"""The operations of the request API."""


class WireError(ValueError):
    """Bytes that are not a valid kemu message."""


def pack(obj: Any) -> bytes:
    """msgpack-encode ``obj`` (str as str, bytes as bin)."""
    packed: bytes = msgpack.packb(obj, use_bin_type=True)
    return packed


def unpack(data: bytes) -> Any:
    """Decode one msgpack value, bounded by :data:`MAX_MESSAGE_BYTES`.

    Raises :class:`WireError` for anything that is not exactly one valid
    msgpack value.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {len(data)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}")
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:  # noqa: BLE001 (msgpack raises several unrelated types)
        raise WireError(f"malformed msgpack: {type(exc).__name__}: {exc}") from None


def deep_copy(obj: Any) -> Any:
    """A deep copy of a JSON-like tree (a msgpack round trip: several times
    faster than ``copy.deepcopy`` for API objects). The store copies what it
    hands out, and controllers copy a cached object before changing it."""
    return msgpack.unpackb(msgpack.packb(obj, use_bin_type=True), raw=False, strict_map_key=False)


def _check_version(payload: dict[Any, Any]) -> None:
    """Every frame names the protocol it speaks (``"v"``); a peer speaking
    another version is refused by name instead of misread field by field."""
    version = _expect(payload, "v", int)
    if version != PROTOCOL_VERSION:
        raise WireError(f"unsupported protocol version {version} (this side speaks {PROTOCOL_VERSION})")


def _expect(payload: dict[Any, Any], key: str, types: type | tuple[type, ...], *, optional: bool = False) -> Any:
    """``payload[key]`` if it has one of ``types`` (bool never passes for int)."""
    value = payload.get(key)
    if value is None and optional:
        return None
    allowed = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        names = " or ".join(t.__name__ for t in allowed)
        raise WireError(f"field {key!r} must be {names}, got {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class Request:
    """One call to the apiserver.

    Frame layout (a msgpack map): ``{"v": 1, "id": int, "op": str,
    "kind": str|None, "ns": str|None, "name": str|None, "body": any,
    "opts": map}``.
    """

    id: int
    """Chosen by the client; echoed in the reply."""
    op: Op
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    body: Any = None
    """The object (create, update), the patch (patch), the target node (bind)."""
    opts: dict[str, Any] = field(default_factory=dict)
    """Options: ``label_selector``, ``field_selector``, ``dry_run``,
    ``patch_type``, ``grace_period_seconds``, ``propagation_policy``,
    ``preconditions``, ``rv`` (events_since), ``node`` (events_since)..."""

    def encode(self) -> bytes:
        return pack(
            {
                "v": PROTOCOL_VERSION,
                "id": self.id,
                "op": self.op,
                "kind": self.kind,
                "ns": self.namespace,
                "name": self.name,
                "body": self.body,
                "opts": self.opts,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> Request:
        """Parse and type-check a request frame; :class:`WireError` if it is not one."""
        payload = unpack(data)
        if not isinstance(payload, dict):
            raise WireError(f"a request must be a map, got {type(payload).__name__}")
        _check_version(payload)
        rid = _expect(payload, "id", int)
        op = _expect(payload, "op", str)
        if op not in OPS:
            raise WireError(f"unknown operation {op!r}")
        opts = payload.get("opts") or {}
        if not isinstance(opts, dict):
            raise WireError("field 'opts' must be a map")
        return cls(
            id=rid,
            op=cast(Op, op),
            kind=_expect(payload, "kind", str, optional=True),
            namespace=_expect(payload, "ns", str, optional=True),
            name=_expect(payload, "name", str, optional=True),
            body=payload.get("body"),
            opts=opts,
        )

    @staticmethod
    def peek_id(data: bytes) -> int | None:
        """The request id of a frame that failed to decode, when it can be found,
        so the error reply reaches the caller that is waiting for it."""
        try:
            payload = unpack(data)
        except WireError:
            return None
        if isinstance(payload, dict) and isinstance(payload.get("id"), int):
            return int(payload["id"])
        return None


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to one :class:`Request`: ``{"v": 1, "id": int, "code": int, "body": any}``.

    ``code`` is an HTTP status code; a code >= 400 means ``body`` is a
    Kubernetes ``Status``.
    """

    id: int
    code: int
    body: Any = None

    def encode(self) -> bytes:
        return pack({"v": PROTOCOL_VERSION, "id": self.id, "code": self.code, "body": self.body})

    @classmethod
    def decode(cls, data: bytes) -> Reply:
        payload = unpack(data)
        if not isinstance(payload, dict):
            raise WireError("a reply must be a map")
        _check_version(payload)
        return cls(id=_expect(payload, "id", int), code=_expect(payload, "code", int), body=payload.get("body"))


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change on a watch topic.

    ``{"v": 1, "t": "event", "type": "ADDED"|"MODIFIED"|"DELETED", "kind": str,
    "object": map, "rv": int, "seq": int, "epoch": str}``. ``rv`` is the
    resourceVersion the change produced; ``seq`` the topic's sequence number.
    """

    type: EventType
    kind: str
    object: dict[str, Any]
    rv: int
    seq: int
    epoch: str

    def encode(self) -> bytes:
        return pack(
            {
                "v": PROTOCOL_VERSION,
                "t": "event",
                "type": self.type,
                "kind": self.kind,
                "object": self.object,
                "rv": self.rv,
                "seq": self.seq,
                "epoch": self.epoch,
            }
        )


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """``{"v": 1, "t": "heartbeat", "epoch": str, "rv": int, "seqs": {topic: seq}, "interval": float}``.

    ``seqs`` holds the last sequence number of every topic, so a subscriber
    that missed the tail of a burst notices even when no later event comes.
    """

    epoch: str
    rv: int
    seqs: dict[str, int]
    interval: float

    def encode(self) -> bytes:
        return pack({"v": PROTOCOL_VERSION, "t": "heartbeat", "epoch": self.epoch, "rv": self.rv, "seqs": self.seqs, "interval": self.interval})


def kind_topic(kind: str) -> str:
    """The topic of every object of ``kind``."""
    return kind


def node_topic(kind: str, node: str) -> str:
    """The topic of the objects of ``kind`` bound to ``node`` (pods only)."""
    return f"{kind}@{node}"


def topic_bytes(topic: str) -> bytes:
    """A topic as its subscription frame (NUL-terminated, see the module doc)."""
    return topic.encode() + b"\x00"


EventType = Literal["ADDED", "MODIFIED", "DELETED"]
"""The ``type`` of a :class:`WatchEvent`, as in a Kubernetes watch."""
EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))


def _event_type(payload: dict[Any, Any]) -> EventType:
    etype = _expect(payload, "type", str)
    if etype not in EVENT_TYPES:
        raise WireError(f"unknown watch event type {etype!r:.40}")
    return cast(EventType, etype)


def _seqs(value: Any) -> dict[str, int]:
    """A heartbeat's ``seqs``: topic names to non-negative ints, nothing else
    (``{"Pod": None}`` or ``{1: 2}`` is garbage, not a sequence)."""
    if not isinstance(value, dict):
        raise WireError("heartbeat without seqs")
    for topic, seq in value.items():
        if not isinstance(topic, str):
            raise WireError(f"heartbeat seqs keys must be topic names, got {type(topic).__name__}")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise WireError(f"heartbeat seq of topic {topic!r:.60} must be a non-negative int, got {seq!r:.40}")
    return value


def _event_object(value: Any) -> dict[str, Any]:
    """An event's ``object``: a map whose metadata names it (an informer files
    it under ``namespace/name``)."""
    if not isinstance(value, dict):
        raise WireError("event without an object")
    meta = value.get("metadata")
    if not isinstance(meta, dict):
        raise WireError("event object without metadata")
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or not name:
        raise WireError("event object without metadata.name")
    if namespace is not None and not isinstance(namespace, str):
        raise WireError(f"event object's metadata.namespace must be str, got {type(namespace).__name__}")
    return value


def decode_watch(frames: list[bytes]) -> tuple[str, WatchEvent | Heartbeat]:
    """Parse a PUB message into ``(topic, message)``; :class:`WireError` on
    garbage, whatever the types inside (a subscriber must never die of a
    frame, so no other exception leaves)."""
    if len(frames) != 2:
        raise WireError(f"a watch message has 2 frames, got {len(frames)}")
    topic = bytes(frames[0]).rstrip(b"\x00").decode(errors="replace")
    payload = unpack(frames[1])
    if not isinstance(payload, dict):
        raise WireError("a watch message must be a map")
    _check_version(payload)
    mtype = payload.get("t")
    if mtype == "heartbeat":
        interval = float(_expect(payload, "interval", (int, float)))
        if not math.isfinite(interval) or interval <= 0:
            raise WireError(f"heartbeat interval must be a positive number of seconds, got {interval!r}")
        return topic, Heartbeat(
            epoch=_expect(payload, "epoch", str),
            rv=_nonnegative(payload, "rv"),
            seqs=_seqs(payload.get("seqs")),
            interval=interval,
        )
    if mtype == "event":
        return topic, WatchEvent(
            type=_event_type(payload),
            kind=_expect(payload, "kind", str),
            object=_event_object(payload.get("object")),
            rv=_nonnegative(payload, "rv"),
            seq=_nonnegative(payload, "seq"),
            epoch=_expect(payload, "epoch", str),
        )
    raise WireError(f"unknown watch message type {mtype!r:.40}")


@dataclass(frozen=True, slots=True)
class PastEvent:
    """One change of an :class:`EventsSince` answer."""

    type: EventType
    object: dict[str, Any]
    rv: int


@dataclass(frozen=True, slots=True)
class EventsSince:
    """The body of an ``events_since`` reply: the changes of one topic after
    a resourceVersion, and where the topic stands now.

    ``{"events": [{"type", "object", "rv"}...], "rv": int, "seq": int, "epoch": str}``:
    ``rv`` is the server's committed revision, ``seq`` the topic's current
    sequence number (the subscriber goes on from it) and ``epoch`` the server's.
    """

    events: list[PastEvent]
    rv: int
    seq: int
    epoch: str

    def body(self) -> dict[str, Any]:
        return {"events": [{"type": e.type, "object": e.object, "rv": e.rv} for e in self.events],
                "rv": self.rv, "seq": self.seq, "epoch": self.epoch}

    @classmethod
    def decode(cls, body: Any) -> EventsSince:
        """Check a reply body field by field; :class:`WireError` if it is not one."""
        if not isinstance(body, dict):
            raise WireError(f"an events_since reply must be a map, got {type(body).__name__}")
        raw = body.get("events")
        if not isinstance(raw, list):
            raise WireError("an events_since reply without an events list")
        events = []
        for item in raw:
            if not isinstance(item, dict):
                raise WireError(f"an events_since event must be a map, got {type(item).__name__}")
            events.append(PastEvent(_event_type(item), _event_object(item.get("object")), _nonnegative(item, "rv")))
        return cls(events, _nonnegative(body, "rv"), _nonnegative(body, "seq"), _expect(body, "epoch", str))


def _nonnegative(payload: dict[Any, Any], key: str) -> int:
    value: int = _expect(payload, key, int)
    if value < 0:
        raise WireError(f"field {key!r} must be non-negative, got {value}")
    return value


def make_socket(ctx: zmq.Context[S], kind: int, *, hwm: int = 100_000) -> S:
    """A socket with kemu's safety settings: bounded message size, no lingering
    on close, and generous high-water marks (watch bursts must not drop at the
    first thousand; drops beyond are caught by sequence numbers)."""
    sock: S = ctx.socket(kind)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    if kind == zmq.ROUTER:
        # A reply to a client that went away is dropped, not an error.
        sock.setsockopt(zmq.ROUTER_MANDATORY, 0)
    return sock
