"""Personal and organisational identifiers: validate, canonicalize, mask, and hash with a key.

- 居民身份证号 (GB 11643): 18 chars, ISO 7064 MOD 11-2 check digit; a first-generation
  15-digit number (GB 11643-1989: no check digit, two-digit birth year) is valid and becomes
  its 18-digit form, as the standard converts it.
- 统一社会信用代码 (GB 32100-2015): 18 chars over a 31-symbol alphabet, MOD 31 check; the
  first two name a registration authority and a category its table has, the next six a region.
- 组织机构代码 (GB 11714-1997): 8 body chars and a MOD 11 check char, often printed with a
  hyphen before it; canonical without the hyphen (as positions 9–17 of a credit code carry it).

Identifiers leave the hub in clear only where an agreement names them; elsewhere a keyed
hash (HMAC-SHA256, for joins) and a masked form travel instead. Each rule exists once here,
as Python for single values and as DuckDB macros for whole batches.

Case: shapes are matched against explicit ASCII classes (``[0-9Xx]``) and only a value that
matched is upper-cased, so Unicode case rules (``ſ``→``S``, ``ﬀ``→``FF``), which differ
between Python and DuckDB, never make a value valid.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

from schemas.sql import let, lit

WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200C)))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
"""Python's ``str.isspace`` set plus zero-width space and BOM, spelled out so that Python
and DuckDB strip or delete exactly the same characters (RE2's ``\\s`` is ASCII only)."""
RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_CHECK = "10X98765432"
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
ORG_CHECK = "0123456789X0"
"""The check character at index ``11 - sum mod 11`` (1–11): 10 is X, 11 is 0."""
ORG_PLACEHOLDER = "00000000"
"""A body of zeros passes the check (000000000) but names nobody: systems write it for "unknown"."""

_RESIDENT_CHARS = "[0-9]{17}[0-9Xx]"
_RESIDENT_SHAPE = "[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
"""Region (first digit 1–9), birth date YYYYMMDD with plausible ranges, sequence, check."""
_RESIDENT15_SHAPE = "[1-9][0-9]{5}[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}"
"""First generation: region, birth date YYMMDD (born 19YY), sequence; no check digit."""
_ORG_SHAPE = "[0-9A-Za-z]{8}-?[0-9Xx]"
_CREDIT_SHAPE = "[0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy]{18}"
CREDIT_CATEGORIES: dict[str, str] = {
    "1": "1239",  # 机构编制: 机关, 事业单位, 中央编办直接管理机构编制的群众团体, 其他
    "2": "19",  # 外交: 外国常驻新闻机构, 其他
    "3": "123459",  # 司法行政: 律师执业机构, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会, 其他
    "4": "19",  # 文化: 外国在华文化中心, 其他
    "5": "1239",  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "129",  # 旅游: 外国旅游部门常驻代表机构, 港澳台地区旅游部门常驻内地代表机构, 其他
    "7": "129",  # 宗教: 宗教活动场所, 宗教院校, 其他
    "8": "19",  # 工会: 基层工会, 其他
    "9": "123",  # 工商 (市场监管): 企业, 个体工商户, 农民专业合作社
    "A": "19",  # 中央军委改革和编制办公室: 军队事业单位, 其他
    "N": "1239",  # 农业: 组级, 村级, 乡镇级集体经济组织, 其他
    "Y": "1",  # 其他登记管理部门
}
"""登记管理部门代码 -> the 机构类别代码 its table has (GB 32100-2015 and its amendments)."""
REGION_PROVINCES = frozenset(
    "10 11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82".split())
"""First two digits of a region code (GB/T 2260): a province, Taiwan, Hong Kong, Macao, or 10 (national)."""
_CREDIT_STRUCTURE = ("(?:" + "|".join(f"{a}[{c}]" for a, c in CREDIT_CATEGORIES.items()) + ")(?:"
                     + "|".join(sorted(REGION_PROVINCES)) + ")[0-9]{4}")
"""The first eight characters of an upper-cased credit code: authority, category, region."""


class InvalidIdentifier(ValueError):
    """Not a valid identifier; the message says why."""


def _strip(s: str) -> str:
    return s.strip(WHITESPACE)


def validate_resident_id(s: str) -> str:
    """Return the 18-char ID (upper-case X) or raise ``InvalidIdentifier``; a valid 15-digit
    ID is returned in its 18-digit form (``converted_resident_id``)."""
    v = _strip(s)
    if len(v) == 15:
        return _validate_resident_15(v)
    if len(v) != 18:
        raise InvalidIdentifier(f"resident ID must have 18 characters (15 for a first-generation one), got {len(v)}")
    if not re.fullmatch(_RESIDENT_CHARS, v):
        raise InvalidIdentifier("resident ID must be 17 digits followed by a digit or X")
    if not re.fullmatch(_RESIDENT_SHAPE, v):
        raise InvalidIdentifier(f"resident ID region {v[:6]} or birth date {v[6:14]} is out of range")
    _birth_date(v[6:14])
    v = v.upper()
    expected = _resident_check(v[:17])
    if v[17] != expected:
        raise InvalidIdentifier(f"resident ID check digit is {v[17]}, expected {expected}")
    return v


def _validate_resident_15(v: str) -> str:
    if not re.fullmatch("[0-9]{15}", v):
        raise InvalidIdentifier("a 15-character resident ID must be 15 digits")
    if not re.fullmatch(_RESIDENT15_SHAPE, v):
        raise InvalidIdentifier(f"15-digit resident ID region {v[:6]} or birth date 19{v[6:12]} is out of range")
    _birth_date("19" + v[6:12])
    return converted_resident_id(v)


def converted_resident_id(v15: str) -> str:
    """The 18-digit form of a 15-digit ID (GB 11643-1999): ``19`` before the birth year, a check digit after."""
    first17 = v15[:6] + "19" + v15[6:]
    return first17 + _resident_check(first17)


def _resident_check(first17: str) -> str:
    return RESIDENT_CHECK[sum(int(c) * w for c, w in zip(first17, RESIDENT_WEIGHTS)) % 11]


def _birth_date(yyyymmdd: str) -> None:
    try:
        dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        raise InvalidIdentifier(f"resident ID birth date {yyyymmdd} does not exist") from None


def validate_credit_code(s: str) -> str:
    """Return the 18-char unified social credit code (upper case) or raise ``InvalidIdentifier``."""
    v = _strip(s)
    if len(v) != 18:
        raise InvalidIdentifier(f"credit code must have 18 characters, got {len(v)}")
    if not re.fullmatch(_CREDIT_SHAPE, v):
        raise InvalidIdentifier("credit code uses characters outside 0-9 and A-Y without I, O, S, V, Z")
    v = v.upper()
    if CREDIT_CATEGORIES.get(v[0]) is None or v[1] not in CREDIT_CATEGORIES[v[0]]:
        raise InvalidIdentifier(f"credit code registration authority and category {v[:2]} are not in GB 32100")
    if not re.fullmatch(_CREDIT_STRUCTURE, v[:8]):
        raise InvalidIdentifier(f"credit code region {v[2:8]} is not a region code")
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(v[:17], CREDIT_WEIGHTS))
    expected = CREDIT_ALPHABET[(31 - total % 31) % 31]
    if v[17] != expected:
        raise InvalidIdentifier(f"credit code check character is {v[17]}, expected {expected}")
    return v


