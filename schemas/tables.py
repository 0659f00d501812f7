"""The four shared schemas, defined once: Arrow types, DuckDB DDL and bilingual field docs.

Every institution maps its own column names onto these fields (``hub.yaml`` ``mapping``).
Fields marked ``source=True`` may be mapped from a source column; the rest are derived by
normalization (canonical case-number parts, masked and hashed identifiers) or are provenance.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from schemas.sql import comment_on, lit, q

SCHEMA_VERSION = 3
"""Raised only for a change that is not additive (a field added is added to an earlier
warehouse's tables when it is opened). 2: ``<type>`` is a view of the current versions in
``<type>_history`` (SCD2 flags). 3: the versions are stored in ``<type>_versions`` and never rewritten: a version replaced later is
listed in ``<type>_superseded``, and ``<type>_history`` is the view that says which is current."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # DuckDB type
    zh: str
    en: str
    source: bool = True  # may be mapped from a source column
    required: bool = False  # a row without it is quarantined
    unless: str | None = None  # required, except in a row that has this field
    personal: bool = False  # stored only as keyed hash + masked form


# --- provenance, on every normalized row -------------------------------------------------
PROVENANCE = (
    Field("record_key", "VARCHAR", "记录键", "record key: one current row per key", source=False),
    Field("source_institution", "VARCHAR", "来源机构", "institution the row came from", source=False),
    Field("source_name", "VARCHAR", "来源", "source name in hub.yaml", source=False),
    Field("source_key", "VARCHAR", "来源主键", "the row's key in its source", source=False),
    Field("batch_id", "VARCHAR", "落地批次", "landing batch (content hash)", source=False),
    Field("source_row", "BIGINT", "来源行号", "row or line number in the batch's origin", source=False),
    Field("row_hash", "VARCHAR", "行哈希", "md5 of the source row's values: change detection, exact duplicates", source=False),
    Field("landed_at", "TIMESTAMP", "落地时间", "when the batch landed; orders versions with equal update times", source=False),
    Field("run_id", "VARCHAR", "运行编号", "Dagster run that applied the row", source=False),
    Field("source_updated_at", "TIMESTAMP", "来源更新时间", "when the source last changed the row"),
)

_CASE_PARTS = (
    Field("case_no", "VARCHAR", "案号", "canonical case number", required=True),
    Field("case_no_raw", "VARCHAR", "原始案号", "case number as the source wrote it", source=False),
    Field("case_year", "INTEGER", "收案年度", "year in the case number", source=False),
    Field("court_code", "VARCHAR", "法院代字", "court code in the case number", source=False),
    Field("case_type_code", "VARCHAR", "类型代字", "case type code in the case number", source=False),
    Field("case_category", "VARCHAR", "案件类别", "民事/刑事/行政/执行/…, from the type code", source=False),
)

FILING = _CASE_PARTS + (
    Field("court_name", "VARCHAR", "法院名称", "court that accepted the case"),
    Field("cause", "VARCHAR", "案由", "cause of action"),
    Field("filing_date", "DATE", "立案日期", "date the case was accepted", required=True),
    Field("plaintiff", "VARCHAR", "原告/申请人", "plaintiff or applicant"),
    Field("defendant", "VARCHAR", "被告/被申请人", "defendant or respondent"),
    Field("defendant_id", "VARCHAR", "被告证件号", "defendant's ID or credit code", personal=True),
    Field("defendant_agency", "VARCHAR", "被诉行政机关", "defendant agency in an administrative case"),
    Field("claim_amount", "DECIMAL(18,2)", "诉讼标的额", "amount claimed, yuan"),
    Field("original_case_no", "VARCHAR", "原审案号",
          "the case this one appeals, reviews or retries (行初 of a 行终, 民终 of a 民申 or 民再), canonical when a case number"),
    Field("juvenile", "BOOLEAN", "涉未成年人案件", "the case involves a minor (as the court's system marks it)"),
    Field("public_interest", "BOOLEAN", "公益诉讼案件", "a public-interest suit (as the court's system marks it)"),
)

JUDGMENT = _CASE_PARTS + (
    Field("document_type", "VARCHAR", "文书类型", "判决/裁定/调解/决定"),
    Field("outcome", "VARCHAR", "裁判结果", "outcome of the decision"),
    Field("decided_date", "DATE", "裁判日期", "date decided", required=True),
    Field("effective_date", "DATE", "生效日期", "date the decision took legal effect"),
    Field("defendant_agency", "VARCHAR", "被诉行政机关", "defendant agency in an administrative case"),
    Field("agency_head_appeared", "BOOLEAN", "负责人出庭", "agency head appeared in court"),
    Field("loss_reason", "VARCHAR", "败诉原因",
          "why the agency lost an administrative case: 主要证据不足, 适用法律法规错误, 违反法定程序, 超越职权, 滥用职权, "
          "明显不当, 不履行法定职责"),
)

ENFORCEMENT = _CASE_PARTS + (
    Field("filing_date", "DATE", "立案日期", "date the enforcement case was filed", required=True),
    Field("basis_type", "VARCHAR", "执行依据类型", "judgment/arbitration award/notarized debt/administrative decision"),
    Field("basis_doc_no", "VARCHAR", "执行依据文号", "document enforced, canonical when a case number"),
    Field("applicant", "VARCHAR", "申请执行人", "applicant"),
    Field("respondent", "VARCHAR", "被执行人", "respondent"),
    Field("respondent_id", "VARCHAR", "被执行人证件号", "respondent's ID or credit code", personal=True),
    Field("amount_due", "DECIMAL(18,2)", "申请执行标的", "amount to enforce, yuan"),
    Field("amount_executed", "DECIMAL(18,2)", "实际执行到位", "amount executed, yuan"),
    Field("closure_type", "VARCHAR", "结案方式", "执行完毕/终结本次执行程序/终结/不予执行/…"),
    Field("closure_date", "DATE", "结案日期", "date closed"),
    Field("asset_report_order", "BOOLEAN", "报告财产令", "order to report assets issued"),
    Field("consumption_restriction", "BOOLEAN", "限制消费令", "consumption-restriction order issued"),
    Field("asset_search_done", "BOOLEAN", "财产调查完毕", "asset search (网络查控 etc.) exhausted"),
    Field("last_asset_query_date", "DATE", "最近财产查询日期",
          "the latest query of the respondent's assets (网络查控), after 终本 too, where the court records it"),
)

SUPERVISION = (
    Field("doc_no", "VARCHAR", "文书编号", "procuratorate document number, as issued", required=True),
    Field("measure", "VARCHAR", "监督方式", "抗诉/再审检察建议/检察建议/纠正违法/司法建议", required=True),
    Field("domain", "VARCHAR", "监督领域", "民事/行政/刑事/执行"),
    Field("issuer", "VARCHAR", "发出机关", "institution that issued the measure"),
    Field("target_court_code", "VARCHAR", "监督对象法院代字", "court code of the target institution", source=False),
    Field("target_case_no", "VARCHAR", "被监督案号", "canonical case number of the target case (required unless the "
          "measure is addressed to an agency)", required=True, unless="target_agency"),
    Field("target_case_no_raw", "VARCHAR", "原始被监督案号", "target case number as written", source=False),
    Field("issued_date", "DATE", "发出日期", "date issued", required=True),
    Field("due_date", "DATE", "回复期限", "reply deadline"),
    Field("replied_date", "DATE", "回复日期", "date the reply was received"),
    Field("reply_result", "VARCHAR", "回复结果", "采纳/部分采纳/不采纳"),
    Field("target_effective_date", "DATE", "原裁判生效日期", "effective date of the targeted ruling"),
    Field("target_agency", "VARCHAR", "建议对象机关",
          "administrative agency (or other unit) the measure is addressed to: a procuratorial or judicial "
          "recommendation to an agency; NULL for a measure aimed at a court"),
    Field("extended_due_date", "DATE", "延期回复期限",
          "reply deadline as extended when the target could not answer in time and the parties agreed a later one"),
    Field("follow_up_of", "VARCHAR", "跟进监督原文书",
          "doc_no of the earlier measure this one follows up (跟进监督: the measure was rejected or left unanswered; "
          "often issued by the procuratorate above)"),
    Field("focus", "VARCHAR", "监督事项",
          "what the measure is about, in the agreement's words: 应立案而不立案, 超标的执行, 滥用终本, 消极执行, 虚假仲裁, …"),
)

AGENCY_DECISION = (
    Field("doc_no", "VARCHAR", "决定书文号", "number of the decision document, as issued", required=True),
    Field("agency", "VARCHAR", "作出机关", "administrative agency that made the decision"),
    Field("decision_type", "VARCHAR", "决定类型", "行政处罚/行政强制/行政征收/行政许可/行政确认/其他"),
    Field("cause", "VARCHAR", "违法行为", "the conduct or matter decided on"),
    Field("party", "VARCHAR", "当事人", "person or organization the decision is addressed to"),
    Field("party_id", "VARCHAR", "当事人证件号", "party's ID or credit code", personal=True),
    Field("decided_date", "DATE", "决定日期", "date decided", required=True),
    Field("served_date", "DATE", "送达日期", "date served on the party"),
    Field("amount", "DECIMAL(18,2)", "罚没金额", "fine, confiscation or levy imposed, yuan"),
    Field("performance", "VARCHAR", "履行情况", "已履行/部分履行/未履行"),
    Field("court_applied_date", "DATE", "申请强制执行日期",
          "date the agency applied to a court to enforce the decision (非诉执行)"),
    Field("court_case_no", "VARCHAR", "法院受理案号",
          "the court's case number for that application (行审), canonical when a case number"),
)
"""An administrative agency's law-enforcement decision, shared by the agency or the government's
platform: what a 行审 application enforces, and what an administrative case may contest."""

REFERRAL = (
    Field("doc_no", "VARCHAR", "移送函号", "number of the referral letter, as issued", required=True),
    Field("clue_type", "VARCHAR", "线索类型", "虚假诉讼/拒不执行判决裁定/刑事犯罪/职务违法/其他"),
    Field("sender", "VARCHAR", "移送单位", "institution that referred the clue"),
    Field("recipient", "VARCHAR", "接收单位", "institution the clue was referred to (a procuratorate, police, "
          "a supervisory commission, a court)", required=True),
    Field("related_case_no", "VARCHAR", "关联案号", "the case the clue came from, canonical when a court case number"),
    Field("referred_date", "DATE", "移送日期", "date referred", required=True),
    Field("due_date", "DATE", "反馈期限", "date by which the recipient is to report back, when one was set"),
    Field("feedback_date", "DATE", "反馈日期", "date the recipient reported how it handled the clue"),
    Field("feedback_result", "VARCHAR", "处理结果", "立案/不予立案/已处理/移送其他机关/正在核查"),
)
"""A clue referred to another institution (线索移送: false litigation, refusal to execute, crimes,
misconduct) and the feedback on how it was handled, as the referring institution records them."""

TABLES: dict[str, tuple[Field, ...]] = {
    "filing": FILING,
    "judgment": JUDGMENT,
    "enforcement": ENFORCEMENT,
    "supervision": SUPERVISION,
    "agency_decision": AGENCY_DECISION,
    "referral": REFERRAL,
}
"""Record type -> its fields (without provenance)."""

RECORD_KEYS: dict[str, str] = {
    "filing": "case_no", "judgment": "case_no", "enforcement": "case_no",
    "supervision": "doc_no", "agency_decision": "doc_no", "referral": "doc_no",
}
"""The field each record type is known by: a case number, or a document number (unique only
per issuing institution, so its record key is the institution's id, ``/``, and the number)."""

RECORD_TYPES = tuple(TABLES)

_ARROW = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "BOOLEAN": pa.bool_(),
    "DECIMAL(18,2)": pa.decimal128(18, 2),
}


