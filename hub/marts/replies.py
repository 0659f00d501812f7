"""Reply tracking: every supervision measure with its deadline and whether it was answered in time.

The agreements oblige a target institution to answer a procuratorate's protest, recommendation
or correction notice in writing before a deadline, and overdue ones to be escalated
(docs/domain-rules.md, "Reply tracking"). ``mart_replies`` has one row per measure in the shared
``supervision`` table: its due date (the document's own, else the configured default period for
its measure type), status and days overdue as of a given day; ``mart_reply_escalation`` lists,
per target institution, what is overdue. Both are rebuilt whole in one transaction, so they are
always exactly as current as ``supervision``.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from hub.marts.tables import rebuild
from schemas.marts import REPLY_TRACKING

STATUSES = ("pending", "replied_on_time", "replied_late", "overdue")

COLUMNS = REPLY_TRACKING.columns


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
