"""HTTP watches: one watch cache per kind, fanned out to every watcher.

The real apiserver does not open an etcd watch per client: its *cacher*
keeps one watch per resource (a reflector), a copy of every object, and a
ring buffer of recent events, and fans each event out to the watchers whose
selectors it concerns. kemu's front door does the same, and its reflector is
kemu's own client one:

- **One informer per kind, shared.** A :class:`WatchCache` is fed by one
  :class:`kemu.informer.Informer` of its kind, created when the first watch
  of that kind arrives, on the process's informer hub (the ``Client``'s
  ZeroMQ context and apiserver: one SUB socket for every kind). The
  informer does the Clone pattern (sequence checks, ``events_since`` over a
  gap, a relist on ``410``, reconnects with backoff) and keeps the objects
  and, with ``history`` on, a ring of recent changes. Nothing here counts
  sequence numbers: a fix to gap handling is made once, in the informer.
- **The change feed.** The informer's dispatcher thread hands every change
  (type, object, previous object, resourceVersion) to the event loop with
  ``loop.call_soon_threadsafe`` (batched: one wake-up per burst), and the
  loop fans it out; the watchers and their queues are the loop's alone, so
  no locks are needed here. When the informer *replaced* its cache by a
  relist, every watcher served ends with an ``ERROR`` event carrying a
  ``410 Expired`` Status, exactly what a real apiserver sends a watcher when
  its cacher's reflector relists, so the client relists too. A watch
  therefore never drifts silently.
- **Previous objects.** Each change carries the object before it. A watcher
  with a label or field selector needs it: an object that stops matching is
  sent as ``DELETED``, one that starts matching as ``ADDED`` (the cacher's
  rules).
- **Starting points.** A watch without ``resourceVersion`` (or with ``0``, or
  with ``sendInitialEvents``) gets the informer's current objects (a
  snapshot with its resourceVersion) as ``ADDED`` first, and with
  ``allowWatchBookmarks`` a bookmark annotated ``k8s.io/initial-events-end``.
  A watch from ``resourceVersion=N`` is replayed from the informer's history
  when it reaches back to ``N``, otherwise from the apiserver's
  ``events_since`` (events gathered meanwhile are held back and deduplicated
  by resourceVersion), and ends at once with ``410`` when even the
  apiserver has forgotten ``N``. The informer's cache runs ahead of the
  feed; a watcher's cursor (the resourceVersion it has covered) drops what
  the feed brings later of what a snapshot or the history already gave.

The blocking ``Client`` calls (events_since) run in the thread pool. A
watcher's queue is bounded: a client that does not read is cut off (the
stream ends and it watches again from its last resourceVersion), as the real
apiserver cuts off slow watchers.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from kemu import wire
from kemu.api import errors, selectors
from kemu.api.kinds import KindInfo
from kemu.client import Client
from kemu.informer import Change, Informer
from kemu.log import get_logger
from kemu.types import Obj, WatchEventType

__all__ = [
    "END",
    "INITIAL_EVENTS_END_ANNOTATION",
    "CacheEvent",
    "WatchCache",
    "WatchCaches",
    "WatchOptions",
    "Watcher",
]

T = TypeVar("T")
Caller = Callable[[Callable[[], T]], Awaitable[T]]
"""Runs a blocking ``Client`` call off the event loop (the app's thread pool)."""

INITIAL_EVENTS_END_ANNOTATION = "k8s.io/initial-events-end"

class WatchEnd(enum.Enum):
    """The type of :data:`END`."""

    END = "end"


END = WatchEnd.END
"""What :meth:`Watcher.next` returns once the watch is over and drained."""


CacheEvent = Change
"""One change as the cache saw it (the informer's :class:`~kemu.informer.Change`)."""


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
        self._items: deque[tuple[WatchEventType, Obj]] = deque()
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

    def _transform(self, ev: CacheEvent) -> tuple[WatchEventType, Obj] | None:
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

    def _put(self, item: tuple[WatchEventType, Obj]) -> None:
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

    async def next(self, timeout: float) -> tuple[WatchEventType, Obj] | Literal[WatchEnd.END] | None:
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


class WatchCache:
    """The watchers of one kind, fed by one informer; see the module doc."""

    info: KindInfo
    informer: Informer
    rv: int
    """Every change up to this resourceVersion was fanned out (the loop's view)."""

    def __init__(
        self,
        client: Client,
        info: KindInfo,
        call: Caller[Any],
        *,
        history_size: int = 5_000,
        heartbeat_timeout: float = 3.0,
        max_backoff: float = 2.0,
    ):
        self.client = client
        self.info = info
        self.topic = wire.kind_topic(info.kind)
        self._call = call
        self.log = get_logger(kind=info.kind, watch_cache=self.topic)
        self.informer = Informer(
            client, info.kind, heartbeat_timeout=heartbeat_timeout, max_backoff=max_backoff,
            history=history_size, name=f"watch-cache-{self.topic}",
        )
        self.informer.add_listener(self)
        self.rv = 0
        self.ready = asyncio.Event()
        self.watchers: set[Watcher] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: deque[tuple[str, Any]] = deque()
        """Dispatcher thread -> loop: the feed's notices not yet fanned out."""
        self._scheduled = False
        """A :meth:`_drain` is scheduled on the loop (set by the dispatcher, cleared by the loop)."""

    @property
    def relists(self) -> int:
        return self.informer.relists

    @property
    def resyncs(self) -> int:
        return self.informer.resyncs

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> WatchCache:
        self._loop = asyncio.get_running_loop()
        self.informer.start()
        return self

    async def stop(self) -> None:
        for w in list(self.watchers):
            w.close()
        self.watchers.clear()
        await self._call(self.informer.stop)

    # -- the change feed, on the informer's dispatcher thread -----------------------------

    def on_change(self, change: Change) -> None:
        self._hand(("change", change))

    def on_replaced(self, rv: int) -> None:
        self._hand(("replaced", rv))

    def on_progress(self, rv: int) -> None:
        self._hand(("progress", rv))

    def _hand(self, notice: tuple[str, Any]) -> None:
        """Queue a notice for the loop, waking it once per burst: the loop
        clears the flag before it drains, so a notice queued meanwhile is
        either drained by that turn or schedules the next."""
        self._pending.append(notice)
        if self._scheduled or self._loop is None:
            return
        self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._drain)
        except RuntimeError:
            pass  # the loop is closed: the process is ending

    # -- fan-out, on the loop ------------------------------------------------------------

    def _drain(self) -> None:
        self._scheduled = False
        pending = self._pending
        while pending:
            op, arg = pending.popleft()
            if op == "change":
                self.rv = arg.rv
                for w in list(self.watchers):
                    w.deliver(arg)
            elif op == "replaced":
                self._replaced(arg)
            else:
                self.rv = arg
        if not self.ready.is_set() and self.informer.synced:
            self.ready.set()

    def _replaced(self, rv: int) -> None:
        """The informer relisted: the watchers served cannot be brought across
        the gap, they end with 410 (and relist, as the informer did)."""
        self.log.info("watch cache replaced by a relist, ending watchers", watchers=len(self.watchers), rv=rv)
        for w in list(self.watchers):
            w.fail(_gone(w.cursor, rv))
        self.watchers.clear()
        self.rv = rv

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
            raise errors.bad_request(f'resourceVersion: Invalid value: "{rv_text!s:.40}": must be an integer')
        await self._wait_fresh(rv)
        w.cursor = rv
        replay = self.informer.events_since(rv)
        if replay is not None:
            self.watchers.add(w)
            w.replay(replay)
            return w
        await self._start_from_apiserver(w, rv)
        return w

    async def _wait_fresh(self, rv: int, *, wait: float = 3.0) -> None:
        """Wait (up to ``wait`` seconds, as the watch cache's
        waitUntilFreshAndBlock) for the informer to reach ``rv``; beyond that, a
        resourceVersion from the future is a ``504`` naming it, as
        kube-apiserver answers "Too large resource version"."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while rv > self.informer.rv and loop.time() < deadline:
            await asyncio.sleep(0.05)
        current = self.informer.rv
        if rv > current:
            status = errors.status_dict(
                504, "Timeout", f"Too large resource version: {rv}, current: {current}",
                causes=[errors.Cause("", "ResourceVersionTooLarge", "Too large resource version")],
                retry_after=1,
            )
            raise errors.ApiError(status)

    def _start_from_state(self, w: Watcher) -> None:
        objects, rv = self.informer.snapshot()
        for obj in sorted(objects, key=_key):
            w.initial(obj)
        w.cursor = rv
        if w.options.send_initial_events and w.options.allow_bookmarks:
            w.bookmark(rv, initial_events_end=True)
        self.watchers.add(w)

    async def _start_from_apiserver(self, w: Watcher, rv: int) -> None:
        """Replay from the apiserver's history what the informer's no longer holds."""
        w.hold()
        self.watchers.add(w)
        try:
            reply = await self._call(lambda: self.client.events_since(self.info.kind, rv))
        except errors.ApiError as exc:
            self.watchers.discard(w)
            if exc.code == 410:
                w.fail(_gone(rv, self.informer.history_start))
                return
            raise
        w.replay([CacheEvent(e.type, e.object, None, e.rv) for e in reply.events])

    def stop_watching(self, w: Watcher) -> None:
        w.close()
        self.watchers.discard(w)


class WatchCaches:
    """The watch caches of the process, one per kind, started on first use."""

    def __init__(self, client: Client, call: Caller[Any], **cache_options: Any):
        self.client = client
        self._call = call
        self._options = cache_options
        self._caches: dict[str, WatchCache] = {}

    def get(self, info: KindInfo) -> WatchCache:
        cache = self._caches.get(info.kind)
        if cache is None:
            cache = WatchCache(self.client, info, self._call, **self._options).start()
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
