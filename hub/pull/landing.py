"""Landing: every pulled batch becomes an immutable Parquet file named by its content hash.

A batch is durable (written, fsynced, renamed into place, sidecar beside it) before the
source's watermark moves, so a crash between pull and land re-pulls the same rows; since the
file name is the content hash, the re-pulled batch lands on the same name and the warehouse,
which records applied batch ids, applies it once. The hash covers the source's name too:
two sources sending the same bytes (two drops of one header-only CSV) are two batches.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.base import REJECT_SCHEMA, Batch
from hub.durable import fsync, write_atomic
from hub.errors import LandingError


@dataclass(frozen=True)
class LandedBatch:
    batch_id: str
    source: str
    record_type: str
    institution: str
    path: Path
    rejects_path: Path | None
    rows: int
    rejects: int
    landed_at: dt.datetime
    origin: str
    kind: str = "rows"  # "keys": a key snapshot for hard-delete reconciliation

    @classmethod
    def from_sidecar(cls, sidecar: Path) -> LandedBatch:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        folder = sidecar.parent
        return cls(
            batch_id=meta["batch_id"],
            source=meta["source"],
            record_type=meta["record_type"],
            institution=meta["institution"],
            path=folder / meta["file"],
            rejects_path=folder / meta["rejects_file"] if meta["rejects_file"] else None,
            rows=meta["rows"],
            rejects=meta["rejects"],
            landed_at=dt.datetime.fromisoformat(meta["landed_at"]),
            origin=meta["origin"],
            kind=meta.get("kind", "rows"),
        )


def land(
    batch: Batch, landing_dir: Path, *, record_type: str, institution: str, run_id: str, kind: str = "rows",
    salt: str = "",
) -> LandedBatch:
    """Write ``batch`` under ``landing_dir/<source>/`` unless identical content already landed
    (with the same ``salt``: one that differs lands the same rows again, as a new batch)."""
    folder = landing_dir / batch.source
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        fsync(landing_dir)  # the source's folder, as durable as the batches in it
    data = _parquet_bytes(batch.table)
    rejects = batch.rejects if batch.rejects is not None and batch.rejects.num_rows else None
    reject_bytes = _parquet_bytes(rejects.cast(REJECT_SCHEMA)) if rejects is not None else b""
    salted = salt.encode() + b"\0" if salt else b""
    batch_id = hashlib.sha256(batch.source.encode() + b"\0" + salted + data + reject_bytes).hexdigest()
    sidecar = folder / f"{batch_id}.json"
    if sidecar.exists():
        return LandedBatch.from_sidecar(sidecar)
    try:
        write_atomic(folder / f"{batch_id}.parquet", data)
        if rejects is not None:
            write_atomic(folder / f"{batch_id}.rejects.parquet", reject_bytes)
        meta: dict[str, Any] = {
            "batch_id": batch_id,
            "source": batch.source,
            "record_type": record_type,
            "institution": institution,
            "kind": kind,
            "origin": batch.origin,
            "file": f"{batch_id}.parquet",
            "rejects_file": f"{batch_id}.rejects.parquet" if rejects is not None else None,
            "rows": batch.table.num_rows,
            "rejects": rejects.num_rows if rejects is not None else 0,
            "sha256": hashlib.sha256(data).hexdigest(),
            "watermark": batch.watermark,
            "details": batch.details,
            "landed_at": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(),
            "run_id": run_id,
        }
        write_atomic(sidecar, json.dumps(meta, ensure_ascii=False, indent=1, default=str).encode())
    except OSError as exc:
        raise LandingError(f"could not land batch from {batch.source} in {folder}: {exc}") from None
    return LandedBatch.from_sidecar(sidecar)


def landed_batches(
    landing_dir: Path, sources: list[str] | None = None, *, skip: set[str] | frozenset[str] = frozenset()
) -> list[LandedBatch]:
    """Every landed batch (sidecar present), oldest first; those whose id is in ``skip`` are
    not read at all (a sidecar is named by its batch id), so finding the few batches not yet
    applied does not parse every sidecar landed since the hub began. Names are listed with
    ``os.scandir``, faster than ``Path.glob``, since every normalize lists them all."""
    out: list[LandedBatch] = []
    if not landing_dir.exists():
        return out
    folders = (sorted(p for p in landing_dir.iterdir() if p.is_dir()) if sources is None
               else [landing_dir / s for s in sorted(set(sources)) if (landing_dir / s).is_dir()])
    for folder in folders:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries
                     if e.name.endswith(".json") and not e.name.startswith(".") and e.name[:-5] not in skip]
        out.extend(LandedBatch.from_sidecar(folder / name) for name in names)
    return sorted(out, key=lambda b: (b.landed_at, b.batch_id))


ROW_GROUPS = 4
MIN_GROUP_ROWS, MAX_GROUP_ROWS = 8_192, 100_000
"""A landed batch is cut into ``ROW_GROUPS`` row groups of ``MIN_GROUP_ROWS`` to
``MAX_GROUP_ROWS`` rows: DuckDB reads a Parquet file one row group per thread, so a batch
of one row group normalizes on one core."""


def _parquet_bytes(table: pa.Table) -> bytes:
    """The batch as Parquet, encoded for DuckDB's whole-file reads at the least CPU."""
    sink = pa.BufferOutputStream()
    pq.write_table(
        table, sink, compression="zstd",
        row_group_size=min(MAX_GROUP_ROWS, max(MIN_GROUP_ROWS, -(-table.num_rows // ROW_GROUPS))),
        # a column's dictionary stops at 64 KiB (Arrow's default: 1 MiB), the rest of its row
        # group written plain: hashing near-unique keys, case numbers and names into one cost much
        # of the encode; courts, causes and dates still fit, read fastest by DuckDB
        dictionary_pagesize_limit=64 << 10,
        write_statistics=False,  # landing files are only read whole: min/max would prune nothing
    )
    return sink.getvalue().to_pybytes()


PARTIAL_AGE_SECONDS = 3600
"""A ``.part`` file this old is what a killed process was writing, not what a live one is."""


def sweep_partial(folder: Path) -> None:
    """Remove the half-written files a process killed mid-landing left (never landed: no sidecar names them)."""
    if not folder.is_dir():
        return
    old = time.time() - PARTIAL_AGE_SECONDS
    for part in folder.glob(".*.part"):
        with contextlib.suppress(FileNotFoundError):
            if part.stat().st_mtime < old:
                part.unlink()


class StateFile:
    """A small JSON progress record, saved atomically: a source's watermark or files seen
    (after each landing), an office's last delivered sequence (after each delivery)."""

    def __init__(self, state_dir: Path, name: str) -> None:
        self.path = state_dir / f"{name}.json"
        state_dir.mkdir(parents=True, exist_ok=True)
        self.data: dict[str, Any] = (
            json.loads(self.path.read_text(encoding="utf-8")) if self.path.exists() else {}
        )

    def save(self) -> None:
        write_atomic(self.path, json.dumps(self.data, ensure_ascii=False, indent=1).encode())
