"""The apply engine: landed batches into their shared table's history, bad rows into
quarantine, every batch accounted in ``hub_batches``, all in the batch's transaction.

A version wins its record key by newest source update, then later landing, then later row
(docs/domain-rules.md, "Records, keys and versions"), so whichever order batches arrive in,
the same version ends current. A key snapshot tombstones the records whose key has gone.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace

import duckdb
import pyarrow.parquet as pq

from connectors.base import SOURCE_ROW
from hub.errors import WarehouseError
from hub.normalize.staging import Branch, StagingRules, split_columns, staging_sql
from hub.normalize.tables import COUNTS
from hub.normalize.warehouse import Warehouse
from hub.pull.landing import LandedBatch
from schemas.sql import lit, q
from schemas.tables import (
    history_table,
    stored_fields,
    superseded_table,
    versions_table,
)

STAGE_ROWS = 250_000
"""Most rows staged by one statement: a few batches, enough to keep every core busy."""
LOCAL_ROWIDS = 10**18
"""Where DuckLake numbers the rows a transaction inserted, until it commits them (then they get
the table's next rowids)."""
UNOPTIMIZED_ROWS = 10_000
"""Fewer rows than this are staged without DuckDB's optimizer (``_stage``)."""


def apply(
    wh: Warehouse, batch: LandedBatch, *, mapping: dict[str, str], key_column: str,
    court_code: str | None, run_id: str, soft_delete: tuple[str, list[str]] | None = None,
) -> dict[str, int]:
    """Normalize one landed batch into its table; returns the row accounting."""
    rules = StagingRules(mapping, key_column, court_code, soft_delete)
    return next(apply_group(wh, [batch], {batch.source: rules}, run_id=run_id))[1]


def apply_group(
    wh: Warehouse, batches: list[LandedBatch], rules: Mapping[str, StagingRules], *, run_id: str,
) -> Iterator[tuple[LandedBatch, dict[str, int]]]:
    """Apply batches, from any of their sources (``rules`` by source name), in order, yielding
    each with its accounting once applied; each record type's batches together.

    Consecutive row batches are applied as one chunk (``_stageable``), in one transaction
    (unless inside ``Warehouse.transaction``): staged by one statement, then upserted,
    quarantined and accounted by one statement each for the whole chunk, each row knowing its
    batch by ``_part``, since a small batch costs DuckDB more in planning those statements
    than in running them. Where two batches of a chunk hold versions of the same record, the
    later must see the earlier's (a duplicate of it, a record it deleted), so that chunk is
    upserted batch by batch."""
    for chunk in _stageable(batches):
        if chunk[0].kind == "keys":
            try:
                with wh.transaction():
                    counts = _tombstone_missing(wh, chunk[0], rules[chunk[0].source].key_column, run_id)
            except duckdb.Error as exc:
                raise WarehouseError(f"applying key snapshot {chunk[0].batch_id[:12]} from {chunk[0].source} "
                                     f"failed: {exc}") from None
            yield chunk[0], counts
            continue
        yield from zip(chunk, _apply_chunk(wh, chunk, rules, run_id))


def _apply_chunk(wh: Warehouse, chunk: list[LandedBatch], rules: Mapping[str, StagingRules], run_id: str) -> list[dict[str, int]]:
    what = (f"batch {chunk[0].batch_id[:12]} from {chunk[0].source}" if len(chunk) == 1 else
            f"{len(chunk)} batches from {', '.join(dict.fromkeys(b.source for b in chunk))}")
    try:
        con = wh.con
        with wh.transaction():
            split, withheld, flagged = _stage_chunk(con, chunk, rules)
            parts = list(enumerate(chunk))
            disjoint = len(chunk) == 1 or con.execute(
                "SELECT count(DISTINCT record_key) = count(DISTINCT (_part, record_key)) FROM staged WHERE _ok"
            ).fetchone()[0]  # type: ignore[index]
            units = [parts] if disjoint else [[part] for part in parts]
            counts: dict[int, dict[str, int]] = {}
            for unit in units:
                rel = "staged" if len(units) == 1 else f"(SELECT * FROM staged WHERE _part = {unit[0][0]})"
                _quarantine(con, unit, rel, run_id)
                _upsert(con, unit, rel, run_id)
                if withheld:
                    _note(con, unit, rel, run_id, "_withheld", "withheld")
                if flagged:
                    _note(con, unit, rel, run_id, "_flagged", "flagged")
                counts |= _account(con, unit, rel, split=split > 0)
            ledger(wh, [(b, counts[n]) for n, b in parts], "rows", run_id)
            con.execute("DROP TABLE staged")  # a failure's goes with its rollback
    except duckdb.Error as exc:
        where = f"; check {wh.lake.storage_hint()}" if isinstance(exc, (duckdb.HTTPException, duckdb.IOException)) else ""
        raise WarehouseError(f"applying {what} failed: {exc}{where}") from None
    return [counts[n] for n in range(len(chunk))]


def _stage(con: duckdb.DuckDBPyConnection, sql: str, rows: int) -> None:
    """Run a staging statement, of fewer than ``UNOPTIMIZED_ROWS`` rows without DuckDB's
    optimizer: optimizing its expanded macros takes longer than staging a small batch, while
    a large one gains from it."""
    if rows >= UNOPTIMIZED_ROWS:
        con.execute(sql)
        return
    con.execute("PRAGMA disable_optimizer")
    con.execute(sql)  # a failure aborts the chunk's transaction, whose rollback re-enables it
    con.execute("PRAGMA enable_optimizer")


def _stage_chunk(con: duckdb.DuckDBPyConnection, chunk: list[LandedBatch],
                 rules: Mapping[str, StagingRules]) -> tuple[int, bool, bool]:
    """Stage ``chunk`` into ``staged``, each row tagged with its batch's place ``_part``: one
    branch per run of a source's batches with the same columns (read as one). Returns how
    many source rows may name several cases (staged again, once per case), and whether any
    row withholds or flags a value (else nothing is written to those tables)."""
    branches = []
    n = 0
    for (source, names), run in itertools.groupby(chunk, key=lambda b: (b.source, tuple(_columns(b)))):
        run = list(run)
        files = ", ".join(lit(b.path) for b in run)
        parts = " ".join(f"WHEN {lit(b.path)} THEN {n + i}" for i, b in enumerate(run))
        n += len(run)
        relation = (f"(SELECT *, CASE _hub_file {parts} END AS _part "
                    f"FROM read_parquet([{files}], filename = '_hub_file'))")
        branches.append(Branch(rules[source], run[0].institution, list(names), relation, carry=("_part",)))
    record_type = chunk[0].record_type
    _stage(con, "CREATE OR REPLACE TEMP TABLE staged AS " + staging_sql(record_type, branches), sum(b.rows for b in chunk))
    several = " OR ".join(map(q, split_columns(branches))) or "false"
    split, withheld, flagged = con.execute(
        f"SELECT count(*) FILTER (WHERE {several}), coalesce(bool_or(_withheld IS NOT NULL), false), "
        "coalesce(bool_or(_flagged IS NOT NULL), false) FROM staged").fetchone()  # type: ignore[misc]
    if split:
        # rows naming several cases: staged again, once per case, in place of their first case
        con.execute(f"CREATE OR REPLACE TEMP TABLE several AS SELECT _part, source_row FROM staged WHERE {several}")
        con.execute(f"DELETE FROM staged WHERE {several}")
        picked = [replace(b, relation=f"(SELECT r.* FROM {b.relation} r SEMI JOIN several s "
                                       f"ON s._part = r._part AND s.source_row = r.{q(SOURCE_ROW)})") for b in branches]
        _stage(con, "INSERT INTO staged " + staging_sql(record_type, picked, fan_out=True), split)
        con.execute("DROP TABLE several")
        flagged = True  # a split row is flagged, unless quarantined
    return split, withheld, flagged


def _tombstone_missing(wh: Warehouse, batch: LandedBatch, key_column: str, run_id: str) -> dict[str, int]:
    """A key snapshot: every current record of this source, landed before it, whose source key is missing
    gets a tombstone version (a copy marked deleted, landed now, so it wins over the
    version it buries by landing order but loses to a later re-creation at the source)."""
    con = wh.con
    rt = batch.record_type
    versions, superseded = q(versions_table(rt)), q(superseded_table(rt))
    con.execute(f"CREATE OR REPLACE TEMP VIEW landed AS SELECT * FROM read_parquet({lit(batch.path)})")
    params = {"source": batch.source, "batch_id": batch.batch_id, "landed_at": batch.landed_at, "run_id": run_id}
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE gone AS
            SELECT h.rowid AS _rowid, h.* FROM {versions} h ANTI JOIN {superseded} s ON s.version = h.rowid
            WHERE h.current_when_stored AND NOT h.deleted AND h.source_name = $source
              AND h.landed_at <= CAST($landed_at AS TIMESTAMP)  -- what landed after the snapshot was taken lives on
              AND NOT EXISTS (SELECT 1 FROM landed k WHERE CAST(k.{q(key_column)} AS VARCHAR) = h.source_key)""",
        {"source": batch.source, "landed_at": batch.landed_at},
    )
    keys, current, gone = con.execute(
        f"""SELECT (SELECT count(*) FROM landed), (SELECT count(*) FROM {q(history_table(rt))}
                    WHERE is_current AND NOT deleted AND source_name = $source), (SELECT count(*) FROM gone)""",
        {"source": batch.source},
    ).fetchone()  # type: ignore[misc]
    if keys == 0 and current > 0:
        raise WarehouseError(
            f"the key snapshot of {batch.source} is empty while {current} of its records are current; "
            "refusing to delete them all. Check the source table and its grants, then pull again"
        )
    _supersede(con, rt, f"SELECT _rowid, {lit(batch.batch_id)} AS _batch FROM gone")
    cols = [f.name for f in stored_fields(rt)]
    replaced = {"batch_id": "$batch_id", "source_row": "NULL", "row_hash": "md5('deleted:' || row_hash)",
                "landed_at": "CAST($landed_at AS TIMESTAMP)", "run_id": "$run_id"}
    select = ", ".join(replaced.get(c, q(c)) for c in cols)
    con.execute(
        f"INSERT INTO {versions} ({', '.join(q(c) for c in cols)}, current_when_stored, deleted) "
        f"SELECT {select}, true, true FROM gone",
        {k: v for k, v in params.items() if k != "source"},
    )
    counts = {"rows_in": keys, "rows_applied": 0, "rows_quarantined": 0, "rows_duplicate": 0, "rows_deleted": gone}
    ledger(wh, [(batch, counts)], "keys", run_id)
    return counts


def _supersede(con: duckdb.DuckDBPyConnection, record_type: str, rows: str) -> None:
    """The versions ``rows`` names (``_rowid``, and ``_batch``, the batch replacing each) are no
    longer current: listed in ``<type>_superseded``, their stored rows left as they are. A
    version this transaction stored itself has no lasting rowid yet (DuckLake numbers those from
    ``LOCAL_ROWIDS`` until commit): it is rewritten instead, which touches only this
    transaction's own rows."""
    versions, superseded = q(versions_table(record_type)), q(superseded_table(record_type))
    con.execute(f"INSERT INTO {superseded} SELECT _rowid, _batch, now() FROM ({rows}) WHERE _rowid < {LOCAL_ROWIDS}")
    if con.execute(f"SELECT count(*) FROM ({rows}) WHERE _rowid >= {LOCAL_ROWIDS}").fetchone()[0]:  # type: ignore[index]
        con.execute(f"UPDATE {versions} SET current_when_stored = false "
                    f"WHERE rowid IN (SELECT _rowid FROM ({rows}) WHERE _rowid >= {LOCAL_ROWIDS})")


def _quarantine(con: duckdb.DuckDBPyConnection, parts: list[tuple[int, LandedBatch]], rel: str, run_id: str) -> None:
    prov = _provenance(parts)
    con.execute(
        f"""INSERT INTO quarantine
            SELECT {prov["batch_id"]}, {prov["source_name"]}, {prov["source_institution"]}, $record_type,
                   source_row, source_key, _rules[1], array_to_string(_reasons, '; '), _rules, _original, $run_id, now()
            FROM {rel} WHERE NOT _ok AND _piece = 1 ORDER BY _part, source_row""",
        {"record_type": parts[0][1].record_type, "run_id": run_id},
    )
    for _, batch in parts:
        if batch.rejects_path is not None:
            con.execute(
                f"""INSERT INTO quarantine
                    SELECT $batch_id, $source_name, $source_institution, $record_type, "_source_row", NULL,
                           'unparseable_row', reason, ['unparseable_row'], to_json({{'raw': raw}}), $run_id, now()
                    FROM read_parquet({lit(batch.rejects_path)})""",
                {"batch_id": batch.batch_id, "source_name": batch.source, "source_institution": batch.institution,
                 "record_type": batch.record_type, "run_id": run_id},
            )


def _note(con: duckdb.DuckDBPyConnection, parts: list[tuple[int, LandedBatch]], rel: str, run_id: str,
          column: str, table: str) -> None:
    """Record, for the rows that became versions, what a kept-row rule says of a value
    (``column`` of the staged rows): ``withheld``, a value kept out of the table; ``flagged``,
    one kept as the hub changed it. Each with the rule and why, never a party ID's value."""
    prov = _provenance(parts, "s._part")
    con.execute(
        f"""INSERT INTO {q(table)}
            SELECT {prov["batch_id"]}, {prov["source_name"]}, {prov["source_institution"]}, $record_type,
                   s.source_row, s.record_key, s.w.field, s.w.rule, s.w.reason, $run_id, now()
            FROM (SELECT _part, source_row, record_key, unnest({column}) AS w FROM {rel}
                  WHERE _ok AND {column} IS NOT NULL) s
            SEMI JOIN incoming i ON i._part = s._part AND i.source_row = s.source_row AND i.record_key = s.record_key
            ORDER BY s._part, s.source_row, s.w.field""",
        {"record_type": parts[0][1].record_type, "run_id": run_id},
    )


def _upsert(con: duckdb.DuckDBPyConnection, parts: list[tuple[int, LandedBatch]], rel: str, run_id: str) -> None:
    """Add the batches' new versions to history, listing in ``<type>_superseded`` each one they replace.

    A version wins its key by newest source update, then later landing, then later row
    (``_newer``); whichever order batches arrive in, the same version ends current. No
    key is in two of ``parts`` (``_apply_chunk``), so each batch's rows meet only history.
    History is read once, for the batches' keys only (``known``, with rowids), so a small
    batch costs one pass over the history's files instead of a join against every version.
    """
    rt = parts[0][1].record_type
    versions, superseded = q(versions_table(rt)), q(superseded_table(rt))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE known AS
            SELECT v._rowid, v.record_key, v.row_hash, v.current_when_stored AND s.version IS NULL AS is_current,
                   v.deleted, v.source_updated_at, v.landed_at, v.source_row
            FROM (SELECT rowid AS _rowid, * FROM {versions} WHERE record_key IN (SELECT record_key FROM {rel} WHERE _ok)) v
            LEFT JOIN {superseded} s ON s.version = v._rowid"""
    )
    # narrow: which staged rows become versions, and which of those win their key. Batches
    # whose keys are all distinct (the usual pages of a table) have no exact duplicates and
    # are their own latest version per key, so they skip the dedup and the ranking.
    distinct, known = con.execute(
        f"SELECT count(*) = count(DISTINCT record_key), (SELECT count(*) FROM known) FROM {rel} WHERE _ok"
    ).fetchone()  # type: ignore[misc]
    first = "" if distinct else "QUALIFY row_number() OVER (PARTITION BY c._part, c.row_hash ORDER BY c.source_row) = 1"
    latest = "true" if distinct else (
        "row_number() OVER (PARTITION BY record_key ORDER BY coalesce(source_updated_at, TIMESTAMP '-infinity') DESC, "
        "source_row DESC) = 1")
    con.execute(
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
            SELECT r._part, r.source_row, r.record_key, r.deleted, r._latest AND (h.record_key IS NULL OR {_newer("r", "h")}) AS _wins,
                   h._rowid AS _replaces
            FROM ranked r LEFT JOIN (SELECT * FROM known WHERE is_current) h ON h.record_key = r.record_key"""
    )
    _supersede(con, rt, f"SELECT _replaces AS _rowid, {_provenance(parts)['batch_id']} AS _batch FROM incoming "
                        "WHERE _wins AND _replaces IS NOT NULL")
    cols = [f.name for f in stored_fields(rt)]
    prov = _provenance(parts, "s._part")
    values = [prov[c] if c in prov else "$run_id" if c == "run_id" else f"s.{q(c)}" for c in cols]
    # only new keys, each once: every valid row is a winning version, and inserting straight
    # from the staged scan (no join) lets DuckDB compress row groups in parallel
    rows = f"true, s.deleted FROM {rel} s WHERE s._ok" if distinct and not known else (
        f"i._wins, i.deleted FROM incoming i JOIN {rel} s "
        "ON s._part = i._part AND s.source_row = i.source_row AND s.record_key = i.record_key")
    con.execute(
        f"""INSERT INTO {versions} ({", ".join(map(q, cols))}, current_when_stored, deleted)
            SELECT {", ".join(values)}, {rows}""",
        {"run_id": run_id},
    )


