"""Upkeep of the warehouse as a stage: compact the lakehouse's files, expire snapshots past
``warehouse.snapshot_retention_days`` (never one a live bundle names), delete what no snapshot
needs; audited with its counts."""

from __future__ import annotations

import datetime as dt

from hub.lake.location import NAME as LAKE
from hub.lake.upkeep import Upkept, upkeep
from hub.normalize.warehouse import Warehouse
from hub.observe.run import RunContext


def upkeep_warehouse(run: RunContext, *, now: dt.datetime | None = None) -> Upkept:
    """One upkeep pass (the warehouse pool's writer); ``now`` decides which snapshots are past retention."""
    now = now or dt.datetime.now(dt.UTC)
    retention = dt.timedelta(days=run.config.warehouse.snapshot_retention_days)
    with run.stage("upkeep", [], audit_as=("upkeep", "warehouse")) as stage, \
            Warehouse.open(run.config, run.home) as wh:
        before = min(now - retention, _oldest_live_snapshot(wh, now - dt.timedelta(days=run.config.hub.bundle_ttl_days))
                     or now)
        done = upkeep(wh.con, wh.lake, expire_before=before, now=now)
        stage.details.update(done.details() | {"retention_days": retention.days, "expired_before": before.isoformat()})
    run.progress(f"upkeep: {done.files_compacted} file(s) compacted, {done.snapshots_expired} snapshot(s) expired, "
                 f"{done.files_deleted + done.orphans_deleted} file(s) deleted; {done.data_files} data file(s), "
                 f"{done.snapshots_kept} snapshot(s) kept")
    return done


def _oldest_live_snapshot(wh: Warehouse, published_after: dt.datetime) -> dt.datetime | None:
    """When the oldest snapshot a bundle still alive names was made: a hub that wrote nothing
    for longer than the retention still sends bundles built from an old snapshot, and those must
    stay reproducible while they live."""
    row = wh.query(
        f"""SELECT min(s.snapshot_time) FROM hub_bundles b JOIN {LAKE}.snapshots() s ON s.snapshot_id = b.lakehouse_snapshot
            WHERE b.published_at > ?""", [published_after.astimezone(dt.UTC).replace(tzinfo=None)]).fetchone()
    # expiry takes snapshots made up to its bound: stop a second before the oldest to keep
    return row[0] - dt.timedelta(seconds=1) if row and row[0] else None
