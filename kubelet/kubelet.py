"""The kubelet: one emulated worker node, as one object.

A :class:`Kubelet` owns no module state, so a later "hollow node" mode can
run many in one process. Its threads:

- **heartbeat**: renews the node Lease every ``lease_interval`` seconds,
  posts node status every ``status_interval`` seconds, and re-reads the Node
  for its podCIDR until the node IPAM controller has assigned one. When its
  Node is found deleted, it stops renewing, waits for the pod GC to delete
  the pods bound to the old Node (:func:`may_register_again`), then
  registers a new Node and waits for its new podCIDR;
- **informers**: the pods bound to this node (the node's own watch topic,
  so the kubelet never sees other nodes' pods), ConfigMaps, Secrets and Services
  (for volumes and service environment variables); handlers only enqueue
  pod UIDs;
- **pod workers**: ``workers`` threads popping pod UIDs from a work queue
  and running :meth:`~kubelet.pods.PodWorkers.sync` (one UID is never synced
  by two workers at once);
- **PLEG**: every ``pleg_period`` seconds, polls the containers and enqueues
  the pods whose containers exited (Kubernetes' pod lifecycle event
  generator does the same by relisting the runtime);
- **prober**: one scheduler thread and a small pool running liveness,
  readiness and startup probes (:mod:`kubelet.probes`); a changed result
  enqueues the pod;
- **server**: the ZeroMQ ROUTER on ``tcp://<node-ip>:<kubelet_port>`` serving
  ``kemu logs`` and ``kemu exec`` (:mod:`kubelet.server`), with its own pool;
- **log rotation**: every ``log_rotation_period`` seconds, copy-truncates
  container logs larger than ``container_log_max_size`` (:mod:`kubelet.logs`);
- pod termination and probe kills run on short-lived threads of their own
  (a grace period must not hold a pod worker).

The node is the process: if the kubelet dies, its containers die with it
(see :mod:`kubelet.runtime`'s lifeline). On SIGTERM it stops its containers,
reports the node NotReady and exits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from kemu.api import errors
from kemu.client import Client
from kemu.clock import Clock, RealClock
from kemu.events import EventRecorder
from kemu.images import ImageCatalog
from kemu.informer import Informer
from kemu.log import get_logger
from kemu.workqueue import WorkQueue, run_workers
from kubelet import sandbox
from kubelet.logs import rotate
from kubelet.node import NodeAgent, NodeConfig
from kubelet.podenv import configmaps_used, secrets_used
from kubelet.pods import Backoff, PodWorkers
from kubelet.sandbox import PodDns, Sandboxes
from kubelet.probes import ProbeManager, ProbeRunner, runtime_exec
from kubelet.runtime import ContainerRuntime
from kubelet.server import KubeletServer
from kemu.types import Obj

__all__ = ["Kubelet", "KubeletConfig", "may_register_again"]


@dataclass
class KubeletConfig:
    """Everything a kubelet is told at start."""

    node: NodeConfig
    root_dir: Path
    lease_interval: float = 0.25
    """Seconds between Lease renewals (Kubernetes: 10)."""
    status_interval: float = 5.0
    """Seconds between node status posts when nothing changed (Kubernetes: 10 to 300)."""
    pleg_period: float = 0.1
    workers: int = 8
    backoff: Backoff = field(default_factory=Backoff)
    image_catalogs: list[Path] = field(default_factory=list)
    kubelet_port: int = 10250
    """Where logs and exec are served, on the node IP (0: any free port)."""
    container_log_max_size: int = 10 * 1024 * 1024
    """A container log larger than this is rotated (Kubernetes: 10Mi)."""
    container_log_max_files: int = 5
    """Log files kept per container, the current one included (Kubernetes: 5)."""
    log_rotation_period: float = 2.0
    """Seconds between checks of the container logs' sizes."""
    probe_workers: int = 4
    """Threads running probes at the same time."""
    pod_network: str = ""
    """The pod network's fabric (:mod:`kubelet.sandbox`); empty: no sandboxes."""
    cluster_cidr: str = "127.244.0.0/16"
    """On-link for pods (one fabric for the cluster); empty: the node's own fabric."""
    cluster_dns: str = ""
    """The cluster DNS server's IP (pods' ``nameserver``); empty: the host's resolv.conf."""
    cluster_domain: str = "cluster.local"
    reregister_wait: float = 10.0
    """Seconds a kubelet whose Node was deleted waits, at most, for the pod
    garbage collector to delete the pods bound to the old Node before it
    registers again (Kubernetes' kubelet comes back at its next status
    sync, ``nodeStatusUpdateFrequency``: 10 s)."""


