"""Reply tracking: every supervision measure with its deadline and whether it was answered in time.

The agreements oblige a target institution to answer a procuratorate's protest, recommendation
or correction notice in writing before a deadline, and overdue ones to be escalated (DESIGN.md
section 1; seeds 000 §8, 002 §4, 003 §4). ``mart_replies`` has one row per measure in the shared
``supervision`` table: its due date (the document's own, else the configured default period for
its measure type), status and days overdue as of a given day; ``mart_reply_escalation`` lists,
per target institution, what is overdue. Both are rebuilt whole in one transaction, so they are
always exactly as current as ``supervision``.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from hub.marts.tables import Columns, rebuild

STATUSES = ("pending", "replied_on_time", "replied_late", "overdue")

COLUMNS: Columns = {
    "mart_replies": {
        "record_key": ("记录键", "the measure's record key in supervision"),
        "doc_no": ("文书编号", "procuratorate document number"),
        "measure": ("监督方式", "抗诉/再审检察建议/检察建议/纠正违法/司法建议"),
        "domain": ("监督领域", "民事/行政/刑事/执行"),
        "issuer": ("发出机关", "institution that issued the measure"),
        "source_institution": ("来源机构", "institution whose records carried it"),
        "target_court_code": ("监督对象法院代字", "court code of the target institution"),
        "target_court_name": ("监督对象法院", "name of the target court, from code_court"),
        "target_case_no": ("被监督案号", "canonical case number of the target case"),
        "issued_date": ("发出日期", "date issued"),
        "due_date": ("回复期限", "reply deadline: the document's own, else issued_date + the default period"),
        "due_date_from": ("期限来源", "document (stated on it) or default (hub.reply_deadline_days)"),
        "replied_date": ("回复日期", "date the written reply was received"),
        "reply_result": ("回复结果", "采纳/部分采纳/不采纳"),
        "status": ("回复状态", "pending / replied_on_time / replied_late / overdue, as of as_of"),
        "days_overdue": ("逾期天数", "overdue: as_of - due_date; replied_late: replied_date - due_date; else 0"),
        "as_of": ("统计日", "the day the statuses refer to"),
    },
    "mart_reply_escalation": {
        "target_court_code": ("监督对象法院代字", "court code of the target institution"),
        "target_court_name": ("监督对象法院", "name of the target court"),
        "overdue": ("逾期未回复数", "measures overdue as of as_of"),
        "max_days_overdue": ("最长逾期天数", "longest overdue, in days"),
        "oldest_overdue_doc_no": ("最久逾期文书", "document number of the longest overdue measure"),
        "replied_late": ("逾期回复数", "measures answered after their deadline"),
        "pending": ("未到期数", "measures not yet due"),
        "as_of": ("统计日", "the day the figures refer to"),
    },
}

KEYS = {"mart_replies": ("record_key",), "mart_reply_escalation": ("target_court_code",)}


def build(con: duckdb.DuckDBPyConnection, deadline_days: dict[str, int], as_of: dt.date) -> dict[str, int]:
    """Rebuild both marts as of ``as_of``; returns their row counts."""
    periods = [{"measure": m, "days": d} for m, d in sorted(deadline_days.items())]
    return rebuild(con, [
        ("""CREATE OR REPLACE TABLE mart_replies AS
           WITH periods AS (SELECT unnest($periods, recursive := true)),
           due AS (
             SELECT s.*, coalesce(s.due_date, s.issued_date + CAST(p.days AS INTEGER)) AS due,
                    CASE WHEN s.due_date IS NOT NULL THEN 'document' ELSE 'default' END AS due_date_from
             FROM supervision s LEFT JOIN periods p USING (measure)
           )
           SELECT d.record_key, d.doc_no, d.measure, d.domain, d.issuer, d.source_institution,
                  d.target_court_code, c.name AS target_court_name, d.target_case_no, d.issued_date,
                  d.due AS due_date, d.due_date_from, d.replied_date, d.reply_result,
                  CASE WHEN d.replied_date <= d.due THEN 'replied_on_time'
                       WHEN d.replied_date IS NOT NULL THEN 'replied_late'
                       WHEN d.due < $as_of THEN 'overdue'
                       ELSE 'pending' END AS status,
                  CASE WHEN d.replied_date IS NULL AND d.due < $as_of THEN $as_of - d.due
                       WHEN d.replied_date > d.due THEN d.replied_date - d.due
                       ELSE 0 END AS days_overdue,
                  CAST($as_of AS DATE) AS as_of
           FROM due d LEFT JOIN code_court c ON c.court_code = d.target_court_code
           ORDER BY d.target_court_code, d.issued_date, d.record_key""", {"periods": periods, "as_of": as_of}),
        ("""CREATE OR REPLACE TABLE mart_reply_escalation AS
           SELECT target_court_code, any_value(target_court_name) AS target_court_name,
                  count(*) FILTER (WHERE status = 'overdue') AS overdue,
                  max(days_overdue) FILTER (WHERE status = 'overdue') AS max_days_overdue,
                  arg_max(doc_no, days_overdue) FILTER (WHERE status = 'overdue') AS oldest_overdue_doc_no,
                  count(*) FILTER (WHERE status = 'replied_late') AS replied_late,
                  count(*) FILTER (WHERE status = 'pending') AS pending,
                  CAST($as_of AS DATE) AS as_of
           FROM mart_replies GROUP BY target_court_code
           HAVING count(*) FILTER (WHERE status = 'overdue') > 0
           ORDER BY overdue DESC, max_days_overdue DESC, target_court_code""", {"as_of": as_of}),
    ], COLUMNS)
