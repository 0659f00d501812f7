"""A text file's encoding: detected or resolved from config, and UTF-16 transcoded to UTF-8.

``auto`` picks UTF-8 with BOM; else UTF-16 from its BOM (``FF FE`` little-, ``FE FF``
big-endian: Excel's "Unicode Text" and many Windows tools), or without one from the NUL bytes
of mostly-ASCII text; else UTF-8 if every byte up to the first stretch of non-ASCII text
decodes strictly, else GB18030. GBK and GB2312 are read as GB18030, their superset. A file
with bytes its encoding cannot decode is refused as a whole, with the line of the first bad
byte and the setting to change: guessing per line would mix encodings.

The CSV readers cut pieces and count lines at ``\\n`` bytes, which UTF-16 splits in two, so a
UTF-16 file is read from a UTF-8 copy (``utf8_copy``): character for character, so every line
keeps its number.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from connectors.errors import TerminalSourceError

SNIFF_BYTES = 1 << 20
TRANSCODE_BYTES = 1 << 20  # UTF-16 read per step of the copy: memory stays flat however large the file
UTF16 = ("utf-16-le", "utf-16-be")
_SUPERSETS = {"gbk": "gb18030", "gb2312": "gb18030"}  # codecs.lookup names; cp936 is "gbk"

Opener = Callable[[], BinaryIO]
"""Opens a fresh binary stream over a file's bytes: the file itself, or a download still
arriving (its reads wait for bytes not yet written)."""


def file_opener(path: Path) -> Opener:
    return lambda: open(path, "rb")


def detect_encoding(path: Path) -> str:
    """``utf-8-sig``, ``utf-16-le``, ``utf-16-be``, ``utf-8`` or ``gb18030``, judged on the
    first 1 MiB that holds non-ASCII.

    A strict UTF-8 decode of a large slice almost never succeeds on GBK text, while an ASCII
    prefix (codes, dates) says nothing, so the sniff skips it instead of stopping there.
    """
    with open(path, "rb") as fh:
        return _sniff(fh)


def _sniff(fh: BinaryIO) -> str:
    decoder = codecs.getincrementaldecoder("utf-8")()
    chunk = fh.read(SNIFF_BYTES)
    if chunk.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    utf16 = _utf16_bom(chunk) or _utf16_nuls(chunk)
    if utf16:
        return utf16
    while chunk:
        try:
            text = decoder.decode(chunk)  # keeps a character cut at the chunk end for the next
        except UnicodeDecodeError:
            return "gb18030"
        if not text.isascii():
            return "utf-8"
        chunk = fh.read(SNIFF_BYTES)
    return "utf-8"


def _utf16_bom(head: bytes) -> str | None:
    """The byte order a UTF-16 BOM states (``FF FE 00 00`` is UTF-32's, left to be refused)."""
    if head.startswith(codecs.BOM_UTF16_LE) and not head.startswith(codecs.BOM_UTF32_LE):
        return "utf-16-le"
    return "utf-16-be" if head.startswith(codecs.BOM_UTF16_BE) else None


def _utf16_nuls(head: bytes) -> str | None:
    """UTF-16 without a BOM, only where it cannot be mistaken: at least a quarter of the code
    units have a NUL high byte (ASCII) and hardly any a NUL low byte (一 is ``00 4E``).

    Text in UTF-8 or GB18030 holds no NULs; UTF-32 and binary files hold them on both sides.
    A bad unit further on is then refused by ``utf8_copy`` with its line, not misread."""
    even, odd = head[0::2].count(0), head[1::2].count(0)
    ascii_units, other = max(even, odd), min(even, odd)
    if len(head) < 4 or ascii_units * 4 < len(head) // 2 or other * 16 > ascii_units:
        return None
    return "utf-16-le" if odd > even else "utf-16-be"


def resolve_encoding(encoding: str, path: Path, opener: Opener | None = None) -> str:
    """The Python codec to read ``path`` with: detected for ``auto``, widened for GBK; for
    UTF-16 the byte order of its BOM, else the one named (``utf-16`` alone: little-endian)."""
    if encoding == "auto":
        with (opener or file_opener(path))() as fh:
            return _sniff(fh)
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise TerminalSourceError(
            f"{path}: unknown encoding {encoding!r}; use auto, utf-8, utf-8-sig, gb18030, utf-16, utf-16-le "
            "or utf-16-be"
        ) from None
    if name in ("utf-16", *UTF16):
        with (opener or file_opener(path))() as fh:
            return _utf16_bom(fh.read(2)) or ("utf-16-le" if name == "utf-16" else name)
    return _SUPERSETS.get(name, name)


def undecodable(data: bytes, codec: str, path: Path, lines_before: int = 0, bytes_before: int = 0) -> str | None:
    """Where the first undecodable byte of ``data`` (the file, or the piece of it that starts
    after ``lines_before`` lines and ``bytes_before`` bytes) is, for the error message."""
    try:
        data.decode(codec)
    except UnicodeDecodeError as exc:
        return _refusal(path, codec, lines_before + data.count(b"\n", 0, exc.start) + 1, bytes_before + exc.start)
    return None


def _refusal(path: Path, codec: str, line: int, byte: int) -> str:
    if codec in UTF16:
        hint = "utf-16-be" if codec == "utf-16-le" else "utf-16-le"  # the other byte order
    else:
        hint = "gb18030 (GBK files too)" if codec.startswith("utf") else "utf-8"
    return (
        f"{path}: line {line} (byte {byte}) is not valid {codec}; the file was refused whole. "
        f"Set the source's format.encoding (e.g. {hint}) or ask the sender to re-export it"
    )


@contextmanager
def utf8_copy(path: Path, codec: str, opener: Opener | None = None) -> Iterator[tuple[Path, str]]:
    """``(file, codec)`` to parse ``path`` with: itself, or for UTF-16 a UTF-8 copy beside it
    (``<name>.utf8``, replaced if there, removed on leaving whether reading succeeded or not)."""
    if codec not in UTF16:
        yield path, codec
        return
    copy = path.with_name(path.name + ".utf8")
    try:
        with (opener or file_opener(path))() as source, open(copy, "wb") as out:
            _transcode(source, out, codec, path)
        yield copy, "utf-8"
    finally:
        copy.unlink(missing_ok=True)


def _transcode(source: BinaryIO, out: BinaryIO, codec: str, path: Path) -> None:
    """``source`` written to ``out`` as UTF-8 a step at a time (in C, no Python per line); a bad
    code unit (a lone surrogate, an odd last byte) refuses the file, naming its line."""
    decoder = codecs.getincrementaldecoder(codec)()
    lines = offset = 0
    while True:
        chunk = source.read(TRANSCODE_BYTES)
        pending = decoder.getstate()[0]  # bytes of a unit or pair cut at the last step's end
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:  # exc.object is pending + chunk
            line = lines + exc.object[:exc.start].decode(codec, "replace").count("\n") + 1
            raise TerminalSourceError(_refusal(path, codec, line, offset - len(pending) + exc.start)) from None
        data = text.encode("utf-8")
        out.write(data)
        if not chunk:
            return
        lines += data.count(b"\n")
        offset += len(chunk)
