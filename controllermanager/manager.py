"""The controller manager: many controllers, one process, shared caches.

:data:`CONTROLLERS` maps a controller's name (as ``--controllers`` spells it)
to its constructor; adding a controller (Deployment, Endpoints ...) is one
line here. :class:`ControllerManager` builds the chosen controllers on one
:class:`~controllermanager.base.ControllerContext` (so they share one
informer per kind), then:

1. starts the informers, after every controller registered its handlers;
2. waits until every cache listed once (``WaitForCacheSync``): a controller
   acting on a half-filled cache would, for instance, create pods that exist;
3. starts the controllers (their ``on_start`` hooks, workers and tickers).

:meth:`ControllerManager.run` blocks until its stop event is set (the
``__main__`` module sets it on SIGTERM/SIGINT) and then, in a ``finally``,
stops the controllers' queues and threads, the informers and the event
recorders, each bounded in time. The process keeps no state of its own: a
SIGKILLed controller manager restarts, relists and converges.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from controllermanager.base import Controller, ControllerContext, ControllerOptions
from controllermanager.deployment import DeploymentController
from controllermanager.endpoints import EndpointsController
from controllermanager.garbagecollector import GarbageCollector
from controllermanager.namespace import NamespaceController
from controllermanager.nodeipam import NodeIpamController
from controllermanager.nodelifecycle import NodeLifecycleController
from controllermanager.podgc import PodGCController
from controllermanager.replicaset import ReplicaSetController
from controllermanager.replicationcontroller import ReplicationManager
from controllermanager.resourcequota import ResourceQuotaController
from controllermanager.serviceaccounts import ServiceAccountsController, TokensController
from kemu.client import Client
from kemu.clock import REAL_CLOCK, Clock
from kemu.log import get_logger

__all__ = ["CONTROLLERS", "DEFAULT_CONTROLLERS", "ControllerFactory", "ControllerManager", "parse_controllers"]

ControllerFactory = Callable[[ControllerContext], Controller]
"""Builds one controller on the shared context (registering its informer handlers)."""

CONTROLLERS: dict[str, ControllerFactory] = {
    "replicaset": ReplicaSetController,
    "replicationcontroller": ReplicationManager,
    "deployment": DeploymentController,
    "nodelifecycle": NodeLifecycleController,
    "podgc": PodGCController,
    "garbagecollector": GarbageCollector,
    "nodeipam": NodeIpamController,
    "namespace": NamespaceController,
    "endpoints": EndpointsController,
    "serviceaccount": ServiceAccountsController,
    "serviceaccount-token": TokensController,
    "resourcequota": ResourceQuotaController,
}
"""Every controller the manager can run, by ``--controllers`` name."""

DEFAULT_CONTROLLERS: tuple[str, ...] = tuple(CONTROLLERS)


def parse_controllers(text: str) -> list[str]:
    """The controller names of a ``--controllers`` value.

    ``"*"`` (or empty) means all; ``"*,-podgc"`` all but podgc, as
    kube-controller-manager spells it. Unknown names raise ``ValueError``.

    >>> parse_controllers("replicaset,podgc")
    ['replicaset', 'podgc']
    >>> "podgc" in parse_controllers("*,-podgc")
    False
    """
    words = [w.strip() for w in text.split(",") if w.strip()] or ["*"]
    chosen: list[str] = []
    for word in words:
        name = word.lstrip("-")
        if name != "*" and name not in CONTROLLERS:
            raise ValueError(f"unknown controller {name!r} (known: {', '.join(CONTROLLERS)})")
        if word == "*":
            chosen.extend(n for n in CONTROLLERS if n not in chosen)
        elif word.startswith("-"):
            chosen = [n for n in chosen if n != name]
        elif name not in chosen:
            chosen.append(name)
    return chosen


class ControllerManager:
    """Runs the chosen controllers on shared informers; see the module doc."""

    ctx: ControllerContext
    """The shared context."""
    controllers: list[Controller]
    """The controllers, in ``--controllers`` order."""

    def __init__(
        self,
        client: Client,
        names: Sequence[str] = DEFAULT_CONTROLLERS,
        *,
        options: ControllerOptions | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.ctx = ControllerContext(client, options=options, clock=clock)
        self.log = get_logger()
        self.controllers = [CONTROLLERS[name](self.ctx) for name in names]
        self._started = False

    def start(self, stop: threading.Event, *, sync_timeout: float | None = None) -> bool:
        """Start informers, wait for their caches, start the controllers.
        Returns False when ``stop`` was set (or ``sync_timeout`` passed) first."""
        self.ctx.start_informers()
        self.log.info("waiting for informer caches", kinds=sorted(self.ctx.informers()))
        waited = 0.0
        while not self.ctx.wait_for_cache_sync(5.0, stop):
            if stop.is_set():
                return False
            waited += 5.0
            if sync_timeout is not None and waited >= sync_timeout:
                return False
            self.log.warning("informer caches not synced yet (is the apiserver up?)", waited_seconds=waited)
        for controller in self.controllers:
            controller.start()
        self._started = True
        self.log.info("controller manager running", controllers=[c.name for c in self.controllers])
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every controller and informer and flush the event recorders (bounded)."""
        for controller in self.controllers:
            controller.stop()
        for controller in self.controllers:
            controller.join(timeout / max(1, len(self.controllers)))
        self.ctx.shutdown()

    def run(self, stop: threading.Event) -> None:
        """Start, block until ``stop`` is set, then stop everything."""
        try:
            if self.start(stop):
                # A timed wait, so signal handlers on this (main) thread run promptly.
                while not stop.wait(0.5):
                    pass
        finally:
            self.log.info("controller manager stopping")
            self.stop()
