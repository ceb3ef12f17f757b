"""The scheduler: assigns pending pods to nodes, one pod at a time.

A :class:`Scheduler` is an object (no module-level state), shaped like
kube-scheduler:

- **Informers** (one thread each) for Pods, Nodes and Services. Their
  handlers keep two structures up to date and return at once:

  - the :class:`SchedulerCache`: per node, a
    :class:`~scheduler.filters.NodeInfo` with running sums of the requests,
    host ports and controllers of the pods on it. A bound pod is added when
    the informer sees it, removed when it is deleted or terminal; updates
    are incremental (O(1) per pod event), so no scheduling cycle ever scans
    the pods of the cluster;
  - the :class:`SchedulingQueue` of pending pods (no ``spec.nodeName``,
    ``spec.schedulerName`` ours or unset, not terminating, not terminal).

- **One scheduling thread** pops the next pod, and under the cache's lock
  runs the filters on the nodes (starting where the previous cycle stopped,
  and on large clusters stopping once enough feasible nodes were found, as
  kube-scheduler does), scores the feasible ones, picks the best, and
  *assumes* the pod onto that node: it is added to the node's sums at once,
  before the binding is even sent, so the next pod already sees those
  resources taken. One thread makes every decision against a consistent
  cache, so two pods never race for the last slot of a node.

- **Binder threads** (a small pool) send the API calls so that the
  scheduling thread never waits on the network: ``pods/binding``, then a
  ``Scheduled`` event; or, for an unschedulable pod, the PodScheduled=False
  status patch. When the informer later sees the pod bound, the assumed
  entry becomes a confirmed one (or moves, if someone else bound it
  elsewhere). A bind refused with 409 (already bound, or being deleted) or
  404 is dropped quietly after forgetting the assumption; any other failure
  forgets it and retries the pod with backoff.

- **Unschedulable pods** (every node rejected them: a FailedScheduling
  Warning event with Kubernetes' message, and the PodScheduled condition set
  to False/Unschedulable) wait in the queue's unschedulable set until the
  cluster changes in a way that may help: a node added, or updated in its
  labels, taints, allocatable, cordon or conditions (not its heartbeats); a
  bound pod deleted or finished. Then they are retried, after their backoff
  (1 s doubling to 10 s, as kube-scheduler). As a backstop every pod still
  unschedulable after ``retry_interval`` seconds is retried too. A cluster
  change that lands while a pod is being scheduled is not lost: the queue
  counts such moves and sends a pod that fails after one straight back.

Time is injected (:class:`kemu.clock.Clock`) and so is the tie-breaking
random source (:class:`random.Random`).
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kemu.api import errors
from kemu.api.selectors import LabelSelector
from kemu.client import Client
from kemu.clock import REAL_CLOCK, Clock, rfc3339
from kemu.events import EventRecorder
from kemu.informer import Informer, key_of, split_key
from kemu.log import get_logger
from kemu.types import Condition, find_condition
from scheduler.filters import FILTERS, FilterFn, NodeInfo, PodInfo, Status, run_filters
from scheduler.scores import (
    CycleState,
    FitError,
    num_feasible_nodes_to_find,
    prioritize,
    select_host,
)
from kemu.types import Obj

__all__ = [
    "DEFAULT_SCHEDULER_NAME",
    "ScheduleResult",
    "Scheduler",
    "SchedulerCache",
    "SchedulingQueue",
    "is_pending",
]


DEFAULT_SCHEDULER_NAME = "default-scheduler"
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


def _is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in TERMINAL_PHASES


def _node_of(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def is_pending(pod: Obj, scheduler_name: str = DEFAULT_SCHEDULER_NAME) -> bool:
    """Whether ``pod`` is this scheduler's to place: unbound, ours (or no
    scheduler named), not being deleted, not finished."""
    spec = pod.get("spec") or {}
    return (
        not spec.get("nodeName")
        and (spec.get("schedulerName") or DEFAULT_SCHEDULER_NAME) == scheduler_name
        and not (pod.get("metadata") or {}).get("deletionTimestamp")
        and not _is_terminal(pod)
    )


def _priority(pod: Obj) -> int:
    try:
        return int((pod.get("spec") or {}).get("priority") or 0)
    except (TypeError, ValueError):
        return 0


# -- the cache ------------------------------------------------------------------------------


@dataclass(slots=True)
class _PodState:
    node: str
    info: PodInfo
    assumed: bool


class SchedulerCache:
    """Node name -> :class:`NodeInfo` with the pods on it, bound and assumed.

    Every method takes :attr:`lock`; the scheduling thread also holds it for
    a whole cycle (filter, score, assume) so the cycle sees one consistent
    state. It is an RLock, so methods can be called inside that.
    """

    lock: threading.RLock
    nodes: dict[str, NodeInfo]
    """Every entry, including nodes only known through their pods (``node is None``)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.nodes = {}
        self._pods: dict[str, _PodState] = {}
        self._schedulable: list[NodeInfo] | None = None

    # nodes

    def set_node(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        with self.lock:
            info = self.nodes.get(name)
            if info is None:
                self.nodes[name] = NodeInfo(name, node)
                self._schedulable = None
            else:
                if info.node is None:
                    self._schedulable = None
                info.set_node(node)

    def remove_node(self, name: str) -> None:
        """Forget the node; its pods stay counted until they are deleted."""
        with self.lock:
            info = self.nodes.get(name)
            if info is None:
                return
            info.set_node(None)
            if not info.pods:
                del self.nodes[name]
            self._schedulable = None

    def node_list(self) -> list[NodeInfo]:
        """The nodes filters may consider, in a stable order (cached until the set changes)."""
        with self.lock:
            if self._schedulable is None:
                self._schedulable = sorted((n for n in self.nodes.values() if n.node is not None), key=lambda n: n.name)
            return self._schedulable

    # pods

    def _entry(self, name: str) -> NodeInfo:
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo(name, None)
        return info

    def _detach(self, key: str) -> _PodState | None:
        state = self._pods.pop(key, None)
        if state is not None:
            info = self.nodes.get(state.node)
            if info is not None:
                info.remove_pod(key)
                if info.node is None and not info.pods:
                    del self.nodes[state.node]
        return state

    def add_pod(self, pod: PodInfo, node: str) -> None:
        """A pod the informer saw bound to ``node`` (confirms an assumption, or
        moves the pod when it was bound somewhere else than assumed)."""
        with self.lock:
            self._detach(pod.key)
            self._pods[pod.key] = _PodState(node, pod, assumed=False)
            self._entry(node).add_pod(pod)

    def assume(self, pod: PodInfo, node: str) -> None:
        """Count ``pod`` on ``node`` now, before its binding is observed."""
        with self.lock:
            self._detach(pod.key)
            self._pods[pod.key] = _PodState(node, pod, assumed=True)
            self._entry(node).add_pod(pod)

    def forget(self, key: str) -> bool:
        """Drop an assumption whose binding failed (a confirmed pod stays)."""
        with self.lock:
            state = self._pods.get(key)
            if state is None or not state.assumed:
                return False
            self._detach(key)
            return True

    def remove_pod(self, key: str) -> bool:
        """The pod was deleted or finished; True if it held resources."""
        with self.lock:
            return self._detach(key) is not None

    def is_assumed(self, key: str) -> bool:
        with self.lock:
            state = self._pods.get(key)
            return state is not None and state.assumed

    def node_of(self, key: str) -> str | None:
        with self.lock:
            state = self._pods.get(key)
            return state.node if state is not None else None

    def is_confirmed_on(self, key: str, node: str) -> bool:
        """Whether the informer already showed the pod bound to ``node``."""
        with self.lock:
            state = self._pods.get(key)
            return state is not None and not state.assumed and state.node == node

    def __len__(self) -> int:
        with self.lock:
            return len(self._pods)


# -- the queue ------------------------------------------------------------------------------

_ACTIVE, _BACKOFF, _UNSCHEDULABLE, _IN_FLIGHT = "active", "backoff", "unschedulable", "in-flight"


class SchedulingQueue:
    """Pending pod keys: kube-scheduler's PriorityQueue, in three parts.

    - *active*: ready to be tried, highest ``spec.priority`` first, then first come;
    - *backoff*: waiting out ``initial_backoff * 2**(attempts-1)`` (capped at
      ``max_backoff``) after a failed attempt;
    - *unschedulable*: waiting for a cluster change (:meth:`move_all`), or for
      ``retry_interval`` to pass.

    A popped key is *in flight* until :meth:`done`, :meth:`add_unschedulable`
    or :meth:`add_backoff`. Heap entries are removed lazily: ``_where`` is the
    truth, a stale heap entry is skipped.
    """

    def __init__(
        self,
        *,
        clock: Clock = REAL_CLOCK,
        initial_backoff: float = 1.0,
        max_backoff: float = 10.0,
        retry_interval: float = 5.0,
    ) -> None:
        self.clock = clock
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.retry_interval = retry_interval
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._active: list[tuple[int, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self._unschedulable: dict[str, float] = {}
        """key -> when it became unschedulable; insertion order is time order."""
        self._where: dict[str, str] = {}
        self._priority: dict[str, int] = {}
        self._attempts: dict[str, int] = {}
        self._last_attempt: dict[str, float] = {}
        self._move_cycle = 0
        self._popped_cycle: dict[str, int] = {}
        self._closed = False

    # adding

    def add(self, key: str, priority: int = 0) -> None:
        """A pending pod the queue does not hold yet goes to active."""
        with self._cond:
            self._priority[key] = priority
            if key not in self._where:
                self._push_active(key)

    def update(self, key: str, priority: int = 0, *, spec_changed: bool = False) -> None:
        """A pending pod changed. A change of its spec or labels may make it
        schedulable: an unschedulable pod goes back to active, an in-flight
        one will when its attempt fails."""
        with self._cond:
            self._priority[key] = priority
            where = self._where.get(key)
            if where is None:
                self._push_active(key)
            elif spec_changed and where == _UNSCHEDULABLE:
                del self._unschedulable[key]
                self._push_active(key)
            elif spec_changed and where == _IN_FLIGHT:
                self._popped_cycle[key] = -1

    def delete(self, key: str) -> None:
        """The pod is gone, bound, or no longer ours."""
        with self._cond:
            if self._where.pop(key, None) == _UNSCHEDULABLE:
                del self._unschedulable[key]
            for table in (self._priority, self._attempts, self._last_attempt, self._popped_cycle):
                table.pop(key, None)

    def done(self, key: str) -> None:
        """The pod was assumed onto a node: the queue lets go of it."""
        with self._cond:
            if self._where.get(key) == _IN_FLIGHT:
                del self._where[key]

    def add_unschedulable(self, key: str) -> None:
        """No node fits: park the pod, unless the cluster changed meanwhile."""
        with self._cond:
            if self._where.get(key) != _IN_FLIGHT:
                return  # deleted (or bound) while it was being tried
            if self._move_cycle > self._popped_cycle.get(key, -1):
                self._requeue(key)
            else:
                self._where[key] = _UNSCHEDULABLE
                self._unschedulable[key] = self.clock.now()

    def add_backoff(self, key: str) -> None:
        """Retry after the pod's backoff (a failed binding, an error)."""
        with self._cond:
            if self._closed:
                return
            if self._where.get(key) == _UNSCHEDULABLE:
                del self._unschedulable[key]
            self._attempts.setdefault(key, 1)
            self._last_attempt.setdefault(key, self.clock.now())
            self._requeue(key)

    def move_all(self) -> int:
        """The cluster changed: every unschedulable pod is tried again (after
        its backoff). Returns how many moved."""
        with self._cond:
            self._move_cycle += 1
            keys = list(self._unschedulable)
            self._unschedulable.clear()
            for key in keys:
                self._requeue(key)
            return len(keys)

    def backoff_duration(self, key: str) -> float:
        attempts = self._attempts.get(key, 1)
        return float(min(self.initial_backoff * 2 ** max(attempts - 1, 0), self.max_backoff))

    def _push_active(self, key: str) -> None:
        self._where[key] = _ACTIVE
        heapq.heappush(self._active, (-self._priority.get(key, 0), next(self._seq), key))
        self._cond.notify()

    def _requeue(self, key: str) -> None:
        ready = self._last_attempt.get(key, float("-inf")) + self.backoff_duration(key)
        if ready > self.clock.now():
            self._where[key] = _BACKOFF
            heapq.heappush(self._backoff, (ready, next(self._seq), key))
            self._cond.notify()
        else:
            self._push_active(key)

    # taking

    def pop(self, timeout: float | None = None) -> str | None:
        """The next pod to try, waiting up to ``timeout`` seconds; None on
        timeout or after :meth:`close`."""
        with self._cond:
            deadline = None if timeout is None else self.clock.now() + timeout
            while not self._closed:
                now = self.clock.now()
                self._promote(now)
                key = self._pop_active()
                if key is not None:
                    self._where[key] = _IN_FLIGHT
                    self._popped_cycle[key] = self._move_cycle
                    self._attempts[key] = self._attempts.get(key, 0) + 1
                    self._last_attempt[key] = now
                    return key
                wake = [t for t in (deadline, self._next_wake()) if t is not None]
                if deadline is not None and now >= deadline:
                    return None
                self.clock.wait(self._cond, (min(wake) - now) if wake else None)
            return None

    def _pop_active(self) -> str | None:
        while self._active:
            _, _, key = heapq.heappop(self._active)
            if self._where.get(key) == _ACTIVE:
                return key
        return None

    def _promote(self, now: float) -> None:
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key = heapq.heappop(self._backoff)
            if self._where.get(key) == _BACKOFF:
                self._push_active(key)
        # The backstop: oldest first, stopping at the first one not due yet.
        cutoff = now - self.retry_interval
        while self._unschedulable:
            key, since = next(iter(self._unschedulable.items()))
            if since > cutoff:
                break
            del self._unschedulable[key]
            self._requeue(key)

    def _next_wake(self) -> float | None:
        times = []
        if self._backoff:
            times.append(self._backoff[0][0])
        if self._unschedulable:
            times.append(next(iter(self._unschedulable.values())) + self.retry_interval)
        return min(times) if times else None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def counts(self) -> dict[str, int]:
        """How many pods are in each part (for logs and tests)."""
        with self._cond:
            out = dict.fromkeys((_ACTIVE, _BACKOFF, _UNSCHEDULABLE, _IN_FLIGHT), 0)
            for where in self._where.values():
                out[where] += 1
            return out

    def where(self, key: str) -> str | None:
        """``active``, ``backoff``, ``unschedulable``, ``in-flight`` or None."""
        with self._cond:
            return self._where.get(key)


# -- informer handlers -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Handler:
    """Adapts three callables to the informer's EventHandler protocol."""

    on_add: Callable[[Obj], None]
    on_update: Callable[[Obj, Obj], None]
    on_delete: Callable[[Obj], None]


def _scheduling_view(node: Obj) -> tuple[Any, ...]:
    """What of a node can change a scheduling decision (heartbeat times excluded)."""
    spec, status = node.get("spec") or {}, node.get("status") or {}
    return (
        bool(spec.get("unschedulable")),
        spec.get("taints") or [],
        (node.get("metadata") or {}).get("labels") or {},
        status.get("allocatable") or status.get("capacity") or {},
        sorted((str(c.get("type")), str(c.get("status"))) for c in status.get("conditions") or []),
    )


def _pod_spec_view(pod: Obj) -> tuple[Any, ...]:
    return (pod.get("spec"), (pod.get("metadata") or {}).get("labels"))


# -- the scheduler ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    """A node was found for a pod."""

    node: str
    evaluated: int
    """Nodes the filters ran on."""
    feasible: int
    """Nodes that passed every filter (and were scored)."""


class Scheduler:
    """See the module doc. ``start()``, then ``stop()`` in a ``finally``."""

    def __init__(
        self,
        client: Client,
        *,
        scheduler_name: str = DEFAULT_SCHEDULER_NAME,
        retry_interval: float = 5.0,
        bind_workers: int = 4,
        percentage_of_nodes_to_score: int = 0,
        rng: random.Random | None = None,
        clock: Clock = REAL_CLOCK,
        recorder: EventRecorder | None = None,
        filters: tuple[tuple[str, FilterFn], ...] = FILTERS,
    ) -> None:
        self.client = client
        self.scheduler_name = scheduler_name
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self.rng = rng or random.Random()
        self.clock = clock
        self.filters = filters
        self.log = get_logger(scheduler=scheduler_name)
        self.cache = SchedulerCache()
        self.queue = SchedulingQueue(clock=clock, retry_interval=retry_interval)
        self.recorder = recorder or EventRecorder(client, scheduler_name)
        self._owns_recorder = recorder is None
        self.pods = Informer(client, "Pod", name="scheduler-pods")
        self.nodes = Informer(client, "Node", name="scheduler-nodes")
        self.services = Informer(client, "Service", name="scheduler-services")
        self.pods.add_handler(_Handler(self._pod_added, self._pod_updated, self._pod_deleted))
        self.nodes.add_handler(_Handler(self._node_added, self._node_updated, self._node_deleted))
        self._binder = ThreadPoolExecutor(max(1, bind_workers), thread_name_prefix="scheduler-bind")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_start_node_index = 0
        self._selectors: dict[tuple[str, str], LabelSelector | None] = {}
        self._count_lock = threading.Lock()
        self.scheduled = 0
        """Pods bound so far (for tests and logs)."""

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> Scheduler:
        for informer in (self.nodes, self.services, self.pods):
            informer.start()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._thread.start()
        return self

    def wait_synced(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for informer in (self.nodes, self.services, self.pods):
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not informer.wait_synced(remaining):
                return False
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop scheduling, then the informers; wait for bindings under way."""
        self._stop.set()
        self.queue.close()
        if self._thread is not None:
            self._thread.join(timeout)
        for informer in (self.pods, self.nodes, self.services):
            informer.stop(timeout)
        self._binder.shutdown(wait=True, cancel_futures=True)
        if self._owns_recorder:
            self.recorder.close(timeout)

    def _run(self) -> None:
        while not self._stop.is_set() and not self.wait_synced(0.2):
            pass
        if self._stop.is_set():
            return
        self.log.info("scheduler started", nodes=len(self.cache.node_list()), pending=self.queue.counts()[_ACTIVE])
        while not self._stop.is_set():
            key = self.queue.pop(timeout=1.0)
            if key is None:
                continue
            try:
                self.schedule_one(key)
            except Exception:
                self.log.exception("scheduling cycle failed", kind="Pod", key=key)
                self.queue.add_backoff(key)

    # -- one scheduling cycle -----------------------------------------------------------------

    def schedule_one(self, key: str) -> ScheduleResult | FitError | None:
        """Try to place the popped pod ``key``. Returns what happened (None
        when the pod no longer needs scheduling)."""
        pod = self.pods.get(key)
        if pod is None or not is_pending(pod, self.scheduler_name) or self.cache.is_assumed(key):
            self.queue.done(key)
            return None
        started = time.perf_counter()
        info = PodInfo.from_pod(pod)
        state = self._cycle_state(info)
        with self.cache.lock:
            result = self._find_node(info, state)
            if isinstance(result, ScheduleResult):
                self.cache.assume(info, result.node)
        seconds = time.perf_counter() - started
        if isinstance(result, ScheduleResult):
            self.queue.done(key)
            self.log.debug(
                "pod assumed", kind="Pod", key=key, uid=info.uid, resourceVersion=_rv(pod), node=result.node,
                evaluated=result.evaluated, feasible=result.feasible, seconds=round(seconds, 6),
            )
            self._binder.submit(self._bind, pod, info, result.node)
        else:
            self.queue.add_unschedulable(key)
            self._record_failure(pod, info, result.message, seconds)
        return result

    def _find_node(self, pod: PodInfo, state: CycleState) -> ScheduleResult | FitError:
        """Filter (from where the last cycle stopped, up to enough feasible
        nodes), then score the feasible ones. Call with the cache lock held."""
        nodes = self.cache.node_list()
        total = len(nodes)
        if total == 0:
            return FitError(0, {}, pod.preemption_policy)
        wanted = num_feasible_nodes_to_find(total, self.percentage_of_nodes_to_score)
        start = self._next_start_node_index % total
        feasible: list[NodeInfo] = []
        statuses: dict[str, Status] = {}
        evaluated = 0
        for i in range(total):
            node = nodes[(start + i) % total]
            evaluated += 1
            status = run_filters(pod, node, self.filters)
            if status is None:
                feasible.append(node)
                if len(feasible) >= wanted:
                    break
            else:
                statuses[node.name] = status
        self._next_start_node_index = (start + evaluated) % total
        if not feasible:
            return FitError(total, statuses, pod.preemption_policy)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, evaluated, 1)
        scores = prioritize(pod, feasible, state)
        return ScheduleResult(select_host(scores, self.rng), evaluated, len(feasible))

    def _cycle_state(self, pod: PodInfo) -> CycleState:
        """The selectors of the Services that select the pod (for spreading)."""
        selectors = []
        for svc in self.services.by_index("namespace", pod.namespace):
            selector = self._service_selector(svc)
            if selector is not None and selector.matches(pod.labels):
                selectors.append(selector)
        return CycleState(tuple(selectors))

    def _service_selector(self, svc: Obj) -> LabelSelector | None:
        meta = svc["metadata"]
        cache_key = (str(meta.get("uid")), str(meta.get("resourceVersion")))
        if cache_key not in self._selectors:
            if len(self._selectors) > 10_000:
                self._selectors.clear()
            wanted = (svc.get("spec") or {}).get("selector")
            try:
                self._selectors[cache_key] = LabelSelector.from_labels(wanted) if wanted else None
            except ValueError:
                self._selectors[cache_key] = None
        return self._selectors[cache_key]

    # -- API calls (binder threads) ----------------------------------------------------------

    def _bind(self, pod: Obj, info: PodInfo, node: str) -> None:
        log = self.log.bind(kind="Pod", key=info.key, uid=info.uid, resourceVersion=_rv(pod), node=node)
        try:
            bound = self.client.bind(info.namespace, info.name, node)
        except errors.ApiError as exc:
            self.cache.forget(info.key)
            if exc.code in (404, 409):
                log.info("binding dropped", code=exc.code, reason=exc.reason, error=exc.message)
            else:
                log.warning("binding failed, retrying with backoff", code=exc.code, reason=exc.reason, error=exc.message)
                self.queue.add_backoff(info.key)
            return
        except Exception:
            self.cache.forget(info.key)
            log.exception("binding failed, retrying with backoff")
            self.queue.add_backoff(info.key)
            return
        with self._count_lock:
            self.scheduled += 1
        log.info("pod bound", newResourceVersion=_rv(bound))
        self.recorder.event(pod, "Normal", "Scheduled", f"Successfully assigned {info.key} to {node}")

    def _record_failure(self, pod: Obj, info: PodInfo, message: str, seconds: float) -> None:
        self.log.info(
            "pod unschedulable", kind="Pod", key=info.key, uid=info.uid, resourceVersion=_rv(pod),
            message=message, seconds=round(seconds, 6),
        )
        self.recorder.event(pod, "Warning", "FailedScheduling", message)
        if not _has_condition(pod, message):
            self._binder.submit(self._set_unschedulable, pod, message)

    def _set_unschedulable(self, pod: Obj, message: str, attempts: int = 3) -> None:
        """PodScheduled=False/Unschedulable, guarded by the resourceVersion so
        it never lands on a pod that got bound meanwhile. A merge patch
        replaces the whole conditions list, so the full list is sent."""
        ns, name = split_key(key_of(pod))
        for _ in range(attempts):
            if not is_pending(pod, self.scheduler_name) or _has_condition(pod, message):
                return
            patch = {
                "metadata": {"resourceVersion": _rv(pod)},
                "status": {"conditions": _conditions_with(pod, message, rfc3339(self.clock.wall()))},
            }
            try:
                updated = self.client.patch("Pod", name, patch, ns, subresource="status")
                self.log.debug(
                    "pod condition set", kind="Pod", key=f"{ns}/{name}", uid=pod["metadata"].get("uid"),
                    resourceVersion=_rv(pod), newResourceVersion=_rv(updated), condition="PodScheduled=False",
                )
                return
            except errors.ApiError as exc:
                if exc.code == 404:
                    return
                if exc.code != 409:
                    self.log.warning("could not set PodScheduled condition", key=f"{ns}/{name}", code=exc.code, error=exc.message)
                    return
            try:
                pod = self.client.get("Pod", name, ns)
            except errors.ApiError:
                return

    # -- informer handlers (informer threads: quick, no API calls) ----------------------------

    def _pod_added(self, pod: Obj) -> None:
        key = key_of(pod)
        node = _node_of(pod)
        if node:
            if not _is_terminal(pod):
                self.cache.add_pod(PodInfo.from_pod(pod), node)
        elif is_pending(pod, self.scheduler_name):
            self.queue.add(key, _priority(pod))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = key_of(new)
        node = _node_of(new)
        if node:
            self.queue.delete(key)
            if _is_terminal(new):
                if self.cache.remove_pod(key):
                    self.queue.move_all()  # its resources are free again
            elif not self.cache.is_confirmed_on(key, node) or _pod_spec_view(old) != _pod_spec_view(new):
                # Newly bound (confirming or correcting our assumption), or
                # resized; a status-only update leaves the cache alone.
                self.cache.add_pod(PodInfo.from_pod(new), node)
        elif is_pending(new, self.scheduler_name):
            if not self.cache.is_assumed(key):
                self.queue.update(key, _priority(new), spec_changed=_pod_spec_view(old) != _pod_spec_view(new))
        else:
            self.queue.delete(key)

    def _pod_deleted(self, pod: Obj) -> None:
        key = key_of(pod)
        self.queue.delete(key)
        if self.cache.remove_pod(key):
            self.queue.move_all()

    def _node_added(self, node: Obj) -> None:
        self.cache.set_node(node)
        self.queue.move_all()

    def _node_updated(self, old: Obj, new: Obj) -> None:
        self.cache.set_node(new)
        if _scheduling_view(old) != _scheduling_view(new):
            self.queue.move_all()

    def _node_deleted(self, node: Obj) -> None:
        self.cache.remove_node(node["metadata"]["name"])


def _rv(obj: Obj | None) -> str | None:
    return ((obj or {}).get("metadata") or {}).get("resourceVersion")


def _pod_scheduled(pod: Obj) -> Condition | None:
    return find_condition(pod, "PodScheduled")


def _has_condition(pod: Obj, message: str) -> bool:
    cond = _pod_scheduled(pod)
    return (
        cond is not None
        and cond.get("status") == "False"
        and cond.get("reason") == "Unschedulable"
        and cond.get("message") == message
    )


def _conditions_with(pod: Obj, message: str, now: str) -> list[Obj]:
    """The pod's conditions with PodScheduled replaced; the transition time
    moves only when the status changes (``UpdatePodCondition``)."""
    old = _pod_scheduled(pod)
    since = old.get("lastTransitionTime") if old is not None and old.get("status") == "False" else None
    cond = {
        "type": "PodScheduled",
        "status": "False",
        "lastProbeTime": None,
        "lastTransitionTime": since or now,
        "reason": "Unschedulable",
        "message": message,
    }
    others = [c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") != "PodScheduled"]
    return [*others, cond]
