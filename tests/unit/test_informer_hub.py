"""The informer hub against a fake apiserver (a PUB socket on inproc and a
fake client): sharing, dispatch by topic, gaps, silence, and shutdown."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq

from kemu import informer as informer_mod
from kemu import wire
from kemu.api import errors
from kemu.informer import Change, Informer

pytestmark = pytest.mark.timeout(30)

_addresses = itertools.count(1)


class FakeApiServer:
    """Publishes events and heartbeats from the test thread and answers
    ``list`` / ``events_since`` from its own history, like the apiserver."""

    def __init__(self, ctx: zmq.Context) -> None:
        self.ctx = ctx
        self.watch_address = f"inproc://fake-watch-{next(_addresses)}"
        self.pub = ctx.socket(zmq.PUB)
        self.pub.bind(self.watch_address)
        self.epoch = "e1"
        self.rv = 0
        self.seqs: dict[str, int] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self.history: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.calls: list[str] = []

    def write(self, name: str, *, publish: bool = True) -> None:
        """Create or update ConfigMap ``name``; publish it unless the network 'loses' it."""
        with self.lock:
            self.rv += 1
            etype = "MODIFIED" if name in self.objects else "ADDED"
            obj = {"kind": "ConfigMap", "metadata": {"name": name, "namespace": "default",
                                                     "resourceVersion": str(self.rv)}}
            self.objects[name] = obj
            self.history.append((etype, obj))
            seq = self.seqs["ConfigMap"] = self.seqs.get("ConfigMap", 0) + 1
            event = wire.WatchEvent(etype, "ConfigMap", obj, self.rv, seq, self.epoch)
        if publish:
            self.pub.send_multipart([wire.topic_bytes("ConfigMap"), event.encode()])

    def delete(self, name: str, *, publish: bool = True) -> None:
        """Delete ConfigMap ``name``; publish it unless the network 'loses' it."""
        with self.lock:
            self.rv += 1
            obj = dict(self.objects.pop(name))
            obj["metadata"] = {**obj["metadata"], "resourceVersion": str(self.rv)}
            self.history.append(("DELETED", obj))
            seq = self.seqs["ConfigMap"] = self.seqs.get("ConfigMap", 0) + 1
            event = wire.WatchEvent("DELETED", "ConfigMap", obj, self.rv, seq, self.epoch)
        if publish:
            self.pub.send_multipart([wire.topic_bytes("ConfigMap"), event.encode()])

    def heartbeat(self) -> None:
        with self.lock:
            beat = wire.Heartbeat(self.epoch, self.rv, dict(self.seqs), 0.02)
        self.pub.send_multipart([wire.HEARTBEAT_TOPIC, beat.encode()])

    def until(self, cond: Callable[[], bool], timeout: float = 5.0, *, beats: bool = True) -> None:
        """Heartbeat every 20 ms until ``cond`` holds."""
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, "condition not met in time"
            if beats:
                self.heartbeat()
            time.sleep(0.02)

    def list(self, kind: str) -> dict[str, Any]:
        with self.lock:
            self.calls.append(f"list {kind}")
            items = list(self.objects.values()) if kind == "ConfigMap" else []
            return {"items": items, "metadata": {"resourceVersion": str(self.rv)}}

    def events_since(self, kind: str, rv: int) -> dict[str, Any]:
        with self.lock:
            self.calls.append(f"events_since {kind} {rv}")
            events = [{"type": t, "object": o, "rv": int(o["metadata"]["resourceVersion"])}
                      for t, o in self.history if int(o["metadata"]["resourceVersion"]) > rv]
            return {"events": events, "rv": self.rv, "seq": self.seqs.get(kind, 0), "epoch": self.epoch}

    def close(self) -> None:
        self.pub.close(linger=0)


class FakeClient:
    """The part of :class:`kemu.client.Client` an informer uses."""

    def __init__(self, server: FakeApiServer, address: str = "ipc://fake-api") -> None:
        self.server = server
        self.ctx = server.ctx
        self.address = address

    def watch_address(self) -> str:
        return self.server.watch_address

    def list_all(self, kind: str, namespace: str | None = None, **_opts: Any) -> Any:
        return self.server.list(kind)

    def events_since(self, kind: str, rv: int, *, node: str | None = None) -> wire.EventsSince:
        return wire.EventsSince.decode(self.server.events_since(kind, rv))


class Names:
    """A handler that records the names it is told about."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_add(self, obj: dict[str, Any]) -> None:
        self.names.append(obj["metadata"]["name"])

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.names.append(new["metadata"]["name"])

    def on_delete(self, obj: dict[str, Any]) -> None:
        self.names.append("-" + obj["metadata"]["name"])


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    ctx = zmq.Context()
    srv = FakeApiServer(ctx)
    try:
        yield srv
    finally:
        srv.close()
        ctx.term()


