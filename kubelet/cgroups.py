"""cgroup v2 for containers' resource limits: one delegated subtree per node.

``resources.limits`` are enforced with cgroup v2 when the host lets kemu
write a subtree (``<cgroup root>/kemu/<node>``, one child group per
container with ``memory.max``, ``memory.oom.group`` and ``cpu.max``). Kept
apart because it is the only code that writes the cgroup file system; the
runtime decides *whether* to use it (:attr:`kubelet.runtime.ContainerRuntime.memory_mode`),
the shim moves the container into the group, and :mod:`kubelet.stats`
reads usage back.
"""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["CgroupV2"]


class CgroupV2:
    """A delegated cgroup v2 subtree ``<root>/kemu/<node>`` with memory (and
    cpu, when available) enabled; one child group per container."""

    def __init__(self, base: Path, controllers: frozenset[str]) -> None:
        self.base = base
        self.controllers = controllers

    @classmethod
    def detect(cls, root: Path, node_name: str) -> CgroupV2 | None:
        """The subtree, or ``None`` when cgroup v2 with a writable memory
        controller is not available here (cgroup v1, no root, no delegation)."""
        try:
            available = frozenset((root / "cgroup.controllers").read_text().split())
            if "memory" not in available:
                return None
            wanted = sorted({"memory", "cpu", "pids"} & available)
            enable = " ".join(f"+{c}" for c in wanted)
            base = root / "kemu" / node_name
            (root / "cgroup.subtree_control").write_text(enable)
            base.mkdir(parents=True, exist_ok=True)
            (root / "kemu" / "cgroup.subtree_control").write_text(enable)
            (base / "cgroup.subtree_control").write_text(enable)
            return cls(base, frozenset(wanted))
        except OSError:
            return None

    def create(self, container_id: str, memory: int | None, cpu: float | None) -> Path:
        path = self.base / container_id
        path.mkdir(exist_ok=True)
        if memory is not None:
            (path / "memory.max").write_text(str(memory))
            try:
                (path / "memory.oom.group").write_text("1")  # kill the whole container, as Kubernetes does
            except OSError:
                pass
            try:
                (path / "memory.swap.max").write_text("0")
            except OSError:
                pass  # no swap accounting
        if cpu is not None and "cpu" in self.controllers:
            period = 100_000
            (path / "cpu.max").write_text(f"{max(1000, int(cpu * period))} {period}")
        return path

    @staticmethod
    def remove(path: Path) -> None:
        for _ in range(20):
            try:
                path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)

