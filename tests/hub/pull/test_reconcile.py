"""Nothing lost silently: a row committed behind the cursor's lookback is found by the reconcile,
fetched by key and applied, once; what the reconcile could not fetch fails the check
``no_source_key_missing``. Against real SQLite, PostgreSQL and MariaDB, pull -> land -> apply."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
import yaml

from connectors.sql import SqlSource
from hub.config import HubConfig, load_config
from hub.home import Home
from hub.normalize import apply_pending
from hub.normalize.missing_keys import missing_keys
from hub.normalize.warehouse import Warehouse
from hub.observe import audit
from hub.observe.run import RunContext
from hub.pull import PullResult, pull
from hub.pull.landing import landed_batches

PG_URL = os.environ.get("HUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("HUB_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
SOURCE = "c1_filing"


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[sa.Engine, str]]:
    """(engine, table): five filings updated on 2024-03-01."""
    url = {"sqlite": f"sqlite:///{tmp_path}/src.sqlite", "postgresql": PG_URL, "mariadb": MARIADB_URL}[request.param]
    table = f"t_rec_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (ajbs INTEGER PRIMARY KEY, ah VARCHAR(64), larq VARCHAR(10), "
                             "gxsj TIMESTAMP NOT NULL)"))
    insert(engine, table, *((k, f"2024-03-01 10:00:0{k}") for k in range(1, 6)))
    yield engine, table
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {table}"))
    engine.dispose()


def insert(engine: sa.Engine, table: str, *rows: tuple[int, str], case_no: str = "（2024）内03民初{}号") -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (:k, :ah, '2024-03-01', :t)"),
                     [{"k": k, "ah": case_no.format(k), "t": t} for k, t in rows])


@pytest.fixture
def home(source: tuple[sa.Engine, str], tmp_path: Path) -> Home:
    """A home whose hub.yaml reads the source incrementally, 60 s of lookback, reconciling daily."""
    engine, table = source
    home = Home(tmp_path / "home")
    home.root.mkdir()
    home.config.write_text(yaml.safe_dump({
        "institutions": [{"id": "c1", "name": "乌海中院", "kind": "court", "court_code": "内03"}],
        "sources": [{
            "name": SOURCE, "institution": "c1", "record_type": "filing", "kind": "database",
            "database": {"url": engine.url.render_as_string(hide_password=False), "table": table, "cursor": "gxsj",
                         "lookback_seconds": 60, "reconcile_every_hours": 24},
            "key": "ajbs", "mapping": {"case_no": "ah", "filing_date": "larq", "source_updated_at": "gxsj"},
        }],
        "offices": [], "agreements": [],
    }, allow_unicode=True), encoding="utf-8")
    return home


def config(home: Home) -> HubConfig:
    return load_config(home.config)


def sync(home: Home, run: str) -> PullResult:
    result = pull(RunContext(config(home), home, run), SOURCE)
    apply_pending(RunContext(config(home), home, run))
    return result


def reconcile_due(home: Home) -> dict[str, Any]:
    """Make the next pull reconcile (as a day passing would); the source's state as it was."""
    path = home.state / f"{SOURCE}.json"
    state = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({k: v for k, v in state.items() if k != "reconciled_at"}), encoding="utf-8")
    return state


def keys(home: Home, sql: str = "SELECT source_key FROM filing") -> list[str]:
    with Warehouse.open(config(home), home, read_only=True) as wh:
        return sorted((r[0] for r in wh.query(sql).fetchall()), key=int)


def rows_batches(home: Home) -> dict[str, str]:
    """Landed batches of rows: id -> origin."""
    return {b.batch_id: b.origin for b in landed_batches(home.landing) if b.kind == "rows"}


def check(home: Home) -> Any:
    """The Dagster asset check ``no_source_key_missing`` of filing, run on this home."""
    import dagster as dg

    from hub.config import load_config
    from hub.orchestration.checks import build_checks
    from hub.orchestration.resources import HubResource

    (found,) = [c for c in build_checks(load_config(home.config)) if dg.AssetCheckKey(dg.AssetKey("filing"), "no_source_key_missing") in c.check_keys]
    return found(hub=HubResource(home=str(home.root)))


