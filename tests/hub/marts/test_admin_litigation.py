"""Annual administrative-litigation figures and the white paper's chart from hand-made cases;
every figure worked out by hand in the comments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hub.errors import ReportError
from hub.marts import admin_litigation, report_files
from hub.normalize.warehouse import Warehouse
from tests.sources import load

FIL_MAP = {"case_no": "ah", "filing_date": "larq", "defendant_agency": "bsxzjg", "cause": "ay"}
JUD_MAP = {"case_no": "ah", "decided_date": "cprq", "outcome": "cpjg", "document_type": "wslx",
           "defendant_agency": "bsxzjg", "agency_head_appeared": "fzrcz", "loss_reason": "bysy"}
A, B = "乌海市自然资源局", "乌海市生态环境局"
UNNAMED = admin_litigation.UNNAMED_AGENCY

FILINGS = [
    {"ah": "（2023）内03行初1号", "larq": "2023-03-01", "bsxzjg": A, "ay": "行政处罚"},
    {"ah": "（2023）内03行初2号", "larq": "2023-05-01", "bsxzjg": A, "ay": "行政处罚"},
    {"ah": "（2023）内03行初3号", "larq": "2023-06-01", "bsxzjg": B, "ay": "行政许可"},
    {"ah": "（2024）内03行初4号", "larq": "2024-01-10", "bsxzjg": A, "ay": "行政处罚"},
    {"ah": "（2023）内03行初5号", "larq": "2023-07-01", "bsxzjg": None, "ay": "行政强制"},
    {"ah": "（2023）内03民初6号", "larq": "2023-02-01", "bsxzjg": None, "ay": "买卖合同纠纷"},  # civil: only per 10,000
    {"ah": "（2024）内03行终7号", "larq": "2024-02-01", "bsxzjg": A, "ay": "行政处罚"},  # case 1's appeal
    {"ah": "（2023）内03行初8号", "larq": "2023-08-01", "bsxzjg": B, "ay": "行政许可"},
    {"ah": "（2024）内03民初9号", "larq": "2024-03-01", "bsxzjg": None, "ay": "借款合同纠纷"},
    {"ah": "（2023）内03行初10号", "larq": "2023-09-01", "bsxzjg": B, "ay": "行政许可"},
]
JUDGMENTS = [
    # A 2023: revoked (lost), head appeared
    {"ah": "（2023）内03行初1号", "cprq": "2023-09-01", "cpjg": "撤销", "wslx": "判决书", "bsxzjg": A, "fzrcz": "是",
     "bysy": "违反法定程序"},
    # A 2023 (agency from the filing): claim dismissed, head absent
    # (a reason recorded on a case the agency won counts nowhere)
    {"ah": "（2023）内03行初2号", "cprq": "2023-10-01", "cpjg": "驳回", "wslx": "判决书", "bsxzjg": None, "fzrcz": "否",
     "bysy": "明显不当"},
    # B 2023: withdrawn (settled), appearance not recorded
    {"ah": "（2023）内03行初3号", "cprq": "2023-11-01", "cpjg": "撤诉", "wslx": "裁定书", "bsxzjg": B, "fzrcz": None},
    # A 2024: declared unlawful (lost), head appeared
    {"ah": "（2024）内03行初4号", "cprq": "2024-03-01", "cpjg": "确认违法", "wslx": "判决书", "bsxzjg": A, "fzrcz": "是"},
    # no agency anywhere, 2023: mediated (a 调解书), head appeared
    {"ah": "（2023）内03行初5号", "cprq": "2023-12-01", "cpjg": "调解", "wslx": "调解书", "bsxzjg": None, "fzrcz": "是"},
    # civil: left out
    {"ah": "（2023）内03民初6号", "cprq": "2023-08-01", "cpjg": "支持", "wslx": "判决书", "bsxzjg": None, "fzrcz": None},
    # A 2024, on appeal: revoked (lost on appeal), head absent
    {"ah": "（2024）内03行终7号", "cprq": "2024-05-01", "cpjg": "撤销", "wslx": "判决书", "bsxzjg": A, "fzrcz": "否",
     "bysy": "主要证据不足"},
    # B 2023: a mediation agreement granting part of the claim: settled, not lost; head appeared
    {"ah": "（2023）内03行初8号", "cprq": "2023-12-10", "cpjg": "部分支持", "wslx": "调解书", "bsxzjg": B, "fzrcz": "是"},
    # B 2023: withdrawn by ruling, no hearing: settled, and not a case heard although "否" is recorded
    {"ah": "（2023）内03行初10号", "cprq": "2023-10-15", "cpjg": "撤诉", "wslx": "裁定书", "bsxzjg": B, "fzrcz": "否"},
]
FIGURES = admin_litigation.FIGURES


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = Warehouse(tmp_path / "lake", hash_key=b"k")
    load(w, tmp_path, "filing", FILINGS, FIL_MAP, court_code="内03", source="fil")
    load(w, tmp_path, "judgment", JUDGMENTS, JUD_MAP, court_code="内03", source="jud")
    yield w
    w.con.close()


def test_figures_per_agency_and_year(wh: Warehouse) -> None:
    assert FIGURES == ["cases_filed", "first_instance_filed", "decided", "lost", "loss_rate", "appeal_decided",
                       "appeal_lost", "appeal_loss_rate", "head_recorded", "head_appeared", "head_appearance_rate",
                       "settled", "settlement_rate"]
    assert admin_litigation.build(wh.con, {2023: 200_000}) == {
        "mart_admin_litigation": 4, "mart_admin_litigation_year": 2, "mart_admin_loss_reasons": 3}
    got = {(r[0], r[1]): r[2:] for r in wh.query(f"SELECT year, agency, {', '.join(FIGURES)} FROM mart_admin_litigation").fetchall()}
    assert got == {
        # filed 2, both first instance and decided, lost 1 (撤销) -> 0.5; no appeal; heard 2, head appeared 1 -> 0.5
        (2023, A): (2, 2, 2, 1, 0.5, 0, 0, None, 2, 1, 0.5, 0, 0.0),
        # filed 3, decided 3: two withdrawals (rulings, not heard) and a mediation agreement (heard, head appeared;
        # settled, and not lost although it grants part of the claim): settled 3 -> 1.0
        (2023, B): (3, 3, 3, 0, 0.0, 0, 0, None, 1, 1, 1.0, 3, 1.0),
        # the agency unnamed on filing and decision: mediated, head appeared
        (2023, UNNAMED): (1, 1, 1, 0, 0.0, 0, 0, None, 1, 1, 1.0, 1, 1.0),
        # 2024: lost at first instance (确认违法), and case 1 lost on appeal: each in its own rate, neither
        # counted twice; heard 2 (head appeared in one) -> 0.5
        (2024, A): (2, 1, 1, 1, 1.0, 1, 1, 1.0, 2, 1, 0.5, 0, 0.0),
    }
    years = {r[0]: r[1:] for r in wh.query(
        f"SELECT year, agencies, {', '.join(FIGURES)}, civil_first_instance_filed, population, cases_per_10k "
        "FROM mart_admin_litigation_year").fetchall()}
    assert years == {
        # 3 agencies; 6 filed and decided at first instance, lost 1 -> 0.1667; heard 4, head appeared 3 -> 0.75;
        # settled 4 -> 0.6667; 6 administrative and 1 civil first-instance cases per 200,000 residents = 0.35 per 10,000
        2023: (3, 6, 6, 6, 1, 0.1667, 0, 0, None, 4, 3, 0.75, 4, 0.6667, 1, 200_000, 0.35),
        # no population configured for 2024: no rate
        2024: (1, 2, 1, 1, 1, 1.0, 1, 1, 1.0, 2, 1, 0.5, 0, 0.0, 1, None, None),
    }


def test_cases_lost_by_reason_per_year_and_instance(wh: Warehouse) -> None:
    admin_litigation.build(wh.con, None)
    assert wh.query("SELECT * FROM mart_admin_loss_reasons").fetchall() == [
        (2023, "行初", "违反法定程序", 1, 1.0),  # case 1; case 2 was won, its reason counts nowhere
        (2024, "行初", admin_litigation.UNSTATED_REASON, 1, 1.0),  # case 4 lost, no reason recorded
        (2024, "行终", "主要证据不足", 1, 1.0),  # case 7, on appeal
    ]


def test_one_population_for_every_year(wh: Warehouse) -> None:
    admin_litigation.build(wh.con, 50_000)
    assert wh.query("SELECT year, cases_per_10k FROM mart_admin_litigation_year ORDER BY year").fetchall() == [
        (2023, 1.4), (2024, 0.4)]  # 7 and 2 first-instance civil and administrative cases per 50,000 residents


def test_chart_and_its_data_for_the_white_paper(wh: Warehouse, tmp_path: Path) -> None:
    admin_litigation.build(wh.con, None)
    assert report_files.chart_year(wh.con, 2025) == 2024 and report_files.chart_year(wh.con, 2024) == 2023
    assert report_files.chart_year(wh.con, 2020) == 2024  # nothing before: the latest year there is
    png, parquet = sorted(report_files.admin_litigation_chart(wh.con, 2023, tmp_path / "charts"), key=lambda p: p.suffix != ".png")
    assert png.name == "2023.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert sorted(pq.read_table(parquet).column("agency").to_pylist()) == sorted([A, B, UNNAMED])
    with pytest.raises(ReportError, match="no administrative cases in 2019"):
        report_files.admin_litigation_chart(wh.con, 2019, tmp_path / "charts")
