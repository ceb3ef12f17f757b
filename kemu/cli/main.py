"""``kemu``: the command line, mirroring kubectl where the two overlap.

This module holds the object commands (apply, get, describe, delete, create);
:mod:`kemu.cli.cluster` holds the launcher's (up, down, node). Every command
finds the apiserver through :func:`kemu.config.resolve_server` and reports
server errors the way kubectl does (``Error from server (NotFound): ...``).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

import click

from kemu.api import errors
from kemu.api.kinds import KindInfo, resolve
from kemu.cli import describe as describe_mod, printers
from kemu.client import Client
from kemu.config import resolve_server
from kemu.manifests import ManifestError, load_manifests

__all__ = ["main", "cli"]

Obj = dict[str, Any]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class Ctx:
    """What every command needs: how to reach the server."""

    def __init__(self, server: str | None, timeout: float):
        self.server = resolve_server(server)
        self.timeout = timeout
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.server, timeout=self.timeout)
        return self._client


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


def server_error(exc: errors.ApiError) -> str:
    """kubectl's rendering of a ``Status``."""
    if exc.code == 422 and exc.causes:
        details = exc.status.get("details", {})
        head = f'The {details.get("kind", "object")} "{details.get("name", "")}" is invalid: '
        causes = exc.causes
        if len(causes) == 1:
            return head + causes[0]["message"]
        return head + "\n" + "\n".join(f"* {c['message']}" for c in causes)
    if exc.code == 503 and exc.reason == "ServiceUnavailable":
        return f"error: {exc.message}"
    return f"Error from server ({exc.reason or exc.code}): {exc.message}"


