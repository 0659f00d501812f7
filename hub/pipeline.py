"""The exchange's stages as plain functions: pull -> land, apply -> warehouse,
publish -> outbox, deliver -> office inbox.

Dagster assets (``hub.assets``) and tests call these; nothing here imports Dagster, so each
stage can be run, tested and reasoned about on its own.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.base import Batch
from connectors.sftp import SftpSettings as SftpConnSettings
from connectors.sftp import SftpSource
from connectors.sql import SqlSettings, SqlSource
from hub import audit, extracts, keys, lineage, marts, receipts
from hub.bundle import MANIFEST, PublishedBundle, publish_bundle, sha256_file
from hub.config import FileFormat, HubConfig, Source, secret
from hub.config import SftpSettings as SftpConfig
from hub.crypto import SigningKey
from hub.deliver import deliver_pending
from hub.errors import PublishError, ReportError
from hub.home import Home
from hub.landing import LandedBatch, StateFile, land, landed_batches
from hub.marts import reports as mart_reports
from hub.normalize import StagingRules, lit
from hub.warehouse import Warehouse
from schemas.tables import RECORD_TYPES


@dataclass
class PullResult:
    source: str
    batches: list[LandedBatch] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(b.rows + b.rejects for b in self.batches if b.kind == "rows")


def _sql_source(home: Home, src: Source) -> SqlSource:
    db = src.database
    assert db is not None
    url = db.url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{home.resolve(url.removeprefix('sqlite:///'))}"
    tiebreak = db.tiebreak or src.key
    flag = [src.soft_delete.column] if src.soft_delete else []
    columns = tuple(dict.fromkeys([*src.mapping.values(), src.key, db.cursor, tiebreak, *flag]))
    return SqlSource(SqlSettings(
        name=src.name, url=url, table=db.table, columns=columns, cursor=db.cursor,
        tiebreak=tiebreak, batch_size=db.batch_size, lookback_seconds=db.lookback_seconds,
        full_refresh=db.full_refresh,
        password=secret(db.password_env, f"sources.{src.name}.database.password_env"),
    ))


def _sql_batches(home: Home, src: Source, state: StateFile) -> Iterator[Batch]:
    source = _sql_source(home, src)
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
        timeout=s.timeout_seconds, remote_dir=s.remote_dir, pattern=s.pattern, regex=s.regex,
        settle_seconds=s.settle_seconds,
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
                elif batch.watermark is not None:  # a file's last piece: the whole file has landed
                    state.data.setdefault("seen", {})[batch.watermark["file"]] = batch.watermark
                state.save()
                audit.record(
                    home.audit, config, "land", run_id=run_id, subject=src.name, batch_id=landed.batch_id,
                    origin=landed.origin, rows=landed.rows, rejects=landed.rejects, watermark=batch.watermark,
                )
                result.batches.append(landed)
            if src.database is not None and src.database.reconcile_every_hours is not None:
                _reconcile_if_due(config, home, src, state, run_id, result)
        except Exception as exc:
            audit.record(home.audit, config, "pull", run_id=run_id, subject=src.name, status="failed",
                         error=str(exc) or type(exc).__name__, batches=len(result.batches), rows=result.rows)
            raise
        audit.record(home.audit, config, "pull", run_id=run_id, subject=src.name, status="ok",
                     batches=len(result.batches), rows=result.rows, batch_ids=[b.batch_id for b in result.batches])
        rows_batches = [b for b in result.batches if b.kind == "rows"]
        schema = pq.read_schema(rows_batches[0].path) if rows_batches else None
        stage.outputs = [lineage.landing_output(home, src.name, result.rows, schema)]
    return result


def _reconcile_if_due(
    config: HubConfig, home: Home, src: Source, state: StateFile, run_id: str, result: PullResult,
) -> None:
    """Land a snapshot of every source key when the last one is older than the configured
    interval; applying it tombstones the records whose key has gone (hard deletes)."""
    assert src.database is not None and src.database.reconcile_every_hours is not None
    now = dt.datetime.now(dt.UTC)
    last = state.data.get("reconciled_at")
    if last and now - dt.datetime.fromisoformat(last) < dt.timedelta(hours=src.database.reconcile_every_hours):
        return
    source = _sql_source(home, src)
    try:
        keys = source.keys(src.key)
    finally:
        source.close()
    # the snapshot time makes each snapshot's content, hence its batch id, unique
    keys = keys.append_column("_hub_snapshot_at", pa.array([now.isoformat()] * keys.num_rows, pa.string()))
    batch = Batch(src.name, keys, origin=f"{src.name}: key snapshot", details={"taken_at": now.isoformat()})
    landed = land(batch, home.landing, record_type=src.record_type, institution=src.institution,
                  run_id=run_id, kind="keys")
    state.data["reconciled_at"] = now.isoformat()
    state.save()
    audit.record(home.audit, config, "land", run_id=run_id, subject=src.name,
                 batch_id=landed.batch_id, origin=landed.origin, kind="keys", rows=landed.rows)
    result.batches.append(landed)


CORES = len(os.sched_getaffinity(0))
"""Cores this process may run on: offices published at once, at most."""

APPLY_LANES = 2
"""Record types applied at once, each by one thread on that thread's own connection. Their
history tables are disjoint and hub_batches and quarantine only get appends, which DuckDB
commits without conflict; a second thread keeps both cores busy while the other commits,
plans or works through a small batch."""

SMALL_APPLY_ROWS = 100_000
"""At most this many pending rows, every record type gets its thread: small batches spend
their time binding statements and committing, which more threads than cores overlap (14
incremental batches, 1,004 rows: 0.43 -> 0.38 s with four; applied as four chunks, within the
noise of two: 0.24-0.30 s against 0.26-0.37); past it DuckDB's parallel scans
fill the cores and more threads only contend (1M rows: 5.8 s with two, 6.3 s with four)."""


def apply_pending(config: HubConfig, home: Home, run_id: str) -> dict[str, dict[str, int]]:
    """Apply every landed batch the warehouse has not applied yet, each record type's oldest
    first; record types apply concurrently (``APPLY_LANES``)."""
    sources = {s.name: s for s in config.sources}
    totals: dict[str, dict[str, int]] = {}
    landing = [lineage.dataset("file", lineage.landing_name(home, s)) for s in sources]
    with lineage.stage(config, home, "normalize", run_id, landing) as stage:
        with open_warehouse(config, home) as wh:
            _audit_unaudited(config, home, wh, run_id)
            done = wh.applied()
            pending = landed_batches(home.landing, list(sources), skip=done)
            audited: list[str] = []
            try:
                for batch, counts in _apply_lanes(config, wh, pending, run_id):
                    _audit_applied(config, home, wh, run_id, batch.source, batch.batch_id, counts)
                    audited.append(batch.batch_id)
                    agg = totals.setdefault(batch.record_type, dict.fromkeys(counts, 0))
                    for k, v in counts.items():
                        agg[k] += v
            finally:
                wh.mark_audited(audited)
            rows = wh.table_counts()
        stage.outputs = [lineage.table_output(config, home, rt, rows[rt]) for rt in RECORD_TYPES]
        stage.outputs.append(lineage.output("file", lineage.table_name(home, "quarantine")))
    return totals


def _audit_applied(config: HubConfig, home: Home, wh: Warehouse, run_id: str, source: str, batch_id: str,
                   counts: dict[str, int], **details: Any) -> None:
    """A batch's ``apply`` entry, and a ``quarantine`` one naming the rules its rows broke."""
    audit.record(home.audit, config, "apply", run_id=run_id, subject=source, batch_id=batch_id, **counts, **details)
    if counts["rows_quarantined"]:
        rules = wh.query("SELECT rule, count(*) FROM quarantine WHERE batch_id = ? GROUP BY 1 ORDER BY 1",
                         [batch_id]).fetchall()
        audit.record(home.audit, config, "quarantine", run_id=run_id, subject=source, batch_id=batch_id,
                     rows=counts["rows_quarantined"], rules=dict(rules), **details)


