"""The Kubernetes REST API, translated to kemu's request API.

One aiohttp application. Every request goes through two middlewares
(errors become ``Status`` objects; a configured bearer token is checked),
then one dispatcher that reads the URL the way the apiserver does
(``/api/v1/namespaces/{ns}/{resource}/{name}/{subresource}``,
``/apis/{group}/{version}/...``, the ``/watch/`` prefix) and calls a small
handler per verb.

**Threads.** The event loop never blocks on ZeroMQ. Each handler parses its
request on the loop, then hands one closure to a thread pool that makes the
``Client`` calls and encodes the JSON answer (``Client`` keeps one DEALER
socket per thread, so the pool's threads talk to the apiserver in parallel),
and the loop writes the bytes back. Watches are the exception: they are
served from :mod:`apiserver.http.watch`'s per-kind caches, whose watchers
live on the loop (fed by one informer per kind).

**What is translated, and how.**

- reads: ``get``, ``list`` (``labelSelector``, ``fieldSelector``, ``limit``,
  ``continue``); lists are ``<Kind>List`` with items without
  ``kind``/``apiVersion``, as the apiserver writes them; ``Accept`` may ask for
  a ``Table`` (``kubectl get``'s columns) or ``PartialObjectMetadata``;
- writes: ``create``, ``update``, ``status`` and ``scale`` subresources,
  merge / strategic-merge / JSON patches, server-side apply (approximated as
  create-or-strategic-merge of the applied configuration), ``dryRun=All``,
  ``fieldValidation`` (``Strict`` as kemu does; ``Warn``, the default, and
  ``Ignore`` drop unknown fields of a create or update, ``Warn`` naming them
  in ``Warning`` headers);
- deletes with ``DeleteOptions`` from the body or the query, and
  ``deletecollection``;
- ``pods/binding``, the ``bindings`` resource, and ``pods/eviction`` (a delete);
- ``serviceaccounts/token`` (a signed token, :mod:`kemu.api.reviews`) and the
  create-only access reviews (``SelfSubjectAccessReview``/``RulesReview``:
  answered by the registry, never stored; any other verb is ``405``);
- ``pods/log`` (a text stream) and ``pods/exec`` (a WebSocket), proxied to
  the pod's kubelet by :mod:`apiserver.http.kubeletproxy`;
- ``pods/portforward`` (SPDY/3.1, plain or in a WebSocket:
  :mod:`apiserver.http.portforward` on :mod:`apiserver.http.spdy`) and the
  ``pods|services|nodes/proxy`` subresources (:mod:`apiserver.http.proxy`);
- ``metrics.k8s.io/v1beta1`` (``kubectl top``), scraped from the kubelets
  as metrics-server does, by :mod:`apiserver.http.metrics`.

Bodies are JSON, YAML, or protobuf (what kubectl's typed clients send:
``kubectl create deployment|configmap|namespace ...``, drain's evictions),
decoded by :mod:`apiserver.http.protobufmedia` into the same JSON data.
Answers are JSON, or protobuf for a client whose ``Accept`` names only
protobuf.

A request that kemu cannot make sense of gets a ``4xx`` ``Status``; one that
breaks something gets a ``500`` ``Status`` and a log line; the process lives on.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from aiohttp import web
from multidict import CIMultiDict

from apiserver.http import discovery, eviction, protobufmedia, tables
from apiserver.http.backend import BackendHealth, Check, health_report
from apiserver.http.kubeletproxy import KubeletProxy
from apiserver.http.portforward import PortForwarder
from apiserver.http.proxy import Proxy
from apiserver.http.metrics import PREFIX as METRICS_PREFIX
from apiserver.http.metrics import MetricsApi
from apiserver.http.query import Query
from apiserver.http.watch import END, WatchCaches, WatchOptions
from kemu import wire
from kemu.api import bodies, errors, reviews, schema, selectors
from kemu.api import patch as patches
from kemu.api.kinds import KindInfo
from kemu.api.replicationcontrollers import label_selector_of
from kemu.api.schema_objects import TOKEN_REQUEST
from kemu.cli.printers import label_selector_string
from kemu.client import Client
from kemu.log import get_logger
from kemu.types import Obj, WatchEventBody

__all__ = [
    "HttpConfig",
    "KubeApi",
    "ResourcePath",
    "create_app",
    "parse_resource_path",
]

T = TypeVar("T")

JSON = "application/json"
PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/json-patch+json": "json",
}
APPLY_PATCH = "application/apply-patch+yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version")
"""Answered without a token, as the apiserver's ``system:public-info-viewer`` allows."""

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


@dataclass
class HttpConfig:
    """How the front door reaches the apiserver and serves its clients."""

    server: str
    """The apiserver's request address (``tcp://127.0.0.1:7100`` or ``ipc://...``)."""
    token: str | None = None
    """Bearer token every request (but the public paths) must carry; None: no authentication."""
    request_timeout: float = 10.0
    """Seconds a request to the apiserver may take."""
    workers: int = 16
    """Threads making blocking ``Client`` calls."""
    min_request_timeout: float = 1800.0
    """A watch without ``timeoutSeconds`` ends after a random time between this
    and twice this, as with the apiserver's ``--min-request-timeout``."""
    bookmark_interval: float = 15.0
    """Seconds of quiet after which a watch that allows bookmarks gets one."""
    max_body_bytes: int = 8 * 1024 * 1024
    """Larger request bodies get ``413``."""
    heartbeat_timeout: float = 3.0
    """Seconds without a heartbeat after which a watch cache reconnects."""
    watch_cache_size: int = 5_000
    """Recent changes per kind a watch resumes from without asking the apiserver
    (kube-apiserver's ``--default-watch-cache-size``); 0: always ask it."""
    advertise_address: str = "127.0.0.1:6443"
    """``serverAddress`` in ``/api``'s ``serverAddressByClientCIDRs``."""
    metric_resolution: float = 5.0
    """Seconds a scrape of the kubelets is reused by ``metrics.k8s.io`` (metrics-server's ``--metric-resolution``)."""
    backend_check_interval: float = 1.0
    """Seconds between the pings that tell whether the apiserver answers (:mod:`apiserver.http.backend`)."""
    backend_grace: float = 2.5
    """Seconds without an answer to those pings after which requests get ``503`` at once."""


