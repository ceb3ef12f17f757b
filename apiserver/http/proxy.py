"""``pods/proxy``, ``services/proxy`` and ``nodes/proxy``: HTTP through the API.

``kubectl proxy`` serves the API on localhost; a learner then opens
``/api/v1/namespaces/default/pods/NAME:8080/proxy/`` and gets the pod's
own page. kube-apiserver resolves the ``{name}`` segment to an address
and reverse-proxies the rest of the path to it; so does the front door:

- ``{name}`` is ``NAME``, ``NAME:PORT`` or ``SCHEME:NAME:PORT`` (Kubernetes'
  ``SplitSchemeNamePort``; scheme ``http`` or ``https``, anything else is
  ``400 invalid pod request "..."``);
- **pods**: the pod's IP and the port given (a number, or a container
  port's name), else the first declared container port, else 80 (the
  scheme's); a pod without an IP is ``400 address not allowed``;
- **services**: a port number is translated to the service port's name;
  then a random ready address of the service's Endpoints that serves that
  port name -- ``503 no service port 81 found for service "web"``, ``503
  no endpoints available for service "web"`` as the apiserver says;
- **nodes**: kemu's kubelet speaks ZeroMQ, not HTTP, so only what can be
  answered truthfully from the API is: ``/healthz`` (the node's ``Ready``
  condition, which the kubelet's heartbeat keeps) and ``/pods`` (the pods
  bound to the node); anything else is a ``503`` that says so.

The request's method, headers (hop-by-hop ones and the API credentials
removed, ``X-Forwarded-For`` added) and body go upstream through
aiohttp's client; the answer comes back streamed, with its status and
headers (hop-by-hop removed; a ``Location`` pointing at the upstream is
rewritten to go through the proxy again). ``.../proxy`` without the
trailing slash is a ``301`` to ``.../proxy/``, as the apiserver answers.
A backend that cannot be reached is ``503 error trying to reach service:
dial tcp 127.244.1.5:81: connect: connection refused`` -- the apiserver's
words and code. Not done: rewriting links inside HTML bodies, and
WebSocket upgrades through the proxy.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
from aiohttp import web
from yarl import URL
from multidict import CIMultiDict

from kemu.api import errors
from kemu.client import Client
from kemu.log import get_logger
from kemu.types import Obj

__all__ = ["HOP_BY_HOP", "Proxy", "proxy_remainder", "split_scheme_name_port"]


HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "transfer-encoding", "upgrade",
})
"""RFC 9110 7.6.1's connection-specific headers (and what a ``Connection``
header lists is dropped too)."""
_NOT_FORWARDED = frozenset({"host", "authorization"})
"""Set by the client library, or the API's own credentials (the apiserver
drops ``Authorization`` once it authenticated the request). A
``Content-Length`` goes on, so the body is not re-framed as chunks (which
many small servers do not read)."""
_NOT_RETURNED = frozenset({"content-length"})
"""The body is passed on as it came (still encoded: the client does not
inflate it), and its length is set on the response itself."""
CHUNK = 64 * 1024


def split_scheme_name_port(spec: str) -> tuple[str, str, str]:
    """``name``, ``name:port`` or ``scheme:name:port`` apart; raises
    ``ValueError`` when it is none of them.

    >>> split_scheme_name_port("web:8080")
    ('', 'web', '8080')
    >>> split_scheme_name_port("https:web:443")
    ('https', 'web', '443')
    """
    parts = spec.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        raise ValueError(spec)
    if not name or scheme not in ("", "http", "https"):
        raise ValueError(spec)
    return scheme, name, port


def proxy_remainder(raw_path: str, resource: str, spec: str) -> str | None:
    """The raw path after ``{resource}/{spec}/proxy`` (``""`` when the URL
    ends there, ``"/"`` for ``proxy/``), or None when the path has no such
    segment.

    >>> proxy_remainder("/api/v1/namespaces/d/pods/web:80/proxy/a%20b/", "pods", "web:80")
    '/a%20b/'
    >>> proxy_remainder("/api/v1/nodes/n1/proxy", "nodes", "n1")
    ''
    """
    segments = raw_path.split("/")
    for i in range(1, len(segments) - 1):
        if segments[i] == resource and unquote(segments[i + 1]) == spec and segments[i + 2:i + 3] == ["proxy"]:
            rest = segments[i + 3:]
            return "/" + "/".join(rest) if rest else ""
    return None


def _reach_error(exc: BaseException, host: str) -> errors.ApiError:
    """The apiserver's ``503`` for a backend it could not reach, in Go's words."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        errno = exc.os_error.errno
        why = f"connect: {os.strerror(errno).lower()}" if errno else str(exc.os_error)
        return errors.service_unavailable(f"error trying to reach service: dial tcp {host}: {why}")
    if isinstance(exc, asyncio.TimeoutError):
        return errors.service_unavailable(f"error trying to reach service: dial tcp {host}: i/o timeout")
    return errors.service_unavailable(f"error trying to reach service: {exc or type(exc).__name__}")


