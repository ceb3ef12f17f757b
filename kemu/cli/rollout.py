"""``kemu rollout ...``, ``kemu set image`` and ``kemu scale``: driving Deployments as kubectl does.

Every command here is a client-side edit of the object followed, for
``rollout status``, by watching the Deployment's status; the Deployment
controller (``controllermanager.deployment``) does the rolling. As in
kubectl:

- ``rollout status`` reads the Deployment again and again (every
  :data:`POLL_INTERVAL` seconds) and prints kubectl's progress lines
  (``Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas
  have been updated...``) whenever the line changes, until
  ``deployment "web" successfully rolled out``; a Progressing condition with
  reason ``ProgressDeadlineExceeded`` ends it with ``error: deployment "web"
  exceeded its progress deadline`` and exit code 1 (:func:`deployment_status`);
- ``rollout history`` lists the revisions of the ReplicaSets the Deployment
  controls with their ``kubernetes.io/change-cause``;
- ``rollout undo`` is client-side, as kubectl does it for apps/v1: it copies
  the template of the ReplicaSet of the wanted revision (the previous one by
  default) into the Deployment with a JSON patch, together with that
  ReplicaSet's annotations (:func:`rollback_target`, :func:`rollback_patch`);
  the controller then finds that ReplicaSet again and makes it the newest
  revision;
- ``rollout pause``/``resume`` set ``spec.paused``; ``rollout restart`` sets
  the ``kubectl.kubernetes.io/restartedAt`` template annotation, a new
  template, hence a new rollout;
- ``set image`` and ``scale`` are strategic/merge patches of the template's
  containers and of ``spec.replicas``.

Resources are named the kubectl ways: ``deploy/web``, ``deployment/web``,
``deployment.apps/web`` or ``deploy web``. The commands are listed in
:data:`COMMANDS`; :mod:`kemu.cli.main` adds them to the ``kemu`` group.

The pure helpers (status lines, history rows, the rollback target and
patch) duplicate a little of the controller's logic on purpose: the CLI,
like kubectl, never imports a component.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import datetime

import click

from kemu.api import errors
from kemu.api.kinds import KindInfo, resolve
from kemu.cli import describe as describe_mod
from kemu.cli import printers
from kemu.cli.base import CommandError, Ctx, fail, resource_ref
from kemu.client import Client
from kemu.types import Obj

__all__ = [
    "COMMANDS",
    "CHANGE_CAUSE",
    "POLL_INTERVAL",
    "RESTARTED_AT",
    "ResourceArg",
    "deployment_status",
    "equal_ignore_hash",
    "history_table",
    "parse_duration",
    "parse_resources",
    "rollback_patch",
    "rollback_target",
    "set_image_patch",
]


POLL_INTERVAL = 0.2
"""Seconds between two reads of the Deployment in ``rollout status``."""

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
POD_TEMPLATE_HASH = "pod-template-hash"
TIMED_OUT = "ProgressDeadlineExceeded"

# Deployment annotations a rollback keeps (kubectl's annotationsToSkip).
_KEPT_ON_ROLLBACK = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


# -- pure helpers -----------------------------------------------------------------------------


class ResourceArg:
    """One ``KIND/NAME`` a command was given."""

    __slots__ = ("info", "name")

    def __init__(self, info: KindInfo, name: str):
        self.info = info
        self.name = name

    def __repr__(self) -> str:
        return f"ResourceArg({self.info.kind!r}, {self.name!r})"

    @property
    def ref(self) -> str:
        """``deployment.apps/web``."""
        return resource_ref(self.info, self.name)


def _kind(word: str) -> KindInfo:
    try:
        return resolve(word)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def parse_resources(args: Sequence[str]) -> list[ResourceArg]:
    """kubectl's ``TYPE NAME...`` or ``TYPE/NAME...`` forms.

    >>> parse_resources(["deploy/web"])
    [ResourceArg('Deployment', 'web')]
    >>> parse_resources(["deployment.apps", "web", "api"])
    [ResourceArg('Deployment', 'web'), ResourceArg('Deployment', 'api')]
    """
    if not args:
        raise CommandError("required resource not specified")
    if any("/" in a for a in args):
        if not all("/" in a for a in args):
            raise CommandError(
                "there is no need to specify a resource type as a separate argument when passing arguments in"
                " resource/name form"
            )
        out = []
        for arg in args:
            word, _, name = arg.partition("/")
            if not word or not name:
                raise CommandError("arguments in resource/name form must have a single resource and name")
            out.append(ResourceArg(_kind(word), name))
        return out
    if len(args) < 2:
        raise CommandError("resource(s) were provided, but no name was specified")
    info = _kind(args[0])
    return [ResourceArg(info, name) for name in args[1:]]


def parse_duration(text: str) -> float:
    """Seconds in a Go duration (``30s``, ``5m``, ``1h30m``, ``500ms``); a bare
    number is seconds.

    >>> parse_duration("1m30s"), parse_duration("500ms"), parse_duration("10")
    (90.0, 0.5, 10.0)
    """
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise click.BadParameter(f'time: invalid duration "{text}"')
    return sum(float(n) * units[u] for n, u in parts)


def _condition(status: Obj, ctype: str) -> Obj | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == ctype), None)


def _revision(obj: Obj) -> int | None:
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def deployment_status(deploy: Obj, revision: int = 0) -> tuple[str, bool]:
    """``(line, done)``: what ``kubectl rollout status`` says about a
    Deployment now (``DeploymentStatusViewer.Status``). Raises
    :class:`CommandError` when the rollout exceeded its progress deadline.

    >>> d = {"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 3},
    ...      "status": {"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1}}
    >>> deployment_status(d)
    ('Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...', False)
    """
    meta, spec, status = deploy.get("metadata") or {}, deploy.get("spec") or {}, deploy.get("status") or {}
    name = meta.get("name", "")
    if revision > 0:
        current = _revision(deploy) or 0
        if current != revision:
            raise CommandError(f"desired revision ({revision}) is different from the running revision ({current})")
    if int(meta.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return "Waiting for deployment spec update to be observed...", False
    cond = _condition(status, "Progressing")
    if cond is not None and cond.get("reason") == TIMED_OUT:
        raise CommandError(f'deployment "{name}" exceeded its progress deadline')
    replicas = int(spec["replicas"]) if spec.get("replicas") is not None else 1
    total = int(status.get("replicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if updated < replicas:
        return f"{waiting}{updated} out of {replicas} new replicas have been updated...", False
    if total > updated:
        return f"{waiting}{total - updated} old replicas are pending termination...", False
    if available < updated:
        return f"{waiting}{available} of {updated} updated replicas are available...", False
    return f'deployment "{name}" successfully rolled out', True


def _without_hash(template: Obj | None) -> Obj:
    out = dict(template or {})
    meta = dict(out.get("metadata") or {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != POD_TEMPLATE_HASH}
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    if meta:
        out["metadata"] = meta
    else:
        out.pop("metadata", None)
    return out


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    """Two pod templates equal but for ``pod-template-hash``."""
    return _without_hash(a) == _without_hash(b)


def history_table(replica_sets: Sequence[Obj]) -> str:
    """``REVISION  CHANGE-CAUSE`` rows, one per revision, oldest first.

    >>> rs = {"metadata": {"annotations": {REVISION: "2", CHANGE_CAUSE: "image 1.25"}}}
    >>> print(history_table([rs]), end="")
    REVISION  CHANGE-CAUSE
    2         image 1.25
    """
    rows: dict[int, str] = {}
    for rs in replica_sets:
        rev = _revision(rs)
        if rev is None:
            continue
        rows[rev] = ((rs.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE) or "<none>"
    text = "REVISION\tCHANGE-CAUSE\n" + "".join(f"{rev}\t{rows[rev]}\n" for rev in sorted(rows))
    return printers.TabWriter(minwidth=0, padding=2).format(text)


def rollback_target(deploy: Obj, replica_sets: Sequence[Obj], to_revision: int = 0) -> Obj:
    """The ReplicaSet ``rollout undo`` goes back to (kubectl's
    ``deploymentRevision``): the one of ``to_revision``, or with 0 the one of
    the second-highest revision. Raises :class:`CommandError` with kubectl's
    words when there is none."""
    if to_revision < 0:
        raise CommandError(f"unable to find specified revision {to_revision} in history")
    by_revision = sorted(
        ((rev, rs) for rs in replica_sets if (rev := _revision(rs)) is not None), key=lambda item: item[0]
    )
    if to_revision > 0:
        for rev, rs in by_revision:
            if rev == to_revision:
                return rs
        raise CommandError(f"unable to find specified revision {to_revision} in history")
    if len(by_revision) < 2:
        name = (deploy.get("metadata") or {}).get("name", "")
        raise CommandError(f'no rollout history found for deployment "{name}"')
    return by_revision[-2][1]


def rollback_patch(deploy: Obj, rs: Obj) -> list[Obj]:
    """The JSON patch that restores ``rs``'s template (without its hash label)
    and annotations on the Deployment, keeping the Deployment's own
    bookkeeping annotations (kubectl's ``getDeploymentPatch``)."""
    template = _without_hash((rs.get("spec") or {}).get("template"))
    annotations = {
        k: v for k, v in ((deploy.get("metadata") or {}).get("annotations") or {}).items() if k in _KEPT_ON_ROLLBACK
    }
    for key, value in ((rs.get("metadata") or {}).get("annotations") or {}).items():
        if key not in _KEPT_ON_ROLLBACK:
            annotations[key] = value
    return [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "add", "path": "/metadata/annotations", "value": annotations},
    ]


def set_image_patch(obj: Obj, images: Sequence[tuple[str, str]]) -> tuple[Obj | None, list[str]]:
    """``(strategic patch or None when nothing changes, names not found)``
    for ``kubectl set image`` on a pod, ReplicaSet or Deployment; ``*`` names
    every container.

    >>> d = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.24"}]}}}}
    >>> set_image_patch(d, [("nginx", "nginx:1.25")])
    ({'spec': {'template': {'spec': {'containers': [{'name': 'nginx', 'image': 'nginx:1.25'}]}}}}, [])
    """
    pod_spec = (obj.get("spec") or {}) if obj.get("kind") == "Pod" else ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    changes: dict[str, list[Obj]] = {}
    missing: list[str] = []
    for name, image in images:
        found = False
        for field in ("initContainers", "containers"):
            for container in pod_spec.get(field) or []:
                if name in ("*", container.get("name")):
                    found = True
                    if container.get("image") != image:
                        changes.setdefault(field, []).append({"name": container.get("name"), "image": image})
        if not found:
            missing.append(name)
    if not changes:
        return None, missing
    spec_patch: Obj = dict(changes)
    patch = {"spec": spec_patch} if obj.get("kind") == "Pod" else {"spec": {"template": {"spec": spec_patch}}}
    return patch, missing


def _print_template(template: Obj | None) -> str:
    """``DescribePodTemplate``, as ``rollout history --revision`` prints it."""
    writer = describe_mod._PrefixWriter()
    context = describe_mod._Context(events=None, related={}, now=time.time(), tz=None)
    describe_mod._pod_template(writer, template, context)
    return writer.text()


# -- helpers that talk to the server ---------------------------------------------------------------


def _one(args: Sequence[str], kinds: Sequence[str], what: str) -> ResourceArg:
    """The single resource a command takes (``rollout status``)."""
    resources = parse_resources(args)
    if len(resources) != 1:
        raise CommandError("only one resource can be watched at a time")
    if resources[0].info.kind not in kinds:
        raise CommandError(f"no {what} has been implemented for {resources[0].info.kind}")
    return resources[0]


def controlled_replicasets(client: Client, deploy: Obj) -> list[Obj]:
    """The ReplicaSets whose controller is ``deploy`` (by uid)."""
    meta = deploy.get("metadata") or {}
    uid = meta.get("uid")
    out = []
    for rs in client.list("ReplicaSet", meta.get("namespace"))["items"]:
        refs = (rs.get("metadata") or {}).get("ownerReferences") or []
        if any(r.get("controller") and r.get("uid") == uid for r in refs):
            out.append(rs)
    return out


def _record(patch: Obj, record: bool, command: str) -> Obj:
    if record:
        patch.setdefault("metadata", {}).setdefault("annotations", {})[CHANGE_CAUSE] = command
    return patch


def _command_line() -> str:
    import sys

    argv = [a for a in sys.argv[1:] if a != "--record" and not a.startswith("--record=")]
    return " ".join(["kemu", *argv])


# -- commands ---------------------------------------------------------------------------------------


@click.group()
def rollout() -> None:
    """Manage the rollout of a Deployment (status, history, undo, pause, resume, restart)."""


@rollout.command("status")
@click.argument("args", nargs=-1)
@click.option("-n", "--namespace", default=None)
@click.option("--timeout", default="0s", help="How long to wait (30s, 5m ...); 0 waits forever.")
@click.option("-w", "--watch/--no-watch", default=True, help="Wait for the rollout to finish.")
@click.option("--revision", type=int, default=0, help="Pin to a revision; error if it is not the running one.")
@click.pass_obj
def rollout_status(ctx: Ctx, args: tuple[str, ...], namespace: str | None, timeout: str, watch: bool, revision: int) -> None:
    """Wait for a rollout to finish, printing its progress as kubectl does."""
    res = _one(args, ("Deployment",), "status viewer")
    seconds = parse_duration(timeout)
    deadline = time.monotonic() + seconds if seconds > 0 else None
    last = None
    while True:
        deploy = ctx.client.get("Deployment", res.name, namespace)
        line, done = deployment_status(deploy, revision)
        if line != last:
            click.echo(line)
            last = line
        if done or not watch:
            return
        if deadline is not None and time.monotonic() >= deadline:
            fail("error: timed out waiting for the condition")
        time.sleep(POLL_INTERVAL)


@rollout.command("history")
@click.argument("args", nargs=-1)
@click.option("-n", "--namespace", default=None)
@click.option("--revision", type=int, default=0, help="Show the pod template of this revision.")
@click.pass_obj
def rollout_history(ctx: Ctx, args: tuple[str, ...], namespace: str | None, revision: int) -> None:
    """List a Deployment's revisions (REVISION, CHANGE-CAUSE)."""
    for res in parse_resources(args):
        if res.info.kind != "Deployment":
            raise CommandError(f'no history viewer has been implemented for "{res.info.kind}"')
        deploy = ctx.client.get("Deployment", res.name, namespace)
        replica_sets = controlled_replicasets(ctx.client, deploy)
        if revision > 0:
            match = next((rs for rs in replica_sets if _revision(rs) == revision), None)
            if match is None:
                raise CommandError("unable to find the specified revision")
            template = dict((match.get("spec") or {}).get("template") or {})
            cause = ((match.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE)
            if cause:
                tmeta = dict(template.get("metadata") or {})
                tmeta["annotations"] = {**(tmeta.get("annotations") or {}), CHANGE_CAUSE: cause}
                template["metadata"] = tmeta
            click.echo(f"{res.ref} with revision #{revision}")
            click.echo(_print_template(template))
        else:
            click.echo(f"{res.ref} ")
            click.echo(history_table(replica_sets))


@rollout.command("undo")
@click.argument("args", nargs=-1)
@click.option("-n", "--namespace", default=None)
@click.option("--to-revision", type=int, default=0, help="The revision to go back to; 0 means the previous one.")
@click.option("--dry-run", type=click.Choice(["none", "server", "client"]), default="none")
@click.pass_obj
def rollout_undo(ctx: Ctx, args: tuple[str, ...], namespace: str | None, to_revision: int, dry_run: str) -> None:
    """Roll back to a previous revision (kubectl's client-side rollback)."""
    for res in parse_resources(args):
        if res.info.kind != "Deployment":
            raise CommandError(f'no rollbacker has been implemented for "{res.info.kind}"')
        deploy = ctx.client.get("Deployment", res.name, namespace)
        target = rollback_target(deploy, controlled_replicasets(ctx.client, deploy), to_revision)
        if dry_run == "client":
            click.echo(f"{res.ref} Pod Template:")
            click.echo(_print_template(_without_hash((target.get("spec") or {}).get("template"))))
            continue
        if (deploy.get("spec") or {}).get("paused"):
            raise CommandError(
                "you cannot rollback a paused deployment; resume it first with 'kemu rollout resume' and try again"
            )
        if equal_ignore_hash((target.get("spec") or {}).get("template"), (deploy.get("spec") or {}).get("template")):
            rev = _revision(target)
            click.echo(f"{res.ref} skipped rollback (current template already matches revision {rev})")
            continue
        ctx.client.patch(
            "Deployment", res.name, rollback_patch(deploy, target), namespace, patch_type="json",
            dry_run=dry_run == "server",
        )
        click.echo(f"{res.ref} rolled back{' (server dry run)' if dry_run == 'server' else ''}")


def _pause_like(ctx: Ctx, args: Sequence[str], namespace: str | None, *, pause: bool) -> None:
    errs: list[str] = []
    for res in parse_resources(args):
        plural = f"{res.info.plural}.{res.info.group}" if res.info.group else res.info.plural
        if res.info.kind != "Deployment":
            errs.append(f'error: {plural} "{res.name}" {"pausing" if pause else "resuming"} is not supported')
            continue
        deploy = ctx.client.get("Deployment", res.name, namespace)
        paused = bool((deploy.get("spec") or {}).get("paused"))
        if paused == pause:
            errs.append(f'error: {plural} "{res.name}" {"is already paused" if pause else "is not paused"}')
            continue
        ctx.client.patch("Deployment", res.name, {"spec": {"paused": pause}}, namespace, patch_type="strategic")
        click.echo(f"{res.ref} {'paused' if pause else 'resumed'}")
    if errs:
        fail("\n".join(errs))


@rollout.command("pause")
@click.argument("args", nargs=-1)
@click.option("-n", "--namespace", default=None)
@click.pass_obj
def rollout_pause(ctx: Ctx, args: tuple[str, ...], namespace: str | None) -> None:
    """Pause a Deployment: template changes wait until it is resumed."""
    _pause_like(ctx, args, namespace, pause=True)


@rollout.command("resume")
@click.argument("args", nargs=-1)
@click.option("-n", "--namespace", default=None)
@click.pass_obj
def rollout_resume(ctx: Ctx, args: tuple[str, ...], namespace: str | None) -> None:
    """Resume a paused Deployment."""
    _pause_like(ctx, args, namespace, pause=False)


@rollout.command("restart")
@click.argument("args", nargs=-1)
@click.option("-n", "--namespace", default=None)
@click.pass_obj
def rollout_restart(ctx: Ctx, args: tuple[str, ...], namespace: str | None) -> None:
    """Restart every pod of a Deployment, rolling (a restartedAt template annotation)."""
    errs: list[str] = []
    for res in parse_resources(args):
        plural = f"{res.info.plural}.{res.info.group}" if res.info.group else res.info.plural
        if res.info.kind != "Deployment":
            errs.append(f'error: {plural} "{res.name}" restarting is not supported')
            continue
        deploy = ctx.client.get("Deployment", res.name, namespace)
        if (deploy.get("spec") or {}).get("paused"):
            errs.append(f'error: {plural} "{res.name}" can\'t restart paused deployment (run rollout resume first)')
            continue
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        ctx.client.patch("Deployment", res.name, patch, namespace, patch_type="strategic")
        click.echo(f"{res.ref} restarted")
    if errs:
        fail("\n".join(errs))


@click.group("set")
def set_() -> None:
    """Set specific features on objects (image)."""


@set_.command("image")
@click.argument("args", nargs=-1, required=True)
@click.option("-n", "--namespace", default=None)
@click.option("--record", is_flag=True, help="Record the command in the kubernetes.io/change-cause annotation.")
@click.pass_obj
def set_image(ctx: Ctx, args: tuple[str, ...], namespace: str | None, record: bool) -> None:
    """Update the images of containers: kemu set image deploy/web nginx=nginx:1.25."""
    pairs = [a for a in args if "=" in a]
    resources = parse_resources([a for a in args if "=" not in a])
    if not pairs:
        raise CommandError("at least one image update is required")
    images: list[tuple[str, str]] = []
    for pair in pairs:
        name, _, image = pair.partition("=")
        if not name or not image:
            raise CommandError(f"invalid image update {pair!r}: expected CONTAINER=IMAGE")
        images.append((name, image))
    errs: list[str] = []
    for res in resources:
        if res.info.kind not in ("Deployment", "ReplicaSet", "Pod"):
            errs.append(f"error: {res.ref} the object has no pod template to set images in")
            continue
        obj = ctx.client.get(res.info.kind, res.name, namespace)
        patch, missing = set_image_patch(obj, images)
        for name in missing:
            errs.append(f'error: unable to find container named "{name}"')
        if missing or patch is None:
            continue
        ctx.client.patch(res.info.kind, res.name, _record(patch, record, _command_line()), namespace, patch_type="strategic")
        click.echo(f"{res.ref} image updated")
    if errs:
        fail("\n".join(errs))


@click.command()
@click.argument("args", nargs=-1, required=True)
@click.option("-n", "--namespace", default=None)
@click.option("--replicas", type=int, required=True, help="The new replica count.")
@click.option("--current-replicas", type=int, default=-1, help="Only scale if the current count is this.")
@click.option("--record", is_flag=True, help="Record the command in the kubernetes.io/change-cause annotation.")
@click.pass_obj
def scale(ctx: Ctx, args: tuple[str, ...], namespace: str | None, replicas: int, current_replicas: int, record: bool) -> None:
    """Set a new size for a Deployment, ReplicaSet or ReplicationController."""
    if replicas < 0:
        raise CommandError("The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
    errs: list[str] = []
    for res in parse_resources(args):
        if res.info.kind not in ("Deployment", "ReplicaSet", "ReplicationController"):
            errs.append(f"error: {res.ref} cannot be scaled (no scale subresource)")
            continue
        patch: Obj = {"spec": {"replicas": replicas}}
        if current_replicas >= 0:
            obj = ctx.client.get(res.info.kind, res.name, namespace)
            have = (obj.get("spec") or {}).get("replicas")
            if have != current_replicas:
                errs.append(f"error: Expected replicas to be {current_replicas}, was {have}")
                continue
            patch["metadata"] = {"resourceVersion": obj["metadata"]["resourceVersion"]}
        try:
            ctx.client.patch(res.info.kind, res.name, _record(patch, record, _command_line()), namespace)
        except errors.ApiError as exc:
            if exc.code == 409 and current_replicas >= 0:
                errs.append("error: the object changed while scaling; retry")
                continue
            raise
        click.echo(f"{res.ref} scaled")
    if errs:
        fail("\n".join(errs))


COMMANDS: list[click.Command] = [rollout, set_, scale]
"""What this module adds to the ``kemu`` group."""
