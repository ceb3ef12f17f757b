"""One structlog set-up for every kemu process.

Lines are JSON when stderr is not a terminal (compose, CI, ``kemu up``'s
merged stream) and a readable console rendering when it is. Every line carries
``component`` and, where there is one, ``node``; code binds ``kind``, ``key``,
``uid`` and ``resourceVersion`` as it works, so the lines of many processes can
later be joined into one causal timeline. Timestamps are UTC with microseconds.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

__all__ = ["configure", "get_logger", "LEVELS"]

LEVELS = ("debug", "info", "warning", "error")


def configure(component: str, *, level: str = "info", node: str | None = None, json: bool | None = None) -> None:
    """Set up structlog for this process.

    ``json`` forces the renderer; by default JSON is used unless stderr is a
    terminal. ``KEMU_LOG_FORMAT=json|console`` and ``KEMU_LOG_LEVEL`` override
    from the environment (the launcher uses them for its children).
    """
    env_format = os.environ.get("KEMU_LOG_FORMAT")
    if json is None:
        json = env_format == "json" if env_format else not sys.stderr.isatty()
    level = os.environ.get("KEMU_LOG_LEVEL", level).lower()
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    static: dict[str, Any] = {"component": component}
    if node:
        static["node"] = node

    def add_static(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        # Threads start with an empty contextvars context, so the process-wide
        # fields are added by a processor rather than bound as contextvars.
        for key, value in static.items():
            event.setdefault(key, value)
        return event

    processors: list[Any] = [
        add_static,
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="%Y-%m-%dT%H:%M:%S.%fZ", utc=True, key="ts"),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**initial: Any) -> Any:
    """A logger with ``initial`` bound (``kind=``, ``key=`` ...)."""
    return structlog.get_logger().bind(**initial)
