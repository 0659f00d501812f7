"""Rebuilding a mart: its tables replaced whole in one transaction, documented in DuckDB itself.

Marts are derived from the shared tables and nothing else, so rebuilding them whole is always
correct and, at a province's volume, cheap; readers never see a half-built mart."""

from __future__ import annotations

from typing import Any

import duckdb

from hub.faults import crash_point
from schemas.marts import Columns
from schemas.sql import comment_on, lit_tuple, q


def rebuild(con: duckdb.DuckDBPyConnection, statements: list[tuple[str, dict[str, Any]]], columns: Columns) -> dict[str, int]:
    """Run the ``CREATE OR REPLACE TABLE`` statements with their parameters, comment every
    column, and return each table's row count; all or nothing."""
    con.execute("BEGIN TRANSACTION")
    try:
        for sql, params in statements:
            con.execute(sql, params)
        for table, cols in columns.items():
            for stmt in comment_on(table, f"Mart table {table}, rebuilt whole at each marts run", cols):
                con.execute(stmt)
        counts = {t: con.execute(f"SELECT count(*) FROM {q(t)}").fetchone()[0] for t in columns}  # type: ignore[index]
        crash_point("marts.building")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return counts


def filed_on(procedures: tuple[str, ...]) -> str:
    """SQL giving the cases of these procedures (再审, 申请再审…) filed on an earlier case, as
    (case_no, original, filing_date): what relates a retrial or its review to the ruling it concerns."""
    return (f"SELECT f.case_no, f.original_case_no AS original, f.filing_date FROM filing f "
            f"JOIN code_case_type c ON c.type_code = f.case_type_code "
            f"WHERE f.original_case_no IS NOT NULL AND c.procedure IN {lit_tuple(procedures)}")
