"""Lakehouse upkeep: frequent incremental runs leave many small data files and many snapshots;
this compacts the files, expires snapshots past the retention and deletes the files no snapshot
needs any more, with DuckLake's own maintenance functions.

Compaction rewrites files, never rows: every snapshot still kept reads exactly what it did,
so a bundle's snapshot rebuilds the same bundle until it is expired.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import duckdb

from hub.errors import WarehouseError
from hub.lake.location import NAME, Lake
from schemas.sql import lit, q

ORPHAN_GRACE = dt.timedelta(days=1)
"""A data file the catalog does not know is deleted only once this old: a writer in another
process writes its files before it commits them."""
DELETED_GRACE = dt.timedelta(hours=1)
"""A file no kept snapshot needs is deleted only once this long unneeded: a reader that began
on an older snapshot may still be reading it."""


@dataclass(frozen=True)
class Upkept:
    files_compacted: int  # small data files merged into fewer
    files_rewritten: int  # files holding mostly deleted rows, rewritten without them
    snapshots_expired: int
    files_deleted: int  # files no kept snapshot needs, deleted from storage
    orphans_deleted: int  # files the catalog never committed (a crashed writer's)
    snapshots_kept: int
    data_files: int

    def details(self) -> dict[str, Any]:
        return asdict(self)


def upkeep(con: duckdb.DuckDBPyConnection, lake: Lake, *, expire_before: dt.datetime, now: dt.datetime,
           deleted_grace: dt.timedelta = DELETED_GRACE, orphan_grace: dt.timedelta = ORPHAN_GRACE) -> Upkept:
    """Compact ``lake``, expire snapshots made before ``expire_before`` (the latest is always
    kept), delete what nothing needs; on the writer's connection (the warehouse pool)."""
    def call(sql: str) -> list[tuple[Any, ...]]:
        try:
            return con.execute(sql).fetchall()
        except duckdb.Error as exc:
            raise WarehouseError(f"lakehouse upkeep failed at {sql.split('(')[0]}: {exc}") from None

    def ts(t: dt.datetime) -> str:
        return f"TIMESTAMPTZ {lit(t.astimezone(dt.UTC).isoformat())}"

    merged = call(f"CALL ducklake_merge_adjacent_files({lit(NAME)})")
    rewritten = call(f"CALL ducklake_rewrite_data_files({lit(NAME)})")
    # by id, chosen here: given a time, DuckLake 1.5.5 on a SQLite catalog compares it as text in
    # another format than it stores, and expires every snapshot of that day
    ids = [r[0] for r in call(f"""SELECT snapshot_id FROM {NAME}.snapshots() WHERE snapshot_time < {ts(expire_before)}
                                  AND snapshot_id < (SELECT max(snapshot_id) FROM {NAME}.snapshots()) ORDER BY 1""")]
    expired = call(f"CALL ducklake_expire_snapshots({lit(NAME)}, versions => {ids})") if ids else []
    deleted = call(f"CALL ducklake_cleanup_old_files({lit(NAME)}, "
                   f"older_than => {ts(_unneeded_before(now - deleted_grace, lake))})")
    orphans = call(f"CALL ducklake_delete_orphaned_files({lit(NAME)}, older_than => {ts(now - orphan_grace)})")
    kept = call(f"SELECT count(*) FROM {NAME}.snapshots()")[0][0]
    # the catalog's own table of data files (in its schema, if hub.yaml names one): the current snapshot's have no end
    where = f"__ducklake_metadata_{NAME}" + (f".{q(lake.catalog_schema)}" if lake.catalog_schema else "")
    files = call(f"SELECT count(*) FROM {where}.ducklake_data_file WHERE end_snapshot IS NULL")[0][0]
    return Upkept(sum(r[2] for r in merged), sum(r[2] for r in rewritten), len(expired), len(deleted), len(orphans),
                  kept, files)


def _unneeded_before(bound: dt.datetime, lake: Lake) -> dt.datetime:
    """The time before which files scheduled for deletion are deleted. A SQLite catalog stores
    the schedule as text ``YYYY-MM-DD hh:mm:ss+00`` and DuckLake 1.5.5 compares it with the bound
    rendered ``YYYY-MM-DDThh:mm:ss+00``, so every file of the bound's day would go at once;
    there, the bound is the end of the previous day (UTC: the DuckDB the hub ships has no time
    zones), which compares right as text and as time: files wait their grace and at most a day more."""
    if lake.sqlite_file is None:
        return bound
    day = bound.astimezone(dt.UTC).date()
    return dt.datetime.combine(day, dt.time.min, dt.UTC) - dt.timedelta(microseconds=1)
