"""apply_pending: record types applied concurrently, several batches per transaction, and
the same tables, quarantine, ledger and audit as one batch per transaction, one at a time."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.base import SOURCE_ROW, Batch
from hub.config import HubConfig
from hub.errors import WarehouseError
from hub.home import Home
from hub.normalize import apply_pending
from hub.normalize import stage as normalize_stage
from hub.normalize.warehouse import Warehouse
from hub.observe import audit
from hub.observe.run import RunContext
from hub.pull import landing
from hub.pull.landing import land

FILING = {"case_no": "ah", "filing_date": "larq", "claim_amount": "bdje", "source_updated_at": "gxsj"}
JUDGMENT = {"case_no": "ah", "decided_date": "cprq", "outcome": "cpjg", "source_updated_at": "gxsj"}
SUPERVISION = {"doc_no": "wsbh", "measure": "fs", "target_case_no": "ah", "issued_date": "fcrq"}


def config(mapping_of: dict[str, dict[str, str]] | None = None) -> HubConfig:
    mapping_of = mapping_of or {}
    sources = [("c1_filing", "c1", "filing", FILING), ("c2_filing", "c2", "filing", FILING),
               ("c1_judgment", "c1", "judgment", JUDGMENT), ("p1_sup", "p1", "supervision", SUPERVISION)]
    return HubConfig.model_validate({
        "institutions": [{"id": "c1", "name": "乌海中院", "kind": "court", "court_code": "内03"},
                         {"id": "c2", "name": "海勃湾法院", "kind": "court", "court_code": "内0302"},
                         {"id": "p1", "name": "乌海检察院", "kind": "procuratorate"}],
        "sources": [{
            "name": name, "institution": inst, "record_type": rt, "kind": "database",
            "database": {"url": "sqlite:///unused.sqlite", "table": "t", "cursor": "gxsj"},
            "key": "id", "mapping": mapping_of.get(name, mapping),
        } for name, inst, rt, mapping in sources],
        "offices": [], "agreements": [],
    })


def land_all(home: Home) -> None:
    """Every source's batches, interleaved in landing order, with later versions, exact
    duplicates and bad rows."""
    def rows(source: str, n: int) -> list[dict[str, Any]]:
        court = "内0302" if source.startswith("c2") else "内03"
        if source == "p1_sup":
            return [{"id": f"{n}-{i}", "wsbh": f"乌检民监〔2024〕{i}号", "fs": "抗诉" if i % 5 else "不存在",
                     "ah": f"（2023）内03民终{i}号", "fcrq": f"2024-03-0{n}"} for i in range(1, 8)]
        case = "民初" if "filing" in source else "民终"
        return [{"id": f"{n}-{i}", "ah": f"（2024）{'内03' if i == 5 else court}{case}{i}号" if i % 6 else "（2024）内03民X号",
                 "larq": "2024-03-01", "bdje": str(n * 10 + i), "cprq": "2024-04-01", "cpjg": "驳回起诉",
                 "gxsj": f"2024-03-0{4 - n if i % 2 else n} 10:00:00"} for i in range(1, 8)]

    for n in (1, 2, 3):
        for source, rt, inst in (("c1_filing", "filing", "c1"), ("c1_judgment", "judgment", "c1"),
                                 ("c2_filing", "filing", "c2"), ("p1_sup", "supervision", "p1")):
            data = rows(source, n) + rows(source, n)[:2]  # two exact duplicates
            table = pa.Table.from_pylist([r | {SOURCE_ROW: i} for i, r in enumerate(data, 1)])
            land(Batch(source, table, origin="test"), home.landing, record_type=rt, institution=inst, run_id="r")


def tables(cfg: HubConfig, home: Home) -> tuple[Any, ...]:
    with Warehouse.open(cfg, home, read_only=True) as wh:
        return tuple(wh.query(sql).fetchall() for sql in (
            "SELECT * EXCLUDE (run_id) FROM filing_history ORDER BY ALL",
            "SELECT * EXCLUDE (run_id) FROM judgment_history ORDER BY ALL",
            "SELECT * EXCLUDE (run_id) FROM supervision_history ORDER BY ALL",
            "SELECT * EXCLUDE (run_id, quarantined_at) FROM quarantine ORDER BY ALL",
            "SELECT * EXCLUDE (run_id, applied_at) FROM hub_batches ORDER BY ALL",
        ))


def applied_events(home: Home) -> list[str]:
    return [e["details"]["batch_id"] for e in audit.entries(home.audit) if e["event"] == "apply"]


def landed_home(tmp_path: Path, name: str) -> Home:
    """A home holding the same landed batches (same landing times) as every other."""
    first = tmp_path / "landed"
    if not first.exists():
        land_all(Home(first))
    home = Home(tmp_path / name)
    shutil.copytree(first / "landing", home.landing)
    return home


def run(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch, lanes: int, rows: int) -> tuple[Any, ...]:
    monkeypatch.setattr(normalize_stage, "APPLY_LANES", lanes)
    monkeypatch.setattr(normalize_stage, "SMALL_APPLY_ROWS", 0)  # APPLY_LANES threads, however few the rows
    monkeypatch.setattr(normalize_stage, "TRANSACTION_ROWS", rows)
    cfg, home = config(), landed_home(tmp_path, name)
    batches = len(landing.landed_batches(home.landing))
    totals = apply_pending(RunContext(cfg, home, "r"))
    assert sorted(totals) == ["filing", "judgment", "supervision"]
    assert sorted(applied_events(home)) == sorted(b.batch_id for b in landing.landed_batches(home.landing))
    assert len(applied_events(home)) == batches
    return tables(cfg, home)


def test_lanes_and_shared_transactions_apply_as_one_by_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alone = run(tmp_path, "alone", monkeypatch, lanes=1, rows=1)
    together = run(tmp_path, "together", monkeypatch, lanes=3, rows=20)
    assert together == alone
    filing, _, supervision, quarantine, ledger = alone
    mismatched = [r for r in quarantine if r[6] == "court_mismatch"]  # c2's own court is 内0302
    assert mismatched and all(r[1] == "c2_filing" and r[7].endswith("source court 内0302") for r in mismatched)
    assert len(ledger) == 12 and sum(r[6] for r in ledger) == len(quarantine) > 0  # rows_quarantined
    assert sum(r[7] for r in ledger) == 24  # two exact duplicates per batch
    assert any(not current for *_, current, _ in filing) and supervision


def test_a_failing_lane_keeps_what_others_committed_and_a_rerun_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Applying judgments fails (their versions table is gone from the warehouse): that lane
    fails, the batches the others committed stay applied and audited, and once the table is
    back a rerun applies the rest."""
    monkeypatch.setattr(normalize_stage, "TRANSACTION_ROWS", 20)
    home = landed_home(tmp_path, "home")
    with Warehouse.open(config(), home) as wh:
        wh.con.execute("ALTER TABLE judgment_versions RENAME TO judgment_versions_away")
    with pytest.raises(WarehouseError, match="c1_judgment"):
        apply_pending(RunContext(config(), home, "r"))
    with Warehouse.open(config(), home) as wh:
        ledger = {r[0]: r[1] for r in wh.query("SELECT batch_id, record_type FROM hub_batches").fetchall()}
        wh.con.execute("ALTER TABLE judgment_versions_away RENAME TO judgment_versions")
    assert "judgment" not in ledger.values() and "filing" in ledger.values()
    assert sorted(applied_events(home)) == sorted(ledger)
    apply_pending(RunContext(config(), home, "r"))
    assert tables(config(), home) == run(tmp_path, "clean", monkeypatch, lanes=1, rows=1)


