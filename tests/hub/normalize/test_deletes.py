"""Deletes at the source reach the shared tables: soft-delete flags and hard deletes found by
key reconciliation, against real SQLite, PostgreSQL and MariaDB, through pull -> land -> apply."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.config import HubConfig
from hub.errors import WarehouseError
from hub.home import Home
from hub.normalize import apply_pending
from hub.normalize.apply import apply
from hub.normalize.warehouse import Warehouse
from hub.observe.run import RunContext
from hub.pull import pull

PG_URL = os.environ.get("HUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("HUB_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[sa.Engine, str]]:
    """(engine, table) with case rows carrying a soft-delete flag ``sfsc``."""
    url = {"sqlite": f"sqlite:///{tmp_path}/src.sqlite", "postgresql": PG_URL, "mariadb": MARIADB_URL}[request.param]
    table = f"t_del_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            f"CREATE TABLE {table} (ajbs INTEGER PRIMARY KEY, ah VARCHAR(64), larq VARCHAR(10), "
            "sfsc VARCHAR(1), gxsj TIMESTAMP NOT NULL)"
        ))
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (:k, :ah, '2024-03-01', '0', :t)"), [
            {"k": k, "ah": f"（2024）内03民初{k}号", "t": f"2024-03-01 10:00:0{k}"} for k in range(1, 6)
        ])
    yield engine, table
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {table}"))
    engine.dispose()


def config_for(engine: sa.Engine, table: str, **database: object) -> HubConfig:
    return HubConfig.model_validate({
        "institutions": [{"id": "c1", "name": "乌海中院", "kind": "court", "court_code": "内03"}],
        "sources": [{
            "name": "c1_filing", "institution": "c1", "record_type": "filing", "kind": "database",
            "database": {"url": engine.url.render_as_string(hide_password=False), "table": table,
                         "cursor": "gxsj", "batch_size": 2, **database},
            "key": "ajbs", "mapping": {"case_no": "ah", "filing_date": "larq", "source_updated_at": "gxsj"},
            "soft_delete": {"column": "sfsc", "values": ["1"]},
        }],
        "offices": [], "agreements": [],
    })


def sync(config: HubConfig, home: Home, run: str) -> list[str]:
    pull(RunContext(config, home, run), "c1_filing")
    apply_pending(RunContext(config, home, run))
    with Warehouse.open(config, home, read_only=True) as wh:
        return [r[0] for r in wh.query("SELECT source_key FROM filing ORDER BY CAST(source_key AS INTEGER)").fetchall()]


def test_soft_delete_flag_hides_the_record_and_clearing_it_restores(source: tuple[sa.Engine, str], tmp_path: Path) -> None:
    engine, table = source
    config, home = config_for(engine, table), Home(tmp_path / "home")
    assert sync(config, home, "r1") == ["1", "2", "3", "4", "5"]
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {table} SET sfsc = '1', gxsj = '2024-03-02 09:00:00' WHERE ajbs = 2"))
    assert sync(config, home, "r2") == ["1", "3", "4", "5"]
    with Warehouse.open(config, home, read_only=True) as wh:
        versions = wh.query("SELECT deleted, is_current FROM filing_history WHERE source_key = '2' "
                            "ORDER BY source_updated_at").fetchall()
        assert versions == [(False, False), (True, True)]  # the tombstone is a version; history keeps both
        ledger = wh.query("SELECT sum(rows_deleted) FROM hub_batches WHERE kind = 'rows'").fetchone()
        assert ledger == (1,)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {table} SET sfsc = '0', gxsj = '2024-03-03 09:00:00' WHERE ajbs = 2"))
    assert sync(config, home, "r3") == ["1", "2", "3", "4", "5"]


def test_hard_deletes_are_found_by_key_reconciliation(source: tuple[sa.Engine, str], tmp_path: Path) -> None:
    engine, table = source
    config, home = config_for(engine, table, reconcile_every_hours=0.0001), Home(tmp_path / "home")
    assert sync(config, home, "r1") == ["1", "2", "3", "4", "5"]
    with engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {table} WHERE ajbs IN (3, 5)"))
    import time

    time.sleep(0.5)  # past reconcile_every_hours (0.36 s)
    assert sync(config, home, "r2") == ["1", "2", "4"]
    with Warehouse.open(config, home, read_only=True) as wh:
        ledger = wh.query("SELECT rows_in, rows_deleted FROM hub_batches WHERE kind = 'keys' ORDER BY applied_at").fetchall()
        assert ledger == [(5, 0), (3, 2)]
        tomb = wh.query("SELECT count(*) FROM filing_history WHERE deleted AND is_current").fetchone()
        assert tomb == (2,)
    # the case is re-created at the source later: it comes back
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (3, '（2024）内03民初3号', '2024-03-01', '0', '2024-04-01 08:00:00')"))
    assert sync(config, home, "r3") == ["1", "2", "3", "4"]


def test_replaying_deletes_in_another_order_gives_the_same_tables(tmp_path: Path) -> None:
    """A soft delete landed before the older live version still wins: newest source update."""
    import pyarrow as pa

    from connectors.base import SOURCE_ROW, Batch
    from hub.normalize.warehouse import Warehouse
    from hub.pull.landing import land

    def landed(rows: list[dict[str, str]]):  # noqa: ANN202
        table = pa.Table.from_pylist([r | {SOURCE_ROW: i} for i, r in enumerate(rows, 1)])
        return land(Batch("c1_filing", table, origin="test"), tmp_path / "landing",
                    record_type="filing", institution="c1", run_id="r")

    live = landed([{"id": "1", "ah": "（2024）内03民初1号", "larq": "2024-03-01", "sc": "0", "gxsj": "2024-03-01 10:00:00"}])
    gone = landed([{"id": "1", "ah": "（2024）内03民初1号", "larq": "2024-03-01", "sc": "1", "gxsj": "2024-03-02 10:00:00"}])
    mapping = {"case_no": "ah", "filing_date": "larq", "source_updated_at": "gxsj"}
    results = []
    for name, order in (("a", [live, gone]), ("b", [gone, live])):
        with Warehouse(tmp_path / f"{name}-lake", hash_key=b"k") as wh:
            for b in order:
                apply(wh, b, mapping=mapping, key_column="id", court_code="内03", run_id="r", soft_delete=("sc", ["1"]))
            results.append((
                wh.query("SELECT count(*) FROM filing").fetchone(),
                wh.query("SELECT deleted, is_current FROM filing_history ORDER BY source_updated_at").fetchall(),
            ))
    assert results[0] == results[1] == ((0,), [(False, False), (True, True)])


def test_an_empty_key_snapshot_deletes_nothing_and_says_why(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/src.sqlite")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE la (ajbs INTEGER PRIMARY KEY, ah TEXT, larq TEXT, sfsc TEXT, gxsj TEXT)"))
        conn.execute(sa.text("INSERT INTO la VALUES (1, '（2024）内03民初1号', '2024-03-01', '0', '2024-03-01 10:00:00')"))
    config, home = config_for(engine, "la", reconcile_every_hours=0.0001), Home(tmp_path / "home")
    assert sync(config, home, "r1") == ["1"]
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM la"))  # emptied by mistake, or the hub lost its grants
    import time

    time.sleep(0.5)
    pull(RunContext(config, home, "r2"), "c1_filing")
    with pytest.raises(WarehouseError, match="key snapshot of c1_filing is empty while 1 of its records"):
        apply_pending(RunContext(config, home, "r2"))
    with Warehouse.open(config, home, read_only=True) as wh:
        assert wh.query("SELECT count(*) FROM filing").fetchone() == (1,)
