"""Supervision window: a procuratorate chooses protest or recommendation within 3 years of the
ruling taking effect (docs/domain-rules.md, "Supervision window").

``mart_supervision_window`` lists measures issued after their target ruling's window closed
(``issued_after_window``) and rulings whose window closes within the warning period with no
measure issued yet (``window_closing``). The ruling's effective date is the one the measure
states, else the judgment table's for the target case.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from hub.marts.tables import rebuild
from schemas.marts import SUPERVISION_WINDOW

COLUMNS = SUPERVISION_WINDOW.columns


def build(con: duckdb.DuckDBPyConnection, *, years: int, warn_days: int, as_of: dt.date) -> dict[str, int]:
    """Rebuild ``mart_supervision_window``; returns its row count."""
    sql = """CREATE OR REPLACE TABLE mart_supervision_window AS
             WITH rulings AS (
               SELECT case_no, any_value(court_code) AS court_code, max(effective_date) AS effective_date
               FROM judgment WHERE effective_date IS NOT NULL GROUP BY case_no
             ), measures AS (
               SELECT s.*, coalesce(s.target_effective_date, r.effective_date) AS effective
               FROM supervision s LEFT JOIN rulings r ON r.case_no = s.target_case_no
             )
             SELECT 'issued_after_window' AS kind, record_key, doc_no, measure, target_case_no AS case_no,
                    target_court_code AS court_code, effective AS effective_date,
                    CAST(effective + to_years(CAST($years AS INTEGER)) AS DATE) AS window_ends, issued_date,
                    issued_date - CAST(effective + to_years(CAST($years AS INTEGER)) AS DATE) AS days,
                    CAST($as_of AS DATE) AS as_of
             FROM measures WHERE issued_date > effective + to_years(CAST($years AS INTEGER))
             UNION ALL
             SELECT 'window_closing', j.case_no, NULL, NULL, j.case_no, j.court_code, j.effective_date,
                    CAST(j.effective_date + to_years(CAST($years AS INTEGER)) AS DATE), NULL,
                    CAST(j.effective_date + to_years(CAST($years AS INTEGER)) AS DATE) - $as_of,
                    CAST($as_of AS DATE)
             FROM rulings j
             WHERE j.effective_date + to_years(CAST($years AS INTEGER)) BETWEEN $as_of AND $as_of + CAST($warn AS INTEGER)
               AND NOT EXISTS (SELECT 1 FROM supervision s WHERE s.target_case_no = j.case_no)
             ORDER BY kind, days DESC, case_no"""
    return rebuild(con, [(sql, {"years": years, "warn": warn_days, "as_of": as_of})], COLUMNS)
