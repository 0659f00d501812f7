"""Timeouts on the wire to a source database: a connect, and a server that vanished mid-query
(host down, flow dropped: no FIN, no reset) noticed by TCP keepalive within about the source's
``timeout_seconds``, so a pull never hangs for the operating system's two hours."""

from __future__ import annotations

import math
import socket
from typing import Any

import sqlalchemy as sa


def driver_options(url: sa.URL, seconds: float) -> dict[str, Any]:
    """Driver options that bound every wait on the network: a connect, and a server that
    vanished mid-query (host down, flow dropped: no FIN, no reset), noticed by TCP keepalive
    probes within about ``seconds``, so a slow query on a live server is never cut. Options
    the URL's query sets itself are left to it."""
    options: dict[str, Any] = {}
    if url.get_driver_name() in ("psycopg", "psycopg2"):  # libpq's; its default probes after 2 hours
        probe, count, user_timeout = _probes(seconds)
        options = {"connect_timeout": max(2, math.ceil(seconds)), "keepalives": 1, "keepalives_idle": probe,
                   "keepalives_interval": probe, "keepalives_count": count, "tcp_user_timeout": user_timeout}
    elif url.get_driver_name() == "pymysql":  # its keepalive: ``keepalive``, on each new connection
        options = {"connect_timeout": seconds}
    return {k: v for k, v in options.items() if k not in url.query}


def _probes(seconds: float) -> tuple[int, int, int]:
    """TCP keepalive giving up on a silent peer after about ``seconds``: (seconds idle before
    the first probe and between probes, probes unanswered, ms data may go unacknowledged)."""
    probe = max(1, math.ceil(seconds / 3))
    return probe, 2, max(1, math.ceil(seconds)) * 1000


def keepalive(sock: socket.socket, seconds: float) -> None:
    """On a driver's own socket, the keepalive libpq is given by ``driver_options`` (a local
    server's unix socket has no peer to lose: left as it is)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    probe, count, user_timeout = _probes(seconds)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", probe), ("TCP_KEEPINTVL", probe), ("TCP_KEEPCNT", count),
                        ("TCP_USER_TIMEOUT", user_timeout)):
        if hasattr(socket, name):  # Linux names them all; other systems some
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
