"""Resident IDs, credit codes, organization codes, masking and keyed hashing — Python and DuckDB agree."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.identifiers import (
    WHITESPACE,
    InvalidIdentifier,
    duckdb_macros,
    keyed_hash,
    keyed_hash_macro,
    mask_identifier,
    validate_credit_code,
    validate_org_code,
    validate_party_id,
    validate_resident_id,
)

# The standards' parameters, written out again here so a typo in the module is caught.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def resident_check(first17: str) -> str:
    weights = [2 ** (17 - i) % 11 for i in range(17)]  # ISO 7064 MOD 11-2: 7 9 10 5 8 4 2 1 6 3 ...
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights)) % 11]


def credit_check(first17: str) -> str:
    weights = [3 ** i % 31 for i in range(17)]  # GB 32100-2015: 1 3 9 27 19 26 16 17 20 29 ...
    c = 31 - sum(ALPHABET.index(ch) * w for ch, w in zip(first17, weights)) % 31
    return ALPHABET[0 if c == 31 else c]


def org_check(body: str) -> str:
    # GB 11714-1997: weights 3 7 9 10 5 8 4 2, letters A=10 … Z=35, C9 = 11 - sum mod 11, 10 is X, 11 is 0
    c = 11 - sum(int(ch, 36) * w for ch, w in zip(body, [3, 7, 9, 10, 5, 8, 4, 2])) % 11
    return {10: "X", 11: "0"}.get(c, str(c))


resident_ids = st.builds(
    lambda region, born, seq: (lambda b: b + resident_check(b))(f"{region}{born:%Y%m%d}{seq:03d}"),
    st.integers(110000, 829999), st.dates(dt.date(1800, 1, 1), dt.date(2099, 12, 31)), st.integers(0, 999),
)
# GB 32100's registration authorities with their categories, and region codes' first two digits
AUTHORITIES = {"1": "1239", "2": "19", "3": "123459", "4": "19", "5": "1239", "6": "129", "7": "129", "8": "19",
               "9": "123", "A": "19", "N": "1239", "Y": "1"}
PROVINCES = "10 11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82"
credit_codes = st.builds(
    lambda kind, province, county, body: (lambda b: b + credit_check(b))(kind + province + f"{county:04d}" + body),
    st.sampled_from([a + c for a, cs in AUTHORITIES.items() for c in cs]), st.sampled_from(PROVINCES.split()),
    st.integers(0, 9999), st.text(ALPHABET, min_size=9, max_size=9),
)
resident_ids_15 = st.builds(
    lambda region, born, seq: f"{region}{born:%y%m%d}{seq:03d}",
    st.integers(110000, 829999), st.dates(dt.date(1900, 1, 1), dt.date(1999, 12, 31)), st.integers(0, 999),
)
org_codes = st.builds(
    lambda body, hyphen: body + ("-" if hyphen else "") + org_check(body),
    st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=8, max_size=8).filter(lambda b: b != "00000000"),
    st.booleans(),
)
padding = st.text(st.sampled_from(WHITESPACE), max_size=2)
# look-alikes whose Unicode upper case or folding is ASCII: must never make a value valid
confusables = st.sampled_from(["x", "X", "ſ", "ﬀ", "ı", "K", "Ｘ", "１", "a", " ", "\u3000", "*"])


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    for stmt in duckdb_macros():
        c.execute(stmt)
    return c


def test_weights_are_the_published_ones() -> None:
    assert [2 ** (17 - i) % 11 for i in range(17)] == [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    assert [3 ** i % 31 for i in range(17)] == [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


@pytest.mark.parametrize(("valid", "fn"), [
    ("11010519491231002X", validate_resident_id),
    ("91350100M000100Y43", validate_credit_code),  # published example (a Fujian company)
])
def test_known_valid_identifiers(valid: str, fn: Callable[[str], str]) -> None:
    assert fn(valid) == valid
    assert fn(f" {valid.lower()}\u3000") == valid


@given(resident_ids, padding, padding, st.booleans())
def test_valid_resident_ids_validate(v: str, before: str, after: str, lower: bool) -> None:
    assert validate_resident_id(before + (v.lower() if lower else v) + after) == v


@given(resident_ids, st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_change_to_a_resident_id_is_rejected(v: str, pos: int, ch: str) -> None:
    changed = v[:pos] + ch + v[pos + 1:]
    if changed != v:
        with pytest.raises(InvalidIdentifier):
            validate_resident_id(changed)


@given(credit_codes, padding, st.booleans())
def test_valid_credit_codes_validate(v: str, pad: str, lower: bool) -> None:
    assert validate_credit_code(pad + (v.lower() if lower else v) + pad) == v


@given(credit_codes, st.integers(0, 17), st.sampled_from(ALPHABET))
def test_any_single_change_to_a_credit_code_is_rejected(v: str, pos: int, ch: str) -> None:
    changed = v[:pos] + ch + v[pos + 1:]
    if changed != v:
        with pytest.raises(InvalidIdentifier):
            validate_credit_code(changed)


@pytest.mark.parametrize(("fn", "raw", "message"), [
    (validate_resident_id, "11010519491231002", "must have 18 characters \\(15 for a first-generation one\\), got 17"),
    (validate_resident_id, "11010549123100X", "15-character resident ID must be 15 digits"),
    (validate_resident_id, "110105491331002", "15-digit resident ID region 110105 or birth date 19491331 is out of range"),
    (validate_resident_id, "110105490229002", "birth date 19490229 does not exist"),
    (validate_org_code, "D2143569-1", "organization code check character is 1, expected X"),
    (validate_org_code, "D2143569--X", "8 letters or digits, an optional hyphen"),
    (validate_org_code, "00000000-0", "a placeholder"),  # passes the check, names nobody
    (validate_party_id, "D2143569-1", "organization code check character"),
    (validate_party_id, "110105491331002", "15-digit resident ID"),
    (validate_resident_id, "11010519491231002Y", "17 digits followed by a digit or X"),
    (validate_resident_id, "1101051949123100２X", "17 digits followed by a digit or X"),
    (validate_resident_id, "01010519491231002X", "region 010105 or birth date 19491231 is out of range"),
    (validate_resident_id, "11010519491331002X", "birth date 19491331 is out of range"),
    (validate_resident_id, "110105" "19490229" "0021", "birth date 19490229 does not exist"),
    (validate_resident_id, "110105194912310021", "check digit is 1, expected X"),
    (validate_credit_code, "91350100M000100Y4", "must have 18 characters, got 17"),
    (validate_credit_code, "91350100M000100I43", "characters outside"),
    (validate_credit_code, "91350100M000100Y44", "check character is 4, expected 3"),
    (validate_credit_code, "95350100M000100Y4X", "authority and category 95 are not in GB 32100"),
    (validate_credit_code, "B1350100M000100Y4X", "authority and category B1 are not in GB 32100"),
    (validate_credit_code, "91990100M000100Y4X", "region 990100 is not a region code"),
])
def test_errors_say_why(fn: Callable[[str], str], raw: str, message: str) -> None:
    with pytest.raises(InvalidIdentifier, match=message):
        fn(raw)


def _ok(fn: Callable[[str], str], v: str) -> bool:
    try:
        fn(v)
        return True
    except InvalidIdentifier:
        return False


@st.composite
def mutated(draw: st.DrawFn, ids: st.SearchStrategy[str]) -> str:
    v = draw(ids)
    at = draw(st.integers(0, len(v) - 1))
    return v[:at] + draw(confusables) + v[at + 1:]


def _canonical(v: str) -> str | None:
    try:
        return validate_party_id(v)
    except InvalidIdentifier:
        return None


all_ids = st.one_of(resident_ids, resident_ids_15, credit_codes, org_codes)


@given(
    st.lists(st.tuples(padding, all_ids, st.booleans()), max_size=15),
    st.lists(st.one_of(mutated(resident_ids), mutated(resident_ids_15), mutated(credit_codes), mutated(org_codes)),
             max_size=15),
    st.lists(st.text(max_size=20), max_size=10),
)
@settings(max_examples=150, deadline=None)
def test_identifier_macros_agree_with_python(con: duckdb.DuckDBPyConnection, valid: list[tuple[str, str, bool]],
                                             near: list[str], junk: list[str]) -> None:
    values = [pad + (v.lower() if low else v) + pad for pad, v, low in valid] + near + junk + [None]
    rows = con.execute(
        "SELECT v, hub_resident_id_ok(v), hub_credit_code_ok(v), hub_org_code_ok(v), hub_party_id_ok(v), "
        "hub_party_id(v), hub_mask_id(v) FROM unnest(CAST(? AS VARCHAR[])) t(v)",
        [values],
    ).fetchall()
    assert len(rows) == len(values)
    for v, rid_ok, code_ok, org_ok, party_ok, canonical, masked in rows:
        if v is None:
            assert (rid_ok, code_ok, org_ok, party_ok, canonical, masked) == (False, False, False, False, None, None)
            continue
        assert rid_ok == _ok(validate_resident_id, v), v
        assert code_ok == _ok(validate_credit_code, v), v
        assert org_ok == _ok(validate_org_code, v), v
        assert party_ok == _ok(validate_party_id, v), v
        assert canonical == _canonical(v), v
        assert masked == mask_identifier(v), v


@given(resident_ids_15, padding)
@settings(max_examples=60, deadline=None)
def test_a_15_digit_resident_id_becomes_its_18_digit_form(v15: str, pad: str) -> None:
    v18 = validate_resident_id(pad + v15 + pad)
    assert v18 == v15[:6] + "19" + v15[6:] + resident_check(v15[:6] + "19" + v15[6:])
    assert validate_resident_id(v18) == v18 == validate_party_id(v15)  # the same person, whichever form a source sends


@given(org_codes, st.booleans())
@settings(max_examples=60, deadline=None)
def test_an_organization_code_is_canonical_without_its_hyphen(code: str, lower: bool) -> None:
    assert validate_org_code(code.lower() if lower else code) == code.replace("-", "")


def test_mistyped_resident_id_is_not_taken_for_a_credit_code() -> None:
    # a resident-ID-shaped string with a wrong check digit that passes the MOD 31 check
    candidates = (f"13118219900101{n:03d}{d}" for n in range(1000) for d in "0123456789")  # 13 1182 19…: a credit code's form
    fake = next(c for c in candidates if _ok(validate_credit_code, c) and not _ok(validate_resident_id, c))
    with pytest.raises(InvalidIdentifier, match="resident ID check digit"):
        validate_party_id(fake)
    assert validate_party_id("91350100M000100Y43") == "91350100M000100Y43"


@pytest.mark.parametrize(("raw", "masked"), [
    ("15030219900101123x", "150302********123X"),
    (" 11010519491231002X ", "110105********002X"),
    ("91350100M000100Y43", "91350100******0Y43"),
    ("110105491231002", "110105********002X"),  # a 15-digit ID masked in its 18-digit form
    ("d2143569-x", "D2*****9X"),
    ("张三丰", "张*丰"),
    ("Zhang", "Z***g"),
    ("李四", "**"),
    ("", ""),
])
def test_masks(raw: str, masked: str) -> None:
    assert mask_identifier(raw) == masked


@given(st.text(max_size=40), st.one_of(st.binary(min_size=1, max_size=100), st.binary(min_size=65, max_size=200)))
@settings(max_examples=60, deadline=None)
def test_keyed_hash_is_hmac_in_python_and_sql(value: str, key: bytes) -> None:
    expected = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
    assert keyed_hash(value, key) == expected
    c = duckdb.connect()
    c.execute(keyed_hash_macro(key))
    assert c.execute("SELECT hub_keyed_hash(?)", [value]).fetchone()[0] == expected


def test_keyed_hash_runs_over_a_column_and_keeps_null() -> None:
    key = b"k" * 32
    values = ["11010519491231002X", "", "张三", None]
    c = duckdb.connect()
    c.execute(keyed_hash_macro(key))
    got = [r[0] for r in c.execute("SELECT hub_keyed_hash(v) FROM unnest(?) WITH ORDINALITY t(v, i) ORDER BY i",
                                   [values]).fetchall()]
    assert got == [keyed_hash(v, key) if v is not None else None for v in values]


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty key"):
        keyed_hash("x", b"")
    with pytest.raises(ValueError, match="non-empty key"):
        keyed_hash_macro(b"")


def test_hash_key_never_reaches_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as c:
        for stmt in duckdb_macros():
            c.execute(stmt)
        c.execute(keyed_hash_macro(b"very-secret-key"))
        c.execute("CREATE TABLE t AS SELECT hub_keyed_hash('x') h")
    with duckdb.connect(str(path)) as c:
        names = {r[0] for r in c.execute("SELECT function_name FROM duckdb_functions()").fetchall()}
        assert "hub_mask_id" in names and "hub_keyed_hash" not in names
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for pad in (0x36, 0x5C):
        assert bytes(b ^ pad for b in b"very-secret-key".ljust(64, b"\0")).hex().encode() not in data
