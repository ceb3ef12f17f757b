"""Informers: a local, indexed, always-converging copy of one kind.

An :class:`Informer` runs one thread. It follows the ZeroMQ Guide's Clone
pattern (and client-go's reflector, which is the same idea):

1. **Subscribe first.** Open a SUB socket on the kind's topic (or a node's pod
   topic) and on the heartbeat topic, and wait for a heartbeat: that proves
   the subscription is live, and its ``seqs`` give the topic's current
   sequence number.
2. **Then snapshot.** List the kind. Events that raced the list arrive with
   ``rv <= list rv`` and are skipped; every later one is applied.
3. **Then updates, checked.** Each event must carry ``seq == last + 1``. A
   jump, a new server epoch, or a heartbeat announcing a sequence we never
   saw means messages were lost: the informer asks the server for the events
   since its resourceVersion (``events_since``) and carries on; when the
   server no longer has them (410 Expired, or a restarted server) it relists
   and replaces its cache, calling handlers for the differences.
4. **Silence is death.** No heartbeat for ``heartbeat_timeout`` seconds means
   the server (or the path to it) is gone: reconnect and start again at 1,
   backing off exponentially. A restarted apiserver is found without
   restarting the component.

Handlers run on the informer's thread and must be quick (controllers only
enqueue keys). The cache is guarded by a lock; objects in it are shared and
must never be mutated: copy before changing.
"""

from __future__ import annotations

import builtins

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import zmq

from kemu import wire
from kemu.api import errors, selectors
from kemu.client import Client
from kemu.log import get_logger

__all__ = ["Informer", "EventHandler", "Indexer", "key_of", "split_key"]

Obj = dict[str, Any]
Indexer = Callable[[Obj], list[str]]
"""Maps an object to the index values it is filed under."""


class EventHandler(Protocol):
    """What an informer calls. Old and new objects are shared: do not mutate."""

    def on_add(self, obj: Obj) -> None: ...

    def on_update(self, old: Obj, new: Obj) -> None: ...

    def on_delete(self, obj: Obj) -> None: ...


def key_of(obj: Obj) -> str:
    """``namespace/name``, or ``name`` for cluster-scoped objects (client-go's
    MetaNamespaceKeyFunc)."""
    meta = obj["metadata"]
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else meta["name"]


def split_key(key: str) -> tuple[str, str]:
    """``("ns", "name")`` from ``ns/name``; ``("", "name")`` for cluster-scoped keys."""
    ns, _, name = key.rpartition("/")
    return ns, name


def _by_namespace(obj: Obj) -> list[str]:
    return [obj["metadata"].get("namespace", "")]


def _by_node(obj: Obj) -> list[str]:
    node = (obj.get("spec") or {}).get("nodeName")
    return [node] if node else []


def _by_owner(obj: Obj) -> list[str]:
    return [ref["uid"] for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("uid")]


DEFAULT_INDEXERS: dict[str, Indexer] = {"namespace": _by_namespace, "owner": _by_owner}
POD_INDEXERS: dict[str, Indexer] = {**DEFAULT_INDEXERS, "node": _by_node}


class _Resync(Exception):
    """Lost messages: fill the gap with events_since, or relist."""


