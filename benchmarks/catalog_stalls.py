"""Whole-second stalls on a SQLite-catalog lakehouse: ``python -m benchmarks.catalog_stalls``.

Several threads of one process share a writing instance (``Lake.connect``), as a run's offices
and lanes do, and each runs small statements: reads, and inserts one at a time (the hub's writes
take turns, ``Warehouse.transaction``). SQLite, as DuckDB's extension builds it, sleeps a whole
second when it finds the catalog busy; the report counts the statements that took longer than
half a second, and the wall time. Figures in docs/performance.md.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from hub.lake.location import Lake

STALL_SECONDS = 0.5


def run(threads: int, statements: int) -> tuple[float, list[float]]:
    """(wall seconds, the duration of every statement slower than ``STALL_SECONDS``)."""
    lake = Lake.embedded(Path(tempfile.mkdtemp(prefix="hub-stalls-")))
    con = lake.connect()
    con.execute("CREATE TABLE t (a INTEGER, b VARCHAR)")
    con.execute("INSERT INTO t SELECT range, 'x' FROM range(1000)")
    writes, stalls = threading.Lock(), []

    def work() -> None:
        cur = lake.connect()
        for i in range(statements):
            start = time.perf_counter()
            if i % 3 == 0:
                with writes:
                    cur.execute("INSERT INTO t VALUES (?, 'y')", [i])
            else:
                cur.execute("SELECT count(*) FROM t").fetchall()
            if (took := time.perf_counter() - start) > STALL_SECONDS:
                stalls.append(took)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - start, stalls


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=3)
    p.add_argument("--statements", type=int, default=150, help="per thread")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    for n in range(1, args.rounds + 1):
        wall, stalls = run(args.threads, args.statements)
        print(f"round {n}: {args.threads * args.statements} statements in {wall:.2f} s; "
              f"{len(stalls)} took over {STALL_SECONDS} s" + (f" ({', '.join(f'{s:.2f}' for s in stalls)})" if stalls else ""))


if __name__ == "__main__":
    main()
