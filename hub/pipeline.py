"""The exchange's stages as plain functions: pull -> land, apply -> warehouse,
publish -> outbox, deliver -> office inbox.

Dagster assets (``hub.assets``) and tests call these; nothing here imports Dagster, so each
stage can be run, tested and reasoned about on its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from connectors.base import Batch
from connectors.sftp import SftpSettings as SftpConnSettings
from connectors.sftp import SftpSource
from connectors.sql import SqlSettings, SqlSource
from hub import audit, extracts, keys, lineage, receipts
from hub.bundle import MANIFEST, PublishedBundle, publish_bundle, sha256_file
from hub.config import FileFormat, HubConfig, Source, secret
from hub.config import SftpSettings as SftpConfig
from hub.deliver import deliver_pending
from hub.home import Home
from hub.landing import LandedBatch, StateFile, land, landed_batches
from hub.warehouse import Warehouse
from schemas.tables import RECORD_TYPES


@dataclass
class PullResult:
    source: str
    batches: list[LandedBatch] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(b.rows + b.rejects for b in self.batches)


def _sql_batches(home: Home, src: Source, state: StateFile) -> Iterator[Batch]:
    db = src.database
    assert db is not None
    url = db.url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{home.resolve(url.removeprefix('sqlite:///'))}"
    tiebreak = db.tiebreak or src.key
    columns = tuple(dict.fromkeys([*src.mapping.values(), src.key, db.cursor, tiebreak]))
    source = SqlSource(SqlSettings(
        name=src.name, url=url, table=db.table, columns=columns, cursor=db.cursor,
        tiebreak=tiebreak, batch_size=db.batch_size, lookback_seconds=db.lookback_seconds,
        full_refresh=db.full_refresh,
        password=secret(db.password_env, f"sources.{src.name}.database.password_env"),
    ))
    try:
        for batch in source.pull(state.data.get("watermark")):
            yield batch
    finally:
        source.close()


def _sftp_settings(home: Home, name: str, s: SftpConfig, fmt: FileFormat = FileFormat()) -> SftpConnSettings:
    return SftpConnSettings(
        name=name, host=s.host, port=s.port, username=s.username,
        key_path=home.resolve(s.key_path),
        passphrase=secret(s.passphrase_env, f"{name}: sftp.passphrase_env"),
        host_key=s.host_key, known_hosts=home.resolve(s.known_hosts) if s.known_hosts else None,
        timeout=s.timeout_seconds, remote_dir=s.remote_dir, pattern=s.pattern,
        ready_marker=s.ready_marker, archive_dir=s.archive_dir,
        min_age_seconds=s.min_age_seconds, file_format=fmt.type, encoding=fmt.encoding, delimiter=fmt.delimiter,
    )


def _sftp_source(home: Home, src: Source) -> SftpSource:
    assert src.sftp is not None
    return SftpSource(_sftp_settings(home, src.name, src.sftp, src.format), home.staging / src.name)


def pending_files(config: HubConfig, home: Home, source_name: str) -> list[dict[str, Any]]:
    """Stable files in an SFTP drop that have not been landed yet (what a pull would fetch)."""
    src = next(s for s in config.sources if s.name == source_name)
    return _sftp_source(home, src).pending(StateFile(home.state, src.name).data.get("seen", {}))


def pull(config: HubConfig, home: Home, source_name: str, run_id: str) -> PullResult:
    """Pull everything new from one source and land it; the watermark moves after each landing.

    Every pull is audited, an empty one too, and a failed one with its error."""
    src = next(s for s in config.sources if s.name == source_name)
    state = StateFile(home.state, src.name)
    result = PullResult(src.name)
    with lineage.stage(config, home, f"pull.{src.name}", run_id, [lineage.source_dataset(home, src)]) as stage:
        try:
            batches = (
                _sql_batches(home, src, state) if src.kind == "database"
                else _sftp_source(home, src).pull(state.data.get("seen", {}))
            )
            for batch in batches:
                landed = land(batch, home.landing, record_type=src.record_type, institution=src.institution, run_id=run_id)
                if src.kind == "database":
                    state.data["watermark"] = batch.watermark
                else:
                    assert batch.watermark is not None
                    state.data.setdefault("seen", {})[batch.watermark["file"]] = batch.watermark
                state.save()
                audit.record(
                    home.audit, config, "land", run_id=run_id, subject=src.name, batch_id=landed.batch_id,
                    origin=landed.origin, rows=landed.rows, rejects=landed.rejects, watermark=batch.watermark,
                )
                result.batches.append(landed)
        except Exception as exc:
            audit.record(home.audit, config, "pull", run_id=run_id, subject=src.name, status="failed",
                         error=str(exc) or type(exc).__name__, batches=len(result.batches), rows=result.rows)
            raise
        audit.record(home.audit, config, "pull", run_id=run_id, subject=src.name, status="ok",
                     batches=len(result.batches), rows=result.rows, batch_ids=[b.batch_id for b in result.batches])
        schema = pq.read_schema(result.batches[0].path) if result.batches else None
        stage.outputs = [lineage.landing_output(home, src.name, result.rows, schema)]
    return result


def apply_pending(config: HubConfig, home: Home, run_id: str) -> dict[str, dict[str, int]]:
    """Apply every landed batch the warehouse has not applied yet, oldest first."""
    sources = {s.name: s for s in config.sources}
    totals: dict[str, dict[str, int]] = {}
    landing = [lineage.dataset("file", lineage.landing_name(home, s)) for s in sources]
    with lineage.stage(config, home, "normalize", run_id, landing) as stage:
        with open_warehouse(config, home) as wh:
            done = wh.applied()
            for batch in landed_batches(home.landing, list(sources)):
                if batch.batch_id in done:
                    continue
                src = sources[batch.source]
                court = config.institution(src.institution).court_code
                counts = wh.apply(batch, mapping=src.mapping, key_column=src.key, court_code=court, run_id=run_id)
                audit.record(home.audit, config, "apply", run_id=run_id, subject=batch.source,
                             batch_id=batch.batch_id, **counts)
                if counts["rows_quarantined"]:
                    rules = wh.query("SELECT rule, count(*) FROM quarantine WHERE batch_id = ? GROUP BY 1 ORDER BY 1",
                                     [batch.batch_id]).fetchall()
                    audit.record(home.audit, config, "quarantine", run_id=run_id, subject=batch.source,
                                 batch_id=batch.batch_id, rows=counts["rows_quarantined"], rules=dict(rules))
                agg = totals.setdefault(batch.record_type, dict.fromkeys(counts, 0))
                for k, v in counts.items():
                    agg[k] += v
            rows = wh.table_counts()
        stage.outputs = [lineage.table_output(config, home, rt, rows[rt]) for rt in RECORD_TYPES]
        stage.outputs.append(lineage.output("file", lineage.table_name(home, "quarantine")))
    return totals


def open_warehouse(config: HubConfig, home: Home, *, read_only: bool = False) -> Warehouse:
    return Warehouse(home.warehouse, hash_key=home.hash_key(config.hub.hash_key_env), read_only=read_only)


def publish(
    config: HubConfig, home: Home, office_id: str, run_id: str, *, now: dt.datetime | None = None
) -> PublishedBundle | None:
    """Build, sign and write one bundle for an office from its agreement (None: no agreement).

    The bundle's receipts (which row version went to which bundle row) are written to the
    warehouse in the same step, and the audit log's head is checkpointed after it."""
    agreement = config.agreement_for(office_id)
    if agreement is None:
        return None
    office = next(o for o in config.offices if o.id == office_id)
    now = now or dt.datetime.now(dt.UTC)
    outbox = home.resolve(office.delivery.outbox) if office.delivery.outbox else home.outbox
    sequence = 1 + max((int(p.name) for p in (outbox / office_id).glob("[0-9]" * 8)), default=0)
    full = agreement.mode == "full" or (sequence - 1) % agreement.full_every == 0
    shared = {share.record_type for share in agreement.shares}
    tables = [lineage.dataset("file", lineage.table_name(home, rt)) for rt in sorted(shared)]
    with lineage.stage(config, home, f"publish.{office_id}", run_id, tables) as stage:
        key = keys.signing_key(home)
        with open_warehouse(config, home) as wh:  # read-write: receipts are recorded in this step
            datasets, holdings, rows = extracts.build(wh.con, agreement, home.state, full=full)
            predicate: dict[str, Any] = {
                "office": office_id,
                "agreement": {"id": agreement.id, "version": agreement.version},
                "extract": "full" if full else "incremental",
                "run_id": run_id,
                "source_watermarks": {
                    s.name: StateFile(home.state, s.name).data.get("watermark")
                    or sorted(StateFile(home.state, s.name).data.get("seen", {}))
                    for s in config.sources if s.record_type in shared
                },
            }
            bundle = publish_bundle(
                outbox, office_id, datasets, predicate, key,
                now=now, ttl=dt.timedelta(days=config.hub.bundle_ttl_days), recipients=office.recipients,
            )
            receipts.record(wh.con, bundle, office=office_id, agreement=agreement.id, version=agreement.version,
                            extract=predicate["extract"], published_at=now, run_id=run_id, receipts=rows)
        extracts.remember(home.state, office_id, holdings)
        audit.record(
            home.audit, config, "publish", run_id=run_id, subject=office_id, bundle=str(bundle.path),
            sequence=bundle.sequence, manifest_sha256=bundle.manifest_sha256, agreement=agreement.id,
            agreement_version=agreement.version, extract=predicate["extract"],
            rows={k: v.num_rows for k, v in datasets.items()},
        )
        audit.checkpoint(home.audit, home.audit_checkpoints, key, run_id=run_id)
        stage.outputs = lineage.extract_outputs(config, home, office_id, str(outbox / office_id), datasets)
    return bundle


