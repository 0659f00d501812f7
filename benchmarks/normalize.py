"""Normalization benchmark: N filing rows + N/10 supervision rows from landing Parquet.

    python -m benchmarks.normalize [--rows 1000000]

Prints wall time and peak memory of applying the landed batches to a fresh warehouse, beside
DuckDB's plain load of the same Parquet files into tables, measured in the same run. The
target (issue 4) is normalization within 3x of the plain load.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from connectors.base import Batch
from hub.normalize.apply import apply
from hub.normalize.warehouse import Warehouse
from hub.pull.landing import land
from schemas.identifiers import RESIDENT_CHECK, RESIDENT_WEIGHTS

FILING_MAP = {"case_no": "ah", "court_name": "fymc", "cause": "ay", "filing_date": "larq", "plaintiff": "yg",
              "defendant": "bg", "defendant_id": "bgzjhm", "claim_amount": "bdje", "source_updated_at": "gxsj"}
SUP_MAP = {"doc_no": "wsbh", "measure": "jdfs", "domain": "ly", "target_case_no": "ah", "issued_date": "fcrq",
           "due_date": "hfqx", "replied_date": "hfrq", "reply_result": "hfjg", "source_updated_at": "gxsj"}


def generate(folder: Path, rows: int) -> tuple[Path, Path]:
    """Synthetic, realistically messy source extracts, generated in DuckDB (seeded)."""
    con = duckdb.connect()
    con.execute("SELECT setseed(0.42)").fetchall()
    ids = [_resident_id(f"15030219800101{n:03d}") for n in range(1000)]
    con.register("ids", pa.table({"n": list(range(1000)), "id": ids}))
    filing = folder / "filing_src.parquet"
    con.execute(f"""
        COPY (SELECT 'LA' || i AS ajbs,
                     CASE i % 7 WHEN 0 THEN '(' || (2018 + i % 7) || ')内03民初' || i || '号'
                                WHEN 1 THEN '〔' || (2018 + i % 7) || '〕内03民初 ' || i
                                ELSE '（' || (2018 + i % 7) || '）内03民初' || i || '号' END AS ah,
                     '乌海市中级人民法院' AS fymc, '民间借贷纠纷' AS ay,
                     strftime(DATE '2018-01-01' + CAST(i % 2500 AS INTEGER), '%Y-%m-%d') AS larq,
                     '张' || (i % 1000) AS yg, '李' || (i % 997) AS bg,
                     CASE WHEN i % 3 = 0 THEN NULL ELSE ids.id END AS bgzjhm,
                     CAST(round(random() * 1e6, 2) AS VARCHAR) AS bdje,
                     strftime(TIMESTAMP '2024-01-01' + to_seconds(i), '%Y-%m-%d %H:%M:%S') AS gxsj,
                     i + 1 AS _source_row
              FROM range({rows}) t(i) JOIN ids ON ids.n = i % 1000 ORDER BY i) TO '{filing}' (FORMAT parquet)""")
    sup = folder / "supervision_src.parquet"
    con.execute(f"""
        COPY (SELECT '乌检民监〔2024〕' || i || '号' AS wsbh,
                     ['抗诉', '再审检察建议', '检察建议', '纠正违法'][i % 4 + 1] AS jdfs, '民事' AS ly,
                     '（' || (2018 + i % 7) || '）内03民初' || (i * 10) || '号' AS ah,
                     '2024-03-01' AS fcrq, '2024-06-01' AS hfqx,
                     CASE WHEN i % 2 = 0 THEN '2024-04-01' END AS hfrq, CASE WHEN i % 2 = 0 THEN '采纳' END AS hfjg,
                     '2024-03-01 10:00:00' AS gxsj, i + 1 AS _source_row
              FROM range({rows // 10}) t(i)) TO '{sup}' (FORMAT parquet)""")
    return filing, sup


def _resident_id(first17: str) -> str:
    return first17 + RESIDENT_CHECK[sum(int(c) * w for c, w in zip(first17, RESIDENT_WEIGHTS)) % 11]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        filing_src, sup_src = generate(folder, args.rows)
        batches = [
            land(Batch("bench_filing", pq.read_table(filing_src), "bench"), folder / "landing",
                 record_type="filing", institution="c1", run_id="bench"),
            land(Batch("bench_sup", pq.read_table(sup_src), "bench"), folder / "landing",
                 record_type="supervision", institution="p1", run_id="bench"),
        ]
        t0, c0 = time.perf_counter(), time.process_time()
        base = duckdb.connect(str(folder / "plain.duckdb"))
        for b in batches:
            base.execute(f"CREATE TABLE {b.record_type} AS SELECT * FROM read_parquet('{b.path}')")
        base.close()
        plain, plain_cpu = time.perf_counter() - t0, time.process_time() - c0

        t0, c0 = time.perf_counter(), time.process_time()
        with Warehouse(folder / "lake", hash_key=b"bench") as wh:
            counts = [
                apply(wh, batches[0], mapping=FILING_MAP, key_column="ajbs", court_code="内03", run_id="bench"),
                apply(wh, batches[1], mapping=SUP_MAP, key_column="wsbh", court_code=None, run_id="bench"),
            ]
        normalize, normalize_cpu = time.perf_counter() - t0, time.process_time() - c0
    rows = sum(c["rows_in"] for c in counts)
    print(f"rows: {rows:,} ({args.rows:,} filing + {args.rows // 10:,} supervision)")
    print(f"plain DuckDB load of the landing Parquet: {plain:7.2f} s  (CPU {plain_cpu:6.2f} s)")
    print(f"normalize (apply to warehouse):           {normalize:7.2f} s  (CPU {normalize_cpu:6.2f} s, {rows / normalize:,.0f} rows/s)")
    print("(CPU time, summed over DuckDB's threads, is the steadier figure on a shared machine)")
    print(f"accounting: {counts}")
    print(f"ratio={normalize / plain:.2f} cpu_ratio={normalize_cpu / plain_cpu:.2f} peak_rss_mb={peak_rss_mb():.0f}")


if __name__ == "__main__":
    main()
