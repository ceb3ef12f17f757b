"""What every request body must be before any code reads it.

Kubernetes receives JSON (or YAML or protobuf turned into the same Go
structs), so a body is always a tree of maps with string keys, lists and
scalars of bounded size. kemu's request socket speaks msgpack, which can say
more: integer, float, boolean or binary map keys, and nesting as deep as the
decoder allows (msgpack stops at 1,024 levels; Python's recursion limit, which
every recursive merge and walk in kemu lives under, is about the same). This
module holds the one check that keeps such input out, run by the apiserver on
every body before it reaches the registry and by the HTTP front door on every
decoded body:

- every map key is a ``str`` (``spec.selector: map keys must be strings, got
  int 1`` names the field, as a decode error does);
- nesting is at most :data:`MAX_DEPTH` levels; real objects nest about 15
  deep (a pod template's container's probe's header list);
- numbers are what the apiserver's JSON decoding gives a Go struct: integers
  within int64 (a bigger one travels neither into an ``int64`` field nor
  through msgpack, whose encoder raised OverflowError: a 500), floats finite
  (``NaN`` and ``Infinity``, which Python's ``json`` reads, are no JSON);
- strings (keys too) are Unicode that UTF-8 can carry: a lone surrogate, which
  a ``\\ud83e`` escape gives in JSON and YAML, cannot be encoded onto the
  wire or into the store.

The walk is iterative (no recursion to overflow) and costs about 10 µs for a
typical pod.
"""

from __future__ import annotations

import math
from typing import Any

from kemu.api import errors

__all__ = ["MAX_DEPTH", "check_body", "body_problem"]

MAX_DEPTH = 100
"""The deepest nesting a body may have (maps and lists both count)."""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_CONTAINERS = (dict, list)
_NUMBERS = (int, float)


def _number_problem(value: Any) -> str | None:
    """What is wrong with a scalar as a JSON number, or None."""
    kind = type(value)
    if kind is int and not INT64_MIN <= value <= INT64_MAX:
        text = str(value) if value.bit_length() <= 128 else f"of {value.bit_length()} bits"  # str() of a huge int raises
        return f"the number {text} is out of range for int64"
    if kind is float and not math.isfinite(value):
        return f"{value} is not a valid JSON number"
    return None


def _text_problem(value: str) -> str | None:
    """What is wrong with a string as UTF-8 text, or None (ASCII is checked in C, fast)."""
    if value.isascii():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"invalid UTF-8 in string: {exc.reason} at position {exc.start}"
    return None


def _path(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "<root>"


def body_problem(value: Any, *, max_depth: int = MAX_DEPTH) -> str | None:
    """What is wrong with ``value`` as a JSON-shaped body, or None.

    >>> body_problem({"spec": {"selector": {"app": "x", 1: "y"}}})
    'spec.selector: map keys must be strings, got int 1'
    >>> body_problem({"metadata": {"name": "x"}}) is None
    True
    """
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if len(path) >= max_depth:
            return f"{_path(path[:10])}...: the body nests deeper than {max_depth} levels"
        if type(item) is dict:
            for key, child in item.items():
                if type(key) is not str:
                    return f"{_path(path)}: map keys must be strings, got {type(key).__name__} {key!r:.40}"
                if problem := _text_problem(key):
                    return f"{_path(path)}: map key {problem}"
                if type(child) in _CONTAINERS:
                    stack.append((child, [*path, key]))
                elif (type(child) in _NUMBERS and (problem := _number_problem(child))) or (type(child) is str and (problem := _text_problem(child))):
                    return f"{_path([*path, key])}: {problem}"
        elif type(item) is list:
            for index, child in enumerate(item):
                if type(child) in _CONTAINERS:
                    stack.append((child, [*path, index]))
                elif (type(child) in _NUMBERS and (problem := _number_problem(child))) or (type(child) is str and (problem := _text_problem(child))):
                    return f"{_path([*path, index])}: {problem}"
        elif problem := _number_problem(item):  # the body itself is a number
            return f"{_path(path)}: {problem}"
    return None


def check_body(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``400 BadRequest`` when ``value`` is not a JSON-shaped body (see
    :func:`body_problem`)."""
    if type(value) not in _CONTAINERS and type(value) not in _NUMBERS:
        return
    problem = body_problem(value, max_depth=max_depth)
    if problem is not None:
        raise errors.bad_request(problem)
