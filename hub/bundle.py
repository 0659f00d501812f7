"""Signed extract bundles (DESIGN.md section 3): Parquet files + a DSSE-signed in-toto manifest.

    <outbox>/<office>/<sequence:08d>/data/<dataset>.parquet
    <outbox>/<office>/<sequence:08d>/manifest.dsse.json

A bundle is assembled in a hidden temporary folder and renamed into place, so an office
never sees half a bundle. Sequences are monotonic per office and each manifest names the
sha256 of the previous one, so a missing or replayed bundle is detectable.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hub.crypto import SigningKey
from hub.errors import PublishError

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://case-exchange-hub.example/extract/v1"
MANIFEST = "manifest.dsse.json"


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is actually signed."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def schema_fingerprint(schema: pa.Schema) -> str:
    """sha256 over field names, types and nullability: changes when the shape changes."""
    fields = [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]
    return hashlib.sha256(canonical_json(fields)).hexdigest()


@dataclass(frozen=True)
class PublishedBundle:
    path: Path
    sequence: int
    manifest_sha256: str
    rows: dict[str, int]


def last_bundle(office_dir: Path) -> Path | None:
    """The office's newest complete bundle (temporary folders are ignored)."""
    done = sorted(p for p in office_dir.glob("[0-9]" * 8) if (p / MANIFEST).exists()) if office_dir.exists() else []
    return done[-1] if done else None


def publish_bundle(
    outbox: Path, office: str, datasets: dict[str, pa.Table], predicate: dict[str, Any],
    key: SigningKey, *, now: dt.datetime, ttl: dt.timedelta,
) -> PublishedBundle:
    """Write, sign and atomically place the office's next bundle."""
    office_dir = outbox / office
    office_dir.mkdir(parents=True, exist_ok=True)
    previous = last_bundle(office_dir)
    sequence = int(previous.name) + 1 if previous else 1
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=office_dir))
    try:
        (tmp / "data").mkdir()
        subjects, described = [], {}
        for name, table in sorted(datasets.items()):
            path = tmp / "data" / f"{name}.parquet"
            pq.write_table(table, path, compression="zstd")
            subjects.append({"name": f"data/{path.name}", "digest": {"sha256": _sha256_file(path)}})
            described[name] = {"rows": table.num_rows, "schema_fingerprint": schema_fingerprint(table.schema),
                               "file": f"data/{path.name}"}
        statement = {
            "_type": STATEMENT_TYPE,
            "subject": subjects,
            "predicateType": PREDICATE_TYPE,
            "predicate": predicate | {
                "sequence": sequence,
                "previous_manifest_sha256": _sha256_file(previous / MANIFEST) if previous else None,
                "created": _rfc3339(now),
                "expires": _rfc3339(now + ttl),
                "datasets": described,
            },
        }
        body = canonical_json(statement)
        envelope = {
            "payloadType": PAYLOAD_TYPE,
            "payload": base64.b64encode(body).decode(),
            "signatures": [{"keyid": key.keyid, "sig": base64.b64encode(key.sign(pae(PAYLOAD_TYPE, body))).decode()}],
        }
        manifest = json.dumps(envelope, indent=2).encode() + b"\n"
        with open(tmp / MANIFEST, "wb") as fh:
            fh.write(manifest)
            fh.flush()
            os.fsync(fh.fileno())
        final = office_dir / f"{sequence:08d}"
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the office's reader must see it
        os.rename(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PublishError(f"could not write bundle for {office} in {office_dir}: {exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PublishedBundle(final, sequence, hashlib.sha256(manifest).hexdigest(),
                           {n: t.num_rows for n, t in datasets.items()})


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