def test_a_row_committed_behind_the_lookback_is_fetched_by_the_reconcile_and_applied_once(
    source: tuple[sa.Engine, str], home: Home,
) -> None:
    engine, table = source
    assert sync(home, "r1").missed == 0  # the first pull reconciles too: it missed nothing
    assert keys(home) == ["1", "2", "3", "4", "5"]
    # a long transaction commits two rows stamped weeks behind the watermark (one with a bad case number)
    insert(engine, table, (6, "2024-02-01 08:00:00"))
    insert(engine, table, (7, "2024-02-01 08:00:00"), case_no="第{}号")
    landed = rows_batches(home)
    assert sync(home, "r2").rows == 5  # the lookback re-reads its 60 s, not weeks: both missed
    assert keys(home) == ["1", "2", "3", "4", "5"]

    before = reconcile_due(home)
    result = sync(home, "r3")
    assert (result.missed, result.fetched) == (2, 2)
    assert [o for b, o in rows_batches(home).items() if b not in landed] == [f"{SOURCE}: 2 key(s) missed behind the cursor"]
    state = json.loads((home.state / f"{SOURCE}.json").read_text(encoding="utf-8"))
    assert state["watermark"] == before["watermark"]  # the cursor stays where it was
    assert keys(home) == ["1", "2", "3", "4", "5", "6"]
    assert keys(home, "SELECT source_key FROM quarantine") == ["7"]  # accounted for: the check passes
    entries = [e for e in audit.entries(home.audit) if e["run_id"] == "r3"]
    (pulled,) = [e["details"] for e in entries if e["event"] == "pull"]
    assert (pulled["missed_keys"], pulled["missed_fetched"]) == (2, 2)
    assert [e["details"]["origin"] for e in entries if e["event"] == "land"][-2:] == [  # after the lookback's page
        f"{SOURCE}: 2 key(s) missed behind the cursor", f"{SOURCE}: key snapshot"]
    with Warehouse.open(config(home), home, read_only=True) as wh:
        assert missing_keys(wh, home.landing, config(home).sources) == []

    # reconciled again: nothing missed, no new batch of rows, no version twice
    landed = rows_batches(home)
    reconcile_due(home)
    assert sync(home, "r4").missed == 0
    assert rows_batches(home) == landed
    assert keys(home, "SELECT source_key FROM filing_history") == ["1", "2", "3", "4", "5", "6"]
    assert check(home).passed


def test_a_key_gone_before_its_fetch_is_no_error_and_the_check_names_it_until_the_next_reconcile(
    source: tuple[sa.Engine, str], home: Home, monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, table = source
    sync(home, "r1")
    insert(engine, table, (6, "2024-02-01 08:00:00"))
    real = SqlSource.rows_by_keys

    def deleted_first(self: SqlSource, wanted: pa.Table) -> Iterator[Any]:
        with engine.begin() as conn:  # the institution deletes the row between the key read and the fetch
            conn.execute(sa.text(f"DELETE FROM {table} WHERE ajbs = 6"))
        return real(self, wanted)

    monkeypatch.setattr(SqlSource, "rows_by_keys", deleted_first)
    reconcile_due(home)
    result = sync(home, "r2")
    assert (result.missed, result.fetched) == (1, 0)
    with Warehouse.open(config(home), home, read_only=True) as wh:
        (missing,) = missing_keys(wh, home.landing, config(home).sources)
    assert (missing.source, missing.keys, missing.examples) == (SOURCE, 1, ["6"])
    failed = check(home)
    assert not failed.passed and failed.severity.value == "ERROR"
    assert failed.description.startswith(f"{SOURCE}: 1 key(s) of its key snapshot of ")
    assert "neither in filing nor in quarantine, e.g. 6." in failed.description and "乌海中院" in failed.description
    assert failed.metadata["missing_keys"].value == 1

    monkeypatch.setattr(SqlSource, "rows_by_keys", real)
    reconcile_due(home)
    assert sync(home, "r3").missed == 0  # the next snapshot no longer holds it
    assert check(home).passed


def test_a_record_deleted_then_back_with_its_old_update_time_returns(source: tuple[sa.Engine, str], home: Home) -> None:
    """A hard delete buries the record; the row restored from a backup keeps its old update
    time, behind the cursor: the reconcile finds it absent from the snapshot before and fetches it."""
    engine, table = source
    sync(home, "r1")
    with engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {table} WHERE ajbs = 3"))
    insert(engine, table, (8, "2024-03-05 09:00:00"))  # the cursor moves days ahead
    reconcile_due(home)
    sync(home, "r2")
    assert keys(home) == ["1", "2", "4", "5", "8"]
    insert(engine, table, (3, "2024-03-01 10:00:03"))
    assert sync(home, "r3").missed == 0 and keys(home) == ["1", "2", "4", "5", "8"]  # not due: behind the cursor
    reconcile_due(home)
    assert sync(home, "r4").missed == 1
    assert keys(home) == ["1", "2", "3", "4", "5", "8"]
    assert check(home).passed


def test_a_row_fetched_then_deleted_and_restored_as_it_was_returns(source: tuple[sa.Engine, str], home: Home) -> None:
    """The row a reconcile fetched, deleted at the source (its record buried by the next
    snapshot), then restored byte for byte: fetched again, it lands as a new batch and returns."""
    engine, table = source
    sync(home, "r1")
    insert(engine, table, (8, "2024-03-05 09:00:00"))
    sync(home, "r2")  # the cursor moves days ahead
    insert(engine, table, (6, "2024-03-01 10:00:03"))  # behind it
    reconcile_due(home)
    assert sync(home, "r3").missed == 1 and "6" in keys(home)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {table} WHERE ajbs = 6"))
    reconcile_due(home)
    sync(home, "r4")
    assert "6" not in keys(home)  # buried by the snapshot
    insert(engine, table, (6, "2024-03-01 10:00:03"))  # restored as it was
    reconcile_due(home)
    assert sync(home, "r5").missed == 1
    assert "6" in keys(home) and check(home).passed



def test_a_row_without_a_key_is_not_missed(tmp_path: Path) -> None:
    """It cannot be fetched by its key: counting it missed would fetch nothing on every reconcile."""
    import pyarrow as pa

    from hub.pull.reconcile import missed_keys

    missed = missed_keys(tmp_path / "landing", SOURCE, pa.table({"ajbs": pa.array(["1", None, "2"])}))
    assert missed.column("ajbs").to_pylist() == ["1", "2"]
