"""The production profile for real: Dagster's runs and events in PostgreSQL, every step sent to
Celery workers over RabbitMQ, two workers in processes of their own. The exchange they run
ends as the one ``hub run`` makes in process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
import yaml
from dagster._core.definitions.reconstruct import ReconstructableRepository

import hub
from benchmarks.workers import WORKER, stop
from benchmarks.workers import start as start_workers
from hub.cli import main
from hub.config import load_config
from hub.home import Home
from hub.observe import audit
from hub.orchestration.instance import dagster_instance
from schemas.tables import RECORD_TYPES
from tests.hub.exchange_homes import change_court_filings, sftp_drop_served

AS_OF = "2024-11-22"
REPO = Path(__file__).resolve().parents[3]
BROKER = "pyamqp://guest@127.0.0.1:5672//"
PASSWORD_ENV = "HUB_TEST_BROKER_PASSWORD"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("proddemo") / "home"
    assert main(["demo", "--home", str(home), "--as-of", AS_OF]) == 0
    change_court_filings(home)  # something new for the next run to pull, apply and publish
    return home


def copy(demo: Path, where: Path) -> Path:
    import shutil

    shutil.copytree(demo, where, ignore=shutil.ignore_patterns(".dagster"))
    return where


def in_production(home: Path, storage: str) -> None:
    raw = yaml.safe_load((home / "hub.yaml").read_text(encoding="utf-8"))
    raw["orchestration"] = {"storage": storage, "broker": BROKER, "broker_password_env": PASSWORD_ENV}
    (home / "hub.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")


def shared_state(home: Path) -> dict[str, Any]:
    """Each shared table's current rows (how many, and a digest of their keys), and each office's
    newest bundle as its audit entry says: sequence, full or incremental, rows per dataset."""
    found: dict[str, Any] = {}
    with hub.connect(home) as con:
        for rt in RECORD_TYPES:
            found[rt] = con.execute(f"SELECT count(*), bit_xor(hash(record_key)) FROM {rt}").fetchone()
    for entry in audit.entries(Home(home).audit):
        if entry["event"] == "publish" and entry["details"].get("status") == "ok":
            details = entry["details"]
            found[entry["subject"]] = (details["sequence"], details["extract"], details["rows"])
    return found


@dataclass
class Homes:
    alone: Path  # a copy run in process by `hub run`
    prod: Path  # a copy in the production profile
    instance: dg.DagsterInstance  # its instance, Dagster's tables made before any worker starts
    job: Any  # the exchange job, reconstructable from hub.definitions as Dagster's launcher loads it


def homes(demo: Path, storage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Homes:
    alone = copy(demo, tmp_path / "alone")
    with sftp_drop_served(alone):
        assert main(["run", "--home", str(alone)]) == 0
    home = copy(demo, tmp_path / "prod")
    in_production(home, storage)
    monkeypatch.setenv(PASSWORD_ENV, "guest")
    monkeypatch.setenv("HUB_HOME", str(home))
    instance = dagster_instance(Home(home), load_config(home / "hub.yaml"))
    job = ReconstructableRepository.for_module("hub.definitions", "defs", working_directory=str(REPO)
                                               ).get_reconstructable_job("exchange")
    return Homes(alone, home, instance, job)


def test_an_exchange_on_two_workers_ends_as_the_one_run_in_process(
    demo: Path, storage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = homes(demo, storage, tmp_path, monkeypatch)
    workers = start_workers(h.prod, 2, tmp_path)
    try:
        with sftp_drop_served(h.prod):
            result = dg.execute_job(h.job, instance=h.instance)
    finally:
        stop(workers)
    assert result.success, [e.message for e in result.all_events if e.is_step_failure]
    placed = {e.step_key: e.engine_event_data.metadata["Celery worker"].value for e in result.all_events
              if e.event_type_value == "ENGINE_EVENT" and "in celery worker" in (e.message or "")}
    pulls = {step: worker for step, worker in placed.items() if step.startswith("pull_")}
    assert len(pulls) >= 2 and len(set(pulls.values())) == 2, placed  # the sources' pulls went to both workers
    with psycopg.connect(storage) as con:  # the run and its events are in PostgreSQL
        assert con.execute("SELECT count(*) FROM runs WHERE run_id = %s", [result.run_id]).fetchone()[0] == 1
    assert shared_state(h.prod) == shared_state(h.alone)


def test_a_worker_killed_mid_pull_loses_nothing_and_the_run_again_completes(
    demo: Path, storage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = homes(demo, storage, tmp_path, monkeypatch)
    monkeypatch.setenv("HUB_CRASH_AT", "pull.landed")  # the workers' processes die once a batch has landed
    dying = start_workers(h.prod, 2, tmp_path)
    monkeypatch.delenv("HUB_CRASH_AT")
    try:
        with sftp_drop_served(h.prod):
            first = dg.execute_job(h.job, instance=h.instance)
    finally:
        stop(dying)  # the machine the step died on, gone; and the other with it
    assert not first.success
    landed = sorted((h.prod / "landing" / "wh_court_filing").glob("*.parquet"))
    assert landed  # the batch landed, its position not saved: the worker died between the two
    (tmp_path / "again").mkdir()
    workers = start_workers(h.prod, 1, tmp_path / "again")
    try:
        with sftp_drop_served(h.prod):
            again = dg.execute_job(h.job, instance=h.instance,
                                   reexecution_options=dg.ReexecutionOptions.from_failure(first.run_id, h.instance))
    finally:
        stop(workers)
    assert again.success, [e.message for e in again.all_events if e.is_step_failure]
    assert sorted((h.prod / "landing" / "wh_court_filing").glob("*.parquet"))[:len(landed)] == landed
    assert shared_state(h.prod) == shared_state(h.alone)  # every row once: nothing lost, nothing twice


def wait_for_run(instance: dg.DagsterInstance, tags: dict[str, str], statuses: set[dg.DagsterRunStatus],
                 logs: list[Path], seconds: float = 300) -> dg.DagsterRun:
    """The newest run with these tags once it is in one of ``statuses``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runs = instance.get_runs(filters=dg.RunsFilter(tags=tags), limit=1)
        if runs and runs[0].status in statuses:
            return runs[0]
        time.sleep(2)
    raise AssertionError(f"no run tagged {tags} in {statuses}: {[p.read_text(errors='replace')[-3000:] for p in logs]}")