def validate_org_code(s: str) -> str:
    """Return the 9-char organization code (upper case, no hyphen) or raise ``InvalidIdentifier``."""
    v = _strip(s)
    if not re.fullmatch(_ORG_SHAPE, v):
        raise InvalidIdentifier("organization code must be 8 letters or digits, an optional hyphen, then a digit or X")
    v = v.upper().replace("-", "")
    if v[:8] == ORG_PLACEHOLDER:
        raise InvalidIdentifier("organization code 00000000 is a placeholder, not an organization's code")
    expected = ORG_CHECK[11 - sum(ORG_ALPHABET.index(c) * w for c, w in zip(v[:8], ORG_WEIGHTS)) % 11]
    if v[8] != expected:
        raise InvalidIdentifier(f"organization code check character is {v[8]}, expected {expected}")
    return v


def validate_party_id(s: str) -> str:
    """A party's ID in its canonical form: judged as a resident ID when it has a resident ID's
    shape (region, date) or 15 characters, as an organization code when it has 9 or 10, else
    as a credit code. An all-digit string can pass the MOD 31 check by chance (1 in 31), so
    trying every kind would let a mistyped resident ID through as a "credit code"."""
    v = _strip(s)
    if len(v) == 15 or re.fullmatch(_RESIDENT_SHAPE, v):
        return validate_resident_id(s)
    if len(v) in (9, 10):
        return validate_org_code(s)
    return validate_credit_code(s)


