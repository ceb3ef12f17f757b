"""Pod workers: make each pod's containers what its spec says, and report it.

The kubelet keeps one :class:`PodRecord` per pod UID bound to this node.
:meth:`PodWorkers.sync` is level-triggered and runs for one UID at a time
(the work queue guarantees it), whenever the pod changes in the apiserver, a
container exits (seen by the PLEG loop), a probe result changes, a ConfigMap
it uses changes, or a back-off expires:

1. **Admission**, once: a pod whose containers declare the same
   ``containerPort``/protocol twice (they share one IP, so only one could
   listen), or whose ``hostPort`` is taken by another pod of this node, is
   rejected: phase Failed, with the reason and message the kubelet gives.
2. A pod that is being deleted (``deletionTimestamp``) or is gone from the
   apiserver is **terminated**: each container's ``preStop`` hook, then its
   stop signal, then SIGKILL when the grace period (hook included) is over;
   app containers together, then native sidecars in reverse order. This runs
   on a thread of its own, so one slow pod does not hold a worker. Then the
   kubelet deletes the pod object with grace 0 (the apiserver waits for
   exactly that) and frees the pod IP, its directory and its logs.
3. Otherwise the **sandbox** (pod IP, volumes) is made, exited containers
   are reaped, probe results are applied (a failed liveness or startup
   probe kills the container, on a thread), init containers run in order,
   each to completion (native sidecars only need to have started), then the
   app containers start. An exited container is restarted per
   ``restartPolicy``; the first restart is immediate, later ones wait an
   exponential back-off (``CrashLoopBackOff``), reset after a run longer than
   ``reset_after`` seconds. An image the catalog does not know is
   ``ErrImagePull``, then ``ImagePullBackOff``. A ``postStart`` hook runs
   right after its container starts (the next container waits for it, as in
   Kubernetes); if it fails the container is killed.
4. The computed status is sent (a strategic merge patch on the status
   subresource, conditions merged by type) only when it changed.

Networking: a pod's containers share the pod IP (an address of the node's
podCIDR in 127.0.0.0/8) and its ports. kemu has no network namespaces, so
``127.0.0.1`` is *not* the pod's own loopback: it is the host's, shared by
every pod of every node. A sidecar reaches its main container at
``$POD_IP:port`` (``status.podIP`` through the downward API) -- use that
where a manifest for a real cluster says ``localhost``. ``hostPort`` is
checked for conflicts on the node but not forwarded (use a NodePort Service).
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
from kubelet.logs import remove_log
from kubelet.podenv import (
    EnvError,
    VolumeError,
    container_env,
    container_mounts,
    prepare_volumes,
)
from kubelet.probes import (
    HookError,
    ProbeKind,
    ProbeManager,
    ProbeOutcome,
    ProbeRunner,
    ProbeTarget,
    Result,
)
from kubelet.runtime import (
    ContainerHandle,
    ContainerRuntime,
    ContainerStartError,
    ExitStatus,
)
from kubelet.sandbox import PodDns, Sandbox, SandboxError, Sandboxes, hostname_of, pod_files
from kubelet.status import ContainerState
from kemu.types import Obj

__all__ = [
    "Backoff",
    "Cache",
    "PodIPAllocator",
    "PodRecord",
    "PodWorkers",
    "crashloop_delays",
    "host_port_conflict",
    "port_conflict",
    "should_restart",
]


MIN_HOOK_TIMEOUT = 2.0
"""A postStart hook may take at least this long even with a short grace period."""


class Cache(Protocol):
    """Read access to what the kubelet watches besides its pods."""

    def configmap(self, namespace: str, name: str) -> Obj | None: ...

    def secret(self, namespace: str, name: str) -> Obj | None: ...

    def services(self, namespace: str) -> list[Obj]: ...

    def service(self, namespace: str, name: str) -> Obj | None: ...


# ------------------------------------------------------------ pure decisions


@dataclass
class Backoff:
    """Exponential back-off per container: ``base`` doubling to ``cap``."""

    base: float = 1.0
    cap: float = 20.0
    reset_after: float = 60.0
    """A run longer than this forgets the back-off (Kubernetes: 2 x cap)."""

    def next_delay(self, previous: float) -> float:
        """The wait after the one that was ``previous`` (0: none yet).

        Kubernetes (base 10 s, cap 300 s): 10, 20, 40 ... 300."""
        if previous <= 0:
            return self.base
        return min(previous * 2, self.cap)


def crashloop_delays(policy: Backoff, crashes: int) -> list[float]:
    """The wait before each restart of a container that crashes ``crashes``
    times in a row: the first restart is immediate, then base, doubling, capped.

    >>> crashloop_delays(Backoff(base=10, cap=300), 8)
    [0.0, 10, 20, 40, 80, 160, 300, 300]
    """
    delays: list[float] = []
    wait = 0.0
    for _ in range(crashes):
        delays.append(wait)
        wait = policy.next_delay(wait)
    return delays


def should_restart(restart_policy: str, *, init: bool, sidecar: bool, exit_code: int, killed_by_kubelet: bool = False) -> bool:
    """Whether an exited container starts again.

    - native sidecars always restart;
    - init containers restart after a failure unless the policy is Never;
    - app containers: Always restarts, OnFailure restarts a non-zero exit,
      Never never does;
    - a container the kubelet killed (failed liveness/startup probe,
      failed postStart hook) restarts unless the policy is Never.
    """
    if sidecar:
        return True
    if killed_by_kubelet:
        return restart_policy != "Never"
    if init:
        return exit_code != 0 and restart_policy != "Never"
    if restart_policy == "Always":
        return True
    return restart_policy == "OnFailure" and exit_code != 0


def _concurrent_containers(spec: Obj) -> list[Obj]:
    """The containers that run at the same time: app containers and native sidecars."""
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return sidecars + list(spec.get("containers") or [])


def port_conflict(spec: Obj) -> str | None:
    """Why the pod's containers cannot all listen, or None.

    >>> port_conflict({"containers": [{"name": "a", "ports": [{"containerPort": 80}]},
    ...                               {"name": "b", "ports": [{"containerPort": 80}]}]})
    'containers "a" and "b" both declare containerPort 80/TCP, but the containers of a pod share one IP and its ports'
    """
    seen: dict[tuple[int, str], str] = {}
    for c in _concurrent_containers(spec):
        for p in c.get("ports") or []:
            key = (int(p.get("containerPort") or 0), str(p.get("protocol") or "TCP"))
            owner = seen.get(key)
            if owner is not None and owner != c.get("name"):
                return (
                    f'containers "{owner}" and "{c.get("name")}" both declare containerPort {key[0]}/{key[1]}, '
                    "but the containers of a pod share one IP and its ports"
                )
            seen[key] = str(c.get("name"))
    return None


def _host_ports(spec: Obj) -> set[tuple[str, str, int]]:
    out = set()
    for c in _concurrent_containers(spec):
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                out.add((str(p.get("hostIP") or "0.0.0.0"), str(p.get("protocol") or "TCP"), int(p["hostPort"])))
    return out


def host_port_conflict(pod: Obj, others: list[Obj]) -> bool:
    """Whether ``pod`` wants a hostPort that one of ``others`` (pods admitted
    on this node) holds; ``0.0.0.0`` overlaps every address."""
    wanted = _host_ports(pod.get("spec") or {})
    if not wanted:
        return False
    for other in others:
        for ip, proto, port in _host_ports(other.get("spec") or {}):
            for wip, wproto, wport in wanted:
                if port == wport and proto == wproto and (ip == wip or "0.0.0.0" in (ip, wip)):
                    return True
    return False


# ------------------------------------------------------------------- records


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
    last_seen: Obj | None = None
    """The last object seen, kept after it is gone (its spec drives termination)."""
    ip: str = ""
    init: list[ContainerState] = field(default_factory=list)
    app: list[ContainerState] = field(default_factory=list)
    handles: dict[str, ContainerHandle] = field(default_factory=dict)
    backoff: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Container name -> (the wait after its next failure, monotonic time its
    next start may happen)."""
    volumes: dict[str, Path] | None = None
    volume_retry: float = 0.0
    """The wait before the next attempt at volumes that failed."""
    start_time: str = ""
    last_status: Obj | None = None
    admitted: bool = False
    rejection: tuple[str, str] | None = None
    """(reason, message) when the kubelet refused the pod."""
    terminating: bool = False
    terminated: bool = False
    finished: bool = False
    """Deleted from the apiserver and cleaned up: the record can go."""
    pulled: set[str] = field(default_factory=set)
    sandbox: Sandbox | None = None
    """The pod's network, UTS and IPC namespaces (:mod:`kubelet.sandbox`)."""
    sandbox_retry: float = 0.0
    sandbox_noted: bool = False
    """The event saying the pod runs without a sandbox was sent."""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def containers(self) -> list[ContainerState]:
        return self.init + self.app

    def container(self, name: str) -> ContainerState | None:
        return next((c for c in self.containers() if c.name == name), None)

    def spec(self) -> Obj:
        return ((self.pod or self.last_seen) or {}).get("spec") or {}


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
        prober: ProbeManager | None = None,
        hooks: ProbeRunner | None = None,
        sandboxes: Sandboxes | None = None,
        sandbox_problem: str | None = None,
        dns: PodDns | None = None,
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
        self.prober = prober
        """Runs probes; set by the kubelet after construction (it needs us as its listener)."""
        self.hooks = hooks or ProbeRunner()
        self.sandboxes = sandboxes
        """Makes pods' sandboxes; ``None`` when this host cannot (see :attr:`sandbox_problem`)."""
        self.sandbox_problem = sandbox_problem
        self.dns = dns or PodDns()
        self.ips = PodIPAllocator()
        self.records: dict[str, PodRecord] = {}
        self.lock = threading.Lock()

    # -- bookkeeping from the informer ----------------------------------------------------

    def observe(self, pod: Obj) -> str:
        """Record the latest version of ``pod``; returns its uid."""
        meta = pod["metadata"]
        uid: str = meta["uid"]
        with self.lock:
            rec = self.records.get(uid)
            if rec is None:
                rec = PodRecord(uid, meta["namespace"], meta["name"], pod, self.root_dir / "pods" / uid)
                spec = pod.get("spec", {})
                waiting = "PodInitializing" if spec.get("initContainers") else "ContainerCreating"
                rec.init = [
                    ContainerState(c["name"], c.get("image", ""), init=True, sidecar=c.get("restartPolicy") == "Always", waiting_reason=waiting)
                    for c in spec.get("initContainers") or []
                ]
                rec.app = [ContainerState(c["name"], c.get("image", ""), waiting_reason=waiting) for c in spec.get("containers") or []]
                rec.start_time = (pod.get("status") or {}).get("startTime", "")
                self.records[uid] = rec
            else:
                rec.pod = pod
            rec.last_seen = pod
        return uid

    def forget_api(self, pod: Obj) -> str:
        """The pod is gone from the apiserver (deleted with grace 0, or force)."""
        uid: str = pod["metadata"]["uid"]
        with self.lock:
            rec = self.records.get(uid)
            if rec is not None:
                rec.pod = None
        return uid

    def running_uids(self) -> list[str]:
        with self.lock:
            return list(self.records)

    def find(self, namespace: str, name: str) -> PodRecord | None:
        """The record of the pod ``namespace/name`` (the live one when a pod of
        that name was replaced)."""
        with self.lock:
            found = [r for r in self.records.values() if r.namespace == namespace and r.name == name]
        found.sort(key=lambda r: (r.pod is not None, not r.terminating))
        return found[-1] if found else None

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
            return  # finished (or rejected): nothing runs, nothing will
        if rec.rejection is not None or (not rec.admitted and not self._admit(rec, pod, log)):
            self._report_rejected(rec, pod, log)
            return
        if not self._sandbox(rec, pod, log):
            self._report(rec, pod, log)
            return
        self._reap(rec, pod, log)
        self._apply_probes(rec, pod, log)
        if self._run_init_containers(rec, pod, log):
            self._run_app_containers(rec, pod, log)
        self._report(rec, pod, log)

    # -- admission ------------------------------------------------------------------------

    def _admit(self, rec: PodRecord, pod: Obj, log: Any) -> bool:
        """Refuse a pod whose ports cannot work here (see the module doc)."""
        problem = port_conflict(pod.get("spec") or {})
        reason = "PortConflict"
        if problem is None:
            with self.lock:
                others = [
                    r.pod
                    for r in self.records.values()
                    if r is not rec and r.admitted and r.pod is not None and not r.terminating
                    and (r.last_status or {}).get("phase") not in ("Succeeded", "Failed")
                ]
                if not host_port_conflict(pod, others):
                    rec.admitted = True
                    return True
            reason = "NodePorts"
            problem = "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"
        rec.rejection = (reason, f"Pod was rejected: {problem}")
        self.recorder.event(pod, "Warning", reason, problem)
        log.warning("pod rejected", reason=reason, message=problem)
        return False

    def _report_rejected(self, rec: PodRecord, pod: Obj, log: Any) -> None:
        assert rec.rejection is not None
        reason, message = rec.rejection
        status: Obj = {"phase": "Failed", "reason": reason, "message": message, "hostIP": self.node_ip}
        self._send_status(rec, status, log)

    # -- sandbox: IP and volumes ----------------------------------------------------------

    def _sandbox(self, rec: PodRecord, pod: Obj, log: Any) -> bool:
        if not self.ips.ready:
            self._set_waiting(rec, "ContainerCreating", "waiting for the node's podCIDR")
            self.requeue(rec.uid, 0.5)
            return False
        if not rec.ip:
            rec.ip = self.ips.allocate(rec.uid, (pod.get("status") or {}).get("podIP", ""))
        if not self._network(rec, pod, log):
            return False
        if not rec.start_time:
            rec.start_time = rfc3339(self.clock.wall())
        try:
            rec.volumes = prepare_volumes(pod, rec.dir, self.cache.configmap, self.cache.secret)
            rec.volume_retry = 0.0
        except VolumeError as exc:
            if rec.volumes is not None:
                log.warning("volume refresh failed", error=str(exc))
                return True  # the containers run with what they have
            message = f"MountVolume.SetUp failed: {exc}"
            self.recorder.event(pod, "Warning", "FailedMount", message)
            self._set_waiting(rec, "ContainerCreating", message)
            log.warning("volume setup failed", error=str(exc))
            rec.volume_retry = min(max(rec.volume_retry * 2, 1.0), 30.0)
            self.requeue(rec.uid, rec.volume_retry)
            return False
        return True

    def _network(self, rec: PodRecord, pod: Obj, log: Any) -> bool:
        """The pod's sandbox (network namespace with its IP, host name), made
        once; without sandboxes, one event that says what the pod lacks."""
        if rec.sandbox is not None:
            return True
        if self.sandboxes is None or (pod.get("spec") or {}).get("hostNetwork"):
            if not rec.sandbox_noted:
                rec.sandbox_noted = True
                log.info("pod sandbox ready", podIP=rec.ip, sandbox=False)
                if self.sandboxes is None:
                    self.recorder.event(pod, "Warning", "NoPodSandbox", (
                        f"Running without a pod sandbox: {self.sandbox_problem}. The pod shares the host's "
                        "network (its containers reach each other at $POD_IP, not localhost), host name "
                        "and file system"))  # fmt: skip
            return True
        try:
            rec.sandbox = self.sandboxes.create(rec.uid, rec.ip, hostname_of(pod))
        except SandboxError as exc:
            message = f"Failed to create pod sandbox: {exc}"
            self.recorder.event(pod, "Warning", "FailedCreatePodSandBox", message)
            self._set_waiting(rec, "ContainerCreating", message)
            log.warning("pod sandbox failed", error=str(exc))
            rec.sandbox_retry = min(max(rec.sandbox_retry * 2, 1.0), 30.0)
            self.requeue(rec.uid, rec.sandbox_retry)
            return False
        log.info("pod sandbox ready", podIP=rec.ip, sandbox=True, pid=rec.sandbox.pid)
        return True

    @staticmethod
    def _set_waiting(rec: PodRecord, reason: str, message: str) -> None:
        for c in rec.containers():
            if not c.running and c.terminated is None:
                c.waiting_reason, c.waiting_message = reason, message

    # -- containers ----------------------------------------------------------------------

    def _spec(self, pod: Obj, c: ContainerState) -> Obj:
        key = "initContainers" if c.init else "containers"
        return next(s for s in (pod.get("spec") or {}).get(key) or [] if s["name"] == c.name)

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
            if self.prober is not None:
                self.prober.remove_container(handle.container_id)
            self._record_exit(rec, pod, c, handle, exit_status, log)
            try:
                self.runtime.remove(handle)
            except OSError as exc:
                log.debug("could not remove container state", container=c.name, error=str(exc))

    def _record_exit(self, rec: PodRecord, pod: Obj, c: ContainerState, handle: ContainerHandle, st: ExitStatus, log: Any) -> None:
        ran_for = (st.finished_at - handle.started_at).total_seconds()
        c.running_since = None
        c.started = False
        c.last_terminated = c.terminated if c.terminated is not None else c.last_terminated
        c.terminated = st.as_terminated(handle.container_id)
        c.ready = c.init and not c.sidecar and st.exit_code == 0  # a completed init container is "ready"
        c.waiting_reason = ""
        killed = c.restart_after_kill
        c.killing = False
        log.info("container exited", container=c.name, exitCode=st.exit_code, reason=st.reason, ran_seconds=round(ran_for, 3))
        wait, _ = rec.backoff.get(c.name, (0.0, 0.0))
        if ran_for > self.backoff_policy.reset_after:
            wait = 0.0
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        if should_restart(policy, init=c.init, sidecar=c.sidecar, exit_code=st.exit_code, killed_by_kubelet=killed):
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

    def _wants_start(self, pod: Obj, c: ContainerState) -> bool:
        """An exited container that its restart policy (or a kubelet kill) brings back."""
        if c.terminated is None or c.restart_after_kill:
            return True
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        return should_restart(policy, init=c.init, sidecar=c.sidecar, exit_code=int(c.terminated.get("exitCode", 1)))

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
                if c.name not in rec.handles and self._wants_start(pod, c) and self._due(rec, c):
                    self._start(rec, pod, c, log)
                if not (c.running and c.started):
                    return False
                continue
            if c.terminated is not None and c.terminated.get("exitCode") == 0 and not c.waiting_reason:
                continue
            if c.name in rec.handles:
                return False
            if self._wants_start(pod, c) and self._due(rec, c):
                self._start(rec, pod, c, log)
            return False
        return True

    def _run_app_containers(self, rec: PodRecord, pod: Obj, log: Any) -> None:
        for c in rec.app:
            if c.name in rec.handles or not self._wants_start(pod, c):
                continue
            if self._due(rec, c):
                self._start(rec, pod, c, log)

    def _start(self, rec: PodRecord, pod: Obj, c: ContainerState, log: Any) -> None:
        spec = self._spec(pod, c)
        image = spec.get("image", "")
        if not self._pull(rec, pod, c, image, log):
            return
        # The downward API's status.podIP must be known before the first status report.
        pod_view = dict(pod, status=dict(pod.get("status") or {}, podIP=rec.ip))
        try:
            env = container_env(
                pod_view,
                spec,
                node_ip=self.node_ip,
                services=self.cache.services(rec.namespace),
                master=self.cache.service("default", "kubernetes"),
                get_configmap=self.cache.configmap,
                get_secret=self.cache.secret,
                node_allocatable=self.node_allocatable,
            )
            mounts = container_mounts(spec, rec.volumes or {})
        except (EnvError, VolumeError) as exc:
            c.waiting_reason, c.waiting_message = "CreateContainerConfigError", str(exc)
            self.recorder.event(pod, "Warning", "Failed", f"Error: {exc}")
            self._set_backoff(rec, c)
            return
        if c.terminated is not None:
            c.restart_count += 1
        c.restart_after_kill = False
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
                sandbox_pid=rec.sandbox.pid if rec.sandbox is not None else None,
                pod_files=pod_files(pod, rec.ip, self.dns) if rec.sandbox is not None else None,
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
        self._started(rec, pod, c, spec, handle, log)

    def _pull(self, rec: PodRecord, pod: Obj, c: ContainerState, image: str, log: Any) -> bool:
        try:
            if image not in rec.pulled:
                self.recorder.event(pod, "Normal", "Pulling", f'Pulling image "{image}"')
            started_pull = time.monotonic()
            image_spec = self.runtime.pull(image)
            if image not in rec.pulled:
                took = _fmt_ms(time.monotonic() - started_pull)
                self.recorder.event(pod, "Normal", "Pulled",
                                    f'Successfully pulled image "{image}" in {took} ({took} including waiting). Image size: 0 bytes.')
                rec.pulled.add(image)
            c.image_id = image_spec.image_id
            return True
        except ImagePullError as exc:
            self._pull_failed(rec, pod, c, image, exc, log)
            return False

    def _started(self, rec: PodRecord, pod: Obj, c: ContainerState, spec: Obj, handle: ContainerHandle, log: Any) -> None:
        """Bookkeeping once the process runs: state, logs, probes, events, postStart."""
        rec.handles[c.name] = handle
        c.container_id = handle.container_id
        c.running_since = rfc3339(handle.started_at.timestamp())
        c.waiting_reason, c.waiting_message = "", ""
        displaced = c.previous_log_path
        c.previous_log_path, c.log_path = c.log_path, str(handle.log_path)
        if displaced and displaced not in (c.previous_log_path, c.log_path):
            remove_log(Path(displaced))  # keep the current and the previous run, as the kubelet does
        target = ProbeTarget(
            pod_uid=rec.uid,
            namespace=rec.namespace,
            pod_name=rec.name,
            container_name=c.name,
            container_id=handle.container_id,
            pod_ip=rec.ip,
            container=spec,
            handle=handle,
            started_at=self.clock.now(),
        )
        if self.prober is not None and (not c.init or c.sidecar):
            self.prober.add_container(target)
        probes = self.prober.status(handle.container_id) if self.prober is not None else None
        c.started = probes.started if probes is not None else True
        c.ready = (probes.ready if probes is not None else True) and (not c.init or c.sidecar)
        self.recorder.event(pod, "Normal", "Created", f"Created container: {c.name}")
        self.recorder.event(pod, "Normal", "Started", f"Started container {c.name}")
        log.info("container started", container=c.name, image=spec.get("image", ""), pid=handle.pid,
                 containerID=handle.container_id, restartCount=c.restart_count)
        if c.restart_count == 0:
            self._report_limits(pod, c, spec, log)
        post_start = (spec.get("lifecycle") or {}).get("postStart")
        if post_start:
            try:
                self.hooks.run_hook("PostStart", post_start, target, max(_grace(pod), MIN_HOOK_TIMEOUT))
            except HookError as exc:
                self.recorder.event(pod, "Warning", "FailedPostStartHook", str(exc))
                log.warning("postStart hook failed", container=c.name, error=str(exc))
                policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
                self._kill_container(rec, pod, c, handle, "FailedPostStartHook", restart=policy != "Never", grace=_grace(pod), log=log)

    def _report_limits(self, pod: Obj, c: ContainerState, spec: Obj, log: Any) -> None:
        """Say honestly which resource limits this machine does not enforce."""
        limits = (spec.get("resources") or {}).get("limits") or {}
        if not limits:
            return
        mode = self.runtime.memory_mode
        if "cpu" in limits and mode != "cgroup":
            message = (
                f'cpu limit {limits["cpu"]} of container {c.name} is not enforced: kemu needs a writable '
                "cgroup v2 hierarchy (root on a cgroup v2 host) for CPU limits"
            )
            self.recorder.event(pod, "Warning", "LimitNotEnforced", message)
            log.warning("cpu limit not enforced", container=c.name, limit=limits["cpu"], memory_mode=mode)
        if "memory" in limits:
            how = {
                "cgroup": "enforced by cgroup v2 memory.max",
                "rss": "enforced approximately: the shim samples the container's resident memory",
                "rlimit": "enforced as RLIMIT_AS (virtual memory, per process)",
                "none": "not enforced",
            }[mode]
            if mode == "none":
                self.recorder.event(pod, "Warning", "LimitNotEnforced", f"memory limit {limits['memory']} of container {c.name} is not enforced")
            log.info("memory limit", container=c.name, limit=limits["memory"], memory_mode=mode, how=how)

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

    # -- probes and kills -------------------------------------------------------------------

    def probe_result(self, target: ProbeTarget, kind: ProbeKind, outcome: ProbeOutcome, changed: bool) -> None:
        """:class:`~kubelet.probes.ProbeListener`: events for failures, a sync for changes."""
        with self.lock:
            rec = self.records.get(target.pod_uid)
        pod = rec.pod if rec is not None else None
        if pod is not None:
            if outcome.result is Result.FAILURE:
                self.recorder.event(pod, "Warning", "Unhealthy", f"{kind.value} probe failed: {outcome.message}")
            elif outcome.warning:
                self.recorder.event(pod, "Warning", "ProbeWarning", f"{kind.value} probe warning: {outcome.message}")
        if changed:
            self.log.info("probe result changed", kind="Pod", key=f"{target.namespace}/{target.pod_name}", uid=target.pod_uid,
                          container=target.container_name, probe=kind.value, result=outcome.result.value)
            self.requeue(target.pod_uid, 0)

    def _apply_probes(self, rec: PodRecord, pod: Obj, log: Any) -> None:
        """Copy probe results into the container states; kill what failed liveness/startup."""
        if self.prober is None:
            return
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        for c in rec.containers():
            handle = rec.handles.get(c.name)
            if handle is None or c.killing or (c.init and not c.sidecar):
                continue
            st = self.prober.status(handle.container_id)
            c.started, c.ready = st.started, st.ready
            if st.kill_reason:
                restart = policy != "Never" or c.sidecar
                message = f"Container {c.name} failed {st.kill_reason} probe" + (", will be restarted" if restart else "")
                probe = self._spec(pod, c).get(f"{st.kill_reason}Probe") or {}
                grace = probe.get("terminationGracePeriodSeconds")
                self._kill_container(rec, pod, c, handle, message, restart=restart,
                                     grace=float(grace) if grace is not None else _grace(pod), log=log)

    def _kill_container(self, rec: PodRecord, pod: Obj, c: ContainerState, handle: ContainerHandle, message: str,
                        *, restart: bool, grace: float, log: Any) -> None:
        """Kill one container on a thread of its own (preStop, stop signal, grace, SIGKILL)."""
        c.killing, c.restart_after_kill, c.ready = True, restart, False
        if self.prober is not None:
            self.prober.remove_container(handle.container_id)
        self.recorder.event(pod, "Normal", "Killing", message)
        log.info("killing container", container=c.name, reason=message, grace_period=grace)
        spec = self._spec(pod, c)

        def kill() -> None:
            try:
                self._stop_container(rec, spec, handle, self.clock.now() + grace, log)
            finally:
                self.requeue(rec.uid, 0)

        threading.Thread(target=kill, name=f"kill-{rec.name}-{c.name}", daemon=True).start()

    def _stop_container(self, rec: PodRecord, spec: Obj, handle: ContainerHandle, deadline: float, log: Any) -> None:
        """``preStop`` (within the grace period), then the stop signal, then SIGKILL at ``deadline``."""
        pre_stop = (spec.get("lifecycle") or {}).get("preStop")
        if pre_stop and handle.poll() is None and deadline > self.clock.now():
            target = ProbeTarget(rec.uid, rec.namespace, rec.name, spec.get("name", ""), handle.container_id, rec.ip, spec, handle)
            try:
                self.hooks.run_hook("PreStop", pre_stop, target, deadline - self.clock.now())
            except HookError as exc:
                if rec.last_seen is not None:
                    self.recorder.event(rec.last_seen, "Warning", "FailedPreStopHook", str(exc))
                log.warning("preStop hook failed", container=spec.get("name"), error=str(exc))
        try:
            handle.stop(max(0.0, deadline - self.clock.now()))
        except Exception:
            log.exception("stopping a container failed", container=spec.get("name"))
            handle.kill()

    # -- status ---------------------------------------------------------------------------

    def _report(self, rec: PodRecord, pod: Obj, log: Any) -> None:
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        phase = pstatus.pod_phase(rec.init, rec.app, policy)
        now = rfc3339(self.clock.wall())
        wanted = pstatus.pod_conditions(rec.init, rec.app, sandbox_ready=bool(rec.ip), phase=phase)
        previous = (rec.last_status or pod.get("status") or {}).get("conditions") or []
        status: Obj = {
            "phase": phase,
            "conditions": pstatus.merge_conditions(previous, wanted, now, pstatus.condition_messages(rec.init, rec.app)),
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
        self._send_status(rec, status, log)

    def _send_status(self, rec: PodRecord, status: Obj, log: Any) -> None:
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
        ready = next((c["status"] for c in status.get("conditions") or [] if c["type"] == "Ready"), "False")
        log.info("pod status", phase=status["phase"], ready=ready == "True", resourceVersion=updated["metadata"]["resourceVersion"])

    # -- termination ------------------------------------------------------------------------

    def _termination_grace(self, rec: PodRecord) -> float:
        """The grace period: the deletion's; for a pod that vanished (force
        deletion) at most 2 s, as kemu's containers should go promptly then."""
        if rec.pod is not None:
            return max(0.0, float(rec.pod["metadata"].get("deletionGracePeriodSeconds") or 0))
        return min(_grace(rec.last_seen or {}), 2.0)

    def _terminate(self, rec: PodRecord, log: Any) -> None:
        if rec.terminated:
            self._finish(rec, log)
            return
        if rec.terminating:
            return
        rec.terminating = True
        grace = self._termination_grace(rec)
        handles = list(rec.handles.items())
        log.info("killing pod", grace_period=grace, containers=[n for n, _ in handles])
        for name, handle in handles:
            if self.prober is not None:
                self.prober.remove_container(handle.container_id)
            if rec.pod is not None:
                self.recorder.event(rec.pod, "Normal", "Killing", f"Stopping container {name}")
        threading.Thread(target=self._stop_all, args=(rec, handles, grace, log), name=f"kill-{rec.name}", daemon=True).start()

    def _stop_all(self, rec: PodRecord, handles: list[tuple[str, ContainerHandle]], grace: float, log: Any) -> None:
        """App containers (and a running init container) together, then native
        sidecars in reverse order, all within one grace period."""
        deadline = self.clock.now() + grace
        spec = rec.spec()
        specs = {c["name"]: c for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])}
        sidecars = [c.name for c in rec.init if c.sidecar]
        first = [(n, h) for n, h in handles if n not in sidecars]
        threads = [
            threading.Thread(target=self._stop_container, args=(rec, specs.get(n, {"name": n}), h, deadline, log), daemon=True)
            for n, h in first
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(grace + 15)
        for name in reversed(sidecars):
            h = dict(handles).get(name)
            if h is not None:
                self._stop_container(rec, specs.get(name, {"name": name}), h, deadline, log)
        for name, h in handles:
            st = h.poll()
            c = rec.container(name)
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
        self._remove_sandbox(rec)
        shutil.rmtree(rec.dir, ignore_errors=True)
        self._remove_logs(rec)
        with self.lock:
            self.records.pop(rec.uid, None)
        rec.finished = True

    @staticmethod
    def _remove_logs(rec: PodRecord) -> None:
        """The pod's log directory (``<ns>_<pod>_<uid>``) goes with the pod."""
        for c in rec.containers():
            if c.log_path:
                pod_logs = Path(c.log_path).parent.parent
                if pod_logs.name.endswith(rec.uid):
                    shutil.rmtree(pod_logs, ignore_errors=True)
                return

    def stop_everything(self, grace: float = 0.0) -> None:
        """Stop every container and sandbox (the kubelet is shutting down)."""
        with self.lock:
            records = list(self.records.values())
        for rec in records:
            for h in list(rec.handles.values()):
                try:
                    h.stop(grace)
                except Exception:  # shutting down: stop the others whatever this one did
                    self.log.exception("stopping a container failed", container=h.container_name)
            self._remove_sandbox(rec)

    def _remove_sandbox(self, rec: PodRecord) -> None:
        sandbox, rec.sandbox = rec.sandbox, None
        if sandbox is not None and self.sandboxes is not None:
            self.sandboxes.remove(sandbox)


def _grace(pod: Obj) -> float:
    """The pod's ``terminationGracePeriodSeconds`` (30 when unset)."""
    value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return float(30 if value is None else value)


def _fmt_delay(seconds: float) -> str:
    if seconds >= 60:
        m, s = divmod(int(seconds), 60)
        return f"{m}m{s}s"
    return f"{seconds:g}s"


def _fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms"
