"""File readers: CSV (encoding detected), JSON Lines, Parquet, into all-text Arrow tables.

Every column comes back as text, because typing is the normalizer's job and a bad value must
cost one quarantined row, never a whole file. Each table carries ``_source_row``: for CSV the
line number of the record in the file (the header is line 1; a record with a quoted line
break shifts the numbers after it), for JSON Lines the line number, for Parquet the row's
1-based position. CSV rows with the wrong number of fields come back as rejects with their
line number and text; the rest of the file still loads.
"""

from __future__ import annotations

import codecs
import csv
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from connectors.base import REJECT_SCHEMA, SOURCE_ROW
from hub.errors import TerminalSourceError

SNIFF_BYTES = 1 << 20
ENCODINGS = {"auto", "utf-8", "utf-8-sig", "gbk", "gb18030"}


def detect_encoding(path: Path) -> str:
    """UTF-8 with BOM, else UTF-8 if the first MiB decodes strictly, else GB18030 (⊇ GBK)."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < SNIFF_BYTES)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def _codec(encoding: str, path: Path) -> str:
    if encoding not in ENCODINGS:
        raise TerminalSourceError(f"{path.name}: encoding {encoding!r} is not supported; use one of {sorted(ENCODINGS)}")
    if encoding == "auto":
        return detect_encoding(path)
    return "gb18030" if encoding == "gbk" else encoding  # GB18030 decodes every GBK file


def read_csv(
    path: Path, *, encoding: str = "auto", delimiter: str = ",", quote_char: str = '"', header: bool = True
) -> tuple[pa.Table, pa.Table]:
    """(rows, rejects) from a CSV file, read in bulk by Arrow."""
    codec = _codec(encoding, path)
    with open(path, encoding=codec, newline="") as fh:
        first = next(csv.reader([fh.readline()], delimiter=delimiter, quotechar=quote_char), [])
    names = [n.strip() for n in first] if header else [f"column_{i + 1}" for i in range(len(first))]
    if not names:
        return pa.table({SOURCE_ROW: pa.array([], pa.int64())}), REJECT_SCHEMA.empty_table()
    rejects: list[dict[str, Any]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        rejects.append({
            SOURCE_ROW: row.number,
            "reason": f"expected {row.expected_columns} fields, found {row.actual_columns}",
            "raw": row.text,
        })
        return "skip"

    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                encoding="utf8" if codec == "utf-8" else codec, use_threads=False,
                column_names=names, skip_rows=1 if header else 0,
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=quote_char, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=True, quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise TerminalSourceError(
            f"{path.name}: cannot be read as {codec} CSV ({exc}); set the source's format.encoding explicitly"
        ) from None
    first_line = 2 if header else 1
    bad = {r[SOURCE_ROW] for r in rejects}
    lines = [n for n in range(first_line, first_line + table.num_rows + len(rejects)) if n not in bad]
    table = table.append_column(SOURCE_ROW, pa.array(lines[: table.num_rows], pa.int64()))
    return table, pa.Table.from_pylist(rejects, schema=REJECT_SCHEMA)


def _as_text(table: pa.Table) -> pa.Table:
    cols = {}
    for name, col in zip(table.column_names, table.columns):
        if pa.types.is_nested(col.type):
            raise TerminalSourceError(f"column {name!r} is nested ({col.type}); flatten it at the source")
        cols[name] = col if pa.types.is_string(col.type) else pc.cast(col, pa.string())
    cols[SOURCE_ROW] = pa.array(range(1, table.num_rows + 1), pa.int64())
    return pa.table(cols)


def read_jsonl(path: Path) -> tuple[pa.Table, pa.Table]:
    try:
        table = pajson.read_json(path)
    except pa.ArrowInvalid as exc:
        raise TerminalSourceError(f"{path.name}: not valid JSON Lines ({exc})") from None
    return _as_text(table), REJECT_SCHEMA.empty_table()


def read_parquet(path: Path) -> tuple[pa.Table, pa.Table]:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise TerminalSourceError(f"{path.name}: not a readable Parquet file ({exc})") from None
    return _as_text(table), REJECT_SCHEMA.empty_table()


def read_file(path: Path, fmt: str, *, encoding: str = "auto", delimiter: str = ",") -> tuple[pa.Table, pa.Table]:
    if fmt == "csv":
        return read_csv(path, encoding=encoding, delimiter=delimiter)
    if fmt == "jsonl":
        return read_jsonl(path)
    if fmt == "parquet":
        return read_parquet(path)
    raise TerminalSourceError(f"{path.name}: unknown file format {fmt!r}; use csv, jsonl or parquet")

