"""Normalization in DuckDB: every quarantine reason, upsert order, accounting, replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import SOURCE_ROW, Batch
from hub.errors import WarehouseError
from hub.normalize.apply import apply, apply_group
from hub.normalize.staging import StagingRules
from hub.normalize.warehouse import Warehouse
from hub.pull.landing import LandedBatch, land

KEY = b"test-hash-key"
FILING_MAP = {"case_no": "ah", "filing_date": "larq", "defendant_id": "zjhm", "claim_amount": "bdje",
              "source_updated_at": "gxsj"}
SUP_MAP = {"doc_no": "wsbh", "measure": "fs", "target_case_no": "ah", "issued_date": "fcrq",
           "replied_date": "hfrq", "reply_result": "hfjg"}
GOOD_ID = "11010519491231002X"  # GB 11643 example; check digit X


def batch(tmp_path: Path, source: str, rows: list[dict[str, Any]], record_type: str = "filing",
          rejects: pa.Table | None = None, institution: str = "c1") -> LandedBatch:
    table = pa.Table.from_pylist([r | {SOURCE_ROW: i} for i, r in enumerate(rows, 1)])
    return land(Batch(source, table, origin="test", rejects=rejects), tmp_path / "landing",
                record_type=record_type, institution=institution, run_id="r1")


def filing(ah: str, larq: str = "2024-03-05", zjhm: str | None = None, bdje: str | None = "1,000.50",
           gxsj: str = "2024-03-05 10:00:00", key: str = "1") -> dict[str, Any]:
    return {"id": key, "ah": ah, "larq": larq, "zjhm": zjhm, "bdje": bdje, "gxsj": gxsj}


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    w = Warehouse(tmp_path / "lake", hash_key=KEY)
    yield w
    w.con.close()


def apply_filing(wh: Warehouse, b: LandedBatch) -> dict[str, int]:
    return apply(wh, b, mapping=FILING_MAP, key_column="id", court_code="内03", run_id="r1")


def quarantined(wh: Warehouse) -> dict[int, tuple[str, str]]:
    return {r[0]: (r[1], r[2]) for r in wh.query("SELECT source_row, rule, reason FROM quarantine").fetchall()}


def test_filing_rules_each_quarantine_with_reason(wh: Warehouse, tmp_path: Path) -> None:
    rows = [
        filing("(2024)内03民终１２号", zjhm=GOOD_ID),            # 1 good: half-width brackets, full-width digits
        filing("（2024）内03民X12号"),                            # 2 bad case number
        filing("（2024）内03民终13号", larq="2024-13-45"),         # 3 impossible date
        filing("（2024）内03民终14号", zjhm="110105194912310021"),  # 4 wrong check digit: kept, the ID withheld
        filing("（2024）内06民终15号"),                            # 5 another court's case
        filing("（2024）内03民终16号", bdje="lots"),               # 6 bad amount: kept, the amount withheld
        filing("（2024）内03民终17号", larq=""),                   # 7 missing required date
        filing(""),                                               # 8 missing case number
        filing("（2024）内03民终18号", gxsj="yesterday"),          # 9 unusable update time
    ]
    b = batch(tmp_path, "c1_filing", rows)
    counts = apply_filing(wh, b)
    assert counts == {"rows_in": 9, "rows_applied": 3, "rows_quarantined": 6, "rows_duplicate": 0, "rows_deleted": 0}
    q = quarantined(wh)
    assert 4 not in q and 6 not in q
    assert q[2][0] == "bad_case_no" and "民X12号" in q[2][1]
    assert q[3] == ("bad_filing_date", "filing_date 2024-13-45 is not a valid date")
    assert q[5][0] == "court_mismatch" and "内06" in q[5][1]
    assert wh.query("SELECT claim_amount FROM filing WHERE source_row = 6").fetchall() == [(None,)]
    assert ("bad_claim_amount", "claim_amount lots is not a valid decimal: withheld, the row kept") in (
        wh.query("SELECT rule, reason FROM withheld WHERE source_row = 6").fetchall())
    assert q[7][0] == "missing_filing_date"
    assert q[8][0] == "missing_case_no"
    assert q[9] == ("bad_source_updated_at", "source_updated_at yesterday is not a valid timestamp")
    row = wh.query(
        "SELECT case_no, case_year, court_code, case_type_code, case_category, claim_amount, "
        "defendant_id_masked, defendant_id_hash, batch_id, source_row, source_key FROM filing WHERE source_row = 1"
    ).fetchone()
    assert row[:6] == ("（2024）内03民终12号", 2024, "内03", "民终", "民事", pytest.approx(1000.50))
    assert row[6] == "110105********002X"
    assert len(row[7]) == 64 and GOOD_ID not in row[7]
    assert row[8:] == (b.batch_id, 1, "1")
    original = json.loads(wh.query("SELECT original FROM quarantine WHERE source_row = 3").fetchone()[0])
    assert original["larq"] == "2024-13-45" and original["ah"] == "（2024）内03民终13号"


def test_a_bad_party_id_keeps_its_case_and_withholds_the_id_with_why(wh: Warehouse, tmp_path: Path) -> None:
    bad_id = "110105194912310021"  # wrong check digit
    rows = [
        filing("（2024）内03民终14号", zjhm=bad_id),
        filing("（2024）内03民X15号", zjhm=bad_id),  # unidentifiable too: quarantined, for its case number first
        filing("（2024）内03民终16号", zjhm=GOOD_ID),
    ]
    first = batch(tmp_path, "c1_filing", rows)
    assert apply_filing(wh, first)["rows_applied"] == 2
    kept = wh.query("SELECT case_no, defendant_id_hash, defendant_id_masked FROM filing ORDER BY case_no").fetchall()
    assert kept[0] == ("（2024）内03民终14号", None, None)  # neither in clear nor hashed
    assert kept[1][0] == "（2024）内03民终16号" and kept[1][1] is not None
    assert wh.query("SELECT batch_id, source_row, record_type, record_key, field, rule, reason FROM withheld").fetchall() == [
        (first.batch_id, 1, "filing", "（2024）内03民终14号", "defendant_id", "bad_defendant_id",
         "defendant_id is not a valid resident ID, credit code or organization code (check digit)")]
    assert wh.query("SELECT rule, rules FROM quarantine").fetchall() == [("bad_case_no", ["bad_case_no", "bad_defendant_id"])]
    dumped = str(wh.query("SELECT * FROM withheld").fetchall())
    assert bad_id not in dumped and bad_id[:6] not in dumped  # the reason never carries the value
    # the same rows again: nothing new applied, nothing withheld twice
    assert apply_filing(wh, batch(tmp_path, "c1_filing", rows))["rows_duplicate"] == 2
    assert wh.query("SELECT count(*) FROM withheld").fetchone() == (1,)
    # corrected at the source: the new version carries the ID, the old one's entry stays as history
    fixed = batch(tmp_path, "c1_filing", [filing("（2024）内03民终14号", zjhm=GOOD_ID, gxsj="2024-03-06 10:00:00")])
    assert apply_filing(wh, fixed)["rows_applied"] == 1
    assert wh.query("SELECT defendant_id_masked FROM filing WHERE case_no = '（2024）内03民终14号'").fetchone() == (
        "110105********002X",)


def test_a_15_digit_resident_id_is_kept_in_its_18_digit_form_and_flagged(wh: Warehouse, tmp_path: Path) -> None:
    old_id = "110105491231002"  # the first-generation form of GOOD_ID
    rows = [
        filing("（2024）内03民终21号", zjhm=old_id),
        filing("（2024）内03民终22号", zjhm=GOOD_ID),
        filing("（2024）内03民终23号", zjhm="D2143569-X"),  # an organization code, printed with its hyphen
        filing("（2024）内03民终24号", zjhm="110105491331002"),  # 15 digits, no 13th month: withheld
    ]
    b = batch(tmp_path, "c1_filing", rows)
    assert apply_filing(wh, b)["rows_applied"] == 4
    ids = dict(wh.query("SELECT case_no, (defendant_id_hash, defendant_id_masked) FROM filing").fetchall())
    assert ids["（2024）内03民终21号"] == ids["（2024）内03民终22号"]  # one person, whichever form the source sent
    assert ids["（2024）内03民终21号"][1] == "110105********002X"
    assert ids["（2024）内03民终23号"][1] == "D2*****9X" and ids["（2024）内03民终24号"] == (None, None)
    dashed, plain = (wh.query(f"SELECT hub_keyed_hash('{v}')").fetchone()[0] for v in ("D2143569-X", "D2143569X"))
    assert ids["（2024）内03民终23号"][0] == plain != dashed  # hashed in canonical form, so it joins a code sent without
    assert wh.query("SELECT batch_id, source_row, record_key, field, rule FROM flagged").fetchall() == [
        (b.batch_id, 1, "（2024）内03民终21号", "defendant_id", "converted_defendant_id")]
    assert "18-digit" in wh.query("SELECT reason FROM flagged").fetchone()[0]
    assert wh.query("SELECT record_key, rule FROM withheld").fetchall() == [("（2024）内03民终24号", "bad_defendant_id")]
    assert old_id not in str(wh.query("SELECT * FROM flagged").fetchall())


def test_pre_2016_numbers_reach_the_table_and_a_procuratorate_number_does_not(wh: Warehouse, tmp_path: Path) -> None:
    rows = [
        filing("（2013）乌海民初字第00081号"),  # an old number: its court part is a place, not a code to compare
        filing("（2012）海民四(商)终字第5号"),
        filing("（2009）民申字第1号"),  # the Supreme People's Court's: not this court's
        filing("（2014）乌检民监字第5号"),  # a procuratorate's document number
    ]
    assert apply_filing(wh, batch(tmp_path, "c1_filing", rows))["rows_applied"] == 2
    assert wh.query("SELECT case_no, court_code, case_type_code, case_category FROM filing ORDER BY case_no").fetchall() == [
        ("（2012）海民四（商）终字第5号", "海", "民终", "民事"), ("（2013）乌海民初字第81号", "乌海", "民初", "民事")]
    q = quarantined(wh)
    assert q[3][0] == "court_mismatch" and "最高法" in q[3][1]
    assert q[4][0] == "bad_case_no"


def test_a_row_naming_several_cases_makes_a_record_of_each(wh: Warehouse, tmp_path: Path) -> None:
    rows = [
        filing("（2024）内03民终30063、30062号"),  # two cases heard together, in one row
        filing("（2024）内03民终31号 （2024）内03民终32号", key="2"),
        filing("（2024）内03民终33号、（2024）内06民终34号", key="3"),  # the second is another court's
        filing("（2024）内03民终35号、36号", larq="someday", key="4"),  # both quarantined, for the date
        filing("（2024）内03民终37号、内03民X38号", key="5"),  # one part no case number: nothing split
    ]
    b = batch(tmp_path, "c1_filing", rows)
    counts = apply_filing(wh, b)
    # counted as source rows: a row naming several cases is applied whole or quarantined whole
    assert counts == {"rows_in": 5, "rows_applied": 2, "rows_quarantined": 3, "rows_duplicate": 0, "rows_deleted": 0}
    got = wh.query("SELECT case_no, case_no_raw, source_row FROM filing ORDER BY case_no").fetchall()
    assert got == [
        ("（2024）内03民终30062号", "（2024）内03民终30063、30062号", 1),
        ("（2024）内03民终30063号", "（2024）内03民终30063、30062号", 1),
        ("（2024）内03民终31号", "（2024）内03民终31号 （2024）内03民终32号", 2),
        ("（2024）内03民终32号", "（2024）内03民终31号 （2024）内03民终32号", 2),
    ]
    # once per row, with every rule any of its cases broke: 34号 is another court's
    assert sorted(wh.query("SELECT source_row, rule, rules FROM quarantine").fetchall()) == [
        (3, "court_mismatch", ["court_mismatch"]), (4, "bad_filing_date", ["bad_filing_date"]),
        (5, "bad_case_no", ["bad_case_no"])]
    assert "内06" in wh.query("SELECT reason FROM quarantine WHERE source_row = 3").fetchone()[0]
    flagged = wh.query("SELECT record_key, rule, reason FROM flagged WHERE source_row = 1 ORDER BY record_key").fetchall()
    assert [(k, r) for k, r, _ in flagged] == [("（2024）内03民终30062号", "split_case_no"),
                                               ("（2024）内03民终30063号", "split_case_no")]
    assert flagged[0][2] == ("case_no holds several case numbers (（2024）内03民终30063号、（2024）内03民终30062号): "
                             "the row is applied once for each")
    # the same rows again are duplicates, case by case, and nothing is flagged twice
    assert apply_filing(wh, b) == {"rows_in": 5, "rows_applied": 0, "rows_quarantined": 3, "rows_duplicate": 2,
                                   "rows_deleted": 0}
    assert wh.query("SELECT count(*) FROM flagged").fetchone() == (4,)


def test_supervision_rules(wh: Warehouse, tmp_path: Path) -> None:
    base = {"wsbh": "乌检民监〔2024〕1号", "fs": "再审检察建议", "ah": "（2023）内03民终5号", "fcrq": "2024-03-01",
            "hfrq": None, "hfjg": None, "key": "k"}
    rows = [
        base,
        base | {"wsbh": "乌检民监〔2024〕2号", "fs": "口头建议"},
        base | {"wsbh": "乌检民监〔2024〕3号", "hfrq": "2024-02-01", "hfjg": "采纳"},
        base | {"wsbh": "乌检民监〔2024〕4号", "hfjg": "同意"},
        base | {"wsbh": "乌检民监〔2024〕5号", "ah": "无案号"},
    ]
    b = batch(tmp_path, "p1_sup", rows, "supervision")
    counts = apply(wh, b, mapping=SUP_MAP, key_column="key", court_code=None, run_id="r1")
    assert counts["rows_applied"] == 1 and counts["rows_quarantined"] == 4
    q = quarantined(wh)
    assert q[2][0] == "unknown_measure" and "口头建议" in q[2][1]
    assert q[3][0] == "reply_before_issue"
    assert q[4][0] == "unknown_reply_result"
    assert q[5][0] == "bad_target_case_no"
    assert wh.query("SELECT record_key, target_court_code FROM supervision").fetchone() == (
        "c1/乌检民监〔2024〕1号", "内03")


def test_a_measure_naming_several_target_cases_is_kept_against_the_first(wh: Warehouse, tmp_path: Path) -> None:
    row = {"wsbh": "乌检民监〔2024〕9号", "fs": "再审检察建议", "ah": "（2023）内03民终5、6号", "fcrq": "2024-03-01",
           "hfrq": None, "hfjg": None, "key": "k"}
    b = batch(tmp_path, "p1_sup", [row], "supervision")
    assert apply(wh, b, mapping=SUP_MAP, key_column="key", court_code=None, run_id="r1")["rows_applied"] == 1
    assert wh.query("SELECT target_case_no, target_case_no_raw FROM supervision").fetchall() == [
        ("（2023）内03民终5号", "（2023）内03民终5、6号")]
    assert wh.query("SELECT rule, reason FROM flagged").fetchall() == [(
        "split_target_case_no",
        "target_case_no holds several case numbers (（2023）内03民终5号、（2023）内03民终6号): the measure is kept "
        "against the first")]


def test_reader_rejects_land_in_quarantine_and_balance(wh: Warehouse, tmp_path: Path) -> None:
    rejects = pa.table({SOURCE_ROW: pa.array([7], pa.int64()), "reason": ["expected 5 fields, got 6"],
                        "raw": ["a,b,c,d,e,f"]})
    b = batch(tmp_path, "c1_filing", [filing("（2024）内03民终1号")], rejects=rejects)
    counts = apply_filing(wh, b)
    assert counts == {"rows_in": 2, "rows_applied": 1, "rows_quarantined": 1, "rows_duplicate": 0, "rows_deleted": 0}
    assert quarantined(wh)[7] == ("unparseable_row", "expected 5 fields, got 6")


def test_latest_version_wins_and_history_keeps_all(wh: Warehouse, tmp_path: Path) -> None:
    old = filing("（2024）内03民终1号", bdje="10", gxsj="2024-03-05 10:00:00")
    new = filing("(2024)内03民终1号", bdje="20", gxsj="2024-04-01 10:00:00")
    b_new = batch(tmp_path, "c1_filing", [new])
    b_old = batch(tmp_path, "c1_filing", [old])
    apply_filing(wh, b_new)
    apply_filing(wh, b_old)  # an older version arriving late must not overwrite
    assert wh.query("SELECT claim_amount FROM filing").fetchall() == [(20,)]
    assert wh.query("SELECT count(*) FROM filing_history").fetchone() == (2,)


def test_quarantine_keeps_originals_when_source_columns_share_shared_names(wh: Warehouse, tmp_path: Path) -> None:
    rows = [{"id": "1", "case_no": "（2024）内03民终1号", "filing_date": "2024-03-05"},
            {"id": "2", "case_no": "not a case number", "filing_date": "2024-03-05"}]
    counts = apply(wh, batch(tmp_path, "c1_filing", rows), mapping={"case_no": "case_no", "filing_date": "filing_date"},
                      key_column="id", court_code="内03", run_id="r1")
    assert counts["rows_applied"] == 1 and counts["rows_quarantined"] == 1
    original = wh.query("SELECT original FROM quarantine").fetchone()[0]
    assert json.loads(original) == rows[1]


def test_history_keeps_one_current_version_per_key(wh: Warehouse, tmp_path: Path) -> None:
    versions = [filing("（2024）内03民终1号", bdje=str(n), gxsj=f"2024-03-0{n} 10:00:00") for n in (2, 1, 3)]
    apply_filing(wh, batch(tmp_path, "c1_filing", versions[:2]))  # one batch, two versions of one key
    apply_filing(wh, batch(tmp_path, "c1_filing", versions[2:]))
    rows = wh.query("SELECT claim_amount, is_current FROM filing_history ORDER BY claim_amount").fetchall()
    assert [(int(a), c) for a, c in rows] == [(1, False), (2, False), (3, True)]
    assert wh.query("SELECT table_type FROM information_schema.tables WHERE table_name = 'filing'").fetchone() == ("VIEW",)


def test_a_replaced_version_is_listed_as_superseded_and_its_stored_row_never_rewritten(
        wh: Warehouse, tmp_path: Path) -> None:
    first = batch(tmp_path, "c1_filing", [filing("（2024）内03民终1号", bdje="1", gxsj="2024-03-01 10:00:00")])
    apply_filing(wh, first)
    stored = wh.query("SELECT rowid, * FROM filing_versions").fetchall()
    later = batch(tmp_path, "c1_filing", [filing("（2024）内03民终1号", bdje="2", gxsj="2024-03-02 10:00:00")])
    apply_filing(wh, later)
    assert wh.query("SELECT rowid, * FROM filing_versions WHERE rowid = ?", [stored[0][0]]).fetchall() == stored
    assert wh.query("SELECT version, batch_id FROM filing_superseded").fetchall() == [(stored[0][0], later.batch_id)]
    assert wh.query("SELECT claim_amount FROM filing").fetchall() == [(2,)]


def test_a_schema_version_2_warehouse_is_upgraded_in_place_with_every_version(wh: Warehouse, tmp_path: Path) -> None:
    from hub.lake.location import Lake
    from schemas.tables import RECORD_TYPES

    rows = [filing("（2024）内03民终1号", bdje=str(n), gxsj=f"2024-03-0{n} 10:00:00") for n in (1, 2)]
    apply_filing(wh, batch(tmp_path, "c1_filing", rows[:1]))
    apply_filing(wh, batch(tmp_path, "c1_filing", rows[1:] + [filing("（2024）内03民终2号")]))
    history = wh.query("SELECT * FROM filing_history ORDER BY ALL").fetchall()
    wh.con.close()
    old = Lake.embedded(tmp_path / "lake").connect()  # as version 2 stored it: is_current rewritten in place
    for rt in RECORD_TYPES[:4]:  # the record types version 2 had; later ones are created on upgrade
        old.execute(f"DROP VIEW {rt}")
        old.execute(f"CREATE TABLE {rt}_history_2 AS SELECT * FROM {rt}_history")
        old.execute(f"DROP VIEW {rt}_history")
        old.execute(f"DROP TABLE {rt}_versions")
        old.execute(f"DROP TABLE {rt}_superseded")
        old.execute(f"ALTER TABLE {rt}_history_2 RENAME TO {rt}_history")
        old.execute(f"CREATE VIEW {rt} AS SELECT * EXCLUDE (is_current, deleted) FROM {rt}_history "
                    "WHERE is_current AND NOT deleted")
    for rt in RECORD_TYPES[4:]:  # record types added since
        old.execute(f"DROP VIEW {rt}")
        old.execute(f"DROP VIEW {rt}_history")
        old.execute(f"DROP TABLE {rt}_versions")
        old.execute(f"DROP TABLE {rt}_superseded")
    old.execute("UPDATE hub_meta SET value = '2' WHERE key = 'schema_version'")
    old.execute("UPDATE hub_meta SET value = 'version 2' WHERE key = 'schema_digest'")
    old.close()
    again = Warehouse(tmp_path / "lake", hash_key=KEY)
    try:
        assert again.query("SELECT * FROM filing_history ORDER BY ALL").fetchall() == history
        assert again.query("SELECT value FROM hub_meta WHERE key = 'schema_version'").fetchone() == ("3",)
        assert again.query("SELECT count(*) FROM filing").fetchone() == (2,)
        newer = filing("（2024）内03民终1号", bdje="3", gxsj="2024-03-03 10:00:00")  # and it goes on applying
        apply_filing(again, batch(tmp_path, "c1_filing", [newer]))
        assert again.query("SELECT claim_amount FROM filing ORDER BY claim_amount").fetchall() == [(3,), (1000.5,)]
    finally:
        again.con.close()


def test_a_field_added_to_a_schema_is_added_to_an_earlier_warehouse_keeping_its_rows(wh: Warehouse, tmp_path: Path) -> None:
    """Additive evolution: a warehouse made before a shared field (and a hub table's column)
    existed gains them on open, its rows kept with NULL there, and goes on applying."""
    from hub.lake.location import Lake

    apply_filing(wh, batch(tmp_path, "c1_filing", [filing("（2024）内03民终1号")]))
    stored = wh.query("SELECT case_no, filing_date, row_hash FROM filing").fetchall()
    wh.con.close()
    old = Lake.embedded(tmp_path / "lake").connect()  # as a hub from before claim_amount and rules left it
    old.execute("DROP VIEW filing")
    old.execute("DROP VIEW filing_history")
    old.execute("ALTER TABLE filing_versions DROP COLUMN claim_amount")
    old.execute("ALTER TABLE quarantine DROP COLUMN quarantined_at")
    old.execute("UPDATE hub_meta SET value = 'older' WHERE key = 'schema_digest'")
    old.close()
    again = Warehouse(tmp_path / "lake", hash_key=KEY)
    try:
        assert again.query("SELECT case_no, filing_date, row_hash, claim_amount FROM filing").fetchall() == [
            (*stored[0], None)]
        assert again.query("SELECT comment FROM duckdb_columns() WHERE table_name = 'filing_versions' "
                           "AND column_name = 'claim_amount'").fetchone() == ("诉讼标的额 / amount claimed, yuan",)
        apply_filing(again, batch(tmp_path, "c1_filing", [filing("（2024）内03民终2号", bdje="7"), filing("bad")]))
        assert again.query("SELECT case_no, claim_amount FROM filing ORDER BY case_no").fetchall() == [
            ("（2024）内03民终1号", None), ("（2024）内03民终2号", 7)]
        assert again.query("SELECT rule, quarantined_at IS NOT NULL FROM quarantine").fetchall() == [("bad_case_no", True)]
    finally:
        again.con.close()


def test_an_agencys_decisions_are_kept_by_institution_and_document_number(wh: Warehouse, tmp_path: Path) -> None:
    """A law-enforcement decision is known by its issuer and number; its party ID is withheld when
    invalid, its court case number made canonical, and a decision without its date quarantined."""
    mapping = {"doc_no": "wh", "agency": "jg", "party_id": "zjhm", "decided_date": "rq", "amount": "je",
               "court_case_no": "ah"}
    rows = [
        {"id": 1, "wh": "乌政罚决字〔2024〕1 号", "jg": "乌海市生态环境局", "zjhm": "91150300MA0N00000X",
         "rq": "2024-05-06", "je": "1,000", "ah": "(2024)内0302行审3号"},
        {"id": 2, "wh": "乌政罚决字〔2024〕2号", "jg": "乌海市生态环境局", "zjhm": None, "rq": None, "je": None, "ah": None},
        {"id": 3, "wh": "乌政罚决字〔2024〕3号", "jg": "乌海市自然资源局", "zjhm": GOOD_ID, "rq": "2024-05-07",
         "je": None, "ah": "乌政复〔2024〕3号"},
    ]
    b = batch(tmp_path, "gov_decisions", rows, record_type="agency_decision", institution="gov")
    counts = apply(wh, b, mapping=mapping, key_column="id", court_code=None, run_id="r1")
    assert (counts["rows_applied"], counts["rows_quarantined"]) == (2, 1)
    assert wh.query("SELECT record_key, doc_no, amount, court_case_no, party_id_hash IS NULL, party_id_masked "
                    "FROM agency_decision ORDER BY record_key").fetchall() == [
        ("gov/乌政罚决字〔2024〕1号", "乌政罚决字〔2024〕1 号", 1000, "（2024）内0302行审3号", True, None),
        ("gov/乌政罚决字〔2024〕3号", "乌政罚决字〔2024〕3号", None, "乌政复〔2024〕3号", False, "110105********002X")]
    assert quarantined(wh) == {2: ("missing_decided_date", "required field decided_date (决定日期) is empty")}
    assert wh.query("SELECT record_key, rule FROM withheld").fetchall() == [("gov/乌政罚决字〔2024〕1号", "bad_party_id")]


def test_a_warehouse_a_newer_hub_has_grown_is_refused_for_writing_and_still_read(wh: Warehouse, tmp_path: Path) -> None:
    """A field this hub does not declare means a newer hub upgraded the warehouse: rewriting the
    views would hide it, so writing is refused with what to do; reading goes on."""
    from hub.lake.location import Lake

    apply_filing(wh, batch(tmp_path, "c1_filing", [filing("（2024）内03民终1号")]))
    wh.con.close()
    newer = Lake.embedded(tmp_path / "lake").connect()
    newer.execute("ALTER TABLE filing_versions ADD COLUMN hearing_date DATE")
    newer.execute("UPDATE hub_meta SET value = 'newer' WHERE key = 'schema_digest'")
    newer.close()
    with pytest.raises(WarehouseError, match=r"does not know \(filing_versions.hearing_date\).*upgrade this hub"):
        Warehouse(tmp_path / "lake", hash_key=KEY)
    with Warehouse(tmp_path / "lake", hash_key=KEY, read_only=True) as ro:
        assert ro.query("SELECT count(*) FROM filing").fetchone() == (1,)


def test_warehouse_of_another_schema_version_is_refused_with_the_fix(tmp_path: Path) -> None:
    from hub.errors import WarehouseError
    from hub.lake.location import Lake

    old = Lake.embedded(tmp_path / "old").connect()
    old.execute("CREATE TABLE hub_batches (batch_id VARCHAR)")  # version 1 had no hub_meta
    old.close()
    with pytest.raises(WarehouseError, match="schema version 1.*move it aside and run `hub run`"):
        Warehouse(tmp_path / "old", hash_key=KEY)


def test_exact_duplicates_are_counted_not_applied(wh: Warehouse, tmp_path: Path) -> None:
    row = filing("（2024）内03民终1号")
    first = apply_filing(wh, batch(tmp_path, "c1_filing", [row, row]))
    assert first == {"rows_in": 2, "rows_applied": 1, "rows_quarantined": 0, "rows_duplicate": 1, "rows_deleted": 0}
    again = apply_filing(wh, batch(tmp_path, "c1_filing", [row, filing("（2024）内03民终2号")]))
    assert again == {"rows_in": 2, "rows_applied": 1, "rows_quarantined": 0, "rows_duplicate": 1, "rows_deleted": 0}
    assert wh.query("SELECT count(*) FROM filing").fetchone() == (2,)


def test_upsert_paths_agree(tmp_path: Path) -> None:
    """One batch holding every version (dedup and ranking), or one version per batch (new keys
    only, then keys already stored): the same current rows, versions and flags."""
    a = [filing("（2024）内03民终1号", bdje=str(n), gxsj=f"2024-03-0{n} 10:00:00") for n in (2, 1, 3)]
    b = filing("（2024）内03民终2号", bdje="9")
    splits = {"together": [[a[0], b, a[0], a[1], a[2]]], "apart": [[a[0], b], [a[1]], [a[2], a[0]]]}
    seen = []
    for name, parts in splits.items():
        with Warehouse(tmp_path / f"{name}-lake", hash_key=KEY) as w:
            counts = [apply_filing(w, batch(tmp_path / name, "c1_filing", rows)) for rows in parts]
            assert sum(c["rows_applied"] for c in counts) == 4 and sum(c["rows_duplicate"] for c in counts) == 1
            seen.append((
                w.query("SELECT * EXCLUDE (batch_id, source_row, landed_at, run_id) FROM filing ORDER BY ALL").fetchall(),
                w.query("SELECT record_key, claim_amount, is_current FROM filing_history ORDER BY ALL").fetchall(),
            ))
    assert seen[0] == seen[1]
    assert [(float(x), c) for k, x, c in seen[0][1] if k.endswith("1号")] == [(1.0, False), (2.0, False), (3.0, True)]


def test_replay_in_other_order_gives_same_tables(tmp_path: Path) -> None:
    batches = [
        batch(tmp_path, "c1_filing", [filing("（2024）内03民终1号", bdje="1", gxsj="2024-01-01 00:00:00"),
                                      filing("（2024）内03民终2号", bdje="2")]),
        batch(tmp_path, "c1_filing", [filing("（2024）内03民终1号", bdje="3", gxsj="2024-02-01 00:00:00"),
                                      filing("（2024）内03民X号")]),
        batch(tmp_path, "c1_filing", [filing("（2024）内03民终2号", bdje="4", gxsj="2023-01-01 00:00:00")]),
    ]
    snapshots = []
    for order, name in ((batches, "a"), (batches[::-1], "b")):
        with Warehouse(tmp_path / f"{name}-lake", hash_key=KEY) as w:
            for b in order:
                apply_filing(w, b)
            snapshots.append((
                w.query("SELECT * EXCLUDE (run_id) FROM filing ORDER BY record_key").fetchall(),
                w.query("SELECT batch_id, source_row, rule FROM quarantine ORDER BY ALL").fetchall(),
                w.query("SELECT count(*) FROM filing_history").fetchall(),
                w.query("SELECT case_no, claim_amount FROM filing ORDER BY case_no").fetchall(),
            ))
    assert snapshots[0] == snapshots[1]
    # newest source update wins whichever batch came first
    assert [(c, float(a)) for c, a in snapshots[0][3]] == [("（2024）内03民终1号", 3.0), ("（2024）内03民终2号", 2.0)]


def test_failed_apply_leaves_nothing(wh: Warehouse, tmp_path: Path) -> None:
    b = batch(tmp_path, "c1_filing", [filing("（2024）内03民终1号")])
    with pytest.raises(WarehouseError, match="applying batch .* from c1_filing failed: .*no_such_column"):
        apply(wh, b, mapping=FILING_MAP | {"cause": "no_such_column"}, key_column="id", court_code="内03", run_id="r1")
    plan = wh.query("EXPLAIN SELECT * FROM filing_history WHERE 1 + 1 = 2").fetchall()[0][1]
    assert "(1 + 1)" not in plan  # the optimizer folds constants again, as before the batch
    assert wh.table_counts() == {"filing": 0, "judgment": 0, "enforcement": 0, "supervision": 0, "agency_decision": 0,
                                 "referral": 0, "quarantine": 0}
    assert wh.applied() == set()


def test_links_and_code_flags_say_why(wh: Warehouse, tmp_path: Path) -> None:
    apply_filing(wh, batch(tmp_path, "c1_filing", [filing("（2023）内03民终5号")]))
    judg = {"case_no": "ah", "decided_date": "cprq", "outcome": "cpjg", "agency_head_appeared": "cz"}
    b = batch(tmp_path, "c1_judgment", [
        {"id": "1", "ah": "（2023）内03民终5号", "cprq": "2023-05-01", "cpjg": "驳回起诉", "cz": "是"},
        {"id": "2", "ah": "（2023）内03民终6号", "cprq": "2023-05-01", "cpjg": "支持", "cz": "maybe"},
    ], "judgment")
    counts = apply(wh, b, mapping=judg, key_column="id", court_code="内03", run_id="r1")
    assert counts["rows_quarantined"] == 0  # a bad flag does not make the decision unidentifiable: kept without it
    assert wh.query("SELECT record_key, field, rule, reason FROM withheld").fetchall() == [(
        "（2023）内03民终6号", "agency_head_appeared", "bad_agency_head_appeared",
        "agency_head_appeared maybe is not a valid boolean: withheld, the row kept")]
    assert wh.query("SELECT case_no, agency_head_appeared FROM judgment ORDER BY case_no").fetchall() == [
        ("（2023）内03民终5号", True), ("（2023）内03民终6号", None)]
    enf = {"case_no": "ah", "filing_date": "larq", "basis_doc_no": "yj", "basis_type": "lx", "asset_search_done": "cc"}
    apply(wh, batch(tmp_path, "c1_enf", [
        {"id": "1", "ah": "（2024）内03执1号", "larq": "2024-01-02", "yj": "(2023)内03民终5号", "lx": "民事判决书", "cc": "1"},
        {"id": "2", "ah": "（2024）内03执2号", "larq": "2024-01-02", "yj": "乌仲裁字〔2023〕15号", "lx": "仲裁裁决书", "cc": "0"},
        {"id": "3", "ah": "（2024）内03执3号", "larq": "2024-01-02", "yj": "（2023）内03民终9号", "lx": "民事判决书", "cc": None},
    ], "enforcement"), mapping=enf, key_column="id", court_code="内03", run_id="r1")
    apply(wh, batch(tmp_path, "p1_sup", [
        {"wsbh": "乌检民监〔2024〕1号", "fs": "抗诉", "ah": "（2023）内03民终5号", "fcrq": "2024-03-01", "hfrq": None, "hfjg": None, "key": "1"},
        {"wsbh": "乌检民监〔2024〕2号", "fs": "抗诉", "ah": "（2023）内03民终99号", "fcrq": "2024-03-01", "hfrq": None, "hfjg": None, "key": "2"},
        {"wsbh": "乌检民监〔2024〕3号", "fs": "抗诉", "ah": "（2023）内06民终1号", "fcrq": "2024-03-01", "hfrq": None, "hfjg": None, "key": "3"},
    ], "supervision"), mapping=SUP_MAP, key_column="key", court_code=None, run_id="r1")
    links = {(r[0], r[1]): (r[2], r[3]) for r in wh.query("SELECT record_type, target, resolved, why FROM links").fetchall()}
    assert links[("enforcement", "（2023）内03民终5号")] == (True, None)
    assert "neither a court case number nor an agency decision" in links[("enforcement", "乌仲裁字〔2023〕15号")][1]
    assert links[("enforcement", "（2023）内03民终9号")][1] == "basis case （2023）内03民终9号 is not among the cases shared with the hub"
    assert links[("supervision", "（2023）内03民终5号")] == (True, None)
    assert links[("supervision", "（2023）内03民终99号")][1] == "court 内03 has shared no case （2023）内03民终99号"
    assert links[("supervision", "（2023）内06民终1号")][1] == "court 内06 shares no cases with the hub"
    assert wh.query("SELECT column_name, value FROM code_flags").fetchall() == [("outcome", "驳回起诉")]
    assert wh.query("SELECT asset_search_done FROM enforcement ORDER BY case_no").fetchall() == [(True,), (False,), (None,)]


@pytest.mark.parametrize("record_type", ["filing", "judgment", "enforcement", "supervision"])
def test_warehouse_tables_have_the_arrow_schema(wh: Warehouse, record_type: str) -> None:
    from schemas.tables import arrow_schema

    got = wh.con.sql(f"FROM {record_type}").to_arrow_table().schema
    assert [(f.name, f.type) for f in got] == [(f.name, f.type) for f in arrow_schema(record_type)]


def alone_and_together(tmp: Path, batches: list[LandedBatch], rules: dict[str, StagingRules]) -> list[tuple[Any, ...]]:
    """(accounting, history, quarantine, ledger) with each batch applied alone, then with all
    of them given to one ``apply_group``."""
    seen = []
    for name in ("alone", "together"):
        with Warehouse(tmp / f"{name}-lake", hash_key=KEY) as w:
            if name == "alone":
                counts = [next(apply_group(w, [b], rules, run_id="r1"))[1] for b in batches]
            else:
                counts = [c for _, c in apply_group(w, batches, rules, run_id="r1")]
            seen.append((
                counts,
                w.query("SELECT * EXCLUDE (run_id) FROM filing_history ORDER BY ALL").fetchall(),
                w.query("SELECT * EXCLUDE (quarantined_at) FROM quarantine ORDER BY ALL").fetchall(),
                w.query("SELECT * EXCLUDE (applied_at) FROM hub_batches ORDER BY ALL").fetchall(),
            ))
    return seen


def test_batches_staged_together_apply_as_one_by_one(tmp_path: Path) -> None:
    """Consecutive batches staged by one statement, whatever their source or columns: the same
    rows, versions, quarantine (each row checked against its own source's court) and per-batch
    accounting as applying each alone; a key snapshot is applied between the groups."""
    one = [filing("（2024）内03民终1号", bdje="1", gxsj="2024-01-01 00:00:00", key="1"),
           filing("（2024）内03民终2号", key="2"), filing("（2024）内03民X号", key="3")]
    two = [filing("（2024）内03民终1号", bdje="2", gxsj="2024-02-01 00:00:00", key="1"), one[1], one[1]]
    three = [filing("（2024）内03民终3号", key="4") | {"extra": "x"}]
    four = [filing("（2024）内03民终1号", bdje="3", gxsj="2023-01-01 00:00:00", key="1")]
    other = [{"no": n, "case": case, "filed": "2024/03/05", "sc": flag}  # another court's vendor
             for n, case, flag in ((7, "（2024）内06民初7号", "0"), (8, "（2024）内03民初8号", "0"), (9, "（2024）内06民初9号", "1"))]
    batches = [batch(tmp_path, "c1_filing", rows) for rows in (one, two, three)]
    batches.append(batch(tmp_path, "c2_filing", other, institution="c2"))
    batches.append(batch(tmp_path, "c1_filing", four))
    keys = land(Batch("c1_filing", pa.table({"id": ["1", "4"]}), origin="keys"), tmp_path / "landing",
                record_type="filing", institution="c1", run_id="r1", kind="keys")
    batches.insert(2, keys)
    rules = {"c1_filing": StagingRules(FILING_MAP, "id", "内03"),
             "c2_filing": StagingRules({"case_no": "case", "filing_date": "filed"}, "no", "内06", ("sc", ["1"]))}
    seen = alone_and_together(tmp_path, batches, rules)
    assert seen[0] == seen[1]
    assert [c["rows_duplicate"] for c in seen[0][0]] == [0, 2, 0, 0, 0, 0]
    assert [c["rows_deleted"] for c in seen[0][0]] == [0, 0, 1, 0, 1, 0]  # the snapshot lacks key 2; c2 flags 9
    mismatch = [(r[1], r[6], r[7]) for r in seen[1][2] if r[6] == "court_mismatch"]
    assert mismatch == [("c2_filing", "court_mismatch",
                         "case number court code 内03 does not belong to source court 内06")]
    originals = {json.loads(r[9])["case"] for r in seen[1][2] if r[1] == "c2_filing"}
    assert originals == {"（2024）内03民初8号"}  # quarantine keeps each source's own columns


VERSION = st.fixed_dictionaries({
    "key": st.sampled_from("123"), "bdje": st.sampled_from(["1", "2", "x"]),  # "x" is quarantined
    "gxsj": st.sampled_from(["2024-01-01 00:00:00", "2024-02-01 00:00:00"]), "sc": st.sampled_from("01"),
})


@given(st.lists(st.tuples(st.sampled_from(["c1_filing", "c2_filing"]), st.lists(VERSION, max_size=4)),
                min_size=1, max_size=5))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_batches_applied_as_one_chunk_end_as_applied_one_by_one(tmp_path_factory: pytest.TempPathFactory,
                                                                    sent: list[tuple[str, list[dict[str, str]]]]) -> None:
    """Two sources sending versions of the same records (repeats, updates, soft deletes and
    restores, bad values) in any order: one chunk, or each batch alone, leaves the same history,
    quarantine and per-batch accounting."""
    tmp = tmp_path_factory.mktemp("chunk")
    batches = []
    for source, versions in sent:  # a source's batches are distinct files: a batch id is its content
        rows = [filing(f"（2024）内03民初{v['key']}号", bdje=v["bdje"], gxsj=v["gxsj"], key=v["key"]) | {"sc": v["sc"]}
                for v in versions]
        batches.append(batch(tmp, source, rows + [filing(f"bad {len(batches)}", key="0") | {"sc": "0"}]))
    rules = {s: StagingRules(FILING_MAP, "id", "内03", ("sc", ["1"])) for s in ("c1_filing", "c2_filing")}
    seen = alone_and_together(tmp, batches, rules)
    assert seen[0] == seen[1]


def test_supervision_keys_keep_their_issuer_when_staged_together(wh: Warehouse, tmp_path: Path) -> None:
    """Two procuratorates' batches in one staging statement: the same document number names two
    records, each keyed by its own issuer."""
    row = {"wsbh": "民监〔2024〕1号", "fs": "检察建议", "ah": "（2023）内03民终5号", "fcrq": "2024-03-01",
           "hfrq": None, "hfjg": None, "key": "k"}
    batches = [batch(tmp_path, f"{p}_sup", [row], "supervision", institution=p) for p in ("p1", "p2")]
    rules = {f"{p}_sup": StagingRules(SUP_MAP, "key") for p in ("p1", "p2")}
    assert [c["rows_applied"] for _, c in apply_group(wh, batches, rules, run_id="r1")] == [1, 1]
    assert wh.query("SELECT record_key, source_institution FROM supervision ORDER BY 1").fetchall() == [
        ("p1/民监〔2024〕1号", "p1"), ("p2/民监〔2024〕1号", "p2")]

def test_a_key_snapshot_tombstones_only_what_landed_before_it(wh: Warehouse, tmp_path: Path) -> None:
    """A snapshot applied after later batches (as a released, set-aside one is) deletes only the
    records it could have seen: one created after it was taken lives on."""
    rules = {"c1_filing": StagingRules(FILING_MAP, "id", "内03")}
    first = batch(tmp_path, "c1_filing", [filing("（2024）内03民初1号", key="1"), filing("（2024）内03民初2号", key="2")])
    keys = land(Batch("c1_filing", pa.table({"id": ["1"]}), origin="keys"), tmp_path / "landing",
                record_type="filing", institution="c1", run_id="r1", kind="keys")
    later = batch(tmp_path, "c1_filing", [filing("（2024）内03民初3号", key="3")])
    for b in (first, later, keys):
        list(apply_group(wh, [b], rules, run_id="r1"))
    current = wh.query("SELECT source_key, deleted FROM filing_history WHERE is_current ORDER BY 1").fetchall()
    assert current == [("1", False), ("2", True), ("3", False)]
