"""Case numbers (案号) per 法〔2015〕137号 / 法〔2018〕335号: parse, canonicalize, split.

    （收案年度）法院代字 [专门审判代字] 类型代字 编号 号      e.g. （2024）内03民终123号

Canonical form: full-width （）, half-width digits, no spaces, no leading zeros, trailing 号.
Pre-2016 numbers (``（2013）锦江民初字第3681号``) keep their ``字第`` form.

The same pieces (translation table, patterns) drive the Python parser and the DuckDB macros,
so a value canonicalizes identically in a unit test and in a million-row batch. The patterns
use only syntax shared by Python ``re`` and RE2 (DuckDB), with CJK ranges as literal chars.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TYPE_CODES = frozenset(
    "民初 民终 民监 民申 民抗 民再 民撤 民特 民催 民督 "
    "刑初 刑终 刑监 刑申 刑抗 刑再 刑核 刑更 "
    "行初 行终 行监 行申 行抗 行再 行审 行审复 "
    "执 执恢 执保 执异 执复 执监 执协 执他 "
    "破申 破终 破 财保 行保 证保 司惩 法赔 委赔".split()
)
TRIBUNAL_CODES = frozenset("知环金")
MIN_YEAR, MAX_YEAR = 1949, 2100

_FROM = "０１２３４５６７８９([【〔)]】〕"
_TO = "0123456789（（（（））））"
_TRANSLATE = str.maketrans(_FROM, _TO)
_SPACE = "[\\s\u3000]+"

_CJK = "[一-鿿]"
_TYPES = "|".join(sorted(TYPE_CODES, key=len, reverse=True))
_COURT = f"最高法|{_CJK}(?:[0-9]{{2}}(?:[0-9]{{2}})?)?"
NEW_STYLE = f"^（([0-9]{{4}})）({_COURT})([知环金]?)({_TYPES})([0-9]{{1,9}})号?$"
OLD_STYLE = f"^（([0-9]{{4}})）({_CJK}{{1,6}}?)({_TYPES})字第([0-9]{{1,9}})号?$"
_NEW = re.compile(NEW_STYLE)
_OLD = re.compile(OLD_STYLE)


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
    return re.sub(_SPACE, "", s.translate(_TRANSLATE))


def parse_case_number(s: str) -> CaseNumber:
    """Parse one case number in any bracket/digit/spacing variant; raise ``InvalidCaseNumber``."""
    text = normalize_text(s or "")
    if m := _NEW.match(text):
        year, court, tribunal, type_code, number = m.groups()
        _check_year(int(year), s)
        canonical = f"（{year}）{court}{tribunal}{type_code}{int(number)}号"
        return CaseNumber(canonical, int(year), court, tribunal or None, type_code, int(number))
    if m := _OLD.match(text):
        year, court, type_code, number = m.groups()
        _check_year(int(year), s)
        canonical = f"（{year}）{court}{type_code}字第{int(number)}号"
        return CaseNumber(canonical, int(year), court, None, type_code, int(number), old_style=True)
    raise InvalidCaseNumber(f"{s!r}: {_diagnose(text)}")


def _check_year(year: int, s: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidCaseNumber(f"{s!r}: year {year} is outside {MIN_YEAR}–{MAX_YEAR}")


def _diagnose(text: str) -> str:
    """Say which part of the form is wrong, for the person fixing the source record."""
    if not text:
        return "empty case number"
    if not re.match("^（[0-9]{4}）", text):
        return "missing year in brackets, expected （YYYY） at the start"
    rest = text[6:]
    if "、" in rest:
        return "several numbers in one value; split it with split_case_numbers"
    if not re.search("[0-9]+号?$", rest):
        return "no sequence number before 号"
    if re.search("[0-9]{10,}号?$", rest):
        return "sequence number longer than 9 digits"
    body = re.sub("[0-9]+号?$", "", rest).removesuffix("字第")
    court = re.match(f"^(?:{_COURT})[知环金]?", body)
    if court is None:
        return "no court code (法院代字) after the year"
    type_code = body[court.end():]
    if type_code not in TYPE_CODES:
        return f"unknown case type code {type_code!r}"
    return "not of the form （年度）法院代字类型代字编号号"


def split_case_numbers(s: str) -> list[str]:
    """Canonical numbers in a multi-number value: ``…民终30063、30062号`` or ``A号；B号``."""
    out: list[str] = []
    for part in re.split("[;；,，]", s):
        if not part.strip():
            continue
        text = normalize_text(part)
        m = re.match("^(.*?)([0-9]+(?:、[0-9]+)+)(号?)$", text)
        if m:
            out += [parse_case_number(f"{m.group(1)}{n}号").canonical for n in m.group(2).split("、")]
        else:
            out.append(parse_case_number(part).canonical)
    return out


def _sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_macros() -> list[str]:
    """Macros applying the same rules in DuckDB: ``hub_case_no(s)`` (canonical or NULL) and
    part extractors over canonical values (``hub_case_year/court/tribunal/type/seq``)."""
    new, old = _sql(NEW_STYLE), _sql(OLD_STYLE)
    groups_new = "['y', 'court', 'trib', 'type', 'num']"
    groups_old = "['y', 'court', 'type', 'num']"
    return [
        f"CREATE OR REPLACE MACRO hub_case_norm(s) AS "
        f"regexp_replace(translate(s, {_sql(_FROM)}, {_sql(_TO)}), {_sql(_SPACE)}, '', 'g')",
        "CREATE OR REPLACE MACRO hub_case_build(n, o) AS CASE "
        f"WHEN TRY_CAST(n.y AS INTEGER) BETWEEN {MIN_YEAR} AND {MAX_YEAR} "
        "THEN '（' || n.y || '）' || n.court || n.trib || n.type || CAST(TRY_CAST(n.num AS INTEGER) AS VARCHAR) || '号' "
        f"WHEN TRY_CAST(o.y AS INTEGER) BETWEEN {MIN_YEAR} AND {MAX_YEAR} "
        "THEN '（' || o.y || '）' || o.court || o.type || '字第' || CAST(TRY_CAST(o.num AS INTEGER) AS VARCHAR) || '号' END",
        f"CREATE OR REPLACE MACRO hub_case_no(s) AS hub_case_build("
        f"regexp_extract(hub_case_norm(s), {new}, {groups_new}), "
        f"regexp_extract(hub_case_norm(s), {old}, {groups_old}))",
        "CREATE OR REPLACE MACRO hub_case_year(c) AS TRY_CAST(regexp_extract(c, '^（([0-9]{4})）', 1) AS INTEGER)",
        f"CREATE OR REPLACE MACRO hub_case_court(c) AS coalesce("
        f"nullif(regexp_extract(c, {new}, 2), ''), nullif(regexp_extract(c, {old}, 2), ''))",
        f"CREATE OR REPLACE MACRO hub_case_tribunal(c) AS nullif(regexp_extract(c, {new}, 3), '')",
        f"CREATE OR REPLACE MACRO hub_case_type(c) AS coalesce("
        f"nullif(regexp_extract(c, {new}, 4), ''), nullif(regexp_extract(c, {old}, 3), ''))",
        f"CREATE OR REPLACE MACRO hub_case_seq(c) AS TRY_CAST(coalesce("
        f"nullif(regexp_extract(c, {new}, 5), ''), nullif(regexp_extract(c, {old}, 4), '')) AS BIGINT)",
    ]
