"""The DuckDB warehouse: shared tables, their history, quarantine and the apply ledger.

One process writes the warehouse at a time (Dagster pool ``warehouse``). Each landing batch
is applied in one transaction that also records it in ``hub_batches``, so re-running after a
crash applies nothing twice and a half-applied batch never exists.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb

from hub.errors import WarehouseError
from hub.landing import LandedBatch
from hub.normalize import q, staging_sql
from hub.receipts import DDL as RECEIPTS_DDL
from hub.views import all_views
from schemas import case_number, identifiers
from schemas.codes import code_tables
from schemas.tables import PROVENANCE, RECORD_TYPES, comments, ddl, stored_fields

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
  landed_at TIMESTAMP, applied_at TIMESTAMP, run_id VARCHAR
)"""


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
            self._create_schema()
        for stmt in case_number.duckdb_macros() + identifiers.duckdb_macros():
            self.con.execute(stmt.replace("CREATE OR REPLACE MACRO", "CREATE OR REPLACE TEMP MACRO"))
        self.con.execute(identifiers.keyed_hash_macro(hash_key))

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.con.close()

    def _create_schema(self) -> None:
        for rt in RECORD_TYPES:
            self.con.execute(ddl(rt))
            self.con.execute(ddl(rt, f"{rt}_history"))
            for stmt in comments(rt):
                self.con.execute(stmt)
        self.con.execute(QUARANTINE_DDL)
        self.con.execute(BATCHES_DDL)
        for stmt in RECEIPTS_DDL:
            self.con.execute(stmt)
        for name, table in code_tables().items():
            self.con.register("_code", table)
            self.con.execute(f"CREATE OR REPLACE TABLE {q(name)} AS SELECT * FROM _code")
            self.con.unregister("_code")
        for view in all_views():
            self.con.execute(view)

    def applied(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT batch_id FROM hub_batches").fetchall()}

    def apply(
        self, batch: LandedBatch, *, mapping: dict[str, str], key_column: str,
        court_code: str | None, run_id: str,
    ) -> dict[str, int]:
        """Normalize one landed batch into its table; returns the row accounting."""
        rt = batch.record_type
        con = self.con
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(f"CREATE OR REPLACE TEMP VIEW landed AS SELECT * FROM read_parquet({_lit(batch.path)})")
            columns = [r[0] for r in con.execute("DESCRIBE landed").fetchall()]
            con.execute(
                "CREATE OR REPLACE TEMP TABLE staged AS "
                + staging_sql(rt, mapping, key_column, columns, court_code, batch.institution, "landed")
            )
            prov = {
                "batch_id": batch.batch_id, "source_name": batch.source,
                "source_institution": batch.institution, "run_id": run_id,
            }
            self._quarantine(batch, prov)
            self._upsert(rt, batch, prov)
            counts = self._account(batch, run_id)
            con.execute("COMMIT")
            return counts
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise WarehouseError(f"applying batch {batch.batch_id[:12]} from {batch.source} failed: {exc}") from None
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _quarantine(self, batch: LandedBatch, prov: dict[str, str]) -> None:
        self.con.execute(
            """INSERT INTO quarantine
               SELECT $batch_id, $source_name, $source_institution, $record_type, source_row, source_key,
                      _rules[1], array_to_string(_reasons, '; '), _rules, original, $run_id, now()
               FROM staged WHERE len(_rules) > 0""",
            prov | {"record_type": batch.record_type},
        )
        if batch.rejects_path is not None:
            self.con.execute(
                f"""INSERT INTO quarantine
                    SELECT $batch_id, $source_name, $source_institution, $record_type, "_source_row", NULL,
                           'unparseable_row', reason, ['unparseable_row'], to_json({{'raw': raw}}), $run_id, now()
                    FROM read_parquet({_lit(batch.rejects_path)})""",
                prov | {"record_type": batch.record_type},
            )

    def _upsert(self, rt: str, batch: LandedBatch, prov: dict[str, str]) -> None:
        names = [f.name for f in stored_fields(rt)]
        data_cols = ", ".join(q(f.name) for f in stored_fields(rt) if f not in PROVENANCE)
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE incoming AS
                SELECT * EXCLUDE (_n) FROM (
                  SELECT {data_cols}, record_key, source_updated_at,
                         $source_institution AS source_institution, $source_name AS source_name,
                         source_key, $batch_id AS batch_id, source_row,
                         row_hash,
                         CAST($landed_at AS TIMESTAMP) AS landed_at, $run_id AS run_id,
                         row_number() OVER (PARTITION BY row_hash ORDER BY source_row) AS _n
                  FROM staged WHERE len(_rules) = 0
                ) c WHERE _n = 1
                  AND NOT EXISTS (SELECT 1 FROM {q(rt + '_history')} h
                                  WHERE h.record_key = c.record_key AND h.row_hash = c.row_hash)""",
            prov | {"landed_at": batch.landed_at},
        )
        cols = ", ".join(q(n) for n in names)
        self.con.execute(f"INSERT INTO {q(rt + '_history')} ({cols}) SELECT {cols} FROM incoming")
        newer = _newer("i", "t")
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE latest AS SELECT * FROM incoming i
                QUALIFY row_number() OVER (PARTITION BY record_key
                  ORDER BY coalesce(source_updated_at, TIMESTAMP '-infinity') DESC, landed_at DESC, source_row DESC) = 1"""
        )
        self.con.execute(
            f"DELETE FROM {q(rt)} t WHERE EXISTS (SELECT 1 FROM latest i WHERE i.record_key = t.record_key AND {newer})"
        )
        self.con.execute(
            f"""INSERT INTO {q(rt)} ({cols}) SELECT {cols} FROM latest i
                WHERE NOT EXISTS (SELECT 1 FROM {q(rt)} t WHERE t.record_key = i.record_key)"""
        )

    def _account(self, batch: LandedBatch, run_id: str) -> dict[str, int]:
        row = self.con.execute(
            """SELECT (SELECT count(*) FROM staged),
                      (SELECT count(*) FROM incoming),
                      (SELECT count(*) FROM staged WHERE len(_rules) > 0)"""
        ).fetchone()
        assert row is not None
        staged, applied, bad = row
        counts = {
            "rows_in": staged + batch.rejects,
            "rows_applied": applied,
            "rows_quarantined": bad + batch.rejects,
            "rows_duplicate": staged - applied - bad,
        }
        self.con.execute(
            """INSERT INTO hub_batches VALUES ($batch_id, $source, $record_type, $origin, $rows_in,
               $rows_applied, $rows_quarantined, $rows_duplicate, $landed_at, now(), $run_id)""",
            counts | {
                "batch_id": batch.batch_id, "source": batch.source, "record_type": batch.record_type,
                "origin": batch.origin, "landed_at": batch.landed_at, "run_id": run_id,
            },
        )
        return counts

    def table_counts(self) -> dict[str, int]:
        names = list(RECORD_TYPES) + ["quarantine"]
        return {n: self.con.execute(f"SELECT count(*) FROM {q(n)}").fetchone()[0] for n in names}  # type: ignore[index]

    def query(self, sql: str, params: dict[str, Any] | list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        return self.con.execute(sql, params)


def _newer(a: str, b: str) -> str:
    """SQL: version ``a`` supersedes version ``b`` (update time, then landing order)."""
    ua, ub = f"coalesce({a}.source_updated_at, TIMESTAMP '-infinity')", f"coalesce({b}.source_updated_at, TIMESTAMP '-infinity')"
    return (
        f"({ua} > {ub} OR ({ua} = {ub} AND ({a}.landed_at > {b}.landed_at OR "
        f"({a}.landed_at = {b}.landed_at AND {a}.source_row > {b}.source_row))))"
    )


def _lit(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
