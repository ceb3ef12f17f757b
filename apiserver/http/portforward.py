"""``pods/portforward``: kubectl port-forward through the front door.

kube-apiserver hands a port-forward to the pod's kubelet, which pairs
streams and connects to the port inside the pod's network namespace
(containerd: ``localhost:<port>`` after entering it). The front door does
the kubelet's part itself, on :mod:`apiserver.http.spdy`:

1. ``POST`` (SPDY) or ``GET`` (WebSocket tunnel) ``pods/{name}/portforward``:
   the pod must exist and be bound to a node (``pod web does not have a
   host assigned``), then the connection is upgraded -- subprotocol
   ``portforward.k8s.io``, plain or as ``SPDY/3.1+portforward.k8s.io``.
2. Per forwarded TCP connection kubectl opens two streams with the same
   ``requestID`` and ``port`` headers, ``streamType: error`` then
   ``streamType: data``. A stream with a missing or bad header is refused;
   a pair that does not complete within ``stream_creation_timeout`` gets
   kubelet's ``timed out waiting for streams`` on its error stream.
3. A complete pair dials the pod's port (:func:`dial_pod_port`) and copies
   bytes both ways until either side ends (then the other gets a second to
   drain, as containerd allows), then FINs both streams. A dial that fails
   is written on the error stream in the kubelet's words (``error
   forwarding port 81 to pod <uid>, uid : dial tcp4 127.244.1.5:81:
   connect: connection refused``), which kubectl prints as ``an error
   occurred forwarding 8080 -> 81: ...``.

**Concurrency.** Everything runs on the front door's event loop: one
task for the session's frames, one per stream pair (two more for its two
copy directions). Fifty concurrent connections are a hundred and fifty
small tasks and fifty sockets; nothing blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from apiserver.http import spdy
from kemu.api import errors
from kemu.client import Client
from kemu.log import get_logger
from kemu.types import Obj

__all__ = ["PORT_FORWARD_PROTOCOLS", "PortForwarder", "dial_pod_port", "stream_problem"]


PORT_FORWARD_PROTOCOLS = ("portforward.k8s.io",)
"""The only port-forward protocol Kubernetes has (v1)."""
STREAM_CREATION_TIMEOUT = 30.0
"""kubelet's default: how long a pair waits for its second stream."""
DRAIN_GRACE = 1.0
"""Seconds the other direction may finish after one ended (containerd's)."""
DIAL_TIMEOUT = 10.0
READ_CHUNK = 32 * 1024


