"""Dagster assets, one per stage and thing: landing per source (each record type's sources
pulled by one step, whose sweep the tables follow), the normalized tables (one writer, pool
``warehouse``), the marts, one signed extract per office (all built by one step in that pool),
and a delivery per office with an SFTP inbox. Built from ``hub.yaml`` so the lineage graph in
the UI is the exchange the config describes. (No ``from __future__ import annotations``:
Dagster reads the annotations.)
"""

import zlib
from typing import Any

import dagster as dg

from hub import marts
from hub.config import HubConfig, Source
from hub.errors import HeldBack
from hub.marts.stage import build_mart
from hub.normalize.stage import apply_pending
from hub.normalize.upkeep import upkeep_warehouse
from hub.orchestration import metadata as asset_metadata
from hub.orchestration.keys import delivery_key, extract_key, landing_key, pulled_key
from hub.orchestration.resources import WAREHOUSE_POOL, HubResource, translate
from hub.publish.acknowledgements import collect_acknowledgements
from hub.publish.delivery import deliver
from hub.publish.stage import publish_offices
from hub.pull.sweep import pull_sources
from schemas.tables import RECORD_TYPES

NORMALIZED_KEYS = [*RECORD_TYPES, "quarantine"]


def pull_steps(config: HubConfig) -> list[tuple[str, list[Source]]]:
    """(step name, its sources): a step per record type, or ``hub.pull_steps`` of them, each
    source always in the same one (by a digest of its name), for workers to share."""
    steps = []
    n = config.hub.pull_steps
    for rt in RECORD_TYPES:
        sources = config.sources_of(rt)
        for part in range(n):
            mine = [s for s in sources if n == 1 or zlib.crc32(s.name.encode()) % n == part]
            if mine:
                steps.append((f"pull_{rt}" if n == 1 else f"pull_{rt}_{part + 1}_of_{n}", mine))
    return steps


def sweep_of(config: HubConfig) -> dict[str, dg.AssetKey]:
    """Each source's sweep asset: what a run pulling it must select for the tables to follow."""
    return {src.name: pulled_key(step) for step, sources in pull_steps(config) for src in sources}


def _landing_asset(config: HubConfig, step: str, sources: list[Source]) -> dg.AssetsDefinition:
    """Sources of one record type, an asset each, pulled by one step (``pull_sources``: the
    sources at once, bounded per server); a schedule, a sensor or a user may select any of them.
    Only a source that landed something is materialized, so a run costs what changed; the
    step's sweep asset (``pulled_<type>``), after them, is what the shared table depends on, so
    the table is refreshed whichever sources had news (docs/performance.md: many sources)."""
    names = {i.id: i.name for i in config.institutions}
    sweep = pulled_key(step)
    specs = [
        dg.AssetSpec(
            landing_key(src.name), group_name="landing", kinds={"sftp" if src.kind == "sftp" else "sql", "parquet"},
            description=f"{src.record_type} records pulled from {names[src.institution]} ({src.kind}), landed as "
            "immutable Parquet. Materialized when a pull lands a batch; a pull with nothing new leaves it as it was.",
            tags={"record_type": src.record_type, "institution": src.institution}, skippable=True,
        )
        for src in sources
    ]
    specs.append(dg.AssetSpec(
        sweep, group_name="landing", deps=[spec.key for spec in specs],
        description=f"Each pull of the {len(sources)} {sources[0].record_type} source(s) of step {step}: how many were "
        "asked, which landed rows and how many. The shared table follows it, whichever sources had something new.",
    ))

    @dg.multi_asset(name=step, specs=specs, can_subset=True)
    def _pull(context: dg.AssetExecutionContext, hub: HubResource) -> Any:
        selected = [s.name for s in sources if landing_key(s.name) in context.selected_asset_keys]
        outcomes = pull_sources(hub.run(context), selected, warn=context.log.warning)
        failed = [o for o in outcomes if o.error is not None]
        landed = {}
        for outcome in outcomes:
            result = outcome.result
            if result is None:
                continue
            if result.missed:
                context.log.warning(f"{result.source}: reconcile found {result.missed} key(s) at the source that had "
                                    "never landed (committed behind the cursor); fetched by key and landed: "
                                    f"{result.fetched} row(s)")
            if result.batches:
                landed[result.source] = result.rows
            elif not failed:
                continue  # nothing new: left as it was (in a failing step, the UI would show it failed)
            yield dg.MaterializeResult(asset_key=landing_key(result.source), metadata={
                "rows": result.rows,
                "batches": len(result.batches),
                "missed_keys": result.missed,
                "attempts": outcome.attempts,
                "origins": dg.MetadataValue.json(sorted({b.origin for b in result.batches})),
                **asset_metadata.landing(hub.paths, result.source, [b.batch_id for b in result.batches]),
            })
        if failed:
            raise dg.Failure(description="; ".join(o.describe_error() for o in failed))
        context.log.info(f"{step}: {len(selected)} source(s) asked, {len(landed)} landed "
                         f"{sum(landed.values())} row(s)")
        if sweep in context.selected_asset_keys:
            yield dg.MaterializeResult(asset_key=sweep, metadata={
                "sources_asked": len(selected), "sources_landed": len(landed), "rows": sum(landed.values()),
                "landed": dg.MetadataValue.json(landed),
            })

    return _pull


