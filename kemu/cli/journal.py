"""``kemu journal``: every component's log of the local cluster as one timeline.

Not ``kemu logs`` (a pod's containers, as ``kubectl logs``) nor Events: the
JSON lines the apiserver, controllers, scheduler, kubelets and kube-proxies
write to ``<data-dir>/logs/``, merged by timestamp and filtered
(:mod:`kemu.journal`). Piped, the lines are printed as written (JSON, for
``jq``); on a terminal, one readable line each. ``-f`` keeps printing new
lines until Ctrl-C.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from pathlib import Path

import click

from kemu import config as kconfig
from kemu import journal
from kemu.cli.base import fail

__all__ = ["COMMANDS", "journal_cmd"]

DEFAULT_DATA_DIR = Path.home() / ".kemu" / "local"


def _data_dir(flag: Path | None) -> Path:
    """The flag, else the current cluster's data dir, else kemu up's default."""
    if flag:
        return flag
    current = kconfig.current_cluster()
    if current and current[1].get("data_dir"):
        return Path(current[1]["data_dir"])
    return DEFAULT_DATA_DIR


@click.command("journal")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The cluster's data dir [default: the current cluster's].")
@click.option("--since", default=None,
              help="Only lines newer than a duration (5s, 2m, 3h) or an RFC 3339 time (2026-12-04T22:30:00Z).")
@click.option("--component", "components", multiple=True,
              help="Only this process (kubelet-node-2), component (kubelet) or node (node-2); repeatable.")
@click.option("--key", "keys", multiple=True, help="Only lines about this object key (default/web-x7k2p); repeatable.")
@click.option("--level", type=click.Choice(["debug", "info", "warning", "error"]), default=None,
              help="Only lines of this level and above (warning: warnings and errors).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines as they are written.")
@click.option("-o", "--output", type=click.Choice(["json", "text"]), default=None,
              help="json: the lines as written; text: one readable line each [default: text on a terminal].")
def journal_cmd(data_dir: Path | None, since: str | None, components: tuple[str, ...], keys: tuple[str, ...],
                level: str | None, follow: bool, output: str | None) -> None:
    """Every component's log of the local cluster, merged in time order."""
    log_dir = _data_dir(data_dir) / "logs"
    if not log_dir.is_dir():
        fail(f"error: no cluster logs in {log_dir} (run `kemu up` first)")
    try:
        keep = journal.Filter(since=journal.parse_since(since) if since else None, components=components,
                              keys=keys, level=level)
    except ValueError as exc:
        fail(f"error: {exc}")
    text = sys.stdout.isatty() if output is None else output == "text"

    def out(records: Iterable[journal.Record]) -> None:
        for record in records:
            click.echo(journal.render(record, text=text))

    if not follow:
        out(journal.timeline(log_dir, keep))
        return
    try:
        journal.follow(log_dir, keep, out, threading.Event())
    except KeyboardInterrupt:
        pass


COMMANDS: list[click.Command] = [journal_cmd]
"""What this module adds to the ``kemu`` group."""
