"""``kemu``: the command line, mirroring kubectl where the two overlap.

This module holds the object commands (``apply``, ``get``, ``describe``,
``delete``, ``create namespace``, ``api-resources``); :mod:`kemu.cli.cluster`
registers the launcher's (``up``, ``down``, ``node`` ...) and
:mod:`kemu.cli.pods` ``logs`` and ``exec`` on the same group.

How a command behaves, and why:

- **Arguments as kubectl reads them.** ``KIND [NAME...]``, ``KIND1,KIND2``,
  ``KIND/NAME ...`` and ``all`` are parsed once (:func:`parse_targets`) for
  get, describe and delete, with kubectl's short names (``po``, ``deploy``...).
- **Output as kubectl writes it.** Tables, YAML, JSON and friends come from
  :mod:`kemu.cli.printers`; this module only decides *what* is printed:
  one object when exactly one was named, else a ``v1/List``; ``No resources
  found`` (on stderr) only after an empty table; tables of several kinds
  separated by a blank line.
- **Errors as kubectl reports them**, on stderr with exit code 1: one error
  the way ``cmdutil.CheckErr`` prints it (``The Deployment "web" is
  invalid: ...``, ``Error from server (NotFound): ...``), several as one
  ``Error from server (...)`` line each. A command keeps going after a
  failed object and reports at the end, as kubectl does.
- **Never a stack trace.** A server that is not there is detected at once
  (a ZeroMQ connect that is refused) or after ``--request-timeout``, and
  reported in one line; anything unexpected is one ``error:`` line too
  (``KEMU_DEBUG=1`` shows the traceback).

``kemu apply`` is kubectl's client-side apply: the manifest is stored in the
``kubectl.kubernetes.io/last-applied-configuration`` annotation, and the
next apply sends a JSON merge patch computed from that, the new manifest and
the live object (:func:`three_way_patch`).
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import click
import zmq
from zmq.utils.monitor import recv_monitor_message

from kemu import log
from kemu.api import errors
from kemu.api.kinds import KINDS, KindInfo, resolve
from kemu.cli import describe as describe_mod
from kemu.cli import printers
from kemu.client import Client
from kemu.config import resolve_server
from kemu.informer import Informer
from kemu.manifests import Manifest, ManifestError, load_manifests

__all__ = [
    "LAST_APPLIED",
    "CommandError",
    "Ctx",
    "Target",
    "apply_one",
    "cli",
    "fail",
    "main",
    "parse_targets",
    "server_error",
    "three_way_patch",
]

Obj = dict[str, Any]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
"""The annotation kubectl apply keeps the applied manifest in."""

ALL_CATEGORY = ("pods", "services", "deployments", "replicasets")
"""What ``get all`` lists, in kubectl's order (the kinds kemu serves of the
``all`` category)."""

START_HINT = "start one with `kemu up`"


# -- errors -------------------------------------------------------------------------


class CommandError(Exception):
    """A client-side error, printed as ``error: <message>`` (kubectl's
    wording where kubectl has one)."""


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code``."""
    click.echo(message.rstrip("\n"), err=True)
    sys.exit(code)


def _unavailable_message(exc: errors.ApiError) -> str:
    message = exc.message
    if "(is the apiserver running?)" in message:
        message = message.replace("(is the apiserver running?)", f"(is the apiserver running? {START_HINT})")
    else:
        message = f"{message} (is the apiserver running? {START_HINT})"
    return f"error: {message}"


def _invalid_message(exc: errors.ApiError) -> str:
    """kubectl's rendering of a 422 (``cmdutil.CheckErr``)."""
    details = exc.status.get("details") or {}
    causes = details.get("causes") or []
    if not details:
        return f"The request is invalid: {exc.message}" if exc.message else "The request is invalid"
    if details.get("kind") or details.get("name"):
        head = f'The {details.get("kind", "")} "{details.get("name", "")}" is invalid'
    elif causes and causes[0].get("field"):
        head = f"The {causes[0]['field']} is invalid"
    else:
        head = "The request is invalid"
    lines: list[str] = []
    for cause in causes:
        field, message = cause.get("field", ""), cause.get("message", "")
        line = message if not field or message.startswith(field) else f"{field}: {message}"
        if line not in lines:
            lines.append(line)
    if not lines:
        return head
    if len(lines) == 1:
        return f"{head}: {lines[0]}"
    return f"{head}: \n" + "\n".join(f"* {line}" for line in lines)


