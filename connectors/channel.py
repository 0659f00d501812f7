"""SFTP channels whose receive buffer drops what was read without moving what was not.

paramiko keeps a channel's received bytes in an ``array.array`` and takes each read off its
front with ``del buffer[:n]``: a memmove of everything still buffered (up to the 2 MiB window),
twice per SFTP reply (its length, then its body), under the GIL. Once the reader falls behind,
as it does while parsing and landing share the CPU, a 156 MB file costs gigabytes of memmove,
and the prefetch thread, starved of the GIL meanwhile, lets paramiko#2418 strike more often.
A ``bytearray`` drops bytes from its front by moving its start. Pulls, their downloads and
deliveries all open their channels here, and so does the benchmark's baseline.
"""

from __future__ import annotations

import paramiko
from paramiko.buffered_pipe import BufferedPipe


class _Pipe(BufferedPipe):
    """paramiko's BufferedPipe (locking, timeouts, close) over a ``bytearray``."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()

    def _buffer_frombytes(self, data: bytes) -> None:
        self._buffer += data

    def _buffer_tobytes(self, limit: int | None = None) -> bytes:
        return bytes(self._buffer[:limit])


def open_sftp(transport: paramiko.Transport) -> paramiko.SFTPClient:
    """``SFTPClient.from_transport``, the channel's buffer replaced before a byte can arrive."""
    channel = transport.open_session()
    channel.in_buffer = _Pipe()
    channel.invoke_subsystem("sftp")
    return paramiko.SFTPClient(channel)
