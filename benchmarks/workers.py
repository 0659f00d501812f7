"""Sweeps on Celery workers: ``python -m benchmarks.workers --sources 200 --workers 1 2``.

The production profile (docs/deployment.md) on this machine: Dagster's storage in a new
PostgreSQL database, steps sent over RabbitMQ (``--broker``, its password from
``HUB_BENCH_BROKER_PASSWORD``, default ``guest``) to K ``hub worker`` processes. For each K, a
new home of ``--sources`` database sources (``benchmarks.sources``) split over
``hub.pull_steps`` = the largest K, then, timed, the ``pull_all`` job launched as Dagster's
run launcher does (``execute_job`` of the job reconstructed from ``hub.definitions``):

- ``first``: every row landed;
- ``no_change``: nothing new anywhere;
- ``changed``: one row changed in 1 % of the sources.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

from benchmarks.sources import change, database, make_home
from hub.config import load_config
from hub.orchestration.instance import dagster_instance

REPO = Path(__file__).resolve().parents[1]
PASSWORD_ENV = "HUB_BENCH_BROKER_PASSWORD"
WORKER = "import sys; from hub.cli import main; sys.exit(main(sys.argv[1:]))"


def start(home: Path, n: int, logs: Path) -> list[subprocess.Popen[bytes]]:
    """``n`` workers of ``home`` (logs in ``logs/w<i>.log``), once each says it is ready; none
    left running when one fails to start."""
    paths = [logs / f"w{i}.log" for i in range(n)]
    workers = []
    for i, path in enumerate(paths):
        with open(path, "wb") as log:  # the process keeps its own copy of the descriptor
            workers.append(subprocess.Popen([sys.executable, "-c", WORKER, "worker", "--home", str(home),
                                             "--name", f"w{i}"], stdout=log, stderr=subprocess.STDOUT, cwd=REPO))
    deadline = time.monotonic() + 120
    while not all("ready." in p.read_text(errors="replace") for p in paths):
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            stop(workers)
            raise RuntimeError(f"the workers did not start: {[p.read_text(errors='replace')[-2000:] for p in paths]}")
        time.sleep(0.5)
    return workers


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    """Each worker asked to stop, then killed if it has not within 30 s."""
    for w in workers:
        w.terminate()
    for w in workers:
        try:
            w.wait(timeout=30)
        except subprocess.TimeoutExpired:
            w.kill()


def sweep(job: Any, instance: dg.DagsterInstance) -> float:
    started = time.perf_counter()
    result = dg.execute_job(job, instance=instance)
    if not result.success:
        raise SystemExit(f"the sweep failed: {[e.message for e in result.all_events if e.is_step_failure]}")
    return time.perf_counter() - started


def measure(workers: int, steps: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    with database(args.storage) as storage:
        home = make_home(folder / f"home-{workers}", args.sources, args.rows, None,
                         hub={"pull_steps": steps},
                         orchestration={"storage": storage, "broker": args.broker, "broker_password_env": PASSWORD_ENV})
        os.environ["HUB_HOME"] = str(home.root)
        instance = dagster_instance(home, load_config(home.config))  # Dagster's tables, before any worker
        job = ReconstructableRepository.for_module("hub.definitions", "defs", working_directory=str(REPO)
                                                   ).get_reconstructable_job("pull_all")
        running = start(home.root, workers, home.root)
        try:
            first = sweep(job, instance)
            no_change = sweep(job, instance)
            changed = change(home, args.sources)
            after_change = sweep(job, instance)
        finally:
            stop(running)
            instance.dispose()
    return {"workers": workers, "sources": args.sources, "rows_per_source": args.rows, "pull_steps": steps,
            "first_s": round(first, 2), "no_change_s": round(no_change, 2), "changed_sources": changed,
            "changed_s": round(after_change, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sources", type=int, default=200)
    p.add_argument("--rows", type=int, default=2000, help="filings per source")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--storage", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server")
    p.add_argument("--broker", default="pyamqp://guest@127.0.0.1:5672//")
    p.add_argument("--out", type=Path, help="write every figure here as JSON")
    args = p.parse_args()
    os.environ.setdefault(PASSWORD_ENV, "guest")
    figures = []
    with tempfile.TemporaryDirectory(prefix="hub-workers-") as tmp:
        for k in args.workers:
            found = measure(k, max(args.workers), args, Path(tmp))
            figures.append(found)
            print(f"{k} worker(s), {args.sources} sources over {found['pull_steps']} steps: first sweep "
                  f"{found['first_s']:.2f} s, no change {found['no_change_s']:.2f} s, {found['changed_sources']} changed "
                  f"{found['changed_s']:.2f} s", flush=True)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
