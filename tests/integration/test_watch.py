"""Watches and informers against a real apiserver: ordering, gaps, restarts,
crashes, and garbage on the request socket."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import msgpack
import pytest
import zmq

from kemu import testing
from kemu import wire
from kemu.api.errors import ApiError
from kemu.client import Client
from kemu.informer import Informer
from kemu.procs import wait_for
from kemu.testing import ApiServerProcess, container
from kemu.types import Obj

pytestmark = pytest.mark.timeout(90)


def cm(name: str, value: str = "0") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": value}}


class Recorder:
    """An event handler that records what it is told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()

    def _rec(self, etype: str, obj: dict) -> None:
        with self.lock:
            self.events.append((etype, obj["metadata"]["name"], int(obj["metadata"]["resourceVersion"])))

    def on_add(self, obj: dict) -> None:
        self._rec("ADDED", obj)

    def on_update(self, old: dict, new: dict) -> None:
        self._rec("MODIFIED", new)

    def on_delete(self, obj: dict) -> None:
        self._rec("DELETED", obj)


def cache_state(inf: Informer) -> dict[str, str]:
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in inf.list()}


def server_state(client: Client, kind: str = "ConfigMap") -> dict[str, str]:
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in client.list(kind)["items"]}


class TestWatchOrdering:
    def test_thousand_writes_reach_every_subscriber_in_order(self, client: Client) -> None:
        """Five informers see all 1,000 changes, in revision order, and end equal to the server."""
        informers = []
        recorders = []
        for i in range(5):
            rec = Recorder()
            inf = Informer(client, "ConfigMap", name=f"t{i}")
            inf.add_handler(rec)
            informers.append(inf.start())
            recorders.append(rec)
        try:
            for inf in informers:
                assert inf.wait_synced(10)
            for i in range(500):
                client.create(cm(f"c{i % 50}-{i}"))
            for i in range(500):
                client.update(cm(f"c{i % 50}-{i}", "1"))
            final = server_state(client)
            for inf in informers:
                wait_for(lambda inf=inf: cache_state(inf) == final, 30, message="informer to converge")
            for rec in recorders:
                revs = [rv for _, _, rv in rec.events]
                assert revs == sorted(revs)
                assert len(rec.events) == 1000
        finally:
            for inf in informers:
                inf.stop()

    def test_node_topic_carries_only_that_nodes_pods(self, client: Client) -> None:
        """An informer for node-1's pods sees pods bound to node-1 and nothing else."""
        rec = Recorder()
        inf = Informer(client, "Pod", node="node-1")
        inf.add_handler(rec)
        inf.start()
        try:
            assert inf.wait_synced(10)
            spec = {"containers": [{"name": "c", "image": "busybox"}]}
            for name in ("a", "b", "c"):
                client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
            client.bind("default", "a", "node-1")
            client.bind("default", "b", "node-2")
            wait_for(lambda: [e[:2] for e in rec.events] == [("ADDED", "a")], 10, message="node-1's pod")
            client.delete("Pod", "a", grace_period_seconds=0)
            wait_for(lambda: [e[:2] for e in rec.events] == [("ADDED", "a"), ("DELETED", "a")], 10, message="delete")
        finally:
            inf.stop()


def hub_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "informer-hub" and t.is_alive()]


def pod(name: str) -> Obj:
    return testing.pod(name, containers=[container("c", "busybox")])


