"""Pull: everything new from one source, landed batch by batch, the source's position saved
after each landing so a crash re-pulls rather than skips."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq

from connectors.base import Batch
from hub.claims import claimed
from hub.config import DatabaseSource, HubConfig, SftpDropSource
from hub.errors import connector_errors
from hub.faults import crash_point
from hub.home import Home
from hub.observe import lineage
from hub.observe.run import RunContext
from hub.pull.landing import LandedBatch, StateFile, land, sweep_partial
from hub.pull.reconcile import reconcile_if_due
from hub.pull.sources import sftp_source, sql_source


@dataclass
class PullResult:
    source: str
    batches: list[LandedBatch] = field(default_factory=list)
    missed: int = 0  # keys a reconcile found at the source that had never landed (``hub.pull.reconcile``)
    fetched: int = 0  # rows of those it fetched by key and landed

    @property
    def rows(self) -> int:
        return sum(b.rows + b.rejects for b in self.batches if b.kind == "rows")


def pending_files(config: HubConfig, home: Home, source_name: str) -> list[dict[str, Any]]:
    """Stable files in an SFTP drop that have not been landed yet (what a pull would fetch)."""
    src = config.source(source_name)
    if not isinstance(src, SftpDropSource):
        return []
    with connector_errors():
        return sftp_source(home, src).pending(StateFile(home.state, src.name).data.get("seen", {}))


def pull(run: RunContext, source_name: str) -> PullResult:
    """Pull everything new from one source and land it; the watermark moves after each landing.

    Every pull is audited, an empty one too, and a failed one with its error. Two pulls of one
    source (a sensor's sync and a schedule's sweep, in any processes sharing the home) take turns."""
    with claimed(run.home.claims, "pull", source_name):
        return _pull(run, run.config.source(source_name))


def _pull(run: RunContext, src: DatabaseSource | SftpDropSource) -> PullResult:
    sweep_partial(run.home.landing / src.name)
    state = StateFile(run.home.state, src.name)
    result = PullResult(src.name)
    inputs = [lineage.source_dataset(run.home, src)]
    with run.stage(f"pull.{src.name}", inputs, audit_as=("pull", src.name)) as stage, connector_errors():
        stage.details.update(batches=0, rows=0, batch_ids=[])
        for batch in _batches(run.home, src, state):
            landed = land(batch, run.home.landing, record_type=src.record_type, institution=src.institution,
                          run_id=run.run_id)
            crash_point("pull.landed")
            if isinstance(src, DatabaseSource):
                state.data["watermark"] = batch.watermark
            elif batch.watermark is not None:  # a file's last piece: the whole file has landed
                state.data.setdefault("seen", {})[batch.watermark["file"]] = batch.watermark
            state.save()
            crash_point("pull.saved")
            run.record("land", subject=src.name, batch_id=landed.batch_id, origin=landed.origin,
                       rows=landed.rows, rejects=landed.rejects, watermark=batch.watermark)
            _landed(stage.details, result, landed)
            run.progress(f"pull {src.name}: {result.rows:,} rows in {len(result.batches)} batch(es) so far")
        if isinstance(src, DatabaseSource):
            reconciled = reconcile_if_due(run, src, state, lambda b: _landed(stage.details, result, b))
            if reconciled is not None:
                result.missed, result.fetched = reconciled.missed, reconciled.fetched
                stage.details.update(missed_keys=reconciled.missed, missed_fetched=reconciled.fetched)
        rows_batches = [b for b in result.batches if b.kind == "rows"]
        schema = pq.read_schema(rows_batches[0].path) if rows_batches else None
        stage.outputs = [lineage.landing_output(run.home, src.name, result.rows, schema)]
    return result


def _landed(details: dict[str, Any], result: PullResult, landed: LandedBatch) -> None:
    """``landed`` counted in the result and in the pull's audited progress."""
    result.batches.append(landed)
    details["batch_ids"].append(landed.batch_id)
    details.update(batches=len(result.batches), rows=result.rows)


def _batches(home: Home, src: DatabaseSource | SftpDropSource, state: StateFile) -> Iterator[Batch]:
    if isinstance(src, SftpDropSource):
        yield from sftp_source(home, src).pull(state.data.get("seen", {}))
        return
    source = sql_source(home, src)
    try:
        yield from source.pull(state.data.get("watermark"))
    finally:
        source.close()
