"""The store: every API object, durable in SQLite, served from memory.

Only the apiserver touches this module, and only from its single request
thread, so the store has no locks.

Layout. SQLite (WAL mode) holds one row per object, ``objects(kind, ns, name,
data)`` with ``data`` the msgpack-encoded object, and one row ``meta(revision)``.
Memory holds the same objects as dicts, in ``kind -> namespace -> name``, plus
a pods-by-node index. Reads never touch SQLite.

Revisions. The store keeps one cluster-wide revision. Each write takes the next
one, and the object's ``metadata.resourceVersion`` is the revision of its last
change. The revision is saved in the same transaction as the writes, so it
never goes backwards across restarts, deletions included.

Group commit. The server opens a :meth:`Store.transaction`, handles every
request waiting on its socket, then commits once, and only then replies and
publishes. One fsync covers many writes; no reply ever announces a write that
is not on disk. If the commit fails, memory is reloaded from disk and the
whole batch is answered with an error.

Savepoints. A request that fails half-way (a bug, or input no check foresaw)
must fail alone, without costing the rest of its batch a reload of the whole
store. Every write inside a transaction logs what it replaced (an undo log of
references, nothing copied), so :meth:`Store.mark` and :meth:`Store.undo_to`
roll memory and the open SQLite transaction back to the point before that
request, in time proportional to what the request wrote.

History. Committed changes are kept in memory (a bounded list, ``history_size``
entries) so a watcher can ask for "everything since resourceVersion N" after a
gap; older than the oldest kept change, or from before this process started,
is :func:`~kemu.api.errors.gone` (410), and the watcher relists.
"""

from __future__ import annotations

import builtins

import bisect
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kemu import wire
from kemu.api import errors
from kemu.types import Obj

__all__ = ["Change", "MAX_OBJECT_BYTES", "Store"]

