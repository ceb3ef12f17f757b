"""Hypothesis strategies for hostile but plausible input (issue 20's fuzz suite).

Random bytes find little: they fail the first decoder and never reach the
registry, the patch code or validation. These strategies build what a
careless or hostile client would send instead: objects of the right shape,
drawn from kemu's own schema (:mod:`kemu.api.schema`), then bent in the ways
that have broken kemu before:

- values of the wrong type where the schema says otherwise;
- nesting far beyond :data:`kemu.api.bodies.MAX_DEPTH`;
- numbers beyond int64 (and uint64, where the encoding can carry them),
  floats where integers belong, NaN and infinities;
- map keys that JSON cannot carry (int, float, bool, bytes, nil: msgpack can)
  and odd string keys (empty, unicode, very long);
- big strings.

Everything is parameterised by the encoding the input will travel in:
``"msgpack"`` (the request socket: integers within [-2**63, 2**64), bytes
and non-string keys allowed) or ``"json"`` (the HTTP front door: any integer,
NaN and infinities as Python's ``json.dumps`` writes them, string keys only).

The module needs ``hypothesis`` (kemu's ``test`` extra); nothing outside the
tests imports it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from hypothesis import strategies as st

from kemu import wire
from kemu.api import schema
from kemu.api.kinds import KINDS
from kemu.types import Obj

__all__ = [
    "Encoding",
    "mostly",
    "NAMES",
    "NAMESPACES",
    "hostile_scalars",
    "odd_keys",
    "deep_values",
    "schema_values",
    "skeleton",
    "objects",
    "patches",
    "request_opts",
    "requests",
    "label_selectors",
    "field_selectors",
]

Encoding = Literal["msgpack", "json"]

NAMES = ("fuzz-a", "fuzz-b", "seed")
"""Object names the fuzzers use: few, so creates collide and patches,
updates and deletes meet objects that exist."""

NAMESPACES = ("default", "fuzz")

INT64 = (-(2**63), 2**63 - 1)

_LONG = 300  # longer than any name or label may be (253, 63)


def _ints(encoding: Encoding) -> st.SearchStrategy[int]:
    """Integers that matter: small, at the int32/int64/uint64 edges, and (in
    JSON, which has no limit) far beyond."""
    edges = [0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**53 + 1, *INT64, 2**63, 2**64 - 1]
    out = st.integers(-1000, 1000) | st.sampled_from(edges)
    if encoding == "json":
        out = out | st.sampled_from([2**64, -(2**63) - 1, 10**30, -(10**40), 10**300])
    return out


def _floats() -> st.SearchStrategy[float]:
    return st.sampled_from([0.5, -0.0, 1e308, -1e308, 5e-324, 2.0**63, float("nan"), float("inf"), float("-inf")]) | (
        st.floats(allow_nan=True, allow_infinity=True)
    )


def _strings() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["", " ", "a", "web", "a/b", "-", ".", "..", "*", "$patch", "\x00", "ünïcødé", "🦀" * 3]),
        st.text(max_size=12),
        st.text(alphabet="abc-.", min_size=_LONG, max_size=_LONG + 10),
    )


def big_strings() -> st.SearchStrategy[str]:
    """A string from 64 KiB to 2 MiB: past label and annotation limits, the
    ConfigMap's 1 MiB and the 1.5 MiB object limit."""
    return st.sampled_from([64 * 1024, 300 * 1024, 1024 * 1024 + 1, 2 * 1024 * 1024]).map(lambda n: "x" * n)


def hostile_scalars(encoding: Encoding = "msgpack") -> st.SearchStrategy[Any]:
    """Any scalar either encoding can carry, the awkward ones favoured."""
    out = st.one_of(st.none(), st.booleans(), _ints(encoding), _floats(), _strings())
    if encoding == "msgpack":
        out = out | st.binary(max_size=8)
    return out


def odd_keys(encoding: Encoding = "msgpack") -> st.SearchStrategy[Any]:
    """Map keys a Kubernetes object cannot have, or that stretch what it can."""
    strings = st.sampled_from(["", " ", "ünïcødé", "a" * _LONG, "$patch", "$retainKeys", "$setElementOrder/x", "\x00"])
    if encoding == "json":
        return strings
    return strings | st.integers(-5, 5) | st.booleans() | st.sampled_from([1.5, float("nan")]) | st.binary(max_size=3) | st.none()