class TestSharedHub:
    def test_informers_of_one_process_share_one_hub(self, client: Client) -> None:
        """Informers of different kinds and topics share one SUB socket and thread, and each converges."""
        before = len(hub_threads())
        informers = [
            Informer(client, "ConfigMap"),
            Informer(client, "ConfigMap", name="second-cm"),
            Informer(client, "Pod"),
            Informer(client, "Pod", node="node-1"),
        ]
        for inf in informers:
            inf.start()
        try:
            for inf in informers:
                assert inf.wait_synced(10)
            assert len({id(inf._hub) for inf in informers}) == 1
            assert len(hub_threads()) == before + 1
            for i in range(50):
                client.create(cm(f"s{i}"))
            for name in ("p1", "p2"):
                client.create(pod(name))
            client.bind("default", "p1", "node-1")
            client.bind("default", "p2", "node-2")
            cms, pods = server_state(client), server_state(client, "Pod")
            for inf in informers[:2]:
                wait_for(lambda inf=inf: cache_state(inf) == cms, 20, message="ConfigMap informers to converge")
            wait_for(lambda: cache_state(informers[2]) == pods, 20, message="Pod informer to converge")
            wait_for(lambda: set(cache_state(informers[3])) == {"p1"}, 20, message="node-1 informer to converge")
        finally:
            for inf in informers:
                inf.stop()
        wait_for(lambda: len(hub_threads()) == before, 10, message="the hub to stop with its last informer")

    def test_stopping_one_informer_leaves_the_others_running(self, client: Client) -> None:
        """A stopped informer hears nothing more; the others sharing its hub and topic carry on."""
        stopped_rec, running_rec = Recorder(), Recorder()
        stopped, running = Informer(client, "ConfigMap"), Informer(client, "ConfigMap")
        stopped.add_handler(stopped_rec)
        running.add_handler(running_rec)
        stopped.start()
        running.start()
        try:
            assert stopped.wait_synced(10) and running.wait_synced(10)
            client.create(cm("before"))
            wait_for(lambda: len(stopped_rec.events) == 1 and len(running_rec.events) == 1, 10, message="first event")
            stopped.stop()
            for i in range(20):
                client.create(cm(f"after{i}"))
            final = server_state(client)
            wait_for(lambda: cache_state(running) == final, 20, message="the running informer to converge")
            assert len(stopped_rec.events) == 1
            assert running.relists == 1
        finally:
            stopped.stop()
            running.stop()

    def test_late_joiner_syncs(self, client: Client) -> None:
        """An informer started while its hub is busy with others lists, then follows every later change."""
        early = Informer(client, "ConfigMap").start()
        try:
            assert early.wait_synced(10)
            for i in range(30):
                client.create(cm(f"l{i}"))
            late_rec = Recorder()
            late = Informer(client, "ConfigMap")
            late.add_handler(late_rec)
            writer = threading.Thread(target=lambda: [client.update(cm(f"l{i}", "1")) for i in range(30)])
            writer.start()
            late.start()
            try:
                assert late.wait_synced(10)
                assert late._hub is early._hub
                writer.join(20)
                final = server_state(client)
                for inf in (early, late):
                    wait_for(lambda inf=inf: cache_state(inf) == final, 20, message="both informers to converge")
                later = [rv for _, _, rv in late_rec.events[30:]]  # after the 30 adds of the first list
                assert later == sorted(later)
            finally:
                late.stop()
        finally:
            early.stop()

    def test_late_joiner_on_another_topic(self, client: Client) -> None:
        """A second topic subscribed on a live socket gets its events too."""
        early = Informer(client, "ConfigMap").start()
        try:
            assert early.wait_synced(10)
            late = Informer(client, "Node").start()
            try:
                assert late.wait_synced(10)
                client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
                wait_for(lambda: late.get("n1") is not None, 10, message="the node")
                assert late.relists == 1
            finally:
                late.stop()
        finally:
            early.stop()


