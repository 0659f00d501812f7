"""The benchmark's exchange: who takes part, how their stores look, and its ``hub.yaml``.

Four courts keep their cases in PostgreSQL (two vendors' layouts: pinyin column names with
typed columns, or English names with text dates and amounts), two procuratorates drop
supervision measures as CSV on SFTP (one GBK, one UTF-8), and three offices receive signed
extracts over SFTP under incremental agreements (the justice bureau's encrypted), as in the
demo exchange (``hub.demo.exchange``) but at any size.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from connectors.sftp import host_key_line
from hub.demo.exchange import client_key_path, host_key_path
from hub.demo.generator import SUPERVISION_HEADER
from hub.home import Home
from hub.signing.crypto import generate_age_identity


@dataclass(frozen=True)
class Court:
    id: str
    name: str
    code: str
    vendor: str  # "a": pinyin columns, typed; "b": English columns, text dates and amounts
    types: tuple[tuple[str, int], ...]  # 类型代字 and weight (percent)


@dataclass(frozen=True)
class Procuratorate:
    id: str
    name: str
    prefix: str  # of document numbers: 乌检民监〔2024〕12号
    encoding: str
    header: tuple[str, ...]


COURTS = (
    Court("wh-court", "乌海市中级人民法院", "内03", "a", (("民终", 55), ("行初", 20), ("行终", 25))),
    Court("hbw-court", "乌海市海勃湾区人民法院", "内0302", "b", (("民初", 70), ("行初", 15), ("刑初", 15))),
    Court("hn-court", "乌海市海南区人民法院", "内0303", "a", (("民初", 75), ("行初", 10), ("刑初", 15))),
    Court("wd-court", "乌海市乌达区人民法院", "内0304", "b", (("民初", 70), ("行初", 10), ("刑初", 20))),
)
SUPERVISION_FIELDS = ("doc_no", "measure", "domain", "issuer", "target_case_no", "issued_date", "due_date",
                      "replied_date", "reply_result", "target_effective_date", "source_updated_at")
PROCURATORATES = (
    Procuratorate("wh-proc", "乌海市人民检察院", "乌检", "gbk", tuple(SUPERVISION_HEADER[:len(SUPERVISION_FIELDS)])),
    Procuratorate("hbw-proc", "乌海市海勃湾区人民检察院", "海检", "utf-8",
                  ("文书号", "监督类型", "领域", "发文单位", "案号", "发文日期", "答复期限", "答复日期", "答复结果",
                   "生效日期", "更新时间")),
)
MEASURES = (("再审检察建议", "民事"), ("抗诉", "民事"), ("检察建议", "行政"), ("检察建议", "执行"), ("纠正违法", "执行"))

# The courts' tables: vendor -> record type -> (table, key, cursor, [(column, PostgreSQL type, field)]).
# ``field`` is the shared-schema field the column maps to (None: the key only).
T = "TEXT"
TABLES: dict[str, dict[str, tuple[str, str, str, list[tuple[str, str, str | None]]]]] = {
    "a": {
        "filing": ("t_ajxx_la", "ajbs", "gxsj", [
            ("ajbs", T, None), ("ah", T, "case_no"), ("fymc", T, "court_name"), ("ay", T, "cause"),
            ("larq", T, "filing_date"), ("yg", T, "plaintiff"), ("bg", T, "defendant"), ("bgzjhm", T, "defendant_id"),
            ("bsxzjg", T, "defendant_agency"), ("bdje", "NUMERIC(18,2)", "claim_amount"),
            ("gxsj", "TIMESTAMP NOT NULL", "source_updated_at")]),
        "judgment": ("t_cpws", "wsbs", "gxsj", [
            ("wsbs", T, None), ("ah", T, "case_no"), ("wslx", T, "document_type"), ("cpjg", T, "outcome"),
            ("cprq", T, "decided_date"), ("sxrq", T, "effective_date"), ("bsxzjg", T, "defendant_agency"),
            ("fzrcz", T, "agency_head_appeared"), ("gxsj", "TIMESTAMP NOT NULL", "source_updated_at")]),
        "enforcement": ("t_zxaj", "zxbs", "gxsj", [
            ("zxbs", T, None), ("zxah", T, "case_no"), ("larq", T, "filing_date"), ("zxyjlx", T, "basis_type"),
            ("zxyjwh", T, "basis_doc_no"), ("sqzxr", T, "applicant"), ("bzxr", T, "respondent"),
            ("bzxrzjhm", T, "respondent_id"), ("sqbd", "NUMERIC(18,2)", "amount_due"),
            ("sjdw", "NUMERIC(18,2)", "amount_executed"), ("jafs", T, "closure_type"), ("jarq", T, "closure_date"),
            ("bgccl", T, "asset_report_order"), ("xzxfl", T, "consumption_restriction"),
            ("ccdcwb", T, "asset_search_done"), ("gxsj", "TIMESTAMP NOT NULL", "source_updated_at")]),
    },
    "b": {
        "filing": ("filings", "id", "updated_at", [
            ("id", "BIGINT", None), ("case_number", T, "case_no"), ("court", T, "court_name"),
            ("cause_of_action", T, "cause"), ("filed_on", T, "filing_date"), ("plaintiff_name", T, "plaintiff"),
            ("defendant_name", T, "defendant"), ("defendant_idno", T, "defendant_id"),
            ("defendant_agency", T, "defendant_agency"), ("claim", T, "claim_amount"),
            ("updated_at", "TEXT NOT NULL", "source_updated_at")]),
        "judgment": ("decisions", "id", "updated_at", [
            ("id", "BIGINT", None), ("case_number", T, "case_no"), ("doc_kind", T, "document_type"),
            ("result", T, "outcome"), ("decided_on", T, "decided_date"), ("effective_on", T, "effective_date"),
            ("agency", T, "defendant_agency"), ("head_in_court", "INTEGER", "agency_head_appeared"),
            ("updated_at", "TEXT NOT NULL", "source_updated_at")]),
        "enforcement": ("enforcement_cases", "id", "updated_at", [
            ("id", "BIGINT", None), ("case_number", T, "case_no"), ("filed_on", T, "filing_date"),
            ("basis_kind", T, "basis_type"), ("basis_number", T, "basis_doc_no"), ("applicant", T, "applicant"),
            ("respondent", T, "respondent"), ("respondent_idno", T, "respondent_id"), ("amount_due", T, "amount_due"),
            ("amount_paid", T, "amount_executed"), ("closed_how", T, "closure_type"), ("closed_on", T, "closure_date"),
            ("asset_report", "INTEGER", "asset_report_order"), ("consumption_ban", "INTEGER", "consumption_restriction"),
            ("asset_search", "INTEGER", "asset_search_done"), ("updated_at", "TEXT NOT NULL", "source_updated_at")]),
    },
}
COURT_TYPES = ("filing", "judgment", "enforcement")


def source_name(institution: str, record_type: str) -> str:
    return f"{institution.replace('-', '_')}_{record_type}"


def schema_name(tag: str, court: Court) -> str:
    return f"bench_{tag}_{court.id.replace('-', '_')}"


def pg_url(base: str, schema: str) -> str:
    """The court's database as the hub sees it: its schema first on the search path."""
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"


