"""Writes that survive a crash or a power cut: a file whole or not at all, and the folder entry
that names it. Landing, publishing and the in-flight marker all rely on them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """``data`` at ``path`` whole or not at all, and durably: a temporary ``.part`` file fsynced,
    renamed over ``path``, then the folder fsynced, without which the rename itself may not
    survive a crash while a later one does (a watermark past a batch that is gone). ``mode``:
    the file's permissions (another account may need to read it)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode != 0o600:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync(path.parent)


def fsync(path: Path) -> None:
    """Make a file's bytes, or a folder's entries (new files, renames, removals), durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
