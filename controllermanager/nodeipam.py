"""Node IPAM: give every node its own pod range (``spec.podCIDR``).

Kubernetes' ``pkg/controller/nodeipam`` (the ``RangeAllocator``). Pods get
their IPs from their node's podCIDR, so two nodes must never share one.

:class:`CidrAllocator` is a pure allocator over ``--cluster-cidr``
(``127.244.0.0/16``) cut into blocks of ``--node-cidr-mask-size`` (``/24``).
The first block (``127.244.0.0/24``) is never handed out, so node CIDRs
start at ``127.244.1.0/24``; allocation walks forward from the last block
given, wrapping around, as Kubernetes' ``CidrSet`` does, so a released block
is not reused at once.

Threads: at start (:meth:`NodeIpamController.on_start`, before any worker)
the allocation map is rebuilt from the podCIDRs the cached nodes already
carry; then the Node informer's handlers enqueue nodes without a podCIDR and
release the block of a deleted node; one worker runs
:meth:`NodeIpamController.sync`, which allocates and writes ``spec.podCIDR``
and ``spec.podCIDRs`` with a merge patch (a kubelet's status writes cannot
make it conflict; the apiserver refuses to change a podCIDR once set, which
is the guard against two writers).
"""

from __future__ import annotations

import ipaddress
import threading

from controllermanager.base import (
    ControllerContext,
    Handlers,
    Obj,
    QueueController,
    obj_fields,
)
from kemu.api import errors

