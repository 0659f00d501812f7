"""Lineage an auditor can follow alone: a published row back to the exact source row and
forward to its deliveries; an audit log whose tampering shows; a report that reconciles.

The fixture runs the demo exchange, then a court clerk corrects one filing at the source and
the exchange runs again (its SFTP server up), so the record has two versions, two bundles
carry it (a snapshot, then a change) and the court's office receives two bundles by SFTP.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import hub
from hub.cli import main
from hub.config import SftpDropSource, load_config
from hub.demo import exchange
from hub.demo.sftp_server import DemoSftpServer
from hub.home import Home
from hub.observe.run import RunContext
from hub.orchestration.execute import run_exchange
from hub.publish import deliver, publish
from hub.pull import pull
from schemas.case_number import parse_case_number
from tests.openlineage_spec import validate_event

AS_OF = "2024-11-22"
CORRECTED_CAUSE = "民间借贷纠纷（更正）"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lineage")
    assert main(["demo", "--home", str(root), "--as-of", AS_OF]) == 0
    con = hub.connect(root)
    key = con.execute("SELECT source_key FROM filing WHERE source_name = 'wh_court_filing' ORDER BY record_key LIMIT 1"
                      ).fetchone()[0]
    con.close()
    db = sqlite3.connect(root / "sources" / "wh-court.sqlite")
    with db:
        db.execute("UPDATE t_ajxx_la SET ay = ?, gxsj = '2024-11-21 09:00:00' WHERE ajbs = ?", (CORRECTED_CAUSE, key))
    db.close()
    home = Home(root)
    port = next(s.sftp.port for s in load_config(home.config).sources if isinstance(s, SftpDropSource))
    with DemoSftpServer(exchange.sftp_root(home), exchange.host_key_path(home), exchange.client_public_line(home),
                        port=port):
        assert run_exchange(home)
    return root


def trace_json(demo: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["trace", *args, "--json", "--home", str(demo)]) == 0
    return json.loads(capsys.readouterr().out)


def predicate(bundle: Path) -> dict[str, Any]:
    envelope = json.loads((bundle / "manifest.dsse.json").read_text())
    return json.loads(base64.b64decode(envelope["payload"]))


def test_published_row_traces_to_its_exact_database_row_and_forward(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = demo / "outbox" / "wh-proc-zhyw" / "00000002"  # incremental: only the corrected filing changed
    rows = pq.read_table(bundle / "data" / "filing.parquet").to_pylist()
    n = next(i for i, r in enumerate(rows, 1) if r["cause"] == CORRECTED_CAUSE)
    published = rows[n - 1]
    assert published["_change"] == "changed"

    result = trace_json(demo, capsys, "--bundle", str(bundle), "--dataset", "filing", "--row", str(n))
    [record] = result["records"]
    assert record["record_key"] == published["record_key"] == published["case_no"]
    assert record["asked_about"]["version"] == 2 and record["asked_about"]["change"] == "changed"
    v1, v2 = record["versions"]
    assert (v1["current"], v2["current"]) == (False, True)
    assert v2["values"]["cause"] == CORRECTED_CAUSE and v1["values"]["cause"] != CORRECTED_CAUSE

    # back: re-run the recorded query against the court's own database; row N of its result is the source row
    src = v2["source"]
    assert src["kind"] == "database" and src["key_column"] == "ajbs"
    db = sqlite3.connect(demo / "sources" / "wh-court.sqlite")
    db.row_factory = sqlite3.Row
    page = db.execute(src["query"], src["params"]).fetchall()
    row = page[src["row_of_result"] - 1]
    assert row["ajbs"] == src["source_key"]
    assert row["ay"] == published["cause"]
    assert parse_case_number(row["ah"]).canonical == published["case_no"]
    assert dt.date.fromisoformat(row["larq"].replace("/", "-")[:10]) == published["filing_date"]
    # the landing batch holds that row at that position, and its sidecar names the same origin
    landed = pq.read_table(v2["landing"]["file"]).to_pylist()
    at = next(r for r in landed if r["_source_row"] == src["row_of_result"])
    assert (at["ajbs"], at["ay"]) == (row["ajbs"], row["ay"])
    sidecar = json.loads(Path(v2["landing"]["sidecar"]).read_text())
    assert sidecar["batch_id"] == v2["landing"]["batch_id"] and sidecar["origin"].endswith("#t_ajxx_la")

    # forward: the first version went out in the snapshot, the second as a change; both in the outbox
    received = [(r["office"], r["bundle_sequence"], r["change"], r["version"], r["delivery"]["status"])
                for r in record["received_by"]]
    assert received == [("wh-proc-zhyw", 1, "snapshot", 1, "outbox"), ("wh-proc-zhyw", 2, "changed", 2, "outbox")]
    first = next(r for r in record["received_by"] if r["bundle_sequence"] == 1)
    snapshot = pq.read_table(demo / "outbox" / "wh-proc-zhyw" / "00000001" / "data" / "filing.parquet")
    assert snapshot.slice(first["bundle_row"] - 1, 1).to_pylist()[0]["case_no"] == published["case_no"]


def test_supervision_row_traces_to_its_csv_line_and_its_sftp_deliveries(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = exchange.sftp_root(Home(demo)) / "inbox" / "wh-court-spo" / "00000002"  # the office's own copy
    table = pq.read_table(inbox / "data" / "supervision.parquet")
    n = table.num_rows // 2 + 1
    published = table.slice(n - 1, 1).to_pylist()[0]

    [record] = trace_json(demo, capsys, "--bundle", str(inbox), "--dataset", "supervision", "--row", str(n))["records"]
    [version] = record["versions"]
    src = version["source"]
    assert src["kind"] == "file" and src["key_column"] == "文书编号"
    # the line the trace names, in the file the procuratorate dropped, is the row that was sent
    text = (demo / "sources" / "sftp" / src["file"]).read_bytes().decode("gbk").splitlines()
    header = next(csv.reader([text[0]]))
    line = dict(zip(header, next(csv.reader([text[src["line"] - 1]]))))
    assert line["文书编号"] == src["source_key"] == published["doc_no"]
    assert line["监督方式"] == published["measure"]
    assert parse_case_number(line["被监督案号"]).canonical == published["target_case_no"]

    # forward: both bundles reached the office's SFTP inbox, each audited with where and when
    deliveries = {r["bundle_sequence"]: r["delivery"] for r in record["received_by"]}
    assert set(deliveries) == {1, 2}
    port = next(s.sftp.port for s in load_config(demo / "hub.yaml").sources if isinstance(s, SftpDropSource))
    for seq, d in deliveries.items():
        assert d["status"] == "delivered"
        assert d["where"] == f"sftp://127.0.0.1:{port}/inbox/wh-court-spo/{seq:08d}"
        assert (exchange.sftp_root(Home(demo)) / "inbox" / "wh-court-spo" / f"{seq:08d}" / "manifest.dsse.json").exists()


def test_trace_by_case_number_in_any_spelling(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    con = hub.connect(demo)
    case_no = con.execute("SELECT target_case_no FROM supervision s JOIN judgment j ON j.case_no = s.target_case_no "
                          "ORDER BY 1 LIMIT 1").fetchone()[0]
    con.close()
    sloppy = case_no.replace("（", "(").replace("）", ") ").translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    result = trace_json(demo, capsys, sloppy)
    assert result["query"] == {"case_no": case_no}
    kinds = {r["record_type"] for r in result["records"]}
    assert {"judgment", "supervision"} <= kinds
    assert all(r["record_key"] == case_no for r in result["records"] if r["record_type"] != "supervision")

    assert main(["trace", case_no, "--home", str(demo)]) == 0
    tree = capsys.readouterr().out
    assert tree.startswith(f"trace: case_no {case_no}") and "├─ " in tree and "received by" in tree

    # a row quarantined for its case number's court still traces by that number
    con = hub.connect(demo)
    raw = con.execute("SELECT original->>'ah' FROM quarantine WHERE rule = 'court_mismatch' "
                      "AND source_name = 'wh_court_filing'").fetchone()[0]
    con.close()
    stray = trace_json(demo, capsys, raw)["quarantined_unmatched"]
    assert [q["rule"] for q in stray] == ["court_mismatch"] and stray[0]["source"] == "wh_court_filing"
    # and a row naming two cases, one of another court's, by either of them
    for case in ("（2023）内0302民初11号", "（2023）内0303民初12号"):
        stray = trace_json(demo, capsys, case)["quarantined_unmatched"]
        assert [(q["rule"], q["source"]) for q in stray] == [("court_mismatch", "hbw_court_filing")], case

    assert main(["trace", "（2019）内03民初999999号", "--home", str(demo)]) == 1
    assert "nothing in the warehouse matches" in capsys.readouterr().err
    assert main(["trace", "--bundle", str(demo / "outbox" / "wh-court-spo" / "00000001"), "--dataset", "supervision",
                 "--row", "100000", "--home", str(demo)]) == 1
    assert "no row 100000 in dataset 'supervision'" in capsys.readouterr().err


def test_report_reconciles_with_the_warehouse_and_the_bundles(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = demo / "report.csv"
    assert main(["audit", "report", "--home", str(demo), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "received (bundles per office and dataset)" in printed and "wh_proc_supervision" in printed
    con = hub.connect(demo)
    con.execute(f"CREATE TEMP TABLE r AS SELECT * FROM read_csv('{out}', header = true, all_varchar = true)")

    # received: every published bundle and dataset, rows and digests as its signed manifest says
    received = con.execute("SELECT office, bundle_sequence, dataset, rows, file, file_sha256, bundle_sha256, delivery "
                           "FROM r WHERE section = 'received'").fetchall()
    bundles = sorted(p for p in (demo / "outbox").glob("*/0*"))
    assert len(received) == sum(len(predicate(b)["predicate"]["datasets"]) for b in bundles)
    for office, seq, dataset, rows, file, file_sha, bundle_sha, delivery in received:
        bundle = demo / "outbox" / office / f"{int(seq):08d}"
        statement = predicate(bundle)
        assert int(rows) == statement["predicate"]["datasets"][dataset]["rows"]
        assert {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}[file] == file_sha
        receipts = con.execute("SELECT count(*), count(DISTINCT bundle_row), max(bundle_row) FROM hub_receipts "
                               "WHERE bundle_sha256 = ? AND dataset = ?", [bundle_sha, dataset]).fetchone()
        assert receipts == (int(rows), int(rows), int(rows) or None)
        if not file.endswith(".age"):
            assert pq.read_metadata(bundle / file).num_rows == int(rows)
        assert delivery == ("delivered" if office == "wh-court-spo" else "outbox")

    # pulled: per source, what landed (counted from the landing sidecars) and its fate (hub_batches)
    for source, pulls, batches, rows_in, applied, quarantined, duplicate in con.execute(
        "SELECT source, pulls, batches, rows_in, rows_applied, rows_quarantined, rows_duplicate FROM r "
        "WHERE section = 'pulled'"
    ).fetchall():
        sidecars = [json.loads(p.read_text()) for p in (demo / "landing" / source).glob("*.json")]
        sidecars = [s for s in sidecars if s.get("kind", "rows") == "rows"]  # key snapshots are not rows pulled
        assert int(batches) == len(sidecars)
        assert int(rows_in) == sum(s["rows"] + s["rejects"] for s in sidecars)
        assert int(quarantined) == con.execute("SELECT count(*) FROM quarantine WHERE source_name = ?",
                                               [source]).fetchone()[0]
        assert int(rows_in) == int(applied) + int(quarantined) + int(duplicate)
        assert int(pulls) == 2  # the demo, then the rerun: every pull is counted, empty ones too
    # quarantined: per source and rule, exactly the quarantine table
    reported = {(s, rule): int(n) for s, rule, n in con.execute(
        "SELECT source, rule, rows FROM r WHERE section = 'quarantined'").fetchall()}
    assert reported == {(s, rule): n for s, rule, n in con.execute(
        "SELECT source_name, rule, count(*) FROM quarantine GROUP BY ALL").fetchall()}
    con.close()

    # one office, one day: only its bundles, only the sources of what its agreement shares
    today = dt.datetime.now(dt.UTC).date().isoformat()
    part = demo / "spo.parquet"
    assert main(["audit", "report", "--home", str(demo), "--office", "wh-court-spo", "--from", today, "--to", today,
                 "--out", str(part)]) == 0
    table = pq.read_table(part).to_pylist()
    assert {r["office"] for r in table if r["section"] == "received"} == {"wh-court-spo"}
    # the court's office receives supervision measures: the procuratorate's, and the court's own source of them
    assert {r["source"] for r in table if r["section"] != "received"} == {"wh_proc_supervision", "wh_court_recommendation"}
    assert main(["audit", "report", "--home", str(demo), "--from", "2000-01-01", "--to", "2000-12-31"]) == 0
    assert "received (bundles per office and dataset): none" in capsys.readouterr().out
    assert main(["audit", "report", "--home", str(demo), "--out", str(demo / "r.xlsx")]) == 2


def test_audit_log_records_every_stage_and_shows_truncation(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [json.loads(line) for line in (demo / "audit" / "audit.jsonl").read_text().splitlines()]
    events = [e["event"] for e in entries]
    config = load_config(demo / "hub.yaml")
    assert events[0] == "config"  # the demo's first stage recorded the config it ran under
    assert (demo / "audit" / entries[0]["details"]["snapshot"]).exists()
    pulls = [e for e in entries if e["event"] == "pull"]
    assert sorted(e["subject"] for e in pulls) == sorted([s.name for s in config.sources] * 2)
    assert any(e["details"]["rows"] == 0 for e in pulls)  # empty pulls are entries too
    con = hub.connect(demo)
    by_batch = {b: dict(rules) for b, rules in con.execute(
        "SELECT batch_id, map_from_entries(list((rule, n))) FROM (SELECT batch_id, rule, count(*) n FROM quarantine "
        "GROUP BY ALL) GROUP BY 1").fetchall()}
    con.close()
    assert {e["details"]["batch_id"]: e["details"]["rules"] for e in entries if e["event"] == "quarantine"} == by_batch
    delivered = [(e["subject"], e["details"]["sequence"]) for e in entries
                 if e["event"] == "deliver" and e["details"]["status"] == "delivered"]
    assert delivered == [("wh-court-spo", 1), ("wh-court-spo", 2)]
    assert all("config" in e["details"] for e in entries if e["event"] not in ("config", "key", "checkpoint"))
    checkpoints = (demo / "audit" / "checkpoints.jsonl").read_text().splitlines()
    assert events.count("publish") == 6  # three offices, two runs
    # the head is signed once per publishing step, after every bundle that step wrote
    runs = {e["run_id"] for e in entries if e["event"] == "publish"}
    assert len(checkpoints) == events.count("checkpoint") == len(runs) == 2
    for run in runs:
        published = [i for i, e in enumerate(entries) if e["event"] == "publish" and e["run_id"] == run]
        signed = [i for i, e in enumerate(entries) if e["event"] == "checkpoint" and e["run_id"] == run]
        assert len(signed) == 1 and signed[0] > max(published)
    assert main(["audit", "verify", "--home", str(demo)]) == 0

    # an operator cuts the log back to before the second run: the chain still holds, a checkpoint does not
    copy = tmp_path / "home"
    shutil.copytree(demo / "audit", copy / "audit")
    shutil.copytree(demo / "keys", copy / "keys")
    lines = (copy / "audit" / "audit.jsonl").read_text().splitlines()
    cut = next(i for i, e in enumerate(entries) if e["event"] == "checkpoint")  # keep up to the first publish
    (copy / "audit" / "audit.jsonl").write_text("\n".join(lines[:cut]) + "\n")
    capsys.readouterr()
    assert main(["audit", "verify", "--home", str(copy)]) == 1
    err = capsys.readouterr().err
    assert f"has {cut} entries but checkpoint 2" in err and "were removed (the log was truncated)" in err


def test_openlineage_events_of_the_exchange_conform_and_carry_lineage(demo: Path) -> None:
    events = [json.loads(line) for line in (demo / "lineage" / "openlineage.jsonl").read_text().splitlines()]
    for event in events:
        validate_event(event)
    runs: dict[str, list[str]] = {}
    for event in events:
        runs.setdefault(event["run"]["runId"], []).append(event["eventType"])
    assert all(states == ["START", "COMPLETE"] for states in runs.values()), runs
    config = load_config(demo / "hub.yaml")
    jobs = {e["job"]["name"] for e in events}
    assert jobs == ({f"pull.{s.name}" for s in config.sources} | {"normalize", "deliver.wh-court-spo"}
                    | {f"publish.{o.id}" for o in config.offices})
    normalize = [e for e in events if e["job"]["name"] == "normalize" and e["eventType"] == "COMPLETE"][-1]
    filing = next(o for o in normalize["outputs"] if o["name"].endswith("/filing"))
    inputs = {(f["name"].rsplit("/", 1)[-1], f["field"]) for f in filing["facets"]["columnLineage"]["fields"]["case_no"]["inputFields"]}
    assert inputs == {("wh_court_filing", "ah"), ("hbw_court_filing", "case_number")}
    con = hub.connect(demo)
    written = con.execute("SELECT sum(rows_applied) FROM hub_batches WHERE record_type = 'filing' AND run_id = ?",
                          [normalize["run"]["facets"]["parent"]["run"]["runId"]]).fetchone()[0]
    assert filing["outputFacets"]["outputStatistics"]["rowCount"] == written > 0  # the versions this run stored
    dagster_runs = {r[0] for r in con.execute("SELECT DISTINCT run_id FROM hub_batches").fetchall()}
    con.close()
    assert normalize["run"]["facets"]["parent"]["run"]["runId"] in dagster_runs


def test_materializations_carry_schema_lineage_and_batches(demo: Path) -> None:
    import os

    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(demo / ".dagster")
    instance = dg.DagsterInstance.get()
    con = hub.connect(demo)
    batches = {r[0] for r in con.execute("SELECT batch_id FROM hub_batches").fetchall()}
    meta = instance.get_latest_materialization_event(dg.AssetKey("filing")).asset_materialization.metadata  # type: ignore[union-attr]
    assert meta["dagster/row_count"].value == con.execute("SELECT count(*) FROM filing").fetchone()[0]
    assert [c.name for c in meta["dagster/column_schema"].value.columns][:2] == ["case_no", "case_no_raw"]
    deps = meta["dagster/column_lineage"].value.deps_by_column["case_no"]
    assert {(d.asset_key.to_user_string(), d.column_name) for d in deps} == {
        ("landing_wh_court_filing", "ah"), ("landing_hbw_court_filing", "case_number")}
    assert set(meta["landing_batch_ids"].value) <= batches and meta["landing_batch_ids"].value  # the rerun's batch
    extract = instance.get_latest_materialization_event(dg.AssetKey("extract_wh_proc_zhyw")).asset_materialization.metadata  # type: ignore[union-attr]
    assert extract["landing_batch_ids"].value and set(extract["landing_batch_ids"].value) <= batches
    assert extract["dagster/column_lineage"].value.deps_by_column["filing.plaintiff"][0].column_name == "plaintiff"
    con.close()


def test_failures_are_audited_reported_and_emitted(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Last (it changes the home): the procuratorate's SFTP server is down for a pull and a delivery."""
    from hub.errors import HubError
    from tests.hub.cli.test_demo import age_bundles

    home, config = Home(demo), load_config(demo / "hub.yaml")
    age_bundles(demo)  # a heartbeat is due: a bundle even with nothing new
    assert publish(RunContext(config, home, "run-down"), "wh-court-spo") is not None  # bundle 3, not delivered yet
    for stage in (lambda: pull(RunContext(config, home, "run-down"), "wh_proc_supervision"),
                  lambda: deliver(RunContext(config, home, "run-down"), "wh-court-spo")):
        with pytest.raises(HubError, match="a temporary failure"):
            stage()
    entries = [json.loads(line) for line in (demo / "audit" / "audit.jsonl").read_text().splitlines()]
    [pulled, delivered] = [e for e in entries if e["run_id"] == "run-down" and e["event"] in ("pull", "deliver")]
    assert (pulled["subject"], pulled["details"]["status"], pulled["details"]["rows"]) == ("wh_proc_supervision", "failed", 0)
    assert "a temporary failure" in pulled["details"]["error"]  # the hub's own message, for the auditor
    assert (delivered["subject"], delivered["details"]["status"], delivered["details"]["sequences"]) == (
        "wh-court-spo", "failed", [3])

    capsys.readouterr()
    assert main(["audit", "report", "--home", str(demo), "--office", "wh-court-spo"]) == 0
    report = capsys.readouterr().out
    bundle3 = [line.split() for line in report.splitlines() if line.strip().startswith("wh-court-spo    3 ")]
    assert bundle3 and bundle3[0][-5] == "failed"  # delivery status, then when, and no acknowledgement ("-" "-")
    spo = [line.split() for line in report.splitlines() if line.strip().startswith("wh_proc_supervision")][0]
    assert spo[1:3] == ["3", "1"]  # pulls, of which failed

    events = [json.loads(line) for line in (demo / "lineage" / "openlineage.jsonl").read_text().splitlines()]
    fails = {e["job"]["name"]: e for e in events if e["eventType"] == "FAIL"}
    assert set(fails) == {"pull.wh_proc_supervision", "deliver.wh-court-spo"}
    for event in fails.values():
        validate_event(event)
        assert "a temporary failure" in event["run"]["facets"]["errorMessage"]["message"]
    assert main(["audit", "verify", "--home", str(demo)]) == 0
