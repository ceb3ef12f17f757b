"""Fuzzing the watch (issue 20): the decoder in :mod:`kemu.wire` and an
informer that hears bad frames between good ones.

The decoder gets heartbeats and events of the right shape with one part
bent (a field of the wrong type, missing, huge, an object without a name),
frame lists of the wrong length and random bytes: it returns a message
whose every field has its type, or raises ``WireError``, nothing else.

The informer's watch socket is connected to a relay that forwards the
apiserver's messages and slips fuzzed frames in between: after each batch
the informer still follows the store (a write made afterwards reaches its
cache) and its hub thread is alive.
"""

from __future__ import annotations

import math
import queue
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import strategies as fs
import zmq
from fuzzing import examples
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kemu import wire
from kemu.client import Client
from kemu.informer import Informer
from kemu.testing import ApiServerProcess
from kemu.types import Obj

pytestmark = pytest.mark.timeout(120)


HEARTBEAT: Obj = {"v": 1, "t": "heartbeat", "epoch": "e", "rv": 3, "seqs": {"Pod": 2, "ConfigMap": 1}, "interval": 0.5}
EVENT: Obj = {"v": 1, "t": "event", "type": "ADDED", "kind": "ConfigMap", "rv": 4, "seq": 2, "epoch": "e",
              "object": fs.skeleton("ConfigMap", "seed")}


@st.composite
def watch_payloads(draw: st.DrawFn) -> Any:
    """A heartbeat or event map with one to three fields bent, removed or added."""
    payload = dict(draw(st.sampled_from([HEARTBEAT, EVENT])))
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["replace", "remove", "add", "seqs", "object"]))
        key = draw(st.sampled_from(sorted(payload, key=repr)))
        if how == "replace":
            payload[key] = draw(fs.hostile_scalars() | fs.deep_values(1, 5))
        elif how == "remove":
            payload.pop(key, None)
        elif how == "add":
            payload[draw(fs.odd_keys())] = draw(fs.hostile_scalars())
        elif how == "seqs":
            payload["seqs"] = draw(st.dictionaries(fs.odd_keys() | st.sampled_from(["Pod", "ConfigMap"]),
                                                   fs.hostile_scalars(), max_size=3))
        else:
            payload["object"] = draw(fs.objects("ConfigMap"))
    return payload


def _frames() -> st.SearchStrategy[list[bytes]]:
    topic = st.sampled_from([wire.HEARTBEAT_TOPIC, wire.topic_bytes("ConfigMap"), b"", b"\xff\xfe\x00"])
    return st.one_of(
        st.tuples(topic, watch_payloads().map(wire.pack)).map(list),
        st.tuples(topic, st.binary(max_size=40)).map(list),
        st.lists(st.binary(max_size=20), max_size=4),
        st.tuples(topic, fs.hostile_scalars().map(wire.pack)).map(list),
    )


def _assert_well_typed(msg: wire.WatchEvent | wire.Heartbeat) -> None:
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    if isinstance(msg, wire.Heartbeat):
        assert isinstance(msg.epoch, str) and is_int(msg.rv)
        assert isinstance(msg.interval, float) and math.isfinite(msg.interval) and msg.interval > 0
        assert all(isinstance(k, str) and is_int(v) for k, v in msg.seqs.items()), msg.seqs
    else:
        assert msg.type in wire.EVENT_TYPES and isinstance(msg.kind, str) and isinstance(msg.epoch, str)
        assert is_int(msg.rv) and is_int(msg.seq)
        meta = msg.object["metadata"]
        assert isinstance(meta["name"], str) and meta["name"]
        assert meta.get("namespace") is None or isinstance(meta["namespace"], str)


