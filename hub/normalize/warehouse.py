"""The warehouse: a connection to the lakehouse (``hub.lake``) with the hub's macros, its schema
created or checked on open, transactions, and what its apply ledger (``hub_batches``) says was
applied and audited.

One process writes the warehouse at a time (Dagster pool ``warehouse``); analysts and checks
read it meanwhile. Each landing batch is applied in the transaction that records it in
``hub_batches`` (``hub.normalize.apply``), so re-running after a crash applies nothing twice and
a half-applied batch never exists. Every commit is a lakehouse snapshot.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb

from hub.config import HubConfig
from hub.errors import WarehouseBusy, WarehouseError, first_line
from hub.home import Home
from hub.lake.location import NAME as LAKE
from hub.lake.location import Lake
from hub.normalize import tables
from hub.normalize.views import VIEWS, all_views
from schemas import case_number, identifiers
from schemas.codes import code_docs, code_tables
from schemas.sql import comment_on, lit, q
from schemas.tables import (
    RECORD_TYPES,
    SCHEMA_VERSION,
    comments,
    ddl,
    history_table,
    stored_tables,
    versions_table,
    view_ddl,
)

CONFLICTS = ("Transaction conflict", "database is locked")
"""How a lakehouse commit says another transaction committed first (PostgreSQL and SQLite catalogs)."""

MACROS = case_number.duckdb_macros() + identifiers.duckdb_macros()
"""The hub's SQL macros (case numbers, identifiers), stored in the warehouse."""


LEDGER_ROW = ("INSERT INTO hub_meta SELECT 'ledger_writer', '' "
              "WHERE NOT EXISTS (SELECT 1 FROM hub_meta WHERE key = 'ledger_writer')")
"""The row ``Warehouse.claim_ledger`` rewrites: it must exist before two writers race, or neither deletes anything."""


def upgrade_from_2() -> list[str]:
    """Schema version 2 to 3, in place and without moving a row: each ``<type>_history`` table
    becomes ``<type>_versions``, its ``is_current`` the ``current_when_stored`` a version 3
    table writes (true then for a version current now), and no version is superseded yet; the
    schema's statements then add the superseded tables and the views."""
    out = []
    for rt in ("filing", "judgment", "enforcement", "supervision"):  # the record types version 2 had
        out += [f"ALTER TABLE {q(history_table(rt))} RENAME TO {q(versions_table(rt))}",
                f"ALTER TABLE {q(versions_table(rt))} RENAME COLUMN is_current TO current_when_stored"]
    return out


def declared_columns() -> dict[str, list[tuple[str, str]]]:
    """Every table the schema stores, with its columns and their types."""
    out = {name: [(c.name, c.type) for c in table.columns] for name, table in tables.HUB_TABLES.items()}
    for rt in RECORD_TYPES:
        out |= {name: [(f.name, f.type) for f in fields] for name, fields in stored_tables(rt).items()}
    return out


def added_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """``ALTER TABLE … ADD COLUMN`` for each declared column a table made by an earlier hub lacks:
    a field added to a schema is evolution, not a new schema version. Rows stored before hold
    NULL in it; nothing is rewritten. Refused for a warehouse a newer hub has grown (columns or
    record types this hub does not know: its views would hide them), and for a hub table whose
    columns are not a prefix of its declaration (some writes give values by position, so a new
    column is declared last, where ``ADD COLUMN`` puts it)."""
    have: dict[str, list[str]] = {}
    for table, column in con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = current_schema() ORDER BY table_name, column_index").fetchall():
        have.setdefault(table, []).append(column)
    declared = declared_columns()
    unknown = [f"{t}.{c}" for t, columns in declared.items() for c in have.get(t, [])
               if c not in {name for name, _ in columns}]
    unknown += [t for t in have if t.endswith("_versions") and t not in declared]
    if unknown:
        raise WarehouseError(f"the warehouse holds what this hub does not know ({', '.join(sorted(unknown)[:4])}): a "
                             "newer hub has upgraded it; upgrade this hub's code before it writes there")
    for table in tables.HUB_TABLES:
        names = [name for name, _ in declared[table]]
        if table in have and have[table] != names[:len(have[table])]:
            raise WarehouseError(f"{table} holds columns {have[table]}, which do not begin its declared "
                                 f"{names}: declare a new column of a hub table last")
    return [f"ALTER TABLE {q(table)} ADD COLUMN {q(name)} {type_}"
            for table, columns in declared.items() if table in have
            for name, type_ in columns if name not in have[table]]


