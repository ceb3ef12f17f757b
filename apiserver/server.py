"""The apiserver's request loop: ROUTER in, replies out, changes published.

One thread owns the store, the ROUTER socket and the PUB socket; nothing here
is shared, so nothing is locked. Each turn of the loop:

1. waits for requests (or for the next heartbeat to fall due);
2. drains up to ``batch_size`` waiting requests and handles them inside one
   store transaction (group commit: one fsync for the whole batch);
3. commits, then sends every reply: no client hears "done" before its write is
   on disk;
4. publishes the committed changes, each with its topic's next sequence
   number, then a heartbeat if one is due.

A request that fails validation gets its ``Status`` and touches nothing. An
operation the apiserver does not serve is a 400 before the store is touched,
and so is a body that is not JSON-shaped (:mod:`kemu.api.bodies`: non-string
map keys, nesting beyond 100 levels). A request that fails in an unexpected
way (a bug) gets a 500 and only its own writes are undone (a savepoint per
request, :meth:`~apiserver.store.Store.undo_to`): the rest of the batch goes
on, so one bad request never costs another its write, nor its latency. Undecodable frames are
answered with 400 when their id can be found and logged and dropped when not.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zmq

from apiserver.registry import Registry
from apiserver.store import Change, Store, node_of
from kemu import wire
from kemu.api import bodies, errors
from kemu.log import get_logger
from kemu.types import Obj

__all__ = ["ApiServer", "ServerConfig"]


@dataclass
class ServerConfig:
    """Where the apiserver listens and how it paces itself."""

    request_address: str
    """ROUTER endpoint for the request API (``tcp://127.0.0.1:7100`` or ``ipc://...``)."""
    watch_address: str
    """PUB endpoint for watch events."""
    heartbeat_interval: float = 0.5
    """Seconds between heartbeats on the watch socket."""
    batch_size: int = 512
    """Most requests handled under one commit."""
    extra_handlers: dict[str, Callable[[wire.Request], Any]] = field(default_factory=dict)


@dataclass
class _Pending:
    identity: bytes
    request: wire.Request | None
    reply: wire.Reply | None = None


class ApiServer:
    """The request loop; see the module doc. ``run()`` blocks until ``stop()``."""

    def __init__(self, store: Store, registry: Registry, config: ServerConfig, *, ctx: wire.Context | None = None):
        self.store = store
        self.registry = registry
        self.config = config
        self.epoch = uuid.uuid4().hex[:12]
        self.ctx = ctx or zmq.Context.instance()
        self.log = get_logger()
        self._seqs: dict[str, int] = {}
        self._stop = threading.Event()
        self._wake_w: wire.Socket | None = None
        self.router = wire.make_socket(self.ctx, zmq.ROUTER)
        self.pub = wire.make_socket(self.ctx, zmq.PUB)
        self.router.bind(config.request_address)
        self.pub.bind(config.watch_address)
        self.request_endpoint = self.router.getsockopt_string(zmq.LAST_ENDPOINT)
        self.watch_endpoint = self.pub.getsockopt_string(zmq.LAST_ENDPOINT)
        self._ops: dict[str, Callable[[wire.Request], Any]] = {
            "ping": self._op_ping,
            "create": self._op_create,
            "get": self._op_get,
            "list": self._op_list,
            "update": self._op_update,
            "update_status": self._op_update_status,
            "patch": self._op_patch,
            "delete": self._op_delete,
            "bind": self._op_bind,
            "events_since": self._op_events_since,
            **config.extra_handlers,
        }
        with self.store.transaction() as changes:
            self.registry.ensure_system_namespaces()
        self._publish(changes)

    # -- the loop ----------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        self.log.info(
            "apiserver serving",
            request_address=self.request_endpoint,
            watch_address=self.watch_endpoint,
            revision=self.store.revision,
            epoch=self.epoch,
        )
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        next_heartbeat = time.monotonic()
        try:
            while not self._stop.is_set():
                timeout_ms = max(0.0, (next_heartbeat - time.monotonic()) * 1000)
                if poller.poll(int(min(timeout_ms, 200))):
                    self._serve_batch()
                if time.monotonic() >= next_heartbeat:
                    self._heartbeat()
                    next_heartbeat = time.monotonic() + self.config.heartbeat_interval
        finally:
            self.close()

    def close(self) -> None:
        for sock in (self.router, self.pub):
            if not sock.closed:
                sock.close(linger=0)

    def _serve_batch(self) -> None:
        batch: list[_Pending] = []
        while len(batch) < self.config.batch_size:
            try:
                frames = self.router.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                break
            batch.append(self._decode(frames))
        todo = [p for p in batch if p.request is not None]
        try:
            with self.store.transaction() as changes:
                self._handle_all(todo)
        except Exception as exc:  # noqa: BLE001 (commit failed (disk full, I/O error): nobody's write is acknowledged)
            self.log.error("commit failed", error=str(exc), batch=len(todo))
            for p in todo:
                p.reply = wire.Reply(p.request.id if p.request else 0, 500, errors.internal_error(str(exc)).status)
            changes = []
        for p in batch:
            if p.reply is not None:
                self._send(p.identity, p.reply)
        self._publish(changes)

    def _handle_all(self, todo: list[_Pending]) -> None:
        """Handle a batch inside the open transaction, each request on its own
        savepoint: one that fails in an unexpected way gets a 500 and its own
        writes undone (:meth:`Store.undo_to`), and the batch goes on."""
        for p in todo:
            request = p.request
            assert request is not None
            op = self._ops.get(request.op)
            if op is None:  # on the wire but not served here (``call`` is a kubelet's)
                status = errors.bad_request(f"the apiserver does not serve the operation {request.op!r}").status
                p.reply = wire.Reply(request.id, 400, status)
                continue
            mark = self.store.mark()
            failure: Exception | None = None
            try:
                if request.body is not None:
                    bodies.check_body(request.body)
                p.reply = wire.Reply(request.id, 200, op(request))
            except errors.ApiError as exc:
                self.store.undo_to(mark)  # a request that fails after a first write fails whole
                p.reply = wire.Reply(request.id, exc.code, exc.status)
            except RecursionError:
                self.store.undo_to(mark)
                p.reply = wire.Reply(request.id, 400, errors.bad_request("the request nests too deeply").status)
            except Exception as exc:  # noqa: BLE001 (a handler's bug fails its own request only)
                failure = exc
            if failure is not None:
                # Outside the except block, so one failure's traceback never
                # chains into the next one's.
                self.store.undo_to(mark)
                self.log.error(
                    "request failed", op=request.op, kind=request.kind, name=request.name,
                    error=f"{type(failure).__name__}: {failure}", exc_info=failure,
                )
                status = errors.internal_error(f"{type(failure).__name__}: {failure}").status
                p.reply = wire.Reply(request.id, 500, status)

    def _decode(self, frames: list[bytes]) -> _Pending:
        if len(frames) != 2:
            self.log.warning("dropped malformed request", frames=len(frames))
            return _Pending(frames[0] if frames else b"", None)
        identity, data = frames
        try:
            return _Pending(identity, wire.Request.decode(data))
        except wire.WireError as exc:
            rid = wire.Request.peek_id(data)
            self.log.warning("bad request", error=str(exc), request_id=rid, size=len(data))
            if rid is None:
                return _Pending(identity, None, wire.Reply(0, 400, errors.bad_request(str(exc)).status))
            return _Pending(identity, None, wire.Reply(rid, 400, errors.bad_request(str(exc)).status))

    def _send(self, identity: bytes, reply: wire.Reply) -> None:
        try:
            self.router.send_multipart([identity, reply.encode()], zmq.NOBLOCK)
        except zmq.ZMQError as exc:  # the client is gone or its pipe is full
            self.log.warning("reply dropped", error=str(exc), request_id=reply.id)
        except (TypeError, ValueError) as exc:
            self.log.error("reply not encodable", error=str(exc), request_id=reply.id)

    # -- publishing ----------------------------------------------------------------

    def topic_events(self, change: Change) -> list[tuple[str, wire.EventType]]:
        """The ``(topic, event type)`` pairs a change is published on.

        Every change goes to its kind's topic. A pod also goes to its node's
        topic; a pod newly bound to a node arrives there as ADDED, the way a
        watch with ``fieldSelector=spec.nodeName=...`` sees it.
        """
        out: list[tuple[str, wire.EventType]] = [(wire.kind_topic(change.kind), change.type)]
        if change.kind == "Pod":
            node = node_of(change.object)
            if node:
                if change.type == "DELETED":
                    out.append((wire.node_topic("Pod", node), "DELETED"))
                elif change.prev_node == node:
                    out.append((wire.node_topic("Pod", node), change.type))
                else:
                    out.append((wire.node_topic("Pod", node), "ADDED"))
        return out

    def _publish(self, changes: list[Change]) -> None:
        for change in changes:
            for topic, etype in self.topic_events(change):
                seq = self._seqs.get(topic, 0) + 1
                self._seqs[topic] = seq
                event = wire.WatchEvent(etype, change.kind, change.object, change.rv, seq, self.epoch)
                self.pub.send_multipart([wire.topic_bytes(topic), event.encode()])

    def _heartbeat(self) -> None:
        beat = wire.Heartbeat(self.epoch, self.store.revision, dict(self._seqs), self.config.heartbeat_interval)
        self.pub.send_multipart([wire.HEARTBEAT_TOPIC, beat.encode()])

    # -- operations ----------------------------------------------------------------

    def _op_ping(self, req: wire.Request) -> Obj:
        return {"epoch": self.epoch, "revision": self.store.revision, "watch_address": self.watch_endpoint}

    def _op_create(self, req: wire.Request) -> Obj:
        return self.registry.create(req.kind, req.namespace, req.body, dry_run=bool(req.opts.get("dry_run")))

    def _op_get(self, req: wire.Request) -> Obj:
        return self.registry.get(req.kind, req.namespace, req.name)

    def _op_list(self, req: wire.Request) -> Obj:
        o = req.opts
        return self.registry.list(
            req.kind,
            req.namespace,
            label_selector=_opt_str(o, "label_selector"),
            field_selector=_opt_str(o, "field_selector"),
            limit=_opt_int(o, "limit"),
            continue_token=_opt_str(o, "continue"),
        )

    def _op_update(self, req: wire.Request) -> Obj:
        return self.registry.update(req.kind, req.namespace, req.name, req.body, dry_run=bool(req.opts.get("dry_run")))

    def _op_update_status(self, req: wire.Request) -> Obj:
        return self.registry.update(
            req.kind, req.namespace, req.name, req.body, status=True, dry_run=bool(req.opts.get("dry_run"))
        )

    def _op_patch(self, req: wire.Request) -> Obj:
        return self.registry.patch(
            req.kind,
            req.namespace,
            req.name,
            req.body,
            patch_type=_opt_str(req.opts, "patch_type") or "merge",
            subresource=_opt_str(req.opts, "subresource"),
            dry_run=bool(req.opts.get("dry_run")),
        )

    def _op_delete(self, req: wire.Request) -> Obj:
        pre = _preconditions(req.opts.get("preconditions"))
        return self.registry.delete(
            req.kind,
            req.namespace,
            req.name,
            grace_period_seconds=_opt_int(req.opts, "grace_period_seconds"),
            propagation_policy=_opt_str(req.opts, "propagation_policy"),
            preconditions=pre,
            dry_run=bool(req.opts.get("dry_run")),
        )

    def _op_bind(self, req: wire.Request) -> Obj:
        return self.registry.bind(req.namespace, req.name, req.body)

    def _op_events_since(self, req: wire.Request) -> Obj:
        """The changes after ``opts.rv`` on one topic, and that topic's current
        sequence number, so a subscriber that saw a gap can fill it and carry on."""
        rv = _opt_int(req.opts, "rv")
        if rv is None:
            raise errors.bad_request("events_since needs opts.rv")
        kind = self.registry.kind_info(req.kind).kind
        node = _opt_str(req.opts, "node")
        topic = wire.node_topic(kind, node) if node else wire.kind_topic(kind)
        events = [
            wire.PastEvent(etype, change.object, change.rv)
            for change in self.store.changes_since(rv, kind)
            for t, etype in self.topic_events(change)
            if t == topic
        ]
        # The committed revision, not the staged one: a write staged earlier in
        # this batch is published after this reply, and must not be skipped.
        return wire.EventsSince(events, self.store.committed_revision, self._seqs.get(topic, 0), self.epoch).body()


