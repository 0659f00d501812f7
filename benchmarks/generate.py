"""Benchmark data: N records over four courts (PostgreSQL) and two procuratorates (CSV on SFTP).

    python -m benchmarks.generate --home DIR --records N --sftp-port PORT [--seed S]
    python -m benchmarks.generate --home DIR --change      # the incremental run's 0.1 %
    python -m benchmarks.generate --home DIR --change --round R    # round R's 0.1 % (R >= 1)

Each court keeps filings, decisions and enforcement cases in its own PostgreSQL schema
(``bench_<tag>_<court>``; two vendors' table layouts, as in the demo), loaded with ``COPY``;
each procuratorate drops supervision measures as CSV files of 50,000 rows (one GBK with CRLF,
one UTF-8). Of N records 45 % are filings, 30 % decisions, 15 % enforcement cases and 10 %
supervision measures. Values are drawn from ``hash(row, salt, seed)`` in DuckDB, so a seed
gives the same data on every run and no Python touches single rows. Case numbers come in the
demo's bracket styles (``hub.demo.generator.DemoData.messy``, same shares), and one row in 500
breaks exactly one rule (of a kind drawn per row), so the warehouse's quarantine must
hold exactly ``defects`` rows per source; a bad party ID (``WITHHELD_DEFECT``) is no such rule:
its ``withheld`` rows are kept, without the ID. ``--change`` updates every record whose row number
ends in 007 (0.1 %, never a defective one): an UPDATE with a later cursor in PostgreSQL, a new
CSV drop for the procuratorates. ``--change --round R`` changes another 0.1 % each round (row
numbers ending in 007 + R, skipping the defective residues), stamped later than every earlier
round (``benchmarks.lake_growth``). ``<home>/bench/manifest.json`` records what was generated;
``benchmarks.exchange`` describes the institutions and writes ``hub.yaml`` (with ``--warehouse``,
its ``warehouse:`` section).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from benchmarks.exchange import (
    COURT_TYPES,
    COURTS,
    MEASURES,
    PROCURATORATES,
    SUPERVISION_FIELDS,
    TABLES,
    Court,
    Procuratorate,
    drop_dir,
    schema_name,
    source_name,
    write_config,
)
from hub.demo.generator import (
    ADMIN_CAUSES,
    AGENCIES,
    CIVIL_CAUSES,
    CLOSURES,
    COMPANIES,
    CRIMINAL_CAUSES,
    GIVEN,
    OUTCOMES,
    SURNAMES,
    DemoData,
)
from hub.home import Home
from schemas.codes import CASE_TYPES
from schemas.sql import lit

PG_URL = os.environ.get("HUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SHARES = {"filing": 45, "judgment": 30, "enforcement": 15, "supervision": 10}
ROWS_PER_FILE = 50_000
DEFECT_EVERY, DEFECT_AT = 500, 50  # row i is defective when i % 500 == 50
CHANGE_EVERY, CHANGE_AT = 1000, 7  # row i changes in the incremental run when i % 1000 == 7
CHANGED_AT = "2026-01-01 08:00:00"  # later than every generated update time
ROUNDS = CHANGE_EVERY - CHANGE_EVERY // DEFECT_EVERY  # residues that hold no defective row: rounds 0 .. ROUNDS-1


WITHHELD_DEFECT = {"filing": 3, "enforcement": 1}
"""The defect kind that is a bad party ID, per table: its row is applied, the ID withheld."""


def change_residue(round_no: int) -> int:
    """The row-number residue (mod ``CHANGE_EVERY``) that round ``round_no`` changes: 7 for round
    0 (``--change``), then 8, 9, ... skipping the residues of defective rows, never one twice."""
    if not 0 <= round_no < ROUNDS:
        raise ValueError(f"round {round_no} is out of range: {ROUNDS} rounds change disjoint rows (0 .. {ROUNDS - 1})")
    sound = [r for r in range(CHANGE_EVERY) if r % DEFECT_EVERY != DEFECT_AT]
    return sound[(sound.index(CHANGE_AT) + round_no) % len(sound)]


def changed_at(manifest: dict[str, Any], round_no: int) -> str:
    """When round ``round_no``'s changes are stamped: ``CHANGED_AT`` for round 0, and each round
    later by more seconds than any source has rows (a court row's cursor adds its row number in
    seconds), so every cursor of a round is later than every earlier round's."""
    span = max(s["rows"] for s in manifest["sources"].values())
    return str(dt.datetime.fromisoformat(CHANGED_AT) + dt.timedelta(seconds=round_no * span))


