"""Signed extract bundles (docs/bundle-format.md): Parquet files + a DSSE-signed in-toto manifest.

    <outbox>/<office>/<sequence:08d>/data/<dataset>.parquet
    <outbox>/<office>/<sequence:08d>/manifest.dsse.json

A bundle is assembled in a hidden temporary folder and renamed into place, so an office
never sees half a bundle. Sequences are monotonic per office and each manifest names the
sha256 of the previous one, so a missing or replayed bundle is detectable. What the verifier
must compute the same way is shared with it: ``hub.signing.primitives`` (PAE, canonical JSON,
file digests) and, here, ``is_plain_name`` and the format's constants.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hub.durable import fsync
from hub.errors import PublishError
from hub.signing.crypto import Signer, encrypt_for
from hub.signing.envelope import seal
from hub.signing.primitives import canonical_json, sha256_file

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://case-exchange-hub.example/extract/v1"
MANIFEST = "manifest.dsse.json"
DATA = "data"
RFC3339 = "%Y-%m-%dT%H:%M:%SZ"
_BUNDLE_NAME = re.compile(r"[0-9]{8}")
ACK_TYPE = "application/vnd.case-exchange-hub.acknowledgement+json"
"""The DSSE payload type of an office's acknowledgement of a bundle: the signature binds it, so
no other signed document of the hub's or an office's can pass for one."""
ACKS = "acknowledgements"
"""The folder, in an office's inbox, its acknowledgements are written to and collected from."""
_ACK_NAME = re.compile(r"([0-9]{8})\.dsse\.json")
# predicate fields this module owns; a caller supplying one would be silently overridden
_OWN_FIELDS = frozenset({"sequence", "previous_manifest_sha256", "created", "expires", "datasets"})