def _audit_unaudited(config: HubConfig, home: Home, wh: Warehouse, run_id: str) -> None:
    """Audit the batches an earlier run committed but stopped before auditing, under that run's
    id, each entry naming the run that found it (``recovered_by``)."""
    missing = wh.unaudited()
    for batch_id, source, applied_by, counts in missing:
        _audit_applied(config, home, wh, applied_by, source, batch_id, counts, recovered_by=run_id)
    wh.mark_audited([batch_id for batch_id, *_ in missing])


TRANSACTION_ROWS = 250_000
"""Rows a lane applies per transaction, at least (the last of its batches may pass it): a few
row groups each written once, compressed, while a crash loses little work."""
Applied = tuple[LandedBatch, dict[str, int]]


def _apply_lanes(config: HubConfig, wh: Warehouse, pending: list[LandedBatch], run_id: str) -> Iterator[Applied]:
    """Apply ``pending`` one lane per record type, yielding each batch with its accounting
    once committed. ``APPLY_LANES`` threads (a thread a lane for small work) take the lanes in
    turn, each on its own connection (made once, before the threads start). A failing lane
    stops the others after their current transaction; what they committed is still yielded
    (and audited), then the error is raised."""
    rules = {s.name: staging_rules(config, s) for s in config.sources}
    lanes = [[b for b in pending if b.record_type == rt] for rt in RECORD_TYPES]
    todo: queue.SimpleQueue[list[LandedBatch]] = queue.SimpleQueue()
    for lane in sorted((lane for lane in lanes if lane), key=lambda lane: -sum(b.rows for b in lane)):
        todo.put(lane)  # the most rows first, so that the threads end about together
    results: queue.SimpleQueue[Applied | BaseException | None] = queue.SimpleQueue()
    stop = threading.Event()

    def work(cur: Warehouse) -> None:
        try:
            with cur:
                while (lane := _next(todo)) is not None:
                    for batches in _transactions(lane):
                        if stop.is_set():
                            return
                        with cur.transaction():  # the batches of all sources, staged together
                            applied = list(cur.apply_group(batches, rules, run_id=run_id))
                        for item in applied:
                            results.put(item)
        except BaseException as exc:
            results.put(exc)
        finally:
            results.put(None)

    threads = APPLY_LANES if sum(b.rows for b in pending) > SMALL_APPLY_ROWS else len(RECORD_TYPES)
    workers = [threading.Thread(target=work, args=(wh.cursor(),), name=f"apply-{n}")
               for n in range(min(threads, todo.qsize()))]
    for worker in workers:
        worker.start()
    error: BaseException | None = None
    try:
        for _ in workers:
            while (item := results.get()) is not None:
                if isinstance(item, BaseException):
                    stop.set()
                    error = error or item
                else:
                    yield item
    finally:
        stop.set()  # also when the caller stops early: the threads end after their current transaction
        for worker in workers:
            worker.join()
    if error is not None:
        raise error