class TestGaps:
    def test_dropped_events_are_recovered(self, client: Client) -> None:
        """An informer that loses every 7th message notices the gaps and still converges."""
        counter = {"n": 0}

        def drop(_event: wire.WatchEvent) -> bool:
            counter["n"] += 1
            return counter["n"] % 7 == 0

        inf = Informer(client, "ConfigMap")
        inf.drop_filter = drop
        inf.start()
        try:
            assert inf.wait_synced(10)
            for i in range(300):
                client.create(cm(f"g{i}"))
            for i in range(0, 300, 3):
                client.delete("ConfigMap", f"g{i}")
            final = server_state(client)
            wait_for(lambda: cache_state(inf) == final, 30, message="cache equal to the server")
            assert inf.resyncs > 0
        finally:
            inf.stop()

    def test_lost_tail_is_noticed_by_heartbeat(self, client: Client) -> None:
        """When the last event of a burst is lost, the next heartbeat reveals it."""
        drop_next = {"on": False}

        def drop(_event: wire.WatchEvent) -> bool:
            return drop_next["on"]

        inf = Informer(client, "ConfigMap")
        inf.drop_filter = drop
        inf.start()
        try:
            assert inf.wait_synced(10)
            drop_next["on"] = True
            client.create(cm("tail"))
            time.sleep(0.2)
            drop_next["on"] = False
            wait_for(lambda: inf.get("default/tail") is not None, 10, message="the lost event to be recovered")
        finally:
            inf.stop()

    def test_expired_history_leads_to_relist(self, short_tmp: Path) -> None:
        """When the gap is older than the server's history, the informer relists (410 Expired)."""
        with_small_history = ApiServerProcess(short_tmp, "--history-size", "20")
        with_small_history.start()
        try:
            with Client(with_small_history.address) as client:
                with pytest.raises(ApiError) as exc:
                    for i in range(60):
                        client.create(cm(f"h{i}"))
                    client.events_since("ConfigMap", 1)
                assert exc.value.code == 410
                dropping = {"on": False}
                inf = Informer(client, "ConfigMap")
                inf.drop_filter = lambda _e: dropping["on"]
                inf.start()
                try:
                    assert inf.wait_synced(10)
                    dropping["on"] = True
                    for i in range(60):
                        client.update(cm(f"h{i}", "x"))
                    dropping["on"] = False
                    final = server_state(client)
                    wait_for(lambda: cache_state(inf) == final, 30, message="relisted cache")
                    assert inf.relists >= 2
                finally:
                    inf.stop()
        finally:
            with_small_history.stop()
            with_small_history.kill()


class TestCrashes:
    def test_sigkill_mid_writes_loses_no_acknowledged_write(self, apiserver: ApiServerProcess) -> None:
        """Writers hammer the apiserver, it is SIGKILLed and restarted: every
        acknowledged create is there, the revision did not go back, and a
        running informer catches up by itself."""
        acked: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()
        client = Client(apiserver.address, timeout=2.0)
        inf = Informer(client, "ConfigMap", heartbeat_timeout=1.5)
        inf.start()
        try:
            assert inf.wait_synced(10)
            rev_before = client.ping()["revision"]

            def writer(w: int) -> None:
                i = 0
                while not stop.is_set():
                    name = f"w{w}-{i}"
                    i += 1
                    try:
                        client.create(cm(name))
                    except ApiError:
                        continue
                    with lock:
                        acked.append(name)

            threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(6)]
            for t in threads:
                t.start()
            wait_for(lambda: len(acked) > 300, 20, message="writes to flow")
            apiserver.kill()
            stop.set()
            for t in threads:
                t.join(10)
            apiserver.start()
            stored = server_state(client)
            missing = [n for n in acked if n not in stored]
            assert missing == []
            assert client.ping()["revision"] >= rev_before + len(acked)
            wait_for(lambda: cache_state(inf) == server_state(client), 30, message="informer to catch up")
        finally:
            stop.set()
            inf.stop()
            client.close()

    def test_revision_survives_restart(self, apiserver: ApiServerProcess) -> None:
        """The cluster revision never goes backwards across a restart, deletions included."""
        with Client(apiserver.address) as client:
            for i in range(10):
                client.create(cm(f"r{i}"))
                client.delete("ConfigMap", f"r{i}")
            before = client.ping()["revision"]
            apiserver.stop()
            apiserver.start()
            assert client.ping()["revision"] == before
            created = client.create(cm("after"))
            assert int(created["metadata"]["resourceVersion"]) == before + 1