def _status(code: int, message: str, reason: str | None = None) -> errors.ApiError:
    return errors.ApiError(errors.status_dict(code, reason or _REASONS.get(code, "Unknown"), message))


def _not_found_resource() -> errors.ApiError:
    return _status(404, "the server could not find the requested resource")


def _success(code: int = 200, **details: Any) -> Obj:
    status: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code}
    if details:
        status["details"] = details
    return status


def _json_response(body: bytes | Obj, status: int = 200, headers: CIMultiDict[str] | None = None) -> web.Response:
    data = body if isinstance(body, bytes) else discovery.encode(body)
    response = web.Response(body=data, status=status, content_type=JSON, headers=headers)
    return response


def _status_response(status: Obj) -> web.Response:
    return _json_response(status, int(status.get("code", 500)))


# -- the URL ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourcePath:
    """A resource URL taken apart."""

    info: KindInfo
    """The kind of the resource (``Pod`` for ``pods`` and ``bindings``)."""
    resource: str
    """The resource as written (``pods``, or ``bindings``)."""
    namespace: str | None
    name: str | None
    subresource: str | None
    watch: bool
    """The URL had the legacy ``/watch/`` prefix."""


def parse_resource_path(path: str) -> ResourcePath | None:
    """The resource ``path`` names, or None when it is not a resource URL
    (discovery documents, ``/version`` ...).

    Raises ``404 NotFound`` for URLs in a served group version that name no
    resource kemu has.

    >>> p = parse_resource_path("/apis/apps/v1/namespaces/web/deployments/nginx/scale")
    >>> (p.info.kind, p.namespace, p.name, p.subresource)
    ('Deployment', 'web', 'nginx', 'scale')
    """
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    watch = bool(rest) and rest[0] == "watch"
    if watch:
        rest = rest[1:]
    if not rest:
        if watch:
            raise _not_found_resource()
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        inner = discovery.find_resource(group, version, rest[2])
        if (inner is not None and inner.namespaced) or (not group and rest[2] == "bindings"):
            namespace, rest = rest[1], rest[2:]
    if len(rest) > 3 and rest[2] != "proxy":  # proxy/ takes the rest of the path
        raise _not_found_resource()
    resource = rest[0]
    info = discovery.find_resource(group, version, resource)
    if info is None and not group and resource == "bindings" and namespace:
        info = discovery.find_resource("", "v1", "pods")
    if info is None:
        raise _not_found_resource()
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if resource == "bindings" and (name or sub or watch):
        raise _not_found_resource()
    if info.namespaced and name and not namespace:
        raise _not_found_resource()
    if sub is not None and sub not in {s.name for s in discovery.SUBRESOURCES.get(info.kind, [])}:
        raise _not_found_resource()
    return ResourcePath(info, resource, namespace, name, sub, watch)


# -- bodies -------------------------------------------------------------------------


def _decode_body(raw: bytes, content_type: str) -> Any:
    """The request body as data: JSON, YAML for YAML media types, protobuf's object."""
    if not raw.strip():
        raise errors.bad_request("the body of the request was empty")
    if content_type in ("application/yaml", "application/x-yaml", "text/yaml", APPLY_PATCH):
        try:
            data = yaml.safe_load(raw)
        except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: a 5,000-digit integer
            raise errors.bad_request(f"error decoding YAML: {type(exc).__name__}: {exc}"[:1024]) from None
        _check_expansion(data)
        data = _yaml_keys_as_json(data)
        bodies.check_body(data)
        return data
    if content_type == PROTOBUF:
        return protobufmedia.decode_body(raw)
    if content_type not in ("", JSON, "text/plain", *PATCH_TYPES):
        raise _status(
            415,
            f'the body of the request was in an unknown format - accepted media types include: '
            f'application/json, application/yaml (got "{content_type}")',
        )
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}"[:1024]) from None
    bodies.check_body(data)
    return data


