"""What every ``kemu`` verb shares: the group, the context, errors, targets.

This module is the bottom of the CLI: the verb modules (:mod:`kemu.cli.apply`,
:mod:`kemu.cli.get`, :mod:`kemu.cli.describe_cmd`, :mod:`kemu.cli.delete`,
:mod:`kemu.cli.create`, :mod:`kemu.cli.api_resources`,
:mod:`kemu.cli.cluster`, :mod:`kemu.cli.network`, :mod:`kemu.cli.pods`,
:mod:`kemu.cli.rollout`, :mod:`kemu.cli.top`) import it, and it imports none
of them; :mod:`kemu.cli.main` puts them together (:func:`build_cli`).

- **The group and its context.** :func:`build_cli` makes the ``kemu`` group
  (``--server``, ``--request-timeout``) holding the commands it is given;
  every command receives a :class:`Ctx`, whose client is made on first use
  after checking that something listens at the address
  (:func:`connection_refused`), so a missing server is one line at once
  rather than a timeout.
- **Errors as kubectl reports them**, on stderr with exit code 1: one error
  the way ``cmdutil.CheckErr`` prints it (:func:`server_error`: ``The
  Deployment "web" is invalid: ...``, ``Error from server (NotFound):
  ...``), several one ``Error from server (...)`` line each
  (:func:`report`). :class:`KemuGroup` turns whatever a command did not
  handle into one ``error:`` line, never a traceback (``KEMU_DEBUG=1`` shows
  it).
- **Arguments as kubectl reads them.** ``KIND [NAME...]``, ``KIND1,KIND2``,
  ``KIND/NAME ...`` and ``all`` are parsed once (:func:`parse_targets`) for
  get, describe and delete, with kubectl's short names (``po``,
  ``deploy``...); manifests get their namespace the way kubectl gives it
  (:func:`set_namespace`).
"""

from __future__ import annotations

import copy
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from kemu.api import errors
from kemu.api.kinds import KindInfo, resolve
from kemu.cli import printers
from kemu.client import Client, connection_refused
from kemu.config import resolve_server
from kemu.manifests import Manifest, ManifestError
from kemu.types import Obj

__all__ = [
    "ALL_CATEGORY",
    "START_HINT",
    "CommandError",
    "Ctx",
    "KemuGroup",
    "Obj",
    "StdoutClosed",
    "Target",
    "build_cli",
    "connection_refused",
    "dry_run_suffix",
    "fail",
    "namespace_of",
    "no_resources",
    "parse_targets",
    "report",
    "resource_ref",
    "server_error",
    "set_namespace",
    "source_name",
    "standard_message",
    "unreachable_hint",
    "with_source",
]


ALL_CATEGORY = ("pods", "services", "deployments", "replicasets")
"""What ``get all`` lists, in kubectl's order (the kinds kemu serves of the
``all`` category)."""

START_HINT = "start one with `kemu up`"


def unreachable_hint(server: str, *, refused: bool = False) -> str:
    """What to say, in parentheses, when the apiserver at ``server`` does not
    answer: the state of the cluster kemu recorded for it, and the command that
    fixes it (:mod:`kemu.cli.diagnose`, which ``kemu up`` reads too, so the two
    never contradict each other)."""
    from kemu.cli import diagnose

    return diagnose.unreachable_hint(diagnose.find_cluster(server), refused)


def _context_server() -> str | None:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_object(Ctx) if ctx is not None else None
    return obj.server if obj is not None else None


# -- errors -------------------------------------------------------------------------


class CommandError(Exception):
    """A client-side error, printed as ``error: <message>`` (kubectl's
    wording where kubectl has one)."""


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code``."""
    click.echo(message.rstrip("\n"), err=True)
    sys.exit(code)


def _unavailable_message(exc: errors.ApiError) -> str:
    server = _context_server()
    hint = unreachable_hint(server) if server else f"is the apiserver running? {START_HINT}"
    question = "(is the apiserver running?)"
    if question in exc.message:
        return f"error: {exc.message.replace(question, f'({hint})')}"
    return f"error: {exc.message} ({hint})"


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
                    f" ({unreachable_hint(self.server, refused=True)})"
                )
            self._client = Client(self.server, timeout=self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class StdoutClosed(Exception):
    """Standard output is a pipe whose reader went away (``kemu ... | head``):
    not an error to report, the output is simply no longer wanted.
    :func:`kemu.cli.main.main` ends the process quietly on it. (Not an
    ``OSError``, so click's own EPIPE handling, which leaves the buffered
    output to fail again at interpreter exit, does not take it.)"""


def stdout_closed() -> bool:
    """True when standard output is a pipe whose reading end is closed
    (``poll`` reports ``POLLERR`` for it), telling a ``BrokenPipeError`` of
    stdout from one of a socket."""
    import select

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a test runner, or closed
        return False
    poller = select.poll()
    poller.register(fd, 0)  # POLLERR and POLLHUP are reported whatever the mask
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


class KemuGroup(click.Group):
    """The ``kemu`` group: whatever a command did not handle becomes one
    ``error:`` line and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError as exc:
            if not stdout_closed():
                fail(f"error: {type(exc).__name__}: {exc}")
            raise StdoutClosed() from None
        except errors.ApiError as exc:
            fail(server_error(exc))
        except (CommandError, ManifestError) as exc:
            fail(standard_message(exc))
        except Exception as exc:
            if os.environ.get("KEMU_DEBUG"):
                raise
            fail(f"error: {type(exc).__name__}: {exc} (set KEMU_DEBUG=1 for the traceback)")


def build_cli(commands: Iterable[click.Command]) -> KemuGroup:
    """The ``kemu`` group, holding ``commands`` (each verb module's
    ``COMMANDS``; :mod:`kemu.cli.main` passes them all)."""

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

    for command in commands:
        cli.add_command(command)
    return cli


# -- targets -------------------------------------------------------------------------


def resource_ref(info: KindInfo, name: str) -> str:
    """``deployment.apps/web``, ``pod/web-1`` (kubectl's -o name)."""
    return f"{printers.resource_name(info.kind)}/{name}"


def namespace_of(info: KindInfo, namespace: str | None) -> str | None:
    """The namespace a request about ``info`` goes to: ``-n`` or ``default``
    for a namespaced kind, None for a cluster-scoped one."""
    return (namespace or "default") if info.namespaced else None


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


def no_resources(targets: Sequence[Target], all_ns: bool, namespace: str) -> str:
    """kubectl's line for an empty answer: ``No resources found in default
    namespace.`` when every kind asked about is namespaced, else ``No
    resources found``."""
    if not all_ns and all(t.info.namespaced for t in targets):
        return f"No resources found in {namespace} namespace."
    return "No resources found"


# -- manifests ------------------------------------------------------------------------


def set_namespace(info: KindInfo, obj: Obj, namespace: str | None) -> None:
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


def source_name(manifest: Manifest) -> str:
    """Where a manifest came from, as kubectl names it in errors (``STDIN`` for ``-``)."""
    return "STDIN" if manifest.source == "-" else manifest.source


def dry_run_suffix(dry_run: str) -> str:
    """What kubectl appends to a line about an object it did not really change."""
    return {"client": " (dry run)", "server": " (server dry run)"}.get(dry_run, "")
