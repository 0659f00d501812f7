"""The one place that builds the Dagster ``Definitions`` (``dagster dev -m hub.definitions``
loads it through ``hub/definitions.py``).

The home comes from ``HUB_HOME`` (or the current directory); its ``hub.yaml`` decides which
assets exist, so the UI's lineage graph is the exchange the config describes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import dagster as dg

from hub.config import HubConfig, Source, load_config
from hub.home import Home
from hub.orchestration.assets import NORMALIZED_KEYS, build_assets, sweep_of
from hub.orchestration.checks import build_checks
from hub.orchestration.keys import delivery_key, extract_key, pull_keys
from hub.orchestration.resources import HubResource
from hub.orchestration.runs import ACTIVE
from hub.orchestration.sensors import SYNC_JOB, build_sensors
from hub.orchestration.workers import executor


def build_definitions(
    home: Home, config: HubConfig | None = None, config_path: Path | None = None, *, as_of: dt.date | None = None
) -> dg.Definitions:
    """``as_of`` pins the day the marts count from (the demo's ``--as-of``); default: each run's day."""
    config = config or load_config(config_path or home.require_config())
    assets = build_assets(config)
    everything = _job("exchange", selection=dg.AssetSelection.all() - dg.AssetSelection.groups("upkeep"),
                      description="Pull every source, normalize, publish every extract.")
    # 'hub run' runs these two in turn, so one unreachable source cannot hold back the others
    pull_all = _job("pull_all", selection=dg.AssetSelection.groups("landing"),
                    description="Pull every source into landing.")
    refresh = _job(
        "refresh", selection=dg.AssetSelection.groups("normalized", "marts", "extracts", "deliveries"),
        description="Apply what has landed, check it, publish and deliver every extract.",
    )
    # a sync: the sources' pulls, then the tables, marts and extracts (normalization is one step over every table)
    refreshed = dg.AssetSelection.assets(*NORMALIZED_KEYS).downstream()
    downstream = sorted(refreshed.resolve(assets))
    sweeps = sweep_of(config)
    sync = _job(SYNC_JOB, selection=dg.AssetSelection.groups("landing") | refreshed,
                description="Pull the sources a sensor or a user selects, then refresh the tables and "
                "extracts they feed.")
    schedules = []
    for cadence, sources in _by_cadence(config).items():
        name = cadence_name(cadence)
        listed = ", ".join(s.name for s in sources[:20]) + (f" and {len(sources) - 20} more" if len(sources) > 20 else "")
        schedules.append(_schedule(
            f"pull_{name}", cadence,
            _job(f"sync_{name}",
                 selection=dg.AssetSelection.assets(*pull_keys(sweeps, (s.name for s in sources)))
                 | refreshed,
                 description=f"Pull the sources due {cadence}, then refresh the tables and extracts "
                 "they feed."),
            f"Pulls the {len(sources)} source(s) whose cadence is {cadence} (Asia/Shanghai): {listed}; then applies "
            "what landed and publishes what changed for the offices they feed.",
        ))
    for agreement in config.agreements:
        office_key = agreement.office.replace("-", "_")
        selection = dg.AssetSelection.assets(extract_key(agreement.office))
        if config.office(agreement.office).delivery.sftp is not None:
            selection = selection | dg.AssetSelection.assets(delivery_key(agreement.office))
        schedules.append(_schedule(
            f"publish_{office_key}", agreement.cadence,
            _job(f"publish_{office_key}", selection=selection,
                 description=f"Publish (and deliver) {agreement.office}'s extract under {agreement.id}."),
            f"Publishes (and delivers) {agreement.office}'s extract under {agreement.id} at the agreement's cadence "
            f"({agreement.cadence}, Asia/Shanghai; default daily at 07:00), besides every sync of a source it receives.",
        ))
    # a measure turns overdue, a case runs past its limit, with the calendar, not only with new data: statuses are redone daily
    schedules.append(_schedule(
        "marts_daily", "0 6 * * *",
        _job("marts", selection=dg.AssetSelection.groups("marts"),
             description="Rebuild every mart (and its reports) as of today."),
        "Rebuilds every mart at 06:00 each day: replies turn overdue and cases run past their limits with the "
        "calendar, not only with new data.",
    ))
    # the quarterly statistics tables are due by the 5th of the month after each quarter: made on the 1st
    schedules.append(_schedule(
        "quarterly_statistics", "0 6 1 1,4,7,10 *",
        _job("quarterly_statistics",
             selection=dg.AssetSelection.assets("reply_tracking", "nonlit_statistics"),
             description="Rebuild the non-litigation enforcement supervision statistics and "
             "write the last quarter's tables (Parquet, .xlsx) under reports/quarterly/."),
        "Writes the last quarter's non-litigation supervision statistics on the 1st of January, April, July and "
        "October at 06:00 (due by the 5th).",
    ))
    schedules.append(_schedule(
        "warehouse_upkeep", config.warehouse.upkeep_cron,
        _job("upkeep", selection=dg.AssetSelection.groups("upkeep"),
             description="Compact the lakehouse and expire snapshots past their retention."),
        f"Compacts the lakehouse's files and expires snapshots older than {config.warehouse.snapshot_retention_days} "
        f"days (warehouse.upkeep_cron: {config.warehouse.upkeep_cron}, Asia/Shanghai), in the warehouse pool.",
    ))
    return dg.Definitions(
        executor=executor(config),
        assets=assets,
        asset_checks=build_checks(config),
        jobs=[everything, pull_all, refresh, sync],
        schedules=schedules,
        sensors=build_sensors(config, sweeps, downstream),
        resources={"hub": HubResource(home=str(home.root), config_path=str(config_path) if config_path else None,
                                      as_of=as_of.isoformat() if as_of else None)},
    )


def _by_cadence(config: HubConfig) -> dict[str, list[Source]]:
    """The sources by cadence: one schedule each, however many sources share it."""
    found: dict[str, list[Source]] = {}
    for src in config.sources:
        found.setdefault(src.cadence, []).append(src)
    return found


_EVERY_MINUTES = re.compile(r"^\*/([0-9]+) \* \* \* \*$")
_DAILY = re.compile(r"^([0-9]+) ([0-9]+) \* \* \*$")


def cadence_name(cron: str) -> str:
    """A schedule's name for a cadence: ``hourly``, ``every_15_minutes``, ``daily_0700``,
    else ``cron_`` and a digest of it (the description shows the expression)."""
    if cron == "0 * * * *":
        return "hourly"
    if found := _EVERY_MINUTES.match(cron):
        return f"every_{found[1]}_minutes"
    if found := _DAILY.match(cron):
        return f"daily_{int(found[2]):02d}{int(found[1]):02d}"
    return "cron_" + hashlib.sha256(cron.encode()).hexdigest()[:8]


JOB_TAG = "hub/job"
"""Every run's job, as a tag: the instance lets one run per value go at a time (``dagster.yaml``)."""

_BUSY = [dg.DagsterRunStatus.QUEUED, *ACTIVE]


def _job(name: str, selection: dg.AssetSelection, description: str) -> dg.UnresolvedAssetJobDefinition:
    """A job whose runs (and their retries, which copy the tags) carry their job's name."""
    return dg.define_asset_job(name, selection=selection, description=description, run_tags={JOB_TAG: name})


def _schedule(name: str, cron: str, job: dg.UnresolvedAssetJobDefinition, description: str) -> dg.ScheduleDefinition:
    """A schedule that runs as soon as the hub is served (``hub dev``), in China's time zone, and
    skips a tick while its job still has a run queued or going: every job's work is incremental or
    redone whole, so the next tick does this one's, and runs never pile up behind a slow or retried one."""

    def tick(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        busy = context.instance.get_runs(dg.RunsFilter(job_name=job.name, statuses=_BUSY), limit=1)
        if busy:
            return dg.SkipReason(f"{job.name} still has run {busy[0].run_id[:8]} {busy[0].status.value}: this tick "
                                 "is skipped; the first tick after that run ends does its work")
        return dg.RunRequest()

    return dg.ScheduleDefinition(name=name, cron_schedule=cron, job=job, execution_fn=tick, description=description,
                                 execution_timezone="Asia/Shanghai", default_status=dg.DefaultScheduleStatus.RUNNING)


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded lazily by ``dagster dev`` / ``dg``, so importing this module reads no config."""
    return build_definitions(Home.find())
