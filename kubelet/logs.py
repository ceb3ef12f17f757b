"""Container logs: reading the CRI-format files, following them, rotating them.

The container runtime's shim appends every line a container prints to
``<restartCount>.log`` in the CRI format::

    2026-11-25T19:13:48.123456789Z stdout F hello
    2026-11-25T19:13:48.123456789Z stdout P first 16 KiB of a long line ...

(``F`` ends a line, ``P`` is a piece of a longer one). This module turns
those records into what ``kubectl logs`` prints (with ``--timestamps``, the
RFC 3339 timestamp and a space before each line), finds where the last
``--tail N`` lines start, and reads a file in chunks from a
:class:`LogCursor` so a client can follow it (``-f``) by asking again and
again "what came after here?".

Rotation (``copytruncate``): when a log grows past ``max_size`` the kubelet
copies it to ``<restartCount>.log.<generation>`` and truncates it; the shim
opened it with ``O_APPEND``, so its next write lands at the new end. A
cursor remembers the generation it was reading, so a follower that was in
the middle of the file when it rotated finishes the rotated copy first and
misses nothing that was copied. Lines written between the copy and the
truncation (microseconds) are lost -- Kubernetes avoids that by asking the
runtime to reopen the file (CRI ``ReopenContainerLog``), which kemu's shim
does not offer yet. Only the ``max_files - 1`` newest copies are kept; like
``kubectl logs``, a plain read starts at the current file.

Everything here is a function of the files it is given: no threads, no
state.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CriRecord",
    "LogCursor",
    "format_records",
    "generations",
    "parse_cri_line",
    "read_chunk",
    "remove_log",
    "rotate",
    "tail_offset",
]

_CRI_LINE = re.compile(rb"^(\S+) (stdout|stderr) ([FP]) ?(.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class CriRecord:
    """One line of a CRI log file."""

    timestamp: str
    stream: str
    partial: bool
    """A ``P`` record: a piece of a line longer than the shim's 16 KiB."""
    content: bytes


def parse_cri_line(line: bytes) -> CriRecord | None:
    """Parse one record (without its newline); None for a malformed one.

    >>> parse_cri_line(b"2026-11-25T19:13:48.123456789Z stdout F hello")
    CriRecord(timestamp='2026-11-25T19:13:48.123456789Z', stream='stdout', partial=False, content=b'hello')
    """
    m = _CRI_LINE.match(line)
    if m is None:
        return None
    return CriRecord(m.group(1).decode(), m.group(2).decode(), m.group(3) == b"P", m.group(4))


def format_records(raw: bytes, *, timestamps: bool, mid_line: bool = False) -> tuple[bytes, bool]:
    """What ``kubectl logs`` prints for the complete records in ``raw``.

    Returns the text and whether it ended in the middle of a line (a ``P``
    record), to carry into the next chunk so a line split over two chunks
    gets one timestamp.

    >>> format_records(b"T1 stdout F a\\nT2 stderr P b\\nT3 stderr F c\\n", timestamps=True)
    (b'T1 a\\nT2 bc\\n', False)
    """
    out: list[bytes] = []
    for line in raw.split(b"\n"):
        if not line:
            continue
        rec = parse_cri_line(line)
        if rec is None:
            continue
        if timestamps and not mid_line:
            out.append(rec.timestamp.encode() + b" ")
        out.append(rec.content)
        if not rec.partial:
            out.append(b"\n")
        mid_line = rec.partial
    return b"".join(out), mid_line


# ------------------------------------------------------------------ cursor


@dataclass(frozen=True, slots=True)
class LogCursor:
    """Where a reader is: ``offset`` bytes into the file as it was at rotation
    ``generation`` (0: never rotated), and whether it stopped mid-line."""

    generation: int
    offset: int
    mid_line: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {"generation": self.generation, "offset": self.offset, "midLine": self.mid_line}

    @classmethod
    def from_wire(cls, data: Any) -> LogCursor:
        """Parse a cursor a client sent back; ``ValueError`` if it is not one."""
        if not isinstance(data, dict):
            raise ValueError("a log cursor must be a map")  # callers turn ValueError into a 400
        gen, offset = data.get("generation"), data.get("offset")
        if not isinstance(gen, int) or not isinstance(offset, int) or gen < 0 or offset < 0:
            raise ValueError("a log cursor needs non-negative integers generation and offset")
        return cls(gen, offset, bool(data.get("midLine")))


def generations(path: Path) -> list[int]:
    """The generations of the rotated copies of ``path`` that still exist, oldest first."""
    prefix = path.name + "."
    found = []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    for name in names:
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            found.append(int(name[len(prefix) :]))
    return sorted(found)


