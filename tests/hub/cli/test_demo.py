"""The spine: `hub demo` runs a whole exchange end to end, and its bundles verify."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import hub
from hub.cli import main
from hub.config import SftpDropSource, load_config
from hub.errors import PublishError
from hub.home import Home
from hub.marts import enforcement_watch
from hub.normalize.warehouse import Warehouse
from hub.observe import audit
from hub.observe.run import RunContext
from hub.publish import publish, publish_offices
from hub.pull import pull
from schemas.case_number import parse_case_number
from schemas.tables import RECORD_TYPES, stored_fields

AS_OF = "2024-11-22"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--home", str(home), "--as-of", AS_OF]) == 0
    return home


def bundles(home: Path) -> list[Path]:
    return sorted((home / "outbox").glob("*/" + "[0-9]" * 8))  # beside them: trust/, acknowledgements/


def age_bundles(home: Path, days: int = 16) -> None:
    """Make every bundle ``days`` old (16: past half the demo's 30-day lifetime): each office is
    then due a heartbeat, so it gets a bundle even with nothing new."""
    for bundle in bundles(home):
        aged = bundle.stat().st_mtime - days * 86400
        os.utime(bundle, (aged, aged))


def test_warehouse_has_shared_tables_and_quarantine(demo: Path) -> None:
    con = hub.connect(demo)
    for rt in RECORD_TYPES:
        cols = [r[0] for r in con.execute(f"DESCRIBE {rt}").fetchall()]
        assert cols == [f.name for f in stored_fields(rt)]
        assert con.execute(f"SELECT count(*) FROM {rt}").fetchone()[0] > 5
    rules = dict(con.execute("SELECT rule, count(*) FROM quarantine GROUP BY rule").fetchall())
    for rule in ("bad_case_no", "bad_filing_date", "court_mismatch", "unknown_measure",
                 "reply_before_issue", "bad_target_case_no", "unparseable_row", "missing_case_no"):
        assert rule in rules, (rule, rules)
    # a bad party ID keeps its case: the case is in its table without the ID, and withheld says why
    kept = con.execute("SELECT count(*) FROM withheld w JOIN filing f ON f.case_no = w.record_key "
                       "WHERE w.rule = 'bad_defendant_id' AND f.defendant_id_hash IS NULL").fetchone()[0]
    assert kept >= 1
    # every source row is accounted for: in a table, in quarantine, or counted as a duplicate
    unbalanced = con.execute(
        "SELECT count(*) FROM hub_batches WHERE kind = 'rows' AND rows_in <> rows_applied + rows_quarantined + rows_duplicate"
    ).fetchone()[0]
    assert unbalanced == 0
    # canonical case numbers only
    odd = con.execute(
        "SELECT count(*) FROM filing WHERE case_no NOT LIKE '（%）%号' OR regexp_matches(case_no, '[０-９ ()]')"
    ).fetchone()[0]
    assert odd == 0
    # supervision measures target real court cases
    linked = con.execute(
        "SELECT count(*) FILTER (WHERE j.case_no IS NOT NULL OR e.case_no IS NOT NULL), count(*) FROM supervision s "
        "LEFT JOIN judgment j ON j.case_no = s.target_case_no LEFT JOIN enforcement e ON e.case_no = s.target_case_no "
        "WHERE s.target_agency IS NULL").fetchone()
    assert linked[0] == linked[1] > 100
    overdue = con.execute(
        "SELECT count(*) FROM supervision WHERE replied_date IS NULL AND due_date < DATE '2024-11-22'"
    ).fetchone()[0]
    assert overdue > 0
    # the reply-tracking marts cover every measure, and what is overdue is escalated
    assert con.execute("SELECT count(*) FROM mart_replies").fetchone() == con.execute(
        "SELECT count(*) FROM supervision WHERE measure <> '和解通知'").fetchone()  # a settlement notice takes no reply
    statuses = dict(con.execute("SELECT status, count(*) FROM mart_replies GROUP BY 1").fetchall())
    assert set(statuses) <= {"pending", "replied_on_time", "replied_late", "overdue"} and statuses["overdue"] > 0
    assert con.execute("SELECT sum(overdue) FROM mart_reply_escalation").fetchone() == (statuses["overdue"],)
    assert con.execute("SELECT count(*) FROM mart_supervision_window WHERE kind NOT IN "
                       "('issued_after_window', 'window_closing')").fetchone() == (0,)
    flagged = dict(con.execute("SELECT rule, count(*) FROM mart_enforcement_watch GROUP BY 1").fetchall())
    assert flagged and set(flagged) <= set(enforcement_watch.RULES)
    # the filings 海勃湾区法院 flags as deleted are versions in history, not rows of the shared table
    flagged = con.execute("SELECT source_key FROM filing_history WHERE deleted AND is_current "
                          "AND source_name = 'hbw_court_filing'").fetchall()
    assert len(flagged) == 2
    assert con.execute("SELECT count(*) FROM filing WHERE source_name = 'hbw_court_filing' AND source_key IN "
                       "(SELECT source_key FROM filing_history WHERE deleted)").fetchone() == (0,)


def test_every_source_row_is_somewhere(demo: Path) -> None:
    """Rows in the institutions' own stores = rows the hub accounted for, per source."""
    import sqlite3

    con = hub.connect(demo)
    got = dict(con.execute("SELECT source_name, sum(rows_in) FROM hub_batches WHERE kind = 'rows' GROUP BY 1").fetchall())
    config = load_config(demo / "hub.yaml")
    for src in config.sources:
        if src.kind == "database":
            db = sqlite3.connect(demo / src.database.url.removeprefix("sqlite:///"))  # type: ignore[union-attr]
            expected = db.execute(f"SELECT count(*) FROM {src.database.table}").fetchone()[0]  # type: ignore[union-attr]
        else:
            drop = demo / "sources" / "sftp" / "outgoing"
            expected = sum(len(p.read_bytes().splitlines()) - 1 for p in drop.glob("*.csv"))
        assert got[src.name] == expected, src.name


def test_outbox_keys_and_audit(demo: Path) -> None:
    offices = {o.id for o in load_config(demo / "hub.yaml").offices}
    assert {p.parent.name for p in bundles(demo)} == offices
    assert list((demo / "keys").glob("*.pem"))
    assert main(["audit", "verify", "--home", str(demo)]) == 0


def test_the_summary_shows_the_rows_kept_with_a_value_withheld_converted_or_split(
        demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hub.cli.summary import print_summary

    print_summary(Home(demo))
    out = capsys.readouterr().out
    with hub.connect(demo) as con:
        withheld = con.execute("SELECT count(*) FROM withheld").fetchone()[0]
        flagged = dict(con.execute("SELECT g.rule, list(f.defendant_id_masked ORDER BY f.case_no) FROM flagged g "
                                   "JOIN filing f ON f.case_no = g.record_key GROUP BY 1").fetchall())
        split = con.execute("SELECT g.record_key FROM flagged g WHERE g.rule = 'split_case_no' ORDER BY 1").fetchall()
    assert withheld >= 1 and f"rows kept with a value withheld (table withheld): {withheld}" in out
    assert "  bad_defendant_id" in out.split("rows kept with a value withheld")[1]
    # the demo's 15-digit ID is in its case as the 18-digit form's mask
    assert flagged["converted_defendant_id"] and all(len(m) == 18 for m in flagged["converted_defendant_id"])
    # and its row naming two cases is a record of each
    assert split == [("（2023）内0302民初10号",), ("（2023）内0302民初9号",)] and len(flagged["split_case_no"]) == 2
    listed = out.split("rows kept with a value the hub converted or split (table flagged): ")[1]
    assert "  converted_defendant_id" in listed and "  split_case_no" in listed


def test_the_justice_bureau_tracks_the_recommendations_addressed_to_agencies(
        demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The procuratorate's recommendations to agencies name no court case: they are kept, reach the
    justice bureau's office (and not the court's) with the court's judicial recommendations, and
    their replies, extensions and follow-up are tracked."""
    from hub.cli.summary import print_summary

    first = sorted((demo / "outbox" / "wh-justice-office").glob("0*"))[0] / "data"
    sent = read_delivered(first / "supervision.parquet.age", demo, "wh-justice-office", tmp_path)
    with hub.connect(demo) as con:
        held = con.execute("SELECT doc_no, target_agency FROM supervision WHERE target_agency IS NOT NULL "
                           "ORDER BY 1").fetchall()
        statuses = dict(con.execute("SELECT doc_no, status || '/' || due_date_from FROM mart_replies "
                                    "WHERE target_agency IS NOT NULL AND measure = '检察建议'").fetchall())
        procuratorates = "AND source_name = 'wh_proc_supervision'"
        judicial = con.execute("SELECT count(*) FROM supervision WHERE measure = '司法建议' AND target_agency IS NOT NULL "
                               "AND source_name = 'wh_court_recommendation'").fetchone()[0]
        follow_up = con.execute("SELECT f.doc_no, f.status, f.follow_up_doc_no FROM mart_follow_up f JOIN supervision s "
                                f"USING (record_key) WHERE f.target_agency IS NOT NULL {procuratorates} ORDER BY 1"
                                ).fetchall()
        summed = con.execute("SELECT sum(issued), sum(overdue), sum(extended) FROM mart_agency_recommendations").fetchone()
    assert len(held) == 6 + judicial and judicial == 3
    assert sorted(zip(sent.column("doc_no").to_pylist(), sent.column("target_agency").to_pylist())) == held
    spo = pq.read_table(demo / "outbox" / "wh-court-spo" / "00000001" / "data" / "supervision.parquet")
    assert not set(spo.column("doc_no").to_pylist()) & {d for d, _ in held}
    by_number = {d.split("〕")[1]: v for d, v in statuses.items()}
    assert by_number == {"201号": "replied_on_time/document", "202号": "overdue/document",
                         "203号": "pending/extended", "204号": "replied_on_time/document",
                         "205号": "replied_on_time/document", "206号": "pending/default"}
    assert summed == (9, 2, 1)  # the court's overdue judicial recommendation, and the procuratorate's 202
    # 202 was never answered and waits for follow-up; 204 was rejected, and 205 followed it up
    assert [(d.split("〕")[1], s, f and f.split("〕")[1]) for d, s, f in follow_up] == [
        ("202号", "awaiting_follow_up", None), ("204号", "followed_up", "205号")]
    print_summary(Home(demo))
    out = capsys.readouterr().out.split("recommendations to agencies (mart_agency_recommendations)")[1]
    assert "乌海市市场监督管理局: 2 issued, 1 answered, 1 overdue, 0 deadline(s) extended" in out


def test_agencies_law_enforcement_decisions_reach_the_procuratorate_linked_to_their_court_cases(
        demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The government platform shares the agencies' decisions: each 行审 application a court received
    resolves to the decision it enforces and back, and the procuratorate's office receives them."""
    from hub.cli.summary import print_summary

    with hub.connect(demo) as con:
        decisions = con.execute("SELECT count(*), count(court_case_no) FROM agency_decision").fetchone()
        links = dict(con.execute("SELECT link, bool_and(resolved) FROM links WHERE link = 'court_case_no' OR "
                                 "(link = 'basis_doc_no' AND target LIKE '乌政罚决字%') GROUP BY 1").fetchall())
        applications = con.execute("SELECT count(*) FROM enforcement WHERE case_type_code = '行审'").fetchone()[0]
        kept = con.execute("SELECT d.party_id_hash IS NULL, w.rule FROM agency_decision d JOIN withheld w "
                           "USING (record_key)").fetchall()
        quarantined = con.execute("SELECT rule FROM quarantine WHERE record_type = 'agency_decision'").fetchall()
    assert decisions[1] == applications > 0 and decisions[0] > applications
    assert links == {"court_case_no": True, "basis_doc_no": True}
    assert kept == [(True, "bad_party_id")] and quarantined == [("missing_decided_date",)]
    sent = pq.read_table(demo / "outbox" / "wh-proc-zhyw" / "00000001" / "data" / "agency_decision.parquet")
    assert sent.num_rows == decisions[0]
    assert all(p[1:] == "*" * (len(p) - 1) for p in sent.column("party").to_pylist())
    print_summary(Home(demo))
    out = capsys.readouterr().out
    assert f"wh_gov_decisions         {decisions[0] + 1:>7}  (database, agency_decision)" in out
    published = len(list((demo / "outbox" / "wh-proc-zhyw").glob("0*")))
    assert re.search(rf"wh-proc-zhyw +{published}  .*; latest .*/wh-proc-zhyw/{published:08d}\n", out)


def test_protests_are_followed_to_their_retrials(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """乌海中院 files its retrials with the ruling they retry (原审案号): each protest of the demo
    finds its retrial and result, the procuratorate receives them, the summary counts them."""
    from hub.cli.summary import print_summary

    with hub.connect(demo) as con:
        results = dict(con.execute("SELECT regexp_extract(doc_no, '〕(8\\d\\d)号', 1), result FROM mart_protest_outcomes "
                                   "WHERE regexp_matches(doc_no, '〕80[0-6]号')").fetchall())
        retried = con.execute("SELECT count(*) FROM filing WHERE original_case_no IS NOT NULL AND case_type_code = '民再'"
                              ).fetchone()[0]
    assert results == {"800": "amended", "801": "remanded", "802": "upheld", "803": "settled",
                       "804": "retrial_pending", "805": "not_adopted", "806": "under_review"}
    assert retried == 5
    sent = pq.read_table(demo / "outbox" / "wh-proc-zhyw" / "00000001" / "data" / "mart_protest_outcomes.parquet")
    assert {"amended", "remanded", "upheld", "settled", "under_review"} <= set(sent.column("result").to_pylist())
    assert sum(n is not None for n in sent.column("protest_case_no").to_pylist()) >= 4  # the court's 民抗 cases
    print_summary(Home(demo))
    out = capsys.readouterr().out.split("(mart_protest_outcomes)")[1]
    assert re.search(r"\n  amended +\d+\n", out)


def test_clues_referred_are_tracked_to_their_feedback(demo: Path) -> None:
    """乌海中院's clue referrals: each gets its feedback status, the case it came from resolves, the
    procuratorate's office receives those it is to be told of, and a referral answered before it was
    sent is quarantined."""
    with hub.connect(demo) as con:
        statuses = dict(con.execute("SELECT regexp_extract(doc_no, '〕(\\d+)号', 1), status FROM mart_referrals"
                                    ).fetchall())
        resolved = con.execute("SELECT bool_and(resolved) FROM links WHERE link = 'related_case_no'").fetchone()[0]
        quarantined = con.execute("SELECT rule FROM quarantine WHERE record_type = 'referral'").fetchall()
    assert statuses == {"1": "answered", "2": "overdue", "3": "answered_late", "4": "being_verified",
                        "5": "awaiting", "6": "answered"}
    assert resolved and quarantined == [("feedback_before_referral",)]
    sent = pq.read_table(demo / "outbox" / "wh-proc-zhyw" / "00000001" / "data" / "mart_referrals.parquet")
    # false litigation and refusal to execute even when referred to the police; not the misconduct clue
    assert sorted(sent.column("status").to_pylist()) == ["answered", "answered", "answered_late", "being_verified",
                                                         "overdue"]
    assert set(sent.column("recipient").to_pylist()) == {"乌海市人民检察院", "乌海市公安局"}


def test_every_bundle_verifies(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for bundle in bundles(demo):
        assert main(["verify", str(bundle), "--keys", str(demo / "keys")]) == 0, bundle
    assert "OK" in capsys.readouterr().out


def read_delivered(path: Path, demo: Path, office: str, tmp_path: Path) -> pa.Table:
    """A delivered data file as the office reads it: decrypted with the real `age` tool if encrypted."""
    if path.suffix != ".age":
        return pq.read_table(path)
    identity = demo / "sources" / "offices" / f"{office}.agekey"
    plain = tmp_path / path.name.removesuffix(".age")
    subprocess.run(["age", "-d", "-i", str(identity), "-o", str(plain), str(path)], check=True)
    return pq.read_table(plain)


def test_offices_receive_only_what_their_agreement_allows(demo: Path, tmp_path: Path) -> None:
    config = load_config(demo / "hub.yaml")
    for office in config.offices:
        agreement = config.agreement_for(office.id)
        assert agreement is not None
        allowed = {s.record_type: s for s in agreement.shares}
        suffix = ".parquet.age" if office.recipients else ".parquet"
        for bundle in sorted((demo / "outbox" / office.id).glob("0*")):
            files = {p.name.removesuffix(suffix) for p in (bundle / "data").iterdir()}
            assert files == set(allowed), office.id
            for name in files:
                table = read_delivered(bundle / "data" / f"{name}{suffix}", demo, office.id, tmp_path)
                share = allowed[name]
                sent = [c for c, t in share.columns.items() if t != "drop"]
                incremental = table.column_names[:1] == ["_change"]
                assert table.column_names == (["_change", "record_key"] + sent if incremental else ["record_key"] + sent)
                if incremental:
                    continue
                # rows: exactly those the filter selects, counted independently
                con = hub.connect(demo)
                total = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
                expected = con.execute(
                    f"SELECT count(*) FROM {name} WHERE " + (" AND ".join(
                        f"{c.column} IN ({', '.join(repr(v) for v in c.value)})" if c.op == "in" else
                        f"{c.column} IS NOT NULL" if c.op == "not_null" else f"{c.column} IS NULL" if c.op == "is_null"
                        else f"{c.column} = {c.value!r}"
                        for c in share.where) or "true")
                ).fetchone()[0]
                con.close()
                assert table.num_rows == expected and (expected < total or not share.where)
                for col, treatment in share.columns.items():
                    if treatment == "mask":
                        values = [v for v in table.column(col).to_pylist() if v]
                        assert values and all(v[1:] == "*" * (len(v) - 1) for v in values)
    # the justice bureau's files are ciphertext on disk: nothing readable without its identity
    justice = sorted((demo / "outbox" / "wh-justice-office").glob("0*"))[0]
    assert all(p.read_bytes().startswith(b"age-encryption.org/v1\n") for p in (justice / "data").iterdir())
    # the intermediate court's office gets only measures aimed at itself
    spo = pq.read_table(demo / "outbox" / "wh-court-spo" / "00000001" / "data" / "supervision.parquet")
    assert {parse_case_number(c).court_code for c in spo.column("target_case_no").to_pylist()} == {"内03"}
    # not its own judicial recommendations, which name an agency; but the settlement notices
    assert "司法建议" not in spo.column("measure").to_pylist() and "和解通知" in spo.column("measure").to_pylist()


@pytest.mark.parametrize("target", ["data", "manifest"])
def test_tampering_with_any_byte_fails_verification(demo: Path, tmp_path: Path, target: str) -> None:
    original = bundles(demo)[0]
    files = sorted((original / "data").iterdir()) if target == "data" else [original / "manifest.dsse.json"]
    size = files[0].stat().st_size
    for offset in sorted({0, size // 3, size // 2, size - 1}):
        copy = tmp_path / f"b{offset}"
        shutil.copytree(original, copy)
        victim = copy / files[0].relative_to(original)
        data = bytearray(victim.read_bytes())
        data[offset] ^= 0x01
        victim.write_bytes(bytes(data))
        assert main(["verify", str(copy), "--keys", str(demo / "keys")]) == 1, (target, offset)


def test_second_run_lands_nothing_twice(demo: Path) -> None:
    """Rerunning on the same data (the SFTP drop served again) applies no batch twice."""
    con = hub.connect(demo)
    before = con.execute("SELECT count(*) FROM hub_batches").fetchone()[0]
    counts_before = {rt: con.execute(f"SELECT count(*) FROM {rt}").fetchone()[0] for rt in RECORD_TYPES}
    con.close()
    assert main(["demo", "--home", str(demo), "--as-of", AS_OF]) == 0
    con = hub.connect(demo)
    assert con.execute("SELECT count(*) FROM hub_batches").fetchone()[0] == before
    assert {rt: con.execute(f"SELECT count(*) FROM {rt}").fetchone()[0] for rt in RECORD_TYPES} == counts_before
    sequences = [json.loads((b / "manifest.dsse.json").read_text())["signatures"][0]["keyid"] for b in bundles(demo)]
    assert len(set(sequences)) == 1  # one signing key, reused
    # nothing changed: no office gets a bundle (incremental, or full: the snapshot is what it holds)
    for office in ("wh-court-spo", "wh-proc-zhyw", "wh-justice-office"):
        assert not (demo / "outbox" / office / "00000002").exists(), office
        (entry,) = [e for e in audit.entries(Home(demo).audit)
                    if e["event"] == "publish" and e["subject"] == office and e["details"]["status"] != "ok"]
        assert entry["details"]["status"] == "nothing_new" and entry["details"]["last_sequence"] == 1


def test_demo_builds_every_mart_and_its_reports(demo: Path) -> None:
    from openpyxl import load_workbook

    from hub.marts import MART_OF_TABLE, nonlit_stats
    from schemas.marts import MART_TABLES

    con = hub.connect(demo)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'mart_%'").fetchall()}
    assert tables == set(MART_OF_TABLE) == set(MART_TABLES)  # built by the registry, as declared in schemas
    # the demo's procuratorate files a row for each quarter, kind and itself; its 行审 and arbitration targets count
    assert con.execute("SELECT DISTINCT procuratorate FROM mart_nonlit_quarterly").fetchall() == [("乌海市人民检察院",)]
    assert con.execute("SELECT count(DISTINCT kind), sum(measures) > 0 FROM mart_nonlit_quarterly").fetchone() == (2, True)
    assert con.execute("SELECT count(*) FROM mart_admin_litigation_year WHERE cases_per_10k IS NULL").fetchone() == (0,)
    assert con.execute("SELECT cause FROM mart_class_divergence").fetchall()  # the demo's split cause
    quarter = nonlit_stats.last_complete_quarter(dt.date.fromisoformat(AS_OF))  # the demo's today
    assert con.execute("SELECT DISTINCT as_of FROM mart_replies").fetchall() == [(dt.date.fromisoformat(AS_OF),)]
    book = load_workbook(demo / "reports" / "quarterly" / quarter / f"统计表_{quarter}.xlsx")
    for sheet, name in zip(book.worksheets, ("civil", "administrative")):
        rows = list(sheet.iter_rows(values_only=True))
        header, total = rows[2], rows[-1]
        table = pq.read_table(demo / "reports" / "quarterly" / quarter / f"{name}.parquet")
        assert total[0] == "合计"
        assert total[header.index("监督案件数")] == sum(table.column("measures").to_pylist())
    assert [p.suffix for p in sorted((demo / "reports" / "admin_litigation").iterdir())] == [".parquet", ".png"]
    reports = [json.loads(line) for line in (demo / "audit" / "audit.jsonl").read_text().splitlines()
               if json.loads(line)["event"] == "report"]
    assert {r["subject"] for r in reports} == {"nonlit_statistics", "admin_litigation"}


def test_reports_command_writes_any_quarter_again(demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from openpyxl import load_workbook

    con = hub.connect(demo)
    quarter, measures = con.execute("SELECT quarter, sum(measures) FROM mart_nonlit_quarterly GROUP BY 1 "
                                    "HAVING sum(measures) > 0 ORDER BY 1 LIMIT 1").fetchone()
    year = con.execute("SELECT min(year) FROM mart_admin_litigation").fetchone()[0]
    con.close()
    assert main(["reports", "--quarter", quarter, "--year", str(year), "--out", str(tmp_path), "--home", str(demo)]) == 0
    book = load_workbook(tmp_path / "quarterly" / quarter / f"统计表_{quarter}.xlsx")
    totals = [dict(zip(rows[2], rows[-1])) for rows in (list(ws.iter_rows(values_only=True)) for ws in book.worksheets)]
    assert sum(t["监督案件数"] for t in totals) == measures
    assert (tmp_path / "admin_litigation" / f"{year}.png").read_bytes()[:4] == b"\x89PNG"
    audited = json.loads((demo / "audit" / "audit.jsonl").read_text().splitlines()[-1])
    assert audited["event"] == "report" and str(tmp_path / "admin_litigation" / f"{year}.png") in audited["details"]["files"]
    assert main(["reports", "--quarter", "1999Q1", "--home", str(demo)]) == 1
    assert "no statistics for 1999Q1: mart_nonlit_quarterly holds" in capsys.readouterr().err
    assert main(["reports", "--quarter", "1999-1", "--home", str(demo)]) == 2


def test_analyst_guide_covers_every_table_and_its_queries_run(demo: Path) -> None:
    from hub.inspect.analyst_guide import EXAMPLES
    from hub.inspect.catalog import every_table

    con = hub.connect(demo)
    found: dict[str, list[str]] = {}
    for table, column in con.execute("SELECT table_name, column_name FROM duckdb_columns() "
                                     "WHERE NOT internal AND schema_name = 'main'").fetchall():
        found.setdefault(table, []).append(column)
    documented = {table: list(doc) for table, (_, doc) in every_table().items()}
    assert {t: sorted(c) for t, c in found.items()} == {t: sorted(c) for t, c in documented.items()}
    answered = [bool(con.execute(sql).fetchall()) for _, sql in EXAMPLES]
    assert sum(answered) >= len(EXAMPLES) - 3  # a few ask about things the demo may not have today


def test_definitions_load_with_lineage_schedules_and_checks(demo: Path) -> None:
    import dagster as dg

    from hub.home import Home
    from hub.orchestration.definitions import build_definitions, cadence_name

    defs = build_definitions(Home(demo))
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"landing_wh_proc_supervision", "filing", "quarantine", "extract_wh_court_spo"} <= keys
    # a source's landing feeds its step's sweep, which the table follows (a pull with nothing new materializes nothing)
    assert dg.AssetKey("landing_wh_proc_supervision") in graph.get(dg.AssetKey("pulled_supervision")).parent_keys
    assert graph.get(dg.AssetKey("supervision")).parent_keys == {dg.AssetKey("pulled_supervision")}
    assert dg.AssetKey("supervision") in graph.get(dg.AssetKey("extract_wh_court_spo")).parent_keys
    config = load_config(demo / "hub.yaml")
    # every cadence of a source and every office has a schedule (an agreement without a cadence: daily at 07:00),
    # each described, each running as soon as the hub is served
    cadences = {s.cadence for s in config.sources}
    assert {s.name for s in defs.schedules} == {f"pull_{cadence_name(c)}" for c in cadences} | {
        f"publish_{o.id.replace('-', '_')}" for o in config.offices} | {"marts_daily", "quarterly_statistics",
                                                                           "warehouse_upkeep"}
    assert len(cadences) > 1 and {cadence_name(c) for c in cadences} >= {"hourly", "every_15_minutes"}
    for cadence in cadences:  # a cadence's sync pulls exactly the sources due then, and refreshes what they feed
        job = defs.resolve_job_def(f"sync_{cadence_name(cadence)}")
        pulled = {k.to_user_string() for k in job.asset_layer.selected_asset_keys if k.to_user_string().startswith("landing_")}
        assert pulled == {f"landing_{s.name}" for s in config.sources if s.cadence == cadence}
        assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys if k.to_user_string().startswith(
            "pulled_")} == {f"pulled_{s.record_type}" for s in config.sources if s.cadence == cadence}
        assert dg.AssetKey("extract_wh_court_spo") in job.asset_layer.selected_asset_keys
    assert next(s for s in defs.schedules if s.name == "publish_wh_justice_office").cron_schedule == "0 7 * * *"
    assert all(s.description and s.default_status == dg.DefaultScheduleStatus.RUNNING for s in defs.schedules)
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in defs.sensors)
    filings = {k for k in graph.get_all_asset_keys() if k.to_user_string().startswith("landing_")
               and graph.get(k).tags.get("record_type") == "filing"}
    # one step pulls a record type's sources
    assert len(filings) > 1 and {defs.get_assets_def(k).node_def.name for k in filings} == {"pull_filing"}
    quarterly = next(s for s in defs.schedules if s.name == "quarterly_statistics")
    assert quarterly.cron_schedule == "0 6 1 1,4,7,10 *"  # the 1st after each quarter: due by the 5th
    assert dg.AssetKey("reply_tracking") in graph.get(dg.AssetKey("nonlit_statistics")).parent_keys
    for job in ("exchange", "sync", "upkeep"):
        assert defs.resolve_job_def(job) is not None
    upkeep = graph.get(dg.AssetKey("warehouse_upkeep"))  # the lakehouse's upkeep: a writer, never in an exchange
    assert upkeep.pools == {"warehouse"}
    assert dg.AssetKey("warehouse_upkeep") not in defs.resolve_job_def("exchange").asset_layer.selected_asset_keys
    assert next(s for s in defs.schedules if s.name == "warehouse_upkeep").cron_schedule == "30 3 * * *"
    assert len(list(graph.asset_check_keys)) == 22  # per table: keys, set-aside batches, source keys; three link checks; the ledger
    assert all(s.default_status == dg.DefaultScheduleStatus.RUNNING and s.description for s in defs.schedules)
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in defs.sensors)  # served, they run


def test_a_record_types_sources_split_over_steps_for_workers_to_share(demo: Path) -> None:
    import dagster as dg

    from hub.home import Home
    from hub.orchestration.definitions import build_definitions

    config = load_config(demo / "hub.yaml")
    split = config.model_copy(update={"hub": config.hub.model_copy(update={"pull_steps": 2})})
    defs = build_definitions(Home(demo), split)
    steps: dict[str, set[str]] = {}
    for src in config.sources:
        steps.setdefault(defs.get_assets_def(dg.AssetKey(f"landing_{src.name}")).node_def.name, set()).add(src.name)
    assert all(re.fullmatch(r"pull_[a-z_]+_[12]_of_2", step) for step in steps)  # each source in one step of its type
    assert sum(len(s) for s in steps.values()) == len(config.sources) and len(steps) > len(
        {s.record_type for s in config.sources})  # some record type's sources went to two steps
    again = build_definitions(Home(demo), split)  # the same step for a source, every time
    assert all(again.get_assets_def(dg.AssetKey(f"landing_{n}")).node_def.name == step
               for step, names in steps.items() for n in names)


def test_drop_sensor_requests_a_run_for_new_stable_files(demo: Path) -> None:
    import os

    import dagster as dg

    from hub.demo import exchange
    from hub.demo.generator import SUPERVISION_HEADER
    from hub.demo.sftp_server import DemoSftpServer
    from hub.home import Home
    from hub.orchestration.definitions import build_definitions
    from hub.orchestration.resources import HubResource

    home = Home(demo)
    config = load_config(home.config)
    sensor = next(s for s in build_definitions(home, config).sensors if s.name == "sftp_drops")
    port = next(s.sftp.port for s in config.sources if isinstance(s, SftpDropSource))

    instance = dg.DagsterInstance.ephemeral()

    def evaluate(cursor: str | None = None) -> object:
        return sensor(dg.build_sensor_context(cursor=cursor, resources={"hub": HubResource(home=str(demo))},
                                              instance=instance))

    assert isinstance(evaluate(), dg.SkipReason)  # server down: transient, skipped, no crash
    with DemoSftpServer(exchange.sftp_root(home), exchange.host_key_path(home), exchange.client_public_line(home), port=port):
        assert "no new stable files" in evaluate().skip_message  # type: ignore[attr-defined]
        new = exchange.sftp_root(home) / exchange.DROP_DIR / "jdcs_99.csv"
        new.write_bytes((",".join(SUPERVISION_HEADER) + "\r\n" + "乌检民监〔2024〕999号,抗诉,民事,乌海市人民检察院,"
                         "（2023）内03民终5号,2024-10-01,,,,,2024-10-01 11:00:00,,,,\r\n").encode("gbk"))
        os.utime(new, (new.stat().st_mtime - 120,) * 2)
        waiting = instance.add_run(dg.DagsterRun(job_name="sync", run_id="5eed0000-waiting"))
        assert "sync run 5eed0000 has not started yet" in evaluate().skip_message  # type: ignore[attr-defined]
        instance.report_run_failed(waiting)  # gone from the queue: the new files are asked for
        result = evaluate()
        assert isinstance(result, dg.SensorResult) and len(result.run_requests) == 1
        selected = {k.to_user_string() for k in result.run_requests[0].asset_selection}
        assert {k for k in selected if k.startswith("landing_")} == {"landing_wh_proc_supervision"}  # just that drop
        assert {"pulled_supervision", "supervision", "extract_wh_court_spo"} <= selected  # and what it feeds
        assert "already requested" in evaluate(result.cursor).skip_message  # type: ignore[attr-defined]
        pulled = pull(RunContext(config, home, "test-run"), "wh_proc_supervision")
        assert [b.rows for b in pulled.batches] == [1]
        assert "no new stable files" in evaluate(result.cursor).skip_message  # type: ignore[attr-defined]


def test_unreachable_source_fails_its_step_but_others_publish(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    age_bundles(demo)  # every office is due a bundle, new data or not
    before = len(bundles(demo))
    assert main(["run", "--home", str(demo)]) == 1  # the demo SFTP server is not running now
    err = capsys.readouterr().err
    assert "step pull_supervision failed: wh_proc_supervision: SSH/SFTP with" in err
    assert "a temporary failure" in err and "Error:" not in err.split("failed: ", 1)[1][:30]  # the hub's words first
    # every office still gets one fresh signed bundle (none twice)
    assert len(bundles(demo)) == before + 3, err
    assert "delivery_wh_court_spo failed" in err  # its SFTP inbox is down too: delivery waits for the next run


def test_sftp_delivery_reaches_the_office_inbox(demo: Path) -> None:
    from hub.demo import exchange

    inbox = exchange.sftp_root(Home(demo)) / "inbox" / "wh-court-spo"
    assert all(not p.name.startswith(".") for p in inbox.iterdir())  # nothing half-delivered
    delivered = sorted(p.name for p in inbox.glob("[0-9]" * 8))
    assert delivered and sorted(p.name for p in (inbox / "trust").iterdir()) == sorted(
        p.name for p in (demo / "keys" / "trust").iterdir())  # the trust metadata went too
    for name in delivered:
        assert main(["verify", str(inbox / name), "--keys", str(demo / "keys")]) == 0
    entries = [json.loads(line) for line in (demo / "audit" / "audit.jsonl").read_text().splitlines()]
    assert any(e["event"] == "deliver" and e["subject"] == "wh-court-spo" for e in entries)


def _receipts_and_holdings(home: Path, sequences: dict[str, int]) -> tuple[list[tuple], list[tuple]]:
    con = hub.connect(home)
    try:
        receipts = [r[1:] for r in con.execute(
            "SELECT bundle_sequence, office, dataset, bundle_row, change, record_key, row_hash FROM hub_receipts "
            "ORDER BY ALL").fetchall() if r[0] == sequences[r[1]]]
        holdings = con.execute("SELECT * FROM hub_holdings ORDER BY ALL").fetchall()
    finally:
        con.close()
    return receipts, holdings


def test_offices_published_at_once_get_what_they_would_one_by_one(demo: Path, tmp_path: Path) -> None:
    """``publish_offices`` builds every office on one warehouse, in threads: the bundles, their
    receipts and the holdings are those of publishing the offices one after another."""

    config = load_config(demo / "hub.yaml")
    offices = [o.id for o in config.offices]
    homes = {way: tmp_path / way for way in ("serial", "together")}
    for home in homes.values():
        shutil.copytree(demo, home, ignore=shutil.ignore_patterns(".dagster"))
        with Warehouse.open(config, Home(home)) as wh:  # every office holds nothing: each gets a whole snapshot
            wh.con.execute("DELETE FROM hub_holdings_state")
    sequences = {o: len(list((demo / "outbox" / o).glob("[0-9]" * 8))) + 1 for o in offices}
    serial = {o: publish(RunContext(config, Home(homes["serial"]), "r"), o) for o in offices}
    together = publish_offices(RunContext(config, Home(homes["together"]), "r"), offices)
    assert [t.office for t in together] == offices and all(t.error is None for t in together)
    for t in together:
        assert t.bundle is not None and serial[t.office] is not None
        assert t.bundle.sequence == serial[t.office].sequence == sequences[t.office]
        assert t.bundle.rows == serial[t.office].rows and sum(t.bundle.rows.values()) > 0
    receipts, holdings = _receipts_and_holdings(homes["together"], sequences)
    assert receipts and (receipts, holdings) == _receipts_and_holdings(homes["serial"], sequences)
    assert {r[0] for r in receipts} == set(offices)
    for t in together:
        assert main(["verify", str(t.bundle.path), "--keys", str(homes["together"] / "keys")]) == 0


def test_an_office_that_cannot_be_published_does_not_stop_the_others(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import dagster as dg

    from hub.orchestration.execute import dagster_instance, run_exchange

    home = tmp_path / "home"
    shutil.copytree(demo, home, ignore=shutil.ignore_patterns(".dagster"))
    config = load_config(home / "hub.yaml")
    blocked = home / "outbox" / "wh-proc-zhyw"
    shutil.rmtree(blocked)
    blocked.write_text("not a folder")  # the office's outbox cannot be written
    log = home / "audit" / "audit.jsonl"
    age_bundles(home)
    before = len(log.read_text().splitlines())
    outcomes = {o.office: o for o in publish_offices(RunContext(config, Home(home), "r"), [o.id for o in config.offices])}
    assert outcomes["wh-proc-zhyw"].bundle is None and isinstance(outcomes["wh-proc-zhyw"].error, PublishError)
    assert str(outcomes["wh-proc-zhyw"].error) == (
        f"cannot write the outbox {blocked} (File exists); make it a folder the hub may write "
        "(offices[].delivery.outbox in hub.yaml)")
    assert all(outcomes[o].bundle is not None for o in ("wh-court-spo", "wh-justice-office"))
    new = [json.loads(line) for line in log.read_text().splitlines()[before:]]
    published = sorted((e["subject"], e["details"]["status"]) for e in new if e["event"] == "publish")
    assert published == [("wh-court-spo", "ok"), ("wh-justice-office", "ok"), ("wh-proc-zhyw", "failed")]
    failed = next(e for e in new if e["event"] == "publish" and e["details"]["status"] == "failed")
    assert failed["details"]["error"] == str(outcomes["wh-proc-zhyw"].error)  # the auditor sees why
    assert [e["event"] for e in new][-1] == "checkpoint"  # the head is still signed after what was written
    with pytest.raises(PublishError, match="cannot write the outbox"):
        publish(RunContext(config, Home(home), "r"), "wh-proc-zhyw")

    # in Dagster the extracts step fails naming the office, while the other offices' extracts materialize
    capsys.readouterr()
    assert not run_exchange(Home(home))
    assert ("step extracts failed: wh-proc-zhyw: cannot write the outbox "
            f"{blocked}") in capsys.readouterr().err
    instance = dagster_instance(Home(home))
    for office in ("wh-court-spo", "wh-justice-office", "wh-proc-zhyw"):
        event = instance.get_latest_materialization_event(dg.AssetKey(f"extract_{office.replace('-', '_')}"))
        assert (event is not None) == (office != "wh-proc-zhyw"), office


def test_a_zero_byte_drop_is_set_aside_and_only_the_extracts_of_its_table_wait(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A procuratorate drops an empty CSV: normalize still applies everything else, the batch is
    set aside with why, and only the offices that receive supervision measures wait for it."""
    import dagster as dg

    from hub.demo import exchange
    from hub.demo.sftp_server import DemoSftpServer
    from hub.normalize import set_aside
    from hub.normalize.warehouse import Warehouse
    from hub.orchestration.execute import dagster_instance

    home = Home(tmp_path / "home")
    shutil.copytree(demo, home.root, ignore=shutil.ignore_patterns(".dagster"))
    (exchange.sftp_root(home) / exchange.DROP_DIR / "zero.csv").write_bytes(b"")
    text = home.config.read_text(encoding="utf-8")  # the procuratorate's office: nothing made from supervision
    start = text.index("      - record_type: mart_protest_outcomes")
    home.config.write_text(text[:start] + text[text.index("      # the clues", start):], encoding="utf-8")
    config = load_config(home.config)
    port = next(s.sftp.port for s in config.sources if isinstance(s, SftpDropSource))
    capsys.readouterr()
    with DemoSftpServer(exchange.sftp_root(home), exchange.host_key_path(home), exchange.client_public_line(home),
                        port=port):
        assert main(["run", "--home", str(home.root)]) == 1  # work was left undone: the command says so
    out = capsys.readouterr().out
    assert "this run succeeded, but left work undone" in out and "set aside" in out
    assert "publish wh-court-spo          FAILED: wh-court-spo is held back while landed batches" in out
    with Warehouse.open(config, home, read_only=True) as wh:
        (waiting,) = set_aside.listed(wh)
    assert waiting.source == "wh_proc_supervision" and waiting.rows == 0
    assert "zero.csv" in waiting.origin and "has no columns" in waiting.reason
    instance = dagster_instance(home)
    published = {o.id: instance.get_latest_materialization_event(dg.AssetKey(f"extract_{o.id.replace('-', '_')}"))
                 is not None for o in config.offices}
    assert published == {"wh-court-spo": False, "wh-proc-zhyw": True, "wh-justice-office": False}
    held = [e for e in audit.entries(home.audit) if e["event"] == "publish" and e["details"]["status"] == "failed"]
    assert sorted(e["subject"] for e in held) == ["wh-court-spo", "wh-justice-office"]
    assert all(waiting.batch_id[:12] in e["details"]["error"] for e in held)
    # the auditor's report names the batch no office received, and why
    assert main(["audit", "report", "--home", str(home.root), "--office", "wh-court-spo"]) == 0
    report = capsys.readouterr().out
    section = report[report.index("set aside (landed batches not applied"):]
    assert waiting.batch_id[:12] in section and "waiting" in section and "has no columns" in section
    assert main(["audit", "report", "--home", str(home.root), "--office", "wh-proc-zhyw"]) == 0
    assert "set aside (landed batches not applied: could not be staged): none" in capsys.readouterr().out


def test_hub_run_reports_what_this_run_did_and_which_steps_failed(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing new at the sources: this run pulled nothing and says so, apart from the warehouse's
    totals; then the SFTP server's key no longer matches the pin: the run exits 1 naming the steps."""
    from hub.demo import exchange
    from hub.demo.sftp_server import DemoSftpServer
    from hub.signing.crypto import generate_ssh_key

    home = Home(tmp_path / "home")
    shutil.copytree(demo, home.root, ignore=shutil.ignore_patterns(".dagster"))
    age_bundles(home.root)
    port = next(s.sftp.port for s in load_config(home.config).sources if isinstance(s, SftpDropSource))
    capsys.readouterr()
    with DemoSftpServer(exchange.sftp_root(home), exchange.host_key_path(home), exchange.client_public_line(home),
                        port=port):
        assert main(["run", "--home", str(home.root)]) == 0
    out = capsys.readouterr().out
    assert "this run succeeded" in out and "rows pulled per source, all runs" in out
    this_run = out[out.index("this run"):out.index("rows pulled per source, all runs")]
    assert "pull wh_court_filing                0 rows in 0 batch(es); applied 0" in this_run
    assert re.search(r"publish wh-court-spo +bundle [0-9]+ \((full|incremental), [0-9]+ rows\)", this_run)

    other = tmp_path / "other.key"
    generate_ssh_key(other)
    age_bundles(home.root)  # a bundle is due, to deliver
    with DemoSftpServer(exchange.sftp_root(home), other, exchange.client_public_line(home), port=port):
        assert main(["run", "--home", str(home.root)]) == 1
    out = capsys.readouterr().out
    assert "this run FAILED: 2 step(s) failed" in out
    assert "failed pull_supervision: wh_proc_supervision: host key of" in out
    assert "pull wh_proc_supervision      FAILED (1 attempt(s), 0 rows landed)" in out  # a changed key is not retried
    assert re.search(r"deliver wh-court-spo +FAILED \(1 attempt\(s\)\), waiting: [0-9]+: delivery to wh-court-spo: host key", out)


@pytest.mark.parametrize("office", ["wh-proc-zhyw", "wh-justice-office"])  # incremental, full
def test_a_quiet_feed_still_gets_a_bundle_before_its_last_expires(demo: Path, tmp_path: Path, office: str) -> None:
    home = Home(tmp_path / "home")
    shutil.copytree(demo, home.root, ignore=shutil.ignore_patterns(".dagster"))
    config = load_config(home.config)
    outbox = config.office(office).outbox(home)
    last = max(outbox.glob("[0-9]" * 8))
    assert publish(RunContext(config, home, "quiet"), office) is None  # nothing new, last bundle recent
    aged = last.stat().st_mtime - 16 * 86400  # past half of the 30-day lifetime
    os.utime(last, (aged, aged))
    bundle = publish(RunContext(config, home, "quiet"), office)
    assert bundle is not None and bundle.sequence == int(last.name) + 1
    if config.agreement_for(office).mode == "incremental":
        assert sum(bundle.rows.values()) == 0  # "nothing new", signed
    else:  # the snapshot again: what the office holds
        assert bundle.rows == _bundle_rows(last)


def _bundle_rows(bundle: Path) -> dict[str, int]:
    statement = json.loads(base64.b64decode(json.loads((bundle / "manifest.dsse.json").read_text())["payload"]))
    return {name: d["rows"] for name, d in statement["predicate"]["datasets"].items()}


def test_heartbeat_hours_sets_when_a_quiet_feed_hears_from_the_hub(demo: Path, tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    shutil.copytree(demo, home.root, ignore=shutil.ignore_patterns(".dagster"))
    text = home.config.read_text(encoding="utf-8")
    home.config.write_text(text.replace("  - id: FYLD-2024-01\n", "  - id: FYLD-2024-01\n    heartbeat_hours: 0\n")
                               .replace("  - id: FJXZ-2024-02\n", "  - id: FJXZ-2024-02\n    heartbeat_hours: 2\n"),
                           encoding="utf-8")
    config = load_config(home.config)
    for office, hours_old, due in (("wh-justice-office", 24 * 365, False), ("wh-proc-zhyw", 1, False),
                                   ("wh-proc-zhyw", 3, True)):
        last = max(config.office(office).outbox(home).glob("[0-9]" * 8))
        aged = dt.datetime.now().timestamp() - hours_old * 3600
        os.utime(last, (aged, aged))
        bundle = publish(RunContext(config, home, "quiet"), office)
        assert (bundle.sequence if bundle else None) == (int(last.name) + 1 if due else None), (office, hours_old)


def test_new_terms_send_a_bundle_though_no_row_changed(demo: Path, tmp_path: Path) -> None:
    """A share withdrawn from an agreement (its version raised): the office gets a bundle without
    it at once, and holds nothing of it any more; then, nothing new, nothing more."""
    from hub.normalize.warehouse import Warehouse

    home = Home(tmp_path / "home")
    shutil.copytree(demo, home.root, ignore=shutil.ignore_patterns(".dagster"))
    text = home.config.read_text(encoding="utf-8")
    start = text.index("      - record_type: mart_admin_litigation_year")
    end = text.index("\n\n", start)
    home.config.write_text(text[:start] + text[end + 1:], encoding="utf-8")  # the year's figures no longer shared
    config = load_config(home.config)
    bundle = publish(RunContext(config, home, "terms"), "wh-justice-office")
    assert bundle is not None and "mart_admin_litigation_year" not in bundle.rows
    with Warehouse.open(config, home, read_only=True) as wh:
        held = {r[0] for r in wh.query("SELECT DISTINCT dataset FROM hub_holdings WHERE office = 'wh-justice-office'"
                                       ).fetchall()}
    assert held == {s.record_type for s in config.agreement_for("wh-justice-office").shares}  # type: ignore[union-attr]
    assert "mart_admin_litigation_year" not in held and "mart_admin_litigation" in held
    assert publish(RunContext(config, home, "terms"), "wh-justice-office") is None
    version_2 = home.config.read_text(encoding="utf-8").replace("  - id: FYLD-2024-01\n    version: 1",
                                                                 "  - id: FYLD-2024-01\n    version: 2")
    home.config.write_text(version_2, encoding="utf-8")
    assert publish(RunContext(load_config(home.config), home, "terms"), "wh-justice-office") is not None


def test_a_hub_whose_signing_keys_are_encrypted_publishes_only_with_the_passphrase(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from hub.errors import ConfigError
    from hub.publish import keys

    home = Home(tmp_path / "home")
    shutil.copytree(demo, home.root, ignore=shutil.ignore_patterns(".dagster"))
    config = load_config(home.config)
    config = config.model_copy(update={"hub": config.hub.model_copy(update={"signing_passphrase_env": "HUB_TEST_PASS"})})
    monkeypatch.setenv("HUB_TEST_PASS", "a long passphrase")
    assert keys.protect(home, "HUB_TEST_PASS") == [keys.current_keyid(home)]
    office = "wh-justice-office"
    last = max(config.office(office).outbox(home).glob("[0-9]" * 8))
    aged = last.stat().st_mtime - 16 * 86400  # due a heartbeat: the run signs a bundle
    os.utime(last, (aged, aged))
    monkeypatch.delenv("HUB_TEST_PASS")
    with pytest.raises(ConfigError, match="HUB_TEST_PASS is not set"):
        publish(RunContext(config, home, "locked"), office)
    monkeypatch.setenv("HUB_TEST_PASS", "a long passphrase")
    bundle = publish(RunContext(config, home, "unlocked"), office)
    assert bundle is not None and bundle.sequence == int(last.name) + 1
    assert main(["verify", str(bundle.path), "--keys", str(home.keys)]) == 0
    assert "OK" in capsys.readouterr().out


def test_an_office_holding_a_later_checkpoint_catches_a_cut_audit_tail(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    home = Home(tmp_path / "home")
    shutil.copytree(demo, home.root, ignore=shutil.ignore_patterns(".dagster"))
    config = load_config(home.config)
    office = "wh-justice-office"
    last = max(config.office(office).outbox(home).glob("[0-9]" * 8))
    aged = last.stat().st_mtime - 16 * 86400  # due a heartbeat: a new bundle, carrying the latest checkpoint
    os.utime(last, (aged, aged))
    log_before, checkpoints_before = home.audit.read_bytes(), home.audit_checkpoints.read_bytes()
    bundle = publish(RunContext(config, home, "witnessed"), office)
    assert bundle is not None
    witness = tmp_path / "office" / "witness.jsonl"
    assert main(["verify", str(bundle.path), "--keys", str(home.keys), "--office", office,
                 "--witness", str(witness)]) == 0
    carried = audit.read_witness(witness)
    assert carried == [json.loads(checkpoints_before.splitlines()[-1])]  # the latest before this publish
    assert main(["audit", "verify", "--home", str(home.root), "--witness", str(witness)]) == 0
    assert "1 checkpoint(s) an office witnessed match the log" in capsys.readouterr().out
    # the hub cuts its log back to before that checkpoint, and its own checkpoints with it: consistent alone
    kept = log_before.splitlines()[: carried[0]["seq"] - 1]
    home.audit.write_bytes(b"".join(line + b"\n" for line in kept))
    recorded = sum(json.loads(line)["event"] == "checkpoint" for line in kept)
    home.audit_checkpoints.write_bytes(b"".join(line + b"\n" for line in checkpoints_before.splitlines()[:recorded]))
    assert main(["audit", "verify", "--home", str(home.root)]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--home", str(home.root), "--witness", str(witness)]) == 1
    assert "were removed after an office received that checkpoint" in capsys.readouterr().err
