"""The normalize stage: apply every landed batch not applied yet, one lane per record type,
lanes taken by a few threads, each batch audited as it commits; a batch that cannot be staged
is set aside with why (``hub.normalize.set_aside``) and the others go on."""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from hub.claims import claimed
from hub.config import HubConfig, Source
from hub.errors import WarehouseBusy, WarehouseError
from hub.faults import crash_point
from hub.normalize import set_aside
from hub.normalize.apply import apply_group
from hub.normalize.staging import StagingRules
from hub.normalize.warehouse import Warehouse
from hub.observe import lineage
from hub.observe.run import RunContext
from hub.pull.landing import LandedBatch, landed_batches
from schemas.tables import RECORD_TYPES

APPLY_LANES = 2
"""Record types applied at once, each by one thread on its own connection; their transactions
take turns (``Warehouse.transaction``), so a second thread prepares its next chunk (reads its
Parquet schema, plans) while the other holds the warehouse."""

BUSY_ATTEMPTS = 5
"""Times a transaction undone because another process committed first is tried again."""

SMALL_APPLY_ROWS = 100_000
"""At most this many pending rows, every record type is applied in one transaction: a few
changes spend their time in the lakehouse's fixed cost per statement and per commit, which
one transaction pays once (docs/performance.md, "The lakehouse")."""

TRANSACTION_ROWS = 250_000
"""Rows a lane applies per transaction, at least (the last of its batches may pass it): a few
row groups each written once, compressed, while a crash loses little work."""

Applied = tuple[LandedBatch, dict[str, int]]


def apply_pending(run: RunContext) -> dict[str, dict[str, int]]:
    """Apply every landed batch the warehouse has not applied yet, each record type's oldest
    first; returns this run's row accounting per record type."""
    sources = [s.name for s in run.config.sources]
    rules = {s.name: staging_rules(run.config, s) for s in run.config.sources}
    totals: dict[str, dict[str, int]] = {}
    landing = [lineage.dataset("file", lineage.landing_name(run.home, s)) for s in sources]
    with run.stage("normalize", landing) as stage, Warehouse.open(run.config, run.home) as wh:
        _audit_unaudited(run, wh)
        with claimed(run.home.claims, "normalize", run.run_id):  # until audited: no other run audits ours
            _apply_and_audit(run, wh, rules, totals)
        # OpenLineage's rowCount is the rows this run wrote (versions stored), not the table's size
        stage.outputs = [lineage.table_output(run.config, run.home, rt, totals.get(rt, {}).get("rows_applied", 0))
                         for rt in RECORD_TYPES]
        stage.outputs.append(lineage.output("file", lineage.table_name(run.home, "quarantine")))
    return totals


def _apply_and_audit(run: RunContext, wh: Warehouse, rules: Mapping[str, StagingRules],
                     totals: dict[str, dict[str, int]]) -> None:
    """Apply the pending batches, auditing each as it commits and marking it audited."""
    pending = landed_batches(run.home.landing, list(rules), skip=wh.applied())
    pending = _set_aside_unstageable(run, wh, pending, rules, totals)
    if pending:
        run.progress(f"normalize: {len(pending)} batch(es) to apply, {sum(b.rows for b in pending):,} rows")
    audited: list[str] = []
    rows = 0
    try:
        for batch, counts in _apply_lanes(run, wh, pending, rules):
            _audit_applied(run, wh, batch.source, batch.batch_id, counts)
            audited.append(batch.batch_id)
            _add(totals, batch.record_type, counts)
            rows += batch.rows
            run.progress(f"normalize: {len(audited)} of {len(pending)} batch(es) applied, {rows:,} rows "
                         f"({batch.source}: {counts['rows_applied']:,} applied, {counts['rows_quarantined']:,} quarantined)")
    finally:
        wh.mark_audited(audited)


def staging_rules(config: HubConfig, src: Source) -> StagingRules:
    """How ``src``'s rows are normalized: its mapping and key, its court, its delete flag."""
    soft = (src.soft_delete.column, src.soft_delete.values) if src.soft_delete else None
    return StagingRules(src.mapping, src.key, config.institution(src.institution).court_code, soft)


def _set_aside_unstageable(
    run: RunContext, wh: Warehouse, pending: list[LandedBatch], rules: Mapping[str, StagingRules],
    totals: dict[str, dict[str, int]],
) -> list[LandedBatch]:
    """Set aside (and audit) each pending batch that cannot be staged; the others, to apply."""
    stageable = []
    for batch in pending:
        reason = set_aside.unstageable(batch, rules[batch.source])
        if reason is None:
            stageable.append(batch)
            continue
        counts = set_aside.set_aside(wh, batch, reason, run.run_id)
        if counts is None:
            continue
        run.record("set_aside", subject=batch.source, batch_id=batch.batch_id, origin=batch.origin,
                   rows=counts["rows_in"], reason=reason)
        wh.mark_audited([batch.batch_id])
        _add(totals, batch.record_type, counts | {"rows_set_aside": counts["rows_in"]})
    return stageable


def _add(totals: dict[str, dict[str, int]], record_type: str, counts: dict[str, int]) -> None:
    agg = totals.setdefault(record_type, {})
    for k, v in counts.items():
        agg[k] = agg.get(k, 0) + v


