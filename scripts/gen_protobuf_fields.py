#!/usr/bin/env python3
"""Generate kemu/api/protobuf_fields.py from Kubernetes' sources.

The protobuf field numbers of the built-in kinds are facts of Kubernetes'
``generated.proto`` files; what a Go client's JSON would look like (which
fields are pointers, which are ``omitempty``, which are inlined) is a fact of
the Go structs' ``json:"..."`` and ``protobuf:"..."`` tags in ``types.go``.
This script reads both from checkouts of

- github.com/kubernetes/api           (every group/version of k8s.io/api),
- github.com/kubernetes/apimachinery  (meta/v1, runtime, intstr, resource),
- github.com/kubernetes/metrics       (metrics.k8s.io and friends),

and writes one table, message name -> field number -> spec, that
:mod:`kemu.api.protobuf` decodes and encodes with::

    python scripts/gen_protobuf_fields.py \\
        --api /path/to/api --apimachinery /path/to/apimachinery \\
        --metrics /path/to/metrics > kemu/api/protobuf_fields.py

A checkout may be a ``git archive`` of the repository; when it holds a file
``.commit`` (or is a git work tree) the commit is written into the header.
"""

from __future__ import annotations

import argparse
import pprint
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SCALARS = {"string", "int32", "int64", "uint32", "uint64", "bool", "bytes", "double", "float", "sint32", "sint64"}

POINTER, OMITEMPTY, INLINE, OMITZERO = 1, 2, 4, 8

_MESSAGE = re.compile(r"^message (\w+) \{$")
_FIELD = re.compile(
    r"^\s*(optional|repeated|required)?\s*(map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)\s*(\[[^]]*\])?;"
)
_STRUCT = re.compile(r"^type (\w+) struct \{\s*$")
_SLICE_TYPE = re.compile(r"^type (\w+) \[\]([\w.*]+)\s*$")
_GO_FIELD = re.compile(r"^\s*(?:(\w+)\s+)?([\w.*\[\]]+(?:\[[\w.]+\][\w.*]+)?)\s+`([^`]*)`\s*$")


@dataclass
class GoField:
    """What one Go struct field says about its JSON form."""

    go_type: str
    json_name: str | None
    omitempty: bool
    omitzero: bool
    inline: bool


