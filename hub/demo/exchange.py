"""Lay out a demo home: institutions' stores, SFTP keys, and a ``hub.yaml`` that wires them.

The generated ``hub.yaml`` doubles as the worked example of how to point the hub at real
institutions: swap the SQLite URLs for the courts' database URLs and the SFTP block for the
procuratorate's server.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from connectors.sftp import host_key_line
from hub.demo.generator import (
    DemoData,
    write_agency_platform,
    write_court_a,
    write_court_b,
    write_supervision_drops,
)
from hub.errors import connector_errors
from hub.home import Home
from hub.signing.crypto import generate_age_identity, generate_ssh_key

SFTP_USER = "wh-proc"
DROP_DIR = "outgoing"

CONFIG = """\
# hub.yaml — the demo exchange of 乌海 (Wuhai): two courts, one procuratorate, one justice bureau.
# Every key is validated on load; secrets are never written here, only the names of
# environment variables that hold them (password_env, passphrase_env, hash_key_env).
version: 1
hub:
  name: 乌海市法检府数据交换枢纽（演示）
  hash_key_env: HUB_HASH_KEY      # key for hashing personal identifiers; falls back to private/hash.key
  bundle_ttl_days: 30

marts:  # the marts' thresholds (docs/domain-rules.md, "Marts"); reply deadlines etc. keep their defaults
  # residents served, for administrative cases per 10,000 residents (mart_admin_litigation_year);
  # one figure (here the 2020 census) or one per year: {{2023: 556900, 2024: 558000}}
  population: 556621
  # class-case consistency (mart_class_divergence): flag groups of 5+ decisions where fewer than
  # 65 % go the most common way (a claim upheld in whole or in part is one way)
  class_case_divergence_threshold: 0.35
  class_case_min_cases: 5

institutions:
  - {{id: wh-court,   name: 乌海市中级人民法院,     kind: court, court_code: 内03}}
  - {{id: hbw-court,  name: 乌海市海勃湾区人民法院, kind: court, court_code: 内0302}}
  - {{id: wh-proc,    name: 乌海市人民检察院,       kind: procuratorate}}
  - {{id: wh-justice, name: 乌海市司法局,           kind: government}}
  - {{id: wh-gov,     name: 乌海市人民政府,         kind: government}}

