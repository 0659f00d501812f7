"""Sharing agreements compiled to SQL: deny by default, filters as bound parameters.

A share names the table (a shared table or a mart table), the rows (structured conditions,
never SQL text from config) and each column's treatment. Columns not named are not selected
at all. A mart row's ``record_key`` is its natural key (``schemas.marts``), its version the MD5 of
the whole row: marts are rebuilt, not versioned, so a changed figure is a changed row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub.config import Condition, Share
from hub.normalize.staging import key_fields
from schemas.marts import MART_TABLES
from schemas.sql import q

_OPS = {"eq": "=", "ne": "<>", "gte": ">=", "lte": "<="}


def where_sql(conditions: list[Condition]) -> tuple[str, list[Any]]:
    """WHERE clause and its parameters; column names were validated against the schema."""
    parts: list[str] = []
    params: list[Any] = []
    for c in conditions:
        col = q(c.column)
        if c.op in _OPS:
            parts.append(f"{col} {_OPS[c.op]} ?")
            params.append(c.value)
        elif c.op in ("in", "not_in"):
            neg = "NOT " if c.op == "not_in" else ""
            parts.append(f"{neg}list_contains(?, {col})" if c.value else ("true" if neg else "false"))
            if c.value:
                params.append([str(v) for v in c.value])
        elif c.op == "is_null":
            parts.append(f"{col} IS NULL")
        else:
            parts.append(f"{col} IS NOT NULL")
    return (" AND ".join(parts) if parts else "true"), params


def stored_by(batches: str, landed: dt.datetime) -> str:
    """SQL: the row was stored by a batch in table ``batches``, none of which landed before
    ``landed`` (the bound lets DuckDB skip older row groups by their zone maps)."""
    return (f"landed_at >= TIMESTAMP '{landed.isoformat(sep=' ')}'"
            f" AND batch_id IN (SELECT batch_id FROM {q(batches)})")


def key_in_clear(share: Share) -> bool:
    """Whether an office may see its records' keys: its share sends ``record_key``, or every
    column the key is made of (a case number, a document number, a mart row's natural key), in
    clear. Otherwise an incremental file names records by ``office_key``."""
    table = share.record_type
    mart = MART_TABLES.get(table)
    made_of = mart.keys[table] if mart is not None else key_fields(table)
    return share.columns.get("record_key") == "clear" or all(share.columns.get(c) == "clear" for c in made_of)


def office_key(share: Share) -> str:
    """SQL for ``record_key`` as an office receives it: the key itself when the share sends it
    in clear (``key_in_clear``), else its keyed hash, as the ``hash`` treatment would send it:
    stable from bundle to bundle, so the office still matches a change to the row it holds,
    without learning a case number its agreement hashes or leaves out."""
    return "record_key" if key_in_clear(share) else "hub_keyed_hash(record_key) AS record_key"


def select_sql(
    share: Share, *, with_key: bool = False, with_version: bool = False, ordered: bool = True,
    batches_from: tuple[str, dt.datetime] | None = None,
) -> tuple[str, list[Any]]:
    """The SELECT an office's share runs against the warehouse (``record_key`` first when
    ``with_key``: incremental extracts name the records they change or withdraw; with
    ``with_version``, the stored row's version as ``_version`` (its ``row_hash``: receipts name
    the exact version sent)). With ``batches_from`` (a table of the hub's own with a
    ``batch_id`` column, and the earliest landing time among those batches), only the rows
    those batches stored (``stored_by``), so reading a few new batches' rows does not scan
    every stored version."""
    table = share.record_type
    mart = MART_TABLES.get(table)
    key = "record_key" if mart is None else "concat_ws('|', " + ", ".join(
        f"coalesce(CAST({q(k)} AS VARCHAR), '')" for k in mart.keys[table]) + ")"
    cols: list[str] = [f"{key} AS record_key"] if with_key else []
    for name, treatment in share.columns.items():
        col = q(name)
        if treatment == "clear":
            cols.append(col)
        elif treatment == "mask":
            cols.append(
                f"CASE WHEN {col} IS NULL THEN NULL WHEN length(CAST({col} AS VARCHAR)) <= 1 THEN '*' "
                f"ELSE left(CAST({col} AS VARCHAR), 1) || repeat('*', length(CAST({col} AS VARCHAR)) - 1) END AS {col}"
            )
        elif treatment == "hash":
            cols.append(f"hub_keyed_hash(CAST({col} AS VARCHAR)) AS {col}")
    if with_version:
        cols.append("row_hash AS _version" if mart is None else "md5(CAST(to_json(_t) AS VARCHAR)) AS _version")
    where, params = where_sql(share.where)
    if batches_from is not None:
        where += " AND " + stored_by(*batches_from)
    order = f" ORDER BY {key}" if ordered else ""
    return f"SELECT {', '.join(cols)} FROM {q(table)} AS _t WHERE {where}{order}", params
