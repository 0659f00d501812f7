"""Many sources pulled by one step: at once, never more than ``hub.pull_per_host`` on one
server, and a source that fails (tried again when the failure may pass) never stops the others.
Against a real PostgreSQL."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from hub.config import load_config
from hub.errors import Transient
from hub.home import Home
from hub.observe.run import RunContext
from hub.pull import pull_sources
from tests.hub.pull.test_reconcile import PG_URL

SOURCES = 6


@pytest.fixture
def tables() -> Iterator[tuple[sa.Engine, list[str]]]:
    """Six filing tables on one PostgreSQL server, three rows each."""
    engine = sa.create_engine(PG_URL)
    names = [f"t_sweep_{uuid.uuid4().hex[:8]}" for _ in range(SOURCES)]
    with engine.begin() as conn:
        for n, name in enumerate(names):
            conn.execute(sa.text(f"CREATE TABLE {name} (ajbs INTEGER PRIMARY KEY, ah VARCHAR(64), larq VARCHAR(10), "
                                 "gxsj TIMESTAMP NOT NULL)"))
            conn.execute(sa.text(f"INSERT INTO {name} VALUES (:k, :ah, '2024-03-01', '2024-03-01 10:00:00')"),
                         [{"k": k, "ah": f"（2024）内03民初{n * 10 + k}号"} for k in range(1, 4)])
    yield engine, names
    with engine.begin() as conn:
        for name in names:
            conn.execute(sa.text(f"DROP TABLE {name}"))
    engine.dispose()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_home(tmp_path: Path, tables: list[str], *, per_host: int, unreachable: bool = False) -> Home:
    home = Home(tmp_path / "home")
    home.root.mkdir()
    url = sa.make_url(PG_URL)
    sources = [{
        "name": f"c1_filing_{n}", "institution": "c1", "record_type": "filing", "kind": "database",
        "database": {"url": url.render_as_string(hide_password=False), "table": table, "cursor": "gxsj",
                     "timeout_seconds": 5},
        "key": "ajbs", "mapping": {"case_no": "ah", "filing_date": "larq", "source_updated_at": "gxsj"},
    } for n, table in enumerate(tables)]
    if unreachable:
        sources[0]["database"]["url"] = url.set(port=closed_port()).render_as_string(hide_password=False)
    home.config.write_text(yaml.safe_dump({
        "hub": {"pull_threads": 8, "pull_per_host": per_host},
        "institutions": [{"id": "c1", "name": "乌海中院", "kind": "court", "court_code": "内03"}],
        "sources": sources, "offices": [], "agreements": [],
    }, allow_unicode=True), encoding="utf-8")
    return home


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
