"""The DuckDB warehouse: shared tables, their history, quarantine and the apply ledger.

One process writes the warehouse at a time (Dagster pool ``warehouse``). Each landing batch
is applied in the transaction that records it in ``hub_batches`` (``transaction`` puts
several in one), so re-running after a crash applies nothing twice and a half-applied batch
never exists.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pyarrow.parquet as pq

from hub.errors import WarehouseError
from hub.landing import LandedBatch
from hub.extracts import DDL as HOLDINGS_DDL
from hub.normalize import Branch, StagingRules, q, staging_sql
from hub.receipts import DDL as RECEIPTS_DDL
from hub.views import all_views
from schemas import case_number, identifiers
from schemas.codes import code_tables
from schemas.tables import (
    PROVENANCE, RECORD_TYPES, SCHEMA_VERSION, VERSIONING, comments, ddl, history_table, stored_fields, view_ddl,
)

QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
  batch_id VARCHAR, source_name VARCHAR, source_institution VARCHAR, record_type VARCHAR,
  source_row BIGINT, source_key VARCHAR, rule VARCHAR, reason VARCHAR, rules VARCHAR[],
  original JSON, run_id VARCHAR, quarantined_at TIMESTAMP
)"""

BATCHES_DDL = """
CREATE TABLE IF NOT EXISTS hub_batches (
  batch_id VARCHAR PRIMARY KEY, source_name VARCHAR, record_type VARCHAR, origin VARCHAR,
  rows_in BIGINT, rows_applied BIGINT, rows_quarantined BIGINT, rows_duplicate BIGINT,
  landed_at TIMESTAMP, applied_at TIMESTAMP, run_id VARCHAR,
  kind VARCHAR, rows_deleted BIGINT
)"""
"""One row per applied landing batch. ``kind`` rows: rows_in = applied + quarantined +
duplicate, rows_deleted of the applied carry the source's delete flag. ``kind`` keys: a key
snapshot; rows_in keys read, rows_deleted records tombstoned because their key was gone."""

COUNTS = ("rows_in", "rows_applied", "rows_quarantined", "rows_duplicate", "rows_deleted")
"""A batch's row accounting: the counts ``apply`` returns and ``hub_batches`` keeps."""

AUDITED_DDL = "CREATE TABLE IF NOT EXISTS hub_batches_audited (batch_id VARCHAR PRIMARY KEY)"
"""The applied batches whose ``apply`` entry is in the audit log. It is written after the
entry, so a run stopped between a batch's commit and its entry leaves the batch here unlisted,
and the next run audits it (``unaudited``)."""


STAGE_ROWS = 250_000
"""Most rows staged by one statement: a few batches, enough to keep every core busy."""
UNOPTIMIZED_ROWS = 10_000
"""Fewer rows than this are staged without DuckDB's optimizer (``Warehouse._stage``)."""
CHECKPOINT_THRESHOLD = "256MB"
"""WAL size that triggers a checkpoint. DuckDB's 16 MB meant one per applied batch; more costs
peak memory (at 1M records: 1 GB of WAL ran 2 s faster than 256 MB for 180 MB more RSS)."""

META_DDL = "CREATE TABLE IF NOT EXISTS hub_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"

MACROS = case_number.duckdb_macros() + identifiers.duckdb_macros()
"""The hub's SQL macros (case numbers, identifiers), stored in the warehouse."""


