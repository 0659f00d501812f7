"""Sensors: a run when new, stable files appear in an institution's SFTP drop folder.

The source's state file (what has landed) decides what is new; the sensor's cursor remembers
the listing it last asked a run for, so a slow run is not requested twice.
"""

import hashlib
import json

import dagster as dg

from hub.config import HubConfig, SftpDropSource
from hub.errors import HubError, Transient
from hub.orchestration.resources import HubResource
from hub.pull.stage import pending_files


def _drop_sensor(src: SftpDropSource) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"drop_{src.name}",
        job_name=f"sync_{src.name}",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Requests sync_{src.name} when new stable files appear in the SFTP drop folder.",
    )
    def _sensor(context: dg.SensorEvaluationContext, hub: HubResource) -> dg.SensorResult | dg.SkipReason:
        try:
            files = pending_files(hub.config, hub.paths, src.name)
        except HubError as exc:
            if isinstance(exc, Transient):
                return dg.SkipReason(f"drop folder not reachable now: {exc}")
            raise
        if not files:
            return dg.SkipReason("no new stable files in the drop folder")
        listing = json.dumps(sorted((f["file"], f["size"], f["mtime"]) for f in files))
        key = hashlib.sha256(listing.encode()).hexdigest()
        if context.cursor == key:
            return dg.SkipReason(f"a run was already requested for these {len(files)} file(s)")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=key, tags={"hub/new_files": str(len(files))})],
            cursor=key,
        )

    return _sensor


def build_sensors(config: HubConfig) -> list[dg.SensorDefinition]:
    return [_drop_sensor(s) for s in config.sources if isinstance(s, SftpDropSource)]