def _next(todo: queue.SimpleQueue[list[LandedBatch]]) -> list[LandedBatch] | None:
    try:
        return todo.get_nowait()
    except queue.Empty:
        return None


def _transactions(lane: list[LandedBatch]) -> Iterator[list[LandedBatch]]:
    """``lane`` in runs of consecutive batches of about ``TRANSACTION_ROWS`` rows, each applied
    in one transaction (``Warehouse.transaction``)."""
    run: list[LandedBatch] = []
    rows = 0
    for batch in lane:
        run.append(batch)
        rows += batch.rows
        if rows >= TRANSACTION_ROWS:
            yield run
            run, rows = [], 0
    if run:
        yield run


def staging_rules(config: HubConfig, src: Source) -> StagingRules:
    """How ``src``'s rows are normalized: its mapping and key, its court, its delete flag."""
    soft = (src.soft_delete.column, src.soft_delete.values) if src.soft_delete else None
    return StagingRules(src.mapping, src.key, config.institution(src.institution).court_code, soft)


@dataclass
class BuiltMart:
    tables: dict[str, int]  # mart table -> rows
    files: list[Path]  # report files written under <home>/reports


def build_mart(config: HubConfig, home: Home, name: str, run_id: str, *, as_of: dt.date | None = None) -> BuiltMart:
    """Rebuild one mart (``hub.marts.MARTS``) as of ``as_of`` (today) and write its reports;
    every report file is audited with its digest, so a filed table can be matched to its run."""
    spec = marts.mart(name)
    as_of = as_of or dt.date.today()
    with open_warehouse(config, home) as wh:
        tables = spec.build(wh.con, config, as_of)
        files = spec.report(wh.con, as_of, home.reports) if spec.report else []
    _audit_reports(config, home, run_id, name, files, as_of=as_of.isoformat())
    return BuiltMart(tables, files)


