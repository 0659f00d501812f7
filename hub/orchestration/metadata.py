"""Materialization metadata the Dagster UI shows: row counts, column schemas, landing batch
ids and column lineage (``dagster/row_count``, ``dagster/column_schema``,
``dagster/column_lineage``), built from the same facts trace and OpenLineage use."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from hub import marts
from hub.config import Agreement, HubConfig
from hub.home import Home
from hub.normalize.warehouse import Warehouse
from hub.observe.column_lineage import extract_inputs, normalized_inputs
from hub.orchestration.keys import landing_key
from hub.publish.bundle import PublishedBundle
from hub.pull.landing import landed_batches
from schemas.marts import shareable_columns
from schemas.sql import q
from schemas.tables import RECORD_TYPES, stored_fields


def _schema(columns: list[tuple[str, str, str | None]]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, type_, description) for name, type_, description in columns])


def _arrow_columns(schema: pa.Schema) -> list[tuple[str, str, str | None]]:
    return [(f.name, str(f.type), None) for f in schema]


def landing(home: Home, source: str, batch_ids: list[str]) -> dict[str, Any]:
    """A source's landing: every batch it holds, the columns of the newest one."""
    batches = landed_batches(home.landing, [source])
    meta: dict[str, Any] = {
        "dagster/row_count": sum(b.rows + b.rejects for b in batches),
        "landing_batches_total": len(batches),
        "landing_batch_ids": dg.MetadataValue.json(batch_ids),
    }
    if batches:
        meta["dagster/column_schema"] = _schema(_arrow_columns(pq.read_schema(batches[-1].path)))
    return meta


def normalized(config: HubConfig, wh: Warehouse, record_type: str, rows: int, run_id: str) -> dict[str, Any]:
    """A shared table: documented columns, the landed columns each comes from, this run's batches."""
    lineage = dg.TableColumnLineage(deps_by_column={
        column: [dg.TableColumnDep(asset_key=landing_key(i.source), column_name=i.column) for i in inputs]
        for column, inputs in normalized_inputs(config, record_type).items()
    })
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": _schema([(f.name, f.type, f"{f.zh} / {f.en}") for f in stored_fields(record_type)]),
        "dagster/column_lineage": lineage,
        "landing_batch_ids": dg.MetadataValue.json(_batches(wh, run_id, record_type)),
    }


def quarantine(wh: Warehouse, rows: int, run_id: str) -> dict[str, Any]:
    columns = [(name, type_, None) for name, type_, *_ in wh.query("DESCRIBE quarantine").fetchall()]
    batch_ids = [r[0] for r in wh.query(
        "SELECT DISTINCT batch_id FROM quarantine WHERE run_id = ? ORDER BY 1", [run_id]).fetchall()]
    return {"dagster/row_count": rows, "dagster/column_schema": _schema(columns),
            "landing_batch_ids": dg.MetadataValue.json(batch_ids)}


def _batches(wh: Warehouse, run_id: str, record_type: str) -> list[str]:
    return [r[0] for r in wh.query(
        "SELECT batch_id FROM hub_batches WHERE run_id = ? AND record_type = ? ORDER BY landed_at, batch_id",
        [run_id, record_type]).fetchall()]


def extract(agreement: Agreement, wh: Warehouse, bundle: PublishedBundle) -> dict[str, Any]:
    """A bundle: columns as ``<dataset>.<column>``, each traced to its shared-table column, and
    the landing batches its row versions came from (through ``hub_receipts``)."""
    columns: list[tuple[str, str, str | None]] = []
    for share in agreement.shares:  # from the agreement, since encrypted files cannot be read here
        docs = shareable_columns(share.record_type)
        types = dict(wh.query("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ?",
                              [share.record_type]).fetchall())
        if agreement.mode == "incremental":
            columns += [(f"{share.record_type}._change", "VARCHAR", "new / changed / withdrawn (incremental bundles)"),
                        (f"{share.record_type}.record_key", "VARCHAR", "record key")]
        for column, treatment in share.columns.items():
            if treatment != "drop":
                zh, en = docs[column]
                columns.append((f"{share.record_type}.{column}", types[column] if treatment == "clear" else "VARCHAR",
                                f"{treatment}: {zh} / {en}"))
    deps = {
        f"{dataset}.{column}": [dg.TableColumnDep(asset_key=dg.AssetKey(marts.asset_of(i.source)), column_name=i.column)]
        for dataset, cols in extract_inputs(agreement).items() for column, i in cols.items()
    }
    batch_ids: list[str] = []
    for dataset in (d for d in bundle.rows if d in RECORD_TYPES):  # mart rows have no landing batch of their own
        batch_ids += [r[0] for r in wh.query(
            f"""SELECT DISTINCT h.batch_id FROM hub_receipts r
                JOIN {q(dataset + '_history')} h USING (record_key, row_hash)
                WHERE r.bundle_sha256 = ? AND r.dataset = ? ORDER BY 1""",
            [bundle.manifest_sha256, dataset]).fetchall()]
    return {
        "dagster/row_count": sum(bundle.rows.values()),
        "dagster/column_schema": _schema(columns),
        "dagster/column_lineage": dg.TableColumnLineage(deps_by_column=deps),
        "landing_batch_ids": dg.MetadataValue.json(sorted(set(batch_ids))),
    }
