"""``kemu describe``: fetch what kubectl's describers show, then print it.

The text itself is :func:`kemu.cli.describe.describe`, a pure function;
this module does the fetching kubectl does around it: the objects the
arguments name (a name that matches nothing falls back to every object whose
name starts with it, kubectl's ``DescribeMatchingResources``), the events
about each (:func:`events_for`) and the related objects
(:func:`related_for`: a Node's pods and Lease, a ReplicaSet's pods, a
Deployment's ReplicaSets, a Service's Endpoints).
"""

from __future__ import annotations

import sys
import time

import click

from kemu.api import errors
from kemu.api.kinds import KindInfo
from kemu.cli import describe as describe_mod
from kemu.cli.base import Ctx, Obj, Target, fail, no_resources, parse_targets, report
from kemu.client import Client

__all__ = ["COMMANDS", "describe", "events_for", "related_for"]


@click.command()
@click.argument("args", nargs=-1)
@click.option("-n", "--namespace", default=None)
@click.option("-A", "--all-namespaces", is_flag=True)
@click.option("-l", "--selector", default=None)
@click.option("--show-events/--no-show-events", default=True, help="Show the events about each object.")
@click.pass_obj
def describe(ctx: Ctx, args: tuple[str, ...], namespace: str | None, all_namespaces: bool, selector: str | None,
             show_events: bool) -> None:
    """Show details of objects and their events (kubectl describe).

    A name that matches no object describes every object whose name starts
    with it (``kemu describe pod web`` shows all of web's pods), as kubectl does.
    """
    if not args:
        fail(
            'You must specify the type of resource to describe. Use "kemu api-resources" for a complete list of'
            " supported resources.\n\nerror: Required resource not specified.\nSee 'kemu describe -h' for help and examples"
        )
    targets = parse_targets(args, command="describe")
    objs: list[Obj] = []
    errs: list[Exception] = []
    for target in targets:
        try:
            objs.extend(_describe_targets(ctx, target, namespace, all_namespaces, selector))
        except errors.ApiError as exc:
            if exc.code == 503:
                raise
            errs.append(exc)
    if not objs and not errs:
        ns_word = namespace or "default"
        fail(no_resources(targets, all_namespaces, ns_word), code=0)
    now = time.time()
    texts = [
        describe_mod.describe(
            obj, events=events_for(ctx.client, obj) if show_events else None, related=related_for(ctx.client, obj), now=now
        )
        for obj in objs
    ]
    if texts:
        click.echo("\n\n".join(texts), nl=False)
    if errs:
        report(errs)
        sys.exit(1)


def _describe_targets(ctx: Ctx, target: Target, namespace: str | None, all_ns: bool, selector: str | None) -> list[Obj]:
    """The objects one target means; a missing name falls back to every
    object whose name starts with it (kubectl's DescribeMatchingResources)."""
    info = target.info
    if target.name is None:
        items = ctx.client.list(info.kind, namespace, all_namespaces=all_ns, label_selector=selector)["items"]
        return [_typed(info, o) for o in items]
    try:
        return [_typed(info, ctx.client.get(info.kind, target.name, namespace))]
    except errors.ApiError as exc:
        if exc.code != 404:
            raise
        items = ctx.client.list(info.kind, namespace)["items"]
        matching = [_typed(info, o) for o in items if o["metadata"]["name"].startswith(target.name)]
        if not matching:
            raise
        return matching


def _typed(info: KindInfo, obj: Obj) -> Obj:
    if obj.get("kind") and obj.get("apiVersion"):
        return obj
    return {"apiVersion": info.api_version, "kind": info.kind, **obj}


def events_for(client: Client, obj: Obj) -> list[Obj]:
    """The events that may be about ``obj``: same involved name (and kind,
    except for pods), from its namespace, or from every namespace for a
    cluster-scoped object (a node's events live in ``default``).
    :func:`kemu.cli.describe.events_for` picks the ones about ``obj`` (it
    knows a kubelet names a node by its name where others use its uid)."""
    meta = obj["metadata"]
    selector = [f"involvedObject.name={meta['name']}"]
    if obj.get("kind") != "Pod":
        selector.append(f"involvedObject.kind={obj.get('kind')}")
    namespace = meta.get("namespace")
    try:
        listing = client.list(
            "Event", namespace, all_namespaces=not namespace, field_selector=",".join(selector)
        )
    except errors.ApiError:
        return []
    return list(listing["items"])


def related_for(client: Client, obj: Obj) -> dict[str, list[Obj]]:
    """What describe shows beside an object: a node's pods and lease, a
    ReplicaSet's pods, a Deployment's ReplicaSets, a Service's endpoints."""
    kind, meta = obj["kind"], obj["metadata"]
    ns = meta.get("namespace")
    try:
        if kind == "Node":
            pods = client.list("Pod", all_namespaces=True, field_selector=f"spec.nodeName={meta['name']}")["items"]
            leases = client.list("Lease", "kube-node-lease", field_selector=f"metadata.name={meta['name']}")["items"]
            return {"Pod": pods, "Lease": leases}
        if kind in ("ReplicaSet", "ReplicationController", "Deployment"):
            owned_kind = "ReplicaSet" if kind == "Deployment" else "Pod"
            items = client.list(owned_kind, ns)["items"]
            owned = [o for o in items if any(r.get("uid") == meta.get("uid") for r in o["metadata"].get("ownerReferences") or [])]
            return {owned_kind: owned}
        if kind == "Service":
            eps = client.list("Endpoints", ns, field_selector=f"metadata.name={meta['name']}")["items"]
            return {"Endpoints": eps}
    except errors.ApiError as exc:
        if exc.code == 503:
            raise
    return {}


COMMANDS: list[click.Command] = [describe]
"""What this module adds to the ``kemu`` group."""
