"""The lakehouse over many incremental runs: ``python -m benchmarks.lake_growth --records N --rounds R --upkeep-every K``.

Generates N records and runs the whole exchange once, as ``benchmarks.run`` does (its
functions: the same sources, sshd, offices and stages, and ``--warehouse embedded|postgres-s3``
as there), then R rounds. Each round changes another 0.1 % of the records at their sources
(``benchmarks.generate.change`` with the round's number: rows no earlier round touched, stamped
later than all of them), runs the exchange (``benchmarks.run.exchange``), and every K-th round
then runs the warehouse upkeep (``hub.normalize.upkeep_warehouse``, what the ``warehouse_upkeep``
Dagster asset calls, with hub.yaml's retention). Upkeep is a daily pass, so the n-th pass runs
as of n days after the benchmark began (``--days-per-upkeep``, its ``now``): the files an earlier
pass or a run freed are past their grace (``hub.lake.upkeep.DELETED_GRACE``, and on a SQLite
catalog the day boundary) and deleted, as in service; snapshots expire only once the simulated
time passes ``warehouse.snapshot_retention_days`` (90 by default).

After the full run (round 0) and after every round it prints, read from the lakehouse:

- the exchange's wall time and the rows the round changed;
- the live data files and delete files (the catalog's ``ducklake_data_file`` and
  ``ducklake_delete_file`` rows with no end snapshot, as ``hub.lake.upkeep`` counts them) and
  the snapshots kept;
- the catalog's size (the SQLite file and its write-ahead log, or the sum of
  ``pg_total_relation_size`` over the catalog's tables in PostgreSQL);
- the files stored under the data path and their size (the folder, or the S3 prefix), live
  or not;
- the latency of one analyst query (``QUERY``: current filings per court with their decisions)
  through ``hub.connect`` (read-only), and of opening that connection: medians of 3, each on a
  new connection.

A round with upkeep shows its figures after the upkeep, and a line with what upkeep did (files
merged, rewritten, deleted; snapshots expired and kept) and each figure before and after it.
The run ends with one line per figure over rounds 1..R (``summary <figure>: first … last …
max …``), a check that every round's changed rows are in the warehouse as new versions, and
the accounting line of ``benchmarks.run``. ``<home>/bench/growth.json`` keeps every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import psycopg

import hub
from benchmarks import generate
from benchmarks.measure import run_child
from benchmarks.run import (
    Prepared,
    accounted,
    accounting,
    exchange,
    exchange_arguments,
    home_folder,
    machine,
    prepared,
)
from hub.config import HubConfig
from hub.home import Home
from hub.lake.location import NAME, Lake
from hub.lake.upkeep import DELETED_GRACE
from hub.normalize import upkeep_warehouse
from hub.observe.run import RunContext
from schemas.sql import lit, q
from schemas.tables import RECORD_TYPES

QUERY = """SELECT f.court_code, count(*) AS filings, count(j.record_key) AS decided,
       count(*) FILTER (WHERE j.outcome = '改判') AS revised
FROM filing f LEFT JOIN judgment j ON j.case_no = f.case_no
GROUP BY f.court_code ORDER BY f.court_code"""
"""The analyst's query: current filings per court, how many are decided, how many decisions revised."""

SAMPLES = 3
"""Query latency: the median of this many, each on a new read-only connection."""

FIGURES = (  # (name, column heading, width, format)
    ("exchange_s", "exchange s", 10, "{:.2f}"),
    ("changed", "changed", 8, "{:,}"),
    ("data_files", "data files", 10, "{:,}"),
    ("delete_files", "delete files", 12, "{:,}"),
    ("snapshots", "snapshots", 9, "{:,}"),
    ("catalog_kib", "catalog KiB", 11, "{:,.0f}"),
    ("stored_files", "stored files", 12, "{:,}"),
    ("stored_mib", "stored MiB", 10, "{:,.2f}"),
    ("query_ms", "query ms", 8, "{:.1f}"),
    ("connect_ms", "connect ms", 10, "{:.1f}"),
)
LAKE_FIGURES = ("data_files", "delete_files", "snapshots", "catalog_kib", "stored_files", "stored_mib", "query_ms",
                "connect_ms")


def _metadata(lake: Lake) -> str:
    """Where the catalog's own tables are on a connection that attached the lakehouse (as in
    ``hub.lake.upkeep``)."""
    return f"__ducklake_metadata_{NAME}" + (f".{q(lake.catalog_schema)}" if lake.catalog_schema else "")