def _yaml_keys_as_json(data: Any) -> Any:
    """YAML map keys that are not strings (``1:``, ``true:``, ``1.5:``) as the
    strings the apiserver's YAML-to-JSON conversion makes of them
    (sigs.k8s.io/yaml), so a YAML body reads as its JSON twin would."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key in [k for k in value if not isinstance(k, str)]:
                text = "null" if key is None else str(key).lower() if isinstance(key, bool) else str(key)
                value[text] = value.pop(key)
            stack.extend(v for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend(v for v in value if isinstance(v, (dict, list)))
    return data


_MAX_YAML_NODES = 1_000_000


def _check_expansion(data: Any) -> None:
    """Refuse YAML whose aliases expand into more than :data:`_MAX_YAML_NODES`
    values (a "billion laughs" body is small until something copies it)."""
    budget = _MAX_YAML_NODES
    stack = [data]
    while stack:
        value = stack.pop()
        budget -= 1
        if budget < 0:
            raise errors.bad_request(f"the YAML body expands to more than {_MAX_YAML_NODES} values")
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _drop_path(obj: Any, path: str) -> None:
    """Remove the field at ``path`` (``spec.template.spec.containers[0].imagePullPolice``)."""
    steps: list[str | int] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        if name:
            steps.append(name)
        for index in rest.rstrip("]").split("][") if rest else []:
            if not index.isdigit():  # a key with "[" in it: left in place, for validation to refuse
                return
            steps.append(int(index))
    if not steps:  # the empty key "" at the top
        steps = [path]
    for step in steps[:-1]:
        try:
            obj = obj[step]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(obj, dict) and isinstance(steps[-1], str):
        obj.pop(steps[-1], None)


def apply_field_validation(body: Any, info: KindInfo, directive: str | None) -> list[str]:
    """Honour ``fieldValidation`` on a create or update body: ``Strict`` leaves
    unknown fields for kemu to reject; ``Warn`` (the default) and ``Ignore``
    drop them. Returns the warnings to send (``Warn`` only)."""
    directive = directive or "Warn"
    if directive not in ("Ignore", "Warn", "Strict"):
        raise errors.bad_request(
            f'fieldValidation: Unsupported value: "{directive}": supported values: "Ignore", "Strict", "Warn"'
        )
    top = schema.schema_for(info.kind)
    if directive == "Strict" or not isinstance(body, dict) or top is None:
        return []
    probe = {"apiVersion": info.api_version, "kind": info.kind, **body}
    unknown = schema.check(probe, top).unknown_fields
    for path in unknown:
        _drop_path(body, path)
    return [f'unknown field "{path}"' for path in unknown] if directive == "Warn" else []


def _delete_options(body: Any, query: Query) -> Obj:
    """``Client.delete``'s keyword arguments from a ``DeleteOptions`` body and the query."""
    opts: Obj = dict(body) if isinstance(body, dict) else {}
    if body is not None and not isinstance(body, dict):
        raise errors.bad_request("the body of a delete must be a DeleteOptions object")
    if opts.get("kind") not in (None, "DeleteOptions"):
        raise errors.bad_request(f"the kind in the data ({opts['kind']}) does not match the expected kind (DeleteOptions)")
    grace = query.number("gracePeriodSeconds")
    if grace is None:
        grace = opts.get("gracePeriodSeconds")
    policy = query.text("propagationPolicy") or opts.get("propagationPolicy")
    orphan = opts.get("orphanDependents")
    if query.text("orphanDependents") is not None:
        orphan = query.flag("orphanDependents")
    if policy is None and orphan is not None:
        policy = "Orphan" if orphan else "Background"
    dry_run = query.dry_run() or opts.get("dryRun") == ["All"]
    if isinstance(opts.get("dryRun"), list) and any(v != "All" for v in opts["dryRun"]):
        raise errors.bad_request(f"dryRun: Unsupported value: {opts['dryRun']!r}: supported values: \"All\"")
    preconditions = opts.get("preconditions")
    if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int)):
        raise errors.bad_request("gracePeriodSeconds must be an integer")
    return {
        "grace_period_seconds": grace,
        "propagation_policy": policy,
        "preconditions": preconditions,
        "dry_run": dry_run or None,
    }


# -- rendering ------------------------------------------------------------------------


def _strip_type(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


def render_list(listing: Obj, info: KindInfo, target: tables.MediaTarget, include_object: str | None) -> Obj:
    """A ``<Kind>List`` as the ``Accept`` header asked for it."""
    if target.kind == "Table":
        return tables.to_table(
            info.kind,
            info.api_version,
            listing["items"],
            list_meta=listing.get("metadata"),
            include_object=include_object or "Metadata",
            version=target.version,
        )
    if target.kind == "PartialObjectMetadataList":
        return tables.partial_metadata_list(listing, target.version)
    if target.kind == "PartialObjectMetadata":
        raise _status(406, "you requested PartialObjectMetadata, but the requested object is a list")
    return {**listing, "items": [_strip_type(o) for o in listing["items"]]}


def render_object(obj: Obj, info: KindInfo, target: tables.MediaTarget, include_object: str | None) -> Obj:
    """One object as the ``Accept`` header asked for it."""
    if obj.get("kind") == "Status" or target.kind is None:
        return obj
    if target.kind == "Table":
        meta = {"resourceVersion": (obj.get("metadata") or {}).get("resourceVersion", "")}
        return tables.to_table(
            info.kind, info.api_version, [obj], list_meta=meta, include_object=include_object or "Metadata",
            version=target.version,
        )
    if target.kind == "PartialObjectMetadata":
        return tables.partial_metadata(obj, target.version)
    raise _status(406, "you requested PartialObjectMetadataList, but the requested object is not a list")


def scale_of(obj: Obj) -> Obj:
    """The ``autoscaling/v1 Scale`` of a Deployment, ReplicaSet or ReplicationController."""
    meta = obj.get("metadata") or {}
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    selector = spec.get("selector")
    if obj.get("kind") == "ReplicationController":
        selector = label_selector_of(selector)  # a plain map: equality requirements
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
        },
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {
            "replicas": int(status.get("replicas") or 0),
            "selector": label_selector_string(selector),
        },
    }


# -- the application ------------------------------------------------------------------


