"""A run materializes the sources that landed something, not every source it asked: a sweep of
many sources with little new costs what changed. The shared table follows each step's sweep, so
it is refreshed whether or not any one source had news. Against a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

import hub
from hub.config import load_config
from hub.orchestration.definitions import build_definitions
from hub.orchestration.instance import dagster_instance
from tests.hub.filing_tables import make_home

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def test_only_the_sources_that_landed_are_materialized_and_the_table_follows(
    tables: tuple[sa.Engine, list[str]], tmp_path: Path
) -> None:
    engine, names = tables
    home = make_home(tmp_path, names, per_host=4)
    config = load_config(home.config)
    sync = build_definitions(home, config).resolve_job_def("sync")
    instance = dagster_instance(home, config)

    def run() -> tuple[bool, dict[str, dict[str, Any]]]:
        result = sync.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False)
        return result.success, {e.asset_key.to_user_string(): e.materialization.metadata  # type: ignore[union-attr]
                                for e in result.get_asset_materialization_events()}

    ok, first = run()  # courts only: the marts of procuratorates' measures stay empty, without failing
    landings = {f"landing_c1_filing_{n}" for n in range(len(names))}
    assert ok and landings | {"pulled_filing", "filing"} <= set(first)
    assert first["pulled_filing"]["sources_landed"].value == len(names)

    ok, again = run()  # nothing new anywhere: no source is materialized, the table is still refreshed
    assert ok and not landings & set(again) and "filing" in again
    assert again["pulled_filing"]["sources_asked"].value == len(names)
    assert again["pulled_filing"]["sources_landed"].value == again["pulled_filing"]["rows"].value == 0

    with engine.begin() as conn:  # one court changes one filing
        conn.execute(sa.text(f"UPDATE {names[2]} SET larq = '2024-03-02', gxsj = '2024-03-02 10:00:00' WHERE ajbs = 1"))
    ok, changed = run()
    assert ok and landings & set(changed) == {"landing_c1_filing_2"} and changed["landing_c1_filing_2"]["rows"].value == 1
    assert changed["pulled_filing"]["landed"].value == {"c1_filing_2": 1}
    with hub.connect(home.root) as con:
        assert con.execute("SELECT count(*) FROM filing WHERE filing_date = DATE '2024-03-02'").fetchone() == (1,)

    with engine.begin() as conn:  # a court's table is gone: its pull fails, the others answered
        conn.execute(sa.text(f"ALTER TABLE {names[0]} RENAME TO {names[0]}_gone"))
    try:
        ok, failing = run()
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"ALTER TABLE {names[0]}_gone RENAME TO {names[0]}"))
    # those that answered are materialized, so only the failed one shows failed with the step
    assert not ok and landings & set(failing) == landings - {"landing_c1_filing_0"}
    assert all(failing[k]["rows"].value == 0 for k in landings - {"landing_c1_filing_0"})
    assert "pulled_filing" not in failing
