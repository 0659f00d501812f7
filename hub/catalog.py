"""What every table in the warehouse is, column by column, in Chinese and English.

The shared tables document themselves (``schemas.tables``) and so do the marts
(``hub.marts``); this module adds the hub's own tables and views (quarantine, accounting,
receipts, links, code tables), so that ``docs/analyst-guide.md`` covers every table an analyst
can open, and a test can check that no table or column goes undocumented.
"""

from __future__ import annotations

from hub.marts import MARTS, shareable_columns
from schemas.codes import code_tables
from schemas.tables import RECORD_TYPES, VERSIONING, history_table

Doc = dict[str, tuple[str, str]]
"""column -> (Chinese, English)."""

HUB_TABLES: dict[str, tuple[str, Doc]] = {
    "quarantine": ("Rows that failed a rule: never in a shared table, never lost", {
        "batch_id": ("落地批次", "landing batch the row came in"),
        "source_name": ("来源", "source name in hub.yaml"),
        "source_institution": ("来源机构", "institution that sent the row"),
        "record_type": ("记录类型", "filing / judgment / enforcement / supervision"),
        "source_row": ("来源行号", "row or line number in the batch's origin (file line, query result row)"),
        "source_key": ("来源主键", "the row's key in its source, when it had one"),
        "rule": ("规则", "the first rule the row failed, e.g. bad_case_no"),
        "reason": ("原因", "what is wrong and with which value"),
        "rules": ("全部规则", "every rule the row failed"),
        "original": ("原始值", "the row as the source sent it (JSON)"),
        "run_id": ("运行编号", "Dagster run that applied the batch"),
        "quarantined_at": ("隔离时间", "when the row was quarantined"),
    }),
    "hub_batches": ("Row accounting per landing batch: rows_in = applied + quarantined + duplicate", {
        "batch_id": ("落地批次", "landing batch (content hash of its source and Parquet file)"),
        "source_name": ("来源", "source name in hub.yaml"),
        "record_type": ("记录类型", "shared table the batch feeds"),
        "origin": ("出处", "file and line range, or query and parameters, the batch was read from"),
        "rows_in": ("输入行数", "rows in the batch (kind keys: keys read)"),
        "rows_applied": ("入库行数", "rows that became versions in the shared table"),
        "rows_quarantined": ("隔离行数", "rows sent to quarantine"),
        "rows_duplicate": ("重复行数", "exact duplicates of a stored version, skipped"),
        "landed_at": ("落地时间", "when the batch was landed"),
        "applied_at": ("入库时间", "when the warehouse applied it"),
        "run_id": ("运行编号", "Dagster run that applied it"),
        "kind": ("批次类型", "rows (source rows) or keys (a key snapshot for hard-delete reconciliation)"),
        "rows_deleted": ("删除行数", "rows: applied rows carrying the delete flag; keys: records tombstoned"),
    }),
    "hub_batches_audited": ("Applied batches whose apply entry is in the audit log", {
        "batch_id": ("落地批次", "a batch in hub_batches; one missing here is audited by the next normalize run"),
    }),
    "hub_bundles": ("One row per published bundle and dataset: who received which file, when", {
        "office": ("接收部门", "coordination office the bundle is for"),
        "agreement": ("共享协议", "agreement id"),
        "agreement_version": ("协议版本", "agreement version"),
        "bundle_sequence": ("批次序号", "feed sequence number, monotonic per office"),
        "bundle_sha256": ("清单摘要", "sha256 of the signed manifest (manifest.dsse.json)"),
        "bundle_path": ("路径", "bundle folder in the outbox"),
        "extract": ("抽取方式", "full or incremental"),
        "published_at": ("发布时间", "when the bundle was signed (UTC)"),
        "run_id": ("运行编号", "Dagster run that published it"),
        "dataset": ("数据集", "shared table or mart table in the bundle"),
        "file": ("文件", "file under data/"),
        "file_sha256": ("文件摘要", "sha256 of the file as delivered (ciphertext when encrypted)"),
        "rows": ("行数", "rows in the file"),
    }),
    "hub_receipts": ("One row per row of a published file: which record version an office holds", {
        "office": ("接收部门", "coordination office"),
        "agreement": ("共享协议", "agreement id"),
        "bundle_sequence": ("批次序号", "feed sequence number"),
        "bundle_sha256": ("清单摘要", "sha256 of the bundle's manifest"),
        "dataset": ("数据集", "shared table or mart table"),
        "bundle_row": ("文件行号", "1-based row in the dataset's file"),
        "change": ("变更类型", "snapshot / new / changed / withdrawn"),
        "record_key": ("记录键", "record sent (a mart row: its natural key joined by |)"),
        "row_hash": ("行哈希", "version sent: row_hash in <table>_history; a mart row's MD5; NULL when withdrawn"),
    }),
    "hub_holdings": ("What each office holds after its last bundle: one row per record shared with it", {
        "office": ("接收部门", "coordination office"),
        "dataset": ("数据集", "shared table or mart table"),
        "record_key": ("记录键", "record the office holds"),
        "row_hash": ("共享形态哈希", "64-bit hash of the row as shared (after filters and treatments), to notice changes"),
    }),
    "hub_holdings_state": ("Per office and dataset: the share the holdings were computed under", {
        "office": ("接收部门", "coordination office"),
        "dataset": ("数据集", "shared table or mart table"),
        "fingerprint": ("共享指纹", "sha256 of the share's definition, hash key and DuckDB version; a change re-compares every row"),
        "remembered_at": ("记录时间", "when the holdings were last updated (UTC)"),
    }),
    "hub_holdings_batches": ("Per office and dataset: landed batches its holdings already account for", {
        "office": ("接收部门", "coordination office"),
        "dataset": ("数据集", "shared table"),
        "batch_id": ("批次", "a batch in hub_batches; records of batches not listed are read at the next bundle"),
    }),
    "hub_meta": ("The warehouse's own settings", {
        "key": ("键", "setting name, e.g. schema_version"),
        "value": ("值", "setting value"),
    }),
    "links": ("Every supervision target and enforcement basis, resolved to a court case or not, with why", {
        "record_type": ("记录类型", "supervision or enforcement"),
        "record_key": ("记录键", "the linking record"),
        "link": ("关联字段", "target_case_no or basis_doc_no"),
        "target": ("关联对象", "the case number linked to"),
        "resolved": ("已关联", "a shared case has that number"),
        "why": ("未关联原因", "why it did not resolve"),
    }),
    "code_flags": ("Values no code table knows: kept in the record, listed here", {
        "record_type": ("记录类型", "table of the record"),
        "record_key": ("记录键", "the record"),
        "column_name": ("字段", "coded column"),
        "value": ("值", "the unknown value"),
    }),
}

