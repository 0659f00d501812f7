"""Running the exchange's jobs in this process, against the home's persistent Dagster instance
(``hub run``, ``hub demo``), so the runs show up in ``hub dev``."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import dagster as dg

from hub.config import load_config
from hub.home import Home
from hub.orchestration.definitions import build_definitions


def dagster_instance(home: Home) -> dg.DagsterInstance:
    """The home's persistent Dagster instance (runs show up in ``hub dev``)."""
    home.dagster.mkdir(parents=True, exist_ok=True)
    target = home.dagster / "dagster.yaml"
    if not target.exists():
        with resources.as_file(resources.files("hub.orchestration") / "dagster.yaml") as src:
            shutil.copyfile(src, target)
    os.environ["DAGSTER_HOME"] = str(home.dagster)
    return dg.DagsterInstance.get()


_EXCEPTION_NAME = re.compile(r"^(?:[\w]+\.)+\w+: ")
"""The ``package.module.Class: `` Dagster puts before an error's message."""


@dataclass(frozen=True)
class Exchange:
    """What ``run_exchange`` did: its Dagster runs and the steps that failed (true if none did)."""

    run_ids: list[str]
    failures: list[tuple[str, str]]  # (step, the hub's own message)
    started: dt.datetime  # UTC, before its first run: its audit entries come after

    def __bool__(self) -> bool:
        return not self.failures


def run_exchange(home: Home, config_path: Path | None = None, *, as_of: dt.date | None = None) -> Exchange:
    """Pull every source, then apply and publish what landed (two Dagster runs, in-process).

    Two runs, so that a source that cannot be reached fails its own step while the other
    institutions' data is still applied and published.
    """
    config = load_config(config_path or home.require_config())
    defs = build_definitions(home, config, config_path, as_of=as_of)
    instance = dagster_instance(home)
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # failures are printed below
    started = dt.datetime.now(dt.UTC)
    run_ids: list[str] = []
    failures: list[tuple[str, str]] = []
    for name, what in (("pull_all", "pull"), ("refresh", "normalize, check, publish")):
        result = defs.resolve_job_def(name).execute_in_process(instance=instance, raise_on_error=False, run_config=quiet)
        print(f"{what}: Dagster run {result.run_id} {'succeeded' if result.success else 'FAILED'}")
        run_ids.append(result.run_id)
        before = len(failures)
        for event in result.all_events:
            if event.is_step_failure:
                error = event.step_failure_data.error  # type: ignore[union-attr]
                while error.cause is not None:  # the hub's own message is the innermost one
                    error = error.cause
                message = _EXCEPTION_NAME.sub("", error.message.strip())  # the hub's words, not its class
                print(f"  step {event.step_key} failed: {message}", file=sys.stderr)
                failures.append((str(event.step_key), message))
        if not result.success and len(failures) == before:
            failures.append((name, f"the run failed without a failed step; see Dagster run {result.run_id} in hub dev"))
    return Exchange(run_ids, failures, started)