def run_api(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except errors.ApiError as exc:
        fail(server_error(exc))


def resource_ref(info: KindInfo, name: str) -> str:
    """``deployment.apps/web``, ``pod/web-1`` (kubectl's -o name)."""
    res = f"{info.singular}.{info.group}" if info.group else info.singular
    return f"{res}/{name}"


def resolve_kind(word: str) -> KindInfo:
    try:
        return resolve(word)
    except ValueError as exc:
        fail(f"error: {exc}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--server", "-s", envvar="KEMU_SERVER", default=None,
              help="apiserver request address (tcp://host:port or ipc://path); default from $KEMU_SERVER or ~/.kemu/config.yaml.")
@click.option("--request-timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the server.")
@click.pass_context
def cli(ctx: click.Context, server: str | None, request_timeout: float) -> None:
    """kemu: a Kubernetes emulator you can kill nodes in.

    Start a cluster with `kemu up`, then use kemu like kubectl.
    """
    ctx.obj = Ctx(server, request_timeout)


# -- apply ----------------------------------------------------------------------


def three_way_patch(last_applied: Obj | None, desired: Obj, live: Obj) -> Obj:
    """kubectl apply's merge patch: set what the manifest says where the live
    object differs, and delete what the previous apply set but this manifest
    no longer does. Fields others own (status, defaults, a controller's
    annotations) are left alone."""
    patch: Obj = {}
    for key, value in desired.items():
        current = live.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            sub = three_way_patch((last_applied or {}).get(key) if isinstance((last_applied or {}).get(key), dict) else None, value, current)
            if sub:
                patch[key] = sub
        elif value != current:
            patch[key] = value
    for key in (last_applied or {}):
        if key not in desired and key in live:
            patch[key] = None
    return patch


@cli.command()
@click.option("-f", "--filename", "filenames", multiple=True, required=True, help="File, directory or - (stdin).")
@click.option("-n", "--namespace", default=None)
@click.option("--dry-run", type=click.Choice(["none", "server", "client"]), default="none")
@click.option("-o", "--output", type=click.Choice(["name", "yaml", "json"]), default=None)
@click.pass_obj
def apply(ctx: Ctx, filenames: tuple[str, ...], namespace: str | None, dry_run: str, output: str | None) -> None:
    """Create or update objects from manifests (multi-document YAML, directories, -)."""
    try:
        manifests = load_manifests(list(filenames))
    except ManifestError as exc:
        fail(str(exc))
    if not manifests:
        fail("error: no objects passed to apply")
    failed = False
    for m in manifests:
        try:
            click.echo(apply_one(ctx.client, m.obj, namespace, dry_run=dry_run != "none", output=output))
        except errors.ApiError as exc:
            click.echo(server_error(exc), err=True)
            failed = True
    if failed:
        sys.exit(1)


def apply_one(client: Client, obj: Obj, namespace: str | None, *, dry_run: bool = False, output: str | None = None) -> str:
    """Create or patch one object; returns kubectl's line (``deployment.apps/web configured``)."""
    info = resolve(obj["kind"])
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be a mapping")
    if info.namespaced:
        if namespace and meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request(
                f"the namespace from the provided object \"{meta['namespace']}\" does not match the namespace "
                f"\"{namespace}\". You must pass '--namespace={meta['namespace']}' to perform this operation."
            )
        meta["namespace"] = meta.get("namespace") or namespace or "default"
    name = meta.get("name")
    suffix = " (server dry run)" if dry_run else ""
    applied = _canonical(obj)
    if not name:
        if not meta.get("generateName"):
            raise errors.bad_request("error: resource name may not be empty")
        created = client.create(obj, dry_run=dry_run)
        return _describe_result(info, created, "created" + suffix, output)
    try:
        live = client.get(info.kind, name, meta.get("namespace"))
    except errors.ApiError as exc:
        if exc.code != 404:
            raise
        body = _with_annotation(obj, applied)
        created = client.create(body, dry_run=dry_run)
        return _describe_result(info, created, "created" + suffix, output)
    last_raw = (live["metadata"].get("annotations") or {}).get(LAST_APPLIED)
    last = _parse_json(last_raw) if last_raw else None
    desired = _with_annotation(obj, applied)
    patch = three_way_patch(last, desired, live)
    if not patch:
        return _describe_result(info, live, "unchanged", output)
    result = client.patch(info.kind, name, patch, meta.get("namespace"), patch_type="merge", dry_run=dry_run)
    return _describe_result(info, result, "configured" + suffix, output)


def _canonical(obj: Obj) -> str:
    import json

    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _parse_json(text: str) -> Obj | None:
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _with_annotation(obj: Obj, applied: str) -> Obj:
    import copy

    body = copy.deepcopy(obj)
    body["metadata"].setdefault("annotations", {})[LAST_APPLIED] = applied + "\n"
    return body


def _describe_result(info: KindInfo, obj: Obj, verb: str, output: str | None) -> str:
    if output in ("yaml", "json"):
        return printers.print_objects([obj], output=output, kind=info.kind, wide=False, all_namespaces=False, now=time.time()).stdout.rstrip("\n")
    ref = resource_ref(info, obj["metadata"]["name"])
    return ref if output == "name" else f"{ref} {verb}"


# -- get ------------------------------------------------------------------------


@cli.command()
@click.argument("kind")
@click.argument("names", nargs=-1)
@click.option("-n", "--namespace", default=None)
@click.option("-A", "--all-namespaces", is_flag=True)
@click.option("-l", "--selector", default=None, help="Label selector (app=web,tier!=db,env in (a,b)).")
@click.option("--field-selector", default=None, help="Field selector (spec.nodeName=node-1,status.phase=Running).")
@click.option("-o", "--output", default=None, help="wide|yaml|json|name|jsonpath=...|custom-columns=...")
@click.option("-w", "--watch", is_flag=True, help="After listing, watch for changes.")
@click.option("--watch-only", is_flag=True, help="Watch for changes without listing first.")
@click.option("--no-headers", is_flag=True)
@click.option("--show-labels", is_flag=True)
@click.pass_obj
def get(
    ctx: Ctx,
    kind: str,
    names: tuple[str, ...],
    namespace: str | None,
    all_namespaces: bool,
    selector: str | None,
    field_selector: str | None,
    output: str | None,
    watch: bool,
    watch_only: bool,
    no_headers: bool,
    show_labels: bool,
) -> None:
    """Display one or many objects (kubectl get)."""
    kinds = [resolve_kind(k) for k in (("pods", "services", "deployments", "replicasets") if kind == "all" else kind.split(","))]
    now = time.time()
    wide = output == "wide"
    fmt = None if output in (None, "wide") else output
    all_ns = all_namespaces and not names
    failed = False
    chunks: list[str] = []
    for info in kinds:
        if names:
            objs = []
            for name in names:
                try:
                    objs.append(ctx.client.get(info.kind, name, namespace))
                except errors.ApiError as exc:
                    click.echo(server_error(exc), err=True)
                    failed = True
        else:
            listing = run_api(
                lambda info=info: ctx.client.list(
                    info.kind, namespace, all_namespaces=all_ns, label_selector=selector, field_selector=field_selector
                )
            )
            objs = listing["items"]
        if watch_only:
            continue
        if not objs and (names or len(kinds) > 1):
            continue
        result = printers.print_objects(
            objs,
            output=fmt,
            kind=info.kind,
            wide=wide,
            all_namespaces=all_ns and info.namespaced,
            now=now,
            show_kind=len(kinds) > 1,
            no_headers=no_headers,
        )
        if not objs and not names:
            ns_word = namespace or "default"
            click.echo(
                result.stderr.rstrip("\n") if result.stderr else (
                    "No resources found" if all_ns or not info.namespaced else f"No resources found in {ns_word} namespace."
                ),
                err=True,
            )
        elif result.stdout:
            chunks.append(result.stdout.rstrip("\n"))
    if chunks:
        click.echo("\n\n".join(chunks))
    if watch or watch_only:
        if len(kinds) != 1:
            fail("error: you may only specify a single resource type with --watch")
        watch_objects(ctx, kinds[0], namespace, all_ns, selector, field_selector, names, wide, watch_only or bool(chunks))
    if failed:
        sys.exit(1)


def watch_objects(
    ctx: Ctx,
    info: KindInfo,
    namespace: str | None,
    all_namespaces: bool,
    selector: str | None,
    field_selector: str | None,
    names: tuple[str, ...],
    wide: bool,
    headers_printed: bool,
) -> None:
    """Print a row for every change until interrupted (kubectl get -w)."""
    from kemu.informer import Informer

    ns = None if all_namespaces or not info.namespaced else (namespace or "default")
    informer = Informer(ctx.client, info.kind, namespace=ns, label_selector=selector, field_selector=field_selector)
    state = {"headers": headers_printed, "synced": False}
    lock = threading.Lock()

    def emit(obj: Obj, event_type: str) -> None:
        if not state["synced"] or (names and obj["metadata"]["name"] not in names):
            return
        with lock:
            line = printers.watch_row(
                obj,
                event_type,
                kind=info.kind,
                wide=wide,
                all_namespaces=all_namespaces and info.namespaced,
                now=time.time(),
                headers=not state["headers"],
            )
            state["headers"] = True
            click.echo(line.rstrip("\n"))

    class Printer:
        def on_add(self, obj: Obj) -> None:
            emit(obj, "ADDED")

        def on_update(self, old: Obj, new: Obj) -> None:
            emit(new, "MODIFIED")

        def on_delete(self, obj: Obj) -> None:
            emit(obj, "DELETED")

    informer.add_handler(Printer())
    informer.start()
    try:
        if not informer.wait_synced(ctx.timeout):
            fail(f"error: could not start watching {info.plural} at {ctx.server}")
        state["synced"] = True
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        informer.stop()


# -- describe ---------------------------------------------------------------------


@cli.command()
@click.argument("kind")
@click.argument("names", nargs=-1)
@click.option("-n", "--namespace", default=None)
@click.option("-A", "--all-namespaces", is_flag=True)
@click.option("-l", "--selector", default=None)
@click.pass_obj
def describe(ctx: Ctx, kind: str, names: tuple[str, ...], namespace: str | None, all_namespaces: bool, selector: str | None) -> None:
    """Show details of objects and their events (kubectl describe)."""
    info = resolve_kind(kind)
    if names:
        objs = [run_api(lambda n=n: ctx.client.get(info.kind, n, namespace)) for n in names]
    else:
        objs = run_api(
            lambda: ctx.client.list(info.kind, namespace, all_namespaces=all_namespaces, label_selector=selector)
        )["items"]
    now = time.time()
    texts = [describe_mod.describe(obj, events=events_for(ctx.client, obj), related=related_for(ctx.client, obj), now=now) for obj in objs]
    click.echo("\n\n".join(t.rstrip("\n") for t in texts))


def events_for(client: Client, obj: Obj) -> list[Obj]:
    meta = obj["metadata"]
    fs = f"involvedObject.name={meta['name']},involvedObject.kind={obj['kind']}"
    try:
        listing = client.list("Event", meta.get("namespace") or "default", field_selector=fs)
    except errors.ApiError:
        return []
    return [e for e in listing["items"] if e.get("involvedObject", {}).get("uid") in (None, "", meta.get("uid"))]


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
        if kind in ("ReplicaSet", "Deployment"):
            owned_kind = "Pod" if kind == "ReplicaSet" else "ReplicaSet"
            items = client.list(owned_kind, ns)["items"]
            owned = [o for o in items if any(r.get("uid") == meta.get("uid") for r in o["metadata"].get("ownerReferences") or [])]
            return {owned_kind: owned}
        if kind == "Service":
            eps = client.list("Endpoints", ns, field_selector=f"metadata.name={meta['name']}")["items"]
            return {"Endpoints": eps}
    except errors.ApiError:
        pass
    return {}


# -- delete -------------------------------------------------------------------------


@cli.command()
@click.argument("args", nargs=-1)
@click.option("-f", "--filename", "filenames", multiple=True)
@click.option("-n", "--namespace", default=None)
@click.option("-l", "--selector", default=None)
@click.option("--all", "all_", is_flag=True, help="Delete every object of the kind in the namespace.")
@click.option("--grace-period", type=int, default=-1, help="Seconds to let a pod stop; -1 uses the pod's own.")
@click.option("--force", is_flag=True, help="With --grace-period=0: remove at once, without waiting for the node.")
@click.option("--cascade", type=click.Choice(["background", "foreground", "orphan"]), default="background")
@click.option("--wait/--no-wait", default=True, help="Wait until the objects are gone.")
@click.option("--ignore-not-found", is_flag=True)
@click.option("--timeout", type=float, default=60.0, help="Seconds to wait with --wait.")
@click.pass_obj
def delete(
    ctx: Ctx,
    args: tuple[str, ...],
    filenames: tuple[str, ...],
    namespace: str | None,
    selector: str | None,
    all_: bool,
    grace_period: int,
    force: bool,
    cascade: str,
    wait: bool,
    ignore_not_found: bool,
    timeout: float,
) -> None:
    """Delete objects by name, by manifest (-f) or by label (-l)."""
    targets: list[tuple[KindInfo, str | None, str]] = []
    if filenames:
        try:
            for m in load_manifests(list(filenames)):
                info = resolve(m.obj["kind"])
                md = m.obj.get("metadata") or {}
                targets.append((info, md.get("namespace") or namespace, md.get("name", "")))
        except ManifestError as exc:
            fail(str(exc))
    elif args:
        words = list(args)
        if "/" in words[0]:
            for w in words:
                k, _, n = w.partition("/")
                targets.append((resolve_kind(k), namespace, n))
        else:
            info = resolve_kind(words[0])
            names = words[1:]
            if not names and not (selector or all_):
                fail('error: resource(s) were provided, but no name was specified')
            if selector or all_:
                items = run_api(lambda: ctx.client.list(info.kind, namespace, label_selector=selector))["items"]
                names = names + [o["metadata"]["name"] for o in items]
                if not items and not words[1:]:
                    click.echo(f"No resources found", err=True)
            targets.extend((info, namespace, n) for n in names)
    else:
        fail("error: You must provide one or more resources by argument or filename.")
    grace = None if grace_period < 0 else grace_period
    if force and grace is None:
        grace = 0
    policy = {"background": "Background", "foreground": "Foreground", "orphan": "Orphan"}[cascade]
    failed = False
    deleted: list[tuple[KindInfo, str | None, str]] = []
    for info, ns, name in targets:
        try:
            ctx.client.delete(info.kind, name, ns, grace_period_seconds=grace, propagation_policy=policy)
            click.echo(f'{resource_ref(info, name)} deleted')
            deleted.append((info, ns, name))
        except errors.ApiError as exc:
            if exc.code == 404 and ignore_not_found:
                continue
            click.echo(server_error(exc), err=True)
            failed = True
    if wait:
        deadline = time.monotonic() + timeout
        for info, ns, name in deleted:
            while time.monotonic() < deadline:
                try:
                    ctx.client.get(info.kind, name, ns)
                except errors.ApiError as exc:
                    if exc.code == 404:
                        break
                time.sleep(0.1)
            else:
                click.echo(f"error: timed out waiting for {resource_ref(info, name)} to be deleted", err=True)
                failed = True
    if failed:
        sys.exit(1)


# -- create -------------------------------------------------------------------------


@cli.group()
def create() -> None:
    """Create an object from arguments."""


@create.command("namespace")
@click.argument("name")
@click.pass_obj
def create_namespace(ctx: Ctx, name: str) -> None:
    """Create a namespace."""
    run_api(lambda: ctx.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
    click.echo(f"namespace/{name} created")


@cli.command("api-resources")
def api_resources() -> None:
    """List the kinds kemu serves, with their short names."""
    from kemu.api.kinds import KINDS

    rows = [
        [i.plural, ",".join(i.short_names), i.api_version, str(i.namespaced).lower(), i.kind]
        for i in sorted(KINDS.values(), key=lambda i: i.plural)
    ]
    click.echo(printers.format_table(["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"], rows))


def main() -> None:
    # Late import: the cluster commands pull in the launcher.
    from kemu.cli import cluster  # noqa: F401  (registers commands on cli)

    cli(prog_name="kemu")


if __name__ == "__main__":
    main()
