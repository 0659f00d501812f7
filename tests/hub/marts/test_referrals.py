"""Referral feedback from hand-made clue referrals; every status and figure worked out by hand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.base import SOURCE_ROW, Batch
from hub.marts import referrals
from hub.normalize.apply import apply
from hub.normalize.warehouse import Warehouse
from hub.pull.landing import land

MAPPING = {"doc_no": "hh", "clue_type": "lx", "recipient": "js", "related_case_no": "ah", "referred_date": "ysrq",
           "due_date": "qx", "feedback_date": "fkrq", "feedback_result": "jg"}
POLICE, FALSE, REFUSAL = "乌海市公安局", "虚假诉讼", "拒不执行判决裁定"


def referral(n: int, lx: str, ysrq: str, qx: str | None = None, fkrq: str | None = None, jg: str | None = None,
             js: str | None = POLICE) -> dict[str, Any]:
    return {"hh": f"乌中法移〔2024〕{n}号", "lx": lx, "js": js, "ah": "(2023)内03民终5号", "ysrq": ysrq, "qx": qx,
            "fkrq": fkrq, "jg": jg}


ROWS = [
    referral(1, FALSE, "2024-01-10", "2024-03-10", "2024-02-20", "立案"),       # answered in time, acted on
    referral(2, REFUSAL, "2024-02-01", "2024-04-01", "2024-04-15", "不予立案"),  # answered late, not acted on
    referral(3, FALSE, "2024-03-01", "2024-05-01"),                               # overdue: 121 days waiting
    referral(4, FALSE, "2024-05-01", None, "2024-05-20", "正在核查"),           # only an interim answer: 60 days
    referral(5, REFUSAL, "2024-06-01"),                                           # awaiting, no deadline: 29 days
    referral(6, FALSE, "2024-02-01", None, "2024-01-01", "立案"),               # feedback before the referral
    referral(7, FALSE, "2024-02-01", js=None),                                    # to nobody
]


def test_each_referral_gets_its_feedback_status_and_each_recipient_its_figures(tmp_path: Path) -> None:
    with Warehouse(tmp_path / "lake", hash_key=b"k") as wh:
        table = pa.Table.from_pylist([r | {SOURCE_ROW: i} for i, r in enumerate(ROWS, 1)])
        batch = land(Batch("c1_ref", table, origin="test"), tmp_path / "landing", record_type="referral",
                     institution="wh-court", run_id="r")
        counts = apply(wh, batch, mapping=MAPPING, key_column="hh", court_code="内03", run_id="r")
        assert (counts["rows_applied"], counts["rows_quarantined"]) == (5, 2)
        assert wh.query("SELECT source_row, rule FROM quarantine ORDER BY 1").fetchall() == [
            (6, "feedback_before_referral"), (7, "missing_recipient")]
        assert wh.query("SELECT DISTINCT related_case_no FROM referral").fetchall() == [("（2023）内03民终5号",)]
        assert referrals.build(wh.con, dt.date(2024, 6, 30)) == {"mart_referrals": 5, "mart_referral_feedback": 2}
        statuses = {r[0].split("〕")[1]: r[1:] for r in wh.query(
            "SELECT doc_no, status, days_waiting FROM mart_referrals").fetchall()}
        figures = wh.query("SELECT * EXCLUDE (source_institution, recipient, as_of) FROM mart_referral_feedback").fetchall()
    assert statuses == {"1号": ("answered", None), "2号": ("answered_late", None), "3号": ("overdue", 121),
                        "4号": ("being_verified", 60), "5号": ("awaiting", 29)}
    # (clue type, referred, answered, late, overdue, awaiting, acted on, rate)
    assert figures == [(REFUSAL, 2, 1, 1, 0, 1, 0, 0.0), (FALSE, 3, 1, 0, 1, 1, 1, 1.0)]
