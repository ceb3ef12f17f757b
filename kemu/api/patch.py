"""The three patch formats of the Kubernetes API, on plain dicts.

``kubectl patch`` and friends send one of three content types, and each has
its own function here. None of them mutates its inputs; each returns a new
object that shares nothing with them.

JSON merge patch (RFC 7386, ``application/merge-patch+json``)
    :func:`merge_patch` applies one: objects merge key by key, ``null``
    deletes, everything else (lists included) replaces.
    :func:`create_merge_patch` computes the patch between two documents.

Strategic merge patch (``application/strategic-merge-patch+json``)
    What ``kubectl apply``, ``edit``, ``scale``, ``set image``, ``rollout
    restart``, ``label`` and ``annotate`` send. It is a merge patch that knows
    the schema: some lists are *merged* element by element, matched on a
    *patch merge key* (containers by ``name``, container ports by
    ``containerPort``, Service ports by ``port``, conditions by ``type``,
    ownerReferences by ``uid`` ...), and lists of strings such as
    ``finalizers`` merge as sets. Every other list is replaced, as in a merge
    patch (tolerations, for example, have no merge key in Kubernetes either).
    The per-kind table lives in :func:`patch_schema`; it transcribes the
    ``patchStrategy``/``patchMergeKey`` tags of ``k8s.io/api`` for the kinds
    kemu serves.

    :func:`strategic_merge_patch` applies one, honouring the directives of
    apimachinery's ``strategicpatch`` package:

    - ``$patch: replace`` in an object (take it literally) or as an element
      of a merged list (replace the whole list with the other elements);
    - ``$patch: delete`` in an object (delete it) or in a list element
      (delete the elements with that merge key);
    - ``$patch: merge`` (the default; accepted and ignored);
    - ``$retainKeys: [...]`` (clear every key of the object not listed, for
      union types such as a Deployment's ``strategy``);
    - ``$setElementOrder/<list>: [...]`` (the final order of a merged list;
      elements the patch does not mention keep their place relative to the
      live list, as apimachinery interleaves them);
    - ``$deleteFromPrimitiveList/<list>: [...]`` (remove strings from a
      merged list of strings).

    Element order follows apimachinery too: without ``$setElementOrder`` a
    patched element keeps its place and a *new* element lands before the
    elements the patch did not mention (the Kubernetes docs' "patch-demo"
    Deployment shows the added ``redis`` container first).

    :func:`create_strategic_merge_patch` computes the two-way patch that
    turns one object into another (with ``$setElementOrder`` lists, as
    kubectl sends), and :func:`create_three_way_merge_patch` the patch
    ``kubectl apply`` needs: fields dropped from the last-applied
    configuration are deleted, fields other writers own are kept.

JSON patch (RFC 6902, ``application/json-patch+json``)
    :func:`json_patch` applies a list of ``add``, ``remove``, ``replace``,
    ``move``, ``copy`` and ``test`` operations; all or nothing.

Every malformed patch raises ``ValueError`` with a message fit for a
``400 BadRequest`` or ``422 Invalid`` reply.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "merge_patch",
    "create_merge_patch",
    "PatchMeta",
    "patch_schema",
    "strategic_merge_patch",
    "create_strategic_merge_patch",
    "create_three_way_merge_patch",
    "json_patch",
]

JSON = Any
"""A JSON value: dict, list, str, int, float, bool or None."""


# -- shared helpers -------------------------------------------------------------------


def _clone(value: JSON) -> JSON:
    """A deep copy of a JSON value (much faster than ``copy.deepcopy``)."""
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def _json_equal(a: JSON, b: JSON) -> bool:
    """Equality as JSON sees it: ``true`` is not ``1``, but ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _identity(value: JSON) -> str:
    """A hashable stand-in for a JSON value, so list elements can be looked up."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _short(value: JSON) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


# -- JSON merge patch (RFC 7386) ------------------------------------------------------


def merge_patch(target: JSON, patch: JSON) -> JSON:
    """``target`` with the RFC 7386 merge ``patch`` applied.

    >>> merge_patch({"a": "b", "c": {"d": "e", "f": "g"}}, {"a": "z", "c": {"f": None}})
    {'a': 'z', 'c': {'d': 'e'}}
    """
    if not isinstance(patch, dict):
        return _clone(patch)
    result = _clone(target) if isinstance(target, dict) else {}
    _merge_into(result, patch)
    return result


def _merge_into(target: dict[str, JSON], patch: Mapping[str, JSON]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            if not isinstance(current, dict):
                current = target[key] = {}
            _merge_into(current, value)
        else:
            target[key] = _clone(value)


def create_merge_patch(original: JSON, modified: JSON) -> JSON:
    """The RFC 7386 merge patch that turns ``original`` into ``modified``:
    ``merge_patch(original, create_merge_patch(original, modified)) ==
    modified``. An explicit ``null`` inside ``modified`` cannot be expressed
    by a merge patch and comes out as a deletion."""
    if not isinstance(original, dict) or not isinstance(modified, dict):
        return _clone(modified)
    patch: dict[str, JSON] = {key: None for key in original if key not in modified}
    for key, new in modified.items():
        if key not in original:
            patch[key] = _clone(new)
        elif isinstance(original[key], dict) and isinstance(new, dict):
            sub = create_merge_patch(original[key], new)
            if sub:
                patch[key] = sub
        elif not _json_equal(original[key], new):
            patch[key] = _clone(new)
    return patch


# -- strategic merge patch: the schema ----------------------------------------------------


_NO_FIELDS: Final[Mapping[str, PatchMeta]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PatchMeta:
    """How strategic merge patch treats one field (its Go struct tags)."""

    merge: bool = False
    """For a list: merge it (``patchStrategy:"merge"``) instead of replacing it."""
    merge_key: str | None = None
    """For a merged list of objects: the field that identifies an element
    (``patchMergeKey``); None for a merged list of strings (a set)."""
    retain_keys: bool = False
    """``patchStrategy:"retainKeys"``: a computed patch for this object (or
    for each element of this list) carries a ``$retainKeys`` directive."""
    fields: Mapping[str, PatchMeta] = field(default_factory=lambda: _NO_FIELDS)
    """The schema of this object, or of each element of this list."""


def _obj(fields: Mapping[str, PatchMeta], *, retain_keys: bool = False) -> PatchMeta:
    return PatchMeta(retain_keys=retain_keys, fields=MappingProxyType(dict(fields)))


def _merged(
    merge_key: str | None = None, *, retain_keys: bool = False, fields: Mapping[str, PatchMeta] = _NO_FIELDS
) -> PatchMeta:
    return PatchMeta(merge=True, merge_key=merge_key, retain_keys=retain_keys, fields=MappingProxyType(dict(fields)))


_OBJECT_META = {"finalizers": _merged(), "ownerReferences": _merged("uid")}
_CONDITIONS = _merged("type")
_CONTAINER = {
    "ports": _merged("containerPort"),
    "env": _merged("name"),
    "volumeMounts": _merged("mountPath"),
    "volumeDevices": _merged("devicePath"),
}
_POD_SPEC = {
    "volumes": _merged("name", retain_keys=True),
    "initContainers": _merged("name", fields=_CONTAINER),
    "containers": _merged("name", fields=_CONTAINER),
    "ephemeralContainers": _merged("name", fields=_CONTAINER),
    "imagePullSecrets": _merged("name"),
    "hostAliases": _merged("ip"),
    "topologySpreadConstraints": _merged("topologyKey"),
    "schedulingGates": _merged("name"),
    "resourceClaims": _merged("name", retain_keys=True),
}
_POD_TEMPLATE = {"metadata": _obj(_OBJECT_META), "spec": _obj(_POD_SPEC)}
_POD_STATUS = {
    "conditions": _CONDITIONS,
    "podIPs": _merged("ip"),
    "hostIPs": _merged("ip"),
    "resourceClaimStatuses": _merged("name", retain_keys=True),
}

_SCHEMAS: dict[str, Mapping[str, PatchMeta]] = {
    kind: MappingProxyType({"metadata": _obj(_OBJECT_META), **rest})
    for kind, rest in {
        "Pod": {"spec": _obj(_POD_SPEC), "status": _obj(_POD_STATUS)},
        "ReplicaSet": {
            "spec": _obj({"template": _obj(_POD_TEMPLATE)}),
            "status": _obj({"conditions": _CONDITIONS}),
        },
        "ReplicationController": {
            "spec": _obj({"template": _obj(_POD_TEMPLATE)}),
            "status": _obj({"conditions": _CONDITIONS}),
        },
        "Deployment": {
            "spec": _obj({"template": _obj(_POD_TEMPLATE), "strategy": _obj({}, retain_keys=True)}),
            "status": _obj({"conditions": _CONDITIONS}),
        },
        "Service": {
            "spec": _obj({"ports": _merged("port")}),
            "status": _obj({"conditions": _CONDITIONS}),
        },
        "Node": {
            "spec": _obj({"podCIDRs": _merged()}),
            "status": _obj({"conditions": _CONDITIONS, "addresses": _merged("type")}),
        },
        "Namespace": {"status": _obj({"conditions": _CONDITIONS})},
        "": {},
    }.items()
}


def patch_schema(kind: str) -> Mapping[str, PatchMeta]:
    """The strategic-merge schema of ``kind``'s top-level fields. Kinds with
    no merged lists beyond ``metadata`` (Endpoints, Event, ConfigMap, Lease,
    and any kind kemu does not know) get the metadata-only schema."""
    return _SCHEMAS.get(kind, _SCHEMAS[""])


# -- strategic merge patch: applying ---------------------------------------------------------

_DIRECTIVE: Final = "$patch"
_RETAIN_KEYS: Final = "$retainKeys"
_SET_ORDER: Final = "$setElementOrder/"
_DELETE_PRIMITIVES: Final = "$deleteFromPrimitiveList/"


class _Deleted:
    """Returned by :func:`_smp_map` for an object carrying ``$patch: delete``."""


_DELETED: Final = _Deleted()


def strategic_merge_patch(target: dict[str, JSON], patch: dict[str, JSON], kind: str | None = None) -> dict[str, JSON]:
    """``target`` with the strategic merge ``patch`` applied, using the schema
    of ``kind`` (default: ``target["kind"]``).

    >>> pod = {"kind": "Pod", "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}
    >>> strategic_merge_patch(pod, {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}})
    {'kind': 'Pod', 'spec': {'containers': [{'name': 'app', 'image': 'nginx:1.26'}]}}
    """
    if not isinstance(target, dict):
        raise ValueError(f"cannot patch a {type(target).__name__}: the target must be a JSON object")
    if not isinstance(patch, dict):
        raise ValueError(f"a strategic merge patch must be a JSON object, not {_short(patch)}")
    schema = patch_schema(kind or str(target.get("kind", "")))
    result = _smp_map(_clone(target), patch, schema)
    return {} if isinstance(result, _Deleted) else result


def _smp_map(
    original: dict[str, JSON], patch: Mapping[str, JSON], schema: Mapping[str, PatchMeta]
) -> dict[str, JSON] | _Deleted:
    """Apply ``patch`` to ``original`` (owned by the caller, changed in place)."""
    directive = patch.get(_DIRECTIVE)
    if directive == "delete":
        return _DELETED
    if directive == "replace":
        literal = {k: v for k, v in patch.items() if k != _DIRECTIVE}
        return _smp_map({}, literal, schema)
    if directive not in (None, "merge"):
        raise ValueError(f"unknown patch type: {directive} in map: {_short(dict(patch))}")
    if _RETAIN_KEYS in patch:
        _apply_retain_keys(original, patch)
    orders, deletions, fields = _split_directives(patch)
    before = {key: original.get(key) for key in orders}
    for key, value in fields.items():
        _smp_field(original, key, value, schema.get(key))
    for key, order in orders.items():
        _apply_element_order(original, key, before[key], fields.get(key), order, schema.get(key))
    for key, items in deletions.items():
        _delete_from_primitive_list(original, key, items)
    return original


def _split_directives(
    patch: Mapping[str, JSON],
) -> tuple[dict[str, list[JSON]], dict[str, list[JSON]], dict[str, JSON]]:
    """Split a patch object into its ``$setElementOrder`` lists, its
    ``$deleteFromPrimitiveList`` lists and its ordinary fields."""
    orders: dict[str, list[JSON]] = {}
    deletions: dict[str, list[JSON]] = {}
    fields: dict[str, JSON] = {}
    for key, value in patch.items():
        if key in (_DIRECTIVE, _RETAIN_KEYS):
            continue
        if key.startswith(_SET_ORDER):
            if not isinstance(value, list) or not key[len(_SET_ORDER) :]:
                raise ValueError(f"invalid patch format of {key}: want a list after $setElementOrder/<field>")
            orders[key[len(_SET_ORDER) :]] = value
        elif key.startswith(_DELETE_PRIMITIVES):
            if not isinstance(value, list) or not key[len(_DELETE_PRIMITIVES) :]:
                raise ValueError(f"invalid patch format of {key}: want a list after $deleteFromPrimitiveList/<field>")
            deletions[key[len(_DELETE_PRIMITIVES) :]] = value
        elif key.startswith("$"):
            raise ValueError(f"unknown strategic merge patch directive: {key}")
        else:
            fields[key] = value
    return orders, deletions, fields


def _smp_field(original: dict[str, JSON], key: str, value: JSON, meta: PatchMeta | None) -> None:
    if value is None:
        original.pop(key, None)
        return
    current = original.get(key)
    if isinstance(value, dict):
        base = current if isinstance(current, dict) else {}
        merged = _smp_map(base, value, meta.fields if meta else _NO_FIELDS)
        if isinstance(merged, _Deleted):
            original.pop(key, None)
        else:
            original[key] = merged
    elif isinstance(value, list):
        if meta is not None and meta.merge:
            original[key] = _smp_list(current if isinstance(current, list) else [], value, meta)
        else:
            original[key] = _literal_list(value, meta)
    else:
        original[key] = value


def _literal_list(items: list[JSON], meta: PatchMeta | None) -> list[JSON]:
    """A replaced list, with nested directives and nulls resolved."""
    fields = meta.fields if meta else _NO_FIELDS
    result: list[JSON] = []
    for item in items:
        if isinstance(item, dict):
            if set(item) == {_DIRECTIVE}:
                continue
            merged = _smp_map({}, item, fields)
            if not isinstance(merged, _Deleted):
                result.append(merged)
        else:
            result.append(_clone(item))
    return result


def _smp_list(original: list[JSON], patch: list[JSON], meta: PatchMeta) -> list[JSON]:
    """Merge ``patch`` into the merged list ``original`` (owned by the caller)."""
    if meta.merge_key is None:
        return _merge_primitive_list(original, patch)
    key = meta.merge_key
    _require_maps(original, key, where="live list", need_key=False)
    _require_maps(patch, key, where="patch list", need_key=False)
    plain, replace = [], False
    for item in patch:
        directive = item.get(_DIRECTIVE)
        if directive is None:
            plain.append(item)
        elif directive == "delete":
            if key not in item:
                raise ValueError(f"map: {_short(item)} does not contain declared merge key: {key}")
            original = [o for o in original if not (key in o and _json_equal(o[key], item[key]))]
        elif directive == "replace":
            replace = True
        elif directive != "merge":
            raise ValueError(f"unknown patch type: {directive} in map: {_short(item)}")
    if replace:
        return _literal_list(plain, meta)
    merged = list(original)
    for item in plain:
        if key not in item:
            raise ValueError(f"map: {_short(item)} does not contain declared merge key: {key}")
        index = next((i for i, o in enumerate(merged) if key in o and _json_equal(o[key], item[key])), None)
        result = _smp_map(merged[index] if index is not None else {}, item, meta.fields)
        assert not isinstance(result, _Deleted)  # elements with a "$patch" were taken out above
        if index is None:
            merged.append(result)
        else:
            merged[index] = result

    def ident(element: JSON) -> str:
        return _identity(element.get(key))

    return _interleave(merged, [ident(p) for p in plain], [ident(o) for o in original], ident)


def _merge_primitive_list(original: list[JSON], patch: list[JSON]) -> list[JSON]:
    if any(isinstance(item, (dict, list)) for item in patch):
        raise ValueError(f"cannot merge lists without merge key: {_short(patch)}")
    merged, seen = [], set()
    for item in [*original, *patch]:
        ident = _identity(item)
        if ident not in seen:
            seen.add(ident)
            merged.append(_clone(item))
    return _interleave(merged, [_identity(p) for p in patch], [_identity(o) for o in original], _identity)


def _interleave(merged: list[JSON], patch_order: list[str], live_order: list[str], ident: Any) -> list[JSON]:
    """Order a merged list as apimachinery does (``normalizeElementOrder``).

    Elements the patch names come in the patch's order; the others keep the
    live list's order; the two runs are then interleaved by walking both and
    taking the live-only element first only when the live list had it before
    the patched one.
    """
    in_patch = {k: i for i, k in reversed(list(enumerate(patch_order)))}
    in_live = {k: i for i, k in reversed(list(enumerate(live_order)))}
    patched = sorted((e for e in merged if ident(e) in in_patch), key=lambda e: in_patch[ident(e)])
    live_only = sorted(
        (e for e in merged if ident(e) not in in_patch), key=lambda e: in_live.get(ident(e), len(in_live))
    )
    result: list[JSON] = []
    i = j = 0
    while i < len(live_only) and j < len(patched):
        left, right = in_live.get(ident(live_only[i])), in_live.get(ident(patched[j]))
        if left is not None and right is not None and left < right:
            result.append(live_only[i])
            i += 1
        else:
            result.append(patched[j])
            j += 1
    result.extend(live_only[i:])
    result.extend(patched[j:])
    return result


def _require_maps(items: list[JSON], key: str, *, where: str, need_key: bool) -> None:
    for item in items:
        if not isinstance(item, dict):
            raise ValueError(f"{where}: {_short(item)} is not an object; elements are merged by {key}")
        if need_key and key not in item:
            raise ValueError(f"map: {_short(item)} does not contain declared merge key: {key}")


def _apply_retain_keys(original: dict[str, JSON], patch: Mapping[str, JSON]) -> None:
    retain = patch[_RETAIN_KEYS]
    if not isinstance(retain, list):
        raise ValueError("invalid patch format of retainKeys: $retainKeys must be a list of field names")
    keep = set(retain)
    for key, value in patch.items():
        if value is not None and not key.startswith("$") and key not in keep:
            raise ValueError(f'invalid patch format of retainKeys: "{key}" is in the patch but not in $retainKeys')
    for key in [k for k in original if k not in keep]:
        del original[key]


def _apply_element_order(
    original: dict[str, JSON],
    key: str,
    before: JSON,
    patch_list: JSON,
    order: list[JSON],
    meta: PatchMeta | None,
) -> None:
    current = original.get(key)
    if not isinstance(current, list):
        return
    merge_key = meta.merge_key if meta else None
    if merge_key is None and any(isinstance(e, dict) for e in current):
        return  # objects without a merge key cannot be told apart

    def ident(element: JSON) -> str:
        if merge_key is None:
            return _identity(element)
        if not isinstance(element, dict) or merge_key not in element:
            raise ValueError(f"{_SET_ORDER}{key}: {_short(element)} does not contain declared merge key: {merge_key}")
        return _identity(element[merge_key])

    order_ids = [ident(o) for o in order]
    if isinstance(patch_list, list):
        _check_order(key, [ident(p) for p in patch_list if not (isinstance(p, dict) and _DIRECTIVE in p)], order_ids)
    live = [ident(e) for e in before] if isinstance(before, list) else []
    original[key] = _interleave(current, order_ids, live, ident)


def _check_order(key: str, patch_ids: list[str], order_ids: list[str]) -> None:
    """The patch list must name its elements in the $setElementOrder list's order."""
    i = 0
    for ident in order_ids:
        if i < len(patch_ids) and patch_ids[i] == ident:
            i += 1
    if i < len(patch_ids):
        raise ValueError(f"the order in the patch list of {key} does not match its {_SET_ORDER}{key} list")


