"""Supervision window: a procuratorate chooses protest or recommendation within 3 years of the
ruling taking effect (docs/domain-rules.md, "Supervision window").

``mart_supervision_window`` lists measures issued after their target ruling's window closed
(``issued_after_window``) and rulings whose window closes within the warning period with no
measure issued yet (``window_closing``). The window runs from the date the measure states, else from the latest
ruling of the target case and of the retrial reviews and retrials filed on it
(``filing.original_case_no``): the ruling rejecting a retrial application, or the retrial's.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from hub.marts.tables import filed_on, rebuild
from schemas.codes import NO_REPLY_MEASURES
from schemas.marts import SUPERVISION_WINDOW

COLUMNS = SUPERVISION_WINDOW.columns


def build(con: duckdb.DuckDBPyConnection, *, years: int, warn_days: int, as_of: dt.date) -> dict[str, int]:
    """Rebuild ``mart_supervision_window``; returns its row count."""
    sql = f"""CREATE OR REPLACE TABLE mart_supervision_window AS
             WITH relations AS (  -- a retrial application's review, or a retrial, filed on an original ruling
               SELECT case_no AS later, original FROM ({filed_on(("申请再审", "再审"))})
             ), own AS (
               SELECT case_no, any_value(court_code) AS court_code, max(effective_date) AS effective_date
               FROM judgment WHERE effective_date IS NOT NULL GROUP BY case_no
             ), rulings AS (  -- per original ruling: from the latest of its own and those of the cases filed on it
               SELECT coalesce(r.original, o.case_no) AS case_no,
                      coalesce(any_value(o.court_code) FILTER (WHERE r.original IS NULL), any_value(o.court_code))
                          AS court_code,
                      max(o.effective_date) AS effective_date,
                      CASE WHEN arg_max(r.original IS NOT NULL, (o.effective_date, r.original IS NOT NULL))
                           THEN 'retrial' ELSE 'ruling' END AS counted_from,
                      list(o.case_no) AS cases
               FROM own o LEFT JOIN relations r ON r.later = o.case_no GROUP BY 1
             ), measures AS (
               SELECT s.*, coalesce(s.target_effective_date, r.effective_date, o.effective_date) AS effective,
                      CASE WHEN s.target_effective_date IS NOT NULL THEN 'measure'
                           WHEN r.effective_date IS NOT NULL THEN r.counted_from
                           WHEN o.effective_date IS NOT NULL THEN 'ruling' END AS counted_from
               FROM supervision s LEFT JOIN rulings r ON r.case_no = s.target_case_no
                    LEFT JOIN own o ON o.case_no = s.target_case_no
               WHERE s.target_case_no IS NOT NULL AND s.measure NOT IN $no_reply  -- a notice chooses no measure
             )
             SELECT 'issued_after_window' AS kind, record_key, doc_no, measure, target_case_no AS case_no,
                    target_court_code AS court_code, effective AS effective_date, counted_from,
                    CAST(effective + to_years(CAST($years AS INTEGER)) AS DATE) AS window_ends, issued_date,
                    issued_date - CAST(effective + to_years(CAST($years AS INTEGER)) AS DATE) AS days,
                    CAST($as_of AS DATE) AS as_of
             FROM measures WHERE issued_date > effective + to_years(CAST($years AS INTEGER))
             UNION ALL
             SELECT 'window_closing', j.case_no, NULL, NULL, j.case_no, j.court_code, j.effective_date, j.counted_from,
                    CAST(j.effective_date + to_years(CAST($years AS INTEGER)) AS DATE), NULL,
                    CAST(j.effective_date + to_years(CAST($years AS INTEGER)) AS DATE) - $as_of,
                    CAST($as_of AS DATE)
             FROM rulings j
             WHERE j.effective_date + to_years(CAST($years AS INTEGER)) BETWEEN $as_of AND $as_of + CAST($warn AS INTEGER)
               AND NOT EXISTS (SELECT 1 FROM supervision s WHERE list_contains(j.cases, s.target_case_no)
                                                              OR s.target_case_no = j.case_no)
             ORDER BY kind, days DESC, case_no"""
    params = {"years": years, "warn": warn_days, "as_of": as_of, "no_reply": list(NO_REPLY_MEASURES)}
    return rebuild(con, [(sql, params)], COLUMNS)
