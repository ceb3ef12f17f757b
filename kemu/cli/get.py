"""``kemu get``: kubectl get's tables, formats and ``--watch``.

- **Arguments as kubectl reads them** (:func:`kemu.cli.base.parse_targets`):
  ``KIND [NAME...]``, ``KIND1,KIND2``, ``KIND/NAME ...`` and ``all``.
- **Output as kubectl writes it.** Tables, YAML, JSON and friends come from
  :mod:`kemu.cli.printers`; this module only decides *what* is printed:
  one object when exactly one was named, else a ``v1/List``; ``No resources
  found`` (on stderr) only after an empty table; tables of several kinds
  separated by a blank line. A failed object does not stop the others; the
  errors are reported at the end, as kubectl does.
- **Watching** (``-w``, ``--watch-only``) goes through one
  :class:`~kemu.informer.Informer`, so no change falls between the list and
  the watch (:func:`watch_objects`).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import click

from kemu.api import errors
from kemu.api.kinds import KindInfo
from kemu.cli import printers
from kemu.cli.base import (
    Ctx,
    Obj,
    Target,
    fail,
    namespace_of,
    no_resources,
    parse_targets,
    report,
    unreachable_hint,
)
from kemu.informer import Informer, key_of

__all__ = ["COMMANDS", "WatchPrinter", "WatchSpec", "get", "watch_objects"]


def _sort_key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")




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


@click.command()
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
                click.echo(no_resources(targets, all_namespaces, ns_word), err=True)
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
    """Informer handler for ``get -w``.

    The informer calls handlers on its dispatcher thread, which runs behind
    its cache: the notices of the first list may still be on their way when
    the informer already says it is synced. So until the initial table is
    out the handler only keeps its own view of the objects (what the notices
    so far add up to); the table is printed from that view once it matches
    the cache (:meth:`caught_up`), and every later notice is a printed change.
    """

    def __init__(self, printer: WatchPrinter, names: tuple[str, ...]):
        self.printer = printer
        self.names = names
        self.view: dict[str, Obj] = {}
        """The objects the notices so far add up to, by key (before :attr:`live`)."""
        self.live = False
        """Set (under the printer lock) once the initial table is out."""

    def wanted(self, obj: Obj) -> bool:
        return not self.names or obj["metadata"]["name"] in self.names

    def caught_up(self, cache: list[Obj]) -> bool:
        """True when the notices seen so far add up to ``cache`` (call with the printer lock held)."""
        def versions(objs: Iterable[Obj]) -> dict[str, object]:
            return {key_of(o): o["metadata"].get("resourceVersion") for o in objs}

        return versions(o for o in cache if self.wanted(o)) == versions(self.view.values())

    def _change(self, obj: Obj, event_type: str) -> None:
        if not self.wanted(obj):
            return
        with self.printer.lock:
            if self.live:
                self.printer.change(obj, event_type)
            elif event_type == "DELETED":
                self.view.pop(key_of(obj), None)
            else:
                self.view[key_of(obj)] = obj

    def on_add(self, obj: Obj) -> None:
        self._change(obj, "ADDED")

    def on_update(self, old: Obj, new: Obj) -> None:
        self._change(new, "MODIFIED")

    def on_delete(self, obj: Obj) -> None:
        self._change(obj, "DELETED")


CATCH_UP_POLL = 0.01
"""Seconds between looks at whether a watch's handler has caught up with its informer."""


def watch_objects(ctx: Ctx, spec: WatchSpec) -> None:
    """``get -w``: the current objects, then a line for every change, until
    interrupted (or ``spec.timeout`` passes).

    The table and the changes come from one informer, so no change falls
    between the list and the watch, and none is printed twice: the informer
    lists, then applies every later event; the handler's notices up to the
    moment it has caught up with the cache make the table, the later ones
    the changes (:class:`_WatchHandler`).
    """
    info = spec.info
    for name in spec.names:
        ctx.client.get(info.kind, name, spec.namespace)  # a missing object is an error, as in kubectl
    ns = None if spec.all_namespaces else namespace_of(info, spec.namespace)
    try:
        informer = Informer(ctx.client, info.kind, namespace=ns, label_selector=spec.selector,
                            field_selector=spec.field_selector)
    except ValueError as exc:
        fail(f"error: {exc}")
    printer = WatchPrinter(spec)
    handler = _WatchHandler(printer, spec.names)
    informer.add_handler(handler)
    try:
        informer.start()
        if not informer.wait_synced(ctx.timeout):
            fail(
                f"error: the server at {ctx.server} did not answer a watch of {info.plural} within"
                f" {ctx.timeout:g}s ({unreachable_hint(ctx.server)})"
            )
        catch_up_by = time.monotonic() + ctx.timeout
        while True:
            with printer.lock:
                if handler.caught_up(informer.list()) or time.monotonic() >= catch_up_by:
                    if spec.list_first:
                        printer.initial(sorted(handler.view.values(), key=_sort_key))
                    handler.live = True
                    break
            time.sleep(CATCH_UP_POLL)
        deadline = time.monotonic() + spec.timeout if spec.timeout > 0 else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic())))
    except KeyboardInterrupt:
        pass
    finally:
        informer.stop()


COMMANDS: list[click.Command] = [get]
"""What this module adds to the ``kemu`` group."""