MAX_OBJECT_BYTES = 1536 * 1024
"""The largest object the store keeps (Kubernetes: etcd's 1.5 MiB request limit)."""


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change, as watchers see it."""

    rv: int
    """The revision the change produced."""
    type: wire.EventType
    """``ADDED``, ``MODIFIED`` or ``DELETED``."""
    kind: str
    object: Obj
    """The object after the change (before it, for ``DELETED``)."""
    prev_node: str
    """For pods, the node the pod was bound to before the change (``""`` if
    none), so a change that moves a pod onto a node reaches that node's topic
    as ``ADDED``."""


def _pack(obj: Obj) -> bytes:
    return wire.pack(obj)


def _unpack(data: bytes) -> Obj:
    obj: Obj = wire.unpack(data)
    return obj


def copy_obj(obj: Obj) -> Obj:
    """A deep copy of a JSON-like object (:func:`kemu.wire.deep_copy`)."""
    copied: Obj = wire.deep_copy(obj)
    return copied


def node_of(obj: Obj) -> str:
    return str((obj.get("spec") or {}).get("nodeName") or "")


class Store:
    """Durable objects, one revision, a change history. See the module doc."""

    db: sqlite3.Connection
    revision: int
    """The revision of the last committed (or, inside a transaction, staged) change."""
    committed_revision: int
    """The revision of the last committed change (``revision`` may be ahead
    inside a transaction)."""
    start_revision: int
    """The revision when this process loaded the store; history starts here."""
    _objects: dict[str, dict[str, dict[str, Obj]]]
    _pods_by_node: dict[str, dict[tuple[str, str], Obj]]
    _history: list[Change]
    _history_revs: list[int]
    _floor: int
    """The history holds every change after this revision."""
    _pending: list[Change]
    _in_tx: bool
    _sizes: dict[tuple[str, str, str], int]
    """Encoded size of every stored object, so a list can be cut into pages
    that fit a message without encoding anything twice."""
    _kind_bytes: dict[str, int]
    """The sum of :attr:`_sizes` per kind."""
    _undo: list[tuple[str, str, str, Obj | None]]
    """``(kind, namespace, name, object before the write or None)`` for every
    write of the open transaction, oldest first (see :meth:`undo_to`)."""

    def __init__(self, path: Path | str, *, synchronous: str = "FULL", history_size: int = 50_000):
        self.path = str(path)
        self.synchronous = synchronous.upper()
        if self.synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("synchronous must be FULL, NORMAL or EXTRA")
        self.history_size = history_size
        if self.path != ":memory:" and not self.path.startswith("file:"):
            # Created owner-only before SQLite opens it; SQLite gives its -wal
            # and -shm files the database's mode.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={self.synchronous}")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,"
            " data BLOB NOT NULL, PRIMARY KEY (kind, ns, name)) WITHOUT ROWID"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        self._in_tx = False
        self._pending = []
        self._undo = []
        self._history = []
        self._history_revs = []
        self._load()

    # -- loading -------------------------------------------------------------

    def _load(self) -> None:
        self._objects = {}
        self._pods_by_node = {}
        self._sizes = {}
        self._kind_bytes = {}
        for kind, ns, name, data in self.db.execute("SELECT kind, ns, name, data FROM objects"):
            obj = _unpack(data)
            self._set_size(kind, ns, name, len(data))
            self._objects.setdefault(kind, {}).setdefault(ns, {})[name] = obj
            if kind == "Pod":
                self._index_pod(ns, name, obj)
        row = self.db.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
        self.revision = int(row[0]) if row else 0
        self.start_revision = self.revision
        self.committed_revision = self.revision
        self._floor = self.revision
        self._history.clear()
        self._history_revs.clear()

    def close(self) -> None:
        self.db.close()

    # -- transactions ----------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[list[Change]]:
        """Stage writes, then commit them with one fsync.

        Yields the list that will hold the committed changes once the block
        ends without error (the caller publishes them). On an exception the
        transaction is rolled back and memory reloaded from disk.
        """
        assert not self._in_tx, "transactions do not nest"
        committed: list[Change] = []
        self.db.execute("BEGIN IMMEDIATE")
        self._in_tx = True
        self._undo.clear()
        try:
            yield committed
            if self._pending:
                self.db.execute(
                    "INSERT INTO meta (key, value) VALUES ('revision', ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (self.revision,),
                )
            self.db.execute("COMMIT")
        except BaseException:
            self._in_tx = False
            self._pending.clear()
            self._undo.clear()
            try:
                self.db.execute("ROLLBACK")
            finally:
                self._load_keep_history()
            raise
        self._in_tx = False
        self._undo.clear()
        committed.extend(self._pending)
        self.committed_revision = self.revision
        self._remember(self._pending)
        self._pending = []

    def mark(self) -> tuple[int, int, int]:
        """A savepoint inside the open transaction, for :meth:`undo_to`."""
        assert self._in_tx
        return len(self._undo), len(self._pending), self.revision

    def undo_to(self, mark: tuple[int, int, int]) -> None:
        """Undo every write staged since ``mark``, in memory and in the open
        SQLite transaction; the writes before it stay staged.

        Used when one request of a batch fails in an unexpected way: the
        request's own writes vanish, the batch goes on."""
        assert self._in_tx
        undo_len, pending_len, revision = mark
        while len(self._undo) > undo_len:
            kind, ns, name, before = self._undo.pop()
            current = self.get(kind, ns, name)
            if kind == "Pod" and current is not None:
                self._unindex_pod(ns, name, current)
            if before is None:
                self.db.execute("DELETE FROM objects WHERE kind = ? AND ns = ? AND name = ?", (kind, ns, name))
                self._set_size(kind, ns, name, 0)
                by_ns = self._objects.get(kind, {})
                by_ns.get(ns, {}).pop(name, None)
                if ns in by_ns and not by_ns[ns]:
                    del by_ns[ns]
            else:
                data = _pack(before)
                self.db.execute(
                    "INSERT INTO objects (kind, ns, name, data) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(kind, ns, name) DO UPDATE SET data = excluded.data",
                    (kind, ns, name, data),
                )
                self._set_size(kind, ns, name, len(data))
                self._objects.setdefault(kind, {}).setdefault(ns, {})[name] = before
                if kind == "Pod":
                    self._index_pod(ns, name, before)
        del self._pending[pending_len:]
        self.revision = revision

    def _load_keep_history(self) -> None:
        history, revs, start, floor = self._history, self._history_revs, self.start_revision, self._floor
        self._history, self._history_revs = [], []
        self._load()
        self._history, self._history_revs, self.start_revision, self._floor = history, revs, start, floor

    def _remember(self, changes: list[Change]) -> None:
        self._history.extend(changes)
        self._history_revs.extend(c.rv for c in changes)
        excess = len(self._history) - self.history_size
        if excess > self.history_size // 10:  # trim in slices, not per change
            del self._history[:excess]
            del self._history_revs[:excess]
            self._floor = self._history_revs[0] - 1

    # -- reads -----------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The stored object (do not mutate it: copy first), or None."""
        return self._objects.get(kind, {}).get(namespace, {}).get(name)

    def list(self, kind: str, namespace: str | None = None) -> builtins.list[Obj]:
        """Stored objects of ``kind`` (in one namespace, or all when None)."""
        by_ns = self._objects.get(kind, {})
        if namespace is not None:
            return list(by_ns.get(namespace, {}).values())
        return [obj for objs in by_ns.values() for obj in objs.values()]

    def pods_on_node(self, node: str) -> builtins.list[Obj]:
        return list(self._pods_by_node.get(node, {}).values())

    def total_size(self, kind: str) -> int:
        """The encoded size of every stored object of ``kind``, in bytes."""
        return self._kind_bytes.get(kind, 0)

    def size_of(self, kind: str, namespace: str, name: str) -> int:
        """The encoded size of a stored object, in bytes (0 if there is none)."""
        return self._sizes.get((kind, namespace, name), 0)

    def count(self, kind: str) -> int:
        return sum(len(v) for v in self._objects.get(kind, {}).values())

    # -- writes ----------------------------------------------------------------

    def put(self, kind: str, obj: Obj, *, created: bool) -> Obj:
        """Stage ``obj`` as the new state (ADDED when ``created``, else
        MODIFIED). Assigns the next revision as its resourceVersion. The store
        keeps ``obj``: the caller must not mutate it afterwards."""
        assert self._in_tx, "writes need a transaction"
        meta = obj["metadata"]
        ns, name = meta.get("namespace") or "", meta["name"]
        prev = self.get(kind, ns, name)
        meta["resourceVersion"] = str(self.revision + 1)
        data = _pack(obj)
        if len(data) > MAX_OBJECT_BYTES:
            if prev is not None:
                meta["resourceVersion"] = prev["metadata"]["resourceVersion"]
            raise errors.too_large(
                f"the {kind} {name!r} is {len(data)} bytes encoded, over the limit of {MAX_OBJECT_BYTES}"
                " bytes for one object (etcd's request size limit, as in Kubernetes)"
            )
        self._undo.append((kind, ns, name, prev))
        self.revision += 1
        self.db.execute(
            "INSERT INTO objects (kind, ns, name, data) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(kind, ns, name) DO UPDATE SET data = excluded.data",
            (kind, ns, name, data),
        )
        self._set_size(kind, ns, name, len(data))
        self._objects.setdefault(kind, {}).setdefault(ns, {})[name] = obj
        prev_node = ""
        if kind == "Pod":
            if prev is not None:
                prev_node = node_of(prev)
                self._unindex_pod(ns, name, prev)
            self._index_pod(ns, name, obj)
        self._pending.append(Change(self.revision, "ADDED" if created else "MODIFIED", kind, obj, prev_node))
        return obj

    def remove(self, kind: str, obj: Obj) -> Obj:
        """Stage the deletion of ``obj``. The DELETED event carries the object
        with a fresh resourceVersion, as Kubernetes' watch does."""
        assert self._in_tx, "writes need a transaction"
        meta = obj["metadata"]
        ns, name = meta.get("namespace") or "", meta["name"]
        stored = self.get(kind, ns, name)
        if stored is None:
            raise errors.not_found(kind, name)
        self._undo.append((kind, ns, name, stored))
        self.revision += 1
        gone_obj = copy_obj(stored)
        gone_obj["metadata"]["resourceVersion"] = str(self.revision)
        self.db.execute("DELETE FROM objects WHERE kind = ? AND ns = ? AND name = ?", (kind, ns, name))
        self._set_size(kind, ns, name, 0)
        del self._objects[kind][ns][name]
        if not self._objects[kind][ns]:
            del self._objects[kind][ns]
        prev_node = ""
        if kind == "Pod":
            prev_node = node_of(stored)
            self._unindex_pod(ns, name, stored)
        self._pending.append(Change(self.revision, "DELETED", kind, gone_obj, prev_node))
        return gone_obj

    def _set_size(self, kind: str, ns: str, name: str, size: int) -> None:
        """Record an object's encoded size (0: it is gone)."""
        key = (kind, ns, name)
        old = self._sizes.pop(key, 0)
        if size:
            self._sizes[key] = size
        self._kind_bytes[kind] = self._kind_bytes.get(kind, 0) - old + size

    def _index_pod(self, ns: str, name: str, obj: Obj) -> None:
        node = node_of(obj)
        if node:
            self._pods_by_node.setdefault(node, {})[(ns, name)] = obj

    def _unindex_pod(self, ns: str, name: str, obj: Obj) -> None:
        node = node_of(obj)
        if node:
            pods = self._pods_by_node.get(node, {})
            pods.pop((ns, name), None)
            if not pods:
                self._pods_by_node.pop(node, None)

    # -- history ---------------------------------------------------------------

    def changes_since(self, rv: int, kind: str | None = None) -> builtins.list[Change]:
        """Committed changes after ``rv`` (of ``kind`` when given), oldest first.

        Raises 410 Expired when ``rv`` is older than what the history holds.
        """
        if rv < self._floor:
            raise errors.gone(f"too old resource version: {rv} ({self._floor})")
        if rv > self.committed_revision:
            raise errors.gone(f"too large resource version: {rv}, current: {self.committed_revision}")
        start = bisect.bisect_right(self._history_revs, rv)
        return [c for c in self._history[start:] if kind is None or c.kind == kind]
