"""Case numbers: every written variant gives one canonical form, in Python and in DuckDB alike."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from schemas.case_number import (
    PROVINCE_CODES,
    SUPREME_COURT,
    TRIBUNAL_CODES,
    TYPE_CODES,
    CaseNumber,
    InvalidCaseNumber,
    duckdb_macros,
    parse_case_number,
    split_case_numbers,
)
from schemas.identifiers import WHITESPACE

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
BRACKETS = [("（", "）"), ("(", ")"), ("(", "）"), ("（", ")"), ("〔", "〕"), ("[", "]"), ("【", "】"),
            ("［", "］"), ("﹝", "﹞"), ("﹙", "﹚")]  # full-width square, small tortoise-shell, small round
# characters that look like parts of a case number, to make old-style courts and junk tricky
OLD_COURT_CHARS = "锦江民初终执恢破申行审复法赔知内京最高字第"
TRICKY = OLD_COURT_CHARS + "号、（）()0123456789０１"


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    for stmt in duckdb_macros():
        c.execute(stmt)
    return c


# pre-2016 types as written, and the standard code each stands for
OLD_TYPES = {"民一初": "民初", "民四终": "民终", "刑二初": "刑初", "行一终": "行终", "商初": "民初", "商外终": "民终",
             "商外初": "民初", "民二辖终": "民辖终", "民十二申": "民申", "民提": "民再", "刑提": "刑再", "民二提": "民再",
             "民四（商）终": "民终"}


@st.composite
def case_numbers(draw: st.DrawFn) -> CaseNumber:
    """A valid case number, built from its parts (the expected parse)."""
    year = draw(st.integers(1949, 2100))
    type_code = draw(st.sampled_from(sorted(TYPE_CODES)))
    number = draw(st.one_of(st.integers(1, 99999), st.integers(1, 999_999_999)))
    if draw(st.booleans()):
        court = draw(st.text(OLD_COURT_CHARS, max_size=6))  # none: the Supreme People's Court's
        written = draw(st.sampled_from([type_code, *sorted(OLD_TYPES)]))
        # a court whose last characters and the type spell a longer code is read as the shorter court
        assume(not any(len(t) > len(written) and (court + written).endswith(t) for t in [*TYPE_CODES, *OLD_TYPES]))
        return CaseNumber(f"（{year}）{court}{written}字第{number}号", year, court or SUPREME_COURT, None,
                          OLD_TYPES.get(written, written), number, True)
    court = draw(st.one_of(
        st.just(SUPREME_COURT),
        st.builds(lambda p, d: p + d, st.sampled_from(sorted(PROVINCE_CODES)),
                  st.sampled_from(["", "03", "73", "0302", "0602"])),
    ))
    tribunal = draw(st.one_of(st.none(), st.sampled_from(sorted(TRIBUNAL_CODES))))
    return CaseNumber(f"（{year}）{court}{tribunal or ''}{type_code}{number}号", year, court, tribunal, type_code, number)


@st.composite
def messy(draw: st.DrawFn, case: CaseNumber) -> str:
    """The same number as found in the wild: other brackets, full-width digits, leading zeros,
    whitespace anywhere, no trailing 号."""
    left, right = draw(st.sampled_from(BRACKETS))
    text = left + case.canonical[1:5] + right + case.canonical[6:]
    if draw(st.booleans()):
        text = text.removesuffix("号")
    seq = str(case.number)
    text = text[: text.rindex(seq)] + "0" * draw(st.integers(0, 3)) + text[text.rindex(seq):]
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(WHITESPACE)) + text[at:]
    return text


@st.composite
def case_and_variant(draw: st.DrawFn) -> tuple[CaseNumber, str]:
    case = draw(case_numbers())
    return case, draw(messy(case))


@given(case_numbers())
@settings(max_examples=300)
def test_canonical_parses_to_its_parts(case: CaseNumber) -> None:
    assert parse_case_number(case.canonical) == case


@given(case_and_variant())
@settings(max_examples=500)
def test_every_variant_gives_the_same_canonical(pair: tuple[CaseNumber, str]) -> None:
    case, text = pair
    assert parse_case_number(text) == case


@st.composite
def broken(draw: st.DrawFn) -> str:
    """Near misses: a valid number with one character deleted, replaced or inserted."""
    text = draw(case_numbers()).canonical
    at = draw(st.integers(0, len(text) - 1))
    ch = draw(st.sampled_from(TRICKY))
    return draw(st.sampled_from([text[:at] + text[at + 1:], text[:at] + ch + text[at + 1:], text[:at] + ch + text[at:]]))


@given(
    st.lists(case_and_variant(), max_size=20),
    st.lists(broken(), max_size=20),
    st.lists(st.one_of(st.text(max_size=15), st.text(TRICKY, max_size=15)), max_size=10),
)
@settings(max_examples=80, deadline=None)
def test_duckdb_macros_agree_with_python(con: duckdb.DuckDBPyConnection, cases: list[tuple[CaseNumber, str]],
                                         near: list[str], junk: list[str]) -> None:
    values = [v for c, v in cases] + [c.canonical for c, _ in cases] + near + junk
    rows = con.execute(
        "SELECT v, n, hub_case_year(n), hub_case_court(n), hub_case_tribunal(n), hub_case_type(n), hub_case_seq(n), "
        "hub_case_year(v), hub_case_court(v), hub_case_type(v), hub_case_seq(v) "
        "FROM (SELECT v, hub_case_no(v) n FROM unnest(?) t(v))", [values],
    ).fetchall()
    assert len(rows) == len(values)
    for v, canonical, year, court, tribunal, type_code, seq, *parts_of_raw in rows:
        try:
            p = parse_case_number(v)
        except InvalidCaseNumber:
            assert canonical is None, v
            assert parts_of_raw == [None] * 4, v
            continue
        assert (canonical, year, court, tribunal, type_code, seq) == (
            p.canonical, p.year, p.court_code, p.tribunal_code, p.type_code, p.number), v
        # extractors take canonical values only: a raw variant gives NULL, not a guess
        assert parts_of_raw == ([year, court, type_code, seq] if v == canonical else [None] * 4), v


def test_macros_handle_null_and_are_persistent(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute("SELECT hub_case_no(NULL), hub_case_court(NULL), hub_case_seq(NULL)").fetchone() == (None,) * 3
    assert all(s.startswith("CREATE OR REPLACE MACRO ") for s in duckdb_macros())


@pytest.mark.parametrize(("raw", "canonical", "court", "tribunal", "type_code", "number", "old"), [
    ("（2024）内03民终123号", "（2024）内03民终123号", "内03", None, "民终", 123, False),
    ("（2022）最高法知民终1592号", "（2022）最高法知民终1592号", "最高法", "知", "民终", 1592, False),
    ("（2013）锦江民初字第3681号", "（2013）锦江民初字第3681号", "锦江", None, "民初", 3681, True),
    ("（2015）济民一初字第21号", "（2015）济民一初字第21号", "济", None, "民初", 21, True),
    ("（2014）沪一中民四终字第5号", "（2014）沪一中民四终字第5号", "沪一中", None, "民终", 5, True),
    ("（2012）浙商外初字第00012号", "（2012）浙商外初字第12号", "浙", None, "民初", 12, True),
    # the Supreme People's Court wrote no court part before 2016; 提 was a higher court's retrial
    ("（2009）民申字第1号", "（2009）民申字第1号", "最高法", None, "民申", 1, True),
    ("（2012）民四终字第3号", "（2012）民四终字第3号", "最高法", None, "民终", 3, True),
    ("（2010）民提字第12号", "（2010）民提字第12号", "最高法", None, "民再", 12, True),
    ("（2011）刑提字第5号", "（2011）刑提字第5号", "最高法", None, "刑再", 5, True),
    ("（2010）执他字第5号", "（2010）执他字第5号", "最高法", None, "执他", 5, True),
    ("（2012）沪一中民四(商)终字第5号", "（2012）沪一中民四（商）终字第5号", "沪一中", None, "民终", 5, True),
    ("（2013）锦江委赔提字第3号", "（2013）锦江委赔提字第3号", "锦江", None, "委赔提", 3, True),
    ("（2018）沪01民辖终1797号", "（2018）沪01民辖终1797号", "沪01", None, "民辖终", 1797, False),
    ("（2018）沪01协外认16号", "（2018）沪01协外认16号", "沪01", None, "协外认", 16, False),
    ("（2019）内03强清申2号", "（2019）内03强清申2号", "内03", None, "强清申", 2, False),
    ("（2020）内0302司救民1号", "（2020）内0302司救民1号", "内0302", None, "司救民", 1, False),
    ("（2021）内03行赔初4号", "（2021）内03行赔初4号", "内03", None, "行赔初", 4, False),
    ("(2014）内03民终 ０１２", "（2014）内03民终12号", "内03", None, "民终", 12, False),
    ("(2024)京73民初5号", "（2024）京73民初5号", "京73", None, "民初", 5, False),
    ("〔2024〕内0302执恢7号", "（2024）内0302执恢7号", "内0302", None, "执恢", 7, False),
    ("[2024]内03行审复2号", "（2024）内03行审复2号", "内03", None, "行审复", 2, False),
    ("【２０２４】内行初5", "（2024）内行初5号", "内", None, "行初", 5, False),
    ("\u3000（2024） 内03 执 9 号\t", "（2024）内03执9号", "内03", None, "执", 9, False),
])
def test_known_forms(raw: str, canonical: str, court: str, tribunal: str | None, type_code: str,
                     number: int, old: bool) -> None:
    year = int(canonical[1:5])
    assert parse_case_number(raw) == CaseNumber(canonical, year, court, tribunal, type_code, number, old)


@pytest.mark.parametrize(("raw", "message"), [
    ("", "empty case number"),
    ("2024内03民终1号", "missing year in brackets"),
    ("（24）内03民终1号", "missing year in brackets"),
    ("（2024）内03民终号", "no sequence number"),
    ("（2024）内03民终0号", "sequence number must be 1 or more"),
    ("（2024）内03民X12号", "unknown case type code '民X'"),
    ("（2024）内03知民X12号", "unknown case type code '民X'"),
    ("（2024）蒙03民终1号", "unknown court code"),
    ("（2024）123号", "unknown court code"),
    ("（2024）内3民终1号", "court code '内3' must have 0, 2 or 4 digits"),
    ("（2013）锦江民X字第1号", "unknown case type code in old-style body"),
    ("（2013）锦江1民初字第1号", "old-style court abbreviation '锦江1' is not"),
    ("（2014）乌检民监字第5号", "a procuratorate's document number"),  # a procuratorate's, not a court's
    ("（2013）榕检民行监字第5号", "a procuratorate's document number"),
    ("（1800）内03民终1号", "year 1800 is outside 1949"),
    ("（2020）内03民终30063、30062号", "split_case_numbers"),
    ("（2024）内03民终12345678901号", "longer than 9 digits"),
])
def test_errors_say_what_is_wrong_and_quote_the_input(raw: str, message: str) -> None:
    with pytest.raises(InvalidCaseNumber, match=message) as e:
        parse_case_number(raw)
    assert repr(raw) in str(e.value)


@pytest.mark.parametrize(("raw", "expected"), [
    ("（2020）内03民终30063、30062号", ["（2020）内03民终30063号", "（2020）内03民终30062号"]),
    ("（2020）内03民终30063号、30062号", ["（2020）内03民终30063号", "（2020）内03民终30062号"]),
    ("(2020)内03民终1、02、3", ["（2020）内03民终1号", "（2020）内03民终2号", "（2020）内03民终3号"]),
    ("（2013）锦江民初字第3681、3682号", ["（2013）锦江民初字第3681号", "（2013）锦江民初字第3682号"]),
    ("(2020)内03民终1号；（2021）内03执2号", ["（2020）内03民终1号", "（2021）内03执2号"]),
    ("(2020)内03民终1号;（2021）内03执2号, 〔2022〕内0302执恢3号，[2023]最高法知民终4号",
     ["（2020）内03民终1号", "（2021）内03执2号", "（2022）内0302执恢3号", "（2023）最高法知民终4号"]),
    ("（2020）内03民终1号、（2021）内03执2号", ["（2020）内03民终1号", "（2021）内03执2号"]),
    # separated by a slash or by spaces; a list with 字第; a chamber's brackets are not a second number
    ("（2020）内03民终1号/（2021）内03执2号", ["（2020）内03民终1号", "（2021）内03执2号"]),
    ("（2020）内03民终1号 （2021）内03执2号", ["（2020）内03民终1号", "（2021）内03执2号"]),
    ("（2020）内03民终1/2号", ["（2020）内03民终1号", "（2020）内03民终2号"]),
    ("（2013）朝民初字第00123、00124号", ["（2013）朝民初字第123号", "（2013）朝民初字第124号"]),
    ("（2012）沪一中民四（商）终字第5、6号", ["（2012）沪一中民四（商）终字第5号", "（2012）沪一中民四（商）终字第6号"]),
    ("（2020）内03民终7、07号", ["（2020）内03民终7号"]),  # one case named twice
])
def test_split_multi_numbers(con: duckdb.DuckDBPyConnection, raw: str, expected: list[str]) -> None:
    assert split_case_numbers(raw) == expected
    # the warehouse's macro splits alike, and its cheap test never misses a value it splits
    split, may = con.execute("SELECT list_transform(hub_case_split(?), lambda p: p.canonical), hub_case_may_split(?)",
                             [raw, raw]).fetchone()
    assert split == expected and may


def test_a_single_number_is_not_split(con: duckdb.DuckDBPyConnection) -> None:
    raw = "（2024）内03民终123号"
    assert split_case_numbers(raw) == [raw]
    assert con.execute("SELECT hub_case_split(?), hub_case_may_split(?)", [raw, raw]).fetchone() == (None, False)


@given(st.lists(case_and_variant(), min_size=2, max_size=4),
       st.lists(st.sampled_from(["、", "/", " ", "；", ";", ",", "，", "\u3000"]), min_size=3, max_size=3))
@settings(max_examples=150, deadline=None)  # a DuckDB query per example: timing is no concern here
def test_split_agrees_in_python_and_duckdb(con: duckdb.DuckDBPyConnection, cases: list[tuple[CaseNumber, str]],
                                           separators: list[str]) -> None:
    text = cases[0][1]
    for (_, variant), sep in zip(cases[1:], separators):
        text += sep + variant
    expected = list(dict.fromkeys(case.canonical for case, _ in cases))
    assert split_case_numbers(text) == expected
    split, may = con.execute("SELECT list_transform(hub_case_split(?), lambda p: p.canonical), hub_case_may_split(?)",
                             [text, text]).fetchone()
    assert split == expected and may


def test_split_rejects_a_bad_part() -> None:
    with pytest.raises(InvalidCaseNumber, match="unknown case type code"):
        split_case_numbers("（2020）内03民终1号；（2021）内03民X2号")


def test_multi_number_values_are_null_in_duckdb(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute("SELECT hub_case_no('（2020）内03民终30063、30062号')").fetchone() == (None,)


def test_type_codes_cover_the_standard_and_split_uniquely() -> None:
    required = set(
        "民初 民终 民监 民申 民抗 民再 民撤 民特 民催 民督 刑初 刑终 刑监 刑申 刑抗 刑再 刑核 刑更 "
        "行初 行终 行监 行申 行抗 行再 行审 行审复 执 执恢 执保 执异 执复 执监 执协 执他 破申 破终 破 "
        "财保 行保 证保 司惩 法赔 委赔".split()
    )
    assert required <= TYPE_CODES and all(1 <= len(t) <= 3 for t in TYPE_CODES)
    # no type code ends with another one, so "court + type" splits one way only, but for two
    # pairs where an old-style court would have to end in 司救 or 民: the shorter court is read
    assert {(a, b) for a in TYPE_CODES for b in TYPE_CODES if a != b and a.endswith(b)} == {("司救执", "执"), ("民破", "破")}
    # a tribunal code is never mistaken for the end of a court code or the start of a type code
    assert not TRIBUNAL_CODES & (PROVINCE_CODES | set(SUPREME_COURT) | {t[0] for t in TYPE_CODES})


def test_the_tribunal_code_table_is_what_the_parser_accepts() -> None:
    from schemas.case_number import TRIBUNAL_CODES
    from schemas.codes import TRIBUNALS

    assert set(TRIBUNALS) == set(TRIBUNAL_CODES)
