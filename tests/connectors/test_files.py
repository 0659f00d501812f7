"""File readers: encodings, malformed rows with line numbers, JSON Lines and Parquet as text."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.base import REJECT_SCHEMA, SOURCE_ROW
from connectors.encodings import detect_encoding
from connectors.errors import TerminalSourceError
from connectors.files import (
    read_csv,
    read_csv_chunks,
    read_file,
    read_jsonl,
    read_parquet,
)

CHINESE = "案号,当事人,案由\n（2024）内03民初123号,张三,民间借贷纠纷\n（2024）内0302执456号,㐀字号商行,买卖合同纠纷\n"
EXPECTED = [
    {"案号": "（2024）内03民初123号", "当事人": "张三", "案由": "民间借贷纠纷", SOURCE_ROW: 2},
    {"案号": "（2024）内0302执456号", "当事人": "㐀字号商行", "案由": "买卖合同纠纷", SOURCE_ROW: 3},
]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030")],
)
def test_chinese_csv_reads_identically_in_every_encoding(tmp_path: Path, encoding: str, detected: str) -> None:
    path = write(tmp_path, "f.csv", CHINESE.encode(encoding))
    assert detect_encoding(path) == detected
    for setting in ("auto", encoding):
        table, rejects = read_csv(path, encoding=setting)
        assert table.to_pylist() == EXPECTED
        assert table.schema.field(SOURCE_ROW).type == pa.int64()
        assert rejects.num_rows == 0 and rejects.schema == REJECT_SCHEMA


def test_gbk_file_is_read_as_gb18030(tmp_path: Path) -> None:
    text = CHINESE.replace("㐀", "李")  # 㐀 (U+3400) exists in GB18030 only
    with pytest.raises(UnicodeEncodeError):
        "㐀".encode("gbk")
    path = write(tmp_path, "gbk.csv", text.encode("gbk"))
    expected = [dict(r, 当事人=r["当事人"].replace("㐀", "李")) for r in EXPECTED]
    for setting in ("auto", "gbk", "GBK", "cp936", "gb18030"):
        assert read_csv(path, encoding=setting)[0].to_pylist() == expected


def test_gb18030_text_after_a_long_ascii_prefix_is_detected(tmp_path: Path) -> None:
    ascii_rows = "ah,name,cause\n" + "".join(f"A{i:07d},x,y\n" for i in range(120_000))
    data = ascii_rows.encode() + "（2024）内03民初1号,㐀,纠纷\n".encode("gb18030")
    path = write(tmp_path, "late.csv", data)
    assert len(data) > 1 << 20  # past the first sniffed chunk
    assert detect_encoding(path) == "gb18030"
    table, _ = read_csv(path)
    assert table.num_rows == 120_001 and table.column("name")[-1].as_py() == "㐀"
    assert table.column(SOURCE_ROW)[-1].as_py() == 120_002


def test_bom_is_stripped_from_header_even_when_utf8_is_set(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", codecs.BOM_UTF8 + CHINESE.encode())
    assert read_csv(path, encoding="utf-8")[0].column_names[0] == "案号"


def test_malformed_rows_are_rejected_with_physical_line_numbers(tmp_path: Path) -> None:
    text = (
        "ah,name,claim\n"                      # 1
        '1,张三,"请求一\n请求二"\n'              # 2-3 (quoted line break)
        "\n"                                   # 4 blank: skipped, not rejected
        "2,李四\n"                             # 5 too few
        "3,王五,x,extra\r\n"                   # 6 too many
        '4,NA,""\n'                            # 7 "NA" stays text
        ",,\n"                                 # 8 all empty: skipped
        "5,赵六,ok\n"                          # 9
    )
    table, rejects = read_csv(write(tmp_path, "bad.csv", text.encode("gb18030")))
    assert table.column("ah").to_pylist() == ["1", "4", "5"]
    assert table.column(SOURCE_ROW).to_pylist() == [2, 7, 9]
    assert table.column("claim").to_pylist() == ["请求一\n请求二", "", "ok"]
    assert table.column("name").to_pylist()[1] == "NA"
    assert rejects.to_pylist() == [
        {SOURCE_ROW: 5, "reason": "expected 3 fields, found 2", "raw": "2,李四"},
        {SOURCE_ROW: 6, "reason": "expected 3 fields, found 4", "raw": "3,王五,x,extra"},
    ]


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8-sig"])
@pytest.mark.parametrize("chunk_bytes", [16, 45, 97, 300])
def test_reading_in_pieces_gives_the_whole_file_with_the_same_line_numbers(
    tmp_path: Path, encoding: str, chunk_bytes: int
) -> None:
    """Pieces cut anywhere (inside quoted line breaks, multi-byte characters, bad rows, after
    a lone CR, which Arrow ends a line at too) read exactly as the whole file does."""
    body = (
        '1,张三,"请求一\n请求二\n请求三"\n'
        "\n"
        "2,李四\n"
        '3,"王,五","说 ""明"""\n'
        "4,赵六,x,extra\r\n"
        ",,\n"
        "5,孙七,甲\r6,周八,乙\n"
    )
    path = write(tmp_path, "big.csv", ("ah,name,claim\n" + body * 7).encode(encoding))
    whole, whole_rejects = read_csv(path)
    pieces = list(read_csv_chunks(path, chunk_bytes=chunk_bytes))
    assert len(pieces) > 1
    assert [last for _, _, last in pieces] == [False] * (len(pieces) - 1) + [True]
    assert pa.concat_tables([p for p, _, _ in pieces]).to_pylist() == whole.to_pylist()
    assert pa.concat_tables([r for _, r, _ in pieces]).to_pylist() == whole_rejects.to_pylist()
    assert whole.num_rows == 28 and whole_rejects.num_rows == 14


