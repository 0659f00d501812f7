"""Case numbers (案号) per 法〔2015〕137号 / 法〔2018〕335号: parse, canonicalize, split.

    （收案年度）法院代字 [专门审判代字] 类型代字 编号 号      e.g. （2024）内03民终123号

Canonical form: full-width （）, half-width digits, no spaces, no leading zeros, trailing 号.
Pre-2016 numbers (``（2013）锦江民初字第3681号``) keep their ``字第`` form; their court part is
a free place abbreviation, so it is only checked to be up to 6 CJK characters without 检 (a
procuratorate's number is not a court's); the Supreme People's Court wrote none
(``（2009）民申字第1号``).

One translation table and one pattern, built here from the code sets, drive both the Python
parser and the DuckDB macros, so a value canonicalizes identically in a unit test and in a
million-row batch. The pattern uses only syntax shared by Python ``re`` and RE2 (DuckDB).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.codes import CASE_TYPES
from schemas.identifiers import WHITESPACE
from schemas.sql import distinct_in_order, let, lit

TYPE_CODES = frozenset(CASE_TYPES)
"""类型代字 accepted in new and old style numbers: the standard's whole list."""
OLD_TYPE_PATTERN = "[民刑行商](?:[一二三四五六七八九十]{1,2}(?:外|（商）)?|外)?(?:初|终|监|申|再|提|抗|特|辖终|辖)"
"""Pre-2016 types beyond the standard's codes: a division numeral (民一初, 民四终, 民四（商）终),
commercial and foreign-related ones (商初, 商外终), retrial by a higher court (民提, 刑提). Kept as
written in the number; its type code is the standard one (``standard_type``: 民初, 民终, 民再;
commercial cases are civil). No standard code that starts with 民, 刑 or 行 goes on with a
numeral, 外 or （, or is two characters ending in 提, so the rewrite leaves every one as it is."""
_OLD_TYPE_PREFIX = "^([民刑行商])[一二三四五六七八九十]{0,2}(?:外|（商）)?"
_OLD_RETRIAL = "^([民刑行商])提$"
_OLD_COURT = f"[一-{chr(0x68BF)}{chr(0x68C1)}-鿿]"
"""A CJK character other than 检: an old court abbreviation never has one, a procuratorate's always."""
PROVINCE_CODES = frozenset("京津冀晋内辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川黔云藏陕甘青宁新兵")
"""First character of a court code: the province abbreviation (兵 = XPCC courts)."""
SUPREME_COURT = "最高法"
TRIBUNAL_CODES = frozenset("知")
"""专门审判代字, between court and type code. Must not share characters with court codes."""
MIN_YEAR, MAX_YEAR = 1949, 2100

_MAP_FROM = "０１２３４５６７８９([【〔［﹝﹙)]】〕］﹞﹚"
_MAP_TO = "0123456789" + "（" * 7 + "）" * 7
_CLOSERS = "".join(a for a, b in zip(_MAP_FROM, _MAP_TO) if b == "）") + "）"
"""Every character read as a closing bracket."""
_TABLE = str.maketrans(_MAP_FROM, _MAP_TO, WHITESPACE)
"""Digits to ASCII, brackets to （）, whitespace deleted (before matching), in Python and SQL."""


def _char_class(chars: str | frozenset[str]) -> str:
    return "[" + "".join("\\" + c if c in "\\[]^-" else c for c in sorted(chars)) + "]"


_TYPE = "(" + "|".join(sorted(TYPE_CODES, key=lambda t: (-len(t), t))) + ")"
_NEW = f"({SUPREME_COURT}|{_char_class(PROVINCE_CODES)}(?:[0-9]{{2}}){{0,2}})({_char_class(TRIBUNAL_CODES)}?){_TYPE}"
_OLD = f"({_OLD_COURT}{{0,6}}?)({_TYPE[1:-1]}|{OLD_TYPE_PATTERN})字第"
_HEAD = f"（([0-9]{{4}})）(?:{_NEW}|{_OLD})"
CASE_NUMBER_PATTERN = _HEAD + "0*([1-9][0-9]{0,8})号?"
"""Full-match pattern over normalized text. Groups: year, court, tribunal, type (new style),
court, type (old style), sequence number without leading zeros."""
_GROUPS = ("year", "court", "tribunal", "type", "old_court", "old_type", "seq")
_CASE = re.compile(CASE_NUMBER_PATTERN)


