"""Upkeep of the warehouse as a stage: compact the lakehouse's files, expire snapshots past
``warehouse.snapshot_retention_days``, delete what no snapshot needs; audited with its counts."""

from __future__ import annotations

import datetime as dt

from hub.lake.upkeep import Upkept, upkeep
from hub.normalize.warehouse import Warehouse
from hub.observe.run import RunContext


def upkeep_warehouse(run: RunContext, *, now: dt.datetime | None = None) -> Upkept:
    """One upkeep pass (the warehouse pool's writer); ``now`` decides which snapshots are past retention."""
    retention = dt.timedelta(days=run.config.warehouse.snapshot_retention_days)
    with run.stage("upkeep", [], audit_as=("upkeep", "warehouse")) as stage, \
            Warehouse.open(run.config, run.home) as wh:
        done = upkeep(wh.con, retention=retention, now=now or dt.datetime.now(dt.UTC),
                      catalog_schema=wh.lake.catalog_schema)
        stage.details.update(done.details() | {"retention_days": retention.days})
    run.progress(f"upkeep: {done.files_compacted} file(s) compacted, {done.snapshots_expired} snapshot(s) expired, "
                 f"{done.files_deleted + done.orphans_deleted} file(s) deleted; {done.data_files} data file(s), "
                 f"{done.snapshots_kept} snapshot(s) kept")
    return done
