"""``kemu delete``: kubectl delete's targets, grace periods and ``--wait``.

Objects are named by argument (``KIND NAME...``, ``KIND/NAME``), by
manifest (``-f``), by label or field selector, or ``--all`` of a kind.
kubectl's adjustments of the options are kept (:func:`_grace_period`:
``--now`` is one second, ``--grace-period=0`` without ``--force`` is one
second too, ``--force`` alone is zero), as are its lines (``pod "web"
deleted``, ``force deleted``, ``(server dry run)``). Each object is deleted
in turn; a failure does not stop the others, and with ``--wait`` (the
default) the command returns once every deleted object is gone or
replaced by a new one of the same name.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import click

from kemu.api import errors
from kemu.api.kinds import KindInfo, resolve
from kemu.cli import printers
from kemu.cli.base import (
    CommandError,
    Ctx,
    dry_run_suffix,
    fail,
    namespace_of,
    parse_targets,
    report,
    set_namespace,
    source_name,
    with_source,
)
from kemu.client import Client
from kemu.manifests import load_manifests

__all__ = ["COMMANDS", "DeleteOptions", "DeleteTarget", "delete"]


@dataclass(frozen=True, slots=True)
class DeleteTarget:
    """One object to delete."""

    info: KindInfo
    namespace: str | None
    name: str
    source: str | None = None
    """The manifest it came from (``-f``), for error messages."""


@dataclass(frozen=True, slots=True)
class DeleteOptions:
    """kubectl delete's options, after kubectl's own adjustments."""

    grace_period: int | None
    """Seconds; None uses the object's own."""
    propagation: str
    dry_run: str
    output: str | None


_CASCADE = {"background": "Background", "true": "Background", "foreground": "Foreground", "orphan": "Orphan",
            "false": "Orphan"}


def _grace_period(grace_period: int, now: bool, force: bool) -> int | None:
    """kubectl's rules: ``--now`` is 1; 0 without ``--force`` is 1 (no
    accidental force); ``--force`` alone is 0."""
    if now:
        if grace_period != -1:
            raise CommandError("--now and --grace-period cannot be specified together")
        grace_period = 1
    if grace_period == 0 and not force:
        grace_period = 1
    if force and grace_period < 0:
        grace_period = 0
    if force and grace_period > 0:
        raise CommandError("--force and --grace-period greater than 0 cannot be specified together")
    return None if grace_period < 0 else grace_period


def _delete_targets_from_files(filenames: Sequence[str], namespace: str | None) -> list[DeleteTarget]:
    targets = []
    for manifest in load_manifests(list(filenames)):
        obj = copy.deepcopy(manifest.obj)
        info = resolve(obj["kind"])
        obj.setdefault("metadata", {})
        set_namespace(info, obj, namespace)
        md = obj["metadata"]
        targets.append(DeleteTarget(info, md.get("namespace"), md.get("name", ""), source_name(manifest)))
    return targets


def _delete_targets_from_args(ctx: Ctx, args: Sequence[str], namespace: str | None, all_ns: bool,
                              selector: str | None, field_selector: str | None, all_: bool) -> list[DeleteTarget]:
    targets: list[DeleteTarget] = []
    for target in parse_targets(args, command="delete"):
        info = target.info
        if target.name is not None:
            targets.append(DeleteTarget(info, namespace_of(info, namespace), target.name))
            continue
        if not (selector or field_selector or all_):
            raise CommandError("resource(s) were provided, but no name was specified")
        listing = ctx.client.list(info.kind, namespace, all_namespaces=all_ns, label_selector=selector,
                                  field_selector=field_selector)
        targets.extend(
            DeleteTarget(info, o["metadata"].get("namespace"), o["metadata"]["name"]) for o in listing["items"]
        )
    return targets


def _deleted_line(target: DeleteTarget, opts: DeleteOptions) -> str:
    """kubectl's ``pod "web" deleted`` (``force deleted``, ``(server dry run)``, or ``-o name``)."""
    kind_string = printers.resource_name(target.info.kind)
    if opts.output == "name":
        return f"{kind_string}/{target.name}"
    operation = "force deleted" if opts.grace_period == 0 else "deleted"
    return f'{kind_string} "{target.name}" {operation}{dry_run_suffix(opts.dry_run)}'


def _wait_deleted(client: Client, deleted: Sequence[tuple[DeleteTarget, str]], timeout: float) -> list[Exception]:
    """Wait until every deleted object is gone (or replaced by a new one of
    the same name: another uid); kubectl's ``--wait``."""
    deadline = time.monotonic() + (timeout if timeout > 0 else 168 * 3600.0)
    errs: list[Exception] = []
    for target, uid in deleted:
        delay = 0.05
        while True:
            try:
                obj = client.get(target.info.kind, target.name, target.namespace)
                if uid and obj["metadata"].get("uid") != uid:
                    break
            except errors.ApiError as exc:
                if exc.code == 404:
                    break
                if exc.code != 503:
                    errs.append(exc)
                    break
            if time.monotonic() >= deadline:
                errs.append(CommandError(f"timed out waiting for the condition on {target.info.plural}/{target.name}"))
                break
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.5)
    return errs


