"""UTF-16 files (Excel's "Unicode Text", Windows exports): detected, read exactly as the same
data in UTF-8, in pieces too; broken ones refused naming the line."""

from __future__ import annotations

import codecs
from pathlib import Path

import pyarrow as pa
import pytest

from connectors import encodings
from connectors.base import SOURCE_ROW
from connectors.encodings import detect_encoding, resolve_encoding
from connectors.errors import TerminalSourceError
from connectors.files import read_csv, read_csv_chunks

BOMS = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}

ROWS = (
    "案号,当事人,诉讼请求\r\n"                                     # 1
    "（2024）内03民初123号,张三,\"请求一\r\n请求二\"\r\n"            # 2-3 (quoted CRLF)
    "\r\n"                                                          # 4 blank: skipped
    "（2024）内0302执456号,𠀀字号商行,\"说 \"\"明\"\"，含,逗号\"\r\n"  # 5 (𠀀 is a surrogate pair)
    "（2024）内03民初7号,李四\r\n"                                   # 6 too few fields
    "（2024）内03民初8号,王五,\"一\n二\n三\"\r\n"                     # 7-9 (quoted LFs)
    "（2024）内03民初9号,赵六,甲\r\n"                                # 10
)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def utf16(text: str, codec: str, bom: bool = True) -> bytes:
    return (BOMS[codec] if bom else b"") + text.encode(codec)


def as_lists(result: tuple[pa.Table, pa.Table]) -> tuple[list[dict], list[dict]]:  # type: ignore[type-arg]
    return result[0].to_pylist(), result[1].to_pylist()


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_utf16_with_bom_reads_as_the_same_data_in_utf8(tmp_path: Path, codec: str, delimiter: str) -> None:
    text = ROWS if delimiter == "," else ROWS.replace(",", "\t").replace("，含\t逗号", "，含,逗号")
    path = write(tmp_path, "export.txt", utf16(text, codec))
    same = write(tmp_path, "same.csv", text.encode())
    assert detect_encoding(path) == codec
    rows, rejects = read_csv(path, delimiter=delimiter)
    assert (rows.to_pylist(), rejects.to_pylist()) == as_lists(read_csv(same, delimiter=delimiter))
    assert rows.column_names == ["案号", "当事人", "诉讼请求", SOURCE_ROW]  # the BOM is not in the first name
    assert rows.column(SOURCE_ROW).to_pylist() == [2, 5, 7, 10]
    assert rows.column("诉讼请求").to_pylist() == ["请求一\r\n请求二", '说 "明"，含,逗号', "一\n二\n三", "甲"]
    assert rows.column("当事人")[1].as_py() == "𠀀字号商行"
    assert [(r[SOURCE_ROW], r["reason"]) for r in rejects.to_pylist()] == [(6, "expected 3 fields, found 2")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.txt", "same.csv"]  # the UTF-8 copy is gone


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize(("chunk_bytes", "transcode_bytes"), [(16, 3), (97, 1 << 20), (300, 5)])
def test_a_large_utf16_file_in_pieces_joins_as_the_utf8_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codec: str, chunk_bytes: int, transcode_bytes: int
) -> None:
    """Pieces are cut from the UTF-8 copy, whose transcoding steps (odd sizes cut code units
    and surrogate pairs) join without a seam."""
    monkeypatch.setattr(encodings, "TRANSCODE_BYTES", transcode_bytes)
    text = ROWS + ROWS.split("\r\n", 1)[1] * 30
    path = write(tmp_path, "big.txt", utf16(text, codec))
    same = write(tmp_path, "big.csv", text.encode())
    pieces = list(read_csv_chunks(path, chunk_bytes=chunk_bytes))
    assert len(pieces) > 3
    assert [last for _, _, last in pieces] == [False] * (len(pieces) - 1) + [True]
    whole = read_csv(same)
    assert pa.concat_tables([t for t, _, _ in pieces]).to_pylist() == whole[0].to_pylist()
    assert pa.concat_tables([r for _, r, _ in pieces]).to_pylist() == whole[1].to_pylist()
    assert whole[0].num_rows == 4 * 31 and whole[0].column(SOURCE_ROW)[-1].as_py() == 10 + 9 * 30
    assert not list(tmp_path.glob("*.utf8"))


