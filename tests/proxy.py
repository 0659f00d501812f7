"""A real TCP proxy on a loopback port that a test can kill mid-transfer, to play a database or
SFTP server that goes away while the hub pulls from it.

Two ways to go, as servers really do:

- ``kill()``: the listener and every live connection closed with a reset (``SO_LINGER`` 0), as
  when a server process crashes or a firewall rejects the flow: the client learns at once.
- ``vanish()``: the same, silently (Linux ``TCP_REPAIR``, needs ``CAP_NET_ADMIN``): no FIN,
  no reset, as when the server's host loses power or a NAT forgets the flow. The client learns
  only once it sends something (a keepalive probe, a request), which draws a reset from this
  side's kernel; a client that only waits to read, without a timeout, waits forever.

So that the kill falls mid-transfer by construction rather than by sleeping, a trigger counts
the bytes going from the server to the client: ``kill_after_bytes(n)`` kills (or vanishes)
right after ``n`` more of them; ``hold_after_bytes(n)`` stops forwarding there (``held`` is
set) until the test kills, so it can first wait for what the client does with those bytes.
``start()`` listens again on the same port.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct
import termios
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Literal

Action = Literal["kill", "vanish", "hold"]

_TCP_REPAIR = 19  # linux/tcp.h: a socket in repair mode closes without a word to its peer
_LINGER_0 = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 seconds: close() resets
_POLL = 0.2  # seconds: how often a pump blocked on a socket looks whether the proxy has died


class TcpProxy:
    """Forwards 127.0.0.1:``port`` (0: a free port, kept across restarts) to ``target``."""

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self.target = target
        self.port = port
        self.bytes_down = 0  # server → client since start
        self.held = threading.Event()  # a hold trigger fired: nothing more goes to the client
        self.died = threading.Event()  # a kill or vanish has closed every connection
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._dead = threading.Event()
        self._trigger: tuple[int, Action] | None = None  # (bytes_down at which, what)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.kill()

    def start(self) -> TcpProxy:
        """Listen (again) on ``port``, forwarding every connection; no trigger armed."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(_POLL)
        self.port = listener.getsockname()[1]
        self.bytes_down, self._trigger, self._listener = 0, None, listener
        for event in (self._dead, self.held, self.died):
            event.clear()
        self._spawn(self._accept, listener)
        return self

    def kill_after_bytes(self, n: int, *, silently: bool = False) -> None:
        """``kill()`` (``vanish()`` if ``silently``) once ``n`` more bytes have gone from the
        server to the client: those are sent on, nothing after them."""
        if silently and not self.can_vanish():
            raise PermissionError("closing a TCP connection silently needs Linux and CAP_NET_ADMIN")
        self._arm(n, "vanish" if silently else "kill")

    def hold_after_bytes(self, n: int) -> None:
        """Stop forwarding to the client once ``n`` more bytes have gone to it, until killed."""
        self._arm(n, "hold")

    def _arm(self, n: int, action: Action) -> None:
        with self._lock:
            self._trigger = (self.bytes_down + n, action)

    def kill(self) -> None:
        """Close the listener and reset every connection (both sides); return once done."""
        self._die(silently=False)

    def vanish(self) -> None:
        """Close everything without a FIN or a reset reaching the client; raises
        ``PermissionError`` where that cannot be done (``can_vanish``)."""
        if not self.can_vanish():
            raise PermissionError("closing a TCP connection silently needs Linux and CAP_NET_ADMIN")
        self._die(silently=True)

    @staticmethod
    def can_vanish() -> bool:
        """Whether ``vanish`` works here: Linux's TCP repair mode, with ``CAP_NET_ADMIN``."""
        with socket.socket() as probe:
            try:
                probe.setsockopt(socket.IPPROTO_TCP, _TCP_REPAIR, 1)
            except OSError:
                return False
        return True

    def _die(self, *, silently: bool) -> None:
        with self._lock:
            if self._dead.is_set():
                return
            self._dead.set()  # pumps forward nothing from here on
            listener, connections = self._listener, self._sockets
            self._listener, self._sockets = None, []
        if listener is not None:
            listener.close()
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)  # wakes a pump blocked in recv; sends nothing
        me = threading.current_thread()
        for thread in self._threads:
            if thread is not me:
                thread.join(timeout=5)
        self._threads = [t for t in self._threads if t.is_alive() and t is not me]
        for sock in connections:
            with contextlib.suppress(OSError):
                if silently:
                    _wait_acknowledged(sock)
                    sock.setsockopt(socket.IPPROTO_TCP, _TCP_REPAIR, 1)
                else:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_0)
            sock.close()  # with SO_LINGER 0: a reset; in repair mode: nothing at all
        self.died.set()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=f"proxy :{self.port}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._dead.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by a kill
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()  # the target is down: so is the connection through us
                continue
            with self._lock:
                if self._dead.is_set():
                    client.close()
                    server.close()
                    return
                for sock in (client, server):
                    sock.settimeout(_POLL)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._sockets.append(sock)
            self._spawn(self._pump, client, server, False)
            self._spawn(self._pump, server, client, True)

    def _pump(self, src: socket.socket, dst: socket.socket, down: bool) -> None:
        """Copy ``src`` to ``dst`` until either closes or the proxy dies; a clean close is
        passed on as one (FIN), so only a kill looks like a crash."""
        while not self._dead.is_set():
            try:
                data = src.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
            fired: Action | None = None
            if down:
                with self._lock:
                    if self._trigger is not None and self.bytes_down + len(data) >= self._trigger[0]:
                        data, fired = data[: self._trigger[0] - self.bytes_down], self._trigger[1]
                        self._trigger = None
                    self.bytes_down += len(data)
            if not self._send(dst, data):
                return
            if fired == "hold":
                self.held.set()
                self._dead.wait()
                return
            if fired is not None:  # from another thread: dying waits for this one to end
                threading.Thread(target=self._die, kwargs={"silently": fired == "vanish"}, daemon=True).start()
                return

    def _send(self, dst: socket.socket, data: bytes) -> bool:
        view = memoryview(data)
        while view and not self._dead.is_set():
            try:
                view = view[dst.send(view):]
            except TimeoutError:
                continue
            except OSError:
                return False
        return not view


def _wait_acknowledged(sock: socket.socket, within: float = 2.0) -> None:
    """Until the peer has acknowledged every byte sent to it: an acknowledgement arriving
    after a silent close would meet no socket and draw a reset, telling the client at once."""
    deadline = time.monotonic() + within
    while fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0") != b"\0\0\0\0":
        if time.monotonic() > deadline:
            return
        time.sleep(0.005)
