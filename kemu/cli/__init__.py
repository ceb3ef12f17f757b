"""The kemu command line.

:mod:`kemu.cli.base` holds what every verb shares (the group class, the
context, kubectl's error wording, target parsing); each verb module defines
its commands alone and lists them in ``COMMANDS``; :mod:`kemu.cli.main`
builds the ``kemu`` group from its one list of verb modules and holds the
console script. The module docstring of :mod:`kemu.cli.main` maps verbs to
modules.
"""