def _delete_from_primitive_list(original: dict[str, JSON], key: str, items: list[JSON]) -> None:
    current = original.get(key)
    if isinstance(current, list):
        drop = {_identity(i) for i in items}
        original[key] = [e for e in current if _identity(e) not in drop]


# -- strategic merge patch: computing ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _DiffOptions:
    ignore_deletions: bool = False
    """Leave out deletions (a three-way merge's "delta" half)."""
    ignore_changes: bool = False
    """Leave out changes and additions (a three-way merge's "deletions" half)."""


def create_strategic_merge_patch(
    original: dict[str, JSON], modified: dict[str, JSON], kind: str | None = None
) -> dict[str, JSON]:
    """The two-way strategic merge patch turning ``original`` into
    ``modified`` (``CreateTwoWayMergePatch``): only what differs, merged
    lists as element patches with ``$patch: delete`` entries,
    ``$deleteFromPrimitiveList`` and ``$setElementOrder`` lists, and
    ``$retainKeys`` where the schema asks for it."""
    schema = patch_schema(kind or str(modified.get("kind") or original.get("kind") or ""))
    return _diff_maps(original, modified, schema, _DiffOptions())


def create_three_way_merge_patch(
    original: dict[str, JSON] | None,
    modified: dict[str, JSON],
    current: dict[str, JSON],
    kind: str | None = None,
) -> dict[str, JSON]:
    """The patch ``kubectl apply`` needs to move the live object ``current``
    to the new configuration ``modified``, given the previously applied
    configuration ``original`` (None on the first apply).

    Fields in ``original`` that ``modified`` drops are deleted; fields set by
    other writers (absent from both configurations) are kept; everything in
    ``modified`` wins. The result is a two-way patch from ``current``, so it
    is meant to be sent with ``current``'s resourceVersion as a precondition.
    """
    schema = patch_schema(kind or str(modified.get("kind") or current.get("kind") or ""))
    deletions = _diff_maps(original or {}, modified, schema, _DiffOptions(ignore_changes=True))
    pruned = _smp_map(_clone(current), deletions, schema)
    pruned = {} if isinstance(pruned, _Deleted) else pruned
    delta = _diff_maps(pruned, modified, schema, _DiffOptions(ignore_deletions=True))
    desired = _smp_map(_clone(pruned), delta, schema)
    desired = {} if isinstance(desired, _Deleted) else desired
    return _diff_maps(current, desired, schema, _DiffOptions())


