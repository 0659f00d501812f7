"""Reconcile a database source with every key it holds now (``reconcile_every_hours``).

A cursor never sees a row committed with an update time behind its lookback (a long
transaction, a clock-skewed writer, a back-dated correction). So that often the source's keys
are read; the keys nothing this source landed accounts for are fetched by key and landed as
rows, the watermark left where it is; then the keys land as a snapshot, whose applying
tombstones the records whose key has gone (hard deletes). Only landing is read, never the
warehouse (one writer, and pulls run in other processes).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from connectors.base import Batch
from hub.config import DatabaseSource
from hub.errors import LandingError
from hub.lake.extensions import connect
from hub.observe.run import RunContext
from hub.pull.landing import LandedBatch, StateFile, land, landed_batches
from hub.pull.sources import sql_source
from schemas.sql import lit_list, q

log = logging.getLogger(__name__)


@dataclass
class Reconciled:
    """What a reconcile found: keys at the source that nothing this source landed accounts for,
    and the rows of those fetched (a key deleted before its fetch has none)."""

    missed: int = 0
    fetched: int = 0


def reconcile_if_due(
    run: RunContext, src: DatabaseSource, state: StateFile, landed: Callable[[LandedBatch], None],
) -> Reconciled | None:
    """When the last reconcile is more than ``reconcile_every_hours`` old: land the rows of the
    keys this source missed, then a snapshot of every key, each batch handed to ``landed`` once
    landed and audited; None when not due."""
    hours = src.database.reconcile_every_hours
    now = dt.datetime.now(dt.UTC)
    last = state.data.get("reconciled_at")
    if hours is None or (last and now - dt.datetime.fromisoformat(last) < dt.timedelta(hours=hours)):
        return None
    done = Reconciled()
    source = sql_source(run.home, src)
    try:
        keys = source.keys(src.key)
        missed = missed_keys(run.home.landing, src.name, keys)
        done.missed = missed.num_rows
        for batch in source.rows_by_keys(missed) if missed.num_rows else ():
            # salted with the reconcile's time: rows fetched before (then buried by a snapshot) land anew
            landed(_land(run, src, batch, salt=now.isoformat(), watermark=None))
            done.fetched += batch.table.num_rows
    finally:
        source.close()
    if done.missed:
        log.warning("%s: %d key(s) at the source had never landed (committed behind the cursor); fetched by "
                    "key and landed: %d row(s)", src.name, done.missed, done.fetched)
    # the snapshot time makes each snapshot's content, hence its batch id, unique
    keys = keys.append_column("_hub_snapshot_at", pa.array([now.isoformat()] * keys.num_rows, pa.string()))
    snapshot = Batch(src.name, keys, origin=f"{src.name}: key snapshot", details={"taken_at": now.isoformat()})
    landed(_land(run, src, snapshot, kind="keys", missed_keys=done.missed, fetched=done.fetched))
    state.data["reconciled_at"] = now.isoformat()
    state.save()
    return done


def _land(run: RunContext, src: DatabaseSource, batch: Batch, *, kind: str = "rows", salt: str = "",
          **audited: object) -> LandedBatch:
    """``batch`` landed and its ``land`` entry audited, as every landing is."""
    landed = land(batch, run.home.landing, record_type=src.record_type, institution=src.institution,
                  run_id=run.run_id, kind=kind, salt=salt)
    run.record("land", subject=src.name, batch_id=landed.batch_id, origin=landed.origin, kind=kind,
               rows=landed.rows, rejects=landed.rejects, **audited)
    return landed


def missed_keys(landing_dir: Path, source: str, keys: pa.Table) -> pa.Table:
    """The rows of ``keys`` (the source's keys now, one column named as the key) that nothing
    ``source`` landed accounts for: in no batch of rows, or only in batches landed before the
    previous key snapshot, which lacked them (so applying it buried their record, and a row
    back at the source with an old update time is missed again).

    Keys compare as text, as applying a snapshot compares them; DuckDB reads only the key
    column of every landed batch, in bulk: the cost of a reconcile, paid only when one is due."""
    key = q(keys.column_names[0])
    batches = landed_batches(landing_dir, [source])
    snapshots = [b for b in batches if b.kind == "keys"]
    previous = snapshots[-1] if snapshots else None
    rows = [b for b in batches if b.kind == "rows"]
    since = [b.path for b in rows if previous is None or b.landed_at > previous.landed_at]
    before = [b.path for b in rows if previous is not None and b.landed_at <= previous.landed_at]

    def landed(paths: list[Path]) -> str:
        return (f"SELECT CAST({key} AS VARCHAR) AS k FROM read_parquet({lit_list(map(str, paths))}, union_by_name = true)"
                if paths else "SELECT NULL::VARCHAR AS k WHERE false")

    kept = (f"SELECT CAST({key} AS VARCHAR) AS k FROM read_parquet({lit_list([str(previous.path)])})"
            if previous is not None else "SELECT NULL::VARCHAR AS k WHERE false")
    try:
        with connect() as con:
            con.register("source_keys", keys)
            return con.sql(
                f"""WITH now AS (SELECT *, CAST({key} AS VARCHAR) AS _k FROM source_keys),
                         accounted AS ({landed(since)} UNION ALL ({landed(before)} INTERSECT {kept}))
                    SELECT * EXCLUDE (_k) FROM now
                    WHERE _k IS NOT NULL  -- a row without a key cannot be fetched by it
                      AND NOT EXISTS (SELECT 1 FROM accounted a WHERE a.k = now._k)
                    ORDER BY _k"""
            ).to_arrow_table()
    except duckdb.Error as exc:
        raise LandingError(f"{source}: reading the key column {keys.column_names[0]} of its landed batches "
                           f"failed: {exc}") from None
