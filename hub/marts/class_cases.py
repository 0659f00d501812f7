"""Class-case divergence: similar cases decided differently (类案监督; docs/domain-rules.md,
"Class-case divergence").

Cases are similar when they share a cause of action (案由, from the filing), a case category
and a court level (基层/中级/高级…, from ``code_court``). Within such a group the decided
outcomes should mostly go the same way (a claim upheld in whole or in part is one way,
``OUTCOME_DIRECTIONS``); a group is flagged when the most common direction covers less than
``1 - threshold`` of its decisions, i.e. ``divergence = 1 - dominant_share`` exceeds the
threshold (``marts.class_case_divergence_threshold``), once the group has at least
``marts.class_case_min_cases`` decisions. Mediations and withdrawals (by outcome, or a 调解书)
are left out: they are not rulings on the merits, so they say nothing about consistency.
"""

from __future__ import annotations

import duckdb

from hub.marts.tables import rebuild
from schemas.codes import OUTCOME_DIRECTIONS, settled_sql
from schemas.marts import CLASS_DIVERGENCE

COLUMNS = CLASS_DIVERGENCE.columns


def build(con: duckdb.DuckDBPyConnection, *, threshold: float, min_cases: int) -> dict[str, int]:
    """Rebuild ``mart_class_divergence``; returns its row count."""
    sql = f"""CREATE OR REPLACE TABLE mart_class_divergence AS
      WITH causes AS (
        SELECT case_no, any_value(cause) AS cause FROM filing WHERE cause IS NOT NULL GROUP BY case_no
      ), decided AS (
        SELECT c.cause, j.case_category, coalesce(k.level, '(未知层级)') AS court_level, j.court_code, j.outcome,
               coalesce(map_extract(MAP($outcomes, $directions), j.outcome)[1], j.outcome) AS direction
        FROM judgment j JOIN causes c USING (case_no) LEFT JOIN code_court k USING (court_code)
        WHERE j.outcome IS NOT NULL AND NOT coalesce({settled_sql('j')}, false)
      ), per_outcome AS (
        SELECT cause, case_category, court_level, outcome, count(*) AS n FROM decided GROUP BY ALL
      ), per_direction AS (
        SELECT cause, case_category, court_level, direction, count(*) AS n FROM decided GROUP BY ALL
      ), ways AS (
        SELECT cause, case_category, court_level, list(direction ORDER BY n DESC, direction)[1] AS dominant_outcome,
               max(n) AS dominant
        FROM per_direction GROUP BY ALL
      ), groups AS (
        SELECT o.cause, o.case_category, o.court_level, CAST(sum(o.n) AS BIGINT) AS cases, any_value(c.courts) AS courts,
               string_agg(o.outcome || ' ' || o.n, ', ' ORDER BY o.n DESC, o.outcome) AS outcomes,
               any_value(w.dominant_outcome) AS dominant_outcome, any_value(w.dominant) AS dominant
        FROM per_outcome o JOIN ways w USING (cause, case_category, court_level)
        JOIN (SELECT cause, case_category, court_level, count(DISTINCT court_code) AS courts FROM decided GROUP BY ALL) c
          USING (cause, case_category, court_level)
        GROUP BY ALL
      )
      SELECT g.cause, g.case_category, g.court_level, g.cases, g.courts,
             g.outcomes, g.dominant_outcome, round(g.dominant / g.cases, 4) AS dominant_share,
             round(1 - g.dominant / g.cases, 4) AS divergence, CAST($threshold AS DOUBLE) AS threshold,
             'only ' || round(100 * g.dominant / g.cases, 1) || '% of ' || g.cases || ' decisions go the most common way ('
               || g.dominant_outcome || '); divergence ' || round(1 - g.dominant / g.cases, 4) || ' > ' || $threshold AS why
      FROM groups g
      WHERE g.cases >= $min_cases AND 1 - g.dominant / g.cases > $threshold
      ORDER BY divergence DESC, cases DESC, cause"""
    params = {"threshold": threshold, "min_cases": min_cases,
              "outcomes": list(OUTCOME_DIRECTIONS), "directions": list(OUTCOME_DIRECTIONS.values())}
    return rebuild(con, [(sql, params)], COLUMNS)
