"""SFTP channels tuned for bulk transfer, and what the server says it can serve per read.

paramiko keeps a channel's received bytes in an ``array.array`` and takes each read off its
front with ``del buffer[:n]``: a memmove of everything still buffered (up to the window),
twice per SFTP reply (its length, then its body), under the GIL. Once the reader falls behind,
as it does while parsing and landing share the CPU, a large file costs gigabytes of memmove,
and the prefetch thread, starved of the GIL meanwhile, lets paramiko#2418 strike more often.
A ``bytearray`` drops bytes from its front by moving its start.

paramiko asks for 32 KiB per read; OpenSSH serves up to 255 KiB and says so through its
``limits@openssh.com`` extension. A 255 KiB reply in 64 KiB channel packets is a quarter of
the packets and an eighth of the replies paramiko parses in Python for the same bytes
(docs/performance.md has the figures). A server that does not
state its limit is read 32 KiB at a time, which every server serves whole: a short reply
would drop paramiko's prefetch to one request per round trip.

Pulls, their downloads and deliveries all open their channels here, and so does the
benchmark's baseline, so connection settings never count as the hub's own gain.
"""

from __future__ import annotations

import paramiko
from paramiko.buffered_pipe import BufferedPipe
from paramiko.message import Message
from paramiko.sftp import (
    CMD_EXTENDED,
    CMD_EXTENDED_REPLY,
    CMD_INIT,
    CMD_VERSION,
    SFTPError,
)

WINDOW_BYTES = 4 << 20
PACKET_BYTES = 64 << 10
DEFAULT_READ = paramiko.SFTPFile.MAX_REQUEST_SIZE  # 32 KiB
MAX_READ = 255 << 10  # OpenSSH's own cap (SFTP_MAX_READ_LENGTH); larger replies gain nothing more


class ReceiveBuffer(BufferedPipe):
    """paramiko's BufferedPipe (locking, timeouts, close) over a ``bytearray``."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()

    def _buffer_frombytes(self, data: bytes) -> None:
        self._buffer += data

    def _buffer_tobytes(self, limit: int | None = None) -> bytes:
        return bytes(self._buffer[:limit])


class SFTPClient(paramiko.SFTPClient):
    """paramiko's client, keeping the extensions the server names in its version reply
    (paramiko reads the version and drops the rest)."""

    extensions: dict[str, bytes]
    _read_size: int | None = None

    def _send_version(self) -> int:
        m = Message()
        m.add_int(3)  # SFTP version 3, as paramiko asks
        self._send_packet(CMD_INIT, m)
        t, data = self._read_packet()
        if t != CMD_VERSION:
            raise SFTPError("Incompatible sftp protocol")
        reply = Message(data)
        version = reply.get_int()
        self.extensions = {}
        while reply.get_remainder():
            name = reply.get_string().decode("utf-8", "replace")
            self.extensions[name] = reply.get_string()
        return version

    def read_size(self) -> int:
        """Bytes to ask for per read: the server's stated ``max-read-length`` up to ``MAX_READ``,
        else paramiko's 32 KiB. Asked once per client, on first use."""
        if self._read_size is None:
            self._read_size = DEFAULT_READ
            if "limits@openssh.com" in self.extensions:
                try:
                    t, msg = self._request(CMD_EXTENDED, "limits@openssh.com")
                except (OSError, EOFError, SFTPError):  # named but refused: the default serves
                    return self._read_size
                if t == CMD_EXTENDED_REPLY:
                    msg.get_int64()  # max-packet-length
                    stated = msg.get_int64()  # max-read-length; 0: not stated
                    if stated:
                        self._read_size = max(min(stated, MAX_READ), 1)
        return self._read_size


def open_sftp(transport: paramiko.Transport) -> SFTPClient:
    """``SFTPClient.from_transport`` with a wider window and packets, the channel's buffer
    replaced before a byte can arrive."""
    channel = transport.open_session(window_size=WINDOW_BYTES, max_packet_size=PACKET_BYTES)
    channel.in_buffer = ReceiveBuffer()
    channel.invoke_subsystem("sftp")
    return SFTPClient(channel)
