"""``kemu apply``: kubectl's client-side apply.

The manifest is stored in the ``kubectl.kubernetes.io/last-applied-configuration``
annotation of the object it creates or changes. The next apply reads the
live object and sends the strategic merge patch kubectl sends
(:func:`kemu.api.patch.create_three_way_merge_patch`, with
``patch_type="strategic"``), computed from three documents:

- the last-applied configuration (the annotation): what this manifest set
  before, so what it no longer says is deleted;
- the new manifest (with the new annotation): what wins;
- the live object: what other writers set (a controller's annotation, the
  server's defaults, a container injected beside the manifest's, an
  ``env`` entry added by ``kubectl set env``) is kept, because lists with a
  patch merge key (containers by ``name``, ports by ``containerPort`` ...)
  are merged element by element instead of replaced.

An empty patch means the live object already says everything the manifest
says: the object is reported ``unchanged`` and nothing is sent. As kubectl
(with its default ``--overwrite``), the patch carries no resourceVersion
precondition: what the manifest says wins over a concurrent writer.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from dataclasses import dataclass

import click

from kemu.api import errors
from kemu.api.kinds import KindInfo, resolve
from kemu.api.patch import create_three_way_merge_patch
from kemu.cli import printers
from kemu.cli.base import (
    CommandError,
    Ctx,
    Obj,
    dry_run_suffix,
    fail,
    report,
    resource_ref,
    set_namespace,
    source_name,
    with_source,
)
from kemu.client import Client
from kemu.manifests import Manifest, load_manifests

__all__ = ["COMMANDS", "LAST_APPLIED", "Applied", "apply", "apply_one", "apply_patch", "last_applied_configuration"]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
"""The annotation kubectl apply keeps the applied manifest in."""


@dataclass(frozen=True, slots=True)
class Applied:
    """What one apply did to one object."""

    info: KindInfo
    obj: Obj
    """The object as the server returned it (or as sent, for a client dry run)."""
    operation: str
    """``created``, ``configured`` or ``unchanged``."""


_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})
"""What Go's json.Marshal escapes beyond what Python's json.dumps does."""


def _canonical(obj: Obj) -> str:
    """JSON as Go's json.Marshal writes it: compact, keys sorted, UTF-8, with
    ``<``, ``>`` and ``&`` escaped (inside strings is the only place they can be).

    >>> print(_canonical({"b": "<&>", "a": "é"}))
    {"a":"é","b":"\\u003c\\u0026\\u003e"}
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).translate(_GO_ESCAPES)


def last_applied_configuration(obj: Obj) -> str:
    """The annotation kubectl apply stores for the manifest ``obj``, byte
    for byte as kubectl writes it (``GetModifiedConfiguration``): the
    manifest without that annotation but with an ``annotations`` map, empty
    if need be, so that kubectl and kemu agree that nothing changed.

    >>> last_applied_configuration({"kind": "ConfigMap", "metadata": {"name": "c"}})
    '{"kind":"ConfigMap","metadata":{"annotations":{},"name":"c"}}\\n'
    """
    body = copy.deepcopy(obj)
    meta = body.setdefault("metadata", {})
    annotations = meta.get("annotations")
    annotations = dict(annotations) if isinstance(annotations, dict) else {}
    annotations.pop(LAST_APPLIED, None)
    meta["annotations"] = annotations
    return _canonical(body) + "\n"


def _parse_json(text: str) -> Obj | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _with_annotation(obj: Obj) -> Obj:
    """``obj`` carrying its own last-applied configuration (what apply sends)."""
    body = copy.deepcopy(obj)
    annotations = body["metadata"].get("annotations")
    if not isinstance(annotations, dict):
        annotations = body["metadata"]["annotations"] = {}
    annotations[LAST_APPLIED] = last_applied_configuration(obj)
    return body


def _object_name(info: KindInfo, name: str) -> str:
    """``deployments.apps/web`` (kubectl's ``Info.ObjectName``)."""
    res = f"{info.plural}.{info.group}" if info.group else info.plural
    return f"{res}/{name}"


def apply_patch(info: KindInfo, desired: Obj, live: Obj) -> Obj:
    """The strategic merge patch one apply sends to move ``live`` to the
    manifest ``desired`` (which already carries its new last-applied
    annotation); ``{}`` when there is nothing to change.

    The previous configuration comes from ``live``'s annotation; without one
    (an object made by ``create`` or a controller) nothing is deleted, as in
    kubectl. A container the manifest never named survives:

    >>> live = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [
    ...     {"name": "app", "image": "v1"}, {"name": "sidecar", "image": "s"}]}}
    >>> spec = apply_patch(resolve("Pod"), {"kind": "Pod", "metadata": {"name": "p"},
    ...     "spec": {"containers": [{"name": "app", "image": "v2"}]}}, live)["spec"]
    >>> spec["containers"], spec["$setElementOrder/containers"]
    ([{'image': 'v2', 'name': 'app'}], [{'name': 'app'}, {'name': 'sidecar'}])
    """
    last_raw = (live.get("metadata", {}).get("annotations") or {}).get(LAST_APPLIED)
    original = _parse_json(last_raw) if isinstance(last_raw, str) else None
    return create_three_way_merge_patch(original, desired, live, info.kind)


