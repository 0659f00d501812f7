"""Every table of a single-file DuckDB warehouse to Parquet, with its rows and content digest:
what ``hub migrate`` moves into the lakehouse.

It runs under the DuckDB that wrote the file, which may be newer than the hub's own (a file's
storage version can only be read forward), so it imports nothing but DuckDB, the standard
library and the quoting helpers: ``PYTHONPATH=<reader> python -m hub.lake.export_file FILE
FOLDER`` prints the tables as JSON. ``DIGEST`` is computed the same way on the lakehouse after the move.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import duckdb

from schemas.sql import lit, q

DIGEST = """SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), '')
            FROM (SELECT md5(CAST(r AS VARCHAR)) AS h FROM (SELECT {columns} FROM {table}) r)"""
"""Rows and an order-free digest of a table's content (each row's text form, hashed, sorted)."""


def digest(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> tuple[int, str]:
    rows, text = con.execute(DIGEST.format(columns=", ".join(map(q, columns)), table=q(table))).fetchone()  # type: ignore[misc]
    return int(rows), str(text)


def export(path: str, folder: str) -> dict[str, dict[str, Any]]:
    """Each table of the file: its Parquet file in ``folder``, columns, rows and digest."""
    con = duckdb.connect(path, read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main' ORDER BY 1").fetchall()]
        out = {}
        for table in names:
            columns = [r[0] for r in con.execute(f"DESCRIBE {q(table)}").fetchall()]
            file = f"{folder}/{table}.parquet"
            con.execute(f"COPY {q(table)} TO {lit(file)} (FORMAT parquet)")
            rows, text = digest(con, table, columns)
            out[table] = {"file": file, "columns": columns, "rows": rows, "digest": text}
        return out
    finally:
        con.close()


if __name__ == "__main__":
    json.dump({"duckdb": duckdb.__version__, "tables": export(sys.argv[1], sys.argv[2])}, sys.stdout)
