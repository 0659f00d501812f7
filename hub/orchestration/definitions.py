"""The one place that builds the Dagster ``Definitions`` (``dagster dev -m hub.definitions``
loads it through ``hub/definitions.py``).

The home comes from ``HUB_HOME`` (or the current directory); its ``hub.yaml`` decides which
assets exist, so the UI's lineage graph is the exchange the config describes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg

from hub.config import HubConfig, load_config
from hub.home import Home
from hub.orchestration.assets import NORMALIZED_KEYS, build_assets
from hub.orchestration.checks import build_checks
from hub.orchestration.keys import delivery_key, extract_key, landing_key
from hub.orchestration.resources import HubResource
from hub.orchestration.sensors import build_sensors


def build_definitions(
    home: Home, config: HubConfig | None = None, config_path: Path | None = None, *, as_of: dt.date | None = None
) -> dg.Definitions:
    """``as_of`` pins the day the marts count from (the demo's ``--as-of``); default: each run's day."""
    config = config or load_config(config_path or home.require_config())
    assets = build_assets(config)
    everything = dg.define_asset_job("exchange", selection=dg.AssetSelection.all() - dg.AssetSelection.groups("upkeep"),
                                     description="Pull every source, normalize, publish every extract.")
    # 'hub run' runs these two in turn, so one unreachable source cannot hold back the others
    pull_all = dg.define_asset_job("pull_all", selection=dg.AssetSelection.groups("landing"),
                                   description="Pull every source into landing.")
    refresh = dg.define_asset_job(
        "refresh", selection=dg.AssetSelection.groups("normalized", "marts", "extracts", "deliveries"),
        description="Apply what has landed, check it, publish and deliver every extract.",
    )
    schedules = [
        _schedule(
            f"pull_{src.name}", src.cadence,
            dg.define_asset_job(
                f"sync_{src.name}",
                # normalization is one step over every table, so a sync runs all of it
                selection=dg.AssetSelection.assets(landing_key(src.name))
                | dg.AssetSelection.assets(*NORMALIZED_KEYS).downstream(),
                description=f"Pull {src.name}, then refresh the tables and extracts it feeds.",
            ),
            f"Pulls {src.name} ({src.kind}, {src.record_type}) at its cadence ({src.cadence}, Asia/Shanghai), "
            "then applies it and publishes what changed for the offices it feeds.",
        )
        for src in config.sources
    ]
    for agreement in config.agreements:
        office_key = agreement.office.replace("-", "_")
        selection = dg.AssetSelection.assets(extract_key(agreement.office))
        if config.office(agreement.office).delivery.sftp is not None:
            selection = selection | dg.AssetSelection.assets(delivery_key(agreement.office))
        schedules.append(_schedule(
            f"publish_{office_key}", agreement.cadence,
            dg.define_asset_job(f"publish_{office_key}", selection=selection,
                                description=f"Publish (and deliver) {agreement.office}'s extract under {agreement.id}."),
            f"Publishes (and delivers) {agreement.office}'s extract under {agreement.id} at the agreement's cadence "
            f"({agreement.cadence}, Asia/Shanghai; default daily at 07:00), besides every sync of a source it receives.",
        ))
    # a measure turns overdue, a case runs past its limit, with the calendar, not only with new data: statuses are redone daily
    schedules.append(_schedule(
        "marts_daily", "0 6 * * *",
        dg.define_asset_job("marts", selection=dg.AssetSelection.groups("marts"),
                            description="Rebuild every mart (and its reports) as of today."),
        "Rebuilds every mart at 06:00 each day: replies turn overdue and cases run past their limits with the "
        "calendar, not only with new data.",
    ))
    # the quarterly statistics tables are due by the 5th of the month after each quarter: made on the 1st
    schedules.append(_schedule(
        "quarterly_statistics", "0 6 1 1,4,7,10 *",
        dg.define_asset_job("quarterly_statistics",
                            selection=dg.AssetSelection.assets("reply_tracking", "nonlit_statistics"),
                            description="Rebuild the non-litigation enforcement supervision statistics and "
                            "write the last quarter's tables (Parquet, .xlsx) under reports/quarterly/."),
        "Writes the last quarter's non-litigation supervision statistics on the 1st of January, April, July and "
        "October at 06:00 (due by the 5th).",
    ))
    schedules.append(_schedule(
        "warehouse_upkeep", config.warehouse.upkeep_cron,
        dg.define_asset_job("upkeep", selection=dg.AssetSelection.groups("upkeep"),
                            description="Compact the lakehouse and expire snapshots past their retention."),
        f"Compacts the lakehouse's files and expires snapshots older than {config.warehouse.snapshot_retention_days} "
        f"days (warehouse.upkeep_cron: {config.warehouse.upkeep_cron}, Asia/Shanghai), in the warehouse pool.",
    ))
    return dg.Definitions(
        assets=assets,
        asset_checks=build_checks(config),
        jobs=[everything, pull_all, refresh],
        schedules=schedules,
        sensors=build_sensors(config),
        resources={"hub": HubResource(home=str(home.root), config_path=str(config_path) if config_path else None,
                                      as_of=as_of.isoformat() if as_of else None)},
    )


def _schedule(name: str, cron: str, job: dg.UnresolvedAssetJobDefinition, description: str) -> dg.ScheduleDefinition:
    """A schedule that runs as soon as the hub is served (``hub dev``), in China's time zone."""
    return dg.ScheduleDefinition(name=name, cron_schedule=cron, job=job, description=description,
                                 execution_timezone="Asia/Shanghai", default_status=dg.DefaultScheduleStatus.RUNNING)


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded lazily by ``dagster dev`` / ``dg``, so importing this module reads no config."""
    return build_definitions(Home.find())
