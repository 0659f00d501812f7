"""Pull files from an institution's SFTP drop with paramiko.

The server's host key is pinned from config: an unknown or changed key is refused, never
added. Files are fetched with paramiko's prefetching ``get`` to a ``.part`` file, checked
against the remote size, hashed and renamed, then read in bulk. Remote names never become
local paths: the local name is derived from a hash of the remote path.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import posixpath
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko

from connectors.base import Batch
from connectors.files import read_file
from hub.errors import HostKeyError, TerminalSourceError, TransientSourceError
from hub.home import check_private


@dataclass(frozen=True)
class SftpSettings:
    name: str
    host: str
    port: int
    username: str
    key_path: Path
    host_key: str  # pinned OpenSSH public-key line: "ssh-ed25519 AAAA…"
    remote_dir: str = "."
    pattern: str = "*.csv"
    min_age_seconds: float = 0
    file_format: str = "csv"
    encoding: str = "auto"
    delimiter: str = ","
    passphrase: str | None = None
    timeout: float = 15


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style ``SHA256:…`` fingerprint, as ``ssh-keygen -lf`` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def host_key_line(path: Path) -> str:
    """The pin for config (``ssh-ed25519 AAAA…``) from a private or ``.pub`` key file."""
    text = path.read_text()
    if text.startswith("ssh-"):
        return " ".join(text.split()[:2])
    key = paramiko.PKey.from_path(path)
    return f"{key.get_name()} {key.get_base64()}"


def _pinned_key(line: str, source: str) -> paramiko.PKey:
    try:
        kind, b64 = line.split()[:2]
        return paramiko.PKey.from_type_string(kind, base64.b64decode(b64))
    except (ValueError, binascii.Error, paramiko.SSHException) as exc:
        raise HostKeyError(f"{source}: pinned host_key is not a valid OpenSSH public key line ({exc})", source=source) from None


def _safe_local_name(remote_path: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]", "_", posixpath.basename(remote_path))[-60:]
    return f"{hashlib.sha256(remote_path.encode()).hexdigest()[:16]}-{base.lstrip('.') or 'file'}"


class SftpSource:
    """One drop folder; ``pull(seen)`` yields a batch per new or changed stable file."""

    def __init__(self, settings: SftpSettings, staging_dir: Path) -> None:
        self.settings = settings
        self.staging = staging_dir

    def _connect(self) -> paramiko.SSHClient:
        s = self.settings
        if not s.key_path.exists():
            raise TerminalSourceError(f"{s.name}: client key {s.key_path} does not exist", source=s.name)
        check_private(s.key_path)
        pinned = _pinned_key(s.host_key, s.name)
        client = paramiko.SSHClient()
        entry = s.host if s.port == 22 else f"[{s.host}]:{s.port}"
        client.get_host_keys().add(entry, pinned.get_name(), pinned)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            pkey = paramiko.PKey.from_path(s.key_path, password=s.passphrase)
            client.connect(
                s.host, s.port, username=s.username, pkey=pkey, timeout=s.timeout, banner_timeout=s.timeout,
                auth_timeout=s.timeout, look_for_keys=False, allow_agent=False,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(
                f"{s.name}: host key of {entry} CHANGED: offered {fingerprint(exc.key)}, pinned "
                f"{fingerprint(exc.expected_key)}. If the institution confirms a new key, update sftp.host_key",
                source=s.name,
            ) from None
        except paramiko.AuthenticationException:
            client.close()
            raise TerminalSourceError(f"{s.name}: authentication failed for {s.username}@{entry}; check username and key_path",
                                      source=s.name) from None
        except paramiko.SSHException as exc:
            client.close()
            if "known_hosts" in str(exc) or "Incompatible" in str(exc):
                raise HostKeyError(f"{s.name}: {entry} did not offer the pinned host key {fingerprint(pinned)} ({exc}); "
                                   "refusing to connect", source=s.name) from None
            raise TransientSourceError(f"{s.name}: SSH session with {entry} failed ({exc}); will retry", source=s.name) from None
        except (OSError, EOFError) as exc:
            client.close()
            raise TransientSourceError(f"{s.name}: cannot reach {entry} ({exc}); will retry", source=s.name) from None
        return client

    def pull(self, seen: dict[str, dict[str, object]]) -> Iterator[Batch]:
        s = self.settings
        client = self._connect()
        try:
            sftp = client.open_sftp()
            try:
                entries = sftp.listdir_attr(s.remote_dir)
            except FileNotFoundError:
                raise TerminalSourceError(f"{s.name}: remote folder {s.remote_dir!r} does not exist; fix sftp.remote_dir",
                                          source=s.name) from None
            now = time.time()
            for attr in sorted(entries, key=lambda a: a.filename):
                name = attr.filename
                if "/" in name or "\x00" in name or name.startswith(".") or not stat.S_ISREG(attr.st_mode or 0):
                    continue
                if not fnmatch.fnmatchcase(name, s.pattern) or now - (attr.st_mtime or 0) < s.min_age_seconds:
                    continue
                remote = posixpath.join(s.remote_dir, name)
                known = seen.get(remote)
                if known and known.get("size") == attr.st_size and known.get("mtime") == attr.st_mtime:
                    continue
                yield self._fetch(sftp, remote, attr)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise TransientSourceError(f"{s.name}: transfer failed ({exc}); will retry", source=s.name) from None
        finally:
            client.close()

    def _fetch(self, sftp: paramiko.SFTPClient, remote: str, attr: paramiko.SFTPAttributes) -> Batch:
        s = self.settings
        self.staging.mkdir(parents=True, exist_ok=True)
        local = self.staging / _safe_local_name(remote)
        part = local.with_name(local.name + ".part")
        sftp.get(remote, str(part), prefetch=True)
        size = part.stat().st_size
        if size != attr.st_size:
            part.unlink(missing_ok=True)
            raise TransientSourceError(f"{s.name}: {remote} changed during transfer ({size} of {attr.st_size} bytes)",
                                       source=s.name)
        h = hashlib.sha256()
        with open(part, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        part.replace(local)
        table, rejects = read_file(local, s.file_format, encoding=s.encoding, delimiter=s.delimiter)
        digest = h.hexdigest()
        return Batch(
            source=s.name, table=table, rejects=rejects,
            origin=f"sftp://{s.host}:{s.port}/{remote.lstrip('/')}",
            watermark={"file": remote, "size": attr.st_size, "mtime": attr.st_mtime, "sha256": digest},
            details={"local_path": str(local), "sha256": digest, "bytes": size},
        )

