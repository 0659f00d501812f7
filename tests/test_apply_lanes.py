"""apply_pending: record types applied concurrently, several batches per transaction, and
the same tables, quarantine, ledger and audit as one batch per transaction, one at a time."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.base import SOURCE_ROW, Batch
from hub import landing
from hub.landing import land


def test_a_landed_batch_has_row_groups_for_every_core(tmp_path: Path) -> None:
    table = pa.table({"v": pa.array(range(50_000)), SOURCE_ROW: pa.array(range(50_000))})
    big = land(Batch("s", table, origin="test"), tmp_path, record_type="filing", institution="c1", run_id="r")
    small = land(Batch("s", table.slice(0, 100), origin="test"), tmp_path, record_type="filing", institution="c1",
                 run_id="r")
    assert pq.read_metadata(big.path).num_row_groups == landing.ROW_GROUPS
    assert pq.read_metadata(small.path).num_row_groups == 1
