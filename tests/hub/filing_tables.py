"""Six filing tables on one PostgreSQL server and a home pulling each as a source: many sources
of one record type, for the sweep's tests (the ``tables`` fixture is in tests/hub/conftest.py)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
import yaml

from hub.home import Home
from tests.hub.pull.test_reconcile import PG_URL

SOURCES = 6


@contextmanager
def filing_tables() -> Iterator[tuple[sa.Engine, list[str]]]:
    """Six filing tables on one PostgreSQL server, three rows each, dropped afterwards."""
    engine = sa.create_engine(PG_URL)
    names = [f"t_sweep_{uuid.uuid4().hex[:8]}" for _ in range(SOURCES)]
    with engine.begin() as conn:
        for n, name in enumerate(names):
            conn.execute(sa.text(f"CREATE TABLE {name} (ajbs INTEGER PRIMARY KEY, ah VARCHAR(64), larq VARCHAR(10), "
                                 "gxsj TIMESTAMP NOT NULL)"))
            conn.execute(sa.text(f"INSERT INTO {name} VALUES (:k, :ah, '2024-03-01', '2024-03-01 10:00:00')"),
                         [{"k": k, "ah": f"（2024）内03民初{n * 10 + k}号"} for k in range(1, 4)])
    try:
        yield engine, names
    finally:
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
