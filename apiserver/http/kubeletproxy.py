"""``pods/log`` and ``pods/exec``: the front door's proxy to the pod's kubelet.

kube-apiserver serves these two subresources by proxying to the kubelet of
the pod's node. The front door does the same with kemu's kubelet protocol
(:mod:`kubelet.server`), through the client the CLI uses too
(:mod:`kemu.kubeletclient`): the pod, its node, the node's
``InternalIP`` and ``status.daemonEndpoints.kubeletEndpoint.Port``, then
``call``\\ s on that kubelet.

What the apiserver checks itself is checked here, before the kubelet is
asked, in its words: the container (``a container name must be specified
for pod web, choose one of: [a b]``, ``container x is not valid for pod
web``), a pod bound to no node (logs: an empty log; exec: ``pod web does
not have a host assigned``), and ``PodLogOptions`` (``422``).

**Logs** (``GET .../pods/{name}/log``) are a ``text/plain`` chunked stream:
one long poll on the kubelet after another, each chunk written as it comes,
until the kubelet says the log is done (with ``follow``: the container
exited and its log drained) or the client goes away. ``container``,
``follow``, ``previous``, ``tailLines`` and ``timestamps`` go to the
kubelet; ``sinceSeconds``/``sinceTime`` and ``limitBytes``, which the
kubelet's server does not take, are applied to the stream here
(:class:`~kemu.kubeletclient.LogShaper`). An error before the first byte is
a ``Status``; one after it ends the stream, as with the apiserver.

**Exec and attach** (``GET .../pods/{name}/exec?command=...``,
``.../attach``) speak the WebSocket remote-command protocol kubectl (1.30+)
and the Python client use: subprotocol ``v5.channel.k8s.io`` (or ``v4``),
messages whose first byte is the channel -- 0 stdin, 1 stdout, 2 stderr, 3
the final ``Status`` as JSON, 4 terminal resizes (``{"Width", "Height"}``)
-- and, in v5 only, ``[255, channel]`` to close one direction of a channel.
Each WebSocket is bridged to one streaming session with the pod's kubelet
(:mod:`kemu.kubeletstream`): stdin and resizes go to the kubelet as they
arrive (over v4, which cannot close stdin, stdin stays open until the
client closes the socket), stdout and stderr come back as the command
writes them, and the kubelet's window is re-opened only once a piece was
written to the socket (a slow client slows the command, nothing piles up
here). The end is the ``Status`` on channel 3: ``Success``, or
``Failure``/``NonZeroExitCode`` with the exit code as a cause (kubectl
prints ``command terminated with exit code 3`` and exits with it), or
``InternalError`` with what went wrong; then a normal close. A client
that closes the socket first ends the session, which kills the command.

kubectl falls back from WebSockets to SPDY only when the upgrade is refused;
the checks above refuse it with a ``Status``, which the SPDY attempt gets
again, so kubectl prints the apiserver's error. A client that only speaks
SPDY gets a ``400`` that says so.

**Threads.** Kubelet calls block (a long poll, a command's whole run), so
they get a thread pool of their own: followers and long commands never
starve the pool the rest of the API uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import zmq
import zmq.asyncio
from aiohttp import WSMsgType, web

from apiserver.http.query import Query
from kemu.api import errors
from kemu.client import Client
from kemu.kubeletclient import (
    ExecResult,
    KubeletClient,
    KubeletTarget,
    LogOptions,
    LogShaper,
    choose_container,
    locate,
    since_from,
)
from kemu.kubeletstream import StreamSession, StreamSpec
from kemu.log import get_logger
from kemu.types import Obj

__all__ = [
    "EXEC_PROTOCOLS",
    "ExecParams",
    "KubeletProxy",
    "LogParams",
    "WebSocketBridge",
    "exec_status",
]

T = TypeVar("T")

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
EXEC_PROTOCOLS = (V5, V4)
"""The remote-command subprotocols served, preferred first."""
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255
"""v5: ``[255, channel]`` closes the sender's side of a channel."""
FRAME = 32 * 1024
"""The most payload bytes per message (client-go reads 32 KiB at a time)."""
MAX_STDIN = 16 << 20
LOG_WAIT = 2.0
"""Seconds one follow call waits on the kubelet for new lines: also how
soon a follower that went away is noticed."""


