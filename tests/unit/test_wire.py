"""The wire's decoders: typed envelopes round-trip, and no input makes them
raise anything but WireError."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kemu import wire

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=20) | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


class TestRequest:
    def test_round_trip(self) -> None:
        """A request decodes to what was encoded."""
        req = wire.Request(7, "list", "Pod", "default", None, None, {"label_selector": "app=web"})
        assert wire.Request.decode(req.encode()) == req

    @pytest.mark.parametrize(
        ("payload", "message"),
        [
            ([1, 2], "a request must be a map, got list"),
            ({"id": 1, "op": "get"}, "field 'v' must be int, got NoneType"),
            ({"v": 2, "id": 1, "op": "get"}, "unsupported protocol version 2 (this side speaks 1)"),
            ({"v": 1, "id": True, "op": "get"}, "field 'id' must be int, got bool"),
            ({"v": 1, "id": 1, "op": "nuke"}, "unknown operation 'nuke'"),
            ({"v": 1, "id": 1, "op": "get", "kind": 5}, "field 'kind' must be str, got int"),
            ({"v": 1, "id": 1, "op": "get", "opts": "x"}, "field 'opts' must be a map"),
        ],
    )
    def test_bad_requests_are_named(self, payload: object, message: str) -> None:
        """Each malformed request gets a WireError saying what is wrong."""
        with pytest.raises(wire.WireError) as exc:
            wire.Request.decode(msgpack.packb(payload))
        assert str(exc.value) == message

    @settings(max_examples=500, deadline=None)
    @given(st.binary(max_size=200))
    def test_random_bytes_never_escape_as_other_errors(self, data: bytes) -> None:
        """Arbitrary bytes decode to a Request or raise WireError, nothing else."""
        try:
            wire.Request.decode(data)
        except wire.WireError:
            pass

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(st.sampled_from(["v", "id", "op", "kind", "ns", "name", "body", "opts"]), json_values))
    def test_random_maps_never_escape_as_other_errors(self, payload: dict) -> None:
        """Plausible maps with wrong types raise WireError, nothing else."""
        try:
            wire.Request.decode(msgpack.packb(payload, use_bin_type=True))
        except wire.WireError:
            pass


class TestWatch:
    def test_event_round_trip(self) -> None:
        """A watch event survives the wire with its topic."""
        ev = wire.WatchEvent("ADDED", "Pod", {"metadata": {"name": "a"}}, 5, 1, "e")
        topic, msg = wire.decode_watch([wire.topic_bytes("Pod@node-1"), ev.encode()])
        assert topic == "Pod@node-1" and msg == ev

    def test_topics_do_not_prefix_each_other(self) -> None:
        """node-1's topic is not a prefix of node-10's (ZeroMQ matches prefixes)."""
        assert not wire.topic_bytes("Pod@node-10").startswith(wire.topic_bytes("Pod@node-1"))

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.binary(max_size=60), max_size=3))
    def test_random_frames_raise_wire_error(self, frames: list[bytes]) -> None:
        """Garbage on the watch socket is a WireError, never a crash."""
        try:
            wire.decode_watch(frames)
        except wire.WireError:
            pass

    def test_heartbeat_round_trip(self) -> None:
        """A heartbeat survives the wire with its per-topic sequences."""
        beat = wire.Heartbeat("e", 7, {"Pod": 3, "Pod@node-1": 1}, 0.5)
        assert wire.decode_watch([wire.HEARTBEAT_TOPIC, beat.encode()]) == ("\x00heartbeat", beat)

    @pytest.mark.parametrize("change", [
        {"seqs": {"Pod": None}},  # issue 20: TypeError in int(None)
        {"seqs": {"Pod": "x"}},  # ValueError in int("x")
        {"seqs": {"Pod": float("inf")}},  # OverflowError in int(inf)
        {"seqs": {"Pod": float("nan")}},
        {"seqs": {"Pod": [1]}},
        {"seqs": {"Pod": True}},
        {"seqs": {"Pod": -1}},
        {"seqs": {b"Pod": 1}},  # str(b"Pod") would be the topic "b'Pod'"
        {"seqs": {None: 1}},
        {"seqs": [("Pod", 1)]},
        {"interval": float("nan")},
        {"interval": float("inf")},
        {"interval": 0},
        {"interval": True},
        {"rv": -5},
        {"rv": None},
        {"epoch": 1},
    ])
    def test_heartbeats_of_the_wrong_types_are_wire_errors(self, change: dict) -> None:
        """A heartbeat with a wrong type anywhere is a WireError, never a TypeError."""
        payload = {"v": 1, "t": "heartbeat", "epoch": "e", "rv": 1, "seqs": {"Pod": 1}, "interval": 0.5, **change}
        with pytest.raises(wire.WireError):
            wire.decode_watch([wire.HEARTBEAT_TOPIC, msgpack.packb(payload, use_bin_type=True)])

    @pytest.mark.parametrize("change", [
        {"type": "BOOKMARKED"},
        {"type": None},
        {"object": {"spec": {}}},  # an informer files objects by metadata.name
        {"object": {"metadata": [1]}},
        {"object": {"metadata": {"name": 5}}},
        {"object": {"metadata": {"name": ""}}},
        {"object": {"metadata": {"name": "a", "namespace": 3}}},
        {"seq": -1},
        {"seq": 1.5},
        {"rv": True},
        {"kind": b"Pod"},
    ])
    def test_events_of_the_wrong_types_are_wire_errors(self, change: dict) -> None:
        """An event whose fields an informer could not use is a WireError."""
        payload = {"v": 1, "t": "event", "type": "ADDED", "kind": "Pod", "object": {"metadata": {"name": "a"}},
                   "rv": 5, "seq": 1, "epoch": "e", **change}
        with pytest.raises(wire.WireError):
            wire.decode_watch([wire.topic_bytes("Pod"), msgpack.packb(payload, use_bin_type=True)])


class TestVersionAndEventsSince:
    def test_a_watch_message_of_another_protocol_is_refused_by_name(self) -> None:
        """A peer of another protocol version is told so, not misread field by field."""
        payload = {"v": 9, "t": "heartbeat", "epoch": "e", "rv": 1, "seqs": {}, "interval": 0.5}
        with pytest.raises(wire.WireError, match=r"unsupported protocol version 9 \(this side speaks 1\)"):
            wire.decode_watch([wire.HEARTBEAT_TOPIC, msgpack.packb(payload, use_bin_type=True)])

    def test_replies_carry_and_check_the_version(self) -> None:
        reply = wire.Reply(3, 200, {"ok": True})
        assert wire.Reply.decode(reply.encode()) == reply
        with pytest.raises(wire.WireError, match="unsupported protocol version 0"):
            wire.Reply.decode(msgpack.packb({"v": 0, "id": 3, "code": 200}))

    def test_events_since_round_trip(self) -> None:
        """The server's body decodes to the same typed answer."""
        answer = wire.EventsSince([wire.PastEvent("MODIFIED", {"metadata": {"name": "a"}}, 7)], 9, 4, "e")
        assert wire.EventsSince.decode(answer.body()) == answer

    @pytest.mark.parametrize("body", [
        None,
        {"events": None, "rv": 1, "seq": 1, "epoch": "e"},
        {"events": [5], "rv": 1, "seq": 1, "epoch": "e"},
        {"events": [{"type": "GONE", "object": {"metadata": {"name": "a"}}, "rv": 1}], "rv": 1, "seq": 1, "epoch": "e"},
        {"events": [{"type": "ADDED", "object": {}, "rv": 1}], "rv": 1, "seq": 1, "epoch": "e"},
        {"events": [{"type": "ADDED", "object": {"metadata": {"name": "a"}}, "rv": "1"}], "rv": 1, "seq": 1, "epoch": "e"},
        {"events": [], "rv": None, "seq": 1, "epoch": "e"},
        {"events": [], "rv": 1, "seq": -1, "epoch": "e"},
        {"events": [], "rv": 1, "seq": 1, "epoch": 2},
    ])
    def test_bad_events_since_bodies_are_wire_errors(self, body: object) -> None:
        """A reply an informer could not use is a WireError, never a KeyError or TypeError."""
        with pytest.raises(wire.WireError):
            wire.EventsSince.decode(body)
