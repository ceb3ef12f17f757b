"""``kemu api-resources``: the kinds kemu serves, as kubectl lists them."""

from __future__ import annotations

import click

from kemu.api.kinds import KINDS
from kemu.cli import printers

__all__ = ["COMMANDS", "api_resources"]


@click.command("api-resources")
def api_resources() -> None:
    """List the kinds kemu serves, with their short names."""
    rows = [
        [i.plural, ",".join(i.short_names), i.api_version, str(i.namespaced).lower(), i.kind]
        for i in sorted(KINDS.values(), key=lambda i: i.plural)
    ]
    click.echo(printers.format_table(["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"], rows), nl=False)


COMMANDS: list[click.Command] = [api_resources]
"""What this module adds to the ``kemu`` group."""
