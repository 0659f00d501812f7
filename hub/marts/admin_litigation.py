"""Annual administrative-litigation figures per agency, for the government's white paper.

The 府院联动 agreement asks the court to report each year how agencies fared in administrative
litigation: loss rate (败诉率), agency-head court appearance rate (负责人出庭应诉率, target
100 %), mediation/withdrawal rate (调撤率) and civil and administrative cases per 10,000
residents (万人成讼率); see docs/domain-rules.md, "Administrative litigation". Administrative
cases are the shared tables' rows of category 行政; the headline loss and settlement rates are
first instance's (行初), appeals' (行终) beside them, so one dispute is not counted twice.

- ``mart_admin_litigation``: one row per year and defendant agency. Filings count by filing
  year; decisions by decision year, with the agency from the decision, else from the filing.
- ``mart_admin_litigation_year``: the same figures for all agencies together, with the civil
  first-instance filings, the configured population and cases per 10,000 residents.
- ``mart_admin_loss_reasons``: per year and instance, the cases agencies lost by the reason the
  judgment records (``judgment.loss_reason``), for the white paper's analysis of why.

Rates are NULL where their denominator is zero: an agency with no decision has no loss rate.
The appearance rate counts the cases heard, not every decision: a case decided by judgment or
mediation agreement (a ruling, such as one on a withdrawal, usually follows no hearing) whose
record says whether the head appeared.
"""

from __future__ import annotations

import duckdb

from hub.marts.tables import rebuild
from schemas.codes import AGENCY_LOSS_OUTCOMES, MEDIATION_DOCUMENT, settled_sql
from schemas.marts import ADMIN_LITIGATION
from schemas.sql import lit

UNNAMED_AGENCY = "(未载明被诉行政机关)"
UNSTATED_REASON = "(未载明)"

COLUMNS = ADMIN_LITIGATION.columns
FIGURES = [c for c in COLUMNS["mart_admin_litigation"] if c not in ("year", "agency")]


def build(con: duckdb.DuckDBPyConnection, population: int | dict[int, int] | None) -> dict[str, int]:
    """Rebuild both tables from ``filing`` and ``judgment``; ``population`` is one figure for
    every year or one per year (``marts.population``)."""
    if isinstance(population, dict):
        people = [{"year": y, "residents": n} for y, n in sorted(population.items())]
        per_year, everywhere = people, None
    else:
        per_year, everywhere = [], population
    def share(part: str, whole: str) -> str:
        return f"round({part} / nullif({whole}, 0), 4)"

    first, appeal = "kind = 'decided' AND instance = '行初'", "kind = 'decided' AND instance = '行终'"
    counted = {
        "cases_filed": "count(*) FILTER (WHERE kind = 'filed')",
        "first_instance_filed": "count(*) FILTER (WHERE kind = 'filed' AND instance = '行初')",
        "decided": f"count(*) FILTER (WHERE {first})",
        "lost": f"count(*) FILTER (WHERE {first} AND lost)",
        "appeal_decided": f"count(*) FILTER (WHERE {appeal})",
        "appeal_lost": f"count(*) FILTER (WHERE {appeal} AND lost)",
        "head_recorded": "count(DISTINCT case_no) FILTER (WHERE kind = 'decided' AND heard AND appeared IS NOT NULL)",
        "head_appeared": "count(DISTINCT case_no) FILTER (WHERE kind = 'decided' AND heard AND appeared)",
        "settled": f"count(*) FILTER (WHERE {first} AND settled)",
    }
    rates = {"loss_rate": ("lost", "decided"), "appeal_loss_rate": ("appeal_lost", "appeal_decided"),
             "head_appearance_rate": ("head_appeared", "head_recorded"), "settlement_rate": ("settled", "decided")}
    figures = ",\n".join(f"{counted[c]} AS {c}" if c in counted else f"{share(counted[rates[c][0]], counted[rates[c][1]])} AS {c}"
                          for c in FIGURES)
    events = f"""CREATE OR REPLACE TEMP TABLE _admin_events AS
        WITH filed_agency AS (
          SELECT case_no, any_value(defendant_agency) AS agency FROM filing
          WHERE case_category = '行政' AND defendant_agency IS NOT NULL GROUP BY case_no
        )
        SELECT 'filed' AS kind, year(filing_date) AS year, coalesce(defendant_agency, '{UNNAMED_AGENCY}') AS agency,
               case_type_code AS instance, case_no, NULL::BOOLEAN AS lost, NULL::BOOLEAN AS heard,
               NULL::BOOLEAN AS appeared, NULL::BOOLEAN AS settled, NULL::VARCHAR AS loss_reason
        FROM filing WHERE case_category = '行政'
        UNION ALL
        SELECT 'decided', year(j.decided_date), coalesce(j.defendant_agency, f.agency, '{UNNAMED_AGENCY}'),
               j.case_type_code, j.case_no,
               coalesce(list_contains($lost, j.outcome) AND NOT coalesce({settled_sql('j')}, false), false),
               coalesce(j.document_type IN ('判决书', {lit(MEDIATION_DOCUMENT)}), false), j.agency_head_appeared,
               coalesce({settled_sql('j')}, false), j.loss_reason
        FROM judgment j LEFT JOIN filed_agency f USING (case_no) WHERE j.case_category = '行政'
        UNION ALL
        SELECT 'civil_filed', year(filing_date), NULL, case_type_code, case_no, NULL, NULL, NULL, NULL, NULL
        FROM filing WHERE case_type_code = '民初'"""
    con.execute(events, {"lost": list(AGENCY_LOSS_OUTCOMES)})
    try:
        return rebuild(con, [
            (f"""CREATE OR REPLACE TABLE mart_admin_litigation AS
                 SELECT year, agency, {figures} FROM _admin_events WHERE kind <> 'civil_filed'
                 GROUP BY ALL ORDER BY year, agency""", {}),
            (f"""CREATE OR REPLACE TABLE mart_admin_litigation_year AS
                 WITH people AS (SELECT unnest(CAST($per_year AS STRUCT(year INTEGER, residents BIGINT)[]), recursive := true)),
                 totals AS (SELECT year, count(DISTINCT agency) AS agencies, {figures},
                                   count(*) FILTER (WHERE kind = 'civil_filed') AS civil_first_instance_filed
                            FROM _admin_events GROUP BY year
                            HAVING count(*) FILTER (WHERE kind <> 'civil_filed') > 0)
                 SELECT t.*, coalesce(p.residents, CAST($everywhere AS BIGINT)) AS population,
                        round((t.first_instance_filed + t.civil_first_instance_filed) * 10000
                              / coalesce(p.residents, CAST($everywhere AS BIGINT)), 4) AS cases_per_10k
                 FROM totals t LEFT JOIN people p USING (year) ORDER BY year""",
             {"per_year": per_year, "everywhere": everywhere}),
            (f"""CREATE OR REPLACE TABLE mart_admin_loss_reasons AS
                 SELECT year, instance, coalesce(loss_reason, {lit(UNSTATED_REASON)}) AS loss_reason, count(*) AS lost,
                        round(count(*) / sum(count(*)) OVER (PARTITION BY year, instance), 4) AS share
                 FROM _admin_events WHERE kind = 'decided' AND lost AND instance IN ('行初', '行终')
                 GROUP BY 1, 2, 3 ORDER BY year, instance, lost DESC, loss_reason""", {}),
        ], COLUMNS)
    finally:
        con.execute("DROP TABLE IF EXISTS _admin_events")
