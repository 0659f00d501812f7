"""Dead runs are failed and free their pools; a pool held by a live run is waited for, with
the holder named, up to a bound: the waiting never spins, and never lasts for ever."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from hub.errors import RunError
from hub.orchestration import runs


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides={"concurrency": {"pools": {"default_limit": 1}}}) as inst:
        yield inst


def _holding(instance: dg.DagsterInstance, pid: int, run_id: str, **tags: str) -> dg.DagsterRun:
    """A run started by process ``pid`` on this host (this process's start time), holding the
    warehouse's one slot."""
    tags = runs.process_tags(run_id) | {runs.PID: str(pid)} | tags
    run = instance.add_run(dg.DagsterRun(job_name="refresh", run_id=run_id, status=dg.DagsterRunStatus.STARTED,
                                         tags=tags))
    instance.event_log_storage.initialize_concurrency_limit_to_default("warehouse")
    assert instance.event_log_storage.claim_concurrency_slot("warehouse", run_id, "normalize").is_claimed
    return run


def test_a_pool_held_by_a_live_run_is_waited_for_then_given_up_naming_the_holder(
    instance: dg.DagsterInstance, capsys: pytest.CaptureFixture[str],
) -> None:
    _holding(instance, os.getpid(), "a1b2c3d4-live")
    assert runs.sweep_dead(instance) == []  # alive: left alone
    with pytest.raises(RunError, match=r"normalize: gave up after 0.2 s waiting for pool 'warehouse', held by "
                                       r"Dagster run a1b2c3d4 \(refresh, STARTED\).*Terminate.*pool_wait_seconds"):
        runs.wait_for_pools(instance, ["warehouse"], bound=0.2, what="normalize")
    assert "normalize: waiting for pool 'warehouse', held by Dagster run a1b2c3d4 (refresh, STARTED)" in (
        capsys.readouterr().err)


def test_a_run_whose_process_is_gone_is_failed_and_its_slot_freed(instance: dg.DagsterInstance) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    _holding(instance, gone.pid, "deadbeef-gone")
    assert runs.sweep_dead(instance) == ["deadbeef-gone"]
    run = instance.get_run_by_id("deadbeef-gone")
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
    assert instance.event_log_storage.get_concurrency_info("warehouse").active_slot_count == 0
    runs.wait_for_pools(instance, ["warehouse"], bound=0, what="normalize")  # free: no wait
    assert runs.sweep_dead(instance) == []  # once


def test_a_reused_pid_is_not_taken_for_the_run_it_once_ran(instance: dg.DagsterInstance) -> None:
    """This process's pid, but another start time: the process that ran the run is gone."""
    _holding(instance, os.getpid(), "0badc0de-reused", **{runs.PROCESS_START: "1"})
    assert runs.sweep_dead(instance) == ["0badc0de-reused"]


def test_a_re_execution_carrying_its_parents_tags_is_not_swept(instance: dg.DagsterInstance) -> None:
    """The UI's re-execution copies the parent run's tags: the process they name is not its own."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    _holding(instance, gone.pid, "5ca1ab1e-child", **{runs.RUN: "parent-run-id"})
    assert runs.sweep_dead(instance) == []


def test_the_instance_settings_are_upgraded_unless_an_operator_edited_them(tmp_path: Path) -> None:
    from importlib import resources

    from hub.home import Home
    from hub.orchestration.execute import dagster_instance

    shipped_before = b"""# Dagster instance for a hub home (copied to <home>/.dagster/dagster.yaml on first use).
# Storage defaults to SQLite files beside this file.
concurrency:
  pools:
    # DuckDB allows one read-write process per file: every step that opens the warehouse
    # is in pool "warehouse", and each pool admits one step at a time.
    default_limit: 1
  runs:
    max_concurrent_runs: 4
telemetry:
  enabled: false
"""
    ours = (resources.files("hub.orchestration") / "dagster.yaml").read_bytes()
    for name, before, after in (("as shipped", shipped_before, ours),
                                ("edited", shipped_before.replace(b"max_concurrent_runs: 4", b"max_concurrent_runs: 9"),
                                 None)):
        home = Home(tmp_path / name)
        home.dagster.mkdir(parents=True)
        (home.dagster / "dagster.yaml").write_bytes(before)
        dagster_instance(home).dispose()
        assert (home.dagster / "dagster.yaml").read_bytes() == (after or before), name
    os.environ.pop("DAGSTER_HOME", None)


def test_a_schedule_skips_its_tick_while_its_job_still_has_a_run_queued_or_going(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    import yaml

    from hub.home import Home
    from hub.orchestration.definitions import JOB_TAG, build_definitions
    from hub.orchestration.instance import dagster_instance

    home = Home(tmp_path / "home")
    home.root.mkdir()
    home.config.write_text(yaml.safe_dump({"institutions": [], "sources": [], "offices": [], "agreements": []}))
    defs = build_definitions(home)
    schedule = next(s for s in defs.schedules if s.name == "marts_daily")

    def tick() -> tuple[int, str | None]:
        data = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
        return len(data.run_requests or []), data.skip_message

    assert tick() == (1, None)  # nothing going: the tick runs
    going = instance.add_run(dg.DagsterRun(job_name="marts", run_id="feedface-going", status=dg.DagsterRunStatus.STARTED))
    runs, why = tick()
    assert runs == 0 and why is not None and why.startswith("marts still has run feedface STARTED: this tick is skipped")
    instance.add_run(dg.DagsterRun(job_name="refresh", run_id="0ddba11-other", status=dg.DagsterRunStatus.STARTED))
    instance.report_run_failed(going)
    assert tick() == (1, None)  # its run ended (another job's going does not count)

    # every run of a job carries it, and the home's instance lets one run per value go at a time
    assert defs.resolve_job_def("marts").run_tags[JOB_TAG] == "marts"
    try:
        with dagster_instance(home) as home_instance:
            limits = home_instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    finally:
        os.environ.pop("DAGSTER_HOME", None)
    assert limits == [{"key": JOB_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