def _rotated(path: Path, generation: int) -> Path:
    return path.with_name(f"{path.name}.{generation}")


def _complete(data: bytes) -> bytes:
    """``data`` cut after its last newline (whole records only)."""
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else b""


def _read_from(path: Path, offset: int, limit: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(limit)
    except OSError:
        return b""


def read_chunk(path: Path, cursor: LogCursor, *, limit: int = 1 << 20) -> tuple[bytes, LogCursor]:
    """Complete records after ``cursor`` (at most ``limit`` bytes, at least
    one record if one is there) and the cursor after them.

    A cursor from an older generation reads the rotated copies first; a copy
    already pruned is skipped (its lines are gone). A rotation during the
    read is noticed (the generation moved) and the read is done again.
    """
    for _ in range(3):
        current = max(generations(path), default=0)
        data, after = _read_generation(path, cursor, current, limit)
        if max(generations(path), default=0) == current:
            break
    return data, after


def _read_generation(path: Path, cursor: LogCursor, current: int, limit: int) -> tuple[bytes, LogCursor]:
    """:func:`read_chunk` when ``current`` is the newest generation."""
    while cursor.generation < current:
        copy = _rotated(path, cursor.generation + 1)
        if copy.exists():
            data = _complete(_read_from(copy, cursor.offset, limit))
            if data:
                return data, LogCursor(cursor.generation, cursor.offset + len(data), cursor.mid_line)
        cursor = LogCursor(cursor.generation + 1, 0, cursor.mid_line)
    try:
        size = path.stat().st_size
    except OSError:
        return b"", cursor
    if size < cursor.offset:  # truncated under us without a copy we know of
        cursor = LogCursor(cursor.generation, 0, cursor.mid_line)
    data = _complete(_read_from(path, cursor.offset, limit))
    if not data and size > cursor.offset + limit:
        data = _read_from(path, cursor.offset, limit)  # one record longer than limit: hand it over whole
    return data, LogCursor(cursor.generation, cursor.offset + len(data), cursor.mid_line)


def tail_offset(path: Path, lines: int, *, block: int = 64 * 1024) -> int:
    """The offset where the last ``lines`` complete lines (``F`` records with
    the ``P`` pieces before them) of ``path`` start; 0 when it has fewer, the
    end for ``lines == 0``, and 0 (everything) for a negative ``lines``.

    Reads backwards a block at a time, so ``--tail 10`` of a large file reads
    only its end.
    """
    if lines < 0:
        return 0
    try:
        size = os.path.getsize(path)
    except OSError:
        return 0
    if lines == 0:
        return size
    with open(path, "rb") as f:
        pos, data = size, b""
        while True:
            start = max(0, pos - block)
            f.seek(start)
            data = f.read(pos - start) + data
            pos = start
            found = _start_of_last_lines(data, lines, at_file_start=pos == 0)
            if found is not None:
                return pos + found
            if pos == 0:
                return 0


def _start_of_last_lines(data: bytes, lines: int, *, at_file_start: bool) -> int | None:
    """Within ``data`` (the end of a file), where its last ``lines`` lines
    start; None when ``data`` does not reach back far enough to tell."""
    idx = data.rfind(b"\n") + 1  # the end of the last complete record
    count = 0
    while idx > 0:
        prev = data.rfind(b"\n", 0, idx - 1)
        if prev < 0 and not at_file_start:
            return None  # this record may have been cut by the block boundary
        parsed = parse_cri_line(data[prev + 1 : idx - 1])
        if parsed is not None and not parsed.partial:
            count += 1
            if count == lines + 1:
                return idx
        idx = prev + 1
    return 0 if at_file_start else None


# ----------------------------------------------------------------- rotation


def rotate(path: Path, *, max_size: int, max_files: int) -> bool:
    """Copy-truncate ``path`` when it is larger than ``max_size``, keeping
    ``max_files - 1`` rotated copies; True when it rotated."""
    try:
        if path.stat().st_size <= max_size:
            return False
    except OSError:
        return False
    gens = generations(path)
    nxt = (gens[-1] if gens else 0) + 1
    shutil.copyfile(path, _rotated(path, nxt))
    os.truncate(path, 0)
    keep = max(0, max_files - 1)
    for old in [*gens, nxt][: max(0, len(gens) + 1 - keep)]:
        _rotated(path, old).unlink(missing_ok=True)
    return True


def remove_log(path: Path) -> None:
    """Delete a container log and its rotated copies."""
    for gen in generations(path):
        _rotated(path, gen).unlink(missing_ok=True)
    path.unlink(missing_ok=True)
