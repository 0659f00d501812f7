"""Incremental extracts: new, changed and withdrawn records since the office's last bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.base import SOURCE_ROW, Batch
from hub.config import Agreement
from hub.normalize.apply import apply as apply_batch
from hub.normalize.warehouse import Warehouse
from hub.publish import extracts
from hub.pull.landing import land

MAPPING = {"case_no": "ah", "filing_date": "larq", "plaintiff": "yg", "claim_amount": "bdje", "source_updated_at": "gxsj"}
AGREEMENT = Agreement.model_validate({
    "id": "A", "office": "spo", "mode": "incremental",
    "shares": [{"record_type": "filing", "where": [{"column": "claim_amount", "op": "lte", "value": 100}],
                "columns": {"case_no": "clear", "claim_amount": "clear", "plaintiff": "mask"}}],
})


def apply(wh: Warehouse, tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    table = pa.Table.from_pylist([r | {SOURCE_ROW: i} for i, r in enumerate(rows, 1)])
    batch = land(Batch("c1", table, "test"), tmp_path / "landing", record_type="filing", institution="c1", run_id="r")
    apply_batch(wh, batch, mapping=MAPPING, key_column="id", court_code="内03", run_id="r")


def case(n: int, claim: int, at: str = "2024-01-01 00:00:00") -> dict[str, Any]:
    return {"id": str(n), "ah": f"（2024）内03民初{n}号", "larq": "2024-01-01", "yg": "张三", "bdje": str(claim), "gxsj": at}


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    w = Warehouse(tmp_path / "lake", hash_key=b"k")
    yield w
    w.con.close()


def build(wh: Warehouse, state: Path, tmp_path: Path, *, full: bool = False,
          agreement: Agreement = AGREEMENT) -> tuple[dict[str, pa.Table], list[extracts.Holdings], dict[str, pa.Table]]:
    """(datasets, holdings, receipts) as tables, from the files ``extracts.build`` writes."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    files, held, receipts = extracts.build(wh.con, agreement, state, work, full=full)
    return ({name: pq.read_table(path) for name, path in files.items()}, held,
            {name: wh.con.sql(sql).arrow().read_all() for name, sql in receipts.items()})


def test_changes_since_last_bundle(wh: Warehouse, tmp_path: Path) -> None:
    state = tmp_path / "state"
    apply(wh, tmp_path, [case(1, 10), case(2, 20), case(3, 30)])
    first, held, _ = build(wh, state, tmp_path)
    assert first["filing"].column_names == ["record_key", "case_no", "claim_amount", "plaintiff"]  # nothing held yet: full
    assert first["filing"].num_rows == 3 and set(first["filing"].column("plaintiff").to_pylist()) == {"张*"}
    extracts.remember(wh.con, held)

    later = "2024-02-01 00:00:00"
    apply(wh, tmp_path, [case(2, 25, later), case(3, 500, later), case(4, 40, later)])
    delta, held, _ = build(wh, state, tmp_path)
    rows = {(r["_change"], r["case_no"], r["claim_amount"]) for r in delta["filing"].to_pylist()}
    assert rows == {
        ("changed", "（2024）内03民初2号", 25),
        ("new", "（2024）内03民初4号", 40),
        ("withdrawn", None, None),  # case 3 no longer matches claim_amount <= 100
    }
    withdrawn = [r for r in delta["filing"].to_pylist() if r["_change"] == "withdrawn"]
    assert withdrawn[0]["record_key"] == "（2024）内03民初3号"
    assert delta["filing"].schema.field("claim_amount").type == first["filing"].schema.field("claim_amount").type
    extracts.remember(wh.con, held)

    nothing, _, _ = build(wh, state, tmp_path)
    assert nothing["filing"].num_rows == 0 and nothing["filing"].column_names[:2] == ["_change", "record_key"]

    snapshot, _, _ = build(wh, state, tmp_path, full=True)
    assert nothing["filing"].num_rows == 0 and nothing["filing"].column_names[:2] == ["_change", "record_key"]

    assert sorted(snapshot["filing"].column("case_no").to_pylist()) == [
        "（2024）内03民初1号", "（2024）内03民初2号", "（2024）内03民初4号"]