def _diff_maps(
    original: Mapping[str, JSON],
    modified: Mapping[str, JSON],
    schema: Mapping[str, PatchMeta],
    options: _DiffOptions,
    *,
    retain_keys: bool = False,
) -> dict[str, JSON]:
    patch: dict[str, JSON] = {}
    for key, new in modified.items():
        meta = schema.get(key)
        if key not in original:
            if not options.ignore_changes:
                patch[key] = _clone(new)
            continue
        old = original[key]
        if isinstance(old, dict) and isinstance(new, dict):
            fields = meta.fields if meta else _NO_FIELDS
            sub = _diff_maps(old, new, fields, options, retain_keys=bool(meta and meta.retain_keys))
            if sub:
                patch[key] = sub
        elif isinstance(old, list) and isinstance(new, list) and meta is not None and meta.merge:
            _diff_merged_lists(patch, key, old, new, meta, options)
        elif not options.ignore_changes and not _json_equal(old, new):
            patch[key] = _clone(new)
    if not options.ignore_deletions:
        for key in original:
            if key not in modified:
                patch[key] = None
    if retain_keys:
        dropped = any(v is not None and k not in modified for k, v in original.items())
        keys = sorted(k for k, v in modified.items() if v is not None)
        if keys and (patch or dropped):
            patch[_RETAIN_KEYS] = keys
    return patch