class InvalidCaseNumber(ValueError):
    """The text is not a case number; the message says what is wrong."""


@dataclass(frozen=True)
class CaseNumber:
    canonical: str
    year: int
    court_code: str
    tribunal_code: str | None
    type_code: str
    number: int
    old_style: bool = False


def normalize_text(s: str) -> str:
    """Brackets to （）, full-width digits to ASCII, whitespace removed (before matching)."""
    return s.translate(_TABLE)


def parse_case_number(s: str) -> CaseNumber:
    """Parse one case number in any bracket/digit/spacing variant; raise ``InvalidCaseNumber``."""
    text = normalize_text(s)
    m = _CASE.fullmatch(text)
    if m is None:
        raise InvalidCaseNumber(f"{s!r}: {_diagnose(text)}")
    year, court, tribunal, type_code, old_court, old_type, number = m.groups()
    if not MIN_YEAR <= int(year) <= MAX_YEAR:
        raise InvalidCaseNumber(f"{s!r}: year {year} is outside {MIN_YEAR}–{MAX_YEAR}")
    if old_type is not None:
        canonical = f"（{year}）{old_court}{old_type}字第{number}号"
        return CaseNumber(canonical, int(year), old_court or SUPREME_COURT, None, standard_type(old_type), int(number),
                          old_style=True)
    canonical = f"（{year}）{court}{tribunal}{type_code}{number}号"
    return CaseNumber(canonical, int(year), court, tribunal or None, type_code, int(number))


def standard_type(written: str) -> str:
    """The standard type code of an old-style type as written: 民一初 → 民初, 商外终 → 民终, 民二提 → 民再."""
    return re.sub("^商", "民", re.sub(_OLD_RETRIAL, r"\1再", re.sub(_OLD_TYPE_PREFIX, r"\1", written)))


def _diagnose(text: str) -> str:
    """Say which part of the form is wrong, for the person fixing the source record."""
    if not text:
        return "empty case number"
    if not re.match("（[0-9]{4}）", text):
        return "missing year in brackets, expected （YYYY） at the start"
    rest = text[6:]
    if "、" in rest:
        return "several numbers, or a number and other text, in one value (split_case_numbers splits numbers)"
    seq = re.search("[0-9]*号?$", rest)
    digits = seq.group().rstrip("号")
    if not digits:
        return "no sequence number before 号"
    if int(digits) == 0:
        return "sequence number must be 1 or more"
    if len(digits.lstrip("0")) > 9:
        return "sequence number longer than 9 digits"
    body = rest[: seq.start()]
    if body.endswith("字第"):
        body = body[:-2]
        type_code = next((body[-n:] for n in (3, 2, 1) if body[-n:] in TYPE_CODES), None)
        found = re.search(f"(?:{OLD_TYPE_PATTERN})$", body)
        if type_code is None and found is None:
            return f"unknown case type code in old-style body {body!r}"
        court = body[: -len(type_code)] if type_code else body[: found.start()]  # type: ignore[union-attr]
        if "检" in body:
            return "a procuratorate's document number (检), not a court case number"
        if not re.fullmatch("[一-鿿]{0,6}", court):
            return f"old-style court abbreviation {court!r} is not up to 6 Chinese characters"
        return "not of the form （年度）法院代字类型代字字第编号号"
    court = re.match(f"{SUPREME_COURT}|.[0-9]*", body)
    if court is None or (court.group() != SUPREME_COURT and court.group()[0] not in PROVINCE_CODES):
        return f"unknown court code at {body[:4]!r}: expected {SUPREME_COURT} or a province abbreviation"
    if len(court.group()) - 1 not in (0, 2, 4) and court.group() != SUPREME_COURT:
        return f"court code {court.group()!r} must have 0, 2 or 4 digits"
    type_code = body[court.end():]
    if type_code[:1] in TRIBUNAL_CODES:
        type_code = type_code[1:]
    if type_code not in TYPE_CODES:
        return f"unknown case type code {type_code!r}"
    return "not of the form （年度）法院代字类型代字编号号"