class TestWatchDecoder:
    @settings(max_examples=examples(600), deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(frames=_frames())
    def test_bent_frames_are_wire_errors_or_well_typed(self, frames: list[bytes]) -> None:
        """Whatever the frames hold, decode_watch returns a well-typed message or raises WireError."""
        try:
            _, msg = wire.decode_watch(frames)
        except wire.WireError:
            return
        _assert_well_typed(msg)


# -- an informer behind a relay that slips bad frames in ------------------------------------------


class Relay:
    """Forwards the apiserver's watch messages to a PUB of its own and
    publishes injected frames between them (one thread owns both sockets)."""

    def __init__(self, upstream: str, address: str):
        self.upstream, self.address = upstream, address
        self.inject: queue.Queue[list[bytes]] = queue.Queue()
        self.forwarded = 0
        self.injected = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="fuzz-relay", daemon=True)

    def start(self) -> Relay:
        self.thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(10)

    def _run(self) -> None:
        ctx = zmq.Context.instance()
        sub = wire.make_socket(ctx, zmq.SUB)
        pub = wire.make_socket(ctx, zmq.PUB)
        try:
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            sub.connect(self.upstream)
            pub.bind(self.address)
            self._ready.set()
            while not self._stop.is_set():
                while True:
                    try:
                        frames = self.inject.get_nowait()
                    except queue.Empty:
                        break
                    pub.send_multipart(frames)
                    self.injected += 1
                if sub.poll(20):
                    pub.send_multipart(sub.recv_multipart())
                    self.forwarded += 1
        finally:
            sub.close(linger=0)
            pub.close(linger=0)


@pytest.fixture(scope="module")
def watched() -> Iterator[tuple[Client, Informer, Relay]]:
    """An apiserver, a relay in front of its watch socket, and a ConfigMap
    informer listening to the relay; all stopped at the end whatever happened."""
    with tempfile.TemporaryDirectory(prefix="kemu-fw-") as root:
        server = ApiServerProcess(Path(root))
        relay: Relay | None = None
        informer: Informer | None = None
        try:
            server.start()
            relay = Relay(server.watch_address, f"ipc://{root}/relay.sock").start()
            with Client(server.address, timeout=15.0) as good:
                good._watch_address = relay.address  # the informer hears the relay, not the apiserver
                informer = Informer(good, "ConfigMap", namespace="default")
                informer.start()
                assert informer.wait_synced(30)
                yield good, informer, relay
        finally:
            if informer is not None:
                informer.stop()
            if relay is not None:
                relay.stop()
            server.stop()
            server.kill()


def _wait_for(informer: Informer, name: str, rv: str, timeout: float = 8.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = informer.get(f"default/{name}")
        if obj is not None and obj["metadata"]["resourceVersion"] == rv:
            return True
        time.sleep(0.01)
    return False


class TestInformerUnderBadFrames:
    @settings(max_examples=examples(80), deadline=None, phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(batch=st.lists(_frames(), min_size=1, max_size=5))
    def test_informer_follows_the_store_through_bad_frames(
        self, watched: tuple[Client, Informer, Relay], batch: list[list[bytes]]
    ) -> None:
        """After bad frames on its watch socket, an informer still sees the next write."""
        good, informer, relay = watched
        for frames in batch:
            if frames:  # ZeroMQ has no message of zero frames
                relay.inject.put(frames)
        obj = good.create({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"generateName": "w-", "namespace": "default"}, "data": {"a": "1"}})
        name, rv = obj["metadata"]["name"], obj["metadata"]["resourceVersion"]
        assert _wait_for(informer, name, rv), f"the informer missed {name} after {batch!r:.600}"
        hub = informer._hub
        assert hub is not None and hub.thread.is_alive() and relay.thread.is_alive()

    def test_frames_were_relayed(self, watched: tuple[Client, Informer, Relay]) -> None:
        """The relay really carried the apiserver's messages and the fuzzed ones (the test above is no no-op)."""
        _, _, relay = watched
        assert relay.forwarded > 0 and relay.injected > 0


def test_heartbeat_with_a_null_seq_is_dropped_not_fatal(watched: tuple[Client, Informer, Relay]) -> None:
    """Issue 20's heartbeat ``{"seqs": {"Pod": None}}`` is dropped by the informer, which carries on."""
    good, informer, relay = watched
    before = (informer.relists, informer.resyncs)
    relay.inject.put([wire.HEARTBEAT_TOPIC, msgpack.packb({**HEARTBEAT, "seqs": {"ConfigMap": None}})])
    time.sleep(0.2)  # not a timing assertion: room for the frame to arrive before the write
    obj = good.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after-null", "namespace": "default"}})
    assert _wait_for(informer, "after-null", obj["metadata"]["resourceVersion"])
    # A TypeError in the decoder made the hub reconnect, and the informer resynchronise.
    assert (informer.relists, informer.resyncs) == before