def _diff_merged_lists(
    patch: dict[str, JSON], key: str, old: list[JSON], new: list[JSON], meta: PatchMeta, options: _DiffOptions
) -> None:
    if not old:
        if new and not options.ignore_changes:
            patch[key] = _clone(new)
        return
    if meta.merge_key is None:
        _diff_primitive_lists(patch, key, old, new, options)
        return
    merge_key = meta.merge_key
    _require_maps(old, merge_key, where=key, need_key=True)
    _require_maps(new, merge_key, where=key, need_key=True)
    old_by_key = {_identity(o[merge_key]): o for o in reversed(old)}
    new_keys = {_identity(n[merge_key]) for n in new}
    items: list[JSON] = []
    for element in new:
        previous = old_by_key.get(_identity(element[merge_key]))
        if previous is None:
            if not options.ignore_changes:
                items.append(_clone(element))
            continue
        sub = _diff_maps(previous, element, meta.fields, options, retain_keys=meta.retain_keys)
        if sub:
            sub[merge_key] = _clone(element[merge_key])
            items.append(sub)
    if not options.ignore_deletions:
        items.extend(
            {_DIRECTIVE: "delete", merge_key: _clone(o[merge_key])}
            for o in old
            if _identity(o[merge_key]) not in new_keys
        )
    same_order = [_identity(o[merge_key]) for o in old] == [_identity(n[merge_key]) for n in new]
    if items:
        patch[key] = items
    wants_order = (not options.ignore_changes and (items or not same_order)) or (not options.ignore_deletions and items)
    if wants_order and new:
        patch[f"{_SET_ORDER}{key}"] = [{merge_key: _clone(n[merge_key])} for n in new]