def schema_fingerprint(schema: pa.Schema) -> str:
    """sha256 over field names, types and nullability: changes exactly when the shape changes."""
    fields = [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def write_parquet(batches: pa.RecordBatchReader, path: Path) -> int:
    """Stream record batches into a data file as bundles carry them (zstd); rows written.

    Extracts come from DuckDB batch by batch, so a dataset larger than memory never has to be
    held whole; the Arrow schema (names, types, nullability) is the reader's, as a table's would be."""
    rows = 0
    with pq.ParquetWriter(path, batches.schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def ack_name(sequence: int) -> str:
    """The file an office's acknowledgement of bundle ``sequence`` is written to in ``ACKS``."""
    return f"{sequence:08d}.dsse.json"


def ack_sequence(name: str) -> int | None:
    """The bundle an acknowledgement file is named for (None: the name is not one's)."""
    match = _ACK_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


def is_bundle_name(name: str) -> bool:
    """A bundle's folder name: its sequence, eight digits (beside them: ``trust/``, ``acknowledgements/``)."""
    return _BUNDLE_NAME.fullmatch(name) is not None


def is_plain_name(name: str) -> bool:
    """A single, visible path component: office and dataset names become folder/file names."""
    return bool(name) and not name.startswith(".") and not any(c in name for c in "/\\\0")


@dataclass(frozen=True)
class PublishedBundle:
    path: Path
    sequence: int
    manifest_sha256: str
    rows: dict[str, int]
    plain_sha256: dict[str, str]  # per dataset, the Parquet file's digest before encryption (the file's when plain)


def publish_bundle(
    outbox: Path, office: str, datasets: Mapping[str, pa.Table | Path], predicate: dict[str, Any],
    key: Signer | Sequence[Signer], *, now: dt.datetime, ttl: dt.timedelta, recipients: list[str] | None = None,
) -> PublishedBundle:
    """Write, sign and atomically place the office's next bundle: signed by ``key``, or by each
    of several keys (a rotation's overlap: an office that trusts either verifies it).

    ``predicate`` carries what only the caller knows (office, agreement, run id, source
    watermarks); sequence, chain, times and per-dataset facts are added here so they are
    always consistent with the files. With ``recipients`` (age X25519 public keys) each data
    file is delivered as ``<dataset>.parquet.age`` and only the ciphertext is kept. A dataset is
    an Arrow table, or a Parquet file already written (``write_parquet``), which is moved in.
    """
    if now.tzinfo is None or ttl <= dt.timedelta(0):
        raise ValueError("now must be timezone-aware and ttl positive")
    _check_inputs(office, datasets, predicate)
    office_dir = outbox / office
    try:
        office_dir.mkdir(parents=True, exist_ok=True)
        sequence, previous_sha = _previous(office_dir)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=office_dir))
    except OSError as exc:
        raise PublishError(f"could not prepare the outbox {office_dir} for {office}: {exc}") from None
    sequence += 1
    final = office_dir / f"{sequence:08d}"
    try:
        (tmp / DATA).mkdir()
        subjects, described, plain = [], {}, {}
        for name, data in sorted(datasets.items()):
            file = f"{DATA}/{name}.parquet"
            if isinstance(data, pa.Table):
                pq.write_table(data, tmp / file, compression="zstd")
                rows, schema = data.num_rows, data.schema
            else:
                shutil.move(data, tmp / file)
                rows, schema = pq.read_metadata(tmp / file).num_rows, pq.read_schema(tmp / file)
            plain[name] = sha256_file(tmp / file)
            if recipients:  # only ciphertext is delivered, and the digest covers it
                encrypt_for(tmp / file, tmp / f"{file}.age", recipients)
                (tmp / file).unlink()
                file = f"{file}.age"
            fsync(tmp / file)
            subjects.append({"name": file, "digest": {"sha256": sha256_file(tmp / file)}})
            described[name] = {"rows": rows, "schema_fingerprint": schema_fingerprint(schema), "file": file}
        statement = {
            "_type": STATEMENT_TYPE,
            "subject": subjects,
            "predicateType": PREDICATE_TYPE,
            "predicate": predicate | {
                "sequence": sequence,
                "previous_manifest_sha256": previous_sha,
                "created": _rfc3339(now),
                "expires": _rfc3339(now + ttl),
                "datasets": described,
            },
        }
        body = canonical_json(statement)
        manifest = seal(PAYLOAD_TYPE, body, key if isinstance(key, Sequence) else [key])
        (tmp / MANIFEST).write_bytes(manifest)
        for path in (tmp / MANIFEST, tmp / DATA, tmp):
            fsync(path)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the office's reader must see it
        os.rename(tmp, final)
    except (OSError, pa.ArrowException) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise PublishError(f"bundle {final} appeared while this one was being written: another "
                               f"publish for {office} ran at the same time; publish again") from None
        raise PublishError(f"could not write bundle {sequence} for {office} in {office_dir}: {exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        fsync(office_dir)
    except OSError as exc:
        raise PublishError(f"bundle {final} was written but could not be made durable: {exc}") from None
    rows = {name: d["rows"] for name, d in described.items()}
    return PublishedBundle(final, sequence, hashlib.sha256(manifest).hexdigest(), rows, plain)


def _check_inputs(office: str, datasets: Mapping[str, pa.Table | Path], predicate: dict[str, Any]) -> None:
    """Refuse inputs that would produce a bundle an office cannot trust or even open."""
    if not is_plain_name(office):
        raise PublishError(f"office id {office!r} cannot be used as a folder name")
    if predicate.get("office") != office:
        raise PublishError(f"predicate names office {predicate.get('office')!r} but the bundle is for {office!r}")
    if clash := sorted(_OWN_FIELDS & predicate.keys()):
        raise PublishError(f"predicate fields {clash} are set by publish_bundle itself; do not pass them")
    if not datasets:
        raise PublishError(f"no datasets to publish for {office}: an in-toto statement needs a subject")
    if bad := sorted(n for n in datasets if not is_plain_name(n)):
        raise PublishError(f"dataset names {bad} cannot be used as file names")


def _previous(office_dir: Path) -> tuple[int, str | None]:
    """Highest sequence so far and its manifest's sha256 ((0, None) before the first bundle)."""
    numbered = [p for p in office_dir.iterdir() if p.is_dir() and _BUNDLE_NAME.fullmatch(p.name)]
    if not numbered:
        return 0, None
    last = max(numbered, key=lambda p: int(p.name))
    if not (last / MANIFEST).is_file():
        raise PublishError(f"{last} has no {MANIFEST}, so the next bundle cannot chain to it; the hub never "
                           "leaves such a folder, so move it out of the outbox and publish again")
    return int(last.name), sha256_file(last / MANIFEST)


def _rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime(RFC3339)
