"""Enforcement watch from hand-made enforcement cases; each flag worked out by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from connectors.base import SOURCE_ROW, Batch
from hub.config.settings import MartSettings
from hub.marts import enforcement_watch
from hub.normalize.apply import apply
from hub.normalize.warehouse import Warehouse
from hub.pull.landing import land

ENF_MAP = {"case_no": "ah", "filing_date": "larq", "basis_type": "yjlx", "amount_due": "bd", "amount_executed": "dw",
           "closure_type": "jafs", "closure_date": "jarq", "asset_report_order": "bgl", "consumption_restriction": "xf",
           "asset_search_done": "cc", "last_asset_query_date": "cx", "source_updated_at": "gxsj"}
AS_OF = dt.date(2024, 12, 31)
ZB = "终结本次执行程序"


def case(ah: str, larq: str, jafs: str | None = None, jarq: str | None = None, dw: str = "0",
         bgl: str = "是", xf: str = "是", cc: str = "是", gxsj: str = "2024-12-01 10:00:00",
         cx: str | None = None) -> dict[str, Any]:
    return {"ah": ah, "larq": larq, "yjlx": "民事判决书", "bd": "10000", "dw": dw, "jafs": jafs, "jarq": jarq,
            "bgl": bgl, "xf": xf, "cc": cc, "gxsj": gxsj, "cx": cx}


ROWS = [
    # 1 终本 after 40 days (2024-01-01 -> 2024-02-10), everything else in order: zhongben_within_3_months;
    # and no asset query since: 325 days on 2024-12-31, past six months
    case("（2024）内03执1号", "2024-01-01", ZB, "2024-02-10", dw="500"),
    # 2 终本 after 5 months, nothing executed, no asset search, no consumption order: two 终本 rules
    # (assets queried again 2024-09-01: within six months of 12-31)
    case("（2024）内03执2号", "2024-01-01", ZB, "2024-06-01", cc="否", xf="否", cx="2024-09-01"),
    # 3 终本 done right (4 months, 800 executed, orders issued, search exhausted): not flagged
    case("（2024）内03执3号", "2024-01-01", ZB, "2024-05-01", dw="800", cx="2024-10-01"),
    # 4 open since 2024-05-01: 244 days on 2024-12-31, past the 180-day limit
    case("（2024）内03执4号", "2024-05-01"),
    # 5 open since 2024-08-01: 152 days, within the limit, touched 30 days ago: not flagged
    case("（2024）内03执5号", "2024-08-01"),
    # 6 non-litigation application (行审) filed 2024-11-01, undecided: 60 days > 30-day review period
    case("（2024）内03行审6号", "2024-11-01"),
    # 7 行审 filed 2024-12-15: 16 days, past the 7 days for a ruling, within the 30 of a further
    # examination; and not subject to the 180-day rule
    case("（2024）内03行审7号", "2024-12-15"),
    # 8 executed in full: not flagged
    case("（2024）内03执8号", "2024-01-01", "执行完毕", "2024-03-01", dw="10000"),
    # 9 终本 after 4 months with orders, part executed, but no asset search: flagged all the same; its
    # last asset query 2024-06-15, 199 days before 12-31: due again
    case("（2024）内03执9号", "2024-01-01", ZB, "2024-05-01", dw="3000", cc="否", cx="2024-06-15"),
    # 10 行审 ruled on 4 days after acceptance: not flagged
    case("（2024）内03行审10号", "2024-03-01", "裁定准予执行", "2024-03-05"),
    # 11 行审 ruled on 50 days after acceptance: decided, but late
    case("（2024）内03行审11号", "2024-03-01", "裁定准予执行", "2024-04-20"),
    # 12 more executed (12,000) than was due (10,000): over-enforcement
    case("（2024）内03执12号", "2024-01-01", "执行完毕", "2024-03-01", dw="12000"),
    # 13 open 121 days (within the limit), its record unchanged since filing: 121 days untouched > 90
    case("（2024）内03执13号", "2024-09-01", gxsj="2024-09-01 09:00:00"),
]


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    w = Warehouse(tmp_path / "lake", hash_key=b"k")
    table = pa.Table.from_pylist([r | {"id": str(i), SOURCE_ROW: i} for i, r in enumerate(ROWS, 1)])
    batch = land(Batch("c1_enf", table, origin="test"), tmp_path / "landing", record_type="enforcement",
                 institution="c1", run_id="r")
    counts = apply(w, batch, mapping=ENF_MAP, key_column="id", court_code="内03", run_id="r")
    assert counts["rows_applied"] == len(ROWS), counts
    yield w
    w.con.close()


def test_each_flag_names_its_rule_and_why(wh: Warehouse) -> None:
    built = enforcement_watch.build(wh.con, limit_days=180, inactive_days=90, ruling_days=7, review_days=30, as_of=AS_OF)
    assert built == {"mart_enforcement_watch": 12}
    got = sorted((r[0].split("内03")[1], r[1], r[2]) for r in wh.query(
        "SELECT case_no, rule, why FROM mart_enforcement_watch").fetchall())
    assert got == [
        ("执12号", "over_enforcement", "executed 12000.00, more than the 10000.00 to enforce"),
        ("执13号", "open_untouched", "open, and its record unchanged at the court for 121 days; the limit is 90 days"),
        ("执1号", "zhongben_no_requery", "终本 on 2024-02-10, and no asset query recorded since 2024-02-10 (325 days); "
                                          "assets are to be queried again every six months for five years"),
        ("执1号", "zhongben_within_3_months", "终本 40 days after filing; allowed only after 3 months"),
        ("执2号", "zhongben_no_asset_search", "终本 with no exhausted asset search recorded (0.00 of 10000.00 executed)"),
        ("执2号", "zhongben_without_orders", "终本 without both an asset-report order and a consumption-restriction order"),
        ("执4号", "open_past_time_limit", "open 244 days since filing; the limit is 180 days"),
        ("执9号", "zhongben_no_asset_search", "终本 with no exhausted asset search recorded (3000.00 of 10000.00 executed)"),
        ("执9号", "zhongben_no_requery", "终本 on 2024-05-01, and no asset query recorded since 2024-06-15 (199 days); "
                                          "assets are to be queried again every six months for five years"),
        ("行审11号", "non_litigation_past_review_days",
         "non-litigation enforcement application decided 50 days after acceptance; the review period is 30 days"),
        ("行审6号", "non_litigation_past_review_days",
         "non-litigation enforcement application undecided 60 days after acceptance; the review period is 30 days"),
        ("行审7号", "non_litigation_past_ruling_days",
         "non-litigation enforcement application undecided 16 days after acceptance; a ruling is due within 7 days, "
         "later only where the court examines further (up to 30)"),
    ]
    assert wh.query("SELECT DISTINCT court_name, as_of FROM mart_enforcement_watch").fetchall() == [
        ("乌海市中级人民法院", AS_OF)]


def test_limits_come_from_config(wh: Warehouse) -> None:
    # a 150-day limit also catches case 5 (152 days), 130 days untouched clears case 13 (121); a 60-day
    # ruling period and a 90-day review clear every 行审 (60 days at most)
    enforcement_watch.build(wh.con, limit_days=150, inactive_days=130, ruling_days=60, review_days=90, as_of=AS_OF)
    rules = sorted(wh.query("SELECT rule, count(*) FROM mart_enforcement_watch GROUP BY 1").fetchall())
    assert rules == [("open_past_time_limit", 2), ("over_enforcement", 1), ("zhongben_no_asset_search", 2),
                     ("zhongben_no_requery", 2), ("zhongben_within_3_months", 1), ("zhongben_without_orders", 1)]


def test_the_requery_after_zhongben_is_due_six_months_after_the_last_for_five_years(wh: Warehouse) -> None:
    # on 2025-03-15, case 2 (queried 2024-09-01) is due too; by 2029-06-02, five years after case 2's
    # 终本 of 2024-06-01, it no longer is, nor case 3 (终本 2024-05-01)
    for as_of, due in ((dt.date(2025, 3, 15), ["执1号", "执2号", "执9号"]), (dt.date(2029, 6, 2), [])):
        enforcement_watch.build(wh.con, limit_days=180, inactive_days=90, ruling_days=7, review_days=30, as_of=as_of)
        assert sorted(r[0].split("内03")[1] for r in wh.query(
            "SELECT case_no FROM mart_enforcement_watch WHERE rule = 'zhongben_no_requery'").fetchall()) == due


def test_a_ruling_period_longer_than_the_review_is_refused() -> None:
    with pytest.raises(ValidationError, match="non_litigation_ruling_days \\(40\\) is longer"):
        MartSettings(non_litigation_ruling_days=40)
