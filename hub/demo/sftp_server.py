"""A real SSH/SFTP server, in-process on 127.0.0.1, for the demo and tests.

Built on paramiko's server classes: public-key authentication for one authorized key, a
fixed host key (so clients can pin it), and a file tree confined to one root folder.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import paramiko
from paramiko.sftp import SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_PERMISSION_DENIED


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


class _Files(paramiko.SFTPServerInterface):
    """Serves files under ``root``; any path resolving outside it does not exist."""

    def __init__(self, server: Any, *args: Any, root: Path, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        self.root = root.resolve()

    def _local(self, path: str) -> Path | None:
        target = (self.root / path.lstrip("/")).resolve()
        return target if target == self.root or self.root in target.parents else None

    def _attrs(self, path: Path) -> paramiko.SFTPAttributes | int:
        try:
            attr = paramiko.SFTPAttributes.from_stat(os.stat(path))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        attr.filename = path.name
        return attr

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        local = self._local(path)
        if local is None or not local.is_dir():
            return SFTP_NO_SUCH_FILE
        out = []
        for child in sorted(local.iterdir()):
            attr = self._attrs(child)
            if isinstance(attr, paramiko.SFTPAttributes):
                out.append(attr)
        return out

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        local = self._local(path)
        return SFTP_NO_SUCH_FILE if local is None else self._attrs(local)

    lstat = stat

    def canonicalize(self, path: str) -> str:
        local = self._local(path)
        return "/" + local.relative_to(self.root).as_posix() if local and local != self.root else "/"

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> paramiko.SFTPHandle | int:
        local = self._local(path)
        if local is None:
            return SFTP_PERMISSION_DENIED
        mode = "rb"
        if flags & os.O_WRONLY or flags & os.O_RDWR:
            mode = "ab" if flags & os.O_APPEND else ("r+b" if not flags & os.O_CREAT else "wb")
        try:
            fh = open(local, mode)  # noqa: SIM115 - closed by the handle
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        handle = paramiko.SFTPHandle(flags)
        handle.filename = str(local)
        handle.readfile = fh
        handle.writefile = fh if mode != "rb" else None
        return handle

    def remove(self, path: str) -> int:
        local = self._local(path)
        if local is None:
            return SFTP_PERMISSION_DENIED
        local.unlink()
        return SFTP_OK

    def rename(self, oldpath: str, newpath: str) -> int:
        old, new = self._local(oldpath), self._local(newpath)
        if old is None or new is None:
            return SFTP_PERMISSION_DENIED
        old.rename(new)
        return SFTP_OK

    posix_rename = rename

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        local = self._local(path)
        if local is None:
            return SFTP_PERMISSION_DENIED
        local.mkdir()
        return SFTP_OK


class DemoSftpServer:
    """``with DemoSftpServer(root, host_key, authorized_line) as srv: srv.port``."""

    def __init__(self, root: Path, host_key_path: Path, authorized_key: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = root
        self.host_key = paramiko.PKey.from_path(host_key_path)
        kind, b64 = authorized_key.split()[:2]
        self.authorized = paramiko.PKey.from_type_string(kind, base64.b64decode(b64))
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        self._transports: list[paramiko.Transport] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"demo-sftp-{self.port}", daemon=True)

    def start(self) -> DemoSftpServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _Files, root=self.root)
            try:
                transport.start_server(server=_Auth(self.authorized))
            except (paramiko.SSHException, EOFError, OSError):
                transport.close()
                continue
            self._transports.append(transport)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()
        for t in self._transports:
            t.close()

    def __enter__(self) -> DemoSftpServer:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
