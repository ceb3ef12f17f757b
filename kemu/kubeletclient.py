"""The client side of the kubelet's server: a pod's logs and exec.

A real apiserver proxies ``kubectl logs`` and ``kubectl exec`` to the
kubelet of the pod's node. kemu has two callers that do the same: ``kemu
logs``/``kemu exec`` (:mod:`kemu.cli.pods`, straight from the CLI) and the
HTTP front door's ``pods/log`` and ``pods/exec`` (:mod:`apiserver.http.kubeletproxy`).
Both go through this module, so there is one way to find a kubelet and one
implementation of its protocol (documented in :mod:`kubelet.server`):

- **finding the kubelet**: the pod's ``spec.nodeName``, then that Node's
  ``InternalIP`` and ``status.daemonEndpoints.kubeletEndpoint.Port``, give
  ``tcp://<ip>:<port>`` (:func:`locate`, :func:`kubelet_address`);
- **logs**: :meth:`KubeletClient.read_logs` is one long poll (a chunk, the
  cursor to ask again from, and whether the log is done); a reader loops on
  it until ``done`` (:meth:`KubeletClient.follow_logs` is that loop);
- **exec**: :meth:`KubeletClient.exec` runs a command to its end and returns
  its exit code and collected output (the kubelet does not stream it);
- **what the apiserver adds**: the container a request is about, checked in
  the apiserver's words (:func:`choose_container`), and the log options the
  kubelet's server leaves to its caller, ``sinceSeconds``/``sinceTime`` and
  ``limitBytes`` (:class:`LogShaper`).

Everything here blocks (a :class:`~kemu.client.Client` per kubelet, one
DEALER socket per thread): the CLI calls it directly, the front door from
its own thread pool. A kubelet that does not answer in time raises
:class:`KubeletUnavailable` (a ``503`` ``Status`` naming the node).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Self

from kemu import wire
from kemu.api import errors
from kemu.apimachinery import parse_time
from kemu.client import Client, Unavailable
from kemu.types import Obj

__all__ = [
    "ExecResult",
    "KubeletClient",
    "KubeletTarget",
    "KubeletUnavailable",
    "LogChunk",
    "LogOptions",
    "LogShaper",
    "choose_container",
    "kubelet_address",
    "locate",
    "parse_rfc3339",
    "since_from",
]


DEFAULT_EXEC_TIMEOUT = 300.0
"""Seconds the kubelet lets an exec'd command run (its own default)."""


@dataclass(frozen=True, slots=True)
class KubeletTarget:
    """Where the kubelet that runs a pod listens."""

    node: str
    """The node's name."""
    address: str
    """``tcp://<InternalIP>:<kubelet port>``."""


class KubeletUnavailable(errors.ApiError):
    """The pod's kubelet cannot be reached: its Node advertises no address,
    or it did not answer in time (``503 ServiceUnavailable``)."""

    def __init__(self, message: str):
        super().__init__(errors.status_dict(503, "ServiceUnavailable", message))


def kubelet_address(node: Obj) -> str | None:
    """``tcp://<InternalIP>:<port>`` from a Node's status, or None when it
    advertises no InternalIP or no kubelet port.

    >>> kubelet_address({"status": {"addresses": [{"type": "InternalIP", "address": "127.0.1.2"}],
    ...                             "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}})
    'tcp://127.0.1.2:10250'
    """
    status = node.get("status") or {}
    ip = next((a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), None)
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    if not ip or not port:
        return None
    return f"tcp://{ip}:{port}"


def locate(client: Client, pod: Obj) -> KubeletTarget:
    """The kubelet of the node ``pod`` is bound to (read through ``client``).

    Raises a ``400`` for a pod not bound to a node yet (the apiserver's
    ``pod web does not have a host assigned``), the apiserver's error when
    the Node cannot be read, and :class:`KubeletUnavailable` when the Node
    advertises no kubelet address.
    """
    name = (pod.get("metadata") or {}).get("name", "")
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        raise errors.bad_request(f"pod {name} does not have a host assigned")
    address = kubelet_address(client.get("Node", node_name))
    if address is None:
        raise KubeletUnavailable(
            f'the kubelet of node "{node_name}" serves no logs or exec (no InternalIP or kubelet port in its status)'
        )
    return KubeletTarget(node_name, address)