# -- parameters -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogParams:
    """``PodLogOptions`` from a query."""

    container: str | None
    follow: bool
    previous: bool
    timestamps: bool
    tail_lines: int | None
    limit_bytes: int | None
    since_seconds: int | None
    since_time: str | None

    @classmethod
    def from_query(cls, pod: str, query: Query) -> LogParams:
        """Read and validate (``422`` as ``PodLogOptions "web" is invalid: ...``)."""
        params = cls(
            container=query.text("container") or None,
            follow=query.flag("follow"),
            previous=query.flag("previous"),
            timestamps=query.flag("timestamps"),
            tail_lines=query.number("tailLines"),
            limit_bytes=query.number("limitBytes"),
            since_seconds=query.number("sinceSeconds"),
            since_time=query.text("sinceTime") or None,
        )
        causes = params._problems()
        if causes:
            raise errors.invalid("PodLogOptions", pod, causes)
        return params

    def _problems(self) -> list[errors.Cause]:
        causes = []
        checks = (("tailLines", self.tail_lines, 0, "must be greater than or equal to 0"),
                  ("limitBytes", self.limit_bytes, 1, "must be greater than 0"),
                  ("sinceSeconds", self.since_seconds, 1, "must be greater than 0"))
        for field, value, least, why in checks:
            if value is not None and value < least:
                causes.append(errors.Cause(field, "FieldValueInvalid", f"{field}: Invalid value: {value}: {why}"))
        if self.since_seconds is not None and self.since_time is not None:
            causes.append(errors.Cause("", "FieldValueForbidden",
                                       "at most one of `sinceTime` or `sinceSeconds` may be specified"))
        return causes

    def shaper(self) -> LogShaper:
        """What the front door applies to the kubelet's chunks."""
        try:
            since = since_from(self.since_seconds, self.since_time)
        except ValueError as exc:
            raise errors.bad_request(f'sinceTime: Invalid value: "{self.since_time}": {exc}') from None
        return LogShaper(since_ns=since, timestamps=self.timestamps, limit_bytes=self.limit_bytes)


@dataclass(frozen=True, slots=True)
class ExecParams:
    """``PodExecOptions`` from a query."""

    command: list[str]
    container: str | None
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def from_query(cls, query: Query) -> ExecParams:
        params = cls(
            command=query.values("command"),
            container=query.text("container") or None,
            stdin=query.flag("stdin"),
            stdout=query.flag("stdout"),
            stderr=query.flag("stderr"),
            tty=query.flag("tty"),
        )
        if not params.command:
            raise errors.bad_request("you must specify at least one command for the container")
        if not (params.stdin or params.stdout or params.stderr):
            raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
        return params

    @classmethod
    def for_attach(cls, query: Query) -> ExecParams:
        """``PodAttachOptions``: as exec's, without a command."""
        params = cls(command=[], container=query.text("container") or None, stdin=query.flag("stdin"),
                     stdout=query.flag("stdout"), stderr=query.flag("stderr"), tty=query.flag("tty"))
        if not (params.stdin or params.stdout or params.stderr):
            raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
        return params


def exec_status(command: list[str], result: ExecResult | None, failure: errors.ApiError | None = None) -> Obj:
    """The ``Status`` written on channel 3 at the end of an exec.

    >>> exec_status(["sh", "-c", "exit 3"], ExecResult("c", 3, b"", b"", False))["message"]
    'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3'
    >>> exec_status(["true"], ExecResult("c", 0, b"", b"", False))
    {'metadata': {}, 'status': 'Success'}
    """
    if failure is not None:
        message = failure.message
        if failure.code == 400 and message.startswith("container not found"):
            message = f"unable to upgrade connection: {message}"
        if not message.startswith("Internal error occurred"):
            message = f"Internal error occurred: {message}"
        return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError",
                "details": {"causes": [{"message": message}]}, "code": 500}
    assert result is not None
    if result.exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    code = result.exit_code
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command [{' '.join(command)}], exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


# -- the proxy --------------------------------------------------------------------------


