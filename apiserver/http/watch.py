"""HTTP watches: one watch cache per kind, fanned out to every watcher.

The real apiserver does not open an etcd watch per client: its *cacher*
keeps one watch per resource, a copy of every object, and a ring buffer of
recent events, and fans each event out to the watchers whose selectors it
concerns. kemu's front door does the same, on top of kemu's PUB socket:

- **One subscriber per kind, shared.** A :class:`WatchCache` owns one SUB
  socket (its kind's topic plus heartbeats), created when the first watch of
  that kind arrives. A hundred ``kubectl get -w`` cost one subscription, and
  the gap bookkeeping below is done once, not per watcher.
- **The Clone pattern, as in** :mod:`kemu.informer`: subscribe, wait for a
  heartbeat (the subscription is live, and it tells the topic's sequence
  number), then list; apply every later event whose sequence number is
  ``last + 1``. A jump, a new server epoch, or a heartbeat announcing a
  number never seen is a gap: the cache asks ``events_since`` for what it
  missed and carries on. When the server no longer has that history (``410``)
  the cache relists, and every watcher it serves ends with an ``ERROR`` event
  carrying a ``410 Expired`` Status, exactly what a real apiserver sends a
  watcher that fell too far behind, so the client relists too. No heartbeat
  for a few intervals means the server is gone: reconnect with backoff and
  fill the gap on return. A watch therefore never drifts silently.
- **Previous objects.** The cache keeps the latest object of every key, so
  each event carries the object before the change. A watcher with a label or
  field selector needs it: an object that stops matching is sent as
  ``DELETED``, one that starts matching as ``ADDED`` (the cacher's rules).
- **Starting points.** A watch without ``resourceVersion`` (or with ``0``, or
  with ``sendInitialEvents``) gets the cache's current objects as ``ADDED``
  first. A watch from ``resourceVersion=N`` is replayed from the cache's ring
  buffer when it reaches back to ``N``, otherwise from the apiserver's
  ``events_since`` (events gathered meanwhile are held back and deduplicated
  by resourceVersion), and ends at once with ``410`` when even the apiserver
  has forgotten ``N``.

Everything here runs on the event loop: the cache's receive loop, the
watchers' queues and the HTTP handlers that drain them. Fan-out is a plain
method call on the loop, so no locks are needed; the blocking ``Client``
calls (list, events_since) run in the thread pool. A watcher's queue is
bounded: a client that does not read is cut off (the stream ends and it
watches again from its last resourceVersion), as the real apiserver cuts off
slow watchers.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypeVar

import zmq
import zmq.asyncio

from kemu import wire
from kemu.api import errors, selectors
from kemu.api.kinds import KindInfo
from kemu.client import Client
from kemu.log import get_logger

__all__ = [
    "END",
    "INITIAL_EVENTS_END_ANNOTATION",
    "CacheEvent",
    "WatchCache",
    "WatchCaches",
    "WatchOptions",
    "Watcher",
]

Obj = dict[str, Any]
T = TypeVar("T")
Caller = Callable[[Callable[[], T]], Awaitable[T]]
"""Runs a blocking ``Client`` call off the event loop (the app's thread pool)."""

INITIAL_EVENTS_END_ANNOTATION = "k8s.io/initial-events-end"

class WatchEnd(enum.Enum):
    """The type of :data:`END`."""

    END = "end"


END = WatchEnd.END
"""What :meth:`Watcher.next` returns once the watch is over and drained."""


class CacheEvent(NamedTuple):
    """One change as the cache saw it."""

    type: str
    """``ADDED``, ``MODIFIED`` or ``DELETED``."""
    object: Obj
    """The object after the change (for ``DELETED``, its last state)."""
    prev: Obj | None
    """The object before the change, or None when created or unknown."""
    rv: int
    """The resourceVersion the change produced."""


@dataclass
class WatchOptions:
    """What one watch request asks for."""

    namespace: str | None = None
    """Only objects in this namespace (None: all)."""
    label_selector: selectors.LabelSelector = field(default_factory=selectors.LabelSelector)
    field_selector: selectors.FieldSelector = field(default_factory=selectors.FieldSelector)
    resource_version: str | None = None
    """``resourceVersion`` as sent: None/"" (now), ``"0"`` (any), or a number."""
    send_initial_events: bool = False
    """``sendInitialEvents=true``: current state first, then a bookmark."""
    allow_bookmarks: bool = False
    """``allowWatchBookmarks=true``."""


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _gone(rv: int, oldest: int) -> Obj:
    return errors.status_dict(410, "Expired", f"too old resource version: {rv} ({oldest})")


class Watcher:
    """One HTTP watch: a filter over the cache's events and a bounded queue
    of ``(type, object)`` pairs for the handler to write."""

    info: KindInfo
    options: WatchOptions
    cursor: int
    """The highest resourceVersion delivered or covered; older events are dropped."""
    closed: bool
    max_queue: int

    def __init__(self, info: KindInfo, options: WatchOptions, *, max_queue: int = 10_000):
        self.info = info
        self.options = options
        self.cursor = 0
        self.closed = False
        self.max_queue = max_queue
        self._items: deque[tuple[str, Obj]] = deque()
        self._signal = asyncio.Event()
        self._held: list[CacheEvent] | None = None

    # -- filtering -----------------------------------------------------------------

    def matches(self, obj: Obj) -> bool:
        opts = self.options
        meta = obj.get("metadata") or {}
        if opts.namespace and meta.get("namespace") != opts.namespace:
            return False
        return opts.label_selector.matches(meta.get("labels") or {}) and opts.field_selector.matches(
            obj, kind=self.info.kind
        )

    def _transform(self, ev: CacheEvent) -> tuple[str, Obj] | None:
        """The event this watcher sees, by the cacher's rules: an object that
        leaves the selection is DELETED, one that enters it is ADDED."""
        now = ev.type != "DELETED" and self.matches(ev.object)
        if ev.prev is not None:
            before = self.matches(ev.prev)
        elif ev.type == "DELETED":
            before = self.matches(ev.object)
        else:
            before = now and ev.type == "MODIFIED"  # unknown past (replayed from the apiserver)
        if now and not before:
            return "ADDED", ev.object
        if now and before:
            return "MODIFIED", ev.object
        if before:
            if ev.type == "DELETED":
                return "DELETED", ev.object
            gone = dict(ev.prev or ev.object)
            gone["metadata"] = {**gone.get("metadata", {}), "resourceVersion": str(ev.rv)}
            return "DELETED", gone
        return None

    # -- feeding (called by the cache, on the loop) ------------------------------------

    def deliver(self, ev: CacheEvent) -> None:
        """Offer one cache event; it is dropped if not newer than :attr:`cursor`."""
        if self.closed:
            return
        if self._held is not None:
            self._held.append(ev)
            return
        if ev.rv <= self.cursor:
            return
        self.cursor = ev.rv
        out = self._transform(ev)
        if out is not None:
            self._put(out)

    def initial(self, obj: Obj) -> None:
        """An object of the starting state, sent as ADDED when it matches."""
        if self.matches(obj):
            self._put(("ADDED", obj))

    def bookmark(self, rv: int, *, initial_events_end: bool = False) -> None:
        """A BOOKMARK at ``rv``: the client has everything up to it."""
        self.cursor = max(self.cursor, rv)
        meta: Obj = {"resourceVersion": str(rv)}
        if initial_events_end:
            meta["annotations"] = {INITIAL_EVENTS_END_ANNOTATION: "true"}
        self._put(("BOOKMARK", {"kind": self.info.kind, "apiVersion": self.info.api_version, "metadata": meta}))

    def hold(self) -> None:
        """Keep events back while a replay from the apiserver is fetched."""
        self._held = []

    def replay(self, events: list[CacheEvent]) -> None:
        """Deliver ``events`` (older first), then whatever was held back."""
        held, self._held = self._held or [], None
        for ev in (*events, *held):
            self.deliver(ev)

    def fail(self, status: Obj) -> None:
        """End the watch with an ERROR event carrying ``status``."""
        if not self.closed:
            self._items.append(("ERROR", status))
        self.close()

    def close(self) -> None:
        self.closed = True
        self._signal.set()

    def _put(self, item: tuple[str, Obj]) -> None:
        if self.closed:
            return
        if len(self._items) >= self.max_queue:
            get_logger(kind=self.info.kind).warning("watcher too slow, closing", queued=len(self._items))
            self.close()
            return
        self._items.append(item)
        self._signal.set()

    # -- draining (called by the HTTP handler) --------------------------------------------

    @property
    def holding(self) -> bool:
        return self._held is not None

    async def next(self, timeout: float) -> tuple[str, Obj] | None | Literal[WatchEnd.END]:
        """The next event; None if nothing came within ``timeout`` seconds;
        :data:`END` once the watch is closed and everything was taken."""
        while not self._items:
            if self.closed:
                return END
            self._signal.clear()
            try:
                await asyncio.wait_for(self._signal.wait(), timeout)
            except TimeoutError:
                return None
        return self._items.popleft()


class _Gap(Exception):
    """Messages were lost: fill the gap from the apiserver's history."""


class _Silence(Exception):
    """No heartbeat for too long: reconnect."""


class WatchCache:
    """The objects of one kind, kept current from the PUB socket; see the module doc."""

    info: KindInfo
    rv: int
    """Every change of this kind up to this resourceVersion is applied."""
    history_start: int
    """The ring buffer holds every change after this resourceVersion."""

    def __init__(
        self,
        client: Client,
        info: KindInfo,
        call: Caller[Any],
        *,
        ctx: zmq.asyncio.Context,
        history_size: int = 5_000,
        heartbeat_timeout: float = 3.0,
        max_backoff: float = 2.0,
    ):
        self.client = client
        self.info = info
        self.topic = wire.kind_topic(info.kind)
        self._call = call
        self._ctx = ctx
        self.history_size = history_size
        self.heartbeat_timeout = heartbeat_timeout
        self.max_backoff = max_backoff
        self.log = get_logger(kind=info.kind, watch_cache=self.topic)
        self.objects: dict[tuple[str, str], Obj] = {}
        self.history: deque[CacheEvent] = deque()
        self.rv = 0
        self.history_start = 0
        self.epoch = ""
        self.last_seq = 0
        self.ready = asyncio.Event()
        self.watchers: set[Watcher] = set()
        self.relists = 0
        self.resyncs = 0
        self._task: asyncio.Task[None] | None = None

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> WatchCache:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"watch-cache-{self.topic}")
        return self

    async def stop(self) -> None:
        for w in list(self.watchers):
            w.close()
        self.watchers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            sub: zmq.asyncio.Socket | None = None
            try:
                address = await self._call(self.client.watch_address)
                sub = self._subscribe(address)
                beat = await self._first_heartbeat(sub)
                self.epoch, self.last_seq = beat.epoch, beat.seqs.get(self.topic, 0)
                if self.ready.is_set():
                    await self._fill_gap()
                else:
                    await self._relist()
                    self.ready.set()
                backoff = 0.05
                await self._pump(sub)
            except asyncio.CancelledError:
                raise
            except _Silence:
                self.log.warning("watch silent, reconnecting", after_seconds=self.heartbeat_timeout)
            except errors.ApiError as exc:
                self.log.warning("watch cache call failed", code=exc.code, reason=exc.reason, error=exc.message)
            except Exception:
                self.log.exception("watch cache failed, restarting")
            finally:
                if sub is not None:
                    sub.close(linger=0)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def _subscribe(self, address: str) -> zmq.asyncio.Socket:
        sub: zmq.asyncio.Socket = wire.make_socket(self._ctx, zmq.SUB)  # type: ignore[assignment]
        sub.setsockopt(zmq.SUBSCRIBE, wire.HEARTBEAT_TOPIC)
        sub.setsockopt(zmq.SUBSCRIBE, wire.topic_bytes(self.topic))
        sub.connect(address)
        return sub

    async def _recv(self, sub: zmq.asyncio.Socket, timeout: float) -> wire.WatchEvent | wire.Heartbeat | None:
        """The next well-formed message, or None after ``timeout`` seconds."""
        if not await sub.poll(int(timeout * 1000) + 1):  # POLLIN
            return None
        frames = await sub.recv_multipart()
        try:
            return wire.decode_watch(frames)[1]
        except wire.WireError as exc:
            self.log.warning("dropped malformed watch message", error=str(exc))
            return None

    async def _first_heartbeat(self, sub: zmq.asyncio.Socket) -> wire.Heartbeat:
        """The first heartbeat after subscribing (earlier events are covered by
        the list or events_since that follows)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.heartbeat_timeout
        while (remaining := deadline - loop.time()) > 0:
            msg = await self._recv(sub, remaining)
            if isinstance(msg, wire.Heartbeat):
                return msg
        raise _Silence()

    async def _pump(self, sub: zmq.asyncio.Socket) -> None:
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        while True:
            msg = await self._recv(sub, min(0.5, self.heartbeat_timeout))
            if msg is None:
                if loop.time() - last_heard > self.heartbeat_timeout:
                    raise _Silence()
                continue
            last_heard = loop.time()
            try:
                if isinstance(msg, wire.Heartbeat):
                    self._on_heartbeat(msg)
                else:
                    self._on_event(msg)
            except _Gap as why:
                self.log.info("watch gap, resynchronising", why=str(why), rv=self.rv, seq=self.last_seq)
                await self._fill_gap()

    def _on_heartbeat(self, beat: wire.Heartbeat) -> None:
        if beat.epoch != self.epoch:
            raise _Gap(f"apiserver restarted (epoch {self.epoch} -> {beat.epoch})")
        announced = beat.seqs.get(self.topic, 0)
        if announced > self.last_seq:
            raise _Gap(f"heartbeat announces seq {announced}, last seen {self.last_seq}")
        # Every change of this kind up to the heartbeat's revision was seen.
        self.rv = max(self.rv, beat.rv)

    def _on_event(self, event: wire.WatchEvent) -> None:
        if event.epoch != self.epoch:
            raise _Gap(f"event from epoch {event.epoch}, expected {self.epoch}")
        if event.seq <= self.last_seq:
            return
        if event.seq != self.last_seq + 1:
            raise _Gap(f"seq jumped from {self.last_seq} to {event.seq}")
        self.last_seq = event.seq
        if event.rv > self.rv:
            self._apply(event.type, event.object, event.rv)

    # -- resynchronisation -------------------------------------------------------------

    async def _fill_gap(self) -> None:
        """Apply what was missed from the apiserver's history, or relist."""
        try:
            reply = await self._call(lambda: self.client.events_since(self.info.kind, self.rv))
        except errors.ApiError as exc:
            if exc.code != 410:
                raise
            self.log.info("history expired, relisting", rv=self.rv, error=exc.message)
            await self._relist()
            return
        self.resyncs += 1
        for ev in reply["events"]:
            if int(ev["rv"]) > self.rv:
                self._apply(str(ev["type"]), ev["object"], int(ev["rv"]))
        self.rv = max(self.rv, int(reply["rv"]))
        self.last_seq = int(reply["seq"])
        self.epoch = str(reply["epoch"])

    async def _relist(self) -> None:
        """Replace the cache with a fresh list. Watchers already served from
        the old one cannot be brought across the gap: they end with 410."""
        listing = await self._call(lambda: self.client.list_all(self.info.kind, None, timeout=60.0))
        rv = int(listing["metadata"]["resourceVersion"])
        if self.ready.is_set():
            for w in list(self.watchers):
                w.fail(_gone(w.cursor, rv))
            self.watchers.clear()
        self.objects = {_key(o): o for o in listing["items"]}
        self.history.clear()
        self.rv = self.history_start = rv
        self.relists += 1
        self.log.info("watch cache listed", items=len(self.objects), rv=rv)

    def _apply(self, etype: str, obj: Obj, rv: int) -> None:
        key = _key(obj)
        prev = self.objects.get(key)
        if etype == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        ev = CacheEvent(etype, obj, prev, rv)
        self.history.append(ev)
        if len(self.history) > self.history_size:
            self.history_start = self.history.popleft().rv
        self.rv = rv
        for w in list(self.watchers):
            w.deliver(ev)

    # -- watchers --------------------------------------------------------------------

    async def watch(self, options: WatchOptions, *, ready_timeout: float = 10.0, max_queue: int = 10_000) -> Watcher:
        """A new watcher, already fed with its starting point (see the module doc)."""
        try:
            await asyncio.wait_for(self.ready.wait(), ready_timeout)
        except TimeoutError:
            raise errors.service_unavailable(
                f"the watch cache for {self.info.plural} is not ready (is the apiserver running?)"
            ) from None
        w = Watcher(self.info, options, max_queue=max_queue)
        rv_text = options.resource_version
        if options.send_initial_events or rv_text in (None, "", "0"):
            self._start_from_state(w)
            return w
        try:
            rv = int(str(rv_text))
        except ValueError:
            rv = -1
        if not 0 <= rv < 1 << 64:  # the apiserver parses resourceVersions as uint64
            raise errors.bad_request(f'resourceVersion: Invalid value: "{str(rv_text):.40}": must be an integer')
        await self._wait_fresh(rv)
        w.cursor = rv
        if rv >= self.history_start:
            replay = []
            for ev in reversed(self.history):
                if ev.rv <= rv:
                    break
                replay.append(ev)
            self.watchers.add(w)
            w.replay(replay[::-1])
            return w
        await self._start_from_apiserver(w, rv)
        return w

    async def _wait_fresh(self, rv: int, *, wait: float = 3.0) -> None:
        """Wait (up to ``wait`` seconds, as the watch cache's
        waitUntilFreshAndBlock) for the cache to reach ``rv``; beyond that, a
        resourceVersion from the future is a ``504`` naming it, as
        kube-apiserver answers "Too large resource version"."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while rv > self.rv and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if rv > self.rv:
            status = errors.status_dict(
                504, "Timeout", f"Too large resource version: {rv}, current: {self.rv}",
                causes=[errors.Cause("", "ResourceVersionTooLarge", "Too large resource version")],
                retry_after=1,
            )
            raise errors.ApiError(status)

    def _start_from_state(self, w: Watcher) -> None:
        for key in sorted(self.objects):
            w.initial(self.objects[key])
        w.cursor = self.rv
        if w.options.send_initial_events and w.options.allow_bookmarks:
            w.bookmark(self.rv, initial_events_end=True)
        self.watchers.add(w)

    async def _start_from_apiserver(self, w: Watcher, rv: int) -> None:
        """Replay from the apiserver's history what the ring buffer no longer holds."""
        w.hold()
        self.watchers.add(w)
        try:
            reply = await self._call(lambda: self.client.events_since(self.info.kind, rv))
        except errors.ApiError as exc:
            self.watchers.discard(w)
            if exc.code == 410:
                w.fail(_gone(rv, self.history_start))
                return
            raise
        w.replay([CacheEvent(str(e["type"]), e["object"], None, int(e["rv"])) for e in reply["events"]])

    def stop_watching(self, w: Watcher) -> None:
        w.close()
        self.watchers.discard(w)


class WatchCaches:
    """The watch caches of the process, one per kind, started on first use."""

    def __init__(self, client: Client, call: Caller[Any], **cache_options: Any):
        self.client = client
        self._call = call
        self._ctx = zmq.asyncio.Context()
        self._options = cache_options
        self._caches: dict[str, WatchCache] = {}

    def get(self, info: KindInfo) -> WatchCache:
        cache = self._caches.get(info.kind)
        if cache is None:
            cache = WatchCache(self.client, info, self._call, ctx=self._ctx, **self._options).start()
            self._caches[info.kind] = cache
        return cache

    def close_watchers(self) -> None:
        """End every watch stream (the server is shutting down)."""
        for cache in self._caches.values():
            for w in list(cache.watchers):
                w.close()

    async def close(self) -> None:
        for cache in self._caches.values():
            await cache.stop()
        self._caches.clear()
        self._ctx.destroy(linger=0)