@pytest.mark.parametrize(
    ("setting", "data", "codec"),
    [
        ("utf-16-le", ROWS.encode("utf-16-le"), "utf-16-le"),  # no BOM: as named
        ("UTF-16BE", ROWS.encode("utf-16-be"), "utf-16-be"),
        ("utf-16", ROWS.encode("utf-16-le"), "utf-16-le"),  # no BOM, order unnamed: Windows' little-endian
        ("utf-16", utf16(ROWS, "utf-16-be"), "utf-16-be"),  # the BOM says which
        ("utf_16_le", utf16(ROWS, "utf-16-be"), "utf-16-be"),  # a BOM cannot be mistaken; the setting can
    ],
)
def test_explicit_utf16_settings(tmp_path: Path, setting: str, data: bytes, codec: str) -> None:
    path = write(tmp_path, "f.txt", data)
    assert resolve_encoding(setting, path) == codec
    assert as_lists(read_csv(path, encoding=setting)) == as_lists(read_csv(write(tmp_path, "u.csv", ROWS.encode())))


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_bomless_utf16_of_mostly_ascii_text_is_detected(tmp_path: Path, codec: str) -> None:
    text = "ah,filed,amount\n" + "".join(f"A{i:05d},2024-01-{i % 28 + 1:02d},{i}.00\n" for i in range(200))
    text += "（2024）内03民初1号,2024-02-01,一千\n"  # 一 is 00 4E: a NUL on the other side too
    path = write(tmp_path, "f.txt", text.encode(codec))
    assert detect_encoding(path) == codec
    table, _ = read_csv(path)
    assert table.num_rows == 201 and table.column("amount")[-1].as_py() == "一千"


def test_what_is_not_utf16_is_not_taken_for_it(tmp_path: Path) -> None:
    chinese = write(tmp_path, "gb.csv", ("案号,当事人\n" + "（2024）内03民初1号,张三\n" * 50).encode("gb18030"))
    assert detect_encoding(chinese) == "gb18030"
    utf32 = write(tmp_path, "u32.csv", "a,b\n1,2\n".encode("utf-32"))  # BOM FF FE 00 00 starts like UTF-16's
    with pytest.raises(TerminalSourceError, match=r"u32\.csv: line 1 .*not valid gb18030"):
        read_csv(utf32)
    chinese_utf16 = "案号,当事人\n" + "（二〇二四）内民初一号,张三\n" * 50  # hardly any ASCII: needs its BOM
    assert detect_encoding(write(tmp_path, "cn.txt", chinese_utf16.encode("utf-16-le"))) != "utf-16-le"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_lone_surrogate_refuses_the_file_naming_line_byte_and_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codec: str
) -> None:
    monkeypatch.setattr(encodings, "TRANSCODE_BYTES", 9)  # the bad unit is found many steps in
    head = utf16("a,b\r\n1,\"中\n文\"\r\n2,", codec)  # lines 1-3, then line 4 starts
    lone = "\ud800".encode(codec, "surrogatepass")
    path = write(tmp_path, "bad.txt", head + lone + "x\r\n3,y\r\n".encode(codec))
    other = "utf-16-be" if codec == "utf-16-le" else "utf-16-le"
    message = rf"bad\.txt: line 4 \(byte {len(head)}\) is not valid {codec}; .*format\.encoding \(e\.g\. {other}\)"
    with pytest.raises(TerminalSourceError, match=message):
        read_csv(path)
    with pytest.raises(TerminalSourceError, match=message):
        list(read_csv_chunks(path, chunk_bytes=16))
    truncated = write(tmp_path, "odd.txt", head + b"\x00")  # an odd last byte
    with pytest.raises(TerminalSourceError, match=rf"odd\.txt: line 4 \(byte {len(head)}\) is not valid {codec}"):
        read_csv(truncated)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "odd.txt"]  # no copy left behind


def test_a_bom_only_file_is_empty(tmp_path: Path) -> None:
    table, rejects = read_csv(write(tmp_path, "bom.txt", codecs.BOM_UTF16_LE))
    assert table.num_rows == 0 and rejects.num_rows == 0
    table, _ = read_csv(write(tmp_path, "header.txt", utf16("案号\t案由\r\n", "utf-16-le")), delimiter="\t")
    assert table.column_names == ["案号", "案由", SOURCE_ROW] and table.num_rows == 0


def test_no_header_keeps_the_first_value_free_of_the_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "f.txt", utf16("甲\t1\r\n乙\t2\r\n", "utf-16-le"))
    pieces = list(read_csv_chunks(path, delimiter="\t", header=False, chunk_bytes=8))
    rows = [r for t, _, _ in pieces for r in t.to_pylist()]
    assert rows == [{"column_1": "甲", "column_2": "1", SOURCE_ROW: 1}, {"column_1": "乙", "column_2": "2", SOURCE_ROW: 2}]
