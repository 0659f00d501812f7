"""File readers: CSV (encoding detected), JSON Lines, Parquet, into all-text Arrow tables.

Every column comes back as text, because typing is the normalizer's job and a bad value must
cost one quarantined row, never a whole file. Each reader returns ``(rows, rejects)``; rejects
follow ``REJECT_SCHEMA`` and go to quarantine. ``_source_row`` is what a person needs to find
the row in the file they were sent:

- CSV: the physical line (1-based, the header is line 1) where the record starts, counting
  line breaks inside quoted values and blank lines. Records whose fields are all empty (blank
  lines, ``,,,``) are dropped; records with the wrong number of fields are rejected.
- JSON Lines: the line number. Blank lines are skipped; in files Arrow's reader refuses (a
  malformed line, a key whose type changes between lines, nested values) each bad line is
  rejected and the rest still loads, through a slower per-line path.
- Parquet: the row's 1-based position.

Encodings (CSV): detected or as configured, by ``connectors.encodings``; a UTF-16 file is
parsed from a UTF-8 copy, with the same pieces, quoting and line numbers as any other.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from connectors.base import REJECT_SCHEMA, SOURCE_ROW
from connectors.encodings import (
    Opener,
    file_opener,
    resolve_encoding,
    undecodable,
    utf8_copy,
)
from connectors.errors import TerminalSourceError

_BLANK_LINE = re.compile(rb"^[ \t\r]*\n", re.MULTILINE)


def _refuse(data: bytes, codec: str, path: Path, exc: Exception, lines_before: int = 0,
            bytes_before: int = 0) -> TerminalSourceError:
    message = undecodable(data, codec, path, lines_before, bytes_before)
    return TerminalSourceError(message or f"{path}: cannot be read as {codec} CSV ({exc})")


CHUNK_BYTES = 16 << 20
"""Files larger than this are read in pieces of about this size, cut between records."""

_BLANK = re.compile(rb"[ \t\n\r\x0b\x0c]*")  # what bytes.strip() removes


def read_csv(
    path: Path, *, encoding: str = "auto", delimiter: str = ",", quote_char: str | None = '"', header: bool = True
) -> tuple[pa.Table, pa.Table]:
    """(rows, rejects) from a CSV file, parsed in bulk by Arrow; see the module doc for numbering."""
    path = Path(path)
    with utf8_copy(path, resolve_encoding(encoding, path)) as (source, codec):
        with open(source, "rb") as fh:
            first = _first_line(fh)
        names = _names(first, path, codec, delimiter, quote_char, header)
        if not names:
            return _empty([]), REJECT_SCHEMA.empty_table()
        rows, rejects, _ = _read_csv(source, path, codec, names, delimiter, quote_char, header, 0, 0)
    return rows, rejects


def read_csv_chunks(
    path: Path, *, encoding: str = "auto", delimiter: str = ",", quote_char: str | None = '"', header: bool = True,
    chunk_bytes: int | None = None, opener: Opener | None = None,
) -> Iterator[tuple[pa.Table, pa.Table, bool]]:
    """``read_csv`` in pieces of about ``chunk_bytes``, so memory stays flat however large the
    file, read through ``opener`` (default: the file at ``path``, which names it in errors).

    The header is read once; each piece ends after a line break outside quotes (an even number
    of quote bytes before it; neither byte occurs inside a UTF-8 or GB18030 multi-byte
    character, and UTF-16 is read from its UTF-8 copy) and is parsed on its own, with the line
    numbers of the whole file: a piece moves them on by the lines Arrow saw in it, lone CRs
    included. Yields ``(rows, rejects, last)``: ``last`` is known as the final piece is read
    (one byte past ``chunk_bytes`` tells whether the file ends there), so a caller need not
    parse the next one to learn it. A file no larger than ``chunk_bytes`` is one piece; an
    empty or header-only one, or only blank lines after the piece before, an empty piece."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    path = Path(path)
    opener = opener or file_opener(path)
    codec = resolve_encoding(encoding, path, opener)  # the whole file's: pieces never guess alone
    with utf8_copy(path, codec, opener) as (source, codec):
        yield from _csv_pieces(opener if source == path else file_opener(source), path, codec, delimiter, quote_char,
                               header, chunk_bytes)


