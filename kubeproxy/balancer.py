"""Round-robin load balancing with ClientIP affinity (``LoadBalancerRR``).

Kubernetes' userspace proxy (``pkg/proxy/userspace/roundrobin.go``) in kemu's
words, with one change for kemu's shared listeners (below).

Per :class:`~kubeproxy.config.ServicePortName` the balancer keeps the ready
endpoints (shuffled when they change, so proxies do not all start with the
same pod), a round-robin index (reset when the endpoints change), and, for
``sessionAffinity: ClientIP``, a table client IP -> (endpoint, last used).

:meth:`LoadBalancerRR.next_endpoint`:

1. with affinity and no ``reset``: a client seen within the timeout gets its
   endpoint again (if that endpoint is still ready and not excluded);
2. otherwise the next endpoint in round-robin order, skipping ``exclude``
   (endpoints that just refused this very connection);
3. with affinity, a *new* client's first endpoint is not the next in round
   robin but the one a rendezvous hash of (client IP, endpoint) ranks first;
4. an endpoint that refused a connection (:meth:`LoadBalancerRR.endpoint_failed`)
   is passed over for ``hold_down`` seconds while others are left. Between a
   pod's death and its removal from the Endpoints (the node lifecycle
   controller's grace period, 2 s by default) round robin would otherwise
   send one connection in N to the dead pod first and make it pay a failed
   dial; Kubernetes' userspace proxy did exactly that.

Why 3: every node's kube-proxy listens on the same ClusterIP:port
(``SO_REUSEPORT``), and the kernel spreads a client's connections over those
listeners by a hash of the whole 4-tuple, source port included. Round robin
per proxy would send one client's connections to up to one pod per proxy;
the hash gives every proxy the same answer for the same client without any
coordination, so affinity holds across proxies. When the chosen endpoint
goes away only its clients move (the hash ranks the survivors the same way).

Not thread-safe by design: the proxier calls it from its event loop only.
Time is injected (``clock``), so affinity expiry is tested without sleeping.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from kubeproxy.config import DEFAULT_AFFINITY_TIMEOUT, Endpoint, ServicePortName

__all__ = ["HOLD_DOWN", "AffinityState", "BalancerState", "LoadBalancerRR", "rendezvous_pick"]

HOLD_DOWN = 2.0
"""Seconds an endpoint that refused a connection is passed over."""


def _score(client_ip: str, endpoint: Endpoint) -> bytes:
    return hashlib.blake2b(f"{client_ip}|{endpoint[0]}:{endpoint[1]}".encode(), digest_size=8).digest()


def rendezvous_pick(client_ip: str, endpoints: Sequence[Endpoint]) -> Endpoint | None:
    """The endpoint with the highest hash of (client IP, endpoint): the same
    on every proxy for the same endpoint set, and stable for the clients of
    endpoints that stay when others come or go. None when there is none."""
    if not endpoints:
        return None
    return max(endpoints, key=lambda ep: _score(client_ip, ep))


@dataclass
class AffinityState:
    """One client's stickiness."""

    endpoint: Endpoint
    """Where its connections go."""
    last_used: float
    """Clock reading of its last connection."""


@dataclass
class BalancerState:
    """One Service port's balancing state."""

    endpoints: list[Endpoint] = field(default_factory=list)
    """Ready endpoints, in (shuffled) round-robin order."""
    index: int = 0
    """Next round-robin position."""
    affinity: str = "None"
    """``None`` or ``ClientIP``."""
    ttl: float = DEFAULT_AFFINITY_TIMEOUT
    """Affinity timeout in seconds."""
    clients: dict[str, AffinityState] = field(default_factory=dict)
    """Affinity table by client IP."""
    failed: dict[Endpoint, float] = field(default_factory=dict)
    """Clock reading of each endpoint's last failed dial."""


