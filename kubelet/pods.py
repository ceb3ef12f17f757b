"""Pod workers: make each pod's containers what its spec says, and report it.

The kubelet keeps one :class:`PodRecord` per pod UID bound to this node.
:meth:`PodWorkers.sync` is level-triggered and runs for one UID at a time
(the work queue guarantees it), whenever the pod changes in the apiserver,
a container exits (seen by the PLEG loop), or a back-off expires:

1. A pod that is being deleted (``deletionTimestamp``) or is gone from the
   apiserver is terminated: every container gets its stop signal, the grace
   period, then SIGKILL (on threads of their own, so one slow pod does not
   hold a worker); then the kubelet deletes the pod object with grace 0
   (the apiserver waits for exactly that) and frees the pod IP and its
   directory.
2. Otherwise init containers run in order, each to completion (native
   sidecars only need to be started), then the app containers start. An
   exited container is restarted per ``restartPolicy``; the first restart is
   immediate, later ones wait an exponential back-off (``CrashLoopBackOff``),
   reset after a run longer than ``backoff_reset`` seconds. An image the
   catalog does not know is ``ErrImagePull``, then ``ImagePullBackOff``.
3. The computed status is sent (a strategic merge patch on the status
   subresource, conditions merged by type) only when it changed.
"""

from __future__ import annotations

import ipaddress
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kemu.api import errors
from kemu.client import Client
from kemu.clock import Clock, rfc3339
from kemu.events import EventRecorder
from kemu.images import ImagePullError
from kubelet import status as pstatus
from kubelet.podenv import EnvError, VolumeError, container_env, container_mounts, prepare_volumes
from kubelet.runtime import ContainerHandle, ContainerRuntime, ContainerStartError, ExitStatus
from kubelet.status import ContainerState

__all__ = ["PodRecord", "PodWorkers", "PodIPAllocator", "Backoff", "Cache"]

Obj = dict[str, Any]


class Cache(Protocol):
    """Read access to what the kubelet watches besides its pods."""

    def configmap(self, namespace: str, name: str) -> Obj | None: ...

    def services(self, namespace: str) -> list[Obj]: ...


@dataclass
class Backoff:
    """Exponential back-off per container: ``base`` doubling to ``cap``."""

    base: float = 1.0
    cap: float = 20.0
    reset_after: float = 60.0
    """A run longer than this forgets the back-off (Kubernetes: 2 x cap)."""

    def next_delay(self, previous: float) -> float:
        """10 s base, cap 300 s (Kubernetes): 0 (first restart), 10, 20, 40 ... 300."""
        if previous <= 0:
            return self.base
        return min(previous * 2, self.cap)


class PodIPAllocator:
    """Pod IPs from the node's podCIDR (.2 upwards; .1 is the node's gateway)."""

    def __init__(self) -> None:
        self._cidr: ipaddress.IPv4Network | None = None
        self._used: dict[str, str] = {}  # ip -> pod uid
        self._lock = threading.Lock()

    def set_cidr(self, cidr: str) -> None:
        with self._lock:
            self._cidr = ipaddress.ip_network(cidr, strict=False) if cidr else None  # type: ignore[assignment]

    @property
    def ready(self) -> bool:
        return self._cidr is not None

    def allocate(self, uid: str, preferred: str = "") -> str:
        with self._lock:
            if self._cidr is None:
                raise RuntimeError("node has no podCIDR yet")
            for ip, owner in self._used.items():
                if owner == uid:
                    return ip
            if preferred and preferred not in self._used and ipaddress.ip_address(preferred) in self._cidr:
                self._used[preferred] = uid
                return preferred
            for host in list(self._cidr.hosts())[1:]:
                ip = str(host)
                if ip not in self._used:
                    self._used[ip] = uid
                    return ip
        raise RuntimeError(f"no free pod IP in {self._cidr}")

    def release(self, uid: str) -> None:
        with self._lock:
            for ip in [ip for ip, owner in self._used.items() if owner == uid]:
                del self._used[ip]