CODE_COLUMNS: Doc = {
    "type_code": ("类型代字", "case type code (法〔2015〕137号)"),
    "category": ("案件类别", "case category"),
    "procedure": ("审级或程序", "instance or procedure"),
    "court_code": ("法院代字", "court code"),
    "name": ("名称", "name"),
    "level": ("法院层级", "最高 / 高级 / 中级 / 基层 / 专门"),
    "tribunal_code": ("专门审判代字", "special tribunal code"),
    "label_en": ("英文含义", "English meaning of the code"),
}


def tables() -> dict[str, tuple[str, Doc]]:
    """Every table and view of the warehouse: name -> (what it is, its columns)."""
    out: dict[str, tuple[str, Doc]] = {}
    for rt in RECORD_TYPES:
        fields = shareable_columns(rt)
        out[rt] = (f"Shared {rt} table: the current version of each record (a view of {history_table(rt)})", fields)
        out[history_table(rt)] = (f"Every version of every {rt} record", fields | {f.name: (f.zh, f.en) for f in VERSIONING})
    for mart in MARTS:
        for table, columns in mart.columns.items():
            out[table] = (f"Mart {mart.name}, built from {', '.join(mart.deps)}", columns)
    out.update(HUB_TABLES)
    for name, table in code_tables().items():
        coded = table.column_names[0]
        docs = CODE_COLUMNS | ({} if coded in CODE_COLUMNS else {coded: ("代码", f"the {coded.replace('_', ' ')} as written")})
        out[name] = (f"Code table: {name.removeprefix('code_').replace('_', ' ')}", {c: docs[c] for c in table.column_names})
    return out