def _opt_str(opts: dict[str, Any], key: str) -> str | None:
    value = opts.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.bad_request(f"option {key} must be a string")
    return value


def _preconditions(value: Any) -> dict[str, str] | None:
    """``DeleteOptions.preconditions``, type-checked: a malformed one is a 400,
    never a silently unconditional delete."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise errors.bad_request(
            f"preconditions: Invalid value: {value!r:.80}: must be an object with uid and/or resourceVersion"
        )
    unknown = sorted(str(k) for k in value if k not in ("uid", "resourceVersion"))
    if unknown:
        raise errors.bad_request(f'preconditions: unknown field "{unknown[0]}"')
    for key, item in value.items():
        if item is not None and not isinstance(item, str):
            raise errors.bad_request(f"preconditions.{key}: Invalid value: {item!r:.80}: must be a string")
    return {k: v for k, v in value.items() if v is not None} or None


def _opt_int(opts: dict[str, Any], key: str) -> int | None:
    value = opts.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.bad_request(f"option {key} must be an integer")
    return value


def install_signal_handlers(server: ApiServer) -> None:
    """SIGTERM and SIGINT stop the loop after the current batch."""

    def handler(signum: int, _frame: Any) -> None:
        server.log.info("stopping", signal=signal.Signals(signum).name)
        server.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