def may_register_again(gone_for: float, pods_left: int, wait: float) -> bool:
    """Whether a kubelet whose Node was deleted ``gone_for`` seconds ago
    registers it again now.

    ``kubectl delete node`` means "this node is gone": the pod garbage
    collector force-deletes the pods still bound to it. Registering before
    it did would bring back a Node of the same name, and the collector
    would then leave those pods alone (it only deletes pods of nodes that do
    not exist). So the kubelet waits until none of its pods is left, or
    ``wait`` seconds (no pod GC running), and registers then.

    >>> may_register_again(0.5, pods_left=2, wait=10.0)
    False
    >>> may_register_again(2.5, pods_left=0, wait=10.0)
    True
    >>> may_register_again(10.0, pods_left=2, wait=10.0)
    True
    """
    return pods_left == 0 or gone_for >= wait


class _NodeAgent(NodeAgent):
    """The node agent, advertising the port our server actually bound."""

    kubelet_port: int = 0

    def status(self, *, ready: bool, message: str = "kubelet is posting ready status") -> Obj:
        st = super().status(ready=ready, message=message)
        st["daemonEndpoints"] = {"kubeletEndpoint": {"Port": self.kubelet_port}}
        return st


class _Cache:
    """ConfigMaps, Secrets and Services, read from informers."""

    def __init__(self, configmaps: Informer, services: Informer, secrets: Informer):
        self._cms = configmaps
        self._svcs = services
        self._secrets = secrets

    def configmap(self, namespace: str, name: str) -> Obj | None:
        return self._cms.get(f"{namespace}/{name}")

    def secret(self, namespace: str, name: str) -> Obj | None:
        return self._secrets.get(f"{namespace}/{name}")

    def services(self, namespace: str) -> list[Obj]:
        return self._svcs.by_index("namespace", namespace)

    def service(self, namespace: str, name: str) -> Obj | None:
        return self._svcs.get(f"{namespace}/{name}")