def deliver(config: HubConfig, home: Home, office_id: str, run_id: str) -> list[str]:
    """Send the office every bundle it has not received, in sequence, over SFTP.

    Each bundle confirmed on the office's server is audited as it lands; a failure is
    audited with the sequences still waiting, then raised."""
    office = next(o for o in config.offices if o.id == office_id)
    assert office.delivery.sftp is not None
    outbox = (home.resolve(office.delivery.outbox) if office.delivery.outbox else home.outbox) / office_id
    state = StateFile(home.state, f"delivery-{office_id}")
    done = state.data.get("delivered_sequence", 0)
    pending = sorted(p for p in outbox.glob("[0-9]" * 8) if int(p.name) > done)
    settings = _sftp_settings(home, f"delivery to {office_id}", office.delivery.sftp)
    server = f"sftp://{settings.host}:{settings.port}"
    waiting = [int(p.name) for p in pending]

    def delivered(bundle: Path, remote: str, uploaded: bool) -> None:
        waiting.remove(int(bundle.name))
        audit.record(home.audit, config, "deliver", run_id=run_id, subject=office_id, sequence=int(bundle.name),
                     manifest_sha256=sha256_file(bundle / MANIFEST), status="delivered" if uploaded else "already_there",
                     remote=f"{server}{remote if remote.startswith('/') else '/' + remote}")

    with lineage.stage(config, home, f"deliver.{office_id}", run_id, [lineage.dataset("file", str(outbox))]) as stage:
        try:
            written = deliver_pending(pending, office_id, settings, on_delivered=delivered)
        except Exception as exc:
            audit.record(home.audit, config, "deliver", run_id=run_id, subject=office_id, status="failed",
                         sequences=waiting, error=str(exc) or type(exc).__name__, remote=server)
            raise
        if pending:
            state.data["delivered_sequence"] = int(pending[-1].name)
            state.save()
        stage.outputs = [lineage.output(server, f"{settings.remote_dir}/{office_id}")]
    return written