class KubeletProxy:
    """Serves ``pods/log`` and ``pods/exec`` for one front door."""

    def __init__(self, client: Client, call: Callable[[Callable[[], Any]], Awaitable[Any]], *,
                 timeout: float, workers: int = 64):
        self.client = client
        """The apiserver (pods, nodes)."""
        self._call = call
        """Runs an apiserver call in the front door's pool."""
        self.timeout = timeout
        """Seconds a kubelet call may take beyond what it asks the kubelet to wait."""
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kemu-http-kubelet")
        self._kubelets: dict[KubeletTarget, KubeletClient] = {}
        self._ctx: zmq.asyncio.Context | None = None
        """For stream sessions (asyncio DEALER sockets), made on first use."""
        self.log = get_logger().bind(subsystem="kubelet-proxy")

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for kubelet in self._kubelets.values():
            kubelet.close()
        self._kubelets.clear()
        if self._ctx is not None:
            self._ctx.destroy(linger=0)
            self._ctx = None

    async def _on_kubelet(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    def _kubelet(self, target: KubeletTarget) -> KubeletClient:
        kubelet = self._kubelets.get(target)
        if kubelet is None:
            kubelet = self._kubelets[target] = KubeletClient(target, timeout=self.timeout)
        return kubelet

    async def _pod(self, namespace: str, name: str) -> Obj:
        pod: Obj = await self._call(lambda: self.client.get("Pod", name, namespace))
        return pod

    async def _target(self, pod: Obj) -> KubeletTarget:
        target: KubeletTarget = await self._call(lambda: locate(self.client, pod))
        return target

    # -- logs ---------------------------------------------------------------------------

    async def logs(self, request: web.Request, namespace: str, name: str, query: Query) -> web.StreamResponse:
        """``GET pods/{name}/log``: see the module doc."""
        params = LogParams.from_query(name, query)
        shaper = params.shaper()
        pod = await self._pod(namespace, name)
        container = choose_container(pod, params.container)
        if not (pod.get("spec") or {}).get("nodeName"):
            return web.Response(body=b"", content_type="text/plain")  # the apiserver's empty location
        kubelet = self._kubelet(await self._target(pod))
        options = LogOptions(container=container, follow=params.follow, previous=params.previous,
                             timestamps=shaper.needs_timestamps, tail_lines=params.tail_lines)
        chunk = await self._on_kubelet(lambda: kubelet.read_logs(namespace, name, options, wait=LOG_WAIT))
        response = web.StreamResponse(headers={"Content-Type": "text/plain", "Cache-Control": "no-cache, private"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        ended = "the client went away"
        try:
            while True:
                data = shaper.feed(chunk.data)
                if data:
                    await response.write(data)
                if chunk.done or shaper.exhausted:
                    ended = "done"
                    break
                if _gone(request):
                    break
                chunk = await self._on_kubelet(
                    partial(kubelet.read_logs, namespace, name, options, chunk.cursor, wait=LOG_WAIT)
                )
            await response.write_eof()
        except errors.ApiError as exc:
            ended = exc.message
        except ConnectionError:
            pass
        self.log.debug("log stream ended", kind="Pod", key=f"{namespace}/{name}", container=container, why=ended)
        return response

    # -- exec ---------------------------------------------------------------------------

    async def exec(self, request: web.Request, namespace: str, name: str, query: Query) -> web.StreamResponse:
        """``GET pods/{name}/exec`` upgraded to a WebSocket: see the module doc."""
        params = ExecParams.from_query(query)
        return await self._stream(request, namespace, name, params, "exec")

    async def attach(self, request: web.Request, namespace: str, name: str, query: Query) -> web.StreamResponse:
        """``GET pods/{name}/attach`` upgraded to a WebSocket: the container's
        main process (its stdin and terminal when its spec has them)."""
        params = ExecParams.for_attach(query)
        return await self._stream(request, namespace, name, params, "attach")

    async def _stream(self, request: web.Request, namespace: str, name: str, params: ExecParams,
                      what: str) -> web.StreamResponse:
        pod = await self._pod(namespace, name)
        container = choose_container(pod, params.container)
        target = await self._target(pod)
        ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS, max_msg_size=4 * FRAME, autoping=True, heartbeat=None)
        ready = ws.can_prepare(request)
        if request.method not in ("GET", "POST") or not ready.ok:
            raise errors.bad_request(
                f"kemu serves pods/{what} over WebSockets only (subprotocol v5.channel.k8s.io or v4.channel.k8s.io);"
                " this request asked for another upgrade (SPDY?) or none: use kubectl 1.30 or newer"
            )
        if ready.protocol is None:
            raise errors.bad_request(f"pods/{what} needs one of the subprotocols {', '.join(EXEC_PROTOCOLS)}")
        await ws.prepare(request)
        self.log.info(what, kind="Pod", key=f"{namespace}/{name}", container=container, command=params.command,
                      tty=params.tty, stdin=params.stdin, node=target.node, protocol=ws.ws_protocol)
        spec = StreamSpec(namespace=namespace, pod=name, container=container, command=params.command,
                          stdin=params.stdin, stdout=params.stdout, stderr=params.stderr, tty=params.tty)
        bridge = WebSocketBridge(ws, params, v5=ws.ws_protocol == V5)
        session = StreamSession(target.address, spec, ctx=self._zmq(), on_output=bridge.output)
        try:
            await bridge.run(session)
        except ConnectionError:
            pass  # the client went away
        finally:
            await session.close()
            await ws.close()
        return ws

    def _zmq(self) -> zmq.asyncio.Context:
        if self._ctx is None:
            self._ctx = zmq.asyncio.Context()
        return self._ctx


class WebSocketBridge:
    """One exec or attach WebSocket bridged to a kubelet stream session:
    channel 0 (stdin, binary or text messages), 4 (resizes) and, in v5,
    ``[255, 0]`` (end of stdin) go to the kubelet as they come; output goes
    out on 1 and 2 as the kubelet sends it; the end is a ``Status`` on 3."""

    def __init__(self, ws: web.WebSocketResponse, params: ExecParams, *, v5: bool):
        self.ws = ws
        self.params = params
        self.v5 = v5
        """The v5 protocol, which can close a channel (so stdin has an end)."""

    async def output(self, channel: bytes, data: bytes) -> None:
        if channel == b"1" and self.params.stdout:
            await self.send(STDOUT, data)
        elif channel == b"2" and self.params.stderr:
            await self.send(STDOUT if self.params.tty else STDERR, data)

    async def send(self, channel: int, data: bytes) -> None:
        for start in range(0, max(len(data), 1), FRAME):
            await self.ws.send_bytes(bytes([channel]) + data[start:start + FRAME])

    async def run(self, session: StreamSession) -> None:
        """Until the kubelet ends the session or the client closes the socket."""
        runner = asyncio.create_task(session.run())
        reader = asyncio.create_task(self._read(session))
        try:
            done, _ = await asyncio.wait({runner, reader}, return_when=asyncio.FIRST_COMPLETED)
            if runner not in done:
                return  # the client left: the session is closed (its command killed) by the caller
            body = runner.result()
            await self.send(ERROR, json.dumps(_final_status(self.params.command, body)).encode())
        finally:
            for task in (runner, reader):
                task.cancel()
            for task in (runner, reader):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _read(self, session: StreamSession) -> None:
        while True:
            msg = await self.ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return
            if msg.type == WSMsgType.BINARY:
                data = bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:  # the Python client writes str stdin as text frames
                data = str(msg.data).encode()
            else:
                continue
            if not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == STDIN and self.params.stdin:
                if payload:
                    await session.write_stdin(payload)
            elif channel == RESIZE:
                size = _parse_resize(payload)
                if size is not None:
                    await session.resize(*size)
            elif channel == CLOSE and self.v5 and payload[:1] == bytes([STDIN]):
                await session.close_stdin()


def _parse_resize(payload: bytes) -> tuple[int, int] | None:
    """``{"Width": 80, "Height": 24}`` (client-go's TerminalSize), or None.

    >>> _parse_resize(b'{"Width": 80, "Height": 24}')
    (80, 24)
    >>> _parse_resize(b"junk") is None
    True
    """
    try:
        size = json.loads(payload)
        width, height = size["Width"], size["Height"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(width, int) or not isinstance(height, int) or not (0 < width < 65536 and 0 < height < 65536):
        return None
    return width, height


def _final_status(command: list[str], body: Obj) -> Obj:
    """The channel-3 ``Status`` for the kubelet's last message."""
    if "error" in body:
        status = body["error"] if isinstance(body["error"], dict) else {}
        failure = errors.ApiError(status) if status else errors.internal_error("the kubelet ended the session")
        return exec_status(command, None, failure)
    code = body.get("exitCode")
    return exec_status(command, ExecResult("", int(code) if isinstance(code, int) else 0, b"", b"", False))


def _gone(request: web.Request) -> bool:
    """The client closed its connection."""
    transport = request.transport
    return transport is None or transport.is_closing()
