"""Identifier rules: case numbers, resident IDs, credit codes — Python and DuckDB agree."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.case_number import (
    TYPE_CODES, InvalidCaseNumber, duckdb_macros as case_macros, parse_case_number, split_case_numbers,
)
from schemas.identifiers import (
    CREDIT_ALPHABET, CREDIT_WEIGHTS, RESIDENT_WEIGHTS, InvalidIdentifier, duckdb_macros as id_macros,
    keyed_hash, keyed_hash_macro, mask_identifier, validate_credit_code, validate_party_id, validate_resident_id,
)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    for stmt in case_macros() + id_macros():
        c.execute(stmt)
    return c


# --- independent reference implementations of the check digits (from the standards' text) ---
def resident_check(first17: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, RESIDENT_WEIGHTS)) % 11]


def credit_check(first17: str) -> str:
    c = 31 - sum(CREDIT_ALPHABET.index(ch) * w for ch, w in zip(first17, CREDIT_WEIGHTS)) % 31
    return CREDIT_ALPHABET[0 if c == 31 else c]


resident_ids = st.builds(
    lambda region, born, seq: (lambda b: b + resident_check(b))(f"{region}{born:%Y%m%d}{seq:03d}"),
    st.integers(110000, 659999), st.dates(dt.date(1900, 1, 1), dt.date(2020, 12, 31)), st.integers(0, 999),
)
credit_codes = st.text(CREDIT_ALPHABET, min_size=17, max_size=17).map(lambda b: b + credit_check(b))
courts = st.sampled_from(["内03", "内0302", "内", "最高法", "京73", "内06", "内0602"])
types = st.sampled_from(sorted(TYPE_CODES))


@st.composite
def case_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(canonical, a messy variant of it)."""
    year, court, type_code, num = draw(st.integers(1990, 2030)), draw(courts), draw(types), draw(st.integers(1, 99999))
    canonical = f"（{year}）{court}{type_code}{num}号"
    left, right = draw(st.sampled_from([("（", "）"), ("(", ")"), ("(", "）"), ("〔", "〕"), ("[", "]"), ("【", "】")]))
    digits = str(num)
    if draw(st.booleans()):
        digits = digits.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    if draw(st.booleans()):
        digits = "0" * draw(st.integers(0, 2)) + digits
    suffix = draw(st.sampled_from(["号", "", " 号"]))
    space = draw(st.sampled_from(["", " ", "\u3000"]))
    return canonical, f"{space}{left}{year}{right}{space}{court}{type_code}{space}{digits}{suffix}{space}"


@given(case_numbers())
@settings(max_examples=300)
def test_every_variant_canonicalizes_and_round_trips(case: tuple[str, str]) -> None:
    canonical, messy = case
    parsed = parse_case_number(messy)
    assert parsed.canonical == canonical
    assert parse_case_number(parsed.canonical) == parsed  # canonical is a fixed point


@given(st.lists(case_numbers(), min_size=1, max_size=30), st.lists(st.text(max_size=12), max_size=10))
@settings(max_examples=60, deadline=None)
def test_duckdb_macros_agree_with_python(con: duckdb.DuckDBPyConnection, cases: list[tuple[str, str]], junk: list[str]) -> None:
    values = [m for _, m in cases] + junk + [c.replace("号", "字第1号") for c, _ in cases[:3]]
    rows = con.execute(
        "SELECT v, hub_case_no(v) c, hub_case_year(hub_case_no(v)), hub_case_court(hub_case_no(v)), "
        "hub_case_tribunal(hub_case_no(v)), hub_case_type(hub_case_no(v)), hub_case_seq(hub_case_no(v)) "
        "FROM unnest(?) t(v)", [values],
    ).fetchall()
    for v, canon, year, court, trib, type_code, seq in rows:
        try:
            p = parse_case_number(v)
        except InvalidCaseNumber:
            assert canon is None, v
            continue
        assert (canon, year, court, trib, type_code, seq) == (
            p.canonical, p.year, p.court_code, p.tribunal_code, p.type_code, p.number), v


@pytest.mark.parametrize(("raw", "canonical", "court", "tribunal", "type_code"), [
    ("（2024）内03民终123号", "（2024）内03民终123号", "内03", None, "民终"),
    ("(2022)最高法知民终1592号", "（2022）最高法知民终1592号", "最高法", "知", "民终"),
    ("（2013）锦江民初字第3681号", "（2013）锦江民初字第3681号", "锦江", None, "民初"),
    ("(2014）内03民终 ０１２", "（2014）内03民终12号", "内03", None, "民终"),
    ("〔2024〕内0302执恢7号", "（2024）内0302执恢7号", "内0302", None, "执恢"),
    ("[2024]内03行审复2号", "（2024）内03行审复2号", "内03", None, "行审复"),
    ("【2024】内03行初5", "（2024）内03行初5号", "内03", None, "行初"),
])
def test_known_forms(raw: str, canonical: str, court: str, tribunal: str | None, type_code: str) -> None:
    p = parse_case_number(raw)
    assert (p.canonical, p.court_code, p.tribunal_code, p.type_code) == (canonical, court, tribunal, type_code)


