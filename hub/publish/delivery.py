"""Deliver published bundles to an office's SFTP endpoint, in sequence, never half-visible.

The hub's trust metadata the office lacks goes first (``hub.publish.trust``). Each bundle is
uploaded under ``.tmp-<sequence>`` (data files first, manifest last) and then
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

from connectors.sftp import SftpSettings, put_whole, sftp_session
from hub.errors import ConfigError, connector_errors
from hub.faults import crash_point
from hub.observe import lineage
from hub.observe.run import RunContext
from hub.publish import inflight
from hub.publish.bundle import MANIFEST
from hub.publish.trust import TRUST
from hub.pull.landing import StateFile
from hub.pull.sources import sftp_settings
from hub.signing.primitives import sha256_file


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


def _upload_trust(sftp: paramiko.SFTPClient, trust_dir: Path, remote_office: str) -> None:
    """Every version of the hub's trust metadata the office's inbox lacks (``trust/``), each
    under a temporary name and then renamed: before the bundles its keys signed."""
    if not trust_dir.is_dir():
        return
    remote = posixpath.join(remote_office, TRUST)
    for path in sorted(trust_dir.glob("*.trust.dsse.json")):
        final = posixpath.join(remote, path.name)
        if _exists(sftp, final):
            continue
        _makedirs(sftp, remote)
        put_whole(sftp, path, final)


def deliver_pending(
    bundles: list[Path], office: str, settings: SftpSettings,
    on_delivered: Callable[[Path, str, bool], None] | None = None, trust_dir: Path | None = None,
) -> list[str]:
    """Deliver ``bundles`` (oldest first) to ``<remote_dir>/<office>/``, after the trust
    metadata in ``trust_dir`` the office lacks; the bundles' remote paths written.

    ``on_delivered(bundle, remote path, uploaded now)`` is called as each bundle is confirmed
    at its final remote path, so a failure later in the run still leaves a record of those.
    """
    remote_office = posixpath.join(settings.remote_dir, office)
    written = []
    with sftp_session(settings) as sftp:
        _makedirs(sftp, remote_office)
        if trust_dir is not None:
            _upload_trust(sftp, trust_dir, remote_office)
        for bundle in bundles:
            remote = _upload(sftp, bundle, remote_office)
            if remote is not None:
                written.append(remote)
            if on_delivered is not None:
                on_delivered(bundle, remote or posixpath.join(remote_office, bundle.name), remote is not None)
    return written


def deliver(run: RunContext, office_id: str) -> list[str]:
    """Send the office every bundle it has not received, in sequence, over SFTP.

    Each bundle confirmed on the office's server is audited as it lands; a failure is
    audited with the sequences still waiting, then raised."""
    office = run.config.office(office_id)
    if office.delivery.sftp is None:
        raise ConfigError(f"office {office_id} has no SFTP inbox to deliver to (offices[].delivery.sftp in hub.yaml)")
    outbox = office.outbox(run.home)
    state = StateFile(run.home.state, f"delivery-{office_id}")
    done = state.data.get("delivered_sequence", 0)
    listed = sorted(p for p in outbox.glob("[0-9]" * 8) if int(p.name) > done)
    # read after listing: a bundle listed whose publish has not ended has its marker still there
    stopped = inflight.in_flight(outbox)  # (its bundle may yet be undone)
    pending = [p for p in listed if stopped is None or int(p.name) < stopped]
    settings = sftp_settings(run.home, f"delivery to {office_id}", office.delivery.sftp)
    server = f"sftp://{settings.host}:{settings.port}"
    inputs = [lineage.dataset("file", str(outbox))]
    with run.stage(f"deliver.{office_id}", inputs, audit_as=("deliver", office_id), audit_success=False) as stage:
        stage.details.update(sequences=[int(p.name) for p in pending], remote=server)

        def delivered(bundle: Path, remote: str, uploaded: bool) -> None:
            crash_point("deliver.uploaded")
            stage.details["sequences"].remove(int(bundle.name))
            run.record("deliver", subject=office_id, sequence=int(bundle.name),
                       manifest_sha256=sha256_file(bundle / MANIFEST), status="delivered" if uploaded else "already_there",
                       remote=f"{server}{remote if remote.startswith('/') else '/' + remote}")
            crash_point("deliver.audited")
            run.progress(f"deliver {office_id}: bundle {int(bundle.name)} {'uploaded' if uploaded else 'was already there'}")

        with connector_errors():
            written = deliver_pending(pending, office_id, settings, on_delivered=delivered, trust_dir=outbox / TRUST)
        if pending:
            state.data["delivered_sequence"] = int(pending[-1].name)
            state.save()
        stage.outputs = [lineage.output(server, f"{settings.remote_dir}/{office_id}")]
    return written