class Warehouse:
    """An open warehouse connection with the hub's macros registered. ``con`` is the DuckDB
    connection the stages' SQL runs on (marts, extracts, receipts); ``lake`` says where it lives."""

    def __init__(self, lake: Lake | Path, *, hash_key: bytes, read_only: bool = False, snapshot: int | None = None,
                 settings: dict[str, str] | None = None) -> None:
        self.lake = lake if isinstance(lake, Lake) else Lake.embedded(lake)
        self.read_only = read_only or snapshot is not None
        self.con = self.lake.connect(read_only=read_only, snapshot=snapshot, config=settings)
        self._hash_key = hash_key
        self._in_transaction = False
        self._claimed = False
        # one writing transaction at a time in a process (its lanes, its offices take turns): a
        # SQLite catalog takes no more, and two of ours at once would conflict on the ledger
        # (``Warehouse.claim_ledger``), there to make two processes' applies conflict
        self._writes = threading.Lock()
        self._create_macros()
        if not self.read_only:
            try:
                self._schema_once_made()
            except duckdb.Error as exc:
                self.con.close()
                self.lake.forget_instance()
                raise WarehouseError(f"cannot write the {self.lake.describe()}: {first_line(exc)}; check "
                                     f"{self.lake.storage_hint()}, and {self.lake.catalog_hint()}") from None
            except BaseException:  # another process made the schema at the same time (WarehouseBusy)
                self.con.close()
                raise

    @classmethod
    def open(cls, config: HubConfig, home: Home, *, read_only: bool = False, snapshot: int | None = None) -> Warehouse:
        """The home's warehouse, with the identifier hash key and memory limit the config names."""
        lake = Lake.of(config, home)
        if not read_only and snapshot is None and home.single_file_warehouse.exists():
            raise WarehouseError(
                f"{home.single_file_warehouse} is the warehouse of an earlier hub: run `hub migrate --home "
                f"{home.root}` to move it, with its history, holdings and ledgers, into the lakehouse")
        settings = {"temp_directory": str(home.staging / "duckdb-spill")}
        if config.hub.duckdb_memory_limit:  # DuckDB's default is 80% of RAM: a shared host needs less
            settings["memory_limit"] = config.hub.duckdb_memory_limit
        return cls(lake, hash_key=home.hash_key(config.hub.hash_key_env), read_only=read_only, snapshot=snapshot,
                   settings=settings)

    def _create_macros(self) -> None:
        """The keyed hash, TEMP: its key must never be persisted into the lakehouse. The other
        macros are the warehouse's own (``_create_schema``), so an analyst's session has them too."""
        self.con.execute(identifiers.keyed_hash_macro(self._hash_key))

    def cursor(self) -> Warehouse:
        """This warehouse on another connection, with its own transactions, temp tables and
        keyed hash: a second thread applies one record type while this connection applies another."""
        other = copy.copy(self)
        other.con = self.con.cursor()
        other.con.execute(f"USE {LAKE}")
        other._in_transaction = False
        other._claimed = False
        other._create_macros()
        return other

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.con.close()

    def _schema_once_made(self) -> None:
        """The schema, made here, or by another process that was making it at the same moment."""
        for attempt in range(3):
            try:
                return self._create_schema()
            except WarehouseBusy:  # its schema committed first: the digest now matches, or we try again
                if attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def _create_schema(self) -> None:
        """Create or update every table (adding the columns an earlier hub's lack), view, comment
        and code table, in one transaction, unless the warehouse already has exactly these
        (``hub_meta.schema_digest``): every stage opens the warehouse, and some forty catalog
        writes per open would cost more than its data."""
        meta = self._checked_meta()
        created = [*tables.ddl(), *(stmt for rt in RECORD_TYPES for stmt in ddl(rt))]
        statements = [*tables.comments(), *MACROS, LEDGER_ROW]
        for rt in RECORD_TYPES:
            statements += [*view_ddl(rt), *comments(rt)]
        codes, views = code_tables(), all_views()  # the views read the code tables
        docs = ({n: code_docs(n, t) for n, t in codes.items()}, VIEWS)
        options = tables.options()
        digest = hashlib.sha256(repr((SCHEMA_VERSION, created, statements, {n: t.to_pydict() for n, t in codes.items()}, views,
                                      docs, options)).encode()).hexdigest()
        if meta is not None and meta.get("schema_digest") == digest:
            return
        audited_before = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            "AND table_name = 'hub_batches_audited'").fetchone()[0]  # type: ignore[index]
        with self.transaction():
            if meta is not None and meta.get("schema_version") == "2" and self.has_tables(history_table(RECORD_TYPES[0])):
                for stmt in upgrade_from_2():
                    self.con.execute(stmt)
            for stmt in created:
                self.con.execute(stmt)
            for stmt in added_columns(self.con):  # before the views and comments that name them
                self.con.execute(stmt)
            for stmt in statements:
                self.con.execute(stmt)
            if not audited_before:  # a warehouse from before the table: its batches were audited as applied
                self.con.execute("INSERT INTO hub_batches_audited SELECT batch_id FROM hub_batches")
            for name, table in codes.items():
                self.con.register("_code", table)
                self.con.execute(f"CREATE OR REPLACE TABLE {q(name)} AS SELECT * FROM _code")
                self.con.unregister("_code")
                for stmt in comment_on(name, *code_docs(name, table)):
                    self.con.execute(stmt)
            for view in views:
                self.con.execute(view)
            for name, (description, _) in VIEWS.items():
                self.con.execute(f"COMMENT ON VIEW {q(name)} IS {lit(description + ' (columns: docs/analyst-guide.md)')}")
            self._set_meta("schema_version", str(SCHEMA_VERSION))  # what another process opening now checks
        with self.transaction():  # the tables' options, on tables committed now; the digest with them
            for stmt in options:
                self.con.execute(stmt)
            self._set_meta("schema_digest", digest)

    def _set_meta(self, key: str, value: str) -> None:
        self.con.execute("DELETE FROM hub_meta WHERE key = ?", [key])
        self.con.execute("INSERT INTO hub_meta VALUES (?, ?)", [key, value])

    def _meta(self) -> dict[str, str] | None:
        """``hub_meta`` as a dict; None when the warehouse has none (new, or schema version 1).
        Read directly, not looked up in the catalog first: every open asks."""
        try:
            return dict(self.con.execute("SELECT key, value FROM hub_meta").fetchall())
        except duckdb.CatalogException:
            return None

    def _checked_meta(self) -> dict[str, str] | None:
        """``hub_meta``, refusing a warehouse written by another schema version: its tables would
        not match. Without ``hub_meta`` the tables are listed in one statement, which sees one
        snapshot: another process may have committed the whole schema since ``hub_meta`` was read."""
        meta = self._meta()
        found = SCHEMA_VERSION
        if meta is None:
            names = {r[0] for r in self.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}
            if "hub_meta" in names:  # made by another process since
                meta = self._meta()
            elif "hub_batches" in names:  # version 1 had no hub_meta
                found = 1
        if meta is not None:
            found = int(meta.get("schema_version", 0))
        if found not in (SCHEMA_VERSION, 2):  # version 2 is upgraded in place (``upgrade_from_2``)
            raise WarehouseError(
                f"the {self.lake.describe()} has schema version {found}, this hub writes version "
                f"{SCHEMA_VERSION}: move it aside and run `hub run` again; every landed batch is "
                "re-applied from landing/ (nothing is pulled twice)"
            )
        return meta

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Apply several batches, of any sources, in one transaction: each apply inside commits
        nothing itself, and nothing of them is kept unless all are applied. A table's rows
        appended by one transaction are compressed into the file once, at commit."""
        if self._in_transaction:  # a batch inside the caller's
            yield
            return
        with self._writes:
            self.con.execute("BEGIN TRANSACTION")
            self._in_transaction, self._claimed = True, False
            try:
                yield
                try:
                    self.con.execute("COMMIT")
                except duckdb.Error as exc:
                    if any(sign in str(exc) for sign in CONFLICTS):
                        raise WarehouseBusy(f"another process wrote the {self.lake.describe()} while this "
                                            f"transaction was open ({str(exc).strip().splitlines()[-1]}); it was "
                                            "undone whole") from None
                    self.lake.forget_instance()
                    raise WarehouseError(f"committing to the {self.lake.describe()} failed, and nothing of the "
                                         f"transaction was kept: {first_line(exc)}; check {self.lake.storage_hint()}, "
                                         f"and {self.lake.catalog_hint()}") from None
            except BaseException:
                with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended the transaction already
                    self.con.execute("ROLLBACK")
                self.con.execute("PRAGMA enable_optimizer")  # a failed small staging may have left it off
                raise
            finally:
                self._in_transaction = False

    def claim_ledger(self, run_id: str) -> None:
        """In a transaction that writes the apply ledger: rewrite its one ``hub_meta`` row (once
        per transaction), so that two processes applying at once conflict at commit (a lakehouse
        lets two transactions append to one table, so each could apply the same batch) and the
        later is undone."""
        if not self._claimed:
            self.con.execute("UPDATE hub_meta SET value = ? WHERE key = 'ledger_writer'", [run_id])
            self._claimed = self._in_transaction

    @contextmanager
    def reading(self) -> Iterator[int]:
        """One read transaction, yielding its snapshot: every statement inside reads that same
        snapshot (and the lakehouse's catalog once, not per statement). Temp tables made inside
        outlive it. Another cursor may commit meanwhile: what it deletes from a table read here
        is kept out of the catalog (``HubTable.uninlined``)."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.snapshot()
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def snapshot(self) -> int:
        """The lakehouse snapshot this connection reads: the last commit, or the one it was opened at."""
        return self.con.execute(f"SELECT id FROM {LAKE}.current_snapshot()").fetchone()[0]  # type: ignore[index]

    def applied(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT batch_id FROM hub_batches").fetchall()}

    def unaudited(self, run_id: str | None = None) -> list[tuple[str, str, str, dict[str, int]]]:
        """Applied batches without their audit entry yet (of one applying run, if named), oldest
        first, as (batch id, source, applying run, counts). ``hub_batches_audited`` is written after
        a batch's entry, so a run stopped between a batch's commit and its entry leaves the batch
        here, for the next run."""
        rows = self.con.execute(
            f"SELECT batch_id, source_name, run_id, {', '.join(tables.COUNTS)} FROM hub_batches "
            "ANTI JOIN hub_batches_audited USING (batch_id) WHERE $run IS NULL OR run_id = $run "
            "ORDER BY applied_at, batch_id", {"run": run_id}).fetchall()
        return [(batch_id, source, run, dict(zip(tables.COUNTS, counts))) for batch_id, source, run, *counts in rows]

    def mark_audited(self, batch_ids: list[str]) -> None:
        if batch_ids:
            self.con.execute("INSERT INTO hub_batches_audited SELECT DISTINCT unnest($ids) AS batch_id "
                             "EXCEPT SELECT batch_id FROM hub_batches_audited", {"ids": batch_ids})

    def table_counts(self) -> dict[str, int]:
        """Current rows per shared table, and quarantined rows: one statement, one snapshot. A
        record type a writer has not created yet (this hub newer than the warehouse) has 0."""
        names = [n for n in [*RECORD_TYPES, "quarantine"] if n in self.relations()]
        row = self.con.execute("SELECT " + ", ".join(f"(SELECT count(*) FROM {q(n)})" for n in names)).fetchone()
        return dict.fromkeys([*RECORD_TYPES, "quarantine"], 0) | dict(zip(names, row))  # type: ignore[arg-type]

    def relations(self) -> set[str]:
        """The tables and views the warehouse has."""
        return {r[0] for r in self.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() UNION "
            "SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal").fetchall()}

    def has_tables(self, *names: str) -> set[str]:
        """Which of ``names`` exist in the warehouse (a mart not built yet does not)."""
        rows = self.con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                                "AND list_contains($names, table_name)", {"names": list(names)}).fetchall()
        return {r[0] for r in rows}

    def query(self, sql: str, params: dict[str, Any] | list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        return self.con.execute(sql, params)