def standard_message(exc: Exception) -> str:
    """One error as kubectl prints it inside a list of errors
    (``Error from server (NotFound): pods "x" not found``)."""
    if isinstance(exc, errors.ApiError):
        if exc.code == 503 and exc.reason == "ServiceUnavailable":
            return _unavailable_message(exc)
        if exc.reason:
            return f"Error from server ({exc.reason}): {exc.message}"
        return f"Error from server: {exc.message}"
    text = str(exc)
    return text if text.startswith("error: ") else f"error: {text}"


def server_error(exc: Exception) -> str:
    """One error as kubectl's ``cmdutil.CheckErr`` prints it."""
    if isinstance(exc, errors.ApiError) and exc.code == 422 and exc.reason == "Invalid":
        return _invalid_message(exc)
    return standard_message(exc)


def report(errs: Sequence[Exception]) -> None:
    """Print the errors a command collected: one as CheckErr does, several
    one line each (kubectl's aggregate)."""
    if len(errs) == 1:
        click.echo(server_error(errs[0]), err=True)
        return
    for exc in errs:
        click.echo(standard_message(exc), err=True)


def with_source(exc: errors.ApiError, verb: str, source: str) -> errors.ApiError:
    """kubectl's ``AddSourceToErr``: ``error when creating "web.yaml": ...``."""
    status = copy.deepcopy(exc.status)
    status["message"] = f'error when {verb} "{source}": {exc.message}'
    return errors.ApiError(status)


# -- connecting ----------------------------------------------------------------------

_ADDRESS = re.compile(r"^(tcp|ipc|inproc)://.+")


