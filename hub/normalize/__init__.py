"""Normalize: landed batches into the shared tables, in DuckDB.

    staging       the SQL that maps, parses and checks a batch's rows (no Python per row)
    tables        the hub's own tables, DDL and docs declared once
    views         views over the shared tables (links, code flags)
    warehouse     the connection: macros, schema, transactions, the ledger's reads
    apply         the engine: history upserts, quarantine, row accounting
    set_aside     batches that cannot be staged, recorded whole with why; release and drop
    missing_keys  keys of a source's latest key snapshot the warehouse accounts for nowhere
    stage         the stage: every pending batch, record types in parallel, audited (``apply_pending``)
    upkeep        the lakehouse's files compacted, old snapshots expired, on a schedule (``upkeep_warehouse``)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.normalize.stage import apply_pending
    from hub.normalize.upkeep import upkeep_warehouse

_STAGE = {"apply_pending": "hub.normalize.stage", "upkeep_warehouse": "hub.normalize.upkeep"}
__all__ = ["apply_pending", "upkeep_warehouse"]


def __getattr__(name: str) -> Any:
    """The stage, imported on first use, so the package's other modules load without it."""
    if name not in _STAGE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_STAGE[name]), name)
