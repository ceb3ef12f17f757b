"""The userspace TCP proxy: listeners, connection placement, byte relaying.

This is Kubernetes' first proxy mode (``pkg/proxy/userspace``): the proxy
itself accepts every connection to a Service address and opens a second
connection to a pod, then copies bytes both ways.

Concurrency: **one asyncio event loop, one thread**. Every listener is a
non-blocking socket watched by the loop (``add_reader``); every accepted
connection is one task that dials an endpoint, then starts two *pumps* (one
per direction, plain objects driven by readiness callbacks, see
:class:`_Pump`) and awaits one future that resolves when both ended. Why
asyncio rather than threads: a proxy holds many idle connections and changes
its listeners while they run; one loop owns all sockets, the balancer and
the listener table, so none of them needs a lock, and a thousand idle
connections cost a thousand small objects rather than two thousand threads.
Why callbacks for the pumps rather than a coroutine each: a connection then
costs one task and two futures instead of three tasks and a future per
wait, which is most of the proxy's CPU per short connection. What keeps a
single thread fast for bulk transfers is ``splice(2)``: each direction moves
data socket -> pipe -> socket inside the kernel, up to a megabyte per system
call, never copying it through Python (with a ``recv_into``/``send``
fallback where ``os.splice`` is missing). ``bench/proxy.py`` measures the
result against a direct connection; a thread-per-direction proxy with
blocking ``splice`` measured the same throughput on the same machine.

The only other threads are the informers' (see :mod:`kubeproxy.server`):
they never touch sockets; they ask the loop to :meth:`Proxier.sync`.

Placing a connection (``tryConnect``): ask the balancer for an endpoint,
connect with a short timeout (250 ms, then 500 ms, 1 s, 2 s, as Kubernetes
did); on refusal or timeout log it, exclude that endpoint and ask again.
When no endpoint is left the client's connection is reset (RST), which is
what a client of a Service without endpoints sees with iptables' REJECT too.

Upstream connections leave from this node's IP (bound with
``IP_BIND_ADDRESS_NO_PORT`` so the port is chosen at connect time and
ephemeral ports are not exhausted by ``bind``), so a pod sees its client as
the node, as it did behind the userspace proxy.

**Sharing a ClusterIP between nodes.** Every kube-proxy of the cluster
listens on every ClusterIP:port, and they all run in one network namespace
(the host's loopback, or the compose network). Every listener therefore sets
``SO_REUSEPORT``: the kernel keeps one accept queue per socket and hands each
new connection to one of them by a hash of its 4-tuple. Effects:

- load is spread over the proxies roughly evenly (by hash, not in turn), and
  each proxy round-robins its share over the pods: spreading over pods stays
  close to even, but is not a strict global round robin;
- a proxy that dies (SIGKILL) drops out of the group at once: its socket
  closes and new connections go to the others; connections that were still
  in its accept queue are reset (a kernel limitation of SO_REUSEPORT);
- a proxy that is frozen (SIGSTOP) keeps its socket: about 1/N of new
  connections wait in its queue until it wakes; a real node's frozen proxy
  would black-hole its own node's traffic in the same way;
- ClientIP affinity must agree across proxies: see :mod:`kubeproxy.balancer`.

NodePort listeners are not shared: each proxy listens on its own node's IP.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kemu.log import get_logger
from kubeproxy.balancer import LoadBalancerRR
from kubeproxy.config import (
    Endpoint,
    ListenAddr,
    ServicePortInfo,
    ServicePortName,
    desired_listeners,
    endpoints_by_port,
)
from kemu.types import Obj

__all__ = ["DIAL_TIMEOUTS", "ListenerError", "Proxier", "ProxyStats", "listen_socket"]


DIAL_TIMEOUTS = (0.25, 0.5, 1.0, 2.0)
"""Seconds per connection attempt to an endpoint, one entry per attempt (``endpointDialTimeout``)."""

PIPE_SIZE = 1 << 20
"""Bytes of the kernel pipe between the two sockets of one direction."""

CHUNK = 1 << 20
"""Most bytes moved by one splice (or recv) call."""

YIELD_EVERY = 4 << 20
"""Bytes one direction relays without waiting before it yields to the loop (fairness)."""

PIPE_POOL = 256
"""Empty pipes kept for reuse (creating one costs three system calls)."""

ACCEPT_BATCH = 64
"""Connections accepted per readiness callback of one listener."""

LISTEN_BACKLOG = 4096

_IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
_HAVE_SPLICE = hasattr(os, "splice")
_SPLICE_FLAGS = (os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK) if _HAVE_SPLICE else 0
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class ListenerError(OSError):
    """A listener could not be opened; the message says how to fix it."""


def listen_socket(addr: ListenAddr) -> socket.socket:
    """A non-blocking TCP listener on ``addr`` with ``SO_REUSEPORT`` (see the
    module doc). Raises :class:`ListenerError` with a hint on failure."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((addr.ip, addr.port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
        return sock
    except OSError as exc:
        sock.close()
        hint = ""
        if exc.errno == errno.EACCES and addr.port < 1024:
            hint = (
                f"port {addr.port} is below 1024: run kemu as root, or allow it with "
                f"`sysctl net.ipv4.ip_unprivileged_port_start={addr.port}`"
            )
        elif exc.errno == errno.EADDRINUSE:
            hint = "another process listens there without SO_REUSEPORT (or as another user)"
        elif exc.errno == errno.EADDRNOTAVAIL:
            hint = "the address is not local to this host (outside 127.0.0.0/8 without an interface?)"
        raise ListenerError(exc.errno, f"cannot listen on {addr}: {exc.strerror}" + (f" ({hint})" if hint else "")) from exc


