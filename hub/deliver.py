"""Deliver published bundles to an office's SFTP endpoint, in sequence, never half-visible.

Each bundle is uploaded under ``.tmp-<sequence>`` (data files first, manifest last) and then
renamed to ``<sequence>`` in one step, so an office never sees part of a bundle. A bundle
whose manifest is already at its final remote path is skipped (redelivery is a no-op); a
leftover ``.tmp-`` folder from a crash is removed and the upload starts over. Every bundle
the office has not received yet is delivered in order, so a failed delivery is retried by
the next run rather than leaving a gap in the office's sequence.
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import Callable
from pathlib import Path

import paramiko

from connectors.sftp import SftpSettings, sftp_session
from hub.bundle import MANIFEST


def _exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        sftp.stat(path)
        return True
    except FileNotFoundError:
        return False


def _makedirs(sftp: paramiko.SFTPClient, path: str) -> None:
    """``mkdir -p``. Offices often share one inbox server and folder, and their deliveries run
    at once: a folder another delivery made between our look and our mkdir is no error."""
    parts = [p for p in path.split("/") if p]
    current = "/" if path.startswith("/") else ""
    for part in parts:
        current = posixpath.join(current, part) if current else part
        if not _exists(sftp, current):
            try:
                sftp.mkdir(current)
            except OSError:
                if not stat.S_ISDIR(sftp.stat(current).st_mode or 0):
                    raise


def _rmtree(sftp: paramiko.SFTPClient, path: str) -> None:
    for entry in sftp.listdir_attr(path):
        child = posixpath.join(path, entry.filename)
        if stat.S_ISDIR(entry.st_mode or 0):
            _rmtree(sftp, child)
        else:
            sftp.remove(child)
    sftp.rmdir(path)


def _upload(sftp: paramiko.SFTPClient, bundle: Path, remote_office: str) -> str | None:
    """Upload one bundle; the remote path, or None if it was there already."""
    final = posixpath.join(remote_office, bundle.name)
    if _exists(sftp, posixpath.join(final, MANIFEST)):
        return None
    tmp = posixpath.join(remote_office, f".tmp-{bundle.name}")
    if _exists(sftp, tmp):
        _rmtree(sftp, tmp)  # what a crashed upload left behind
    sftp.mkdir(tmp)
    sftp.mkdir(posixpath.join(tmp, "data"))
    for path in sorted((bundle / "data").iterdir()):
        sftp.put(str(path), posixpath.join(tmp, "data", path.name), confirm=True)
    sftp.put(str(bundle / MANIFEST), posixpath.join(tmp, MANIFEST), confirm=True)  # last: marks it complete
    sftp.posix_rename(tmp, final)
    return final


def deliver_pending(
    bundles: list[Path], office: str, settings: SftpSettings,
    on_delivered: Callable[[Path, str, bool], None] | None = None,
) -> list[str]:
    """Deliver ``bundles`` (oldest first) to ``<remote_dir>/<office>/``; remote paths written.

    ``on_delivered(bundle, remote path, uploaded now)`` is called as each bundle is confirmed
    at its final remote path, so a failure later in the run still leaves a record of those.
    """
    remote_office = posixpath.join(settings.remote_dir, office)
    written = []
    with sftp_session(settings) as sftp:
        _makedirs(sftp, remote_office)
        for bundle in bundles:
            remote = _upload(sftp, bundle, remote_office)
            if remote is not None:
                written.append(remote)
            if on_delivered is not None:
                on_delivered(bundle, remote or posixpath.join(remote_office, bundle.name), remote is not None)
    return written
