"""Landing files: the batch as sent, in Parquet encoded for DuckDB's whole-file reads."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.base import SOURCE_ROW, Batch
from hub.pull.landing import land, landed_batches


def test_repeated_text_keeps_a_dictionary_and_unique_text_is_written_plain(tmp_path: Path) -> None:
    rows = 100_000
    table = pa.table({
        "ajbs": [hashlib.md5(str(i).encode()).hexdigest() for i in range(rows)],
        "fymc": ["乌海市中级人民法院", "海勃湾区人民法院"] * (rows // 2),
        SOURCE_ROW: pa.array(range(2, rows + 2), pa.int64()),
    })
    landed = land(Batch("s", table, origin="test"), tmp_path, record_type="filing", institution="c1", run_id="r1")

    assert pq.read_table(landed.path).equals(table)
    group = pq.ParquetFile(landed.path).metadata.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    assert columns["fymc"].encodings == ("PLAIN", "RLE", "RLE_DICTIONARY")
    keys = columns["ajbs"]  # unique: its dictionary stopped at 64 KiB, the rest is plain
    assert "PLAIN" in keys.encodings and keys.data_page_offset - keys.dictionary_page_offset <= 64 << 10
    assert all(not c.is_stats_set for c in columns.values())


def test_batches_already_applied_are_not_read(tmp_path: Path) -> None:
    """Finding what to apply reads only the sidecars of batches not applied yet."""
    batches = [land(Batch("s", pa.table({"k": [i], SOURCE_ROW: [1]}), origin="test"), tmp_path,
                    record_type="filing", institution="c1", run_id="r1") for i in range(3)]
    sidecar = tmp_path / "s" / f"{batches[0].batch_id}.json"
    sidecar.write_text("not JSON: reading it would fail")
    pending = landed_batches(tmp_path, ["s"], skip={batches[0].batch_id})
    assert sorted(b.batch_id for b in pending) == sorted(b.batch_id for b in batches[1:])


def test_two_sources_sending_the_same_bytes_land_two_batches(tmp_path: Path) -> None:
    """Batch ids are unique across sources, so neither batch is taken for the other's (the
    warehouse skips an applied id and refuses a second one)."""
    table = pa.table({"k": pa.array([], pa.string()), SOURCE_ROW: pa.array([], pa.int64())})
    a, b = (land(Batch(s, table, origin="test"), tmp_path, record_type="filing", institution="c1", run_id="r1")
            for s in ("drop_a", "drop_b"))
    assert a.batch_id != b.batch_id and a.path.read_bytes() == b.path.read_bytes()
    assert land(Batch("drop_a", table, origin="again"), tmp_path, record_type="filing", institution="c1",
                run_id="r2").batch_id == a.batch_id  # a re-pull still lands on the same id
