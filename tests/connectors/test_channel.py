"""The SFTP channels' receive buffer: paramiko's pipe semantics over a bytearray."""

from __future__ import annotations

import threading

import pytest
from paramiko.buffered_pipe import PipeTimeout

from connectors.channel import ReceiveBuffer


def test_reads_return_what_was_fed_in_order_however_it_is_cut() -> None:
    pipe = ReceiveBuffer()
    data = bytes(range(256)) * 1000
    for i in range(0, len(data), 32781):  # an SFTP reply's worth at a time
        pipe.feed(data[i:i + 32781])
    out = []
    while len(pipe):
        out.append(pipe.read(4))
        out.append(pipe.read(32777))
    assert b"".join(out) == data
    pipe.feed(b"rest")
    assert pipe.empty() == b"rest" and len(pipe) == 0


def test_a_read_waits_for_bytes_times_out_and_ends_at_close() -> None:
    pipe = ReceiveBuffer()
    with pytest.raises(PipeTimeout):
        pipe.read(10, timeout=0.01)
    threading.Timer(0.05, pipe.feed, [b"late"]).start()
    assert pipe.read(10, timeout=5) == b"late"
    pipe.close()
    assert pipe.read(10) == b""
