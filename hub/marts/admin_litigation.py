"""Annual administrative-litigation figures per agency, for the government's white paper.

The 府院联动 agreement asks the court to report each year how agencies fared in administrative
litigation: loss rate (败诉率), agency-head court appearance rate (负责人出庭应诉率, target
100 %), mediation/withdrawal rate (调撤率) and cases per 10,000 residents (万人成讼率); see
docs/domain-rules.md, "Administrative litigation". Administrative cases are the shared tables' rows of
category 行政 (first instance, appeal and retrial alike).

- ``mart_admin_litigation``: one row per year and defendant agency. Filings count by filing
  year; decisions by decision year, with the agency from the decision, else from the filing.
- ``mart_admin_litigation_year``: the same figures for all agencies together, with the
  configured population and cases per 10,000 residents.

Rates are NULL where their denominator is zero: an agency with no decision has no loss rate.
The appearance rate counts decisions whose record says whether the head appeared.
"""

from __future__ import annotations

import duckdb

from hub.marts.tables import rebuild
from schemas.codes import AGENCY_LOSS_OUTCOMES, SETTLED_OUTCOMES
from schemas.marts import ADMIN_LITIGATION

UNNAMED_AGENCY = "(未载明被诉行政机关)"

COLUMNS = ADMIN_LITIGATION.columns


def build(con: duckdb.DuckDBPyConnection, population: int | dict[int, int] | None) -> dict[str, int]:
    """Rebuild both tables from ``filing`` and ``judgment``; ``population`` is one figure for
    every year or one per year (``marts.population``)."""
    if isinstance(population, dict):
        people = [{"year": y, "residents": n} for y, n in sorted(population.items())]
        per_year, everywhere = people, None
    else:
        per_year, everywhere = [], population
    figures = """count(*) FILTER (WHERE kind = 'filed') AS cases_filed,
                 count(*) FILTER (WHERE kind = 'decided') AS decided,
                 count(*) FILTER (WHERE kind = 'decided' AND lost) AS lost,
                 round(count(*) FILTER (WHERE kind = 'decided' AND lost) / nullif(count(*) FILTER (WHERE kind = 'decided'), 0), 4) AS loss_rate,
                 count(*) FILTER (WHERE kind = 'decided' AND appeared IS NOT NULL) AS head_recorded,
                 count(*) FILTER (WHERE kind = 'decided' AND appeared) AS head_appeared,
                 round(count(*) FILTER (WHERE kind = 'decided' AND appeared)
                       / nullif(count(*) FILTER (WHERE kind = 'decided' AND appeared IS NOT NULL), 0), 4) AS head_appearance_rate,
                 count(*) FILTER (WHERE kind = 'decided' AND settled) AS settled,
                 round(count(*) FILTER (WHERE kind = 'decided' AND settled) / nullif(count(*) FILTER (WHERE kind = 'decided'), 0), 4) AS settlement_rate"""
    events = f"""CREATE OR REPLACE TEMP TABLE _admin_events AS
        WITH filed_agency AS (
          SELECT case_no, any_value(defendant_agency) AS agency FROM filing
          WHERE case_category = '行政' AND defendant_agency IS NOT NULL GROUP BY case_no
        )
        SELECT 'filed' AS kind, year(filing_date) AS year, coalesce(defendant_agency, '{UNNAMED_AGENCY}') AS agency,
               NULL::BOOLEAN AS lost, NULL::BOOLEAN AS appeared, NULL::BOOLEAN AS settled
        FROM filing WHERE case_category = '行政'
        UNION ALL
        SELECT 'decided', year(j.decided_date), coalesce(j.defendant_agency, f.agency, '{UNNAMED_AGENCY}'),
               coalesce(list_contains($lost, j.outcome), false), j.agency_head_appeared,
               coalesce(list_contains($settled, j.outcome) OR j.document_type = '调解书', false)
        FROM judgment j LEFT JOIN filed_agency f USING (case_no) WHERE j.case_category = '行政'"""
    con.execute(events, {"lost": list(AGENCY_LOSS_OUTCOMES), "settled": list(SETTLED_OUTCOMES)})
    try:
        return rebuild(con, [
            (f"""CREATE OR REPLACE TABLE mart_admin_litigation AS
                 SELECT year, agency, {figures} FROM _admin_events GROUP BY ALL ORDER BY year, agency""", {}),
            (f"""CREATE OR REPLACE TABLE mart_admin_litigation_year AS
                 WITH people AS (SELECT unnest(CAST($per_year AS STRUCT(year INTEGER, residents BIGINT)[]), recursive := true)),
                 totals AS (SELECT year, count(DISTINCT agency) AS agencies, {figures} FROM _admin_events GROUP BY year)
                 SELECT t.*, coalesce(p.residents, CAST($everywhere AS BIGINT)) AS population,
                        round(t.cases_filed * 10000 / coalesce(p.residents, CAST($everywhere AS BIGINT)), 4) AS cases_per_10k
                 FROM totals t LEFT JOIN people p USING (year) ORDER BY year""",
             {"per_year": per_year, "everywhere": everywhere}),
        ], COLUMNS)
    finally:
        con.execute("DROP TABLE IF EXISTS _admin_events")
