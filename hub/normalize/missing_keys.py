"""Keys a source holds that the warehouse accounts for nowhere: in the source's latest applied
key snapshot, yet neither a version of that source's record nor a row in quarantine, or only
a record a snapshot buried. The pull's reconcile fetches such keys by key; these are the ones
it could not (gone before the fetch, a batch set aside, a row lost to a newer tombstone).

The snapshot's keys are read from its landed Parquet file (``hub_batches`` names it), so
applying a snapshot keeps nothing more than before."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from hub.config import Source
from hub.errors import WarehouseError
from hub.normalize.warehouse import Warehouse
from hub.pull.landing import LandedBatch
from schemas.sql import lit, q
from schemas.tables import history_table

EXAMPLES = 5
"""Keys named per source, the smallest first."""


@dataclass(frozen=True)
class MissingKeys:
    source: str
    record_type: str
    snapshot: str  # the key snapshot's batch id
    taken: dt.datetime  # when it landed
    keys: int
    examples: list[str]


def missing_keys(wh: Warehouse, landing_dir: Path, sources: list[Source]) -> list[MissingKeys]:
    """Per source of ``sources`` with an applied key snapshot, its keys the warehouse lacks
    (none: not listed); one statement per record type."""
    by_name = {s.name: s for s in sources}
    latest = wh.query(
        "SELECT source_name, arg_max(batch_id, landed_at) FROM hub_batches "
        "WHERE kind = 'keys' AND list_contains($names, source_name) GROUP BY 1 ORDER BY 1",
        {"names": list(by_name)},
    ).fetchall()
    snapshots: dict[str, list[tuple[Source, LandedBatch]]] = {}
    for name, batch_id in latest:
        src = by_name[name]
        try:
            snapshot = LandedBatch.from_sidecar(landing_dir / name / f"{batch_id}.json")
        except OSError as exc:
            raise WarehouseError(f"{name}: the key snapshot {batch_id[:12]} applied last cannot be read "
                                 f"from landing ({exc}); landed batches must be kept") from None
        snapshots.setdefault(src.record_type, []).append((src, snapshot))
    out = []
    for record_type, group in snapshots.items():
        snap = " UNION ALL ".join(
            f"SELECT DISTINCT {lit(src.name)} AS source_name, CAST({q(src.key)} AS VARCHAR) AS source_key "
            f"FROM read_parquet({lit(b.path)})" for src, b in group)
        try:
            found = wh.query(
                f"""WITH snap AS ({snap}),
                    stored AS (  -- a current tombstone of a snapshot (no source row): the record is buried
                      SELECT source_name, source_key, bool_or(h.is_current AND h.deleted AND h.source_row IS NULL) AS buried
                      FROM snap JOIN {q(history_table(record_type))} h USING (source_name, source_key) GROUP BY ALL)
                    SELECT s.source_name, count(*), min(s.source_key, {EXAMPLES})
                    FROM snap s LEFT JOIN stored USING (source_name, source_key)
                    WHERE coalesce(stored.buried, NOT EXISTS (
                      SELECT 1 FROM quarantine q WHERE q.source_name = s.source_name AND q.source_key = s.source_key))
                    GROUP BY 1 ORDER BY 1"""
            ).fetchall()
        except duckdb.Error as exc:
            raise WarehouseError(f"comparing the key snapshots of {record_type} with the warehouse failed: {exc}") from None
        taken = {src.name: b for src, b in group}
        out.extend(MissingKeys(name, record_type, taken[name].batch_id, taken[name].landed_at, n, examples)
                   for name, n, examples in found)
    return out


def describe(missing: MissingKeys, institution: str) -> str:
    """What an operator reads: which source, how many keys, a few of them, and what to do."""
    return (
        f"{missing.source}: {missing.keys} key(s) of its key snapshot of {missing.taken:%Y-%m-%d %H:%M} UTC are "
        f"neither in {missing.record_type} nor in quarantine, e.g. {', '.join(missing.examples)}. A row deleted at "
        "the source since clears at the next reconcile; rows fetched but set aside wait in 'hub batches list'; "
        f"otherwise ask {institution} to touch those rows (a new update time) so that the next pull takes them"
    )
