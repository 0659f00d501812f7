"""What goes into an office's bundle: a full snapshot, or the changes since its last bundle.

The hub remembers, per office and dataset, what the office holds: each shared row's record
key, a hash of the row *as shared* (after filters and column treatments: DuckDB's 64-bit
``hash`` of its values, only ever compared with the same record's previous hash, there to
notice changes, never to prove anything: bundles are signed with SHA-256 digests) and the
stored version it was shared from (batch, source row, run), in
``state/offices/<office>/<dataset>.parquet``, tagged with the share's fingerprint. An
incremental bundle carries the rows whose shared form is new or changed (``_change`` = new /
changed) and the keys it no longer shares (withdrawn: deleted at the source, or no longer
matching the agreement). The memory is replaced only after the bundle is safely written, so a
failed publish resends the same changes next time.

Hashing every shared row on every publish would make a 0.1 % change cost as much as a full
extract, so an incremental publish first reads only keys and stored versions: a row whose
version and share fingerprint are what the office was last sent keeps its remembered hash,
and only new, re-applied or re-specified rows are evaluated (masked, hashed) at all. (A
stored row never changes in place: the warehouse replaces it with a row from a new batch.)
All of it runs in DuckDB and streams to Parquet files, so an extract larger than memory
spills to DuckDB's temporary directory instead of being held in Arrow.

Each dataset also gets a receipt naming, per bundle row, the record and the warehouse
version sent (``hub.receipts`` stores them), so every published row traces to its source.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from hub.agreements import select_sql
from hub.bundle import canonical_json, write_parquet
from hub.config import Agreement, Share
from hub.normalize import lit, q

SHARED_FORM_VERSION = 1
"""Bump when ``agreements.select_sql`` changes how a treatment renders a value: every
remembered hash is then recomputed instead of reused."""
FINGERPRINT_KEY = b"share_fingerprint"
VERSION = ("_batch_id", "_source_row", "_run_id")
BATCH_ROWS = 100_000


def _state_path(state_dir: Path, office: str, dataset: str) -> Path:
    return state_dir / "offices" / office / f"{dataset}.parquet"


def _fingerprint(con: duckdb.DuckDBPyConnection, share: Share) -> str:
    """Changes whenever the shared form of an unchanged stored row could change."""
    key_probe = None
    if "hash" in share.columns.values():  # a new identifier hash key changes every hashed value
        key_probe = con.sql("SELECT hub_keyed_hash('share fingerprint')").fetchall()[0][0]
    # DuckDB's hash() is not promised stable across releases: after an upgrade rows are rehashed once
    spec = {"share": share.model_dump(mode="json"), "version": SHARED_FORM_VERSION, "key": key_probe,
            "duckdb": duckdb.__version__}
    return hashlib.sha256(canonical_json(spec)).hexdigest()


def _load_previous(con: duckdb.DuckDBPyConnection, path: Path, fingerprint: str) -> bool:
    """``_previous`` holds what the office was last sent; versions only where still comparable.

    Holdings from before versions were remembered carry a text hash no longer computed, and
    those from before hashes were 64-bit a 128-bit one that Parquet stored as a rounded DOUBLE:
    their rows compare as changed, so the office is sent each of them once more."""
    con.execute("CREATE OR REPLACE TEMP TABLE _previous (record_key VARCHAR, _row_hash UBIGINT, "
                "_batch_id VARCHAR, _source_row BIGINT, _run_id VARCHAR)")
    if not path.exists():
        return False
    schema = pq.read_schema(path)
    current = set(VERSION) <= set(schema.names) and schema.field("_row_hash").type == pa.uint64()
    same = current and (schema.metadata or {}).get(FINGERPRINT_KEY) == fingerprint.encode()
    row_hash = "_row_hash" if current else "NULL"
    version = ", ".join(VERSION) if same else "NULL, NULL, NULL"
    con.execute(f"INSERT INTO _previous SELECT record_key, {row_hash}, {version} FROM read_parquet({lit(str(path))})")
    return True


def build(
    con: duckdb.DuckDBPyConnection, agreement: Agreement, state_dir: Path, work_dir: Path, *, full: bool
) -> tuple[dict[str, Path], dict[str, Path], dict[str, Path]]:
    """(a Parquet file per dataset for the bundle, in ``work_dir``; what the office will hold
    once it has them, as files for ``remember``; a receipt file per dataset).

    A receipt has one row per bundle row: ``bundle_row`` (1-based position in its Parquet
    file), ``change`` (snapshot / new / changed / withdrawn), ``record_key`` and ``row_hash``
    (the warehouse version sent; NULL for a withdrawal)."""
    datasets, holdings, receipts = {}, {}, {}
    for share in agreement.shares:
        rt = share.record_type
        sql, params = select_sql(share, with_key=True, with_version=True, ordered=False)
        cols = [c for c, t in share.columns.items() if t != "drop"]
        previous = _state_path(state_dir, agreement.office, rt)
        fingerprint = _fingerprint(con, share)
        try:
            has_previous = _load_previous(con, previous, fingerprint)
            snapshot = full or not has_previous
            row_hash = "hash(" + ", ".join(f"c.{q(c)}" for c in cols) + ")"  # 8x cheaper than md5 of the row's JSON
            same = "coalesce(" + " AND ".join(f"p.{v} = c.{v}" for v in VERSION) + ", false)"
            keep = ", ".join(VERSION)
            pending = previous.with_name(previous.name + ".pending")
            pending.parent.mkdir(parents=True, exist_ok=True)
            remember_to = (f"TO {lit(str(pending))} (FORMAT parquet, COMPRESSION zstd, "
                           f"KV_METADATA {{{FINGERPRINT_KEY.decode()}: {lit(fingerprint)}}})")
            if snapshot:
                # the share is evaluated once (masking and keyed hashes included) and numbered as
                # it is stored, so the bundle file and its receipt agree row for row
                con.execute(f"""CREATE OR REPLACE TEMP TABLE _cur AS
                                SELECT row_number() OVER (ORDER BY c.record_key) AS _bundle_row, c.*,
                                       CASE WHEN {same} THEN p._row_hash ELSE {row_hash} END AS _row_hash
                                FROM ({sql}) c LEFT JOIN _previous p USING (record_key)""", params)
                con.execute(f"COPY (SELECT record_key, _row_hash, {keep} FROM _cur) {remember_to}")
                out, shown, change = "_cur", cols, "'snapshot'"
            else:
                # which records' stored versions differ from the ones last sent, from keys alone;
                # only those are evaluated (masked, hashed) and compared by their shared form
                keys_sql, key_params = select_sql(share, with_key=True, with_version=True, ordered=False, columns=False)
                con.execute(f"""CREATE OR REPLACE TEMP TABLE _cur AS
                                SELECT c.*, p.record_key IS NOT NULL AS _held, {same} AS _same, p._row_hash AS _previous_hash
                                FROM ({keys_sql}) c LEFT JOIN _previous p USING (record_key)""", key_params)
                con.execute("CREATE OR REPLACE TEMP TABLE _stale AS SELECT record_key FROM _cur WHERE NOT _same")
                stale_sql, stale_params = select_sql(share, with_key=True, with_version=True, ordered=False,
                                                     keys_from="_stale")
                con.execute(f"CREATE OR REPLACE TEMP TABLE _fresh AS SELECT c.*, {row_hash} AS _row_hash FROM ({stale_sql}) c",
                            stale_params)
                con.execute(f"""COPY (SELECT c.record_key, CASE WHEN c._same THEN c._previous_hash ELSE f._row_hash END AS _row_hash,
                                             {", ".join(f"c.{v}" for v in VERSION)}
                                      FROM _cur c LEFT JOIN _fresh f USING (record_key)) {remember_to}""")
                nulls = ", ".join(f"NULL AS {q(c)}" for c in cols)
                con.execute(f"""CREATE OR REPLACE TEMP TABLE _out AS
                                SELECT row_number() OVER (ORDER BY record_key) AS _bundle_row, * FROM (
                                  SELECT CASE WHEN c._held THEN 'changed' ELSE 'new' END AS _change, f.record_key, f._version,
                                         {", ".join(f"f.{q(c)}" for c in cols)}
                                  FROM _fresh f JOIN _cur c USING (record_key)
                                  WHERE NOT c._held OR c._previous_hash IS DISTINCT FROM f._row_hash
                                  UNION ALL
                                  SELECT 'withdrawn', p.record_key, NULL, {nulls} FROM _previous p ANTI JOIN _cur c USING (record_key))""")
                out, shown, change = "_out", ["_change", "record_key", *cols], "_change"
            holdings[rt] = pending
            datasets[rt] = work_dir / f"{rt}.parquet"
            write_parquet(con.sql(f"SELECT {', '.join(q(c) for c in shown)} FROM {out} ORDER BY _bundle_row")
                          .to_arrow_reader(BATCH_ROWS), datasets[rt])
            receipts[rt] = work_dir / f"{rt}.receipt.parquet"
            con.execute(f"""COPY (SELECT _bundle_row AS bundle_row, {change} AS change, record_key, _version AS row_hash
                                  FROM {out} ORDER BY _bundle_row) TO {lit(str(receipts[rt]))} (FORMAT parquet)""")
        finally:
            for temp in ("_previous", "_cur", "_stale", "_fresh", "_out"):
                con.execute(f"DROP TABLE IF EXISTS {temp}")
    return datasets, holdings, receipts


def remember(state_dir: Path, office: str, holdings: dict[str, Path]) -> None:
    """Record what the office now holds (called once its bundle is written)."""
    for dataset, pending in holdings.items():
        os.replace(pending, _state_path(state_dir, office, dataset))
