"""Pull files from an institution's SFTP drop with paramiko.

The server's host key is pinned (a config line and/or a known_hosts file loaded explicitly;
system host keys are never consulted): an unknown or changed key is refused, never added.
Files are fetched with paramiko's prefetching ``get`` to a ``.part`` file by a background thread
while a CSV's pieces are parsed as they arrive (``connectors.transfer``); a file's last batch,
the one with its watermark, comes only once the transfer ended at the listed size, with the
sha256 of the bytes as they arrived, and the ``.part`` file renamed. Remote names never
become local paths: the local name is a hash of the remote path plus a sanitized suffix.
Every paramiko and socket error is translated here into a ``connectors.errors.SourceError``.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import logging
import posixpath
import re
import socket
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import pyarrow as pa
from paramiko.hostkeys import InvalidHostKey

from connectors.ahead import ahead
from connectors.base import Batch
from connectors.channel import open_sftp
from connectors.errors import (
    HostKeyError,
    KeyFileError,
    SourceError,
    TerminalSourceError,
    TransientSourceError,
)
from connectors.files import read_csv_chunks, read_file
from connectors.transfer import Download

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SftpSettings:
    """One institution's drop folder. ``passphrase`` is read from the environment by the caller."""

    name: str
    host: str
    port: int
    username: str
    key_path: Path
    host_key: str | None = None  # pinned OpenSSH public-key line: "ssh-ed25519 AAAA…"
    known_hosts: Path | None = None  # an OpenSSH known_hosts file, loaded explicitly
    remote_dir: str = "."
    pattern: str = "*.csv"
    regex: str | None = None  # instead of the glob: file names must fully match this
    min_age_seconds: float = 0
    settle_seconds: float = 0  # list twice this far apart; a file whose size or mtime moved is still being written
    file_format: str = "csv"
    encoding: str = "auto"
    delimiter: str = ","
    passphrase: str | None = None
    timeout: float = 15
    ready_marker: str | None = None  # e.g. ".done": x.csv is complete once x.csv.done exists
    archive_dir: str | None = None  # move each file here once landed (else it is remembered as seen)


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style ``SHA256:…`` fingerprint, as ``ssh-keygen -lf`` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def parse_key_line(line: str) -> paramiko.PKey:
    """A public key from an OpenSSH line (``ssh-ed25519 AAAA… comment``); ValueError if it is not one."""
    try:
        kind, b64 = line.split()[:2]
        return paramiko.PKey.from_type_string(kind, base64.b64decode(b64, validate=True))
    except (ValueError, binascii.Error, paramiko.SSHException, paramiko.UnknownKeyType) as exc:
        raise ValueError(f"not an OpenSSH public key line ({exc})") from None


def host_key_line(path: Path) -> str:
    """The pin for config (``ssh-ed25519 AAAA…``) from a private or ``.pub`` key file."""
    path = Path(path)
    try:
        return _key_line(parse_key_line(path.read_text()))
    except ValueError:
        pass
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc}", path=str(path)) from None
    try:
        return _key_line(paramiko.PKey.from_path(path))
    except (ValueError, TypeError, paramiko.SSHException, paramiko.UnknownKeyType) as exc:
        raise KeyFileError(f"{path} is neither an OpenSSH public key line nor an unencrypted private key ({exc})",
                          path=str(path)) from None


def _key_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


def safe_local_name(remote_path: str) -> str:
    """A staging file name that cannot escape the staging folder, whatever the server sends."""
    suffix = re.sub(r"[^A-Za-z0-9._-]", "_", posixpath.basename(remote_path.replace("\\", "/")))[-60:].lstrip(".")
    return f"{hashlib.sha256(remote_path.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}-{suffix or 'file'}"


class _Refuse(paramiko.RejectPolicy):
    """RejectPolicy that says which key was offered, so the operator can compare fingerprints."""

    def __init__(self, source: str) -> None:
        self.source = source

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise HostKeyError(
            f"{self.source}: no host key is pinned for {hostname}; the server offered {key.get_name()} "
            f"{fingerprint(key)}. Confirm that fingerprint with the institution out of band, then set "
            f"sftp.host_key to its public key line (ssh-keyscan -p PORT HOST) or add it to known_hosts",
            source=self.source,
        )


