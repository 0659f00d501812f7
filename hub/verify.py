"""The office's own verifier: is this bundle from the hub, whole, unaltered, current and next?

Checks, in order: the envelope's form, the DSSE signature over PAE by a trusted key, the
statement's form, every data file's sha256 with none missing or extra, expiry, and (with a
state file) that the sequence moves forward and the previous-manifest chain holds. Each
failure is a ``VerificationError`` with its own ``reason`` and a message for the clerk.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.bundle import MANIFEST, PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE, pae
from hub.crypto import load_public_keys
from hub.errors import VerificationError


@dataclass(frozen=True)
class VerifiedBundle:
    office: str
    sequence: int
    keyid: str
    datasets: dict[str, int]
    created: str
    expires: str
    manifest_sha256: str


def _fail(reason: str, message: str) -> VerificationError:
    return VerificationError(message, reason=reason)


def _envelope(bundle: Path) -> tuple[dict[str, Any], bytes]:
    path = bundle / MANIFEST
    if not path.is_file():
        raise _fail("missing-file", f"{path} is missing: this folder is not a complete bundle")
    raw = path.read_bytes()
    try:
        env = json.loads(raw)
        body = base64.b64decode(env["payload"], validate=True)
        sigs = [(s["keyid"], base64.b64decode(s["sig"], validate=True)) for s in env["signatures"]]
        assert env["payloadType"] == PAYLOAD_TYPE and sigs
    except (ValueError, KeyError, TypeError, AssertionError, binascii.Error):
        raise _fail("malformed", f"{path} is not a DSSE envelope of type {PAYLOAD_TYPE}; ask the hub to resend") from None
    return {"sigs": sigs, "raw": raw}, body


def verify_bundle(bundle: Path, keys_dir: Path, *, now: dt.datetime, state_file: Path | None = None) -> VerifiedBundle:
    """Verify ``bundle`` against the public keys in ``keys_dir``; raise ``VerificationError``."""
    env, body = _envelope(bundle)
    trusted = load_public_keys(keys_dir)
    signed = pae(PAYLOAD_TYPE, body)
    keyid = next((k for k, sig in env["sigs"] if k in trusted and trusted[k].verify(sig, signed)), None)
    if keyid is None:
        named = ", ".join(k[:16] for k, _ in env["sigs"])
        unknown = [k for k, _ in env["sigs"] if k not in trusted]
        hint = f"key(s) {', '.join(k[:16] for k in unknown)} are not in {keys_dir}" if unknown else "the signature does not match"
        raise _fail("bad-signature", f"no valid signature by a trusted key (signed by {named}): {hint}; do not use this bundle")
    try:
        statement = json.loads(body)
        pred = statement["predicate"]
        subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
        assert statement["_type"] == STATEMENT_TYPE and statement["predicateType"] == PREDICATE_TYPE
        office, sequence, expires = pred["office"], int(pred["sequence"]), pred["expires"]
    except (ValueError, KeyError, TypeError, AssertionError):
        raise _fail("malformed", "signed statement is not an extract statement this verifier understands") from None

    _check_files(bundle, subjects)
    if now > dt.datetime.fromisoformat(expires.replace("Z", "+00:00")):
        raise _fail("expired", f"bundle expired at {expires}; ask the hub for a current extract")
    manifest_sha = hashlib.sha256(env["raw"]).hexdigest()
    if state_file is not None:
        _check_state(state_file, office, sequence, pred.get("previous_manifest_sha256"), manifest_sha)
    return VerifiedBundle(office, sequence, keyid, {n: d["rows"] for n, d in pred.get("datasets", {}).items()},
                          pred["created"], expires, manifest_sha)


def _check_files(bundle: Path, subjects: dict[str, str]) -> None:
    present = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()} - {MANIFEST}
    for name, digest in sorted(subjects.items()):
        if name not in present:
            raise _fail("missing-file", f"{name} is listed in the manifest but missing from the bundle")
        h = hashlib.sha256()
        with open(bundle / name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        if h.hexdigest() != digest:
            raise _fail("digest-mismatch", f"{name} was altered: its sha256 differs from the signed manifest")
    extra = sorted(present - set(subjects))
    if extra:
        raise _fail("extra-file", f"{', '.join(extra)} not listed in the signed manifest; the bundle was tampered with")


def _check_state(state_file: Path, office: str, sequence: int, previous: str | None, manifest_sha: str) -> None:
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    last = state.get(office)
    if last is not None:
        if sequence <= last["sequence"]:
            raise _fail("rollback", f"sequence {sequence} is not after the last accepted {last['sequence']}: "
                                    "an old or replayed bundle")
        if sequence == last["sequence"] + 1 and previous != last["manifest_sha256"]:
            raise _fail("chain", f"bundle {sequence} does not follow the accepted bundle {last['sequence']} "
                                 "(previous-manifest digest differs)")
    state[office] = {"sequence": sequence, "manifest_sha256": manifest_sha}
    state_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=state_file.parent, prefix=".state-")
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh, indent=1)
    os.replace(tmp, state_file)