sources:
  # 乌海中院: case-management database, pinyin column names
  - name: wh_court_filing
    institution: wh-court
    record_type: filing
    kind: database
    # once a day every key is read: rows the cursor missed (committed behind it) are fetched by key,
    # records gone from the court are tombstoned (hard deletes)
    database: {{url: "sqlite:///sources/wh-court.sqlite", table: t_ajxx_la, cursor: gxsj, reconcile_every_hours: 24}}
    key: ajbs
    mapping: {{case_no: ah, court_name: fymc, cause: ay, filing_date: larq, plaintiff: yg, defendant: bg,
              defendant_id: bgzjhm, defendant_agency: bsxzjg, claim_amount: bdje, source_updated_at: gxsj,
              original_case_no: ysah, juvenile: wcnr, public_interest: gyss}}
  - name: wh_court_judgment
    institution: wh-court
    record_type: judgment
    kind: database
    database: {{url: "sqlite:///sources/wh-court.sqlite", table: t_cpws, cursor: gxsj}}
    key: wsbs
    mapping: {{case_no: ah, document_type: wslx, outcome: cpjg, decided_date: cprq, effective_date: sxrq,
              defendant_agency: bsxzjg, agency_head_appeared: fzrcz, loss_reason: bsyy, source_updated_at: gxsj}}
  - name: wh_court_enforcement
    institution: wh-court
    record_type: enforcement
    kind: database
    database: {{url: "sqlite:///sources/wh-court.sqlite", table: t_zxaj, cursor: gxsj}}
    key: zxbs
    mapping: {{case_no: zxah, filing_date: larq, basis_type: zxyjlx, basis_doc_no: zxyjwh, applicant: sqzxr,
              respondent: bzxr, respondent_id: bzxrzjhm, amount_due: sqbd, amount_executed: sjdw,
              closure_type: jafs, closure_date: jarq, asset_report_order: bgccl,
              consumption_restriction: xzxfl, asset_search_done: ccdcwb, last_asset_query_date: zjcxrq,
              source_updated_at: gxsj}}
  - name: wh_court_referral
    institution: wh-court
    record_type: referral
    kind: database
    database: {{url: "sqlite:///sources/wh-court.sqlite", table: t_xsys, cursor: gxsj}}
    key: ysbs
    mapping: {{doc_no: yshh, clue_type: xslx, recipient: jsdw, related_case_no: glah, referred_date: ysrq,
              due_date: fkqx, feedback_date: fkrq, feedback_result: cljg, source_updated_at: gxsj}}
  # the court's judicial recommendations (司法建议) to agencies: measures like the procuratorate's
  - name: wh_court_recommendation
    institution: wh-court
    record_type: supervision
    kind: database
    database: {{url: "sqlite:///sources/wh-court.sqlite", table: t_sfjy, cursor: gxsj}}
    key: jybs
    mapping: {{doc_no: jywh, measure: jylx, domain: ly, issuer: fcdw, target_case_no: ah, target_agency: dxjg,
              issued_date: fcrq, due_date: hfqx, replied_date: hfrq, reply_result: hfjg, source_updated_at: gxsj}}
  # 海勃湾区法院: another vendor's system, English column names
  - name: hbw_court_filing
    institution: hbw-court
    record_type: filing
    kind: database
    database: {{url: "sqlite:///sources/hbw-court.sqlite", table: filings, cursor: updated_at, tiebreak: id}}
    key: id
    mapping: {{case_no: case_number, court_name: court, cause: cause_of_action, filing_date: filed_on,
              plaintiff: plaintiff_name, defendant: defendant_name, defendant_id: defendant_idno,
              defendant_agency: defendant_agency, claim_amount: claim, source_updated_at: updated_at}}
    # this system never removes a filing, it flags it: flagged rows leave the shared table
    soft_delete: {{column: is_deleted, values: ["1"]}}
  - name: hbw_court_judgment
    institution: hbw-court
    record_type: judgment
    kind: database
    database: {{url: "sqlite:///sources/hbw-court.sqlite", table: decisions, cursor: updated_at, tiebreak: id}}
    key: id
    mapping: {{case_no: case_number, document_type: doc_kind, outcome: result, decided_date: decided_on,
              effective_date: effective_on, defendant_agency: agency, agency_head_appeared: head_in_court,
              source_updated_at: updated_at}}
  - name: hbw_court_enforcement
    institution: hbw-court
    record_type: enforcement
    kind: database
    database: {{url: "sqlite:///sources/hbw-court.sqlite", table: enforcement_cases, cursor: updated_at, tiebreak: id}}
    key: id
    mapping: {{case_no: case_number, filing_date: filed_on, basis_type: basis_kind, basis_doc_no: basis_number,
              applicant: applicant, respondent: respondent, respondent_id: respondent_idno,
              amount_due: amount_due, amount_executed: amount_paid, closure_type: closed_how,
              closure_date: closed_on, asset_report_order: asset_report, consumption_restriction: consumption_ban,
              asset_search_done: asset_search, source_updated_at: updated_at}}
  # 乌海市人民检察院: GBK CSV files dropped on SFTP, Chinese column names
  - name: wh_proc_supervision
    institution: wh-proc
    record_type: supervision
    kind: sftp
    cadence: "*/15 * * * *"
    sftp:
      host: 127.0.0.1
      port: {port}
      username: {user}
      key_path: private/sftp_client_ed25519     # 0600; passphrase (if any) from passphrase_env
      host_key: "{host_key}"
      remote_dir: {drop}
      pattern: "*.csv"
    format: {{type: csv, encoding: gbk}}
    key: 文书编号
    mapping: {{doc_no: 文书编号, measure: 监督方式, domain: 监督领域, issuer: 发出单位, target_case_no: 被监督案号,
              issued_date: 发出日期, due_date: 回复期限, replied_date: 回复日期, reply_result: 回复结果,
              target_effective_date: 原裁判生效日期, source_updated_at: 更新时间,
              # recommendations to agencies name the agency instead of a court case
              target_agency: 建议对象机关, extended_due_date: 延期回复期限, follow_up_of: 跟进原文书, focus: 监督事项}}

  # 乌海市行政执法信息平台 (the government's data-sharing platform): the agencies' law-enforcement decisions
  - name: wh_gov_decisions
    institution: wh-gov
    record_type: agency_decision
    kind: database
    database: {{url: "sqlite:///sources/wh-gov.sqlite", table: xzzf_jd, cursor: gxsj, tiebreak: id}}
    key: id
    mapping: {{doc_no: jdswh, agency: zcjg, decision_type: jdlx, cause: wfxw, party: dsr, party_id: dsrzjhm,
              decided_date: jdrq, served_date: sdrq, amount: fmje, performance: lxqk, court_applied_date: sqzxrq,
              court_case_no: fyah, source_updated_at: gxsj}}