_LIST_MARKS = "、/"
"""Between the sequence numbers of one head (``…1、2号``), or before a whole number's year."""
_PART_MARKS = ";；,，"
"""Between whole numbers only."""
_YEAR_START = f"[{_LIST_MARKS}]?（([0-9]{{4}})）"
"""Where a number starts after another (``A号、（2021）…``, ``A号/（2021）…``, or, once whitespace
is deleted, ``A号 （2021）…``): a year in brackets. A chamber in brackets (民四（商）终) is not one."""
_PART_SEPARATORS = f"[{_PART_MARKS}\x01]"
_NUMBER_LIST = f"(.*?)([0-9]+(?:号?[{_LIST_MARKS}][0-9]+)+)号?"
"""One head with several sequence numbers: ``…民终30063、30062号``, ``…字第00123、00124号``, ``…1/2号``."""


def split_case_numbers(s: str) -> list[str]:
    """Canonical numbers in a multi-number value, in order and each once: ``…民终30063、30062号``,
    ``A号、B号``, ``A号/B号``, ``A号 B号`` or ``A号；B号`` (also ``;`` ``,`` ``，``). A single
    number gives a one-element list; a part that is no case number raises ``InvalidCaseNumber``."""
    out: list[str] = []
    for part in re.split(_PART_SEPARATORS, re.sub(_YEAR_START, "\x01（\\1）", normalize_text(s))):
        if not part:
            continue
        m = re.fullmatch(_NUMBER_LIST, part)
        numbers = re.findall("[0-9]+", m.group(2)) if m else [""]
        out += [parse_case_number(f"{m.group(1)}{n}号" if m else part).canonical for n in numbers]
    return list(dict.fromkeys(out))


def _standard_type_sql(written: str) -> str:
    """``standard_type`` in SQL."""
    prefix = f"regexp_replace({written}, {lit(_OLD_TYPE_PREFIX)}, '\\1')"
    return f"regexp_replace(regexp_replace({prefix}, {lit(_OLD_RETRIAL)}, '\\1再'), '^商', '民')"


