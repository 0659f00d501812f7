"""Quarterly statistics of civil and administrative non-litigation enforcement supervision.

Each procuratorate reports every quarter, by the 5th of the following month, how many
non-litigation enforcement supervision measures it issued and what became of them (the
agreement's attachments 1 and 2: 民事/行政非诉执行监督案件统计表; docs/domain-rules.md,
"Non-litigation enforcement statistics"). A measure counts as
non-litigation enforcement supervision by what it targets:

- 民事非诉执行: an enforcement case whose basis is an arbitration award or mediation statement,
  or a notarized debt instrument (仲裁裁决书, 仲裁调解书, 公证债权文书);
- 行政非诉执行: a non-litigation administrative enforcement review (类型代字 行审/行审复), or
  an enforcement case whose basis is an administrative decision (行政决定书);
- a measure with no target case (to an agency, an arbitration commission, a notary office) that
  names a supervision focus: the one table that focus belongs to, else its domain's (民事/行政).

``mart_nonlit_quarterly`` has one row per kind, quarter and procuratorate (every procuratorate
in ``hub.yaml`` files a row, zero or not), counting the measures issued in the quarter. Replies
and deadlines are counted as they stood on the quarter's last day, so a filed quarter's figures
never change when later replies arrive; a quarter still running is counted as of today
(``counted_to``), never ahead of it. Due dates come from ``mart_replies`` (the document's, else
the configured default; never an extension agreed later, which would change a filed quarter), so
this mart is built after it.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from hub.marts.tables import rebuild
from schemas.marts import NONLIT_FOCUSES as FOCUSES
from schemas.marts import NONLIT_MEASURES as MEASURES
from schemas.marts import NONLIT_STATISTICS
from schemas.sql import lit, lit_tuple

KINDS = {"民事": "民事非诉执行监督案件统计表", "行政": "行政非诉执行监督案件统计表"}
CIVIL_BASES = ("仲裁裁决书", "仲裁调解书", "公证债权文书")
ADMIN_BASES = ("行政决定书",)

COLUMNS = NONLIT_STATISTICS.columns
COUNTS = [c for c in COLUMNS["mart_nonlit_quarterly"] if c not in
          ("kind", "quarter", "quarter_start", "quarter_end", "counted_to", "due_by", "procuratorate", "adoption_rate")]
"""The additive columns: the workbook's 合计 row sums exactly these."""


def shown_in(kind: str) -> list[str]:
    """The mart's columns a kind's table shows: a focus the agreement names for the other kind only
    (超标的执行 for 民事, 违法执行和解 for 行政…) has no column in it."""
    hidden = ("kind", "quarter", "quarter_start", "quarter_end", "counted_to", "due_by")
    return [c for c in COLUMNS["mart_nonlit_quarterly"]
            if c not in hidden and (c not in FOCUSES or kind in FOCUSES[c][2])]


def adoption_rate(adopted: str, partly_adopted: str, replied: str) -> str:
    """SQL for the adoption rate over these (column or aggregate) expressions: one definition
    for the mart's rows and the workbook's 合计 row."""
    return f"round(({adopted} + {partly_adopted}) / nullif({replied}, 0), 4)"


def _untargeted(r: str) -> str:
    """SQL for the kind of a measure with no target case (no case can tell it): a focus says the
    measure is about non-litigation enforcement; the kind is the focus's one table, else the domain."""
    only = " ".join(f"WHEN {lit(zh)} THEN {lit(kinds[0])}" for zh, _, kinds in FOCUSES.values() if len(kinds) == 1)
    return (f"CASE WHEN {r}.target_case_no IS NULL AND {r}.focus IN {lit_tuple(zh for zh, _, _ in FOCUSES.values())} "
            f"THEN coalesce(CASE {r}.focus {only} END, CASE WHEN {r}.domain IN {lit_tuple(KINDS)} THEN {r}.domain END) END")


def _quarter_end(start: str) -> str:
    return f"CAST({start} + INTERVAL 3 MONTH - INTERVAL 1 DAY AS DATE)"


def _counted_to(start: str) -> str:
    return f"least({_quarter_end(start)}, CAST($as_of AS DATE))"