def mask_identifier(s: str) -> str:
    """Resident-ID shape: ``150302********123X`` (region and last 4 readable; a 15-digit one
    masked in its 18-digit form). Credit-code shape: first 8 + 6 ``*`` + last 4, keeping
    registering authority, kind and region (the code is public for companies; the middle hides
    a sole trader's personal part). Organization code: first 2 + 5 ``*`` + last 2. Anything
    else: first and last character around ``*`` (all ``*`` up to 2 characters). Leading and
    trailing whitespace is dropped; a shape is recognised whether or not its check passes."""
    v = _strip(s)
    if re.fullmatch(_RESIDENT15_SHAPE, v):
        v = converted_resident_id(v)
    if re.fullmatch(_RESIDENT_SHAPE, v):
        return v[:6].upper() + "*" * 8 + v[-4:].upper()
    if re.fullmatch(_CREDIT_SHAPE, v):
        return v[:8].upper() + "*" * 6 + v[-4:].upper()
    if re.fullmatch(_ORG_SHAPE, v):
        v = v.upper().replace("-", "")
        return v[:2] + "*" * 5 + v[-2:]
    if len(v) <= 2:
        return "*" * len(v)
    return v[0] + "*" * (len(v) - 2) + v[-1]


def keyed_hash(value: str, key: bytes) -> str:
    """Hex HMAC-SHA256 of the UTF-8 value: the same person joins across sources without being
    revealed, and without the key nobody can confirm a guessed ID against the hash."""
    if not key:
        raise ValueError("keyed_hash needs a non-empty key; without one the hash is a plain, guessable SHA-256")
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()




