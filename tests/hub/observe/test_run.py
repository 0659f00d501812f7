"""A stage run through ``RunContext.stage``: its audit entry and lineage events, whatever its body does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.config import load_config
from hub.errors import TransientSourceError
from hub.home import Home
from hub.observe import audit
from hub.observe.lineage import dataset
from hub.observe.run import RunContext
from tests.hub.config.test_config import VALID, write


@pytest.fixture
def run(tmp_path: Path) -> RunContext:
    config = load_config(write(tmp_path, VALID | {"lineage": {"file": "lineage.jsonl"}}))
    return RunContext(config, Home(tmp_path), "run-1")


def test_a_stage_is_audited_with_its_outcome_and_emits_start_then_complete_or_fail(run: RunContext) -> None:
    with run.stage("pull.c1_filing", [dataset("file", "/in")], audit_as=("pull", "c1_filing")) as stage:
        stage.details.update(batches=2, rows=10)
        stage.outputs = []
    with pytest.raises(TransientSourceError), \
            run.stage("pull.p1_sup", [], audit_as=("pull", "p1_sup")) as stage:
        stage.details.update(batches=1, rows=3)
        raise TransientSourceError("server went away; will retry", source="p1_sup")
    with run.stage("deliver.spo", [], audit_as=("deliver", "spo"), audit_success=False):
        run.record("deliver", subject="spo", sequence=1, status="delivered")

    entries = [e for e in audit.entries(run.home.audit) if e["event"] != "config"]
    assert [(e["event"], e["subject"], e["details"]["status"]) for e in entries] == [
        ("pull", "c1_filing", "ok"), ("pull", "p1_sup", "failed"), ("deliver", "spo", "delivered")]
    assert entries[0]["details"] | {"config": None} == {"status": "ok", "batches": 2, "rows": 10, "config": None}
    assert entries[1]["details"]["error"] == "server went away; will retry" and entries[1]["details"]["rows"] == 3
    assert all(e["run_id"] == "run-1" and e["details"]["config"] == run.config.digest() for e in entries)
    events = [json.loads(line) for line in (run.home.root / "lineage.jsonl").read_text().splitlines()]
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("pull.c1_filing", "START"), ("pull.c1_filing", "COMPLETE"), ("pull.p1_sup", "START"), ("pull.p1_sup", "FAIL"),
        ("deliver.spo", "START"), ("deliver.spo", "COMPLETE")]
    assert events[3]["run"]["facets"]["errorMessage"]["message"] == "server went away; will retry"