def _commit(root: Path) -> str:
    marker = root / ".commit"
    if marker.exists():
        return marker.read_text().strip()
    try:
        return subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def parse_proto(path: Path) -> tuple[str, dict[str, list[tuple[str, str, str, str | None, int]]]]:
    """(package, message -> [(label, type, name, map key type or None, number)])."""
    package = ""
    messages: dict[str, list[tuple[str, str, str, str | None, int]]] = {}
    current: list[tuple[str, str, str, str | None, int]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.split("//", 1)[0].rstrip()
        if not line.strip():
            continue
        if line.startswith("package "):
            package = line.removeprefix("package ").rstrip(";").strip()
        elif m := _MESSAGE.match(line):
            current = messages.setdefault(m.group(1), [])
        elif line.strip() == "}":
            current = None
        elif current is not None and (f := _FIELD.match(line)):
            label, typ, key, value, name, number = f.group(1) or "", f.group(2), f.group(3), f.group(4), f.group(5), f.group(6)
            if key is not None:
                current.append(("map", value, name, key, int(number)))
            else:
                current.append((label, typ, name, None, int(number)))
        elif current is not None:
            raise SystemExit(f"{path}: cannot read the field line {raw!r}")
    return package, messages


def parse_go(directory: Path) -> tuple[dict[str, dict[int, GoField]], dict[str, list[str]], set[str]]:
    """Go structs of a package: struct -> proto number -> field; struct field
    order (JSON names); and the names of slice types (``type Verbs []string``)."""
    structs: dict[str, dict[int, GoField]] = {}
    order: dict[str, list[str]] = {}
    slices: set[str] = set()
    for path in sorted(directory.glob("*.go")):
        if path.name.endswith("_test.go") or path.name.startswith(("zz_generated", "generated.pb")):
            continue
        current: str | None = None
        depth = 0
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if current is None:
                if m := _STRUCT.match(line):
                    current, depth = m.group(1), 1
                    structs.setdefault(current, {})
                    order.setdefault(current, [])
                elif m := _SLICE_TYPE.match(line):
                    slices.add(m.group(1))
                continue
            if stripped.startswith("//") or not stripped:
                continue
            depth += stripped.count("{") - stripped.count("}")
            if depth <= 0:
                current = None
                continue
            m = _GO_FIELD.match(line)
            if m is None or depth != 1:
                continue
            tags = m.group(3)
            proto = re.search(r'protobuf:"([^"]*)"', tags)
            if proto is None or proto.group(1) == "-":
                continue
            json_tag = re.search(r'json:"([^"]*)"', tags)
            parts = json_tag.group(1).split(",") if json_tag else [""]
            json_name = parts[0] if json_tag else None
            if json_name == "-":
                json_name = None
            number = int(proto.group(1).split(",")[1])
            field = GoField(
                go_type=m.group(2),
                json_name=json_name,
                omitempty="omitempty" in parts[1:],
                omitzero="omitzero" in parts[1:],
                # Go inlines an embedded struct whose tag names no JSON field
                # (``json:",inline"`` is only a convention of Kubernetes' tools).
                inline="inline" in parts[1:] or (m.group(1) is None and not json_name),
            )
            structs[current][number] = field
            order[current].append(str(number))
    return structs, order, slices


def _resolve(package: str, typ: str) -> str:
    if typ in SCALARS:
        return typ
    if typ.startswith("."):
        return typ[1:]
    if "." in typ:
        return typ
    return f"{package}.{typ}"


def _group_of(directory: Path) -> str | None:
    for candidate in (directory / "register.go", directory.parent / "register.go"):
        if candidate.exists():
            m = re.search(r'GroupName\s*=\s*"([^"]*)"', candidate.read_text())
            if m:
                return m.group(1)
    return None


def generate(roots: dict[str, Path]) -> str:
    messages: dict[str, dict[int, tuple[str, str, str, int]]] = {}
    slice_messages: set[str] = set()
    group_versions: dict[str, str] = {}
    unmatched = 0
    for _label, root in roots.items():
        for proto in sorted(root.rglob("generated.proto")):
            if "testapigroup" in proto.parts or "vendor" in proto.parts:
                continue
            package, parsed = parse_proto(proto)
            directory = proto.parent
            structs, order, slices = parse_go(directory)
            group = _group_of(directory)
            version = directory.name
            if group is not None and re.fullmatch(r"v\d+((alpha|beta)\d+)?", version):
                group_versions[f"{group}/{version}" if group else version] = package
            for name, fields in parsed.items():
                full = f"{package}.{name}"
                if name in slices:
                    slice_messages.add(full)
                go_fields = structs.get(name, {})
                specs: dict[int, tuple[str, str, str, int]] = {}
                for label, typ, proto_name, key, number in fields:
                    go = go_fields.get(number)
                    flags = 0
                    json_name = proto_name
                    if go is None:
                        unmatched += 1
                        flags |= OMITEMPTY
                    else:
                        if go.go_type.startswith("*"):
                            flags |= POINTER
                        if go.omitempty:
                            flags |= OMITEMPTY
                        if go.omitzero:
                            flags |= OMITZERO
                        if go.inline:
                            flags |= INLINE
                            json_name = ""
                        elif go.json_name:
                            json_name = go.json_name
                    if label == "map":
                        shape = f"map:{_resolve(package, key or 'string')}"
                    elif label == "repeated":
                        shape = "rep"
                    else:
                        shape = ""
                    specs[number] = (json_name, _resolve(package, typ), shape, flags)
                go_order = [int(n) for n in order.get(name, []) if int(n) in specs]
                ordered = go_order + sorted(n for n in specs if n not in go_order)
                messages[full] = {n: specs[n] for n in ordered}
    header = [
        '"""Protobuf field numbers of every Kubernetes message, generated: do not edit.',
        "",
        "Written by scripts/gen_protobuf_fields.py from Kubernetes' generated.proto",
        "and types.go files; read by :mod:`kemu.api.protobuf`. Sources:",
        "",
    ]
    for label, root in roots.items():
        header.append(f"- github.com/kubernetes/{label} at {_commit(root)}")
    header += [
        "",
        "``MESSAGES`` maps a message's full name to its fields, in Go struct order:",
        "number -> (JSON name, type, shape, flags). The type is a protobuf scalar",
        "(``string``, ``int32`` ...) or a message's full name; the shape is ``\"\"``",
        "(one value), ``\"rep\"`` (repeated) or ``\"map:<key type>\"`` (the type is",
        "the value's); the flags are :data:`POINTER` (a Go pointer: an explicit",
        "zero is kept), :data:`OMITEMPTY`, :data:`OMITZERO` and :data:`INLINE` (the",
        "message's fields are the parent's, ``json:\",inline\"``).",
        "``SLICE_MESSAGES`` are messages that are Go slices (``type Verbs []string``,",
        "their one field ``items``). ``GROUP_VERSIONS`` maps an apiVersion to its",
        "protobuf package.",
        '"""',
        "",
        "# fmt: off",
        "# ruff: noqa",
        "",
        f"POINTER, OMITEMPTY, INLINE, OMITZERO = {POINTER}, {OMITEMPTY}, {INLINE}, {OMITZERO}",
        "",
    ]
    body = [
        "GROUP_VERSIONS: dict[str, str] = " + pprint.pformat(dict(sorted(group_versions.items())), width=110),
        "",
        "SLICE_MESSAGES: frozenset[str] = frozenset(" + pprint.pformat(sorted(slice_messages), width=110) + ")",
        "",
        "MESSAGES: dict[str, dict[int, tuple[str, str, str, int]]] = {",
    ]
    for full in sorted(messages):
        body.append(f"    {full!r}: {{")
        for number, spec in messages[full].items():
            body.append(f"        {number}: {spec!r},")
        body.append("    },")
    body.append("}")
    print(f"{len(messages)} messages, {len(group_versions)} group versions, "
          f"{unmatched} fields without a Go struct field", file=sys.stderr)
    return "\n".join(header + body) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", type=Path, required=True, help="checkout of github.com/kubernetes/api")
    parser.add_argument("--apimachinery", type=Path, required=True, help="checkout of github.com/kubernetes/apimachinery")
    parser.add_argument("--metrics", type=Path, required=True, help="checkout of github.com/kubernetes/metrics")
    args = parser.parse_args()
    roots = {"api": args.api, "apimachinery": args.apimachinery, "metrics": args.metrics}
    for label, root in roots.items():
        if not any(root.rglob("generated.proto")):
            raise SystemExit(f"--{label} {root}: no generated.proto below it")
    sys.stdout.write(generate(roots))


if __name__ == "__main__":
    main()
