"""Incremental extracts: new, changed and withdrawn records since the office's last bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from connectors.base import SOURCE_ROW, Batch
from hub import extracts
from hub.config import Agreement
from hub.landing import land
from hub.warehouse import Warehouse

MAPPING = {"case_no": "ah", "filing_date": "larq", "plaintiff": "yg", "claim_amount": "bdje", "source_updated_at": "gxsj"}
AGREEMENT = Agreement.model_validate({
    "id": "A", "office": "spo", "mode": "incremental",
    "shares": [{"record_type": "filing", "where": [{"column": "claim_amount", "op": "lte", "value": 100}],
                "columns": {"case_no": "clear", "claim_amount": "clear", "plaintiff": "mask"}}],
})


def apply(wh: Warehouse, tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    table = pa.Table.from_pylist([r | {SOURCE_ROW: i} for i, r in enumerate(rows, 1)])
    batch = land(Batch("c1", table, "test"), tmp_path / "landing", record_type="filing", institution="c1", run_id="r")
    wh.apply(batch, mapping=MAPPING, key_column="id", court_code="内03", run_id="r")


def case(n: int, claim: int, at: str = "2024-01-01 00:00:00") -> dict[str, Any]:
    return {"id": str(n), "ah": f"（2024）内03民初{n}号", "larq": "2024-01-01", "yg": "张三", "bdje": str(claim), "gxsj": at}


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    w = Warehouse(tmp_path / "w.duckdb", hash_key=b"k")
    yield w
    w.con.close()


def test_changes_since_last_bundle(wh: Warehouse, tmp_path: Path) -> None:
    state = tmp_path / "state"
    apply(wh, tmp_path, [case(1, 10), case(2, 20), case(3, 30)])
    first, held, _ = extracts.build(wh.con, AGREEMENT, state, full=False)
    assert first["filing"].column_names == ["case_no", "claim_amount", "plaintiff"]  # nothing held yet: full
    assert first["filing"].num_rows == 3 and set(first["filing"].column("plaintiff").to_pylist()) == {"张*"}
    extracts.remember(state, "spo", held)

    later = "2024-02-01 00:00:00"
    apply(wh, tmp_path, [case(2, 25, later), case(3, 500, later), case(4, 40, later)])
    delta, held, _ = extracts.build(wh.con, AGREEMENT, state, full=False)
    rows = {(r["_change"], r["case_no"], r["claim_amount"]) for r in delta["filing"].to_pylist()}
    assert rows == {
        ("changed", "（2024）内03民初2号", 25),
        ("new", "（2024）内03民初4号", 40),
        ("withdrawn", None, None),  # case 3 no longer matches claim_amount <= 100
    }
    withdrawn = [r for r in delta["filing"].to_pylist() if r["_change"] == "withdrawn"]
    assert withdrawn[0]["record_key"] == "（2024）内03民初3号"
    extracts.remember(state, "spo", held)

    nothing, _, _ = extracts.build(wh.con, AGREEMENT, state, full=False)
    assert nothing["filing"].num_rows == 0 and nothing["filing"].column_names[:2] == ["_change", "record_key"]

    snapshot, _, _ = extracts.build(wh.con, AGREEMENT, state, full=True)
    assert sorted(snapshot["filing"].column("case_no").to_pylist()) == [
        "（2024）内03民初1号", "（2024）内03民初2号", "（2024）内03民初4号"]


def test_receipts_name_each_bundle_row_and_the_version_sent(wh: Warehouse, tmp_path: Path) -> None:
    state = tmp_path / "state"
    apply(wh, tmp_path, [case(n, 10 * n) for n in (3, 1, 2)])
    first, held, receipts = extracts.build(wh.con, AGREEMENT, state, full=False)
    versions = dict(wh.con.execute("SELECT record_key, row_hash FROM filing").fetchall())

    def check(dataset: pa.Table, receipt: pa.Table) -> list[tuple[str, str]]:
        """Row i of the receipt describes row i of the file, and names the warehouse version sent."""
        assert receipt.column("bundle_row").to_pylist() == list(range(1, dataset.num_rows + 1))
        keys = receipt.column("record_key").to_pylist()
        if "record_key" in dataset.column_names:
            assert dataset.column("record_key").to_pylist() == keys
        else:
            assert dataset.column("case_no").to_pylist() == keys  # filing's record key is its case number
        for key, change, row_hash in zip(keys, receipt.column("change").to_pylist(), receipt.column("row_hash").to_pylist()):
            assert row_hash == (None if change == "withdrawn" else versions[key])
        return list(zip(keys, receipt.column("change").to_pylist()))

    assert check(first["filing"], receipts["filing"]) == [
        ("（2024）内03民初1号", "snapshot"), ("（2024）内03民初2号", "snapshot"), ("（2024）内03民初3号", "snapshot")]
    extracts.remember(state, "spo", held)
    later = "2024-02-01 00:00:00"
    apply(wh, tmp_path, [case(1, 500, later), case(2, 25, later), case(5, 50, later)])
    versions = dict(wh.con.execute("SELECT record_key, row_hash FROM filing").fetchall())
    delta, _, receipts = extracts.build(wh.con, AGREEMENT, state, full=False)
    assert check(delta["filing"], receipts["filing"]) == [
        ("（2024）内03民初1号", "withdrawn"), ("（2024）内03民初2号", "changed"), ("（2024）内03民初5号", "new")]
