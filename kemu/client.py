"""The client of the request API.

Every component and the CLI talk to the apiserver through :class:`Client`.
Each thread gets its own DEALER socket (ZeroMQ sockets are not thread-safe;
sharing one behind a lock would serialise the controllers' workers). A call
sends one :class:`~kemu.wire.Request` and waits, bounded by ``timeout``, for
the :class:`~kemu.wire.Reply` with the same id.

Failure handling follows the Guide's Lazy Pirate: when no reply comes in
time, the socket is thrown away (so a late reply can never be mistaken for
the next one) and, for reads, the call is retried until the deadline; writes
are not retried blindly (a create might have landed), they raise
:class:`Unavailable` and the caller's own loop (a controller's requeue)
decides. Error replies raise :class:`~kemu.api.errors.ApiError` with the
server's ``Status``.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from kemu import wire
from kemu.api import errors
from kemu.api.kinds import lookup_kind
from kemu.types import Obj

__all__ = ["Client", "Unavailable", "DEFAULT_SERVER", "connection_refused"]


DEFAULT_SERVER = "tcp://127.0.0.1:7100"

_READ_OPS = frozenset({"ping", "get", "list", "events_since"})


class Unavailable(errors.ApiError):
    """The apiserver did not answer in time (503 ServiceUnavailable)."""

    def __init__(self, address: str, op: str, timeout: float):
        super().__init__(
            errors.status_dict(
                503,
                "ServiceUnavailable",
                f"the server at {address} did not answer {op} within {timeout:g}s (is the apiserver running?)",
            )
        )


class Client:
    """A thread-safe client of the apiserver's request API."""

    address: str
    timeout: float
    """Seconds a call waits for its reply, retries included."""

    def __init__(self, address: str = DEFAULT_SERVER, *, timeout: float = 10.0, ctx: wire.Context | None = None):
        self.address = address
        self.timeout = timeout
        self.ctx = ctx or zmq.Context.instance()
        self._local = threading.local()
        self._ids = itertools.count(1)
        self._sockets: list[wire.Socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._watch_address: str | None = None

    # -- plumbing ----------------------------------------------------------------

    def _socket(self) -> wire.Socket:
        sock: wire.Socket | None = getattr(self._local, "sock", None)
        if sock is None or sock.closed:
            if self._closed:
                raise RuntimeError("client is closed")
            sock = wire.make_socket(self.ctx, zmq.DEALER, hwm=1000)
            try:
                sock.connect(self.address)
            except zmq.ZMQError as exc:
                sock.close(linger=0)
                raise ValueError(f"invalid server address {self.address!r}: {exc}") from None
            self._local.sock = sock
            with self._lock:
                self._sockets.append(sock)
        return sock

    def _discard_socket(self) -> None:
        sock = getattr(self._local, "sock", None)
        if sock is not None:
            sock.close(linger=0)
            with self._lock:
                if sock in self._sockets:
                    self._sockets.remove(sock)
        self._local.sock = None

    def close(self) -> None:
        """Close every thread's socket."""
        with self._lock:
            self._closed = True
            for sock in self._sockets:
                sock.close(linger=0)
            self._sockets.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(
        self,
        op: wire.Op,
        kind: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        body: Any = None,
        *,
        timeout: float | None = None,
        **opts: Any,
    ) -> Any:
        """Send one request; return the reply's body or raise its ``Status``."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        opts = {k: v for k, v in opts.items() if v is not None}
        while True:
            request = wire.Request(next(self._ids), op, kind, namespace, name, body, opts)
            reply = self._roundtrip(request, deadline)
            if reply is not None:
                break
            if op not in _READ_OPS or time.monotonic() >= deadline:
                raise Unavailable(self.address, op, timeout)
        if reply.code >= 400:
            status = reply.body if isinstance(reply.body, dict) else errors.status_dict(reply.code, "Unknown", str(reply.body))
            raise errors.ApiError(status)
        return reply.body

    def call_map(
        self,
        op: wire.Op,
        kind: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        body: Any = None,
        *,
        timeout: float | None = None,
        **opts: Any,
    ) -> Obj:
        """:meth:`call` for the operations whose answer is an object or a list
        (every one but ``call``): a reply of another shape is a
        :class:`~kemu.wire.WireError`, not a surprise further on."""
        answer = self.call(op, kind, namespace, name, body, timeout=timeout, **opts)
        if not isinstance(answer, dict):
            raise wire.WireError(f"the answer to {op} must be a map, got {type(answer).__name__}")
        return answer

    def _roundtrip(self, request: wire.Request, deadline: float) -> wire.Reply | None:
        sock = self._socket()
        try:
            sock.send(request.encode(), zmq.NOBLOCK)
        except zmq.Again:
            self._discard_socket()
            time.sleep(0.05)
            return None
        # A read retries within its deadline with short attempts, so a restarted
        # apiserver is found again quickly; a write waits the whole deadline.
        attempt_end = deadline if request.op not in _READ_OPS else min(deadline, time.monotonic() + 2.0)
        while True:
            remaining = attempt_end - time.monotonic()
            if remaining <= 0 or not sock.poll(int(remaining * 1000) + 1, zmq.POLLIN):
                self._discard_socket()
                return None
            try:
                reply = wire.Reply.decode(sock.recv(zmq.NOBLOCK))
            except (wire.WireError, zmq.Again):
                continue
            if reply.id == request.id:
                return reply

    # -- the API -------------------------------------------------------------------

    @staticmethod
    def _ns(kind: str, namespace: str | None, obj: Obj | None = None) -> str | None:
        info = lookup_kind(kind)
        if info is not None and not info.namespaced:
            return None
        ns = namespace or ((obj or {}).get("metadata") or {}).get("namespace")
        return ns or "default"

    def ping(self, *, timeout: float | None = None) -> Obj:
        return self.call_map("ping", timeout=timeout)

    def watch_address(self) -> str:
        """The PUB address the server advertises (asked once, then cached)."""
        if self._watch_address is None:
            self._watch_address = str(self.ping()["watch_address"])
        return self._watch_address

    def create(self, obj: Obj, *, namespace: str | None = None, dry_run: bool = False) -> Obj:
        kind = obj.get("kind", "")
        return self.call_map("create", kind, self._ns(kind, namespace, obj), None, obj, dry_run=dry_run or None)

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj:
        return self.call_map("get", kind, self._ns(kind, namespace), name)

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        all_namespaces: bool = False,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        timeout: float | None = None,
    ) -> Obj:
        """The ``<Kind>List`` dict: ``items`` and ``metadata.resourceVersion``.

        Without ``limit`` or ``continue_token`` the whole list comes back,
        however big (see :meth:`list_all`)."""
        ns = None if all_namespaces else self._ns(kind, namespace)
        if limit is None and continue_token is None:
            return self.list_all(kind, ns, label_selector=label_selector, field_selector=field_selector,
                                 timeout=timeout)
        opts: dict[str, Any] = {
            "label_selector": label_selector or None,
            "field_selector": field_selector or None,
            "limit": limit,
            "continue": continue_token,
        }
        return self.call_map("list", kind, ns, timeout=timeout, **opts)

    def list_all(
        self,
        kind: str,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout: float | None = None,
    ) -> Obj:
        """Every object of ``kind`` (in ``namespace``; all when None), however
        many bytes they are: the apiserver cuts a list that would not fit one
        message into pages with a continue token, and this follows them.

        The list's ``resourceVersion`` is the first page's: a watch from it
        replays whatever changed while the later pages were read, as client-go's
        reflector relies on when it pages."""
        opts: dict[str, Any] = {"label_selector": label_selector or None, "field_selector": field_selector or None}
        listing: Obj = self.call("list", kind, namespace, timeout=timeout, **opts)
        token = (listing.get("metadata") or {}).get("continue")
        while token:
            page = self.call("list", kind, namespace, timeout=timeout, **opts, **{"continue": token})
            listing["items"].extend(page["items"])
            token = (page.get("metadata") or {}).get("continue")
        meta = listing.get("metadata") or {}
        meta.pop("continue", None)
        meta.pop("remainingItemCount", None)
        return listing

    def update(self, obj: Obj, *, dry_run: bool = False) -> Obj:
        kind = obj["kind"]
        return self.call_map(
            "update", kind, self._ns(kind, None, obj), obj["metadata"]["name"], obj, dry_run=dry_run or None
        )

    def update_status(self, obj: Obj) -> Obj:
        kind = obj["kind"]
        return self.call_map("update_status", kind, self._ns(kind, None, obj), obj["metadata"]["name"], obj)

    def patch(
        self,
        kind: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        return self.call_map(
            "patch",
            kind,
            self._ns(kind, namespace),
            name,
            patch,
            patch_type=patch_type,
            subresource=subresource,
            dry_run=dry_run or None,
        )

    def delete(
        self,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: Obj | None = None,
        dry_run: bool = False,
    ) -> Obj:
        return self.call_map(
            "delete",
            kind,
            self._ns(kind, namespace),
            name,
            grace_period_seconds=grace_period_seconds,
            propagation_policy=propagation_policy,
            preconditions=preconditions,
            dry_run=dry_run or None,
        )

    def bind(self, namespace: str, name: str, node: str) -> Obj:
        """pods/binding: assign a pending pod to ``node``."""
        return self.call_map("bind", "Pod", namespace, name, {"target": {"kind": "Node", "name": node}})

    def events_since(self, kind: str, rv: int, *, node: str | None = None) -> wire.EventsSince:
        """The changes of one topic after ``rv`` (checked: :class:`~kemu.wire.EventsSince`); 410 when too old."""
        return wire.EventsSince.decode(self.call_map("events_since", kind, rv=rv, node=node))


def connection_refused(address: str, timeout: float) -> bool:
    """True when a connection to ``address`` is refused right away (nothing
    listens there). Watches the socket's connect events for at most
    ``timeout`` seconds; a slow or silent network path is not "refused"
    (the request's own timeout covers it)."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    monitor = sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_CONNECT_RETRIED)
    try:
        sock.connect(address)
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if not monitor.poll(int(remaining * 1000) + 1):
                return False
            event = recv_monitor_message(monitor)["event"]
            if event == zmq.EVENT_CONNECTED:
                return False
            if event == zmq.EVENT_CONNECT_RETRIED:
                return True
        return False
    finally:
        sock.disable_monitor()
        monitor.close(linger=0)
        sock.close(linger=0)