def _audit_applied(run: RunContext, wh: Warehouse, source: str, batch_id: str, counts: dict[str, int],
                   **details: Any) -> None:
    """A batch's ``apply`` entry, and a ``quarantine`` one naming the rules its rows broke."""
    run.record("apply", subject=source, batch_id=batch_id, **counts, **details)
    if counts["rows_quarantined"]:
        rules = wh.query("SELECT rule, count(*) FROM quarantine WHERE batch_id = ? GROUP BY 1 ORDER BY 1",
                         [batch_id]).fetchall()
        run.record("quarantine", subject=source, batch_id=batch_id, rows=counts["rows_quarantined"],
                   rules=dict(rules), **details)


def _audit_unaudited(run: RunContext, wh: Warehouse) -> None:
    """Audit the batches an earlier run committed but stopped before auditing, under that run's
    id, each entry naming the run that found it (``recovered_by``). A run still applying holds
    its claim and audits its own batches: those are left to it."""
    for applied_by in dict.fromkeys(applier for _, _, applier, _ in wh.unaudited()):
        with claimed(run.home.claims, "normalize", applied_by, wait=False) as stopped:
            if not stopped:
                continue
            missing = wh.unaudited(applied_by)  # again: it may have audited them before it stopped
            aside = {b.batch_id: b for b in set_aside.listed(wh, dropped=True)} if missing else {}
            earlier = RunContext(run.config, run.home, applied_by)
            for batch_id, source, _, counts in missing:
                if batch_id in aside:
                    earlier.record("set_aside", subject=source, **set_aside.audit_details(aside[batch_id]),
                                   recovered_by=run.run_id)
                else:
                    _audit_applied(earlier, wh, source, batch_id, counts, recovered_by=run.run_id)
            wh.mark_audited([batch_id for batch_id, *_ in missing])


def _apply_lanes(
    run: RunContext, wh: Warehouse, pending: list[LandedBatch], rules: Mapping[str, StagingRules],
) -> Iterator[Applied]:
    """Apply ``pending`` one lane per record type, yielding each batch with its accounting
    once committed. Few rows in all are applied in one transaction; more (or a few that failed
    together), by ``APPLY_LANES`` threads taking the lanes in turn, each on its own connection
    (made once, before the threads start). A failing lane stops the others after their current
    transaction; what they committed is still yielded (and audited), then the error is raised."""
    lanes = [[b for b in pending if b.record_type == rt] for rt in RECORD_TYPES]
    if sum(b.rows for b in pending) <= SMALL_APPLY_ROWS:  # one transaction, one commit, for a few changes
        try:
            applied = _commit(wh, [b for lane in lanes for b in lane], rules, run.run_id)
        except WarehouseBusy:
            raise
        except WarehouseError:
            applied = None  # undone whole: lane by lane below, so that what can be applied is
        if applied is not None:
            yield from applied
            return
    todo: queue.SimpleQueue[list[LandedBatch]] = queue.SimpleQueue()
    for lane in sorted((lane for lane in lanes if lane), key=lambda lane: -sum(b.rows for b in lane)):
        todo.put(lane)  # the most rows first, so that the threads end about together
    results: queue.SimpleQueue[Applied | BaseException | None] = queue.SimpleQueue()
    stop = threading.Event()

    def work(cur: Warehouse) -> None:
        try:
            with cur:
                while (lane := _next(todo)) is not None:
                    for batches in _transactions(lane):
                        if stop.is_set():
                            return
                        for item in _commit(cur, batches, rules, run.run_id):
                            results.put(item)
        except BaseException as exc:
            results.put(exc)
        finally:
            results.put(None)

    workers = [threading.Thread(target=work, args=(wh.cursor(),), name=f"apply-{n}")
               for n in range(min(APPLY_LANES, todo.qsize()))]
    for worker in workers:
        worker.start()
    error: BaseException | None = None
    try:
        for _ in workers:
            while (item := results.get()) is not None:
                if isinstance(item, BaseException):
                    stop.set()
                    error = error or item
                else:
                    yield item
    finally:
        stop.set()  # also when the caller stops early: the threads end after their current transaction
        for worker in workers:
            worker.join()
    if error is not None:
        raise error


def _commit(wh: Warehouse, batches: list[LandedBatch], rules: Mapping[str, StagingRules], run_id: str) -> list[Applied]:
    """Apply ``batches`` in one transaction, less those the ledger shows applied as it begins.
    Another process applying at once conflicts at commit (``claim_ledger``): the transaction is
    undone and tried again, ``BUSY_ATTEMPTS`` times in all, each time re-reading the ledger, so
    two normalize steps started at once each apply what the other has not, and no batch twice."""
    attempt = 1
    while True:
        try:
            with wh.transaction():  # the batches of all sources, staged together
                done = wh.applied()  # inside: what committed before this transaction began
                todo = [b for b in batches if b.batch_id not in done]
                applied = list(apply_group(wh, todo, rules, run_id=run_id)) if todo else []
                crash_point("normalize.applying")
            crash_point("normalize.committed")
            return applied
        except WarehouseBusy:
            if attempt == BUSY_ATTEMPTS:
                raise
        time.sleep(random.uniform(0.1, 0.5) * attempt)
        attempt += 1


def _next(todo: queue.SimpleQueue[list[LandedBatch]]) -> list[LandedBatch] | None:
    try:
        return todo.get_nowait()
    except queue.Empty:
        return None


def _transactions(lane: list[LandedBatch]) -> Iterator[list[LandedBatch]]:
    """``lane`` in runs of consecutive batches of about ``TRANSACTION_ROWS`` rows, each applied
    in one transaction."""
    batches: list[LandedBatch] = []
    rows = 0
    for batch in lane:
        batches.append(batch)
        rows += batch.rows
        if rows >= TRANSACTION_ROWS:
            yield batches
            batches, rows = [], 0
    if batches:
        yield batches
