"""One sensor for every SFTP drop: a run when new, stable files appear in institutions' drop
folders, pulling just those sources and refreshing what they feed.

Each source's state file (what has landed) decides what is new; the sensor's cursor remembers,
per source, the listing it last asked a run for, so a slow run is not requested twice, and no
run is asked for while a sync still waits in the queue. The drops are listed at once, bounded
per server (``hub.pull.sweep.each_source``): one sensor asking a thousand folders, not a
thousand sensors.
"""

import hashlib
import json

import dagster as dg

from hub.config import HubConfig, SftpDropSource
from hub.errors import Transient
from hub.orchestration.keys import pull_keys
from hub.orchestration.resources import HubResource
from hub.pull.sweep import pending_by_source

SYNC_JOB = "sync"
"""The job a sensor's runs go to: any landing assets and their sweeps, and everything downstream of the tables."""

_WAITING = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED]


def _drops_sensor(
    drops: list[str], sweeps: dict[str, dg.AssetKey], downstream: list[dg.AssetKey]
) -> dg.SensorDefinition:
    @dg.sensor(
        name="sftp_drops",
        job_name=SYNC_JOB,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Requests a sync of the SFTP drops ({len(drops)}) where new stable files appeared: their pulls, "
        "then the tables, marts, extracts and deliveries.",
    )
    def _sensor(context: dg.SensorEvaluationContext, hub: HubResource) -> dg.SensorResult | dg.SkipReason:
        waiting = context.instance.get_runs(dg.RunsFilter(job_name=SYNC_JOB, statuses=_WAITING), limit=1)
        if waiting:  # one run of a job goes at a time: asking for another would only queue it behind
            return dg.SkipReason(f"sync run {waiting[0].run_id[:8]} has not started yet; new files are asked for "
                                 "once it has, so syncs never pile up in the queue")
        asked = json.loads(context.cursor) if context.cursor else {}
        listed = pending_by_source(hub.config, hub.paths, drops)
        new, requested, skipped = {}, [], []
        for name, files in listed.items():
            if isinstance(files, Exception):
                if not isinstance(files, Transient):
                    context.log.error(f"{name}: {files}")
                skipped.append(f"{name} ({'not reachable now' if isinstance(files, Transient) else 'failing'})")
            elif files:
                key = hashlib.sha256(json.dumps(sorted((f["file"], f["size"], f["mtime"]) for f in files)).encode())
                if asked.get(name) == key.hexdigest():
                    requested.append(name)
                else:
                    new[name] = key.hexdigest()
        if not new:
            why = (f"a run was already requested for the new files of {', '.join(requested)}" if requested
                   else "no new stable files in the drop folders")
            return dg.SkipReason(why + (f"; not listed: {', '.join(skipped)}" if skipped else ""))
        cursor = json.dumps({**asked, **new}, sort_keys=True)
        return dg.SensorResult(
            run_requests=[dg.RunRequest(
                run_key=hashlib.sha256(cursor.encode()).hexdigest(),
                asset_selection=pull_keys(sweeps, new) + downstream,
                tags={"hub/new_files_in": ",".join(sorted(new))},
            )],
            cursor=cursor,
        )

    return _sensor


def build_sensors(
    config: HubConfig, sweeps: dict[str, dg.AssetKey], downstream: list[dg.AssetKey]
) -> list[dg.SensorDefinition]:
    """The drops sensor (none without SFTP sources); ``sweeps``: each source's sweep asset,
    ``downstream``: what a sync refreshes."""
    drops = [s.name for s in config.sources if isinstance(s, SftpDropSource)]
    return [_drops_sensor(drops, sweeps, downstream)] if drops else []
