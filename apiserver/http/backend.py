"""Whether the front door's apiserver answers, known before a request asks.

Without this, a request that reaches the front door while the apiserver (the
ZeroMQ backend) is stopped or dead waits out the client's whole timeout
(``--request-timeout``, 10 s) and kubectl, which has no timeout of its own by
default, sits there. kube-apiserver in the same spot (etcd gone) keeps
answering: its ``/readyz`` lists ``[-]etcd failed`` and requests fail.

**What runs.** One task on the event loop pings the apiserver every
``interval`` seconds, each ping bounded by ``interval``, on a thread of its
own (so a pool full of hung requests cannot delay it into a false alarm, nor
can the check take a thread a request needs). The backend is *down* once no
ping has succeeded for ``grace`` seconds; the first ping that succeeds makes
it *up* again: no restart, and nothing to reset.

**What it changes.** While down, every request that needs the apiserver is
answered at once with ``503 ServiceUnavailable`` (a Kubernetes ``Status``
naming the backend's address) *without* a ``Retry-After`` header: client-go
retries a 5xx only when it carries one (``rest.checkWait``), so kubectl
reports the error instead of looping. ``/readyz`` fails its ``apiserver``
check in kube-apiserver's words (``[-]apiserver failed: reason withheld``,
the reason only in the log, since the path is public); ``/livez`` stays ok:
the front door itself is alive and must not be restarted for this.

A request already waiting for the apiserver when it goes away still waits for
its own timeout; only the requests that come after the verdict are quick.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kemu.api import errors
from kemu.client import Client
from kemu.log import get_logger

__all__ = ["BackendHealth", "Check", "health_report"]


@dataclass(frozen=True, slots=True)
class Check:
    """One named check of a ``/livez`` or ``/readyz`` report."""

    name: str
    error: str | None = None
    """Why it failed (for the log, never the public answer); None: ok."""


def health_report(name: str, checks: Sequence[Check], *, verbose: bool, exclude: Sequence[str] = ()) -> tuple[int, str]:
    """The status code and body of ``/{name}`` as kube-apiserver's healthz
    handler writes them: ``ok`` when every check passes (the per-check lines
    with ``?verbose``), else ``500`` with every line and ``<name> check
    failed``; excluded checks (``?exclude=``) are skipped and said so.

    >>> health_report("readyz", [Check("ping"), Check("apiserver", "gone")], verbose=False)
    (500, '[+]ping ok\\n[-]apiserver failed: reason withheld\\nreadyz check failed\\n')
    """
    lines: list[str] = []
    failed = False
    for check in checks:
        if check.name in exclude:
            lines.append(f"[+]{check.name} excluded: ok")
        elif check.error is not None:
            lines.append(f"[-]{check.name} failed: reason withheld")
            failed = True
        else:
            lines.append(f"[+]{check.name} ok")
    if failed:
        return 500, "".join(line + "\n" for line in lines) + f"{name} check failed\n"
    if not verbose:
        return 200, "ok"
    return 200, "".join(line + "\n" for line in lines) + f"{name} check passed\n"


class BackendHealth:
    """The apiserver's liveness as the front door sees it; see the module doc."""

    client: Client
    interval: float
    """Seconds between pings, and the bound of each."""
    grace: float
    """Seconds without a successful ping after which the backend is down."""
    error: str | None
    """Why the last ping failed; None after one succeeded."""
    confirmed: bool
    """A ping has succeeded at least once (``/readyz`` asks itself until then)."""

    def __init__(self, client: Client, *, interval: float = 1.0, grace: float = 2.5,
                 clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.interval = interval
        self.grace = grace
        self.error = None
        self._clock = clock
        self._last_ok = clock()  # a fresh front door gives its apiserver the benefit of the doubt
        self._down = False
        self.confirmed = False
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kemu-http-health")
        self._task: asyncio.Task[None] | None = None
        self.log = get_logger().bind(server=client.address)

    @property
    def available(self) -> bool:
        """False once the apiserver has not answered for :attr:`grace` seconds."""
        return not self._down

    def observe(self, ok: bool, error: str | None = None) -> None:
        """Record one ping's outcome (what the loop does; tests call it with a fake clock)."""
        now = self._clock()
        if ok:
            self._last_ok, self.error, self.confirmed = now, None, True
            if self._down:
                self._down = False
                self.log.info("apiserver answers again")
            return
        self.error = error or "no answer"
        if not self._down and now - self._last_ok >= self.grace:
            self._down = True
            self.log.warning("apiserver not answering", error=self.error, silent_s=round(now - self._last_ok, 1))

    def unavailable(self) -> errors.ApiError:
        """The ``503`` a request gets while the apiserver is down."""
        silent = max(0.0, self._clock() - self._last_ok)
        return errors.ApiError(errors.status_dict(
            503,
            "ServiceUnavailable",
            f"the apiserver at {self.client.address} is not answering (no answer for {silent:.0f}s): "
            "the request was not attempted",
        ))

    def check(self) -> Check:
        """The ``apiserver`` check of ``/readyz``."""
        return Check("apiserver", None if self.available else (self.error or "no answer"))

    def start(self) -> None:
        """Start pinging (on the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="backend-health")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await loop.run_in_executor(self._pool, lambda: self.client.ping(timeout=self.interval))
            except errors.ApiError as exc:
                self.observe(False, exc.message)
            except RuntimeError:  # the client is closed: the front door is stopping
                return
            else:
                self.observe(True)
            await asyncio.sleep(max(0.0, self.interval - (loop.time() - started)))
