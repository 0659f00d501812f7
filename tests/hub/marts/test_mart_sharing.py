"""Marts are shared through agreements like the shared tables: filtered, column by column,
incrementally, with receipts naming each row sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from hub.config import DEFAULT_REPLY_DAYS, Agreement
from hub.marts import replies
from hub.normalize.warehouse import Warehouse
from hub.publish import extracts
from tests.hub.marts.test_nonlit_stats import ENF_MAP, ENFORCEMENT, SUP_MAP, SUPERVISION
from tests.sources import load

OVERDUE = Agreement.model_validate({
    "id": "FJXZ-X", "office": "spo", "mode": "incremental",
    "shares": [{"record_type": "mart_replies", "where": [{"column": "status", "op": "eq", "value": "overdue"}],
                "columns": {"doc_no": "clear", "days_overdue": "clear"}}],
})


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = Warehouse(tmp_path / "lake", hash_key=b"k")
    load(w, tmp_path, "enforcement", ENFORCEMENT, ENF_MAP, court_code="内0302", source="court")
    load(w, tmp_path, "supervision", SUPERVISION, SUP_MAP, source="proc")
    yield w
    w.con.close()


def publish(wh: Warehouse, tmp_path: Path, state: Path) -> tuple[dict[str, int], dict[str, tuple[str, str]]]:
    """(doc number -> days overdue sent, doc number -> (change, record key)) of one bundle; the office then holds it."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    files, held, receipts = extracts.build(wh.con, OVERDUE, state, work, full=False)
    rows = pq.read_table(files["mart_replies"]).to_pylist()
    sent = wh.con.sql(receipts["mart_replies"]).arrow().read_all().to_pylist()
    extracts.remember(wh.con, held)
    assert [r["bundle_row"] for r in sent] == list(range(1, len(rows) + 1))
    assert all(r["row_hash"] for r in sent if r["change"] != "withdrawn")  # the version sent: the row's digest
    keys = dict(wh.query("SELECT record_key, doc_no FROM supervision").fetchall())
    return ({r["doc_no"]: r["days_overdue"] for r in rows if r.get("_change", "snapshot") != "withdrawn"},
            {keys[s["record_key"]]: (s["change"], s["record_key"]) for s in sent})


def no(n: int) -> str:
    return f"乌检执监〔2024〕{n}号"


def test_overdue_list_goes_out_then_only_what_changed(wh: Warehouse, tmp_path: Path) -> None:
    state = tmp_path / "state"
    # as of 2024-10-15: 4 due 06-01 by the document (136 days), 5 抗诉 09-01 + 30 = 10-01 (14 days),
    # 8 司法建议 07-05 + 90 = 10-03 (12 days); 3 (07-20 + 90 = 10-18) is not yet due
    replies.build(wh.con, DEFAULT_REPLY_DAYS, dt.date(2024, 10, 15))
    sent, changes = publish(wh, tmp_path, state)
    assert sent == {no(4): 136, no(5): 14, no(8): 12}
    assert {c for c, _ in changes.values()} == {"snapshot"}
    # five days later every overdue count moved and 3 fell due: 3 is new, the others changed
    replies.build(wh.con, DEFAULT_REPLY_DAYS, dt.date(2024, 10, 20))
    sent, changes = publish(wh, tmp_path, state)
    assert sent == {no(3): 2, no(4): 141, no(5): 19, no(8): 17}
    assert {doc: c for doc, (c, _) in changes.items()} == {no(3): "new", no(4): "changed", no(5): "changed", no(8): "changed"}
    # a longer deadline for protests (60 days: due 10-31) takes 5 off the list: withdrawn; nothing else moved
    replies.build(wh.con, DEFAULT_REPLY_DAYS | {"抗诉": 60}, dt.date(2024, 10, 20))
    sent, changes = publish(wh, tmp_path, state)
    assert sent == {} and {doc: c for doc, (c, _) in changes.items()} == {no(5): "withdrawn"}
    replies.build(wh.con, DEFAULT_REPLY_DAYS | {"抗诉": 60}, dt.date(2024, 10, 20))  # rebuilt, unchanged: nothing to send
    assert publish(wh, tmp_path, state) == ({}, {})


def test_a_mart_share_is_checked_like_a_table_share() -> None:
    with pytest.raises(ValidationError, match="'mart_nope' is neither a shared table nor a mart table; use one of: "
                                              "filing, .*mart_replies"):
        Agreement.model_validate({"id": "A", "office": "o", "shares": [{"record_type": "mart_nope", "columns": {"x": "clear"}}]})
    with pytest.raises(ValidationError, match="'plaintiff' is not a column of mart_replies; use one of: .*days_overdue"):
        Agreement.model_validate({"id": "A", "office": "o", "shares": [
            {"record_type": "mart_replies", "columns": {"doc_no": "clear", "plaintiff": "clear"}}]})