def duckdb_macros() -> list[str]:
    """Macros applying the same rules in DuckDB.

    ``hub_case_parse(s)``: a struct (canonical, year, court, tribunal, type, seq, old_style) or NULL, from
    one submatch extraction of the Python pattern (RE2 and ``re`` choose the same groups:
    leftmost-first, lazy old-style court). ``hub_case_no(s)``: its canonical value.
    ``hub_case_split(s)``: the parses of a value holding two case numbers or more
    (``split_case_numbers``), NULL for any other. ``hub_case_year/court/tribunal/type/seq(c)``: parts of a canonical value, NULL for anything
    else. Normalization takes every part of a row from one ``hub_case_parse``: matching and
    splitting separately cost several regex passes per value.
    """
    groups = lit("^(?:" + CASE_NUMBER_PATTERN + ")$")
    dirty = _char_class(_MAP_FROM + WHITESPACE)
    mapped = "s"
    for a, b in zip(_MAP_FROM, _MAP_TO):
        mapped = f"replace({mapped}, {lit(a)}, {lit(b)})"
    old = "g.old_type <> ''"
    return [
        # _TABLE as replace() per mapped char plus one regex deletion, and only for values
        # that need it: DuckDB's translate() is far slower with this table
        "CREATE OR REPLACE MACRO hub_case_norm(s) AS " + let("s", "s", (
            f"CASE WHEN regexp_matches(s, {lit(dirty)}) "
            f"THEN regexp_replace({mapped}, {lit(_char_class(WHITESPACE))}, '', 'g') ELSE s END")),
        # every group of CASE_NUMBER_PATTERN, '' where a group took no part (all '' without a match)
        f"CREATE OR REPLACE MACRO hub_case_groups(n) AS regexp_extract(n, {groups}, [{', '.join(map(lit, _GROUPS))}])",
        "CREATE OR REPLACE MACRO hub_case_of(g) AS "
        f"CASE WHEN g.seq <> '' AND TRY_CAST(g.year AS INTEGER) BETWEEN {MIN_YEAR} AND {MAX_YEAR} THEN {{"
        f"'canonical': '（' || g.year || '）' || CASE WHEN {old} THEN g.old_court || g.old_type || '字第' "
        "ELSE g.court || g.tribunal || g.type END || g.seq || '号', "
        "'year': TRY_CAST(g.year AS INTEGER), "
        f"'court': CASE WHEN {old} THEN coalesce(nullif(g.old_court, ''), {lit(SUPREME_COURT)}) ELSE g.court END, "
        "'tribunal': nullif(g.tribunal, ''), "
        f"'type': CASE WHEN {old} THEN {_standard_type_sql('g.old_type')} ELSE g.type END, "
        "'seq': TRY_CAST(g.seq AS BIGINT), "
        f"'old_style': {old}}} END",
        "CREATE OR REPLACE MACRO hub_case_parse(s) AS " + let("hub_case_groups(hub_case_norm(s))", "g", "hub_case_of(g)"),
        "CREATE OR REPLACE MACRO hub_case_no(s) AS struct_extract(hub_case_parse(s), 'canonical')",
        # split_case_numbers: the parts of normalized text n, each part's numbers under its head
        "CREATE OR REPLACE MACRO hub_case_pieces(n) AS flatten(list_transform(list_filter(string_split_regex("
        f"regexp_replace(n, {lit(_YEAR_START)}, {lit(chr(1))} || '（\\1）', 'g'), {lit(_PART_SEPARATORS)}), "
        "lambda p: p <> ''), lambda p: " + let(
            f"regexp_extract(p, {lit('^' + _NUMBER_LIST + '$')}, ['head', 'nums'])", "g",
            "CASE WHEN g.nums = '' THEN [p] ELSE list_transform(regexp_extract_all(g.nums, '[0-9]+'), "
            "lambda x: g.head || x || '号') END") + "))",
        # TRUE for every value hub_case_split splits (a separator, or two closing brackets): cheap
        # enough to find, among a batch's values that are no case number, those worth splitting
        f"CREATE OR REPLACE MACRO hub_case_may_split(s) AS regexp_matches(s, {lit(_char_class(_LIST_MARKS + _PART_MARKS))}) "
        f"OR length(regexp_replace(s, {lit('[^' + _char_class(_CLOSERS)[1:])}, '', 'g')) >= 2",
        # the parses of a value of two case numbers or more, each case once, in order; NULL when any part is no
        # case number
        "CREATE OR REPLACE MACRO hub_case_split(s) AS " + let(
            "list_transform(hub_case_pieces(hub_case_norm(s)), lambda x: hub_case_of(hub_case_groups(x)))", "l", let(
                distinct_in_order("l"), "d",
                "CASE WHEN len(l) >= 2 AND len(list_filter(l, lambda x: x IS NULL)) = 0 THEN d END")),
        # a canonical value is one that parses to itself
        "CREATE OR REPLACE MACRO hub_case_parts(c) AS " + let("c", "c", let(
            "hub_case_parse(c)", "p", "CASE WHEN p.canonical = c THEN p END")),
        "CREATE OR REPLACE MACRO hub_case_year(c) AS struct_extract(hub_case_parts(c), 'year')",
        "CREATE OR REPLACE MACRO hub_case_type(c) AS struct_extract(hub_case_parts(c), 'type')",
        "CREATE OR REPLACE MACRO hub_case_tribunal(c) AS struct_extract(hub_case_parts(c), 'tribunal')",
        "CREATE OR REPLACE MACRO hub_case_court(c) AS struct_extract(hub_case_parts(c), 'court')",
        "CREATE OR REPLACE MACRO hub_case_seq(c) AS struct_extract(hub_case_parts(c), 'seq')",
    ]
