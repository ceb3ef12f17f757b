"""Kubernetes Events, written the way client-go's EventRecorder writes them.

Components call :meth:`EventRecorder.event` (``Normal``/``Warning``, a reason
such as ``Scheduled`` or ``NodeNotReady``, and a message in Kubernetes'
wording). Recording never blocks the caller: events go to a bounded queue and
a background thread writes them. Repeats of the same (object, type, reason,
message) within ten minutes update the existing Event's ``count`` and
``lastTimestamp`` instead of creating a new one, as the event correlator does,
so ``kemu get events`` tells a story rather than a flood.

Every event is also logged, with the object's kind, key and uid, so the log
stream and ``get events`` tell the same story.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

from kemu.api import errors
from kemu.client import Client
from kemu.clock import rfc3339
from kemu.log import get_logger
from kemu.types import Obj

__all__ = ["EventRecorder", "object_reference"]


_DEDUP_WINDOW = 600.0


def object_reference(obj: Obj) -> Obj:
    """The ``involvedObject`` for ``obj``: its identity fields that are set,
    and always its namespace (``""`` for cluster-scoped objects)."""
    meta = obj.get("metadata", {})
    ref = {
        "kind": obj.get("kind"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "apiVersion": obj.get("apiVersion"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    return {k: v for k, v in ref.items() if v} | {"namespace": meta.get("namespace", "")}


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int
    first: str
    last_write: float


class EventRecorder:
    """Records Events for one component (``source.component``), optionally on a host."""

    def __init__(self, client: Client, component: str, *, host: str | None = None, max_queue: int = 10_000):
        self.client = client
        self.component = component
        self.host = host
        self.log = get_logger()
        self._queue: queue.Queue[tuple[Obj, str, str, str, float] | None] = queue.Queue(max_queue)
        self._seen: dict[tuple[str, str, str, str], _Seen] = {}
        self._thread = threading.Thread(target=self._run, name=f"events-{component}", daemon=True)
        self._thread.start()

    def event(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        """Record an event about ``obj`` (never blocks; drops when the queue is full)."""
        meta = obj.get("metadata", {})
        self.log.info(
            "event",
            reason=reason,
            type=event_type,
            message=message,
            kind=obj.get("kind"),
            key=f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else meta.get("name"),
            uid=meta.get("uid"),
            resourceVersion=meta.get("resourceVersion"),
        )
        try:
            self._queue.put_nowait((object_reference(obj), event_type, reason, message, time.time()))
        except queue.Full:
            self.log.warning("event dropped, queue full", reason=reason)

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued (bounded by ``timeout``), then stop."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._write(*item)
            except errors.ApiError as exc:
                self.log.debug("event not written", code=exc.code, error=exc.message)
            except Exception:
                self.log.exception("event writer failed")

    def _write(self, ref: Obj, event_type: str, reason: str, message: str, at: float) -> None:
        ns = ref.get("namespace") or "default"
        key = (ref.get("uid") or f"{ns}/{ref.get('kind')}/{ref.get('name')}", event_type, reason, message)
        seen = self._seen.get(key)
        now_ts = rfc3339(at)
        if seen is not None and at - seen.last_write < _DEDUP_WINDOW:
            seen.count += 1
            seen.last_write = at
            try:
                self.client.patch("Event", seen.name, {"count": seen.count, "lastTimestamp": now_ts}, seen.namespace)
                return
            except errors.ApiError as exc:
                if exc.code != 404:
                    raise
        name = f"{ref.get('name')}.{int(at * 1e9):x}"[:253]
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": event_type,
            "count": 1,
            "firstTimestamp": now_ts,
            "lastTimestamp": now_ts,
            "reportingComponent": self.component,
            **({"reportingInstance": self.host} if self.host else {}),
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
        }
        self.client.create(body)
        self._seen[key] = _Seen(name, ns, 1, now_ts, at)
        if len(self._seen) > 5000:
            cutoff = at - _DEDUP_WINDOW
            self._seen = {k: v for k, v in self._seen.items() if v.last_write >= cutoff}