def plan(records: int) -> dict[str, int]:
    """Records per source (``<court>_<record type>``, ``<procuratorate>_supervision``), summing to N."""
    if records < 200:
        raise SystemExit("--records must be at least 200 (every source needs rows)")
    out: dict[str, int] = {}
    for rt in COURT_TYPES:
        for c in COURTS:
            out[source_name(c.id, rt)] = records * SHARES[rt] // 100 // len(COURTS)
    for p in PROCURATORATES:
        out[source_name(p.id, "supervision")] = records * SHARES["supervision"] // 100 // len(PROCURATORATES)
    out[source_name(COURTS[0].id, "filing")] += records - sum(out.values())
    return out


# --- DuckDB expressions ---------------------------------------------------------------------
def _list(items: list[str] | tuple[str, ...] | str) -> str:
    return "[" + ", ".join(lit(x) for x in items) + "]"


def _pick(items: list[str] | tuple[str, ...] | str, i: str, salt: str) -> str:
    return f"{_list(items)}[1 + rnd({i}, {lit(salt)}, {len(items)})]"


def _weighted(types: tuple[tuple[str, int], ...], r: str) -> str:
    parts, acc = [], 0
    for code, weight in types[:-1]:
        acc += weight
        parts.append(f"WHEN {r} < {acc} THEN {lit(code)}")
    return f"CASE {' '.join(parts)} ELSE {lit(types[-1][0])} END"


def _name(i: str, salt: str) -> str:
    return (f"{_pick(SURNAMES, i, salt + 's')} || {_pick(GIVEN, i, salt + 'g')} || "
            f"CASE WHEN rnd({i}, {lit(salt + 'n')}, 2) = 0 THEN {_pick(GIVEN, i, salt + 'h')} ELSE '' END")


def _defect(i: str, kinds: int) -> str:
    """Which deliberate defect row ``i`` carries (0 .. kinds-1), NULL for a sound row."""
    return f"CASE WHEN {i} % {DEFECT_EVERY} = {DEFECT_AT} THEN rnd({i}, 'defect', {kinds}) END"


def _salted(sql: str, salt: str) -> str:
    """Draws of one court or procuratorate differ from another's: ``rnd(i, 'x', m)`` -> ``rnd(i, '<salt>x', m)``."""
    return re.sub(r"rnd\((\w+), '", lambda m: f"rnd({m.group(1)}, '{salt}", sql)


MACROS = """
CREATE MACRO messy(s, r) AS CASE
  WHEN r < 45 THEN s
  WHEN r < 60 THEN replace(replace(s, '（', '('), '）', ')')
  WHEN r < 70 THEN replace(s, '（', '(')
  WHEN r < 78 THEN translate(s, '0123456789', '０１２３４５６７８９')
  WHEN r < 86 THEN replace(replace(s, '（', '〔'), '）', '〕')
  WHEN r < 93 THEN replace(replace(s, '）', '） '), '号', ' 号')
  ELSE rtrim(s, '号') END;
CREATE MACRO bad_check(id) AS left(id, 17) || CASE WHEN right(id, 1) = '0' THEN '1' ELSE '0' END;
"""
"""``messy``: the demo generator's case-number styles with its shares; ``bad_check``: a resident
ID with a wrong check digit."""


