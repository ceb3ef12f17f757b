"""The kubelet's node: registration, the Lease heartbeat, node status.

Three duties, as in Kubernetes:

- **Register** the Node (create it, or on a restart patch our labels,
  addresses and capacity onto the existing one: a kubelet restarted under
  the same name rejoins its node), and **register again** when the Node is
  deleted under a live kubelet (``kubectl delete node``): a new Node, a new
  Lease owned by it (:meth:`NodeAgent.reregister`; the kubelet decides when).
- **Renew the Lease** ``kube-node-lease/<node>`` every ``lease_interval``
  seconds. The node lifecycle controller reads ``spec.renewTime``: stop
  renewing (die, freeze) and the node goes Unknown after the grace period.
- **Post node status** (conditions with heartbeat times, addresses,
  capacity, allocatable, nodeInfo) when it changes and every
  ``status_interval`` seconds.

Each runs on the kubelet's heartbeat thread; none blocks pod work.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import Any

from kemu.api import errors
from kemu.client import Client
from kemu.clock import Clock, rfc3339, rfc3339_micro
from kemu.types import Obj

__all__ = ["NodeConfig", "NodeAgent", "KUBELET_VERSION"]


KUBELET_VERSION = "v1.32.0-kemu"


@dataclass
class NodeConfig:
    """What this node says about itself."""

    name: str
    ip: str
    cpu: str = "4"
    memory: str = "8Gi"
    pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[Obj] = field(default_factory=list)
    lease_duration_seconds: int = 40
    """``spec.leaseDurationSeconds`` written on the Lease (informational: the
    controller's grace period decides)."""


class NodeAgent:
    """Registration, lease and status for one node."""

    def __init__(self, client: Client, config: NodeConfig, clock: Clock, log: Any):
        self.client = client
        self.config = config
        self.clock = clock
        self.log = log
        self.node: Obj | None = None
        self._lease: Obj | None = None
        self._ready_since = rfc3339(clock.wall())
        self._last_renew: float | None = None
        self.gap_seconds = 1.0
        """A renewal later than this after the previous one means the kubelet
        was away (frozen, or cut off from the apiserver): the node lifecycle
        controller has probably marked the node Unknown, so post Ready at once
        rather than at the next periodic status."""

    # -- registration ---------------------------------------------------------

    def _labels(self) -> dict[str, str]:
        return {
            "kubernetes.io/hostname": self.config.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine()),
            "beta.kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": "kemu",
            **self.config.labels,
        }

    def capacity(self) -> Obj:
        return {"cpu": self.config.cpu, "memory": self.config.memory, "pods": str(self.config.pods), "ephemeral-storage": "100Gi"}

    def register(self) -> Obj:
        """Create our Node, or take over an existing one of the same name."""
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.config.name, "labels": self._labels(), "annotations": {"kemu.dev/kubelet": "true"}},
            "spec": {"taints": self.config.taints} if self.config.taints else {},
        }
        try:
            node = self.client.create(body)
            self.log.info("node registered", kind="Node", key=self.config.name, resourceVersion=node["metadata"]["resourceVersion"])
        except errors.ApiError as exc:
            if exc.code != 409:
                raise
            node = self.client.patch("Node", self.config.name, {"metadata": {"labels": self._labels()}})
            self.log.info("node rejoined", kind="Node", key=self.config.name, resourceVersion=node["metadata"]["resourceVersion"])
        self.node = node
        self.post_status(ready=True)
        return node

    # -- status ---------------------------------------------------------------------

    def status(self, *, ready: bool, message: str = "kubelet is posting ready status") -> Obj:
        now = rfc3339(self.clock.wall())

        def cond(ctype: str, status: str, reason: str, msg: str) -> Obj:
            return {
                "type": ctype,
                "status": status,
                "reason": reason,
                "message": msg,
                "lastHeartbeatTime": now,
                "lastTransitionTime": self._ready_since,  # no condition has changed since the kubelet became ready
            }

        cap = self.capacity()
        return {
            "capacity": cap,
            "allocatable": dict(cap),
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True" if ready else "False", "KubeletReady" if ready else "KubeletNotReady", message),
            ],
            "addresses": [{"type": "InternalIP", "address": self.config.ip}, {"type": "Hostname", "address": self.config.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": self.config.name,
                "systemUUID": self.config.name,
                "bootID": "",
                "kernelVersion": platform.release(),
                "osImage": "kemu (emulated node)",
                "containerRuntimeVersion": "kemu://0.1.0",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": self._labels()["kubernetes.io/arch"],
            },
        }

    def post_status(self, *, ready: bool, message: str = "kubelet is posting ready status") -> None:
        node = self.client.patch(
            "Node", self.config.name, {"status": self.status(ready=ready, message=message)}, subresource="status"
        )
        self.node = node

    def refresh(self) -> Obj | None:
        """Re-read our Node (for its podCIDR). A 404 propagates: the caller
        decides when to register again (:meth:`reregister`)."""
        self.node = self.client.get("Node", self.config.name)
        return self.node

    def node_missing(self, exc: errors.ApiError) -> bool:
        """True when ``exc`` says our own Node is gone (``kubectl delete node``),
        as opposed to a missing Lease or a transient error."""
        details = exc.status.get("details") or {}
        return exc.code == 404 and (
            details.get("kind") in ("nodes", "Node") or exc.message.startswith(f'nodes "{self.config.name}"')
        )

    def reregister(self, *, pods_left: int = 0) -> Obj:
        """Our Node was deleted while this kubelet lives: register it again
        (a new Node, with a new uid), rather than fail every status post until
        restarted as older kubelets do (kubernetes/kubernetes#71398). The old Lease is owned by the deleted Node, so the
        garbage collector would take it: delete it now and create one owned
        by the new Node."""
        self.log.warning("registering the deleted node again", kind="Node", key=self.config.name, pods_left=pods_left)
        self._lease = None
        try:
            self.client.delete("Lease", self.config.name, "kube-node-lease")
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
        node = self.register()
        self._renew()
        return node

    @property
    def pod_cidr(self) -> str:
        return str(((self.node or {}).get("spec") or {}).get("podCIDR") or "")

    # -- lease ----------------------------------------------------------------------

    def renew_lease(self) -> None:
        """Create or renew ``kube-node-lease/<node>``; after a long gap, also
        post node status."""
        self._renew()
        now_mono = self.clock.now()
        away = self._last_renew is not None and now_mono - self._last_renew > self.gap_seconds
        self._last_renew = now_mono
        if away:
            self.log.info("lease renewed after a gap, posting node status", kind="Node", key=self.config.name)
            self.post_status(ready=True)

    def _renew(self) -> None:
        now = rfc3339_micro(self.clock.wall())
        if self._lease is None:
            try:
                self._lease = self.client.get("Lease", self.config.name, "kube-node-lease")
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
                self._lease = self.client.create(self._new_lease(now))
                return
        lease = dict(self._lease)
        lease["spec"] = dict(lease.get("spec") or {}, renewTime=now, holderIdentity=self.config.name)
        try:
            self._lease = self.client.update(lease)
        except errors.ApiError as exc:
            self._lease = None  # conflict or gone: read it again next time
            if exc.code not in (404, 409):
                raise

    def _new_lease(self, now: str) -> Obj:
        owner = []
        if self.node is not None:
            owner = [{"apiVersion": "v1", "kind": "Node", "name": self.config.name, "uid": self.node["metadata"]["uid"]}]
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.config.name, "namespace": "kube-node-lease", "ownerReferences": owner},
            "spec": {
                "holderIdentity": self.config.name,
                "leaseDurationSeconds": self.config.lease_duration_seconds,
                "renewTime": now,
            },
        }