offices:
  # the court's office also receives its bundles on an SFTP inbox (here: the demo server's inbox/)
  - id: wh-court-spo
    name: 乌海市中级人民法院审判管理办公室
    institution: wh-court
    delivery:
      kind: sftp
      sftp: {{host: 127.0.0.1, port: {port}, username: {user}, key_path: private/sftp_client_ed25519,
             host_key: "{host_key}", remote_dir: inbox}}
  - {{id: wh-proc-zhyw,  name: 乌海市人民检察院综合业务部,       institution: wh-proc}}
  # the justice bureau receives its data encrypted: age -d -i sources/offices/wh-justice-office.agekey
  - {{id: wh-justice-office, name: 乌海市司法局综合办公室,       institution: wh-justice,
     recipients: ["{justice_recipient}"]}}

agreements:
  # 法检协作: the intermediate court's office receives the supervision measures aimed at it (its cases,
  # not an agency: its own judicial recommendations name one), settlement notices among them
  - id: FJXZ-2024-01
    version: 1
    office: wh-court-spo
    shares:
      - record_type: supervision
        where: [{{column: target_court_code, op: in, value: [内03]}}, {{column: target_agency, op: is_null}}]
        columns: {{doc_no: clear, measure: clear, domain: clear, issuer: clear, target_case_no: clear,
                  issued_date: clear, due_date: clear, replied_date: clear, reply_result: clear,
                  target_effective_date: clear}}
      # a mart is shared like a table: the office's own reply deadlines and what is overdue
      - record_type: mart_replies
        where: [{{column: target_court_code, op: in, value: [内03]}}, {{column: target_agency, op: is_null}}]
        columns: {{doc_no: clear, measure: clear, target_case_no: clear, issued_date: clear, due_date: clear,
                  due_date_from: clear, replied_date: clear, status: clear, days_overdue: clear, as_of: clear}}
  # 法检协作: the procuratorate receives filings, decisions and enforcement; parties masked;
  # and what became of its protests (mart_protest_outcomes);
  # after the first full snapshot only changes (new/changed/withdrawn), a full one every 7th bundle
  - id: FJXZ-2024-02
    version: 1
    office: wh-proc-zhyw
    mode: incremental
    full_every: 7
    cadence: "0 7 * * *"
    shares:
      - record_type: filing
        columns: {{case_no: clear, court_code: clear, case_category: clear, cause: clear, filing_date: clear,
                  plaintiff: mask, defendant: mask, defendant_id_masked: clear, claim_amount: clear,
                  original_case_no: clear, juvenile: clear, public_interest: clear}}
      - record_type: judgment
        columns: {{case_no: clear, court_code: clear, case_category: clear, document_type: clear,
                  outcome: clear, decided_date: clear, effective_date: clear}}
      - record_type: enforcement
        columns: {{case_no: clear, court_code: clear, filing_date: clear, basis_type: clear, basis_doc_no: clear,
                  respondent: mask, respondent_id_hash: clear, amount_due: clear, amount_executed: clear,
                  closure_type: clear, closure_date: clear}}
      - record_type: mart_protest_outcomes
        columns: {{doc_no: clear, measure: clear, target_case_no: clear, issued_date: clear, protest_case_no: clear,
                  retrial_case_no: clear, retrial_decided_date: clear, retrial_outcome: clear, result: clear,
                  as_of: clear}}
      # the clues the court referred, and their feedback status: false litigation and refusal to execute
      # even when referred to the police (the procuratorate is told at the same time), crimes referred to it
      - record_type: mart_referrals
        where: [{{column: clue_type, op: in, value: [虚假诉讼, 拒不执行判决裁定, 刑事犯罪]}}]
        columns: {{doc_no: clear, clue_type: clear, recipient: clear, related_case_no: clear, referred_date: clear,
                  due_date: clear, feedback_date: clear, feedback_result: clear, status: clear,
                  days_waiting: clear, as_of: clear}}
      # and the agencies' law-enforcement decisions the government platform opens to it; parties masked
      - record_type: agency_decision
        columns: {{doc_no: clear, agency: clear, decision_type: clear, cause: clear, party: mask,
                  party_id_hash: clear, decided_date: clear, amount: clear, performance: clear,
                  court_applied_date: clear, court_case_no: clear}}
  # 府院联动: the justice bureau receives administrative cases only, for the annual white paper, and
  # the recommendations addressed to agencies, which it files and supervises until they are answered
  - id: FYLD-2024-01
    version: 1
    office: wh-justice-office
    shares:
      - record_type: supervision
        where: [{{column: target_agency, op: not_null}}]
        columns: {{doc_no: clear, measure: clear, domain: clear, issuer: clear, target_agency: clear,
                  issued_date: clear, due_date: clear, extended_due_date: clear, replied_date: clear,
                  reply_result: clear, follow_up_of: clear}}
      - record_type: mart_replies
        where: [{{column: target_agency, op: not_null}}]
        columns: {{doc_no: clear, measure: clear, target_agency: clear, issued_date: clear, due_date: clear,
                  due_date_from: clear, replied_date: clear, reply_result: clear, status: clear,
                  days_overdue: clear, as_of: clear}}
      - record_type: mart_agency_recommendations
        columns: {{target_agency: clear, measure: clear, issued: clear, replied: clear, replied_on_time: clear,
                  replied_late: clear, pending: clear, overdue: clear, extended: clear, adopted: clear,
                  partly_adopted: clear, not_adopted: clear, adoption_rate: clear, as_of: clear}}
      - record_type: filing
        where: [{{column: case_category, op: eq, value: 行政}}]
        columns: {{case_no: clear, court_code: clear, cause: clear, filing_date: clear, defendant_agency: clear}}
      - record_type: judgment
        where: [{{column: case_category, op: eq, value: 行政}}]
        columns: {{case_no: clear, court_code: clear, document_type: clear, outcome: clear, decided_date: clear,
                  effective_date: clear, defendant_agency: clear, agency_head_appeared: clear}}
      # and the white paper's figures per agency and year (mart_admin_litigation*)
      - record_type: mart_admin_litigation
        columns: {{year: clear, agency: clear, cases_filed: clear, first_instance_filed: clear, decided: clear,
                  lost: clear, loss_rate: clear, appeal_decided: clear, appeal_lost: clear, appeal_loss_rate: clear,
                  head_recorded: clear, head_appeared: clear, head_appearance_rate: clear, settled: clear,
                  settlement_rate: clear}}
      - record_type: mart_admin_litigation_year
        columns: {{year: clear, agencies: clear, cases_filed: clear, first_instance_filed: clear, decided: clear,
                  loss_rate: clear, appeal_loss_rate: clear, head_appearance_rate: clear, settlement_rate: clear,
                  civil_first_instance_filed: clear, population: clear, cases_per_10k: clear}}
      - record_type: mart_admin_loss_reasons
        columns: {{year: clear, instance: clear, loss_reason: clear, lost: clear, share: clear}}

