"""Which source columns each shared column is computed from, and each published column.

Derived from ``hub.yaml`` (source mappings, agreement treatments) and the shared schemas, so
the Dagster UI and OpenLineage events show the same column lineage the exchange really runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.config import Agreement, HubConfig, Treatment
from schemas.tables import RECORD_KEYS, TABLES, stored_fields

DERIVED_FROM = {
    "case_no_raw": "case_no", "case_year": "case_no", "court_code": "case_no", "case_type_code": "case_no",
    "case_category": "case_no", "target_case_no_raw": "target_case_no", "target_court_code": "target_case_no",
}
"""Fields normalization derives from another field's source column."""


@dataclass(frozen=True)
class ColumnInput:
    source: str  # source name (normalized tables) or record type (extracts)
    column: str
    transformation: str  # identity | parse | derive | mask | hash
    masked: bool = False


def _base_field(record_type: str, name: str) -> tuple[str, str] | None:
    """(field whose source column ``name`` is computed from, how), or None (provenance only)."""
    personal = {f.name for f in TABLES[record_type] if f.personal}
    for suffix, how in (("_hash", "hash"), ("_masked", "mask")):
        if name.endswith(suffix) and name.removesuffix(suffix) in personal:
            return name.removesuffix(suffix), how
    if name == "record_key":
        return RECORD_KEYS[record_type], "derive"
    if name in DERIVED_FROM:
        return DERIVED_FROM[name], "derive"
    if name in {f.name for f in TABLES[record_type]} or name == "source_updated_at":
        return name, "parse"
    return None


def normalized_inputs(config: HubConfig, record_type: str) -> dict[str, list[ColumnInput]]:
    """Stored column of a shared table -> the landed source columns it comes from."""
    out: dict[str, list[ColumnInput]] = {}
    for src in config.sources_of(record_type):
        for field in stored_fields(record_type):
            if field.name == "source_key":
                out.setdefault(field.name, []).append(ColumnInput(src.name, src.key, "identity"))
                continue
            base = _base_field(record_type, field.name)
            if base is not None and base[0] in src.mapping:
                how = base[1]
                out.setdefault(field.name, []).append(
                    ColumnInput(src.name, src.mapping[base[0]], how, masked=how in ("mask", "hash")))
    return out


def extract_inputs(agreement: Agreement) -> dict[str, dict[str, ColumnInput]]:
    """Dataset -> published column -> the shared-table column it is taken from."""
    how: dict[Treatment, str] = {"clear": "identity", "mask": "mask", "hash": "hash", "drop": "drop"}
    out: dict[str, dict[str, ColumnInput]] = {}
    for share in agreement.shares:
        cols = {"record_key": ColumnInput(share.record_type, "record_key", "identity")} if agreement.mode == "incremental" else {}
        for column, treatment in share.columns.items():
            if treatment != "drop":
                cols[column] = ColumnInput(share.record_type, column, how[treatment], masked=treatment != "clear")
        out[share.record_type] = cols
    return out
