"""``hub migrate``: the single-file warehouse of hubs before the lakehouse (one DuckDB file)
moved into the lakehouse whole: history, quarantine, ledgers, holdings and receipts, marts.

Each table is exported to Parquet by the DuckDB that can read the file (the hub's own, or for a
file written by a newer DuckDB the reader ``make duckdb-reader`` installs), then loaded in one
lakehouse transaction that commits only if every table's rows and content digest equal the
file's. The file is kept beside, renamed, and the move audited with every table's figures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from hub.config import HubConfig
from hub.errors import WarehouseError
from hub.faults import crash_point
from hub.home import Home
from hub.lake.export_file import digest, export
from hub.lake.location import Lake
from hub.normalize.warehouse import Warehouse
from hub.observe.run import RunContext
from hub.signing.primitives import sha256_file
from schemas.sql import lit, q
from schemas.tables import RECORD_TYPES, history_table, versions_table

READER_ENV = "HUB_DUCKDB_READER"
"""A folder holding the DuckDB that wrote the file (``pip install --target``); default ``.duckdb-reader``
in the repository, where ``make duckdb-reader`` puts it."""
KEPT_SUFFIX = ".before-lakehouse"
SCHEMA_KEYS = "('schema_version', 'schema_digest')"
"""``hub_meta`` keys naming the schema its warehouse has: kept from the lakehouse, not the file."""
MARKER = "migrated_from"
"""``hub_meta`` key naming the file a committed migration came from, so a rerun after a stop
before the rename finishes the rename instead of refusing."""


@dataclass(frozen=True)
class Moved:
    table: str
    rows_before: int
    digest_before: str
    rows_after: int
    digest_after: str

    @property
    def matches(self) -> bool:
        return (self.rows_before, self.digest_before) == (self.rows_after, self.digest_after)


@dataclass(frozen=True)
class Migration:
    source: Path
    kept_as: Path
    lakehouse: str
    read_with: str  # the DuckDB version that read the file
    tables: list[Moved]


def migrate(config: HubConfig, home: Home, *, run_id: str) -> Migration:
    old = home.single_file_warehouse
    if not old.exists():
        raise WarehouseError(f"no single-file warehouse at {old}: nothing to migrate")
    lake = Lake.of(config, home)
    identity = f"{old.name} sha256:{sha256_file(old)}"
    with Warehouse(lake, hash_key=home.hash_key(config.hub.hash_key_env),
                   settings={"temp_directory": str(home.staging / "duckdb-spill")}) as wh:
        held = wh.query("SELECT count(*) FROM hub_batches").fetchone()[0]  # type: ignore[index]
        moved_from = dict(wh.query("SELECT key, value FROM hub_meta").fetchall()).get(MARKER)
        if held and moved_from == identity:  # moved by a run stopped before it could rename the file
            version, moved = "(an earlier hub migrate)", _figures(wh)
        elif held:
            raise WarehouseError(f"the {lake.describe()} already holds {held} applied batch(es): `hub migrate` "
                                 "moves a warehouse into an empty lakehouse only")
        else:
            version, moved = _move_all(wh, old, home.staging, identity)
            crash_point("migrate.moved")
    kept = old.with_name(old.name + KEPT_SUFFIX)
    for path in (old, old.with_name(old.name + ".wal")):
        if path.exists():
            os.replace(path, path.with_name(path.name.replace(old.name, kept.name)))
    RunContext(config, home, run_id).record(
        "migrate", subject="warehouse", source=str(old), kept_as=str(kept), lakehouse=lake.describe(),
        read_with=f"duckdb {version}", tables={m.table: {"rows": m.rows_after, "digest": m.digest_after} for m in moved})
    return Migration(old, kept, lake.describe(), version, moved)


def _move_all(wh: Warehouse, old: Path, staging: Path, identity: str) -> tuple[str, list[Moved]]:
    """Every table of ``old`` into the lakehouse in one transaction, committed only if each
    arrived whole; the lakehouse then names the file it came from (``MARKER``)."""
    work = staging / f"migrate-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    try:
        version, tables = _export(old, work)
        existing = {r[0] for r in wh.query("SELECT table_name FROM duckdb_tables() WHERE database_name = "
                                           "current_database()").fetchall()}
        schema = wh.query(f"SELECT key, value FROM hub_meta WHERE key IN {SCHEMA_KEYS}").fetchall()
        with wh.transaction():
            moved = [_move(wh.con, name, info, name in existing) for name, info in tables.items()]
            if bad := [m.table for m in moved if not m.matches]:
                raise WarehouseError(f"{', '.join(bad)} would not arrive whole (rows or content differ); "
                                     f"nothing was moved and {old} is untouched")
            # the file's hub_meta named its own schema: the lakehouse's is the one its tables now have
            wh.con.execute(f"DELETE FROM hub_meta WHERE key IN {SCHEMA_KEYS} OR key = ?", [MARKER])
            wh.con.execute("INSERT INTO hub_meta SELECT unnest(?), unnest(?)",
                           [[k for k, _ in schema] + [MARKER], [v for _, v in schema] + [identity]])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return version, moved


def _figures(wh: Warehouse) -> list[Moved]:
    """Each table's rows and digest as the lakehouse holds them (a move already committed)."""
    names = [r[0] for r in wh.query("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                                    "ORDER BY 1").fetchall()]
    out = []
    for name in names:
        rows, text = digest(wh.con, name, [r[0] for r in wh.query(f"DESCRIBE {q(name)}").fetchall()])
        out.append(Moved(name, rows, text, rows, text))
    return out


def _export(path: Path, folder: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """The file's tables as Parquet, read by this DuckDB or, for a newer file, by the reader."""
    try:
        return duckdb.__version__, export(str(path), str(folder))
    except duckdb.IOException as exc:
        if "newer version" not in str(exc) and "version number" not in str(exc):
            raise WarehouseError(f"cannot read {path}: {exc}") from None
    reader = Path(os.environ.get(READER_ENV) or Path(__file__).resolve().parents[2] / ".duckdb-reader")
    if not (reader / "duckdb").is_dir():
        raise WarehouseError(f"{path} was written by a newer DuckDB than this hub's ({duckdb.__version__}); install "
                             f"that DuckDB for the move: `make duckdb-reader` (or set {READER_ENV} to a folder "
                             "holding it), then run `hub migrate` again")
    here = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-m", "hub.lake.export_file", str(path), str(folder)],
                          env=os.environ | {"PYTHONPATH": os.pathsep.join([str(reader), here])},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise WarehouseError(f"the reader in {reader} could not export {path}: {done.stderr.strip()[-800:]}")
    out = json.loads(done.stdout)
    return str(out["duckdb"]), out["tables"]


def _move(con: duckdb.DuckDBPyConnection, table: str, info: dict[str, Any], exists: bool) -> Moved:
    """One table into the lakehouse (its rows replacing what the new schema put there). A
    ``<type>_history`` table is stored as ``<type>_versions``, its ``is_current`` as each
    version's ``current_when_stored``, none superseded yet: the history view then shows it whole."""
    source = f"read_parquet({lit(info['file'])})"
    versioned = {history_table(rt): versions_table(rt) for rt in RECORD_TYPES}
    try:
        if table in versioned:
            con.execute(f"DELETE FROM {q(versioned[table])}")
            con.execute(f"INSERT INTO {q(versioned[table])} BY NAME SELECT * RENAME (is_current AS current_when_stored) "
                        f"FROM {source}")
        elif exists:
            con.execute(f"DELETE FROM {q(table)}")
            con.execute(f"INSERT INTO {q(table)} BY NAME SELECT * FROM {source}")
        else:
            con.execute(f"CREATE TABLE {q(table)} AS SELECT * FROM {source}")
        rows, text = digest(con, table, info["columns"])
    except duckdb.Error as exc:
        raise WarehouseError(f"table {table} cannot be moved into the lakehouse: {exc}") from None
    return Moved(table, info["rows"], info["digest"], rows, text)