def _connect(seed: int, folder: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '2GB'; SET temp_directory = {lit(str(folder / 'duckdb.tmp'))}")
    con.execute(f"CREATE MACRO rnd(i, salt, m) AS CAST(hash(i, salt, {int(seed)}) % m AS INTEGER)")
    con.execute(MACROS)
    data = DemoData(seed)  # reuse the demo's identifier generators for valid check digits
    con.register("_ids", pa.table({
        "n": list(range(4096)),
        "resident": [data.resident_id("内0302") for _ in range(4096)],
        "credit": [data.credit_code() for _ in range(4096)],
    }))
    con.execute("CREATE TABLE ids AS SELECT * FROM _ids")
    return con


def _cases(con: duckdb.DuckDBPyConnection, k: int, court: Court, n: int) -> None:
    """``filing_k``: every filing of court k with the values all its tables draw on."""
    category = "CASE " + " ".join(f"WHEN t = {lit(c)} THEN {lit(CASE_TYPES[c][0])}" for c, _ in court.types) + " END"
    other = "内06" if court.code == "内03" else "内03"
    con.execute(_salted(f"""
        CREATE TABLE filing_{k} AS
        WITH b AS (
          SELECT i, {_weighted(court.types, "rnd(i, 't', 100)")} AS t, 2018 + rnd(i, 'y', 6) AS year,
                 {_defect('i', 4)} AS d FROM range({n}) r(i)
        ), c AS (
          SELECT b.*, {category} AS category,
                 '（' || year || '）' || {lit(court.code)} || t || (i + 1) || '号' AS canonical,
                 make_date(year, 1, 1) + rnd(i, 'f', 360) AS filed
          FROM b
        )
        SELECT c.*, CAST(filed AS TIMESTAMP) + INTERVAL 9 HOUR + to_minutes(rnd(i, 'u', 600)) AS updated,
               CASE category WHEN '民事' THEN {_pick(CIVIL_CAUSES, 'i', 'c')} WHEN '行政' THEN {_pick(ADMIN_CAUSES, 'i', 'c')}
                    ELSE {_pick(CRIMINAL_CAUSES, 'i', 'c')} END AS cause,
               CASE WHEN category = '刑事' THEN '乌海市人民检察院' ELSE {_name('i', 'p')} END AS plaintiff,
               CASE WHEN category = '行政' THEN {_pick(AGENCIES, 'i', 'a')} END AS agency,
               CASE WHEN category = '行政' THEN {_pick(AGENCIES, 'i', 'a')} WHEN rnd(i, 'k', 10) < 3
                    THEN {_pick(COMPANIES, 'i', 'o')} ELSE {_name('i', 'd')} END AS defendant,
               CASE WHEN category = '行政' OR rnd(i, 'k', 10) < 3 THEN ids.credit ELSE ids.resident END AS clean_id,
               CASE WHEN d = 3 THEN bad_check(ids.resident) ELSE clean_id END AS defendant_id,
               CASE WHEN category = '民事' THEN CAST(2000 + rnd(i, 'm', 300000000) / 100 AS DECIMAL(18,2))
                    ELSE 0 END AS claim,
               CASE d WHEN 0 THEN '（' || year || '）' || {lit(court.code)} || '民X' || (i + 1) || '号'
                      WHEN 2 THEN '（' || year || '）' || {lit(other)} || t || (i + 1) || '号'
                      ELSE messy(canonical, rnd(i, 'x', 100)) END AS case_no
        FROM c JOIN ids ON ids.n = rnd(i, 'id', 4096)""", f"c{k}"))


def _judgments(con: duckdb.DuckDBPyConnection, k: int, n: int, filings: int) -> None:
    """``judgment_k``: decisions on distinct filings of court k, spread evenly over them."""
    con.execute(_salted(f"""
        CREATE TABLE judgment_{k} AS
        WITH j AS (
          SELECT j AS i, c.canonical, c.category, c.agency, c.year, c.plaintiff, c.defendant, c.clean_id, c.claim,
                 c.filed + 30 + rnd(j, 'dd', 170) AS decided
          FROM range({n}) r(j) JOIN filing_{k} c ON c.i = j * {filings} // {n}
        )
        SELECT j.*, decided + [15, 16, 30][1 + rnd(i, 'e', 3)] AS effective,
               CASE WHEN rnd(i, 'w', 100) < 15 THEN '调解书' ELSE {_pick(["判决书", "裁定书"], 'i', 'w2')} END AS doc_type,
               CASE category WHEN '民事' THEN {_pick(OUTCOMES["民事"], 'i', 'o')}
                    WHEN '行政' THEN {_pick(OUTCOMES["行政"], 'i', 'o')} ELSE '支持' END AS outcome,
               CASE WHEN category = '行政' THEN rnd(i, 'h', 10) < 8 END AS head_appeared,
               CAST(decided AS TIMESTAMP) + INTERVAL 16 HOUR AS updated,
               {_defect('i', 2)} AS d, messy(canonical, rnd(i, 'x', 100)) AS case_no
        FROM j""", f"c{k}"))


def _enforcement(con: duckdb.DuckDBPyConnection, k: int, court: Court, n: int, judgments: int) -> None:
    """``enforcement_k``: enforcement of court k's decisions (case type 执), some closed."""
    con.execute(_salted(f"""
        CREATE TABLE enforcement_{k} AS
        WITH e AS (
          SELECT e AS i, j.canonical AS basis, j.category, j.doc_type, j.plaintiff AS applicant,
                 j.defendant AS respondent, j.clean_id, j.claim,
                 j.effective + 10 + rnd(e, 'f', 110) AS filed, {_defect('e', 2)} AS d,
                 nullif({_pick(list(CLOSURES) + ["", ""], 'e', 'cl')}, '') AS closure
          FROM range({n}) r(e) JOIN judgment_{k} j ON j.i = e * {judgments} // {n}
        ), f AS (
          SELECT e.*, '（' || year(filed) || '）' || {lit(court.code)} || '执' || (i + 1) || '号' AS canonical,
                 CASE WHEN claim > 0 THEN claim ELSE CAST(5000 + rnd(i, 'a', 50000000) / 100 AS DECIMAL(18,2)) END AS due
          FROM e
        )
        SELECT f.* EXCLUDE (clean_id, claim),
               CASE category WHEN '行政' THEN '行政判决书' WHEN '刑事' THEN '刑事判决书'
                    WHEN '民事' THEN CASE WHEN doc_type = '调解书' THEN '民事调解书' ELSE '民事判决书' END END AS basis_type,
               CASE WHEN d = 1 THEN bad_check(clean_id) ELSE clean_id END AS respondent_id,
               CASE WHEN closure = '执行完毕' THEN due
                    ELSE CAST(due * [0, 0, 0.1, 0.4][1 + rnd(i, 'x', 4)] AS DECIMAL(18,2)) END AS executed,
               CASE WHEN closure IS NOT NULL THEN filed + 20 + rnd(i, 'c', 280) END AS closed,
               rnd(i, 'r1', 10) < 8 AS report, rnd(i, 'r2', 10) < 7 AS restrict, rnd(i, 'r3', 100) < 75 AS search,
               CAST(filed AS TIMESTAMP) + INTERVAL 10 HOUR AS updated,
               CASE WHEN d = 0 THEN NULL ELSE messy(canonical, rnd(i, 'm', 100)) END AS case_no
        FROM f""", f"c{k}"))


def _court_select(court: Court, rt: str, k: int) -> str:
    """The court's own rows for ``rt``: its column names, date and amount formats, and key."""
    a = court.vendor == "a"
    day, ts = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S") if a else ("%Y/%m/%d", "%Y-%m-%dT%H:%M:%S")
    key = "'LA' || lpad(CAST(i AS VARCHAR), 9, '0')" if a else "i + 1"
    key = {"filing": key, "judgment": key.replace("LA", "WS"), "enforcement": key.replace("LA", "ZX")}[rt]

    def d(expr: str) -> str:
        return f"strftime({expr}, {lit(day)})"

    def money(expr: str) -> str:
        return expr if a else f"format('{{:,.2f}}', {expr})"

    def flag(expr: str) -> str:
        return f"CASE WHEN {expr} THEN '是' WHEN NOT {expr} THEN '否' END" if a else f"CAST({expr} AS INTEGER)"

    updated = "updated" if a else f"strftime(updated, {lit(ts)})"
    bad_date = "'2024-13-45'" if a else "'2024/13/45'"
    values = {
        "filing": ["case_no", lit(court.name), "cause", f"CASE WHEN d = 1 THEN {bad_date} ELSE {d('filed')} END",
                   "plaintiff", "defendant", "defendant_id", "agency", money("claim"), updated],
        "judgment": ["CASE WHEN d = 1 THEN NULL ELSE case_no END", "doc_type", "outcome",
                     f"CASE WHEN d = 0 THEN {lit('2023-02-30' if a else '2023/02/30')} ELSE {d('decided')} END",
                     d("effective"), "agency", flag("head_appeared"), updated],
        "enforcement": ["case_no", d("filed"), "basis_type", "basis" if a else "messy(basis, rnd(i, 'b', 100))",
                        "applicant", "respondent", "respondent_id", money("due"), money("executed"), "closure",
                        d("closed"), flag("report"), flag("restrict"), flag("search"), updated],
    }[rt]
    return _salted(f"SELECT {key}, {', '.join(values)} FROM {rt}_{k} ORDER BY i", f"c{k}")


# --- writing the stores -----------------------------------------------------------------------
def _load_pg(con: duckdb.DuckDBPyConnection, engine: sa.Engine, schema: str, court: Court, k: int, tmp: Path) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
    for rt in COURT_TYPES:
        table, key, cursor, columns = TABLES[court.vendor][rt]
        csv = tmp / f"{schema}.{table}.csv"
        con.execute(f"COPY ({_court_select(court, rt, k)}) TO {lit(str(csv))} (FORMAT csv, HEADER false)")
        cols = ", ".join(f"{c} {t}" for c, t, _ in columns)
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {schema}.{table} ({cols})"))
            cursor_obj = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor_obj.copy(f"COPY {schema}.{table} FROM STDIN (FORMAT csv)") as copy, open(csv, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    copy.write(chunk)
            # what a case-management system would have: a key, and an index on its update time
            conn.execute(sa.text(f"ALTER TABLE {schema}.{table} ADD PRIMARY KEY ({key})"))
            conn.execute(sa.text(f"CREATE INDEX ON {schema}.{table} ({cursor}, {key})"))
            conn.execute(sa.text(f"ANALYZE {schema}.{table}"))
        csv.unlink()


def _supervision(con: duckdb.DuckDBPyConnection, p: int, proc: Procuratorate, n: int, counts: list[tuple[int, int]]) -> None:
    """``supervision_p``: measures aimed at the courts' decisions and enforcement cases."""
    con.execute("CREATE OR REPLACE TEMP TABLE counts AS SELECT * FROM (VALUES "
                + ", ".join(f"({k}, {j}, {e})" for k, (j, e) in enumerate(counts)) + ") t(court, jn, en)")
    judgments = " UNION ALL ".join(f"SELECT {k} AS court, i, canonical, effective FROM judgment_{k}" for k in range(len(COURTS)))
    enforcement = " UNION ALL ".join(f"SELECT {k} AS court, i, canonical, filed FROM enforcement_{k}" for k in range(len(COURTS)))
    measure = _list([m for m, _ in MEASURES])
    domain = _list([d for _, d in MEASURES])
    con.execute(_salted(f"""
        CREATE TABLE supervision_{p} AS
        WITH b AS (
          SELECT s, rnd(s, 'm', {len(MEASURES)}) + 1 AS m, rnd(s, 'c', {len(COURTS)}) AS court,
                 rnd(s, 'ti', 1073741824) AS th, {_defect('s', 4)} AS d FROM range({n}) r(s)
        ), t AS (
          SELECT b.*, {measure}[m] AS measure, {domain}[m] AS domain,
                 CASE WHEN {domain}[m] <> '执行' THEN th % jn END AS j_idx,
                 CASE WHEN {domain}[m] = '执行' THEN th % en END AS e_idx
          FROM b JOIN counts USING (court)
        ), x AS (  -- equality joins only: a condition on t alone in ON makes DuckDB 1.5 join without a hash
          SELECT t.*, coalesce(j.canonical, e.canonical) AS target, j.effective,
                 coalesce(j.effective, e.filed) + 20 + rnd(s, 'i', 200) AS issued
          FROM t LEFT JOIN ({judgments}) j ON j.court = t.court AND j.i = t.j_idx
                 LEFT JOIN ({enforcement}) e ON e.court = t.court AND e.i = t.e_idx
        ), r AS (
          SELECT x.*, CASE WHEN d = 1 THEN issued - 30
                           WHEN rnd(s, 'r', 10) < 7 THEN issued + 10 + rnd(s, 'rd', 110) END AS replied
          FROM x
        )
        SELECT s AS i, d,
               {lit(proc.prefix)} || CASE domain WHEN '民事' THEN '民监' WHEN '行政' THEN '行监' ELSE '执监' END
                 || '〔' || year(issued) || '〕' || (s + 1) || '号' AS doc_no,
               CASE WHEN d = 0 THEN '口头建议' ELSE measure END AS measure, domain, {lit(proc.name)} AS issuer,
               CASE WHEN d = 2 THEN '无案号' ELSE messy(target, rnd(s, 'x', 100)) END AS target_case_no,
               strftime(issued, '%Y-%m-%d') AS issued_date,
               strftime(issued + CASE WHEN domain = '执行' THEN 90 ELSE 60 END, '%Y-%m-%d') AS due_date,
               strftime(replied, '%Y-%m-%d') AS replied_date,
               CASE WHEN replied IS NOT NULL THEN {_pick(["采纳", "采纳", "部分采纳", "不采纳"], 's', 'rr')} END AS reply_result,
               strftime(effective, '%Y-%m-%d') AS target_effective_date,
               strftime(coalesce(greatest(replied, issued), issued), '%Y-%m-%d') || ' 11:00:00' AS source_updated_at
        FROM r""", f"p{p}"))


def _write_drop(con: duckdb.DuckDBPyConnection, relation: str, proc: Procuratorate, folder: Path, stem: str) -> list[str]:
    """CSV files of ``ROWS_PER_FILE`` rows as the procuratorate exports them; a defect of kind 3
    gets an extra field. Lines are joined in DuckDB and encoded once per file."""
    folder.mkdir(parents=True, exist_ok=True)
    eol = "\r\n" if proc.encoding == "gbk" else "\n"
    line = " || ',' || ".join(f"coalesce({f}, '')" for f in SUPERVISION_FIELDS) + " || CASE WHEN d = 3 THEN ',多余字段' ELSE '' END"
    chunks = con.execute(
        f"SELECT i // {ROWS_PER_FILE} AS n, string_agg({line}, {lit(eol)} ORDER BY i) FROM {relation} GROUP BY 1 ORDER BY 1"
    ).fetchall()
    names = []
    for n, text in chunks:
        path = folder / f"{stem}_{n:04d}.csv"
        path.write_bytes((",".join(proc.header) + eol + text + eol).encode(proc.encoding))
        names.append(path.name)
    return names


def generate(home: Home, records: int, *, sftp_port: int, seed: int = 42, base_url: str = PG_URL,
             tag: str | None = None, memory_limit: str | None = None,
             warehouse: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the institutions' stores and ``hub.yaml`` (``warehouse``: its ``warehouse:`` section;
    None, the embedded lakehouse); return (and save) the manifest."""
    tag = tag or uuid.uuid4().hex[:8]
    work = home.root / "bench"
    work.mkdir(parents=True, exist_ok=True)
    counts = plan(records)
    con = _connect(seed, work)
    engine = sa.create_engine(base_url)
    defects: dict[str, int] = {}
    withheld: dict[str, int] = {}
    try:
        for k, court in enumerate(COURTS):
            n = {rt: counts[source_name(court.id, rt)] for rt in COURT_TYPES}
            _cases(con, k, court, n["filing"])
            _judgments(con, k, n["judgment"], n["filing"])
            _enforcement(con, k, court, n["enforcement"], n["judgment"])
            _load_pg(con, engine, schema_name(tag, court), court, k, work)
            for rt in COURT_TYPES:
                kind = WITHHELD_DEFECT.get(rt, -1)
                defects[source_name(court.id, rt)] = _count(con, f"SELECT count(*) FROM {rt}_{k} WHERE d <> {kind}")
                withheld[source_name(court.id, rt)] = _count(con, f"SELECT count(*) FROM {rt}_{k} WHERE d = {kind}")
        sizes = [(counts[source_name(c.id, "judgment")], counts[source_name(c.id, "enforcement")]) for c in COURTS]
        for p, proc in enumerate(PROCURATORATES):
            name = source_name(proc.id, "supervision")
            _supervision(con, p, proc, counts[name], sizes)
            _write_drop(con, f"supervision_{p}", proc, drop_dir(home, proc), "jdcs")
            defects[name] = _count(con, f"SELECT count(*) FROM supervision_{p} WHERE d IS NOT NULL")
            con.execute(f"COPY supervision_{p} TO {lit(str(work / f'{name}.parquet'))} (FORMAT parquet)")
    finally:
        con.close()
        engine.dispose()
    manifest = {"records": records, "seed": seed, "tag": tag, "pg_url": base_url, "sources": {
        name: {"rows": rows, "defects": defects[name], "withheld": withheld.get(name, 0)} for name, rows in counts.items()}}
    (work / "manifest.json").write_text(json.dumps(manifest, indent=1))
    write_config(home, tag, base_url, sftp_port, memory_limit, warehouse)
    return manifest


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchall()[0][0])


def change(home: Home, round_no: int = 0) -> dict[str, int]:
    """Change 0.1 % of the records at their sources; rows per source. Round 0 (``--change``)
    changes row numbers ending in 007; round R another residue (``change_residue``), stamped
    later than every earlier round (``changed_at``), so rounds change disjoint rows."""
    manifest = json.loads((home.root / "bench" / "manifest.json").read_text())
    residue, stamped = change_residue(round_no), changed_at(manifest, round_no)
    engine = sa.create_engine(manifest["pg_url"])
    changed: dict[str, int] = {}
    when = f"TIMESTAMP '{stamped}'"
    try:
        with engine.begin() as conn:
            for court in COURTS:
                schema = schema_name(manifest["tag"], court)
                for rt in COURT_TYPES:
                    table, key, cursor, _ = TABLES[court.vendor][rt]
                    a = court.vendor == "a"
                    i = f"CAST(substr({key}, 3) AS BIGINT)" if a else f"({key} - 1)"
                    stamp = f"{when} + {i} * INTERVAL '1 second'"
                    cur = stamp if a else f"to_char({stamp}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
                    sets = {
                        "filing": "yg = yg || '等'" if a else "plaintiff_name = plaintiff_name || '等'",
                        "judgment": "cpjg = '改判'" if a else "result = '改判'",
                        "enforcement": ("jafs = '执行完毕', jarq = '2025-12-31', sjdw = sqbd" if a else
                                        "closed_how = '执行完毕', closed_on = '2025/12/31', amount_paid = amount_due"),
                    }[rt]
                    result = conn.execute(sa.text(
                        f"UPDATE {schema}.{table} SET {sets}, {cursor} = {cur} WHERE {i} % {CHANGE_EVERY} = {residue}"))
                    changed[source_name(court.id, rt)] = result.rowcount
    finally:
        engine.dispose()
    con = duckdb.connect()
    try:
        for proc in PROCURATORATES:
            name = source_name(proc.id, "supervision")
            con.execute(f"""CREATE TABLE {name} AS SELECT * REPLACE (
                  strftime(CAST(issued_date AS DATE) + 30, '%Y-%m-%d') AS replied_date,
                  CASE WHEN reply_result = '采纳' THEN '部分采纳' ELSE '采纳' END AS reply_result,
                  {lit(stamped)} AS source_updated_at)
                FROM read_parquet({lit(str(home.root / 'bench' / f'{name}.parquet'))})
                WHERE i % {CHANGE_EVERY} = {residue}""")
            _write_drop(con, name, proc, drop_dir(home, proc), "jdcs_changes" + (f"_r{round_no:03d}" if round_no else ""))
            changed[name] = _count(con, f"SELECT count(*) FROM {name}")
    finally:
        con.close()
    return changed


def drop_schemas(home: Home) -> None:
    """Remove this run's court schemas from PostgreSQL."""
    manifest = json.loads((home.root / "bench" / "manifest.json").read_text())
    engine = sa.create_engine(manifest["pg_url"])
    try:
        with engine.begin() as conn:
            for court in COURTS:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema_name(manifest['tag'], court)} CASCADE"))
    finally:
        engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--home", required=True)
    p.add_argument("--records", type=int)
    p.add_argument("--sftp-port", type=int)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--pg-url", default=PG_URL)
    p.add_argument("--tag", help="names this run's PostgreSQL schemas (default: random)")
    p.add_argument("--duckdb-memory-limit", help="hub.duckdb_memory_limit in the hub.yaml written, e.g. 1GB")
    p.add_argument("--warehouse", type=json.loads, help="the hub.yaml's warehouse: section, as JSON (default: none, "
                   "the embedded lakehouse)")
    p.add_argument("--change", action="store_true", help="change 0.1%% of the generated records")
    p.add_argument("--round", type=int, default=0, help="with --change: which round's 0.1%% (default 0: the "
                   "incremental run's; each round changes other rows, stamped later)")
    args = p.parse_args()
    home = Home.find(args.home)
    if args.change:
        print(json.dumps(change(home, args.round)))
    else:
        if args.records is None or args.sftp_port is None:
            p.error("--records and --sftp-port are required unless --change")
        print(json.dumps(generate(home, args.records, sftp_port=args.sftp_port, seed=args.seed,
                                  base_url=args.pg_url, tag=args.tag, memory_limit=args.duckdb_memory_limit,
                                  warehouse=args.warehouse)))


if __name__ == "__main__":
    main()
