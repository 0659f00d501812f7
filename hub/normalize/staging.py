"""Normalization as DuckDB SQL: map, parse, validate and derive over a whole batch at once.

``staging_sql`` turns landed batches (each in its source's own column names, one ``Branch``
per source) into one row per source row with every shared-schema field parsed, plus
``_rules``/``_reasons`` lists naming every rule the row breaks. Rows that break none are
applied; the others go to quarantine with their original values. A few rules withhold a value
instead (an invalid party ID, an unreadable flag or amount): the row is applied without it, and
``_withheld`` says what was withheld and why. Others only flag a value the hub changed on the
way in (a 15-digit resident ID stored as 18 digits): ``_flagged``. No Python touches individual
rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.base import SOURCE_ROW
from schemas.case_number import SUPREME_COURT
from schemas.sql import distinct_in_order, lit, lit_list, lit_tuple, q
from schemas.tables import PROVENANCE, RECORD_KEYS, TABLES, Field, stored_fields

SOURCE_UPDATED_AT = next(f for f in PROVENANCE if f.name == "source_updated_at")

DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M:%S"]
TIMESTAMP_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d"]
TRUE_WORDS = ["1", "true", "t", "y", "yes", "是", "到庭", "出庭"]
FALSE_WORDS = ["0", "false", "f", "n", "no", "否", "未到庭", "未出庭"]

CASE_NUMBER_FIELDS = {"case_no", "target_case_no"}
FANNED_OUT_FIELDS = {"case_no"}
"""Case number fields that are a record's key: a value naming several cases makes a record for
each (the others keep the first case a value names)."""
DOC_NUMBER_FIELDS = {"basis_doc_no", "court_case_no", "original_case_no", "related_case_no"}
"""Document numbers kept as written unless they are case numbers, then canonical."""
CODED_FIELDS = {
    "measure": ("code_supervision_measure", "measure"),
    "reply_result": ("code_reply_result", "reply_result"),
}
"""Coded fields whose unknown values quarantine the row (others are kept and flagged later)."""


@dataclass(frozen=True)
class Rule:
    name: str
    violated: str  # SQL, TRUE when the row breaks the rule
    reason: str  # SQL string expression explaining why
    field: str | None = None  # the field a kept row's rule is about; None: a broken rule quarantines the row
    action: str = "withhold"  # with a field: "withhold" its value, or "flag" it (kept, as the hub changed it)


def _raw(field: str) -> str:
    return q(f"{field}__raw")


def _parse(f: Field) -> str:
    """SQL parsing the raw text of ``f`` into its shared-schema type (NULL if unparseable);
    case numbers are parsed in layers by ``staging_sql``."""
    r = _raw(f.name)
    if f.type == "DATE":
        return f"CAST(try_strptime({r}, {lit_list(DATE_FORMATS)}) AS DATE)"
    if f.type == "TIMESTAMP":
        return f"try_strptime({r}, {lit_list(TIMESTAMP_FORMATS)})"
    if f.type.startswith("DECIMAL"):
        return f"TRY_CAST(replace(replace({r}, ',', ''), '，', '') AS {f.type})"
    if f.type == "BOOLEAN":
        return (
            f"CASE WHEN lower({r}) IN {lit_tuple(TRUE_WORDS)} THEN true "
            f"WHEN lower({r}) IN {lit_tuple(FALSE_WORDS)} THEN false END"
        )
    return r


@dataclass(frozen=True)
class StagingRules:
    """How one source's rows become its record type's (its config): which column holds each
    field, its key column, the court its case numbers must belong to, its soft-delete flag."""

    mapping: dict[str, str]
    key_column: str
    court_code: str | None = None
    soft_delete: tuple[str, list[str]] | None = None


@dataclass(frozen=True)
class Branch:
    """Rows staged with one source's rules: ``relation`` over that source's ``columns``, with
    the ``carry`` columns kept as they are."""

    rules: StagingRules
    institution: str
    columns: list[str]
    relation: str
    carry: tuple[str, ...] = ()


def rules(record_type: str, mapped: set[str], courts: bool, *, split: bool = False) -> list[Rule]:
    """The rules a row of ``record_type`` must pass, over the columns ``staging_sql`` parses:
    those of the fields some source maps (an unmapped field is NULL, so its rules never fire)
    and, when ``courts``, that a case number belongs to the row's own court (``_court``);
    with ``split``, the flags of a case number naming several cases."""
    out: list[Rule] = []
    for f in TABLES[record_type]:
        r = _raw(f.name)
        if f.required and f.unless in mapped:  # e.g. a measure needs a target case, unless it names an agency
            out.append(Rule(f"missing_{f.name}", f"{r} IS NULL AND {_raw(f.unless)} IS NULL",
                            lit(f"required field {f.name} ({f.zh}) is empty, and no {f.unless} names another target")))
        elif f.required:
            out.append(Rule(f"missing_{f.name}", f"{r} IS NULL", lit(f"required field {f.name} ({f.zh}) is empty")))
        if f.name not in mapped:
            continue
        present = f"{r} IS NOT NULL"
        if f.name in CASE_NUMBER_FIELDS:
            out.append(Rule(
                f"bad_{f.name}", f"{present} AND {q(f.name)} IS NULL",
                f"'{f.name} ' || {r} || ' is not a valid case number (（年度）法院代字类型代字编号号)'",
            ))
            pieces = q(f"_s_{f.name}")
            named = f"'{f.name} holds several case numbers (' || " \
                    f"array_to_string(list_transform({pieces}, lambda p: p.canonical), '、') || ')'"
            out += [Rule(  # a row naming several cases: one record each, or a measure against the first
                f"split_{f.name}", f"{pieces} IS NOT NULL",
                named + (" || ': the row is applied once for each'" if f.name in FANNED_OUT_FIELDS else
                         " || ': the measure is kept against the first'"), f.name, "flag",
            )] if split else []
        elif f.personal:  # a bad party ID does not make its case unidentifiable: the case is kept without it
            ok, shape = q(f.name + "__ok"), q(f"_k_{f.name}")
            out.append(Rule(
                f"bad_{f.name}", f"{present} AND NOT {ok}",
                lit(f"{f.name} is not a valid resident ID, credit code or organization code (check digit)"), f.name,
            ))
            out.append(Rule(
                f"converted_{f.name}", f"{ok} AND {shape} = 'resident15'",
                lit(f"{f.name} is a 15-digit resident ID: stored as its 18-digit form (19 added to the birth year, "
                    "a check digit computed)"), f.name, "flag",
            ))
        elif f.name in CODED_FIELDS:
            table, column = CODED_FIELDS[f.name]
            out.append(Rule(
                f"unknown_{f.name}", f"{present} AND {r} NOT IN (SELECT {q(column)} FROM {q(table)})",
                f"'unknown {f.name} code ' || {r}",
            ))
        elif f.type in ("DATE", "TIMESTAMP", "BOOLEAN") or f.type.startswith("DECIMAL"):
            # a date decides deadlines and windows: a bad one quarantines; a bad flag or amount is withheld
            withheld = not f.required and f.type not in ("DATE", "TIMESTAMP")
            out.append(Rule(
                f"bad_{f.name}", f"{present} AND {q(f.name)} IS NULL",
                f"'{f.name} ' || {r} || ' is not a valid {f.type.split('(')[0].lower()}'"
                + (" || ': withheld, the row kept'" if withheld else ""), f.name if withheld else None,
            ))
    if SOURCE_UPDATED_AT.name in mapped:  # without it, "latest version wins" cannot be decided
        r = _raw(SOURCE_UPDATED_AT.name)
        out.append(Rule(
            "bad_source_updated_at", f"{r} IS NOT NULL AND source_updated_at IS NULL",
            f"'source_updated_at ' || {r} || ' is not a valid timestamp'",
        ))
    if courts and "case_no" in mapped:  # NULL (no rule) for a source without a court
        # a pre-2016 number's court part is a place abbreviation, not a code to compare
        out.append(Rule(
            "court_mismatch", f"NOT starts_with(court_code, _court) AND NOT (_p_case_no.old_style AND court_code <> {lit(SUPREME_COURT)})",
            "'case number court code ' || court_code || ' does not belong to source court ' || _court",
        ))
    if record_type == "supervision" and {"replied_date", "issued_date"} <= mapped:
        out.append(Rule("reply_before_issue", "replied_date < issued_date", lit("replied_date is earlier than issued_date")))
    if record_type == "referral" and {"feedback_date", "referred_date"} <= mapped:
        out.append(Rule("feedback_before_referral", "feedback_date < referred_date",
                        lit("feedback_date is earlier than referred_date")))
    return out


def _mappable(record_type: str) -> list[Field]:
    """The fields a source may map, in the order every branch gives them."""
    return [f for f in TABLES[record_type] if f.source] + [SOURCE_UPDATED_AT]


def raw_sql(record_type: str, branch: Branch) -> str:
    """One source's rows in the shape every source of ``record_type`` shares: each field's
    trimmed text (NULL where the source has no such column), the row's hash, delete flag,
    court and institution, and its values with their column names (for quarantine)."""
    b, r = branch, branch.rules
    fields = _mappable(record_type)
    unknown = set(r.mapping) - {f.name for f in fields}
    assert not unknown, f"not {record_type} fields: {unknown}"  # config validation refuses them
    raw_cols = [
        f"nullif(trim(CAST({q(r.mapping[f.name])} AS VARCHAR)), '')" if f.name in r.mapping else "CAST(NULL AS VARCHAR)"
        for f in fields
    ]
    values = [c for c in b.columns if c != SOURCE_ROW]
    deleted = "false"
    if r.soft_delete:
        flag, meaning_deleted = r.soft_delete
        deleted = f"coalesce(trim(CAST({q(flag)} AS VARCHAR)) IN {lit_tuple(meaning_deleted)}, false)"
    court = lit(r.court_code) if r.court_code else "CAST(NULL AS VARCHAR)"
    return f"""
            SELECT {q(SOURCE_ROW)} AS source_row, CAST({q(r.key_column)} AS VARCHAR) AS source_key,
                   {", ".join(f"{col} AS {_raw(f.name)}" for col, f in zip(raw_cols, fields))},
                   {"".join(f"{q(c)}, " for c in b.carry)}{row_hash_sql(values)} AS row_hash, {deleted} AS deleted,
                   {court} AS _court, {lit(b.institution)} AS _institution,
                   {lit_list(values)} AS _names, [{", ".join(f"CAST({q(c)} AS VARCHAR)" for c in values)}] AS _values
            FROM {b.relation}"""


def split_columns(branches: list[Branch]) -> list[str]:
    """The columns of ``staging_sql``'s rows that say a case number field may name several
    cases (``hub_case_may_split``): rows with one true are staged again with ``fan_out``."""
    return [f"_split_{f}" for f in sorted(CASE_NUMBER_FIELDS) if any(f in b.rules.mapping for b in branches)]


def staging_sql(record_type: str, branches: list[Branch], *, fan_out: bool = False) -> str:
    """SELECT giving, per source row of every branch (with its ``carry`` columns): every stored
    column parsed once, the record key, ``deleted`` (the source's soft-delete flag is set),
    ``_ok`` (the row may be applied) and, for the others, ``_rules``/``_reasons`` and
    ``_original`` (the source values as JSON, made here for the failing rows only, so
    quarantine never reads the batch again); ``_withheld``, the values a kept row goes without
    (field, rule, reason), NULL when none; ``_flagged``, the values it keeps as the hub changed them.

    A case number field that is no case number but may name several (``split_columns``) is
    split only with ``fan_out``: a row is then staged once per case (a measure keeps its first
    target). Splitting, and the unnest, cost every row of a large batch (docs/performance.md), so
    only the few rows that need it are staged that way, a second time.

    Each branch (``raw_sql``) maps its source's columns onto the fields; one pipeline of
    projections then parses and checks them all, nothing materialized: each layer computes
    what the next reads (a case number's parts from one parse; an ID's shape once, then its
    check, hash and mask). DuckDB spends more time parsing and binding that pipeline than
    running it on a small batch, so several sources' batches share it. The code-table lookup
    is a join, since a correlated subquery would be decorrelated into a second evaluation of
    the whole pipeline.
    """
    carry = branches[0].carry
    assert all(b.carry == carry for b in branches), "branches carry the same columns"
    fields = _mappable(record_type)
    parsed: list[str] = []  # from the raw text
    checked: list[str] = []  # from parsed values
    case_parts: list[str] = []  # from a case number's parse
    personal: list[str] = []  # from an ID's shape
    protected: list[str] = []  # from an ID's check
    mapped = {field for b in branches for field in b.rules.mapping}
    for f in fields:
        if f.name not in mapped and f.name not in CASE_NUMBER_FIELDS:  # no source has it: nothing to parse
            nulls = [f"{f.name}_hash", f"{f.name}_masked"] if f.personal else [f.name]
            (protected if f.personal else parsed).extend(
                f"CAST(NULL AS {'VARCHAR' if f.personal else f.type}) AS {q(n)}" for n in nulls)
        elif f.personal:
            v, k = q(f"_v_{f.name}"), q(f"_k_{f.name}")
            parsed.append(f"hub_strip_id({_raw(f.name)}) AS {v}")
            checked.append(f"hub_id_shape({v}) AS {k}")
            ok = q(f.name + "__ok")
            personal.append(f"hub_party_id_ok_of({v}, {k}) AS {ok}")
            protected += [  # only valid IDs are stored, hashed in canonical form: an invalid one is withheld, its row kept
                f"CASE WHEN {ok} THEN hub_keyed_hash(hub_id_canonical_of({v}, {k})) END AS {q(f.name + '_hash')}",
                f"CASE WHEN {ok} THEN hub_mask_id_of({v}, {k}) END AS {q(f.name + '_masked')}",
            ]
        elif f.name in CASE_NUMBER_FIELDS or f.name in DOC_NUMBER_FIELDS:
            g, p = q(f"_g_{f.name}"), q(f"_p_{f.name}")
            parsed.append(f"hub_case_groups(hub_case_norm({_raw(f.name)})) AS {g}")
            checked.append(f"hub_case_of({g}) AS {p}")
            canonical = f"{p}.canonical" if f.name in CASE_NUMBER_FIELDS else f"coalesce({p}.canonical, {_raw(f.name)})"
            case_parts.append(f"{canonical} AS {q(f.name)}")
        else:
            parsed.append(f"{_parse(f)} AS {q(f.name)}")
    several = sorted(CASE_NUMBER_FIELDS & mapped)  # a value naming several cases is split (hub_case_split)
    maybe = [f"CASE WHEN {q(f'_p_{f}')} IS NULL AND {_raw(f)} IS NOT NULL THEN hub_case_may_split({_raw(f)}) "
             f"ELSE false END AS {q(f'_split_{f}')}" for f in several]  # split_columns; CASE: AND evaluates both sides
    pieces = [f"CASE WHEN {q(f'_p_{f}')} IS NULL AND {_raw(f)} IS NOT NULL THEN hub_case_split({_raw(f)}) END "
              f"AS {q(f'_s_{f}')}" for f in several] if fan_out else []
    fanned = [f for f in several if f in FANNED_OUT_FIELDS and fan_out]
    split = [(f"unnest(list_transform(coalesce({q(f'_s_{f}')}, [{q(f'_p_{f}')}]), lambda p, i: {{'p': p, 'i': i}}))"
              if f in fanned else f"coalesce({q(f'_p_{f}')}, {q(f'_s_{f}')}[1])") + f" AS {q(f'_p_{f}')}"
             for f in several] if fan_out else []
    # each case of a split row in turn (_piece, 1 for every other row)
    pieced = (f"SELECT * REPLACE ({q(f'_p_{fanned[0]}')}.p AS {q(f'_p_{fanned[0]}')}), "
              f"{q(f'_p_{fanned[0]}')}.i AS _piece FROM split") if fanned else "SELECT *, 1 AS _piece FROM split"
    # each record of a split row is a version of its own: its hash takes in its case number
    rehash = [f"CASE WHEN {q(f'_s_{f}')} IS NULL THEN row_hash ELSE md5(row_hash || {q(f'_p_{f}')}.canonical) END "
              "AS row_hash" for f in fanned]
    names = {f.name for f in TABLES[record_type]}
    derived = {
        "case_no_raw": _raw("case_no"),
        "case_year": "_p_case_no.year",
        "court_code": "_p_case_no.court",
        "case_type_code": "_p_case_no.type",
        "case_category": "_code.category",
        "target_case_no_raw": _raw("target_case_no"),
        "target_court_code": "_p_target_case_no.court",
    }
    derived_cols = [f"{expr} AS {q(name)}" for name, expr in derived.items() if name in names]
    code_join = "LEFT JOIN code_case_type _code ON _code.type_code = _p_case_no.type" if "case_category" in names else ""
    rs = rules(record_type, mapped, any(b.rules.court_code for b in branches), split=fan_out)
    flags = [f"coalesce({r.violated}, false) AS _v{i}" for i, r in enumerate(rs)]
    broken = " OR ".join(f"_v{i}" for i, r in enumerate(rs) if r.field is None) or "false"
    named = sorted(((i, r) for i, r in enumerate(rs) if r.action == "withhold"),  # a quarantining rule first
                   key=lambda ir: ir[1].field is not None)
    rule_list = ", ".join(f"CASE WHEN _v{i} THEN {lit(r.name)} END" for i, r in named)
    reason_list = ", ".join(f"CASE WHEN _v{i} THEN {r.reason} END" for i, r in named)
    withheld, flagged = (_notes([(i, r) for i, r in enumerate(rs) if r.field is not None and r.action == action])
                         for action in ("withhold", "flag"))
    out = ["source_row", "_piece", "source_key", "record_key", "row_hash", "deleted", *map(q, carry)]
    out += [q(f"_split_{f}") for f in several]
    out += [q(f.name) for f in stored_fields(record_type) if f not in PROVENANCE or f == SOURCE_UPDATED_AT]
    raw = "\n            UNION ALL".join(raw_sql(record_type, b) for b in branches)
    sql = f"""
        WITH raw AS ({raw}
        ), parsed AS (
            SELECT *{_also(parsed)} FROM raw
        ), checked AS (
            SELECT *{_also(checked + maybe + pieces)} FROM parsed
        ), split AS (
            SELECT *{f" REPLACE ({', '.join(split)})" if split else ""} FROM checked
        ), pieced AS (
            {pieced}
        ), derived AS (
            SELECT pieced.*{f" REPLACE ({', '.join(rehash)})" if rehash else ""}{_also(case_parts + derived_cols + personal)}
            FROM pieced {code_join}
        ), flagged AS (
            SELECT *, {", ".join(flags + protected + [record_key_sql(record_type) + " AS record_key"])}
            FROM derived
        )
        SELECT {", ".join(out)}, NOT ({broken}) AS _ok,
               CASE WHEN {broken} THEN list_filter([{rule_list}], lambda x: x IS NOT NULL) END AS _rules,
               CASE WHEN {broken} THEN list_filter([{reason_list}], lambda x: x IS NOT NULL) END AS _reasons,
               CASE WHEN {'true' if fanned else broken} THEN to_json(map(_names, _values)) END AS _original,
               {withheld} AS _withheld, {flagged} AS _flagged
        FROM flagged
    """
    return _whole_rows(sql, carry) if fanned else sql


def _also(columns: list[str]) -> str:
    """Columns added to a ``SELECT *``, if any (a table whose fields no source maps adds none)."""
    return "".join(f", {c}" for c in columns)


def _whole_rows(sql: str, carry: tuple[str, ...]) -> str:
    """A split row's cases are applied, or quarantined, together: as a row, it breaks every
    rule any of its cases breaks (a case of another court's, say), so quarantine keeps it once
    (its first case, ``_piece`` 1) with every rule, and nothing of it is applied."""
    def distinct(values: str) -> str:
        return distinct_in_order(f"flatten(list(coalesce({values}, [])) OVER w)")
    return f"""
        SELECT * REPLACE (bool_and(_ok) OVER w AS _ok,
                          CASE WHEN NOT bool_and(_ok) OVER w THEN {distinct('_rules')} END AS _rules,
                          CASE WHEN NOT bool_and(_ok) OVER w THEN {distinct('_reasons')} END AS _reasons,
                          CASE WHEN NOT bool_and(_ok) OVER w THEN _original END AS _original)
        FROM ({sql})
        WINDOW w AS (PARTITION BY {", ".join([*map(q, carry), "source_row"])} ORDER BY _piece
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"""


def _notes(kept: list[tuple[int, Rule]]) -> str:
    """The list of (field, rule, reason) a kept row's broken ``kept`` rules give, NULL when none."""
    if not kept:
        return "CAST(NULL AS STRUCT(field VARCHAR, rule VARCHAR, reason VARCHAR)[])"
    return ("CASE WHEN " + " OR ".join(f"_v{i}" for i, _ in kept) + " THEN list_filter([" + ", ".join(
        f"CASE WHEN _v{i} THEN {{'field': {lit(r.field)}, 'rule': {lit(r.name)}, 'reason': {r.reason}}} END"
        for i, r in kept) + "], lambda x: x IS NOT NULL) END")


def row_hash_sql(columns: list[str]) -> str:
    """md5 of the row's source values, each length-prefixed so no two rows share an input
    (NULL is ``-``, distinct from empty). For change detection and exact-duplicate skipping,
    not security: md5 is cheaper than sha256, and the row JSON is built only for quarantine.
    One flat ``concat`` (it skips NULLs: ``length:value`` or ``-``) builds no string per column."""
    parts = []
    for c in columns:
        v = f"CAST({q(c)} AS VARCHAR)"
        parts.append(f"length({v}), CASE WHEN {q(c)} IS NULL THEN '-' ELSE ':' END, {v}")
    return f"md5(concat({', '.join(parts)}))"


def record_key_sql(record_type: str) -> str:
    """The business key: one current row per key (a document number is unique per issuer)."""
    if RECORD_KEYS[record_type] == "doc_no":
        return "_institution || '/' || replace(\"doc_no__raw\", ' ', '')"
    return "case_no"


def key_fields(record_type: str) -> tuple[str, ...]:
    """The stored columns a record's key is made of (``record_key_sql``): whoever receives them
    in clear knows the key."""
    return (RECORD_KEYS[record_type],)
