"""The whole exchange, measured: ``python -m benchmarks.run --records N``.

Generates N records (``benchmarks.generate``: four courts in PostgreSQL, two procuratorates'
CSV drops on a real OpenSSH sshd), runs the exchange in full, measures the raw baselines
(``benchmarks.baselines``) in a separate process, changes 0.1 % of the records at their
sources and runs the exchange again. The stages are the stage packages' functions called
directly, in one process (no Dagster: its run launcher and per-step processes would time
Dagster, not the data path). Sources are pulled, and offices delivered to, ``--pull-workers``
at a time (default: one per core), in threads, as Dagster's multiprocess executor runs the
landing and delivery assets, which share no pool; the warehouse stages (normalize, then
every office's extract, one step: ``hub.publish.publish_offices``) run one at a time, as its
pool admits them. Pull and land interleave inside ``hub.pull.pull``, publish and sign inside
``publish_offices``; the wall time during which some ``land``, or some hashing
(``sha256_file``) or signing (``SigningKey.sign``), was running is counted apart.

``--warehouse`` says where the exchange's lakehouse lives: ``embedded`` (the default: a SQLite
catalog and Parquet files under the home, no ``warehouse:`` section in hub.yaml) or
``postgres-s3`` (the scale profile: the catalog in a PostgreSQL database made for the run on
``--pg-url``'s server, dropped afterwards unless ``--keep-sources``, and the files on a
SeaweedFS S3 server the benchmark starts in ``<home>/s3``, ``benchmarks.s3``; its keys in this
process's environment, which the generator and the baselines inherit). The report's first line
says which.

The last line is ``e2e_ratio=X.XX incremental_ratio=Y.YY peak_rss_mb=Z``: the full run's time
over the sum of the four named baselines, the incremental run's time over the full run's, and
the peak RSS of the hub's process tree (this process and the sshd serving it; the generator
and the baselines run as separate processes whose peaks are printed but not counted; nor do
PostgreSQL and SeaweedFS under ``postgres-s3``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import platform
import resource
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

import hub
from benchmarks import generate
from benchmarks.measure import ChildResult, phase, run_child, timed_calls
from benchmarks.s3 import seaweedfs
from benchmarks.sshd import Sshd, running_sshd
from hub.config import HubConfig, load_config
from hub.demo.exchange import client_key_path, ensure_keys, host_key_path
from hub.home import Home
from hub.lake.location import Lake
from hub.normalize import apply_pending
from hub.observe.run import RunContext
from hub.publish import bundle, deliver, publish_offices
from hub.pull import pull
from hub.pull import stage as pull_stage
from hub.signing import crypto

STAGES = ("pull", "land", "normalize", "publish", "sign", "deliver")
BASELINE_OF = {  # stage -> the baselines it is compared with
    "pull": ("pg_copy", "transfer", "read_csv"),
    "land": ("parquet_write",),
    "normalize": ("parquet_load",),
    "publish": ("extract_copy",),
    "sign": ("sha256",),
    "deliver": ("put",),
}
NAMED_BASELINES = ("pg_copy", "read_csv", "transfer", "sha256")
WAREHOUSES = ("embedded", "postgres-s3")
S3_KEY_ENV, S3_SECRET_ENV = "HUB_BENCH_S3_KEY", "HUB_BENCH_S3_SECRET"
CATALOG_PASSWORD_ENV = "HUB_BENCH_LAKE_PASSWORD"  # only when --pg-url holds a password


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float
    rows: int
    peak_kb: int


@dataclass(frozen=True)
class RunResult:
    stages: list[Stage]
    seconds: float  # wall time of the whole run, stage overheads included

    @property
    def peak_kb(self) -> int:
        return max(s.peak_kb for s in self.stages)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` set in this process's environment (and so its children's) while the block runs."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def lakehouse(kind: str, home: Home, pg_url: str, *, keep: bool = False) -> Iterator[dict[str, Any] | None]:
    """The ``warehouse:`` section of the exchange's hub.yaml, ready while the block runs.

    ``embedded``: None (no section: catalog and files under the home). ``postgres-s3``: the
    catalog in a new PostgreSQL database on ``pg_url``'s server (dropped afterwards unless
    ``keep``), the files on a SeaweedFS S3 server in ``<home>/s3`` (stopped afterwards, and its
    files removed with it); the S3 keys (and ``pg_url``'s password, if any) are in this
    process's environment meanwhile, under the names the section gives."""
    if kind == "embedded":
        yield None
        return
    if kind != "postgres-s3":
        raise ValueError(f"unknown warehouse {kind!r}: one of {', '.join(WAREHOUSES)}")
    url = sa.engine.make_url(pg_url)
    database = f"hub_bench_lake_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
        try:
            with seaweedfs(home.root / "s3") as s3:
                env = {S3_KEY_ENV: s3.key_id, S3_SECRET_ENV: s3.secret}
                section: dict[str, Any] = {
                    "catalog": f"postgresql://{url.username or getpass.getuser()}@{url.host or '127.0.0.1'}:"
                               f"{url.port or 5432}/{database}",
                    "data_path": f"s3://{s3.bucket}/exchange/",
                    "s3": {"endpoint": s3.endpoint, "use_ssl": False, "key_id_env": S3_KEY_ENV,
                           "secret_env": S3_SECRET_ENV}}
                if url.password:
                    env[CATALOG_PASSWORD_ENV] = url.password
                    section["catalog_password_env"] = CATALOG_PASSWORD_ENV
                with _environment(env):
                    yield section
        finally:
            if not keep:  # FORCE: this process's DuckDB instances still hold catalog connections
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        admin.dispose()


@dataclass(frozen=True)
class Prepared:
    """A generated exchange, ready to run: its config, what was generated, the processes serving it."""

    home: Home
    config: HubConfig
    manifest: dict[str, Any]
    children: dict[str, ChildResult]  # the generator's, then whatever the caller adds
    sshd: Sshd
    warehouse: str  # embedded or postgres-s3

    def describe_warehouse(self) -> str:
        """For a report's first line: which warehouse, where its catalog and data are."""
        return f"warehouse: {self.warehouse}, {Lake.of(self.config, self.home).describe()}"


@contextmanager
def prepared(records: int, home: Home, *, seed: int, pg_url: str, memory_limit: str | None = None,
             keep_sources: bool = False, warehouse: str = "embedded") -> Iterator[Prepared]:
    """N records generated (``benchmarks.generate``, its own process) for an exchange whose SFTP
    drops and inboxes an sshd serves and whose lakehouse is ``warehouse`` (``lakehouse``), while
    the block runs; the courts' PostgreSQL schemas are dropped afterwards unless ``keep_sources``."""
    ensure_keys(home)
    children: dict[str, ChildResult] = {}
    with (running_sshd(home.root / "sshd", host_key=host_key_path(home), client_key=client_key_path(home)) as sshd,
          lakehouse(warehouse, home, pg_url, keep=keep_sources) as section):
        children["generate"] = run_child("benchmarks.generate", "--home", str(home.root), "--records", str(records),
                                         "--sftp-port", str(sshd.port), "--seed", str(seed), "--pg-url", pg_url,
                                         *(["--duckdb-memory-limit", memory_limit] if memory_limit else []),
                                         *(["--warehouse", json.dumps(section)] if section is not None else []))
        try:
            yield Prepared(home, load_config(home.config), children["generate"].output, children, sshd, warehouse)
        finally:
            if not keep_sources:
                generate.drop_schemas(home)


def exchange(config: HubConfig, home: Home, run_id: str, pull_workers: int) -> RunResult:
    """One exchange: every source pulled and landed, applied, published and delivered (pulls
    and deliveries ``pull_workers`` at a time)."""
    start = time.perf_counter()
    with (phase() as pulled, timed_calls(pull_stage, "land", pulled, "land"),
          ThreadPoolExecutor(pull_workers, thread_name_prefix="pull") as pool):
        rows_in = sum(r.rows for r in pool.map(lambda s: pull(RunContext(config, home, run_id), s.name), config.sources))
    with phase() as applied:
        totals = apply_pending(RunContext(config, home, run_id))
    published_rows = 0
    with ExitStack() as stack:
        published = stack.enter_context(phase())
        stack.enter_context(timed_calls(bundle, "sha256_file", published, "sign"))
        stack.enter_context(timed_calls(crypto.SigningKey, "sign", published, "sign"))
        for outcome in publish_offices(RunContext(config, home, run_id), [o.id for o in config.offices]):
            if outcome.error is not None:
                raise outcome.error
            if outcome.bundle is not None:
                published_rows += sum(outcome.bundle.rows.values())
    with phase() as delivered, ThreadPoolExecutor(pull_workers, thread_name_prefix="deliver") as pool:
        list(pool.map(lambda o: deliver(RunContext(config, home, run_id), o.id),
                      [o for o in config.offices if o.delivery.sftp is not None]))
    seconds = time.perf_counter() - start
    land, sign = pulled.inside.get("land", 0.0), published.inside.get("sign", 0.0)
    applied_rows = sum(t["rows_in"] for t in totals.values())
    return RunResult([
        Stage("pull", pulled.seconds - land, rows_in, pulled.peak_kb),
        Stage("land", land, rows_in, pulled.peak_kb),
        Stage("normalize", applied.seconds, applied_rows, applied.peak_kb),
        Stage("publish", published.seconds - sign, published_rows, published.peak_kb),
        Stage("sign", sign, published_rows, published.peak_kb),
        Stage("deliver", delivered.seconds, published_rows, delivered.peak_kb),
    ], seconds)


def accounting(home: Home, manifest: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per source: records generated, current rows in the warehouse, rows in quarantine."""
    con = hub.connect(home)
    try:
        held = dict(con.execute(
            "SELECT source_name, count(*) FROM (SELECT source_name FROM filing UNION ALL SELECT source_name FROM judgment "
            "UNION ALL SELECT source_name FROM enforcement UNION ALL SELECT source_name FROM supervision) GROUP BY 1"
        ).fetchall())
        quarantined = dict(con.execute("SELECT source_name, count(*) FROM quarantine GROUP BY 1").fetchall())
    finally:
        con.close()
    return {name: {"generated": s["rows"], "warehouse": held.get(name, 0), "quarantine": quarantined.get(name, 0),
                   "defects": s["defects"]} for name, s in manifest["sources"].items()}


def _rate(rows: float, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "-"


def accounted(accounts: dict[str, dict[str, int]]) -> str:
    """The line saying every generated record is a current warehouse row or a quarantined one."""
    lost = {n: a for n, a in accounts.items() if a["warehouse"] + a["quarantine"] != a["generated"]}
    total = {k: sum(a[k] for a in accounts.values()) for k in ("generated", "warehouse", "quarantine", "defects")}
    return (f"accounted: {total['generated']:,} generated = {total['warehouse']:,} in the warehouse + "
            f"{total['quarantine']:,} in quarantine ({total['defects']:,} deliberate defects)"
            + (f"; MISMATCH in {sorted(lost)}" if lost else ""))


def machine(records: int, memory_limit: str | None) -> str:
    """The report's records-and-machine line."""
    return (f"records: {records:,}  ({platform.node()}, {_cpus()} cores, python {platform.python_version()}, "
            f"duckdb {duckdb.__version__}, hub.duckdb_memory_limit {memory_limit or 'unset'})")


def report(records: int, memory_limit: str | None, full: RunResult, incremental: RunResult,
           baselines: dict[str, dict[str, float]], children: dict[str, ChildResult], sshd_peak_kb: int,
           accounts: dict[str, dict[str, int]], warehouse: str) -> str:
    lines = [warehouse, machine(records, memory_limit)]
    for label, run in (("full run", full), ("incremental run (0.1% changed)", incremental)):
        lines += ["", f"{label}: {run.seconds:.2f} s wall",
                  f"{'stage':<10} {'seconds':>9} {'rows':>11} {'rows/s':>11} {'peak RSS MB':>12} "
                  f"{'baseline s':>11} {'ratio':>7}"]
        for s in run.stages:
            base = sum(baselines[b]["seconds"] for b in BASELINE_OF[s.name])
            ratio = f"{s.seconds / base:.2f}" if run is full and base > 0 else ""
            lines.append(f"{s.name:<10} {s.seconds:9.2f} {s.rows:11,} {_rate(s.rows, s.seconds):>11} "
                         f"{s.peak_kb / 1024:12.0f} {base if run is full else 0:11.2f} {ratio:>7}")
    lines += ["", "baselines (same data, same run, own process):"]
    for name, b in baselines.items():
        size = f"{b['rows']:,.0f} rows" if "rows" in b else f"{b['bytes'] / 2**20:,.1f} MiB"
        lines.append(f"  {name:<14} {b['seconds']:8.2f} s  {size}{'  *' if name in NAMED_BASELINES else ''}")
    named = sum(baselines[b]["seconds"] for b in NAMED_BASELINES)
    every = sum(b["seconds"] for b in baselines.values())
    lines.append(f"  * named in issue 8: sum {named:.2f} s; full run / every yardstick: {full.seconds / every:.2f}")
    lines += ["", "other processes: " + ", ".join(
        f"{k} {c.seconds:.1f} s, peak {c.peak_kb / 1024:.0f} MB" for k, c in children.items())
        + f"; sshd peak {sshd_peak_kb / 1024:.0f} MB"]
    lines.append(accounted(accounts))
    peak_mb = max(full.peak_kb, incremental.peak_kb, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, sshd_peak_kb) / 1024
    lines.append(f"e2e_ratio={full.seconds / named:.2f} incremental_ratio={incremental.seconds / full.seconds:.2f} "
                 f"peak_rss_mb={peak_mb:.0f}")
    return "\n".join(lines)


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def run(records: int, home: Home, *, seed: int, pg_url: str, memory_limit: str | None = None,
        keep_sources: bool = False, pull_workers: int, warehouse: str = "embedded") -> str:
    with prepared(records, home, seed=seed, pg_url=pg_url, memory_limit=memory_limit, keep_sources=keep_sources,
                  warehouse=warehouse) as ready:
        config, children = ready.config, ready.children
        full = exchange(config, home, "bench-full", pull_workers)
        children["baselines"] = run_child("benchmarks.baselines", "--home", str(home.root))
        children["change"] = run_child("benchmarks.generate", "--home", str(home.root), "--change")
        incremental = exchange(config, home, "bench-incremental", pull_workers)
        accounts = accounting(home, ready.manifest)  # while the warehouse is there (postgres-s3 removes it after)
        where = ready.describe_warehouse()
    (home.root / "bench" / "result.json").write_text(json.dumps({
        "full": [s.__dict__ for s in full.stages], "incremental": [s.__dict__ for s in incremental.stages],
        "full_seconds": full.seconds, "incremental_seconds": incremental.seconds,
        "baselines": children["baselines"].output, "changed": children["change"].output}, indent=1))
    return report(records, memory_limit, full, incremental, children["baselines"].output, children,
                  ready.sshd.peak_rss_kb, accounts, where)


def exchange_arguments(p: argparse.ArgumentParser, *, records: int) -> None:
    """The options every whole-exchange benchmark takes (this one's, ``benchmarks.lake_growth``'s)."""
    p.add_argument("--records", type=int, default=records)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--pg-url", default=generate.PG_URL)
    p.add_argument("--home", help="keep the exchange's home here (default: a temporary folder, removed)")
    p.add_argument("--duckdb-memory-limit", help="set hub.duckdb_memory_limit for the exchange, e.g. 1GB")
    p.add_argument("--keep-sources", action="store_true",
                   help="leave the PostgreSQL schemas (and a postgres-s3 catalog database) in place")
    p.add_argument("--pull-workers", type=int, default=_cpus(),
                   help="sources pulled at a time (default: the cores; Dagster runs the landing assets in parallel)")
    p.add_argument("--warehouse", choices=WAREHOUSES, default="embedded",
                   help="embedded (default: SQLite catalog and files under the home) or postgres-s3 (catalog in a "
                        "new PostgreSQL database, files on a SeaweedFS S3 server the benchmark starts)")


@contextmanager
def home_folder(path: str | None) -> Iterator[Home]:
    """The exchange's home: ``path`` (made if missing, kept), else a temporary folder removed afterwards."""
    folder = Path(path) if path else Path(tempfile.mkdtemp(prefix="hub-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield Home.find(folder)
    finally:
        if not path:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    exchange_arguments(p, records=1_000_000)
    args = p.parse_args()
    with home_folder(args.home) as home:
        print(run(args.records, home, seed=args.seed, pg_url=args.pg_url,
                  memory_limit=args.duckdb_memory_limit, keep_sources=args.keep_sources,
                  pull_workers=args.pull_workers, warehouse=args.warehouse), flush=True)


if __name__ == "__main__":
    main()
