"""A real SSH/SFTP server, in-process on loopback, for the demo and tests.

Built on paramiko's server classes (the pattern of paramiko's own test stub): public-key
authentication for one authorized key, a fixed host key (so clients can pin it), and a file
tree confined to one root folder. Exercising the connector against a real SSH handshake is
the point: host-key pinning, auth failures and prefetching downloads behave as in production.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import paramiko
from paramiko.sftp import SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_PERMISSION_DENIED

from connectors.sftp import parse_key_line
from hub.signing.crypto import generate_ssh_key

LOG = "hub.demo.sftp_server"
logging.getLogger(LOG).addHandler(logging.NullHandler())
"""The server side's own messages (a client that hung up, say) reach a log the caller set up,
never the demo's terminal through Python's last-resort handler."""


def generate_host_key(path: Path) -> None:
    """An Ed25519 private key in OpenSSH format, mode 0600; refuses to overwrite.

    paramiko cannot write Ed25519 private keys, so the hub's crypto module writes it.
    """
    generate_ssh_key(path)


class _Auth(paramiko.ServerInterface):
    def __init__(self, authorized: paramiko.PKey) -> None:
        self.authorized = authorized

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = key.get_name() == self.authorized.get_name() and key.asbytes() == self.authorized.asbytes()
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _Handle(paramiko.SFTPHandle):
    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)


def _errno(exc: OSError) -> int:
    return paramiko.SFTPServer.convert_errno(exc.errno)


class _Files(paramiko.SFTPServerInterface):
    """Serves files under ``root``; a path that resolves outside it (``..``, symlinks) is refused."""

    def __init__(self, server: Any, *args: Any, root: Path, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        self.root = root.resolve()

    def _local(self, path: str) -> Path | None:
        target = (self.root / path.lstrip("/")).resolve()
        return target if target == self.root or self.root in target.parents else None

    def _attrs(self, path: Path) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(path), path.name)
        except OSError as exc:
            return _errno(exc)

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        local = self._local(path)
        if local is None or not local.is_dir():
            return SFTP_NO_SUCH_FILE
        return [a for a in (self._attrs(c) for c in sorted(local.iterdir())) if isinstance(a, paramiko.SFTPAttributes)]

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        local = self._local(path)
        return SFTP_NO_SUCH_FILE if local is None else self._attrs(local)

    lstat = stat

    def canonicalize(self, path: str) -> str:
        rel = (self._local(path) or self.root).relative_to(self.root).as_posix()
        return "/" if rel == "." else "/" + rel

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> paramiko.SFTPHandle | int:
        local = self._local(path)
        if local is None:
            return SFTP_PERMISSION_DENIED
        try:
            fd = os.open(local, flags, 0o644)
        except OSError as exc:
            return _errno(exc)
        writing = flags & (os.O_WRONLY | os.O_RDWR)
        mode = ("ab" if flags & os.O_APPEND else "r+b" if flags & os.O_RDWR else "wb") if writing else "rb"
        handle = _Handle(flags)
        handle.filename = str(local)
        handle.readfile = os.fdopen(fd, mode)
        if writing:
            handle.writefile = handle.readfile
        return handle

    def _apply(self, op: Any, *paths: str) -> int:
        locals_ = [self._local(p) for p in paths]
        if any(p is None for p in locals_):
            return SFTP_PERMISSION_DENIED
        try:
            op(*locals_)
        except OSError as exc:
            return _errno(exc)
        return SFTP_OK

    def remove(self, path: str) -> int:
        return self._apply(os.remove, path)

    def rename(self, oldpath: str, newpath: str) -> int:
        return self._apply(os.rename, oldpath, newpath)

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        return self._apply(os.replace, oldpath, newpath)

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return self._apply(os.mkdir, path)

    def rmdir(self, path: str) -> int:
        return self._apply(os.rmdir, path)


class DemoSftpServer:
    """``with DemoSftpServer(root, host_key_path, authorized_line) as srv: srv.port``.

    One listening thread accepts connections (one after another or at once); each gets its
    own paramiko ``Transport`` thread. Only loopback addresses are allowed: this server is a
    stand-in for an institution's drop, not something to expose.
    """

    def __init__(self, root: Path, host_key_path: Path, authorized_key: str, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the demo SFTP server listens on loopback only, not {host}")
        self.root = Path(root)
        self.host = host
        self.port = port
        self.host_key = paramiko.PKey.from_path(host_key_path)
        self.authorized = parse_key_line(authorized_key)
        self._sock: socket.socket | None = None
        self._transports: list[paramiko.Transport] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> DemoSftpServer:
        self.root.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart on the same port at once
        sock.bind((self.host, self.port))
        sock.listen(16)
        sock.settimeout(0.1)  # lets the loop notice stop()
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"demo-sftp-{self.port}", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.set_log_channel(LOG)
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _Files, root=self.root)
            # with an event, start_server returns at once: a slow client never blocks accept()
            transport.start_server(event=threading.Event(), server=_Auth(self.authorized))
            self._transports = [t for t in self._transports if t.is_active()] + [transport]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        for t in self._transports:
            t.close()
        self._transports = []

    def __enter__(self) -> DemoSftpServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
