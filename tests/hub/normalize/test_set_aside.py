"""A landed batch that cannot be staged is set aside whole, with why; every other batch goes on,
and an operator releases it (after fixing hub.yaml) or drops it, audited."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from connectors.base import SOURCE_ROW, Batch
from hub.cli import main
from hub.config import HubConfig
from hub.home import Home
from hub.normalize import apply_pending, set_aside
from hub.normalize.warehouse import Warehouse
from hub.observe import audit
from hub.observe.run import RunContext
from hub.pull.landing import LandedBatch, land
from tests.hub.normalize.test_apply_lanes import FILING, SUPERVISION, config


def land_rows(home: Home, source: str, rt: str, inst: str, rows: list[dict[str, str]]) -> LandedBatch:
    table = pa.Table.from_pylist([r | {SOURCE_ROW: i} for i, r in enumerate(rows, 1)]) if rows else \
        pa.table({SOURCE_ROW: pa.array([], pa.int64())})
    return land(Batch(source, table, origin=f"{source}: drop/{len(rows)}.csv"), home.landing,
                record_type=rt, institution=inst, run_id="r")


def filings(*keys: str) -> list[dict[str, str]]:
    return [{"id": k, "ah": f"（2024）内03民初{k}号", "larq": "2024-03-01", "bdje": "1", "gxsj": "2024-03-01 10:00:00"}
            for k in keys]


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path)
    cfg = config()
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    return home


def test_a_batch_lacking_a_mapped_column_is_set_aside_and_the_rest_applied(home: Home) -> None:
    good = land_rows(home, "c1_filing", "filing", "c1", filings("1", "2"))
    renamed = [{k if k != "bdje" else "amount": v for k, v in r.items()} for r in filings("3", "4", "5")]
    bad = land_rows(home, "c1_filing", "filing", "c1", renamed)  # the vendor renamed a column
    empty = land_rows(home, "p1_sup", "supervision", "p1", [])  # a 0-byte CSV: no columns at all
    later = land_rows(home, "c1_filing", "filing", "c1", filings("6"))
    totals = apply_pending(RunContext(config(), home, "r1"))

    assert totals["filing"]["rows_applied"] == 3 and totals["filing"]["rows_set_aside"] == 3
    assert totals["supervision"] == {"rows_in": 0, "rows_applied": 0, "rows_quarantined": 0, "rows_duplicate": 0,
                                     "rows_deleted": 0, "rows_set_aside": 0}
    with Warehouse.open(config(), home, read_only=True) as wh:
        waiting = {b.batch_id: b for b in set_aside.listed(wh)}
        ledger = dict(wh.query("SELECT batch_id, kind FROM hub_batches").fetchall())
        assert wh.query("SELECT count(*) FROM filing").fetchone() == (3,)
    assert set(waiting) == {bad.batch_id, empty.batch_id}
    assert ledger == {good.batch_id: "rows", later.batch_id: "rows", bad.batch_id: "set_aside", empty.batch_id: "set_aside"}
    why = waiting[bad.batch_id].reason
    assert why.startswith("c1_filing: c1_filing: drop/3.csv has no column bdje that hub.yaml maps") and "amount" in why
    assert "no column" in waiting[empty.batch_id].reason and "has no columns" in waiting[empty.batch_id].reason
    entries = [e for e in audit.entries(home.audit) if e["event"] == "set_aside"]
    assert {(e["details"]["batch_id"], e["details"]["rows"]) for e in entries} == {(bad.batch_id, 3), (empty.batch_id, 0)}

    apply_pending(RunContext(config(), home, "r2"))  # not tried again, not audited again
    assert len([e for e in audit.entries(home.audit) if e["event"] == "set_aside"]) == 2


def test_released_after_the_fix_it_is_applied_and_dropped_it_waits_no_more(
    home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    renamed = [{k if k != "bdje" else "amount": v for k, v in r.items()} for r in filings("3", "4")]
    bad = land_rows(home, "c1_filing", "filing", "c1", renamed)
    empty = land_rows(home, "p1_sup", "supervision", "p1", [])
    apply_pending(RunContext(config(), home, "r1"))
    h = ["--home", str(home.root)]
    assert main(["batches", "list", *h]) == 0
    out = capsys.readouterr().out
    assert bad.batch_id[:12] in out and empty.batch_id[:12] in out and "2 batch(es) set aside" in out

    fixed = config({"c1_filing": FILING | {"claim_amount": "amount"}})  # the mapping follows the vendor
    (home.root / "hub.yaml").write_text(yaml.safe_dump(fixed.model_dump(mode="json"), allow_unicode=True))
    assert main(["batches", "release", bad.batch_id[:12], *h]) == 0
    assert main(["batches", "drop", empty.batch_id, "--reason", "an empty export, sent again", *h]) == 0
    apply_pending(RunContext(fixed, home, "r2"))
    with Warehouse.open(fixed, home, read_only=True) as wh:
        assert wh.query("SELECT count(*), sum(claim_amount) FROM filing").fetchone() == (2, 2)
        assert set_aside.listed(wh) == []
        assert [b.batch_id for b in set_aside.listed(wh, dropped=True)] == [empty.batch_id]
    events = [(e["event"], e["details"]["batch_id"]) for e in audit.entries(home.audit)
              if e["event"] in ("set_aside", "release", "drop", "apply")]
    assert events[-3:] == [("release", bad.batch_id), ("drop", empty.batch_id), ("apply", bad.batch_id)]
    assert main(["batches", "release", "ffff", *h]) == 1
    assert "no set-aside batch with id 'ffff'" in capsys.readouterr().err


def test_a_landed_file_that_cannot_be_read_is_set_aside(home: Home) -> None:
    bad = land_rows(home, "c1_filing", "filing", "c1", filings("1"))
    bad.path.write_bytes(b"PAR1 not parquet")  # the landing disk lost it
    good = land_rows(home, "c1_filing", "filing", "c1", filings("2"))
    apply_pending(RunContext(config(), home, "r"))
    with Warehouse.open(config(), home, read_only=True) as wh:
        (waiting,) = set_aside.listed(wh)
        assert wh.query("SELECT record_key FROM filing").fetchall() == [("（2024）内03民初2号",)]
    assert waiting.batch_id == bad.batch_id != good.batch_id and "cannot be read" in waiting.reason


def test_the_supervision_mapping_is_checked_like_any_other(home: Home) -> None:
    cfg: HubConfig = config({"p1_sup": SUPERVISION | {"domain": "ly"}})  # a column no file has
    rows = [{"id": "1", "wsbh": "乌检民监〔2024〕1号", "fs": "抗诉", "ah": "（2023）内03民终1号", "fcrq": "2024-03-01"}]
    land_rows(home, "p1_sup", "supervision", "p1", rows)
    apply_pending(RunContext(cfg, home, "r"))
    with Warehouse.open(cfg, home, read_only=True) as wh:
        (waiting,) = set_aside.listed(wh)
    assert "has no column ly" in waiting.reason


def test_columns_match_as_duckdb_binds_them_and_a_dropped_batch_stays_dropped(
    home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    upper = [{k.upper() if k != "id" else k: v for k, v in r.items()} for r in filings("1")]  # AH, LARQ, …
    land_rows(home, "c1_filing", "filing", "c1", upper)
    bad = land_rows(home, "p1_sup", "supervision", "p1", [])
    apply_pending(RunContext(config(), home, "r"))
    with Warehouse.open(config(), home, read_only=True) as wh:
        assert wh.query("SELECT count(*) FROM filing").fetchone() == (1,)  # applied, not set aside
        assert [b.batch_id for b in set_aside.listed(wh)] == [bad.batch_id]
    h = ["--home", str(home.root)]
    assert main(["batches", "drop", bad.batch_id[:12], "--reason", "resent", *h]) == 0
    assert main(["batches", "release", bad.batch_id[:12], *h]) == 1
    assert "was dropped for good; it cannot be released" in capsys.readouterr().err