class KubeApi:
    """The handlers; one instance per application. See the module doc."""

    config: HttpConfig
    client: Client
    caches: WatchCaches

    def __init__(self, config: HttpConfig):
        self.config = config
        self.client = Client(config.server, timeout=config.request_timeout)
        self.pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="kemu-http")
        self.caches = WatchCaches(
            self.client, self.call, heartbeat_timeout=config.heartbeat_timeout, history_size=config.watch_cache_size
        )
        self.kubelets = KubeletProxy(self.client, self.call, timeout=config.request_timeout)
        self.port_forwarder = PortForwarder(self.client, self.call)
        self.proxy = Proxy(self.client, self.call, timeout=config.request_timeout)
        self.token_key = secrets.token_bytes(32)  # signs serviceaccounts/token answers; they grant nothing
        self.metrics = MetricsApi(self.client, self.call, resolution=config.metric_resolution)
        self.backend = BackendHealth(self.client, interval=config.backend_check_interval, grace=config.backend_grace)
        self.log = get_logger()
        self._watch_tasks: set[asyncio.Task[Any]] = set()

    async def call(self, fn: Callable[[], T]) -> T:
        """Run a blocking ``Client`` call (and whatever goes with it) in the pool."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn)

    async def close(self) -> None:
        await self.backend.close()
        await self.caches.close()
        await self.kubelets.close()
        await self.proxy.close()
        await self.metrics.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    # -- middlewares ----------------------------------------------------------------

    @web.middleware
    async def errors_middleware(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        started = time.monotonic()
        try:
            response = await handler(request)
        except errors.ApiError as exc:
            response = _status_response(exc.status)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = _status_response(
                errors.status_dict(exc.status, _REASONS.get(exc.status, "Unknown"), exc.text or exc.reason)
            )
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:
            self.log.exception("request failed", method=request.method, path=request.path)
            response = _status_response(errors.internal_error(f"{type(exc).__name__}: {exc}").status)
        self.log.debug(
            "request",
            method=request.method,
            path=request.path_qs,
            code=response.status,
            ms=round((time.monotonic() - started) * 1000, 1),
        )
        return response

    @web.middleware
    async def auth_middleware(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        token = self.config.token
        if token and not any(request.path == p or request.path.startswith(p + "/") for p in PUBLIC_PATHS):
            scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), token.encode()):
                return _status_response(errors.status_dict(401, "Unauthorized", "Unauthorized"))
        return await handler(request)

    # -- dispatch --------------------------------------------------------------------

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        """Route one request by its URL; see :func:`parse_resource_path`."""
        path = request.path.rstrip("/") or "/"
        simple = self._simple_routes().get(path)
        if simple is not None:
            self._only_get(request)
            return await simple(request)
        if path.startswith("/openapi/"):
            self._only_get(request)
            return self._openapi(request, path)
        if path == METRICS_PREFIX or path.startswith(METRICS_PREFIX + "/"):
            self._backend_needed()
            return await self.metrics.handle(request, path)
        rp = parse_resource_path(path)
        if rp is None:
            self._only_get(request)
            return self._discovery(path)
        self._backend_needed()
        return await self._resource(request, rp)

    def _backend_needed(self) -> None:
        """A request the apiserver must answer gets ``503`` at once while it does not."""
        if not self.backend.available:
            raise self.backend.unavailable()

    def _simple_routes(self) -> dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]:
        return {
            "/version": self.version,
            "/healthz": self.healthz,
            "/livez": self.healthz,
            "/readyz": self.readyz,
            "/api": self.api_root,
            "/apis": self.apis_root,
        }

    @staticmethod
    def _only_get(request: web.Request) -> None:
        if request.method not in ("GET", "HEAD"):
            raise _status(405, f"the server does not allow this method on the requested resource ({request.method})")

    # -- discovery ---------------------------------------------------------------------

    async def version(self, request: web.Request) -> web.StreamResponse:
        return _json_response(discovery.version_info())

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        """``/healthz`` and ``/livez``: the front door itself runs, whatever its apiserver does."""
        name = request.path.strip("/")
        code, body = health_report(name, [Check("ping")], verbose="verbose" in request.query)
        return web.Response(text=body, status=code, content_type="text/plain")

    async def readyz(self, request: web.Request) -> web.StreamResponse:
        """Ready when the apiserver answers (kube-apiserver's format: :func:`~apiserver.http.backend.health_report`)."""
        check = self.backend.check()
        if check.error is None and not self.backend.confirmed:  # not pinged yet: ask now
            try:
                await self.call(lambda: self.client.ping(timeout=1.0))
            except errors.ApiError as exc:
                check = Check("apiserver", exc.message)
        if check.error is not None:
            self.log.info("readyz check failed", check=check.name, error=check.error)
        code, body = health_report(
            "readyz", [Check("ping"), check], verbose="verbose" in request.query, exclude=request.query.getall("exclude", [])
        )
        return web.Response(text=body, status=code, content_type="text/plain")

    @staticmethod
    def _aggregated_type(request: web.Request) -> str | None:
        """The aggregated discovery media type the client accepts, if any."""
        for part in request.headers.get("Accept", "").split(","):
            media, params = tables.parse_media_type(part)
            if (
                media == JSON
                and params.get("g") == "apidiscovery.k8s.io"
                and params.get("as") == "APIGroupDiscoveryList"
                and params.get("v") in ("v2", "v2beta1")
            ):
                return params["v"]
        return None

    async def api_root(self, request: web.Request) -> web.StreamResponse:
        version = self._aggregated_type(request)
        if version:
            return self._aggregated(discovery.aggregated_discovery(core=True, version=version), version)
        return _json_response(discovery.legacy_api_versions(self.config.advertise_address))

    async def apis_root(self, request: web.Request) -> web.StreamResponse:
        version = self._aggregated_type(request)
        if version:
            return self._aggregated(discovery.aggregated_discovery(core=False, version=version), version)
        return _json_response(discovery.legacy_api_group_list())

    @staticmethod
    def _aggregated(doc: Obj, version: str) -> web.StreamResponse:
        media = discovery.AGGREGATED_V2_CONTENT_TYPE if version == "v2" else discovery.AGGREGATED_V2BETA1_CONTENT_TYPE
        response = web.Response(body=discovery.encode(doc), status=200)
        response.headers["Content-Type"] = media
        return response

    def _discovery(self, path: str) -> web.StreamResponse:
        parts = [p for p in path.split("/") if p]
        doc: Obj | None = None
        if parts == ["api", "v1"]:
            doc = discovery.legacy_resource_list("", "v1")
        elif len(parts) == 2 and parts[0] == "apis":
            doc = discovery.legacy_api_group(parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            doc = discovery.legacy_resource_list(parts[1], parts[2])
        if doc is None:
            raise _not_found_resource()
        return _json_response(doc)

    def _openapi(self, request: web.Request, path: str) -> web.StreamResponse:
        if path == "/openapi/v2":
            accept = request.headers.get("Accept", "")
            if accept and not any(
                tables.parse_media_type(p)[0] in (JSON, "*/*", "application/*") for p in accept.split(",")
            ):
                raise _status(406, "only application/json is served for /openapi/v2", "NotAcceptable")
            return _json_response(discovery.openapi_v2())
        if path == "/openapi/v3":
            return _json_response(discovery.openapi_v3_index())
        rest = path.removeprefix("/openapi/v3/").split("/")
        doc = None
        if rest[:1] == ["api"] and len(rest) == 2:
            doc = discovery.openapi_v3_document("", rest[1])
        elif rest[:1] == ["apis"] and len(rest) == 3:
            doc = discovery.openapi_v3_document(rest[1], rest[2])
        if doc is None:
            raise _not_found_resource()
        return _json_response(doc)

    # -- resources ---------------------------------------------------------------------

    async def _resource(self, request: web.Request, rp: ResourcePath) -> web.StreamResponse:
        # HEAD is GET without the body (aiohttp leaves the body out), as net/http serves it.
        method, sub, query = ("GET" if request.method == "HEAD" else request.method), rp.subresource, Query(request.query)
        if rp.resource == "bindings":
            if method != "POST":
                raise _status(405, "only POST is allowed on bindings")
            return await self.bind(request, rp, query)
        if sub == "proxy" and rp.name is not None and not rp.watch:  # before watch: ?watch= is the backend's
            return await self.proxy.serve(request, rp.info.kind, rp.namespace, rp.name)
        if rp.info.verbs is not None and (method != "POST" or rp.name is not None or rp.watch):
            raise _status(405, f"the server does not allow this method on the requested resource ({method})")
        if sub == "token":
            if method != "POST":
                raise _status(405, f"the server does not allow this method on serviceaccounts/token ({method})")
            return await self.token_request(request, rp, query)
        if rp.watch or (method == "GET" and query.flag("watch")):
            if method != "GET" or sub is not None:
                raise _status(405, "watch takes GET on a collection or an object")
            return await self.watch(request, rp, query)
        if sub in ("log", "exec", "attach"):
            return await self.kubelet_subresource(request, rp, query)
        if sub == "portforward" and rp.name is not None and rp.namespace is not None:
            return await self.port_forwarder.serve(request, rp.namespace, rp.name)
        if sub == "scale":
            return await self.scale(request, rp, query)
        if sub in ("binding", "eviction"):
            if method != "POST":
                raise _status(405, f"only POST is allowed on pods/{sub}")
            return await (self.bind(request, rp, query) if sub == "binding" else self.evict(request, rp, query))
        handlers: dict[tuple[str, bool], Callable[[web.Request, ResourcePath, Query], Awaitable[web.StreamResponse]]] = {
            ("GET", False): self.list_collection,
            ("GET", True): self.get_object,
            ("POST", False): self.create,
            ("PUT", True): self.update,
            ("PATCH", True): self.patch,
            ("DELETE", True): self.delete,
            ("DELETE", False): self.delete_collection,
        }
        handler = handlers.get((method, rp.name is not None))
        if handler is None or (sub is not None and method in ("POST", "DELETE")):
            raise _status(405, f"the server does not allow this method on the requested resource ({method})")
        return await handler(request, rp, query)

    def _selectors(self, rp: ResourcePath, query: Query) -> tuple[selectors.LabelSelector, selectors.FieldSelector]:
        try:
            labels = selectors.LabelSelector.parse(query.text("labelSelector") or "")
            fields = selectors.FieldSelector.parse(query.text("fieldSelector") or "").validate(rp.info.kind)
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
        return labels, fields

    async def list_collection(self, request: web.Request, rp: ResourcePath, query: Query) -> web.StreamResponse:
        target = tables.parse_accept(request.headers.get("Accept"))
        self._selectors(rp, query)  # a bad selector is a 400 before any call
        include = query.text("includeObject")
        limit = query.number("limit")

        options: dict[str, Any] = {
            "label_selector": query.text("labelSelector") or None,
            "field_selector": query.text("fieldSelector") or None,
            "limit": limit if limit and limit > 0 else None,
            "continue": query.text("continue") or None,
        }

        def work() -> bytes:
            if options["limit"] is None and options["continue"] is None:  # all of it, however big
                listing = self.client.list_all(rp.info.kind, rp.namespace, label_selector=options["label_selector"],
                                               field_selector=options["field_selector"])
            else:
                listing = self.client.call("list", rp.info.kind, rp.namespace, **options)
            return discovery.encode(render_list(listing, rp.info, target, include))

        return _json_response(await self.call(work))

    async def get_object(self, request: web.Request, rp: ResourcePath, query: Query) -> web.StreamResponse:
        target = tables.parse_accept(request.headers.get("Accept"))
        obj = await self.call(lambda: self.client.call("get", rp.info.kind, rp.namespace, rp.name))
        return _json_response(render_object(obj, rp.info, target, query.text("includeObject")))

    async def _read_body(self, request: web.Request) -> Any:
        return await self._decode(await request.read(), _media_type(request))

    async def _optional_body(self, request: web.Request) -> Any:
        """The body when there is one (a DELETE's DeleteOptions), else None."""
        raw = await request.read() if request.body_exists else b""
        return await self._decode(raw, _media_type(request)) if raw.strip() else None

    async def _decode(self, raw: bytes, media: str) -> Any:
        """Protobuf is decoded in Python, in the pool: a large body must not hold the loop."""
        if media == PROTOBUF:
            return await self.call(lambda: _decode_body(raw, media))
        return _decode_body(raw, media)

    async def create(self, request: web.Request, rp: ResourcePath, query: Query) -> web.StreamResponse:
        if rp.info.namespaced and not rp.namespace:
            raise _status(405, f"create of {rp.info.plural} needs a namespace in the URL")
        target = tables.parse_accept(request.headers.get("Accept"))
        body = await self._read_body(request)
        warnings = apply_field_validation(body, rp.info, query.text("fieldValidation"))
        dry_run = query.dry_run()
        obj = await self.call(
            lambda: self.client.call("create", rp.info.kind, rp.namespace, None, body, dry_run=dry_run or None)
        )
        return _json_response(render_object(obj, rp.info, target, None), 201, _warning_headers(warnings))

    async def update(self, request: web.Request, rp: ResourcePath, query: Query) -> web.StreamResponse:
        if rp.subresource not in (None, "status"):
            raise _status(405, f"PUT is not allowed on {rp.subresource}")
        target = tables.parse_accept(request.headers.get("Accept"))
        body = await self._read_body(request)
        warnings = apply_field_validation(body, rp.info, query.text("fieldValidation"))
        op: wire.Op = "update_status" if rp.subresource == "status" else "update"
        dry_run = query.dry_run()
        obj = await self.call(
            lambda: self.client.call(op, rp.info.kind, rp.namespace, rp.name, body, dry_run=dry_run or None)
        )
        return _json_response(render_object(obj, rp.info, target, None), 200, _warning_headers(warnings))

    async def patch(self, request: web.Request, rp: ResourcePath, query: Query) -> web.StreamResponse:
        target = tables.parse_accept(request.headers.get("Accept"))
        media = _media_type(request)
        if media == APPLY_PATCH:
            return await self.apply(request, rp, query, target)
        patch_type = PATCH_TYPES.get(media)
        if patch_type is None:
            raise _status(
                415,
                "the body of the request was in an unknown format - accepted media types include: "
                + ", ".join([*PATCH_TYPES, APPLY_PATCH]),
            )
        body = await self._read_body(request)
        dry_run = query.dry_run()
        obj = await self.call(
            lambda: self.client.call(
                "patch", rp.info.kind, rp.namespace, rp.name, body,
                patch_type=patch_type, subresource=rp.subresource, dry_run=dry_run or None,
            )
        )
        return _json_response(render_object(obj, rp.info, target, None))

    async def apply(
        self, request: web.Request, rp: ResourcePath, query: Query, target: tables.MediaTarget
    ) -> web.StreamResponse:
        """Server-side apply, approximated: create the object from the applied
        configuration, or strategic-merge the configuration into it. Field
        ownership (``managedFields``) is not tracked, so a field dropped from
        the configuration is left as it is rather than removed."""
        body = await self._read_body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("an apply patch must be an object")
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict) or meta.get("name", rp.name) != rp.name:
            raise errors.bad_request("the name of the object does not match the name on the URL")
        meta.pop("managedFields", None)
        dry_run = query.dry_run() or None

        def work() -> tuple[int, Obj]:
            try:
                return 200, self.client.call(
                    "patch", rp.info.kind, rp.namespace, rp.name, body,
                    patch_type="strategic", subresource=rp.subresource, dry_run=dry_run,
                )
            except errors.ApiError as exc:
                if exc.code != 404 or rp.subresource is not None or exc.status.get("details", {}).get("name") != rp.name:
                    raise
            created = {**body, "metadata": {**meta, "name": rp.name}}
            return 201, self.client.call("create", rp.info.kind, rp.namespace, None, created, dry_run=dry_run)

        code, obj = await self.call(work)
        return _json_response(render_object(obj, rp.info, target, None), code)

    async def delete(self, request: web.Request, rp: ResourcePath, query: Query) -> web.StreamResponse:
        options = _delete_options(await self._optional_body(request), query)
        obj = await self.call(lambda: self.client.call("delete", rp.info.kind, rp.namespace, rp.name, **options))
        return _json_response(_deleted(rp.info, obj))

    async def delete_collection(self, request: web.Request, rp: ResourcePath, query: Query) -> web.StreamResponse:
        options = _delete_options(await self._optional_body(request), query)
        self._selectors(rp, query)

        def work() -> bytes:
            listing = self.client.list_all(
                rp.info.kind, rp.namespace,
                label_selector=query.text("labelSelector") or None, field_selector=query.text("fieldSelector") or None,
            )
            deleted = []
            for item in listing["items"]:
                meta = item["metadata"]
                try:
                    deleted.append(
                        self.client.call("delete", rp.info.kind, meta.get("namespace"), meta["name"], **options)
                    )
                except errors.ApiError as exc:
                    if exc.code != 404:
                        raise
            return discovery.encode({**listing, "items": [_strip_type(o) for o in deleted]})

        return _json_response(await self.call(work))

    # -- subresources ----------------------------------------------------------------

    async def scale(self, request: web.Request, rp: ResourcePath, query: Query) -> web.StreamResponse:
        """``deployments/scale``, ``replicasets/scale`` and ``replicationcontrollers/scale``
        as ``autoscaling/v1 Scale``."""
        method, dry_run = request.method, query.dry_run() or None
        kind, ns, name = rp.info.kind, rp.namespace, rp.name
        if method == "GET":
            return _json_response(scale_of(await self.call(lambda: self.client.call("get", kind, ns, name))))
        if method not in ("PUT", "PATCH"):
            raise _status(405, f"the server does not allow this method on scale ({method})")
        body = await self._read_body(request)
        patch_type = PATCH_TYPES.get(_media_type(request)) if method == "PATCH" else None
        if method == "PATCH" and patch_type is None:
            raise _status(415, "scale takes application/merge-patch+json, strategic-merge-patch+json or json-patch+json")

        def work() -> Obj:
            for _attempt in range(5):
                current = self.client.call("get", kind, ns, name)
                wanted = _scaled(scale_of(current), body, patch_type)
                replicas = (wanted.get("spec") or {}).get("replicas")
                rv = (wanted.get("metadata") or {}).get("resourceVersion") or current["metadata"]["resourceVersion"]
                change = {"metadata": {"resourceVersion": rv}, "spec": {"replicas": replicas}}
                try:
                    scaled: Obj = self.client.call("patch", kind, ns, name, change, patch_type="merge", dry_run=dry_run)
                    return scaled
                except errors.ApiError as exc:
                    asked_rv = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
                    if exc.code != 409 or asked_rv:
                        raise
            raise errors.conflict(kind, str(name), "the object kept changing; please try again")

        return _json_response(scale_of(await self.call(work)))

    async def bind(self, request: web.Request, rp: ResourcePath, query: Query) -> web.StreamResponse:
        """``pods/binding`` (and the ``bindings`` resource): assign a pod to a node."""
        body = await self._read_body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("a Binding must be an object")
        name = rp.name or (body.get("metadata") or {}).get("name")
        if not name:
            raise errors.bad_request("a Binding needs metadata.name (the pod)")
        await self.call(lambda: self.client.call("bind", "Pod", rp.namespace, name, body))
        return _json_response(_success(201), 201)

    async def evict(self, request: web.Request, rp: ResourcePath, query: Query) -> web.StreamResponse:
        """``pods/eviction``: mark the pod and delete it with the eviction's
        DeleteOptions (:mod:`apiserver.http.eviction`)."""
        if rp.info.kind != "Pod" or rp.name is None or rp.namespace is None:
            raise _status(404, "the server could not find the requested resource")
        body = await self._read_body(request)
        eviction.check_eviction(body, rp.name)
        options = _delete_options(body.get("deleteOptions"), query)
        ns, name = rp.namespace, rp.name
        await self.call(lambda: eviction.evict(self.client, ns, name, options, now=time.time()))
        return _json_response(_success(201), 201)

    async def token_request(self, request: web.Request, rp: ResourcePath, query: Query) -> web.StreamResponse:
        """``serviceaccounts/<name>/token`` (``kubectl create token``): a
        ``TokenRequest`` answered with a signed token (:func:`kemu.api.reviews.issue_token`)."""
        body = await self._read_body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("a TokenRequest must be an object")
        problems = schema.check({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", **body}, TOKEN_REQUEST)
        if problems.type_error or problems.unknown_fields:
            detail = problems.type_error or "strict decoding error: " + ", ".join(
                f'unknown field "{p}"' for p in problems.unknown_fields
            )
            raise errors.bad_request(f'TokenRequest in version "v1" cannot be handled as a TokenRequest: {detail}')
        sa = await self.call(lambda: self.client.call("get", "ServiceAccount", rp.namespace, rp.name))
        answer = reviews.issue_token(sa, body, now=time.time(), key=self.token_key)
        return _json_response(answer, 201)

    async def kubelet_subresource(self, request: web.Request, rp: ResourcePath, query: Query) -> web.StreamResponse:
        """``pods/log`` and ``pods/exec``, proxied to the pod's kubelet (:mod:`apiserver.http.kubeletproxy`)."""
        if rp.info.kind != "Pod" or rp.name is None or rp.namespace is None:
            raise _not_found_resource()
        if rp.subresource == "log":
            if request.method not in ("GET", "HEAD"):
                raise _status(405, f"the server does not allow this method on pods/log ({request.method})")
            return await self.kubelets.logs(request, rp.namespace, rp.name, query)
        if rp.subresource == "attach":
            return await self.kubelets.attach(request, rp.namespace, rp.name, query)
        return await self.kubelets.exec(request, rp.namespace, rp.name, query)

    # -- watch ----------------------------------------------------------------------

    async def watch(self, request: web.Request, rp: ResourcePath, query: Query) -> web.StreamResponse:
        """A chunked stream of ``{"type": ..., "object": ...}`` lines."""
        target = tables.parse_accept(request.headers.get("Accept"))
        if target.kind not in (None, "Table"):
            raise _status(406, f"a watch cannot be served as {target.kind}")
        labels, fields = self._selectors(rp, query)
        if rp.name:
            name_term = selectors.FieldSelector.from_fields({"metadata.name": rp.name})
            fields = selectors.FieldSelector(tuple(sorted((*fields.requirements, *name_term.requirements), key=str)))
        options = WatchOptions(
            namespace=rp.namespace,
            label_selector=labels,
            field_selector=fields,
            resource_version=query.text("resourceVersion"),
            send_initial_events=query.flag("sendInitialEvents"),
            allow_bookmarks=query.flag("allowWatchBookmarks"),
        )
        timeout = query.number("timeoutSeconds")
        if timeout is None or timeout == 0:
            timeout = int(self.config.min_request_timeout * (1 + random.random()))
        # A negative timeout ends the watch at once, as Go's timer does in the apiserver.
        include = query.text("includeObject") or "Metadata"
        if target.kind == "Table":
            tables.to_table(rp.info.kind, rp.info.api_version, [], include_object=include)  # validates includeObject
        cache = self.caches.get(rp.info)
        watcher = await cache.watch(options)
        response = web.StreamResponse(status=200, headers={"Content-Type": JSON, "Cache-Control": "no-cache, private"})
        response.enable_chunked_encoding()
        first = True
        try:
            await response.prepare(request)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while (remaining := deadline - loop.time()) > 0:
                item = await watcher.next(min(remaining, self.config.bookmark_interval))
                if item is END:
                    break
                if item is None:
                    if options.allow_bookmarks and not watcher.holding:
                        watcher.bookmark(max(watcher.cursor, cache.rv))
                    continue
                etype, obj = item
                if target.kind == "Table" and etype not in ("ERROR", "BOOKMARK"):
                    meta = {"resourceVersion": obj.get("metadata", {}).get("resourceVersion", "")}
                    obj = tables.to_table(
                        rp.info.kind, rp.info.api_version, [obj], list_meta=meta, include_object=include,
                        no_headers=not first, version=target.version,
                    )
                    first = False
                event: WatchEventBody = {"type": etype, "object": obj}
                await response.write(discovery.encode(event) + b"\n")
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass  # the client went away
        finally:
            cache.stop_watching(watcher)
        return response


def _media_type(request: web.Request) -> str:
    """The body's media type, lower-cased, without parameters; "" when the
    client sent no ``Content-Type`` (the apiserver then reads JSON)."""
    return request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _warning_headers(warnings: list[str]) -> CIMultiDict[str] | None:
    if not warnings:
        return None
    headers: CIMultiDict[str] = CIMultiDict()
    for text in warnings:
        headers.add("Warning", '299 - "' + _quoted_string_text(text) + '"')
    return headers


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _quoted_string_text(text: str) -> str:
    """``text`` made fit for a header's quoted-string: backslash and quote
    escaped, and control characters (a field name of a hostile body may
    hold any) written as ``\\uXXXX``, as in the JSON they came from. A raw
    CR or LF would be a header injection, and aiohttp rightly refuses to
    send it: the whole response would be lost."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _scaled(scale: Obj, body: Any, patch_type: str | None) -> Obj:
    """The Scale a PUT (``patch_type`` None) or PATCH asks for."""
    if patch_type is None:
        if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
            raise errors.bad_request("a Scale needs spec.replicas")
        return body
    try:
        if patch_type == "json":
            if not isinstance(body, list):
                raise ValueError("a JSON patch must be a list of operations")
            result = patches.json_patch(scale, body)
        else:
            if not isinstance(body, dict):
                raise ValueError("a merge patch must be a JSON object")
            result = patches.merge_patch(scale, body)
    except ValueError as exc:
        raise errors.bad_request(str(exc)) from None
    if not isinstance(result, dict):
        raise errors.bad_request("the patch did not produce a Scale")
    return result


def _deleted(info: KindInfo, obj: Obj) -> Obj:
    """What a DELETE answers: the object while its deletion is pending (and
    always for pods and services, whose registries return the deleted
    object), else a ``Success`` Status."""
    meta = obj.get("metadata") or {}
    pending = bool(meta.get("deletionTimestamp")) and (bool(meta.get("finalizers")) or info.kind == "Namespace")
    if info.kind in ("Pod", "Service") or pending:
        return obj
    return _success(200, name=meta.get("name"), group=info.group, kind=info.plural, uid=meta.get("uid"))


def create_app(config: HttpConfig) -> web.Application:
    """The aiohttp application serving the Kubernetes API for ``config``."""
    api = KubeApi(config)
    app = web.Application(
        middlewares=[protobufmedia.protobuf_middleware, api.errors_middleware, api.auth_middleware],
        client_max_size=config.max_body_bytes,
    )
    app["kube_api"] = api
    app.router.add_route("*", "/{tail:.*}", api.dispatch)

    async def on_startup(_app: web.Application) -> None:
        api.backend.start()

    async def on_shutdown(_app: web.Application) -> None:
        api.caches.close_watchers()  # end the streams, so shutdown does not wait for them

    async def on_cleanup(_app: web.Application) -> None:
        await api.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app