def _normalized_asset(steps: list[tuple[str, list[Source]]]) -> dg.AssetsDefinition:
    """The shared tables, each after the sweeps of its record type's pull steps (``pull_steps``)."""
    specs = [
        dg.AssetSpec(
            rt, group_name="normalized", kinds={"duckdb"},
            deps=[pulled_key(step) for step, sources in steps if sources[0].record_type == rt],
            description=f"Shared {rt} table: one current row per record key, history in {rt}_history.",
        )
        for rt in RECORD_TYPES
    ] + [
        dg.AssetSpec(
            "quarantine", group_name="normalized", kinds={"duckdb"},
            deps=[pulled_key(step) for step, _ in steps],
            description="Rows that failed a rule, with source, batch, row number, rule, reason and original values.",
        )
    ]

    @dg.multi_asset(name="normalize", specs=specs, pool=WAREHOUSE_POOL, can_subset=False)
    def _normalize(context: dg.AssetExecutionContext, hub: HubResource) -> Any:
        totals = translate(lambda: apply_pending(hub.run(context)), "normalize", context)
        run_id = context.run.run_id
        with hub.warehouse() as wh:
            counts = wh.table_counts()
            reasons = wh.query("SELECT rule, count(*) FROM quarantine GROUP BY rule ORDER BY 2 DESC").fetchall()
            metadata = {rt: asset_metadata.normalized(hub.config, wh, rt, counts[rt], run_id) for rt in RECORD_TYPES}
            metadata["quarantine"] = asset_metadata.quarantine(wh, counts["quarantine"], run_id)
        for rt in RECORD_TYPES:
            applied = totals.get(rt, {})
            yield dg.MaterializeResult(asset_key=rt, metadata={
                "rows": counts[rt], **{f"this_run_{k}": v for k, v in applied.items()}, **metadata[rt],
            })
        yield dg.MaterializeResult(asset_key="quarantine", metadata={
            "rows": counts["quarantine"], "by_rule": dg.MetadataValue.json(dict(reasons)), **metadata["quarantine"],
        })

    return _normalize


def _extracts_asset(config: HubConfig) -> dg.AssetsDefinition:
    """Every office's signed extract, one asset each, built by one step (``publish_offices``:
    the offices at once, on one warehouse opening); a schedule or a user may select any of them."""
    specs = []
    for office in config.offices:
        agreement = config.agreement_for(office.id)
        shared = sorted({s.record_type for s in agreement.shares}) if agreement else []
        specs.append(dg.AssetSpec(
            extract_key(office.id), group_name="extracts", kinds={"parquet"},
            deps=[dg.AssetKey(marts.asset_of(rt)) for rt in shared],
            description=f"Signed extract bundle for {office.name} under agreement "
            f"{agreement.id if agreement else '(none)'}: {', '.join(shared) or 'nothing'}.",
        ))

    @dg.multi_asset(name="extracts", specs=specs, pool=WAREHOUSE_POOL, can_subset=True)
    def _extracts(context: dg.AssetExecutionContext, hub: HubResource) -> Any:
        offices = [o.id for o in hub.config.offices if extract_key(o.id) in context.selected_asset_keys]
        outcomes = translate(lambda: publish_offices(hub.run(context), offices), "extracts", context)
        published = [o for o in outcomes if o.bundle is not None]
        traced = {}
        if published:
            with hub.warehouse() as wh:
                traced = {o.office: asset_metadata.extract(hub.config.agreement_for(o.office), wh, o.bundle)
                          for o in published}
        for outcome in outcomes:
            if outcome.error is not None:
                continue
            bundle = outcome.bundle
            if bundle is None:
                reason = "nothing new since its last bundle" if hub.config.agreement_for(outcome.office) else (
                    "no agreement for this office")
                metadata = {"bundle": f"none: {reason}"}
            else:
                metadata = {
                    "bundle": dg.MetadataValue.path(str(bundle.path)),
                    "sequence": bundle.sequence,
                    "manifest_sha256": bundle.manifest_sha256,
                    "rows": dg.MetadataValue.json(bundle.rows),
                    **traced[outcome.office],
                }
            yield dg.MaterializeResult(asset_key=extract_key(outcome.office), metadata=metadata)
        for held in (o for o in outcomes if isinstance(o.error, HeldBack)):  # the set-aside check shows why
            context.log.warning(str(held.error))
        failed = [o for o in outcomes if o.error is not None and not isinstance(o.error, HeldBack)]
        if failed:  # the others are published and materialized; these fail the step, with what to fix
            raise dg.Failure(description="; ".join(f"{o.office}: {o.error}" for o in failed))

    return _extracts


