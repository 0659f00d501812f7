"""Protest outcomes: what became of each protest (抗诉) and retrial recommendation (再审检察建议).

A measure targets a ruling; the court's retrial of it is the case filed with that ruling's case
number as its original (``filing.original_case_no``, a retrial type). ``mart_protest_outcomes``
gives each measure its retrial, if any, and the retrial's result (amended, remanded, upheld,
settled) or why there is none yet (under review: a protest the court has filed as 民抗/行抗);
``mart_protest_success`` sums them per issuer, year and measure, with the share of retrials
decided on the merits that changed the ruling (docs/domain-rules.md, "Protest outcomes").
"""

from __future__ import annotations

import datetime as dt

import duckdb

from hub.marts.tables import filed_on, rebuild
from schemas.codes import PROTEST_MEASURES, RETRIAL_RESULTS, settled_sql
from schemas.marts import PROTEST_OUTCOMES
from schemas.sql import lit, lit_tuple

COLUMNS = PROTEST_OUTCOMES.columns


def _result(judgment: str) -> str:
    """SQL naming a retrial judgment's result (``judgment``: its alias) from its outcome and document type."""
    cases = " ".join(f"WHEN {judgment}.outcome IN {lit_tuple(outcomes)} THEN {lit(result)}"
                     for result, outcomes in RETRIAL_RESULTS.items())
    return f"CASE WHEN {settled_sql(judgment)} THEN 'settled' {cases} ELSE 'other' END"


def build(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> dict[str, int]:
    """Rebuild both tables as of ``as_of``; returns their row counts."""
    return rebuild(con, [
        (f"""CREATE OR REPLACE TABLE mart_protest_outcomes AS
             WITH measures AS (
               SELECT * FROM supervision WHERE measure IN {lit_tuple(PROTEST_MEASURES)}
             ), retrials AS ({filed_on(("再审",))}
             ), taken AS (  -- each retrial is the latest measure's issued before it (a rejected one is not)
               SELECT m.record_key, r.case_no, r.filing_date
               FROM measures m JOIN retrials r ON r.original = m.target_case_no AND r.filing_date >= m.issued_date
               WHERE NOT (m.measure = '再审检察建议' AND coalesce(m.reply_result, '') = '不采纳')
               QUALIFY row_number() OVER (PARTITION BY r.case_no ORDER BY m.issued_date DESC, m.record_key) = 1
             ), retried AS (  -- and a measure's retrial, its latest
               SELECT record_key, arg_max(case_no, (filing_date, case_no)) AS case_no, max(filing_date) AS filing_date
               FROM taken GROUP BY record_key
             ), received AS (  -- a protest's case at the court (民抗, 行抗…): filed, its retrial not ruled yet
               SELECT m.record_key, arg_max(v.case_no, (v.filing_date, v.case_no)) AS case_no
               FROM measures m JOIN ({filed_on(("抗诉",))}) v ON v.original = m.target_case_no AND v.filing_date >= m.issued_date
               WHERE m.measure = '抗诉' GROUP BY m.record_key
             )
             SELECT s.record_key, s.doc_no, s.measure, s.source_institution, s.target_case_no, s.target_court_code,
                    s.issued_date, s.reply_result, v.case_no AS protest_case_no, r.case_no AS retrial_case_no,
                    r.filing_date AS retrial_filing_date,
                    j.decided_date AS retrial_decided_date, j.outcome AS retrial_outcome,
                    CASE WHEN j.case_no IS NOT NULL THEN {_result('j')}
                         WHEN r.case_no IS NOT NULL THEN 'retrial_pending'
                         WHEN v.case_no IS NOT NULL THEN 'under_review'
                         WHEN s.measure = '再审检察建议' AND s.reply_result = '不采纳' THEN 'not_adopted'
                         ELSE 'no_retrial' END AS result,
                    CAST($as_of AS DATE) AS as_of
             FROM measures s LEFT JOIN retried r USING (record_key) LEFT JOIN received v USING (record_key)
                  LEFT JOIN judgment j ON j.case_no = r.case_no
             ORDER BY s.source_institution, s.issued_date, s.record_key""", {"as_of": as_of}),
        ("""CREATE OR REPLACE TABLE mart_protest_success AS
            SELECT source_institution, year(issued_date) AS year, measure, count(*) AS measures,
                   count(retrial_case_no) AS retried,
                   count(*) FILTER (WHERE result IN ('amended', 'remanded', 'upheld', 'settled', 'other')) AS decided,
                   count(*) FILTER (WHERE result = 'amended') AS amended,
                   count(*) FILTER (WHERE result = 'remanded') AS remanded,
                   count(*) FILTER (WHERE result = 'upheld') AS upheld,
                   count(*) FILTER (WHERE result = 'settled') AS settled,
                   count(*) FILTER (WHERE result = 'not_adopted') AS not_adopted,
                   round(count(*) FILTER (WHERE result IN ('amended', 'remanded'))
                         / nullif(count(*) FILTER (WHERE result IN ('amended', 'remanded', 'upheld')), 0), 4)
                       AS change_rate,
                   CAST($as_of AS DATE) AS as_of
            FROM mart_protest_outcomes GROUP BY ALL ORDER BY source_institution, year, measure""", {"as_of": as_of}),
    ], COLUMNS)
