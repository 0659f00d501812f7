"""Runs that died never block live ones: each run ``hub run`` starts names the process that runs
it; the next one marks a run whose process is gone as failed and frees the pool slots it held
(its work is resumed by the new run: pulls from their saved positions, batches not applied).
A run waiting for a pool says who holds it, and gives up after a bound instead of spinning.
(``hub dev``'s own runs are watched by Dagster's run monitoring, set in ``dagster.yaml``.)
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import dagster as dg

from hub.errors import RunError

PID, HOST, PROCESS_START, RUN = "hub/pid", "hub/host", "hub/process_start", "hub/run_id"
ACTIVE = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
          dg.DagsterRunStatus.CANCELING]


def process_tags(run_id: str) -> dict[str, str]:
    """What tells the process running ``run_id`` apart, now and after its pid is reused. The run's
    own id is among them: a re-execution launched from the UI copies its parent's tags, and
    must not be taken for the parent's process."""
    return {PID: str(os.getpid()), HOST: socket.gethostname(), PROCESS_START: _process_start(os.getpid()) or "?",
            RUN: run_id}


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, counted after the command's closing parenthesis


def _alive(tags: dict[str, str]) -> bool:
    pid = int(tags[PID])
    if sys.platform.startswith("linux"):
        return _process_start(pid) in (tags.get(PROCESS_START), "?")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def sweep_dead(instance: dg.DagsterInstance) -> list[str]:
    """Mark every run of a ``hub run`` process on this host that is gone as failed, and free its
    pool slots; the ids of those runs."""
    host = socket.gethostname()
    dead = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=ACTIVE, tags={HOST: host})):
        if run.tags.get(RUN) != run.run_id or _alive(dict(run.tags)):
            continue
        instance.report_run_failed(run, f"the process running it (pid {run.tags[PID]} on {host}) is gone: killed or "
                                        "crashed; its work is resumed by the next run")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        dead.append(run.run_id)
    return dead


def stopped(instance: dg.DagsterInstance, run_id: str) -> None:
    """A run this process stopped (a signal): failed if Dagster did not end it, its slots freed."""
    run = instance.get_run_by_id(run_id)
    if run is not None and run.status in ACTIVE:
        instance.report_run_failed(run, "stopped by a signal; its work is resumed by the next run")
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)


POLL_SECONDS = 2.0


def wait_for_pools(instance: dg.DagsterInstance, pools: list[str], *, bound: float, what: str) -> None:
    """Wait, saying so, until each of ``pools`` has a free slot; after ``bound`` seconds, give
    up with an error naming the runs that hold them."""
    deadline = time.monotonic() + bound
    told: set[str] = set()
    for pool in pools:
        while True:
            info = instance.event_log_storage.get_concurrency_info(pool)
            if info.limit is None or info.active_slot_count < info.limit:
                break
            holders = _describe(instance, info.active_run_ids)
            if time.monotonic() >= deadline:
                raise RunError(
                    f"{what}: gave up after {bound:g} s waiting for pool {pool!r}, held by {holders}; if that run "
                    "is stuck, stop it in 'hub dev' (Runs → Terminate), or raise hub.pool_wait_seconds")
            if holders not in told:
                print(f"{what}: waiting for pool {pool!r}, held by {holders} (up to {bound:g} s)", file=sys.stderr)
                told.add(holders)
            time.sleep(POLL_SECONDS)


def _describe(instance: dg.DagsterInstance, run_ids: set[str]) -> str:
    described = []
    for run_id in sorted(run_ids):
        run = instance.get_run_by_id(run_id)
        described.append(f"Dagster run {run_id[:8]} ({run.job_name}, {run.status.value})" if run else f"run {run_id[:8]}")
    return ", ".join(described) or "a run that has just ended"
