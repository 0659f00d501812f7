"""What goes into an office's bundle: a full snapshot, or the changes since its last bundle.

The warehouse remembers, per office and dataset, what the office holds (``hub_holdings``):
each shared row's record key and a hash of the row *as shared* (after filters and column
treatments: DuckDB's 64-bit ``hash`` of its values, only ever compared with the same record's
previous hash, there to notice changes, never to prove anything: bundles are signed with
SHA-256 digests; which version was sent is in ``hub_receipts``); beside it, the share's
fingerprint (``hub_holdings_state``) and the landed batches the holdings already account for
(``hub_holdings_batches``). An incremental bundle carries the rows whose shared form is new
or changed (``_change`` = new / changed) and the keys it no longer shares (withdrawn: deleted
at the source, or no longer matching the agreement). The holdings change only after the
bundle is safely written (``remember``), so a failed publish resends the same changes next
time.

A stored row never changes in place: every change to a shared table arrives as a row of a
new batch (a new version, a tombstone), and a record whose current row is older than the
holdings has not changed. So an incremental publish of a shared table reads only the rows
that batches the holdings do not yet account for made current, and costs in proportion to
what changed, not to what is shared. Marts are rebuilt rather than versioned, and a new
share fingerprint makes every shared form suspect: those compare every shared row with what
the office holds. Everything runs in DuckDB and streams to Parquet, so an extract larger
than memory spills to DuckDB's temporary directory instead of being held in Arrow.

Each dataset also gets a receipt naming, per bundle row, the record and the warehouse
version sent (``hub.publish.receipts`` stores them), so every published row traces to its source.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from hub.config import Agreement, Share
from hub.publish.agreements import office_key, select_sql, stored_by
from hub.publish.bundle import write_parquet
from hub.signing.primitives import canonical_json
from schemas.marts import MART_TABLES
from schemas.sql import lit, q
from schemas.tables import history_table

log = logging.getLogger(__name__)

SHARED_FORM_VERSION = 1
"""Bump when ``agreements.select_sql`` changes how a treatment renders a value: every
remembered hash is then recomputed instead of reused."""
BATCH_ROWS = 100_000

@dataclass(frozen=True)
class Holdings:
    """What an office will hold of one dataset once its bundle is written: temp tables on the
    publishing connection, applied (and dropped) by ``remember``."""

    office: str
    dataset: str
    fingerprint: str
    rows: str  # the evaluated share: its record_key and _row_hash are what the office holds
    touched: str | None  # keys whose holdings ``rows`` replaces; None: it replaces them all
    batches: str  # batch ids the holdings then account for, besides those they already did
    legacy: Path | None  # a pre-warehouse holdings file (imported, or unreadable), removed once remembered
    temps: tuple[str, ...]  # every temp table of this dataset's extract
    changed: bool  # the office would get something it does not hold (a row new, changed or withdrawn)


def _legacy_path(state_dir: Path, office: str, dataset: str) -> Path:
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


def held_state(con: duckdb.DuckDBPyConnection, office: str) -> dict[str, str]:
    """Per dataset the office holds, the share fingerprint its holdings were remembered under."""
    return dict(con.execute("SELECT dataset, fingerprint FROM hub_holdings_state WHERE office = ?", [office]).fetchall())


def _held_fingerprint(con: duckdb.DuckDBPyConnection, state: dict[str, str], office: str, dataset: str,
                      legacy: Path) -> str | None | bool:
    """The fingerprint the office's holdings were remembered under; False when it holds
    nothing. Holdings from before the warehouse kept them (``legacy``, a Parquet file) are
    imported into ``_legacy`` under no fingerprint, so every row is compared once; those from
    before hashes were 64-bit carry a hash no longer computed, and their rows go out once more
    as changed. A file that cannot be read counts as nothing held: the office gets a snapshot."""
    if dataset in state:
        return state[dataset]
    if not legacy.exists():
        return False
    try:
        schema = pq.read_schema(legacy)
        current = "_row_hash" in schema.names and schema.field("_row_hash").type == pa.uint64()
        row_hash = "_row_hash" if current else "NULL::UBIGINT"
        con.execute(f"CREATE OR REPLACE TEMP TABLE _legacy AS SELECT record_key, {row_hash} AS row_hash "
                    f"FROM read_parquet({lit(str(legacy))})")
    except (pa.ArrowException, OSError, duckdb.Error) as exc:
        log.warning("%s: %s holds what office %s was sent but cannot be read (%s); sending it a snapshot of %s, "
                    "which replaces its copy whole", dataset, legacy, office, exc, dataset)
        return False
    return None


def _pending(con: duckdb.DuckDBPyConnection, agreement: Agreement) -> None:
    """``_pending``: per shared table, the applied batches its holdings do not account for yet,
    with when each landed: one read of the ledger for all the office's datasets."""
    versioned = [share.record_type for share in agreement.shares if share.record_type not in MART_TABLES]
    con.execute("""CREATE OR REPLACE TEMP TABLE _pending AS
                   SELECT b.record_type AS dataset, b.batch_id, b.landed_at FROM hub_batches b
                   ANTI JOIN (SELECT dataset, batch_id FROM hub_holdings_batches WHERE office = $office) h
                          ON h.dataset = b.record_type AND h.batch_id = b.batch_id
                   WHERE list_contains($datasets, b.record_type)""",
                {"office": agreement.office, "datasets": versioned or [""]})  # [] would have no type


