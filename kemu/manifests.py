"""Reading manifests: the YAML or JSON a user gives ``kemu apply -f``.

Accepts a file, a directory (``*.yaml``, ``*.yml``, ``*.json``, sorted by
name, not recursive, like kubectl), or ``-`` for stdin; multi-document YAML;
``kind: List`` (and ``*List``) documents are expanded into their items; empty
documents are skipped. Anything that is not a Kubernetes object raises
:class:`ManifestError` naming the source and document, in kubectl's words
where kubectl has some.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kemu.api.kinds import KINDS, kind_for_api
from kemu.types import Obj

__all__ = ["ManifestError", "Manifest", "load_manifests", "parse_manifests"]

_EXTENSIONS = (".yaml", ".yml", ".json")


class ManifestError(ValueError):
    """A manifest that cannot be turned into objects."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """One object read from a source."""

    obj: dict[str, Any]
    source: str
    """The file it came from (``-`` for stdin)."""
    index: int
    """Its document number in that file, from 0."""


def load_manifests(paths: list[str]) -> list[Manifest]:
    """Every object in ``paths`` (files, directories, ``-``), in order."""
    out: list[Manifest] = []
    for path in paths:
        for source, text in _read(path):
            out.extend(parse_manifests(text, source))
    return out


def _read(path: str) -> Iterator[tuple[str, str]]:
    if path == "-":
        yield "-", sys.stdin.read()
        return
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix in _EXTENSIONS)
        if not files:
            raise ManifestError(f'error: no objects passed to apply (no manifests in directory "{path}")')
        for f in files:
            yield str(f), f.read_text()
        return
    if not p.exists():
        raise ManifestError(f'error: the path "{path}" does not exist')
    yield str(p), p.read_text()


def parse_manifests(text: str, source: str = "-") -> list[Manifest]:
    """Objects in one YAML or JSON text."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ManifestError(f'error: error parsing {source}: {_yaml_problem(exc)}') from None
    out: list[Manifest] = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        for obj in _expand(doc, source, index):
            out.append(Manifest(_check(obj, source, index), source, index))
    return out


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"error converting YAML to JSON: yaml: line {mark.line + 1}: {problem}"
    return f"error converting YAML to JSON: {problem}"


def _expand(doc: Any, source: str, index: int) -> list[Any]:
    if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and "items" in doc:
        items = doc.get("items")
        if not isinstance(items, list):
            raise ManifestError(f"error: {source} (document {index}): items of a List must be a list")
        return items
    return [doc]


def _check(obj: Any, source: str, index: int) -> dict[str, Any]:
    where = f"{source}" if index == 0 else f"{source} (document {index + 1})"
    if not isinstance(obj, dict):
        raise ManifestError(
            f"error: error validating {where}: a manifest must be a mapping with apiVersion and kind,"
            f" got {type(obj).__name__}"
        )
    # Round-trip through JSON: YAML may carry dates, sets or binary that JSON (and Kubernetes) cannot.
    try:
        checked: Obj = json.loads(json.dumps(obj))
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"error: error validating {where}: {exc}") from None
    api_version, kind = checked.get("apiVersion"), checked.get("kind")
    if not api_version or not kind:
        missing = "apiVersion" if not api_version else "kind"
        raise ManifestError(
            f'error: error validating data: [{missing} not set]; if you choose to ignore these errors, '
            f"turn validation off with --validate=false ({where})"
        )
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise ManifestError(f"error: error validating {where}: apiVersion and kind must be strings")
    if kind_for_api(api_version, kind) is None:
        name = (checked.get("metadata") or {}).get("name", "") if isinstance(checked.get("metadata"), dict) else ""
        ns = (checked.get("metadata") or {}).get("namespace", "") if isinstance(checked.get("metadata"), dict) else ""
        hint = ""
        if kind in KINDS:
            hint = f' (kemu serves {kind} as "{KINDS[kind].api_version}")'
        raise ManifestError(
            f'error: resource mapping not found for name: "{name}" namespace: "{ns}" from "{source}": '
            f'no matches for kind "{kind}" in version "{api_version}"{hint}\n'
            "ensure CRDs are installed first"
        )
    return checked
