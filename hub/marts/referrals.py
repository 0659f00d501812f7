"""Referral feedback: each clue referred to another institution, and whether it was reported back.

The agreements have courts, procuratorates and agencies refer clues to each other (false
litigation, refusal to execute, crimes) and the recipient report how it handled them.
``mart_referrals`` gives each referral its status as of a day (answered, still being verified,
overdue against the deadline set, or awaiting); ``mart_referral_feedback`` sums them per
referring institution, recipient and clue type (docs/domain-rules.md, "Referral feedback").
"""

from __future__ import annotations

import datetime as dt

import duckdb

from hub.marts.tables import rebuild
from schemas.codes import REFERRAL_ACCEPTED, REFERRAL_INTERIM
from schemas.marts import REFERRALS
from schemas.sql import lit, lit_tuple

COLUMNS = REFERRALS.columns


def build(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> dict[str, int]:
    """Rebuild both tables as of ``as_of``; returns their row counts."""
    final = f"feedback_date IS NOT NULL AND coalesce(feedback_result, '') <> {lit(REFERRAL_INTERIM)}"
    return rebuild(con, [
        (f"""CREATE OR REPLACE TABLE mart_referrals AS
             SELECT record_key, doc_no, clue_type, source_institution, sender, recipient, related_case_no,
                    referred_date, due_date, feedback_date, feedback_result,
                    CASE WHEN {final} AND (due_date IS NULL OR feedback_date <= due_date) THEN 'answered'
                         WHEN {final} THEN 'answered_late'
                         WHEN due_date < $as_of THEN 'overdue'
                         WHEN feedback_date IS NOT NULL THEN 'being_verified'
                         ELSE 'awaiting' END AS status,
                    CASE WHEN NOT ({final}) THEN $as_of - referred_date END AS days_waiting,
                    CAST($as_of AS DATE) AS as_of
             FROM referral ORDER BY source_institution, referred_date, record_key""", {"as_of": as_of}),
        (f"""CREATE OR REPLACE TABLE mart_referral_feedback AS
             SELECT source_institution, recipient, clue_type, count(*) AS referred,
                    count(*) FILTER (WHERE status IN ('answered', 'answered_late')) AS answered,
                    count(*) FILTER (WHERE status = 'answered_late') AS answered_late,
                    count(*) FILTER (WHERE status = 'overdue') AS overdue,
                    count(*) FILTER (WHERE status IN ('awaiting', 'being_verified')) AS awaiting,
                    count(*) FILTER (WHERE status IN ('answered', 'answered_late')
                                     AND feedback_result IN {lit_tuple(REFERRAL_ACCEPTED)}) AS acted_on,
                    round(count(*) FILTER (WHERE status IN ('answered', 'answered_late')
                                           AND feedback_result IN {lit_tuple(REFERRAL_ACCEPTED)})
                          / nullif(count(*) FILTER (WHERE status IN ('answered', 'answered_late')), 0), 4)
                        AS acted_on_rate,
                    CAST($as_of AS DATE) AS as_of
             FROM mart_referrals GROUP BY ALL ORDER BY source_institution, recipient, clue_type""",
         {"as_of": as_of}),
    ], COLUMNS)