def test_a_changed_treatment_resends_rows_whose_stored_version_did_not_change(wh: Warehouse, tmp_path: Path) -> None:
    """Remembered hashes are reused only under the same share: unmasking a column changes every row."""
    state = tmp_path / "state"
    apply(wh, tmp_path, [case(1, 10), case(2, 20)])
    _, held, _ = build(wh, state, tmp_path)
    extracts.remember(wh.con, held)
    unmasked = AGREEMENT.model_copy(update={"shares": [AGREEMENT.shares[0].model_copy(
        update={"columns": {"case_no": "clear", "claim_amount": "clear", "plaintiff": "clear"}})]})
    delta, held, _ = build(wh, state, tmp_path, agreement=unmasked)
    assert sorted((r["_change"], r["plaintiff"]) for r in delta["filing"].to_pylist()) == [("changed", "张三")] * 2
    extracts.remember(wh.con, held)
    assert build(wh, state, tmp_path, agreement=unmasked)[0]["filing"].num_rows == 0


def test_a_new_hash_key_resends_hashed_columns(tmp_path: Path) -> None:
    agreement = Agreement.model_validate({
        "id": "H", "office": "spo", "mode": "incremental",
        "shares": [{"record_type": "filing", "columns": {"case_no": "clear", "plaintiff": "hash"}}],
    })
    state = tmp_path / "state"
    with Warehouse(tmp_path / "lake", hash_key=b"old") as wh:
        apply(wh, tmp_path, [case(1, 10)])
        _, held, _ = build(wh, state, tmp_path, agreement=agreement)
        extracts.remember(wh.con, held)
        assert build(wh, state, tmp_path, agreement=agreement)[0]["filing"].num_rows == 0
    with Warehouse(tmp_path / "lake", hash_key=b"new") as wh:
        delta, _, _ = build(wh, state, tmp_path, agreement=agreement)
    assert delta["filing"].column("_change").to_pylist() == ["changed"]


def test_holdings_from_before_versions_resend_each_row_once(wh: Warehouse, tmp_path: Path) -> None:
    """A holdings file from before the warehouse kept them, with only text hashes: it is taken
    over (no snapshot), every row goes out once more as changed, and the file is then gone."""
    state = tmp_path / "state"
    apply(wh, tmp_path, [case(1, 10), case(2, 20)])
    path = state / "offices" / "spo" / "filing.parquet"
    path.parent.mkdir(parents=True)
    keys = [k for (k,) in wh.con.execute("SELECT record_key FROM filing").fetchall()]
    pq.write_table(pa.table({"record_key": keys, "_row_hash": pa.array(["0" * 64] * len(keys))}), path)
    delta, held, _ = build(wh, state, tmp_path)
    assert sorted((r["_change"], r["claim_amount"]) for r in delta["filing"].to_pylist()) == [("changed", 10), ("changed", 20)]
    assert path.exists()  # until the bundle is written
    extracts.remember(wh.con, held)
    assert not path.exists()
    assert build(wh, state, tmp_path)[0]["filing"].num_rows == 0
