"""``hub trace``: one record's whole chain, from the source row to the offices that received it.

A record is found by case number (canonicalized first, so any way a clerk wrote it works), by
record key, or by a row of a bundle an office holds (the bundle is recognised by its manifest
digest wherever it was copied). For each record the tree shows every version the warehouse
kept (``*_history``) with its source (file and line, or query, key and row of the page),
landing batch and sidecar, and the apply run; the rows of the same source key that went to
quarantine; and every bundle row it was sent as, with the office and the delivery outcome.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from hub import marts
from hub.config import HubConfig
from hub.errors import HubError
from hub.home import Home
from hub.normalize.warehouse import Warehouse
from hub.publish import receipts
from schemas.case_number import InvalidCaseNumber, parse_case_number
from schemas.sql import q
from schemas.tables import PROVENANCE, RECORD_TYPES, stored_fields

CASE_FIELDS = {"filing": "case_no", "judgment": "case_no", "enforcement": "case_no", "supervision": "target_case_no",
               "agency_decision": "court_case_no", "referral": "related_case_no"}
"""The case number each record type is found by (a supervision measure by the case it targets, an
agency's decision by the court case enforcing it, a referral by the case the clue came from)."""
_PROVENANCE = {f.name for f in PROVENANCE}


@dataclass(frozen=True)
class Target:
    record_type: str
    record_key: str
    receipt: dict[str, Any] | None = None  # the bundle row asked about, if any


def trace(
    config: HubConfig, home: Home, wh: Warehouse, *, case_no: str | None = None, record: str | None = None,
    bundle: Path | None = None, dataset: str | None = None, row: int | None = None,
) -> dict[str, Any]:
    """The chain as plain data (what ``--json`` prints); raises ``HubError`` if nothing matches."""
    con = wh.con
    relations = wh.relations()
    held = {rt for rt in RECORD_TYPES if f"{rt}_history" in relations}  # one an older hub wrote may lack some
    if case_no is not None:
        try:
            canonical = parse_case_number(case_no).canonical
        except InvalidCaseNumber as exc:
            raise HubError(f"not a case number: {exc}") from None
        query: dict[str, Any] = {"case_no": canonical}
        targets = _by_case(con, canonical, held)
        stray = _quarantined_case(config, con, canonical)
    elif record is not None:
        query, targets, stray = {"record_key": record}, _by_key(con, record, held), []
    else:
        assert bundle is not None and dataset is not None and row is not None
        query = {"bundle": str(bundle), "dataset": dataset, "row": row}
        targets, stray = [_by_bundle_row(con, bundle, dataset, row)], []
    if not targets and not stray:
        raise HubError(f"nothing in the warehouse matches {json.dumps(query, ensure_ascii=False)}; "
                       "check the number, or run 'hub run' if the record was only just sent")
    delivered = {(d["office"], d["bundle_sequence"]): d for d in receipts.deliveries(config, home).to_pylist()}
    sftp_offices = {o.id for o in config.offices if o.delivery.sftp is not None}
    out = [_record(config, home, con, t, delivered, sftp_offices) for t in targets]
    return {"query": query, "records": out,
            "quarantined_unmatched": [_quarantine_row(r) for r in stray]}


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | dict[str, Any]) -> list[dict[str, Any]]:
    rel = con.execute(sql, params)
    names = [d[0] for d in rel.description]  # type: ignore[union-attr]
    return [dict(zip(names, r)) for r in rel.fetchall()]


def _by_case(con: duckdb.DuckDBPyConnection, canonical: str, held: set[str]) -> list[Target]:
    parts = [f"SELECT DISTINCT '{rt}' AS rt, record_key FROM {q(rt + '_history')} WHERE {q(col)} = ?"
             for rt, col in CASE_FIELDS.items() if rt in held]
    rows = con.execute(" UNION ALL ".join(parts) + " ORDER BY 1, 2", [canonical] * len(parts)).fetchall()
    return [Target(rt, key) for rt, key in rows]


def _by_key(con: duckdb.DuckDBPyConnection, key: str, held: set[str]) -> list[Target]:
    parts = [f"SELECT DISTINCT '{rt}' AS rt, record_key FROM {q(rt + '_history')} WHERE record_key = ?"
             for rt in RECORD_TYPES if rt in held]
    rows = con.execute(" UNION ALL ".join(parts) + " ORDER BY 1", [key] * len(parts)).fetchall()
    return [Target(rt, k) for rt, k in rows]


