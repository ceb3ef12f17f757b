"""Informers: a local, indexed, always-converging copy of one kind.

Each :class:`Informer` follows the ZeroMQ Guide's Clone pattern (and
client-go's reflector, which is the same idea):

1. **Subscribe first.** Subscribe to the kind's topic (or a node's pod topic)
   and to the heartbeat topic, and wait for a heartbeat: that proves the
   subscription is live, and its ``seqs`` give the topic's current sequence
   number.
2. **Then snapshot.** List the kind. Events that raced the list arrive with
   ``rv <= list rv`` and are skipped; every later one is applied.
3. **Then updates, checked.** Each event must carry ``seq == last + 1``. A
   jump, a new server epoch, or a heartbeat announcing a sequence we never
   saw means messages were lost: the informer asks the server for the events
   since its resourceVersion (``events_since``) and carries on; when the
   server no longer has them (410 Expired, or a restarted server) it relists
   and replaces its cache, calling handlers for the differences.
4. **Silence is death.** No message for ``heartbeat_timeout`` seconds means
   the server (or the path to it) is gone: the hub (below) reconnects with a
   fresh socket, backing off exponentially, resubscribes every topic, and
   every informer starts again at 1 (``events_since`` from its
   resourceVersion, a relist on 410). A restarted apiserver is found without
   restarting the component. A failed list or ``events_since`` sends only
   that informer back to 1, after its own backoff.

**One hub per process and apiserver.** The informers of a process that share
a ``zmq.Context`` and an apiserver share one :class:`_Hub`: one SUB socket and
one socket thread (client-go's SharedInformerFactory shares watches the same way).
With a socket and a thread per informer, a process with 25 informers decoded
every message 25 times on 25 threads fighting for the GIL, and watch latency
grew with the number of informers; the hub decodes each message once and
hands it to the informers of its topic (heartbeats to all of them).

What runs where (client-go's split of reflector and processorListener):

- **The hub thread** owns the SUB socket (ZeroMQ sockets are not
  thread-safe): subscribing and unsubscribing, decoding each message once,
  reconnecting on silence, and routing: events to the inbox of each informer
  of their topic, heartbeats to every inbox, with ``connect`` / ``reset`` /
  ``arm`` notices in socket order. It never lists and never calls a handler.
  The thread enters through ``_run`` of the informer that created the hub, so
  a subclass can wrap the whole loop (``bench/api.py`` profiles it that way).
- **Each informer's reflector thread** takes its inbox in order and does the
  Clone pattern's work: the sequence checks, ``events_since``, relists and
  backoff, and the cache writes. A 60 s relist of one kind delays only that
  informer (its inbox fills meanwhile; nothing is lost).
- **Each informer's dispatcher thread** calls the handlers for each cache
  change in order, and with ``resync_period`` (client-go's resyncPeriod, off
  by default) calls ``on_update(obj, obj)`` for every cached object each
  period. A slow handler delays only its own informer's notices; the cache
  keeps converging meanwhile.
- **Any thread** may :meth:`Informer.start` or :meth:`Informer.stop`; both
  only queue a request for the hub and wake it through a pipe. The first
  informer of a (context, apiserver) creates the hub; stopping the last one
  ends its thread and closes its socket. A stopped informer's reflector and
  dispatcher end after the hub dropped it; notices still queued are dropped.
- **Readers** (``get``, ``list``, ``by_index``...) run on any thread; the cache
  is guarded by a per-informer lock. Objects in it are shared and must never
  be mutated: copy before changing.

**The change feed and the history.** Handlers (:class:`EventHandler`) get
``on_add`` / ``on_update`` / ``on_delete``. A consumer that keeps state of
its own in step with the cache (the HTTP front door's watch caches) adds a
:class:`ChangeListener` instead: on the dispatcher thread, in cache order,
it gets every :class:`Change` (type, object, previous object,
resourceVersion), whether it came from the watch, from ``events_since`` or
from a relist's differences; ``on_replaced`` when a relist replaced the
cache (before the differences: the history is broken there, as when
client-go's reflector relists and the apiserver's cacher ends its
watchers); and ``on_progress`` when the resourceVersion moved with no
change (a heartbeat proves every change up to its revision was seen). With
``history=N`` the informer keeps a ring of its last N changes, and
:meth:`Informer.events_since` replays those after a resourceVersion, or
says None when the ring no longer reaches back that far (ask the apiserver
then). :meth:`Informer.snapshot` reads the objects and their
resourceVersion together. Both read the cache, which runs ahead of the
feed: what they returned is told again on the feed later, at a
resourceVersion the caller has already covered.

An informer that joins a running hub is subscribed on the live socket and
initialised at the first heartbeat read after the socket was drained once
since then (older heartbeats could predate the subscription). A message the
publisher sent before it processed the subscription is not seen, but the
sequence check catches that as any other loss: the next event jumps, or the
next heartbeat announces a sequence the informer never saw.

Hubs are keyed by the context and the apiserver's request address (the watch
address is asked of the apiserver on the hub thread, so ``start()`` never
blocks on the network).
"""

