"""The kubelet: one emulated worker node, as one object.

A :class:`Kubelet` owns no module state, so a later "hollow node" mode can
run many in one process. Its threads:

- **heartbeat**: renews the node Lease every ``lease_interval`` seconds,
  posts node status every ``status_interval`` seconds, and re-reads the Node
  for its podCIDR until the node IPAM controller has assigned one;
- **informers**: the pods bound to this node (the node's own watch topic,
  so the kubelet never sees other nodes' pods), ConfigMaps and Services
  (for volumes and service environment variables); handlers only enqueue
  pod UIDs;
- **pod workers**: ``workers`` threads popping pod UIDs from a work queue
  and running :meth:`~kubelet.pods.PodWorkers.sync` (one UID is never synced
  by two workers at once);
- **PLEG**: every ``pleg_period`` seconds, polls the containers and enqueues
  the pods whose containers exited (Kubernetes' pod lifecycle event
  generator does the same by relisting the runtime).

The node is the process: if the kubelet dies, its containers die with it
(see :mod:`kubelet.runtime`'s lifeline). On SIGTERM it stops its containers,
reports the node NotReady and exits.
"""

from __future__ import annotations

import threading
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
from kubelet.node import NodeAgent, NodeConfig
from kubelet.pods import Backoff, PodWorkers
from kubelet.runtime import ContainerRuntime

__all__ = ["Kubelet", "KubeletConfig"]

Obj = dict[str, Any]


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


class _Cache:
    """ConfigMaps and Services, read from informers."""

    def __init__(self, configmaps: Informer, services: Informer):
        self._cms = configmaps
        self._svcs = services

    def configmap(self, namespace: str, name: str) -> Obj | None:
        return self._cms.get(f"{namespace}/{name}")

    def services(self, namespace: str) -> list[Obj]:
        return self._svcs.by_index("namespace", namespace)


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
        self.agent = NodeAgent(client, config.node, self.clock, self.log)
        self.runtime = ContainerRuntime(
            root_dir=config.root_dir / "runtime",
            node_name=self.name,
            catalog=ImageCatalog.load(config.image_catalogs),
        )
        self.queue: WorkQueue[str] = WorkQueue(f"kubelet-{self.name}", clock=self.clock)
        self.pod_informer = Informer(client, "Pod", node=self.name, name=f"pods-{self.name}")
        self.cm_informer = Informer(client, "ConfigMap", name=f"configmaps-{self.name}")
        self.svc_informer = Informer(client, "Service", name=f"services-{self.name}")
        self.pods = PodWorkers(
            client=client,
            runtime=self.runtime,
            recorder=self.recorder,
            cache=_Cache(self.cm_informer, self.svc_informer),
            node_name=self.name,
            node_ip=config.node.ip,
            root_dir=config.root_dir,
            clock=self.clock,
            backoff=config.backoff,
            log=self.log,
            requeue=self._requeue,
            node_allocatable=self.agent.capacity(),
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
        """A ConfigMap change re-syncs the pods that mount it (volume refresh)."""

        def __init__(self, kubelet: Kubelet):
            self.k = kubelet

        def _touch(self, cm: Obj) -> None:
            ns = cm["metadata"].get("namespace")
            for uid in self.k.pods.running_uids():
                rec = self.k.pods.records.get(uid)
                if rec is not None and rec.namespace == ns:
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
        self.agent.register()
        self.agent.renew_lease()
        self._update_cidr()
        self.pod_informer.add_handler(self)
        self.cm_informer.add_handler(self._ConfigMapHandler(self))
        for inf in (self.cm_informer, self.svc_informer, self.pod_informer):
            inf.start()
        self._threads.append(self._spawn(self._heartbeat_loop, "heartbeat"))
        self._threads.append(self._spawn(self._pleg_loop, "pleg"))
        self._threads.extend(
            run_workers(self.queue, self.config.workers, self.pods.sync, stop_event=self.stop_event, name=f"podworker-{self.name}")
        )
        self.log.info("kubelet started", nodeIP=self.config.node.ip, podCIDR=self.agent.pod_cidr, root_dir=str(self.config.root_dir))
        return self

    def _spawn(self, target: Any, name: str) -> threading.Thread:
        t = threading.Thread(target=target, name=f"{name}-{self.name}", daemon=True)
        t.start()
        return t

    def stop(self, grace: float = 2.0) -> None:
        """Stop pods, report NotReady, stop threads."""
        self.stop_event.set()
        self.queue.shut_down()
        for inf in (self.pod_informer, self.cm_informer, self.svc_informer):
            inf.stop(timeout=1.0)
        try:
            self.pods.stop_everything(grace)
        finally:
            self.runtime.close(grace_seconds=0)
        try:
            self.agent.post_status(ready=False, message="kubelet stopped")
        except errors.ApiError:
            pass
        self.recorder.close(timeout=1.0)

    # -- loops ------------------------------------------------------------------------

    def _update_cidr(self) -> None:
        cidr = self.agent.pod_cidr
        if cidr and not self.pods.ips.ready:
            self.pods.ips.set_cidr(cidr)
            self.log.info("podCIDR assigned", podCIDR=cidr)
            for uid in self.pods.running_uids():
                self.queue.add(uid)

    def _heartbeat_loop(self) -> None:
        next_status = self.clock.now() + self.config.status_interval
        while not self.stop_event.wait(self.config.lease_interval):
            try:
                self.agent.renew_lease()
                if not self.pods.ips.ready:
                    self.agent.refresh()
                    self._update_cidr()
                if self.clock.now() >= next_status:
                    self.agent.post_status(ready=True)
                    self._update_cidr()
                    next_status = self.clock.now() + self.config.status_interval
            except errors.ApiError as exc:
                self.log.warning("heartbeat failed", code=exc.code, error=exc.message)
            except Exception:
                self.log.exception("heartbeat failed")

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
