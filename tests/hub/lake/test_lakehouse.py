"""The warehouse as a lakehouse: analysts read while the hub writes, every table documents
itself, and every bundle can be rebuilt from the snapshot its statement names."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import hub
from hub.cli import main
from hub.config import load_config
from hub.home import Home
from hub.inspect.reproduce import reproduce
from hub.normalize.warehouse import Warehouse
from hub.observe import audit
from hub.orchestration.execute import run_exchange
from tests.hub.exchange_homes import change_court_filings, copy_of, sftp_drop_served

AS_OF = "2024-11-22"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("lakedemo")
    assert main(["demo", "--home", str(home), "--as-of", AS_OF]) == 0
    return home


def bundles(home: Path) -> list[Path]:
    return sorted(p for p in (home / "outbox").glob("*/0*") if p.is_dir())


def statement(bundle: Path) -> dict:
    import base64
    envelope = json.loads((bundle / "manifest.dsse.json").read_text())
    return json.loads(base64.b64decode(envelope["payload"]))


def test_every_table_view_and_column_carries_its_comment(demo: Path) -> None:
    with hub.connect(demo) as con:
        tables = con.execute("SELECT table_name, comment FROM duckdb_tables() WHERE database_name = 'lake'").fetchall()
        columns = con.execute(
            """SELECT c.table_name, c.column_name FROM duckdb_columns() c JOIN duckdb_tables() t
               USING (database_name, schema_name, table_name) WHERE c.database_name = 'lake' AND c.comment IS NULL"""
        ).fetchall()
        views = con.execute("SELECT view_name FROM duckdb_views() WHERE database_name = 'lake' AND comment IS NULL"
                            ).fetchall()
    names = {t for t, _ in tables}
    assert {"quarantine", "withheld", "hub_batches", "hub_receipts", "code_court", "filing_versions", "filing_superseded",
            "mart_replies"} <= names
    assert [t for t, comment in tables if not comment] == []
    assert columns == [] and views == []


def test_an_analyst_reads_through_a_whole_hub_run(demo: Path, tmp_path: Path) -> None:
    """An analyst's open transaction neither stops a `hub run` in another process nor sees it
    half done: it reads the state before the run throughout, and its next transaction the state
    after it."""
    home = copy_of(demo, tmp_path)
    change_court_filings(home)
    for bundle in bundles(home):  # every office due a heartbeat: the run writes bundles and receipts too
        aged = bundle.stat().st_mtime - 16 * 86400
        os.utime(bundle, (aged, aged))
    state = ("SELECT (SELECT count(*) FROM hub_batches), (SELECT count(*) FROM hub_bundles), "
             "(SELECT count(*) FROM filing WHERE cause LIKE '%（更正）'), (SELECT max(snapshot_id) FROM lake.snapshots())")
    analyst = hub.connect(home)
    analyst.execute("BEGIN TRANSACTION")
    before = analyst.execute(state).fetchone()
    with sftp_drop_served(home):
        done = subprocess.run([sys.executable, "-m", "hub.cli.main", "run", "--home", str(home)],
                              capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert analyst.execute(state).fetchone() == before  # one snapshot throughout
    analyst.execute("COMMIT")
    after = analyst.execute(state).fetchone()
    assert after[0] > before[0] and after[1] > before[1] and before[2] == 0 and after[2] == 5
    analyst.close()


def test_two_normalize_steps_at_once_apply_every_batch_once(demo: Path, tmp_path: Path) -> None:
    home = copy_of(demo, tmp_path)
    shutil.rmtree(home / "lake")  # every landed batch pending again
    go = tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, "-m", "tests.hub.lake.normalize_driver", str(home), str(go)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO) for _ in range(2)]
    time.sleep(3)  # both import and open the warehouse, then wait for the signal
    go.touch()
    applied = []
    for racer in racers:
        out, err = racer.communicate(timeout=300)
        assert racer.returncode == 0, err[-2000:]
        applied.append(json.loads(out.splitlines()[-1]))
    with hub.connect(home) as con, hub.connect(demo) as original:
        ledger = sorted(r[0] for r in con.execute("SELECT batch_id FROM hub_batches").fetchall())
        assert ledger == sorted(r[0] for r in original.execute("SELECT batch_id FROM hub_batches").fetchall())
        for rt in ("filing", "judgment", "enforcement", "supervision", "quarantine"):
            assert con.execute(f"SELECT count(*) FROM {rt}").fetchone() == original.execute(
                f"SELECT count(*) FROM {rt}").fetchone(), rt
        assert con.execute("SELECT count(*) - count(DISTINCT record_key) FROM filing").fetchone() == (0,)
    assert sorted(applied[0] + applied[1]) == ledger  # each batch applied, and audited, by one of them


def test_a_run_finds_another_still_applying_and_leaves_it_to_audit_its_own_batches(demo: Path, tmp_path: Path) -> None:
    home = copy_of(demo, tmp_path)
    shutil.rmtree(home / "lake")  # every landed batch pending again
    logged = len(list(audit.entries(Home(home).audit)))
    go = tmp_path / "go"
    go.touch()
    driver = [sys.executable, "-m", "tests.hub.lake.normalize_driver", str(home), str(go)]
    paused = subprocess.Popen(driver, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                              env=os.environ | {"HUB_CRASH_AT": "normalize.committed", "HUB_CRASH_SIGNAL": "STOP"})
    try:
        deadline = time.monotonic() + 120
        while Path(f"/proc/{paused.pid}/stat").read_text().split(")")[-1].split()[0] != "T":
            assert paused.poll() is None and time.monotonic() < deadline, "never reached its commit"
            time.sleep(0.05)
        # committed, not audited yet, and alive: another run sees its batches unaudited
        other = subprocess.run(driver, capture_output=True, text=True, cwd=REPO, timeout=300)
        assert other.returncode == 0, other.stderr[-2000:]
    finally:
        os.kill(paused.pid, signal.SIGCONT)
    out, err = paused.communicate(timeout=300)
    assert paused.returncode == 0, err[-2000:]
    with hub.connect(home) as con:
        ledger = sorted(r[0] for r in con.execute("SELECT batch_id FROM hub_batches").fetchall())
    first, second = json.loads(out.splitlines()[-1]), json.loads(other.stdout.splitlines()[-1])
    assert first and sorted(first + second) == ledger  # each batch audited once, by the run that applied it
    entries = [e for e in list(audit.entries(Home(home).audit))[logged:] if e["event"] == "apply"]
    assert sorted(e["details"]["batch_id"] for e in entries) == ledger
    assert not any("recovered_by" in e["details"] for e in entries)


OPEN_AT_SIGNAL = """
import sys, time
from pathlib import Path
from hub.config import load_config
from hub.home import Home
from hub.normalize.warehouse import Warehouse
home, go = Home(Path(sys.argv[1])), Path(sys.argv[2])
config = load_config(home.config)
while not go.exists():  # spin: start within microseconds of each other
    pass
