"""Kubernetes' protobuf encoding of API objects, read and written as JSON data.

Since client-go 1.32, typed clients (``kubectl create deployment``, ``kubectl
create namespace``, drain's evictions ...) send built-in kinds as
``application/vnd.kubernetes.protobuf``. The bytes are an envelope: the magic
``k8s\\x00``, then a ``runtime.Unknown`` message::

    Unknown { TypeMeta typeMeta = 1 {apiVersion = 1, kind = 2};
              bytes raw = 2; string contentEncoding = 3; string contentType = 4 }

and ``raw`` is the kind's own message (``k8s.io.api.apps.v1.Deployment``).

Decoding is driven by one table, :mod:`kemu.api.protobuf_fields`, generated
from Kubernetes' ``generated.proto`` and ``types.go`` files by
``scripts/gen_protobuf_fields.py``: message -> field number -> (JSON name,
type, shape, flags). The result is what the same Go struct would marshal to
JSON, because that is what the same client sent as JSON before 1.32:

- gogo-protobuf writes every non-pointer field, zero or not, while Go's JSON
  drops the zero ones marked ``omitempty``; a pointer field that is present
  is kept even when zero (``spec.replicas: 0`` survives);
- a non-pointer struct is always written (``metadata: {}``), a nil slice or
  map without ``omitempty`` is ``null``, an embedded struct's fields are the
  parent's (``Volume``'s ``VolumeSource``);
- a few messages have their own JSON form: ``meta.v1.Time`` (RFC 3339, to the
  second; zero is ``null``), ``MicroTime`` (to the microsecond),
  ``Duration`` (Go's ``1h0m0s``), ``resource.Quantity`` (its string),
  ``intstr.IntOrString`` (a number or a string), ``runtime.RawExtension`` and
  ``meta.v1.FieldsV1`` (the JSON they carry), slice types such as
  ``meta.v1.Verbs`` (a list); ``bytes`` are base64 strings.

Encoding (for clients that accept only protobuf) walks the same table the
other way; fields the table does not know are left out, as a Go client's
struct would leave them.

Input is untrusted: truncated varints, wrong wire types, lengths past the end,
unknown messages, nesting deeper than :data:`MAX_DEPTH` all raise
:class:`ProtobufError`, a ``ValueError`` the HTTP front door answers with a
``400``. Nothing here allocates more than the input's size: every length is
checked against the bytes that are left before it is used.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kemu import apimachinery
from kemu.api.protobuf_fields import GROUP_VERSIONS, INLINE, MESSAGES, OMITEMPTY, OMITZERO, POINTER, SLICE_MESSAGES

__all__ = [
    "MAGIC",
    "MAX_DEPTH",
    "MEDIA_TYPE",
    "Envelope",
    "ProtobufError",
    "decode_envelope",
    "decode_message",
    "decode_object",
    "encode_envelope",
    "encode_message",
    "encode_object",
    "message_for",
]

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAX_DEPTH = 64
"""Deepest nesting of messages accepted (a Deployment's deepest field is about 15)."""

_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
TIME = _META + "Time"
MICRO_TIME = _META + "MicroTime"
DURATION = _META + "Duration"
FIELDS_V1 = _META + "FieldsV1"
QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
QUANTITY_VALUE = "k8s.io.apimachinery.pkg.api.resource.QuantityValue"
INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
RAW_EXTENSION = "k8s.io.apimachinery.pkg.runtime.RawExtension"

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_WIRE_OF = {
    "int32": _VARINT, "int64": _VARINT, "uint32": _VARINT, "uint64": _VARINT, "bool": _VARINT,
    "sint32": _VARINT, "sint64": _VARINT, "double": _FIXED64, "float": _FIXED32,
    "string": _LEN, "bytes": _LEN,
}
_SCALARS = frozenset(_WIRE_OF)
_ZERO: dict[str, Any] = {
    "int32": 0, "int64": 0, "uint32": 0, "uint64": 0, "sint32": 0, "sint64": 0,
    "bool": False, "double": 0.0, "float": 0.0, "string": "", "bytes": None,
}
_SPECIAL = frozenset({TIME, MICRO_TIME, DURATION, FIELDS_V1, QUANTITY, QUANTITY_VALUE, INT_OR_STRING, RAW_EXTENSION})


class ProtobufError(ValueError):
    """The bytes are not a protobuf encoding of what they claim to be."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """A ``runtime.Unknown``: the type of the object and its message's bytes."""

    api_version: str
    kind: str
    raw: bytes
    content_encoding: str = ""
    content_type: str = ""


# -- the wire ------------------------------------------------------------------------


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise ProtobufError("unexpected end of data in a varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("varint longer than 10 bytes")


def _fields(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """(number, wire type, value) of each field between ``start`` and ``end``;
    the value of a length-delimited field is its (start, end) span."""
    pos = start
    while pos < end:
        key, pos = _varint(data, pos, end)
        number, wire = key >> 3, key & 7
        value: Any
        if number == 0 or number > 0x1FFFFFFF:
            raise ProtobufError(f"illegal field number {number}")
        if wire == _VARINT:
            value, pos = _varint(data, pos, end)
        elif wire == _LEN:
            length, pos = _varint(data, pos, end)
            if length > end - pos:
                raise ProtobufError(f"field {number}: length {length} runs past the end of the data")
            value, pos = (pos, pos + length), pos + length
        elif wire == _FIXED64:
            if end - pos < 8:
                raise ProtobufError(f"field {number}: unexpected end of data in a fixed64")
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == _FIXED32:
            if end - pos < 4:
                raise ProtobufError(f"field {number}: unexpected end of data in a fixed32")
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ProtobufError(f"field {number}: unsupported wire type {wire}")
        yield number, wire, value


def _put_varint(out: bytearray, value: int) -> None:
    value &= 0xFFFFFFFFFFFFFFFF  # negative numbers as Go writes them: ten bytes
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _put_key(out: bytearray, number: int, wire: int) -> None:
    _put_varint(out, (number << 3) | wire)


def _put_bytes(out: bytearray, number: int, payload: bytes | bytearray) -> None:
    _put_key(out, number, _LEN)
    _put_varint(out, len(payload))
    out += payload


# -- scalars -------------------------------------------------------------------------


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _scalar(typ: str, wire: int, value: Any, data: bytes, where: str) -> Any:
    if wire != _WIRE_OF[typ]:
        raise ProtobufError(f"{where}: wire type {wire} for a {typ}")
    if typ == "int32":
        return _signed(value, 32)
    if typ == "int64":
        return _signed(value, 64)
    if typ == "uint32":
        return value & 0xFFFFFFFF
    if typ == "uint64":
        return value & 0xFFFFFFFFFFFFFFFF
    if typ in ("sint32", "sint64"):
        return (value >> 1) ^ -(value & 1)
    if typ == "bool":
        return value != 0
    if typ in ("double", "float"):
        number = struct.unpack("<d" if typ == "double" else "<f", value)[0]
        if not math.isfinite(number):
            raise ProtobufError(f"{where}: {number} cannot be written as JSON")
        return number
    start, end = value
    if typ == "string":
        return data[start:end].decode("utf-8", errors="replace")
    return base64.b64encode(data[start:end]).decode("ascii")


def _packed(typ: str, data: bytes, span: tuple[int, int], where: str) -> list[Any]:
    """The values of a packed repeated scalar field."""
    start, end = span
    wire = _WIRE_OF[typ]
    values: list[Any] = []
    pos = start
    while pos < end:
        if wire == _VARINT:
            raw, pos = _varint(data, pos, end)
            values.append(_scalar(typ, wire, raw, data, where))
        else:
            size = 8 if wire == _FIXED64 else 4
            if end - pos < size:
                raise ProtobufError(f"{where}: packed field ends inside a value")
            values.append(_scalar(typ, wire, data[pos:pos + size], data, where))
            pos += size
    return values


# -- the special messages -----------------------------------------------------------


def _seconds_nanos(data: bytes, start: int, end: int) -> tuple[int, int, bool]:
    seconds = nanos = 0
    present = False
    for number, wire, value in _fields(data, start, end):
        if number in (1, 2):
            present = True
            if wire != _VARINT:
                raise ProtobufError(f"Timestamp field {number}: wire type {wire}")
            if number == 1:
                seconds = _signed(value, 64)
            else:
                nanos = _signed(value, 32)
    return seconds, nanos, present


_TIME_RANGE = (apimachinery.parse_time("0000-01-01T00:00:00Z").seconds, apimachinery.parse_time("9999-12-31T23:59:59Z").seconds)
"""The seconds a four-digit RFC 3339 year can write."""


def _format_time(seconds: int, nanos: int, micro: bool) -> str:
    stamp = apimachinery.Timestamp(seconds + nanos // 1_000_000_000, nanos % 1_000_000_000)
    if not _TIME_RANGE[0] <= stamp.seconds <= _TIME_RANGE[1]:
        raise ProtobufError(f"time {seconds}s is out of range")
    return apimachinery.format_micro_time(stamp) if micro else apimachinery.format_time(stamp)


def _parse_time(text: Any) -> tuple[int, int]:
    if not isinstance(text, str):
        raise ProtobufError(f"a time must be a string, not {text!r}")
    try:
        stamp = apimachinery.parse_time(text)
    except ValueError as exc:
        raise ProtobufError(str(exc)) from None
    return stamp.seconds, stamp.nanos


_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)")


def go_duration(nanos: int) -> str:
    """Go's ``time.Duration.String``: ``0s``, ``1.5s``, ``1h0m0s``, ``250ms``.

    >>> go_duration(90 * 10**9), go_duration(1_500_000), go_duration(0)
    ('1m30s', '1.5ms', '0s')
    """
    if nanos == 0:
        return "0s"
    sign, u = ("-" if nanos < 0 else ""), abs(nanos)

    def fraction(value: int, digits: int) -> str:
        whole, rest = divmod(value, 10**digits)
        tail = f"{rest:0{digits}d}".rstrip("0")
        return f"{whole}.{tail}" if tail else str(whole)

    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{fraction(u, 3)}µs"
    if u < 10**9:
        return f"{sign}{fraction(u, 6)}ms"
    seconds = fraction(u % (60 * 10**9), 9) + "s"
    minutes = u // (60 * 10**9)
    if not minutes:
        return sign + seconds
    hours, minutes = divmod(minutes, 60)
    return sign + (f"{hours}h" if hours else "") + f"{minutes}m" + seconds


def parse_go_duration(text: Any) -> int:
    """Nanoseconds of a Go duration string (``1h0m0s``, ``-1.5s``)."""
    if not isinstance(text, str) or not text:
        raise ProtobufError(f"invalid duration {text!r}")
    body = text.lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    if body == "0":
        return 0
    total, pos = 0, 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if m is None or not (m.group(1) or m.group(2)):
            raise ProtobufError(f"invalid duration {text!r}")
        unit = _DURATION_UNITS[m.group(3)]
        total += int(m.group(1) or 0) * unit
        if m.group(2):
            total += int(m.group(2)) * unit // 10 ** len(m.group(2))
        pos = m.end()
    return sign * total


def _decode_special(name: str, data: bytes, start: int, end: int, depth: int) -> Any:
    if name in (TIME, MICRO_TIME):
        seconds, nanos, present = _seconds_nanos(data, start, end)
        return _format_time(seconds, nanos, name == MICRO_TIME) if present else None
    if name == DURATION:
        nanos = 0
        for number, wire, value in _fields(data, start, end):
            if number == 1:
                if wire != _VARINT:
                    raise ProtobufError(f"Duration field 1: wire type {wire}")
                nanos = _signed(value, 64)
        return go_duration(nanos)
    if name == INT_OR_STRING:
        kind, int_val, str_val = 0, 0, ""
        for number, wire, value in _fields(data, start, end):
            if number == 1:
                kind = _scalar("int64", wire, value, data, "IntOrString.type")
            elif number == 2:
                int_val = _scalar("int32", wire, value, data, "IntOrString.intVal")
            elif number == 3:
                str_val = _scalar("string", wire, value, data, "IntOrString.strVal")
        return str_val if kind == 1 else int_val
    # Quantity, QuantityValue, RawExtension, FieldsV1: one length-delimited field 1.
    payload: bytes | None = None
    for number, wire, value in _fields(data, start, end):
        if number == 1:
            if wire != _LEN:
                raise ProtobufError(f"{name.rsplit('.', 1)[1]} field 1: wire type {wire}")
            payload = data[value[0]:value[1]]
    if name in (QUANTITY, QUANTITY_VALUE):
        text = (payload or b"").decode("utf-8", errors="replace")
        return text or "0"
    if payload is None:
        return None
    if payload.startswith(MAGIC) and name == RAW_EXTENSION:
        return decode_object(payload, _depth=depth + 1)
    try:
        return json.loads(payload) if payload.strip() else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ProtobufError(f"{name.rsplit('.', 1)[1]}: the embedded data is not JSON") from None


def _encode_special(name: str, value: Any, depth: int) -> bytes:
    out = bytearray()
    if name in (TIME, MICRO_TIME):
        seconds, nanos = _parse_time(value)
        _put_key(out, 1, _VARINT)
        _put_varint(out, seconds)
        _put_key(out, 2, _VARINT)
        _put_varint(out, nanos if name == MICRO_TIME else 0)
    elif name == DURATION:
        _put_key(out, 1, _VARINT)
        _put_varint(out, parse_go_duration(value))
    elif name == INT_OR_STRING:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ProtobufError(f"an int-or-string must be a number or a string, not {value!r}")
        _put_key(out, 1, _VARINT)
        _put_varint(out, 1 if isinstance(value, str) else 0)
        _put_key(out, 2, _VARINT)
        _put_varint(out, value if isinstance(value, int) else 0)
        _put_bytes(out, 3, value.encode() if isinstance(value, str) else b"")
    elif name in (QUANTITY, QUANTITY_VALUE):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ProtobufError(f"a quantity must be a string or a number, not {value!r}")
        _put_bytes(out, 1, str(value).encode())
    elif name == RAW_EXTENSION and isinstance(value, dict) and depth > MAX_DEPTH:
        raise ProtobufError("objects nested too deeply")
    else:  # RawExtension, FieldsV1: the JSON they carry
        _put_bytes(out, 1, json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    return bytes(out)


# -- messages ------------------------------------------------------------------------


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _is_empty(value: Any) -> bool:
    """Go's ``omitempty``: false, 0, "", and empty slices and maps (nil is None)."""
    return value is None or value is False or (value == 0 and not isinstance(value, bool)) or value in ("", [], {})


def decode_message(name: str, data: bytes, *, _start: int = 0, _end: int | None = None, _depth: int = 0) -> Any:
    """The JSON value of message ``name`` encoded in ``data`` (see the module doc)."""
    end = len(data) if _end is None else _end
    if _depth > MAX_DEPTH:
        raise ProtobufError(f"messages nested more than {MAX_DEPTH} deep")
    if name in _SPECIAL:
        return _decode_special(name, data, _start, end, _depth)
    spec = MESSAGES.get(name)
    if spec is None:
        raise ProtobufError(f"unknown message {name}")
    seen: dict[int, list[tuple[int, Any]]] = {}
    for number, wire, value in _fields(data, _start, end):
        if number in spec:
            seen.setdefault(number, []).append((wire, value))
    if name in SLICE_MESSAGES:
        return [item for _wire, item in _repeated(name, spec[1][1], seen.get(1, []), data, _depth)] if 1 in spec else []
    out: dict[str, Any] = {}
    for number, (json_name, typ, shape, flags) in spec.items():
        occurrences = seen.get(number)
        where = f"{_short(name)}.{json_name or _short(typ)}"
        if shape == "rep":
            items = [item for _wire, item in _repeated(where, typ, occurrences or [], data, _depth)]
            if items or not flags & OMITEMPTY:
                out[json_name] = items or None
            continue
        if shape:
            mapping = _map(where, shape[4:], typ, occurrences or [], data, _depth)
            if mapping or not flags & OMITEMPTY:
                out[json_name] = mapping or None
            continue
        if occurrences is None and flags & POINTER:
            if not flags & OMITEMPTY:
                out[json_name] = None
            continue
        if typ in _SCALARS:
            if occurrences is None:
                value = _ZERO[typ]
            else:
                wire, raw = occurrences[-1]
                value = _scalar(typ, wire, raw, data, where)
            if flags & (OMITEMPTY | OMITZERO) and not flags & POINTER and _is_empty(value):
                continue
            out[json_name] = value
            continue
        value = _decode_embedded(where, typ, occurrences or [], data, _depth)
        if flags & INLINE:
            if isinstance(value, dict):
                out.update(value)
            continue
        if flags & OMITZERO and value == decode_message(typ, b"", _depth=_depth + 1):
            continue
        if flags & OMITEMPTY and typ in SLICE_MESSAGES and not value:
            continue
        out[json_name] = value
    return out


def _decode_embedded(where: str, typ: str, occurrences: list[tuple[int, Any]], data: bytes, depth: int) -> Any:
    """A message field; several occurrences merge, as protobuf says."""
    for wire, _span in occurrences:
        if wire != _LEN:
            raise ProtobufError(f"{where}: wire type {wire} for a message")
    if len(occurrences) <= 1:
        start, end = occurrences[0][1] if occurrences else (0, 0)
        return decode_message(typ, data, _start=start, _end=end, _depth=depth + 1)
    joined = b"".join(data[s:e] for _wire, (s, e) in occurrences)
    return decode_message(typ, joined, _depth=depth + 1)


def _repeated(
    where: str, typ: str, occurrences: list[tuple[int, Any]], data: bytes, depth: int
) -> Iterator[tuple[int, Any]]:
    for wire, raw in occurrences:
        if typ in _SCALARS:
            if wire == _LEN and _WIRE_OF[typ] != _LEN:
                for item in _packed(typ, data, raw, where):
                    yield wire, item
            else:
                yield wire, _scalar(typ, wire, raw, data, where)
        else:
            if wire != _LEN:
                raise ProtobufError(f"{where}: wire type {wire} for a message")
            yield wire, decode_message(typ, data, _start=raw[0], _end=raw[1], _depth=depth + 1)


def _map(
    where: str, key_type: str, value_type: str, occurrences: list[tuple[int, Any]], data: bytes, depth: int
) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for wire, span in occurrences:
        if wire != _LEN:
            raise ProtobufError(f"{where}: wire type {wire} for a map entry")
        key: Any = _ZERO.get(key_type, "")
        value: Any = None
        value_seen: list[tuple[int, Any]] = []
        for number, entry_wire, raw in _fields(data, span[0], span[1]):
            if number == 1:
                key = _scalar(key_type, entry_wire, raw, data, where + " key")
            elif number == 2:
                value_seen.append((entry_wire, raw))
        if value_type in _SCALARS:
            value = _scalar(value_type, *value_seen[-1], data, where) if value_seen else _ZERO[value_type]
            if value is None and value_type == "bytes":
                value = ""
        else:
            value = _decode_embedded(where, value_type, value_seen, data, depth)
        mapping[key if isinstance(key, str) else json.dumps(key)] = value
    return mapping


def encode_message(name: str, value: Any, *, _depth: int = 0) -> bytes:
    """The protobuf bytes of message ``name`` holding the JSON ``value``."""
    if _depth > MAX_DEPTH:
        raise ProtobufError(f"objects nested more than {MAX_DEPTH} deep")
    if name in _SPECIAL:
        return _encode_special(name, value, _depth)
    spec = MESSAGES.get(name)
    if spec is None:
        raise ProtobufError(f"unknown message {name}")
    out = bytearray()
    if name in SLICE_MESSAGES:
        if not isinstance(value, list):
            raise ProtobufError(f"{_short(name)} must be a list")
        for item in value:
            _put_value(out, 1, spec[1][1], item, f"{_short(name)}.items", _depth)
        return bytes(out)
    if not isinstance(value, dict):
        raise ProtobufError(f"{_short(name)} must be an object, not {type(value).__name__}")
    for number, (json_name, typ, shape, flags) in spec.items():
        where = f"{_short(name)}.{json_name}"
        if flags & INLINE:
            inner = encode_message(typ, value, _depth=_depth + 1)
            if inner:
                _put_bytes(out, number, inner)
            continue
        item = value.get(json_name)
        if item is None:
            continue
        if shape == "rep":
            if not isinstance(item, list):
                raise ProtobufError(f"{where} must be a list")
            for element in item:
                _put_value(out, number, typ, element, where, _depth)
        elif shape:
            if not isinstance(item, dict):
                raise ProtobufError(f"{where} must be an object")
            for key, element in item.items():
                entry = bytearray()
                _put_value(entry, 1, shape[4:], key, where, _depth)
                if element is not None:
                    _put_value(entry, 2, typ, element, where, _depth)
                _put_bytes(out, number, entry)
        else:
            _put_value(out, number, typ, item, where, _depth)
    return bytes(out)


def _put_value(out: bytearray, number: int, typ: str, value: Any, where: str, depth: int) -> None:
    if typ not in _SCALARS:
        _put_bytes(out, number, encode_message(typ, value, _depth=depth + 1))
        return
    wire = _WIRE_OF[typ]
    if typ == "string":
        if not isinstance(value, str):
            raise ProtobufError(f"{where} must be a string, not {value!r}")
        _put_bytes(out, number, value.encode("utf-8"))
    elif typ == "bytes":
        try:
            payload = base64.b64decode(value, validate=True) if isinstance(value, str) else None
        except (binascii.Error, ValueError):
            payload = None
        if payload is None:
            raise ProtobufError(f"{where} must be base64 data")
        _put_bytes(out, number, payload)
    elif typ == "bool":
        if not isinstance(value, bool):
            raise ProtobufError(f"{where} must be a boolean, not {value!r}")
        _put_key(out, number, wire)
        _put_varint(out, int(value))
    elif typ in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProtobufError(f"{where} must be a number, not {value!r}")
        _put_key(out, number, wire)
        out += struct.pack("<d" if typ == "double" else "<f", float(value))
    else:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtobufError(f"{where} must be an integer, not {value!r}")
        if typ in ("sint32", "sint64"):
            value = (value << 1) ^ (value >> 63)
        _put_key(out, number, wire)
        _put_varint(out, value)


# -- envelopes and objects ----------------------------------------------------------


def decode_envelope(data: bytes) -> Envelope:
    """The ``runtime.Unknown`` after the magic in ``data``."""
    if not data.startswith(MAGIC):
        raise ProtobufError("the data does not start with the Kubernetes protobuf magic k8s\\x00")
    api_version = kind = encoding = content_type = ""
    raw = b""
    start = len(MAGIC)
    for number, wire, value in _fields(data, start, len(data)):
        if number > 4:
            continue
        if wire != _LEN:
            raise ProtobufError(f"Unknown field {number}: wire type {wire}")
        s, e = value
        if number == 1:
            for inner, inner_wire, text in _fields(data, s, e):
                if inner in (1, 2):
                    decoded = _scalar("string", inner_wire, text, data, "TypeMeta")
                    if inner == 1:
                        api_version = decoded
                    else:
                        kind = decoded
        elif number == 2:
            raw = data[s:e]
        elif number == 3:
            encoding = data[s:e].decode("utf-8", errors="replace")
        else:
            content_type = data[s:e].decode("utf-8", errors="replace")
    return Envelope(api_version, kind, raw, encoding, content_type)


def encode_envelope(envelope: Envelope) -> bytes:
    """``MAGIC`` and the ``runtime.Unknown`` of ``envelope``, fields as Go writes them."""
    type_meta = bytearray()
    _put_bytes(type_meta, 1, envelope.api_version.encode())
    _put_bytes(type_meta, 2, envelope.kind.encode())
    out = bytearray(MAGIC)
    _put_bytes(out, 1, type_meta)
    _put_bytes(out, 2, envelope.raw)
    _put_bytes(out, 3, envelope.content_encoding.encode())
    _put_bytes(out, 4, envelope.content_type.encode())
    return bytes(out)


def message_for(api_version: str, kind: str) -> str | None:
    """The message of ``kind`` in ``api_version`` (``apps/v1``, ``Deployment`` ->
    ``k8s.io.api.apps.v1.Deployment``); the options and ``Status`` every group
    version carries are meta/v1's. None when there is none."""
    package = GROUP_VERSIONS.get(api_version)
    if package is None or not kind:
        return None
    for candidate in (f"{package}.{kind}", _META + kind):
        if candidate in MESSAGES and candidate not in _SPECIAL:
            return candidate
    return None


def decode_object(data: bytes, *, _depth: int = 0) -> dict[str, Any]:
    """The object in a protobuf body, as JSON data with ``apiVersion`` and ``kind``."""
    envelope = decode_envelope(data)
    if envelope.content_encoding:
        raise ProtobufError(f'unsupported content encoding "{envelope.content_encoding}"')
    name = message_for(envelope.api_version, envelope.kind)
    if name is None:
        raise ProtobufError(f'no kind "{envelope.kind}" is registered for version "{envelope.api_version}"')
    body = decode_message(name, envelope.raw, _depth=_depth + 1)
    if not isinstance(body, dict):
        raise ProtobufError(f"{envelope.kind} is not an object")
    return {"apiVersion": envelope.api_version, "kind": envelope.kind, **body}


def encode_object(obj: dict[str, Any]) -> bytes:
    """The protobuf body of ``obj`` (which names its ``apiVersion`` and ``kind``)."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise ProtobufError("an object needs apiVersion and kind to be encoded")
    name = message_for(api_version, kind)
    if name is None:
        raise ProtobufError(f'no kind "{kind}" is registered for version "{api_version}"')
    return encode_envelope(Envelope(api_version, kind, encode_message(name, obj)))