def test_every_column_is_text_so_bad_values_survive(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", b"amount,date\n12.5,2024-01-01\nabc,2024-13-45\n007,\n")
    table, _ = read_csv(path)
    assert table.schema.types == [pa.string(), pa.string(), pa.int64()]
    assert table.column("amount").to_pylist() == ["12.5", "abc", "007"]


def test_options_delimiter_quote_and_no_header(tmp_path: Path) -> None:
    path = write(tmp_path, "t.tsv", "甲|'a|b'|c\n乙|d|e\n".encode())
    table, _ = read_csv(path, delimiter="|", quote_char="'", header=False)
    assert table.column_names == ["column_1", "column_2", "column_3", SOURCE_ROW]
    assert table.column("column_2").to_pylist() == ["a|b", "d"]
    assert table.column(SOURCE_ROW).to_pylist() == [1, 2]


def test_undecodable_file_is_refused_naming_line_and_setting(tmp_path: Path) -> None:
    data = "a,b\n1,中文\n".encode() + b"2,\xd6\xd0\xce\xc4\n"  # line 3 is GBK inside a UTF-8 file
    path = write(tmp_path, "mixed.csv", data)
    with pytest.raises(TerminalSourceError, match=r"mixed\.csv: line 3 .*not valid utf-8.*format\.encoding"):
        read_csv(path, encoding="utf-8")
    late = write(tmp_path, "late.csv", ("a,b\n" + "1,中文\n" * 200_000).encode() + "2,中文\n".encode("gbk"))
    with pytest.raises(TerminalSourceError, match=r"late\.csv: line 200002 .*not valid utf-8.*gb18030"):
        read_csv(late)  # detected as UTF-8 from its first MiB
    broken = write(tmp_path, "broken.csv", "a,b\n1,中文\n".encode("gb18030") + b"2,\xff\xff\n")
    with pytest.raises(TerminalSourceError, match=r"broken\.csv: line 3 .*gb18030"):
        read_csv(broken, encoding="gbk")
    with pytest.raises(TerminalSourceError, match="unknown encoding"):
        read_csv(broken, encoding="klingon")


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    table, rejects = read_csv(write(tmp_path, "empty.csv", b""))
    assert table.num_rows == 0 and rejects.num_rows == 0
    table, _ = read_csv(write(tmp_path, "header.csv", "案号,案由\n".encode()))
    assert table.column_names == ["案号", "案由", SOURCE_ROW] and table.num_rows == 0


def test_duplicate_header_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TerminalSourceError, match="twice"):
        read_csv(write(tmp_path, "dup.csv", b"a,a\n1,2\n"))


def test_jsonl_bulk_path_keeps_text_as_sent(tmp_path: Path) -> None:
    lines = [
        {"ah": "（2024）内03民初1号", "amount": 12, "filed": "2024-01-02", "ok": True},
        {"ah": "（2024）内03民初2号", "amount": 3, "filed": "2024-01-03T10:00:00", "ok": False, "extra": "新"},
    ]
    text = "\n  \n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n"  # a blank line between
    table, rejects = read_jsonl(write(tmp_path, "f.jsonl", text.encode()))
    assert table.schema.types == [pa.string()] * 5 + [pa.int64()]
    assert table.to_pylist() == [
        {"ah": "（2024）内03民初1号", "amount": "12", "filed": "2024-01-02", "ok": "true", "extra": None, SOURCE_ROW: 1},
        {"ah": "（2024）内03民初2号", "amount": "3", "filed": "2024-01-03T10:00:00", "ok": "false", "extra": "新",
         SOURCE_ROW: 3},
    ]
    assert rejects.num_rows == 0


