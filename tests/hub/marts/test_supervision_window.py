"""Supervision window from hand-made rulings and measures; dates worked out by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.base import SOURCE_ROW, Batch
from hub.marts import supervision_window
from hub.normalize.apply import apply as apply_batch
from hub.normalize.warehouse import Warehouse
from hub.pull.landing import land

JUDG_MAP = {"case_no": "ah", "decided_date": "cprq", "effective_date": "sxrq"}
SUP_MAP = {"doc_no": "wsbh", "measure": "fs", "target_case_no": "ah", "issued_date": "fcrq",
           "target_effective_date": "sxrq"}


def apply(wh: Warehouse, tmp_path: Path, source: str, rt: str, rows: list[dict[str, Any]], mapping: dict[str, str],
          key: str, court: str | None) -> None:
    table = pa.Table.from_pylist([r | {SOURCE_ROW: i} for i, r in enumerate(rows, 1)])
    batch = land(Batch(source, table, origin="test"), tmp_path / "landing", record_type=rt, institution="x", run_id="r")
    assert apply_batch(wh, batch, mapping=mapping, key_column=key, court_code=court, run_id="r")["rows_applied"] == len(rows)


def test_late_measures_and_closing_windows(tmp_path: Path) -> None:
    judgments = [
        {"ah": "（2020）内03民终1号", "cprq": "2020-05-01", "sxrq": "2020-06-01"},  # window ends 2023-06-01
        {"ah": "（2021）内03民终2号", "cprq": "2021-11-01", "sxrq": "2022-01-20"},  # ends 2025-01-20: 20 days after as_of
        {"ah": "（2021）内03民终3号", "cprq": "2021-11-01", "sxrq": "2022-01-25"},  # ends 2025-01-25, but a measure exists
        {"ah": "（2022）内03民终4号", "cprq": "2022-06-01", "sxrq": "2022-07-01"},  # ends 2025-07-01: beyond 90 days
    ]
    measures = [
        # case 1: issued 2023-06-11, 10 days after the window closed on 2023-06-01
        {"wsbh": "乌检民监〔2023〕1号", "fs": "抗诉", "ah": "（2020）内03民终1号", "fcrq": "2023-06-11", "sxrq": None},
        # case 1 again: a settlement notice chooses no protest or recommendation, so no window applies to it
        {"wsbh": "乌检民监〔2023〕5号", "fs": "和解通知", "ah": "（2020）内03民终1号", "fcrq": "2023-07-01", "sxrq": None},
        # case 3: issued in time (2024-12-01 < 2025-01-25): not flagged, and its ruling is not "closing"
        {"wsbh": "乌检民监〔2024〕3号", "fs": "检察建议", "ah": "（2021）内03民终3号", "fcrq": "2024-12-01", "sxrq": None},
        # an untracked ruling, effective date stated on the measure: 2019-03-01 + 3 years = 2022-03-01; issued 2022-03-02
        {"wsbh": "乌检民监〔2022〕9号", "fs": "再审检察建议", "ah": "（2018）内03民终9号", "fcrq": "2022-03-02",
         "sxrq": "2019-03-01"},
    ]
    with Warehouse(tmp_path / "lake", hash_key=b"k") as wh:
        apply(wh, tmp_path, "c1_judg", "judgment", judgments, JUDG_MAP, "ah", "内03")
        apply(wh, tmp_path, "p1_sup", "supervision", measures, SUP_MAP, "wsbh", None)
        as_of = dt.date(2024, 12, 31)
        assert supervision_window.build(wh.con, years=3, warn_days=90, as_of=as_of) == {"mart_supervision_window": 3}
        rows = wh.query("SELECT kind, case_no, window_ends, days FROM mart_supervision_window ORDER BY kind, case_no").fetchall()
    d = dt.date
    assert rows == [
        ("issued_after_window", "（2018）内03民终9号", d(2022, 3, 1), 1),
        ("issued_after_window", "（2020）内03民终1号", d(2023, 6, 1), 10),
        ("window_closing", "（2021）内03民终2号", d(2025, 1, 20), 20),
    ]


def test_the_window_runs_from_the_ruling_rejecting_a_retrial_application_or_the_retrial(tmp_path: Path) -> None:
    """A retrial review or retrial filed on a ruling (its original_case_no) moves the ruling's window
    to that later ruling: a measure in time by it is not late, and the ruling's window closes later."""
    judgments = [
        {"ah": "（2020）内03民终1号", "cprq": "2020-05-01", "sxrq": "2020-06-01"},  # own window ends 2023-06-01
        {"ah": "（2020）内03民申5号", "cprq": "2020-09-01", "sxrq": "2020-09-01"},  # rejects a retrial of 1: ends 2023-09-01
        {"ah": "（2021）内03民终6号", "cprq": "2021-09-01", "sxrq": "2021-10-01"},  # nothing filed on it: ends 2024-10-01
        {"ah": "（2020）内03民终7号", "cprq": "2020-04-01", "sxrq": "2020-05-01"},  # own window ended 2023-05-01
        {"ah": "（2020）内03民再8号", "cprq": "2020-08-01", "sxrq": "2020-08-15"},  # its retrial: ends 2023-08-15
    ]
    filings = [{"ah": "（2020）内03民申5号", "larq": "2020-07-01", "ysah": "（2020）内03民终1号"},
               {"ah": "（2020）内03民再8号", "larq": "2020-06-01", "ysah": "(2020)内03民终7号"}]
    measures = [
        # 1's window runs from the rejection (2020-09-01): issued 2023-06-11 is in time
        {"wsbh": "乌检民监〔2023〕1号", "fs": "抗诉", "ah": "（2020）内03民终1号", "fcrq": "2023-06-11", "sxrq": None},
        # 6's from its own ruling: issued 2024-10-11, 10 days late
        {"wsbh": "乌检民监〔2024〕6号", "fs": "抗诉", "ah": "（2021）内03民终6号", "fcrq": "2024-10-11", "sxrq": None},
    ]
    with Warehouse(tmp_path / "lake", hash_key=b"k") as wh:
        apply(wh, tmp_path, "c1_judg", "judgment", judgments, JUDG_MAP, "ah", "内03")
        apply(wh, tmp_path, "c1_fil", "filing", filings,
              {"case_no": "ah", "filing_date": "larq", "original_case_no": "ysah"}, "ah", "内03")
        apply(wh, tmp_path, "p1_sup", "supervision", measures, SUP_MAP, "wsbh", None)
        supervision_window.build(wh.con, years=3, warn_days=90, as_of=dt.date(2023, 7, 1))
        rows = wh.query("SELECT kind, case_no, window_ends, counted_from, days FROM mart_supervision_window "
                        "ORDER BY kind, case_no").fetchall()
    d = dt.date
    assert rows == [
        ("issued_after_window", "（2021）内03民终6号", d(2024, 10, 1), "ruling", 10),
        ("window_closing", "（2020）内03民终7号", d(2023, 8, 15), "retrial", 45),  # not 民再8 on its own
    ]