with Warehouse.open(config, home) as wh:
    print(wh.con.execute("SELECT count(*) FROM hub_batches").fetchone()[0])
"""


def test_processes_opening_a_new_lakehouse_at_once_all_find_one_schema(demo: Path, tmp_path: Path) -> None:
    home = copy_of(demo, tmp_path)
    shutil.rmtree(home / "lake")
    go = tmp_path / "go"
    openers = [subprocess.Popen([sys.executable, "-c", OPEN_AT_SIGNAL, str(home), str(go)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=REPO) for _ in range(6)]
    time.sleep(3)  # every one imported, waiting for the signal
    go.touch()
    for opener in openers:
        out, err = opener.communicate(timeout=120)
        assert opener.returncode == 0, err[-2000:]
        assert out.split() == ["0"]
    assert sorted(p.name for p in (home / "lake").iterdir() if p.name.startswith(".")) == []


def test_hub_sql_answers_a_query_refuses_writes_and_reads_the_past(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with hub.connect(demo) as con:
        filings = con.execute("SELECT count(*) FROM filing").fetchone()[0]
        first = con.execute("SELECT min(snapshot_id) FROM lake.snapshots() WHERE changes['tables_created'] IS NOT NULL"
                            ).fetchone()[0]
    assert filings > 0
    assert main(["sql", "--home", str(demo), "--format", "csv", "SELECT count(*) AS n FROM filing"]) == 0
    assert list(csv.DictReader(io.StringIO(capsys.readouterr().out))) == [{"n": str(filings)}]
    assert main(["sql", "--home", str(demo), "--format", "json", "--snapshot", str(first),
                 "SELECT count(*) AS n FROM filing"]) == 0
    assert json.loads(capsys.readouterr().out) == {"n": 0}  # the warehouse as its schema was first created
    assert main(["sql", "--home", str(demo), "DELETE FROM quarantine"]) == 1
    assert "read-only" in capsys.readouterr().err
    assert main(["sql", "--home", str(demo), "FROM no_such_table"]) == 1
    assert "no_such_table" in capsys.readouterr().err


def test_every_bundle_rebuilds_from_its_snapshot_after_the_warehouse_moved_on(demo: Path, tmp_path: Path) -> None:
    home = copy_of(demo, tmp_path)
    config = load_config(home / "hub.yaml")
    sent = bundles(home)
    assert {statement(b)["predicate"]["office"] for b in sent} == {o.id for o in config.offices}
    with Warehouse.open(config, Home(home)) as wh:  # the warehouse moves on: a record changes, holdings go
        wh.con.execute("UPDATE filing_versions SET cause = cause || '（更正）' WHERE current_when_stored")
        wh.con.execute("DELETE FROM hub_holdings")
    compared = set()
    for bundle in sent:
        result = reproduce(config, Home(home), bundle)
        assert result.ok, [(c.dataset, c.why()) for c in result.checks if not c.matches]
        assert result.snapshot == statement(bundle)["predicate"]["lakehouse_snapshot"]
        assert [c.rows_rebuilt for c in result.checks] == [c.rows_sent for c in result.checks]
        compared |= {c.compared_with for c in result.checks}
    assert compared == {"signed digest", "plaintext digest recorded at publish"}  # plain and encrypted offices


def test_an_incremental_bundle_rebuilds_from_its_snapshot(demo: Path, tmp_path: Path) -> None:
    home = copy_of(demo, tmp_path)
    change_court_filings(home)
    with sftp_drop_served(home):
        assert run_exchange(Home(home), as_of=dt.date.fromisoformat(AS_OF))
    second = home / "outbox" / "wh-proc-zhyw" / "00000002"
    pred = statement(second)["predicate"]
    assert pred["extract"] == "incremental" and pred["datasets"]["filing"]["rows"] == 5
    result = reproduce(load_config(home / "hub.yaml"), Home(home), second)
    assert result.ok and [c.rows_rebuilt for c in result.checks] == [c.rows_sent for c in result.checks]


def test_a_changed_agreement_shows_which_files_differ_and_why(demo: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    home = copy_of(demo, tmp_path)
    raw = yaml.safe_load((home / "hub.yaml").read_text(encoding="utf-8"))
    agreement = next(a for a in raw["agreements"] if a["office"] == "wh-proc-zhyw")
    agreement["version"] = 2
    filing = next(s for s in agreement["shares"] if s["record_type"] == "filing")
    filing["columns"]["plaintiff"] = "drop"
    (home / "hub.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    [bundle] = [b for b in bundles(home) if b.parent.name == "wh-proc-zhyw"]
    assert main(["audit", "reproduce", str(bundle), "--home", str(home)]) == 1
    out = capsys.readouterr().out
    assert "made under agreement FJXZ-2024-02 version 1; rebuilt under today's FJXZ-2024-02 version 2" in out
    differ = [line.split()[0] for line in out.splitlines() if " DIFFER " in line]
    assert differ == ["filing"]  # the other datasets rebuild exactly
    assert "the rebuild differs from what was sent" in out


def test_a_bundle_altered_since_it_was_sent_is_not_reproduced(demo: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Only what the hub signed is rebuilt: a copy someone altered is refused, naming the file."""
    home = copy_of(demo, tmp_path)
    bundle = bundles(home)[0]
    data = sorted((bundle / "data").iterdir())[0]
    data.write_bytes(data.read_bytes()[:-1] + bytes([data.read_bytes()[-1] ^ 1]))
    assert main(["audit", "reproduce", str(bundle), "--home", str(home)]) == 1
    captured = capsys.readouterr()
    assert f"{data} was altered or damaged" in captured.err and "match" not in captured.out