def test_jsonl_bad_lines_are_rejected_and_the_rest_loads(tmp_path: Path) -> None:
    text = '{"a": 1, "b": "x"}\n{"a": "二", "b":\n\n{"a": 3, "c": {"d": "中"}}\n[1, 2]\n'
    table, rejects = read_jsonl(write(tmp_path, "bad.jsonl", text.encode()))
    assert table.to_pylist() == [
        {"a": "1", "b": "x", "c": None, SOURCE_ROW: 1},
        {"a": "3", "b": None, "c": '{"d": "中"}', SOURCE_ROW: 4},
    ]
    assert rejects.schema == REJECT_SCHEMA
    assert [(r[SOURCE_ROW], r["reason"].split(":")[0], r["raw"]) for r in rejects.to_pylist()] == [
        (2, "invalid JSON", '{"a": "二", "b":'), (5, "line is not a JSON object", "[1, 2]"),
    ]


def test_jsonl_with_types_changing_between_lines(tmp_path: Path) -> None:
    text = '{"amount": 1200}\n{"amount": "1,200.00元"}\n{"amount": null}\n'
    table, rejects = read_jsonl(write(tmp_path, "mixed.jsonl", text.encode()))
    assert table.column("amount").to_pylist() == ["1200", "1,200.00元", None]
    assert table.column(SOURCE_ROW).to_pylist() == [1, 2, 3] and rejects.num_rows == 0


def test_parquet_columns_become_text(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({
        "ah": ["（2024）内03民初1号", None],
        "amount": pa.array([1.5, 2.0]),
        "filed": pa.array([19723, 19724], pa.date32()),
        "n": pa.array([1, 2], pa.int32()),
    }), path)
    table, rejects = read_parquet(path)
    assert table.to_pylist() == [
        {"ah": "（2024）内03民初1号", "amount": "1.5", "filed": "2024-01-01", "n": "1", SOURCE_ROW: 1},
        {"ah": None, "amount": "2", "filed": "2024-01-02", "n": "2", SOURCE_ROW: 2},
    ]
    assert rejects.num_rows == 0 and rejects.schema == REJECT_SCHEMA
    with pytest.raises(TerminalSourceError, match="not a readable Parquet"):
        read_parquet(write(tmp_path, "fake.parquet", b"PAR1 nope"))


def test_read_file_dispatches(tmp_path: Path) -> None:
    csv_path = write(tmp_path, "f.csv", CHINESE.encode("gb18030"))
    assert read_file(csv_path, "csv", encoding="gb18030")[0].to_pylist() == EXPECTED
    jsonl = write(tmp_path, "f.jsonl", b'{"a": 1}\n')
    assert read_file(jsonl, "jsonl")[0].column("a").to_pylist() == ["1"]
    with pytest.raises(TerminalSourceError, match="unknown file format"):
        read_file(csv_path, "xlsx")


def test_pieces_read_through_an_opener_that_trickles_match_the_file(tmp_path: Path) -> None:
    """A download still arriving hands out a few bytes per read; the pieces are the same."""
    import io

    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return True

        def seek(self, offset: int, whence: int = 0) -> int:
            return self.inner.seek(offset, whence)

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            return self.inner.readinto(memoryview(buffer)[:7])

    body = '1,张三,"请求一\n请求二"\n\n2,李四\n3,王五,x\n'
    path = write(tmp_path, "f.csv", ("ah,name,claim\n" + body * 30).encode("gb18030"))
    data = path.read_bytes()
    expected = [(t.to_pylist(), r.to_pylist(), last) for t, r, last in read_csv_chunks(path, chunk_bytes=97)]
    trickled = read_csv_chunks(path, chunk_bytes=97, opener=lambda: io.BufferedReader(Trickle(data), 16))
    assert [(t.to_pylist(), r.to_pylist(), last) for t, r, last in trickled] == expected
    assert len(expected) > 3


def test_a_file_ending_where_a_piece_ends_is_that_piece_not_one_more(tmp_path: Path) -> None:
    path = write(tmp_path, "f.csv", b"a,b\n" + b"1,2\n" * 8)
    pieces = list(read_csv_chunks(path, chunk_bytes=16))
    assert [(t.column(SOURCE_ROW).to_pylist(), last) for t, _, last in pieces] == [([2, 3, 4, 5], False),
                                                                                 ([6, 7, 8, 9], True)]


def test_only_blank_lines_after_the_last_records_make_an_empty_last_piece(tmp_path: Path) -> None:
    path = write(tmp_path, "f.csv", b"a,b\n1,2\n3,4\n" + b"\n" * 40)
    pieces = list(read_csv_chunks(path, chunk_bytes=16))
    assert [last for _, _, last in pieces] == [False] * (len(pieces) - 1) + [True]
    assert pieces[-1][0].num_rows == 0 and pieces[-1][0].column_names == ["a", "b", SOURCE_ROW]
    assert [r for t, _, _ in pieces for r in t.column(SOURCE_ROW).to_pylist()] == [2, 3]