def write_reports(
    config: HubConfig, home: Home, run_id: str, *, quarter: str | None = None, year: int | None = None,
    folder: Path | None = None,
) -> list[Path]:
    """Write a quarter's statistics tables and/or a year's chart from the marts as they stand
    (a filed quarter's figures do not change, so any quarter can be written again); audited."""
    folder = folder or home.reports
    with open_warehouse(config, home, read_only=True) as wh:
        missing = {"mart_nonlit_quarterly"} if quarter else set()
        missing |= {"mart_admin_litigation"} if year else set()
        missing -= {r[0] for r in wh.query("SELECT table_name FROM duckdb_tables()").fetchall()}
        if missing:
            raise ReportError(f"{', '.join(sorted(missing))} not built yet; run 'hub run --home {home.root}' first")
        files = mart_reports.quarterly_statistics(wh.con, quarter, folder / "quarterly") if quarter else []
        files += mart_reports.admin_litigation_chart(wh.con, year, folder / "admin_litigation") if year else []
    _audit_reports(config, home, run_id, "reports", files)
    return files


def _audit_reports(config: HubConfig, home: Home, run_id: str, subject: str, files: list[Path], **details: Any) -> None:
    if files:
        audit.record(home.audit, config, "report", run_id=run_id, subject=subject, **details,
                     files={str(p): sha256_file(p) for p in files})


def open_warehouse(config: HubConfig, home: Home, *, read_only: bool = False) -> Warehouse:
    wh = Warehouse(home.warehouse, hash_key=home.hash_key(config.hub.hash_key_env), read_only=read_only)
    if config.hub.duckdb_memory_limit:  # DuckDB's default is 80% of RAM: a shared host needs less
        wh.con.execute(f"SET memory_limit = {lit(config.hub.duckdb_memory_limit)}")
    return wh


@dataclass(frozen=True)
class OfficePublished:
    """One office's outcome in ``publish_offices``: its bundle (None: it has no agreement), or
    the error that stopped it."""

    office: str
    bundle: PublishedBundle | None = None
    error: Exception | None = None


def publish(
    config: HubConfig, home: Home, office_id: str, run_id: str, *, now: dt.datetime | None = None
) -> PublishedBundle | None:
    """Build, sign and write one bundle for an office from its agreement (None: no agreement)."""
    (outcome,) = publish_offices(config, home, [office_id], run_id, now=now)
    if outcome.error is not None:
        raise outcome.error
    return outcome.bundle