class Proxy:
    """Serves the three ``proxy`` subresources for one front door."""

    def __init__(self, client: Client, call: Callable[[Callable[[], Any]], Awaitable[Any]], *, timeout: float):
        self.client = client
        self._call = call
        self.timeout = timeout
        """Seconds to connect to a backend (an answer may take as long as it takes)."""
        self._session: aiohttp.ClientSession | None = None
        self.log = get_logger().bind(subsystem="proxy")

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout),
                auto_decompress=False,
                # A fresh connection per request: kemu's pod servers write a
                # response's head and body in two sends, which on a reused
                # connection waits out a delayed ACK (~40 ms a request).
                connector=aiohttp.TCPConnector(ssl=False, limit=0, force_close=True),
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def serve(self, request: web.Request, kind: str, namespace: str | None, spec: str) -> web.StreamResponse:
        """``{pods|services|nodes}/{spec}/proxy[/...]``."""
        resource = {"Pod": "pods", "Service": "services", "Node": "nodes"}[kind]
        remainder = proxy_remainder(request.rel_url.raw_path, resource, spec)
        if remainder is None:
            raise errors.bad_request(f"invalid {kind.lower()} proxy path {request.rel_url.raw_path!r}")
        if remainder == "":
            query = f"?{request.rel_url.raw_query_string}" if request.rel_url.raw_query_string else ""
            raise web.HTTPMovedPermanently(location=request.rel_url.raw_path + "/" + query)
        try:
            scheme, name, port = split_scheme_name_port(spec)
        except ValueError:
            raise errors.bad_request(f'invalid {kind.lower()} request "{spec}"') from None
        if kind == "Node":
            return await self._node(request, name, remainder)
        assert namespace is not None
        if kind == "Pod":
            host = await self._pod_address(namespace, name, port)
        else:
            host = await self._service_address(namespace, name, port, spec)
        base = request.rel_url.raw_path[: len(request.rel_url.raw_path) - len(remainder)]
        return await self._forward(request, scheme or "http", host, remainder, base)

    # -- where to -------------------------------------------------------------------------

    async def _pod_address(self, namespace: str, name: str, port: str) -> str:
        pod: Obj = await self._call(lambda: self.client.get("Pod", name, namespace))
        containers = (pod.get("spec") or {}).get("containers") or []
        if port and not port.isdigit():
            named = [p.get("containerPort") for c in containers for p in c.get("ports") or [] if p.get("name") == port]
            if not named:
                raise errors.service_unavailable(f'error trying to reach service: pod {name} has no port named "{port}"')
            port = str(named[0])
        if not port:
            declared = [p.get("containerPort") for c in containers for p in c.get("ports") or []]
            port = str(declared[0]) if declared else ""
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            raise errors.bad_request("address not allowed")
        return f"{ip}:{port}" if port else ip

    async def _service_address(self, namespace: str, name: str, port: str, spec: str) -> str:
        if port.isdigit():
            service: Obj = await self._call(lambda: self.client.get("Service", name, namespace))
            names = [p.get("name") or "" for p in (service.get("spec") or {}).get("ports") or []
                     if str(p.get("port")) == port]
            if not names:
                raise errors.service_unavailable(f'no service port {port} found for service "{name}"')
            port = names[0]
        endpoints: Obj = await self._call(lambda: self.client.get("Endpoints", name, namespace))
        subsets = endpoints.get("subsets") or []
        if not subsets:
            raise errors.service_unavailable(f'no endpoints available for service "{name}"')
        start = random.randrange(len(subsets))
        for i in range(len(subsets)):
            subset = subsets[(start + i) % len(subsets)]
            addresses = subset.get("addresses") or []
            if not addresses:
                continue
            for endpoint_port in subset.get("ports") or []:
                if (endpoint_port.get("name") or "") == port:
                    address = random.choice(addresses)
                    return f"{address['ip']}:{endpoint_port['port']}"
        raise errors.service_unavailable(f'no endpoints available for service "{spec}"')

    # -- nodes ------------------------------------------------------------------------------

    async def _node(self, request: web.Request, name: str, remainder: str) -> web.StreamResponse:
        node: Obj = await self._call(lambda: self.client.get("Node", name))
        path = unquote(remainder).rstrip("/") or "/"
        if request.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed(f"nodes/proxy answers GET only here ({request.method})")
        if path == "/healthz":
            ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"),
                         None)
            if ready is not None and ready.get("status") == "True":
                return web.Response(text="ok", content_type="text/plain")
            why = (ready or {}).get("message") or "the node has not reported Ready"
            raise errors.service_unavailable(f'error trying to reach service: node "{name}" is not Ready: {why}')
        if path == "/pods":
            listing: Obj = await self._call(
                lambda: self.client.list("Pod", all_namespaces=True, field_selector=f"spec.nodeName={name}")
            )
            body = {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                    "items": [{"kind": "Pod", "apiVersion": "v1", **p} for p in listing.get("items") or []]}
            return web.json_response(body)
        raise errors.service_unavailable(
            f'kemu\'s kubelet on node "{name}" speaks ZeroMQ, not HTTP: nodes/proxy answers /healthz and /pods'
            f" only, not {path} (kubectl logs, exec and top reach the kubelet)"
        )

    # -- forwarding ----------------------------------------------------------------------------

    async def _forward(self, request: web.Request, scheme: str, host: str, remainder: str,
                       base: str) -> web.StreamResponse:
        query = request.rel_url.raw_query_string
        url = f"{scheme}://{host}{remainder}" + (f"?{query}" if query else "")
        headers = _forwarded_headers(request)
        body = request.content if request.body_exists else None
        log = self.log.bind(method=request.method, upstream=url)
        try:
            upstream = await self._client_session().request(
                request.method, URL(url, encoded=True), headers=headers, data=body,
                allow_redirects=False,
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.info("proxy backend unreachable", error=str(exc))
            raise _reach_error(exc, host) from None
        async with upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason,
                                          headers=_returned_headers(upstream, scheme, host, base))
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_chunked(CHUNK):
                    await response.write(chunk)
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.info("proxy backend broke off", error=str(exc))
                return response  # the status line is out: all we can do is end the body
            await response.write_eof()
        log.debug("proxied", code=upstream.status)
        return response


def _connection_tokens(headers: Any) -> set[str]:
    return {t.strip().lower() for value in headers.getall("Connection", []) for t in value.split(",") if t.strip()}


def _forwarded_headers(request: web.Request) -> CIMultiDict[str]:
    drop = HOP_BY_HOP | _NOT_FORWARDED | _connection_tokens(request.headers)
    headers: CIMultiDict[str] = CIMultiDict(
        (k, v) for k, v in request.headers.items() if k.lower() not in drop
    )
    peer = request.remote
    if peer:
        prior = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
    return headers


def _returned_headers(upstream: aiohttp.ClientResponse, scheme: str, host: str, base: str) -> CIMultiDict[str]:
    drop = HOP_BY_HOP | _NOT_RETURNED | _connection_tokens(upstream.headers)
    headers: CIMultiDict[str] = CIMultiDict(
        (k, v) for k, v in upstream.headers.items() if k.lower() not in drop
    )
    location = headers.get("Location")
    if location:
        target = urlsplit(location)
        if target.scheme == scheme and target.netloc == host:
            rewritten = base.rstrip("/") + (target.path or "/")
            headers["Location"] = rewritten + (f"?{target.query}" if target.query else "")
    return headers