from __future__ import annotations

import builtins
import collections
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import zmq

from kemu import wire
from kemu.api import errors, selectors
from kemu.client import Client
from kemu.log import get_logger
from kemu.types import Obj

__all__ = ["Change", "ChangeListener", "Informer", "EventHandler", "Indexer", "key_of", "split_key"]

Indexer = Callable[[Obj], list[str]]
"""Maps an object to the index values it is filed under."""


class EventHandler(Protocol):
    """What an informer calls. Old and new objects are shared: do not mutate."""

    def on_add(self, obj: Obj) -> None: ...

    def on_update(self, old: Obj, new: Obj) -> None: ...

    def on_delete(self, obj: Obj) -> None: ...


class Change(NamedTuple):
    """One change the cache applied, as the change feed and the history give it."""

    type: str
    """``ADDED``, ``MODIFIED`` or ``DELETED`` as the cache saw it: an event for
    an object the cache did not hold is ``ADDED``; one that leaves the
    informer's selection is ``DELETED``."""
    object: Obj
    """The object after the change (for ``DELETED``, the event's object: its last state)."""
    prev: Obj | None
    """The cached object before the change; None for ``ADDED``."""
    rv: int
    """The resourceVersion the cache reflects after the change (a relist's
    differences all carry the list's resourceVersion)."""


