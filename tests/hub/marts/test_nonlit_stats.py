"""Quarterly non-litigation enforcement supervision statistics from hand-made measures; every
figure worked out by hand in the comments, and the workbook checked against the Parquet."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook

from hub.config import DEFAULT_REPLY_DAYS
from hub.marts import nonlit_stats, replies, report_files
from hub.normalize.warehouse import Warehouse
from tests.sources import load

ENF_MAP = {"case_no": "ah", "filing_date": "larq", "basis_type": "yjlx"}
SUP_MAP = {"doc_no": "wsbh", "measure": "fs", "issuer": "fcjg", "target_case_no": "ah", "issued_date": "fcrq",
           "due_date": "hfqx", "replied_date": "hfrq", "reply_result": "hfjg", "focus": "jdsx",
           "extended_due_date": "yqqx"}
WH, HBW, WD = "乌海市人民检察院", "海勃湾区人民检察院", "乌达区人民检察院"
AS_OF = dt.date(2024, 10, 15)  # the report due 2024-10-05 covers 2024Q3

ENFORCEMENT = [
    {"ah": "（2024）内0302执1号", "larq": "2024-03-01", "yjlx": "仲裁裁决书"},    # civil non-litigation
    {"ah": "（2024）内0302执2号", "larq": "2024-03-01", "yjlx": "公证债权文书"},  # civil non-litigation
    {"ah": "（2024）内0302执3号", "larq": "2024-03-01", "yjlx": "民事判决书"},    # a judgment: litigation, not counted
    {"ah": "（2024）内0302执4号", "larq": "2024-03-01", "yjlx": "行政决定书"},    # administrative non-litigation
    {"ah": "（2024）内0302行审5号", "larq": "2024-03-01", "yjlx": "行政决定书"},  # 行审 review
    {"ah": "（2024）内0302执6号", "larq": "2024-03-01", "yjlx": "仲裁调解书"},    # civil non-litigation too
]


def sup(n: int, fs: str, ah: str, fcrq: str, *, fcjg: str = WH, hfqx: str | None = None, hfrq: str | None = None,
        hfjg: str | None = None, jdsx: str | None = None, yqqx: str | None = None) -> dict[str, str | None]:
    return {"wsbh": f"乌检执监〔2024〕{n}号", "fs": fs, "fcjg": fcjg, "ah": ah, "fcrq": fcrq, "hfqx": hfqx,
            "hfrq": hfrq, "hfjg": hfjg, "jdsx": jdsx, "yqqx": yqqx}


SUPERVISION = [
    # 1 civil Q3: replied 2024-08-01 (by 09-30), adopted
    sup(1, "检察建议", "（2024）内0302执1号", "2024-07-10", hfrq="2024-08-01", hfjg="采纳", jdsx="消极执行"),
    # 2 civil Q3: replied 2024-10-20, after the quarter: unanswered at 09-30; due 08-15 + 90 = 11-13: awaiting
    sup(2, "纠正违法", "（2024）内0302执2号", "2024-08-15", hfrq="2024-10-20", hfjg="部分采纳", jdsx="超标的执行"),
    # 3 targets a judgment's enforcement: not non-litigation, not counted
    sup(3, "检察建议", "（2024）内0302执3号", "2024-07-20"),
    # 4 administrative Q2: due 2024-06-01 by the document, unanswered at 06-30: overdue
    sup(4, "检察建议", "（2024）内0302执4号", "2024-05-02", hfqx="2024-06-01", jdsx="滥用终本"),
    # 5 administrative Q3: a protest of a 行审 ruling (another type: no column of its own); due 09-01 + 30 =
    # 10-01, after 09-30: awaiting
    sup(5, "抗诉", "（2024）内0302行审5号", "2024-09-01"),
    # 6 administrative Q3, the district procuratorate: replied 09-20, not adopted
    sup(6, "检察建议", "（2024）内0302行审5号", "2024-09-10", fcjg=HBW, hfrq="2024-09-20", hfjg="不采纳",
        jdsx="违法执行和解"),
    # 7 administrative Q3 by its case number alone (行审, not in the enforcement table): replied, adopted
    sup(7, "检察建议", "（2024）内0302行审9号", "2024-07-01", hfrq="2024-07-30", hfjg="采纳"),
    # 8 a court's judicial recommendation: not a procuratorate's measure, not counted
    sup(8, "司法建议", "（2024）内0302执1号", "2024-07-05", fcjg="乌海市海勃湾区人民法院"),
    # 10 civil Q3, on an arbitral mediation statement: a false arbitration, awaiting (due 09-05 + 90)
    sup(10, "检察建议", "（2024）内0302执6号", "2024-09-05", jdsx="虚假仲裁"),
]

ZERO = dict.fromkeys(nonlit_stats.COUNTS, 0)


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = Warehouse(tmp_path / "lake", hash_key=b"k")
    load(w, tmp_path, "enforcement", ENFORCEMENT, ENF_MAP, court_code="内0302", source="court")
    load(w, tmp_path, "supervision", SUPERVISION, SUP_MAP, source="proc")
    replies.build(w.con, DEFAULT_REPLY_DAYS, AS_OF)
    yield w
    w.con.close()


def test_each_procuratorate_quarter_and_kind_worked_out_by_hand(wh: Warehouse) -> None:
    # quarters 2024Q2 (first measure) to 2024Q3 (last complete) x 2 kinds x 3 procuratorates
    assert nonlit_stats.build(wh.con, [WH, HBW, WD], AS_OF) == {"mart_nonlit_quarterly": 12}
    cols = ["kind", "quarter", "procuratorate", *nonlit_stats.COUNTS, "adoption_rate"]
    rows = {(r[0], r[1], r[2]): dict(zip(cols[3:], r[3:])) for r in wh.query(
        f"SELECT {', '.join(cols)} FROM mart_nonlit_quarterly").fetchall()}
    expected = {key: ZERO | {"adoption_rate": None} for key in rows}
    expected[("民事", "2024Q3", WH)] = ZERO | {"measures": 3, "recommendations": 2, "correction_notices": 1,
                                              "passive_enforcement": 1, "over_enforcement": 1, "false_arbitration": 1,
                                              "replied": 1, "adopted": 1, "awaiting_reply": 2, "adoption_rate": 1.0}
    expected[("行政", "2024Q3", WH)] = ZERO | {"measures": 2, "other_measures": 1, "recommendations": 1, "replied": 1,
                                              "adopted": 1, "awaiting_reply": 1, "adoption_rate": 1.0}
    expected[("行政", "2024Q3", HBW)] = ZERO | {"measures": 1, "recommendations": 1, "unlawful_settlement": 1,
                                               "replied": 1, "not_adopted": 1, "adoption_rate": 0.0}
    expected[("行政", "2024Q2", WH)] = ZERO | {"measures": 1, "recommendations": 1, "zhongben_abuse": 1, "overdue": 1,
                                              "adoption_rate": None}
    assert set(rows) == {(k, q, p) for k in ("民事", "行政") for q in ("2024Q2", "2024Q3") for p in (WH, HBW, WD)}
    assert rows == expected
    assert wh.query("SELECT DISTINCT quarter, quarter_end, due_by FROM mart_nonlit_quarterly ORDER BY 1").fetchall() == [
        ("2024Q2", dt.date(2024, 6, 30), dt.date(2024, 7, 5)), ("2024Q3", dt.date(2024, 9, 30), dt.date(2024, 10, 5))]


def test_a_quarter_without_measures_still_files_zeros(wh: Warehouse) -> None:
    """On 2025-01-02 the 2024Q4 table is due: no measure was issued in it, every procuratorate reports 0."""
    nonlit_stats.build(wh.con, [WH, HBW, WD], dt.date(2025, 1, 2))
    assert wh.query("SELECT count(*), sum(measures) FROM mart_nonlit_quarterly WHERE quarter = '2024Q4'").fetchone() == (6, 0)


def test_last_complete_quarter() -> None:
    assert [nonlit_stats.last_complete_quarter(dt.date(2024, m, d)) for m, d in ((1, 1), (3, 31), (4, 1), (12, 31))] == [
        "2023Q4", "2023Q4", "2024Q1", "2024Q3"]


def test_workbook_has_chinese_headers_and_totals_equal_the_parquet(wh: Warehouse, tmp_path: Path) -> None:
    nonlit_stats.build(wh.con, [WH, HBW, WD], AS_OF)
    files = report_files.quarterly_statistics(wh.con, "2024Q3", tmp_path / "reports")
    folder = tmp_path / "reports" / "2024Q3"
    assert sorted(files) == sorted([folder / "civil.parquet", folder / "administrative.parquet",
                                    folder / "统计表_2024Q3.xlsx"])
    book = load_workbook(folder / "统计表_2024Q3.xlsx")
    assert book.sheetnames == ["附件1 民事", "附件2 行政"]
    columns = nonlit_stats.COLUMNS["mart_nonlit_quarterly"]
    for sheet, name in zip(book.worksheets, ("civil", "administrative")):
        table = pq.read_table(folder / f"{name}.parquet")
        assert table.num_rows == 3 and set(table.column("quarter").to_pylist()) == {"2024Q3"}
        values = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert "2024年第3季度" in values[0][0] and "报送期限：2024-10-05" in values[1][0]
        header = values[2]
        assert header[0] == "检察院" and columns["measures"][0] in header and "采纳率" in header
        body, total = values[3:-1], values[-1]
        assert total[0] == "合计" and [r[0] for r in body] == sorted(table.column("procuratorate").to_pylist())
        by_zh = {zh: col for col, (zh, _en) in columns.items()}
        for i, zh in enumerate(header[1:], 1):
            col = by_zh[zh]
            if col in nonlit_stats.COUNTS:
                assert total[i] == sum(table.column(col).to_pylist()), zh
    # each table has the focuses the agreement names for it
    civil_header, admin_header = (next(book[s].iter_rows(min_row=3, max_row=3, values_only=True))
                                  for s in ("附件1 民事", "附件2 行政"))
    assert {"超标的执行", "虚假仲裁", "违法公证", "滥用终本"} <= set(civil_header) and "违法执行和解" not in civil_header
    assert {"违法执行和解", "裁执分离未执行", "滥用终本"} <= set(admin_header) and "超标的执行" not in admin_header
    assert "抗诉" not in civil_header and "其他监督方式" in civil_header
    admin = {r[0]: r for r in list(book["附件2 行政"].iter_rows(values_only=True))[3:]}
    header = next(book["附件2 行政"].iter_rows(min_row=3, max_row=3, values_only=True))
    assert dict(zip(header, admin["合计"]))["监督案件数"] == 3  # measures 5, 6, 7
    assert dict(zip(header, admin["合计"]))["采纳率"] == 0.5  # 1 adopted of 2 replied


def test_an_extension_agreed_later_does_not_change_a_filed_quarter(wh: Warehouse, tmp_path: Path) -> None:
    # 11: administrative Q2, due 2024-06-02 by the document and unanswered at 06-30, so overdue in the
    # quarter as filed; the parties later agreed 08-01, which does not make Q2's figure "awaiting"
    load(wh, tmp_path, "supervision", [sup(11, "检察建议", "（2024）内0302执4号", "2024-05-03", hfqx="2024-06-02",
                                           yqqx="2024-08-01")], SUP_MAP, source="proc3")
    replies.build(wh.con, DEFAULT_REPLY_DAYS, AS_OF)
    nonlit_stats.build(wh.con, [WH, HBW, WD], AS_OF)
    assert wh.query("SELECT due_date, due_date_from, original_due_date FROM mart_replies WHERE doc_no LIKE '%〕11号'"
                    ).fetchone() == (dt.date(2024, 8, 1), "extended", dt.date(2024, 6, 2))
    assert wh.query("SELECT measures, awaiting_reply, overdue FROM mart_nonlit_quarterly "
                    "WHERE quarter = '2024Q2' AND kind = '行政' AND procuratorate = ?", [WH]).fetchone() == (2, 0, 2)


def test_a_quarter_still_running_is_counted_as_of_today(wh: Warehouse, tmp_path: Path) -> None:
    # 9: civil, due 2024-09-28 by the document, unanswered. On 2024-09-25 (2024Q3 still running) it
    # is awaiting a reply, as are 2 (due 11-13) and 10 (due 12-04); counted to 09-30 once the quarter is
    # over, it is overdue
    load(wh, tmp_path, "supervision", [sup(9, "检察建议", "（2024）内0302执1号", "2024-07-02", hfqx="2024-09-28")],
         SUP_MAP, source="proc2")
    d = dt.date
    for as_of, counted_to, awaiting, overdue in ((d(2024, 9, 25), d(2024, 9, 25), 3, 0), (d(2024, 10, 15), d(2024, 9, 30), 2, 1)):
        replies.build(wh.con, DEFAULT_REPLY_DAYS, as_of)
        nonlit_stats.build(wh.con, [WH, HBW, WD], as_of)
        assert wh.query("SELECT counted_to, measures, replied, awaiting_reply, overdue FROM mart_nonlit_quarterly "
                        "WHERE quarter = '2024Q3' AND kind = '民事' AND procuratorate = ?", [WH]).fetchall() == [
            (counted_to, 4, 1, awaiting, overdue)]


def test_a_measure_to_an_agency_counts_by_its_focus_else_its_domain(wh: Warehouse, tmp_path: Path) -> None:
    agency_map = {"doc_no": "wsbh", "measure": "fs", "issuer": "fcjg", "target_agency": "dx", "issued_date": "fcrq",
                  "focus": "jdsx", "domain": "ly"}

    def to(n: int, agency: str, focus: str | None, domain: str) -> dict[str, str | None]:
        return {"wsbh": f"乌检行监〔2024〕{n}号", "fs": "检察建议", "fcjg": WD, "dx": agency, "fcrq": "2024-08-01",
                "jdsx": focus, "ly": domain}

    load(wh, tmp_path, "supervision", [
        to(12, "乌海市城市管理综合执法局", "裁执分离未执行", "民事"),  # a 行政-only focus: 行政, whatever the domain says
        to(13, "乌海仲裁委员会", "消极执行", "民事"),  # a focus of both tables: the domain's
        to(14, "乌海市自然资源局", None, "行政"),  # no focus: nothing says it is non-litigation enforcement
        to(15, "乌海市公安局", "消极执行", "刑事"),  # a focus of both, a domain of neither
    ], agency_map, source="proc4")
    replies.build(wh.con, DEFAULT_REPLY_DAYS, AS_OF)
    nonlit_stats.build(wh.con, [WH, HBW, WD], AS_OF)
    assert wh.query("SELECT kind, measures, separation_not_executed, passive_enforcement FROM mart_nonlit_quarterly "
                    "WHERE quarter = '2024Q3' AND procuratorate = ? ORDER BY kind", [WD]).fetchall() == [
        ("民事", 1, 0, 1), ("行政", 1, 1, 0)]