def _diff_primitive_lists(
    patch: dict[str, JSON], key: str, old: list[JSON], new: list[JSON], options: _DiffOptions
) -> None:
    old_ids, new_ids = {_identity(o) for o in old}, {_identity(n) for n in new}
    additions = [] if options.ignore_changes else _unique(n for n in new if _identity(n) not in old_ids)
    deletions = [] if options.ignore_deletions else _unique(o for o in old if _identity(o) not in new_ids)
    if additions:
        patch[key] = additions
    if deletions:
        patch[f"{_DELETE_PRIMITIVES}{key}"] = deletions
    if deletions or (not options.ignore_changes and not _json_equal(old, new)):
        patch[f"{_SET_ORDER}{key}"] = _clone(new)


def _unique(items: Iterable[JSON]) -> list[JSON]:
    seen: set[str] = set()
    result = []
    for item in items:
        ident = _identity(item)
        if ident not in seen:
            seen.add(ident)
            result.append(_clone(item))
    return result


# -- JSON patch (RFC 6902) ----------------------------------------------------------------------


def json_patch(target: JSON, ops: list[dict[str, JSON]]) -> JSON:
    """``target`` with the RFC 6902 operations ``ops`` applied in order.

    All or nothing: the first failing operation raises ``ValueError`` naming
    its index, op and path, and ``target`` is left as it was.

    >>> json_patch({"spec": {"replicas": 1}}, [{"op": "replace", "path": "/spec/replicas", "value": 3}])
    {'spec': {'replicas': 3}}
    """
    if not isinstance(ops, list):
        raise ValueError(f"a JSON patch must be a list of operations, not {_short(ops)}")
    doc = _clone(target)
    for index, op in enumerate(ops):
        doc = _apply_operation(doc, op, index)
    return doc