def _delivery_asset(config: HubConfig, office_id: str) -> dg.AssetsDefinition:
    """Separate from the extract so a delivery retry never publishes a bundle twice."""
    office = config.office(office_id)
    sftp = office.delivery.sftp
    if sftp is None:
        raise ValueError(f"office {office_id} has no SFTP inbox")  # build_assets makes deliveries only for those

    @dg.asset(
        key=delivery_key(office_id),
        group_name="deliveries",
        deps=[extract_key(office_id)],
        kinds={"sftp"},
        description=f"Every bundle {office.name} has not received yet, uploaded in sequence to "
        f"{sftp.host}:{sftp.port}/{sftp.remote_dir}/{office_id}/ (temporary name, then rename).",
    )
    def _deliver(context: dg.AssetExecutionContext, hub: HubResource) -> dg.MaterializeResult:
        written = translate(lambda: deliver(hub.run(context), office_id), office_id, context)
        return dg.MaterializeResult(metadata={"delivered": dg.MetadataValue.json(written), "bundles": len(written)})

    return _deliver


def _mart_asset(spec: marts.Mart) -> dg.AssetsDefinition:
    """A mart rebuilt from the shared tables; its breakdown (label, count) goes to the UI."""
    @dg.asset(name=spec.name, group_name="marts", kinds={"duckdb"}, deps=[dg.AssetKey(d) for d in spec.deps],
              pool=WAREHOUSE_POOL, description=spec.description)
    def _mart(context: dg.AssetExecutionContext, hub: HubResource) -> dg.MaterializeResult:
        built = translate(lambda: build_mart(hub.run(context), spec.name, as_of=hub.as_of_date),
                          spec.name.replace("_", " "), context)
        with hub.warehouse() as wh:
            shares = dict(wh.query(spec.breakdown).fetchall())
        files = {f.name: dg.MetadataValue.path(str(f)) for f in built.files}
        return dg.MaterializeResult(metadata={**{f"rows_{t}": n for t, n in built.tables.items()},
                                              "breakdown": dg.MetadataValue.json(shares), **files})

    return _mart


def _acknowledgements_asset(config: HubConfig) -> dg.AssetsDefinition:
    """One step for every acknowledging office: an acknowledgement is a few hundred bytes."""
    offices = [o for o in config.offices if o.acknowledgement_keys]

    @dg.asset(
        name="acknowledgements", group_name="deliveries", kinds={"sftp", "ducklake"}, pool=WAREHOUSE_POOL,
        deps=[delivery_key(o.id) if o.delivery.sftp is not None else extract_key(o.id) for o in offices],
        description="The acknowledgements offices signed for the bundles they applied, collected from their inboxes, "
        "checked against each office's registered key and the bundles published to it, and recorded "
        "(hub_acknowledgements, the audit log); what is refused is audited with why.",
    )
    def _acknowledgements(context: dg.AssetExecutionContext, hub: HubResource) -> dg.MaterializeResult:
        results = translate(lambda: collect_acknowledgements(hub.run(context)), "acknowledgements", context)
        for r in results:
            for name, why in r.refused.items():
                context.log.warning(f"{r.office}: acknowledgement {name} refused: {why}")
        if failed := [r for r in results if r.error]:
            raise dg.Failure(description="; ".join(f"{r.office}: {r.error}" for r in failed))
        return dg.MaterializeResult(metadata={
            "acknowledged": dg.MetadataValue.json({r.office: r.acknowledged for r in results}),
            "refused": dg.MetadataValue.json({r.office: r.refused for r in results if r.refused})})

    return _acknowledgements


@dg.asset(name="warehouse_upkeep", group_name="upkeep", kinds={"ducklake"}, pool=WAREHOUSE_POOL,
          description="The lakehouse's small files compacted, snapshots older than "
          "warehouse.snapshot_retention_days expired, files no kept snapshot needs deleted.")
def _upkeep(context: dg.AssetExecutionContext, hub: HubResource) -> dg.MaterializeResult:
    done = translate(lambda: upkeep_warehouse(hub.run(context)), "warehouse upkeep", context)
    return dg.MaterializeResult(metadata=done.details())


def build_assets(config: HubConfig) -> list[dg.AssetsDefinition]:
    steps = pull_steps(config)
    return (
        [_landing_asset(config, step, sources) for step, sources in steps]
        + [_normalized_asset(steps)] + [_mart_asset(m) for m in marts.MARTS]
        + ([_extracts_asset(config)] if config.offices else [])
        + [_delivery_asset(config, o.id) for o in config.offices if o.delivery.sftp is not None]
        + ([_acknowledgements_asset(config)] if any(o.acknowledgement_keys for o in config.offices) else [])
        + [_upkeep]
    )