@click.command()
@click.argument("args", nargs=-1)
@click.option("-f", "--filename", "filenames", multiple=True, help="File, directory or - naming the objects.")
@click.option("-n", "--namespace", default=None)
@click.option("-A", "--all-namespaces", is_flag=True, help="With -l or --all: across all namespaces.")
@click.option("-l", "--selector", default=None, help="Delete the objects with these labels.")
@click.option("--field-selector", default=None, help="Delete the objects whose fields match.")
@click.option("--all", "all_", is_flag=True, help="Delete every object of the kind in the namespace.")
@click.option("--grace-period", type=int, default=-1, help="Seconds to let a pod stop; -1 uses the pod's own.")
@click.option("--now", is_flag=True, help="Same as --grace-period=1.")
@click.option("--force", is_flag=True, help="Remove at once, without waiting for the node to stop the pod.")
@click.option("--cascade", type=click.Choice(sorted(_CASCADE)), default="background", is_flag=False,
              flag_value="background", help="background, foreground or orphan: what happens to dependents.")
@click.option("--wait", type=click.BOOL, default=True, is_flag=False, flag_value=True,
              help="Wait until the objects are gone (--wait=false returns at once).")
@click.option("--ignore-not-found", is_flag=True, default=None, help="A missing object is not an error (default with -l/--all).")
@click.option("--timeout", type=float, default=0.0, help="Seconds to wait with --wait; 0 waits as long as it takes.")
@click.option("--dry-run", type=click.Choice(["none", "server", "client"]), default="none")
@click.option("-o", "--output", default=None, help="name: print resource/name only.")
@click.pass_obj
def delete(
    ctx: Ctx,
    args: tuple[str, ...],
    filenames: tuple[str, ...],
    namespace: str | None,
    all_namespaces: bool,
    selector: str | None,
    field_selector: str | None,
    all_: bool,
    grace_period: int,
    now: bool,
    force: bool,
    cascade: str,
    wait: bool,
    ignore_not_found: bool | None,
    timeout: float,
    dry_run: str,
    output: str | None,
) -> None:
    """Delete objects by name, by manifest (-f), by label (-l) or all of a kind (--all)."""
    if output not in (None, "name"):
        fail(f"error: unexpected -o output mode: {output}. We only support '-o name'")
    if all_ and selector:
        fail("error: cannot set --all and --selector at the same time")
    if all_ and field_selector:
        fail("error: cannot set --all and --field-selector at the same time")
    if cascade in ("true", "false"):
        click.echo(f"warning: --cascade={cascade} is deprecated (boolean value) and can be replaced with"
                   f" --cascade={'background' if cascade == 'true' else 'orphan'}.", err=True)
    opts = DeleteOptions(_grace_period(grace_period, now, force), _CASCADE[cascade], dry_run, output)
    if force and opts.grace_period == 0:
        click.echo("Warning: Immediate deletion does not wait for confirmation that the running resource has been"
                   " terminated. The resource may continue to run on the cluster indefinitely.", err=True)
    if ignore_not_found is None:
        ignore_not_found = bool(all_ or selector or field_selector)
    if filenames:
        targets = _delete_targets_from_files(filenames, namespace)
    elif args:
        targets = _delete_targets_from_args(ctx, args, namespace, all_namespaces, selector, field_selector, all_)
    else:
        fail(
            "error: You must provide one or more resources by argument or filename.\n"
            "Example resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n"
            "   '<resource> <name>'\n   '<resource>'"
        )
    deleted, errs = _delete_all(ctx.client, targets, opts, ignore_not_found)
    if not deleted and not errs:
        click.echo("No resources found")
        return
    if wait and dry_run == "none":
        errs.extend(_wait_deleted(ctx.client, deleted, timeout))
    if errs:
        report(errs)
        sys.exit(1)


def _delete_all(client: Client, targets: Sequence[DeleteTarget], opts: DeleteOptions,
                ignore_not_found: bool) -> tuple[list[tuple[DeleteTarget, str]], list[Exception]]:
    """Delete each target (printing kubectl's line); the deleted ones with
    their uids, and the errors."""
    deleted: list[tuple[DeleteTarget, str]] = []
    errs: list[Exception] = []
    for target in targets:
        if opts.dry_run == "client":
            click.echo(_deleted_line(target, opts))
            deleted.append((target, ""))
            continue
        try:
            gone = client.delete(target.info.kind, target.name, target.namespace, grace_period_seconds=opts.grace_period,
                                 propagation_policy=opts.propagation, dry_run=opts.dry_run == "server")
        except errors.ApiError as exc:
            if exc.code == 503:
                raise
            if exc.code == 404 and ignore_not_found:
                continue
            errs.append(with_source(exc, "deleting", target.source) if target.source else exc)
            continue
        click.echo(_deleted_line(target, opts))
        deleted.append((target, str((gone.get("metadata") or {}).get("uid") or "")))
    return deleted, errs


COMMANDS: list[click.Command] = [delete]
"""What this module adds to the ``kemu`` group."""
