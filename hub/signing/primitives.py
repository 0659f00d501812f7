"""What a signer and every verifier must compute byte for byte the same way: DSSE's
pre-authentication encoding, canonical JSON, and file digests (docs/bundle-format.md)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is actually signed (binds the type too)."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def canonical_json(obj: Any) -> bytes:
    """One byte form per value, so digests over JSON are reproducible."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks: extracts can be larger than memory."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
