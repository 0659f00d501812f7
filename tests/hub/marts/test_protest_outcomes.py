"""Protest outcomes from hand-made measures, retrial filings and judgments; every result worked out by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.base import SOURCE_ROW, Batch
from hub.marts import protest_outcomes
from hub.normalize.apply import apply as apply_batch
from hub.normalize.warehouse import Warehouse
from hub.pull.landing import land

FILING_MAP = {"case_no": "ah", "filing_date": "larq", "original_case_no": "ysah"}
JUDG_MAP = {"case_no": "ah", "document_type": "wslx", "outcome": "cpjg", "decided_date": "cprq"}
SUP_MAP = {"doc_no": "wsbh", "measure": "fs", "target_case_no": "ah", "issued_date": "fcrq", "reply_result": "hfjg",
           "replied_date": "hfrq"}


def apply(wh: Warehouse, tmp_path: Path, source: str, rt: str, rows: list[dict[str, Any]], mapping: dict[str, str],
          court: str | None) -> None:
    table = pa.Table.from_pylist([r | {SOURCE_ROW: i} for i, r in enumerate(rows, 1)])
    batch = land(Batch(source, table, origin="test"), tmp_path / "landing", record_type=rt, institution="p1", run_id="r")
    key = "wsbh" if rt == "supervision" else "ah"
    assert apply_batch(wh, batch, mapping=mapping, key_column=key, court_code=court, run_id="r")["rows_applied"] == len(rows)


def measure(n: int, fs: str, target: str, issued: str, reply: str | None = None) -> dict[str, Any]:
    return {"wsbh": f"乌检民监〔2024〕{n}号", "fs": fs, "ah": target, "fcrq": issued, "hfjg": reply,
            "hfrq": "2024-03-01" if reply else None}


def test_each_protest_gets_its_retrial_and_result_and_each_issuer_its_change_rate(tmp_path: Path) -> None:
    filings = [
        {"ah": "（2024）内03民再1号", "larq": "2024-03-01", "ysah": "（2023）内03民终1号"},
        {"ah": "（2024）内03民再2号", "larq": "2024-03-05", "ysah": "（2023）内03民终2号"},
        {"ah": "（2024）内03民再3号", "larq": "2024-04-01", "ysah": "（2023）内03民终3号"},   # not decided yet
        {"ah": "（2023）内03民再9号", "larq": "2023-01-01", "ysah": "（2022）内03民终9号"},   # filed before the protest
        {"ah": "（2024）内03民再10号", "larq": "2024-05-01", "ysah": "（2023）内03民终10号"},
        {"ah": "（2024）内03民终11号", "larq": "2024-05-01", "ysah": "（2024）内0302民初11号"},  # an appeal, not a retrial
        {"ah": "（2024）内03民再12号", "larq": "2024-06-01", "ysah": "（2023）内03民终12号"},
        {"ah": "（2024）内03民抗13号", "larq": "2024-05-10", "ysah": "（2023）内03民终13号"},  # the court has protest 10
        {"ah": "（2024）内03民抗1号", "larq": "2024-01-20", "ysah": "（2023）内03民终1号"},  # 1's, retried since
        {"ah": "（2023）内03民抗14号", "larq": "2023-12-01", "ysah": "（2023）内03民终14号"},  # before protest 11
    ]
    judgments = [
        {"ah": "（2024）内03民再1号", "wslx": "判决书", "cpjg": "改判", "cprq": "2024-06-01"},
        {"ah": "（2024）内03民再2号", "wslx": "调解书", "cpjg": "支持", "cprq": "2024-06-02"},  # a 调解书 settles
        {"ah": "（2024）内03民再10号", "wslx": "判决书", "cpjg": "维持", "cprq": "2024-07-01"},
        {"ah": "（2024）内03民再12号", "wslx": "判决书", "cpjg": "发回重审", "cprq": "2024-08-01"},
    ]
    measures = [
        measure(1, "抗诉", "（2023）内03民终1号", "2024-01-10"),                   # amended
        measure(2, "抗诉", "（2023）内03民终2号", "2024-01-15"),                   # settled
        measure(3, "再审检察建议", "（2023）内03民终3号", "2024-02-01", "采纳"),   # retrial pending
        measure(4, "再审检察建议", "（2023）内03民终4号", "2024-02-01", "不采纳"),  # not adopted
        measure(5, "抗诉", "（2022）内03民终9号", "2024-01-20", "不采纳"),  # its "retrial" came first; a protest is retried
        measure(6, "检察建议", "（2023）内03民终1号", "2024-01-10"),               # not a protest: left out
        measure(7, "抗诉", "（2023）内03民终10号", "2024-02-10"),                  # upheld
        # 8 rejected, then 9 the protest that followed it: the retrial is the protest's alone (remanded)
        measure(8, "再审检察建议", "（2023）内03民终12号", "2024-02-01", "不采纳"),
        measure(9, "抗诉", "（2023）内03民终12号", "2024-04-01"),
        measure(10, "抗诉", "（2023）内03民终13号", "2024-05-01"),  # under review: filed as 民抗, no retrial yet
        measure(11, "抗诉", "（2023）内03民终14号", "2024-01-05"),  # that 民抗 came first: not this protest's
    ]
    with Warehouse(tmp_path / "lake", hash_key=b"k") as wh:
        apply(wh, tmp_path, "c1_fil", "filing", filings, FILING_MAP, "内03")
        apply(wh, tmp_path, "c1_judg", "judgment", judgments, JUDG_MAP, "内03")
        apply(wh, tmp_path, "p1_sup", "supervision", measures, SUP_MAP, None)
        counts = protest_outcomes.build(wh.con, dt.date(2024, 12, 31))
        outcomes = {r[0].split("〕")[1]: r[1:] for r in wh.query(
            "SELECT doc_no, retrial_case_no, result FROM mart_protest_outcomes").fetchall()}
        received = wh.query("SELECT doc_no, protest_case_no FROM mart_protest_outcomes "
                            "WHERE protest_case_no IS NOT NULL ORDER BY doc_no").fetchall()
        success = wh.query("SELECT * EXCLUDE (source_institution, as_of) FROM mart_protest_success").fetchall()
    assert counts == {"mart_protest_outcomes": 10, "mart_protest_success": 2}
    assert outcomes == {
        "1号": ("（2024）内03民再1号", "amended"),
        "2号": ("（2024）内03民再2号", "settled"),
        "3号": ("（2024）内03民再3号", "retrial_pending"),
        "4号": (None, "not_adopted"),
        "5号": (None, "no_retrial"),
        "7号": ("（2024）内03民再10号", "upheld"),
        "8号": (None, "not_adopted"),
        "9号": ("（2024）内03民再12号", "remanded"),
        "10号": (None, "under_review"),
        "11号": (None, "no_retrial"),
    }
    assert received == [("乌检民监〔2024〕10号", "（2024）内03民抗13号"), ("乌检民监〔2024〕1号", "（2024）内03民抗1号")]
    # (year, measure, measures, retried, decided, amended, remanded, upheld, settled, not adopted, change rate)
    assert success == [
        (2024, "再审检察建议", 3, 1, 0, 0, 0, 0, 0, 2, None),
        (2024, "抗诉", 7, 4, 4, 1, 1, 1, 1, 0, 0.6667),
    ]
