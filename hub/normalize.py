"""Normalization as DuckDB SQL: map, parse, validate and derive over a whole batch at once.

``staging_sql`` turns a landed batch (the source's own column names) into one row per source
row with every shared-schema field parsed, plus ``_rules``/``_reasons`` lists naming every
rule the row breaks. Rows with an empty list are applied; the others go to quarantine with
their original values. No Python touches individual rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.base import SOURCE_ROW
from schemas.tables import PROVENANCE, TABLES, Field, stored_fields

SOURCE_UPDATED_AT = next(f for f in PROVENANCE if f.name == "source_updated_at")

DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M:%S"]
TIMESTAMP_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d"]
TRUE_WORDS = ["1", "true", "t", "y", "yes", "是", "到庭", "出庭"]
FALSE_WORDS = ["0", "false", "f", "n", "no", "否", "未到庭", "未出庭"]

CASE_NUMBER_FIELDS = {"case_no", "target_case_no"}
DOC_NUMBER_FIELDS = {"basis_doc_no"}
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


def q(name: str) -> str:
    """Quote an identifier already validated by config or defined in ``schemas``."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _raw(field: str) -> str:
    return q(f"{field}__raw")


def _parse(f: Field) -> str:
    """SQL parsing the raw text of ``f`` into its shared-schema type (NULL if unparseable);
    case numbers are parsed in layers by ``staging_sql``."""
    r = _raw(f.name)
    if f.type == "DATE":
        return f"CAST(try_strptime({r}, {_list(DATE_FORMATS)}) AS DATE)"
    if f.type == "TIMESTAMP":
        return f"try_strptime({r}, {_list(TIMESTAMP_FORMATS)})"
    if f.type.startswith("DECIMAL"):
        return f"TRY_CAST(replace(replace({r}, ',', ''), '，', '') AS {f.type})"
    if f.type == "BOOLEAN":
        return (
            f"CASE WHEN lower({r}) IN {_tuple(TRUE_WORDS)} THEN true "
            f"WHEN lower({r}) IN {_tuple(FALSE_WORDS)} THEN false END"
        )
    return r


def _list(items: list[str]) -> str:
    return "[" + ", ".join(lit(i) for i in items) + "]"


def _tuple(items: list[str]) -> str:
    return "(" + ", ".join(lit(i) for i in items) + ")"


def rules(record_type: str, mapped: set[str], court_code: str | None) -> list[Rule]:
    """The rules a row of ``record_type`` must pass, over the columns ``staging_sql`` parses."""
    out: list[Rule] = []
    for f in TABLES[record_type]:
        r = _raw(f.name)
        if f.required:
            out.append(Rule(f"missing_{f.name}", f"{r} IS NULL", lit(f"required field {f.name} ({f.zh}) is empty")))
        if f.name not in mapped:
            continue
        present = f"{r} IS NOT NULL"
        if f.name in CASE_NUMBER_FIELDS:
            out.append(Rule(
                f"bad_{f.name}", f"{present} AND {q(f.name)} IS NULL",
                f"'{f.name} ' || {r} || ' is not a valid case number (（年度）法院代字类型代字编号号)'",
            ))
        elif f.personal:
            out.append(Rule(
                f"bad_{f.name}", f"{present} AND NOT {q(f.name + '__ok')}",
                lit(f"{f.name} is neither a valid resident ID nor a valid credit code (check digit)"),
            ))
        elif f.name in CODED_FIELDS:
            table, column = CODED_FIELDS[f.name]
            out.append(Rule(
                f"unknown_{f.name}", f"{present} AND {r} NOT IN (SELECT {q(column)} FROM {q(table)})",
                f"'unknown {f.name} code ' || {r}",
            ))
        elif f.type in ("DATE", "TIMESTAMP", "BOOLEAN") or f.type.startswith("DECIMAL"):
            out.append(Rule(
                f"bad_{f.name}", f"{present} AND {q(f.name)} IS NULL",
                f"'{f.name} ' || {r} || ' is not a valid {f.type.split('(')[0].lower()}'",
            ))
    if SOURCE_UPDATED_AT.name in mapped:  # without it, "latest version wins" cannot be decided
        r = _raw(SOURCE_UPDATED_AT.name)
        out.append(Rule(
            "bad_source_updated_at", f"{r} IS NOT NULL AND source_updated_at IS NULL",
            f"'source_updated_at ' || {r} || ' is not a valid timestamp'",
        ))
    if court_code and "case_no" in mapped:
        out.append(Rule(
            "court_mismatch", f"court_code NOT LIKE {lit(court_code + '%')}",
            f"'case number court code ' || court_code || ' does not belong to source court {court_code}'",
        ))
    if record_type == "supervision" and {"replied_date", "issued_date"} <= mapped:
        out.append(Rule("reply_before_issue", "replied_date < issued_date", lit("replied_date is earlier than issued_date")))
    return out