# OpenLineage run events for every stage (START / COMPLETE / FAIL with datasets and column
# lineage); add url: http://marquez.example:5000 to send them to a lineage server as well
lineage:
  namespace: wuhai-hub
  file: lineage/openlineage.jsonl
"""


def sftp_root(home: Home) -> Path:
    return home.root / "sources" / "sftp"


def host_key_path(home: Home) -> Path:
    return home.private / "sftp_host_ed25519"


def client_key_path(home: Home) -> Path:
    return home.private / "sftp_client_ed25519"


def client_public_line(home: Home) -> str:
    """The hub's SFTP client key as an authorized_keys line for the demo server."""
    with connector_errors():
        return host_key_line(client_key_path(home))


def ensure_keys(home: Home) -> None:
    """The demo SFTP server's host key and the hub's client key (kept across reruns)."""
    home.private.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in (host_key_path(home), client_key_path(home)):
        if not path.exists():
            generate_ssh_key(path)


def create(home: Home, *, port: int, seed: int = 20241122, as_of: dt.date | None = None) -> None:
    """Write the institutions' stores and ``hub.yaml`` (pinning the demo server's host key)."""
    sources = home.root / "sources"
    data = DemoData(seed, as_of)
    write_court_a(data, sources / "wh-court.sqlite")
    write_court_b(data, sources / "hbw-court.sqlite")
    write_supervision_drops(data, sftp_root(home) / DROP_DIR)
    write_agency_platform(data, sources / "wh-gov.sqlite")
    with connector_errors():
        host_key = host_key_line(host_key_path(home))
    identity = office_identity_path(home, "wh-justice-office")
    recipient = identity.read_text().split("public key: ")[1].split()[0] if identity.exists() else generate_age_identity(identity)
    home.config.write_text(
        CONFIG.format(port=port, user=SFTP_USER, host_key=host_key, drop=DROP_DIR, justice_recipient=recipient),
        encoding="utf-8",
    )


def office_identity_path(home: Home, office: str) -> Path:
    """The demo office's own age identity (in real life it never leaves the office)."""
    return home.root / "sources" / "offices" / f"{office}.agekey"
