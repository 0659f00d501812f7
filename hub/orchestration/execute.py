"""Running the exchange's jobs in this process, against the home's persistent Dagster instance
(``hub run``, ``hub demo``), so the runs show up in ``hub dev``."""

from __future__ import annotations

import datetime as dt
import logging
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.utils import make_new_run_id

from hub.config import load_config
from hub.errors import RunError
from hub.home import Home
from hub.observe.run import PROGRESS
from hub.orchestration import runs
from hub.orchestration.definitions import build_definitions
from hub.orchestration.instance import dagster_instance

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
    institutions' data is still applied and published. Runs a dead ``hub run`` left behind are
    failed first and their pool slots freed; SIGTERM stops like Ctrl-C (``RunError``), the run
    marked failed and its slots freed, what it finished kept.
    """
    config = load_config(config_path or home.require_config())
    defs = build_definitions(home, config, config_path, as_of=as_of)
    instance = dagster_instance(home, config)
    for run_id in runs.sweep_dead(instance):
        print(f"Dagster run {run_id} was left running by a process that is gone: marked failed, its pool slots freed",
              file=sys.stderr)
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # failures are printed below
    started = dt.datetime.now(dt.UTC)
    run_ids: list[str] = []
    failures: list[tuple[str, str]] = []
    with _sigterm_as_interrupt(), _progress_on_terminal():
        for name, what in (("pull_all", "pull"), ("refresh", "normalize, check, publish")):
            job = defs.resolve_job_def(name)
            pools = sorted({p for node in job.graph.node_dict.values() if (p := node.definition.pool)})
            run_id = make_new_run_id()
            try:
                runs.wait_for_pools(instance, pools, bound=config.hub.pool_wait_seconds, what=what)
                result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=quiet,
                                                run_id=run_id, tags=runs.process_tags(run_id))
            except (KeyboardInterrupt, DagsterExecutionInterruptedError):  # waiting for a pool, or between steps
                result = None
            failed = _failed_steps(result) if result is not None else None
            if failed is None or any(cls == "DagsterExecutionInterruptedError" for _, cls, _ in failed):
                runs.stopped(instance, run_id)  # a signal: the exchange stops here
                raise RunError(f"stopped by a signal during {what} (Dagster run {run_id}); what it finished is kept: "
                               "run 'hub run' again to go on")
            print(f"{what}: Dagster run {run_id} {'succeeded' if result.success else 'FAILED'}")
            run_ids.append(run_id)
            for step, _, message in failed:
                print(f"  step {step} failed: {message}", file=sys.stderr)
                failures.append((step, message))
            if not result.success and not failed:
                failures.append((name, f"the run failed without a failed step; see Dagster run {run_id} in hub dev"))
    return Exchange(run_ids, failures, started)


def _failed_steps(result: dg.ExecuteInProcessResult) -> list[tuple[str, str, str]]:
    """(step, the error's class, the hub's own message: the innermost cause's, without its class)."""
    failed = []
    for event in result.all_events:
        if event.is_step_failure:
            error = cause = event.step_failure_data.error  # type: ignore[union-attr]
            while cause.cause is not None:
                cause = cause.cause
            failed.append((str(event.step_key), error.cls_name, _EXCEPTION_NAME.sub("", cause.message.strip())))
    return failed


@contextmanager
def _progress_on_terminal() -> Iterator[None]:
    """The stages' progress lines on stderr while the runs go (Dagster's own console logger is
    quiet: its lines are the engine's, not the exchange's)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("  %(message)s"))
    level = PROGRESS.level
    PROGRESS.addHandler(handler)
    PROGRESS.setLevel(logging.INFO)
    try:
        yield
    finally:
        PROGRESS.removeHandler(handler)
        PROGRESS.setLevel(level)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a service manager stopping the hub) handled as Ctrl-C: Dagster stops the step
    at its next safe point and the run ends failed, instead of the process vanishing mid-run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