def _csv_pieces(
    opener: Opener, path: Path, codec: str, delimiter: str, quote_char: str | None, header: bool, chunk_bytes: int,
) -> Iterator[tuple[pa.Table, pa.Table, bool]]:
    """``read_csv_chunks`` once the file is one the pieces can be cut from (not UTF-16)."""
    quote = quote_char.encode() if quote_char else None
    with opener() as fh:
        first = _first_line(fh)
        names = _names(first, path, codec, delimiter, quote_char, header)
        if not names:
            yield _empty(names), REJECT_SCHEMA.empty_table(), True
            return
        if not header:
            fh.seek(0)
        lines, offset = (1, len(first)) if header else (0, 0)
        size = chunk_bytes
        while True:
            block = fh.read(size + 1)
            end = len(block) <= size
            cut = len(block) if end else _record_end(block, quote)
            if not cut and not end:  # one record longer than a piece: read further
                fh.seek(-len(block), io.SEEK_CUR)
                size *= 2
                continue
            fh.seek(cut - len(block), io.SEEK_CUR)  # the next piece starts after this one's last record
            size = chunk_bytes
            if not _BLANK.fullmatch(block, 0, cut):
                # without a quote byte no value can hold a line break: every record is one line
                multiline = quote is not None and block.find(quote, 0, cut) >= 0
                rows, rejects, seen = _read_csv(memoryview(block)[:cut], path, codec, names, delimiter, quote_char,
                                                False, lines, offset, multiline)
                yield rows, rejects, end
            else:
                if end:
                    yield _empty(names), REJECT_SCHEMA.empty_table(), True
                # blank lines only, each one empty record to Arrow (\r\n is one break, a lone \r one too)
                seen = block.count(b"\n", 0, cut) + block.count(b"\r", 0, cut) - block.count(b"\r\n", 0, cut)
            if end:
                return
            lines += seen
            offset += cut


def _first_line(fh: BinaryIO) -> bytes:
    """The first line, ended like Arrow ends lines (``\\n``, ``\\r\\n`` or a lone ``\\r``); ``fh`` after it."""
    first = fh.readline()
    cr = first.find(b"\r")
    if cr >= 0 and first[cr + 1:cr + 2] != b"\n":
        fh.seek(cr + 1 - len(first), io.SEEK_CUR)
        first = first[:cr + 1]
    return first


def _record_end(data: bytes, quote: bytes | None) -> int:
    """Just after the last line break in ``data`` outside a quoted value (0: none yet)."""
    if quote is None or quote not in data:
        return data.rfind(b"\n") + 1
    total = data.count(quote)
    end, after = len(data), 0
    while True:
        nl = data.rfind(b"\n", 0, end)
        if nl < 0:
            return 0
        after += data.count(quote, nl + 1, end)
        if (total - after) % 2 == 0:
            return nl + 1
        end = nl


def _names(first: bytes, path: Path, codec: str, delimiter: str, quote_char: str | None, header: bool) -> list[str]:
    """Column names from the file's first line (``column_N`` without a header)."""
    try:
        line = first.decode(codec).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise _refuse(first, codec, path, exc) from None
    quoting = {"quotechar": quote_char} if quote_char else {"quoting": csv.QUOTE_NONE}
    fields = next(csv.reader([line], delimiter=delimiter, **quoting), [])
    names = [n.strip() or f"column_{i + 1}" for i, n in enumerate(fields)] if header else [
        f"column_{i + 1}" for i in range(len(fields))
    ]
    if len(set(names)) < len(names) or SOURCE_ROW in names:
        raise TerminalSourceError(f"{path}: header names a column twice or uses the reserved {SOURCE_ROW}: {names}")
    return names


def _empty(names: list[str]) -> pa.Table:
    return pa.table({**{n: pa.array([], pa.string()) for n in names}, SOURCE_ROW: pa.array([], pa.int64())})


