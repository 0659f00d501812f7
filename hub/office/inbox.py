"""An office's inbox on an SFTP server: what is new mirrored into a local folder before
``receive``, the office's acknowledgements returned to it afterwards.

The hub delivers into ``<remote_dir>`` (its bundles as ``<sequence>/``, renamed into place
whole, and its trust metadata as ``trust/``); the kit reads the same names from a local folder.
Each bundle not yet there locally is downloaded under ``.tmp-<sequence>`` and renamed when
complete, so ``receive`` never sees part of one; acknowledgements go back under a temporary
name and are renamed, so the hub never collects part of one. The server's host key is pinned.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import paramiko

from connectors.sftp import SftpSettings, put_whole, sftp_session
from hub.publish.bundle import ACKS, ack_sequence, is_bundle_name
from hub.publish.trust import TRUST

_TRUST = re.compile(r"\d{8}\.trust\.dsse\.json")


def _listdir(sftp: paramiko.SFTPClient, path: str) -> list[paramiko.SFTPAttributes]:
    try:
        return sftp.listdir_attr(path)
    except FileNotFoundError:
        return []


def _download_tree(sftp: paramiko.SFTPClient, remote: str, local: Path) -> None:
    local.mkdir(parents=True)
    for entry in _listdir(sftp, remote):
        if stat.S_ISDIR(entry.st_mode or 0):
            _download_tree(sftp, posixpath.join(remote, entry.filename), local / entry.filename)
        elif stat.S_ISREG(entry.st_mode or 0):  # nothing else is part of a bundle: verification says so
            sftp.get(posixpath.join(remote, entry.filename), str(local / entry.filename))


def mirror(settings: SftpSettings, local: Path, *, after: int,
           progress: Callable[[str], None] = lambda _: None) -> list[int]:
    """Download the trust metadata and the bundles after sequence ``after`` that ``local``
    lacks; the sequences downloaded."""
    local.mkdir(parents=True, exist_ok=True)
    got = []
    with sftp_session(settings) as sftp:
        for entry in _listdir(sftp, posixpath.join(settings.remote_dir, TRUST)):
            if _TRUST.fullmatch(entry.filename) and not (local / TRUST / entry.filename).exists():
                (local / TRUST).mkdir(exist_ok=True)
                tmp = local / TRUST / f".tmp-{entry.filename}"
                sftp.get(posixpath.join(settings.remote_dir, TRUST, entry.filename), str(tmp))
                tmp.rename(local / TRUST / entry.filename)
        for entry in sorted(_listdir(sftp, settings.remote_dir), key=lambda e: e.filename):
            name = entry.filename
            if not is_bundle_name(name) or int(name) <= after or (local / name).exists():
                continue
            tmp = local / f".tmp-{name}"
            shutil.rmtree(tmp, ignore_errors=True)  # what an interrupted download left
            _download_tree(sftp, posixpath.join(settings.remote_dir, name), tmp)
            tmp.rename(local / name)
            got.append(int(name))
            progress(f"bundle {int(name)} downloaded from {settings.host}:{settings.remote_dir}")
    return got


def return_acknowledgements(settings: SftpSettings, local: Path) -> list[str]:
    """Upload the acknowledgements in ``local/acknowledgements`` the server lacks; names sent."""
    folder, sent = local / ACKS, []
    if not folder.is_dir():
        return sent
    remote = posixpath.join(settings.remote_dir, ACKS)
    with sftp_session(settings) as sftp:
        there = {e.filename for e in _listdir(sftp, remote)}
        for path in sorted(folder.iterdir()):
            if ack_sequence(path.name) is None or path.name in there:
                continue
            if not there and not sent:
                try:
                    sftp.mkdir(remote)
                except OSError:  # made meanwhile, or there all along
                    pass
            put_whole(sftp, path, posixpath.join(remote, path.name))
            sent.append(path.name)
    return sent