def deep_values(min_depth: int = 90, max_depth: int = 300) -> st.SearchStrategy[Any]:
    """A list or map nested ``min_depth``..``max_depth`` deep (msgpack's
    encoder stops at 512). :data:`kemu.api.bodies.MAX_DEPTH` is 100."""

    def build(depth: int, shape: str) -> Any:
        value: Any = "leaf"
        for i in range(depth):
            value = [value] if shape == "list" or (shape == "mixed" and i % 2) else {"x": value}
        return value

    return st.builds(build, st.integers(min_depth, max_depth), st.sampled_from(["list", "map", "mixed"]))


def _hostile_any(encoding: Encoding) -> st.SearchStrategy[Any]:
    """A hostile value of any shape: scalars, small containers of them (odd
    keys included), deep nests, now and then a big string."""
    keys = st.text(max_size=6) | odd_keys(encoding)
    containers = st.recursive(
        hostile_scalars(encoding),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
        max_leaves=6,
    )
    return st.one_of(
        containers,
        deep_values(),
        big_strings(),
    )


# -- values of the schema's shape ---------------------------------------------------

def _scalar_values(typ: schema.Scalar, encoding: Encoding) -> st.SearchStrategy[Any]:
    kind = typ.kind
    if kind == "string":
        return _strings()
    if kind == "boolean":
        return st.booleans()
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False) | st.integers(-10, 10)
    if kind == "integer":
        return st.integers(-5, 70000) | st.sampled_from([0, 1, 80, 443, 30080])
    if kind == "int-or-string":
        return st.integers(-1, 70000) | st.sampled_from(["25%", "http", "80", "-1", "x%"])
    if kind == "quantity":
        return st.sampled_from(["100m", "1", "0.5", "1Gi", "128Mi", "-1", "1e3", "1.5.5", "Ki", "9" * 40])
    if kind == "time":
        return st.sampled_from(["2026-01-01T00:00:00Z", "2026-13-40T99:99:99Z", "yesterday", ""])
    if kind == "bytes":
        return st.sampled_from(["", "aGVsbG8=", "not base64!", "===="])
    return _hostile_any(encoding)  # "any": free-form


def schema_values(typ: schema.Type, encoding: Encoding = "msgpack", depth: int = 3) -> st.SearchStrategy[Any]:
    """A value of ``typ``'s shape with plausible contents: right types, random
    (often invalid) values. Structs get a few of their fields; recursion stops
    at ``depth`` levels of structs, lists and maps."""
    if isinstance(typ, schema.Scalar):
        return _scalar_values(typ, encoding)
    if depth <= 0:
        return st.just({}) if isinstance(typ, (schema.Struct, schema.MapOf)) else st.just([])
    if isinstance(typ, schema.ListOf):
        return st.lists(schema_values(typ.item, encoding, depth - 1), max_size=2)
    if isinstance(typ, schema.MapOf):
        keys = st.sampled_from(["app", "tier", "a.b/c", "cpu", "memory", "x"]) | _strings()
        return st.dictionaries(keys, schema_values(typ.value, encoding, depth - 1), max_size=2)
    assert isinstance(typ, schema.Struct)
    fields = sorted(typ.fields)
    return st.lists(st.sampled_from(fields), max_size=3, unique=True).flatmap(
        lambda chosen: st.fixed_dictionaries({f: schema_values(typ.fields[f], encoding, depth - 1) for f in chosen})
    )


# -- whole objects ---------------------------------------------------------------------

_TEMPLATE = {
    "metadata": {"labels": {"app": "fuzz"}},
    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
}


def skeleton(kind: str, name: str = "seed", namespace: str | None = "default") -> Obj:
    """A minimal valid object of ``kind``: what a mutation starts from."""
    info = KINDS[kind]
    meta: Obj = {"name": name}
    if info.namespaced and namespace is not None:
        meta["namespace"] = namespace
    obj: Obj = {"apiVersion": info.api_version, "kind": kind, "metadata": meta}
    if kind == "Pod":
        obj["spec"] = {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}
    elif kind in ("Deployment", "ReplicaSet"):
        obj["spec"] = {"replicas": 0, "selector": {"matchLabels": {"app": "fuzz"}}, "template": _TEMPLATE}
    elif kind == "Service":
        obj["spec"] = {"selector": {"app": "fuzz"}, "ports": [{"port": 80, "targetPort": 8080}]}
    elif kind == "ConfigMap":
        obj["data"] = {"a": "1"}
    elif kind == "Endpoints":
        obj["subsets"] = [{"addresses": [{"ip": "127.0.0.9"}], "ports": [{"port": 80}]}]
    elif kind == "Event":
        obj["involvedObject"] = {"kind": "Pod", "name": "x", "namespace": namespace or "default"}
        obj["reason"], obj["message"] = "Fuzz", "fuzz"
    elif kind == "Lease":
        obj["spec"] = {"holderIdentity": "fuzz", "leaseDurationSeconds": 10}
    return obj


