"""Where the CLI finds the apiserver: a flag, an environment variable, or a
small config file, like a kubeconfig.

Precedence: ``--server`` > ``$KEMU_SERVER`` > the config file's current
cluster > ``tcp://127.0.0.1:7100``. The config file is ``$KEMU_CONFIG`` or
``~/.kemu/config.yaml``::

    current: local
    clusters:
      local: {server: "tcp://127.0.0.1:7100", data_dir: "/home/me/.kemu/local"}
      compose: {server: "tcp://127.0.0.1:7100"}

``kemu up`` writes its cluster entry and makes it current.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from kemu.client import DEFAULT_SERVER

__all__ = ["config_path", "load_config", "save_cluster", "use_cluster", "resolve_server", "current_cluster"]


def config_path() -> Path:
    env = os.environ.get("KEMU_CONFIG")
    return Path(env) if env else Path.home() / ".kemu" / "config.yaml"


def load_config(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return {"clusters": {}}
    except yaml.YAMLError as exc:
        raise ValueError(f"kemu config {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"kemu config {path} must be a mapping")
    data.setdefault("clusters", {})
    return data


def _write(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.replace(path)


def save_cluster(name: str, entry: dict[str, Any], *, make_current: bool = True, path: Path | None = None) -> Path:
    """Record a cluster (``server`` and anything the launcher needs later)."""
    path = path or config_path()
    data = load_config(path)
    data["clusters"][name] = entry
    if make_current:
        data["current"] = name
    _write(data, path)
    return path


def use_cluster(name: str, *, path: Path | None = None) -> None:
    path = path or config_path()
    data = load_config(path)
    if name not in data["clusters"]:
        known = ", ".join(sorted(data["clusters"])) or "none"
        raise ValueError(f"no cluster named {name!r} in {path} (known: {known})")
    data["current"] = name
    _write(data, path)


def current_cluster(path: Path | None = None) -> tuple[str, dict[str, Any]] | None:
    data = load_config(path)
    name = data.get("current")
    if name and name in data["clusters"]:
        return str(name), dict(data["clusters"][name])
    return None


def resolve_server(flag: str | None = None) -> str:
    if flag:
        return flag
    env = os.environ.get("KEMU_SERVER")
    if env:
        return env
    current = current_cluster()
    if current and current[1].get("server"):
        return str(current[1]["server"])
    return DEFAULT_SERVER