class ChangeListener(Protocol):
    """The change feed: what an informer tells a listener, on its dispatcher
    thread, in cache order (an alternative to :class:`EventHandler` for a
    consumer that keeps order-sensitive state of its own)."""

    def on_change(self, change: Change) -> None:
        """The cache applied ``change``."""

    def on_replaced(self, rv: int) -> None:
        """The informer relisted and replaced its cache at ``rv``: changes
        between the last one told and ``rv`` may be missing. The relist's
        differences follow as changes (all at ``rv``)."""

    def on_progress(self, rv: int) -> None:
        """The cache reflects every change up to ``rv`` (a heartbeat, an
        events_since or the first list moved it without a change)."""


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
        resync_period: float | None = None,
        history: int = 0,
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
        self._listeners: list[ChangeListener] = []
        self._lock = threading.RLock()
        self._items: dict[str, Obj] = {}
        self._index: dict[str, dict[str, set[str]]] = {n: {} for n in self.indexers}
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._hub: _Hub | None = None
        """The hub this informer is attached to, from :meth:`start` on."""
        self._serves: _Hub | None = None
        """The hub whose thread runs :meth:`_run` of this informer (the one that created it)."""
        self._detached = threading.Event()
        """Set by the dispatcher when it ends (after the hub dropped this informer): no handler runs after."""
        self._live = False
        """Reflector thread only: initialised by a heartbeat, sequence checks apply.
        While False, events are ignored (the coming list or events_since covers them)."""
        self._armed = False
        """Reflector thread only: the subscription is known to be in place, so the
        next heartbeat may initialise the informer."""
        self._retry_at = 0.0
        """Reflector thread only: after a failed call, do not initialise before this time."""
        self._backoff = 0.05
        """Reflector thread only: the next wait after a failed call."""
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
        self.resync_period = resync_period
        """Seconds between periodic resyncs (client-go's resyncPeriod: every
        cached object is handed to ``on_update(obj, obj)``); None: never."""
        self.periodic_resyncs = 0
        """How many periodic resyncs the dispatcher delivered."""
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        """Hub -> reflector: ``("beat", hb)``, ``("event", ev)``, ``("reset",)``,
        ``("connect",)``, ``("arm",)``, ``("stop",)``, in socket order."""
        self._notices: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        """Reflector -> dispatcher: ``("change", Change)``, ``("replaced", rv)``,
        ``("progress", rv)``, in cache order; None ends it."""
        self.history = history
        """How many recent changes :meth:`events_since` can replay (0: none)."""
        self._ring: collections.deque[Change] = collections.deque()
        """The last :attr:`history` changes (guarded by the cache lock)."""
        self.history_start = 0
        """The ring holds every change after this resourceVersion (guarded by the cache lock)."""
        self._hub_armed = False
        """Hub thread only: an ``arm`` was queued since the last reset."""
        self._reflector = threading.Thread(target=self._reflect, name=f"reflector-{self.topic}", daemon=True)
        self._dispatcher = threading.Thread(target=self._dispatch, name=f"dispatch-{self.topic}", daemon=True)

    # -- life cycle ---------------------------------------------------------------

    def add_handler(self, handler: EventHandler) -> None:
        """Register handlers before :meth:`start`."""
        self._handlers.append(handler)

    def add_listener(self, listener: ChangeListener) -> None:
        """Register a change feed listener before :meth:`start`."""
        self._listeners.append(listener)

    def start(self) -> Informer:
        """Start this informer's reflector and dispatcher threads and join this
        process's hub for the client's apiserver (creating it if needed)."""
        self._reflector.start()
        self._dispatcher.start()
        _Hub.attach(self)
        return self

    def wait_synced(self, timeout: float | None = None) -> bool:
        """True once the first list landed in the cache."""
        return self._synced.wait(timeout)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def stop(self, timeout: float = 5.0) -> None:
        """Leave the hub; waits (up to ``timeout``) until no handler of this
        informer can run any more, unless called from a handler (the
        dispatcher thread) itself. Notices still queued are dropped."""
        self._stop.set()
        hub = self._hub
        if hub is None or not hub.detach(self):
            return
        if threading.current_thread() not in (hub.thread, self._dispatcher, self._reflector):
            self._detached.wait(timeout)

    def _shutdown(self) -> None:
        """The hub dropped this informer: end the reflector, then the dispatcher."""
        self._inbox.put(("stop",))

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

    def snapshot(self) -> tuple[builtins.list[Obj], int]:
        """The cached objects and the resourceVersion they reflect, read
        together: every change after that resourceVersion is still to come
        on the change feed (and in the history)."""
        with self._lock:
            return list(self._items.values()), self.rv

    def events_since(self, rv: int) -> builtins.list[Change] | None:
        """The changes after ``rv`` from the local history, oldest first, up to
        the cache's current state; None when the history does not reach back
        to ``rv`` (or is off, or the informer has not synced): ask the
        apiserver then."""
        with self._lock:
            if not self.history or not self._synced.is_set() or rv < self.history_start:
                return None
            out: builtins.list[Change] = []
            for change in reversed(self._ring):
                if change.rv <= rv:
                    break
                out.append(change)
            return out[::-1]

    # -- on the hub thread ------------------------------------------------------------

    def _run(self) -> None:
        """The body of the hub thread, entered through the informer that created
        the hub so that a subclass can wrap it (bench/api.py profiles it)."""
        hub = self._serves
        assert hub is not None
        hub.serve()

    # -- on the reflector thread ---------------------------------------------------------

    def _reflect(self) -> None:
        """The reflector: take what the hub routed to this informer, in socket
        order, and keep the cache converging (sequence checks, events_since,
        relists). A slow list here delays this informer only."""
        try:
            while True:
                msg = self._inbox.get()
                op = msg[0]
                if op == "stop":
                    return
                if self._stop.is_set():
                    continue
                if op == "beat":
                    self._on_heartbeat(msg[1], time.monotonic())
                elif op == "event":
                    if self._live:
                        self._on_watch_event(msg[1])
                elif op == "reset":
                    self._live = self._armed = False
                elif op == "connect":
                    self._live, self._armed = False, True
                elif op == "arm":
                    self._armed = True
        finally:
            self._notices.put(None)

    def _on_heartbeat(self, beat: wire.Heartbeat, now: float) -> None:
        """Initialise (step 1 of the module doc) or check the sequence."""
        if not self._live:
            if not self._armed or now < self._retry_at:
                return
            self.epoch, self.last_seq = beat.epoch, beat.seqs.get(self.topic, 0)
            self._guarded(self._resync if self.synced else self._relist)
            return
        try:
            self._check_heartbeat(beat)
        except _Resync as why:
            self._on_gap(why)
            return
        # Every change of this topic up to the heartbeat's revision was seen.
        self._progress(beat.rv)

    def _on_watch_event(self, event: wire.WatchEvent) -> None:
        try:
            self._on_event(event)
        except _Resync as why:
            self._on_gap(why)
        except Exception:  # this informer starts over; its hub peers are not disturbed
            self.log.exception("informer failed, restarting")
            self._start_over()

    def _on_gap(self, why: _Resync) -> None:
        self.log.info("watch gap, resynchronising", why=str(why), rv=self.rv, seq=self.last_seq)
        self._guarded(self._resync)

    def _guarded(self, step: Callable[[], None]) -> None:
        """Run a list or events_since; on failure, start over at the next
        heartbeat after a backoff (the events in between are covered then)."""
        try:
            step()
        except errors.ApiError as exc:
            self.log.warning("informer call failed", code=exc.code, reason=exc.reason, error=exc.message)
        except Exception:
            self.log.exception("informer failed, restarting")
        else:
            self._live = True
            self._backoff = 0.05
            return
        self._start_over()

    def _start_over(self) -> None:
        """Stop applying events; re-initialise at a heartbeat after a backoff."""
        self._live = False
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, self.max_backoff)

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
            self._apply(event.type, event.object, event.rv)

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
        for ev in reply.events:
            if ev.rv > self.rv:
                self._apply(ev.type, ev.object, ev.rv)
        self._progress(reply.rv)
        self.last_seq = reply.seq
        self.epoch = reply.epoch

    def _relist(self) -> None:
        """List, replace the cache, and call handlers for what changed. After
        the first list this is a replacement: the history starts over, and
        listeners are told before the differences."""
        listing = self.client.list_all(
            self.kind,
            self.namespace,
            timeout=60.0,
            label_selector=self._label_selector or None,
            field_selector=self._field_selector or None,
        )
        self.relists += 1
        fresh = {key_of(o): o for o in listing["items"]}
        rv = int(listing["metadata"]["resourceVersion"])
        replacing = self._synced.is_set()
        with self._lock:  # one step for readers: a snapshot is all old or all new
            if replacing and self._listeners:
                self._notices.put(("replaced", rv))
            old_items = dict(self._items)
            for key, obj in fresh.items():
                self._apply("MODIFIED" if key in old_items else "ADDED", obj, rv)
            for key, obj in old_items.items():
                if key not in fresh:
                    self._apply("DELETED", obj, rv)
            self.rv = rv
            self._ring.clear()
            self.history_start = rv
        if not replacing:
            self.log.info("informer synced", items=len(fresh), rv=self.rv)
            self._synced.set()
            if self._listeners:  # after synced is set: a listener may look at it
                self._notices.put(("progress", rv))

    # -- cache writes ----------------------------------------------------------------

    def _matches(self, obj: Obj) -> bool:
        if self._match_all:
            return True
        meta = obj["metadata"]
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        return self._label_sel.matches(meta.get("labels") or {}) and self._field_sel.matches(obj, kind=self.kind)

    def _progress(self, rv: int) -> None:
        """The cache reflects everything up to ``rv``, with no change to apply."""
        with self._lock:
            if rv <= self.rv:
                return
            self.rv = rv
            if self._listeners:
                self._notices.put(("progress", rv))

    def _apply(self, etype: str, obj: Obj, rv: int) -> None:
        """Apply one change to the cache at ``rv``, record it in the history
        and queue it for the dispatcher. An object that stops matching the
        informer's selectors leaves the cache as a delete."""
        key = key_of(obj)
        with self._lock:
            self.rv = rv  # with the change, so that a snapshot is consistent
            old = self._items.get(key)
            if etype == "DELETED" or not self._matches(obj):
                if old is None:
                    return
                self._unindex(key, old)
                del self._items[key]
                change = Change("DELETED", obj, old, rv)
            else:
                if old is not None:
                    if old["metadata"].get("resourceVersion") == obj["metadata"].get("resourceVersion"):
                        return
                    self._unindex(key, old)
                self._items[key] = obj
                self._reindex(key, obj)
                change = Change("ADDED" if old is None else "MODIFIED", obj, old, rv)
            if self.history:
                self._ring.append(change)
                if len(self._ring) > self.history:
                    self.history_start = self._ring.popleft().rv
            if self._handlers or self._listeners:
                self._notices.put(("change", change))

    # -- on the dispatcher thread ------------------------------------------------------

    def _dispatch(self) -> None:
        """The dispatcher (client-go's processorListener): call the handlers
        for each cache change in order, and every ``resync_period`` call
        ``on_update(obj, obj)`` for every cached object. A slow handler delays
        only this informer's notices; its cache keeps converging."""
        period = self.resync_period
        next_resync = time.monotonic() + period if period else None
        try:
            while True:
                timeout = None if next_resync is None else max(0.0, next_resync - time.monotonic())
                try:
                    notice = self._notices.get(timeout=timeout)
                except queue.Empty:
                    assert period is not None and next_resync is not None
                    next_resync = time.monotonic() + period
                    if self.synced and not self._stop.is_set():
                        self.periodic_resyncs += 1
                        for obj in self.list():
                            self._notify(obj, obj)
                    continue
                if notice is None:
                    return
                if not self._stop.is_set():
                    self._deliver(*notice)
        finally:
            self._detached.set()

    def _deliver(self, op: str, arg: Any) -> None:
        """One notice of the reflector: to the listeners, and changes to the handlers."""
        for listener in self._listeners:
            try:
                if op == "change":
                    listener.on_change(arg)
                elif op == "replaced":
                    listener.on_replaced(arg)
                else:
                    listener.on_progress(arg)
            except Exception:
                self.log.exception("change listener failed", notice=op)
        if op == "change" and self._handlers:
            change: Change = arg
            self._notify(change.prev, None if change.type == "DELETED" else change.object)

    def _notify(self, old: Obj | None, new: Obj | None) -> None:
        for handler in self._handlers:
            if self._stop.is_set():
                return
            try:
                if new is None:
                    assert old is not None
                    handler.on_delete(old)
                elif old is None:
                    handler.on_add(new)
                else:
                    handler.on_update(old, new)
            except Exception:
                self.log.exception("event handler failed", key=key_of(new if new is not None else old))  # type: ignore[arg-type]

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