def test_an_unreadable_holdings_file_from_before_sends_a_snapshot(
    wh: Warehouse, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What the office holds cannot be known from it: it gets every row as a snapshot, which
    replaces its copy whole, and later bundles are incremental again."""
    state = tmp_path / "state"
    apply(wh, tmp_path, [case(1, 10), case(2, 20)])
    path = state / "offices" / "spo" / "filing.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PAR1 cut short by a full disk")
    first, held, receipts = build(wh, state, tmp_path)
    assert first["filing"].column("claim_amount").to_pylist() == [10, 20]
    assert set(receipts["filing"].column("change").to_pylist()) == {"snapshot"}
    assert "cannot be read" in caplog.text and str(path) in caplog.text
    extracts.remember(wh.con, held)
    assert not path.exists()
    apply(wh, tmp_path, [case(3, 30)])
    delta, _, _ = build(wh, state, tmp_path)
    assert [(r["_change"], r["claim_amount"]) for r in delta["filing"].to_pylist()] == [("new", 30)]


def test_receipts_name_each_bundle_row_and_the_version_sent(wh: Warehouse, tmp_path: Path) -> None:
    state = tmp_path / "state"
    apply(wh, tmp_path, [case(n, 10 * n) for n in (3, 1, 2)])
    first, held, receipts = build(wh, state, tmp_path)
    versions = dict(wh.con.execute("SELECT record_key, row_hash FROM filing").fetchall())

    def check(dataset: pa.Table, receipt: pa.Table) -> list[tuple[str, str]]:
        """Row i of the receipt describes row i of the file, and names the warehouse version sent."""
        assert receipt.column("bundle_row").to_pylist() == list(range(1, dataset.num_rows + 1))
        keys = receipt.column("record_key").to_pylist()
        assert dataset.column("record_key").to_pylist() == keys  # snapshot and changes alike
        for key, change, row_hash in zip(keys, receipt.column("change").to_pylist(), receipt.column("row_hash").to_pylist()):
            assert row_hash == (None if change == "withdrawn" else versions[key])
        return list(zip(keys, receipt.column("change").to_pylist()))

    assert check(first["filing"], receipts["filing"]) == [
        ("（2024）内03民初1号", "snapshot"), ("（2024）内03民初2号", "snapshot"), ("（2024）内03民初3号", "snapshot")]
    extracts.remember(wh.con, held)
    later = "2024-02-01 00:00:00"
    apply(wh, tmp_path, [case(1, 500, later), case(2, 25, later), case(5, 50, later)])
    versions = dict(wh.con.execute("SELECT record_key, row_hash FROM filing").fetchall())
    delta, _, receipts = build(wh, state, tmp_path)
    assert check(delta["filing"], receipts["filing"]) == [
        ("（2024）内03民初1号", "withdrawn"), ("（2024）内03民初2号", "changed"), ("（2024）内03民初5号", "new")]


def test_a_new_version_whose_shared_form_is_unchanged_is_not_sent_again(wh: Warehouse, tmp_path: Path) -> None:
    """The plaintiff changed at the source, but the office sees it masked (张*): nothing to send.
    (A 128-bit hash stored in Parquet as a rounded DOUBLE once made every such row 'changed'.)"""
    state = tmp_path / "state"
    apply(wh, tmp_path, [case(1, 10), case(2, 20)])
    _, held, _ = build(wh, state, tmp_path)
    extracts.remember(wh.con, held)
    assert wh.con.execute("SELECT typeof(row_hash) FROM hub_holdings LIMIT 1").fetchall() == [("UBIGINT",)]
    apply(wh, tmp_path, [case(2, 20, "2024-03-01 00:00:00") | {"yg": "张四"}, case(1, 11, "2024-03-01 00:00:00")])
    delta, _, _ = build(wh, state, tmp_path)
    assert [(r["_change"], r["claim_amount"]) for r in delta["filing"].to_pylist()] == [("changed", 11)]


def held_rows(wh: Warehouse, office: str = "spo") -> set[tuple[str, int]]:
    return set(wh.con.execute("SELECT record_key, row_hash FROM hub_holdings WHERE office = ?", [office]).fetchall())


def test_an_incremental_bundle_reads_only_batches_not_yet_accounted_for(wh: Warehouse, tmp_path: Path) -> None:
    """A batch applied while a bundle is built is not counted as sent: the next bundle has it.
    A bundle built but never written (no ``remember``) leaves the holdings as they were."""
    state = tmp_path / "state"
    apply(wh, tmp_path, [case(1, 10), case(2, 20)])
    extracts.remember(wh.con, build(wh, state, tmp_path)[1])
    later = "2024-02-01 00:00:00"
    apply(wh, tmp_path, [case(1, 11, later)])
    delta, held, _ = build(wh, state, tmp_path)
    assert [(r["_change"], r["claim_amount"]) for r in delta["filing"].to_pylist()] == [("changed", 11)]
    apply(wh, tmp_path, [case(2, 22, later)])  # lands after the bundle above was built
    extracts.remember(wh.con, held)
    delta, held, _ = build(wh, state, tmp_path)
    assert [(r["_change"], r["claim_amount"]) for r in delta["filing"].to_pylist()] == [("changed", 22)]
    again, held, _ = build(wh, state, tmp_path)  # the first was never remembered: sent again
    assert [(r["_change"], r["claim_amount"]) for r in again["filing"].to_pylist()] == [("changed", 22)]
    extracts.remember(wh.con, held)
    assert build(wh, state, tmp_path)[0]["filing"].num_rows == 0


def test_a_version_that_loses_to_a_newer_one_sends_nothing(wh: Warehouse, tmp_path: Path) -> None:
    """A late batch carrying an older version names the record, but its current version stands."""
    state = tmp_path / "state"
    apply(wh, tmp_path, [case(1, 10, "2024-03-01 00:00:00")])
    extracts.remember(wh.con, build(wh, state, tmp_path)[1])
    apply(wh, tmp_path, [case(1, 99, "2024-01-01 00:00:00")])
    assert build(wh, state, tmp_path)[0]["filing"].num_rows == 0


def test_holdings_kept_from_changes_equal_those_of_a_full_comparison(wh: Warehouse, tmp_path: Path) -> None:
    """Bundle after bundle of new, changed, withdrawn and unchanged records: what the office is
    remembered to hold is what comparing every shared row would give, and the bundles it got
    add up to what it is shared now."""
    state = tmp_path / "state"
    office: dict[str, int] = {}  # what the office has, by applying every bundle it received

    def receive() -> None:
        delta, held, _ = build(wh, state, tmp_path)
        for r in delta["filing"].to_pylist():
            key = r.get("record_key") or r["case_no"]
            if r.get("_change", "snapshot") == "withdrawn":
                del office[key]
            else:
                office[key] = r["claim_amount"]
        extracts.remember(wh.con, held)

    for step in range(6):
        at = f"2024-0{step + 1}-01 00:00:00"
        apply(wh, tmp_path, [case(n, (n * 37 + step * 11) % 150, at) for n in range(step, step + 8) if (n + step) % 3])
        receive()
        shared = dict(wh.con.execute("SELECT record_key, claim_amount FROM filing WHERE claim_amount <= 100").fetchall())
        assert office == shared
    kept = held_rows(wh)
    wh.con.execute("UPDATE hub_holdings_state SET fingerprint = 'another share'")  # compare every row
    everything, held, _ = build(wh, state, tmp_path)
    assert everything["filing"].num_rows == 0
    extracts.remember(wh.con, held)
    assert held_rows(wh) == kept


def test_records_deleted_at_the_source_are_withdrawn(wh: Warehouse, tmp_path: Path) -> None:
    """A soft delete (a flagged version) and a hard delete (missing from a key snapshot) are
    both new versions, so an incremental bundle withdraws both."""
    state = tmp_path / "state"
    apply(wh, tmp_path, [case(1, 10), case(2, 20), case(3, 30)])
    extracts.remember(wh.con, build(wh, state, tmp_path)[1])
    keys = pa.table({"id": ["1", "2"], "_hub_snapshot_at": ["2024-05-01T00:00:00"] * 2})
    snapshot = land(Batch("c1", keys, "test: key snapshot"), tmp_path / "landing", record_type="filing",
                    institution="c1", run_id="r", kind="keys")
    apply_batch(wh, snapshot, mapping=MAPPING, key_column="id", court_code="内03", run_id="r")
    flagged = pa.Table.from_pylist([case(1, 10, "2024-06-01 00:00:00") | {"sc": "1", SOURCE_ROW: 1}])
    batch = land(Batch("c1", flagged, "test"), tmp_path / "landing", record_type="filing", institution="c1", run_id="r")
    apply_batch(wh, batch, mapping=MAPPING, key_column="id", court_code="内03", run_id="r", soft_delete=("sc", ["1"]))
    delta, held, _ = build(wh, state, tmp_path)
    assert sorted((r["_change"], r["record_key"]) for r in delta["filing"].to_pylist()) == [
        ("withdrawn", "（2024）内03民初1号"), ("withdrawn", "（2024）内03民初3号")]
    extracts.remember(wh.con, held)
    assert [key for key, _ in held_rows(wh)] == ["（2024）内03民初2号"]


def test_a_snapshot_rewrites_only_the_holdings_that_differ(wh: Warehouse, tmp_path: Path) -> None:
    """A full bundle replaces what the office holds, but the lakehouse keeps every version for
    its retention: only the rows that changed are written again."""
    state = tmp_path / "state"
    apply(wh, tmp_path, [case(n, n) for n in range(1, 21)])
    _, held, _ = build(wh, state, tmp_path, full=True)
    extracts.remember(wh.con, held)
    later = "2024-02-01 00:00:00"
    apply(wh, tmp_path, [case(2, 99, later), case(3, 500, later), case(21, 21, later)])  # changed, withdrawn, new
    before = wh.snapshot()
    snapshot, held, _ = build(wh, state, tmp_path, full=True)
    extracts.remember(wh.con, held)
    changes = wh.con.execute("SELECT change_type, count(*) FROM lake.table_changes('hub_holdings', ?, ?) GROUP BY 1",
                             [before + 1, wh.snapshot()]).fetchall()
    assert dict(changes) == {"insert": 2, "delete": 2}  # case 2's new version and case 21; case 2's old and case 3
    shared = {r[0] for r in wh.con.execute("SELECT record_key FROM filing WHERE claim_amount <= 100").fetchall()}
    assert snapshot["filing"].num_rows == len(shared) == 20 and {k for k, _ in held_rows(wh)} == shared
    nothing, _, _ = build(wh, state, tmp_path)
    assert nothing["filing"].num_rows == 0


def test_an_office_whose_share_hashes_the_case_number_gets_keys_it_cannot_read(wh: Warehouse, tmp_path: Path) -> None:
    """A changed, new or withdrawn record is named by the keyed hash of its key when the share
    does not send the case number in clear: the office can match it, not read it."""
    hashed = AGREEMENT.model_copy(update={"shares": [AGREEMENT.shares[0].model_copy(
        update={"columns": {"case_no": "hash", "claim_amount": "clear"}})]})
    state = tmp_path / "state"
    apply(wh, tmp_path, [case(1, 10), case(2, 20), case(3, 30)])
    first, held, _ = build(wh, state, tmp_path, agreement=hashed)
    extracts.remember(wh.con, held)
    later = "2024-02-01 00:00:00"
    apply(wh, tmp_path, [case(2, 25, later), case(3, 500, later)])
    delta, held, receipts = build(wh, state, tmp_path, agreement=hashed)
    rows = delta["filing"].to_pylist()
    assert sorted(r["_change"] for r in rows) == ["changed", "withdrawn"]
    keyed = {r["_change"]: r["record_key"] for r in rows}
    assert not any("内03" in key for key in keyed.values())  # no case number in the file
    assert keyed["changed"] == next(r["case_no"] for r in rows if r["_change"] == "changed")  # the hash it holds
    assert keyed["changed"] in first["filing"].column("case_no").to_pylist()
    assert first["filing"].column("record_key").to_pylist() == first["filing"].column("case_no").to_pylist()
    assert sorted(receipts["filing"].column("record_key").to_pylist()) == ["（2024）内03民初2号", "（2024）内03民初3号"]
    # the case number in clear: the key in clear
    clear, _, _ = build(wh, state, tmp_path)
    assert all(r["record_key"].startswith("（2024）") for r in clear["filing"].to_pylist())
