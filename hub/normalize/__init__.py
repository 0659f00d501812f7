"""Normalize: landed batches into the shared tables, in DuckDB.

    staging     the SQL that maps, parses and checks a batch's rows (no Python per row)
    tables      the hub's own tables, DDL and docs declared once
    views       views over the shared tables (links, code flags)
    warehouse   the connection: macros, schema, transactions, the ledger's reads
    apply       the engine: history upserts, quarantine, row accounting
    stage       the stage: every pending batch, record types in parallel, audited (``apply_pending``)
"""

from hub.normalize.stage import apply_pending

__all__ = ["apply_pending"]