def drop_dir(home: Home, proc: Procuratorate) -> Path:
    return home.root / "sources" / "sftp" / proc.id / "outgoing"


def inbox_dir(home: Home) -> Path:
    return home.root / "sources" / "sftp" / "inbox"


def write_config(home: Home, tag: str, base_url: str, sftp_port: int, memory_limit: str | None = None,
                 warehouse: dict[str, Any] | None = None) -> None:
    """The exchange's ``hub.yaml`` (pattern: ``hub.demo.exchange``), SFTP host key pinned;
    ``warehouse``: its ``warehouse:`` section (None: none, the embedded lakehouse)."""
    sftp = {"host": "127.0.0.1", "port": sftp_port, "username": getpass.getuser(), "key_path": str(client_key_path(home)),
            "host_key": host_key_line(host_key_path(home))}
    institutions: list[dict[str, Any]] = [
        {"id": c.id, "name": c.name, "kind": "court", "court_code": c.code} for c in COURTS]
    institutions += [{"id": p.id, "name": p.name, "kind": "procuratorate"} for p in PROCURATORATES]
    institutions.append({"id": "wh-justice", "name": "乌海市司法局", "kind": "government"})
    sources: list[dict[str, Any]] = []
    for court in COURTS:
        url = pg_url(base_url, schema_name(tag, court))
        for rt in COURT_TYPES:
            table, key, cursor, columns = TABLES[court.vendor][rt]
            sources.append({
                "name": source_name(court.id, rt), "institution": court.id, "record_type": rt, "kind": "database",
                "database": {"url": url, "table": table, "cursor": cursor, "tiebreak": key},
                "key": key, "mapping": {f: c for c, _, f in columns if f},
            })
    for proc in PROCURATORATES:
        sources.append({
            "name": source_name(proc.id, "supervision"), "institution": proc.id, "record_type": "supervision",
            "kind": "sftp", "sftp": sftp | {"remote_dir": str(drop_dir(home, proc)), "pattern": "*.csv"},
            "format": {"type": "csv", "encoding": "gbk" if proc.encoding == "gbk" else "auto"},
            "key": proc.header[0], "mapping": dict(zip(SUPERVISION_FIELDS, proc.header)),
        })
    delivery = {"kind": "sftp", "sftp": sftp | {"remote_dir": str(inbox_dir(home))}}
    identity = home.root / "sources" / "offices" / "wh-justice-office.agekey"
    recipient = generate_age_identity(identity) if not identity.exists() else identity.read_text().split("public key: ")[1].split()[0]
    offices = [
        {"id": "wh-court-spo", "name": "乌海市中级人民法院审判管理办公室", "institution": "wh-court", "delivery": delivery},
        {"id": "wh-proc-zhyw", "name": "乌海市人民检察院综合业务部", "institution": "wh-proc", "delivery": delivery},
        {"id": "wh-justice-office", "name": "乌海市司法局综合办公室", "institution": "wh-justice", "delivery": delivery,
         "recipients": [recipient]},
    ]
    clear = "clear"
    agreements = [
        {"id": "FJXZ-2024-01", "office": "wh-court-spo", "mode": "incremental", "shares": [{
            "record_type": "supervision",
            "where": [{"column": "target_court_code", "op": "in", "value": [c.code for c in COURTS]}],
            "columns": dict.fromkeys(["doc_no", "measure", "domain", "issuer", "target_case_no", "issued_date",
                                      "due_date", "replied_date", "reply_result", "target_effective_date"], clear)}]},
        {"id": "FJXZ-2024-02", "office": "wh-proc-zhyw", "mode": "incremental", "shares": [
            {"record_type": "filing", "columns": {
                "case_no": clear, "court_code": clear, "case_category": clear, "cause": clear, "filing_date": clear,
                "plaintiff": "mask", "defendant": "mask", "defendant_id_masked": clear, "claim_amount": clear}},
            {"record_type": "judgment", "columns": dict.fromkeys(
                ["case_no", "court_code", "case_category", "document_type", "outcome", "decided_date",
                 "effective_date"], clear)},
            {"record_type": "enforcement", "columns": {
                "case_no": clear, "court_code": clear, "filing_date": clear, "basis_type": clear, "basis_doc_no": clear,
                "respondent": "mask", "respondent_id_hash": clear, "amount_due": clear, "amount_executed": clear,
                "closure_type": clear, "closure_date": clear}}]},
        {"id": "FYLD-2024-01", "office": "wh-justice-office", "mode": "incremental", "shares": [
            {"record_type": "filing", "where": [{"column": "case_category", "op": "eq", "value": "行政"}],
             "columns": dict.fromkeys(["case_no", "court_code", "cause", "filing_date", "defendant_agency"], clear)},
            {"record_type": "judgment", "where": [{"column": "case_category", "op": "eq", "value": "行政"}],
             "columns": dict.fromkeys(["case_no", "court_code", "document_type", "outcome", "decided_date",
                                       "effective_date", "defendant_agency", "agency_head_appeared"], clear)}]},
    ]
    hub: dict[str, Any] = {"name": f"乌海 benchmark exchange ({tag})"}
    if memory_limit:
        hub["duckdb_memory_limit"] = memory_limit
    config: dict[str, Any] = {"version": 1, "hub": hub, "institutions": institutions,
                              "sources": sources, "offices": offices, "agreements": agreements}
    if warehouse is not None:
        config["warehouse"] = warehouse
    header = "# hub.yaml written by benchmarks.generate: four courts (PostgreSQL), two procuratorates (SFTP CSV)\n"
    home.config.write_text(header + yaml.safe_dump(config, allow_unicode=True, sort_keys=False, width=120),
                           encoding="utf-8")
