"""Asset checks beside the normalized tables; blocking ones stop extracts from publishing."""

import datetime as dt

import dagster as dg

from hub.config import HubConfig
from hub.normalize import set_aside
from hub.normalize.missing_keys import describe, missing_keys
from hub.normalize.views import LINK_RATE_SQL
from hub.orchestration.resources import WAREHOUSE_POOL, HubResource
from hub.publish.acknowledgements import outstanding
from schemas.sql import q
from schemas.tables import RECORD_TYPES, TABLES


def _table_check(record_type: str) -> dg.AssetChecksDefinition:
    required = [f for f in TABLES[record_type] if f.required]

    @dg.asset_check(
        asset=record_type, name="keys_unique_and_required_present", blocking=True, pool=WAREHOUSE_POOL,
        description="One current row per record key, and no required field empty.",
    )
    def _check(hub: HubResource) -> dg.AssetCheckResult:
        nulls = " + ".join(f"count(*) FILTER (WHERE {q(f.name)} IS NULL{f' AND {q(f.unless)} IS NULL' if f.unless else ''})"
                           for f in required)
        with hub.warehouse() as wh:
            rows, keys, missing = wh.query(
                f"SELECT count(*), count(DISTINCT record_key), {nulls} FROM {q(record_type)}"
            ).fetchone()  # type: ignore[misc]
        return dg.AssetCheckResult(
            passed=rows == keys and missing == 0,
            metadata={"rows": rows, "duplicate_keys": rows - keys, "required_missing": missing},
        )

    return _check


@dg.asset_check(
    asset="quarantine", name="every_batch_balances", blocking=True, pool=WAREHOUSE_POOL,
    description="Per landing batch of rows: rows in = applied + quarantined + exact duplicates, "
    "and quarantine holds exactly the rows the ledger says.",
)
def batches_balance(hub: HubResource) -> dg.AssetCheckResult:
    with hub.warehouse() as wh:
        bad = wh.query(
            """SELECT b.batch_id, b.source_name FROM hub_batches b
               LEFT JOIN (SELECT batch_id, count(*) n FROM quarantine GROUP BY batch_id) qn USING (batch_id)
               WHERE b.kind = 'rows' AND (b.rows_in <> b.rows_applied + b.rows_quarantined + b.rows_duplicate
                                          OR b.rows_quarantined <> coalesce(qn.n, 0))"""
        ).fetchall()
        batches = wh.query("SELECT count(*) FROM hub_batches").fetchone()[0]  # type: ignore[index]
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={"batches": batches, "unbalanced": dg.MetadataValue.json([list(r) for r in bad])},
    )


def _link_check(record_type: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=record_type, name="links_resolved", blocking=True, pool=WAREHOUSE_POOL,
        description="Share of links to court cases that resolve, at least hub.min_link_rate; "
        "the view 'links' lists each unresolved one with why.",
    )
    def _check(hub: HubResource) -> dg.AssetCheckResult:
        with hub.warehouse() as wh:
            rows = wh.query(LINK_RATE_SQL, [record_type]).fetchall()
            why = wh.query(
                "SELECT why, count(*) FROM links WHERE record_type = ? AND NOT resolved GROUP BY 1 ORDER BY 2 DESC",
                [record_type],
            ).fetchall()
        threshold = hub.config.hub.min_link_rate
        return dg.AssetCheckResult(
            passed=all(rate >= threshold for _, _, _, rate in rows),
            metadata={
                "threshold": threshold,
                "rates": dg.MetadataValue.json({link: {"links": n, "resolved": ok, "rate": float(rate)} for link, n, ok, rate in rows}),
                "unresolved_why": dg.MetadataValue.json(dict(why)),
            },
        )

    return _check


def _set_aside_check(record_type: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=record_type, name="no_batch_set_aside", pool=WAREHOUSE_POOL,
        description="No landed batch of this table waits set aside (unreadable, or lacking a mapped column); "
        "while one does, the offices that receive this table are held back (the others publish). 'hub batches "
        "list' says why; fix the mapping or the source and 'hub batches release', or 'hub batches drop'.",
    )
    def _check(hub: HubResource) -> dg.AssetCheckResult:
        with hub.warehouse() as wh:
            waiting = [b for b in set_aside.listed(wh) if b.record_type == record_type]
        return dg.AssetCheckResult(
            passed=not waiting,
            metadata={"set_aside": len(waiting), "rows": sum(b.rows for b in waiting),
                      "why": dg.MetadataValue.json({b.batch_id[:12]: b.reason for b in waiting})},
        )

    return _check


def _missing_keys_check(record_type: str) -> dg.AssetChecksDefinition:
    """Not blocking: the records present are right, and holding every office's extract back until
    an institution touches a few rows would cost more than it protects; ERROR, so it shows."""
    @dg.asset_check(
        asset=record_type, name="no_source_key_missing", pool=WAREHOUSE_POOL,
        description="Every key in each database source's latest key snapshot (reconcile_every_hours) is in the "
        "warehouse: a version of that source's record, or a row in quarantine. A reconcile fetches the keys its "
        "cursor missed; this names those it could not.",
    )
    def _check(hub: HubResource) -> dg.AssetCheckResult:
        config = hub.config
        with hub.warehouse() as wh:
            found = missing_keys(wh, hub.paths.landing, config.sources_of(record_type))
        said = [describe(m, config.institution(config.source(m.source).institution).name) for m in found]
        return dg.AssetCheckResult(
            passed=not found, severity=dg.AssetCheckSeverity.ERROR, description="; ".join(said) or None,
            metadata={"missing_keys": sum(m.keys for m in found), "by_source": dg.MetadataValue.json(
                {m.source: {"keys": m.keys, "examples": m.examples, "snapshot": m.snapshot[:12]} for m in found})},
        )

    return _check


@dg.asset_check(
    asset="acknowledgements", name="no_acknowledgement_overdue", pool=WAREHOUSE_POOL,
    description="Every bundle published to an office that acknowledges was signed for within "
    "hub.acknowledgement_overdue_hours. One overdue: the office has not applied it, or its kit cannot sign or "
    "write to its inbox; ask its coordination office (the acknowledgement_status view lists them).",
)
def acknowledgements_current(hub: HubResource) -> dg.AssetCheckResult:
    with hub.warehouse() as wh:
        late = outstanding(wh, hub.config, dt.datetime.now(dt.UTC))
    return dg.AssetCheckResult(
        passed=not late, severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(f"{o.office} bundle {o.bundle_sequence} (published {o.published_at:%Y-%m-%d %H:%M} UTC)"
                              for o in late[:20]) or None,
        metadata={"overdue": len(late), "by_office": dg.MetadataValue.json(
            {office: [o.bundle_sequence for o in late if o.office == office] for office in sorted({o.office for o in late})})},
    )


def build_checks(config: HubConfig) -> list[dg.AssetChecksDefinition]:
    return (
        [_table_check(rt) for rt in RECORD_TYPES]
        + [_set_aside_check(rt) for rt in RECORD_TYPES]
        + [_missing_keys_check(rt) for rt in RECORD_TYPES]
        + [_link_check(rt) for rt in ("supervision", "enforcement", "agency_decision")]
        + [batches_balance]
        + ([acknowledgements_current] if any(o.acknowledgement_keys for o in config.offices) else [])
    )