__all__ = ["CidrAllocator", "CidrsExhausted", "NodeIpamController"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class CidrsExhausted(Exception):
    """Every block of the cluster CIDR is taken."""


class CidrAllocator:
    """Hands out the ``/mask_size`` blocks of ``cluster_cidr``; thread-safe.

    >>> a = CidrAllocator("127.244.0.0/16", 24)
    >>> a.allocate(), a.allocate()
    ('127.244.1.0/24', '127.244.2.0/24')
    >>> a.release("127.244.1.0/24"); a.allocate()     # walks on, not back
    '127.244.3.0/24'
    >>> a.capacity
    255
    """

    cluster: Network
    """The pod network."""
    mask_size: int
    """Prefix length of one node's block."""

    def __init__(self, cluster_cidr: str, mask_size: int, *, reserve_first: bool = True) -> None:
        try:
            self.cluster = ipaddress.ip_network(cluster_cidr, strict=True)
        except ValueError as exc:
            raise ValueError(f"--cluster-cidr {cluster_cidr!r} is not a valid CIDR: {exc}") from None
        max_bits = self.cluster.max_prefixlen
        if not self.cluster.prefixlen <= mask_size <= max_bits:
            raise ValueError(
                f"--node-cidr-mask-size {mask_size} must be between the cluster CIDR's prefix length "
                f"({self.cluster.prefixlen}) and {max_bits}"
            )
        if mask_size - self.cluster.prefixlen > 24:
            raise ValueError(f"--node-cidr-mask-size {mask_size} cuts {cluster_cidr} into too many blocks (at most 2^24)")
        self.mask_size = mask_size
        self._count = 1 << (mask_size - self.cluster.prefixlen)
        self._block = 1 << (max_bits - mask_size)
        self._first = 1 if reserve_first and self._count > 1 else 0
        self._used: set[int] = set()
        self._next = self._first
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        """Blocks that can be handed out."""
        return self._count - self._first

    @property
    def used(self) -> int:
        """Blocks handed out or occupied."""
        with self._lock:
            return len(self._used)

    def _cidr(self, index: int) -> str:
        base = int(self.cluster.network_address) + index * self._block
        return f"{ipaddress.ip_address(base)}/{self.mask_size}"

    def _index(self, cidr: str) -> int | None:
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return None
        if net.version != self.cluster.version or net.prefixlen != self.mask_size or not net.subnet_of(self.cluster):  # type: ignore[arg-type]
            return None
        return (int(net.network_address) - int(self.cluster.network_address)) // self._block

    def allocate(self) -> str:
        """The next free block; raises :class:`CidrsExhausted` when none is left."""
        with self._lock:
            span = self._count - self._first
            for step in range(span):
                index = self._first + (self._next - self._first + step) % span
                if index not in self._used:
                    self._used.add(index)
                    self._next = self._first + (index - self._first + 1) % span
                    return self._cidr(index)
        raise CidrsExhausted(f"no free /{self.mask_size} left in {self.cluster}")

    def occupy(self, cidr: str) -> bool:
        """Mark ``cidr`` as taken (a node already has it); False when it is not
        one of this allocator's blocks (then it is none of its business)."""
        index = self._index(cidr)
        if index is None:
            return False
        with self._lock:
            self._used.add(index)
        return True

    def release(self, cidr: str) -> None:
        """Give ``cidr`` back (its node was deleted)."""
        index = self._index(cidr)
        if index is not None:
            with self._lock:
                self._used.discard(index)


def _pod_cidr(node: Obj) -> str | None:
    spec = node.get("spec") or {}
    cidrs = spec.get("podCIDRs") or []
    return spec.get("podCIDR") or (cidrs[0] if cidrs else None)


class NodeIpamController(QueueController[str]):
    """See the module doc. Keys are node names."""

    name = "nodeipam"
    component = "node-ipam-controller"

    allocator: CidrAllocator
    """The block map."""

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, workers=1)
        self.allocator = CidrAllocator(ctx.options.cluster_cidr, ctx.options.node_cidr_mask_size)
        self.recorder = ctx.recorder(self.component)
        self.nodes = ctx.informer("Node")
        self._pending: dict[str, str] = {}
        """Blocks allocated to a node whose patch the cache has not shown yet."""
        self._lock = threading.Lock()
        self.nodes.add_handler(Handlers(add=self._changed, update=lambda _old, new: self._changed(new), delete=self._deleted))

    def on_start(self) -> None:
        occupied = 0
        for node in self.nodes.list():
            cidr = _pod_cidr(node)
            if cidr and self.allocator.occupy(cidr):
                occupied += 1
        self.log.info("allocation map rebuilt", occupied=occupied, capacity=self.allocator.capacity)

    def _changed(self, node: Obj) -> None:
        cidr = _pod_cidr(node)
        if cidr:
            self.allocator.occupy(cidr)
            with self._lock:
                pending = self._pending.pop(node["metadata"]["name"], None)
            if pending and pending != cidr:
                self.allocator.release(pending)
        else:
            self.enqueue_obj(node)

    def _deleted(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        with self._lock:
            pending = self._pending.pop(name, None)
        for cidr in {_pod_cidr(node), pending}:
            if cidr:
                self.allocator.release(cidr)
                self.log.info("released pod CIDR", pod_cidr=cidr, **obj_fields(node))

    def sync(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None or _pod_cidr(node):
            return
        with self._lock:
            cidr = self._pending.get(key)
        if cidr is None:
            try:
                cidr = self.allocator.allocate()
            except CidrsExhausted as exc:
                self.recorder.event(node, "Normal", "CIDRNotAvailable", f"Node {key} status is now: CIDRNotAvailable")
                raise RuntimeError(str(exc)) from None
            with self._lock:
                self._pending[key] = cidr
        patch = {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}}
        try:
            updated = self.client.patch("Node", key, patch)
        except errors.ApiError as exc:
            if exc.code in (404, 422):
                # Gone, or someone else set a podCIDR first: ours goes back.
                with self._lock:
                    self._pending.pop(key, None)
                self.allocator.release(cidr)
                if exc.code == 422:
                    self.log.info("node got a podCIDR elsewhere", error=exc.message, **obj_fields(node))
                return
            raise
        self.log.info(
            "assigned pod CIDR", pod_cidr=cidr,
            producedResourceVersion=updated["metadata"].get("resourceVersion"), **obj_fields(node),
        )
