"""``kemu create namespace``: an object made from arguments, not a manifest."""

from __future__ import annotations

import time

import click

from kemu.cli import printers
from kemu.cli.base import Ctx, Obj, dry_run_suffix

__all__ = ["COMMANDS", "create"]


@click.group()
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
        click.echo(f"namespace/{name} created{dry_run_suffix(dry_run)}")


COMMANDS: list[click.Command] = [create]
"""What this module adds to the ``kemu`` group."""
