"""A `hub run` killed at any crash point, then run again, ends exactly where a run that was not
killed ends: the same warehouse, bundles, deliveries and audit (chain whole, every batch applied,
every bundle published and delivered once), and the dead run no longer holds the warehouse."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest

import hub
from hub.cli import main
from hub.demo import exchange
from hub.demo.sftp_server import DemoSftpServer
from hub.faults import POINTS
from hub.home import Home
from hub.observe import audit
from schemas.tables import RECORD_TYPES
from tests import REPO

pytestmark = pytest.mark.slow

HASH_KEY = "crash-safety-test-hash-key"
HUB_RUN = "import sys; from hub.cli import main; sys.exit(main(sys.argv[1:]))"
EXCHANGE_POINTS = [p for p in POINTS if not p.startswith("migrate.")]
"""The crash points an exchange passes (``hub migrate``'s are in tests/hub/lake/test_migrate.py)."""
DAGSTER_CASES = ("hub run killed in normalize, twice", "hub run stopped by SIGTERM in normalize")


def _run(home: Path, dagster: bool, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``hub run``, or the same stages without Dagster (``exchange_driver``: seconds faster)."""
    command = ["-c", HUB_RUN, "run", "--home"] if dagster else ["-m", "tests.hub.orchestration.exchange_driver"]
    return subprocess.run([sys.executable, *command, str(home)], capture_output=True, text=True, timeout=600,
                          cwd=REPO, env=os.environ | {"HUB_HASH_KEY": HASH_KEY} | env)


def _exchange(home: Path, dagster: bool, *crashes: dict[str, str]) -> dict[str, Any]:
    """A fresh demo home, served by its own SFTP server while the exchange runs once per entry
    of ``crashes`` (each env's crash point firing) and then once more to the end."""
    h = Home(home)
    h.root.mkdir(parents=True)
    exchange.ensure_keys(h)
    with DemoSftpServer(exchange.sftp_root(h), exchange.host_key_path(h), exchange.client_public_line(h)) as server:
        exchange.create(h, port=server.port)
        crashed = [_run(home, dagster, env) for env in crashes]
        last = _run(home, dagster, {})
    return {"home": home, "crashed": crashed, "last": last}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The exchange that was never killed, and one killed at each crash point, side by side."""
    root = tmp_path_factory.mktemp("crash")
    cases: dict[str, tuple[bool, tuple[dict[str, str], ...]]] = {"reference": (False, ())}
    cases |= {point: (False, ({"HUB_CRASH_AT": point},)) for point in EXCHANGE_POINTS}
    cases[DAGSTER_CASES[0]] = (True, ({"HUB_CRASH_AT": "normalize.committed"}, {"HUB_CRASH_AT": "normalize.committed"}))
    cases[DAGSTER_CASES[1]] = (True, ({"HUB_CRASH_AT": "normalize.applying", "HUB_CRASH_SIGNAL": "TERM"},))
    with ThreadPoolExecutor(3) as pool:
        futures = {name: pool.submit(_exchange, root / f"case{n}", dagster, *envs)
                   for n, (name, (dagster, envs)) in enumerate(cases.items())}
        return {name: f.result() for name, f in futures.items()}


def _warehouse(home: Path) -> dict[str, Any]:
    con = hub.connect(home)
    try:
        out: dict[str, Any] = {
            rt: sorted(con.execute(f"SELECT * EXCLUDE (landed_at, run_id) FROM {rt}").fetchall(), key=repr)
            for rt in RECORD_TYPES
        }
        out["quarantine"] = sorted(con.execute(
            "SELECT * EXCLUDE (run_id, quarantined_at) FROM quarantine").fetchall(), key=repr)
        out["hub_batches"] = sorted(con.execute(
            "SELECT batch_id, source_name, kind, rows_in, rows_applied, rows_quarantined, rows_duplicate, rows_deleted "
            "FROM hub_batches WHERE kind <> 'keys'").fetchall())
        out["holdings"] = sorted(con.execute("SELECT office, dataset, record_key FROM hub_holdings").fetchall())
        out["receipts"] = sorted(con.execute(
            "SELECT office, bundle_sequence, dataset, bundle_row, change, record_key FROM hub_receipts").fetchall())
        return out
    finally:
        con.close()


def _bundles(home: Path) -> dict[str, Any]:
    """Per office, each bundle's sequence and datasets, and the rows of those not encrypted."""
    out: dict[str, Any] = {}
    for bundle in sorted((home / "outbox").glob("*/[0-9]*")):
        statement = json.loads(base64.b64decode(
            json.loads((bundle / "manifest.dsse.json").read_text())["payload"]))
        datasets = statement["predicate"]["datasets"]
        rows = {name: sorted(pq.read_table(bundle / d["file"]).to_pylist(), key=repr)
                for name, d in datasets.items() if not d["file"].endswith(".age")}
        out[f"{bundle.parent.name}/{bundle.name}"] = (
            {n: (d["rows"], d["schema_fingerprint"]) for n, d in datasets.items()}, rows,
            statement["predicate"]["extract"])
    return out


def _outbox_leftovers(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "outbox").glob("*/.*"))


def _delivered(home: Path) -> list[str]:
    inbox = exchange.sftp_root(Home(home)) / "inbox"
    return sorted(f"{p.parent.name}/{p.name}" for p in inbox.glob("*/" + "[0-9]" * 8))  # bundles, not trust/


def _audit(home: Path) -> dict[str, Any]:
    """What the audit log says was applied (each batch of rows once; key snapshots, named by
    their time, are counted), published and delivered."""
    con = hub.connect(home)
    snapshots = {r[0] for r in con.execute("SELECT batch_id FROM hub_batches WHERE kind = 'keys'").fetchall()}
    con.close()
    entries = list(audit.entries(home / "audit" / "audit.jsonl"))
    applied = [e["details"]["batch_id"] for e in entries if e["event"] == "apply"]
    applied = [b for b in applied if b not in snapshots] + [f"{len([b for b in applied if b in snapshots])} snapshot(s)"]
    published = [(e["subject"], e["details"]["sequence"]) for e in entries
                 if e["event"] == "publish" and e["details"].get("status") == "ok"]
    delivered = {(e["subject"], e["details"]["sequence"]) for e in entries if e["event"] == "deliver"
                 and e["details"].get("status") in ("delivered", "already_there")}
    return {"applied": sorted(applied), "published": sorted(published), "delivered": sorted(delivered)}


def test_the_run_that_was_never_killed_did_everything(runs: dict[str, dict[str, Any]]) -> None:
    ref = runs["reference"]
    assert ref["last"].returncode == 0, ref["last"].stderr
    home = ref["home"]
    assert _delivered(home) == ["wh-court-spo/00000001"]
    assert len(_bundles(home)) == 3
    facts = _audit(home)
    assert len(facts["applied"]) == len(set(facts["applied"])) == len(_warehouse(home)["hub_batches"]) + 1


@pytest.mark.parametrize("case", [*EXCHANGE_POINTS, *DAGSTER_CASES])
def test_a_run_killed_anywhere_ends_where_an_unkilled_one_does(runs: dict[str, dict[str, Any]], case: str) -> None:
    run, ref = runs[case], runs["reference"]
    term = "SIGTERM" in case
    for crashed in run["crashed"]:  # it did die there: the point was reached
        assert crashed.returncode == (1 if term else -signal.SIGKILL), (crashed.returncode, crashed.stderr[-2000:])
    if term:
        assert "stopped by a signal during normalize" in run["crashed"][0].stderr
    assert run["last"].returncode == 0, run["last"].stderr[-3000:]
    home = run["home"]
    assert _warehouse(home) == _warehouse(ref["home"])
    assert _bundles(home) == _bundles(ref["home"])
    assert _outbox_leftovers(home) == []
    assert _delivered(home) == _delivered(ref["home"])
    facts = _audit(home)
    assert facts == _audit(ref["home"])  # every batch applied, every bundle published and delivered: once
    assert main(["audit", "verify", "--home", str(home)]) == 0


def test_the_killed_run_is_marked_failed_and_holds_no_pool(runs: dict[str, dict[str, Any]]) -> None:
    home = runs[DAGSTER_CASES[0]]["home"]
    os.environ["DAGSTER_HOME"] = str(home / ".dagster")
    instance = dg.DagsterInstance.get()
    try:
        statuses = [r.status for r in instance.get_runs()]
        assert statuses.count(dg.DagsterRunStatus.FAILURE) == 2  # the two killed refresh runs
        assert all(s in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE) for s in statuses)
        assert instance.event_log_storage.get_concurrency_info("warehouse").active_slot_count == 0
        killed = [r for r in instance.get_runs() if r.status == dg.DagsterRunStatus.FAILURE]
        assert all("is gone" in _failure_message(instance, r.run_id) for r in killed)
    finally:
        instance.dispose()
        del os.environ["DAGSTER_HOME"]
    assert "left running by a process that is gone" in runs[DAGSTER_CASES[0]]["last"].stderr


def test_hub_run_tells_its_progress_on_the_terminal_and_in_dagster_logs(runs: dict[str, dict[str, Any]]) -> None:
    run = runs[DAGSTER_CASES[1]]  # stopped in normalize, then run to the end
    told = run["crashed"][0].stderr
    assert re.search(r"^  pull hbw_court_filing: [0-9,]+ rows in 1 batch\(es\) so far$", told, re.M)
    assert re.search(r"^  normalize: [0-9]+ batch\(es\) to apply, [0-9,]+ rows$", told, re.M)
    resumed = run["last"].stderr  # what the stopped run left to apply
    assert re.search(r"^  normalize: 1 of [0-9]+ batch\(es\) applied, [0-9,]+ rows \(\w+: [0-9,]+ applied, [0-9,]+ "
                     r"quarantined\)$", resumed, re.M)
    assert re.search(r"^  publish wh-court-spo: bundle 1 \(full, [0-9,]+ rows\)$", run["last"].stderr, re.M)
    assert re.search(r"^  deliver wh-court-spo: bundle 1 uploaded$", run["last"].stderr, re.M)
    os.environ["DAGSTER_HOME"] = str(run["home"] / ".dagster")
    instance = dg.DagsterInstance.get()
    try:
        logged = [e.user_message for r in instance.get_runs() for e in instance.all_logs(r.run_id)]
    finally:
        instance.dispose()
        del os.environ["DAGSTER_HOME"]
    assert any(m.startswith("pull wh_court_filing: ") for m in logged)
    assert any(m.startswith("publish wh-justice-office: bundle 1") for m in logged)


def _failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    return " ".join(r.event_log_entry.dagster_event.message or "" for r in records)  # type: ignore[union-attr]


def test_every_crash_point_is_documented() -> None:
    ops = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    assert [point for point in POINTS if f"`{point}`" not in ops] == []


def test_an_unknown_crash_point_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from hub import faults

    monkeypatch.setenv("HUB_CRASH_AT", "pull.landed")
    with pytest.raises(ValueError, match="unknown crash point"):
        faults.crash_point("pull.nowhere")

