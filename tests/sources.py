"""Hand-made source rows landed and applied as a real source's would be (for mart tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.base import SOURCE_ROW, Batch
from hub.normalize.apply import apply
from hub.normalize.warehouse import Warehouse
from hub.pull.landing import land


def load(wh: Warehouse, folder: Path, record_type: str, rows: list[dict[str, Any]], mapping: dict[str, str], *,
         court_code: str | None = None, source: str = "src") -> None:
    """Land ``rows`` (every value text, as a source sends it) as one batch and apply it; all must apply."""
    names = list(dict.fromkeys(k for r in rows for k in r))
    table = pa.table({n: pa.array([r.get(n) for r in rows], pa.string()) for n in names})
    table = table.append_column("id", pa.array([f"{source}-{i}" for i in range(1, len(rows) + 1)]))
    table = table.append_column(SOURCE_ROW, pa.array(range(1, len(rows) + 1), pa.int64()))
    batch = land(Batch(source, table, origin="test"), folder / "landing", record_type=record_type,
                 institution=source, run_id="r")
    counts = apply(wh, batch, mapping=mapping, key_column="id", court_code=court_code, run_id="r")
    assert counts["rows_applied"] == len(rows), counts
