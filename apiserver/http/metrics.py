"""``/apis/metrics.k8s.io/v1beta1``: what metrics-server serves, for ``kubectl top``.

In a real cluster metrics-server registers ``metrics.k8s.io`` as an
aggregated API; ``kubectl top nodes`` lists ``nodes`` there and ``kubectl top
pods`` lists ``pods`` (``namespaces/NS/pods``, with ``labelSelector`` and
``fieldSelector``, or one object by name). The front door serves the same
paths itself from the scrape :mod:`kemu.metrics` does (every Ready node's
kubelet, in parallel, bounded in time, cached for ``resolution`` seconds):

- ``GET /apis/metrics.k8s.io/v1beta1``: the ``APIResourceList`` (``nodes``
  and ``pods``, verbs ``get`` and ``list``);
- ``.../nodes``, ``.../nodes/NAME``, ``.../pods``, ``.../namespaces/NS/pods``,
  ``.../namespaces/NS/pods/NAME``: ``NodeMetricsList``/``NodeMetrics`` and
  ``PodMetricsList``/``PodMetrics``, or a ``Table`` when asked;
- a node or pod that does not exist is the apiserver's ``404`` (``pods
  "x" not found``); one without figures (not Ready, its kubelet silent, a
  pod not running yet) is ``404`` ``nodemetrics.metrics.k8s.io "x" not
  found`` / ``podmetrics.metrics.k8s.io "NS/x" not found``, as with
  metrics-server; in a list it is simply missing.

Only ``GET`` is served (``405`` otherwise), as the group's verbs say.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from apiserver.http import tables
from apiserver.http.query import Query
from kemu import metrics as kmetrics
from kemu.api import errors, selectors
from kemu.client import Client
from kemu.types import Obj

__all__ = ["PREFIX", "MetricsApi", "aggregated_group", "api_group", "resource_list"]

T = TypeVar("T")

PREFIX = f"/apis/{kmetrics.GROUP}/{kmetrics.VERSION}"
_RESOURCES: list[Obj] = [
    {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
    {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
]


def resource_list() -> Obj:
    """``/apis/metrics.k8s.io/v1beta1``'s ``APIResourceList``."""
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": kmetrics.API_VERSION,
            "resources": [dict(r) for r in _RESOURCES]}


def api_group() -> Obj:
    """The group's entry in ``/apis`` (and the body of ``/apis/metrics.k8s.io``)."""
    version = {"groupVersion": kmetrics.API_VERSION, "version": kmetrics.VERSION}
    return {"name": kmetrics.GROUP, "versions": [version], "preferredVersion": version}


def aggregated_group() -> Obj:
    """The group's item in the aggregated discovery of ``/apis``."""
    resources = [
        {"resource": r["name"], "responseKind": {"group": kmetrics.GROUP, "version": kmetrics.VERSION,
                                                 "kind": r["kind"]},
         "scope": "Namespaced" if r["namespaced"] else "Cluster", "singularResource": r["name"][:-1],
         "verbs": list(r["verbs"])}
        for r in _RESOURCES
    ]
    return {"metadata": {"name": kmetrics.GROUP, "creationTimestamp": None},
            "versions": [{"version": kmetrics.VERSION, "resources": resources, "freshness": "Current"}]}


def _json(body: Obj) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), content_type="application/json")


def _table(kind: str, items: list[Obj], target: tables.MediaTarget) -> Obj:
    """``kubectl get podmetrics`` as metrics-server's table: Name, CPU, Memory, Window."""
    columns = [{"name": n, "type": "string", "format": "name" if n == "Name" else "", "description": "",
                "priority": 0} for n in ("Name", "CPU", "Memory", "Window")]
    rows = []
    for item in items:
        cpu, memory = kmetrics.usage_totals(item)
        rows.append({"cells": [item["metadata"]["name"], cpu, memory, item.get("window") or ""],
                     "object": tables.partial_metadata(item, target.version)})
    return {"kind": "Table", "apiVersion": f"meta.k8s.io/{target.version}", "metadata": {},
            "columnDefinitions": columns, "rows": rows}