@dataclass
class PodRecord:
    """What the kubelet knows and runs for one pod UID."""

    uid: str
    namespace: str
    name: str
    pod: Obj | None
    """The latest object from the apiserver; None once it is gone there."""
    dir: Path
    ip: str = ""
    init: list[ContainerState] = field(default_factory=list)
    app: list[ContainerState] = field(default_factory=list)
    handles: dict[str, ContainerHandle] = field(default_factory=dict)
    backoff: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Container name -> (the wait after its next failure, monotonic time its
    next start may happen)."""
    volumes: dict[str, Path] | None = None
    start_time: str = ""
    last_status: Obj | None = None
    terminating: bool = False
    terminated: bool = False
    finished: bool = False
    """Deleted from the apiserver and cleaned up: the record can go."""
    pulled: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def containers(self) -> list[ContainerState]:
        return self.init + self.app


class PodWorkers:
    """The sync logic for every pod of one node; see the module doc."""

    def __init__(
        self,
        *,
        client: Client,
        runtime: ContainerRuntime,
        recorder: EventRecorder,
        cache: Cache,
        node_name: str,
        node_ip: str,
        root_dir: Path,
        clock: Clock,
        backoff: Backoff,
        log: Any,
        requeue: Any,
        node_allocatable: Obj | None = None,
    ):
        self.client = client
        self.runtime = runtime
        self.recorder = recorder
        self.cache = cache
        self.node_name = node_name
        self.node_ip = node_ip
        self.root_dir = root_dir
        self.clock = clock
        self.backoff_policy = backoff
        self.log = log
        self.requeue = requeue
        """``requeue(uid, delay)``: sync this pod again after ``delay`` seconds."""
        self.node_allocatable = node_allocatable or {}
        self.ips = PodIPAllocator()
        self.records: dict[str, PodRecord] = {}
        self.lock = threading.Lock()

    # -- bookkeeping from the informer ----------------------------------------------------

    def observe(self, pod: Obj) -> str:
        """Record the latest version of ``pod``; returns its uid."""
        meta = pod["metadata"]
        uid = meta["uid"]
        with self.lock:
            rec = self.records.get(uid)
            if rec is None:
                rec = PodRecord(uid, meta["namespace"], meta["name"], pod, self.root_dir / "pods" / uid)
                spec = pod.get("spec", {})
                rec.init = [
                    ContainerState(c["name"], c.get("image", ""), init=True, sidecar=c.get("restartPolicy") == "Always")
                    for c in spec.get("initContainers") or []
                ]
                rec.app = [ContainerState(c["name"], c.get("image", "")) for c in spec.get("containers") or []]
                prev = pod.get("status") or {}
                rec.ip = ""
                rec.start_time = prev.get("startTime", "")
                rec.last_status = None
                self.records[uid] = rec
            else:
                rec.pod = pod
        return uid

    def forget_api(self, pod: Obj) -> str:
        """The pod is gone from the apiserver (deleted with grace 0, or force)."""
        uid = pod["metadata"]["uid"]
        with self.lock:
            rec = self.records.get(uid)
            if rec is not None:
                rec.pod = None
        return uid

    def running_uids(self) -> list[str]:
        with self.lock:
            return list(self.records)

    # -- the sync ------------------------------------------------------------------------

    def sync(self, uid: str) -> None:
        with self.lock:
            rec = self.records.get(uid)
        if rec is None:
            return
        log = self.log.bind(kind="Pod", key=rec.key, uid=uid)
        pod = rec.pod
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            self._terminate(rec, log)
            return
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed") and not rec.handles:
            return
        if not self._sandbox(rec, pod, log):
            self._report(rec, pod, log)
            self.requeue(uid, 0.5)
            return
        self._reap(rec, pod, log)
        if self._run_init_containers(rec, pod, log):
            self._run_app_containers(rec, pod, log)
        self._report(rec, pod, log)

    # -- sandbox: IP and volumes ----------------------------------------------------------

    def _sandbox(self, rec: PodRecord, pod: Obj, log: Any) -> bool:
        if not self.ips.ready:
            for c in rec.containers():
                if not c.running and not c.terminated:
                    c.waiting_reason, c.waiting_message = "ContainerCreating", "waiting for the node's podCIDR"
            return False
        if not rec.ip:
            rec.ip = self.ips.allocate(rec.uid, (pod.get("status") or {}).get("podIP", ""))
            log.info("pod sandbox ready", podIP=rec.ip)
        if not rec.start_time:
            rec.start_time = rfc3339(self.clock.wall())
        try:
            rec.volumes = prepare_volumes(pod, rec.dir, self.cache.configmap)
        except VolumeError as exc:
            if rec.volumes is None:
                self.recorder.event(pod, "Warning", "FailedMount", f"MountVolume.SetUp failed: {exc}")
                log.warning("volume setup failed", error=str(exc))
                return False
        return True

    # -- containers ----------------------------------------------------------------------

    def _spec(self, pod: Obj, c: ContainerState) -> Obj:
        key = "initContainers" if c.init else "containers"
        return next(s for s in pod["spec"].get(key) or [] if s["name"] == c.name)

    def _reap(self, rec: PodRecord, pod: Obj, log: Any) -> None:
        """Notice containers that exited since the last sync."""
        for c in rec.containers():
            handle = rec.handles.get(c.name)
            if handle is None:
                continue
            exit_status = handle.poll()
            if exit_status is None:
                continue
            del rec.handles[c.name]
            self._record_exit(rec, pod, c, handle, exit_status, log)
            try:
                self.runtime.remove(handle)
            except Exception:
                log.debug("could not remove container state", container=c.name)

    def _record_exit(self, rec: PodRecord, pod: Obj, c: ContainerState, handle: ContainerHandle, st: ExitStatus, log: Any) -> None:
        ran_for = (st.finished_at - handle.started_at).total_seconds()
        c.running_since = None
        c.ready = False
        c.started = False
        c.last_terminated = c.terminated if c.terminated is not None else c.last_terminated
        c.terminated = st.as_terminated(handle.container_id)
        c.waiting_reason = ""
        log.info("container exited", container=c.name, exitCode=st.exit_code, reason=st.reason, ran_seconds=round(ran_for, 3))
        wait, _ = rec.backoff.get(c.name, (0.0, 0.0))
        if ran_for > self.backoff_policy.reset_after:
            wait = 0.0
        if self._should_restart(pod, c, st.exit_code):
            # The first restart is at once; later ones wait base, 2 x base ... cap.
            rec.backoff[c.name] = (self.backoff_policy.next_delay(wait), time.monotonic() + wait)
            if wait > 0:
                c.waiting_reason = "CrashLoopBackOff"
                c.waiting_message = (
                    f"back-off {_fmt_delay(wait)} restarting failed container={c.name} "
                    f"pod={rec.name}_{rec.namespace}({rec.uid})"
                )
                self.recorder.event(
                    pod,
                    "Warning",
                    "BackOff",
                    f"Back-off restarting failed container {c.name} in pod {rec.name}_{rec.namespace}({rec.uid})",
                )
                self.requeue(rec.uid, wait)

    def _should_restart(self, pod: Obj, c: ContainerState, exit_code: int) -> bool:
        if c.init and c.sidecar:
            return True
        policy = pod["spec"].get("restartPolicy", "Always")
        if c.init:
            return exit_code != 0 and policy != "Never"
        if policy == "Always":
            return True
        return policy == "OnFailure" and exit_code != 0

    def _due(self, rec: PodRecord, c: ContainerState) -> bool:
        _, until = rec.backoff.get(c.name, (0.0, 0.0))
        remaining = until - time.monotonic()
        if remaining > 0:
            self.requeue(rec.uid, remaining)
            return False
        return True

    def _run_init_containers(self, rec: PodRecord, pod: Obj, log: Any) -> bool:
        """Advance init containers; True when the app containers may run."""
        for c in rec.init:
            if c.sidecar:
                if c.name not in rec.handles and self._due(rec, c):
                    self._start(rec, pod, c, log)
                if not c.running:
                    return False
                continue
            if c.terminated is not None and c.terminated.get("exitCode") == 0 and not c.waiting_reason:
                continue
            if c.name in rec.handles:
                return False
            if c.terminated is not None and not self._should_restart(pod, c, int(c.terminated.get("exitCode", 1))):
                return False
            if self._due(rec, c):
                self._start(rec, pod, c, log)
            return False
        return True

    def _run_app_containers(self, rec: PodRecord, pod: Obj, log: Any) -> None:
        for c in rec.app:
            if c.name in rec.handles:
                continue
            if c.terminated is not None and not self._should_restart(pod, c, int(c.terminated.get("exitCode", 1))):
                continue
            if self._due(rec, c):
                self._start(rec, pod, c, log)

    def _start(self, rec: PodRecord, pod: Obj, c: ContainerState, log: Any) -> None:
        spec = self._spec(pod, c)
        image = spec.get("image", "")
        restarting = c.terminated is not None
        try:
            if image not in rec.pulled:
                self.recorder.event(pod, "Normal", "Pulling", f'Pulling image "{image}"')
            started_pull = time.monotonic()
            image_spec = self.runtime.pull(image)
            if image not in rec.pulled:
                took = _fmt_ms(time.monotonic() - started_pull)
                self.recorder.event(pod, "Normal", "Pulled", f'Successfully pulled image "{image}" in {took} ({took} including waiting). Image size: 0 bytes.')
                rec.pulled.add(image)
            c.image_id = image_spec.image_id
        except ImagePullError as exc:
            self._pull_failed(rec, pod, c, image, exc, log)
            return
        # The downward API's status.podIP must be known before the first status report.
        pod_view = dict(pod, status=dict(pod.get("status") or {}, podIP=rec.ip))
        try:
            env = container_env(
                pod_view,
                spec,
                node_ip=self.node_ip,
                services=self.cache.services(rec.namespace),
                get_configmap=self.cache.configmap,
                node_allocatable=self.node_allocatable,
            )
            mounts = container_mounts(spec, rec.volumes or {})
        except (EnvError, VolumeError) as exc:
            c.waiting_reason, c.waiting_message = "CreateContainerConfigError", str(exc)
            self.recorder.event(pod, "Warning", "Failed", f"Error: {exc}")
            self._set_backoff(rec, c)
            return
        if restarting:
            c.restart_count += 1
        try:
            handle = self.runtime.start(
                pod_uid=rec.uid,
                pod_namespace=rec.namespace,
                pod_name=rec.name,
                pod_ip=rec.ip,
                container=spec,
                env=env,
                mounts=mounts,
                restart_count=c.restart_count,
            )
        except ContainerStartError as exc:
            now = rfc3339(self.clock.wall())
            c.last_terminated = c.terminated if c.terminated is not None else c.last_terminated
            c.terminated = {"exitCode": exc.exit_code, "reason": exc.terminated_reason, "message": exc.message, "startedAt": now, "finishedAt": now}
            c.waiting_reason, c.waiting_message = exc.reason, exc.message
            self.recorder.event(pod, "Warning", "Failed", f"Error: {exc.message}")
            log.warning("container start failed", container=c.name, reason=exc.reason, error=exc.message)
            self._set_backoff(rec, c)
            return
        rec.handles[c.name] = handle
        c.container_id = handle.container_id
        c.running_since = rfc3339(handle.started_at.timestamp())
        c.waiting_reason, c.waiting_message = "", ""
        c.started = True
        c.ready = not c.init or c.sidecar
        self.recorder.event(pod, "Normal", "Created", f"Created container: {c.name}")
        self.recorder.event(pod, "Normal", "Started", f"Started container {c.name}")
        log.info("container started", container=c.name, image=image, pid=handle.pid, containerID=handle.container_id, restartCount=c.restart_count)

    def _set_backoff(self, rec: PodRecord, c: ContainerState) -> None:
        """A start that failed before the process ran: retry after a back-off."""
        wait, _ = rec.backoff.get(c.name, (0.0, 0.0))
        wait = wait or self.backoff_policy.base
        rec.backoff[c.name] = (self.backoff_policy.next_delay(wait), time.monotonic() + wait)
        self.requeue(rec.uid, wait)

    def _pull_failed(self, rec: PodRecord, pod: Obj, c: ContainerState, image: str, exc: ImagePullError, log: Any) -> None:
        in_backoff = c.waiting_reason in ("ErrImagePull", "ImagePullBackOff")
        if in_backoff:
            c.waiting_reason = "ImagePullBackOff"
            c.waiting_message = f'Back-off pulling image "{image}": ErrImagePull: {exc.message}'
            self.recorder.event(pod, "Normal", "BackOff", f'Back-off pulling image "{image}"')
        else:
            c.waiting_reason, c.waiting_message = exc.reason, exc.message
            self.recorder.event(pod, "Warning", "Failed", getattr(exc, "event_message", exc.message))
            self.recorder.event(pod, "Warning", "Failed", f"Error: {exc.reason}")
        log.warning("image pull failed", container=c.name, image=image, reason=c.waiting_reason)
        self._set_backoff(rec, c)

    # -- status ---------------------------------------------------------------------------

    def _report(self, rec: PodRecord, pod: Obj, log: Any) -> None:
        policy = pod["spec"].get("restartPolicy", "Always")
        phase = pstatus.pod_phase(rec.init, rec.app, policy)
        now = rfc3339(self.clock.wall())
        wanted = pstatus.pod_conditions(rec.init, rec.app, sandbox_ready=bool(rec.ip), phase=phase)
        not_ready = [c.name for c in rec.app if not c.ready]
        msg = f"containers with unready status: [{' '.join(not_ready)}]" if not_ready else ""
        uninit = [c.name for c in rec.init if not (c.terminated and c.terminated.get("exitCode") == 0) and not (c.sidecar and c.started)]
        messages = {
            "Ready": msg,
            "ContainersReady": msg,
            "Initialized": f"containers with incomplete status: [{' '.join(uninit)}]" if uninit else "",
        }
        previous = (rec.last_status or pod.get("status") or {}).get("conditions") or []
        status: Obj = {
            "phase": phase,
            "conditions": pstatus.merge_conditions(previous, wanted, now, messages),
            "hostIP": self.node_ip,
            "hostIPs": [{"ip": self.node_ip}],
            "containerStatuses": [pstatus.container_status(c) for c in rec.app],
        }
        if rec.ip:
            status["podIP"] = rec.ip
            status["podIPs"] = [{"ip": rec.ip}]
        if rec.init:
            status["initContainerStatuses"] = [pstatus.container_status(c) for c in rec.init]
        if rec.start_time:
            status["startTime"] = rec.start_time
        if status == rec.last_status:
            return
        try:
            updated = self.client.patch("Pod", rec.name, {"status": status}, rec.namespace, patch_type="strategic", subresource="status")
        except errors.ApiError as exc:
            if exc.code == 404:
                return
            log.warning("status update failed", code=exc.code, error=exc.message)
            self.requeue(rec.uid, 0.5)
            return
        rec.last_status = status
        log.info("pod status", phase=phase, ready=not not_ready, resourceVersion=updated["metadata"]["resourceVersion"])

    # -- termination ------------------------------------------------------------------------

    def _terminate(self, rec: PodRecord, log: Any) -> None:
        if rec.terminated:
            self._finish(rec, log)
            return
        if rec.terminating:
            return
        rec.terminating = True
        pod = rec.pod
        grace = 2.0
        if pod is not None:
            grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
            if grace <= 0:
                grace = 0.0
        handles = list(rec.handles.items())
        log.info("killing pod", grace_period=grace, containers=[n for n, _ in handles])
        for name, _ in handles:
            if pod is not None:
                self.recorder.event(pod, "Normal", "Killing", f"Stopping container {name}")
        threading.Thread(target=self._stop_all, args=(rec, handles, grace, log), name=f"kill-{rec.name}", daemon=True).start()

    def _stop_all(self, rec: PodRecord, handles: list[tuple[str, ContainerHandle]], grace: float, log: Any) -> None:
        threads = [threading.Thread(target=h.stop, args=(grace,), daemon=True) for _, h in handles]
        for t in threads:
            t.start()
        for t in threads:
            t.join(grace + 10)
        for name, h in handles:
            st = h.poll()
            c = next((c for c in rec.containers() if c.name == name), None)
            if c is not None and st is not None:
                c.running_since = None
                c.ready = False
                c.terminated = st.as_terminated(h.container_id)
                c.waiting_reason = ""
        rec.handles.clear()
        rec.terminated = True
        log.info("pod containers stopped")
        self.requeue(rec.uid, 0)

    def _finish(self, rec: PodRecord, log: Any) -> None:
        if rec.pod is not None:
            try:
                self.client.delete("Pod", rec.name, rec.namespace, grace_period_seconds=0, preconditions={"uid": rec.uid})
                log.info("pod deleted from the apiserver")
            except errors.ApiError as exc:
                if exc.code not in (404, 409):
                    log.warning("final delete failed", code=exc.code, error=exc.message)
                    self.requeue(rec.uid, 1.0)
                    return
        self.ips.release(rec.uid)
        for h in list(rec.handles.values()):
            h.kill()
        shutil.rmtree(rec.dir, ignore_errors=True)
        with self.lock:
            self.records.pop(rec.uid, None)
        rec.finished = True

    def stop_everything(self, grace: float = 0.0) -> None:
        """Stop every container (the kubelet is shutting down)."""
        with self.lock:
            records = list(self.records.values())
        for rec in records:
            for h in list(rec.handles.values()):
                try:
                    h.stop(grace)
                except Exception:
                    pass


def _fmt_delay(seconds: float) -> str:
    if seconds >= 60:
        m, s = divmod(int(seconds), 60)
        return f"{m}m{s}s"
    return f"{seconds:g}s"


def _fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms"
