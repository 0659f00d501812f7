"""The publish stage: each office's bundle built from its agreement, signed and written to its
outbox, with receipts of which row version went to which bundle row."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from hub.config import Agreement
from hub.errors import HeldBack, PublishError
from hub.faults import crash_point
from hub.marts import MART_OF_TABLE, MARTS
from hub.normalize import set_aside
from hub.normalize.set_aside import SetAside
from hub.normalize.warehouse import Warehouse
from hub.observe import audit, lineage
from hub.observe.run import RunContext
from hub.publish import extracts, inflight, keys, receipts, trust
from hub.publish.bundle import PublishedBundle, publish_bundle
from hub.pull.landing import StateFile
from hub.signing.crypto import Signer
from schemas.tables import RECORD_TYPES

CORES = len(os.sched_getaffinity(0))
"""Cores this process may run on: offices published at once, at most."""


@dataclass(frozen=True)
class OfficePublished:
    """One office's outcome in ``publish_offices``: its bundle (None: it has no agreement, or
    nothing new since its last bundle), or the error that stopped it."""

    office: str
    bundle: PublishedBundle | None = None
    error: Exception | None = None


def publish(run: RunContext, office_id: str, *, now: dt.datetime | None = None) -> PublishedBundle | None:
    """Build, sign and write one bundle for an office from its agreement (None: no agreement, or
    nothing new for an incremental one)."""
    (outcome,) = publish_offices(run, [office_id], now=now)
    if outcome.error is not None:
        raise outcome.error
    return outcome.bundle


def publish_offices(run: RunContext, office_ids: list[str], *, now: dt.datetime | None = None) -> list[OfficePublished]:
    """Build, sign and write a bundle for each office, in the order given.

    The offices are built at once, each in a thread on its own connection to one warehouse
    opened for them all: a small bundle costs little more than opening the warehouse, and one
    build waits on its Parquet writer while the other works. The shared tables are written
    (each bundle's receipts, then what the office holds) one office at a time
    (``Warehouse.transaction``). An office that
    fails does not stop the others; its error is in its outcome. The audit log's head is
    checkpointed once every office has ended. An office without an agreement gets no bundle,
    and costs nothing."""
    outcomes = {o: OfficePublished(o) for o in office_ids if run.config.agreement_for(o) is None}
    todo = [o for o in office_ids if o not in outcomes]
    if not todo:
        return [outcomes[o] for o in office_ids]
    now = now or dt.datetime.now(dt.UTC)
    signers = keys.overlap_signers(run.home, run.config.hub.signing_passphrase_env)
    keys.announce(run.home, signers)  # a keyring from before trust metadata, or changed by hand
    witnessed = {"audit_checkpoint": cp} if (cp := audit.latest_checkpoint(run.home.audit_checkpoints)) else {}
    with Warehouse.open(run.config, run.home) as wh:  # read-write: receipts and holdings are recorded here
        waiting = set_aside.listed(wh)

        def one(office_id: str) -> OfficePublished:
            try:
                with wh.cursor() as cur:
                    bundle = _publish_office(run, cur, signers, office_id, now, waiting, witnessed)
                return OfficePublished(office_id, bundle)
            except Exception as exc:
                return OfficePublished(office_id, error=exc)

        try:
            with ThreadPoolExecutor(min(len(todo), CORES), thread_name_prefix="publish") as pool:
                outcomes |= {outcome.office: outcome for outcome in pool.map(one, todo)}
        finally:
            audit.checkpoint(run.home.audit, run.home.audit_checkpoints, signers[0], run_id=run.run_id)
    return [outcomes[o] for o in office_ids]


def _publish_office(
    run: RunContext, wh: Warehouse, signers: Sequence[Signer], office_id: str, now: dt.datetime, waiting: list[SetAside],
    witnessed: dict[str, Any],
) -> PublishedBundle | None:
    """One office's bundle on ``wh`` (its own connection); the bundle's receipts (which row
    version went to which bundle row) are recorded in the same step, in the warehouse's
    transactions, which the offices' connections take in turn. None
    when an incremental extract would carry nothing new: the office gets no empty bundle.
    ``witnessed``: the audit log's latest signed checkpoint, which every bundle carries, so
    each office holds a copy of the log's head that the hub cannot take back."""
    office = run.config.office(office_id)
    agreement = run.config.agreement_for(office_id)
    if agreement is None:
        raise PublishError(f"office {office_id} has no sharing agreement in hub.yaml; nothing may be sent to it")
    folder = office.outbox(run.home)
    inflight.recover(run, wh, office_id, folder)
    sequence = 1 + max((int(p.name) for p in folder.glob("[0-9]" * 8)), default=0)
    full = agreement.mode == "full" or (sequence - 1) % agreement.full_every == 0
    shared = sorted({share.record_type for share in agreement.shares})
    tables = [lineage.dataset("file", lineage.table_name(run.home, rt)) for rt in shared]
    with run.stage(f"publish.{office_id}", tables, audit_as=("publish", office_id)) as stage:
        if held := _held_back(waiting, agreement):
            raise HeldBack(f"{office_id} is held back while landed batches of what it receives wait set aside "
                               f"({held}): see 'hub batches list', then release or drop them")
        work = _work_folder(folder)
        try:
            try:  # before the bundle: an office takes the keys, then what they signed
                trust.copy_to(run.home, folder)
            except OSError as exc:
                raise PublishError(f"cannot put the hub's trust metadata in {folder} ({exc}); check that it is "
                                   "a folder this user may write") from None
            with wh.reading() as snapshot:  # every read of the extract at one snapshot, the one it names
                state = extracts.held_state(wh.con, office_id)
                datasets, holdings, rows = extracts.build(wh.con, agreement, run.home.state, work, full=full,
                                                          state=state)
                new = any(h.changed for h in holdings) or _terms_changed(wh, agreement, state)
            shapes = {rt: (pq.read_schema(path), pq.read_metadata(path).num_rows) for rt, path in datasets.items()}
            if not new and not _heartbeat_due(folder, sequence - 1, now, run, agreement):
                # nothing new for this office, and its last bundle is recent: no bundle
                with wh.transaction():
                    extracts.remember(wh.con, holdings)  # the batches read are accounted for all the same
                stage.details.update(status="nothing_new", agreement=agreement.id, agreement_version=agreement.version,
                                     last_sequence=sequence - 1)
                run.progress(f"publish {office_id}: nothing new since bundle {sequence - 1}; none made")
                return None
            stage.outputs = lineage.extract_outputs(run.home, agreement, str(folder), shapes)
            predicate = _predicate(run, office_id, agreement, full, shared) | {"lakehouse_snapshot": snapshot} | witnessed
            inflight.begin(folder, sequence, run.run_id)
            bundle = publish_bundle(
                folder.parent, office_id, datasets, predicate, signers,
                now=now, ttl=dt.timedelta(days=run.config.hub.bundle_ttl_days), recipients=office.recipients,
            )
            crash_point("publish.written")
            with wh.transaction():  # the bundle's receipts and what the office now holds: together
                receipts.record(wh.con, bundle, office=office_id, agreement=agreement.id, version=agreement.version,
                                extract=predicate["extract"], published_at=now, run_id=run.run_id, receipts=rows,
                                snapshot=snapshot)
                extracts.remember(wh.con, holdings)
                extracts.forget_unshared(wh.con, office_id, shared, state)
                crash_point("publish.recording")
            crash_point("publish.recorded")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        stage.details.update(
            bundle=str(bundle.path), sequence=bundle.sequence, manifest_sha256=bundle.manifest_sha256,
            agreement=agreement.id, agreement_version=agreement.version, extract=predicate["extract"], rows=bundle.rows,
        )
    crash_point("publish.audited")
    inflight.end(folder)  # audited
    run.progress(f"publish {office_id}: bundle {bundle.sequence} ({'full' if full else 'incremental'}, "
                 f"{sum(bundle.rows.values()):,} rows)")
    return bundle


def _terms_changed(wh: Warehouse, agreement: Agreement, held: dict[str, str]) -> bool:
    """The office's last bundle went out under another agreement or version, or it holds a
    dataset the agreement no longer shares (``held``: its ``held_state``): a bundle goes out
    whatever the rows did."""
    last = wh.query("""SELECT agreement, agreement_version FROM hub_bundles WHERE office = ?
                       ORDER BY bundle_sequence DESC LIMIT 1""", [agreement.office]).fetchall()
    return bool(last) and last[0] != (agreement.id, agreement.version) or bool(
        set(held) - {share.record_type for share in agreement.shares})


def _heartbeat_due(folder: Path, sequence: int, now: dt.datetime, run: RunContext, agreement: Agreement) -> bool:
    """The office's last bundle was placed ``heartbeat_hours`` ago or more (default: half the
    bundle lifetime): a quiet feed then still gets a signed bundle, empty or repeating what the
    office holds, before its last one expires, so an office can tell a quiet day from a frozen feed."""
    hours = agreement.heartbeat_hours
    every = dt.timedelta(hours=hours) if hours is not None else dt.timedelta(days=run.config.hub.bundle_ttl_days) / 2
    last = folder / f"{sequence:08d}"
    if not last.is_dir():
        return True
    return hours != 0 and now.timestamp() - last.stat().st_mtime >= every.total_seconds()


def _held_back(waiting: list[SetAside], agreement: Agreement) -> str:
    """The set-aside batches (``waiting``) that feed a table ``agreement`` shares (a mart through
    the tables it is built from), described; empty when none: an office must not receive a
    table with rows silently missing."""
    feeds = {rt for share in agreement.shares for rt in _record_types(share.record_type)}
    return ", ".join(f"{b.record_type} {b.batch_id[:12]} from {b.source}" for b in waiting if b.record_type in feeds)


def _record_types(table: str) -> set[str]:
    if table in RECORD_TYPES:
        return {table}
    mart = MART_OF_TABLE.get(table) or next((m for m in MARTS if m.name == table), None)
    return set().union(*(_record_types(dep) for dep in mart.deps)) if mart else set()


def _work_folder(folder: Path) -> Path:
    """A scratch folder beside the office's bundles (same disk: finished files move in)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".extract-", dir=folder))
    except OSError as exc:
        raise PublishError(f"cannot write the outbox {folder} ({exc.strerror}); make it a folder the "
                           "hub may write (offices[].delivery.outbox in hub.yaml)") from None


def _predicate(run: RunContext, office_id: str, agreement: Agreement, full: bool, shared: list[str]) -> dict[str, Any]:
    """What only the hub knows of a bundle: for whom, under which agreement, from how far each source was pulled."""
    return {
        "office": office_id,
        "agreement": {"id": agreement.id, "version": agreement.version},
        "extract": "full" if full else "incremental",
        "run_id": run.run_id,
        "source_watermarks": {
            s.name: _position(StateFile(run.home.state, s.name).data)
            for s in run.config.sources if s.record_type in shared
        },
    }


def _position(state: dict[str, Any]) -> Any:
    """How far a source has been pulled: a database's watermark, or the SFTP files landed."""
    return state.get("watermark") or sorted(state.get("seen", {}))
