"""Server-side printing: ``meta.k8s.io/v1 Table`` and ``PartialObjectMetadata``.

``kubectl get`` asks for its rows with
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints whatever
columns the server defines, so ``kubectl get pods`` shows kemu's columns
without kubectl knowing anything about them. The cells come from
:mod:`kemu.cli.printers` (``kemu get`` prints the very same rows).

A Table holds every column ``-o wide`` shows; the ones plain ``get`` hides
have ``priority: 1``. ``NAMESPACE`` is not a column: kubectl adds it for
``-A`` from each row's ``object`` (the row's ``PartialObjectMetadata``).
In a watch, only the first Table carries ``columnDefinitions``; later ones
leave them out, as the apiserver's watch encoder does.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kemu.api import errors
from kemu.cli.printers import table_columns, table_row
from kemu.types import Obj

__all__ = [
    "MediaTarget",
    "column_definitions",
    "parse_accept",
    "parse_media_type",
    "partial_metadata",
    "partial_metadata_list",
    "to_table",
]


_META_GROUP = "meta.k8s.io"
_ACRONYMS = {"Ip": "IP", "Os": "OS", "Ip(S)": "IP(S)"}


@dataclass(frozen=True, slots=True)
class MediaTarget:
    """What the ``Accept`` header asks the response to be converted to."""

    kind: str | None
    """``Table``, ``PartialObjectMetadata``, ``PartialObjectMetadataList``, or
    None for the object itself."""
    version: str = "v1"
    """``v1`` or ``v1beta1`` of ``meta.k8s.io``."""


def parse_media_type(part: str) -> tuple[str, dict[str, str]]:
    """``("application/json", {"as": "Table", ...})`` from one media range of
    an ``Accept`` or ``Content-Type`` header (type lower-cased)."""
    media, *raw = (p.strip() for p in part.split(";"))
    params = {}
    for item in raw:
        key, _, value = item.partition("=")
        params[key.strip().lower()] = value.strip()
    return media.lower(), params


def parse_accept(accept: str | None) -> MediaTarget:
    """The first conversion in ``accept`` that kemu can produce.

    ``application/json;as=Table;v=v1;g=meta.k8s.io`` gives a Table; a plain
    ``application/json``, ``*/*`` or nothing gives the object. Raises a ``406
    NotAcceptable`` :class:`~kemu.api.errors.ApiError` when nothing offered is
    JSON (protobuf only, for instance).
    """
    if not accept:
        return MediaTarget(None)
    for part in accept.split(","):
        media, params = parse_media_type(part)
        if media not in ("application/json", "*/*", "application/*"):
            continue
        target = params.get("as")
        if target is None:
            return MediaTarget(None)
        if (
            params.get("g") == _META_GROUP
            and params.get("v") in ("v1", "v1beta1")
            and target in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList")
        ):
            return MediaTarget(target, params["v"])
    raise errors.ApiError(
        errors.status_dict(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, "
            "application/json;as=Table;v=v1;g=meta.k8s.io",
        )
    )


def _title(header: str) -> str:
    """``NOMINATED NODE`` -> ``Nominated Node``, ``CLUSTER-IP`` -> ``Cluster-IP``."""
    words = []
    for word in header.split(" "):
        parts = [_ACRONYMS.get(p.capitalize(), p.capitalize()) for p in word.split("-")]
        words.append("-".join(parts))
    return " ".join(words)


def column_definitions(kind: str) -> list[Obj]:
    """Every column of ``kind``'s table; the ``-o wide`` ones have priority 1."""
    narrow = set(table_columns(kind, False))
    return [
        {
            "name": _title(header),
            "type": "string",
            "format": "name" if header == "NAME" else "",
            "description": "",
            "priority": 0 if header in narrow else 1,
        }
        for header in table_columns(kind, True)
    ]


def partial_metadata(obj: Mapping[str, Any], version: str = "v1") -> Obj:
    """The object's ``PartialObjectMetadata`` (its metadata, nothing else)."""
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": f"{_META_GROUP}/{version}",
        "metadata": dict(obj.get("metadata") or {}),
    }


def partial_metadata_list(listing: Mapping[str, Any], version: str = "v1") -> Obj:
    """A list's ``PartialObjectMetadataList``."""
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": f"{_META_GROUP}/{version}",
        "metadata": dict(listing.get("metadata") or {}),
        "items": [partial_metadata(o, version) for o in listing.get("items", [])],
    }


def _row_object(obj: Mapping[str, Any], include: str, version: str, api_version: str, kind: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return {"apiVersion": api_version, "kind": kind, **obj}
    return partial_metadata(obj, version)


def to_table(
    kind: str,
    api_version: str,
    objects: Sequence[Mapping[str, Any]],
    *,
    list_meta: Mapping[str, Any] | None = None,
    include_object: str = "Metadata",
    no_headers: bool = False,
    version: str = "v1",
    now: float | None = None,
) -> Obj:
    """A ``Table`` of ``objects`` (all of ``kind``), as ``kubectl get`` wants it.

    ``include_object`` is the request's ``includeObject`` (``None``,
    ``Metadata``, the default, or ``Object``); ``no_headers`` leaves the column
    definitions out (every watch event after the first).
    """
    if include_object not in ("None", "Metadata", "Object"):
        raise errors.bad_request(f'unrecognized includeObject value: "{include_object}"')
    now = time.time() if now is None else now
    rows = []
    for obj in objects:
        row: Obj = {"cells": table_row(obj, wide=True, now=now, kind=kind)}
        row_object = _row_object(obj, include_object, version, api_version, kind)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    table: Obj = {
        "kind": "Table",
        "apiVersion": f"{_META_GROUP}/{version}",
        "metadata": dict(list_meta or {}),
        "rows": rows,
    }
    if not no_headers:
        table["columnDefinitions"] = column_definitions(kind)
    return table