class Informer:
    """See the module doc."""

    def __init__(
        self,
        client: Client,
        kind: str,
        *,
        namespace: str | None = None,
        node: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: dict[str, Indexer] | None = None,
        heartbeat_timeout: float = 3.0,
        max_backoff: float = 2.0,
        name: str | None = None,
    ):
        self.client = client
        self.kind = kind
        self.namespace = namespace
        self.node = node
        self.topic = wire.node_topic(kind, node) if node else wire.kind_topic(kind)
        self._label_sel = selectors.LabelSelector.parse(label_selector or "")
        node_sel = f"spec.nodeName={node}" if node else ""
        self._field_selector = ",".join(s for s in (field_selector, node_sel) if s)
        self._field_sel = selectors.FieldSelector.parse(self._field_selector).validate(kind)
        self._label_selector = label_selector
        self._match_all = not namespace and self._label_sel.empty and self._field_sel.empty
        self.indexers = dict(indexers if indexers is not None else (POD_INDEXERS if kind == "Pod" else DEFAULT_INDEXERS))
        self.heartbeat_timeout = heartbeat_timeout
        self.max_backoff = max_backoff
        self.name = name or f"informer-{self.topic}"
        self.log = get_logger(kind=kind, informer=self.topic)
        self._handlers: list[EventHandler] = []
        self._lock = threading.RLock()
        self._items: dict[str, Obj] = {}
        self._index: dict[str, dict[str, set[str]]] = {n: {} for n in self.indexers}
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._thread: threading.Thread | None = None
        self.rv = 0
        """The resourceVersion the cache reflects."""
        self.epoch = ""
        self.last_seq = 0
        self.relists = 0
        """How many times the informer listed (1 at start; more after restarts or lost history)."""
        self.resyncs = 0
        """How many gaps were filled with events_since."""
        self.drop_filter: Callable[[wire.WatchEvent], bool] | None = None
        """Test hook: return True to drop an event as if the network lost it."""

    # -- life cycle ---------------------------------------------------------------

    def add_handler(self, handler: EventHandler) -> None:
        """Register handlers before :meth:`start`."""
        self._handlers.append(handler)

    def start(self) -> Informer:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def wait_synced(self, timeout: float | None = None) -> bool:
        """True once the first list landed in the cache."""
        return self._synced.wait(timeout)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # -- cache reads ----------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        with self._lock:
            return self._items.get(key)

    def get_by_name(self, namespace: str | None, name: str) -> Obj | None:
        return self.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> builtins.list[Obj]:
        with self._lock:
            return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        with self._lock:
            return list(self._items)

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        """Objects filed under ``value`` in ``index`` (``namespace``, ``node``, ``owner``...)."""
        with self._lock:
            keys = self._index[index].get(value, ())
            return [self._items[k] for k in keys]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    # -- the thread ----------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            sub = None
            try:
                sub = self._subscribe()
                beat = self._await_heartbeat(sub)
                if beat is None:
                    raise _Silence()
                self.epoch, self.last_seq = beat.epoch, beat.seqs.get(self.topic, 0)
                if self.synced:
                    self._resync()
                else:
                    self._relist()
                backoff = 0.05
                self._watch(sub)
            except _Silence:
                self.log.warning("watch silent, reconnecting", after_seconds=self.heartbeat_timeout)
            except errors.ApiError as exc:
                self.log.warning("informer call failed", code=exc.code, reason=exc.reason, error=exc.message)
            except Exception:
                self.log.exception("informer failed, restarting")
            finally:
                if sub is not None:
                    sub.close(linger=0)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def _subscribe(self) -> zmq.Socket:
        sub = wire.make_socket(self.client.ctx, zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, wire.HEARTBEAT_TOPIC)
        sub.setsockopt(zmq.SUBSCRIBE, wire.topic_bytes(self.topic))
        sub.connect(self.client.watch_address())
        return sub

    def _await_heartbeat(self, sub: zmq.Socket) -> wire.Heartbeat | None:
        """The first heartbeat after subscribing (events before it are dropped:
        the list or events_since that follows covers them)."""
        deadline = time.monotonic() + self.heartbeat_timeout
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sub.poll(int(min(remaining, 0.5) * 1000) + 1):
                if remaining <= 0:
                    return None
                continue
            try:
                _, msg = wire.decode_watch(sub.recv_multipart(zmq.NOBLOCK))
            except (wire.WireError, zmq.Again):
                continue
            if isinstance(msg, wire.Heartbeat):
                return msg
        return None

    def _watch(self, sub: zmq.Socket) -> None:
        last_heard = time.monotonic()
        while not self._stop.is_set():
            if not sub.poll(200):
                if time.monotonic() - last_heard > self.heartbeat_timeout:
                    raise _Silence()
                continue
            last_heard = time.monotonic()
            try:
                _, msg = wire.decode_watch(sub.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                continue
            except wire.WireError as exc:
                self.log.warning("dropped malformed watch message", error=str(exc))
                continue
            try:
                if isinstance(msg, wire.Heartbeat):
                    self._check_heartbeat(msg)
                else:
                    self._on_event(msg)
            except _Resync as why:
                self.log.info("watch gap, resynchronising", why=str(why), rv=self.rv, seq=self.last_seq)
                self._resync()

    def _check_heartbeat(self, beat: wire.Heartbeat) -> None:
        if beat.epoch != self.epoch:
            raise _Resync(f"apiserver restarted (epoch {self.epoch} -> {beat.epoch})")
        announced = beat.seqs.get(self.topic, 0)
        if announced > self.last_seq:
            raise _Resync(f"heartbeat announces seq {announced}, last seen {self.last_seq}")

    def _on_event(self, event: wire.WatchEvent) -> None:
        if self.drop_filter is not None and self.drop_filter(event):
            return
        if event.epoch != self.epoch:
            raise _Resync(f"event from epoch {event.epoch}, expected {self.epoch}")
        if event.seq <= self.last_seq:
            return  # already covered by a list or an events_since
        if event.seq != self.last_seq + 1:
            raise _Resync(f"seq jumped from {self.last_seq} to {event.seq}")
        self.last_seq = event.seq
        if event.rv > self.rv:
            self._apply(event.type, event.object)
            self.rv = event.rv

    # -- resynchronisation -------------------------------------------------------------

    def _resync(self) -> None:
        """Fill a gap from the server's history, or relist if it is gone."""
        try:
            reply = self.client.events_since(self.kind, self.rv, node=self.node)
        except errors.ApiError as exc:
            if exc.code != 410:
                raise
            self.log.info("history expired, relisting", rv=self.rv, error=exc.message)
            self._relist()
            return
        self.resyncs += 1
        for ev in reply["events"]:
            if ev["rv"] > self.rv:
                self._apply(ev["type"], ev["object"])
                self.rv = ev["rv"]
        self.rv = max(self.rv, int(reply["rv"]))
        self.last_seq = int(reply["seq"])
        self.epoch = str(reply["epoch"])

    def _relist(self) -> None:
        """List, replace the cache, and call handlers for what changed."""
        listing = self.client.call(
            "list",
            self.kind,
            self.namespace,
            timeout=60.0,
            label_selector=self._label_selector or None,
            field_selector=self._field_selector or None,
        )
        self.relists += 1
        fresh = {key_of(o): o for o in listing["items"]}
        with self._lock:
            old_items = dict(self._items)
        for key, obj in fresh.items():
            self._apply("MODIFIED" if key in old_items else "ADDED", obj)
        for key, obj in old_items.items():
            if key not in fresh:
                self._apply("DELETED", obj)
        self.rv = int(listing["metadata"]["resourceVersion"])
        if not self._synced.is_set():
            self.log.info("informer synced", items=len(fresh), rv=self.rv)
        self._synced.set()

    # -- cache writes ----------------------------------------------------------------

    def _matches(self, obj: Obj) -> bool:
        if self._match_all:
            return True
        meta = obj["metadata"]
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        return self._label_sel.matches(meta.get("labels") or {}) and self._field_sel.matches(obj, kind=self.kind)

    def _apply(self, etype: str, obj: Obj) -> None:
        """Apply one change to the cache and tell the handlers. An object that
        stops matching the informer's selectors leaves the cache as a delete."""
        key = key_of(obj)
        with self._lock:
            old = self._items.get(key)
            if etype == "DELETED" or not self._matches(obj):
                if old is None:
                    return
                self._unindex(key, old)
                del self._items[key]
                new = None
            else:
                if old is not None:
                    if old["metadata"].get("resourceVersion") == obj["metadata"].get("resourceVersion"):
                        return
                    self._unindex(key, old)
                self._items[key] = obj
                self._reindex(key, obj)
                new = obj
        for handler in self._handlers:
            try:
                if new is None:
                    handler.on_delete(old)  # type: ignore[arg-type]
                elif old is None:
                    handler.on_add(new)
                else:
                    handler.on_update(old, new)
            except Exception:
                self.log.exception("event handler failed", key=key)

    def _reindex(self, key: str, obj: Obj) -> None:
        for name, fn in self.indexers.items():
            for value in fn(obj):
                self._index[name].setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, fn in self.indexers.items():
            for value in fn(obj):
                keys = self._index[name].get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._index[name][value]


class _Silence(Exception):
    """No heartbeat within the timeout."""