def connection_refused(address: str, timeout: float) -> bool:
    """True when a connection to ``address`` is refused right away (nothing
    listens there). Watches the socket's connect events for at most
    ``timeout`` seconds; a slow or silent network path is not "refused"
    (the request's own timeout covers it)."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    monitor = sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_CONNECT_RETRIED)
    try:
        sock.connect(address)
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if not monitor.poll(int(remaining * 1000) + 1):
                return False
            event = recv_monitor_message(monitor)["event"]
            if event == zmq.EVENT_CONNECTED:
                return False
            if event == zmq.EVENT_CONNECT_RETRIED:
                return True
        return False
    finally:
        sock.disable_monitor()
        monitor.close(linger=0)
        sock.close(linger=0)


class Ctx:
    """What every command needs: where the server is, and a client for it
    (made on first use, after checking that something listens there)."""

    server: str
    """The apiserver's request address."""
    timeout: float
    """Seconds a request waits for its reply."""

    def __init__(self, server: str | None, timeout: float):
        try:
            self.server = resolve_server(server)
        except ValueError as exc:
            fail(f"error: {exc}")
        self.timeout = timeout
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            if not _ADDRESS.match(self.server):
                fail(f'error: invalid server address "{self.server}": expected tcp://host:port or ipc://path')
            if connection_refused(self.server, min(self.timeout, 2.0)):
                fail(
                    f"error: the server at {self.server} did not answer: connection refused"
                    f" (is the apiserver running? {START_HINT})"
                )
            self._client = Client(self.server, timeout=self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class KemuGroup(click.Group):
    """The ``kemu`` group: whatever a command did not handle becomes one
    ``error:`` line and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except errors.ApiError as exc:
            fail(server_error(exc))
        except (CommandError, ManifestError) as exc:
            fail(standard_message(exc))
        except Exception as exc:
            if os.environ.get("KEMU_DEBUG"):
                raise
            fail(f"error: {type(exc).__name__}: {exc} (set KEMU_DEBUG=1 for the traceback)")


@click.group(cls=KemuGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--server", "-s", envvar="KEMU_SERVER", default=None,
              help="apiserver request address (tcp://host:port or ipc://path); default from $KEMU_SERVER or ~/.kemu/config.yaml.")
@click.option("--request-timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the server.")
@click.pass_context
def cli(ctx: click.Context, server: str | None, request_timeout: float) -> None:
    """kemu: a Kubernetes emulator you can kill nodes in.

    Start a cluster with `kemu up`, then use kemu like kubectl.
    """
    ctx.obj = Ctx(server, request_timeout)
    ctx.call_on_close(ctx.obj.close)


# -- shared helpers -------------------------------------------------------------------


def resource_ref(info: KindInfo, name: str) -> str:
    """``deployment.apps/web``, ``pod/web-1`` (kubectl's -o name)."""
    return f"{printers.resource_name(info.kind)}/{name}"


def _object_name(info: KindInfo, name: str) -> str:
    """``deployments.apps/web`` (kubectl's ``Info.ObjectName``)."""
    res = f"{info.plural}.{info.group}" if info.group else info.plural
    return f"{res}/{name}"


def _namespace_of(info: KindInfo, namespace: str | None) -> str | None:
    return (namespace or "default") if info.namespaced else None


def _sort_key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


@dataclass(frozen=True, slots=True)
class Target:
    """One thing a command was asked about: a named object, or (``name`` is
    None) every object of a kind."""

    info: KindInfo
    name: str | None


def parse_targets(args: Sequence[str], *, command: str) -> list[Target]:
    """kubectl's ``ResourceTypeOrNameArgs``: ``KIND``, ``KIND1,KIND2``,
    ``KIND NAME...``, ``KIND/NAME...`` and ``all``.

    >>> [(t.info.kind, t.name) for t in parse_targets(["po,deploy", "web"], command="get")]
    [('Pod', 'web'), ('Deployment', 'web')]

    Raises :class:`CommandError` with kubectl's message for a mix of the forms
    or an unknown kind.
    """
    if any("/" in a for a in args):
        if not all("/" in a for a in args):
            raise CommandError(
                "there is no need to specify a resource type as a separate argument when passing arguments in"
                f" resource/name form (e.g. 'kemu {command} resource/<resource_name>' instead of"
                f" 'kemu {command} resource resource/<resource_name>'"
            )
        targets = []
        for arg in args:
            word, _, name = arg.partition("/")
            if not word or not name:
                raise CommandError("arguments in resource/name form must have a single resource and name")
            targets.append(Target(_resolve(word), name))
        return targets
    kinds: list[KindInfo] = []
    for word in args[0].split(","):
        for info in ([_resolve(w) for w in ALL_CATEGORY] if word == "all" else [_resolve(word)]):
            if info not in kinds:
                kinds.append(info)
    names = list(args[1:])
    if not names:
        return [Target(info, None) for info in kinds]
    return [Target(info, name) for info in kinds for name in names]


def _resolve(word: str) -> KindInfo:
    try:
        return resolve(word)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _runs(pairs: Sequence[tuple[KindInfo, Obj]]) -> Iterator[tuple[KindInfo, list[Obj]]]:
    """Consecutive objects of one kind, grouped (kubectl starts a new table
    whenever the kind changes)."""
    current: KindInfo | None = None
    group: list[Obj] = []
    for info, obj in pairs:
        if info != current and group:
            assert current is not None
            yield current, group
            group = []
        current = info
        group.append(obj)
    if group and current is not None:
        yield current, group


# -- apply ----------------------------------------------------------------------------


def three_way_patch(last_applied: Obj | None, desired: Obj, live: Obj) -> Obj:
    """kubectl apply's three-way merge, as a JSON merge patch.

    Sets what the manifest (``desired``) says where the live object differs,
    and deletes (``null``) what the previous apply (``last_applied``) set but
    this manifest no longer does. Fields nobody applied (status, defaults, a
    controller's annotations) are left alone.

    Lists are compared whole, the way a merge patch replaces them: a list is
    sent when the live one does not already hold what the manifest says
    (element by element, allowing fields the server added, such as defaults
    inside containers), or when the manifest's list changed since the last
    apply (so a field removed inside a list element goes away).

    >>> three_way_patch({"a": 1, "b": 2}, {"a": 1}, {"a": 1, "b": 2, "status": {}})
    {'b': None}
    >>> three_way_patch(None, {"l": [{"n": 1}]}, {"l": [{"n": 1, "default": True}]})
    {}
    """
    patch: Obj = {}
    last = last_applied or {}
    for key, want in desired.items():
        have, before = live.get(key), last.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            sub = three_way_patch(before if isinstance(before, dict) else None, want, have)
            if sub:
                patch[key] = sub
        elif isinstance(want, list) and isinstance(have, list):
            if not _satisfied(want, have) or (key in last and before != want):
                patch[key] = want
        elif want != have:
            patch[key] = want
    for key in last:
        if key not in desired and key in live:
            patch[key] = None
    return patch


def _satisfied(want: Any, have: Any) -> bool:
    """True when ``have`` already says everything ``want`` says (it may say more)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            _satisfied(value, have[key]) if key in have else value is None for key, value in want.items()
        )
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(map(_satisfied, want, have))
    return bool(want == have) and isinstance(want, bool) == isinstance(have, bool)


@dataclass(frozen=True, slots=True)
class Applied:
    """What one apply did to one object."""

    info: KindInfo
    obj: Obj
    """The object as the server returned it (or as sent, for a client dry run)."""
    operation: str
    """``created``, ``configured`` or ``unchanged``."""


def _canonical(obj: Obj) -> str:
    """The annotation's JSON: compact, keys sorted (Go's json.Marshal)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _parse_json(text: str) -> Obj | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _with_annotation(obj: Obj, applied: str) -> Obj:
    body = copy.deepcopy(obj)
    annotations = body["metadata"].get("annotations")
    if not isinstance(annotations, dict):
        annotations = body["metadata"]["annotations"] = {}
    annotations[LAST_APPLIED] = applied + "\n"
    return body


def _set_namespace(info: KindInfo, obj: Obj, namespace: str | None) -> None:
    """Give a namespaced manifest its namespace (its own, else ``-n``, else
    ``default``), refusing a manifest that contradicts ``-n`` as kubectl does."""
    meta = obj["metadata"]
    if not info.namespaced:
        return
    own = meta.get("namespace")
    if namespace and own and own != namespace:
        raise CommandError(
            f'the namespace from the provided object "{own}" does not match the namespace "{namespace}".'
            f" You must pass '--namespace={own}' to perform this operation."
        )
    meta["namespace"] = own or namespace or "default"


def _source_name(manifest: Manifest) -> str:
    return "STDIN" if manifest.source == "-" else manifest.source


def _patch_failure(exc: errors.ApiError, info: KindInfo, obj: Obj, patch: Obj, source: str) -> errors.ApiError:
    """kubectl's wording for a failed apply patch (the patch, the target, the source)."""
    meta = obj["metadata"]
    group_resource = f"{info.group}/{info.version}, Resource={info.plural}"
    gvk = f"{info.group}/{info.version}, Kind={info.kind}"
    target = f'Resource: "{group_resource}", GroupVersionKind: "{gvk}"\nName: "{meta["name"]}", Namespace: "{meta.get("namespace", "")}"'
    return with_source(exc, f"applying patch:\n{_canonical(patch)}\nto:\n{target}\nfor:", source)


def apply_one(client: Client, manifest: Manifest, namespace: str | None, *, dry_run: str = "none") -> Applied:
    """Create or patch the object of one manifest (kubectl's client-side apply).

    ``dry_run`` is ``none``, ``server`` (the server checks, stores nothing) or
    ``client`` (nothing is sent but the read). Raises
    :class:`~kemu.api.errors.ApiError` (with the manifest's source in its
    message) or :class:`CommandError`.
    """
    obj = copy.deepcopy(manifest.obj)
    info = resolve(obj["kind"])
    source = _source_name(manifest)
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise CommandError(f"{source}: metadata must be a mapping")
    _set_namespace(info, obj, namespace)
    name = meta.get("name")
    if not name:
        if meta.get("generateName"):
            raise CommandError(f"from {meta['generateName']}: cannot use generate name with apply")
        raise CommandError(f"{source}: resource name may not be empty")
    applied = _canonical(obj)
    desired = _with_annotation(obj, applied)
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
    last_raw = (live["metadata"].get("annotations") or {}).get(LAST_APPLIED)
    if last_raw is None:
        click.echo(
            f"Warning: resource {_object_name(info, name)} is missing the {LAST_APPLIED} annotation which is"
            " required by kemu apply. kemu apply should only be used on resources created declaratively by"
            " kemu apply (or kubectl apply). The missing annotation will be patched automatically.",
            err=True,
        )
    patch = three_way_patch(_parse_json(last_raw) if last_raw else None, desired, live)
    if not patch:
        return Applied(info, live, "unchanged")
    try:
        result = client.patch(info.kind, name, patch, meta.get("namespace"), patch_type="merge", dry_run=dry_run == "server")
    except errors.ApiError as exc:
        raise _patch_failure(exc, info, obj, patch, source) from None
    if result["metadata"].get("deletionTimestamp"):
        click.echo(f"Warning: Detected changes to resource {name} which is currently being deleted.", err=True)
    return Applied(info, result, "configured")


def _dry_run_suffix(dry_run: str) -> str:
    return {"client": " (dry run)", "server": " (server dry run)"}.get(dry_run, "")


@cli.command()
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
            click.echo(ref if output == "name" else f"{ref} {result.operation}{_dry_run_suffix(dry_run)}")
    if output in ("yaml", "json") and results:
        text = printers.print_objects(
            [r.obj for r in results], output=output, kind=results[0].info.kind, wide=False,
            all_namespaces=False, now=time.time(), as_list=len(results) > 1,
        ).stdout
        click.echo(text, nl=False)
    if errs:
        report(errs)
        sys.exit(1)


# -- get ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TableOptions:
    """How a get prints tables."""

    wide: bool
    all_namespaces: bool
    show_kind: bool
    no_headers: bool
    show_labels: bool
    namespace: str


_KNOWN_OUTPUTS = (None, "wide", "yaml", "json", "name")


def _check_output(output: str | None) -> None:
    """Refuse an output format kubectl would refuse, before asking the server."""
    if output in _KNOWN_OUTPUTS or output.startswith(("jsonpath=", "custom-columns=")):
        return
    try:
        printers.print_objects([], output=output, kind="Pod", wide=False, all_namespaces=False, now=0.0)
    except ValueError as exc:
        fail(f"error: {exc}")


def _fetch(ctx: Ctx, targets: Sequence[Target], namespace: str | None, all_ns: bool,
           selector: str | None, field_selector: str | None) -> tuple[list[tuple[KindInfo, Obj]], list[Exception]]:
    """The objects the targets name, in order, and the errors met on the way."""
    found: list[tuple[KindInfo, Obj]] = []
    errs: list[Exception] = []
    for target in targets:
        info = target.info
        try:
            if target.name is not None:
                found.append((info, ctx.client.get(info.kind, target.name, namespace)))
            else:
                listing = ctx.client.list(
                    info.kind, namespace, all_namespaces=all_ns, label_selector=selector, field_selector=field_selector
                )
                found.extend((info, obj) for obj in listing["items"])
        except errors.ApiError as exc:
            if exc.code == 503:
                raise
            errs.append(exc)
    return found, errs


def _print_tables(found: list[tuple[KindInfo, Obj]], opts: TableOptions, now: float) -> None:
    chunks = [
        printers.print_objects(
            objs, output="wide" if opts.wide else None, kind=info.kind, wide=opts.wide,
            all_namespaces=opts.all_namespaces and info.namespaced, now=now, show_kind=opts.show_kind,
            no_headers=opts.no_headers, show_labels=opts.show_labels, namespace=opts.namespace,
        ).stdout
        for info, objs in _runs(found)
    ]
    text = "\n".join(c for c in chunks if c)
    if text:
        click.echo(text, nl=False)


def _no_resources(targets: Sequence[Target], all_ns: bool, namespace: str) -> str:
    if not all_ns and all(t.info.namespaced for t in targets):
        return f"No resources found in {namespace} namespace."
    return "No resources found"


def _print_generic(found: list[tuple[KindInfo, Obj]], output: str, single_item: bool, no_headers: bool, now: float) -> None:
    """yaml, json, name, jsonpath and custom-columns: one object when exactly
    one was named, else a ``v1/List`` of everything (kubectl's printGeneric)."""
    if output == "name":
        text = "".join(
            printers.print_objects(objs, output="name", kind=info.kind, wide=False, all_namespaces=False, now=now).stdout
            for info, objs in _runs(found)
        )
    else:
        kind = found[0][0].kind if found else "List"
        text = printers.print_objects(
            [obj for _, obj in found], output=output, kind=kind, wide=False, all_namespaces=False, now=now,
            no_headers=no_headers, as_list=not single_item,
        ).stdout
    click.echo(text, nl=False)


@cli.command()
@click.argument("args", nargs=-1)
@click.option("-n", "--namespace", default=None)
@click.option("-A", "--all-namespaces", is_flag=True, help="List across all namespaces.")
@click.option("-l", "--selector", default=None, help="Label selector (app=web,tier!=db,env in (a,b)).")
@click.option("--field-selector", default=None, help="Field selector (spec.nodeName=node-1,status.phase=Running).")
@click.option("-o", "--output", default=None, help="wide|yaml|json|name|jsonpath=...|custom-columns=...")
@click.option("-w", "--watch", is_flag=True, help="After listing, watch for changes.")
@click.option("--watch-only", is_flag=True, help="Watch for changes without listing first.")
@click.option("--output-watch-events", is_flag=True, help="With --watch: add an EVENT column (ADDED, MODIFIED, DELETED).")
@click.option("--no-headers", is_flag=True)
@click.option("--show-labels", is_flag=True, help="Add a LABELS column.")
@click.option("--ignore-not-found", is_flag=True, help="A missing object is not an error.")
@click.option("--watch-timeout", type=float, default=0.0, hidden=True, help="Stop watching after this many seconds.")
@click.pass_obj
def get(
    ctx: Ctx,
    args: tuple[str, ...],
    namespace: str | None,
    all_namespaces: bool,
    selector: str | None,
    field_selector: str | None,
    output: str | None,
    watch: bool,
    watch_only: bool,
    output_watch_events: bool,
    no_headers: bool,
    show_labels: bool,
    ignore_not_found: bool,
    watch_timeout: float,
) -> None:
    """Display one or many objects (kubectl get)."""
    if not args:
        fail(
            'You must specify the type of resource to get. Use "kemu api-resources" for a complete list of'
            " supported resources.\n\nerror: Required resource not specified.\nSee 'kemu get -h' for help and examples"
        )
    if show_labels and output not in (None, "wide"):
        fail(f"error: --show-labels option cannot be used with {output} printer")
    if output_watch_events and not (watch or watch_only):
        fail("error: --output-watch-events option can only be used with --watch or --watch-only")
    _check_output(output)
    targets = parse_targets(args, command="get")
    named = [t for t in targets if t.name is not None]
    if all_namespaces and named:
        fail("error: a resource cannot be retrieved by name across all namespaces")
    ns_word = namespace or "default"
    if watch or watch_only:
        if len({t.info.kind for t in targets}) != 1:
            fail("error: watch is only supported on individual resources and resource collections - more than 1 resource was found")
        spec = WatchSpec(
            info=targets[0].info, names=tuple(t.name for t in named if t.name), namespace=namespace,
            all_namespaces=all_namespaces, selector=selector, field_selector=field_selector, output=output,
            show_labels=show_labels, no_headers=no_headers, list_first=not watch_only,
            output_watch_events=output_watch_events, timeout=watch_timeout,
        )
        watch_objects(ctx, spec)
        return
    found, errs = _fetch(ctx, targets, namespace, all_namespaces, selector, field_selector)
    if ignore_not_found:
        errs = [e for e in errs if not (isinstance(e, errors.ApiError) and e.code == 404)]
    now = time.time()
    single_item = len(named) == 1 and len(targets) == 1
    try:
        if output in (None, "wide"):
            opts = TableOptions(
                wide=output == "wide", all_namespaces=all_namespaces, show_kind=len({t.info.kind for t in targets}) > 1,
                no_headers=no_headers, show_labels=show_labels, namespace=ns_word,
            )
            _print_tables(found, opts, now)
            if not found and not errs and not ignore_not_found:
                click.echo(_no_resources(targets, all_namespaces, ns_word), err=True)
        elif not (single_item and errs) and not (ignore_not_found and not found):
            _print_generic(found, output, single_item, no_headers, now)
    except ValueError as exc:
        fail(f"error: {exc}")
    if errs:
        report(errs)
        sys.exit(1)


# -- get -w ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchSpec:
    """What one ``get -w`` watches, and how it prints."""

    info: KindInfo
    names: tuple[str, ...]
    """Only these objects (empty: every object the selectors match)."""
    namespace: str | None
    all_namespaces: bool
    selector: str | None
    field_selector: str | None
    output: str | None
    show_labels: bool
    no_headers: bool
    list_first: bool
    """Print the current objects before the changes (``-w``, not ``--watch-only``)."""
    output_watch_events: bool
    timeout: float
    """Seconds to watch; 0 watches until interrupted."""

    @property
    def table(self) -> bool:
        return self.output in (None, "wide")


class WatchPrinter:
    """Prints the changes of one watch. All lines share one
    :class:`~kemu.cli.printers.WatchState`, so rows stay under the headers
    printed once at the top, as kubectl's do."""

    def __init__(self, spec: WatchSpec):
        self.spec = spec
        self.state = printers.WatchState(headers_printed=spec.no_headers)
        self.lock = threading.Lock()
        self._documents = 0

    def initial(self, objs: list[Obj]) -> None:
        """The objects as they are when the watch starts."""
        if self.spec.output_watch_events or not self.spec.table:
            for obj in objs:
                self.change(obj, "ADDED")
            return
        if objs:
            self._emit(
                printers.print_objects(
                    objs, output=self.spec.output, kind=self.spec.info.kind, wide=self.spec.output == "wide",
                    all_namespaces=self._all_ns, now=time.time(), show_labels=self.spec.show_labels,
                    no_headers=self.spec.no_headers, watch_state=self.state,
                ).stdout
            )

    @property
    def _all_ns(self) -> bool:
        return self.spec.all_namespaces and self.spec.info.namespaced

    def change(self, obj: Obj, event_type: str) -> None:
        """One change: a table row, or the object in the chosen format."""
        spec = self.spec
        if not spec.table:
            text = printers.print_objects(
                [obj], output=spec.output, kind=spec.info.kind, wide=False, all_namespaces=False,
                now=time.time(), as_list=False,
            ).stdout
            if spec.output == "yaml" and self._documents:
                text = "---\n" + text
            self._documents += 1
            self._emit(text)
        elif spec.show_labels and not spec.output_watch_events:
            self._emit(
                printers.print_objects(
                    [obj], output=spec.output, kind=spec.info.kind, wide=spec.output == "wide",
                    all_namespaces=self._all_ns, now=time.time(), show_labels=True, watch_state=self.state,
                ).stdout
            )
        else:
            self._emit(
                printers.watch_row(
                    obj, event_type, kind=spec.info.kind, wide=spec.output == "wide", all_namespaces=self._all_ns,
                    now=time.time(), state=self.state, output_watch_events=spec.output_watch_events,
                )
            )

    @staticmethod
    def _emit(text: str) -> None:
        click.echo(text, nl=False)
        sys.stdout.flush()


class _WatchHandler:
    """Informer handler: changes after the first list go to the printer."""

    def __init__(self, informer: Informer, printer: WatchPrinter, names: tuple[str, ...]):
        self.informer = informer
        self.printer = printer
        self.names = names

    def _print(self, obj: Obj, event_type: str) -> None:
        if not self.informer.synced:
            return  # the first list: printed as the initial table instead
        if self.names and obj["metadata"]["name"] not in self.names:
            return
        with self.printer.lock:
            self.printer.change(obj, event_type)

    def on_add(self, obj: Obj) -> None:
        self._print(obj, "ADDED")

    def on_update(self, old: Obj, new: Obj) -> None:
        self._print(new, "MODIFIED")

    def on_delete(self, obj: Obj) -> None:
        self._print(obj, "DELETED")


def watch_objects(ctx: Ctx, spec: WatchSpec) -> None:
    """``get -w``: the current objects, then a line for every change, until
    interrupted (or ``spec.timeout`` passes).

    The table and the changes come from one informer, so no change falls
    between the list and the watch: the informer lists, then applies every
    later event; the printer lock holds changes back until the table is out.
    """
    info = spec.info
    for name in spec.names:
        ctx.client.get(info.kind, name, spec.namespace)  # a missing object is an error, as in kubectl
    ns = None if spec.all_namespaces else _namespace_of(info, spec.namespace)
    try:
        informer = Informer(ctx.client, info.kind, namespace=ns, label_selector=spec.selector,
                            field_selector=spec.field_selector)
    except ValueError as exc:
        fail(f"error: {exc}")
    printer = WatchPrinter(spec)
    informer.add_handler(_WatchHandler(informer, printer, spec.names))
    try:
        with printer.lock:
            informer.start()
            if not informer.wait_synced(ctx.timeout):
                fail(
                    f"error: the server at {ctx.server} did not answer a watch of {info.plural} within"
                    f" {ctx.timeout:g}s (is the apiserver running? {START_HINT})"
                )
            if spec.list_first:
                objs = [o for o in informer.list() if not spec.names or o["metadata"]["name"] in spec.names]
                printer.initial(sorted(objs, key=_sort_key))
        deadline = time.monotonic() + spec.timeout if spec.timeout > 0 else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic())))
    except KeyboardInterrupt:
        pass
    finally:
        informer.stop()