def _by_bundle_row(con: duckdb.DuckDBPyConnection, bundle: Path, dataset: str, row: int) -> Target:
    digest = receipts.manifest_sha256(bundle)
    found = _rows(con, "SELECT * FROM hub_receipts WHERE bundle_sha256 = ? AND dataset = ? AND bundle_row = ?",
                  [digest, dataset, row])
    if not found:
        known = _rows(con, "SELECT dataset, rows FROM hub_bundles WHERE bundle_sha256 = ?", [digest])
        if not known:
            raise HubError(f"{bundle} is not a bundle this hub published (no receipt names its manifest "
                           f"sha256 {digest[:16]}…); check the path, or trace it on the hub that sent it")
        sizes = ", ".join(f"{k['dataset']} has {k['rows']} rows" for k in known)
        raise HubError(f"{bundle}: no row {row} in dataset {dataset!r} ({sizes}; rows count from 1)")
    r = found[0]
    if dataset not in RECORD_TYPES:  # a mart row: derived whole from the shared tables when the mart was rebuilt
        mart = marts.MART_OF_TABLE[dataset]
        raise HubError(f"{bundle}: row {row} of {dataset} is a row of the {mart.name} mart (key "
                       f"{' | '.join(mart.keys[dataset])} = {r['record_key']}), rebuilt from {', '.join(mart.deps)}; "
                       "it has no source row of its own: trace the records it counts with hub trace --record or a case number")
    return Target(dataset, r["record_key"], r)


def _quarantined_case(config: HubConfig, con: duckdb.DuckDBPyConnection, canonical: str) -> list[dict[str, Any]]:
    """Quarantined rows whose raw case number is, or names, this case (they never reached a table)."""
    out: list[dict[str, Any]] = []
    for src in config.sources:
        column = src.mapping.get(CASE_FIELDS[src.record_type])
        if column is None:
            continue
        raw = "json_extract_string(original, $path)"
        out += _rows(con, f"SELECT * FROM quarantine WHERE source_name = $source AND (hub_case_no({raw}) = $case "
                          f"OR list_contains(list_transform(hub_case_split({raw}), lambda p: p.canonical), $case)) "
                          "ORDER BY quarantined_at, source_row",
                     {"source": src.name, "path": "/" + column.replace("~", "~0").replace("/", "~1"), "case": canonical})
    return out


def _record(
    config: HubConfig, home: Home, con: duckdb.DuckDBPyConnection, t: Target,
    delivered: dict[tuple[str, int], dict[str, Any]], sftp_offices: set[str],
) -> dict[str, Any]:
    rt, key = t.record_type, t.record_key
    versions = _rows(
        con,
        f"""SELECT h.*, t.record_key IS NOT NULL AS current, b.applied_at, b.run_id AS applied_run_id
            FROM {q(rt + '_history')} h
            LEFT JOIN {q(rt)} t ON t.record_key = h.record_key AND t.row_hash = h.row_hash
            LEFT JOIN hub_batches b ON b.batch_id = h.batch_id
            WHERE h.record_key = ?
            ORDER BY coalesce(h.source_updated_at, TIMESTAMP '-infinity'), h.landed_at, h.source_row""",
        [key],
    )
    data_fields = [f.name for f in stored_fields(rt) if f.name not in _PROVENANCE]
    numbered = {v["row_hash"]: n for n, v in enumerate(versions, 1)}
    keys = sorted({(v["source_name"], v["source_key"]) for v in versions})
    quarantined = []
    for source, source_key in keys:
        quarantined += _rows(con, "SELECT * FROM quarantine WHERE source_name = ? AND source_key = ? "
                                  "ORDER BY quarantined_at, source_row", [source, source_key])
    sent = _rows(
        con,
        """SELECT r.*, b.agreement_version, b.published_at, b.bundle_path, b.extract, b.file, b.file_sha256,
                  a.applied_at AS ack_applied_at, a.keyid AS ack_keyid, a.collected_at AS ack_collected_at
           FROM hub_receipts r JOIN hub_bundles b USING (bundle_sha256, dataset)
           LEFT JOIN hub_acknowledgements a ON a.office = r.office AND a.bundle_sequence = r.bundle_sequence
                                           AND a.bundle_sha256 = r.bundle_sha256
           WHERE r.dataset = ? AND r.record_key = ? ORDER BY b.published_at, r.office""",
        [rt, key],
    )
    names = {o.id: o.name for o in config.offices}
    acknowledging = {o.id for o in config.offices if o.acknowledgement_keys}
    for r in sent:
        r["expects_acknowledgement"] = r["office"] in acknowledging
    return {
        "record_type": rt,
        "record_key": key,
        "asked_about": _receipt(t.receipt, numbered, names, delivered, sftp_offices) if t.receipt else None,
        "versions": [
            {
                "version": n,
                "current": v["current"],
                "row_hash": v["row_hash"],
                "source_updated_at": v["source_updated_at"],
                "values": {f: v[f] for f in data_fields},
                "source": _source(config, home, v),
                "landing": _landing(home, v),
                "applied": {"run_id": v["applied_run_id"], "at": v["applied_at"]},
            }
            for n, v in enumerate(versions, 1)
        ],
        "quarantined": [_quarantine_row(r) for r in quarantined],
        "received_by": [_receipt(r, numbered, names, delivered, sftp_offices) for r in sent],
    }


