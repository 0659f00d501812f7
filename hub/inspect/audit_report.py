"""``hub audit report``: what each office received and, per source, what was pulled and quarantined.

Three sections over one period (dates inclusive, UTC, matched against when a bundle was
published and when a batch landed):

- received: per office, bundle and dataset — agreement, sequence, manifest and file sha256,
  rows (from ``hub_bundles``, the same rows ``hub_receipts`` names one by one), delivery, and
  when the office applied it by its own signed acknowledgement (``hub_acknowledgements``);
- pulled: per source — pull attempts and failures (audit log), batches and rows in, applied,
  quarantined and duplicate (``hub_batches``);
- quarantined: per source and rule, the rows in ``quarantine``;
- set aside: each landed batch that could not be staged (``hub_set_aside``) in the period, and
  every one still waiting whenever it came, and why: rows an office did not receive, named.

With ``--office`` only that office's bundles, and only the sources of the record types its
agreement shares. Printed as tables; ``--out`` writes all four as one CSV or Parquet file
(a ``section`` column tells them apart).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from hub.config import HubConfig
from hub.errors import ConfigError
from hub.home import Home
from hub.normalize.warehouse import Warehouse
from hub.observe import audit
from hub.publish import receipts


@dataclass(frozen=True)
class AuditReport:
    office: str | None
    start: dt.date
    end: dt.date
    received: pa.Table
    pulled: pa.Table
    quarantined: pa.Table
    set_aside: pa.Table


def build(
    config: HubConfig, home: Home, wh: Warehouse, *, office: str | None, start: dt.date, end: dt.date
) -> AuditReport:
    if office is not None:
        config.office(office)  # an office hub.yaml does not declare is an error naming those it does
    agreement = config.agreement_for(office) if office else None
    shared = {s.record_type for s in agreement.shares} if agreement else None
    sources = [s.name for s in config.sources if shared is None or s.record_type in shared]
    lo = dt.datetime.combine(start, dt.time())
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
    con = wh.con
    con.register("_deliveries", receipts.deliveries(config, home))
    con.register("_pulls", _pulls(home, lo, hi))
    try:
        sftp = [o.id for o in config.offices if o.delivery.sftp is not None]
        received = con.sql(
            """SELECT b.office, b.agreement, b.agreement_version, b.bundle_sequence, b.published_at, b.extract,
                      b.bundle_sha256, b.dataset, b.file, b.file_sha256, b.rows,
                      coalesce(d.status, CASE WHEN list_contains($sftp, b.office) THEN 'pending' ELSE 'outbox' END)
                        AS delivery,
                      d.at AS delivered_at, d."where" AS delivered_to,
                      a.applied_at AS acknowledged_applied_at, a.keyid AS acknowledged_by_key,
                      a.envelope_sha256 AS acknowledgement_sha256
               FROM hub_bundles b
               LEFT JOIN _deliveries d ON d.office = b.office AND d.bundle_sequence = b.bundle_sequence
               LEFT JOIN hub_acknowledgements a ON a.office = b.office AND a.bundle_sequence = b.bundle_sequence
                                               AND a.bundle_sha256 = b.bundle_sha256
               WHERE b.published_at >= $lo AND b.published_at < $hi AND ($office IS NULL OR b.office = $office)
               ORDER BY b.office, b.bundle_sequence, b.dataset""",
            params={"sftp": sftp, "lo": lo, "hi": hi, "office": office},
        ).to_arrow_table()
        pulled = con.sql(
            """WITH s AS (SELECT unnest($sources) AS source)
               SELECT s.source, coalesce(p.pulls, 0) AS pulls, coalesce(p.failed, 0) AS failed_pulls,
                      count(b.batch_id) AS batches, CAST(coalesce(sum(b.rows_in), 0) AS BIGINT) AS rows_in,
                      CAST(coalesce(sum(b.rows_applied), 0) AS BIGINT) AS rows_applied,
                      CAST(coalesce(sum(b.rows_quarantined), 0) AS BIGINT) AS rows_quarantined,
                      CAST(coalesce(sum(b.rows_duplicate), 0) AS BIGINT) AS rows_duplicate
               FROM s
               LEFT JOIN hub_batches b ON b.source_name = s.source AND b.kind = 'rows'
                                      AND b.landed_at >= $lo AND b.landed_at < $hi
               LEFT JOIN _pulls p ON p.source = s.source
               GROUP BY ALL ORDER BY s.source""",
            params={"sources": sources, "lo": lo, "hi": hi},
        ).to_arrow_table()
        quarantined = con.sql(
            """SELECT q.source_name AS source, q.rule, count(*) AS rows, any_value(q.reason) AS example_reason
               FROM quarantine q JOIN hub_batches b USING (batch_id)
               WHERE list_contains($sources, q.source_name) AND b.landed_at >= $lo AND b.landed_at < $hi
               GROUP BY ALL ORDER BY source, rows DESC, rule""",
            params={"sources": sources, "lo": lo, "hi": hi},
        ).to_arrow_table()
        set_aside = con.sql(
            """SELECT source_name AS source, batch_id, origin, rows, set_aside_at,
                      CASE WHEN dropped_at IS NULL THEN 'waiting' ELSE 'dropped' END AS status, reason, drop_reason
               FROM hub_set_aside
               WHERE list_contains($sources, source_name)
                 AND (set_aside_at >= $lo AND set_aside_at < $hi OR dropped_at IS NULL)  -- one still waiting, always
               ORDER BY source, set_aside_at, batch_id""",
            params={"sources": sources, "lo": lo, "hi": hi},
        ).to_arrow_table()
    finally:
        con.unregister("_deliveries")
        con.unregister("_pulls")
    return AuditReport(office, start, end, received, pulled, quarantined, set_aside)


def _pulls(home: Home, lo: dt.datetime, hi: dt.datetime) -> pa.Table:
    """Pull attempts per source in the period, from the audit log (an empty pull lands nothing)."""
    counts: dict[str, list[int]] = {}
    for entry in audit.entries(home.audit):
        if entry["event"] != "pull":
            continue
        at = dt.datetime.fromisoformat(entry["at"]).astimezone(dt.UTC).replace(tzinfo=None)
        if lo <= at < hi:
            c = counts.setdefault(entry["subject"], [0, 0])
            c[0] += 1
            c[1] += entry["details"].get("status") == "failed"
    return pa.table({"source": list(counts), "pulls": [c[0] for c in counts.values()],
                     "failed": [c[1] for c in counts.values()]},
                    schema=pa.schema([("source", pa.string()), ("pulls", pa.int64()), ("failed", pa.int64())]))


def write(report: AuditReport, out: Path) -> None:
    """All four sections as one table (``section`` column) in CSV or Parquet, by extension."""
    parts = [t.add_column(0, "section", pa.array([name] * t.num_rows, pa.string()))
             for name, t in (("received", report.received), ("pulled", report.pulled),
                             ("quarantined", report.quarantined), ("set_aside", report.set_aside))]
    table = pa.concat_tables(parts, promote_options="permissive")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        pacsv.write_csv(table, out)
    elif out.suffix == ".parquet":
        pq.write_table(table, out)
    else:
        raise ConfigError(f"--out {out}: write .csv or .parquet (the extension picks the format)")


def render(report: AuditReport) -> str:
    who = f"office {report.office}" if report.office else "all offices"
    lines = [f"audit report for {who}, {report.start} to {report.end} (UTC, inclusive)", ""]
    lines += _table("received (bundles per office and dataset)", report.received, [
        ("office", "office"), ("seq", "bundle_sequence"), ("published", "published_at"), ("agreement", "agreement"),
        ("extract", "extract"), ("dataset", "dataset"), ("rows", "rows"), ("manifest sha256", "bundle_sha256"),
        ("file sha256", "file_sha256"), ("delivery", "delivery"), ("delivered", "delivered_at"),
        ("office applied (signed)", "acknowledged_applied_at"), ("office key", "acknowledged_by_key")])
    lines += _table("pulled (per source)", report.pulled, [
        ("source", "source"), ("pulls", "pulls"), ("failed", "failed_pulls"), ("batches", "batches"),
        ("rows in", "rows_in"), ("applied", "rows_applied"), ("quarantined", "rows_quarantined"),
        ("duplicate", "rows_duplicate")])
    lines += _table("quarantined (per source and rule)", report.quarantined, [
        ("source", "source"), ("rule", "rule"), ("rows", "rows"), ("example reason", "example_reason")])
    lines += _table("set aside (landed batches not applied: could not be staged)", report.set_aside, [
        ("source", "source"), ("batch", "batch_id"), ("rows", "rows"), ("set aside", "set_aside_at"),
        ("status", "status"), ("origin", "origin"), ("reason", "reason")])
    return "\n".join(lines)


def _cell(value: Any, column: str) -> str:
    if value is None:
        return "-"
    if column.endswith("sha256") or column in ("batch_id", "acknowledged_by_key"):
        return f"{value[:12]}…"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, str) and column == "delivered_at":
        return value[:16].replace("T", " ")
    return str(value)


def _table(title: str, table: pa.Table, columns: list[tuple[str, str]]) -> list[str]:
    rows = [[_cell(r[c], c) for _, c in columns] for r in table.to_pylist()]
    if not rows:
        return [f"{title}: none", ""]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, (h, _) in enumerate(columns)]
    fmt = "  ".join(f"{{:{'>' if pa.types.is_integer(table.schema.field(c).type) else '<'}{w}}}"
                    for w, (_, c) in zip(widths, columns))
    return [title, "  " + fmt.format(*(h for h, _ in columns)), *("  " + fmt.format(*r) for r in rows), ""]