def publish_offices(
    config: HubConfig, home: Home, office_ids: list[str], run_id: str, *, now: dt.datetime | None = None
) -> list[OfficePublished]:
    """Build, sign and write a bundle for each office, in the order given.

    The offices are built at once, each in a thread on its own connection to one warehouse
    opened for them all: a small bundle costs little more than opening and checkpointing the
    warehouse, and one build waits on its Parquet writer while the other works. The shared
    tables are written (each bundle's receipts, then what the office holds) one office at a
    time. An office that fails does not stop the others; its error is in its outcome. The
    audit log's head is checkpointed once every office has ended. An office without an agreement
    gets no bundle, and costs nothing."""
    outcomes = {o: OfficePublished(o) for o in office_ids if config.agreement_for(o) is None}
    todo = [o for o in office_ids if o not in outcomes]
    if not todo:
        return [outcomes[o] for o in office_ids]
    now = now or dt.datetime.now(dt.UTC)
    key = keys.signing_key(home)
    writes = threading.Lock()
    with open_warehouse(config, home) as wh:  # read-write: receipts and holdings are recorded here
        def one(office_id: str) -> OfficePublished:
            try:
                with wh.cursor() as cur:
                    bundle = _publish_office(config, home, cur, key, office_id, run_id, now, writes)
                return OfficePublished(office_id, bundle)
            except Exception as exc:
                return OfficePublished(office_id, error=exc)

        try:
            with ThreadPoolExecutor(min(len(todo), CORES), thread_name_prefix="publish") as pool:
                outcomes |= {outcome.office: outcome for outcome in pool.map(one, todo)}
        finally:
            audit.checkpoint(home.audit, home.audit_checkpoints, key, run_id=run_id)
    return [outcomes[o] for o in office_ids]


def _publish_office(
    config: HubConfig, home: Home, wh: Warehouse, key: SigningKey, office_id: str, run_id: str,
    now: dt.datetime, writes: threading.Lock,
) -> PublishedBundle:
    """One office's bundle on ``wh`` (its own connection); the bundle's receipts (which row
    version went to which bundle row) are recorded in the same step, under ``writes``."""
    agreement = config.agreement_for(office_id)
    assert agreement is not None
    office = next(o for o in config.offices if o.id == office_id)
    outbox = home.resolve(office.delivery.outbox) if office.delivery.outbox else home.outbox
    sequence = 1 + max((int(p.name) for p in (outbox / office_id).glob("[0-9]" * 8)), default=0)
    full = agreement.mode == "full" or (sequence - 1) % agreement.full_every == 0
    shared = {share.record_type for share in agreement.shares}
    tables = [lineage.dataset("file", lineage.table_name(home, rt)) for rt in sorted(shared)]
    with lineage.stage(config, home, f"publish.{office_id}", run_id, tables) as stage:
        try:
            (outbox / office_id).mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=".extract-", dir=outbox / office_id))  # same disk: files move in
        except OSError as exc:
            raise PublishError(f"cannot write the outbox {outbox / office_id} ({exc.strerror}); make it a folder the "
                               "hub may write (offices[].delivery.outbox in hub.yaml)") from None
        try:
            datasets, holdings, rows = extracts.build(wh.con, agreement, home.state, work, full=full)
            shapes = {rt: (pq.read_schema(path), pq.read_metadata(path).num_rows) for rt, path in datasets.items()}
            predicate: dict[str, Any] = {
                "office": office_id,
                "agreement": {"id": agreement.id, "version": agreement.version},
                "extract": "full" if full else "incremental",
                "run_id": run_id,
                "source_watermarks": {
                    s.name: _position(StateFile(home.state, s.name).data)
                    for s in config.sources if s.record_type in shared
                },
            }
            bundle = publish_bundle(
                outbox, office_id, datasets, predicate, key,
                now=now, ttl=dt.timedelta(days=config.hub.bundle_ttl_days), recipients=office.recipients,
            )
            with writes:
                receipts.record(wh.con, bundle, office=office_id, agreement=agreement.id, version=agreement.version,
                                extract=predicate["extract"], published_at=now, run_id=run_id, receipts=rows)
                extracts.remember(wh.con, holdings)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        audit.record(
            home.audit, config, "publish", run_id=run_id, subject=office_id, bundle=str(bundle.path),
            sequence=bundle.sequence, manifest_sha256=bundle.manifest_sha256, agreement=agreement.id,
            agreement_version=agreement.version, extract=predicate["extract"], rows=bundle.rows,
        )
        stage.outputs = lineage.extract_outputs(config, home, office_id, str(outbox / office_id), shapes)
    return bundle


def _position(state: dict[str, Any]) -> Any:
    """How far a source has been pulled: a database's watermark, or the SFTP files landed."""
    return state.get("watermark") or sorted(state.get("seen", {}))


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
