"""``kemu``: the command line, mirroring kubectl where the two overlap.

This module only puts the CLI together: :data:`VERB_MODULES` is the one
list of the modules whose commands make up the ``kemu`` group, and
:func:`main` is the console script. The layout of :mod:`kemu.cli`:

- :mod:`kemu.cli.base` — what every verb shares: the group class and its
  context (:class:`~kemu.cli.base.Ctx`: the server address and a client made
  on first use), kubectl's error wording, target and manifest parsing. It
  imports no verb module.
- one module per verb (or family of verbs), each defining its commands on
  its own and listing them in ``COMMANDS``; none imports this module or
  another verb module, so each can be imported, and tested, alone:

  ============================  =============================================
  :mod:`kemu.cli.apply`         ``apply`` (client-side apply, strategic patch)
  :mod:`kemu.cli.get`           ``get`` (tables, formats, ``-w``)
  :mod:`kemu.cli.describe_cmd`  ``describe`` (the fetching; the text is
                                :mod:`kemu.cli.describe`)
  :mod:`kemu.cli.delete`        ``delete``
  :mod:`kemu.cli.create`        ``create namespace``
  :mod:`kemu.cli.api_resources` ``api-resources``
  :mod:`kemu.cli.cluster`       ``up``, ``down``, ``node ...``, ``config ...``
  :mod:`kemu.cli.journal`       ``journal``
  :mod:`kemu.cli.network`       ``port-forward``
  :mod:`kemu.cli.pods`          ``logs``, ``exec``, ``attach``
  :mod:`kemu.cli.rollout`       ``rollout ...``, ``set image``, ``scale``
  :mod:`kemu.cli.top`           ``top nodes``, ``top pods``
  ============================  =============================================

- pure helpers the verbs print with: :mod:`kemu.cli.printers` (kubectl's
  tables and formats) and :mod:`kemu.cli.describe` (its describers).

Every command behaves as kubectl's does where kemu has one: its arguments,
its output, its errors on stderr with exit code 1, and never a stack trace
(:class:`~kemu.cli.base.KemuGroup`).
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

from kemu import log
from kemu.cli import (
    api_resources,
    apply,
    cluster,
    create,
    delete,
    describe_cmd,
    get,
    journal,
    network,
    pods,
    rollout,
    top,
)
from kemu.cli.base import KemuGroup, StdoutClosed, build_cli

__all__ = ["SIGPIPE_EXIT", "VERB_MODULES", "cli", "main"]

SIGPIPE_EXIT = 128 + 13
"""The exit status after the reader of stdout went away: what a shell shows
for a command killed by SIGPIPE (``yes | head`` under ``pipefail``)."""

VERB_MODULES: tuple[ModuleType, ...] = (
    api_resources,
    apply,
    cluster,
    create,
    delete,
    describe_cmd,
    get,
    journal,
    network,
    pods,
    rollout,
    top,
)
"""Every module whose ``COMMANDS`` belong to ``kemu``: the one place a verb is
registered."""

cli: KemuGroup = build_cli(command for module in VERB_MODULES for command in module.COMMANDS)
"""The ``kemu`` group (tests drive it with click's ``CliRunner``)."""


def main() -> None:
    """The ``kemu`` console script."""
    # The CLI's own machinery (an informer behind get -w) speaks up only
    # when something is wrong, on stderr.
    log.configure("kemu", level="warning")
    try:
        try:
            cli(prog_name="kemu")
        finally:
            sys.stdout.flush()  # what is still buffered fails here, not at interpreter exit
    except (BrokenPipeError, StdoutClosed):
        # `kemu ... | head`: stop quietly, as Unix commands do. stdout goes to
        # /dev/null so the interpreter's own flush at exit finds nothing to
        # complain about (the Python docs' recipe for SIGPIPE).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(SIGPIPE_EXIT)


if __name__ == "__main__":
    main()
