"""The marts: what offices and analysts ask of the shared tables, as DuckDB tables.

Each mart is rebuilt whole from the shared tables (``hub.marts.tables.rebuild``), by a
Dagster asset after every refresh and by the daily ``marts_daily`` schedule (statuses move
with the calendar, not only with new data). Some also write report files under
``<home>/reports``. ``MARTS`` lists them in build order: a mart built from another comes after it.

    reply_tracking       mart_replies, mart_reply_escalation           (supervision)
    nonlit_statistics    mart_nonlit_quarterly + quarterly workbook    (mart_replies, enforcement)
    supervision_window   mart_supervision_window                       (supervision, judgment)
    enforcement_watch    mart_enforcement_watch                        (enforcement)
    admin_litigation     mart_admin_litigation(_year) + annual chart   (filing, judgment)
    class_divergence     mart_class_divergence                         (filing, judgment)

Mart tables can be shared with offices like the shared tables (an agreement's ``shares``
naming the table); ``keys`` gives each table's natural key, its rows' ``record_key``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from hub.marts import (
    admin_litigation, class_cases, enforcement_watch, nonlit_stats, replies, reports, supervision_window,
)
from hub.marts.tables import Columns
from schemas.tables import TABLES, stored_fields

if TYPE_CHECKING:
    from hub.config import HubConfig

Build = Callable[[duckdb.DuckDBPyConnection, "HubConfig", dt.date], dict[str, int]]
Report = Callable[[duckdb.DuckDBPyConnection, dt.date, Path], list[Path]]


@dataclass(frozen=True)
class Mart:
    name: str  # the Dagster asset
    deps: tuple[str, ...]  # assets it is built from
    description: str
    columns: Columns  # table -> column -> (Chinese, English)
    keys: dict[str, tuple[str, ...]]  # table -> natural key (an extract's record_key)
    breakdown: str  # SQL giving (label, count) for the UI
    build: Build
    report: Report | None = None  # files under <home>/reports, made after the build


def _procuratorates(config: HubConfig) -> list[str]:
    return [i.name for i in config.institutions if i.kind == "procuratorate"]


def _quarterly(con: duckdb.DuckDBPyConnection, as_of: dt.date, folder: Path) -> list[Path]:
    return reports.quarterly_statistics(con, nonlit_stats.last_complete_quarter(as_of), folder / "quarterly")


def _annual(con: duckdb.DuckDBPyConnection, as_of: dt.date, folder: Path) -> list[Path]:
    year = reports.chart_year(con, as_of.year)
    return [] if year is None else reports.admin_litigation_chart(con, year, folder / "admin_litigation")


MARTS: tuple[Mart, ...] = (
    Mart(
        "reply_tracking", ("supervision",),
        "mart_replies: every supervision measure with its deadline, status and days overdue; "
        "mart_reply_escalation: what is overdue, per target institution.",
        replies.COLUMNS, replies.KEYS, "SELECT status, count(*) FROM mart_replies GROUP BY 1",
        lambda con, c, as_of: replies.build(con, c.hub.reply_deadline_days, as_of),
    ),
    Mart(
        "nonlit_statistics", ("reply_tracking", "enforcement"),
        "mart_nonlit_quarterly: civil and administrative non-litigation enforcement supervision per "
        "procuratorate and quarter; reports/quarterly/<quarter>/ the last complete quarter as Parquet "
        "and an .xlsx workbook (附件1 民事, 附件2 行政), due by the 5th of the following month.",
        nonlit_stats.COLUMNS, nonlit_stats.KEYS,
        "SELECT kind || ' ' || quarter, sum(measures) FROM mart_nonlit_quarterly GROUP BY 1",
        lambda con, c, as_of: nonlit_stats.build(con, _procuratorates(c), as_of),
        _quarterly,
    ),
    Mart(
        "supervision_window", ("supervision", "judgment"),
        "mart_supervision_window: measures issued after the 3-year window of their target ruling, "
        "and rulings whose window is closing with no measure issued.",
        supervision_window.COLUMNS, supervision_window.KEYS,
        "SELECT kind, count(*) FROM mart_supervision_window GROUP BY 1",
        lambda con, c, as_of: supervision_window.build(con, years=c.hub.supervision_window_years,
                                                       warn_days=c.hub.window_warning_days, as_of=as_of),
    ),
    Mart(
        "enforcement_watch", ("enforcement",),
        "mart_enforcement_watch: enforcement cases flagged by a rule (early or empty 终本, "
        "open past the time limit, undecided non-litigation applications), each with why.",
        enforcement_watch.COLUMNS, enforcement_watch.KEYS,
        "SELECT rule, count(*) FROM mart_enforcement_watch GROUP BY 1",
        lambda con, c, as_of: enforcement_watch.build(con, limit_days=c.hub.enforcement_time_limit_days,
                                                      review_days=c.hub.non_litigation_review_days, as_of=as_of),
    ),
    Mart(
        "admin_litigation", ("filing", "judgment"),
        "mart_admin_litigation: per year and defendant agency, cases, loss rate, agency-head appearance "
        "rate and mediation/withdrawal rate; mart_admin_litigation_year: all agencies with cases per "
        "10,000 residents; reports/admin_litigation/<year>.png the white paper's chart.",
        admin_litigation.COLUMNS, admin_litigation.KEYS,
        "SELECT CAST(year AS VARCHAR), cases_filed FROM mart_admin_litigation_year",
        lambda con, c, as_of: admin_litigation.build(con, c.hub.population),
        _annual,
    ),
    Mart(
        "class_divergence", ("filing", "judgment"),
        "mart_class_divergence: groups of decisions with the same cause and court level whose "
        "outcomes diverge beyond hub.class_case_divergence_threshold.",
        class_cases.COLUMNS, class_cases.KEYS,
        "SELECT court_level, count(*) FROM mart_class_divergence GROUP BY 1",
        lambda con, c, as_of: class_cases.build(con, threshold=c.hub.class_case_divergence_threshold,
                                                min_cases=c.hub.class_case_min_cases),
    ),
)

MART_TABLES: dict[str, Mart] = {table: m for m in MARTS for table in m.columns}
"""Mart table -> the mart that builds it."""


def mart(name: str) -> Mart:
    return next(m for m in MARTS if m.name == name)


def shareable_columns(table: str) -> dict[str, tuple[str, str]]:
    """Column -> (Chinese, English) of a table an agreement may share: a shared table's
    stored columns, or a mart table's; empty for any other name."""
    if table in TABLES:
        return {f.name: (f.zh, f.en) for f in stored_fields(table)}
    return MART_TABLES[table].columns[table] if table in MART_TABLES else {}


def asset_of(table: str) -> str:
    """The Dagster asset that materializes a shareable table."""
    return MART_TABLES[table].name if table in MART_TABLES else table
