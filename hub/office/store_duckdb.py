"""The office's store in a DuckDB file (the default): Parquet files applied by DuckDB SQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from hub.errors import OfficeKitError, first_line
from hub.office.store import (
    CHANGE,
    LEDGER,
    LEDGER_COLUMNS,
    TRUSTED,
    OfficeStore,
    in_utc,
)
from schemas.sql import lit, q

_DDL = f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
  office VARCHAR, sequence BIGINT, manifest_sha256 VARCHAR, previous VARCHAR, extract VARCHAR,
  created TIMESTAMPTZ, expires TIMESTAMPTZ, applied_at TIMESTAMPTZ, rows JSON
);
CREATE TABLE IF NOT EXISTS {TRUSTED} (version BIGINT, envelope BLOB, adopted_at TIMESTAMPTZ)"""


class DuckDbStore(OfficeStore):
    def __init__(self, path: Path) -> None:
        self.path, self.where = path, str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(path))
        except duckdb.Error as exc:
            hint = "; is another `hub office receive` running on it?" if "lock" in str(exc).lower() else ""
            raise OfficeKitError(f"cannot open the office store {path}: {first_line(exc)}{hint}") from None
        self.con.execute("SET enable_progress_bar = false")  # stdout is the kit's output
        self.con.execute(_DDL)

    @property
    def folder(self) -> Path:
        return self.path.parent

    def close(self) -> None:
        self.con.close()

    def _apply(self, files: dict[str, Path], full: bool, ledger: dict[str, Any], what: str) -> None:
        held = set(self.tables())
        self.con.execute("BEGIN TRANSACTION")
        try:
            for name, path in sorted(files.items()):
                self._apply_file(name, path, name in held)
            if full:
                for gone in sorted(held - set(files)):  # no longer shared: the office holds none of it
                    self.con.execute(f"DROP TABLE {q(gone)}")
            self.con.execute(f"INSERT INTO {LEDGER} ({', '.join(ledger)}) VALUES ({', '.join('?' * len(ledger))})",
                             list(ledger.values()))
            self.con.execute("COMMIT")
        except duckdb.Error as exc:
            self.con.execute("ROLLBACK")
            raise OfficeKitError(f"{what} could not be applied, and nothing of it was: {first_line(exc)}") from None
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def _apply_file(self, name: str, path: Path, exists: bool) -> None:
        source = f"read_parquet({lit(str(path))})"
        if CHANGE not in pq.read_schema(path).names:  # a snapshot of the dataset: it replaces the table
            self.con.execute(f"CREATE OR REPLACE TABLE {q(name)} AS SELECT * FROM {source}")
            return
        if not exists:  # changes to a dataset not held yet: start from none of its rows
            self.con.execute(f"CREATE TABLE {q(name)} AS SELECT * EXCLUDE ({CHANGE}) FROM {source} LIMIT 0")
        else:  # a column the share gained since: added, NULL in the rows held before
            have = {r[0] for r in self.con.execute(f"SELECT * FROM {q(name)} LIMIT 0").description}  # type: ignore[union-attr]
            for column, type_ in self.con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * "
                                                  f"EXCLUDE ({CHANGE}) FROM {source})").fetchall():
                if column not in have:
                    self.con.execute(f"ALTER TABLE {q(name)} ADD COLUMN {q(column)} {type_}")
        self.con.execute(f"DELETE FROM {q(name)} WHERE record_key IN (SELECT record_key FROM {source})")
        self.con.execute(f"INSERT INTO {q(name)} BY NAME SELECT * EXCLUDE ({CHANGE}) FROM {source} "
                         f"WHERE {CHANGE} <> 'withdrawn'")

    def tables(self) -> dict[str, int]:
        names = [r[0] for r in self.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' "
            f"AND table_name NOT IN ({lit(LEDGER)}, {lit(TRUSTED)}) ORDER BY table_name").fetchall()]
        return {t: int(self.con.execute(f"SELECT count(*) FROM {q(t)}").fetchone()[0]) for t in names}  # type: ignore[index]

    def ledger(self) -> list[dict[str, Any]]:
        cur = self.con.execute(f"SELECT {', '.join(LEDGER_COLUMNS)} FROM {LEDGER} ORDER BY sequence")
        return [in_utc(dict(zip(LEDGER_COLUMNS, row, strict=True))) for row in cur.fetchall()]

    def trusted(self) -> bytes | None:
        row = self.con.execute(f"SELECT envelope FROM {TRUSTED} ORDER BY version DESC LIMIT 1").fetchone()
        return bytes(row[0]) if row else None

    def trust(self, version: int, envelope: bytes) -> None:
        self.con.execute(f"INSERT INTO {TRUSTED} VALUES (?, ?, now())", [version, envelope])