class Kubelet:
    """One node's agent; see the module doc."""

    def __init__(self, client: Client, config: KubeletConfig, *, clock: Clock | None = None):
        self.client = client
        self.config = config
        self.clock = clock or RealClock()
        self.name = config.node.name
        self.log = get_logger(node=self.name)
        self.stop_event = threading.Event()
        self.recorder = EventRecorder(client, "kubelet", host=self.name)
        self.agent = _NodeAgent(client, config.node, self.clock, self.log)
        self.runtime = ContainerRuntime(
            root_dir=config.root_dir / "runtime",
            node_name=self.name,
            catalog=ImageCatalog.load(config.image_catalogs),
        )
        self.queue: WorkQueue[str] = WorkQueue(f"kubelet-{self.name}", clock=self.clock)
        self.pod_informer = Informer(client, "Pod", node=self.name, name=f"pods-{self.name}")
        self.cm_informer = Informer(client, "ConfigMap", name=f"configmaps-{self.name}")
        self.svc_informer = Informer(client, "Service", name=f"services-{self.name}")
        self.secret_informer = Informer(client, "Secret", name=f"secrets-{self.name}")
        self.sandboxes, sandbox_problem = self._sandboxes(config)
        self.pods = PodWorkers(
            client=client,
            runtime=self.runtime,
            recorder=self.recorder,
            cache=_Cache(self.cm_informer, self.svc_informer, self.secret_informer),
            node_name=self.name,
            node_ip=config.node.ip,
            root_dir=config.root_dir,
            clock=self.clock,
            backoff=config.backoff,
            log=self.log,
            requeue=self._requeue,
            node_allocatable=self.agent.capacity(),
            hooks=ProbeRunner(runtime_exec(self.runtime), source_ip=config.node.ip),
            sandboxes=self.sandboxes,
            sandbox_problem=sandbox_problem,
            dns=PodDns(config.cluster_dns, config.cluster_domain),
        )
        self.prober = ProbeManager(
            self.pods.hooks, self.pods, clock=self.clock, workers=config.probe_workers, name=f"prober-{self.name}"
        )
        self.pods.prober = self.prober
        self.server = KubeletServer(
            ip=config.node.ip,
            port=config.kubelet_port,
            pods=self.pods,
            runtime=self.runtime,
            node_name=self.name,
            log=self.log,
        )
        self._threads: list[threading.Thread] = []

    # -- wiring ---------------------------------------------------------------------

    def _requeue(self, uid: str, delay: float) -> None:
        if delay <= 0:
            self.queue.add(uid)
        else:
            self.queue.add_after(uid, delay)

    def on_add(self, pod: Obj) -> None:
        self.queue.add(self.pods.observe(pod))

    def on_update(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("uid") != new["metadata"].get("uid"):
            self.queue.add(self.pods.forget_api(old))
        self.queue.add(self.pods.observe(new))

    def on_delete(self, pod: Obj) -> None:
        self.queue.add(self.pods.forget_api(pod))

    class _ConfigMapHandler:
        """A ConfigMap (or, with ``used=secrets_used``, a Secret) change
        re-syncs the pods that use it (volume refresh, or a container waiting
        for it)."""

        def __init__(self, kubelet: Kubelet, used: Callable[[Obj], set[str]] = configmaps_used):
            self.k = kubelet
            self.used = used

        def _touch(self, cm: Obj) -> None:
            ns, name = cm["metadata"].get("namespace"), cm["metadata"].get("name")
            for uid in self.k.pods.running_uids():
                rec = self.k.pods.records.get(uid)
                if rec is not None and rec.namespace == ns and rec.pod is not None and name in self.used(rec.pod):
                    self.k.queue.add(uid)

        def on_add(self, obj: Obj) -> None:
            self._touch(obj)

        def on_update(self, old: Obj, new: Obj) -> None:
            self._touch(new)

        def on_delete(self, obj: Obj) -> None:
            self._touch(obj)

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> Kubelet:
        stale = self.runtime.cleanup_orphans()
        if stale:
            self.log.info("killed containers left by a previous kubelet", count=len(stale))
        self._start_server()
        self.agent.register()
        self.agent.renew_lease()
        self._update_cidr()
        self.pod_informer.add_handler(self)
        self.cm_informer.add_handler(self._ConfigMapHandler(self))
        self.secret_informer.add_handler(self._ConfigMapHandler(self, secrets_used))
        for inf in (self.cm_informer, self.secret_informer, self.svc_informer, self.pod_informer):
            inf.start()
        self.prober.start()
        self._threads.append(self._spawn(self._heartbeat_loop, "heartbeat"))
        self._threads.append(self._spawn(self._pleg_loop, "pleg"))
        self._threads.append(self._spawn(self._log_rotation_loop, "logrotate"))
        self._threads.extend(
            run_workers(self.queue, self.config.workers, self.pods.sync, stop_event=self.stop_event, name=f"podworker-{self.name}")
        )
        self.log.info("kubelet started", nodeIP=self.config.node.ip, podCIDR=self.agent.pod_cidr, root_dir=str(self.config.root_dir))
        return self

    def _start_server(self) -> None:
        """Bind the logs/exec server; a node whose port is taken still runs
        its pods, and says loudly that logs and exec are unavailable."""
        try:
            self.agent.kubelet_port = self.server.start()
        except OSError as exc:
            self.agent.kubelet_port = 0
            self.log.error(
                "kubelet server not started: kemu logs and kemu exec will not reach this node",
                address=f"tcp://{self.config.node.ip}:{self.config.kubelet_port}",
                error=str(exc),
                fix="pick a free --kubelet-port (0: any)",
            )

    def _spawn(self, target: Any, name: str) -> threading.Thread:
        t = threading.Thread(target=target, name=f"{name}-{self.name}", daemon=True)
        t.start()
        return t

    def stop(self, grace: float = 2.0) -> None:
        """Stop pods, report NotReady, stop threads."""
        self.stop_event.set()
        self.queue.shut_down()
        self.prober.stop()
        self.server.stop()
        informers = (self.pod_informer, self.cm_informer, self.secret_informer, self.svc_informer)
        for inf in informers:
            inf.stop(timeout=0)  # signal all first, then join: they stop together
        # Every container gets its stop signal at once and the same grace period.
        self.runtime.close(grace_seconds=grace)
        for inf in informers:
            inf.stop(timeout=1.0)
        try:
            self.agent.post_status(ready=False, message="kubelet stopped")
        except errors.ApiError:
            pass
        self.recorder.close(timeout=1.0)

    # -- loops ------------------------------------------------------------------------

    def _sandboxes(self, config: KubeletConfig) -> tuple[Sandboxes | None, str | None]:
        """The pod sandboxes this host can give, or why not."""
        if not config.pod_network:
            return None, "the kubelet runs without a pod network (--pod-network is empty)"
        missing = sandbox.probe()
        if not missing and self.runtime.isolation != "namespaces":
            missing = ["mount namespaces (unshare failed)"]
        if missing:
            self.log.warning("pod sandboxes unavailable", missing=missing)
            return None, f"this host lacks {', '.join(missing)}"
        return sandbox.Sandboxes(sandbox.Fabric(config.pod_network, config.cluster_cidr),
                                 lifeline_fd=self.runtime.lifeline_fd, log=self.log), None

    def _update_cidr(self) -> None:
        cidr = self.agent.pod_cidr
        if cidr and self.sandboxes is not None:
            try:
                self.sandboxes.node_cidr(cidr)
            except sandbox.SandboxError as exc:
                self.log.error("pod network setup failed", podCIDR=cidr, error=str(exc))
                return  # retried at the next heartbeat; pods wait in ContainerCreating
        if cidr and not self.pods.ips.ready:
            self.pods.ips.set_cidr(cidr)
            self.log.info("podCIDR assigned", podCIDR=cidr)
            for uid in self.pods.running_uids():
                self.queue.add(uid)

    def _heartbeat_loop(self) -> None:
        next_status = self.clock.now() + self.config.status_interval
        node_gone_at: float | None = None
        # The last failure logged: a failure that repeats every heartbeat is
        # one warning (and one "recovered" line), not one line per interval.
        failing: str | None = None
        while not self.stop_event.wait(self.config.lease_interval):
            try:
                if node_gone_at is None:
                    try:
                        self._heartbeat(next_status)
                        if self.clock.now() >= next_status:
                            next_status = self.clock.now() + self.config.status_interval
                    except errors.ApiError as exc:
                        if not self.agent.node_missing(exc):
                            raise
                        node_gone_at = self.clock.now()
                        self.log.warning(
                            "node object deleted; registering again once its pods are gone", kind="Node",
                            key=self.name, pods=len(self.pod_informer.list()),
                        )
                if node_gone_at is not None:
                    left = len(self.pod_informer.list())
                    if not may_register_again(self.clock.now() - node_gone_at, left, self.config.reregister_wait):
                        continue
                    # The new Node gets its podCIDR afresh from node IPAM
                    # (the old range was released with the old Node).
                    self.pods.ips.set_cidr("")
                    self.agent.reregister(pods_left=left)
                    node_gone_at = None
                    self._update_cidr()
                    next_status = self.clock.now() + self.config.status_interval
                if failing is not None:
                    self.log.info("heartbeat recovered", previous_error=failing)
                    failing = None
            except errors.ApiError as exc:
                if failing != exc.message:
                    self.log.warning("heartbeat failed", code=exc.code, error=exc.message)
                    failing = exc.message
            except Exception as exc:
                if failing != repr(exc):
                    self.log.exception("heartbeat failed")
                    failing = repr(exc)

    def _heartbeat(self, next_status: float) -> None:
        """One beat: renew the Lease, look for a podCIDR until there is one,
        post node status when it is due."""
        self.agent.renew_lease()
        if not self.pods.ips.ready:
            self.agent.refresh()
            self._update_cidr()
        if self.clock.now() >= next_status:
            self.agent.post_status(ready=True)
            self._update_cidr()

    def _log_rotation_loop(self) -> None:
        while not self.stop_event.wait(self.config.log_rotation_period):
            for handle in self.runtime.handles():
                try:
                    if rotate(handle.log_path, max_size=self.config.container_log_max_size,
                              max_files=self.config.container_log_max_files):
                        self.log.info("container log rotated", pod=f"{handle.pod_namespace}/{handle.pod_name}",
                                      container=handle.container_name, path=str(handle.log_path))
                except OSError as exc:
                    self.log.warning("log rotation failed", path=str(handle.log_path), error=str(exc))

    def _pleg_loop(self) -> None:
        while not self.stop_event.wait(self.config.pleg_period):
            for uid in self.pods.running_uids():
                rec = self.pods.records.get(uid)
                if rec is None or rec.terminating:
                    continue
                for handle in list(rec.handles.values()):
                    if handle.poll() is not None:
                        self.queue.add(uid)
                        break
