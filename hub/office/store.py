"""The office's own store: a DuckDB file holding one table per dataset its agreement shares,
and the ledger of bundles applied to it (``kit_bundles``).

A bundle is applied in one transaction with its ledger row, so the store never holds half of
one: a dataset file without ``_change`` replaces its table; one with it upserts ``new`` and
``changed`` rows by ``record_key`` and deletes ``withdrawn`` keys (docs/bundle-format.md). A full
bundle also drops the tables of datasets it no longer carries. The store is bound to the
office that first applied a bundle to it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pyarrow.parquet as pq

from hub.errors import OfficeKitError
from hub.publish.bundle import is_plain_name
from hub.publish.verify import VerifiedBundle
from schemas.sql import lit, q

LEDGER = "kit_bundles"
CHANGE = "_change"

TRUSTED = "kit_trust"

_DDL = f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
  office VARCHAR, sequence BIGINT, manifest_sha256 VARCHAR, previous VARCHAR, extract VARCHAR,
  created TIMESTAMPTZ, expires TIMESTAMPTZ, applied_at TIMESTAMPTZ, rows JSON
);
CREATE TABLE IF NOT EXISTS {TRUSTED} (version BIGINT, envelope BLOB, adopted_at TIMESTAMPTZ)"""


@dataclass(frozen=True)
class Held:
    """What the store holds: its office, last bundle, and rows per table."""

    office: str | None
    sequence: int | None
    manifest_sha256: str | None
    applied_at: dt.datetime | None
    expires: dt.datetime | None
    tables: dict[str, int]
    bundles: int


class OfficeStore:
    """An office's DuckDB store, open for applying bundles and reporting what it holds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(path))
        except duckdb.Error as exc:
            hint = "; is another `hub office receive` running on it?" if "lock" in str(exc).lower() else ""
            raise OfficeKitError(f"cannot open the office store {path}: {str(exc).splitlines()[0]}{hint}") from None
        self.con.execute(_DDL)

    def __enter__(self) -> OfficeStore:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.con.close()

    def last(self) -> tuple[int, str] | None:
        """The last bundle applied: (sequence, manifest sha256), or None for a new store."""
        row = self.con.execute(f"SELECT sequence, manifest_sha256 FROM {LEDGER} ORDER BY sequence DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def office(self) -> str | None:
        row = self.con.execute(f"SELECT office FROM {LEDGER} LIMIT 1").fetchone()
        return str(row[0]) if row else None

    def apply(self, bundle: VerifiedBundle, files: dict[str, Path]) -> dict[str, int]:
        """Apply a verified bundle's plaintext Parquet ``files`` (by dataset) and record it, in
        one transaction; returns the rows each dataset's file carried."""
        for name, path in files.items():
            if not is_plain_name(name):
                raise OfficeKitError(f"bundle {bundle.sequence} names a dataset {name!r} that is no table name")
            if pq.read_metadata(path).num_rows != bundle.datasets.get(name):
                raise OfficeKitError(f"bundle {bundle.sequence}'s {name} holds {pq.read_metadata(path).num_rows} rows, "
                                     f"its signed statement {bundle.datasets.get(name)}: ask the hub to resend it")
        held = self._tables()
        self.con.execute("BEGIN TRANSACTION")
        try:
            for name, path in sorted(files.items()):
                self._apply_file(name, path, name in held)
            if bundle.full:
                for gone in sorted(held - set(files)):  # no longer shared: the office holds none of it
                    self.con.execute(f"DROP TABLE {q(gone)}")
            self.con.execute(
                f"INSERT INTO {LEDGER} VALUES (?, ?, ?, ?, ?, ?, ?, now(), ?)",
                [bundle.office, bundle.sequence, bundle.manifest_sha256, bundle.previous,
                 "full" if bundle.full else "incremental", bundle.created, bundle.expires,
                 json.dumps(bundle.datasets, sort_keys=True)])
            self.con.execute("COMMIT")
        except duckdb.Error as exc:
            self.con.execute("ROLLBACK")
            raise OfficeKitError(f"bundle {bundle.sequence} could not be applied, and nothing of it was: "
                                 f"{str(exc).splitlines()[0]}") from None
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        return dict(bundle.datasets)

    def _apply_file(self, name: str, path: Path, exists: bool) -> None:
        source = f"read_parquet({lit(str(path))})"
        if CHANGE not in pq.read_schema(path).names:  # a snapshot of the dataset: it replaces the table
            self.con.execute(f"CREATE OR REPLACE TABLE {q(name)} AS SELECT * FROM {source}")
            return
        if not exists:  # changes to a dataset not held yet: start from none of its rows
            self.con.execute(f"CREATE TABLE {q(name)} AS SELECT * EXCLUDE ({CHANGE}) FROM {source} LIMIT 0")
        self.con.execute(f"DELETE FROM {q(name)} WHERE record_key IN (SELECT record_key FROM {source})")
        self.con.execute(f"INSERT INTO {q(name)} BY NAME SELECT * EXCLUDE ({CHANGE}) FROM {source} "
                         f"WHERE {CHANGE} <> 'withdrawn'")

    def _tables(self) -> set[str]:
        rows = self.con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                                "AND schema_name = 'main'").fetchall()
        return {r[0] for r in rows} - {LEDGER, TRUSTED}

    def trusted(self) -> bytes | None:
        """The newest version of the hub's trust metadata the kit followed (its envelope)."""
        row = self.con.execute(f"SELECT envelope FROM {TRUSTED} ORDER BY version DESC LIMIT 1").fetchone()
        return bytes(row[0]) if row else None

    def trust(self, version: int, envelope: bytes) -> None:
        """Record a version of the trust metadata once it has been followed (``hub.publish.trust.follow``)."""
        self.con.execute(f"INSERT INTO {TRUSTED} VALUES (?, ?, now())", [version, envelope])

    def ledger(self) -> list[dict[str, Any]]:
        """Every bundle applied, oldest first: office, sequence, manifest_sha256, extract, applied_at, rows (JSON)."""
        cur = self.con.execute(f"SELECT office, sequence, manifest_sha256, extract, applied_at, rows FROM {LEDGER} "
                               "ORDER BY sequence")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def held(self) -> Held:
        last = self.con.execute(f"""SELECT office, sequence, manifest_sha256, applied_at, expires FROM {LEDGER}
                                    ORDER BY sequence DESC LIMIT 1""").fetchone()
        count = self.con.execute(f"SELECT count(*) FROM {LEDGER}").fetchone()
        tables = {t: int(self.con.execute(f"SELECT count(*) FROM {q(t)}").fetchone()[0])  # type: ignore[index]
                  for t in sorted(self._tables())}
        if last is None:
            return Held(None, None, None, None, None, tables, 0)
        return Held(last[0], int(last[1]), last[2], last[3], last[4], tables, int(count[0]))  # type: ignore[index]