def stored_fields(record_type: str) -> tuple[Field, ...]:
    """Columns of a normalized table as stored: personal fields become ``_hash``/``_masked``."""
    out: list[Field] = []
    for f in TABLES[record_type]:
        if f.personal:
            out.append(Field(f"{f.name}_hash", "VARCHAR", f"{f.zh}(密钥哈希)", f"keyed hash of {f.en}", False))
            out.append(Field(f"{f.name}_masked", "VARCHAR", f"{f.zh}(掩码)", f"masked {f.en}", False))
        else:
            out.append(f)
    return tuple(out) + PROVENANCE


def source_fields(record_type: str) -> dict[str, Field]:
    """Fields a source may map for this record type (provenance ``source_updated_at`` too)."""
    fields = [f for f in TABLES[record_type] + PROVENANCE if f.source]
    return {f.name: f for f in fields}


def arrow_schema(record_type: str) -> pa.Schema:
    return pa.schema([pa.field(f.name, _ARROW[f.type]) for f in stored_fields(record_type)])


VERSIONING = (
    Field("is_current", "BOOLEAN", "当前版本", "this version is the record's current one (newest source update, then landing)", source=False),
    Field("deleted", "BOOLEAN", "已删除", "tombstone: the source deleted the record (delete flag, or key gone at reconciliation)", source=False),
)
"""On ``<type>_history``: every version is stored once; ``<type>`` shows the current,
undeleted ones. One write per version, and replay order cannot change which one is current."""

