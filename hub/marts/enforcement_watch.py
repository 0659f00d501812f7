"""Enforcement watch: enforcement cases a procuratorate should look at, each with the rule that
flagged it and why.

The rules are the ones the agreements, 法〔2016〕373号 and 行政强制法 §57–58 set
(docs/domain-rules.md, "Enforcement watch"): 终本 (终结本次执行程序) only after three months,
after an asset-report order and a consumption-restriction order, and after an exhausted asset
search; after 终本, assets queried again every six months; more executed than was due; cases open past their time limit or left untouched;
non-litigation administrative enforcement applications (类型代字 行审) decided, or still
undecided, past the ruling and review periods. One row per case and rule, so a case breaking
two rules appears twice.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from hub.marts.tables import rebuild
from schemas.marts import ENFORCEMENT_WATCH

ZHONGBEN = "终结本次执行程序"
_DAYS = "(coalesce(closure_date, CAST($as_of AS DATE)) - filing_date)"
"""A 行审 application's days from acceptance to its ruling, or to ``as_of`` while undecided."""
_DECIDED = "CASE WHEN closure_date IS NULL THEN 'undecided ' ELSE 'decided ' END"

RULES: dict[str, tuple[str, str]] = {
    "zhongben_within_3_months": (
        f"closure_type = '{ZHONGBEN}' AND closure_date < filing_date + INTERVAL 3 MONTH",
        "'终本 ' || (closure_date - filing_date) || ' days after filing; allowed only after 3 months'",
    ),
    "zhongben_no_asset_search": (
        f"closure_type = '{ZHONGBEN}' AND NOT coalesce(asset_search_done, false)",
        "'终本 with no exhausted asset search recorded (' || coalesce(amount_executed, 0) || ' of ' "
        "|| coalesce(CAST(amount_due AS VARCHAR), '?') || ' executed)'",
    ),
    "zhongben_without_orders": (
        f"closure_type = '{ZHONGBEN}' AND NOT (coalesce(asset_report_order, false) "
        "AND coalesce(consumption_restriction, false))",
        "'终本 without both an asset-report order and a consumption-restriction order'",
    ),
    "zhongben_no_requery": (
        f"closure_type = '{ZHONGBEN}' AND $as_of <= closure_date + INTERVAL 5 YEAR "
        "AND $as_of > greatest(closure_date, coalesce(last_asset_query_date, closure_date)) + INTERVAL 6 MONTH "
        "AND source_name IN (SELECT source_name FROM enforcement WHERE last_asset_query_date IS NOT NULL)",
        "'终本 on ' || closure_date || ', and no asset query recorded since ' "
        "|| greatest(closure_date, coalesce(last_asset_query_date, closure_date)) || ' ('"
        " || ($as_of - greatest(closure_date, coalesce(last_asset_query_date, closure_date))) "
        "|| ' days); assets are to be queried again every six months for five years'",
    ),
    "over_enforcement": (
        "amount_executed > amount_due",
        "'executed ' || amount_executed || ', more than the ' || amount_due || ' to enforce'",
    ),
    "open_past_time_limit": (
        "closure_date IS NULL AND case_type_code NOT LIKE '行审%' AND $as_of - filing_date > $limit_days",
        "'open ' || ($as_of - filing_date) || ' days since filing; the limit is ' || $limit_days || ' days'",
    ),
    "open_untouched": (
        "closure_date IS NULL AND case_type_code NOT LIKE '行审%' "
        "AND $as_of - CAST(source_updated_at AS DATE) > $inactive_days",
        "'open, and its record unchanged at the court for ' || ($as_of - CAST(source_updated_at AS DATE)) "
        "|| ' days; the limit is ' || $inactive_days || ' days'",
    ),
    "non_litigation_past_ruling_days": (
        f"case_type_code LIKE '行审%' AND {_DAYS} > $ruling_days AND {_DAYS} <= $review_days",
        f"'non-litigation enforcement application ' || {_DECIDED} || {_DAYS} || ' days after acceptance; a ruling is "
        "due within ' || $ruling_days || ' days, later only where the court examines further (up to ' "
        "|| $review_days || ')'",
    ),
    "non_litigation_past_review_days": (
        f"case_type_code LIKE '行审%' AND {_DAYS} > $review_days",
        f"'non-litigation enforcement application ' || {_DECIDED} || {_DAYS} || ' days after acceptance; "
        "the review period is ' || $review_days || ' days'",
    ),
}
"""rule -> (SQL condition over an enforcement row, SQL text saying why)."""

COLUMNS = ENFORCEMENT_WATCH.columns


def build(con: duckdb.DuckDBPyConnection, *, limit_days: int, inactive_days: int, ruling_days: int, review_days: int,
          as_of: dt.date) -> dict[str, int]:
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
    params = {"as_of": as_of, "limit_days": limit_days, "inactive_days": inactive_days, "ruling_days": ruling_days,
              "review_days": review_days}
    return rebuild(con, [(sql, params)], COLUMNS)
