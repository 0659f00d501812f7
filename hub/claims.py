"""Work a process claims while it does it: an ``flock`` on a file of the claim's own, so another
process waits for it, or learns that whoever held it has stopped (the kernel releases the lock
of a process that died), and may finish what it left. Files live under the home, like the audit
log's lock, so processes on several machines sharing the home see one another's claims."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def claimed(folder: Path, kind: str, name: str, *, wait: bool = True) -> Iterator[bool]:
    """Hold ``kind``/``name`` for the block: True once held, waiting while another process holds
    it; with ``wait`` off, False at once when another holds it. The file is removed as the claim
    ends, so claims named after runs leave nothing behind."""
    path = folder / kind / hashlib.sha256(name.encode()).hexdigest()[:32]
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        if _names(path, fd):
            break
        os.close(fd)  # its holder removed it while we waited: claim the file there now
    try:
        yield True
    finally:
        os.unlink(path)  # while held: a process waiting on the old file finds it gone and starts over
        os.close(fd)


def _names(path: Path, fd: int) -> bool:
    """``path`` is still the file ``fd`` has open."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