def _read_csv(
    source: Path | memoryview, path: Path, codec: str, names: list[str], delimiter: str,
    quote_char: str | None, header: bool, lines_before: int, bytes_before: int, multiline: bool = True,
) -> tuple[pa.Table, pa.Table, int]:
    """Arrow's bulk parse of ``source`` (the file, or a piece of it after ``lines_before`` lines
    and ``bytes_before`` bytes) and the lines it spans; ``multiline``: values may hold line breaks."""
    odd: list[tuple[int, str, str | None]] = []  # (record number, text, reason or None for a blank record)

    def on_invalid(row: pacsv.InvalidRow) -> str:
        blank = not row.text.strip()
        reason = None if blank else f"expected {row.expected_columns} fields, found {row.actual_columns}"
        odd.append((row.number, row.text, reason))
        return "skip"

    if not isinstance(source, Path) and not source:  # Arrow refuses an empty input
        return _empty(names), REJECT_SCHEMA.empty_table(), 0
    try:
        table = pacsv.read_csv(
            source if isinstance(source, Path) else pa.BufferReader(source),
            read_options=pacsv.ReadOptions(
                # Arrow reads UTF-8 natively (and drops a BOM); other codecs are transcoded in bulk
                encoding="utf8" if codec in ("utf-8", "utf-8-sig") else codec,
                use_threads=False,  # row numbers for invalid rows are only known single-threaded
                column_names=names, skip_rows=1 if header else 0,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, quote_char=quote_char or False, newlines_in_values=True,
                ignore_empty_lines=False, invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        data = source.read_bytes() if isinstance(source, Path) else bytes(source)
        raise _refuse(data, codec, path, exc, lines_before, bytes_before) from None
    return _number_csv(table, odd, header, multiline and bool(quote_char), lines_before)


def _number_csv(
    table: pa.Table, odd: list[tuple[int, str, str | None]], header: bool, multiline: bool, line_offset: int,
) -> tuple[pa.Table, pa.Table, int]:
    """Physical line numbers from record order and the line breaks inside each record, and
    the lines all records span (where the next piece's numbers start).

    Arrow numbers invalid records by record, not line, and good rows not at all; a record
    spans 1 + (line breaks in its values) lines, so a cumulative sum over all records in file
    order gives each one's first line, with no Python loop over good rows.
    """
    first_record = 2 if header else 1  # Arrow counts the skipped header as record 1
    total = table.num_rows + len(odd)
    if multiline:
        spans = pc.add(_fold(pc.add, [pc.count_substring(col, "\n") for col in table.columns]), 1).combine_chunks()
    else:
        spans = pa.repeat(pa.scalar(1, pa.int64()), table.num_rows)
    is_odd = None
    if odd:
        is_odd = pc.is_in(_arange(0, total), pa.array([number - first_record for number, _, _ in odd], pa.int64()))
        odd_spans = pa.array([text.count("\n") + 1 for _, text, _ in odd], pa.int64())
        spans = pc.replace_with_mask(pa.repeat(pa.scalar(0, pa.int64()), total), pc.invert(is_odd), spans)
        spans = pc.replace_with_mask(spans, is_odd, odd_spans)
    starts = pc.add(pc.subtract(pc.cumulative_sum(spans), spans), first_record + line_offset)  # the header is one line
    table = table.append_column(SOURCE_ROW, starts if is_odd is None else starts.filter(pc.invert(is_odd)))
    empty = _fold(pc.and_, [pc.equal(col, "") for col in table.columns[:-1]])
    if pc.any(empty).as_py():
        table = table.filter(pc.invert(empty))
    rejects = [
        {SOURCE_ROW: line, "reason": reason, "raw": text}
        for line, (_, text, reason) in zip(starts.filter(is_odd).to_pylist() if odd else [], odd) if reason
    ]
    return table, pa.Table.from_pylist(rejects, schema=REJECT_SCHEMA), pc.sum(spans).as_py() or 0


def _arange(start: int, n: int) -> pa.Array:
    """``start, start + 1, …`` (n values) without numpy, which the hub does not depend on."""
    return pc.add(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), n)), start - 1)


def _fold(op: Any, arrays: list[Any]) -> Any:
    """Combine per-column arrays element-wise (a loop over columns, never rows)."""
    out = arrays[0]
    for a in arrays[1:]:
        out = op(out, a)
    return out


