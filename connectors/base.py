"""What every connector yields: one ``Batch`` per pulled unit (a file, a query page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

SOURCE_ROW = "_source_row"
"""Column every batch table carries: 1-based row (or file line) number within its origin."""

REJECT_SCHEMA = pa.schema(
    [
        pa.field(SOURCE_ROW, pa.int64()),
        pa.field("reason", pa.string()),
        pa.field("raw", pa.string()),
    ]
)
"""Rows a reader could not parse; they go to quarantine with this line number and reason."""


@dataclass(frozen=True)
class Batch:
    """Rows pulled from one origin, exactly as the source named and typed them.

    ``watermark`` says where the next pull starts; the hub persists it only after this
    batch is durably landed, so a crash between pull and land re-pulls, never skips.
    """

    source: str
    table: pa.Table
    origin: str
    watermark: dict[str, Any] | None = None
    rejects: pa.Table | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.table.num_rows + (self.rejects.num_rows if self.rejects is not None else 0)
