"""Many sources pulled by one step: at once, never more than ``hub.pull_per_host`` on one
server, and a source that fails (tried again when the failure may pass) never stops the others.
Against a real PostgreSQL."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import sqlalchemy as sa

from hub.config import load_config
from hub.errors import Transient
from hub.observe.run import RunContext
from hub.pull import pull_sources
from tests.hub.filing_tables import SOURCES, make_home


def test_no_more_pulls_on_one_server_than_its_bound(tables: tuple[sa.Engine, list[str]], tmp_path: Path) -> None:
    engine, names = tables
    home = make_home(tmp_path, names, per_host=2)
    config = load_config(home.config)
    locker = engine.connect()
    locker.execute(sa.text(f"LOCK TABLE {', '.join(names)} IN ACCESS EXCLUSIVE MODE"))  # every pull waits on it
    outcomes: list[object] = []
    sweep = threading.Thread(target=lambda: outcomes.extend(
        pull_sources(RunContext(config, home, "sweep"), [s.name for s in config.sources])))
    sweep.start()
    waiting = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not waiting or waiting[-1] < 2 or len(waiting) < 20):
            with engine.connect() as conn:
                waiting.append(conn.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database() AND pid <> pg_backend_pid()")).scalar_one())
            time.sleep(0.1)
    finally:
        locker.rollback()
        locker.close()
    sweep.join(timeout=60)
    assert max(waiting) == 2  # two at once on the server, never six
    assert [o.error for o in outcomes] == [None] * SOURCES  # type: ignore[attr-defined]
    assert sum(o.result.rows for o in outcomes) == 3 * SOURCES  # type: ignore[attr-defined]


def test_a_source_that_cannot_be_reached_is_retried_and_never_stops_the_others(
    tables: tuple[sa.Engine, list[str]], tmp_path: Path
) -> None:
    _, names = tables
    home = make_home(tmp_path, names, per_host=4, unreachable=True)
    config = load_config(home.config)
    warned: list[str] = []
    outcomes = pull_sources(RunContext(config, home, "sweep"), [s.name for s in config.sources], warn=warned.append,
                            waits=(0, 0))
    down, *up = outcomes
    assert isinstance(down.error, Transient) and down.attempts == 3 and down.result is None
    assert "c1_filing_0" in down.describe_error() and "gave up after 3 attempts" in down.describe_error()
    assert [w.split(":")[0] for w in warned] == ["c1_filing_0", "c1_filing_0"]  # each retry said, the others none
    assert [(o.error, o.attempts, o.result.rows) for o in up] == [(None, 1, 3)] * (SOURCES - 1)  # type: ignore[union-attr]
    again = pull_sources(RunContext(config, home, "again"), [s.name for s in config.sources[1:]])
    assert [o.result.rows for o in again] == [0] * (SOURCES - 1)  # type: ignore[union-attr]  # nothing landed twice