def informer(server: FakeApiServer, kind: str = "ConfigMap", **kw: Any) -> Informer:
    return Informer(FakeClient(server), kind, **kw)  # type: ignore[arg-type]


def hubs_of(server: FakeApiServer) -> list[Any]:
    return [hub for (ctx_id, _), hub in informer_mod._hubs.items() if ctx_id == id(server.ctx)]


class TestSharing:
    def test_informers_with_one_context_and_server_share_one_hub(self, server: FakeApiServer) -> None:
        """Three informers of one process and apiserver run on one hub thread."""
        infs = [informer(server).start(), informer(server).start(), informer(server, "Node").start()]
        try:
            server.until(lambda: all(i.synced for i in infs))
            assert len(hubs_of(server)) == 1
            assert {id(i._hub) for i in infs} == {id(hubs_of(server)[0])}
        finally:
            for i in infs:
                i.stop()

    def test_another_context_gets_its_own_hub(self, server: FakeApiServer) -> None:
        """Sockets cannot cross contexts, so another context means another hub."""
        other_ctx = zmq.Context()
        try:
            other = Informer(FakeClient(server), "ConfigMap")  # type: ignore[arg-type]
            other.client.ctx = other_ctx
            mine = informer(server).start()
            other.start()
            assert mine._hub is not other._hub
            mine.stop()
            other.stop()
        finally:
            other_ctx.term()

    def test_events_go_only_to_their_topic(self, server: FakeApiServer) -> None:
        """A ConfigMap event reaches the ConfigMap informers, not the Node informer."""
        cms, nodes = Names(), Names()
        cm_inf, node_inf = informer(server), informer(server, "Node")
        cm_inf.add_handler(cms)
        node_inf.add_handler(nodes)
        cm_inf.start()
        node_inf.start()
        try:
            server.until(lambda: cm_inf.synced and node_inf.synced)
            server.write("a")
            server.until(lambda: cms.names == ["a"])
            assert nodes.names == []
            assert cm_inf.resyncs == 0 and cm_inf.relists == 1
        finally:
            cm_inf.stop()
            node_inf.stop()


class TestLifeCycle:
    def test_last_stop_ends_the_hub(self, server: FakeApiServer) -> None:
        """Stopping one informer keeps the hub; stopping the last ends its thread."""
        first, second = informer(server).start(), informer(server).start()
        server.until(lambda: first.synced and second.synced)
        hub = hubs_of(server)[0]
        first.stop()
        assert hub.thread.is_alive()
        server.write("b")
        server.until(lambda: second.get("default/b") is not None)
        assert first.get("default/b") is None
        second.stop()
        hub.thread.join(5)
        assert not hub.thread.is_alive()
        assert hubs_of(server) == []

    def test_a_new_informer_after_the_hub_ended_gets_a_new_hub(self, server: FakeApiServer) -> None:
        """The registry forgets an ended hub; the next start creates one."""
        first = informer(server).start()
        server.until(lambda: first.synced)
        old_hub = first._hub
        first.stop()
        second = informer(server).start()
        try:
            server.until(lambda: second.synced)
            assert second._hub is not old_hub
        finally:
            second.stop()

    def test_stop_before_start_is_harmless(self, server: FakeApiServer) -> None:
        """stop() of an informer that never started returns at once."""
        informer(server).stop()
        assert hubs_of(server) == []