def _patch_failure(exc: errors.ApiError, info: KindInfo, obj: Obj, patch: Obj, source: str) -> errors.ApiError:
    """kubectl's wording for a failed apply patch (the patch, the target, the source)."""
    meta = obj["metadata"]
    group_resource = f"{info.group}/{info.version}, Resource={info.plural}"
    gvk = f"{info.group}/{info.version}, Kind={info.kind}"
    target = f'Resource: "{group_resource}", GroupVersionKind: "{gvk}"\nName: "{meta["name"]}", Namespace: "{meta.get("namespace", "")}"'
    return with_source(exc, f"applying patch:\n{_canonical(patch)}\nto:\n{target}\nfor:", source)


def _diff_failure(exc: ValueError, desired: Obj, live: Obj, source: str) -> CommandError:
    """kubectl's wording when no patch can be computed (``error when creating patch with: ...``)."""
    original = (live["metadata"].get("annotations") or {}).get(LAST_APPLIED) or ""
    return CommandError(
        f"error when creating patch with:\noriginal:\n{original.rstrip()}\nmodified:\n{_canonical(desired)}\n"
        f'current:\n{_canonical(live)}\nfor: "{source}": {exc}'
    )


def apply_one(client: Client, manifest: Manifest, namespace: str | None, *, dry_run: str = "none") -> Applied:
    """Create or patch the object of one manifest (kubectl's client-side apply).

    ``dry_run`` is ``none``, ``server`` (the server checks, stores nothing) or
    ``client`` (nothing is sent but the read). Raises
    :class:`~kemu.api.errors.ApiError` (with the manifest's source in its
    message) or :class:`~kemu.cli.base.CommandError`.
    """
    obj = copy.deepcopy(manifest.obj)
    info = resolve(obj["kind"])
    source = source_name(manifest)
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise CommandError(f"{source}: metadata must be a mapping")
    set_namespace(info, obj, namespace)
    name = meta.get("name")
    if not name:
        if meta.get("generateName"):
            raise CommandError(f"from {meta['generateName']}: cannot use generate name with apply")
        raise CommandError(f"{source}: resource name may not be empty")
    desired = _with_annotation(obj)
    try:
        live = client.get(info.kind, name, meta.get("namespace"))
    except errors.ApiError as exc:
        if exc.code != 404:
            raise with_source(exc, "retrieving current configuration of", source) from None
        if dry_run == "client":
            return Applied(info, desired, "created")
        try:
            created = client.create(desired, dry_run=dry_run == "server")
        except errors.ApiError as exc2:
            raise with_source(exc2, "creating", source) from None
        return Applied(info, created, "created")
    if dry_run == "client":
        return Applied(info, live, "configured")
    if LAST_APPLIED not in (live["metadata"].get("annotations") or {}):
        click.echo(
            f"Warning: resource {_object_name(info, name)} is missing the {LAST_APPLIED} annotation which is"
            " required by kemu apply. kemu apply should only be used on resources created declaratively by"
            " kemu apply (or kubectl apply). The missing annotation will be patched automatically.",
            err=True,
        )
    try:
        patch = apply_patch(info, desired, live)
    except ValueError as exc:  # e.g. a container without a name: no merge key to merge on
        raise _diff_failure(exc, desired, live, source) from None
    if not patch:
        return Applied(info, live, "unchanged")
    try:
        result = client.patch(info.kind, name, patch, meta.get("namespace"), patch_type="strategic",
                              dry_run=dry_run == "server")
    except errors.ApiError as exc:
        raise _patch_failure(exc, info, obj, patch, source) from None
    if result["metadata"].get("deletionTimestamp"):
        click.echo(f"Warning: Detected changes to resource {name} which is currently being deleted.", err=True)
    return Applied(info, result, "configured")


@click.command()
@click.option("-f", "--filename", "filenames", multiple=True, help="File, directory or - (stdin) holding the manifests.")
@click.option("-n", "--namespace", default=None, help="Namespace for manifests that name none.")
@click.option("--dry-run", type=click.Choice(["none", "server", "client"]), default="none",
              help="server: let the server check without storing; client: only print what would be sent.")
@click.option("-o", "--output", default=None, help="name|yaml|json: print the applied objects so.")
@click.pass_obj
def apply(ctx: Ctx, filenames: tuple[str, ...], namespace: str | None, dry_run: str, output: str | None) -> None:
    """Create or update objects from manifests (multi-document YAML, directories, -)."""
    if not filenames:
        fail("error: must specify one of -f and -k")
    if output not in (None, "name", "yaml", "json"):
        fail(f'error: unable to match a printer suitable for the output format "{output}", allowed formats are: json,name,yaml')
    manifests = load_manifests(list(filenames))
    if not manifests:
        fail("error: no objects passed to apply")
    results: list[Applied] = []
    errs: list[Exception] = []
    for manifest in manifests:
        try:
            result = apply_one(ctx.client, manifest, namespace, dry_run=dry_run)
        except (errors.ApiError, CommandError) as exc:
            errs.append(exc)
            continue
        results.append(result)
        if output in (None, "name"):
            ref = resource_ref(result.info, result.obj["metadata"]["name"])
            click.echo(ref if output == "name" else f"{ref} {result.operation}{dry_run_suffix(dry_run)}")
    if output in ("yaml", "json") and results:
        text = printers.print_objects(
            [r.obj for r in results], output=output, kind=results[0].info.kind, wide=False,
            all_namespaces=False, now=time.time(), as_list=len(results) > 1,
        ).stdout
        click.echo(text, nl=False)
    if errs:
        report(errs)
        sys.exit(1)


COMMANDS: list[click.Command] = [apply]
"""What this module adds to the ``kemu`` group."""