class Warehouse:
    """An open warehouse connection with the hub's macros registered."""

    def __init__(self, path: Path, *, hash_key: bytes, read_only: bool = False) -> None:
        try:
            self.con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            raise WarehouseError(
                f"cannot open warehouse {path}: {exc}. Is another hub process writing it?"
            ) from None
        if not read_only:
            # Each batch commits to the WAL; checkpointing only past this size (and at close)
            # compresses a table's row groups about once per run instead of once per batch.
            self.con.execute(f"SET checkpoint_threshold = {_lit(CHECKPOINT_THRESHOLD)}")
            self._create_schema()
        self._hash_key = hash_key
        self.read_only = read_only
        self._in_transaction = False
        self._create_macros()

    def _create_macros(self) -> None:
        """The keyed hash, TEMP: its key must never be persisted into the file. The other
        macros are the warehouse's own (``_create_schema``), created once instead of on every
        connection (some 80 ms each); a read-only connection, which cannot create them there,
        gets TEMP copies, so it works on a warehouse written before they were stored."""
        if self.read_only:
            for stmt in MACROS:
                self.con.execute(stmt.replace("CREATE OR REPLACE MACRO", "CREATE OR REPLACE TEMP MACRO"))
        self.con.execute(identifiers.keyed_hash_macro(self._hash_key))

    def cursor(self) -> Warehouse:
        """This warehouse on another connection, with its own transactions, temp tables and
        keyed hash: a second thread applies one record type while this connection applies another."""
        other = copy.copy(self)
        other.con = self.con.cursor()
        other._create_macros()
        return other

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.con.close()

    def _create_schema(self) -> None:
        """Create or update every table, view, comment and code table, in one transaction, unless
        the warehouse already has exactly these (``hub_meta.schema_digest``): every stage opens
        the warehouse, and some forty catalog writes per open cost a run more than its data did."""
        meta = self._meta()
        self._check_version(meta)
        statements = [META_DDL, QUARANTINE_DDL, BATCHES_DDL, AUDITED_DDL, *RECEIPTS_DDL, *HOLDINGS_DDL, *MACROS]
        for rt in RECORD_TYPES:
            statements += [ddl(rt), view_ddl(rt), *comments(rt)]
        codes, views = code_tables(), all_views()  # the views read the code tables
        digest = hashlib.sha256(repr((SCHEMA_VERSION, statements, {n: t.to_pydict() for n, t in codes.items()}, views))
                                .encode()).hexdigest()
        if meta is not None and meta.get("schema_digest") == digest:
            return
        audited_before = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            "AND table_name = 'hub_batches_audited'").fetchone()[0]  # type: ignore[index]
        self.con.execute("BEGIN TRANSACTION")
        try:
            for stmt in statements:
                self.con.execute(stmt)
            if not audited_before:  # a warehouse from before the table: its batches were audited as applied
                self.con.execute("INSERT INTO hub_batches_audited SELECT batch_id FROM hub_batches")
            for name, table in codes.items():
                self.con.register("_code", table)
                self.con.execute(f"CREATE OR REPLACE TABLE {q(name)} AS SELECT * FROM _code")
                self.con.unregister("_code")
            for view in views:
                self.con.execute(view)
            self.con.execute("INSERT OR REPLACE INTO hub_meta VALUES ('schema_version', ?), ('schema_digest', ?)",
                             [str(SCHEMA_VERSION), digest])
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def _meta(self) -> dict[str, str] | None:
        """``hub_meta`` as a dict; None when the warehouse has none (new, or schema version 1).
        Read directly, not looked up in the catalog first: every open asks, and a catalog
        query costs ten times the read."""
        try:
            return dict(self.con.execute("SELECT key, value FROM hub_meta").fetchall())
        except duckdb.CatalogException:
            return None

    def _check_version(self, meta: dict[str, str] | None) -> None:
        """Refuse a warehouse written by another schema version: its tables would not match."""
        if meta is not None:
            found = int(meta.get("schema_version", 0))
        else:
            tables = {r[0] for r in self.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}
            found = 1 if "hub_batches" in tables else SCHEMA_VERSION
        if found != SCHEMA_VERSION:
            path = self.con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
            raise WarehouseError(
                f"warehouse {path[0] if path else ''} has schema version {found}, this hub writes version "
                f"{SCHEMA_VERSION}: move the file aside and run `hub run` again; every landed batch is "
                "re-applied from landing/ (nothing is pulled twice)"
            )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Apply several batches, of any sources, in one transaction: each ``apply_group``
        inside commits nothing itself, and nothing of them is kept unless all are applied.

        A table's rows appended by one transaction are compressed into the file once, at
        commit (or as each 122,880-row group fills); a transaction per batch logged each batch
        to the WAL and the checkpoint wrote it all again: twice the time (4.5 s against 2.2
        for 450k filing versions in 50k batches)."""
        if self._in_transaction:  # a batch inside the caller's
            yield
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_transaction = True
        try:
            yield
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            self.con.execute("PRAGMA enable_optimizer")  # a failed ``_stage`` may have left it off
            raise
        finally:
            self._in_transaction = False

    def applied(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT batch_id FROM hub_batches").fetchall()}

    def unaudited(self) -> list[tuple[str, str, str, dict[str, int]]]:
        """Applied batches without their audit entry yet, oldest first: what a run stopped
        between a commit and its audit left, as (batch id, source, applying run, counts)."""
        rows = self.con.execute(
            f"SELECT batch_id, source_name, run_id, {', '.join(COUNTS)} FROM hub_batches "
            "ANTI JOIN hub_batches_audited USING (batch_id) ORDER BY applied_at, batch_id").fetchall()
        return [(batch_id, source, run, dict(zip(COUNTS, counts))) for batch_id, source, run, *counts in rows]

    def mark_audited(self, batch_ids: list[str]) -> None:
        if batch_ids:
            self.con.execute("INSERT OR IGNORE INTO hub_batches_audited SELECT unnest($ids)", {"ids": batch_ids})

    def apply(
        self, batch: LandedBatch, *, mapping: dict[str, str], key_column: str,
        court_code: str | None, run_id: str, soft_delete: tuple[str, list[str]] | None = None,
    ) -> dict[str, int]:
        """Normalize one landed batch into its table; returns the row accounting."""
        rules = StagingRules(mapping, key_column, court_code, soft_delete)
        return next(self.apply_group([batch], {batch.source: rules}, run_id=run_id))[1]

    def apply_group(
        self, batches: list[LandedBatch], rules: Mapping[str, StagingRules], *, run_id: str,
    ) -> Iterator[tuple[LandedBatch, dict[str, int]]]:
        """Apply batches of one record type, from any of its sources (``rules`` by source
        name), in order, yielding each with its accounting once applied.

        Consecutive row batches are applied as one chunk (``_stageable``), in one transaction
        (unless inside ``transaction``): staged by one statement, then upserted, quarantined
        and accounted by one statement each for the whole chunk, each row knowing its batch
        by ``_part``. A small batch costs DuckDB more in parsing and planning those statements
        than in running them (an incremental run's 14 batches: 0.40-0.58 s a batch at a time,
        0.25-0.37 s as four chunks, one per record type). Where two batches of a chunk hold
        versions of the same record, the later must see the earlier's (a duplicate of it, a
        record it deleted), so that chunk is upserted batch by batch."""
        for chunk in _stageable(batches):
            if chunk[0].kind == "keys":
                try:
                    with self.transaction():
                        counts = self._tombstone_missing(chunk[0], rules[chunk[0].source].key_column, run_id)
                except duckdb.Error as exc:
                    raise WarehouseError(f"applying key snapshot {chunk[0].batch_id[:12]} from {chunk[0].source} "
                                         f"failed: {exc}") from None
                yield chunk[0], counts
                continue
            yield from zip(chunk, self._apply_chunk(chunk, rules, run_id))

    def _apply_chunk(self, chunk: list[LandedBatch], rules: Mapping[str, StagingRules], run_id: str) -> list[dict[str, int]]:
        what = (f"batch {chunk[0].batch_id[:12]} from {chunk[0].source}" if len(chunk) == 1 else
                f"{len(chunk)} batches from {', '.join(dict.fromkeys(b.source for b in chunk))}")
        try:
            with self.transaction():
                self._stage_chunk(chunk, rules)
                parts = list(enumerate(chunk))
                disjoint = len(chunk) == 1 or self.con.execute(
                    "SELECT count(DISTINCT record_key) = count(DISTINCT (_part, record_key)) FROM staged WHERE _ok"
                ).fetchone()[0]  # type: ignore[index]
                units = [parts] if disjoint else [[part] for part in parts]
                counts: dict[int, dict[str, int]] = {}
                for unit in units:
                    rel = "staged" if len(units) == 1 else f"(SELECT * FROM staged WHERE _part = {unit[0][0]})"
                    self._quarantine(unit, rel, run_id)
                    self._upsert(unit, rel, run_id)
                    counts |= self._account(unit, rel)
                self._ledger([(b, counts[n]) for n, b in parts], "rows", run_id)
                self.con.execute("DROP TABLE staged")  # a failure's goes with its rollback
        except duckdb.Error as exc:
            raise WarehouseError(f"applying {what} failed: {exc}") from None
        return [counts[n] for n in range(len(chunk))]

    def _stage(self, sql: str, rows: int) -> None:
        """Run a staging statement, of fewer than ``UNOPTIMIZED_ROWS`` rows without DuckDB's
        optimizer: optimizing its ~10 kB of expanded macros takes longer than staging a small
        batch (100 rows: 47 -> 33 ms, 10,000: 70 -> 39 ms), while a large group gains from it
        (1M rows in groups of up to 250k: 9.5 s -> 13.3 s without)."""
        if rows >= UNOPTIMIZED_ROWS:
            self.con.execute(sql)
            return
        self.con.execute("PRAGMA disable_optimizer")
        self.con.execute(sql)  # a failure aborts the chunk's transaction, whose rollback re-enables it
        self.con.execute("PRAGMA enable_optimizer")

    def _stage_chunk(self, chunk: list[LandedBatch], rules: Mapping[str, StagingRules]) -> None:
        """Stage ``chunk`` into ``staged``, each row tagged with its batch's place ``_part``: one
        branch per run of a source's batches with the same columns (read as one)."""
        branches = []
        n = 0
        for (source, names), run in itertools.groupby(chunk, key=lambda b: (b.source, tuple(_columns(b)))):
            run = list(run)
            files = ", ".join(_lit(b.path) for b in run)
            parts = " ".join(f"WHEN {_lit(b.path)} THEN {n + i}" for i, b in enumerate(run))
            n += len(run)
            relation = (f"(SELECT *, CASE _hub_file {parts} END AS _part "
                        f"FROM read_parquet([{files}], filename = '_hub_file'))")
            branches.append(Branch(rules[source], run[0].institution, list(names), relation, carry=("_part",)))
        self._stage("CREATE OR REPLACE TEMP TABLE staged AS " + staging_sql(chunk[0].record_type, branches),
                    sum(b.rows for b in chunk))

    def _tombstone_missing(self, batch: LandedBatch, key_column: str, run_id: str) -> dict[str, int]:
        """A key snapshot: every current record of this source whose source key is missing
        gets a tombstone version (a copy marked deleted, landed now, so it wins over the
        version it buries by landing order but loses to a later re-creation at the source)."""
        rt = batch.record_type
        hist = q(history_table(rt))
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW landed AS SELECT * FROM read_parquet({_lit(batch.path)})")
        params = {"source": batch.source, "batch_id": batch.batch_id, "landed_at": batch.landed_at, "run_id": run_id}
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE gone AS
                SELECT * FROM {hist} h
                WHERE h.is_current AND NOT h.deleted AND h.source_name = $source
                  AND NOT EXISTS (SELECT 1 FROM landed k WHERE CAST(k.{q(key_column)} AS VARCHAR) = h.source_key)""",
            {"source": batch.source},
        )
        keys, current, gone = self.con.execute(
            f"""SELECT (SELECT count(*) FROM landed), (SELECT count(*) FROM {hist}
                        WHERE is_current AND NOT deleted AND source_name = $source), (SELECT count(*) FROM gone)""",
            {"source": batch.source},
        ).fetchone()  # type: ignore[misc]
        if keys == 0 and current > 0:
            raise WarehouseError(
                f"the key snapshot of {batch.source} is empty while {current} of its records are current; "
                "refusing to delete them all. Check the source table and its grants, then pull again"
            )
        self.con.execute(f"UPDATE {hist} h SET is_current = false FROM gone g WHERE h.is_current AND h.record_key = g.record_key")
        cols = [f.name for f in stored_fields(rt)]
        replaced = {"batch_id": "$batch_id", "source_row": "NULL", "row_hash": "md5('deleted:' || row_hash)",
                    "landed_at": "CAST($landed_at AS TIMESTAMP)", "run_id": "$run_id"}
        select = ", ".join(replaced.get(c, q(c)) for c in cols)
        self.con.execute(
            f"INSERT INTO {hist} ({', '.join(q(c) for c in cols)}, is_current, deleted) SELECT {select}, true, true FROM gone",
            {k: v for k, v in params.items() if k != "source"},
        )
        counts = {"rows_in": keys, "rows_applied": 0, "rows_quarantined": 0, "rows_duplicate": 0, "rows_deleted": gone}
        self._ledger([(batch, counts)], "keys", run_id)
        return counts

    def _quarantine(self, parts: list[tuple[int, LandedBatch]], rel: str, run_id: str) -> None:
        prov = _provenance(parts)
        self.con.execute(
            f"""INSERT INTO quarantine
                SELECT {prov["batch_id"]}, {prov["source_name"]}, {prov["source_institution"]}, $record_type,
                       source_row, source_key, _rules[1], array_to_string(_reasons, '; '), _rules, _original, $run_id, now()
                FROM {rel} WHERE NOT _ok ORDER BY _part, source_row""",
            {"record_type": parts[0][1].record_type, "run_id": run_id},
        )
        for _, batch in parts:
            if batch.rejects_path is not None:
                self.con.execute(
                    f"""INSERT INTO quarantine
                        SELECT $batch_id, $source_name, $source_institution, $record_type, "_source_row", NULL,
                               'unparseable_row', reason, ['unparseable_row'], to_json({{'raw': raw}}), $run_id, now()
                        FROM read_parquet({_lit(batch.rejects_path)})""",
                    {"batch_id": batch.batch_id, "source_name": batch.source, "source_institution": batch.institution,
                     "record_type": batch.record_type, "run_id": run_id},
                )

    def _upsert(self, parts: list[tuple[int, LandedBatch]], rel: str, run_id: str) -> None:
        """Add the batches' new versions to history, moving ``is_current`` where one wins.

        A version wins its key by newest source update, then later landing, then later row
        (``_newer``); whichever order batches arrive in, the same version ends current. No
        key is in two of ``parts`` (``_apply_chunk``), so each batch's rows meet only history.
        History is read once, for the batches' keys only (``known``, with rowids), so a small
        batch costs one pass over the key column instead of a join against every version: the
        rowids matched first, then their rows fetched by rowid (a filter on the key alone still
        decodes every other column of every row; 50 ms against 20 for a small batch at 450k
        versions).
        """
        rt = parts[0][1].record_type
        hist = q(history_table(rt))
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE known AS
                SELECT rowid AS _rowid, record_key, row_hash, is_current, deleted, source_updated_at, landed_at, source_row
                FROM {hist} WHERE rowid IN (
                  SELECT rowid FROM {hist} WHERE record_key IN (SELECT record_key FROM {rel} WHERE _ok))"""
        )
        # narrow: which staged rows become versions, and which of those win their key. Batches
        # whose keys are all distinct (the usual pages of a table) have no exact duplicates and
        # are their own latest version per key, so they skip the dedup and the ranking.
        distinct, known = self.con.execute(
            f"SELECT count(*) = count(DISTINCT record_key), (SELECT count(*) FROM known) FROM {rel} WHERE _ok"
        ).fetchone()  # type: ignore[misc]
        first = "" if distinct else "QUALIFY row_number() OVER (PARTITION BY c._part, c.row_hash ORDER BY c.source_row) = 1"
        latest = "true" if distinct else (
            "row_number() OVER (PARTITION BY record_key ORDER BY coalesce(source_updated_at, TIMESTAMP '-infinity') DESC, "
            "source_row DESC) = 1")
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE incoming AS
                WITH fresh AS (
                  SELECT c._part, c.source_row, c.record_key, c.source_updated_at, c.deleted,
                         {_provenance(parts, "c._part")["landed_at"]} AS landed_at
                  FROM {rel} c
                  LEFT JOIN (SELECT DISTINCT record_key, row_hash FROM known) seen
                         ON seen.record_key = c.record_key AND seen.row_hash = c.row_hash
                  -- a record restored at the source with its old values comes back
                  LEFT JOIN (SELECT record_key FROM known WHERE is_current AND deleted) buried ON buried.record_key = c.record_key
                  WHERE c._ok AND (seen.record_key IS NULL OR buried.record_key IS NOT NULL) {first}
                ), ranked AS (SELECT *, {latest} AS _latest FROM fresh)
                SELECT r._part, r.source_row, r.deleted, r._latest AND (h.record_key IS NULL OR {_newer("r", "h")}) AS _wins,
                       h._rowid AS _replaces
                FROM ranked r LEFT JOIN (SELECT * FROM known WHERE is_current) h ON h.record_key = r.record_key"""
        )
        self.con.execute(
            f"UPDATE {hist} SET is_current = false WHERE rowid IN (SELECT _replaces FROM incoming WHERE _wins)"
        )
        cols = [f.name for f in stored_fields(rt)]
        prov = _provenance(parts, "s._part")
        values = [prov[c] if c in prov else "$run_id" if c == "run_id" else f"s.{q(c)}" for c in cols]
        # only new keys, each once: every valid row is a winning version, and inserting straight
        # from the staged scan (no join) lets DuckDB compress row groups in parallel
        rows = f"true, s.deleted FROM {rel} s WHERE s._ok" if distinct and not known else (
            f"i._wins, i.deleted FROM incoming i JOIN {rel} s ON s._part = i._part AND s.source_row = i.source_row")
        self.con.execute(
            f"""INSERT INTO {hist} ({", ".join(map(q, cols))}, is_current, deleted)
                SELECT {", ".join(values)}, {rows}""",
            {"run_id": run_id},
        )

    def _account(self, parts: list[tuple[int, LandedBatch]], rel: str) -> dict[int, dict[str, int]]:
        """Each batch's row accounting, by its place in the chunk."""
        rows = self.con.execute(
            f"""SELECT s._part, s.n, coalesce(i.n, 0), s.bad, coalesce(i.deleted, 0)
                FROM (SELECT _part, count(*) AS n, count(*) FILTER (WHERE NOT _ok) AS bad FROM {rel} GROUP BY 1) s
                LEFT JOIN (SELECT _part, count(*) AS n, count(*) FILTER (WHERE deleted) AS deleted FROM incoming GROUP BY 1) i
                USING (_part)"""
        ).fetchall()
        found = {part: (staged, applied, bad, deleted) for part, staged, applied, bad, deleted in rows}
        out = {}
        for n, batch in parts:
            staged, applied, bad, deleted = found.get(n, (0, 0, 0, 0))
            out[n] = {
                "rows_in": staged + batch.rejects,
                "rows_applied": applied,
                "rows_quarantined": bad + batch.rejects,
                "rows_duplicate": staged - applied - bad,
                "rows_deleted": deleted,
            }
        return out

    def _ledger(self, applied: list[tuple[LandedBatch, dict[str, int]]], kind: str, run_id: str) -> None:
        """The batches' rows in ``hub_batches``, in one statement."""
        self.con.execute(
            """INSERT INTO hub_batches SELECT unnest($batch_id), unnest($source), $record_type, unnest($origin),
               unnest($rows_in), unnest($rows_applied), unnest($rows_quarantined), unnest($rows_duplicate),
               CAST(unnest($landed_at) AS TIMESTAMP), now(), $run_id, $kind, unnest($rows_deleted)""",
            {
                "batch_id": [b.batch_id for b, _ in applied], "source": [b.source for b, _ in applied],
                "record_type": applied[0][0].record_type, "origin": [b.origin for b, _ in applied],
                "landed_at": [b.landed_at.isoformat() for b, _ in applied], "run_id": run_id, "kind": kind,
                **{k: [c[k] for _, c in applied] for k in COUNTS},
            },
        )

    def table_counts(self) -> dict[str, int]:
        names = list(RECORD_TYPES) + ["quarantine"]
        return {n: self.con.execute(f"SELECT count(*) FROM {q(n)}").fetchone()[0] for n in names}  # type: ignore[index]

    def query(self, sql: str, params: dict[str, Any] | list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        return self.con.execute(sql, params)


def _provenance(parts: list[tuple[int, LandedBatch]], part: str = "_part") -> dict[str, str]:
    """SQL for each row's batch provenance, by its ``part`` column: a constant for one batch."""
    def by_part(value: Callable[[LandedBatch], object]) -> str:
        if len(parts) == 1:
            return _lit(str(value(parts[0][1])))
        return f"CASE {part} " + " ".join(f"WHEN {n} THEN {_lit(str(value(b)))}" for n, b in parts) + " END"
    return {
        "batch_id": by_part(lambda b: b.batch_id), "source_name": by_part(lambda b: b.source),
        "source_institution": by_part(lambda b: b.institution),
        "landed_at": f"CAST({by_part(lambda b: b.landed_at.isoformat())} AS TIMESTAMP)",
    }


def _columns(batch: LandedBatch) -> list[str]:
    return pq.read_schema(batch.path).names


def _stageable(batches: list[LandedBatch]) -> Iterator[list[LandedBatch]]:
    """Runs of consecutive row batches of one record type, of at most ``STAGE_ROWS`` rows; a
    key snapshot is applied alone, between them."""
    run: list[LandedBatch] = []
    for batch in batches:
        if run and (batch.kind != "rows" or batch.record_type != run[0].record_type
                    or sum(b.rows for b in run) + batch.rows > STAGE_ROWS):
            yield run
            run = []
        if batch.kind != "rows":
            yield [batch]
            continue
        run.append(batch)
    if run:
        yield run


def _newer(a: str, b: str) -> str:
    """SQL: version ``a`` supersedes version ``b`` (update time, then landing order)."""
    ua, ub = f"coalesce({a}.source_updated_at, TIMESTAMP '-infinity')", f"coalesce({b}.source_updated_at, TIMESTAMP '-infinity')"
    return (
        f"({ua} > {ub} OR ({ua} = {ub} AND ({a}.landed_at > {b}.landed_at OR "
        f"({a}.landed_at = {b}.landed_at AND {a}.source_row > {b}.source_row))))"
    )


def _lit(text: Path | str) -> str:
    return "'" + str(text).replace("'", "''") + "'"