def read_jsonl(path: Path) -> tuple[pa.Table, pa.Table]:
    """(rows, rejects) from JSON Lines (UTF-8): Arrow in bulk, per line only if Arrow refuses."""
    path = Path(path)
    try:
        table = pajson.read_json(path)
        dated = [f for f in table.schema if pa.types.is_temporal(f.type)]
        if dated:  # Arrow turned ISO-looking strings into timestamps; keep the text as sent
            explicit = pa.schema([pa.field(f.name, pa.string()) for f in dated])
            order = table.column_names
            table = pajson.read_json(path, parse_options=pajson.ParseOptions(
                explicit_schema=explicit, unexpected_field_behavior="infer")).select(order)
    except pa.ArrowInvalid:
        return _jsonl_by_line(path)
    if any(pa.types.is_nested(t) for t in table.schema.types):
        return _jsonl_by_line(path)
    return _as_text(path, table, _jsonl_numbers(path.read_bytes(), table.num_rows)), REJECT_SCHEMA.empty_table()


def _jsonl_numbers(data: bytes, rows: int) -> pa.Array:
    """Line numbers of the non-blank lines, which Arrow's reader turned into ``rows`` rows."""
    blanks, line, pos = [], 1, 0
    for match in _BLANK_LINE.finditer(data):  # a loop over blank lines only
        line += data.count(b"\n", pos, match.start())
        pos = match.start()
        blanks.append(line)
    numbers = _arange(1, rows + len(blanks))
    return numbers.filter(pc.invert(pc.is_in(numbers, pa.array(blanks, pa.int64())))) if blanks else numbers


def _jsonl_by_line(path: Path) -> tuple[pa.Table, pa.Table]:
    """The slow path: each line parsed alone, so one bad line is rejected, not the file."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        data = path.read_bytes()
        raise TerminalSourceError(undecodable(data, "utf-8-sig", path) or f"{path}: not UTF-8") from None
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    rejects: list[dict[str, Any]] = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            rejects.append({SOURCE_ROW: number, "reason": f"invalid JSON: {exc}", "raw": line})
            continue
        if not isinstance(obj, dict):
            rejects.append({SOURCE_ROW: number, "reason": "line is not a JSON object", "raw": line})
            continue
        rows.append(obj)
        numbers.append(number)
    names = list(dict.fromkeys(k for row in rows for k in row))
    if SOURCE_ROW in names:
        raise TerminalSourceError(f"{path}: key {SOURCE_ROW} is reserved")
    columns = {name: pa.array([_json_text(row.get(name)) for row in rows], pa.string()) for name in names}
    columns[SOURCE_ROW] = pa.array(numbers, pa.int64())
    return pa.table(columns), pa.Table.from_pylist(rejects, schema=REJECT_SCHEMA)


def _json_text(value: Any) -> str | None:
    """A JSON value as text the way Arrow's cast spells scalars; nested values as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _as_text(path: Path, table: pa.Table, numbers: pa.Array) -> pa.Table:
    if SOURCE_ROW in table.column_names:
        raise TerminalSourceError(f"{path}: column {SOURCE_ROW} is reserved; rename it at the source")
    cols = {}
    for name, col in zip(table.column_names, table.columns):
        if pa.types.is_nested(col.type):
            raise TerminalSourceError(f"{path}: column {name!r} is nested ({col.type}); flatten it at the source")
        try:
            cols[name] = col if col.type == pa.string() else pc.cast(col, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise TerminalSourceError(f"{path}: column {name!r} ({col.type}) cannot be read as text: {exc}") from None
    cols[SOURCE_ROW] = numbers
    return pa.table(cols)


def read_parquet(path: Path) -> tuple[pa.Table, pa.Table]:
    """(rows, rejects) from a Parquet file; typed columns become text, rejects are empty."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise TerminalSourceError(f"{path}: not a readable Parquet file ({exc})") from None
    return _as_text(path, table, _arange(1, table.num_rows)), REJECT_SCHEMA.empty_table()


def read_file(path: Path, fmt: str, **options: Any) -> tuple[pa.Table, pa.Table]:
    """Dispatch on ``fmt`` (csv, jsonl, parquet); ``options`` go to the CSV reader only."""
    if fmt == "csv":
        return read_csv(path, **options)
    if fmt == "jsonl":
        return read_jsonl(path)
    if fmt == "parquet":
        return read_parquet(path)
    raise TerminalSourceError(f"{path}: unknown file format {fmt!r}; use csv, jsonl or parquet")