class _Resync(Exception):
    """Lost messages: fill the gap with events_since, or relist."""


_hubs: dict[tuple[int, str], _Hub] = {}
"""The running hubs of this process, by (id of the zmq.Context, apiserver request address)."""
_hubs_lock = threading.Lock()
"""Guards :data:`_hubs`, every hub's ``members`` and its wake-up pipe."""


class _Hub:
    """One SUB socket and one thread, shared by the informers of a process
    that use the same context and apiserver. See the module doc."""

    key: tuple[int, str]
    ctx: wire.Context
    thread: threading.Thread
    members: int
    """Informers attached and not yet stopped (guarded by :data:`_hubs_lock`)."""

    def __init__(self, key: tuple[int, str], creator: Informer):
        self.key = key
        self.ctx = creator.client.ctx
        self.log = get_logger(informer_hub=creator.client.address)
        self.members = 0
        self._requests: collections.deque[tuple[str, Informer]] = collections.deque()
        """``("add" | "remove", informer)`` from any thread, taken by the hub thread."""
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._closed = False
        """The pipe is closed (guarded by :data:`_hubs_lock`)."""
        # Everything below belongs to the hub thread.
        self._informers: list[Informer] = []
        self._by_topic: dict[str, list[Informer]] = {}
        self._sub: wire.Socket | None = None
        self._poller = zmq.Poller()
        self._poller.register(self._wake_r, zmq.POLLIN)
        self._watch_address: str | None = None
        self._last_heard = 0.0
        """When the socket last gave a message (or was connected)."""
        self._reconnect_at = 0.0
        self._backoff = 0.05
        creator._serves = self
        self.thread = threading.Thread(target=creator._run, name="informer-hub", daemon=True)

    # -- any thread ----------------------------------------------------------------

    @classmethod
    def attach(cls, informer: Informer) -> None:
        key = (id(informer.client.ctx), informer.client.address)
        with _hubs_lock:
            hub = _hubs.get(key)
            fresh = hub is None
            if hub is None:
                hub = _hubs[key] = cls(key, informer)
            hub.members += 1
            informer._hub = hub
            hub._request("add", informer)
        if fresh:
            hub.thread.start()

    def detach(self, informer: Informer) -> bool:
        """Ask the hub to drop ``informer``; False if it was already asked."""
        with _hubs_lock:
            if informer._hub is not self:
                return False
            informer._hub = None
            self.members -= 1
            self._request("remove", informer)
        return True

    def _request(self, op: str, informer: Informer) -> None:
        """Queue a request and wake the hub (with :data:`_hubs_lock` held)."""
        if self._closed:
            informer._shutdown()
            return
        self._requests.append((op, informer))
        try:
            os.write(self._wake_w, b"\x00")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already

    # -- the hub thread ----------------------------------------------------------------

    def serve(self) -> None:
        """The hub thread: serve until the last informer left."""
        try:
            while self._step():
                pass
        finally:
            self._disconnect()
            with _hubs_lock:
                if _hubs.get(self.key) is self:
                    del _hubs[self.key]
                self._closed = True
                os.close(self._wake_r)
                os.close(self._wake_w)
                for informer in self._informers:
                    informer._shutdown()
                for _, informer in self._requests:
                    informer._shutdown()

    def _step(self) -> bool:
        """One turn of the loop; False when the hub is done."""
        try:
            self._take_requests()
            if not self._informers:
                with _hubs_lock:  # decide and leave the registry at once: attach() takes the same lock
                    if self.members == 0 and not self._requests:
                        del _hubs[self.key]
                        return False
                return True
            now = time.monotonic()
            if self._sub is None and now >= self._reconnect_at:
                self._connect()
            wait = 0.2 if self._sub is not None else min(0.2, self._reconnect_at - now)
            ready = dict(self._poller.poll(max(1, int(wait * 1000))))
            if self._wake_r in ready:
                self._drain_wakeups()
            if self._sub is None:
                return True
            if self._sub in ready:
                self._drain()
            else:
                self._arm()
                if time.monotonic() - self._last_heard > self._heartbeat_timeout():
                    self.log.warning("watch silent, reconnecting", after_seconds=self._heartbeat_timeout())
                    self._disconnect(backoff=True)
        except zmq.ContextTerminated:
            return False
        except errors.ApiError as exc:  # asking for the watch address
            self.log.warning("informer hub call failed", code=exc.code, reason=exc.reason, error=exc.message)
            self._disconnect(backoff=True)
        except Exception:
            self.log.exception("informer hub failed, reconnecting")
            self._disconnect(backoff=True)
        return True

    def _take_requests(self) -> None:
        while self._requests:
            op, informer = self._requests.popleft()
            topic = wire.topic_bytes(informer.topic)
            peers = self._by_topic.setdefault(informer.topic, [])
            if op == "add":
                # On a fresh socket every subscription precedes the connect, so
                # any heartbeat proves it; on a live one, see _arm.
                informer._hub_armed = False
                informer._inbox.put(("reset",))
                if not peers and self._sub is not None:
                    self._sub.setsockopt(zmq.SUBSCRIBE, topic)
                peers.append(informer)
                self._informers.append(informer)
                continue
            if informer in peers:
                peers.remove(informer)
                self._informers.remove(informer)
            if not peers:
                del self._by_topic[informer.topic]
                if self._sub is not None:
                    self._sub.setsockopt(zmq.UNSUBSCRIBE, topic)
            informer._shutdown()

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _heartbeat_timeout(self) -> float:
        return min((i.heartbeat_timeout for i in self._informers), default=3.0)

    def _connect(self) -> None:
        if self._watch_address is None:
            self._watch_address = self._informers[0].client.watch_address()
        sub = wire.make_socket(self.ctx, zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, wire.HEARTBEAT_TOPIC)
        for topic in self._by_topic:
            sub.setsockopt(zmq.SUBSCRIBE, wire.topic_bytes(topic))
        sub.connect(self._watch_address)
        self._sub = sub
        self._poller.register(sub, zmq.POLLIN)
        self._last_heard = time.monotonic()
        for informer in self._informers:
            informer._hub_armed = True
            informer._inbox.put(("connect",))

    def _disconnect(self, *, backoff: bool = False) -> None:
        """Close the socket; every informer starts over at the next heartbeat
        of the next socket (events_since from its rv, or a relist on 410)."""
        if self._sub is not None:
            self._poller.unregister(self._sub)
            self._sub.close(linger=0)
            self._sub = None
        for informer in self._informers:
            informer._hub_armed = False
            informer._inbox.put(("reset",))
        if backoff:
            self._reconnect_at = time.monotonic() + self._backoff
            cap = min((i.max_backoff for i in self._informers), default=2.0)
            self._backoff = min(self._backoff * 2, cap)

    def _arm(self) -> None:
        """The socket is empty: whatever comes next was sent after every
        subscription made so far reached the publisher (as far as the hub can
        tell; the sequence checks cover the rest)."""
        for informer in self._informers:
            if not informer._hub_armed:
                informer._hub_armed = True
                informer._inbox.put(("arm",))

    def _drain(self) -> None:
        """Read what the socket holds (a bounded batch, so stop requests are
        not starved); decode each message once and dispatch it."""
        sub = self._sub
        assert sub is not None
        for _ in range(1000):
            try:
                frames = sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                self._arm()
                break
            try:
                topic, msg = wire.decode_watch(frames)
            except wire.WireError as exc:
                self.log.warning("dropped malformed watch message", error=str(exc))
                continue
            if isinstance(msg, wire.Heartbeat):
                self._backoff = 0.05
                for informer in self._informers:
                    if not informer._stop.is_set():
                        informer._inbox.put(("beat", msg))
            else:
                for informer in self._by_topic.get(topic, ()):
                    if not informer._stop.is_set():
                        informer._inbox.put(("event", msg))
        self._last_heard = time.monotonic()