def _first_landed(con: duckdb.DuckDBPyConnection, dataset: str) -> dt.datetime:
    """The earliest landing time among the dataset's pending batches (the far future when none)."""
    first = con.execute("SELECT min(landed_at) FROM _pending WHERE dataset = ?", [dataset]).fetchall()[0][0]
    return first or dt.datetime(9999, 1, 1)


def _differs(con: duckdb.DuckDBPyConnection, cur: str, held: str) -> bool:
    """A snapshot ``cur`` holds a row, or a version of one, that ``held`` does not, or lacks one it holds."""
    return con.execute(f"""SELECT EXISTS (SELECT record_key, _row_hash FROM {cur} EXCEPT SELECT record_key, row_hash FROM {held})
                           OR EXISTS (SELECT record_key, row_hash FROM {held} EXCEPT SELECT record_key, _row_hash FROM {cur})
                        """).fetchone()[0]  # type: ignore[index]


def build(
    con: duckdb.DuckDBPyConnection, agreement: Agreement, state_dir: Path, work_dir: Path, *, full: bool,
    state: dict[str, str] | None = None,
) -> tuple[dict[str, Path], list[Holdings], dict[str, str]]:
    """(a Parquet file per dataset for the bundle, in ``work_dir``; what the office will hold
    once it has them, for ``remember``; a receipt query per dataset, valid until then).

    A receipt has one row per bundle row: ``bundle_row`` (1-based position in its Parquet
    file), ``change`` (snapshot / new / changed / withdrawn), ``record_key`` and ``row_hash``
    (the warehouse version sent; NULL for a withdrawal). ``state_dir`` is read only for
    holdings files older than ``hub_holdings``; ``state`` is the office's ``held_state`` (read
    here when not given)."""
    # each dataset's rows are stored sorted by record key and read back in that order, so a
    # row's rowid numbers it in the file and the receipt alike (DuckDB's default, required here)
    con.execute("SET preserve_insertion_order = true")
    office = agreement.office
    datasets, holdings, receipts = {}, [], {}
    # the batches accounted for are fixed first: one applied while the share is read is left
    # for the next bundle, which then reads its records again
    _pending(con, agreement)
    state = held_state(con, office) if state is None else state
    for n, share in enumerate(agreement.shares):
        rt = share.record_type
        cols = [c for c, t in share.columns.items() if t != "drop"]
        row_hash = "hash(" + ", ".join(f"c.{q(c)}" for c in cols) + ")"  # far cheaper than md5 of the row's JSON
        fingerprint = _fingerprint(con, share)
        legacy = _legacy_path(state_dir, office, rt)
        held_under = _held_fingerprint(con, state, office, rt, legacy)
        cur, changes, touched, batches = (f"_{k}_{n}" for k in ("cur", "changes", "touched", "batches"))
        versioned = rt not in MART_TABLES
        con.execute(f"CREATE OR REPLACE TEMP TABLE {batches} AS SELECT batch_id FROM _pending WHERE dataset = ?", [rt])
        held = ("_legacy" if held_under is None else
                f"(SELECT * EXCLUDE (office, dataset) FROM hub_holdings WHERE office = {lit(office)} AND dataset = {lit(rt)})")
        cdc = not full and versioned and held_under == fingerprint
        try:
            if full or held_under is False:
                # evaluated once (masking and keyed hashes included) for the file, the receipt
                # and the holdings
                sql, params = select_sql(share, with_key=True, with_version=True, ordered=False)
                con.execute(f"CREATE OR REPLACE TEMP TABLE {cur} AS SELECT c.*, {row_hash} AS _row_hash "
                            f"FROM ({sql}) c ORDER BY c.record_key", params)
                out, shown, change = cur, [office_key(share), *map(q, cols)], "'snapshot'"
                changed = held_under != fingerprint or _differs(con, cur, held)
            else:
                since = None
                if cdc:  # only what batches the holdings do not account for yet made current
                    since = (batches, _first_landed(con, rt))
                    con.execute(f"CREATE OR REPLACE TEMP TABLE {touched} AS SELECT DISTINCT record_key "
                                f"FROM {q(history_table(rt))} WHERE is_current AND {stored_by(*since)}")
                    held = f"(SELECT * FROM {held} WHERE record_key IN (SELECT record_key FROM {touched}))"
                sql, params = select_sql(share, with_key=True, with_version=True, ordered=False, batches_from=since)
                con.execute(f"CREATE OR REPLACE TEMP TABLE {cur} AS SELECT c.*, {row_hash} AS _row_hash FROM ({sql}) c",
                            params)
                con.execute(f"CREATE OR REPLACE TEMP TABLE _held AS SELECT record_key, row_hash FROM {held}")
                nulls = ", ".join(f"NULL AS {q(c)}" for c in cols)
                con.execute(f"""CREATE OR REPLACE TEMP TABLE {changes} AS
                                SELECT CASE WHEN h.record_key IS NULL THEN 'new' ELSE 'changed' END AS _change,
                                       c.record_key, c._version, {", ".join(f"c.{q(c)}" for c in cols)}
                                FROM {cur} c LEFT JOIN _held h USING (record_key)
                                WHERE h.record_key IS NULL OR h.row_hash IS DISTINCT FROM c._row_hash
                                UNION ALL
                                SELECT 'withdrawn', h.record_key, NULL, {nulls} FROM _held h ANTI JOIN {cur} c USING (record_key)
                                ORDER BY record_key""")
                out, shown, change = changes, ["_change", office_key(share), *map(q, cols)], "_change"
                changed = con.execute(f"SELECT EXISTS (FROM {changes})").fetchone()[0]  # type: ignore[index]
        finally:
            for temp in ("_legacy", "_held"):
                con.execute(f"DROP TABLE IF EXISTS {temp}")
        holdings.append(Holdings(office, rt, fingerprint, cur, touched if cdc else None, batches,
                                 legacy if legacy.exists() else None, (cur, changes, touched, batches), changed))
        datasets[rt] = work_dir / f"{rt}.parquet"
        write_parquet(con.sql(f"SELECT {', '.join(shown)} FROM {out}").to_arrow_reader(BATCH_ROWS), datasets[rt])
        receipts[rt] = (f"SELECT rowid + 1 AS bundle_row, {change} AS change, record_key, _version AS row_hash "
                        f"FROM {out}")
    con.execute("DROP TABLE _pending")
    return datasets, holdings, receipts