STORED_VERSIONING = (
    Field("current_when_stored", "BOOLEAN", "存入时为当前版本",
          "the version was the record's current one when stored (it is current until listed in <type>_superseded)",
          source=False),
    VERSIONING[1],
)
"""On ``<type>_versions``, written once with the version: whether it won its key as it arrived.
Whether it is current *now* is that, and not being listed in ``<type>_superseded``."""

SUPERSEDED = (
    Field("version", "BIGINT", "被取代版本", "rowid in <type>_versions of the version no longer current", source=False),
    Field("batch_id", "VARCHAR", "取代批次", "landing batch whose version (or tombstone) replaced it", source=False),
    Field("superseded_at", "TIMESTAMP", "取代时间", "when the warehouse applied the replacement", source=False),
)


def history_table(record_type: str) -> str:
    """The view of every version with whether it is current: what readers and analysts query."""
    return f"{record_type}_history"


def versions_table(record_type: str) -> str:
    """Where versions are stored, each written once and never rewritten."""
    return f"{record_type}_versions"


def superseded_table(record_type: str) -> str:
    """The stored versions replaced since they were stored, by rowid: appended, never rewritten."""
    return f"{record_type}_superseded"


def stored_tables(record_type: str) -> dict[str, tuple[Field, ...]]:
    """The tables a type is stored in, with their columns: its versions and its superseded list."""
    return {versions_table(record_type): stored_fields(record_type) + STORED_VERSIONING,
            superseded_table(record_type): SUPERSEDED}