async def dial_pod_port(pod: Obj, port: int, *, timeout: float = DIAL_TIMEOUT
                        ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to ``port`` of ``pod`` as if from inside the pod.

    Today a pod's IP is an address of the host's own network namespace
    (the loopback range; see DESIGN's cluster network), so the front door
    reaches ``<podIP>:<port>`` directly -- what the kubelet's dial inside
    the pod's namespace amounts to here. When pods get network namespaces
    of their own (issue 21), this is the one place to change: ask the
    pod's kubelet to dial from inside the namespace and hand back a
    socket or a relay, as containerd's PortForward does.

    Raises ``OSError`` with a Go-style message (``dial tcp4
    127.244.1.5:81: connect: connection refused``).
    """
    ip = (pod.get("status") or {}).get("podIP") or ""
    if not ip:
        raise OSError(f"pod {pod['metadata']['name']} has no IP address yet")
    try:
        return await asyncio.wait_for(asyncio.open_connection(ip, port), timeout)
    except TimeoutError:
        raise OSError(f"dial tcp4 {ip}:{port}: i/o timeout") from None
    except OSError as exc:
        why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise OSError(f"dial tcp4 {ip}:{port}: connect: {why}") from None


def stream_problem(stream: spdy.SpdyStream) -> str | None:
    """Why kubelet would refuse this stream (its words), or None.

    >>> class S:
    ...     def __init__(self, **h): self.h = h
    ...     def header(self, name): return self.h.get(name, "")
    >>> stream_problem(S(port="http", streamType="data"))
    'unable to parse "http" as a port: strconv.ParseUint: parsing "http": invalid syntax'
    >>> stream_problem(S(port="80", streamType="stdin"))
    'invalid stream type "stdin"'
    """
    port = stream.header("port")
    if not port:
        return '"port" header is required'
    if not port.isdigit() or not port.isascii():
        return f'unable to parse "{port}" as a port: strconv.ParseUint: parsing "{port}": invalid syntax'
    if int(port) > 65535:
        return f'unable to parse "{port}" as a port: strconv.ParseUint: parsing "{port}": value out of range'
    if int(port) < 1:
        return f'port "{port}" must be > 0'
    kind = stream.header("streamType")
    if not kind:
        return '"streamType" header is required'
    if kind not in ("error", "data"):
        return f'invalid stream type "{kind}"'
    return None


@dataclass(eq=False)
class _Pair:
    """The error and data streams of one forwarded connection."""

    request_id: str
    error: spdy.SpdyStream | None = None
    data: spdy.SpdyStream | None = None
    complete: asyncio.Event = field(default_factory=asyncio.Event)


class _Session:
    """One upgraded connection: pairs streams, runs each forward."""

    def __init__(self, pod: Obj, timeout: float):
        self.pod = pod
        self.timeout = timeout
        self.pairs: dict[str, _Pair] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        meta = pod["metadata"]
        self.log = get_logger().bind(subsystem="port-forward", kind="Pod", key=f"{meta['namespace']}/{meta['name']}",
                                     uid=meta.get("uid"))
        self.forwarded = 0
        self.failed = 0

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def accept(self, stream: spdy.SpdyStream) -> bool:
        """The ``accept`` of :class:`spdy.SpdyConnection`."""
        problem = stream_problem(stream)
        if problem is not None:
            self.log.info("port-forward stream refused", stream=stream.stream_id, why=problem)
            return False
        request_id = stream.header("requestID") or self._legacy_request_id(stream)
        pair = self.pairs.get(request_id)
        if pair is None:
            pair = self.pairs[request_id] = _Pair(request_id)
            self._spawn(self._monitor(pair))
        kind = stream.header("streamType")
        if getattr(pair, kind) is not None:
            message = f"error processing stream for request {request_id}: {kind} stream already assigned"
            self._spawn(self._print_error(pair, message))
            self._spawn(stream.reset())
            return True
        setattr(pair, kind, stream)
        if pair.error is not None and pair.data is not None:
            pair.complete.set()
            self._spawn(self._forward(pair))
        return True

    @staticmethod
    def _legacy_request_id(stream: spdy.SpdyStream) -> str:
        """Clients older than requestID: the error stream's id names the pair
        (the data stream comes two ids later), kubelet's best effort."""
        offset = 0 if stream.header("streamType") == "error" else 2
        return str(stream.stream_id - offset)

    async def _monitor(self, pair: _Pair) -> None:
        try:
            await asyncio.wait_for(pair.complete.wait(), self.timeout)
        except TimeoutError:
            message = f"(conn=spdy, request={pair.request_id}) timed out waiting for streams"
            self.log.info("port-forward streams timed out", request=pair.request_id)
            await self._print_error(pair, message)
            for stream in (pair.error, pair.data):
                if stream is not None:
                    await stream.close()
        finally:
            self.pairs.pop(pair.request_id, None)

    @staticmethod
    async def _print_error(pair: _Pair, message: str) -> None:
        if pair.error is not None:
            await pair.error.write(message.encode())

    async def _forward(self, pair: _Pair) -> None:
        assert pair.error is not None and pair.data is not None
        port = int(pair.data.header("port"))
        try:
            reader, writer = await dial_pod_port(self.pod, port)
        except OSError as exc:
            self.failed += 1
            meta = self.pod["metadata"]
            message = f"error forwarding port {port} to pod {meta.get('uid', meta['name'])}, uid : {exc}"
            self.log.info("port-forward dial failed", port=port, request=pair.request_id, error=str(exc))
            await pair.error.write(message.encode())
        else:
            self.forwarded += 1
            await _pipe(pair.data, reader, writer)
        finally:
            await pair.data.close()
            await pair.error.close()

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _pipe(stream: spdy.SpdyStream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy both ways until one direction ends, then give the other
    :data:`DRAIN_GRACE` to finish."""

    async def pod_to_client() -> None:
        while data := await reader.read(READ_CHUNK):
            await stream.write(data)
            if stream.local_closed:
                return
        await stream.close()

    async def client_to_pod() -> None:
        while data := await stream.read():
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    tasks = [asyncio.ensure_future(pod_to_client()), asyncio.ensure_future(client_to_pod())]
    try:
        _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_GRACE)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError, RuntimeError):
                await task
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


class PortForwarder:
    """Serves ``pods/{name}/portforward`` for one front door."""

    def __init__(self, client: Client, call: Callable[[Callable[[], Any]], Awaitable[Any]], *,
                 stream_creation_timeout: float = STREAM_CREATION_TIMEOUT):
        self.client = client
        self._call = call
        self.stream_creation_timeout = stream_creation_timeout
        self.log = get_logger().bind(subsystem="port-forward")

    async def serve(self, request: web.Request, namespace: str, name: str) -> web.StreamResponse:
        """See the module doc."""
        if request.method not in ("GET", "POST"):
            raise errors.method_not_allowed(f"the server does not allow this method on pods/portforward ({request.method})")
        pod: Obj = await self._call(lambda: self.client.get("Pod", name, namespace))
        if not (pod.get("spec") or {}).get("nodeName"):
            raise errors.bad_request(f"pod {name} does not have a host assigned")
        session = _Session(pod, self.stream_creation_timeout)
        response, connection, protocol = await spdy.upgrade(
            request, PORT_FORWARD_PROTOCOLS, session.accept, name=f"portforward {namespace}/{name}"
        )
        session.log.info("port-forward started", transport="websocket" if isinstance(response, web.WebSocketResponse)
                         else "spdy", protocol=protocol, node=pod["spec"]["nodeName"])
        try:
            await connection.wait_closed()
        finally:
            await session.close()
            await connection.close()
            session.log.info("port-forward ended", connections=session.forwarded, failed=session.failed,
                             error=connection.error)
        return response