def test_upkeep_compacts_keeps_what_retention_promises_and_then_lets_go(demo: Path, tmp_path: Path) -> None:
    from hub.errors import WarehouseError
    from hub.normalize import upkeep_warehouse
    from hub.observe import audit
    from hub.observe.run import RunContext

    home = copy_of(demo, tmp_path)
    config = load_config(home / "hub.yaml")
    run = RunContext(config, Home(home), "upkeep-test")
    def stored() -> int:
        return sum(1 for _ in (home / "lake" / "data").rglob("*.parquet"))

    files_before = stored()
    done = upkeep_warehouse(run)
    # merged, but the files merged away stay within their grace: a reader may be on an older snapshot
    assert done.files_compacted > 0 and done.snapshots_expired == 0 and done.files_deleted == 0
    assert stored() >= files_before
    for bundle in bundles(home):  # within retention every bundle still rebuilds exactly
        assert reproduce(config, Home(home), bundle).ok
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=config.warehouse.snapshot_retention_days + 1)
    expired = upkeep_warehouse(run, now=later)
    assert expired.snapshots_expired > 0 and expired.snapshots_kept == 1
    assert expired.files_deleted > 0 and stored() < files_before
    with pytest.raises(WarehouseError, match="snapshots are kept 90 days"):
        reproduce(config, Home(home), bundles(home)[0])
    with hub.connect(home) as con:  # the present is untouched
        assert con.execute("SELECT count(*) FROM filing").fetchone()[0] > 0
    entries = [e for e in audit.entries(Home(home).audit) if e["event"] == "upkeep"]
    assert [e["details"]["snapshots_expired"] for e in entries] == [0, expired.snapshots_expired]


