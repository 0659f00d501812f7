"""Batches set aside: a landed batch that cannot be staged (its file unreadable, or lacking a
column hub.yaml maps) is recorded whole with why, and every other batch goes on.

A set-aside batch is in ``hub_batches`` (kind ``set_aside``: nothing applied), so normalize does
not try it again on every run; ``hub_set_aside`` says why. After the mapping or the source is
fixed, ``release`` takes it out of both and the next normalize applies it; ``drop`` gives it up
for good. Each step is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from hub.errors import WarehouseError
from hub.normalize.apply import ledger
from hub.normalize.staging import StagingRules
from hub.normalize.tables import COUNTS
from hub.normalize.warehouse import Warehouse
from hub.pull.landing import LandedBatch


@dataclass(frozen=True)
class SetAside:
    batch_id: str
    source: str
    record_type: str
    origin: str
    rows: int
    reason: str
    dropped: bool


def unstageable(batch: LandedBatch, rules: StagingRules) -> str | None:
    """Why ``batch`` cannot be staged under ``rules``, naming the source, its origin and what
    to fix; None when it can."""
    try:
        names = {n.lower(): n for n in pq.read_schema(batch.path).names}  # DuckDB binds names case-insensitively
    except (OSError, pa.ArrowException) as exc:
        return f"{batch.source}: landed file {batch.path} cannot be read ({exc}); land it again or drop it"
    needed = {rules.key_column} if batch.kind == "keys" else {
        *rules.mapping.values(), rules.key_column, *([rules.soft_delete[0]] if rules.soft_delete else [])}
    missing = sorted(n for n in needed if n.lower() not in names)
    if not missing:
        return None
    has = ", ".join(sorted(n for n in names.values() if not n.startswith("_"))) or "no columns"
    return (f"{batch.source}: {batch.origin} has no column {', '.join(missing)} that hub.yaml maps "
            f"(sources: {batch.source}: mapping, key, soft_delete); it has {has}. Fix the mapping or the "
            "source, then run: hub batches release " + batch.batch_id)


def set_aside(wh: Warehouse, batch: LandedBatch, reason: str, run_id: str) -> dict[str, int] | None:
    """Record ``batch`` as set aside (ledger and reason, one transaction); its row accounting,
    or None when another process put it in the ledger first."""
    counts = dict.fromkeys(COUNTS, 0) | {"rows_in": batch.rows + batch.rejects}
    try:
        with wh.transaction():
            if batch.batch_id in wh.applied():  # another process set it aside, or applied it, first
                return None
            ledger(wh, [(batch, counts)], "set_aside", run_id)
            wh.con.execute(
                "INSERT INTO hub_set_aside VALUES (?, ?, ?, ?, ?, ?, now(), ?, NULL, NULL)",
                [batch.batch_id, batch.source, batch.record_type, batch.origin, counts["rows_in"], reason, run_id],
            )
    except duckdb.Error as exc:
        raise WarehouseError(f"setting aside batch {batch.batch_id[:12]} from {batch.source} failed: {exc}") from None
    return counts


def listed(wh: Warehouse, *, dropped: bool = False) -> list[SetAside]:
    """Batches waiting to be released (and, with ``dropped``, those given up), oldest first."""
    if wh.read_only and not wh.has_tables("hub_set_aside"):  # one from before set-aside batches
        return []
    rows = wh.query(
        "SELECT batch_id, source_name, record_type, origin, rows, reason, dropped_at IS NOT NULL FROM hub_set_aside "
        "WHERE $dropped OR dropped_at IS NULL ORDER BY set_aside_at, batch_id", {"dropped": dropped}).fetchall()
    return [SetAside(*r) for r in rows]


def release(wh: Warehouse, batch_id: str) -> SetAside:
    """Take a set-aside batch out of the ledger, so the next normalize applies it. A dropped one
    stays given up: the offices' holdings already count it as read."""
    found = _one(wh, batch_id)
    if found.dropped:
        raise WarehouseError(f"batch {found.batch_id[:12]} was dropped for good; it cannot be released")
    with wh.transaction():
        for table in ("hub_set_aside", "hub_batches_audited", "hub_batches"):
            wh.con.execute(f"DELETE FROM {table} WHERE batch_id = ?", [found.batch_id])
    return found


def drop(wh: Warehouse, batch_id: str, reason: str) -> SetAside:
    """Give a set-aside batch up for good: it stays in the ledger, never applied, and no
    longer holds back the offices that receive its table."""
    found = _one(wh, batch_id)
    wh.con.execute("UPDATE hub_set_aside SET dropped_at = now(), drop_reason = ? WHERE batch_id = ?",
                   [reason, found.batch_id])
    return found


def _one(wh: Warehouse, batch_id: str) -> SetAside:
    """The set-aside batch whose id is or starts with ``batch_id`` (as ``hub batches list`` shows them)."""
    matches = [b for b in listed(wh, dropped=True) if b.batch_id.startswith(batch_id)]
    if len(matches) != 1:
        what = "no set-aside batch" if not matches else f"{len(matches)} set-aside batches"
        raise WarehouseError(f"{what} with id {batch_id!r}; 'hub batches list' shows them")
    return matches[0]


def audit_details(found: SetAside) -> dict[str, Any]:
    return {"batch_id": found.batch_id, "origin": found.origin, "rows": found.rows, "reason": found.reason}