def test_the_daemon_runs_a_scheduled_sync_and_again_when_a_worker_died_in_it(
    demo: Path, storage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.orchestration.definitions import cadence_name

    h = homes(demo, storage, tmp_path, monkeypatch)
    raw = yaml.safe_load((h.prod / "hub.yaml").read_text(encoding="utf-8"))
    for src in raw["sources"]:
        src["cadence"] = "* * * * *"  # every source due each minute: one schedule, ticked by the daemon
    raw["orchestration"]["run_retries"] = 3
    (h.prod / "hub.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("HUB_CRASH_AT", "pull.landed")  # the workers' processes die once a batch has landed
    dying = start_workers(h.prod, 2, tmp_path)
    monkeypatch.delenv("HUB_CRASH_AT")
    daemon_log = tmp_path / "daemon.log"
    with open(daemon_log, "wb") as log:
        daemon = subprocess.Popen([sys.executable, "-c", WORKER, "daemon", "--home", str(h.prod)],
                                  stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
    workers: list[subprocess.Popen[bytes]] = []
    logs = [daemon_log, *(tmp_path / f"w{i}.log" for i in range(2))]
    try:
        with sftp_drop_served(h.prod):
            scheduled = {"dagster/schedule_name": f"pull_{cadence_name('* * * * *')}"}
            first = wait_for_run(h.instance, scheduled, {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS}, logs)
            assert first.status == dg.DagsterRunStatus.FAILURE  # its worker died in a pull
            stop(dying)
            (tmp_path / "again").mkdir()
            workers = start_workers(h.prod, 1, tmp_path / "again")
            # the daemon runs it again from its failure (once more if a dying worker took that one too)
            root = first.tags.get("dagster/root_run_id", first.run_id)  # the newest may be a retry already
            retried = wait_for_run(h.instance, {"dagster/root_run_id": root}, {dg.DagsterRunStatus.SUCCESS}, logs,
                                   seconds=600)  # a whole exchange on one worker, however busy the machine is
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)  # the daemon and the code server it started
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(daemon.pid, signal.SIGKILL)
        stop(dying + workers)
    assert int(retried.tags["dagster/retry_number"]) >= 1 and retried.job_name == first.job_name
    # one run of the job at a time, and the ticks while one went on skipped, not queued behind it
    done = h.instance.get_run_record_by_id(retried.run_id)
    assert done is not None and done.end_time is not None
    records = [r for r in h.instance.get_run_records(dg.RunsFilter(job_name=first.job_name))
               if r.create_timestamp.timestamp() < done.end_time]  # a tick after it may have queued one since
    assert not [r.dagster_run.run_id for r in records if r.dagster_run.status == dg.DagsterRunStatus.QUEUED]
    spans = sorted((r.start_time, r.end_time or float("inf")) for r in records if r.start_time)
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:])), spans
    assert shared_state(h.prod) == shared_state(h.alone)  # nothing lost, nothing twice