def staging_sql(
    record_type: str,
    mapping: dict[str, str],
    key_column: str,
    source_columns: list[str],
    court_code: str | None,
    institution: str,
    relation: str,
    soft_delete: tuple[str, list[str]] | None = None,
    carry: list[str] | None = None,
) -> str:
    """SELECT giving, per source row (with the ``carry`` columns of ``relation`` as they are): every stored column parsed once, the record key,
    ``deleted`` (the source's soft-delete flag is set), ``_ok`` (the row may be applied) and,
    for the others, ``_rules``/``_reasons`` and ``_original`` (the source values as JSON, made
    here for the failing rows only, so quarantine never reads the batch again).

    One pipeline of projections, nothing materialized: each layer computes what the next
    reads (a case number's parts from one parse; an ID's shape once, then its check, hash and
    mask). The code-table lookup is a join, since a correlated subquery would be decorrelated
    into a second evaluation of the whole pipeline.
    """
    fields = [f for f in TABLES[record_type] if f.source] + [SOURCE_UPDATED_AT]
    raw_cols = [f"nullif(trim(CAST({q(col)} AS VARCHAR)), '') AS {_raw(field)}" for field, col in mapping.items()]
    raw_cols += [f"CAST(NULL AS VARCHAR) AS {_raw(f.name)}" for f in fields if f.name not in mapping]
    values = [c for c in source_columns if c != SOURCE_ROW]
    parsed: list[str] = []  # from the raw text
    checked: list[str] = []  # from parsed values
    case_parts: list[str] = []  # from a case number's parse
    personal: list[str] = []  # from an ID's shape
    protected: list[str] = []  # from an ID's check
    for f in fields:
        if f.personal:
            v, k = q(f"_v_{f.name}"), q(f"_k_{f.name}")
            parsed.append(f"hub_strip_id({_raw(f.name)}) AS {v}")
            checked.append(f"hub_id_shape({v}) AS {k}")
            cleaned = f"upper(replace({_raw(f.name)}, ' ', ''))"
            ok = q(f.name + "__ok")
            personal.append(f"hub_party_id_ok_of({v}, {k}) AS {ok}")
            protected += [  # only valid IDs are stored: an invalid one quarantines its row
                f"CASE WHEN {ok} THEN hub_keyed_hash({cleaned}) END AS {q(f.name + '_hash')}",
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
    deleted = "false"
    if soft_delete:
        flag, meaning_deleted = soft_delete
        deleted = f"coalesce(trim(CAST({q(flag)} AS VARCHAR)) IN {_tuple(meaning_deleted)}, false)"
    rs = rules(record_type, set(mapping), court_code)
    flags = [f"coalesce({r.violated}, false) AS _v{i}" for i, r in enumerate(rs)]
    broken = " OR ".join(f"_v{i}" for i in range(len(rs))) or "false"
    rule_list = ", ".join(f"CASE WHEN _v{i} THEN {lit(r.name)} END" for i, r in enumerate(rs))
    reason_list = ", ".join(f"CASE WHEN _v{i} THEN {r.reason} END" for i, r in enumerate(rs))
    kept = [q(c) for c in carry or []]
    out = ["source_row", "source_key", "record_key", "row_hash", "deleted", *kept]
    out += [q(f.name) for f in stored_fields(record_type) if f not in PROVENANCE or f == SOURCE_UPDATED_AT]
    return f"""
        WITH raw AS (
            SELECT {q(SOURCE_ROW)} AS source_row, CAST({q(key_column)} AS VARCHAR) AS source_key,
                   {", ".join(raw_cols + kept)}, {row_hash_sql(values)} AS row_hash,
                   {deleted} AS deleted, {original_sql(source_columns)} AS _source_values
            FROM {relation}
        ), parsed AS (
            SELECT *, {", ".join(parsed)} FROM raw
        ), checked AS (
            SELECT *, {", ".join(checked)} FROM parsed
        ), derived AS (
            SELECT checked.*, {", ".join(case_parts + derived_cols + personal)} FROM checked {code_join}
        ), flagged AS (
            SELECT *, {", ".join(flags + protected + [record_key_sql(record_type, institution) + " AS record_key"])}
            FROM derived
        )
        SELECT {", ".join(out)}, NOT ({broken}) AS _ok,
               CASE WHEN {broken} THEN list_filter([{rule_list}], lambda x: x IS NOT NULL) END AS _rules,
               CASE WHEN {broken} THEN list_filter([{reason_list}], lambda x: x IS NOT NULL) END AS _reasons,
               CASE WHEN {broken} THEN to_json(_source_values) END AS _original
        FROM flagged
    """


def row_hash_sql(columns: list[str]) -> str:
    """md5 of the row's source values, each length-prefixed so no two rows share an input
    (NULL is ``-``, distinct from empty). For change detection and exact-duplicate skipping,
    not security: md5 costs half of sha256 and the row JSON is built only for quarantine.
    One flat ``concat`` (it skips NULLs: ``length:value`` or ``-``) builds no string per column."""
    parts = []
    for c in columns:
        v = f"CAST({q(c)} AS VARCHAR)"
        parts.append(f"length({v}), CASE WHEN {q(c)} IS NULL THEN '-' ELSE ':' END, {v}")
    return f"md5(concat({', '.join(parts)}))"


def original_sql(columns: list[str]) -> str:
    """The source row's values as text, a struct to keep as quarantine's JSON ``original``."""
    return "{" + ", ".join(f"{lit(c)}: CAST({q(c)} AS VARCHAR)" for c in columns if c != SOURCE_ROW) + "}"


def record_key_sql(record_type: str, institution: str) -> str:
    """The business key: one current row per key (a document number is unique per issuer)."""
    if record_type == "supervision":
        return f"{lit(institution + '/')} || replace(\"doc_no__raw\", ' ', '')"
    return "case_no"