def forget_unshared(con: duckdb.DuckDBPyConnection, office: str, shared: list[str], state: dict[str, str]) -> None:
    """Drop what the office held of datasets its agreement no longer shares (its new bundle
    went out without them); ``state`` is its ``held_state`` when the bundle was built."""
    if not set(state) - set(shared):
        return
    for table in ("hub_holdings", "hub_holdings_state", "hub_holdings_batches"):
        con.execute(f"DELETE FROM {table} WHERE office = ? AND NOT list_contains(?, dataset)", [office, shared])


def remember(con: duckdb.DuckDBPyConnection, holdings: list[Holdings]) -> None:
    """Record what the office now holds (called once its bundle is written, inside the
    transaction that records the bundle's receipts): each table written by one statement for
    all the office's datasets where it can be, since every lakehouse statement costs a read of
    its catalog."""
    if not holdings:
        return
    office = {"office": holdings[0].office}
    # a snapshot replaces what the office holds of its dataset, but only the rows that differ are
    # rewritten: the lakehouse keeps every version for the snapshot retention
    for h in holdings:
        if h.touched is None:
            con.execute(f"""DELETE FROM hub_holdings WHERE office = $office AND dataset = {lit(h.dataset)}
                            AND NOT EXISTS (SELECT 1 FROM {h.rows} c WHERE c.record_key = hub_holdings.record_key
                                            AND c._row_hash = hub_holdings.row_hash)""", office)
    if replaced := [f"SELECT {lit(h.dataset)}, record_key FROM {h.touched}" for h in holdings if h.touched]:
        con.execute("DELETE FROM hub_holdings WHERE office = $office AND (dataset, record_key) IN ("
                    + " UNION ALL ".join(replaced) + ")", office)
    con.execute("INSERT INTO hub_holdings " + " UNION ALL ".join(
        f"SELECT $office, {lit(h.dataset)}, record_key, _row_hash FROM {h.rows}" if h.touched else
        f"""SELECT $office, {lit(h.dataset)}, c.record_key, c._row_hash FROM {h.rows} c ANTI JOIN
            (SELECT record_key, row_hash FROM hub_holdings WHERE office = $office AND dataset = {lit(h.dataset)}) k
            ON k.record_key = c.record_key AND k.row_hash = c._row_hash""" for h in holdings), office)
    con.execute("INSERT INTO hub_holdings_batches " + " UNION ALL ".join(
        f"SELECT $office, {lit(h.dataset)}, batch_id FROM {h.batches}" for h in holdings), office)
    con.execute("DELETE FROM hub_holdings_state WHERE office = $office AND list_contains($datasets, dataset)",
                office | {"datasets": [h.dataset for h in holdings]})
    con.execute("INSERT INTO hub_holdings_state SELECT $office, unnest($datasets), unnest($fingerprints), now()",
                office | {"datasets": [h.dataset for h in holdings], "fingerprints": [h.fingerprint for h in holdings]})
    for temp in (t for h in holdings for t in h.temps):  # a failed remember leaves them to the connection's end
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    for h in holdings:
        if h.legacy is not None:
            h.legacy.unlink(missing_ok=True)