@dataclass
class ProxyStats:
    """Counters since the proxy started (logged when it stops)."""

    accepted: int = 0
    """Client connections accepted."""
    forwarded: int = 0
    """Connections relayed to an endpoint."""
    rejected: int = 0
    """Connections reset because no endpoint accepted them."""
    dial_failures: int = 0
    """Endpoint connection attempts that failed (each retried elsewhere)."""
    bytes: int = 0
    """Bytes relayed, both directions."""


@dataclass
class _Listener:
    addr: ListenAddr
    sock: socket.socket
    info: ServicePortInfo
    """Replaced in place when the Service changes (affinity ...)."""


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


@dataclass
class _Closing:
    reset: bool = False
    """Close with RST rather than FIN (an error on the other side)."""


class Proxier:
    """Listeners and relays of one kube-proxy; every method runs on the loop.

    ``sync(services, get_endpoints)`` brings the listeners and the balancer
    in line with the Services and Endpoints it is given; listeners that stay
    keep their sockets, so connections and queued clients are untouched.
    """

    node_ip: str | None
    """This node's InternalIP: NodePorts listen there, upstream connections leave from it."""
    balancer: LoadBalancerRR
    """Endpoint choice per Service port."""
    stats: ProxyStats
    """Counters."""
    listeners: dict[ListenAddr, _Listener]
    """Open listeners by address."""
    failed: dict[ListenAddr, str]
    """Listeners that could not be opened (retried at every sync), with the reason."""

    def __init__(self, *, node_ip: str | None, balancer: LoadBalancerRR | None = None, source_ip: str | None = None) -> None:
        self.node_ip = node_ip
        self.source_ip = source_ip if source_ip is not None else node_ip
        self.balancer = balancer or LoadBalancerRR()
        self.stats = ProxyStats()
        self.listeners = {}
        self.failed = {}
        self.log = get_logger()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pipes: list[tuple[int, int]] = []

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    # -- configuration -----------------------------------------------------------------

    def sync(self, services: Iterable[Obj], get_endpoints: Callable[[str], Obj | None]) -> None:
        """Apply the Services and their Endpoints (``get_endpoints("ns/name")``)."""
        desired = desired_listeners(services, self.node_ip)
        self._sync_balancer(desired, get_endpoints)
        self._sync_listeners(desired)

    def _sync_balancer(self, desired: dict[ListenAddr, ServicePortInfo], get_endpoints: Callable[[str], Obj | None]) -> None:
        wanted: dict[ServicePortName, ServicePortInfo] = {}
        for info in desired.values():
            wanted.setdefault(info.name, info)
        by_service: dict[tuple[str, str], dict[str, list[Endpoint]]] = {}
        for spn, info in wanted.items():
            self.balancer.set_service(spn, info.affinity, info.affinity_timeout)
            key = (spn.namespace, spn.name)
            if key not in by_service:
                by_service[key] = endpoints_by_port(get_endpoints(f"{spn.namespace}/{spn.name}"))
            endpoints = by_service[key].get(spn.port, [])
            if self.balancer.set_endpoints(spn, endpoints):
                self.log.info(
                    "service endpoints changed",
                    kind="Service",
                    key=f"{spn.namespace}/{spn.name}",
                    port=spn.port,
                    endpoints=[f"{ip}:{port}" for ip, port in sorted(endpoints)],
                )
        for spn in [s for s in self.balancer.services if s not in wanted]:
            self.balancer.delete_service(spn)

    def _sync_listeners(self, desired: dict[ListenAddr, ServicePortInfo]) -> None:
        for addr in [a for a in self.listeners if a not in desired]:
            listener = self.listeners.pop(addr)
            self._close_listener(listener)
            self.log.info("listener closed", listen=str(addr), kind="Service", key=f"{listener.info.name.namespace}/{listener.info.name.name}")
        for addr in [a for a in self.failed if a not in desired]:
            del self.failed[addr]
        for addr, info in sorted(desired.items()):
            current = self.listeners.get(addr)
            if current is not None:
                current.info = info
                continue
            try:
                sock = listen_socket(addr)
            except ListenerError as exc:
                if self.failed.get(addr) != str(exc):
                    self.log.error("listener failed", listen=str(addr), service=str(info.name), error=str(exc))
                self.failed[addr] = str(exc)
                continue
            self.failed.pop(addr, None)
            listener = _Listener(addr, sock, info)
            self.listeners[addr] = listener
            self.loop.add_reader(sock.fileno(), self._on_accept, listener)
            self.log.info(
                "listener opened", listen=str(addr), service=str(info.name), type=info.kind, affinity=info.affinity,
                kind="Service", key=f"{info.name.namespace}/{info.name.name}",
            )

    def _resume_accept(self, listener: _Listener) -> None:
        if self.listeners.get(listener.addr) is listener:
            self.loop.add_reader(listener.sock.fileno(), self._on_accept, listener)

    def _close_listener(self, listener: _Listener) -> None:
        try:
            self.loop.remove_reader(listener.sock.fileno())
        finally:
            listener.sock.close()

    async def close(self, grace: float = 1.0) -> None:
        """Close every listener, then give open connections ``grace`` seconds and cancel the rest."""
        for listener in list(self.listeners.values()):
            self._close_listener(listener)
        self.listeners.clear()
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        while self._pipes:
            r, w = self._pipes.pop()
            os.close(r)
            os.close(w)

    # -- connections ---------------------------------------------------------------------

    def _on_accept(self, listener: _Listener) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, peer = listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # EMFILE and friends: say why, and stop watching this listener
                # for a moment (it stays readable: watching it would spin).
                self.log.warning("accept failed", listen=str(listener.addr), error=str(exc))
                fd = listener.sock.fileno()
                self.loop.remove_reader(fd)
                self.loop.call_later(0.1, self._resume_accept, listener)
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.stats.accepted += 1
            task = self.loop.create_task(self._serve(conn, str(peer[0]), listener.info))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn: socket.socket, client_ip: str, info: ServicePortInfo) -> None:
        upstream: socket.socket | None = None
        closing = _Closing()
        try:
            upstream = await self._dial(info, client_ip)
            if upstream is None:
                self.stats.rejected += 1
                closing.reset = True
                return
            self.stats.forwarded += 1
            await self._relay(conn, upstream, closing)
        except Exception:
            closing.reset = True
            self.log.exception("connection failed", service=str(info.name), client=client_ip)
        finally:
            _close(conn, closing.reset)
            if upstream is not None:
                _close(upstream, closing.reset)

    def _upstream_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.source_ip:
            try:
                sock.setsockopt(socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
                sock.bind((self.source_ip, 0))
            except OSError:
                pass  # leave from the default address rather than fail the connection
        return sock

    async def _dial(self, info: ServicePortInfo, client_ip: str) -> socket.socket | None:
        """Connect to an endpoint of ``info.name``, trying others on failure."""
        tried: list[Endpoint] = []
        for timeout in DIAL_TIMEOUTS:
            endpoint = self.balancer.next_endpoint(info.name, client_ip, reset=bool(tried), exclude=tried)
            if endpoint is None:
                break
            sock = self._upstream_socket()
            try:
                await self._connect(sock, endpoint, timeout)
                if tried:
                    self.log.info("connection placed after retry", service=str(info.name), client=client_ip,
                                  endpoint=f"{endpoint[0]}:{endpoint[1]}", failed=[f"{ip}:{p}" for ip, p in tried])
                return sock
            except (OSError, TimeoutError) as exc:
                sock.close()
                tried.append(endpoint)
                self.balancer.endpoint_failed(info.name, endpoint)
                self.stats.dial_failures += 1
                reason = _reason(exc)
                self.log.warning("endpoint dial failed", service=str(info.name), client=client_ip,
                                 endpoint=f"{endpoint[0]}:{endpoint[1]}", error=reason, attempt=len(tried))
        self.log.warning(
            "no endpoint accepted the connection",
            service=str(info.name),
            client=client_ip,
            endpoints=len(self.balancer.endpoints(info.name)),
            tried=[f"{ip}:{p}" for ip, p in tried],
        )
        return None

    async def _connect(self, sock: socket.socket, endpoint: Endpoint, timeout: float) -> None:
        """A non-blocking connect bounded by ``timeout`` (raises ``OSError``/``TimeoutError``).
        Leaner than ``loop.sock_connect`` under ``asyncio.timeout``: on loopback the
        connect usually completes (or is refused) within the system call."""
        err = sock.connect_ex(endpoint)
        if err in (errno.EINPROGRESS, errno.EAGAIN):
            fd = sock.fileno()
            fut: asyncio.Future[None] = self.loop.create_future()
            self.loop.add_writer(fd, _wake, fut)
            timer = self.loop.call_later(timeout, _expire, fut)
            try:
                await fut
            finally:
                timer.cancel()
                self.loop.remove_writer(fd)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))

    async def _relay(self, client: socket.socket, upstream: socket.socket, closing: _Closing) -> None:
        """Copy both ways until both directions saw end-of-file, or one failed
        (then the other is stopped and both sockets are reset)."""
        relay = _RelayState(self.loop.create_future())
        pumps = (_Pump(self, client, upstream, relay), _Pump(self, upstream, client, relay))
        for pump in pumps:
            pump.run()
        try:
            await relay.finished
        except OSError:
            closing.reset = True  # a reset on one side is passed on to the other
        except Exception as exc:  # noqa: BLE001 - a bug in a pump: reset this connection, keep serving
            closing.reset = True
            self.log.error("relay failed", error=repr(exc))
        finally:
            for pump in pumps:
                pump.stop()
                self.stats.bytes += pump.total

    def _take_pipe(self) -> tuple[int, int]:
        if self._pipes:
            return self._pipes.pop()
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl.fcntl(w, _F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass  # an unprivileged user over its pipe quota keeps the default 64 KiB
        return r, w

    def _return_pipe(self, pipe: tuple[int, int], empty: bool) -> None:
        """Keep an empty pipe for the next connection; close one that may hold data."""
        if empty and len(self._pipes) < PIPE_POOL:
            self._pipes.append(pipe)
        else:
            os.close(pipe[0])
            os.close(pipe[1])


class _RelayState:
    """What the two pumps of one connection share."""

    __slots__ = ("finished", "running")

    def __init__(self, finished: asyncio.Future[None]) -> None:
        self.finished = finished
        """Resolved when both directions ended, or failed with the first error."""
        self.running = 2
        """Directions not ended yet."""

    def ended(self, exc: BaseException | None) -> None:
        if self.finished.done():
            return
        if exc is not None:
            self.finished.set_exception(exc)
            return
        self.running -= 1
        if self.running == 0:
            self.finished.set_result(None)


class _Pump:
    """One direction of a relay, ``src`` -> ``dst``, driven by readiness callbacks.

    No task and no future per wait: the pump moves what it can (splice:
    socket -> pipe -> socket; or recv/send through a buffer), and when a side
    would block it leaves one reader (or writer) registered with the loop,
    which calls :meth:`run` again. A registration is kept while the pump keeps
    waiting on the same side, so a steady stream costs no ``epoll_ctl`` per
    chunk. After :data:`YIELD_EVERY` bytes without blocking it reschedules
    itself (fairness). At end-of-file it half-closes ``dst``; both pumps of a
    connection share a :class:`_RelayState`.
    """

    __slots__ = (
        "buf",
        "dfd",
        "done",
        "dst",
        "loop",
        "pending",
        "pipe",
        "proxier",
        "relay",
        "sent",
        "sfd",
        "src",
        "total",
        "waiting",
    )

    def __init__(self, proxier: Proxier, src: socket.socket, dst: socket.socket, relay: _RelayState) -> None:
        self.proxier = proxier
        self.loop = proxier.loop
        self.src, self.dst = src, dst
        self.sfd, self.dfd = src.fileno(), dst.fileno()
        self.relay = relay
        self.pipe: tuple[int, int] | None = proxier._take_pipe() if _HAVE_SPLICE else None
        self.buf: memoryview | None = None if _HAVE_SPLICE else memoryview(bytearray(256 << 10))
        self.pending = 0
        """Bytes read from ``src`` and not yet written to ``dst`` (in the pipe or the buffer)."""
        self.sent = 0
        """Copy mode: bytes of the buffer already written."""
        self.total = 0
        """Bytes relayed."""
        self.waiting = ""
        """``"r"`` (a reader on src is registered), ``"w"`` (a writer on dst), or ``""``."""
        self.done = False

    def run(self) -> None:
        if self.done:
            return
        try:
            budget = YIELD_EVERY
            while budget > 0:
                if self.pending == 0:
                    n = self._read()
                    if n is None:
                        return self._wait("r")
                    if n == 0:
                        return self._end(None)
                    self.pending = n
                m = self._write()
                if m is None:
                    return self._wait("w")
                self.pending -= m
                self.total += m
                budget -= m
            self._wait("")
            self.loop.call_soon(self.run)
        except Exception as exc:  # noqa: BLE001 - an OSError ends the connection; anything else must too
            self._end(exc)

    def _read(self) -> int | None:
        try:
            if self.pipe is not None:
                return os.splice(self.sfd, self.pipe[1], CHUNK, flags=_SPLICE_FLAGS)
            assert self.buf is not None
            self.sent = 0
            return self.src.recv_into(self.buf)
        except (BlockingIOError, InterruptedError):
            return None

    def _write(self) -> int | None:
        try:
            if self.pipe is not None:
                return os.splice(self.pipe[0], self.dfd, self.pending, flags=_SPLICE_FLAGS)
            assert self.buf is not None
            m = self.dst.send(self.buf[self.sent : self.sent + self.pending])
            self.sent += m
            return m
        except (BlockingIOError, InterruptedError):
            return None

    def _wait(self, what: str) -> None:
        if self.waiting == what:
            return
        if self.waiting == "r":
            self.loop.remove_reader(self.sfd)
        elif self.waiting == "w":
            self.loop.remove_writer(self.dfd)
        if what == "r":
            self.loop.add_reader(self.sfd, self.run)
        elif what == "w":
            self.loop.add_writer(self.dfd, self.run)
        self.waiting = what

    def _end(self, exc: BaseException | None) -> None:
        self._wait("")
        self.done = True
        if self.pipe is not None:
            self.proxier._return_pipe(self.pipe, empty=exc is None and self.pending == 0)
            self.pipe = None
        if exc is None:
            try:
                self.dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        self.relay.ended(exc)

    def stop(self) -> None:
        """Unregister and release the pipe (the connection is closing)."""
        if not self.done:
            self._wait("")
            self.done = True
            if self.pipe is not None:
                self.proxier._return_pipe(self.pipe, empty=False)
                self.pipe = None


def _reason(exc: BaseException) -> str:
    """``ECONNREFUSED (Connection refused)``, ``timeout`` ...: what a log line says about a failed dial."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code in errno.errorcode:
        return f"{errno.errorcode[code]} ({os.strerror(code)})"
    return str(exc)


def _close(sock: socket.socket, reset: bool) -> None:
    if reset:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    sock.close()
