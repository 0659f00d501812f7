"""Incremental SQL pulls against real SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from connectors.base import SOURCE_ROW
from connectors.sql import SqlSettings, SqlSource
from hub.errors import TerminalSourceError, TransientSourceError

PG_URL = os.environ.get("HUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("HUB_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(url, table) with a fresh table in each real database."""
    url = {"sqlite": f"sqlite:///{tmp_path}/src.sqlite", "postgresql": PG_URL, "mariadb": MARIADB_URL}[request.param]
    table = f"t_la_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                f"CREATE TABLE {table} (ajbs VARCHAR(20) PRIMARY KEY, ah VARCHAR(64), gxsj TIMESTAMP NOT NULL)"
            ))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"{request.param} is not reachable at {url}: start it (see .ci/run): {exc}")
    yield url, table
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {table}"))
    engine.dispose()


def insert(url: str, table: str, rows: list[tuple[str, str, dt.datetime]]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"INSERT INTO {table} (ajbs, ah, gxsj) VALUES (:k, :a, :t)"),
            [{"k": k, "a": a, "t": t} for k, a, t in rows],
        )
    engine.dispose()


def pull_all(url: str, table: str, watermark: dict | None, batch_size: int) -> tuple[list[pa.Table], dict | None]:
    source = SqlSource(SqlSettings("src", url, table, ("ajbs", "ah", "gxsj"), "gxsj", "ajbs", batch_size))
    tables = []
    for batch in source.pull(watermark):
        tables.append(batch.table)
        watermark = batch.watermark
    source.close()
    return tables, watermark


def test_ties_across_batch_boundaries_neither_lost_nor_duplicated(db: tuple[str, str]) -> None:
    url, table = db
    t0 = dt.datetime(2024, 5, 1, 9, 0, 0)
    # 10 rows share one timestamp, so every batch boundary (size 3) falls inside the tie
    rows = [(f"K{i:03d}", f"（2024）内03民终{i}号", t0) for i in range(10)]
    rows += [(f"L{i:03d}", f"（2024）内03民终{100 + i}号", t0 + dt.timedelta(seconds=i)) for i in range(5)]
    insert(url, table, rows)
    tables, wm = pull_all(url, table, None, batch_size=3)
    keys = [k for t in tables for k in t.column("ajbs").to_pylist()]
    assert sorted(keys) == sorted(r[0] for r in rows)
    assert len(keys) == len(set(keys))
    assert all(t.num_rows <= 3 for t in tables)
    assert tables[0].column(SOURCE_ROW).to_pylist() == [1, 2, 3]

    # a later pull from the saved watermark sees only rows written after it, including a
    # row with the same cursor value as the last one pulled but a later key
    later = [("L999", "（2024）内03民终999号", t0 + dt.timedelta(seconds=4)), ("M001", "（2024）内03民终7号", t0 + dt.timedelta(days=1))]
    insert(url, table, later)
    tables2, _ = pull_all(url, table, wm, batch_size=3)
    assert sorted(k for t in tables2 for k in t.column("ajbs").to_pylist()) == ["L999", "M001"]

    # nothing new: nothing pulled
    tables3, wm3 = pull_all(url, table, _, batch_size=3)
    assert tables3 == [] and wm3 == _


def test_unknown_column_is_terminal_and_names_the_columns(db: tuple[str, str]) -> None:
    url, table = db
    source = SqlSource(SqlSettings("src", url, table, ("ajbs", "nope"), "gxsj", "ajbs"))
    with pytest.raises(TerminalSourceError, match=r"no column\(s\) nope.*columns are: ajbs, ah, gxsj"):
        list(source.pull(None))


def test_missing_table_is_terminal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/empty.sqlite"
    with pytest.raises(TerminalSourceError, match="does not exist"):
        list(SqlSource(SqlSettings("src", url, "ghost", ("a",), "a", "a")).pull(None))


def test_unreachable_database_is_transient_and_hides_password() -> None:
    url = "postgresql+psycopg://hub:topsecret@127.0.0.1:1/test?connect_timeout=2"
    with pytest.raises(TransientSourceError) as info:
        list(SqlSource(SqlSettings("src", url, "t", ("a",), "a", "a")).pull(None))
    assert "topsecret" not in str(info.value)