class TestGarbage:
    def test_fuzzed_frames_do_not_kill_the_server(self, apiserver: ApiServerProcess) -> None:
        """Random bytes, wrong msgpack types, extra frames and unknown ops all
        get an error or are dropped; the server answers the next valid request."""
        rnd = random.Random(1234)
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(apiserver.address)
        payloads: list[list[bytes]] = [
            [b""],
            [b"\xc1"],
            [b"\x00" * 1000],
            [msgpack.packb([1, 2, 3])],
            [msgpack.packb({"v": 1, "id": "x", "op": "get"})],
            [msgpack.packb({"v": 1, "id": 1, "op": "nuke"})],
            [msgpack.packb({"v": 1, "id": 2, "op": "get", "kind": 5})],
            [msgpack.packb({"v": 1, "id": 3, "op": "create", "kind": "Pod", "ns": "default", "body": "nope"})],
            [msgpack.packb({"v": 1, "id": 4, "op": "list", "kind": "Pod", "opts": "x"})],
            [msgpack.packb({"v": 1, "id": 5, "op": "patch", "kind": "Pod", "ns": "default", "name": "x", "body": 7})],
            [msgpack.packb({"v": 1, "id": 6, "op": "list", "kind": "Pod", "opts": {"limit": "ten"}})],
            [msgpack.packb({"v": 1, "id": 7, "op": "create", "kind": "Pod", "ns": "default", "body": {"metadata": "x"}})],
            [msgpack.packb({"v": 1, "id": 8, "op": "create", "kind": "Pod", "ns": "default", "body": {"spec": [1]}})],
            [msgpack.packb({"id": 9, "op": "get", "kind": "Pod"})],  # no protocol version
            [msgpack.packb({"v": 2, "id": 10, "op": "get", "kind": "Pod"})],
            [b"a", b"b", b"c"],
        ]
        for _ in range(200):
            payloads.append([bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300)))])
        for i in range(100):  # structurally plausible requests with random values
            body = {rnd.choice(["metadata", "spec", "status", "kind"]): rnd.choice([None, 1, "x", [], {}, {"a": [1]}])}
            req = {"v": 1, "id": 1000 + i, "op": rnd.choice(sorted(wire.OPS)), "kind": rnd.choice(["Pod", "Deployment", "Nope", None]),
                   "ns": rnd.choice(["default", None, ""]), "name": rnd.choice(["a", None, ""]), "body": body,
                   "opts": {rnd.choice(["rv", "limit", "label_selector"]): rnd.choice([1, "x", None, -5])}}
            payloads.append([msgpack.packb(req)])
        try:
            for frames in payloads:
                sock.send_multipart(frames)
            with Client(apiserver.address) as client:
                assert client.ping()["revision"] >= 0
                created = client.create(cm("still-alive"))
                assert created["metadata"]["name"] == "still-alive"
            # Replies with a recoverable id carry a Status.
            replies = []
            while sock.poll(500):
                replies.append(wire.Reply.decode(sock.recv()))
            by_id = {r.id: r for r in replies}
            assert by_id[1].code == 400 and "unknown operation" in by_id[1].body["message"]
            assert by_id[3].code == 400
            assert by_id[9].code == 400 and "field 'v' must be int" in by_id[9].body["message"]
            assert by_id[10].code == 400 and "unsupported protocol version 2" in by_id[10].body["message"]
        finally:
            sock.close(linger=0)
        assert apiserver.proc is not None and apiserver.proc.alive()

    def test_oversized_message_is_refused(self, apiserver: ApiServerProcess) -> None:
        """A frame over the size limit is dropped by ZeroMQ; the server lives on."""
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(apiserver.address)
        try:
            sock.send(b"\x00" * (wire.MAX_MESSAGE_BYTES + 10))
            with Client(apiserver.address) as client:
                assert client.ping()
        finally:
            sock.close(linger=0)
