"""What the HTTP front door says about itself: version, discovery, OpenAPI.

Everything here is a pure function of :data:`kemu.api.kinds.KINDS` and
:mod:`kemu.api.schema`, computed once per process and served as bytes.

Discovery comes in the two shapes clients ask for:

- the **aggregated** format (``apidiscovery.k8s.io/v2``
  ``APIGroupDiscoveryList``) that kubectl 1.26+ and client-go ask for first,
  with ``Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``
  on ``/api`` and ``/apis``: every group, version and resource in two
  requests. client-go tells the formats apart by the response's
  ``Content-Type`` parameters, so the aggregated answer must carry them;
- the **legacy** documents (``APIVersions`` at ``/api``, ``APIGroupList`` at
  ``/apis``, ``APIGroup`` at ``/apis/<group>``, ``APIResourceList`` at each
  group version) for older clients and the official Python client.

OpenAPI:

- ``/openapi/v2`` is served as JSON only. client-go asks for it in protobuf
  and cannot read JSON, so a protobuf-only ``Accept`` gets ``406``; kubectl
  takes that as "no v2 schema" and uses v3 or its built-in types instead;
- ``/openapi/v3`` lists one document per group version, and each document
  carries the schemas (for ``kubectl explain``) and one path per resource. The
  PATCH operations name the ``fieldValidation`` query parameter, which is how
  kubectl decides that the server validates fields itself (and then sends
  ``fieldValidation=Strict`` instead of validating against the v2 schema). They
  do *not* list ``application/strategic-merge-patch+json`` among the request
  bodies: kemu's schema carries no patch strategies (merge keys), and when the
  v3 document does not offer strategic merge, ``kubectl apply`` computes its
  patch from its built-in Go types, which know every merge key. The server
  accepts strategic merge patches all the same.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from apiserver.http import metrics
from kemu.api.kinds import KINDS, KindInfo
from kemu.api.schema import to_openapi_v2
from kemu.metrics import GROUP as METRICS_GROUP
from kemu.types import Obj

__all__ = [
    "AGGREGATED_V2BETA1_CONTENT_TYPE",
    "AGGREGATED_V2_CONTENT_TYPE",
    "GIT_VERSION",
    "SUBRESOURCES",
    "Subresource",
    "aggregated_discovery",
    "encode",
    "find_resource",
    "group_versions",
    "kinds_in",
    "legacy_api_group",
    "legacy_api_group_list",
    "legacy_api_versions",
    "legacy_resource_list",
    "openapi_v2",
    "openapi_v3_document",
    "openapi_v3_index",
    "version_info",
]


GIT_VERSION = "v1.32.0-kemu"
"""What ``/version`` reports: the Kubernetes API level kemu speaks."""

AGGREGATED_V2_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_NAMESPACE_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
_CATEGORY_ALL = frozenset({"Pod", "Service", "ReplicaSet", "Deployment", "ReplicationController"})
"""The kinds ``kubectl get all`` shows (the ``all`` category)."""


@dataclass(frozen=True, slots=True)
class Subresource:
    """One subresource kemu serves: ``deployments/scale`` answers with an
    ``autoscaling/v1 Scale``, ``pods/binding`` takes a ``v1 Binding``."""

    name: str
    """The path segment after the object's name (``scale``)."""
    group: str
    """API group of the kind it speaks (``autoscaling``)."""
    version: str
    kind: str
    """The kind it takes or returns (``Scale``)."""
    verbs: tuple[str, ...]
    """What discovery says may be done with it."""


def _status(info: KindInfo) -> Subresource:
    return Subresource("status", info.group, info.version, info.kind, ("get", "patch", "update"))


_SCALE = Subresource("scale", "autoscaling", "v1", "Scale", ("get", "patch", "update"))

_PROXY_VERBS = ("create", "delete", "get", "patch", "update")
"""What kube-apiserver lists for the ``*/proxy`` subresources."""
SUBRESOURCES: dict[str, list[Subresource]] = {
    info.kind: ([_status(info)] if info.has_status else []) for info in KINDS.values()
}
"""Kind -> the subresources served for it (status wherever the kind has one)."""
SUBRESOURCES["Deployment"].append(_SCALE)
SUBRESOURCES["ReplicaSet"].append(_SCALE)
SUBRESOURCES["ReplicationController"].append(_SCALE)
SUBRESOURCES["Pod"] += [
    Subresource("attach", "", "v1", "PodAttachOptions", ("create", "get")),
    Subresource("binding", "", "v1", "Binding", ("create",)),
    Subresource("eviction", "policy", "v1", "Eviction", ("create",)),
    Subresource("exec", "", "v1", "PodExecOptions", ("create", "get")),
    Subresource("log", "", "v1", "Pod", ("get",)),
    Subresource("portforward", "", "v1", "PodPortForwardOptions", ("create", "get")),
    Subresource("proxy", "", "v1", "PodProxyOptions", _PROXY_VERBS),
]
SUBRESOURCES["Service"].append(Subresource("proxy", "", "v1", "ServiceProxyOptions", _PROXY_VERBS))
SUBRESOURCES["Node"].append(Subresource("proxy", "", "v1", "NodeProxyOptions", _PROXY_VERBS))
SUBRESOURCES["ServiceAccount"].append(Subresource("token", "authentication.k8s.io", "v1", "TokenRequest", ("create",)))


