"""The layout of :mod:`kemu.cli`: no import cycle, no import for side effects.

:mod:`kemu.cli.base` is the bottom (it imports no verb module), each verb
module stands alone (it imports neither :mod:`kemu.cli.main` nor another
verb module), and :data:`kemu.cli.main.VERB_MODULES` is the one list that
makes the ``kemu`` group. Imports are checked in a fresh interpreter each,
so what one test imported cannot hide what another needs.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import click
import pytest

import kemu.cli
from kemu.cli import main

pytestmark = pytest.mark.timeout(120)

CLI_MODULES = sorted(f"kemu.cli.{m.name}" for m in pkgutil.iter_modules(kemu.cli.__path__))
VERB_NAMES = sorted(module.__name__ for module in main.VERB_MODULES)

VERBS_BEFORE_THE_SPLIT = [
    "api-resources", "apply", "attach", "config", "create", "delete", "describe", "down", "exec", "get",
    "journal", "logs", "node", "port-forward", "rollout", "scale", "set", "top", "up",
]
"""What ``kemu --help`` listed when every verb was registered by importing
its module (the refactoring must not lose or add one), and the verbs added
since (``journal``)."""


def cli_modules_after_importing(module: str) -> list[str]:
    """The :mod:`kemu.cli` modules a fresh interpreter holds after ``import module``."""
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('kemu.cli.'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout)
    return loaded


class TestImports:
    @pytest.mark.parametrize("module", CLI_MODULES)
    def test_every_module_imports_alone_without_main(self, module: str) -> None:
        """Each kemu.cli module imports in a fresh interpreter, and only main loads main."""
        loaded = cli_modules_after_importing(module)
        assert module in loaded
        if module != "kemu.cli.main":
            assert "kemu.cli.main" not in loaded

    @pytest.mark.parametrize("module", VERB_NAMES)
    def test_a_verb_module_imports_no_other_verb(self, module: str) -> None:
        """A verb module brings base and the printers along, never another verb module."""
        loaded = cli_modules_after_importing(module)
        assert [m for m in loaded if m in VERB_NAMES] == [module]

    def test_base_imports_no_verb_module(self) -> None:
        """kemu.cli.base is the bottom of the CLI: importing it loads no verb."""
        loaded = cli_modules_after_importing("kemu.cli.base")
        assert not [m for m in loaded if m in VERB_NAMES or m == "kemu.cli.main"]


class TestRegistration:
    def test_every_module_with_commands_is_in_the_one_list(self) -> None:
        """A module that defines COMMANDS is a verb module, and the list names each once."""
        with_commands = sorted(
            name for name in CLI_MODULES
            if name != "kemu.cli.main" and hasattr(__import__(name, fromlist=["_"]), "COMMANDS")
        )
        assert with_commands == VERB_NAMES
        assert len(main.VERB_MODULES) == len(set(main.VERB_MODULES))

    def test_the_group_holds_exactly_the_listed_commands(self) -> None:
        """kemu's commands are the union of the verb modules' COMMANDS, no name twice."""
        listed = [command for module in main.VERB_MODULES for command in module.COMMANDS]
        assert all(isinstance(command, click.Command) for command in listed)
        names = [command.name for command in listed]
        assert len(names) == len(set(names))
        assert sorted(main.cli.commands) == sorted(n for n in names if n)
        assert all(main.cli.commands[command.name] is command for command in listed if command.name)

    def test_help_lists_the_same_verbs_as_before(self) -> None:
        """The split lost no verb: kemu --help lists what it listed before."""
        assert sorted(main.cli.commands) == VERBS_BEFORE_THE_SPLIT
        result = subprocess.run(
            [sys.executable, "-c", "from kemu.cli.main import main; main()", "--help"],
            capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stderr
        commands = result.stdout.split("Commands:\n", 1)[1]
        listed = [line.split()[0] for line in commands.splitlines() if line.startswith("  ") and not line.startswith("   ")]
        assert listed == VERBS_BEFORE_THE_SPLIT