# -- describe ---------------------------------------------------------------------------


@cli.command()
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
        fail(_no_resources(targets, all_namespaces, ns_word), code=0)
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


# -- delete -------------------------------------------------------------------------------


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
        _set_namespace(info, obj, namespace)
        md = obj["metadata"]
        targets.append(DeleteTarget(info, md.get("namespace"), md.get("name", ""), _source_name(manifest)))
    return targets


def _delete_targets_from_args(ctx: Ctx, args: Sequence[str], namespace: str | None, all_ns: bool,
                              selector: str | None, field_selector: str | None, all_: bool) -> list[DeleteTarget]:
    targets: list[DeleteTarget] = []
    for target in parse_targets(args, command="delete"):
        info = target.info
        if target.name is not None:
            targets.append(DeleteTarget(info, _namespace_of(info, namespace), target.name))
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
    return f'{kind_string} "{target.name}" {operation}{_dry_run_suffix(opts.dry_run)}'


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


@cli.command()
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


# -- create ---------------------------------------------------------------------------------


@cli.group()
def create() -> None:
    """Create an object from arguments."""


@create.command("namespace")
@click.argument("name")
@click.option("--dry-run", type=click.Choice(["none", "server", "client"]), default="none")
@click.option("-o", "--output", type=click.Choice(["name", "yaml", "json"]), default=None)
@click.pass_obj
def create_namespace(ctx: Ctx, name: str, dry_run: str, output: str | None) -> None:
    """Create a namespace (kubectl create namespace)."""
    body: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    obj = body if dry_run == "client" else ctx.client.create(body, dry_run=dry_run == "server")
    if output in ("yaml", "json"):
        click.echo(printers.print_objects([obj], output=output, kind="Namespace", wide=False, all_namespaces=False,
                                          now=time.time(), as_list=False).stdout, nl=False)
    elif output == "name":
        click.echo(f"namespace/{name}")
    else:
        click.echo(f"namespace/{name} created{_dry_run_suffix(dry_run)}")


@cli.command("api-resources")
def api_resources() -> None:
    """List the kinds kemu serves, with their short names."""
    rows = [
        [i.plural, ",".join(i.short_names), i.api_version, str(i.namespaced).lower(), i.kind]
        for i in sorted(KINDS.values(), key=lambda i: i.plural)
    ]
    click.echo(printers.format_table(["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"], rows), nl=False)


def main() -> None:
    """The ``kemu`` console script."""
    # Late import: the cluster commands pull in the launcher.
    from kemu.cli import (
        cluster,  # noqa: F401  (registers commands on cli)
        network,  # noqa: F401  (port-forward)
        pods,  # noqa: F401
        rollout,  # noqa: F401  (rollout, set image, scale)
        top,  # noqa: F401  (top nodes, top pods)
    )

    # The CLI's own machinery (an informer behind get -w) speaks up only
    # when something is wrong, on stderr.
    log.configure("kemu", level="warning")
    cli(prog_name="kemu")


if __name__ == "__main__":
    main()
