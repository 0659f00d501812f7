"""What every table in the warehouse is, column by column, in Chinese and English.

Each table documents itself where it is declared: the shared tables in ``schemas.tables``, the
marts' in ``schemas.marts``, the hub's own tables in ``hub.normalize.tables`` and its views in
``hub.normalize.views``; this module gathers them, with the code tables, so that
``docs/analyst-guide.md`` covers every table an analyst can open, and a test can check that no
table or column goes undocumented.
"""

from __future__ import annotations

from hub.marts import MARTS
from hub.normalize import tables
from hub.normalize.views import VIEWS
from schemas.codes import code_docs, code_tables
from schemas.marts import shareable_columns
from schemas.tables import (
    RECORD_TYPES,
    STORED_VERSIONING,
    SUPERSEDED,
    VERSIONING,
    history_table,
    superseded_table,
    versions_table,
)

Doc = dict[str, tuple[str, str]]
"""column -> (Chinese, English)."""

HUB_TABLES: dict[str, tuple[str, Doc]] = {
    **{name: (table.description, table.docs()) for name, table in tables.HUB_TABLES.items()}, **VIEWS,
}
"""The hub's own tables and views: name -> (what it is, its columns)."""

def every_table() -> dict[str, tuple[str, Doc]]:
    """Every table and view of the warehouse: name -> (what it is, its columns)."""
    out: dict[str, tuple[str, Doc]] = {}
    for rt in RECORD_TYPES:
        fields = shareable_columns(rt)
        out[rt] = (f"Shared {rt} table: the current version of each record (a view of {history_table(rt)})", fields)
        out[history_table(rt)] = (f"Every version of every {rt} record, and whether it is current (a view of "
                                  f"{versions_table(rt)} and {superseded_table(rt)})",
                                  fields | {f.name: (f.zh, f.en) for f in VERSIONING})
        out[versions_table(rt)] = (f"Every version of every {rt} record, as stored: written once, never rewritten",
                                   fields | {f.name: (f.zh, f.en) for f in STORED_VERSIONING})
        out[superseded_table(rt)] = (f"The stored {rt} versions that a later one replaced",
                                     {f.name: (f.zh, f.en) for f in SUPERSEDED})
    for mart in MARTS:
        for table, columns in mart.columns.items():
            out[table] = (f"Mart {mart.name}, built from {', '.join(mart.deps)}", columns)
    out.update(HUB_TABLES)
    for name, table in code_tables().items():
        out[name] = code_docs(name, table)
    return out