def _client_key(s: SftpSettings) -> paramiko.PKey:
    path = Path(s.key_path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise TerminalSourceError(f"{s.name}: client key {path} cannot be read ({exc})", source=s.name) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TerminalSourceError(
            f"{s.name}: client key {path} is readable by others (mode {oct(mode & 0o777)}); run: chmod 600 {path}",
            source=s.name,
        )
    password = s.passphrase.encode() if s.passphrase is not None else None
    try:
        return paramiko.PKey.from_path(path, password)  # positional: renamed across paramiko versions
    except (ValueError, TypeError, OSError, paramiko.SSHException, paramiko.UnknownKeyType) as exc:
        locked = s.passphrase is None and "password" in str(exc).lower()
        hint = ("it is passphrase-protected: set sftp.passphrase_env" if locked
                else "check the passphrase and that it is an Ed25519, RSA or ECDSA private key")
        raise TerminalSourceError(f"{s.name}: cannot load client key {path}: {hint} ({exc})",
                                  source=s.name) from None

def _host_keys(s: SftpSettings, client: paramiko.SSHClient, entry: str) -> None:
    if s.host_key is None and s.known_hosts is None:
        raise HostKeyError(f"{s.name}: no host key pinned; set sftp.host_key (or a known_hosts file)",
                           source=s.name)
    if s.known_hosts is not None:
        try:
            client.get_host_keys().load(str(s.known_hosts))  # not load_host_keys: nothing is ever saved
        except (OSError, ValueError, paramiko.SSHException, InvalidHostKey) as exc:
            raise HostKeyError(f"{s.name}: cannot read known_hosts {s.known_hosts} ({exc!r})",
                               source=s.name) from None
    if s.host_key is not None:
        try:
            pinned = parse_key_line(s.host_key)
        except ValueError as exc:
            raise HostKeyError(f"{s.name}: pinned sftp.host_key is invalid: {exc}", source=s.name) from None
        client.get_host_keys().add(entry, pinned.get_name(), pinned)


class _Transport(paramiko.Transport):
    """paramiko's transport, offering AES-GCM first: one authenticated cipher call per packet
    instead of a cipher and an HMAC costs the client (and the server) less CPU. Servers
    without it still agree on paramiko's next choice."""

    _preferred_ciphers = tuple(sorted(paramiko.Transport._preferred_ciphers, key=lambda c: "-gcm@" not in c))


@contextmanager
def sftp_session(s: SftpSettings) -> Iterator[paramiko.SFTPClient]:
    """A connected SFTP client (host key pinned, key auth); every failure comes out as a
    SourceError and the connection is always closed. Used for pulls and for deliveries."""
    entry = s.host if s.port == 22 else f"[{s.host}]:{s.port}"
    pkey = _client_key(s)
    client = paramiko.SSHClient()
    try:
        _host_keys(s, client, entry)
        client.set_missing_host_key_policy(_Refuse(s.name))
        client.connect(
            s.host, s.port, username=s.username, pkey=pkey, timeout=s.timeout, banner_timeout=s.timeout,
            auth_timeout=s.timeout, channel_timeout=s.timeout, look_for_keys=False, allow_agent=False,
            transport_factory=_Transport, sock=_connect(s),
        )
        sftp = open_sftp(client.get_transport())
        sftp.get_channel().settimeout(s.timeout)  # a stalled transfer raises instead of hanging
        yield sftp
    except SourceError:
        raise
    except paramiko.BadHostKeyException as exc:
        raise HostKeyError(
            f"{s.name}: host key of {entry} does not match the pin: expected {fingerprint(exc.expected_key)}, "
            f"offered {exc.key.get_name()} {fingerprint(exc.key)}. This may be an attack; if the institution "
            "confirms (out of band) that it changed the key, update sftp.host_key to the new public key line",
            source=s.name,
        ) from None
    except paramiko.AuthenticationException as exc:
        raise TerminalSourceError(
            f"{s.name}: authentication as {s.username!r} at {entry} failed ({exc}); check username and "
            f"key_path (the server must authorize the key {fingerprint(pkey)})", source=s.name,
        ) from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        cause = (f"no answer within {s.timeout:g} s" if isinstance(exc, TimeoutError)  # a stall; paramiko says nothing
                 else f"{type(exc).__name__}: {exc}")
        raise TransientSourceError(f"{s.name}: SSH/SFTP with {entry} failed ({cause}); "
                                   "a temporary failure: the next attempt may succeed", source=s.name) from None
    finally:
        client.close()


def put_whole(sftp: paramiko.SFTPClient, local: Path, remote: str) -> None:
    """``local`` at ``remote`` whole or not at all: put under a temporary name beside it, its
    size confirmed, then renamed, so a reader of the folder never meets half a file."""
    tmp = posixpath.join(posixpath.dirname(remote), f".tmp-{posixpath.basename(remote)}")
    sftp.put(str(local), tmp, confirm=True)
    sftp.posix_rename(tmp, remote)


class SftpSource:
    """One drop folder; ``pull(seen)`` yields a batch per new or changed file old enough to be complete."""

    def __init__(self, settings: SftpSettings, staging_dir: Path) -> None:
        self.settings = settings
        self.staging = Path(staging_dir)

    def _pending(self, sftp: paramiko.SFTPClient, seen: dict[str, dict[str, Any]]) -> list[tuple[str, paramiko.SFTPAttributes]]:
        """(remote path, attributes) of stable files matching ``pattern`` that ``seen`` lacks
        or holds with another size or mtime (a re-dropped file is pulled again)."""
        s = self.settings
        out = self._candidates(sftp, seen)
        if out and s.settle_seconds:
            time.sleep(s.settle_seconds)
            again = {remote: (a.st_size, a.st_mtime) for remote, a in self._candidates(sftp, seen)}
            out = [(remote, a) for remote, a in out if again.get(remote) == (a.st_size, a.st_mtime)]
        return out

    def _candidates(self, sftp: paramiko.SFTPClient, seen: dict[str, dict[str, Any]]) -> list[tuple[str, paramiko.SFTPAttributes]]:
        s = self.settings
        try:
            entries = sftp.listdir_attr(s.remote_dir)
        except FileNotFoundError:
            raise TerminalSourceError(
                f"{s.name}: remote folder {s.remote_dir!r} does not exist; fix sftp.remote_dir", source=s.name
            ) from None
        except PermissionError:
            raise TerminalSourceError(f"{s.name}: no permission to list {s.remote_dir!r}; ask the institution",
                                      source=s.name) from None
        base = sftp.normalize(s.remote_dir)
        names = {a.filename for a in entries}
        now = time.time()
        out = []
        for attr in sorted(entries, key=lambda a: a.filename):
            name = attr.filename
            if "/" in name or "\x00" in name or name in (".", "..") or ".." in name.split("\\"):
                log.warning("%s: skipping remote entry with an unsafe name %r", s.name, name)
                continue
            if name.startswith(".") or not stat.S_ISREG(attr.st_mode or 0):
                continue  # dot files are uploads in progress by convention
            wanted = re.fullmatch(s.regex, name) if s.regex else fnmatch.fnmatchcase(name, s.pattern)
            if not wanted or now - (attr.st_mtime or 0) < s.min_age_seconds:
                continue
            if s.ready_marker and f"{name}{s.ready_marker}" not in names:
                continue  # the sender has not marked it complete yet
            remote = posixpath.join(base, name)
            known = seen.get(remote)
            if known and known.get("size") == attr.st_size and known.get("mtime") == attr.st_mtime:
                continue
            out.append((remote, attr))
        return out

    def pending(self, seen: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """What ``pull`` would fetch, listed without downloading (for sensors)."""
        with sftp_session(self.settings) as sftp:
            return [{"file": r, "size": a.st_size, "mtime": a.st_mtime} for r, a in self._pending(sftp, seen)]

    def pull(self, seen: dict[str, dict[str, Any]]) -> Iterator[Batch]:
        """Batches per pending file (one, or one per piece of a large CSV); only a file's last
        batch carries its watermark, so a file counts as pulled once all of it has landed."""
        s = self.settings
        with sftp_session(s) as sftp:
            for remote, attr in self._pending(sftp, seen):
                yield from self._fetch(sftp, remote, attr)
                # resumed only after the caller landed the last batch: now the file may leave the drop
                if s.archive_dir:
                    target = posixpath.join(s.archive_dir, posixpath.basename(remote))
                    sftp.posix_rename(remote, target)
                    if s.ready_marker:
                        sftp.posix_rename(remote + s.ready_marker, target + s.ready_marker)

    def _fetch(self, sftp: paramiko.SFTPClient, remote: str, attr: paramiko.SFTPAttributes) -> Iterator[Batch]:
        """The file's batches, a CSV's parsed while it downloads; the last one only once the
        transfer ended at the listed size, with the file's sha256 in it and in the watermark.

        Earlier pieces may land before the transfer ends; if it then fails they are what a crash
        leaves: the file is pulled again, and identical pieces land on the same batch ids."""
        s = self.settings
        self.staging.mkdir(parents=True, exist_ok=True)
        local = self.staging / safe_local_name(remote)
        part = local.with_name(local.name + ".part")
        origin = f"sftp://{s.host}:{s.port}{remote if remote.startswith('/') else '/' + remote}"
        try:
            with Download(sftp, remote, part, attr.st_size or 0, s.name) as download:
                for n, (table, rejects, last) in enumerate(ahead(self._pieces(download, local))):
                    details: dict[str, Any] = {"local_path": str(local), "piece": n + 1}
                    watermark = None
                    if last:
                        digest = download.finish(local)
                        details |= {"sha256": digest, "bytes": attr.st_size}
                        watermark = {"file": remote, "size": attr.st_size, "mtime": attr.st_mtime, "sha256": digest}
                    yield Batch(source=s.name, table=table, rejects=rejects, origin=origin, watermark=watermark,
                                details=details)
        except TerminalSourceError as exc:
            raise TerminalSourceError(f"{s.name}: {origin}: {exc}", source=s.name) from None
        finally:
            part.unlink(missing_ok=True)

    def _pieces(self, download: Download, local: Path) -> Iterator[tuple[pa.Table, pa.Table, bool]]:
        s = self.settings
        if s.file_format == "csv":
            yield from read_csv_chunks(local, encoding=s.encoding, delimiter=s.delimiter, opener=download.open)
        else:
            download.finish(local)
            yield *read_file(local, s.file_format), True


class _QuickAckSocket(socket.socket):
    """A TCP socket that acknowledges every segment at once (Linux ``TCP_QUICKACK``, which the
    kernel clears again, so it is set after each read). sshd leaves Nagle's algorithm on for a
    session without a terminal: after authentication it holds a small reply back until its
    previous one is acknowledged, which a receiver delays by 40 ms."""

    def recv(self, size: int, flags: int = 0) -> bytes:
        data = super().recv(size, flags)
        self.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return data


def _connect(s: SftpSettings) -> socket.socket:
    """The TCP connection, without Nagle's algorithm (paramiko leaves it on): each step of the
    handshake is a small message answered before the next, and one held back until the
    server's delayed ACK cost 40 ms a step; and acknowledging at once where the platform can (``_QuickAckSocket``). Errors are
    ``OSError``, translated by ``sftp_session`` like paramiko's own."""
    sock = socket.create_connection((s.host, s.port), timeout=s.timeout)
    if hasattr(socket, "TCP_QUICKACK"):
        sock = _QuickAckSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        sock.settimeout(s.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock
