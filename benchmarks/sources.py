"""Many sources, little change: ``python -m benchmarks.sources --sources 10 100 1000``.

For each N, a home with N database sources of one court, each its own SQLite file of
``--rows`` filings (copies of one file), then, timed:

- ``definitions``: ``build_definitions`` (what ``hub dev`` and every run load);
- ``first``: the ``pull_all`` job in-process on the home's Dagster instance, its definitions
  loaded first, as ``hub run`` runs it, landing every row;
- ``no_change``: the same job again, nothing new anywhere (and per source);
- ``changed``: again after one row changed in 1 % of the sources (at least one).

With ``--storage postgresql://user@host:port``, Dagster keeps its runs and events in a new
database there (the production profile's storage, docs/deployment.md), dropped afterwards;
without it, SQLite under the home. One line per N; ``--out`` keeps every figure as JSON. The job and the definitions are the hub's
public entry points, so the same script measures an older checkout (``PYTHONPATH=<checkout>``).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from hub.config import load_config
from hub.home import Home
from hub.orchestration.definitions import build_definitions
from hub.orchestration.execute import dagster_instance

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def source_file(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE filings (id INTEGER PRIMARY KEY, ah TEXT, larq TEXT, gxsj TEXT NOT NULL)")
        con.executemany("INSERT INTO filings VALUES (?, ?, '2024-03-01', '2024-03-01 10:00:00')",
                        [(k, f"（2024）内03民初{k}号") for k in range(1, rows + 1)])


def make_home(root: Path, sources: int, rows: int, storage: str | None = None, **more: Any) -> Home:
    """``storage``: Dagster's PostgreSQL database; ``more``: further sections of hub.yaml."""
    home = Home(root)
    (root / "sources").mkdir(parents=True)
    source_file(root / "sources" / "template.sqlite", rows)
    for n in range(sources):
        shutil.copyfile(root / "sources" / "template.sqlite", root / "sources" / f"s{n}.sqlite")
    home.config.write_text(yaml.safe_dump({
        "institutions": [{"id": "c1", "name": "乌海中院", "kind": "court", "court_code": "内03"}],
        "sources": [{
            "name": f"c1_filing_{n}", "institution": "c1", "record_type": "filing", "kind": "database",
            "database": {"url": f"sqlite:///sources/s{n}.sqlite", "table": "filings", "cursor": "gxsj"},
            "key": "id", "mapping": {"case_no": "ah", "filing_date": "larq", "source_updated_at": "gxsj"},
        } for n in range(sources)],
        "offices": [], "agreements": [],
        **({"orchestration": {"storage": storage}} if storage else {}), **more,
    }, allow_unicode=True), encoding="utf-8")
    return home


def sweep(home: Home) -> float:
    started = time.perf_counter()
    defs = build_definitions(home, load_config(home.config))
    result = defs.resolve_job_def("pull_all").execute_in_process(instance=dagster_instance(home), run_config=QUIET,
                                                                  raise_on_error=False)
    if not result.success:
        raise SystemExit(f"the sweep failed: {[e.message for e in result.all_events if e.is_step_failure]}")
    return time.perf_counter() - started


def change(home: Home, sources: int) -> int:
    changed = max(1, math.ceil(sources / 100))
    for n in range(changed):
        with sqlite3.connect(home.root / "sources" / f"s{n * (sources // changed)}.sqlite") as con:
            con.execute("UPDATE filings SET larq = '2024-03-02', gxsj = '2024-03-02 10:00:00' WHERE id = 1")
    return changed


@contextmanager
def database(server: str | None) -> Iterator[str | None]:
    """A new PostgreSQL database on ``server`` for Dagster's storage, dropped afterwards."""
    if server is None:
        yield None
        return
    import psycopg

    name = f"hub_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as con:
            con.execute(f"DROP DATABASE {name} WITH (FORCE)")


def measure(sources: int, rows: int, folder: Path, storage: str | None = None) -> dict[str, Any]:
    home = make_home(folder / f"home-{sources}", sources, rows, storage)
    started = time.perf_counter()
    build_definitions(home, load_config(home.config))
    definitions = time.perf_counter() - started
    first = sweep(home)
    no_change = sweep(home)
    changed = change(home, sources)
    after_change = sweep(home)
    return {"sources": sources, "rows_per_source": rows, "definitions_s": round(definitions, 2),
            "first_s": round(first, 2), "no_change_s": round(no_change, 2),
            "no_change_per_source_ms": round(1000 * no_change / sources, 1),
            "changed_sources": changed, "changed_s": round(after_change, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sources", type=int, nargs="+", default=[10, 100, 1000])
    p.add_argument("--rows", type=int, default=20, help="filings per source")
    p.add_argument("--storage", help="PostgreSQL server for Dagster's storage, e.g. postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--out", type=Path, help="write every figure here as JSON")
    args = p.parse_args()
    figures = []
    with tempfile.TemporaryDirectory(prefix="hub-sources-") as tmp:
        for n in args.sources:
            with database(args.storage) as storage:
                found = measure(n, args.rows, Path(tmp), storage)
            figures.append(found)
            print(f"{n:>5} sources: definitions {found['definitions_s']:.2f} s, first sweep {found['first_s']:.2f} s, "
                  f"no change {found['no_change_s']:.2f} s ({found['no_change_per_source_ms']:.1f} ms/source), "
                  f"{found['changed_sources']} changed {found['changed_s']:.2f} s", flush=True)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
