"""Pod status, computed the way the kubelet computes it (pure functions).

The pod worker keeps a :class:`ContainerState` per container; these functions
turn those into ``containerStatuses``, the pod's ``phase`` and its
conditions (``Initialized``, ``ContainersReady``, ``Ready``,
``PodReadyToStartContainers``), keeping ``lastTransitionTime`` when a
condition did not change. Phase follows Kubernetes' ``getPhase``:

- an init container still to finish: Pending;
- any app container waiting for its first start: Pending;
- any running: Running;
- all stopped: Succeeded if all exited 0; otherwise Failed under
  ``restartPolicy: Never``, Running while they will be restarted.

Readiness: a container is ready when it runs, its startup probe (if any)
passed and its readiness probe (if any) succeeds -- the prober decides, the
pod worker copies the answer into :attr:`ContainerState.ready`. The pod's
``ContainersReady`` and ``Ready`` need every app container *and* every native
sidecar ready (Kubernetes counts restartable init containers too), which is
what takes a pod out of its Service's endpoints when a readiness probe fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from kemu.types import Obj

__all__ = [
    "ContainerState",
    "condition_messages",
    "container_status",
    "initialized",
    "merge_conditions",
    "pod_conditions",
    "pod_phase",
]


@dataclass
class ContainerState:
    """What the kubelet knows of one container (mutable, owned by its pod worker)."""

    name: str
    image: str
    init: bool = False
    """An init container (runs to completion before the app containers)."""
    sidecar: bool = False
    """A native sidecar: an init container with ``restartPolicy: Always``."""
    container_id: str = ""
    image_id: str = ""
    running_since: str | None = None
    """RFC 3339 start time of the current run, when running."""
    terminated: Obj | None = None
    """``state.terminated`` of the current run, once it ended."""
    last_terminated: Obj | None = None
    """``lastState.terminated``: the run before the current one."""
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    """``started``: the startup probe passed (or there is none) and it runs."""
    killing: bool = False
    """Being killed (failed liveness/startup probe or postStart hook)."""
    restart_after_kill: bool = False
    """Restart it when the kill completes, whatever its exit code (Kubernetes
    restarts a container killed for a failed probe unless restartPolicy is Never)."""
    log_path: str = ""
    """The log of the current (or last) run."""
    previous_log_path: str = ""
    """The log of the run before it (``kubectl logs --previous``)."""
    extra: Obj = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.running_since is not None

    def state(self) -> Obj:
        if self.running_since is not None:
            return {"running": {"startedAt": self.running_since}}
        if self.terminated is not None and not self.waiting_reason:
            return {"terminated": dict(self.terminated)}
        waiting: Obj = {"reason": self.waiting_reason or "ContainerCreating"}
        if self.waiting_message:
            waiting["message"] = self.waiting_message
        return {"waiting": waiting}

    def last_state(self) -> Obj:
        last = self.terminated if (self.terminated is not None and self.waiting_reason) else self.last_terminated
        return {"terminated": dict(last)} if last is not None else {}


def container_status(c: ContainerState) -> Obj:
    """One entry of ``containerStatuses`` / ``initContainerStatuses``."""
    status: Obj = {
        "name": c.name,
        "state": c.state(),
        "lastState": c.last_state(),
        "ready": c.ready,
        "restartCount": c.restart_count,
        "image": c.image,
        "imageID": c.image_id,
        "started": c.started,
    }
    if c.container_id:
        status["containerID"] = c.container_id
    return status


def _stopped(c: ContainerState) -> bool:
    return c.running_since is None and (c.terminated is not None or c.last_terminated is not None)


def pod_phase(init: list[ContainerState], app: list[ContainerState], restart_policy: str) -> str:
    """The pod's phase, after Kubernetes' ``getPhase``."""
    for c in init:
        if c.sidecar:
            continue
        done = c.terminated is not None and c.terminated.get("exitCode") == 0
        if not done:
            if restart_policy == "Never" and c.terminated is not None:
                return "Failed"
            return "Pending"
    running = sum(1 for c in app if c.running)
    waiting = sum(1 for c in app if not c.running and not _stopped(c))
    stopped = [c for c in app if _stopped(c) and not c.running]
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if restart_policy == "Always":
            return "Running"
        codes = [(c.terminated or c.last_terminated or {}).get("exitCode", 1) for c in stopped]
        if all(code == 0 for code in codes):
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _init_done(c: ContainerState) -> bool:
    """An init container is done: exited 0, or (a native sidecar) started."""
    if c.sidecar:
        return c.started and c.running
    return c.terminated is not None and c.terminated.get("exitCode") == 0


def initialized(init: list[ContainerState]) -> bool:
    """Every init container is done (the app containers may start)."""
    return all(_init_done(c) for c in init)


def _unready(init: list[ContainerState], app: list[ContainerState]) -> list[str]:
    return [c.name for c in init if c.sidecar and not c.ready] + [c.name for c in app if not c.ready]


def pod_conditions(
    init: list[ContainerState], app: list[ContainerState], *, sandbox_ready: bool, phase: str
) -> dict[str, tuple[str, str]]:
    """``type -> (status, reason)`` for the conditions the kubelet owns."""
    if phase == "Succeeded":
        ready = ("False", "PodCompleted")
    elif _unready(init, app):
        ready = ("False", "ContainersNotReady")
    else:
        ready = ("True", "")
    init_done = initialized(init) or any(c.running or c.terminated is not None for c in app)
    return {
        "PodReadyToStartContainers": ("True" if sandbox_ready else "False", ""),
        "Initialized": ("True", "") if init_done else ("False", "ContainersNotInitialized"),
        "ContainersReady": ready,
        "Ready": ready,
    }


def condition_messages(init: list[ContainerState], app: list[ContainerState]) -> dict[str, str]:
    """The ``message`` of each condition that is False, in the kubelet's words
    (``containers with unready status: [web]``)."""
    unready = _unready(init, app)
    ready_msg = f"containers with unready status: [{' '.join(unready)}]" if unready else ""
    incomplete = [c.name for c in init if not _init_done(c)]
    return {
        "Ready": ready_msg,
        "ContainersReady": ready_msg,
        "Initialized": f"containers with incomplete status: [{' '.join(incomplete)}]" if incomplete else "",
    }


def merge_conditions(previous: list[Obj], wanted: dict[str, tuple[str, str]], now: str, messages: dict[str, str]) -> list[Obj]:
    """The conditions list with ``wanted`` applied: ``lastTransitionTime`` moves
    only when a status changes; conditions the kubelet does not own
    (PodScheduled, DisruptionTarget) are kept as they are."""
    by_type = {c.get("type"): c for c in previous}
    out: list[Obj] = []
    order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    for ctype in order + [t for t in by_type if t not in order]:
        old = by_type.get(ctype)
        if ctype not in wanted:
            if old is not None:
                out.append(old)
            continue
        status, reason = wanted[ctype]
        cond: Obj = {"type": ctype, "status": status, "lastProbeTime": None}
        if old is not None and old.get("status") == status:
            cond["lastTransitionTime"] = old.get("lastTransitionTime") or now
        else:
            cond["lastTransitionTime"] = now
        if reason:
            cond["reason"] = reason
            msg = messages.get(ctype)
            if msg:
                cond["message"] = msg
        out.append(cond)
    return out