def duckdb_macros() -> list[str]:
    """``hub_resident_id_ok(s)``, ``hub_credit_code_ok(s)``, ``hub_org_code_ok(s)``,
    ``hub_party_id_ok(s)`` (BOOLEAN, false for NULL), ``hub_party_id(s)`` (the canonical form of
    a valid party ID, else NULL) and ``hub_mask_id(s)`` (VARCHAR, NULL for NULL), same rules as above.

    The ``*_of(v, k)`` forms take a stripped value and its ``hub_id_shape``, so normalization
    matches each shape once per value and then checks, masks and hashes from that.
    """
    # weighted sums as one dot product over the value's characters: 17 terms written out took
    # longer to bind (a small batch's staging paid that per ID column) and ran no faster
    def weighted(value: str, n: int, alphabet: str | None, weights: tuple[int, ...]) -> str:
        chars = f"string_split(substr({value}, 1, {n}), '')"
        numbers = (f"CAST({chars} AS DOUBLE[])" if alphabet is None
                   else f"list_transform({chars}, lambda c: CAST(strpos('{alphabet}', c) - 1 AS DOUBLE))")
        return f"CAST(list_dot_product({numbers}, [{', '.join(map(str, weights))}]::DOUBLE[]) AS BIGINT)"

    def resident_check(value: str) -> str:
        return f"substr('{RESIDENT_CHECK}', {weighted(value, 17, None, RESIDENT_WEIGHTS)} % 11 + 1, 1)"

    ws = lit(WHITESPACE)
    shapes = {"resident": _RESIDENT_SHAPE, "resident15": _RESIDENT15_SHAPE, "credit": _CREDIT_SHAPE, "org": _ORG_SHAPE}
    return [
        # trim with a character list is slow per row: only when an end is whitespace
        "CREATE OR REPLACE MACRO hub_strip_id(s) AS " + let("s", "s", (
            f"CASE WHEN contains({ws}, left(s, 1)) OR contains({ws}, right(s, 1)) THEN trim(s, {ws}) ELSE s END")),
        # v is stripped; a resident ID's shape wins over a credit code's (see validate_party_id)
        "CREATE OR REPLACE MACRO hub_id_shape(v) AS CASE WHEN v IS NULL THEN NULL "
        + "".join(f"WHEN regexp_full_match(v, {lit(shape)}) THEN '{k}' " for k, shape in shapes.items())
        + "ELSE 'other' END",
        # *_check(v): only for a v of the shape (only a CASE branch guards them: AND evaluates both
        # sides), so upper() only meets ASCII and the dot products have all their numbers
        "CREATE OR REPLACE MACRO hub_resident_id_check(v) AS "
        f"try_strptime(substr(v, 7, 8), '%Y%m%d') IS NOT NULL AND {resident_check('v')} = upper(substr(v, 18, 1))",
        "CREATE OR REPLACE MACRO hub_resident15_check(v) AS try_strptime('19' || substr(v, 7, 6), '%Y%m%d') IS NOT NULL",
        "CREATE OR REPLACE MACRO hub_resident15_to18(v) AS " + let(
            "left(v, 6) || '19' || substr(v, 7, 9)", "w", f"w || {resident_check('w')}"),
        "CREATE OR REPLACE MACRO hub_credit_code_check(v) AS " + let("upper(v)", "v", (
            f"regexp_full_match(left(v, 8), {lit(_CREDIT_STRUCTURE)}) AND substr('{CREDIT_ALPHABET}', "
            f"CAST((31 - {weighted('v', 17, CREDIT_ALPHABET, CREDIT_WEIGHTS)} % 31) % 31 AS BIGINT) + 1, 1) = substr(v, 18, 1)")),
        "CREATE OR REPLACE MACRO hub_org_code_check(v) AS " + let("upper(replace(v, '-', ''))", "v", (
            f"left(v, 8) <> '{ORG_PLACEHOLDER}' "
            f"AND substr('{ORG_CHECK}', 12 - {weighted('v', 8, ORG_ALPHABET, ORG_WEIGHTS)} % 11, 1) = substr(v, 9, 1)")),
        "CREATE OR REPLACE MACRO hub_party_id_ok_of(v, k) AS coalesce(CASE k WHEN 'resident' THEN hub_resident_id_check(v) "
        "WHEN 'resident15' THEN hub_resident15_check(v) WHEN 'credit' THEN hub_credit_code_check(v) "
        "WHEN 'org' THEN hub_org_code_check(v) END, false)",
        # the form stored and hashed, for a v that passed its check
        "CREATE OR REPLACE MACRO hub_id_canonical_of(v, k) AS CASE k WHEN 'resident15' THEN hub_resident15_to18(v) "
        "WHEN 'org' THEN upper(replace(v, '-', '')) ELSE upper(v) END",
        "CREATE OR REPLACE MACRO hub_mask_id_of(v, k) AS "
        "CASE WHEN k = 'resident' THEN upper(left(v, 6)) || repeat('*', 8) || upper(right(v, 4)) "
        "WHEN k = 'resident15' THEN left(v, 6) || repeat('*', 8) || right(hub_resident15_to18(v), 4) "
        "WHEN k = 'credit' THEN upper(left(v, 8)) || repeat('*', 6) || upper(right(v, 4)) "
        "WHEN k = 'org' THEN " + let("upper(replace(v, '-', ''))", "c", "left(c, 2) || repeat('*', 5) || right(c, 2)")
        + " "
        "WHEN length(v) <= 2 THEN repeat('*', length(v)) "
        "ELSE left(v, 1) || repeat('*', length(v) - 2) || right(v, 1) END",
        "CREATE OR REPLACE MACRO hub_resident_id_ok(s) AS " + let("hub_strip_id(s)", "v", (
            f"CASE WHEN regexp_full_match(v, {lit(_RESIDENT_SHAPE)}) THEN hub_resident_id_check(v) "
            f"WHEN regexp_full_match(v, {lit(_RESIDENT15_SHAPE)}) THEN hub_resident15_check(v) ELSE false END")),
        "CREATE OR REPLACE MACRO hub_credit_code_ok(s) AS " + let("hub_strip_id(s)", "v", (
            f"CASE WHEN regexp_full_match(v, {lit(_CREDIT_SHAPE)}) THEN hub_credit_code_check(v) ELSE false END")),
        "CREATE OR REPLACE MACRO hub_org_code_ok(s) AS " + let("hub_strip_id(s)", "v", (
            f"CASE WHEN regexp_full_match(v, {lit(_ORG_SHAPE)}) THEN hub_org_code_check(v) ELSE false END")),
        "CREATE OR REPLACE MACRO hub_party_id_ok(s) AS " + let("hub_strip_id(s)", "v", let(
            "hub_id_shape(v)", "k", "hub_party_id_ok_of(v, k)")),
        "CREATE OR REPLACE MACRO hub_party_id(s) AS " + let("hub_strip_id(s)", "v", let(
            "hub_id_shape(v)", "k", "CASE WHEN hub_party_id_ok_of(v, k) THEN hub_id_canonical_of(v, k) END")),
        "CREATE OR REPLACE MACRO hub_mask_id(s) AS " + let("hub_strip_id(s)", "v", let(
            "hub_id_shape(v)", "k", "hub_mask_id_of(v, k)")),
    ]


def keyed_hash_macro(key: bytes) -> str:
    """A TEMP macro ``hub_keyed_hash(s)`` equal to ``keyed_hash(s, key)``, vectorized.

    TEMP because the key is baked into the macro text and must never be persisted into the
    warehouse file. HMAC from its definition, H(K⊕opad ‖ H(K⊕ipad ‖ m)), with DuckDB's
    ``sha256`` over BLOBs (hex out, ``unhex`` back to bytes for the outer hash).
    """
    if not key:
        raise ValueError("keyed_hash_macro needs a non-empty key")
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in block).hex()
    opad = bytes(b ^ 0x5C for b in block).hex()
    return (
        "CREATE OR REPLACE TEMP MACRO hub_keyed_hash(s) AS "
        f"sha256(unhex('{opad}') || unhex(sha256(unhex('{ipad}') || encode(s))))"
    )