def _account(con: duckdb.DuckDBPyConnection, parts: list[tuple[int, LandedBatch]], rel: str, *,
             split: bool) -> dict[int, dict[str, int]]:
    """Each batch's row accounting, by its place in the chunk: in source rows, a row naming
    several cases once (its cases are applied or quarantined together; counting the rows
    applied by their number, needed only when some were ``split``, costs a distinct count)."""
    applied = "count(DISTINCT source_row)" if split else "count(*)"
    rows = con.execute(
        f"""SELECT s._part, s.n, coalesce(i.n, 0), s.bad, coalesce(i.deleted, 0)
            FROM (SELECT _part, count(*) FILTER (WHERE _piece = 1) AS n, count(*) FILTER (WHERE NOT _ok AND _piece = 1) AS bad
                  FROM {rel} GROUP BY 1) s
            LEFT JOIN (SELECT _part, {applied} AS n, {applied} FILTER (WHERE deleted) AS deleted FROM incoming GROUP BY 1) i
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


def ledger(wh: Warehouse, applied: list[tuple[LandedBatch, dict[str, int]]], kind: str, run_id: str) -> None:
    """The batches' rows in ``hub_batches`` (kind ``rows``, ``keys`` or ``set_aside``), in one
    statement, and the ledger claimed: another process applying at once conflicts at commit."""
    wh.claim_ledger(run_id)
    wh.con.execute(
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


def _provenance(parts: list[tuple[int, LandedBatch]], part: str = "_part") -> dict[str, str]:
    """SQL for each row's batch provenance, by its ``part`` column: a constant for one batch."""
    def by_part(value: Callable[[LandedBatch], object]) -> str:
        if len(parts) == 1:
            return lit(str(value(parts[0][1])))
        return f"CASE {part} " + " ".join(f"WHEN {n} THEN {lit(str(value(b)))}" for n, b in parts) + " END"
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
