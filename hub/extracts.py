"""What goes into an office's bundle: a full snapshot, or the changes since its last bundle.

The hub remembers, per office and dataset, what the office holds: each shared row's record
key and the hash of the row *as shared* (after filters and column treatments), in
``state/offices/<office>/<dataset>.parquet``. An incremental bundle carries the rows whose
shared form is new or changed (``_change`` = new / changed) and the keys it no longer
shares (withdrawn: deleted at the source, or no longer matching the agreement). The memory
is replaced only after the bundle is safely written, so a failed publish resends the same
changes next time. Each dataset also gets a receipt naming, per bundle row, the record and
the warehouse version sent (``hub.receipts`` stores them).
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from hub.agreements import select_sql
from hub.config import Agreement
from hub.normalize import lit, q


def _state_path(state_dir: Path, office: str, dataset: str) -> Path:
    return state_dir / "offices" / office / f"{dataset}.parquet"


def build(
    con: duckdb.DuckDBPyConnection, agreement: Agreement, state_dir: Path, *, full: bool
) -> tuple[dict[str, pa.Table], dict[str, pa.Table], dict[str, pa.Table]]:
    """(datasets for the bundle, what the office will hold once it has them, receipts).

    A dataset's receipt has one row per bundle row: ``bundle_row`` (1-based position in its
    Parquet file), ``change`` (snapshot / new / changed / withdrawn), ``record_key`` and
    ``row_hash`` (the warehouse version sent; NULL for a withdrawal), so every published row
    can be traced back to its source row.
    """
    datasets, holdings, receipts = {}, {}, {}
    for share in agreement.shares:
        sql, params = select_sql(share, with_key=True)
        cols = [c for c, t in share.columns.items() if t != "drop"]
        row = "to_json({" + ", ".join(f"{lit(c)}: {q(c)}" for c in cols) + "})"
        current = con.sql(
            f"""SELECT *, sha256(CAST({row} AS VARCHAR)) AS _row_hash, 'snapshot' AS _change,
                       row_number() OVER (ORDER BY record_key) AS _bundle_row
                FROM ({sql}) ORDER BY record_key""", params=params
        ).to_arrow_table()
        holdings[share.record_type] = current.select(["record_key", "_row_hash"])
        previous = _state_path(state_dir, agreement.office, share.record_type)
        if full or not previous.exists():
            datasets[share.record_type] = current.select(cols)
            receipts[share.record_type] = _receipt(current)
            continue
        con.register("_current", current)
        try:
            col_list = ", ".join(f"c.{q(c)}" for c in cols)
            nulls = ", ".join(f"NULL AS {q(c)}" for c in cols)
            out = con.sql(
                f"""SELECT row_number() OVER (ORDER BY record_key) AS _bundle_row, * FROM (
                      SELECT CASE WHEN p.record_key IS NULL THEN 'new' ELSE 'changed' END AS _change,
                             c.record_key, c._version, {col_list}
                      FROM _current c LEFT JOIN read_parquet({lit(str(previous))}) p USING (record_key)
                      WHERE p.record_key IS NULL OR p._row_hash <> c._row_hash
                      UNION ALL
                      SELECT 'withdrawn', p.record_key, NULL, {nulls}
                      FROM read_parquet({lit(str(previous))}) p ANTI JOIN _current c USING (record_key)
                    ) ORDER BY record_key"""
            ).to_arrow_table()
        finally:
            con.unregister("_current")
        shared = current.select(cols).schema
        datasets[share.record_type] = out.select(["_change", "record_key", *cols]).cast(_incremental_schema(shared))
        receipts[share.record_type] = _receipt(out)
    return datasets, holdings, receipts


def _receipt(table: pa.Table) -> pa.Table:
    return pa.table({
        "bundle_row": table.column("_bundle_row").cast(pa.int64()),
        "change": table.column("_change").cast(pa.string()),
        "record_key": table.column("record_key").cast(pa.string()),
        "row_hash": table.column("_version").cast(pa.string()),
    })


def _incremental_schema(shared: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field("_change", pa.string()), pa.field("record_key", pa.string()), *shared])


def remember(state_dir: Path, office: str, holdings: dict[str, pa.Table]) -> None:
    """Record what the office now holds (called once its bundle is written)."""
    for dataset, table in holdings.items():
        path = _state_path(state_dir, office, dataset)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