def choose_container(pod: Obj, requested: str | None) -> str:
    """The container a logs or exec request is about, checked as the
    apiserver checks it before it proxies to the kubelet
    (``validateContainer``): a named container must be one of the pod's
    (init and ephemeral ones included); an unnamed one must be the only one.
    (The ``kubectl.kubernetes.io/default-container`` annotation is kubectl's
    business: it names the container before it asks.)

    >>> choose_container({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "nginx"}]}}, None)
    'nginx'
    >>> choose_container({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}}, None)
    Traceback (most recent call last):
    ...
    kemu.api.errors.ApiError: a container name must be specified for pod web, choose one of: [a b]
    """
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    names = [str(c.get("name")) for c in spec.get("containers") or []]
    init = [str(c.get("name")) for c in spec.get("initContainers") or []]
    ephemeral = [str(c.get("name")) for c in spec.get("ephemeralContainers") or []]
    pod_name = meta.get("name", "")
    if requested:
        if requested in (*names, *init, *ephemeral):
            return requested
        raise errors.bad_request(f"container {requested} is not valid for pod {pod_name}")
    if len(names) == 1:
        return names[0]
    if not names:
        raise errors.bad_request(f"a container name must be specified for pod {pod_name}")
    message = f"a container name must be specified for pod {pod_name}, choose one of: [{' '.join(names)}]"
    if init:
        message += f" or one of the init containers: [{' '.join(init)}]"
    if ephemeral:
        message += f" or one of the ephemeral containers: [{' '.join(ephemeral)}]"
    raise errors.bad_request(message)


# -- logs -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogOptions:
    """What a reader asks of the kubelet's ``logs`` method."""

    container: str | None = None
    """None: the pod's only (or default) container, chosen by the kubelet."""
    follow: bool = False
    """Keep reading until the container has exited and its log is drained."""
    previous: bool = False
    """The log of the container's previous (terminated) run."""
    timestamps: bool = False
    """Each line starts with its RFC 3339 timestamp and a space."""
    tail_lines: int | None = None
    """Start this many lines before the end (None: at the start)."""

    def opts(self, cursor: Obj | None, wait: float | None) -> Obj:
        """The ``opts`` of one call: the first (no ``cursor``) may carry
        ``tailLines``; later ones carry the cursor the previous call returned."""
        opts: Obj = {
            "method": "logs",
            "container": self.container,
            "previous": self.previous,
            "timestamps": self.timestamps,
            "follow": self.follow,
            "wait": wait if self.follow else None,
        }
        if cursor is None:
            opts["tailLines"] = self.tail_lines
        else:
            opts["cursor"] = cursor
        return opts


@dataclass(frozen=True, slots=True)
class LogChunk:
    """One reply of the kubelet's ``logs`` method."""

    container: str
    """The container the kubelet read (the one it chose when none was named)."""
    data: bytes
    """The log text (at most the kubelet's chunk size)."""
    cursor: Obj | None
    """Where to ask again from."""
    done: bool
    """Nothing more will come: the file's end (or, following, the container's)."""


@dataclass(frozen=True, slots=True)
class ExecResult:
    """A command run in a container, once it ended."""

    container: str
    exit_code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool
    """The kubelet killed the command at its timeout (exit code 137)."""


class KubeletClient:
    """Calls on one kubelet's server; thread-safe (a socket per thread)."""

    target: KubeletTarget
    timeout: float
    """Seconds a call may take beyond what it asks the kubelet to wait."""

    def __init__(self, target: KubeletTarget, *, timeout: float = 10.0, ctx: wire.Context | None = None):
        self.target = target
        self.timeout = timeout
        self._client = Client(target.address, timeout=timeout, ctx=ctx)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, namespace: str, name: str, *, timeout: float, **opts: Any) -> Obj:
        """One ``call`` on pod ``namespace/name``; the kubelet's errors come
        back as :class:`~kemu.api.errors.ApiError`, silence as
        :class:`KubeletUnavailable`."""
        try:
            return dict(self._client.call("call", "Pod", namespace, name, timeout=timeout, **opts))
        except Unavailable:
            raise KubeletUnavailable(
                f'the kubelet of node "{self.target.node}" at {self.target.address} did not answer'
                " in time (is the node running?)"
            ) from None

    def read_logs(self, namespace: str, name: str, options: LogOptions, cursor: Obj | None = None,
                  *, wait: float = 1.0) -> LogChunk:
        """One chunk of a container's log, from ``cursor`` (None: the start,
        or ``tail_lines`` before the end). Following, waits up to ``wait``
        seconds for something new."""
        body = self.call(namespace, name, timeout=self.timeout + (wait if options.follow else 0.0),
                         **options.opts(cursor, wait))
        return LogChunk(
            container=str(body.get("container") or options.container or ""),
            data=bytes(body.get("data") or b""),
            cursor=body.get("cursor"),
            done=bool(body.get("done")),
        )

    def follow_logs(self, namespace: str, name: str, options: LogOptions, *, wait: float = 1.0) -> Iterator[bytes]:
        """Every chunk of the log until the kubelet says it is done (with
        ``follow``: the container exited and its log drained)."""
        cursor: Obj | None = None
        while True:
            chunk = self.read_logs(namespace, name, options, cursor, wait=wait)
            if chunk.data:
                yield chunk.data
            if chunk.done:
                return
            cursor = chunk.cursor

    def exec(self, namespace: str, name: str, command: list[str], *, container: str | None = None,
             stdin: bytes | None = None, timeout_seconds: float = DEFAULT_EXEC_TIMEOUT) -> ExecResult:
        """Run ``command`` in a container of the pod and wait for it to end
        (at most ``timeout_seconds``, after which the kubelet kills it)."""
        body = self.call(
            namespace, name, timeout=timeout_seconds + self.timeout, method="exec", container=container,
            command=list(command), stdin=stdin, timeoutSeconds=timeout_seconds,
        )
        return ExecResult(
            container=str(body.get("container") or container or ""),
            exit_code=int(body.get("exitCode") or 0),
            stdout=bytes(body.get("stdout") or b""),
            stderr=bytes(body.get("stderr") or b""),
            timed_out=bool(body.get("timedOut")),
        )


