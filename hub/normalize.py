"""Normalization as DuckDB SQL: map, parse, validate and derive over a whole batch at once.

``staging_sql`` turns a landed batch (the source's own column names) into one row per source
row with every shared-schema field parsed, plus ``_rules``/``_reasons`` lists naming every
rule the row breaks. Rows with an empty list are applied; the others go to quarantine with
their original values. No Python touches individual rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.base import SOURCE_ROW
from schemas.tables import TABLES, Field, stored_fields

DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M:%S"]
TIMESTAMP_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d"]
TRUE_WORDS = ["1", "true", "t", "y", "yes", "是", "到庭", "出庭"]
FALSE_WORDS = ["0", "false", "f", "n", "no", "否", "未到庭", "未出庭"]

CASE_NUMBER_FIELDS = {"case_no", "target_case_no"}
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
    """SQL parsing the raw text of ``f`` into its shared-schema type (NULL if unparseable)."""
    r = _raw(f.name)
    if f.name in CASE_NUMBER_FIELDS:
        return f"hub_case_no({r})"
    if f.name == "basis_doc_no":
        return f"coalesce(hub_case_no({r}), {r})"
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
    """The rules a row of ``record_type`` must pass, for the fields this source maps."""
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
                f"bad_{f.name}", f"{present} AND hub_case_no({r}) IS NULL",
                f"'{f.name} ' || {r} || ' is not a valid case number (（年度）法院代字类型代字编号号)'",
            ))
        elif f.personal:
            out.append(Rule(
                f"bad_{f.name}",
                f"{present} AND NOT (hub_resident_id_ok({r}) OR hub_credit_code_ok({r}))",
                lit(f"{f.name} is neither a valid resident ID nor a valid credit code (check digit)"),
            ))
        elif f.name in CODED_FIELDS:
            table, column = CODED_FIELDS[f.name]
            out.append(Rule(
                f"unknown_{f.name}",
                f"{present} AND {r} NOT IN (SELECT {q(column)} FROM {q(table)})",
                f"'unknown {f.name} code ' || {r}",
            ))
        elif f.type in ("DATE", "TIMESTAMP", "BOOLEAN") or f.type.startswith("DECIMAL"):
            out.append(Rule(
                f"bad_{f.name}", f"{present} AND {_parse(f)} IS NULL",
                f"'{f.name} ' || {r} || ' is not a valid {f.type.split('(')[0].lower()}'",
            ))
    if court_code and "case_no" in mapped:
        out.append(Rule(
            "court_mismatch",
            f"hub_case_no({_raw('case_no')}) IS NOT NULL AND hub_case_court(hub_case_no({_raw('case_no')})) "
            f"NOT LIKE {lit(court_code + '%')}",
            f"'case number court code ' || hub_case_court(hub_case_no({_raw('case_no')})) || "
            f"' does not belong to source court {court_code}'",
        ))
    if record_type == "supervision" and {"replied_date", "issued_date"} <= mapped:
        out.append(Rule(
            "reply_before_issue",
            "CAST(try_strptime(\"replied_date__raw\", " + _list(DATE_FORMATS) + ") AS DATE) < "
            "CAST(try_strptime(\"issued_date__raw\", " + _list(DATE_FORMATS) + ") AS DATE)",
            lit("replied_date is earlier than issued_date"),
        ))
    return out


def staging_sql(
    record_type: str,
    mapping: dict[str, str],
    key_column: str,
    source_columns: list[str],
    court_code: str | None,
    relation: str,
) -> str:
    """SELECT producing raw, parsed and rule columns for every row of ``relation``."""
    fields = {f.name: f for f in TABLES[record_type] + tuple(f for f in stored_fields(record_type) if f.source)}
    raw_cols = [
        f"nullif(trim(CAST({q(col)} AS VARCHAR)), '') AS {_raw(field)}" for field, col in mapping.items()
    ]
    unmapped = [f"CAST(NULL AS VARCHAR) AS {_raw(f)}" for f in fields if f not in mapping]
    original = ", ".join(f"{lit(c)}: CAST({q(c)} AS VARCHAR)" for c in source_columns if c != SOURCE_ROW)
    rs = rules(record_type, set(mapping), court_code)
    rule_list = "list_filter([" + ", ".join(f"CASE WHEN {r.violated} THEN {lit(r.name)} END" for r in rs) + "], lambda x: x IS NOT NULL)"
    reason_list = "list_filter([" + ", ".join(f"CASE WHEN {r.violated} THEN {r.reason} END" for r in rs) + "], lambda x: x IS NOT NULL)"
    return f"""
        WITH raw AS (
            SELECT {q(SOURCE_ROW)} AS source_row,
                   CAST({q(key_column)} AS VARCHAR) AS source_key,
                   {", ".join(raw_cols + unmapped)},
                   to_json({{{original}}}) AS original
            FROM {relation}
        )
        SELECT *, {rule_list} AS _rules, {reason_list} AS _reasons FROM raw
    """


def typed_select(record_type: str) -> str:
    """Columns of the normalized table computed from a staging row (before provenance)."""
    cols: list[str] = []
    for f in TABLES[record_type]:
        if f.personal:
            cleaned = f"upper(replace({_raw(f.name)}, ' ', ''))"
            cols.append(f"hub_keyed_hash({cleaned}) AS {q(f.name + '_hash')}")
            cols.append(f"hub_mask_id({cleaned}) AS {q(f.name + '_masked')}")
        elif f.source:
            cols.append(f"{_parse(f)} AS {q(f.name)}")
    derived = {
        "case_no_raw": _raw("case_no"),
        "case_year": "hub_case_year(hub_case_no(\"case_no__raw\"))",
        "court_code": "hub_case_court(hub_case_no(\"case_no__raw\"))",
        "case_type_code": "hub_case_type(hub_case_no(\"case_no__raw\"))",
        "case_category": "(SELECT category FROM code_case_type c WHERE c.type_code = hub_case_type(hub_case_no(\"case_no__raw\")))",
        "target_case_no_raw": _raw("target_case_no"),
        "target_court_code": "hub_case_court(hub_case_no(\"target_case_no__raw\"))",
    }
    names = {f.name for f in TABLES[record_type]}
    cols += [f"{expr} AS {q(name)}" for name, expr in derived.items() if name in names]
    cols.append(f"{_parse(next(f for f in stored_fields(record_type) if f.name == 'source_updated_at'))} AS source_updated_at")
    return ",\n".join(cols)


def record_key_sql(record_type: str) -> str:
    """The business key: one current row per key (``$source_institution`` is bound)."""
    if record_type == "supervision":
        return "$source_institution || '/' || replace(\"doc_no__raw\", ' ', '')"
    return "hub_case_no(\"case_no__raw\")"
