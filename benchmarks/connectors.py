"""Connector benchmark: the hub's SQL and SFTP pulls beside the raw transfers they are made of.

    python -m benchmarks.connectors [--sizes 250000,1000000] [--repeat 3]

For each size, in one run, each stage and its baseline ``--repeat`` times in turns (medians):

- ``sql``: ``SqlSource.pull`` of a PostgreSQL table (keyset pages through ``COPY``, parsed by
  Arrow) landed as Parquet, beside the baseline ``COPY (SELECT ...) TO STDOUT`` streamed to a
  file and loaded into a DuckDB table with ``read_csv``;
- ``sftp``: ``SftpSource.pull`` of one CSV file from a real OpenSSH sshd on a loopback port
  (prefetching get, size check, sha256, CSV read into Arrow) landed as Parquet, beside a plain
  paramiko prefetching ``get`` of the same file over a session from the same ``sftp_session``
  (AES-GCM offered first, channels of 64 KiB packets reading off a bytearray), so the ratio
  is the hub's own overhead and not a connection setting. The hub's download asks for what
  the server states it serves per read (255 KiB from OpenSSH); ``get`` asks paramiko's 32 KiB.

Peak memory is each stage's high-water mark (``VmHWM`` reset before it, to the RSS the stage
found: what earlier stages left the allocator holding); "own" is how far the stage raised it. Targets (issue 3):
sql within 1.5x of its baseline, sftp within 1.5x of its baseline, peak memory flat as the
table grows. The last line is ``sql_ratio=X.XX sftp_ratio=Y.YY`` plus the peak and own MB per size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb
import sqlalchemy as sa

from benchmarks.measure import Phase, phase
from benchmarks.sshd import running_sshd
from connectors.sftp import SftpSettings, SftpSource, sftp_session
from connectors.sql import SqlSettings, SqlSource
from hub.pull.landing import land
from schemas.sql import lit

PG_URL = os.environ.get("HUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
COLUMNS = ("ajbs", "ah", "fymc", "ay", "larq", "yg", "bg", "bgzjhm", "bdje", "gxsj")
ROWS_SQL = """SELECT 'LA' || i AS ajbs, '（' || (2018 + i % 7) || '）内03民初' || i || '号' AS ah,
                     '乌海市中级人民法院' AS fymc, '民间借贷纠纷' AS ay,
                     to_char(DATE '2018-01-01' + (i % 2500), 'YYYY-MM-DD') AS larq,
                     '张' || (i % 1000) AS yg, '李' || (i % 997) AS bg,
                     '150302198001010' || lpad((i % 1000)::text, 3, '0') AS bgzjhm,
                     round((i % 100000) * 10.5, 2)::text AS bdje,
                     TIMESTAMP '2024-01-01' + (i / 3) * INTERVAL '1 second' AS gxsj
              FROM generate_series(1, {rows}) i"""


def _pg_table(engine: sa.Engine, rows: int) -> str:
    table = f"bench_conn_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} AS {ROWS_SQL.format(rows=rows)}"))
        conn.execute(sa.text(f"ALTER TABLE {table} ADD PRIMARY KEY (ajbs)"))
        conn.execute(sa.text(f"CREATE INDEX ON {table} (gxsj, ajbs)"))
        conn.execute(sa.text(f"ANALYZE {table}"))
    return table


def sql_pull(table: str, work: Path, rows: int) -> Phase:
    source = SqlSource(SqlSettings(name="bench_sql", url=PG_URL, table=table, columns=COLUMNS,
                                   cursor="gxsj", tiebreak="ajbs"))
    landed = 0
    with phase() as p:
        for batch in source.pull(None):
            landed += land(batch, work / "landing", record_type="filing", institution="c1", run_id="bench").rows
    source.close()
    shutil.rmtree(work)
    assert landed == rows, (landed, rows)
    return p


def sql_baseline(table: str, work: Path, rows: int) -> Phase:
    engine = sa.create_engine(PG_URL)
    csv = work / "copy.csv"
    con = duckdb.connect(str(work / "copy.duckdb"))
    with phase() as p:
        with engine.connect() as conn, open(csv, "wb") as out:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(f"COPY (SELECT {', '.join(COLUMNS)} FROM {table}) TO STDOUT (FORMAT csv)") as copy:
                for chunk in copy:
                    out.write(chunk)
        con.execute(f"CREATE TABLE t AS FROM read_csv({lit(str(csv))}, header = false, all_varchar = true)")
    copied = con.execute("SELECT count(*) FROM t").fetchone()[0]  # type: ignore[index]
    con.close()
    engine.dispose()
    csv.unlink()
    (work / "copy.duckdb").unlink()
    assert copied == rows, (copied, rows)
    return p


CSV_SQL = """SELECT 'LA' || i AS ajbs, '（' || (2018 + i % 7) || '）内03民初' || i || '号' AS ah,
                    '乌海市人民检察院' AS jcy, '民间借贷纠纷' AS ay,
                    strftime(DATE '2018-01-01' + CAST(i % 2500 AS INTEGER), '%Y-%m-%d') AS larq,
                    '张' || (i % 1000) AS yg, '李' || (i % 997) AS bg,
                    '150302198001010' || lpad(CAST(i % 1000 AS VARCHAR), 3, '0') AS bgzjhm,
                    CAST(round((i % 100000) * 10.5, 2) AS VARCHAR) AS bdje,
                    strftime(TIMESTAMP '2024-01-01' + to_seconds(i // 3), '%Y-%m-%d %H:%M:%S') AS gxsj
             FROM range(1, {rows} + 1) t(i)"""


def _csv(path: Path, rows: int) -> None:
    """The same shape of rows as a UTF-8 CSV file, written by DuckDB."""
    con = duckdb.connect()
    con.execute(f"COPY ({CSV_SQL.format(rows=rows)}) TO {lit(str(path))} (HEADER, DELIMITER ',')")
    con.close()


def _settings(server_dir: Path, drop: Path, port: int, host_key: str) -> SftpSettings:
    return SftpSettings(name="bench_sftp", host="127.0.0.1", port=port, username=os.environ.get("USER", "root"),
                        key_path=server_dir / "client_ed25519", host_key=host_key, remote_dir=str(drop),
                        pattern="*.csv", encoding="utf-8")


def sftp_pull(settings: SftpSettings, work: Path, rows: int) -> Phase:
    source = SftpSource(settings, work / "staging")
    landed = 0
    with phase() as p:
        for batch in source.pull({}):
            landed += land(batch, work / "landing", record_type="filing", institution="c1", run_id="bench").rows
    shutil.rmtree(work)
    assert landed == rows, (landed, rows)
    return p


def _get(settings: SftpSettings, drop: Path, work: Path) -> Phase:
    with phase() as p, sftp_session(settings) as sftp:
        for name in sorted(os.listdir(drop)):
            sftp.get(str(drop / name), str(work / f"raw_{name}"), prefetch=True)
    return p


def _turns(repeat: int, baseline: Callable[[int], Phase], hub: Callable[[int], Phase]) -> tuple[Phase, Phase]:
    """Each side ``repeat`` times, taking turns so that whatever else the machine does falls on
    both; each side's median time and highest peak. One baseline get in several falls into
    paramiko#2418 (20-30 s instead of under 1), which the median of three outvotes."""
    runs: tuple[list[Phase], list[Phase]] = ([], [])
    for n in range(repeat):
        runs[0].append(baseline(n))
        runs[1].append(hub(n))
    return tuple(Phase(seconds=statistics.median(p.seconds for p in side), peak_kb=max(p.peak_kb for p in side),
                       start_kb=min(p.start_kb for p in side)) for side in runs)  # type: ignore[return-value]


def run(rows: int, server_dir: Path, port: int, host_key: str, repeat: int) -> dict[str, Phase]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        engine = sa.create_engine(PG_URL)
        table = _pg_table(engine, rows)
        try:
            base, hub = _turns(repeat, lambda n: sql_baseline(table, work, rows),
                               lambda n: sql_pull(table, work / f"sql{n}", rows))
        finally:
            with engine.begin() as conn:
                conn.execute(sa.text(f"DROP TABLE {table}"))
            engine.dispose()
        drop = work / "drop"
        drop.mkdir()
        _csv(drop / "filing.csv", rows)
        os.utime(drop / "filing.csv", (time.time() - 60,) * 2)
        settings = _settings(server_dir, drop, port, host_key)
        raw, pulled = _turns(repeat, lambda n: _get(settings, drop, work),
                             lambda n: sftp_pull(settings, work / f"sftp{n}", rows))
        return {"sql_baseline": base, "sql": hub, "sftp_baseline": raw, "sftp": pulled,
                "bytes": Phase(seconds=(drop / "filing.csv").stat().st_size)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="250000,1000000", help="comma-separated row counts; ratios use the largest")
    p.add_argument("--repeat", type=int, default=3, help="runs of each stage and its baseline, in turns; medians")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[int, dict[str, Phase]] = {}
    with tempfile.TemporaryDirectory() as server_tmp, running_sshd(Path(server_tmp)) as sshd:
        for rows in sizes:
            results[rows] = run(rows, Path(server_tmp), sshd.port, sshd.host_key_line, args.repeat)
            r = results[rows]
            print(f"\n{rows:,} rows ({r['bytes'].seconds / 1e6:.0f} MB CSV)")
            print(f"  {'stage':<14}{'seconds':>9}{'rows/s':>12}{'peak MB':>9}{'own MB':>8}")
            for name in ("sql_baseline", "sql", "sftp_baseline", "sftp"):
                ph = r[name]
                print(f"  {name:<14}{ph.seconds:9.2f}{rows / ph.seconds:12,.0f}{ph.peak_kb / 1024:9.0f}"
                      f"{ph.own_kb / 1024:8.0f}")
    big = results[max(sizes)]
    peaks = " ".join(
        f"sql_peak_mb@{n}={results[n]['sql'].peak_kb / 1024:.0f} sftp_peak_mb@{n}={results[n]['sftp'].peak_kb / 1024:.0f} "
        f"sql_own_mb@{n}={results[n]['sql'].own_kb / 1024:.0f} sftp_own_mb@{n}={results[n]['sftp'].own_kb / 1024:.0f}"
        for n in sizes
    )
    print(f"sql_ratio={big['sql'].seconds / big['sql_baseline'].seconds:.2f} "
          f"sftp_ratio={big['sftp'].seconds / big['sftp_baseline'].seconds:.2f} {peaks}")


if __name__ == "__main__":
    main()
