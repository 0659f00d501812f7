"""What the machine does without the hub, on the same data: the yardsticks each stage is held to.

    python -m benchmarks.baselines --home DIR      # after a full run; prints JSON

Run in its own process so its memory never counts as the hub's. The four baselines the issue
names (their sum is the e2e denominator):

- ``pg_copy``: PostgreSQL ``COPY ... TO STDOUT`` of every court table the hub pulls (the mapped
  columns), streamed to a file and loaded into a DuckDB database file with ``read_csv``;
- ``transfer``: paramiko's prefetching ``get`` of every file in the procuratorates' drops;
- ``read_csv``: DuckDB ``read_csv`` of those files into tables (GBK files transcoded to UTF-8
  in one bulk Python decode first, since DuckDB reads no GBK without an extension);
- ``sha256``: hashlib over every byte of the published bundles.

And one yardstick per remaining stage (printed beside it, not part of the e2e denominator):
``parquet_write`` (Arrow -> zstd Parquet of the landed rows: the land stage's own work),
``parquet_load`` (DuckDB load of the landing Parquet into tables: what normalize starts from),
``extract_copy`` (DuckDB ``COPY`` of each agreement's rows to Parquet) and ``put`` (paramiko
``put`` of the bundle files: delivery).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import posixpath
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import sqlalchemy as sa

from connectors.sftp import SftpSettings, sftp_session
from hub.config import DatabaseSource, HubConfig, SftpDropSource, load_config
from hub.home import Home
from hub.normalize.warehouse import Warehouse
from hub.publish.agreements import select_sql
from hub.pull.landing import landed_batches
from hub.pull.sources import sftp_settings
from schemas.sql import lit, q


def _pg_copy(config: HubConfig, work: Path) -> tuple[float, int]:
    con = duckdb.connect(str(work / "pg_copy.duckdb"))
    rows = 0
    start = time.perf_counter()
    for src in config.sources:
        if not isinstance(src, DatabaseSource):
            continue
        columns = ", ".join(dict.fromkeys([src.key, *src.mapping.values()]))
        csv = work / f"{src.name}.csv"
        engine = sa.create_engine(src.database.url)
        with engine.connect() as conn, open(csv, "wb") as out:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(f"COPY (SELECT {columns} FROM {src.database.table}) TO STDOUT (FORMAT csv)") as copy:
                for chunk in copy:
                    out.write(chunk)
        engine.dispose()
        con.execute(f"CREATE TABLE {q(src.name)} AS FROM read_csv({lit(str(csv))}, header = false, all_varchar = true)")
        rows += con.execute(f"SELECT count(*) FROM {q(src.name)}").fetchall()[0][0]
        csv.unlink()
    seconds = time.perf_counter() - start
    con.close()
    return seconds, rows


def _drop_settings(home: Home, config: HubConfig) -> list[tuple[str, SftpSettings, str]]:
    out = []
    for src in config.sources:
        if isinstance(src, SftpDropSource):
            out.append((src.name, sftp_settings(home, src.name, src.sftp, src.format), src.format.encoding))
    return out


def _transfer(home: Home, config: HubConfig, work: Path) -> tuple[float, int, list[tuple[Path, str]]]:
    files: list[tuple[Path, str]] = []
    size = 0
    start = time.perf_counter()
    for name, settings, encoding in _drop_settings(home, config):
        local = work / name
        local.mkdir()
        with sftp_session(settings) as sftp:
            for entry in sorted(sftp.listdir(settings.remote_dir)):
                target = local / entry
                sftp.get(posixpath.join(settings.remote_dir, entry), str(target), prefetch=True)
                files.append((target, encoding))
                size += target.stat().st_size
    return time.perf_counter() - start, size, files


def _read_csv(files: list[tuple[Path, str]], work: Path) -> tuple[float, int]:
    con = duckdb.connect(str(work / "read_csv.duckdb"))
    rows = 0
    start = time.perf_counter()
    for n, (path, encoding) in enumerate(files):
        if encoding.lower() in ("gbk", "gb2312", "gb18030"):
            utf8 = path.with_suffix(".utf8.csv")
            utf8.write_bytes(path.read_bytes().decode("gb18030").encode("utf-8"))
            path = utf8
        con.execute(f"CREATE TABLE t{n} AS FROM read_csv({lit(str(path))}, header = true, all_varchar = true, ignore_errors = true)")
        rows += con.execute(f"SELECT count(*) FROM t{n}").fetchall()[0][0]
    seconds = time.perf_counter() - start
    con.close()
    return seconds, rows


def _bundle_files(home: Home) -> list[Path]:
    return sorted(p for p in home.outbox.glob("*/[0-9]*/**/*") if p.is_file())


def _sha256(files: list[Path]) -> tuple[float, int]:
    size = 0
    start = time.perf_counter()
    for path in files:
        with open(path, "rb") as fh:
            hashlib.file_digest(fh, "sha256")
        size += path.stat().st_size
    return time.perf_counter() - start, size


def _parquet_write(home: Home, work: Path) -> tuple[float, int]:
    seconds, rows = 0.0, 0
    for batch in landed_batches(home.landing):
        table = pq.read_table(batch.path)  # not timed: the land stage gets its rows in memory
        start = time.perf_counter()
        pq.write_table(table, work / "copy.parquet", compression="zstd", row_group_size=100_000)
        seconds += time.perf_counter() - start
        rows += table.num_rows
    return seconds, rows


def _parquet_load(home: Home, work: Path) -> tuple[float, int]:
    con = duckdb.connect(str(work / "parquet_load.duckdb"))
    start = time.perf_counter()
    for n, batch in enumerate(landed_batches(home.landing)):
        con.execute(f"CREATE TABLE t{n} AS FROM read_parquet({lit(str(batch.path))})")
    seconds = time.perf_counter() - start
    rows = sum(b.rows for b in landed_batches(home.landing))
    con.close()
    return seconds, rows


def _extract_copy(home: Home, config: HubConfig, work: Path) -> tuple[float, int]:
    rows = 0
    with Warehouse.open(config, home, read_only=True) as wh:
        start = time.perf_counter()
        for agreement in config.agreements:
            for n, share in enumerate(agreement.shares):
                sql, params = select_sql(share)
                target = work / f"{agreement.office}-{n}.parquet"
                wh.con.execute(f"COPY ({sql}) TO {lit(str(target))} (FORMAT parquet, COMPRESSION zstd)", params)
                rows += pq.read_metadata(target).num_rows
        seconds = time.perf_counter() - start
    return seconds, rows


def _put(home: Home, config: HubConfig, files: list[Path]) -> tuple[float, int]:
    inbox = next(o.delivery.sftp for o in config.offices if o.delivery.sftp is not None)
    settings = sftp_settings(home, "baseline put", inbox)
    remote = posixpath.join(settings.remote_dir, ".baseline-put")
    size = 0
    start = time.perf_counter()
    with sftp_session(settings) as sftp:
        sftp.mkdir(remote)
        for n, path in enumerate(files):
            sftp.put(str(path), posixpath.join(remote, str(n)), confirm=True)
            size += path.stat().st_size
        seconds = time.perf_counter() - start
        for n in range(len(files)):
            sftp.remove(posixpath.join(remote, str(n)))
        sftp.rmdir(remote)
    return seconds, size


def measure(home: Home) -> dict[str, dict[str, float]]:
    """Every baseline: seconds, and rows or bytes moved."""
    config = load_config(home.config)
    bundles = _bundle_files(home)
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(dir=home.root) as tmp:
        work = Path(tmp)
        s, n = _pg_copy(config, work)
        out["pg_copy"] = {"seconds": s, "rows": n}
        s, size, files = _transfer(home, config, work)
        out["transfer"] = {"seconds": s, "bytes": size}
        s, n = _read_csv(files, work)
        out["read_csv"] = {"seconds": s, "rows": n}
        s, size = _sha256(bundles)
        out["sha256"] = {"seconds": s, "bytes": size}
        s, n = _parquet_write(home, work)
        out["parquet_write"] = {"seconds": s, "rows": n}
        s, n = _parquet_load(home, work)
        out["parquet_load"] = {"seconds": s, "rows": n}
        s, n = _extract_copy(home, config, work)
        out["extract_copy"] = {"seconds": s, "rows": n}
        s, size = _put(home, config, bundles)
        out["put"] = {"seconds": s, "bytes": size}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--home", required=True)
    print(json.dumps(measure(Home.find(p.parse_args().home))))


if __name__ == "__main__":
    main()
