"""The registry of marts, in build order: what each is built from, its tables, and how it is
built and reported (the package docstring lists them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from hub.config import HubConfig
from hub.marts import (
    admin_litigation,
    class_cases,
    enforcement_watch,
    nonlit_stats,
    protest_outcomes,
    referrals,
    replies,
    report_files,
    supervision_window,
)
from schemas import marts as shapes
from schemas.marts import Columns, MartTables

Build = Callable[[duckdb.DuckDBPyConnection, HubConfig, dt.date], dict[str, int]]
WriteFiles = Callable[[duckdb.DuckDBPyConnection, dt.date, Path], list[Path]]


@dataclass(frozen=True)
class Mart:
    name: str  # the Dagster asset
    deps: tuple[str, ...]  # assets it is built from
    description: str
    tables: MartTables  # its tables' columns and natural keys
    breakdown: str  # SQL giving (label, count) for the UI
    build: Build
    write_files: WriteFiles | None = None  # report files under <home>/reports, made after the build

    @property
    def columns(self) -> Columns:
        return self.tables.columns

    @property
    def keys(self) -> dict[str, tuple[str, ...]]:
        return self.tables.keys


def _procuratorates(config: HubConfig) -> list[str]:
    return [i.name for i in config.institutions if i.kind == "procuratorate"]


def _quarterly(con: duckdb.DuckDBPyConnection, as_of: dt.date, folder: Path) -> list[Path]:
    if con.execute("SELECT count(*) FROM mart_nonlit_quarterly").fetchone() == (0,):
        return []  # no procuratorate in the exchange: no statistics to write, and no reason to fail the build
    return report_files.quarterly_statistics(con, nonlit_stats.last_complete_quarter(as_of), folder / "quarterly")


def _annual(con: duckdb.DuckDBPyConnection, as_of: dt.date, folder: Path) -> list[Path]:
    year = report_files.chart_year(con, as_of.year)
    return [] if year is None else report_files.admin_litigation_chart(con, year, folder / "admin_litigation")


MARTS: tuple[Mart, ...] = (
    Mart(
        "reply_tracking", ("supervision",),
        "mart_replies: every supervision measure with its deadline, status and days overdue; "
        "mart_reply_escalation: what is overdue, per target court or agency; mart_agency_recommendations: "
        "per agency and measure, what it received and how it answered; mart_follow_up: measures rejected or "
        "left unanswered, and whether they were followed up.",
        shapes.REPLY_TRACKING, "SELECT status, count(*) FROM mart_replies GROUP BY 1",
        lambda con, c, as_of: replies.build(con, c.marts.reply_deadline_days, as_of),
    ),
    Mart(
        "nonlit_statistics", ("reply_tracking", "enforcement"),
        "mart_nonlit_quarterly: civil and administrative non-litigation enforcement supervision per "
        "procuratorate and quarter; reports/quarterly/<quarter>/ the last complete quarter as Parquet "
        "and an .xlsx workbook (附件1 民事, 附件2 行政), due by the 5th of the following month.",
        shapes.NONLIT_STATISTICS,
        "SELECT kind || ' ' || quarter, sum(measures) FROM mart_nonlit_quarterly GROUP BY 1",
        lambda con, c, as_of: nonlit_stats.build(con, _procuratorates(c), as_of),
        _quarterly,
    ),
    Mart(
        "protest_outcomes", ("supervision", "filing", "judgment"),
        "mart_protest_outcomes: each protest and retrial recommendation with its retrial (a 再审 case filed on "
        "the target ruling) and the result; mart_protest_success: per procuratorate, year and measure, how many "
        "were retried and how many changed the ruling.",
        shapes.PROTEST_OUTCOMES,
        "SELECT result, count(*) FROM mart_protest_outcomes GROUP BY 1",
        lambda con, c, as_of: protest_outcomes.build(con, as_of),
    ),
    Mart(
        "referral_feedback", ("referral",),
        "mart_referrals: each clue referred to another institution with its feedback status; "
        "mart_referral_feedback: per referring institution, recipient and clue type, how many were answered and acted on.",
        shapes.REFERRALS,
        "SELECT status, count(*) FROM mart_referrals GROUP BY 1",
        lambda con, c, as_of: referrals.build(con, as_of),
    ),
    Mart(
        "supervision_window", ("supervision", "filing", "judgment"),
        "mart_supervision_window: measures issued after the 3-year window of their target ruling, "
        "and rulings whose window is closing with no measure issued.",
        shapes.SUPERVISION_WINDOW,
        "SELECT kind, count(*) FROM mart_supervision_window GROUP BY 1",
        lambda con, c, as_of: supervision_window.build(con, years=c.marts.supervision_window_years,
                                                       warn_days=c.marts.window_warning_days, as_of=as_of),
    ),
    Mart(
        "enforcement_watch", ("enforcement",),
        "mart_enforcement_watch: enforcement cases flagged by a rule (early 终本 or one without an asset search, "
        "orders or a re-query in six months, more executed than due, open past the time limit or untouched, non-litigation applications "
        "ruled on late or left undecided), each with why.",
        shapes.ENFORCEMENT_WATCH,
        "SELECT rule, count(*) FROM mart_enforcement_watch GROUP BY 1",
        lambda con, c, as_of: enforcement_watch.build(
            con, limit_days=c.marts.enforcement_time_limit_days, inactive_days=c.marts.enforcement_inactive_days,
            ruling_days=c.marts.non_litigation_ruling_days, review_days=c.marts.non_litigation_review_days,
            as_of=as_of),
    ),
    Mart(
        "admin_litigation", ("filing", "judgment"),
        "mart_admin_litigation: per year and defendant agency, cases, loss rate, agency-head appearance "
        "rate and mediation/withdrawal rate; mart_admin_litigation_year: all agencies with cases per "
        "10,000 residents; mart_admin_loss_reasons: cases lost by reason; reports/admin_litigation/<year>.png "
        "the white paper's chart.",
        shapes.ADMIN_LITIGATION,
        "SELECT CAST(year AS VARCHAR), cases_filed FROM mart_admin_litigation_year",
        lambda con, c, as_of: admin_litigation.build(con, c.marts.population),
        _annual,
    ),
    Mart(
        "class_divergence", ("filing", "judgment"),
        "mart_class_divergence: groups of decisions with the same cause and court level whose "
        "outcomes diverge beyond marts.class_case_divergence_threshold.",
        shapes.CLASS_DIVERGENCE,
        "SELECT court_level, count(*) FROM mart_class_divergence GROUP BY 1",
        lambda con, c, as_of: class_cases.build(con, threshold=c.marts.class_case_divergence_threshold,
                                                min_cases=c.marts.class_case_min_cases),
    ),
)

MART_OF_TABLE: dict[str, Mart] = {table: m for m in MARTS for table in m.columns}
"""Mart table -> the mart that builds it."""


def mart(name: str) -> Mart:
    return next(m for m in MARTS if m.name == name)


def asset_of(table: str) -> str:
    """The Dagster asset that materializes a shareable table."""
    return MART_OF_TABLE[table].name if table in MART_OF_TABLE else table