def catalog_bytes(lake: Lake) -> int:
    """The catalog's size: the SQLite file and its write-ahead log, or the catalog's tables in
    PostgreSQL with their indexes and TOAST."""
    if lake.sqlite_file is not None:
        return sum(p.stat().st_size for p in (lake.sqlite_file, Path(f"{lake.sqlite_file}-wal")) if p.exists())
    conninfo = lake.catalog.removeprefix("postgres:")
    password = os.environ.get(lake.catalog_password_env) if lake.catalog_password_env else None
    with psycopg.connect(conninfo, **({"password": password} if password else {})) as pg:
        row = pg.execute("""SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
                            JOIN pg_namespace n ON n.oid = c.relnamespace
                            WHERE n.nspname = %s AND c.relkind IN ('r', 'p')""",
                         [lake.catalog_schema or "public"]).fetchone()
    return int(row[0]) if row else 0


def stored(lake: Lake, con: Any) -> tuple[int, int]:
    """Files under the data path and their bytes: on disk, or the objects under the S3 prefix
    (listed through ``con``, which holds the S3 secret)."""
    if lake.data_path.startswith("s3://"):
        row = con.execute(f"SELECT count(*), coalesce(sum(size), 0) FROM read_blob({lit(lake.data_path + '**')})"
                          ).fetchone()
        return int(row[0]), int(row[1])
    files = [p for p in Path(lake.data_path).rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def lake_figures(config: HubConfig, home: Home) -> dict[str, float]:
    """The lakehouse's figures now (``LAKE_FIGURES``), all through read-only connections."""
    lake = Lake.of(config, home)
    connects, queries = [], []
    for _ in range(SAMPLES):
        start = time.perf_counter()
        con = hub.connect(home)
        opened = time.perf_counter()
        try:
            con.execute(QUERY).fetchall()
            queries.append(time.perf_counter() - opened)
            connects.append(opened - start)
        finally:
            con.close()
    con = hub.connect(home)
    try:
        meta = _metadata(lake)
        data, deletes = (con.execute(f"SELECT count(*) FROM {meta}.{t} WHERE end_snapshot IS NULL").fetchone()[0]
                         for t in ("ducklake_data_file", "ducklake_delete_file"))
        snapshots = con.execute(f"SELECT count(*) FROM {NAME}.snapshots()").fetchone()[0]
        files, size = stored(lake, con)
    finally:
        con.close()
    return {"data_files": data, "delete_files": deletes, "snapshots": snapshots,
            "catalog_kib": catalog_bytes(lake) / 1024, "stored_files": files, "stored_mib": size / 2**20,
            "query_ms": statistics.median(queries) * 1000, "connect_ms": statistics.median(connects) * 1000}


def new_versions(home: Home) -> dict[str, int]:
    """Per source: versions in the history beyond each record's current one (what the rounds' changes made)."""
    con = hub.connect(home)
    try:
        return dict(con.execute(" UNION ALL ".join(
            f"SELECT source_name, count(*) - count(DISTINCT record_key) FROM {rt}_history GROUP BY 1"
            for rt in RECORD_TYPES)).fetchall())
    finally:
        con.close()


def _header() -> str:
    return f"{'round':>5}  " + "  ".join(f"{heading:>{width}}" for _, heading, width, _ in FIGURES)


def _row(label: str, figures: dict[str, float], note: str = "") -> str:
    cells = "  ".join(f"{fmt.format(figures[name]):>{width}}" for name, _, width, fmt in FIGURES)
    return f"{label:>5}  {cells}" + (f"  {note}" if note else "")


def _upkeep_line(round_no: int, seconds: float, done: Any, before: dict[str, float], after: dict[str, float],
                 retention_days: int) -> str:
    change = ", ".join(f"{name} {before[name]:,.0f} -> {after[name]:,.0f}"
                       for name in ("data_files", "delete_files", "stored_files", "catalog_kib"))
    return (f"       upkeep after round {round_no}: {seconds:.2f} s; {done.files_compacted} file(s) merged, "
            f"{done.files_rewritten} rewritten, {done.files_deleted} deleted (+{done.orphans_deleted} orphans); "
            f"{done.snapshots_expired} snapshot(s) expired (retention {retention_days} days), "
            f"{done.snapshots_kept} kept; {change}")


def _summary(rounds: list[dict[str, Any]]) -> list[str]:
    lines = []
    for name, _, _, fmt in FIGURES:
        values = [r[name] for r in rounds]
        lines.append(f"summary {name}: first {fmt.format(values[0])} last {fmt.format(values[-1])} "
                     f"max {fmt.format(max(values))}")
    upkept = [r["upkeep"] for r in rounds if r.get("upkeep")]
    if upkept:
        lines.append(f"summary upkeep: {len(upkept)} pass(es), "
                     f"{sum(u['files_compacted'] for u in upkept):,} file(s) merged, "
                     f"{sum(u['files_rewritten'] for u in upkept):,} rewritten, "
                     f"{sum(u['files_deleted'] + u['orphans_deleted'] for u in upkept):,} deleted, "
                     f"{sum(u['snapshots_expired'] for u in upkept):,} snapshot(s) expired; "
                     f"max {max(u['seconds'] for u in upkept):.2f} s")
    return lines


def grow(ready: Prepared, records: int, rounds: int, upkeep_every: int, *, pull_workers: int,
         memory_limit: str | None = None, days_per_upkeep: float = 1.0, emit: Any = print) -> list[dict[str, Any]]:
    """The full run, then ``rounds`` rounds; each printed line goes to ``emit``; every round's figures returned."""
    config, home = ready.config, ready.home
    began = dt.datetime.now(dt.UTC)
    retention = config.warehouse.snapshot_retention_days
    emit(ready.describe_warehouse())
    emit(machine(records, memory_limit) + f"; {rounds} rounds of 0.1 %, upkeep every {upkeep_every or 'no'} "
         f"round(s), {days_per_upkeep:g} day(s) apart; snapshot retention {retention} days")
    emit("query: " + " ".join(QUERY.split()))
    emit(_header())
    full = exchange(config, home, "growth-full", pull_workers)
    figures = [{"round": 0, "exchange_s": full.seconds, "changed": records} | lake_figures(config, home)]
    emit(_row("0", figures[0], "(the full run)"))
    changed_total: dict[str, int] = {}
    for r in range(1, rounds + 1):
        changed: dict[str, int] = run_child("benchmarks.generate", "--home", str(home.root), "--change",
                                            "--round", str(r)).output
        for name, n in changed.items():
            changed_total[name] = changed_total.get(name, 0) + n
        result = exchange(config, home, f"growth-{r:04d}", pull_workers)
        now: dict[str, Any] = {"round": r, "exchange_s": result.seconds, "changed": sum(changed.values()),
                               "changed_per_source": changed}
        upkeep_line = None
        if upkeep_every and r % upkeep_every == 0:
            before = lake_figures(config, home)
            start = time.perf_counter()
            passes = r // upkeep_every
            # n days and the grace after the start: on a SQLite catalog files wait for the day
            # boundary after their grace, which a start just after midnight would otherwise not pass
            done = upkeep_warehouse(RunContext(config, home, f"growth-upkeep-{r:04d}"),
                                    now=began + dt.timedelta(days=days_per_upkeep * passes) + DELETED_GRACE)
            seconds = time.perf_counter() - start
            after = lake_figures(config, home)
            now |= after | {"before_upkeep": before, "upkeep": done.details() | {"seconds": seconds}}
            upkeep_line = _upkeep_line(r, seconds, done, before, after, retention)
        else:
            now |= lake_figures(config, home)
        figures.append(now)
        emit(_row(str(r), now, "(after upkeep)" if upkeep_line else ""))
        if upkeep_line:
            emit(upkeep_line)
    if rounds:
        emit("")
        for line in _summary(figures[1:]):
            emit(line)
    versions = new_versions(home)
    missed = sorted(n for n in set(changed_total) | set(versions) if versions.get(n, 0) != changed_total.get(n, 0))
    emit(f"changed rows applied: {sum(versions.values()):,} new versions for {sum(changed_total.values()):,} rows "
         f"changed in {rounds} round(s)" + (f"; MISMATCH in {missed}" if missed else ""))
    emit(accounted(accounting(home, ready.manifest)))
    (home.root / "bench" / "growth.json").write_text(json.dumps({
        "records": records, "rounds": figures, "changed": changed_total, "new_versions": versions,
        "warehouse": ready.warehouse, "at": dt.datetime.now(dt.UTC).isoformat()}, indent=1, default=str))
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    exchange_arguments(p, records=100_000)
    p.add_argument("--rounds", type=int, default=20, help="incremental rounds after the full run (default 20)")
    p.add_argument("--upkeep-every", type=int, default=10,
                   help="run the warehouse upkeep after every K-th round (default 10; 0: never)")
    p.add_argument("--days-per-upkeep", type=float, default=1.0,
                   help="upkeep pass n runs as of n times this many days after the start (default 1: daily)")
    args = p.parse_args()
    if not 0 <= args.rounds < generate.ROUNDS or args.upkeep_every < 0:
        p.error(f"--rounds must be 0 .. {generate.ROUNDS - 1} (rounds change disjoint rows) and --upkeep-every not negative")

    def emit(line: str) -> None:
        print(line, flush=True)

    with home_folder(args.home) as home, prepared(
            args.records, home, seed=args.seed, pg_url=args.pg_url, memory_limit=args.duckdb_memory_limit,
            keep_sources=args.keep_sources, warehouse=args.warehouse) as ready:
        grow(ready, args.records, args.rounds, args.upkeep_every, pull_workers=args.pull_workers,
             memory_limit=args.duckdb_memory_limit, days_per_upkeep=args.days_per_upkeep, emit=emit)


if __name__ == "__main__":
    main()