class MetricsApi:
    """Serves ``metrics.k8s.io`` for one front door; see the module doc."""

    def __init__(self, client: Client, call: Callable[[Callable[[], Any]], Awaitable[Any]], *,
                 resolution: float = kmetrics.DEFAULT_RESOLUTION, timeout: float = kmetrics.DEFAULT_SCRAPE_TIMEOUT):
        self.client = client
        self._call = call
        self.scraper = kmetrics.Scraper(self._nodes, resolution=resolution, timeout=timeout)

    def _nodes(self) -> list[Obj]:
        return list(self.client.list("Node").get("items") or [])

    async def close(self) -> None:
        self.scraper.close()

    async def _scrape(self) -> list[kmetrics.NodeStats]:
        # The scrape blocks (kubelet calls); on its own thread so it does not
        # hold one of the pool's, which the kubelet calls' Node read needs.
        return await asyncio.get_running_loop().run_in_executor(None, self.scraper.scrape)

    async def _exists(self, resource: str, namespace: str | None, name: str) -> None:
        """Raise the apiserver's ``nodes "x" not found`` / ``pods "x" not found``
        when the object itself is missing (metrics-server reads it first)."""
        if resource == "nodes":
            await self._call(lambda: self.client.get("Node", name))
        else:
            await self._call(lambda: self.client.get("Pod", name, namespace))

    async def handle(self, request: web.Request, path: str) -> web.StreamResponse:
        """Serve ``path`` (under :data:`PREFIX`, trailing slash removed)."""
        parts = [p for p in path[len(PREFIX):].split("/") if p]
        if request.method != "GET":
            raise errors.ApiError(errors.status_dict(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"))
        if not parts:
            return _json(resource_list())
        namespace: str | None = None
        if parts[0] == "namespaces" and len(parts) >= 3:
            namespace, parts = parts[1], parts[2:]
        if (not parts or parts[0] not in ("nodes", "pods") or len(parts) > 2 or (parts[0] == "nodes" and namespace)
                or (parts[0] == "pods" and len(parts) == 2 and namespace is None)):
            raise errors.ApiError(errors.status_dict(404, "NotFound", "the server could not find the requested resource"))
        resource, name = parts[0], parts[1] if len(parts) == 2 else None
        target = tables.parse_accept(request.headers.get("Accept"))
        query = Query(request.query)
        kind = "NodeMetrics" if resource == "nodes" else "PodMetrics"
        try:
            labels = selectors.LabelSelector.parse(query.text("labelSelector") or "")
            fields = selectors.FieldSelector.parse(query.text("fieldSelector") or "").validate(kind)
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
        scraped = await self._scrape()
        if resource == "nodes":
            items = [kmetrics.node_metrics(s) for s in scraped]
        else:
            items = [m for s in scraped for m in kmetrics.pod_metrics(s)]
            if namespace is not None:
                items = [m for m in items if m["metadata"]["namespace"] == namespace]
        if name is not None:
            found = next((m for m in items if m["metadata"]["name"] == name), None)
            if found is None:
                await self._exists(resource, namespace, name)
                shown = name if resource == "nodes" else f"{namespace}/{name}"
                raise errors.ApiError(errors.status_dict(
                    404, "NotFound", f'{resource[:-1]}metrics.{kmetrics.GROUP} "{shown}" not found',
                    name=shown, group=kmetrics.GROUP, kind=resource))
            return _json(_table(kind, [found], target) if target.kind == "Table" else found)
        items = [m for m in items if labels.matches(m["metadata"].get("labels"))
                 and fields.matches(m, kind=kind)]
        items.sort(key=lambda m: (m["metadata"].get("namespace", ""), m["metadata"]["name"]))
        if target.kind == "Table":
            return _json(_table(kind, items, target))
        return _json({"kind": f"{kind}List", "apiVersion": kmetrics.API_VERSION,
                      "metadata": {}, "items": items})