def _sidecar(home: Home, source: str, batch_id: str) -> tuple[Path, dict[str, Any]]:
    path = home.landing / source / f"{batch_id}.json"
    return path, json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _source(config: HubConfig, home: Home, v: dict[str, Any]) -> dict[str, Any]:
    """Where the version's row is in the institution's own store."""
    src = next((s for s in config.sources if s.name == v["source_name"]), None)
    _, meta = _sidecar(home, v["source_name"], v["batch_id"])
    details = meta.get("details", {})
    out: dict[str, Any] = {
        "name": v["source_name"], "institution": v["source_institution"], "origin": meta.get("origin"),
        "key_column": src.key if src else None, "source_key": v["source_key"],
    }
    if "query" in details or (src is not None and src.kind == "database"):
        out |= {"kind": "database", "query": details.get("query"), "params": details.get("params"),
                "row_of_result": v["source_row"]}
    else:
        origin = meta.get("origin") or ""
        out |= {"kind": "file", "file": origin.split("/", 3)[-1] if origin.startswith("sftp://") else origin,
                "line": v["source_row"], "local_copy": details.get("local_path"),
                "file_sha256": details.get("sha256") or file_digest(home, v["source_name"], meta)}
    return out


def file_digest(home: Home, source: str, meta: dict[str, Any]) -> str | None:
    """A large file lands in pieces as it downloads; only its last piece, landed once the whole
    file was checked, records the file's sha256: find it among the same pull's pieces."""
    local, run = meta.get("details", {}).get("local_path"), meta.get("run_id")
    if local is None:
        return None
    for sidecar in (home.landing / source).glob("*.json"):
        other = json.loads(sidecar.read_text(encoding="utf-8"))
        details = other.get("details", {})
        if details.get("local_path") == local and other.get("run_id") == run and details.get("sha256"):
            return str(details["sha256"])
    return None


def _landing(home: Home, v: dict[str, Any]) -> dict[str, Any]:
    path, meta = _sidecar(home, v["source_name"], v["batch_id"])
    return {"batch_id": v["batch_id"], "file": str(path.with_suffix(".parquet")), "sidecar": str(path),
            "landed_at": meta.get("landed_at", v["landed_at"]), "run_id": meta.get("run_id"),
            "watermark": meta.get("watermark"), "sha256": meta.get("sha256")}


def _quarantine_row(r: dict[str, Any]) -> dict[str, Any]:
    return {"source": r["source_name"], "batch_id": r["batch_id"], "source_row": r["source_row"],
            "source_key": r["source_key"], "rule": r["rule"], "reason": r["reason"], "rules": r["rules"],
            "original": json.loads(r["original"]) if isinstance(r["original"], str) else r["original"],
            "quarantined_at": r["quarantined_at"], "run_id": r["run_id"]}


def _receipt(
    r: dict[str, Any], numbered: dict[str, int], names: dict[str, str],
    delivered: dict[tuple[str, int], dict[str, Any]], sftp_offices: set[str],
) -> dict[str, Any]:
    office, seq = r["office"], r["bundle_sequence"]
    delivery = delivered.get((office, seq)) or {"status": "pending" if office in sftp_offices else "outbox"}
    return {
        "office": office, "office_name": names.get(office), "agreement": r["agreement"],
        "agreement_version": r.get("agreement_version"), "bundle_sequence": seq, "bundle": r.get("bundle_path"),
        "bundle_sha256": r["bundle_sha256"], "dataset": r["dataset"], "file": r.get("file"),
        "bundle_row": r["bundle_row"], "change": r["change"], "row_hash": r["row_hash"],
        "version": numbered.get(r["row_hash"]) if r["row_hash"] else None, "published_at": r.get("published_at"),
        "delivery": {k: delivery.get(k) for k in ("status", "at", "where", "error") if delivery.get(k) is not None},
        "acknowledged": {"applied_at": r["ack_applied_at"], "keyid": r["ack_keyid"], "collected_at": r["ack_collected_at"]}
        if r.get("ack_keyid") else None,
        "expects_acknowledgement": bool(r.get("expects_acknowledgement")),
    }


# --- the readable tree -----------------------------------------------------------------------

Node = tuple[str, list["Node"]]


