"""DSSE envelopes (docs/bundle-format.md): the one place their JSON is written and read.

A bundle's manifest and an office's acknowledgement are both envelopes: a typed payload and
Ed25519 signatures over its pre-authentication encoding, never over the raw payload.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from hub.signing.crypto import PublicKey, Signer
from hub.signing.primitives import pae


def seal(payload_type: str, body: bytes, signers: Sequence[Signer]) -> bytes:
    """The envelope of ``body`` signed by each of ``signers`` (a rotation's overlap signs with two)."""
    envelope = {
        "payloadType": payload_type,
        "payload": base64.b64encode(body).decode(),
        "signatures": [{"keyid": k.keyid, "sig": base64.b64encode(k.sign(pae(payload_type, body))).decode()}
                       for k in signers],
    }
    return json.dumps(envelope, indent=2).encode() + b"\n"


def _b64(value: Any) -> bytes:
    """Decode base64 accepting only its canonical form (no stray padding bits, no whitespace)."""
    if not isinstance(value, str):
        raise TypeError("base64 field is not a string")
    decoded = base64.b64decode(value, validate=True)
    if base64.b64encode(decoded).decode() != value:
        raise ValueError("base64 is not in canonical form")
    return decoded


def unseal(raw: bytes, payload_type: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The payload and (keyid, signature) pairs of an envelope of ``payload_type``; nothing in
    them is trusted yet. ValueError says what is malformed."""
    try:
        env = json.loads(raw)
        if not isinstance(env, dict) or env.keys() != {"payloadType", "payload", "signatures"}:
            raise ValueError("not a DSSE envelope")
        if env["payloadType"] != payload_type:
            raise ValueError(f"payloadType is {env['payloadType']!r}, not {payload_type}")
        signatures = []
        for sig in env["signatures"]:
            if sig.keys() != {"keyid", "sig"} or not isinstance(sig["keyid"], str):
                raise ValueError("a signature entry is not {keyid, sig}")
            signatures.append((sig["keyid"], _b64(sig["sig"])))
        if not signatures:
            raise ValueError("it carries no signature")
        return _b64(env["payload"]), signatures
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise ValueError(str(exc)) from None


def valid_signers(payload_type: str, body: bytes, signatures: list[tuple[str, bytes]],
                  keys: Mapping[str, PublicKey]) -> list[str]:
    """The key ids among ``keys`` whose signature over the payload verifies, each once, in the
    envelope's order: what a threshold counts."""
    signed, found = pae(payload_type, body), []
    for keyid, sig in signatures:
        if keyid in keys and keyid not in found and keys[keyid].verify(sig, signed):
            found.append(keyid)
    return found


def signed_by(payload_type: str, body: bytes, signatures: list[tuple[str, bytes]],
              keys: Mapping[str, PublicKey]) -> str | None:
    """The key id of the first of ``keys`` whose signature over the payload verifies, else None."""
    return next(iter(valid_signers(payload_type, body, signatures, keys)), None)
