"""`hub migrate`: a warehouse in one DuckDB file, written by the DuckDB hubs ran before the
lakehouse (2.0, whose files this hub's DuckDB cannot read), moved whole into the lakehouse."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import hub
from hub.cli import main
from hub.config import load_config
from hub.errors import WarehouseError
from hub.home import Home
from hub.lake.export_file import digest
from hub.normalize.migrate import READER_ENV
from hub.normalize.warehouse import Warehouse
from hub.observe import audit
from schemas.tables import RECORD_TYPES, history_table

READER = Path(os.environ.get(READER_ENV) or Path(__file__).resolve().parents[3] / ".duckdb-reader")
AS_OF = "2024-11-22"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("migratedemo")
    assert main(["demo", "--home", str(home), "--as-of", AS_OF]) == 0
    return home


def old_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables a single-file warehouse had: the lakehouse's, with every version in
    ``<type>_history`` (``is_current`` stored) where the lakehouse stores versions and superseded ones."""
    names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake'").fetchall()]
    return sorted({n for n in names if not n.endswith(("_versions", "_superseded"))} | {history_table(rt) for rt in RECORD_TYPES})


def tables_of(home: Path) -> dict[str, tuple[int, str]]:
    with hub.connect(home) as con:
        return {t: digest(con, t, [r[0] for r in con.execute(f'DESCRIBE "{t}"').fetchall()]) for t in old_tables(con)}


def as_single_file(demo: Path, home: Path, *, extra_sql: str = "") -> None:
    """``home``: the demo's home as a hub before the lakehouse had it: its warehouse one DuckDB 2.0 file."""
    shutil.copytree(demo, home, ignore=shutil.ignore_patterns(".dagster", "lake"))
    folder = home / "export"
    folder.mkdir()
    with hub.connect(demo) as con:
        names = old_tables(con)
        for t in names:
            con.execute(f"COPY \"{t}\" TO '{folder / t}.parquet' (FORMAT parquet)")
    script = (
        "import duckdb, sys\n"
        "assert duckdb.__version__.startswith('2.'), duckdb.__version__\n"
        f"con = duckdb.connect({str(home / 'warehouse.duckdb')!r})\n"
        f"for t in {names!r}:\n"
        f"    con.execute(f'CREATE TABLE \"{{t}}\" AS SELECT * FROM read_parquet(\\'{folder}/{{t}}.parquet\\')')\n"
        "con.execute(\"UPDATE hub_meta SET value = '2' WHERE key = 'schema_version'\")\n"  # the schema files had
        f"{extra_sql and f'con.execute({extra_sql!r})'}\n"
        "con.close()\n")
    assert (READER / "duckdb").is_dir(), f"{READER} has no DuckDB 2.0: run `make duckdb-reader` (make test does)"
    subprocess.run([sys.executable, "-c", script], env=os.environ | {"PYTHONPATH": str(READER)}, check=True)
    shutil.rmtree(folder)


def test_a_single_file_warehouse_moves_whole_and_the_hub_goes_on(demo: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    as_single_file(demo, home)
    config = load_config(home / "hub.yaml")
    with pytest.raises(WarehouseError, match=r"warehouse of an earlier hub: run `hub migrate --home"):
        Warehouse.open(config, Home(home))
    assert main(["migrate", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "read with DuckDB 2.0.0" in out and "every table arrived whole" in out
    before = tables_of(demo)
    after = tables_of(home)  # the same, but that hub_meta also names the file the lakehouse came from
    assert after | {"hub_meta": before["hub_meta"]} == before and after["hub_meta"][0] == before["hub_meta"][0] + 1
    for table, (rows, text) in before.items():  # the file's hub_meta named schema 2: its digest is its own
        assert any(line.split()[:3] == [table, f"{rows:,}", f"{rows:,}"] and (table == "hub_meta" or text[:12] in line)
                   for line in out.splitlines())
    assert not (home / "warehouse.duckdb").exists() and (home / "warehouse.duckdb.before-lakehouse").exists()
    [entry] = [e for e in audit.entries(Home(home).audit) if e["event"] == "migrate"]
    assert entry["details"]["tables"]["hub_batches"]["rows"] == before["hub_batches"][0]
    assert main(["audit", "verify", "--home", str(home)]) == 0
    with Warehouse.open(config, Home(home)) as wh:  # the hub writes on where it left off, on its own schema
        assert wh.applied() and wh.unaudited() == []
        assert wh.query("SELECT value FROM hub_meta WHERE key = 'schema_version'").fetchone() == ("3",)
    assert main(["migrate", "--home", str(home)]) == 1
    assert "nothing to migrate" in capsys.readouterr().err


def test_a_migration_stopped_after_its_commit_is_finished_by_the_next(demo: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    as_single_file(demo, home)
    killed = subprocess.run([sys.executable, "-m", "hub.cli.main", "migrate", "--home", str(home)],
                            env=os.environ | {"HUB_CRASH_AT": "migrate.moved"}, capture_output=True, text=True)
    assert killed.returncode == -9 and (home / "warehouse.duckdb").exists()
    with pytest.raises(WarehouseError, match="run `hub migrate"):  # the file still there: no writer starts
        Warehouse.open(load_config(home / "hub.yaml"), Home(home))
    assert main(["migrate", "--home", str(home)]) == 0
    assert "read with DuckDB (an earlier hub migrate)" in capsys.readouterr().out
    before, after = tables_of(demo), tables_of(home)
    assert after | {"hub_meta": before["hub_meta"]} == before
    assert (home / "warehouse.duckdb.before-lakehouse").exists() and not (home / "warehouse.duckdb").exists()
    assert len([e for e in audit.entries(Home(home).audit) if e["event"] == "migrate"]) == 1


def test_a_table_that_cannot_arrive_whole_moves_nothing(demo: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    as_single_file(demo, home, extra_sql="ALTER TABLE hub_batches ADD COLUMN operator_note VARCHAR")
    assert main(["migrate", "--home", str(home)]) == 1
    assert "table hub_batches cannot be moved into the lakehouse" in capsys.readouterr().err
    assert (home / "warehouse.duckdb").exists()
    with hub.connect(home) as con:  # the lakehouse was left as empty as it was found
        assert con.execute("SELECT count(*) FROM hub_batches").fetchone() == (0,)
    with pytest.raises(WarehouseError, match="run `hub migrate"):  # and no writer starts on it meanwhile
        Warehouse.open(load_config(home / "hub.yaml"), Home(home))
    assert not [e for e in audit.entries(Home(home).audit) if e["event"] == "migrate"]
