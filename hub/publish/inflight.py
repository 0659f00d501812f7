"""A publish in flight: the marker that lets the next run finish or undo what a crash stopped.

A bundle lands in the outbox before its receipts and holdings are committed to the warehouse,
and its ``publish`` entry is audited after that. ``.publishing`` in the office's outbox names
the sequence being published from before the bundle is written until its entry is audited. The
next publish for the office then finds one of two things: the bundle was recorded (only its
entry is missing: it is audited now, under the run that made it), or it was not (it is removed
and audited as ``discarded``, and its sequence is published again). Delivery never sends a
sequence that is still in flight.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

from hub.durable import fsync, write_atomic
from hub.normalize.warehouse import Warehouse
from hub.observe import audit
from hub.observe.run import RunContext
from hub.publish.bundle import MANIFEST
from hub.signing.primitives import sha256_file

MARKER = ".publishing"
_LEFTOVERS = (".tmp-*", ".extract-*")  # folders a stopped publish was writing


def begin(folder: Path, sequence: int, run_id: str) -> None:
    """Mark ``sequence`` in flight (durably, before its bundle is written)."""
    write_atomic(folder / MARKER, json.dumps({"sequence": sequence, "run_id": run_id}).encode())


def end(folder: Path) -> None:
    """The publish is recorded and audited: nothing is left for the next run to finish."""
    (folder / MARKER).unlink(missing_ok=True)
    fsync(folder)  # the removal survives a power cut too


def in_flight(folder: Path) -> int | None:
    """The sequence a publish that has not ended is writing, if any."""
    stopped = _stopped(folder)
    return stopped["sequence"] if stopped else None


def _stopped(folder: Path) -> dict[str, Any] | None:
    """What the marker names (sequence, run id), if a publish has not ended."""
    marker = folder / MARKER
    return json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None


def recover(run: RunContext, wh: Warehouse, office_id: str, folder: Path) -> None:
    """Finish or undo the office's publish a crash stopped, and clear what it was writing."""
    for pattern in _LEFTOVERS:
        for leftover in folder.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)
    stopped = _stopped(folder)
    if stopped is None:
        return
    sequence = stopped["sequence"]
    bundle = folder / f"{sequence:08d}"
    rows = wh.query(
        """SELECT bundle_sha256, agreement, agreement_version, extract, published_at, dataset, rows FROM hub_bundles
           WHERE office = ? AND bundle_sequence = ? AND bundle_path = ? ORDER BY dataset""",
        [office_id, sequence, str(bundle)]).fetchall()
    earlier = RunContext(run.config, run.home, stopped["run_id"])
    if rows:  # recorded: its entry may be missing
        sha, agreement, version, extract, published_at = rows[0][:5]
        if not _audited(run, office_id, sha, published_at):
            earlier.record("publish", subject=office_id, status="ok", bundle=str(bundle), sequence=sequence,
                           manifest_sha256=sha, agreement=agreement, agreement_version=version, extract=extract,
                           rows={r[5]: r[6] for r in rows}, recovered_by=run.run_id)
    elif bundle.is_dir():  # written, never recorded (so never delivered): undone
        manifest = bundle / MANIFEST
        sha = sha256_file(manifest) if manifest.is_file() else None
        shutil.rmtree(bundle)
        earlier.record("publish", subject=office_id, status="discarded", bundle=str(bundle), sequence=sequence,
                       manifest_sha256=sha, recovered_by=run.run_id,
                       reason="the publish stopped before the bundle's receipts were recorded; "
                              "it was never delivered and its sequence is published again")
    end(folder)


def _audited(run: RunContext, office_id: str, sha: str, published_at: dt.datetime) -> bool:
    """The bundle's ``publish`` entry is in the log (a run stopped after writing it, before
    ending its marker): read back from the end as far as the bundle's publishing."""
    since = published_at.replace(tzinfo=dt.UTC)
    for entry in audit.newest_first(run.home.audit):
        if dt.datetime.fromisoformat(entry["at"]) < since:
            return False
        details = entry["details"]
        if entry["event"] == "publish" and entry["subject"] == office_id and details.get("manifest_sha256") == sha \
                and details.get("status") == "ok":
            return True
    return False