class LoadBalancerRR:
    """See the module doc."""

    clock: Callable[[], float]
    """Monotonic seconds."""
    services: dict[ServicePortName, BalancerState]
    """State per Service port."""

    hold_down: float
    """Seconds an endpoint that refused is passed over (while others are left)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        shuffle: Callable[[list[Endpoint]], None] = random.shuffle,
        hold_down: float = HOLD_DOWN,
    ) -> None:
        self.clock = clock
        self._shuffle = shuffle
        self.hold_down = hold_down
        self.services = {}

    def set_service(self, spn: ServicePortName, affinity: str = "None", ttl: float = DEFAULT_AFFINITY_TIMEOUT) -> None:
        """Create (or re-configure) the state of ``spn`` (``NewService``)."""
        state = self.services.setdefault(spn, BalancerState())
        if state.affinity != affinity or state.ttl != ttl:
            state.affinity, state.ttl = affinity, ttl if ttl > 0 else DEFAULT_AFFINITY_TIMEOUT
            state.clients.clear()

    def delete_service(self, spn: ServicePortName) -> None:
        """Forget ``spn`` entirely."""
        self.services.pop(spn, None)

    def endpoints(self, spn: ServicePortName) -> list[Endpoint]:
        """``spn``'s ready endpoints, sorted (empty when unknown)."""
        state = self.services.get(spn)
        return sorted(state.endpoints) if state else []

    def set_endpoints(self, spn: ServicePortName, endpoints: Collection[Endpoint]) -> bool:
        """Replace ``spn``'s endpoints when they changed (as a set); returns
        whether they did. A change reshuffles, resets the round robin and
        drops the affinity of clients whose endpoint is gone."""
        state = self.services.setdefault(spn, BalancerState())
        fresh = set(endpoints)
        if fresh == set(state.endpoints):
            return False
        order = sorted(fresh)
        self._shuffle(order)
        state.endpoints = order
        state.index = 0
        state.clients = {ip: a for ip, a in state.clients.items() if a.endpoint in fresh}
        state.failed = {ep: t for ep, t in state.failed.items() if ep in fresh}
        return True

    def endpoint_failed(self, spn: ServicePortName, endpoint: Endpoint) -> None:
        """A dial to ``endpoint`` failed: pass it over for :attr:`hold_down` seconds."""
        state = self.services.get(spn)
        if state is not None and endpoint in state.endpoints:
            state.failed[endpoint] = self.clock()

    def next_endpoint(
        self, spn: ServicePortName, client_ip: str, *, reset: bool = False, exclude: Collection[Endpoint] = ()
    ) -> Endpoint | None:
        """Where the next connection of ``client_ip`` to ``spn`` goes; None
        when ``spn`` has no endpoint left outside ``exclude``. ``reset`` (a
        retry after a refusal) ignores the client's affinity entry."""
        state = self.services.get(spn)
        if state is None:
            return None
        now = self.clock()
        held = {ep for ep, t in state.failed.items() if now - t < self.hold_down}
        candidates = [ep for ep in state.endpoints if ep not in exclude and ep not in held]
        if not candidates:  # everything left failed lately: try those anyway
            candidates = [ep for ep in state.endpoints if ep not in exclude]
        if not candidates:
            return None
        skip = {ep for ep in state.endpoints if ep not in candidates}
        sticky = state.affinity == "ClientIP"
        if sticky and not reset:
            entry = state.clients.get(client_ip)
            if entry is not None and now - entry.last_used < state.ttl and entry.endpoint in candidates:
                entry.last_used = now
                return entry.endpoint
            chosen = rendezvous_pick(client_ip, candidates)
            assert chosen is not None
            state.clients[client_ip] = AffinityState(chosen, now)
            return chosen
        chosen = self._round_robin(state, skip)
        if sticky and chosen is not None:
            state.clients[client_ip] = AffinityState(chosen, now)
        return chosen

    @staticmethod
    def _round_robin(state: BalancerState, exclude: Collection[Endpoint]) -> Endpoint | None:
        n = len(state.endpoints)
        for step in range(n):
            ep = state.endpoints[(state.index + step) % n]
            if ep not in exclude:
                state.index = (state.index + step + 1) % n
                return ep
        return None

    def cleanup_stale_sessions(self) -> int:
        """Drop affinity entries older than their timeout; returns how many."""
        now = self.clock()
        dropped = 0
        for state in self.services.values():
            stale = [ip for ip, a in state.clients.items() if now - a.last_used >= state.ttl]
            for ip in stale:
                del state.clients[ip]
            dropped += len(stale)
        return dropped
