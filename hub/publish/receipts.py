"""Forward lineage: which warehouse row versions went to which office, in which bundle, at
which row, and whether that bundle reached the office.

``hub_bundles`` has one row per published bundle and dataset; ``hub_receipts`` one row per
row of a bundle's Parquet file (``bundle_row``, 1-based) naming ``record_key`` and
``row_hash``, which together identify one version in ``<dataset>_history`` and so its landing
batch and source row. Both are written in bulk in the publish step, inside one transaction.
Deliveries are read back from the audit log, the one record of them that cannot be quietly
edited.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from hub.config import HubConfig
from hub.errors import PublishError
from hub.home import Home
from hub.observe import audit
from hub.publish.bundle import MANIFEST, PublishedBundle
from hub.signing.primitives import sha256_file
from schemas.sql import lit

DELIVERY_SCHEMA = pa.schema([
    ("office", pa.string()), ("bundle_sequence", pa.int32()), ("status", pa.string()),
    ("at", pa.string()), ("where", pa.string()), ("error", pa.string()),
])


def record(
    con: duckdb.DuckDBPyConnection, bundle: PublishedBundle, *, office: str, agreement: str, version: int,
    extract: str, published_at: dt.datetime, run_id: str, receipts: dict[str, str], snapshot: int | None,
) -> None:
    """Write the bundle's receipts (called once the bundle is in place, inside the transaction
    that records what the office now holds); ``receipts``: per dataset, the query giving its
    rows (``hub.publish.extracts.build``)."""
    files = _files(bundle.path)
    facts = {"office": office, "agreement": agreement, "version": version, "sequence": bundle.sequence,
             "sha": bundle.manifest_sha256, "path": str(bundle.path), "extract": extract,
             "at": published_at.astimezone(dt.UTC).replace(tzinfo=None), "run_id": run_id, "snapshot": snapshot}
    names = list(receipts)
    if not names:
        return
    try:  # one statement per table for all datasets: every lakehouse statement reads its catalog
        con.execute(
            """INSERT INTO hub_bundles SELECT $office, $agreement, $version, $sequence, $sha, $path, $extract, $at,
               $run_id, unnest($dataset), unnest($file), unnest($digest), unnest($rows), unnest($plain), $snapshot""",
            facts | {"dataset": names, "file": [files[d][0] for d in names], "digest": [files[d][1] for d in names],
                     "rows": [bundle.rows[d] for d in names], "plain": [bundle.plain_sha256[d] for d in names]},
        )
        con.execute(
            "INSERT INTO hub_receipts " + " UNION ALL ".join(
                f"SELECT $office, $agreement, $sequence, $sha, {lit(d)}, bundle_row, change, record_key, row_hash "
                f"FROM ({receipts[d]})" for d in names),
            {k: facts[k] for k in ("office", "agreement", "sequence", "sha")},
        )
    except duckdb.Error as exc:
        raise PublishError(f"bundle {bundle.path} was written but its receipts could not be recorded "
                           f"({exc}); the next publish for {office} removes it and publishes again") from None


def _files(bundle: Path) -> dict[str, tuple[str, str]]:
    """dataset -> (file name under data/, sha256 of the file as delivered)."""
    out = {}
    for path in sorted((bundle / "data").iterdir()):
        dataset = path.name.removesuffix(".age").removesuffix(".parquet")
        out[dataset] = (f"data/{path.name}", sha256_file(path))
    return out


def manifest_sha256(bundle: Path) -> str:
    """How a bundle is recognised wherever it was copied: the digest of its signed manifest."""
    manifest = bundle / MANIFEST
    if not manifest.is_file():
        raise PublishError(f"{bundle} is not a bundle: it has no {MANIFEST}")
    return sha256_file(manifest)


def deliveries(config: HubConfig, home: Home) -> pa.Table:
    """Per office and bundle sequence, the latest delivery outcome from the audit log.

    Offices without an SFTP inbox collect from the outbox, so there publishing is delivery
    (status ``outbox``); a bundle of an SFTP office that no attempt reached has no row yet:
    it is pending.
    """
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for entry in audit.entries(home.audit):
        if entry["event"] == "publish" and entry["details"].get("status", "ok") == "ok":
            office = next((o for o in config.offices if o.id == entry["subject"]), None)
            if office is not None and office.delivery.sftp is None:
                latest[(office.id, entry["details"]["sequence"])] = {
                    "status": "outbox", "at": entry["at"], "where": entry["details"].get("bundle")}
        elif entry["event"] == "deliver":
            d = entry["details"]
            for seq in d.get("sequences", [d["sequence"]] if "sequence" in d else []):
                latest[(entry["subject"], seq)] = {"status": d.get("status", "delivered"), "at": entry["at"],
                                                   "where": d.get("remote"), "error": d.get("error")}
    rows = [{"office": o, "bundle_sequence": s, "error": None} | v for (o, s), v in sorted(latest.items())]
    return pa.Table.from_pylist(rows, schema=DELIVERY_SCHEMA)