def build(con: duckdb.DuckDBPyConnection, procuratorates: list[str], as_of: dt.date) -> dict[str, int]:
    """Rebuild ``mart_nonlit_quarterly`` from ``mart_replies`` and ``enforcement``.

    ``procuratorates`` are the names every quarter lists, measures or not; an issuer not
    among them (a procuratorate outside the config) gets its rows too. Quarters run from the
    first with a measure to the last complete one as of ``as_of`` (or later, if measures were
    issued later), so the quarter due for filing always has its rows, zeros included."""
    measure_counts = ",\n".join(
        [f"count(*) FILTER (WHERE m.measure = {lit(zh)}) AS {col}" for col, zh in MEASURES.items()]
        + [f"count(*) FILTER (WHERE m.measure NOT IN {lit_tuple(MEASURES.values())}) AS other_measures"]
        + [f"count(*) FILTER (WHERE m.focus = {lit(zh)}) AS {col}" for col, (zh, _, _) in FOCUSES.items()])
    sql = f"""CREATE OR REPLACE TABLE mart_nonlit_quarterly AS
      WITH targets AS (
        SELECT case_no, CASE WHEN case_type_code LIKE '行审%' OR list_contains($admin, basis_type) THEN '行政'
                             WHEN list_contains($civil, basis_type) THEN '民事' END AS kind
        FROM enforcement
      ), measures AS (
        SELECT coalesce(t.kind, CASE WHEN r.target_case_no LIKE '%行审%' THEN '行政' END, {_untargeted("r")}) AS kind,
               coalesce(r.issuer, '(未载明)') AS procuratorate,
               CAST(date_trunc('quarter', r.issued_date) AS DATE) AS quarter_start, r.*
        FROM mart_replies r LEFT JOIN targets t ON t.case_no = r.target_case_no
        WHERE r.measure <> '司法建议'
      ), judged AS (
        SELECT m.*, {_counted_to("quarter_start")} AS counted_to
        FROM measures m WHERE kind IS NOT NULL
      ), counted AS (
        SELECT kind, quarter_start, procuratorate, count(*) AS measures,
               {measure_counts},
               count(*) FILTER (WHERE replied_date <= counted_to) AS replied,
               count(*) FILTER (WHERE replied_date <= counted_to AND reply_result = '采纳') AS adopted,
               count(*) FILTER (WHERE replied_date <= counted_to AND reply_result = '部分采纳') AS partly_adopted,
               count(*) FILTER (WHERE replied_date <= counted_to AND reply_result = '不采纳') AS not_adopted,
               count(*) FILTER (WHERE (replied_date IS NULL OR replied_date > counted_to)
                                AND (original_due_date IS NULL OR original_due_date >= counted_to)) AS awaiting_reply,
               count(*) FILTER (WHERE (replied_date IS NULL OR replied_date > counted_to)
                                AND original_due_date < counted_to) AS overdue
        FROM judged m GROUP BY ALL
      ), quarters AS (
        SELECT CAST(unnest(generate_series(min(quarter_start), max(quarter_start), INTERVAL 3 MONTH)) AS DATE) AS quarter_start
        FROM (SELECT quarter_start FROM counted UNION ALL SELECT CAST($last AS DATE))
      ), grid AS (
        SELECT k.kind, q.quarter_start, p.procuratorate
        FROM (SELECT unnest($kinds) AS kind) k, quarters q,
             (SELECT unnest(CAST($procuratorates AS VARCHAR[])) AS procuratorate UNION SELECT procuratorate FROM counted) p
      )
      SELECT g.kind, year(g.quarter_start) || 'Q' || quarter(g.quarter_start) AS quarter, g.quarter_start,
             {_quarter_end("g.quarter_start")} AS quarter_end, {_counted_to("g.quarter_start")} AS counted_to,
             CAST(g.quarter_start + INTERVAL 3 MONTH + INTERVAL 4 DAY AS DATE) AS due_by, g.procuratorate,
             {", ".join(f"coalesce(c.{col}, 0) AS {col}" for col in COUNTS)},
             {adoption_rate("coalesce(c.adopted, 0)", "coalesce(c.partly_adopted, 0)", "c.replied")} AS adoption_rate
      FROM grid g LEFT JOIN counted c USING (kind, quarter_start, procuratorate)
      ORDER BY g.quarter_start, g.kind, g.procuratorate"""
    params = {"admin": list(ADMIN_BASES), "civil": list(CIVIL_BASES), "kinds": list(KINDS),
              "procuratorates": procuratorates, "last": quarter_start(last_complete_quarter(as_of)),
              "as_of": as_of}
    return rebuild(con, [(sql, params)], COLUMNS)


def quarter_start(quarter: str) -> dt.date:
    year, q = quarter.split("Q")
    return dt.date(int(year), 3 * int(q) - 2, 1)


def quarter_dates(quarter: str) -> tuple[dt.date, dt.date, dt.date]:
    """(first day, last day, due by: the 5th of the following month) of a quarter like 2024Q3."""
    start = quarter_start(quarter)
    following = dt.date(start.year + (start.month == 10), (start.month + 2) % 12 + 1, 1)
    return start, following - dt.timedelta(days=1), following.replace(day=5)


def last_complete_quarter(as_of: dt.date) -> str:
    """The quarter a report made on ``as_of`` covers: the last one that has ended."""
    start = dt.date(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1)
    prev = start - dt.timedelta(days=1)
    return f"{prev.year}Q{(prev.month - 1) // 3 + 1}"