class TestGaps:
    def test_a_lost_event_is_filled_with_events_since(self, server: FakeApiServer) -> None:
        """A sequence jump makes that informer (not its hub peers) ask for the missing events."""
        inf = informer(server).start()
        try:
            server.until(lambda: inf.synced)
            server.write("lost", publish=False)
            server.write("seen")
            server.until(lambda: inf.get("default/lost") is not None, beats=False)
            assert inf.resyncs == 1
            assert any(c.startswith("events_since ConfigMap") for c in server.calls)
        finally:
            inf.stop()

    def test_failed_resync_retries_at_a_later_heartbeat(self, server: FakeApiServer) -> None:
        """An events_since that fails is tried again, and the informer converges."""
        inf = informer(server).start()
        original = server.events_since
        failures = {"n": 0}

        def flaky(kind: str, rv: int) -> dict[str, Any]:
            if failures["n"] < 2:
                failures["n"] += 1
                raise errors.ApiError(errors.status_dict(503, "ServiceUnavailable", "try again"))
            return original(kind, rv)

        try:
            server.until(lambda: inf.synced)
            server.events_since = flaky  # type: ignore[method-assign]
            server.write("x", publish=False)
            server.until(lambda: inf.get("default/x") is not None)
            assert failures["n"] == 2
        finally:
            inf.stop()

    def test_epoch_change_resynchronises(self, server: FakeApiServer) -> None:
        """A heartbeat from a new epoch (restarted server) makes the informer catch up."""
        inf = informer(server).start()
        try:
            server.until(lambda: inf.synced)
            server.epoch = "e2"
            server.write("after-restart", publish=False)
            server.until(lambda: inf.get("default/after-restart") is not None)
            assert inf.epoch == "e2"
        finally:
            inf.stop()


class TestSilence:
    def test_silence_reconnects_with_a_fresh_socket(self, server: FakeApiServer) -> None:
        """No message for heartbeat_timeout: the hub opens a new socket and the informer resyncs."""
        inf = informer(server, heartbeat_timeout=0.2, max_backoff=0.1).start()
        try:
            server.until(lambda: inf.synced)
            hub = inf._hub
            assert hub is not None
            first_socket = hub._sub
            server.write("quiet", publish=False)
            time.sleep(0.5)  # silence: no heartbeat
            server.until(lambda: inf.get("default/quiet") is not None)
            assert hub._sub is not first_socket
            assert inf.relists == 1
        finally:
            inf.stop()


class Blocker(Names):
    """A handler that blocks (up to 20 s) on its first event until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()

    def on_add(self, obj: dict[str, Any]) -> None:
        self.entered.set()
        self.release.wait(20)
        super().on_add(obj)


class TestIsolation:
    def test_a_blocked_handler_does_not_delay_another_informer(self, server: FakeApiServer) -> None:
        """Handlers run on each informer's own dispatcher: while one blocks, a
        peer on the same hub still gets its events, and the blocked informer's
        cache still converges."""
        blocker, names = Blocker(), Names()
        slow, fast = informer(server), informer(server)
        slow.add_handler(blocker)
        fast.add_handler(names)
        slow.start()
        fast.start()
        try:
            server.until(lambda: slow.synced and fast.synced)
            server.write("a")
            assert blocker.entered.wait(5)
            server.write("b")
            server.until(lambda: names.names == ["a", "b"], timeout=10)
            server.until(lambda: slow.get("default/b") is not None, timeout=10)
            assert blocker.names == []
        finally:
            blocker.release.set()
            slow.stop()
            fast.stop()

    def test_a_long_relist_of_one_kind_does_not_stall_another(self, server: FakeApiServer) -> None:
        """The list runs on the listing informer's reflector, not the hub thread."""
        gate, listing = threading.Event(), threading.Event()
        original = server.list

        def slow_list(kind: str) -> dict[str, Any]:
            if kind == "Node":
                listing.set()
                gate.wait(20)
            return original(kind)

        names = Names()
        cms = informer(server)
        cms.add_handler(names)
        cms.start()
        nodes = None
        try:
            server.until(lambda: cms.synced)
            server.list = slow_list  # type: ignore[method-assign]
            nodes = informer(server, "Node").start()
            server.until(listing.is_set, timeout=10)
            server.write("during-relist")
            server.until(lambda: names.names == ["during-relist"], timeout=10)
            assert not nodes.synced
        finally:
            gate.set()
            cms.stop()
            if nodes is not None:
                nodes.stop()