def group_versions() -> list[tuple[str, str]]:
    """Every ``(group, version)`` served, the core group first."""
    seen: dict[tuple[str, str], None] = {}
    for info in sorted(KINDS.values(), key=lambda i: (i.group != "", i.group)):
        seen[(info.group, info.version)] = None
    return list(seen)


def kinds_in(group: str, version: str) -> list[KindInfo]:
    """The kinds served in one group version, by resource name."""
    return sorted(
        (i for i in KINDS.values() if i.group == group and i.version == version), key=lambda i: i.plural
    )


def find_resource(group: str, version: str, plural: str) -> KindInfo | None:
    """The kind behind ``/apis/<group>/<version>/<plural>``, or None."""
    for info in KINDS.values():
        if info.group == group and info.version == version and info.plural == plural:
            return info
    return None


def _verbs(info: KindInfo) -> list[str]:
    if info.verbs is not None:
        return list(info.verbs)  # the access reviews: create only, as the apiserver lists them
    return list(_NAMESPACE_VERBS if info.kind == "Namespace" else _VERBS)


def version_info() -> Obj:
    """``/version``: the Kubernetes level kemu emulates and what it runs on."""
    major, minor = GIT_VERSION.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": GIT_VERSION,
        "gitCommit": "kemu",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "compiler": "cpython",
        "platform": f"{platform.system().lower()}/{_arch()}",
    }


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


# -- legacy discovery ------------------------------------------------------------------


