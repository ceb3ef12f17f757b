"""Volumes as a container sees them: mounts, path mapping and substitution.

A container's volumes reach it in one of three ways (see
:mod:`kubelet.runtime`): bind mounts in its own root file system (with a
pod sandbox), bind mounts over the host's tree in a private mount namespace,
or -- without namespaces -- substitution of the mountPath by the host path
in its command, environment and working directory. This module is the pure
path arithmetic of those choices (plus creating the mount points and
subPath directories they need); it starts no process and holds no state,
so the planner (:mod:`kubelet.plan`) and exec (:mod:`kubelet.container_exec`)
map paths the same way.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubelet.processes import SHIM_PATH
from kubelet.shim import BindMount

__all__ = [
    "Mount",
    "host_view",
    "map_path",
    "normal_dir",
    "other_file_systems",
    "own_root_mounts",
    "path_under",
    "split_mounts",
    "substitute_paths",
    "working_dir",
]


@dataclass(frozen=True, slots=True)
class Mount:
    """A volume mount of one container, already resolved to a host directory."""

    host_path: Path
    """The volume's directory on the host (an emptyDir under the pod's dir ...)."""
    container_path: str
    """``mountPath``: where the container sees it."""
    read_only: bool = False
    """``readOnly``."""
    sub_path: str = ""
    """``subPath``: mount this path inside the volume instead of its root."""

    @property
    def source(self) -> Path:
        """The host path that appears at :attr:`container_path`."""
        return self.host_path / self.sub_path if self.sub_path else self.host_path


def path_under(path: str, root: str) -> bool:
    """True when ``path`` is ``root`` or inside it (both normalised, absolute)."""
    return path == root or root == "/" or path.startswith(root.rstrip("/") + "/")


def substitute_paths(text: str, subs: Sequence[tuple[str, str]]) -> str:
    """Replace container paths by host paths at path boundaries (longest first)."""
    for container_path, host_path in sorted(subs, key=lambda s: len(s[0]), reverse=True):
        pattern = rf"(?<![\w.\-/]){re.escape(container_path.rstrip('/'))}(?=/|$|[^\w.\-])"
        text = re.sub(pattern, host_path.replace("\\", "\\\\"), text)
    return text


def map_path(path: str, mounts: Sequence[Mount]) -> str | None:
    """The host path of container ``path`` when a mount covers it (deepest mount wins)."""
    norm = os.path.normpath(path)
    best: Mount | None = None
    for m in mounts:
        mp = os.path.normpath(m.container_path)
        if path_under(norm, mp) and (best is None or len(mp) > len(os.path.normpath(best.container_path))):
            best = m
    if best is None:
        return None
    rel = os.path.relpath(norm, os.path.normpath(best.container_path))
    return str(best.source) if rel == "." else str(best.source / rel)


def split_mounts(
    mounts: Sequence[Mount], isolate: bool, needed: Sequence[str], log: Any
) -> tuple[list[BindMount], list[tuple[str, str]]]:
    """Bind mounts for the namespace, substitutions for the rest; ``needed``
    are the host paths a bind mount must not hide."""
    binds: list[BindMount] = []
    subs: list[tuple[str, str]] = []
    for m in sorted(mounts, key=lambda m: os.path.normpath(m.container_path).count("/")):
        source = m.source
        if m.sub_path and not source.exists():
            source.mkdir(parents=True, exist_ok=True)  # as the kubelet does for subPath
        target = _bind_target(m, source, needed) if isolate else None
        if target is not None:
            binds.append(BindMount(str(source), target, m.read_only))
            continue
        if isolate:
            log.warning(
                "volume not bind-mounted (it would hide host paths or cannot be created); "
                "using path substitution",
                mount_path=m.container_path,
            )
        subs.append((os.path.normpath(m.container_path), str(source)))
    return binds, subs


def working_dir(wd: str, mounts: Sequence[Mount], isolate: bool, subs: list[tuple[str, str]], rootfs: Path) -> str:
    """The working directory of a container without its own root: ``wd``
    itself when a bind-mounted volume holds it, the volume's host path when
    that volume is substituted, else a private directory under ``rootfs`` (so
    relative writes never land in the host's directories)."""
    wd = os.path.normpath(wd if wd.startswith("/") else "/" + wd)
    in_volume = map_path(wd, mounts)
    if in_volume is not None:
        Path(in_volume).mkdir(parents=True, exist_ok=True)
        bound = isolate and not any(path_under(wd, c) for c, _h in subs)
        return wd if bound else in_volume
    private = rootfs / wd.lstrip("/")
    private.mkdir(parents=True, exist_ok=True)
    return str(private)


def _bind_target(m: Mount, source: Path, needed: Sequence[str]) -> str | None:
    """The host path to bind-mount ``m`` onto, or ``None`` to substitute."""
    target = os.path.realpath(os.path.normpath(m.container_path))
    if any(path_under(n, target) for n in needed):
        return None
    if source.is_dir():
        if os.path.isfile(target):
            return None
        try:
            os.makedirs(target, exist_ok=True)  # an empty mount point, left in place
        except OSError:
            return None
        return target
    return target if source.is_file() and os.path.isfile(target) else None


def own_root_mounts(mounts: Sequence[Mount]) -> list[BindMount]:
    """Every volume bind-mounted at its ``mountPath`` inside the container's
    own root (shallowest first, so nested mounts stack): nothing on the host
    is hidden or created, whatever the path."""
    binds = []
    for m in sorted(mounts, key=lambda m: normal_dir(m.container_path).count("/")):
        source = m.source
        if m.sub_path and not source.exists():
            source.mkdir(parents=True, exist_ok=True)  # as the kubelet does for subPath
        target = normal_dir(m.container_path)
        if target != "/":
            binds.append(BindMount(str(source), target, m.read_only))
    return binds


def normal_dir(path: str) -> str:
    return os.path.normpath(path if path.startswith("/") else "/" + path)


@functools.cache
def other_file_systems() -> list[str]:
    """Directories kemu runs containers' programs from (Python, its standard
    library, the kubelet's scripts) that do not live on the file system of
    ``/``, so an overlay of ``/`` would not show them."""
    root_dev = os.stat("/").st_dev
    candidates = [sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)), str(SHIM_PATH.parent)]
    found: list[str] = []
    for path in dict.fromkeys(os.path.realpath(p) for p in candidates if p):
        try:
            if os.stat(path).st_dev != root_dev and not any(path_under(path, f) for f in found):
                found.append(path)
        except OSError:
            continue
    return found


def host_view(binds: Sequence[BindMount]) -> Callable[[str], str]:
    """Where a path the container sees lives on the host: through the bind
    mounts it gets in its namespace (deepest first), else unchanged."""
    ordered = sorted(binds, key=lambda b: len(b.target), reverse=True)

    def to_host(path: str) -> str:
        norm = os.path.normpath(path)
        for b in ordered:
            if path_under(norm, b.target):
                rel = os.path.relpath(norm, b.target)
                return b.source if rel == "." else os.path.join(b.source, rel)
        return path

    return to_host
