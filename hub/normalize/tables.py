"""The hub's own tables in the warehouse, each declared once: its columns with their types and
Chinese and English meanings, from which both its DDL and its documentation are made.

The shared tables are declared in ``schemas.tables``, the marts' in ``schemas.marts``; these
are the hub's bookkeeping: quarantine, the apply ledger, what was published to whom.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.lake.location import NAME as LAKE
from schemas.sql import comment_on, lit, q


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    zh: str
    en: str


@dataclass(frozen=True)
class HubTable:
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()  # one row per key: kept by the hub's writes (a lakehouse enforces no keys)
    # rows deleted while another connection of the process reads the table at an older snapshot
    # (an office's extract, built beside another office's commit): none kept in the catalog
    uninlined: bool = False

    def ddl(self, name: str) -> str:
        cols = [f"{q(c.name)} {c.type}" for c in self.columns]
        return f"CREATE TABLE IF NOT EXISTS {q(name)} (\n  " + ",\n  ".join(cols) + "\n)"

    def options(self, name: str) -> list[str]:
        """Its lakehouse options, set once the table is committed (DuckLake sets none on a table
        its own transaction made). DuckLake 1.5.5 keeps a table's inlined deletions known to the
        whole instance: a read at a snapshot from before its first ones, made after two commits
        of them, looks for their catalog table and fails ("Failed to read inlined file
        deletions"); as files they are read at any snapshot."""
        if not self.uninlined:
            return []
        return [f"CALL {LAKE}.set_option('data_inlining_row_limit', 0, table_name => {lit(name)})"]

    def comments(self, name: str) -> list[str]:
        """COMMENT ON the table and each column (Chinese / English), so DuckDB itself shows the docs."""
        key = f" (one row per {', '.join(self.key)})" if self.key else ""
        return comment_on(name, self.description + key, self.docs())

    def docs(self) -> dict[str, tuple[str, str]]:
        """column -> (Chinese, English)."""
        return {c.name: (c.zh, c.en) for c in self.columns}


ROW_ORIGIN = (
    Column("batch_id", "VARCHAR", "落地批次", 'landing batch the row came in'),
    Column("source_name", "VARCHAR", "来源", 'source name in hub.yaml'),
    Column("source_institution", "VARCHAR", "来源机构", 'institution that sent the row'),
)
"""Where a source row came from: the first columns of the tables that hold rows (quarantined, withheld, flagged)."""


def _kept_row_notes(description: str, field: Column, rule: Column, reason: Column, at: Column) -> HubTable:
    """A table of what rules said of single values in kept rows (``withheld``, ``flagged``)."""
    return HubTable(description, (
        *ROW_ORIGIN,
        Column("record_type", "VARCHAR", "记录类型", 'shared table that holds the row'),
        Column("source_row", "BIGINT", "来源行号", "row or line number in the batch's origin"),
        Column("record_key", "VARCHAR", "记录键", "the kept record's key (its case or document number)"),
        field, rule, reason,
        Column("run_id", "VARCHAR", "运行编号", 'run that applied the batch'),
        at,
    ))


HUB_TABLES: dict[str, HubTable] = {
    "quarantine": HubTable(
        "Rows that failed a rule: never in a shared table, never lost",
        (
            *ROW_ORIGIN,
            Column("record_type", "VARCHAR", "记录类型", 'filing / judgment / enforcement / supervision'),
            Column("source_row", "BIGINT", "来源行号", "row or line number in the batch's origin (file line, query result row)"),
            Column("source_key", "VARCHAR", "来源主键", "the row's key in its source, when it had one"),
            Column("rule", "VARCHAR", "规则", 'the first rule the row failed, e.g. bad_case_no'),
            Column("reason", "VARCHAR", "原因", 'what is wrong and with which value'),
            Column("rules", "VARCHAR[]", "全部规则", 'every rule the row failed'),
            Column("original", "JSON", "原始值", 'the row as the source sent it (JSON)'),
            Column("run_id", "VARCHAR", "运行编号", 'Dagster run that applied the batch'),
            Column("quarantined_at", "TIMESTAMP", "隔离时间", 'when the row was quarantined'),
        ),
    ),
    "withheld": _kept_row_notes(
        "Values withheld from rows that were kept: an invalid party ID is stored neither in clear nor hashed, "
        "an unreadable yes/no flag or amount is stored empty, while its case is applied",
        Column("field", "VARCHAR", "字段", 'the field withheld: defendant_id, respondent_id or party_id (its _hash and '
               '_masked are NULL), or an optional flag or amount (NULL)'),
        Column("rule", "VARCHAR", "规则", 'the rule the value failed: bad_<field>'),
        Column("reason", "VARCHAR", "原因", "what is wrong with the value (a party ID's never holds the value itself)"),
        Column("withheld_at", "TIMESTAMP", "扣留时间", 'when the row was applied without the value'),
    ),
    "flagged": _kept_row_notes(
        "Values the hub changed on the way in, in rows that were kept: a 15-digit resident ID stored in its "
        "18-digit form, a case number field naming several cases",
        Column("field", "VARCHAR", "字段", 'the field changed: defendant_id, respondent_id or party_id (its _hash and '
               "_masked are of the 18-digit form), case_no (one record per case) or target_case_no (the first case kept)"),
        Column("rule", "VARCHAR", "规则", 'converted_<ID field> (converted_defendant_id, converted_respondent_id, '
               'converted_party_id), split_case_no or split_target_case_no'),
        Column("reason", "VARCHAR", "原因", 'what was done to the value (an ID never quoted; the case numbers named)'),
        Column("flagged_at", "TIMESTAMP", "标记时间", 'when the row was applied with the changed value'),
    ),
    "hub_batches": HubTable(
        "Row accounting per landing batch: rows_in = applied + quarantined + duplicate",
        (
            Column("batch_id", "VARCHAR", "落地批次", 'landing batch (content hash of its source and Parquet file)'),
            Column("source_name", "VARCHAR", "来源", 'source name in hub.yaml'),
            Column("record_type", "VARCHAR", "记录类型", 'shared table the batch feeds'),
            Column("origin", "VARCHAR", "出处", 'file and line range, or query and parameters, the batch was read from'),
            Column("rows_in", "BIGINT", "输入行数", 'rows in the batch (kind keys: keys read); a row naming several cases is one row'),
            Column("rows_applied", "BIGINT", "入库行数", 'rows that became versions in the shared table'),
            Column("rows_quarantined", "BIGINT", "隔离行数", 'rows sent to quarantine'),
            Column("rows_duplicate", "BIGINT", "重复行数", 'exact duplicates of a stored version, skipped'),
            Column("landed_at", "TIMESTAMP", "落地时间", 'when the batch was landed'),
            Column("applied_at", "TIMESTAMP", "入库时间", 'when the warehouse applied it'),
            Column("run_id", "VARCHAR", "运行编号", 'Dagster run that applied it'),
            Column("kind", "VARCHAR", "批次类型", 'rows (source rows), keys (a key snapshot for hard-delete reconciliation) or set_aside (could not be staged: nothing applied, hub_set_aside says why)'),
            Column("rows_deleted", "BIGINT", "删除行数", 'rows: applied rows carrying the delete flag; keys: records tombstoned'),
        ),
        key=('batch_id',),
    ),
    "hub_batches_audited": HubTable(
        "Applied batches whose apply entry is in the audit log",
        (
            Column("batch_id", "VARCHAR", "落地批次", 'a batch in hub_batches; one missing here is audited by the next normalize run'),
        ),
        key=('batch_id',),
    ),
    "hub_bundles": HubTable(
        "One row per published bundle and dataset: who received which file, when",
        (
            Column("office", "VARCHAR", "接收部门", 'coordination office the bundle is for'),
            Column("agreement", "VARCHAR", "共享协议", 'agreement id'),
            Column("agreement_version", "INTEGER", "协议版本", 'agreement version'),
            Column("bundle_sequence", "INTEGER", "批次序号", 'feed sequence number, monotonic per office'),
            Column("bundle_sha256", "VARCHAR", "清单摘要", 'sha256 of the signed manifest (manifest.dsse.json)'),
            Column("bundle_path", "VARCHAR", "路径", 'bundle folder in the outbox'),
            Column("extract", "VARCHAR", "抽取方式", 'full or incremental'),
            Column("published_at", "TIMESTAMP", "发布时间", 'when the bundle was signed (UTC)'),
            Column("run_id", "VARCHAR", "运行编号", 'Dagster run that published it'),
            Column("dataset", "VARCHAR", "数据集", 'shared table or mart table in the bundle'),
            Column("file", "VARCHAR", "文件", 'file under data/'),
            Column("file_sha256", "VARCHAR", "文件摘要", 'sha256 of the file as delivered (ciphertext when encrypted)'),
            Column("rows", "BIGINT", "行数", 'rows in the file'),
            Column("plain_sha256", "VARCHAR", "明文摘要", 'sha256 of the Parquet file before encryption (file_sha256 when not encrypted): what hub audit reproduce compares'),
            Column("lakehouse_snapshot", "BIGINT", "湖仓快照", 'warehouse snapshot the bundle was built from (hub sql --snapshot)'),
        ),
        key=('bundle_sha256', 'dataset'),
    ),
    "hub_receipts": HubTable(
        "One row per row of a published file: which record version an office holds",
        (
            Column("office", "VARCHAR", "接收部门", 'coordination office'),
            Column("agreement", "VARCHAR", "共享协议", 'agreement id'),
            Column("bundle_sequence", "INTEGER", "批次序号", 'feed sequence number'),
            Column("bundle_sha256", "VARCHAR", "清单摘要", "sha256 of the bundle's manifest"),
            Column("dataset", "VARCHAR", "数据集", 'shared table or mart table'),
            Column("bundle_row", "BIGINT", "文件行号", "1-based row in the dataset's file"),
            Column("change", "VARCHAR", "变更类型", 'snapshot / new / changed / withdrawn'),
            Column("record_key", "VARCHAR", "记录键", 'record sent (a mart row: its natural key joined by |)'),
            Column("row_hash", "VARCHAR", "行哈希", "version sent: row_hash in <table>_history; a mart row's MD5; NULL when withdrawn"),
        ),
    ),
    "hub_acknowledgements": HubTable(
        "One row per bundle an office signed for: its own Ed25519 signature that it applied the bundle",
        (
            Column("office", "VARCHAR", "接收部门", 'coordination office that signed'),
            Column("bundle_sequence", "INTEGER", "批次序号", 'feed sequence number of the bundle applied'),
            Column("bundle_sha256", "VARCHAR", "清单摘要", "sha256 of the bundle's manifest, as in hub_bundles"),
            Column("extract", "VARCHAR", "抽取方式", 'full or incremental, as the office applied it'),
            Column("rows", "VARCHAR", "应用行数", 'JSON: rows of each dataset file the office applied'),
            Column("applied_at", "TIMESTAMP", "应用时间", "when the office applied it, by the office's clock (UTC)"),
            Column("keyid", "VARCHAR", "签名密钥", "sha256 of the office's public key that signed"),
            Column("envelope_sha256", "VARCHAR", "回执摘要", 'sha256 of the signed acknowledgement, kept under acknowledgements/<office>/'),
            Column("audit_checkpoint_seq", "BIGINT", "见证检查点", "the hub audit checkpoint the office had last witnessed (its log position)"),
            Column("collected_at", "TIMESTAMP", "收取时间", 'when the hub took it in (UTC)'),
        ),
        key=('office', 'bundle_sequence'),
    ),
    "hub_holdings": HubTable(
        "What each office holds after its last bundle: one row per record shared with it",
        (
            Column("office", "VARCHAR", "接收部门", 'coordination office'),
            Column("dataset", "VARCHAR", "数据集", 'shared table or mart table'),
            Column("record_key", "VARCHAR", "记录键", 'record the office holds'),
            Column("row_hash", "UBIGINT", "共享形态哈希", '64-bit hash of the row as shared (after filters and treatments), to notice changes'),
        ),
        uninlined=True,
    ),
    "hub_holdings_state": HubTable(
        "Per office and dataset: the share the holdings were computed under",
        (
            Column("office", "VARCHAR", "接收部门", 'coordination office'),
            Column("dataset", "VARCHAR", "数据集", 'shared table or mart table'),
            Column("fingerprint", "VARCHAR", "共享指纹", "sha256 of the share's definition, hash key and DuckDB version; a change re-compares every row"),
            Column("remembered_at", "TIMESTAMP", "记录时间", 'when the holdings were last updated (UTC)'),
        ),
        key=('office', 'dataset'),
        uninlined=True,
    ),
    "hub_holdings_batches": HubTable(
        "Per office and dataset: landed batches its holdings already account for",
        (
            Column("office", "VARCHAR", "接收部门", 'coordination office'),
            Column("dataset", "VARCHAR", "数据集", 'shared table'),
            Column("batch_id", "VARCHAR", "批次", 'a batch in hub_batches; records of batches not listed are read at the next bundle'),
        ),
        uninlined=True,
    ),
    "hub_set_aside": HubTable(
        "Landed batches that could not be staged (unreadable, or lacking columns hub.yaml maps): set aside whole, with why",
        (
            Column("batch_id", "VARCHAR", "落地批次", "the batch, in hub_batches with kind set_aside"),
            Column("source_name", "VARCHAR", "来源", "source name in hub.yaml"),
            Column("record_type", "VARCHAR", "记录类型", "shared table the batch feeds"),
            Column("origin", "VARCHAR", "出处", "file or query the batch was read from"),
            Column("rows", "BIGINT", "行数", "rows in the batch, none applied"),
            Column("reason", "VARCHAR", "原因", "why it could not be staged, and what to fix"),
            Column("set_aside_at", "TIMESTAMP", "搁置时间", "when the warehouse set it aside"),
            Column("run_id", "VARCHAR", "运行编号", "run that set it aside"),
            Column("dropped_at", "TIMESTAMP", "放弃时间", "when an operator gave it up for good (hub batches drop); NULL while it waits"),
            Column("drop_reason", "VARCHAR", "放弃原因", "why the operator gave it up"),
        ),
        key=('batch_id',),
    ),
    "hub_meta": HubTable(
        "The warehouse's own settings",
        (
            Column("key", "VARCHAR", "键", 'setting name, e.g. schema_version'),
            Column("value", "VARCHAR", "值", 'setting value'),
        ),
        key=('key',),
    ),
}
"""Every table the hub keeps besides the shared tables and marts, created with the warehouse."""

COUNTS = ("rows_in", "rows_applied", "rows_quarantined", "rows_duplicate", "rows_deleted")
"""A batch's row accounting: the counts an apply returns and ``hub_batches`` keeps. Kind
``rows``: rows_in = applied + quarantined + duplicate, rows_deleted of the applied carry the
source's delete flag. Kind ``keys`` (a key snapshot): rows_in keys read, rows_deleted records
tombstoned because their key was gone."""


def ddl() -> list[str]:
    return [table.ddl(name) for name, table in HUB_TABLES.items()]


def options() -> list[str]:
    return [stmt for name, table in HUB_TABLES.items() for stmt in table.options(name)]


def comments() -> list[str]:
    return [stmt for name, table in HUB_TABLES.items() for stmt in table.comments(name)]