class TestPeriodicResync:
    def test_resync_hands_every_cached_object_to_on_update(self, server: FakeApiServer) -> None:
        """With resync_period, handlers get on_update(obj, obj) for each cached
        object, without asking the server."""
        updates: list[tuple[Any, Any]] = []

        class Updates(Names):
            def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
                updates.append((old, new))

        server.write("r")
        inf = informer(server, resync_period=0.1)
        inf.add_handler(Updates())
        inf.start()
        try:
            server.until(lambda: inf.periodic_resyncs >= 2)
            assert updates and all(old is new and new["metadata"]["name"] == "r" for old, new in updates)
            assert server.calls.count("list ConfigMap") == 1
        finally:
            inf.stop()

    def test_no_resync_by_default(self, server: FakeApiServer) -> None:
        server.write("r")
        inf = informer(server).start()
        try:
            server.until(lambda: inf.synced)
            time.sleep(0.3)
            assert inf.periodic_resyncs == 0
        finally:
            inf.stop()


class Feed:
    """A change listener that records what it is told, in order."""

    def __init__(self) -> None:
        self.notices: list[tuple[Any, ...]] = []

    def on_change(self, change: Change) -> None:
        prev_rv = None if change.prev is None else change.prev["metadata"]["resourceVersion"]
        self.notices.append((change.type, change.object["metadata"]["name"], prev_rv, change.rv))

    def on_replaced(self, rv: int) -> None:
        self.notices.append(("replaced", rv))

    def on_progress(self, rv: int) -> None:
        self.notices.append(("progress", rv))

    def changes(self) -> list[tuple[Any, ...]]:
        return [n for n in self.notices if n[0] != "progress"]


def expire_history(server: FakeApiServer) -> None:
    """From now on the fake answers events_since with 410 Expired."""

    def gone(kind: str, rv: int) -> dict[str, Any]:
        raise errors.ApiError(errors.status_dict(410, "Expired", f"too old resource version: {rv}"))

    server.events_since = gone  # type: ignore[method-assign]