def _containers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every map and list inside ``value`` (itself first)."""
    out: list[tuple[Any, ...]] = []
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            out.append(where)
            stack.extend((v, (*where, k)) for k, v in item.items() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            out.append(where)
            stack.extend((v, (*where, i)) for i, v in enumerate(item) if isinstance(v, (dict, list)))
    return sorted(out, key=repr)


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@st.composite
def _mutated(draw: st.DrawFn, base: Any, encoding: Encoding, *, max_mutations: int = 3) -> Any:
    """``base`` with up to ``max_mutations`` hostile changes at random places:
    a value replaced, a key added (odd or not), an element appended."""
    import copy

    value = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, max_mutations))):
        places = _containers(value)
        if not places:
            break
        where = _at(value, draw(st.sampled_from(places)))
        new = draw(_hostile_any(encoding))
        if isinstance(where, dict):
            if where and draw(st.booleans()):
                where[draw(st.sampled_from(sorted(where, key=repr)))] = new
            else:
                where[draw(st.text(max_size=8) | odd_keys(encoding))] = new
        elif where and draw(st.booleans()):
            where[draw(st.integers(0, len(where) - 1))] = new
        else:
            where.append(new)
    return value


@st.composite
def objects(draw: st.DrawFn, kind: str | None = None, encoding: Encoding = "msgpack") -> Any:
    """An object of ``kind`` (any kind when None): a valid skeleton, perhaps
    with some of its schema's fields filled with plausible values, perhaps
    mutated; now and then not an object at all."""
    kind = kind or draw(st.sampled_from(sorted(KINDS)))
    info = KINDS[kind]
    obj = skeleton(kind, draw(st.sampled_from(NAMES)), draw(st.sampled_from(NAMESPACES)) if info.namespaced else None)
    top = schema.schema_for(kind)
    if top is not None and draw(st.booleans()):
        extra = draw(schema_values(top, encoding, depth=4))
        for key in ("apiVersion", "kind"):
            extra.pop(key, None)
        for key, val in extra.items():
            if isinstance(val, dict) and isinstance(obj.get(key), dict):
                obj[key] = {**obj[key], **val}
            else:
                obj[key] = val
        if not isinstance(obj.get("metadata"), dict) or not obj["metadata"].get("name"):
            obj["metadata"] = {**(obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}), "name": "seed"}
    result = draw(_mutated(obj, encoding))
    return draw(mostly(st.just(result), _hostile_any(encoding), 8))


@st.composite
def patches(draw: st.DrawFn, kind: str, patch_type: str, encoding: Encoding = "msgpack") -> Any:
    """A patch body for ``patch_type`` (``merge``, ``strategic``, ``json``)
    against an object of ``kind``: mostly of the right shape."""
    if patch_type == "json":
        paths = st.sampled_from(
            ["/metadata/labels/a", "/metadata/labels", "/metadata", "/spec", "/spec/replicas", "/data/a",
             "/spec/containers/0/image", "/spec/containers/-", "/spec/ports/0/port", "/metadata/name", "", "/",
             "/x~2y", "/spec/containers/99", "/spec/containers/-1", "/kind", "/apiVersion", "/status"]
        ) | _strings()
        op = st.fixed_dictionaries(
            {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "nope"]) | hostile_scalars(encoding),
             "path": paths},
            optional={"value": _hostile_any(encoding) | schema_values(schema.LABELS, encoding),
                      "from": paths},
        )
        return draw(st.lists(op, max_size=4) | st.lists(_hostile_any(encoding), max_size=2) | _hostile_any(encoding))
    body = draw(objects(kind, encoding))
    if isinstance(body, dict) and draw(st.booleans()):
        body.pop("apiVersion", None)
        body.pop("kind", None)
    if patch_type == "strategic" and isinstance(body, dict):
        directive = draw(st.sampled_from([None, "$patch", "$retainKeys", "$setElementOrder/containers",
                                          "$deleteFromPrimitiveList/finalizers"]))
        if directive is not None:
            value = draw(st.sampled_from(["replace", "delete", "merge", "nope"]) | _hostile_any(encoding)
                         | st.lists(_strings(), max_size=2))
            target = body.get("spec") if isinstance(body.get("spec"), dict) and draw(st.booleans()) else body
            target[directive] = value
    return body


def label_selectors() -> st.SearchStrategy[str]:
    return st.sampled_from(
        ["", "app=fuzz", "app!=x", "app in (a,b)", "!app", "app", "a in (", "=x", "app=" + "v" * 80, "a,,b",
         "x notin ()", "tier==1", "a>1", "🦀=x"]
    ) | st.text(max_size=20)


def field_selectors() -> st.SearchStrategy[str]:
    return st.sampled_from(
        ["", "metadata.name=seed", "metadata.namespace!=x", "spec.nodeName=", "status.phase=Running", "nope=x",
         "metadata.name", "a=b=c", "metadata.name in (a)"]
    ) | st.text(max_size=20)


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], odds: int = 5) -> st.SearchStrategy[Any]:
    """``good`` most of the time, ``bad`` about once in ``odds`` draws (a
    request wrong everywhere at once fails its first check and tests nothing
    behind it)."""

    @st.composite
    def pick(draw: st.DrawFn) -> Any:
        return draw(bad) if draw(st.integers(0, odds - 1)) == odds - 1 else draw(good)

    return pick()


def request_opts(encoding: Encoding = "msgpack") -> st.SearchStrategy[Obj]:
    """The ``opts`` of a request: up to three of the options the apiserver
    reads, each mostly plausible, sometimes of the wrong type."""
    anything = hostile_scalars(encoding)
    options: dict[str, st.SearchStrategy[Any]] = {
        "label_selector": label_selectors(),
        "field_selector": field_selectors(),
        "limit": _ints(encoding),
        "continue": st.sampled_from(["", "e30", "eyJucyI6MX0", "@@@", "bm9wZQ=="]),
        "dry_run": st.booleans(),
        "patch_type": st.sampled_from(["merge", "strategic", "json", "apply", "nope"]),
        "subresource": st.sampled_from(["status", "scale", "binding", "log", "nope"]),
        "grace_period_seconds": _ints(encoding),
        "propagation_policy": st.sampled_from(["Orphan", "Background", "Foreground", "nope"]),
        "preconditions": st.fixed_dictionaries({}, optional={"uid": _strings(), "resourceVersion": _strings()})
        | _hostile_any(encoding),
        "rv": _ints(encoding),
        "node": st.sampled_from(["node-1", ""]),
        "nope": anything,
    }
    return st.lists(st.sampled_from(sorted(options)), max_size=3, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({k: mostly(options[k], anything) for k in keys})
    )


@st.composite
def requests(draw: st.DrawFn, encoding: Encoding = "msgpack") -> Obj:
    """One request for the request socket, without ``v`` and ``id``: an
    operation of :data:`kemu.wire.OPS` (or not), a kind (or not), and a body
    and options shaped for the operation, bent as the module doc says."""
    op = draw(mostly(st.sampled_from(sorted(wire.OPS)), st.sampled_from(["nuke", "", "PATCH"]) | hostile_scalars(encoding), 10))
    kind = draw(st.sampled_from(sorted(KINDS)))
    namespaced = KINDS[kind].namespaced
    request: Obj = {
        "op": op,
        "kind": draw(mostly(st.just(kind), st.sampled_from(["Nope", "pods", ""]) | hostile_scalars(encoding), 10)),
        "ns": draw(mostly(st.sampled_from(NAMESPACES) if namespaced else st.none(), hostile_scalars(encoding), 8)),
        "name": draw(mostly(st.sampled_from(NAMES), hostile_scalars(encoding), 8)),
    }
    opts = draw(request_opts(encoding))
    if op in ("create", "update", "update_status"):
        request["body"] = draw(objects(kind, encoding))
    elif op == "patch":
        patch_type = draw(st.sampled_from(["merge", "strategic", "json"]))
        request["body"] = draw(patches(kind, patch_type, encoding))
        if draw(st.integers(0, 3)):
            opts["patch_type"] = patch_type
    elif op == "bind":
        request["body"] = draw(
            st.fixed_dictionaries({"target": st.fixed_dictionaries({"name": st.sampled_from(["node-1"]) | hostile_scalars(encoding)})})
            | _hostile_any(encoding)
        )
    elif draw(st.integers(0, 4)) == 0:
        request["body"] = draw(_hostile_any(encoding))
    if draw(st.integers(0, 15)) == 0:  # opts of the wrong type now and then
        request["opts"] = draw(hostile_scalars(encoding))
    else:
        request["opts"] = opts
    return request


def is_finite_json(value: Any) -> bool:
    """True when ``value`` holds no NaN or infinity anywhere (strict JSON)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True