class _PatchError(ValueError):
    """A failed operation, before its index and op are prefixed."""


def _apply_operation(doc: JSON, op: Any, index: int) -> JSON:
    if not isinstance(op, dict) or not isinstance(op.get("op"), str):
        raise ValueError(f'json patch operation {index}: must be an object with an "op" string, got {_short(op)}')
    name = op["op"]
    try:
        path = _pointer(_member(op, "path"))
        if name == "add":
            return _add(doc, path, _clone(_member(op, "value")))
        if name == "remove":
            return _remove(doc, path)[0]
        if name == "replace":
            value = _clone(_member(op, "value"))
            _get(doc, path)
            return _add(_remove(doc, path)[0], path, value) if path else value
        if name == "move":
            source = _pointer(_member(op, "from"))
            if source == path:
                _get(doc, source)
                return doc
            if path[: len(source)] == source:
                raise _PatchError(f'cannot move "{op["from"]}" into its own child "{op["path"]}"')
            doc, value = _remove(doc, source)
            return _add(doc, path, value)
        if name == "copy":
            return _add(doc, path, _clone(_get(doc, _pointer(_member(op, "from")))))
        if name == "test":
            expected, actual = _member(op, "value"), _get(doc, path)
            if not _json_equal(actual, expected):
                raise _PatchError(f"test failed: the value is {_short(actual)}, not {_short(expected)}")
            return doc
        raise _PatchError("unknown op; want add, remove, replace, move, copy or test")
    except _PatchError as exc:
        where = f' at "{op["path"]}"' if isinstance(op.get("path"), str) else ""
        raise ValueError(f'json patch operation {index} ("{name}"){where}: {exc}') from None