class TestChangeFeed:
    def test_changes_come_in_cache_order_with_previous_objects(self, server: FakeApiServer) -> None:
        """Watch events and a gap filled by events_since reach the listener as
        one ordered feed, each change with the object before it; handlers
        still get on_add/on_update/on_delete."""
        feed, names = Feed(), Names()
        inf = informer(server)
        inf.add_listener(feed)
        inf.add_handler(names)
        inf.start()
        try:
            server.until(lambda: inf.synced)
            server.write("a")
            server.write("a")
            server.delete("a")
            server.write("lost", publish=False)
            server.write("seen")
            server.until(lambda: len(feed.changes()) == 5, beats=False)
            assert feed.changes() == [
                ("ADDED", "a", None, 1),
                ("MODIFIED", "a", "1", 2),
                ("DELETED", "a", "2", 3),
                ("ADDED", "lost", None, 4),
                ("ADDED", "seen", None, 5),
            ]
            assert inf.resyncs == 1  # "lost" came from events_since
            server.until(lambda: names.names == ["a", "a", "-a", "lost", "seen"])
        finally:
            inf.stop()

    def test_heartbeats_move_the_resource_version_as_progress(self, server: FakeApiServer) -> None:
        """Writes of other kinds move the heartbeat's revision: the informer's
        rv follows once the sequence check passes, and the listener is told."""
        feed = Feed()
        inf = informer(server)
        inf.add_listener(feed)
        inf.start()
        try:
            server.until(lambda: inf.synced)
            with server.lock:
                server.rv += 7  # as if seven changes of other kinds were committed
            server.until(lambda: inf.rv == 7)
            server.until(lambda: ("progress", 7) in feed.notices)
            assert feed.changes() == []
        finally:
            inf.stop()

    def test_a_relist_is_told_as_replaced_before_its_differences(self, server: FakeApiServer) -> None:
        """When the server forgot the gap (410), the informer relists: the
        listener hears ``replaced`` first, then the differences at the list's
        resourceVersion; the local history starts over there."""
        server.write("kept")
        server.write("gone")
        feed = Feed()
        inf = informer(server, history=10)
        inf.add_listener(feed)
        inf.start()
        try:
            server.until(lambda: inf.synced)
            before = inf.rv
            assert inf.events_since(before) == []
            expire_history(server)
            server.write("new", publish=False)
            server.delete("gone", publish=False)
            server.until(lambda: inf.relists == 2)
            server.until(lambda: ("replaced", 4) in feed.notices)
            after = feed.changes()[feed.changes().index(("replaced", 4)):]
            assert after == [("replaced", 4), ("ADDED", "new", None, 4), ("DELETED", "gone", "2", 4)]
            assert inf.events_since(before) is None  # the history is broken there
            assert inf.events_since(4) == []
            assert inf.history_start == 4
        finally:
            inf.stop()

    def test_the_first_list_is_not_a_replacement(self, server: FakeApiServer) -> None:
        server.write("a")
        feed = Feed()
        inf = informer(server)
        inf.add_listener(feed)
        inf.start()
        try:
            server.until(lambda: inf.synced)
            server.until(lambda: ("progress", 1) in feed.notices)
            assert feed.changes() == [("ADDED", "a", None, 1)]
        finally:
            inf.stop()


class TestHistory:
    def test_events_since_replays_the_ring_and_says_none_beyond_it(self, server: FakeApiServer) -> None:
        """``history=3`` keeps the last three changes: events_since within them
        answers locally (no call to the server), older is None."""
        inf = informer(server, history=3).start()
        try:
            server.until(lambda: inf.synced)
            for name in "abcde":
                server.write(name)
            server.until(lambda: inf.rv == 5)
            calls = list(server.calls)
            since = inf.events_since(3)
            assert since is not None
            assert [(c.type, c.object["metadata"]["name"], c.rv) for c in since] == [("ADDED", "d", 4), ("ADDED", "e", 5)]
            assert [c.rv for c in inf.events_since(2) or []] == [3, 4, 5]
            assert inf.events_since(5) == []
            assert inf.history_start == 2
            assert inf.events_since(1) is None  # the ring overflowed past it
            assert inf.events_since(0) is None
            assert server.calls == calls
        finally:
            inf.stop()

    def test_history_is_off_by_default(self, server: FakeApiServer) -> None:
        inf = informer(server).start()
        try:
            server.until(lambda: inf.synced)
            server.write("a")
            server.until(lambda: inf.rv == 1)
            assert inf.events_since(0) is None
            assert inf.events_since(1) is None
        finally:
            inf.stop()

    def test_snapshot_reads_objects_and_their_resource_version_together(self, server: FakeApiServer) -> None:
        server.write("a")
        server.write("b")
        inf = informer(server, history=5).start()
        try:
            server.until(lambda: inf.synced)
            objects, rv = inf.snapshot()
            assert sorted(o["metadata"]["name"] for o in objects) == ["a", "b"] and rv == 2
            assert inf.events_since(rv) == []
        finally:
            inf.stop()
