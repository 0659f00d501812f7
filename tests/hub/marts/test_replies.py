"""Reply tracking marts from hand-made supervision measures; every figure worked out by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from connectors.base import SOURCE_ROW, Batch
from hub.config import DEFAULT_REPLY_DAYS, MartSettings
from hub.marts import replies
from hub.normalize.apply import apply
from hub.normalize.warehouse import Warehouse
from hub.pull.landing import land

SUP_MAP = {"doc_no": "wsbh", "measure": "fs", "target_case_no": "ah", "issued_date": "fcrq", "due_date": "hfqx",
           "replied_date": "hfrq", "reply_result": "hfjg", "target_agency": "dxjg", "extended_due_date": "yqqx",
           "follow_up_of": "gjws"}
AS_OF = dt.date(2024, 6, 30)
SAMR, EPB = "乌海市市场监督管理局", "乌海市生态环境局"


def measure(n: int, fs: str, ah: str | None, fcrq: str, hfqx: str | None = None, hfrq: str | None = None,
            hfjg: str = "采纳", dxjg: str | None = None, yqqx: str | None = None, gjws: int | None = None) -> dict[str, Any]:
    return {"wsbh": f"乌检民监〔2024〕{n}号", "fs": fs, "ah": ah, "fcrq": fcrq, "hfqx": hfqx, "hfrq": hfrq,
            "hfjg": hfjg if hfrq else None, "dxjg": dxjg, "yqqx": yqqx,
            "gjws": f"乌检民监〔2024〕{gjws}号" if gjws else None}


ROWS = [
    # 1 document deadline 2024-04-01, replied 2024-03-20: on time, 0 days
    measure(1, "检察建议", "（2023）内03执5号", "2024-01-02", hfqx="2024-04-01", hfrq="2024-03-20"),
    # 2 no deadline stated: 检察建议 default 90 days -> 2024-01-10 + 90 = 2024-04-09; replied 2024-04-19: 10 days late
    measure(2, "检察建议", "（2023）内03执6号", "2024-01-10", hfrq="2024-04-19"),
    # 3 抗诉 default 30 days -> 2024-05-01 + 30 = 2024-05-31; unanswered on 2024-06-30: overdue 30 days
    measure(3, "抗诉", "（2023）内03民终7号", "2024-05-01"),
    # 4 document deadline 2024-07-15, unanswered: pending (not yet due on 2024-06-30)
    measure(4, "再审检察建议", "（2023）内0302民初8号", "2024-04-15", hfqx="2024-07-15"),
    # 5 纠正违法 default 90 days -> 2024-02-01 + 90 = 2024-05-01; unanswered: overdue 60 days
    measure(5, "纠正违法", "（2023）内0302执9号", "2024-02-01"),
    # 6 due exactly today (2024-06-30), unanswered: pending, overdue only from tomorrow
    measure(6, "检察建议", "（2023）内0302执10号", "2024-04-01", hfqx="2024-06-30"),
    # 7 to an agency, no case: due 2024-04-01, extended to 2024-07-31, unanswered: pending
    measure(7, "检察建议", None, "2024-02-01", hfqx="2024-04-01", dxjg=SAMR, yqqx="2024-07-31"),
    # 8 to the same agency: default 90 days -> 2024-03-01 + 90 = 2024-05-30, unanswered: overdue 31 days
    measure(8, "检察建议", None, "2024-03-01", dxjg=SAMR),
    # 9 to another agency, answered in time but rejected; 10 follows it up, and is adopted in time
    measure(9, "检察建议", None, "2024-01-15", hfqx="2024-03-15", hfrq="2024-03-10", hfjg="不采纳", dxjg=EPB),
    measure(10, "检察建议", None, "2024-04-01", hfqx="2024-06-01", hfrq="2024-05-20", dxjg=EPB, gjws=9),
    # 11 the court is told the parties settled during the review: no reply due, not tracked
    measure(11, "和解通知", "（2023）内03民终12号", "2024-03-01"),
]


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    w = Warehouse(tmp_path / "lake", hash_key=b"k")
    table = pa.Table.from_pylist([r | {SOURCE_ROW: i} for i, r in enumerate(ROWS, 1)])
    batch = land(Batch("p1_sup", table, origin="test"), tmp_path / "landing", record_type="supervision",
                 institution="p1", run_id="r")
    counts = apply(w, batch, mapping=SUP_MAP, key_column="wsbh", court_code=None, run_id="r")
    assert counts["rows_applied"] == len(ROWS)
    yield w
    w.con.close()


def test_each_measure_gets_its_deadline_status_and_days_overdue(wh: Warehouse) -> None:
    assert replies.build(wh.con, DEFAULT_REPLY_DAYS, AS_OF) == {
        "mart_replies": 10, "mart_reply_escalation": 3, "mart_agency_recommendations": 2, "mart_follow_up": 4}
    got = {r[0].split("〕")[1]: r[1:] for r in wh.query(
        "SELECT doc_no, due_date, due_date_from, status, days_overdue FROM mart_replies").fetchall()}
    d = dt.date
    assert got == {
        "1号": (d(2024, 4, 1), "document", "replied_on_time", 0),
        "2号": (d(2024, 4, 9), "default", "replied_late", 10),
        "3号": (d(2024, 5, 31), "default", "overdue", 30),
        "4号": (d(2024, 7, 15), "document", "pending", 0),
        "5号": (d(2024, 5, 1), "default", "overdue", 60),
        "6号": (d(2024, 6, 30), "document", "pending", 0),
        "7号": (d(2024, 7, 31), "extended", "pending", 0),
        "8号": (d(2024, 5, 30), "default", "overdue", 31),
        "9号": (d(2024, 3, 15), "document", "replied_on_time", 0),
        "10号": (d(2024, 6, 1), "document", "replied_on_time", 0),
    }


def test_escalation_lists_overdue_measures_per_target_court(wh: Warehouse) -> None:
    replies.build(wh.con, DEFAULT_REPLY_DAYS, AS_OF)
    rows = wh.query("SELECT target_court_code, target_court_name, target_agency, overdue, max_days_overdue, "
                    "oldest_overdue_doc_no, replied_late, pending FROM mart_reply_escalation").fetchall()
    # 内0302: measure 5 overdue (60 days), 4 and 6 pending; the market regulator: 8 overdue (31 days), 7 pending
    # (extended); 内03: measure 3 overdue (30 days), 2 replied late; the environment bureau answered everything
    assert rows == [
        ("内0302", "乌海市海勃湾区人民法院", None, 1, 60, "乌检民监〔2024〕5号", 0, 2),
        (None, None, SAMR, 1, 31, "乌检民监〔2024〕8号", 0, 1),
        ("内03", "乌海市中级人民法院", None, 1, 30, "乌检民监〔2024〕3号", 1, 0),
    ]


def test_recommendations_to_agencies_are_summed_per_agency(wh: Warehouse) -> None:
    replies.build(wh.con, DEFAULT_REPLY_DAYS, AS_OF)
    rows = wh.query("SELECT * EXCLUDE (as_of) FROM mart_agency_recommendations").fetchall()
    # (agency, measure, issued, replied, on time, late, pending, overdue, extended, adopted, partly, not, rate)
    assert rows == [
        (SAMR, "检察建议", 2, 0, 0, 0, 1, 1, 1, 0, 0, 0, None),
        (EPB, "检察建议", 2, 2, 2, 0, 0, 0, 0, 1, 0, 1, 0.5),
    ]


def test_rejected_and_unanswered_measures_are_listed_with_their_follow_up(wh: Warehouse) -> None:
    replies.build(wh.con, DEFAULT_REPLY_DAYS, AS_OF)
    rows = wh.query("SELECT doc_no, reason, status, follow_up_doc_no, follow_up_issued_date, days_waiting "
                    "FROM mart_follow_up").fetchall()
    # overdue 5 (deadline 2024-05-01: 60 days), 8 (05-30: 31) and 3 (05-31: 30) wait; 9 was rejected, 10 followed it up
    assert [(r[0].split("〕")[1], *r[1:]) for r in rows] == [
        ("5号", "unanswered", "awaiting_follow_up", None, None, 60),
        ("8号", "unanswered", "awaiting_follow_up", None, None, 31),
        ("3号", "unanswered", "awaiting_follow_up", None, None, 30),
        ("9号", "not_adopted", "followed_up", "乌检民监〔2024〕10号", dt.date(2024, 4, 1), None),
    ]
    assert wh.query("SELECT link, target, resolved FROM links WHERE link = 'follow_up_of'").fetchall() == [
        ("follow_up_of", "乌检民监〔2024〕9号", True)]


def test_a_measure_needs_a_target_case_unless_it_names_an_agency(tmp_path: Path) -> None:
    with Warehouse(tmp_path / "lake", hash_key=b"k") as w:
        rows = [measure(1, "检察建议", None, "2024-02-01", dxjg=SAMR), measure(2, "检察建议", None, "2024-02-01"),
                measure(3, "检察建议", "无案号", "2024-02-01", dxjg=SAMR)]
        table = pa.Table.from_pylist([r | {SOURCE_ROW: i} for i, r in enumerate(rows, 1)])
        batch = land(Batch("p1_sup", table, origin="test"), tmp_path / "landing", record_type="supervision",
                     institution="p1", run_id="r")
        counts = apply(w, batch, mapping=SUP_MAP, key_column="wsbh", court_code=None, run_id="r")
        assert (counts["rows_applied"], counts["rows_quarantined"]) == (1, 2)
        assert w.query("SELECT source_row, rule, reason FROM quarantine ORDER BY 1").fetchall() == [
            (2, "missing_target_case_no", "required field target_case_no (被监督案号) is empty, and no target_agency "
                                          "names another target"),
            (3, "bad_target_case_no", "target_case_no 无案号 is not a valid case number (（年度）法院代字类型代字编号号)")]
        assert w.query("SELECT target_agency, target_case_no FROM supervision").fetchall() == [(SAMR, None)]


def test_a_later_day_and_another_period_move_the_statuses(wh: Warehouse) -> None:
    # 15 days later, measure 6 (due 2024-06-30) is overdue by 15; measure 4 (due 2024-07-15) is not yet
    replies.build(wh.con, DEFAULT_REPLY_DAYS, dt.date(2024, 7, 15))
    assert wh.query("SELECT status, days_overdue FROM mart_replies WHERE doc_no LIKE '%〕6号'").fetchone() == ("overdue", 15)
    assert wh.query("SELECT status FROM mart_replies WHERE doc_no LIKE '%〕4号'").fetchone() == ("pending",)
    # a 60-day protest period: measure 3 due 2024-05-01 + 60 = 2024-06-30, so pending on AS_OF
    replies.build(wh.con, DEFAULT_REPLY_DAYS | {"抗诉": 60}, AS_OF)
    assert wh.query("SELECT due_date, status FROM mart_replies WHERE doc_no LIKE '%〕3号'").fetchone() == (
        dt.date(2024, 6, 30), "pending")


def test_mart_columns_carry_chinese_and_english_comments(wh: Warehouse) -> None:
    replies.build(wh.con, DEFAULT_REPLY_DAYS, AS_OF)
    comments = dict(wh.query("SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'mart_replies'").fetchall())
    assert set(comments) == set(replies.COLUMNS["mart_replies"])
    assert comments["status"].startswith("回复状态 / pending")


def test_reply_periods_are_validated_and_merged_over_the_defaults() -> None:
    assert MartSettings.model_validate({"reply_deadline_days": {"抗诉": 45}}).reply_deadline_days == DEFAULT_REPLY_DAYS | {"抗诉": 45}
    with pytest.raises(ValueError, match="口头建议: not a supervision measure"):
        MartSettings.model_validate({"reply_deadline_days": {"口头建议": 10}})
    with pytest.raises(ValueError, match="和解通知: not a supervision measure that takes a reply"):
        MartSettings.model_validate({"reply_deadline_days": {"和解通知": 10}})
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        MartSettings.model_validate({"reply_deadline_days": {"抗诉": 0}})