def ddl(record_type: str) -> list[str]:
    """CREATE TABLE for a type's stored versions and its superseded list."""
    return [f"CREATE TABLE IF NOT EXISTS {q(name)} (\n  " + ",\n  ".join(f"{q(f.name)} {f.type}" for f in fields) + "\n)"
            for name, fields in stored_tables(record_type).items()]


def view_ddl(record_type: str) -> list[str]:
    """The history view (every version, ``is_current`` worked out), and the shared table analysts
    and agreements read: the current, undeleted version per key."""
    cols = ", ".join(f"v.{q(f.name)}" for f in stored_fields(record_type))
    versions, superseded = q(versions_table(record_type)), q(superseded_table(record_type))
    return [
        f"CREATE OR REPLACE VIEW {q(history_table(record_type))} AS SELECT {cols}, "
        f"v.current_when_stored AND s.version IS NULL AS is_current, v.deleted "
        f"FROM {versions} v LEFT JOIN {superseded} s ON s.version = v.rowid",
        f"CREATE OR REPLACE VIEW {q(record_type)} AS SELECT {cols} FROM {versions} v "
        f"ANTI JOIN {superseded} s ON s.version = v.rowid WHERE v.current_when_stored AND NOT v.deleted",
    ]


def comments(record_type: str) -> list[str]:
    """COMMENT ON statements (Chinese / English) for the views and the tables' columns, so
    analysts see the docs in DuckDB itself (a lakehouse keeps no comments on a view's columns:
    the views' are the versions table's)."""
    versions, superseded = versions_table(record_type), superseded_table(record_type)
    return [
        f"COMMENT ON VIEW {q(record_type)} IS "
        f"{lit(f'{record_type}: the current version of each record; columns as in {versions}')}",
        f"COMMENT ON VIEW {q(history_table(record_type))} IS "
        f"{lit(f'{record_type}: every version of each record (SCD2), is_current worked out; columns as in {versions}')}",
        *comment_on(versions, f"{record_type}: every version of each record, stored once",
                    {f.name: (f.zh, f.en) for f in stored_fields(record_type) + STORED_VERSIONING}),
        *comment_on(superseded, f"{record_type}: the stored versions a later one replaced",
                    {f.name: (f.zh, f.en) for f in SUPERSEDED}),
    ]