# -- what the apiserver adds to a log -------------------------------------------------------


def parse_rfc3339(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time (a ``sinceTime``, a
    CRI log line's ``RFC3339Nano`` stamp), read as Go's ``time.Parse`` reads
    it (:func:`kemu.apimachinery.parse_time`); ``ValueError`` when ``text``
    is not one.

    >>> parse_rfc3339("1970-01-01T00:00:01.5Z")
    1500000000
    >>> parse_rfc3339("1970-01-01T01:00:00+01:00")
    0
    """
    return parse_time(text).unix_nano


@dataclass
class LogShaper:
    """The log options the kubelet's server leaves to its caller, applied to
    the stream of chunks it returns:

    - ``since_ns``: drop lines written before this time. The kubelet must
      then be asked for timestamps (:attr:`needs_timestamps`); they are cut
      off again unless the reader asked for them (``timestamps``);
    - ``limit_bytes``: stop after this many bytes (``exhausted`` then says so).

    A chunk may end in the middle of a line; the line's fate (kept or
    dropped) is decided at its start and carried into the next chunk.

    >>> shaper = LogShaper(since_ns=parse_rfc3339("2026-01-01T00:00:02Z"), timestamps=False)
    >>> shaper.feed(b"2026-01-01T00:00:01.000000000Z old\\n2026-01-01T00:00:03.000000000Z new, and")
    b'new, and'
    >>> shaper.feed(b" more\\n")
    b' more\\n'
    """

    since_ns: int | None = None
    timestamps: bool = True
    """The reader asked for timestamps (so they stay in the output)."""
    limit_bytes: int | None = None
    exhausted: bool = False
    """``limit_bytes`` were written: the reader is served."""
    _written: int = 0
    _at_line_start: bool = True
    _keep: bool = True
    _pending: bytes = field(default=b"", repr=False)
    """The start of a line whose timestamp has not fully arrived yet."""

    @property
    def needs_timestamps(self) -> bool:
        """Whether the kubelet must be asked for timestamps."""
        return self.timestamps or self.since_ns is not None

    def feed(self, data: bytes) -> bytes:
        """What of ``data`` (the next chunk) the reader gets."""
        if self.exhausted:
            return b""
        out = self._filter(data) if self.since_ns is not None else data
        if self.limit_bytes is not None:
            room = self.limit_bytes - self._written
            if len(out) >= room:
                out, self.exhausted = out[:room], True
            self._written += len(out)
        return out

    def _filter(self, data: bytes) -> bytes:
        data, self._pending = self._pending + data, b""
        out: list[bytes] = []
        for piece in data.splitlines(keepends=True):
            if self._at_line_start:
                stamp, space, rest = piece.partition(b" ")
                if not space and not piece.endswith(b"\n"):
                    self._pending = piece  # the timestamp continues in the next chunk
                    break
                self._keep = self._wanted(stamp)
                if not self.timestamps:
                    piece = rest
            if self._keep:
                out.append(piece)
            self._at_line_start = piece.endswith(b"\n")
        return b"".join(out)

    def _wanted(self, stamp: bytes) -> bool:
        if self.since_ns is None:
            return True
        try:
            return parse_rfc3339(stamp.decode("ascii", "replace")) >= self.since_ns
        except ValueError:
            return True


def since_from(since_seconds: int | None, since_time: str | None, *, now: float | None = None) -> int | None:
    """The ``since_ns`` of :class:`LogShaper` for ``sinceSeconds`` or
    ``sinceTime`` (RFC 3339); None for neither. ``ValueError`` for a bad time."""
    if since_seconds is not None:
        return int(((time.time() if now is None else now) - since_seconds) * 1e9)
    if since_time:
        return parse_rfc3339(since_time)
    return None
