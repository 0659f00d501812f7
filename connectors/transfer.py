"""A remote file downloaded in a background thread and readable while it arrives.

paramiko's prefetching reads spend their time in Python (packets, window), so they hold one
core; parsing and landing the pieces of a large CSV (Arrow, zstd, sha256: all without the
GIL) can use the other one at the same time instead of waiting for the last byte. ``ahead``
parses the next piece in a thread of its own while the caller lands the current one. The
transfer runs on its own SFTP channel of the pinned, authenticated connection, so stopping
it early closes only that channel. Its exceptions are raised to the reader unchanged, where
``sftp_session`` translates them like any other.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import paramiko

from connectors.channel import open_sftp
from connectors.errors import TransientSourceError

PREFETCH_HEAD_START = 0.02  # seconds: enough for the prefetch thread to queue hundreds of requests


class Download:
    """``remote`` (listed at ``size`` bytes) fetched into ``part``; use as a context manager.

    ``open()`` gives streams whose reads wait for bytes not yet written. Bytes are hashed as
    they arrive, in the transfer's thread, which waits on the network most of the time: the
    parsing thread is the one that sets the pace."""

    def __init__(self, sftp: paramiko.SFTPClient, remote: str, part: Path, size: int, source: str) -> None:
        self.remote, self.part, self.size, self.source = remote, part, size, source
        self._cond = threading.Condition()
        self._received = self._wanted = 0
        self._done = False
        self._error: Exception | None = None
        self._hash = hashlib.sha256()
        self._digest: str | None = None
        part.write_bytes(b"")  # readers may open it before the transfer does
        self._sftp = open_sftp(sftp.get_channel().get_transport())
        self._sftp.get_channel().settimeout(sftp.get_channel().gettimeout())
        self._thread = threading.Thread(target=self._run, name=f"sftp get {remote}", daemon=True)

    def __enter__(self) -> Download:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sftp.close()  # ends a transfer still running: its error is moot now
        if self._thread.ident is not None:
            self._thread.join()

    def _start(self) -> None:
        """Begin when the first reader waits, so its own start-up is not competing with the
        prefetch's (see ``_run``)."""
        with self._cond:
            if self._thread.ident is None:
                self._thread.start()

    def open(self) -> BinaryIO:
        return io.BufferedReader(_Arriving(self))

    def finish(self, final: Path) -> str:
        """Wait for the transfer to end; once the file has its listed size, move it to ``final``
        and return its sha256 (again on later calls)."""
        self._start()
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._digest is None:
            got = self.part.stat().st_size
            if got != self.size:
                raise TransientSourceError(f"{self.source}: {self.remote} changed during transfer ({got} bytes, "
                                           f"listed as {self.size}); it is fetched again next time", source=self.source)
            self.part.replace(final)
            self._digest = self._hash.hexdigest()
        return self._digest

    def _run(self) -> None:
        """What paramiko's ``get`` does, plus a head start for its prefetch: when the reader
        drains the first replies before the prefetch thread has queued the next requests,
        paramiko takes the file as fetched and reads the rest one request per round trip, many
        times slower (paramiko#2418; docs/performance.md has how often)."""
        try:
            with _closed_quietly(self._sftp.open(self.remote, "rb")) as remote, open(self.part, "wb") as out:
                size = remote.stat().st_size
                if size != self.size:  # refused before a byte of the new content is read
                    raise TransientSourceError(f"{self.source}: {self.remote} changed since it was listed "
                                               f"({size} bytes, listed as {self.size}); it is fetched again next time",
                                               source=self.source)
                remote.MAX_REQUEST_SIZE = step = self._sftp.read_size()  # what prefetch asks per request
                remote.prefetch(size)
                if size > step:  # a file of one request is one round trip either way
                    time.sleep(PREFETCH_HEAD_START)
                while data := remote.read(step):
                    out.write(data)
                    out.flush()  # readers only see what is in the file
                    self._hash.update(data)
                    self._received += len(data)
                    if self._received >= self._wanted:
                        with self._cond:
                            self._cond.notify_all()
        except Exception as exc:  # raised again in the reading thread
            self._error = exc
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def wait(self, target: int) -> None:
        """Until ``target`` bytes are in the part file or the transfer ended; raises its error."""
        self._start()
        with self._cond:
            self._wanted = target
            while not (self._done or self._received >= target):
                self._cond.wait()
        if self._error is not None:
            raise self._error


@contextlib.contextmanager
def _closed_quietly(remote: paramiko.SFTPFile) -> Iterator[paramiko.SFTPFile]:
    """``remote``, closed without raising: once a read failed (a timeout, a dropped link) its
    close fails too ("Server connection dropped") and would hide why; a file only read loses
    nothing by it."""
    try:
        yield remote
    finally:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            remote.close()


class _Arriving(io.RawIOBase):
    """The part file as a raw stream that blocks at its current end until the transfer is over."""

    def __init__(self, download: Download) -> None:
        self._download = download
        self._file = io.FileIO(download.part, "r")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self._download.wait(self._file.tell() + len(buffer))
        return self._file.readinto(buffer) or 0

    def close(self) -> None:
        self._file.close()
        super().close()