def test_upkeep_never_expires_a_snapshot_a_live_bundle_names(demo: Path, tmp_path: Path) -> None:
    """A hub that wrote nothing for longer than the retention still sends bundles built from its
    last snapshot: while they live, that snapshot stays."""
    from hub.normalize import upkeep_warehouse
    from hub.observe.run import RunContext

    home = copy_of(demo, tmp_path)
    config = load_config(home / "hub.yaml")
    with Warehouse.open(config, Home(home)) as wh:  # the bundles went out 100 days after the data last changed
        wh.con.execute("UPDATE hub_bundles SET published_at = published_at + INTERVAL 100 DAY")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=100)
    done = upkeep_warehouse(RunContext(config, Home(home), "upkeep"), now=later)
    assert done.snapshots_expired > 0  # those before the oldest live bundle's go
    for bundle in bundles(home):
        assert reproduce(config, Home(home), bundle).ok


def test_a_lakehouse_made_anew_at_the_same_place_is_opened_anew(demo: Path, tmp_path: Path) -> None:
    """A process's writers share a DuckDB instance per lakehouse; one removed and made again
    where it was (a home reset) must not be served by the instance of the old one."""
    home = copy_of(demo, tmp_path)
    config = load_config(home / "hub.yaml")
    with Warehouse.open(config, Home(home)) as wh:
        assert wh.table_counts()["filing"] > 0
        wh.con.execute("INSERT INTO hub_meta VALUES ('probe', 'old')")
    with Warehouse.open(config, Home(home)) as wh:  # the same instance: it sees its own commit
        assert wh.query("SELECT value FROM hub_meta WHERE key = 'probe'").fetchall() == [("old",)]
    shutil.rmtree(home / "lake")
    with Warehouse.open(config, Home(home)) as wh:
        assert wh.table_counts()["filing"] == 0
        assert wh.query("SELECT value FROM hub_meta WHERE key = 'probe'").fetchall() == []


def test_a_long_query_draws_no_progress_bar_on_the_output(demo: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """DuckDB draws one on stdout once a query passes progress_bar_time; in a command's output it
    is garbage (a JSON summary no longer parses)."""
    with hub.connect(demo) as con:
        con.execute("SET progress_bar_time = 0")
        assert con.cursor().execute("SELECT count(*) FROM range(200000000) t(i) WHERE i % 7 = 1").fetchone()
    assert capfd.readouterr().out == ""
