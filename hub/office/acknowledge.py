"""Signed acknowledgements: the office's own word that it applied a bundle (docs/operations.md,
"The office kit").

After ``receive`` applies bundles, the kit signs one acknowledgement per bundle in its store's
ledger that has none yet, with the office's Ed25519 key, as a DSSE envelope of JSON naming the
office, the bundle (sequence and manifest sha256), the rows each dataset's file carried, when
it was applied, and the hub's audit checkpoint the office last witnessed. It is written to
``acknowledgements/<sequence>.dsse.json`` in the office's inbox, where the hub collects it over
the channel it delivered through. Signing what the ledger holds, not what this run applied,
means an acknowledgement a crash or a deleted file lost is signed again by the next run.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from hub.durable import write_atomic
from hub.observe import audit
from hub.office.store import OfficeStore
from hub.publish.bundle import ACK_TYPE, ack_name
from hub.signing.crypto import Signer
from hub.signing.envelope import seal
from hub.signing.primitives import canonical_json


def acknowledgement(row: dict[str, Any], checkpoint: dict[str, Any] | None) -> bytes:
    """The signed payload for one ledger row of the store (``kit_bundles``)."""
    applied = row["applied_at"].astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return canonical_json({"office": row["office"], "sequence": int(row["sequence"]),
                           "manifest_sha256": row["manifest_sha256"], "extract": row["extract"],
                           "rows": json.loads(row["rows"]), "applied_at": applied, "audit_checkpoint": checkpoint})


def acknowledge(store: OfficeStore, folder: Path, signer: Signer, *, witness: Path | None = None) -> list[int]:
    """Sign an acknowledgement for every bundle the store applied that ``folder`` lacks one
    for; the sequences signed now. Each carries the newest hub checkpoint in ``witness``."""
    kept = audit.read_witness(witness) if witness is not None and witness.exists() else []
    checkpoint = max(kept, key=lambda c: c["seq"]) if kept else None
    folder.mkdir(parents=True, exist_ok=True)
    signed = []
    for row in store.ledger():
        path = folder / ack_name(int(row["sequence"]))
        if path.exists():
            continue
        # whole or not at all (the hub may be collecting as it is written), readable by the hub's account
        write_atomic(path, seal(ACK_TYPE, acknowledgement(row, checkpoint), [signer]), mode=0o644)
        signed.append(int(row["sequence"]))
    return signed

