"""Enforcement watch: enforcement cases a procuratorate should look at, each with the rule that
flagged it and why.

The rules are the ones the agreements and 法〔2016〕373号 set (docs/domain-rules.md, "Enforcement watch"):
终本 (终结本次执行程序) only after three months, after an asset-report order and a
consumption-restriction order, and after an exhausted asset search; cases open past their time
limit; non-litigation administrative enforcement applications (类型代字 行审) not decided within
the review period. One row per case and rule, so a case breaking two rules appears twice.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from hub.marts.tables import rebuild
from schemas.marts import ENFORCEMENT_WATCH

ZHONGBEN = "终结本次执行程序"

RULES: dict[str, tuple[str, str]] = {
    "zhongben_within_3_months": (
        f"closure_type = '{ZHONGBEN}' AND closure_date < filing_date + INTERVAL 3 MONTH",
        "'终本 ' || (closure_date - filing_date) || ' days after filing; allowed only after 3 months'",
    ),
    "zhongben_nothing_executed_no_search": (
        f"closure_type = '{ZHONGBEN}' AND coalesce(amount_executed, 0) = 0 AND NOT coalesce(asset_search_done, false)",
        "'终本 with nothing executed and no exhausted asset search recorded'",
    ),
    "zhongben_without_orders": (
        f"closure_type = '{ZHONGBEN}' AND NOT (coalesce(asset_report_order, false) "
        "AND coalesce(consumption_restriction, false))",
        "'终本 without both an asset-report order and a consumption-restriction order'",
    ),
    "open_past_time_limit": (
        "closure_date IS NULL AND case_type_code NOT LIKE '行审%' AND $as_of - filing_date > $limit_days",
        "'open ' || ($as_of - filing_date) || ' days since filing; the limit is ' || $limit_days || ' days'",
    ),
    "non_litigation_undecided": (
        "closure_date IS NULL AND case_type_code LIKE '行审%' AND $as_of - filing_date > $review_days",
        "'non-litigation enforcement application undecided ' || ($as_of - filing_date) "
        "|| ' days after filing; the review period is ' || $review_days || ' days'",
    ),
}
"""rule -> (SQL condition over an enforcement row, SQL text saying why)."""

COLUMNS = ENFORCEMENT_WATCH.columns


def build(con: duckdb.DuckDBPyConnection, *, limit_days: int, review_days: int, as_of: dt.date) -> dict[str, int]:
    """Rebuild ``mart_enforcement_watch`` as of ``as_of``; returns its row count."""
    flagged = " UNION ALL ".join(
        f"SELECT e.*, '{rule}' AS rule, {why} AS why FROM enforcement e WHERE {condition}"
        for rule, (condition, why) in RULES.items()
    )
    sql = f"""CREATE OR REPLACE TABLE mart_enforcement_watch AS
              SELECT f.record_key, f.case_no, f.court_code, c.name AS court_name, f.filing_date, f.basis_type,
                     f.closure_type, f.closure_date, f.amount_due, f.amount_executed, f.rule, f.why,
                     CAST($as_of AS DATE) AS as_of
              FROM ({flagged}) f LEFT JOIN code_court c ON c.court_code = f.court_code
              ORDER BY f.court_code, f.rule, f.filing_date, f.record_key"""
    return rebuild(con, [(sql, {"as_of": as_of, "limit_days": limit_days, "review_days": review_days})], COLUMNS)
