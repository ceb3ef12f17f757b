"""What every fuzz test checks after each input (issue 20): the reply, what
was stored, and that a well-behaved client is still served.

Shared by the fuzz modules of this directory; the strategies that build the
input are in :mod:`strategies`.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import msgpack
import zmq

from kemu import wire
from kemu.api import errors
from kemu.api.bodies import body_problem
from kemu.api.kinds import KINDS
from kemu.api.validation import validate
from kemu.client import Client
from kemu.types import Obj

__all__ = ["examples", "RawSocket", "STORED_KINDS", "assert_status_reply", "assert_stored_objects_valid", "assert_good_client_served"]


REPLY_TIMEOUT = 15.0
"""How long any reply may take: generous (a 2 MiB body through validation on
a busy 2-core machine), but a hang fails the example instead of the suite's
timeout."""

EXAMPLES_SCALE = float(os.environ.get("KEMU_FUZZ_SCALE", "1"))
"""Multiplies every fuzz test's ``max_examples``: CI runs the modest default
(about a minute in all); ``KEMU_FUZZ_SCALE=20`` is a longer hunt."""


def examples(n: int) -> int:
    """``n`` examples, scaled by :data:`EXAMPLES_SCALE`."""
    return max(1, round(n * EXAMPLES_SCALE))


STORED_KINDS = tuple(k for k, info in sorted(KINDS.items()) if info.verbs is None)
"""The kinds the apiserver stores (the review kinds are only created, never kept)."""


class RawSocket:
    """A DEALER that sends any msgpack it is given and reads replies by id."""

    def __init__(self, address: str):
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(address)
        self.next_id = 1

    def close(self) -> None:
        self.sock.close(linger=0)

    def send_frame(self, frame: bytes) -> None:
        self.sock.send(frame)

    def send(self, request: Obj) -> int:
        """Send ``request`` with a fresh ``v`` and ``id`` (the request's own win if it has them)."""
        rid = self.next_id
        self.next_id += 1
        self.sock.send(msgpack.packb({"v": 1, "id": rid, **request}, use_bin_type=True))
        return rid

    def reply(self, rid: int, timeout: float = REPLY_TIMEOUT) -> wire.Reply:
        """The reply to ``rid``; replies to other ids (earlier examples' stragglers) are skipped."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if self.sock.poll(int(left * 1000) + 1):
                reply = wire.Reply.decode(self.sock.recv())
                if reply.id == rid:
                    return reply
        raise AssertionError(f"no reply to request {rid} within {timeout}s")

    def drain(self) -> list[wire.Reply]:
        """Every reply waiting on the socket now."""
        out = []
        while self.sock.poll(0):
            out.append(wire.Reply.decode(self.sock.recv()))
        return out


def assert_status_reply(code: int, body: Any, *, context: Any = None) -> None:
    """Any reply is below 500; an error reply is a Kubernetes ``Status`` with its code."""
    assert code < 500, f"{code}: {body!r:.600}\nrequest: {context!r:.600}"
    if code >= 400:
        assert isinstance(body, dict) and body.get("kind") == "Status", f"{code}: {body!r:.500}"
        assert body.get("code") == code and body.get("status") == "Failure", body
        assert isinstance(body.get("message"), str) and isinstance(body.get("reason"), str), body


def assert_object_valid(obj: Any, kind: str) -> None:
    """``obj`` as listed from the store is what Kubernetes could have stored:
    JSON-shaped (string keys, bounded depth, finite numbers), named, of its
    kind, and passing kemu's validation."""
    info = KINDS[kind]
    assert isinstance(obj, dict), obj
    assert body_problem(obj) is None, (body_problem(obj), obj)
    json.dumps(obj, allow_nan=False)  # ValueError: a NaN or infinity was stored
    assert (obj.get("apiVersion"), obj.get("kind")) == (info.api_version, kind), obj
    meta = obj.get("metadata")
    assert isinstance(meta, dict), obj
    assert isinstance(meta.get("name"), str) and meta["name"], meta
    assert isinstance(meta.get("uid"), str) and isinstance(meta.get("resourceVersion"), str), meta
    assert meta["resourceVersion"].isdigit(), meta
    if info.namespaced:
        assert isinstance(meta.get("namespace"), str) and meta["namespace"], meta
    else:
        assert meta.get("namespace") in (None, ""), meta
    try:
        validate(obj)
    except errors.ApiError as exc:
        raise AssertionError(f"stored {kind} {meta['name']} does not validate: {exc.message}\n{obj!r:.2000}") from None


def assert_stored_objects_valid(client: Client, kinds: tuple[str, ...] | list[str] = STORED_KINDS) -> int:
    """List every one of ``kinds`` (all namespaces) and check each item; the
    number of objects checked."""
    seen = 0
    for kind in kinds:
        listing = client.list(kind, all_namespaces=KINDS[kind].namespaced, timeout=REPLY_TIMEOUT)
        for obj in listing["items"]:
            assert_object_valid(obj, kind)
            seen += 1
    return seen


def assert_good_client_served(client: Client) -> None:
    """A well-behaved client's ping and read are answered (the client's own
    timeout bounds the wait; no timing is asserted beyond it)."""
    assert client.ping(timeout=REPLY_TIMEOUT)["revision"] > 0
    assert client.get("Namespace", "default")["metadata"]["name"] == "default"
