"""Reply tracking: every supervision measure with its deadline and whether it was answered in time.

The agreements oblige a target institution to answer a procuratorate's protest, recommendation
or correction notice in writing before a deadline, and overdue ones to be escalated
(docs/domain-rules.md, "Reply tracking"). ``mart_replies`` has one row per measure in the shared
``supervision`` table that takes a reply (not a settlement notice): its due date (the
document's own, else the configured default period for its measure type, or the later one the
parties agreed), status and days overdue as of a given day; ``mart_reply_escalation`` lists,
per target court or agency, what is overdue; ``mart_agency_recommendations`` sums up, per agency
and measure, the recommendations an agency received and how it answered; ``mart_follow_up``
lists the measures rejected or left unanswered past their deadline, and whether a follow-up
measure was issued. All are rebuilt whole in one transaction, so they are always exactly as
current as ``supervision``.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from hub.marts.tables import rebuild
from schemas.codes import NO_REPLY_MEASURES
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
             SELECT s.*, coalesce(s.extended_due_date, s.due_date, s.issued_date + CAST(p.days AS INTEGER)) AS due,
                    coalesce(s.due_date, s.issued_date + CAST(p.days AS INTEGER)) AS first_due,
                    CASE WHEN s.extended_due_date IS NOT NULL THEN 'extended'
                         WHEN s.due_date IS NOT NULL THEN 'document' ELSE 'default' END AS due_date_from
             FROM supervision s LEFT JOIN periods p USING (measure) WHERE s.measure NOT IN $no_reply
           )
           SELECT d.record_key, d.doc_no, d.measure, d.domain, d.focus, d.issuer, d.source_institution,
                  d.target_court_code, c.name AS target_court_name, d.target_agency, d.target_case_no, d.issued_date,
                  d.due AS due_date, d.due_date_from, d.first_due AS original_due_date, d.replied_date, d.reply_result,
                  d.follow_up_of,
                  CASE WHEN d.replied_date <= d.due THEN 'replied_on_time'
                       WHEN d.replied_date IS NOT NULL THEN 'replied_late'
                       WHEN d.due < $as_of THEN 'overdue'
                       ELSE 'pending' END AS status,
                  CASE WHEN d.replied_date IS NULL AND d.due < $as_of THEN $as_of - d.due
                       WHEN d.replied_date > d.due THEN d.replied_date - d.due
                       ELSE 0 END AS days_overdue,
                  CAST($as_of AS DATE) AS as_of
           FROM due d LEFT JOIN code_court c ON c.court_code = d.target_court_code
           ORDER BY d.target_court_code, d.target_agency, d.issued_date, d.record_key""",
         {"periods": periods, "as_of": as_of, "no_reply": list(NO_REPLY_MEASURES)}),
        ("""CREATE OR REPLACE TABLE mart_reply_escalation AS
           SELECT target_court_code, any_value(target_court_name) AS target_court_name, target_agency,
                  count(*) FILTER (WHERE status = 'overdue') AS overdue,
                  max(days_overdue) FILTER (WHERE status = 'overdue') AS max_days_overdue,
                  arg_max(doc_no, days_overdue) FILTER (WHERE status = 'overdue') AS oldest_overdue_doc_no,
                  count(*) FILTER (WHERE status = 'replied_late') AS replied_late,
                  count(*) FILTER (WHERE status = 'pending') AS pending,
                  CAST($as_of AS DATE) AS as_of
           FROM mart_replies GROUP BY target_court_code, target_agency
           HAVING count(*) FILTER (WHERE status = 'overdue') > 0
           ORDER BY overdue DESC, max_days_overdue DESC, target_court_code, target_agency""", {"as_of": as_of}),
        ("""CREATE OR REPLACE TABLE mart_agency_recommendations AS
           SELECT target_agency, measure, count(*) AS issued,
                  count(replied_date) AS replied,
                  count(*) FILTER (WHERE status = 'replied_on_time') AS replied_on_time,
                  count(*) FILTER (WHERE status = 'replied_late') AS replied_late,
                  count(*) FILTER (WHERE status = 'pending') AS pending,
                  count(*) FILTER (WHERE status = 'overdue') AS overdue,
                  count(*) FILTER (WHERE due_date_from = 'extended') AS extended,
                  count(*) FILTER (WHERE reply_result = '采纳') AS adopted,
                  count(*) FILTER (WHERE reply_result = '部分采纳') AS partly_adopted,
                  count(*) FILTER (WHERE reply_result = '不采纳') AS not_adopted,
                  round(count(*) FILTER (WHERE reply_result IN ('采纳', '部分采纳'))
                        / nullif(count(reply_result), 0), 4) AS adoption_rate,
                  CAST($as_of AS DATE) AS as_of
           FROM mart_replies WHERE target_agency IS NOT NULL
           GROUP BY target_agency, measure ORDER BY target_agency, measure""", {"as_of": as_of}),
        ("""CREATE OR REPLACE TABLE mart_follow_up AS
           WITH follow_ups AS (
             SELECT doc, first.doc_no, first.issuer, first.issued_date FROM (
               SELECT replace(follow_up_of, ' ', '') AS doc,
                      arg_min({'doc_no': doc_no, 'issuer': issuer, 'issued_date': issued_date},
                              (issued_date, record_key)) AS first
               FROM supervision WHERE follow_up_of IS NOT NULL GROUP BY 1)
           )
           SELECT r.record_key, r.doc_no, r.measure, r.source_institution, r.target_court_code, r.target_agency,
                  r.target_case_no, r.issued_date, r.due_date, r.replied_date, r.reply_result,
                  CASE WHEN r.reply_result = '不采纳' THEN 'not_adopted' WHEN r.replied_date IS NULL THEN 'unanswered'
                       ELSE 'other' END AS reason,
                  f.doc_no AS follow_up_doc_no, f.issuer AS follow_up_issuer, f.issued_date AS follow_up_issued_date,
                  CASE WHEN f.doc_no IS NOT NULL THEN 'followed_up' ELSE 'awaiting_follow_up' END AS status,
                  CASE WHEN f.doc_no IS NULL THEN $as_of - coalesce(r.replied_date, r.due_date) END AS days_waiting,
                  CAST($as_of AS DATE) AS as_of
           FROM mart_replies r LEFT JOIN follow_ups f ON f.doc = replace(r.doc_no, ' ', '')
           WHERE r.status = 'overdue' OR r.reply_result = '不采纳' OR f.doc_no IS NOT NULL
           ORDER BY status, days_waiting DESC, r.record_key""", {"as_of": as_of}),
    ], COLUMNS)
