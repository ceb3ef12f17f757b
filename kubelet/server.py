"""The kubelet's own server: container logs and exec, over ZeroMQ.

A real kubelet serves ``/containerLogs`` and ``/exec`` over HTTPS on port
10250 and the apiserver proxies ``kubectl logs``/``exec`` to it. kemu's
kubelet binds a ROUTER socket on ``tcp://<node-ip>:<kubelet-port>`` (10250 by
default, advertised in the Node's ``status.daemonEndpoints.kubeletEndpoint``)
and the CLI connects to it directly, with the same envelope as the
apiserver's request API (:mod:`kemu.wire`): one :class:`~kemu.wire.Request`
frame in, one :class:`~kemu.wire.Reply` frame out, errors as a Kubernetes
``Status`` (``Error from server (BadRequest): ...``).

Protocol
--------
Every request is ``op="call"``, ``kind="Pod"``, ``ns``/``name`` the pod, and
``opts.method`` says what it wants (``op="ping"`` answers ``{"node": ...}``):

``logs``
    ``opts``: ``container`` (may be omitted for a one-container pod),
    ``previous``, ``timestamps``, ``tailLines`` (first call only),
    ``follow``, ``wait`` (seconds, at most 5) and ``cursor``. The reply body is
    ``{"container", "data": bytes, "cursor": map, "done": bool}`` with at
    most :data:`MAX_LOG_CHUNK` bytes of log. A client reads a log by asking
    again with the returned ``cursor`` until ``done``. Without ``follow``,
    ``done`` comes with the first empty chunk (the file's end). With
    ``follow``, a call that finds nothing new waits up to ``wait`` seconds
    for more (a long poll) and ``done`` comes only once the container that
    wrote this log has exited and its log is drained -- ``kubectl logs -f``
    ends the same way. The cursor pins the run it started on (its log file)
    and survives log rotation (see :mod:`kubelet.logs`). The server keeps no
    state per reader: a lost reply is recovered by asking again with the
    last cursor, and a client that goes away costs nothing.

``stats`` (``op="call"``, ``kind="Node"``)
    the CPU rate and working set of every running container and of the
    node, over the last window (:mod:`kubelet.stats`).

``exec``
    ``opts``: ``container``, ``command`` (argv), ``stdin`` (bytes, optional)
    and ``timeoutSeconds`` (default 300, at most 3600). The reply body is
    ``{"container", "exitCode", "stdout": bytes, "stderr": bytes,
    "timedOut": bool}`` once the command ended: the runtime's exec collects
    the output, so it is not streamed while the command runs.

Streaming sessions (interactive exec and attach: stdin, a TTY, output as it
is written) share this socket: their messages start with the frame
``b"kemu-stream/1"`` instead of a request, and :mod:`kemu.kubeletstream`
(the protocol) and :mod:`kubelet.streams` (their threads) describe them.

Threads
-------
One thread owns the ROUTER socket (ZeroMQ sockets are not thread-safe). It
decodes each request and hands it to a small pool, because a request may
block: a long poll waits for log lines, an exec waits for its command. A
pool thread sends its reply through its own PUSH socket to an ``inproc``
PULL socket that the ROUTER thread polls beside the ROUTER, and the ROUTER
thread forwards it to the caller. A malformed frame gets a 400 (when its id
can be read) or is dropped; nothing a client sends can kill the server.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import zmq

from kemu import wire
from kemu.api import errors
from kemu.kubeletstream import MAGIC as STREAM_MAGIC
from kubelet.logs import LogCursor, format_records, generations, read_chunk, tail_offset
from kubelet.pods import PodRecord, PodWorkers
from kubelet.runtime import (
    ContainerExecError,
    ContainerNotRunningError,
    ContainerRuntime,
    ExecTimeoutError,
)
from kubelet.streams import StreamSessions
from kubelet.stats import StatsProvider
from kemu.types import Obj

__all__ = ["DEFAULT_EXEC_TIMEOUT", "MAX_LOG_CHUNK", "KubeletServer", "choose_container"]


DEFAULT_EXEC_TIMEOUT = 300.0
MAX_EXEC_TIMEOUT = 3600.0
MAX_WAIT = 5.0
MAX_LOG_CHUNK = 1 << 20
"""The most log bytes one reply carries; a client asks again for the rest."""
MAX_EXEC_OUTPUT = 16 << 20
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

_LOG_FILE = re.compile(r"^\d+\.log$")
_ids = itertools.count()


def choose_container(pod: Obj, requested: str | None) -> str:
    """The container a logs/exec request is about, or a BadRequest in the
    apiserver's words.

    >>> choose_container({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "nginx"}]}}, None)
    'nginx'
    """
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    init = [c["name"] for c in spec.get("initContainers") or []]
    pod_name = meta.get("name", "")
    if requested:
        if requested in names or requested in init:
            return requested
        raise errors.bad_request(f"container {requested} is not valid for pod {pod_name}")
    if len(names) == 1:
        return str(names[0])
    default = (meta.get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    if default in names:
        return str(default)
    message = f"a container name must be specified for pod {pod_name}, choose one of: [{' '.join(names)}]"
    if init:
        message += f" or one of the init containers: [{' '.join(init)}]"
    raise errors.bad_request(message)


class KubeletServer:
    """Serves logs and exec for one kubelet; see the module doc."""

    def __init__(
        self,
        *,
        ip: str,
        port: int,
        pods: PodWorkers,
        runtime: ContainerRuntime,
        node_name: str,
        log: Any,
        workers: int = 16,
        ctx: wire.Context | None = None,
    ) -> None:
        self.ip = ip
        self.port = port
        """The bound port (the flag's, or the one picked for port 0)."""
        self.pods = pods
        self.runtime = runtime
        self.node_name = node_name
        self.log = log.bind(subsystem="server")
        self.ctx = ctx or zmq.Context.instance()
        self._inproc = f"inproc://kubelet-server-{next(_ids)}-{id(self)}"
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"kubelet-server-{node_name}")
        self._local = threading.local()
        self._push_sockets: list[wire.Socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._router: wire.Socket | None = None
        self._pull: wire.Socket | None = None
        self.streams = StreamSessions(pods=pods, runtime=runtime, log=self.log, choose=choose_container,
                                      send=self._send_stream,
                                      release=self._release_push)
        """Interactive exec and attach sessions (:mod:`kubelet.streams`)."""
        self.stats = StatsProvider(pods, node_ip=ip)

    # -- life cycle

    def start(self) -> int:
        """Bind and start serving; returns the port. Raises :class:`OSError`
        when the address cannot be bound (taken, or not this host's)."""
        router = wire.make_socket(self.ctx, zmq.ROUTER, hwm=10_000)
        try:
            if self.port == 0:
                self.port = router.bind_to_random_port(f"tcp://{self.ip}")
            else:
                router.bind(f"tcp://{self.ip}:{self.port}")
        except zmq.ZMQBaseError as exc:  # ZMQError, or ZMQBindError from bind_to_random_port
            router.close(linger=0)
            raise OSError(f"cannot bind tcp://{self.ip}:{self.port}: {exc}") from None
        pull = self.ctx.socket(zmq.PULL)
        pull.setsockopt(zmq.LINGER, 0)
        pull.bind(self._inproc)
        self._router, self._pull = router, pull
        self._thread = threading.Thread(target=self._loop, name=f"kubelet-server-{self.node_name}", daemon=True)
        self._thread.start()
        self.log.info("kubelet server listening", address=f"tcp://{self.ip}:{self.port}")
        return self.port

    def stop(self) -> None:
        self.streams.stop()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for sock in self._push_sockets:
                sock.close(linger=0)
            self._push_sockets.clear()

    # -- the socket thread

    def _loop(self) -> None:
        assert self._router is not None and self._pull is not None
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._pull, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                ready = dict(poller.poll(200))
                if self._pull in ready:
                    self._forward_replies()
                if self._router in ready:
                    self._take_requests()
        finally:
            self._router.close(linger=0)
            self._pull.close(linger=0)

    def _forward_replies(self) -> None:
        assert self._router is not None and self._pull is not None
        while True:
            try:
                frames = self._pull.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                self._router.send_multipart(frames, zmq.NOBLOCK)
            except zmq.ZMQError:
                pass  # the caller is gone or slow: drop, it will ask again

    def _take_requests(self) -> None:
        assert self._router is not None
        while True:
            try:
                frames = self._router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) < 2:
                continue
            if len(frames) == 5 and frames[1] == STREAM_MAGIC:  # identity + a stream message
                answer = self.streams.dispatch(frames[:1], frames[1:])
                if answer is not None:
                    self._router.send_multipart(answer, zmq.NOBLOCK)
                continue
            envelope, payload = frames[:-1], frames[-1]
            try:
                request = wire.Request.decode(payload)
            except wire.WireError as exc:
                rid = wire.Request.peek_id(payload)
                self.log.warning("malformed request", error=str(exc))
                if rid is not None:
                    bad = errors.bad_request(str(exc))
                    self._router.send_multipart([*envelope, wire.Reply(rid, 400, bad.status).encode()], zmq.NOBLOCK)
                continue
            try:
                self._pool.submit(self._serve, envelope, request)
            except RuntimeError:
                return  # shutting down

    # -- pool threads

    def _push(self) -> wire.Socket:
        sock: wire.Socket | None = getattr(self._local, "push", None)
        if sock is None:
            sock = self.ctx.socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self._inproc)
            self._local.push = sock
            with self._lock:
                self._push_sockets.append(sock)
        return sock

    def _send_stream(self, frames: list[bytes]) -> None:
        """Send a stream session's message (from its thread) via the ROUTER thread."""
        self._push().send_multipart(frames)

    def _release_push(self) -> None:
        """Close the calling thread's PUSH socket (a stream session's thread,
        as it ends), after what it sent was handed over."""
        sock: wire.Socket | None = getattr(self._local, "push", None)
        if sock is None:
            return
        self._local.push = None
        with self._lock:
            if sock in self._push_sockets:
                self._push_sockets.remove(sock)
        sock.close(linger=1000)

    def _serve(self, envelope: list[bytes], request: wire.Request) -> None:
        try:
            reply = wire.Reply(request.id, 200, self.handle(request))
        except errors.ApiError as exc:
            reply = wire.Reply(request.id, exc.code, exc.status)
        except Exception as exc:
            self.log.exception("request failed", op=request.op, method=request.opts.get("method"))
            reply = wire.Reply(request.id, 500, errors.internal_error(f"{type(exc).__name__}: {exc}").status)
        if not self._stop.is_set():
            self._push().send_multipart([*envelope, reply.encode()])

    def handle(self, request: wire.Request) -> Obj:
        """Answer one request (any thread); raises :class:`~kemu.api.errors.ApiError`."""
        if request.op == "ping":
            return {"node": self.node_name}
        if request.op == "call" and request.kind == "Node" and request.opts.get("method") == "stats":
            return self.stats.summary(self.node_name)
        if request.op != "call" or request.kind != "Pod":
            raise errors.bad_request(
                f"the kubelet serves only call on Pod (logs, exec) and stats on Node, not {request.op} on {request.kind}"
            )
        method = request.opts.get("method")
        rec, pod = self._pod(request.namespace or "default", request.name or "")
        if method == "logs":
            return self._logs(rec, pod, request.opts)
        if method == "exec":
            return self._exec(rec, pod, request.opts)
        raise errors.bad_request(f"unknown method {method!r}: the kubelet serves logs and exec")

    def _pod(self, namespace: str, name: str) -> tuple[PodRecord, Obj]:
        rec = self.pods.find(namespace, name)
        pod = (rec.pod or rec.last_seen) if rec is not None else None
        if rec is None or pod is None:
            raise errors.not_found("Pod", name)
        return rec, pod

    # -- logs

    def _logs(self, rec: PodRecord, pod: Obj, opts: Obj) -> Obj:
        name = choose_container(pod, opts.get("container"))
        c = rec.container(name)
        if c is None:
            raise errors.bad_request(f"container {name} is not valid for pod {rec.name}")
        path = self._log_path(rec, c, opts)
        raw_cursor = opts.get("cursor")
        try:
            cursor = LogCursor.from_wire(raw_cursor) if raw_cursor is not None else None
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
        if cursor is None:
            tail = opts.get("tailLines")
            offset = tail_offset(path, int(tail)) if isinstance(tail, int) and tail >= 0 else 0
            cursor = LogCursor(max(generations(path), default=0), offset)
        follow = bool(opts.get("follow"))
        wait = min(max(float(opts.get("wait") or 0), 0.0), MAX_WAIT) if follow else 0.0
        deadline = time.monotonic() + wait
        while True:
            # Checked before reading: a writer that stops after this check is read next round.
            writing = follow and self._still_writing(rec, c.name, path)
            raw, after = read_chunk(path, cursor, limit=MAX_LOG_CHUNK)
            if raw or not writing or time.monotonic() >= deadline or self._stop.is_set():
                break
            time.sleep(0.05)
        data, mid_line = format_records(raw, timestamps=bool(opts.get("timestamps")), mid_line=cursor.mid_line)
        after = LogCursor(after.generation, after.offset, mid_line)
        done = not raw and not writing  # an empty chunk ends a plain read; -f also needs the writer gone
        return {"container": name, "data": data, "cursor": {**after.to_wire(), "file": path.name}, "done": done}

    def _log_path(self, rec: PodRecord, c: Any, opts: Obj) -> Path:
        raw_cursor = opts.get("cursor")
        if isinstance(raw_cursor, dict) and raw_cursor.get("file") and c.log_path:
            file = str(raw_cursor["file"])
            if not _LOG_FILE.match(file):
                raise errors.bad_request(f"invalid log cursor file {file!r}")
            return Path(c.log_path).parent / file
        if opts.get("previous"):
            if not c.previous_log_path or not Path(c.previous_log_path).exists():
                raise errors.bad_request(f'previous terminated container "{c.name}" in pod "{rec.name}" not found')
            return Path(c.previous_log_path)
        if not c.log_path:
            reason = c.waiting_reason or "ContainerCreating"
            raise errors.bad_request(f'container "{c.name}" in pod "{rec.name}" is waiting to start: {reason}')
        return Path(c.log_path)

    @staticmethod
    def _still_writing(rec: PodRecord, name: str, path: Path) -> bool:
        """The container whose log ``path`` is still runs (so more may come)."""
        handle = rec.handles.get(name)
        return handle is not None and Path(handle.log_path) == path and handle.poll() is None

    # -- exec

    def _exec(self, rec: PodRecord, pod: Obj, opts: Obj) -> Obj:
        name = choose_container(pod, opts.get("container"))
        command = opts.get("command")
        if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
            raise errors.bad_request("you must specify at least one command for the container")
        stdin = opts.get("stdin")
        if stdin is not None and not isinstance(stdin, bytes):
            raise errors.bad_request("stdin must be bytes")
        timeout = min(float(opts.get("timeoutSeconds") or DEFAULT_EXEC_TIMEOUT), MAX_EXEC_TIMEOUT)
        handle = rec.handles.get(name)
        if handle is None or handle.poll() is not None or rec.terminating:
            raise errors.bad_request(f'container not found ("{name}")')
        self.log.info("exec", kind="Pod", key=rec.key, uid=rec.uid, container=name, command=command)
        try:
            result = self.runtime.exec(handle, command, timeout=timeout, stdin=stdin)
        except ContainerNotRunningError:
            raise errors.bad_request(f'container not found ("{name}")') from None
        except ContainerExecError as exc:
            raise errors.internal_error(
                f"error executing command in container: failed to exec in container: {exc}"
            ) from None
        except ExecTimeoutError as exc:
            return {"container": name, "exitCode": 137, "stdout": exc.stdout[-MAX_EXEC_OUTPUT:],
                    "stderr": exc.stderr[-MAX_EXEC_OUTPUT:], "timedOut": True}
        return {"container": name, "exitCode": result.exit_code, "stdout": result.stdout[-MAX_EXEC_OUTPUT:],
                "stderr": result.stderr[-MAX_EXEC_OUTPUT:], "timedOut": False}