@pytest.mark.parametrize(("raw", "message"), [
    ("", "empty"),
    ("2024内03民终1号", "missing year in brackets"),
    ("（2024）内03民终号", "no sequence number"),
    ("（2024）内03民X12号", "unknown case type code '民X'"),
    ("（1800）内03民终1号", "outside 1949"),
    ("（2020）内03民终30063、30062号", "split_case_numbers"),
    ("（2024）内03民终12345678901号", "longer than 9 digits"),
])
def test_errors_say_what_is_wrong(raw: str, message: str) -> None:
    with pytest.raises(InvalidCaseNumber, match=message):
        parse_case_number(raw)


def test_split_multi_numbers() -> None:
    assert split_case_numbers("（2020）内03民终30063、30062号") == ["（2020）内03民终30063号", "（2020）内03民终30062号"]
    assert split_case_numbers("(2020)内03民终1号；（2021）内03执2号") == ["（2020）内03民终1号", "（2021）内03执2号"]


@given(resident_ids)
def test_valid_resident_ids_validate(v: str) -> None:
    assert validate_resident_id(v.lower()) == v


@given(resident_ids, st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_change_to_a_resident_id_is_rejected(v: str, pos: int, ch: str) -> None:
    changed = v[:pos] + ch + v[pos + 1:]
    if changed != v:
        with pytest.raises(InvalidIdentifier):
            validate_resident_id(changed)


@given(credit_codes)
def test_valid_credit_codes_validate(v: str) -> None:
    assert validate_credit_code(v) == v


@given(credit_codes, st.integers(0, 17), st.sampled_from(CREDIT_ALPHABET))
def test_any_single_change_to_a_credit_code_is_rejected(v: str, pos: int, ch: str) -> None:
    changed = v[:pos] + ch + v[pos + 1:]
    if changed != v:
        with pytest.raises(InvalidIdentifier):
            validate_credit_code(changed)


@given(st.lists(resident_ids, max_size=10), st.lists(credit_codes, max_size=10), st.lists(st.text(max_size=20), max_size=10))
@settings(deadline=None)
def test_identifier_macros_agree_with_python(con: duckdb.DuckDBPyConnection, rids: list[str], codes: list[str], junk: list[str]) -> None:
    values = rids + codes + junk + [r[:-1] + ("0" if r[-1] != "0" else "1") for r in rids]
    rows = con.execute(
        "SELECT v, hub_resident_id_ok(v), hub_credit_code_ok(v), hub_party_id_ok(v), hub_mask_id(v) FROM unnest(?) t(v)",
        [values],
    ).fetchall()
    for v, rid_ok, code_ok, party_ok, masked in rows:
        assert rid_ok == _ok(validate_resident_id, v), v
        assert code_ok == _ok(validate_credit_code, v), v
        assert party_ok == _ok(validate_party_id, v), v
        assert masked == mask_identifier(v), v


def test_mistyped_resident_id_is_not_taken_for_a_credit_code() -> None:
    # find a resident-ID-shaped string with a wrong check digit that passes the MOD 31 check
    candidates = (f"15030219900101{n:03d}{d}" for n in range(1000) for d in "0123456789")
    fake = next(c for c in candidates if _ok(validate_credit_code, c) and not _ok(validate_resident_id, c))
    with pytest.raises(InvalidIdentifier, match="resident ID check digit"):
        validate_party_id(fake)


def _ok(fn: object, v: str) -> bool:
    try:
        fn(v)  # type: ignore[operator]
        return True
    except InvalidIdentifier:
        return False


def test_masks() -> None:
    assert mask_identifier("11010519491231002x") == "110105********002X"
    assert mask_identifier("91150300MA0N1234X5") == "91150300******34X5"
    assert mask_identifier("张三丰") == "张*丰"


@given(st.text(max_size=40), st.binary(min_size=1, max_size=100))
@settings(max_examples=40, deadline=None)
def test_keyed_hash_is_hmac_in_python_and_sql(value: str, key: bytes) -> None:
    expected = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
    assert keyed_hash(value, key) == expected
    c = duckdb.connect()
    c.execute(keyed_hash_macro(key))
    assert c.execute("SELECT hub_keyed_hash(?)", [value]).fetchone()[0] == expected


def test_hash_key_never_reaches_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as c:
        c.execute(keyed_hash_macro(b"very-secret-key"))
        c.execute("CREATE TABLE t AS SELECT hub_keyed_hash('x') h")
    with duckdb.connect(str(path)) as c:
        assert c.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'hub_keyed_hash'").fetchone()[0] == 0
    secret_pad = bytes(b ^ 0x36 for b in b"very-secret-key".ljust(64, b"\0")).hex()
    assert secret_pad.encode() not in path.read_bytes()
