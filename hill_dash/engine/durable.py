"""Atomic, durable file writes: the one helper every module that writes state uses.

Atomic: the content goes to a temp file in the same directory, which then
replaces the target with `os.replace`, so a reader sees the old file or the
new one, never half of one. Durable: the temp file is fsynced before the
rename, and the directory after it, so after a power loss or a kernel crash
the rename (and the file it names) is on disk too; without the directory
fsync the new name may be lost although the call returned.

`replace_durably` does the same for a directory built elsewhere (a checkpoint
written into a temp directory, then moved into place).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def fsync_dir(path: str | Path) -> None:
    """Make the directory's entries (creations, renames, deletions) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: str | Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_tree(path: str | Path) -> None:
    """fsync every file under a directory, then each directory (deepest first)."""
    path = Path(path)
    dirs = [path, *(p for p in path.rglob("*") if p.is_dir())]
    for f in path.rglob("*"):
        if f.is_file():
            fsync_file(f)
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        fsync_dir(d)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object], durable: bool = True):
    """Write a file through `write(handle)` atomically (and durably unless told not to).

    `durable=False` skips both fsyncs: for files that may be lost in a crash without
    harm and are rewritten often (a lock's heartbeat).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes, durable: bool = True) -> None:
    atomic_write(path, lambda fh: fh.write(data), durable=durable)


def atomic_write_json(
    path: str | Path, obj: object, compact: bool = False, durable: bool = True
) -> None:
    """JSON (no NaN or infinity: they are not JSON), indented unless `compact`."""
    text = (
        json.dumps(obj, separators=(",", ":"), allow_nan=False)
        if compact
        else json.dumps(obj, indent=1, allow_nan=False)
    )
    atomic_write_bytes(path, text.encode(), durable=durable)


def replace_durably(src: str | Path, dst: str | Path) -> None:
    """`os.replace(src, dst)` for a file or directory whose content is already durable
    (see `fsync_tree`), then fsync the directories whose entries changed."""
    src, dst = Path(src), Path(dst)
    os.replace(src, dst)
    fsync_dir(dst.parent)
    if src.parent.resolve() != dst.parent.resolve():
        fsync_dir(src.parent)
