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

**Exec** (``GET .../pods/{name}/exec?command=...``) speaks the WebSocket
remote-command protocol kubectl (1.30+) and the Python client use:
subprotocol ``v5.channel.k8s.io`` (or ``v4``), binary messages whose first
byte is the channel -- 0 stdin, 1 stdout, 2 stderr, 3 the final ``Status``
as JSON, 4 terminal resizes -- and, in v5 only, ``[255, channel]`` to close
one direction of a channel. kemu's kubelet runs a command to its end and
returns its output (it is not streamed), so a session is:

1. upgrade; with ``stdin=true`` over v5, collect channel 0 until the client
   closes it (``[255, 0]``) -- over v4, which cannot say that, stdin is
   left empty;
2. run the command on the kubelet, reading the socket meanwhile (so pings
   are answered and a client that leaves is noticed);
3. write stdout (1), stderr (2, or 1 for a TTY), the ``Status`` (3):
   ``Success``, or ``Failure``/``NonZeroExitCode`` with the exit code as a
   cause (kubectl prints ``command terminated with exit code 3`` and exits
   with it), or ``InternalError`` with what went wrong; then close
   normally, which is the end of every channel for the client.

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
from kemu.log import get_logger

__all__ = [
    "EXEC_PROTOCOLS",
    "ExecParams",
    "KubeletProxy",
    "LogParams",
    "exec_status",
]

Obj = dict[str, Any]
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
        self.log = get_logger().bind(subsystem="kubelet-proxy")

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for kubelet in self._kubelets.values():
            kubelet.close()
        self._kubelets.clear()

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
        pod = await self._pod(namespace, name)
        container = choose_container(pod, params.container)
        kubelet = self._kubelet(await self._target(pod))
        ws = web.WebSocketResponse(protocols=EXEC_PROTOCOLS, max_msg_size=MAX_STDIN + 1, autoping=True)
        ready = ws.can_prepare(request)
        if request.method != "GET" or not ready.ok:
            raise errors.bad_request(
                "kemu serves pods/exec over WebSockets only (subprotocol v5.channel.k8s.io or v4.channel.k8s.io);"
                " this request asked for another upgrade (SPDY?) or none: use kubectl 1.30 or newer"
            )
        if ready.protocol is None:
            raise errors.bad_request(f"pods/exec needs one of the subprotocols {', '.join(EXEC_PROTOCOLS)}")
        await ws.prepare(request)
        session = ExecSession(ws, v5=ws.ws_protocol == V5, wants_stdin=params.stdin)
        reader = asyncio.create_task(session.read())
        try:
            stdin = await session.stdin()
            if stdin is not None:  # else the client left before its input ended
                result, failure = await self._run(kubelet, namespace, name, container, params, stdin)
                reader.cancel()
                if result is not None:
                    await session.output(result, params)
                await session.send(ERROR, json.dumps(exec_status(params.command, result, failure)).encode())
        except ConnectionError:
            pass  # the client went away
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await ws.close()
        return ws

    async def _run(self, kubelet: KubeletClient, namespace: str, name: str, container: str, params: ExecParams,
                   stdin: bytes) -> tuple[ExecResult | None, errors.ApiError | None]:
        """The command's result, or why there is none."""
        if len(stdin) > MAX_STDIN:
            return None, errors.too_large(f"the stdin of an exec is limited to {MAX_STDIN} bytes")
        self.log.info("exec", kind="Pod", key=f"{namespace}/{name}", container=container, command=params.command,
                      node=kubelet.target.node)
        try:
            result = await self._on_kubelet(
                lambda: kubelet.exec(namespace, name, params.command, container=container, stdin=stdin or None)
            )
        except errors.ApiError as exc:
            return None, exc
        return result, None


class ExecSession:
    """One exec's WebSocket: reads the client's channels, writes ours."""

    def __init__(self, ws: web.WebSocketResponse, *, v5: bool, wants_stdin: bool):
        self.ws = ws
        self.v5 = v5
        """The v5 protocol, which can close a channel (so stdin has an end)."""
        self.wants_stdin = wants_stdin
        self._stdin = bytearray()
        self._stdin_done = asyncio.Event()
        self._closed = False
        if not (wants_stdin and v5):
            self._stdin_done.set()  # nothing to wait for (v4 cannot say when stdin ends)

    async def read(self) -> None:
        """Read until the socket closes: stdin into a buffer, resizes ignored;
        answering pings happens inside ``receive``."""
        try:
            while True:
                msg = await self.ws.receive()
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
                if msg.type != WSMsgType.BINARY or not msg.data:
                    continue
                self._take(bytes(msg.data))
        finally:
            self._closed = True
            self._stdin_done.set()

    def _take(self, data: bytes) -> None:
        channel, payload = data[0], data[1:]
        if channel == CLOSE and self.v5 and payload[:1] == bytes([STDIN]):
            self._stdin_done.set()
        elif channel == STDIN and self.wants_stdin and not self._stdin_done.is_set():
            self._stdin.extend(payload)
            if len(self._stdin) > MAX_STDIN:
                self._stdin_done.set()  # too much: the caller refuses it by its length

    async def stdin(self) -> bytes | None:
        """The whole of stdin once it ended (b"" when none was asked for), or
        None when the client closed the socket first."""
        await self._stdin_done.wait()
        if self._closed and self.wants_stdin and self.v5:
            return None
        return bytes(self._stdin)

    async def send(self, channel: int, data: bytes) -> None:
        for start in range(0, max(len(data), 1), FRAME):
            await self.ws.send_bytes(bytes([channel]) + data[start:start + FRAME])

    async def output(self, result: ExecResult, params: ExecParams) -> None:
        """stdout and stderr as the client asked for them (a TTY has no stderr)."""
        if params.stdout and result.stdout:
            await self.send(STDOUT, result.stdout)
        if params.stderr and result.stderr:
            await self.send(STDOUT if params.tty else STDERR, result.stderr)


def _gone(request: web.Request) -> bool:
    """The client closed its connection."""
    transport = request.transport
    return transport is None or transport.is_closing()
