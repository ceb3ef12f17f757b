"""The one controller shape every kemu controller has, and what they share.

This is kubernetes/sample-controller in Python. A controller is:

1. **Informers** (one per kind, shared by every controller of the process,
   held by :class:`ControllerContext`). Their handlers run on the informer's
   thread and only *enqueue* keys (``namespace/name``); they never call the
   apiserver and never block.
2. **A work queue** (:class:`kemu.workqueue.WorkQueue`): deduplicates keys,
   hands a key to one worker at a time, backs off failed keys.
3. **Workers** (``run_workers`` threads) that call :meth:`QueueController.sync`
   with a key. ``sync`` re-reads the latest object from the informer's cache
   (never trusting the event that queued the key), decides with small pure
   functions, writes through the client, and is safe to run twice
   (level-triggered). A cache miss means the object is gone: stop quietly. An
   exception requeues the key with backoff; a 404 from a write also means
   "gone" and is not retried; a 409 Conflict (the cache is behind someone's
   write) looks again after :data:`CONFLICT_RETRY_DELAY` without an error log.
4. Optionally **tickers** (:meth:`QueueController.every`): a thread that
   calls a function every period of the injected clock (the node lifecycle
   controller's monitor pass). Tickers, like handlers, should mostly enqueue.

Threads in a controller manager process::

    informer-<Kind>  x kinds     handlers -> queue.add(key)
    <controller>-worker-<i>      queue.get() -> sync(key) -> client writes
    <controller>-tick-<name>     every(period): scan caches, enqueue
    events-<component>           EventRecorder writes Events in the background

Cached objects are shared by every controller of the process: never mutate
them; :func:`deep_copy` first.

:class:`Expectations` is client-go's ``UIDTrackingControllerExpectations``:
before a controller creates or deletes N pods it records that it expects to
*observe* N adds or deletes in its informer; until it has (or five minutes
passed, or the calls failed and lowered the count) ``satisfied()`` is False
and the controller must not act on that key again. This is what keeps a
ReplicaSet from creating pods twice while its cache lags behind its writes.

A new controller plugs in by subclassing :class:`QueueController`, asking the
context for the informers it needs in ``__init__`` (and registering its
handlers there), implementing ``sync``, and adding one line to
``controllermanager.manager.CONTROLLERS`` (its flags: a field of
:class:`ControllerOptions` and a click option in ``__main__``)::

    class EndpointsController(QueueController[str]):
        name = "endpoints"
        component = "endpoint-controller"

        def __init__(self, ctx: ControllerContext) -> None:
            super().__init__(ctx, workers=5)
            self.recorder = ctx.recorder(self.component)
            self.services = ctx.informer("Service")
            self.pods = ctx.informer("Pod")
            self.services.add_handler(
                Handlers(add=self.enqueue_obj, update=lambda _old, new: self.enqueue_obj(new), delete=self.enqueue_obj)
            )

        def sync(self, key: str) -> None:
            svc = self.services.get(key)
            if svc is None:
                return  # gone: nothing to do
            ...
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar


from kemu import wire
from kemu.api import errors
from kemu.client import Client
from kemu.clock import REAL_CLOCK, Clock, parse_rfc3339
from kemu.events import EventRecorder
from kemu.informer import Informer, key_of, split_key
from kemu.log import get_logger
from kemu.types import controller_of, find_condition
from kemu.workqueue import WorkQueue, run_workers
from kemu.types import Obj

__all__ = [
    "CONFLICT_RETRY_DELAY",
    "EXPECTATIONS_TTL",
    "Controller",
    "ControllerContext",
    "ControllerOptions",
    "Expectations",
    "Handlers",
    "Obj",
    "QueueController",
    "controller_ref",
    "deep_copy",
    "is_controlled_by",
    "is_pod_active",
    "is_pod_ready",
    "is_pod_terminating",
    "key_of",
    "obj_fields",
    "owner_ref_for",
    "parse_time",
    "pod_condition",
    "split_key",
    "update_with_retry",
]

K = TypeVar("K", bound=Hashable)

CONFLICT_RETRY_DELAY = 0.1
"""Seconds before a key whose sync hit a Conflict (409) is synced again."""

EXPECTATIONS_TTL = 5 * 60.0
"""Seconds after which unmet expectations are ignored (client-go's ExpectationsTimeout)."""


# -- small helpers every controller uses ------------------------------------------------


def deep_copy(obj: Obj) -> Obj:
    """A deep copy of a JSON-like API object (a msgpack round trip, much
    faster than ``copy.deepcopy`` for these trees). Copy a cached object
    before changing it."""
    copied: Obj = wire.deep_copy(obj)
    return copied


def obj_fields(obj: Obj) -> dict[str, Any]:
    """The log fields that name an object: ``kind``, ``key``, ``uid`` and the
    ``resourceVersion`` acted on, so lines of many processes can be joined."""
    meta = obj.get("metadata") or {}
    ns, name = meta.get("namespace"), meta.get("name")
    return {
        "kind": obj.get("kind"),
        "key": f"{ns}/{name}" if ns else name,
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }


controller_ref = controller_of
"""The ownerReference with ``controller: true`` (``metav1.GetControllerOf``), or None."""


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    """True when ``owner`` (by uid) is ``obj``'s controller."""
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == owner["metadata"].get("uid")


def owner_ref_for(owner: Obj, *, controller: bool = True, block_owner_deletion: bool = True) -> Obj:
    """The ownerReference a dependent of ``owner`` carries (``metav1.NewControllerRef``)."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": block_owner_deletion,
    }


pod_condition = find_condition
"""The pod's status condition of type ``ctype`` (``Ready``, ``PodScheduled``...), or None."""


def is_pod_ready(pod: Obj) -> bool:
    """True when the pod's ``Ready`` condition is ``True`` (``podutil.IsPodReady``)."""
    cond = pod_condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def is_pod_terminating(pod: Obj) -> bool:
    """True once the pod was asked to go (``deletionTimestamp`` is set)."""
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def is_pod_active(pod: Obj) -> bool:
    """``controller.IsPodActive``: not Succeeded, not Failed, not terminating.
    Only active pods count as a ReplicaSet's replicas."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not is_pod_terminating(pod)


def parse_time(text: Any) -> float | None:
    """Epoch seconds for an RFC 3339 API timestamp; None when missing or malformed."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


def update_with_retry(
    client: Client, obj: Obj, mutate: Callable[[Obj], None], *, status: bool = False, attempts: int = 3
) -> Obj | None:
    """Update ``obj`` after ``mutate`` changed a copy of it; on a Conflict, re-read
    it live and try again (client-go's ``RetryOnConflict``). Returns the
    stored object, or None when it is gone or was replaced (another uid).

    ``mutate`` must be idempotent: it is applied to each fresh copy.
    """
    meta = obj["metadata"]
    current = deep_copy(obj)
    for attempt in range(attempts):
        mutate(current)
        try:
            return client.update_status(current) if status else client.update(current)
        except errors.ApiError as exc:
            if exc.code != 409 or attempt == attempts - 1:
                raise
        try:
            current = client.get(obj["kind"], meta["name"], meta.get("namespace"))
        except errors.ApiError as exc:
            if exc.code == 404:
                return None
            raise
        if current["metadata"].get("uid") != meta.get("uid"):
            return None
    return None


# -- informer handlers -------------------------------------------------------------------


@dataclass(frozen=True)
class Handlers:
    """An informer :class:`~kemu.informer.EventHandler` made of optional
    callables. They run on the informer's thread: enqueue and return."""

    add: Callable[[Obj], None] | None = None
    """Called with a new object."""
    update: Callable[[Obj, Obj], None] | None = None
    """Called with the old and the new object."""
    delete: Callable[[Obj], None] | None = None
    """Called with the last known state of a deleted object."""

    def on_add(self, obj: Obj) -> None:
        if self.add is not None:
            self.add(obj)

    def on_update(self, old: Obj, new: Obj) -> None:
        if self.update is not None:
            self.update(old, new)

    def on_delete(self, obj: Obj) -> None:
        if self.delete is not None:
            self.delete(obj)


# -- the context ----------------------------------------------------------------------------


@dataclass
class ControllerOptions:
    """The controller manager's flags, as the controllers read them."""

    node_monitor_period: float = 0.2
    """Seconds between two node health passes (Kubernetes: 5 s)."""
    node_monitor_grace_period: float = 2.0
    """Seconds without a heartbeat (lease renewal or Ready heartbeat) before a
    node is marked Unknown (Kubernetes: 40 s)."""
    cluster_cidr: str = "127.244.0.0/16"
    """The pod network; node podCIDRs are carved from it."""
    node_cidr_mask_size: int = 24
    """Prefix length of each node's podCIDR."""
    concurrent_replicaset_syncs: int = 5
    """Worker threads of the ReplicaSet controller."""
    concurrent_deployment_syncs: int = 5
    """Worker threads of the Deployment controller."""
    concurrent_rc_syncs: int = 5
    """Worker threads of the replication manager (ReplicationControllers)."""
    concurrent_gc_syncs: int = 5
    """Worker threads of the garbage collector."""
    concurrent_namespace_syncs: int = 2
    """Worker threads of the namespace controller."""
    concurrent_endpoint_syncs: int = 5
    """Worker threads of the endpoints controller."""
    terminated_pod_gc_threshold: int = 12500
    """Succeeded/Failed pods kept before the pod GC deletes the oldest."""
    pod_gc_quarantine: float = 2.0
    """Seconds a pod's node must stay missing before the pod GC force-deletes the pod."""
    pod_gc_period: float = 1.0
    """Seconds between two terminated-pod GC passes."""
    burst_replicas: int = 500
    """Pods a ReplicaSet creates or deletes in one sync at most."""


class ControllerContext:
    """What every controller of one process shares: the client, one informer
    per kind, event recorders, the clock and the flags.

    Informers are created on first request and started together by
    :meth:`start_informers`, so every controller registers its handlers before
    the first event is delivered.
    """

    client: Client
    """The apiserver client (thread-safe)."""
    clock: Clock
    """Time for every controller: delays, TTLs, timestamps written."""
    options: ControllerOptions
    """The flags."""

    def __init__(self, client: Client, *, options: ControllerOptions | None = None, clock: Clock = REAL_CLOCK) -> None:
        self.client = client
        self.clock = clock
        self.options = options or ControllerOptions()
        self._informers: dict[str, Informer] = {}
        self._recorders: dict[str, EventRecorder] = {}
        self._lock = threading.Lock()
        self._started = False
        self.log = get_logger()

    def informer(self, kind: str) -> Informer:
        """The process's informer for ``kind`` (all namespaces), created on first use."""
        with self._lock:
            inf = self._informers.get(kind)
            if inf is None:
                if self._started:
                    raise RuntimeError(f"informer for {kind} requested after the informers started")
                inf = Informer(self.client, kind, name=f"informer-{kind}")
                self._informers[kind] = inf
            return inf

    def informers(self) -> dict[str, Informer]:
        """Every informer, by kind."""
        with self._lock:
            return dict(self._informers)

    def recorder(self, component: str) -> EventRecorder:
        """The event recorder writing Events as ``source.component=component``
        (``replicaset-controller``, ``node-controller`` ...)."""
        with self._lock:
            rec = self._recorders.get(component)
            if rec is None:
                rec = EventRecorder(self.client, component)
                self._recorders[component] = rec
            return rec

    def start_informers(self) -> None:
        """Start every informer requested so far."""
        with self._lock:
            self._started = True
            informers = list(self._informers.values())
        for inf in informers:
            inf.start()

    def wait_for_cache_sync(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Wait until every informer listed once (``cache.WaitForCacheSync``);
        False when ``timeout`` (real seconds) passed or ``stop`` was set first."""
        deadline = REAL_CLOCK.now() + timeout
        for inf in self.informers().values():
            while not inf.wait_synced(0.1):
                if (stop is not None and stop.is_set()) or REAL_CLOCK.now() >= deadline:
                    return False
        return True

    def shutdown(self) -> None:
        """Stop the informers and flush the event recorders (bounded)."""
        for inf in self.informers().values():
            inf.stop(timeout=2.0)
        with self._lock:
            recorders = list(self._recorders.values())
        for rec in recorders:
            rec.close(timeout=2.0)


# -- the controller shape ---------------------------------------------------------------------


class Controller(ABC):
    """What the manager drives: start after the caches synced, stop, join."""

    name: ClassVar[str] = "controller"

    @abstractmethod
    def start(self) -> None:
        """Start the controller's threads (the informers are synced)."""

    @abstractmethod
    def stop(self) -> None:
        """Ask every thread to stop (returns at once)."""

    @abstractmethod
    def join(self, timeout: float) -> None:
        """Wait, at most ``timeout`` seconds, for the threads to end."""


class QueueController(Controller, Generic[K]):
    """Informers -> handlers enqueue keys -> workers -> :meth:`sync`.

    Subclasses set ``name``, register informer handlers in ``__init__``, and
    implement :meth:`sync`. ``on_start`` runs once, after the caches synced and
    before the first worker (rebuild in-memory state there).
    """

    ctx: ControllerContext
    """The shared context."""
    client: Client
    """``ctx.client``."""
    clock: Clock
    """``ctx.clock``."""
    queue: WorkQueue[K]
    """The controller's work queue."""
    workers: int
    """How many worker threads run :meth:`sync`."""
    log: Any
    """A structlog logger bound to ``controller=name``."""

    def __init__(self, ctx: ControllerContext, *, workers: int = 1, max_backoff: float = 10.0) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.clock = ctx.clock
        self.workers = max(1, workers)
        self.queue = WorkQueue(self.name, clock=ctx.clock, max_delay=max_backoff)
        self.log = get_logger(controller=self.name)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._tick_conds: list[threading.Condition] = []

    # -- keys ---------------------------------------------------------------------

    def enqueue(self, key: K) -> None:
        """Queue ``key`` for a sync."""
        self.queue.add(key)

    def enqueue_after(self, key: K, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds of the context's clock."""
        self.queue.add_after(key, delay)

    def enqueue_obj(self, obj: Obj) -> None:
        """Queue the object's ``namespace/name`` key (for ``str``-keyed controllers)."""
        self.queue.add(key_of(obj))  # type: ignore[arg-type]

    # -- the work -----------------------------------------------------------------

    @abstractmethod
    def sync(self, key: K) -> None:
        """Bring the world in line with the object ``key`` names. Raise to retry with backoff."""

    def on_start(self) -> None:
        """Hook: runs once before the workers start (caches are synced)."""

    def _sync(self, key: K) -> None:
        try:
            self.sync(key)
        except errors.ApiError as exc:
            if exc.code == 404:
                # The object (or its namespace) went away under us: nothing to retry.
                self.log.debug("object gone during sync", key=str(key), error=exc.message)
                return
            if exc.code == 409:
                # Optimistic concurrency: our cache is behind a write. Not an error;
                # look again shortly, once the informer caught up.
                self.log.info("conflict, retrying", key=str(key), error=exc.message)
                self.enqueue_after(key, CONFLICT_RETRY_DELAY)
                return
            raise

    # -- life cycle -----------------------------------------------------------------

    def start(self) -> None:
        self.on_start()
        self._threads.extend(run_workers(self.queue, self.workers, self._sync, name=self.name))
        self.log.info("controller started", workers=self.workers)

    def every(self, period: float, fn: Callable[[], None], name: str) -> None:
        """Run ``fn`` now and then every ``period`` seconds of the context's
        clock on a thread of its own, until :meth:`stop`. Exceptions are logged."""
        cond = threading.Condition()
        self._tick_conds.append(cond)

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    fn()
                except Exception:
                    self.log.exception("periodic pass failed", tick=name)
                with cond:
                    deadline = self.clock.now() + period
                    while not self._stop.is_set():
                        remaining = deadline - self.clock.now()
                        if remaining <= 0:
                            break
                        self.clock.wait(cond, remaining)

        thread = threading.Thread(target=loop, name=f"{self.name}-tick-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.queue.shut_down()
        for cond in self._tick_conds:
            with cond:
                cond.notify_all()

    def join(self, timeout: float) -> None:
        deadline = REAL_CLOCK.now() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - REAL_CLOCK.now()))

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()


# -- expectations ----------------------------------------------------------------------------


@dataclass
class _Expectation:
    add: int
    """Creations still expected to be observed."""
    deletes: set[str]
    """Keys of objects whose deletion is still expected to be observed."""
    timestamp: float
    """Clock reading when the expectation was set."""


class Expectations:
    """client-go's ``UIDTrackingControllerExpectations``, keyed by controller key.

    Worked example (a ReplicaSet ``default/web`` scaled from 0 to 3)::

        exp.expect_creations("default/web", 3)   # before the 3 creates
        exp.satisfied("default/web")             # False: nothing observed yet
        exp.creation_observed("default/web")     # informer saw pod 1 ... 3
        exp.satisfied("default/web")             # True after the third

    Deletions are tracked by pod key, so a pod seen first as "terminating"
    (an update) and then as "deleted" is counted once. A create that failed
    is never observed: the caller lowers the count with
    :meth:`creation_observed`. Expectations older than ``ttl`` seconds count as
    satisfied (something was lost; act again rather than wait forever).
    """

    ttl: float
    """Seconds after which unmet expectations are ignored."""

    def __init__(self, clock: Clock = REAL_CLOCK, ttl: float = EXPECTATIONS_TTL) -> None:
        self.clock = clock
        self.ttl = ttl
        self._lock = threading.Lock()
        self._items: dict[str, _Expectation] = {}

    def expect_creations(self, key: str, count: int) -> None:
        """Record that ``count`` creations are about to happen (replaces any record)."""
        with self._lock:
            self._items[key] = _Expectation(count, set(), self.clock.now())

    def expect_deletions(self, key: str, object_keys: Iterable[str]) -> None:
        """Record that the objects named by ``object_keys`` are about to be deleted."""
        with self._lock:
            self._items[key] = _Expectation(0, set(object_keys), self.clock.now())

    def creation_observed(self, key: str) -> None:
        """One expected creation happened (or failed and will never be seen)."""
        with self._lock:
            exp = self._items.get(key)
            if exp is not None and exp.add > 0:
                exp.add -= 1

    def deletion_observed(self, key: str, object_key: str) -> None:
        """The deletion of ``object_key`` was seen (or failed); counted once per object."""
        with self._lock:
            exp = self._items.get(key)
            if exp is not None:
                exp.deletes.discard(object_key)

    def lower_expectations(self, key: str, add: int) -> None:
        """Forget ``add`` creations that will never be observed (a slow-start batch skipped them)."""
        with self._lock:
            exp = self._items.get(key)
            if exp is not None:
                exp.add = max(0, exp.add - add)

    def delete(self, key: str) -> None:
        """Drop the record (the controller's object is gone)."""
        with self._lock:
            self._items.pop(key, None)

    def pending(self, key: str) -> tuple[int, int]:
        """``(creations, deletions)`` still expected for ``key``."""
        with self._lock:
            exp = self._items.get(key)
            return (0, 0) if exp is None else (exp.add, len(exp.deletes))

    def satisfied(self, key: str) -> bool:
        """True when the controller may act on ``key``: nothing recorded,
        everything observed, or the record expired."""
        with self._lock:
            exp = self._items.get(key)
            if exp is None:
                return True
            if exp.add <= 0 and not exp.deletes:
                return True
            return self.clock.now() - exp.timestamp > self.ttl