def _member(op: dict[str, JSON], name: str) -> JSON:
    if name not in op:
        raise _PatchError(f'missing "{name}" member')
    if name in ("path", "from") and not isinstance(op[name], str):
        raise _PatchError(f'"{name}" must be a string JSON pointer')
    return op[name]


def _pointer(text: str) -> list[str]:
    """The reference tokens of a JSON pointer (RFC 6901)."""
    if text == "":
        return []
    if not text.startswith("/"):
        raise _PatchError(f'"{text}" is not a JSON pointer: it must be empty or start with "/"')
    tokens = text[1:].split("/")
    for token in tokens:
        stripped = token.replace("~0", "").replace("~1", "")
        if "~" in stripped:
            raise _PatchError(f'"{text}" has an invalid escape: "~" must be followed by 0 or 1')
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def _render(tokens: list[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def _index(token: str, length: int, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return length
    if not token.isdigit() or (len(token) > 1 and token[0] == "0") or not token.isascii():
        raise _PatchError(f'"{token}" is not an array index')
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise _PatchError(f"array index {index} is out of range (length {length})")
    return index


def _get(doc: JSON, tokens: list[str]) -> JSON:
    node = doc
    for depth, token in enumerate(tokens):
        if isinstance(node, dict):
            if token not in node:
                raise _PatchError(f'path "{_render(tokens[: depth + 1])}" does not exist')
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(token, len(node), allow_end=False)]
        else:
            raise _PatchError(f'path "{_render(tokens[:depth])}" is not an object or array')
    return node


def _add(doc: JSON, tokens: list[str], value: JSON) -> JSON:
    if not tokens:
        return value
    parent, last = _get(doc, tokens[:-1]), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(last, len(parent), allow_end=True), value)
    else:
        raise _PatchError(f'path "{_render(tokens[:-1])}" is not an object or array')
    return doc


def _remove(doc: JSON, tokens: list[str]) -> tuple[JSON, JSON]:
    """``doc`` without the value at ``tokens``, and that value."""
    if not tokens:
        raise _PatchError("cannot remove the whole document")
    parent, last = _get(doc, tokens[:-1]), tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _PatchError(f'path "{_render(tokens)}" does not exist')
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(last, len(parent), allow_end=False))
    raise _PatchError(f'path "{_render(tokens[:-1])}" is not an object or array')