def render(result: dict[str, Any]) -> str:
    """The chain as an indented tree a person can follow."""
    query = ", ".join(f"{k} {v}" for k, v in result["query"].items())
    roots: list[Node] = [_record_node(r) for r in result["records"]]
    if result["quarantined_unmatched"]:
        roots.append(("quarantined rows with this case number (never applied)",
                      [_quarantine_node(r) for r in result["quarantined_unmatched"]]))
    lines = [f"trace: {query}"]
    for i, node in enumerate(roots):
        lines += _lines(node, "", i == len(roots) - 1)
    return "\n".join(lines)


def _lines(node: Node, prefix: str, last: bool) -> list[str]:
    label, children = node
    first, *rest = label.split("\n")
    out = [f"{prefix}{'└─ ' if last else '├─ '}{first}"]
    inner = prefix + ("   " if last else "│  ")
    out += [f"{inner}{'   ' if not children else '│  '}{line}" for line in rest]
    for i, child in enumerate(children):
        out += _lines(child, inner, i == len(children) - 1)
    return out


def _short(h: str | None) -> str:
    return f"{h[:12]}…" if h else "-"


def _record_node(r: dict[str, Any]) -> Node:
    children: list[Node] = []
    if r["asked_about"]:
        a = r["asked_about"]
        children.append((f"asked about: bundle {a['bundle_sequence']:08d} of {a['office']}, {a['dataset']} row "
                         f"{a['bundle_row']} = version {a['version'] or '-'} ({a['change']})", []))
    for v in r["versions"]:
        children.append(_version_node(v))
    children.append(("quarantined rows of the same source key" if r["quarantined"] else "quarantined: none",
                     [_quarantine_node(x) for x in r["quarantined"]]))
    children.append(("received by" if r["received_by"] else "received by: no office yet",
                     [_receipt_node(x) for x in r["received_by"]]))
    return (f"{r['record_type']} {r['record_key']}", children)


def _version_node(v: dict[str, Any]) -> Node:
    s, land = v["source"], v["landing"]
    head = (f"version {v['version']}{' (current)' if v['current'] else ''}: row_hash {_short(v['row_hash'])}, "
            f"source updated {v['source_updated_at'] or '-'}")
    if s["kind"] == "database":
        query = " ".join((s["query"] or "-").split())
        query = re.sub(r"^SELECT (.*?) FROM", lambda m: f"SELECT ({m[1].count(',') + 1} columns) FROM", query)
        where = (f"source  {s['name']} ({s['institution']}), {s['origin']}\n"
                 f"row {s['row_of_result']} of the result of: {query}\n"
                 f"params {json.dumps(s['params'], ensure_ascii=False, default=str)}; "
                 f"key {s['key_column']} = {s['source_key']}")
    else:
        where = (f"source  {s['name']} ({s['institution']}), file {s['origin']}\n"
                 f"line {s['line']}, key {s['key_column']} = {s['source_key']}; "
                 f"local copy {s['local_copy']} (sha256 {_short(s['file_sha256'])})")
    landing = (f"landing batch {_short(land['batch_id'])} landed {land['landed_at']} (run {land['run_id']})\n"
               f"{land['file']}\nsidecar {land['sidecar']}")
    applied = f"applied run {v['applied']['run_id']} at {v['applied']['at']}"
    values = ", ".join(f"{k}={val}" for k, val in v["values"].items() if val is not None)
    return (head, [(where, []), (landing, []), (applied, []), (f"values {values}", [])])


def _quarantine_node(x: dict[str, Any]) -> Node:
    return (f"{x['rule']}: {x['reason']}\n{x['source']} batch {_short(x['batch_id'])} row {x['source_row']}, "
            f"key {x['source_key']}, at {x['quarantined_at']}", [])


def _receipt_node(x: dict[str, Any]) -> Node:
    d = x["delivery"]
    status = d.get("status", "-") + (f" {d['at']}" if d.get("at") else "") + (f" to {d['where']}" if d.get("where") else "")
    if d.get("error"):
        status += f" ({d['error']})"
    return (f"{x['office']} {x['office_name'] or ''}, agreement {x['agreement']} v{x['agreement_version']}\n"
            f"bundle {x['bundle_sequence']:08d} (manifest sha256 {_short(x['bundle_sha256'])}) published "
            f"{x['published_at']}\n{x['file']} row {x['bundle_row']}: {x['change']}, version {x['version'] or '-'}\n"
            f"delivery: {status}" + (f"\n{_acknowledged(x['acknowledged'])}" if x["acknowledged"]
                                     or x["expects_acknowledgement"] else ""), [])


def _acknowledged(ack: dict[str, Any] | None) -> str:
    if ack is None:
        return "acknowledged: not yet (no signed acknowledgement collected from the office)"
    return (f"acknowledged: the office applied it {ack['applied_at']} (signed by its key {_short(ack['keyid'])}, "
            f"collected {ack['collected_at']})")