def test_a_landed_batch_has_row_groups_for_every_core(tmp_path: Path) -> None:
    table = pa.table({"v": pa.array(range(50_000)), SOURCE_ROW: pa.array(range(50_000))})
    big = land(Batch("s", table, origin="test"), tmp_path, record_type="filing", institution="c1", run_id="r")
    small = land(Batch("s", table.slice(0, 100), origin="test"), tmp_path, record_type="filing", institution="c1",
                 run_id="r")
    assert pq.read_metadata(big.path).num_row_groups == landing.ROW_GROUPS
    assert pq.read_metadata(small.path).num_row_groups == 1


class Stopped(Exception):
    """The process going away between a lane's commit and its audit entry."""


def test_batches_committed_but_not_audited_are_audited_by_the_next_run_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(normalize_stage, "TRANSACTION_ROWS", 20)
    home, cfg = landed_home(tmp_path, "home"), config()
    record = audit.record

    def stop_at_apply(log: Path, config: HubConfig, event: str, **kw: Any) -> dict[str, Any]:
        if event == "apply":
            raise Stopped
        return record(log, config, event, **kw)

    monkeypatch.setattr(audit, "record", stop_at_apply)
    with pytest.raises(Stopped):
        apply_pending(RunContext(cfg, home, "first"))
    monkeypatch.setattr(audit, "record", record)
    with Warehouse.open(cfg, home, read_only=True) as wh:
        committed = {r[0] for r in wh.query("SELECT batch_id FROM hub_batches").fetchall()}
    assert committed and applied_events(home) == []  # applied, and no auditor could tell

    apply_pending(RunContext(cfg, home, "second"))
    entries = [e for e in audit.entries(home.audit) if e["event"] == "apply"]
    recovered = {e["details"]["batch_id"]: e for e in entries if "recovered_by" in e["details"]}
    assert set(recovered) == committed
    assert {(e["run_id"], e["details"]["recovered_by"]) for e in recovered.values()} == {("first", "second")}
    assert sorted(applied_events(home)) == sorted(b.batch_id for b in landing.landed_batches(home.landing))
    assert audit.verify(home.audit) == len(list(audit.entries(home.audit)))  # the chain holds

    apply_pending(RunContext(cfg, home, "third"))
    assert len(applied_events(home)) == len(landing.landed_batches(home.landing))  # nothing audited twice


def test_a_warehouse_from_before_the_audited_list_counts_its_batches_audited(tmp_path: Path) -> None:
    home, cfg = landed_home(tmp_path, "home"), config()
    apply_pending(RunContext(cfg, home, "r"))
    with Warehouse.open(cfg, home) as wh:  # as an older hub left it
        wh.con.execute("DROP TABLE hub_batches_audited")
        wh.con.execute("UPDATE hub_meta SET value = 'older' WHERE key = 'schema_digest'")
    with Warehouse.open(cfg, home) as wh:
        assert wh.unaudited() == []
        assert wh.query("SELECT count(*) FROM hub_batches_audited").fetchone() == (len(applied_events(home)),)