def legacy_api_versions(server_address: str) -> Obj:
    """``/api``: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_entry(group: str) -> Obj:
    versions = [{"groupVersion": f"{g}/{v}", "version": v} for g, v in group_versions() if g == group]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def legacy_api_group_list() -> Obj:
    """``/apis``: every named group."""
    groups = sorted({g for g, _ in group_versions() if g})
    entries = [_group_entry(g) for g in groups] + [metrics.api_group()]  # served by apiserver.http.metrics
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": entries}


def legacy_api_group(group: str) -> Obj | None:
    """``/apis/<group>``, or None when kemu does not serve ``group``."""
    if group == METRICS_GROUP:
        return {"kind": "APIGroup", "apiVersion": "v1", **metrics.api_group()}
    if not group or group not in {g for g, _ in group_versions()}:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group)}


def _legacy_resources(info: KindInfo) -> Iterable[Obj]:
    entry: Obj = {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": _verbs(info),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.kind in _CATEGORY_ALL:
        entry["categories"] = ["all"]
    yield entry
    for sub in SUBRESOURCES.get(info.kind, []):
        sub_entry: Obj = {
            "name": f"{info.plural}/{sub.name}",
            "singularName": "",
            "namespaced": info.namespaced,
            "kind": sub.kind,
            "verbs": list(sub.verbs),
        }
        if (sub.group, sub.version) != (info.group, info.version):
            sub_entry["group"], sub_entry["version"] = sub.group, sub.version
        yield sub_entry


def legacy_resource_list(group: str, version: str) -> Obj | None:
    """``/api/v1`` or ``/apis/<group>/<version>``: an ``APIResourceList``."""
    kinds = kinds_in(group, version)
    if not kinds:
        return None
    resources = [r for info in kinds for r in _legacy_resources(info)]
    if not group:
        resources.append(
            {"name": "bindings", "singularName": "binding", "namespaced": True, "kind": "Binding", "verbs": ["create"]}
        )
    resources.sort(key=lambda r: r["name"])
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


# -- aggregated discovery ----------------------------------------------------------------


def _aggregated_resource(info: KindInfo) -> Obj:
    entry: Obj = {
        "resource": info.plural,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular,
        "verbs": _verbs(info),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.kind in _CATEGORY_ALL:
        entry["categories"] = ["all"]
    subs = SUBRESOURCES.get(info.kind, [])
    if subs:
        entry["subresources"] = [
            {
                "subresource": sub.name,
                "responseKind": {"group": sub.group, "version": sub.version, "kind": sub.kind},
                "verbs": list(sub.verbs),
            }
            for sub in subs
        ]
    return entry


def aggregated_discovery(*, core: bool, version: str = "v2") -> Obj:
    """The ``APIGroupDiscoveryList`` of ``/api`` (``core=True``) or ``/apis``."""
    items = []
    for group in sorted({g for g, _ in group_versions() if (g == "") == core}):
        versions = []
        for g, v in group_versions():
            if g != group:
                continue
            resources = [_aggregated_resource(info) for info in kinds_in(g, v)]
            if core:
                resources.append(
                    {
                        "resource": "bindings",
                        "responseKind": {"group": "", "version": "v1", "kind": "Binding"},
                        "scope": "Namespaced",
                        "singularResource": "binding",
                        "verbs": ["create"],
                    }
                )
            resources.sort(key=lambda r: r["resource"])
            versions.append({"version": v, "resources": resources, "freshness": "Current"})
        metadata: Obj = {"creationTimestamp": None}
        if group:
            metadata["name"] = group
        items.append({"metadata": metadata, "versions": versions})
    if not core:
        items.append(metrics.aggregated_group())
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": items,
    }


# -- OpenAPI ------------------------------------------------------------------------


@cache
def openapi_v2() -> Obj:
    """The OpenAPI v2 document (definitions only, as kemu's schema gives them)."""
    doc = to_openapi_v2()
    doc["info"] = {"title": "Kubernetes", "version": GIT_VERSION}
    return doc


def _v3_refs(value: Any) -> Any:
    """A v2 schema fragment with its ``$ref``s pointing into ``components``."""
    if isinstance(value, dict):
        return {
            k: (v.replace("#/definitions/", "#/components/schemas/") if k == "$ref" and isinstance(v, str) else _v3_refs(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_v3_refs(v) for v in value]
    return value


def _definition_name(info: KindInfo) -> str | None:
    for name, body in openapi_v2()["definitions"].items():
        for gvk in body.get("x-kubernetes-group-version-kind", []):
            if (gvk["group"], gvk["version"], gvk["kind"]) == (info.group, info.version, info.kind):
                return str(name)
    return None


def _query(name: str, description: str, typ: str = "string") -> Obj:
    return {"name": name, "in": "query", "description": description, "schema": {"type": typ, "uniqueItems": True}}


_WRITE_PARAMS = [
    _query("dryRun", "When present, indicates that modifications should not be persisted (All)."),
    _query("fieldManager", "A name associated with the actor or entity that is making these changes."),
    _query("fieldValidation", "Ignore, Warn or Strict: how to treat unknown fields in the body."),
]
_PATCH_BODIES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")


def _operation(info: KindInfo, action: str, ref: str | None, *, params: list[Obj] | None = None) -> Obj:
    content = {"application/json": {"schema": {"$ref": ref}}} if ref else {"application/json": {"schema": {"type": "object"}}}
    op: Obj = {
        "operationId": f"{action}{info.kind}",
        "responses": {"200": {"description": "OK", "content": content}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": info.group, "version": info.version, "kind": info.kind},
    }
    if params:
        op["parameters"] = params
    return op


def _paths_for(info: KindInfo) -> Obj:
    prefix = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    scope = "/namespaces/{namespace}" if info.namespaced else ""
    collection = f"{prefix}{scope}/{info.plural}"
    definition = _definition_name(info)
    ref = f"#/components/schemas/{definition}" if definition else None
    body = {"content": {"application/json": {"schema": {"$ref": ref} if ref else {"type": "object"}}}, "required": True}
    patch = _operation(info, "patch", ref, params=[*_WRITE_PARAMS, _query("force", "Force apply.", "boolean")])
    patch["requestBody"] = {
        "content": {media: {"schema": {"type": "object"}} for media in _PATCH_BODIES},
        "required": True,
    }
    post = _operation(info, "post", ref, params=list(_WRITE_PARAMS))
    post["requestBody"] = body
    if info.verbs is not None:
        return {collection: {"post": post}}  # create-only (the access reviews)
    put = _operation(info, "put", ref, params=list(_WRITE_PARAMS))
    put["requestBody"] = body
    return {
        collection: {"get": _operation(info, "list", None), "post": post},
        collection + "/{name}": {
            "get": _operation(info, "get", ref),
            "put": put,
            "patch": patch,
            "delete": _operation(info, "delete", None),
        },
    }


def _v3_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


@cache
def openapi_v3_document(group: str, version: str) -> Obj | None:
    """The OpenAPI v3 document of one group version, or None."""
    kinds = kinds_in(group, version)
    if not kinds:
        return None
    paths: Obj = {}
    for info in kinds:
        paths.update(_paths_for(info))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": _v3_refs(openapi_v2()["definitions"])},
    }


@cache
def openapi_v3_index() -> Obj:
    """``/openapi/v3``: where each group version's document is, with a content
    hash so clients may cache it."""
    paths = {}
    for group, version in group_versions():
        doc = encode(openapi_v3_document(group, version))
        digest = hashlib.sha512(doc).hexdigest().upper()
        path = _v3_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def encode(obj: Any) -> bytes:
    """Compact JSON, as the apiserver writes it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str).encode()
