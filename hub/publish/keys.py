"""The hub's signing keyring: one key signs, older keys still verify, retired keys never do.

    <home>/private/signing/<keyid>.key    private keys (0600); CURRENT names the signer
    <home>/keys/<keyid>.pem               public keys offices trust (the exported keyring)
    <home>/keys/retired/<keyid>.pem       retired keys: a verifier rejects what they signed

Rotation overlaps: ``rotate`` makes a new signer while the old public key stays trusted, so
bundles already delivered keep verifying until the old key is retired.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from hub.errors import SigningKeyError
from hub.home import Home
from hub.observe import audit
from hub.signing.crypto import SigningKey, generate_signing_key, load_signing_key


@dataclass(frozen=True)
class KeyInfo:
    keyid: str
    status: str  # signing | verify-only | retired
    created: dt.datetime


def _current_file(home: Home) -> Path:
    return home.signing_keys / "CURRENT"


def current_keyid(home: Home) -> str | None:
    path = _current_file(home)
    return path.read_text().strip() if path.exists() else None


def signing_key(home: Home) -> SigningKey:
    """The current signer; the first call creates the keyring."""
    keyid = current_keyid(home)
    if keyid is None:
        return load_signing_key(home.signing_keys / f"{rotate(home)}.key")
    return load_signing_key(home.signing_keys / f"{keyid}.key")


def rotate(home: Home) -> str:
    """Create a key and make it the signer; the previous public key stays trusted."""
    home.private.mkdir(mode=0o700, parents=True, exist_ok=True)  # before signing/ inside it: owner-only too
    keyid = generate_signing_key(home.signing_keys, home.keys)
    previous = current_keyid(home)
    _current_file(home).write_text(keyid + "\n")
    audit.append(home.audit, "key", run_id="-", subject=keyid, action="rotate", previous=previous,
                 public=str(home.keys / f"{keyid}.pem"))
    return keyid


def retire(home: Home, keyid: str) -> None:
    """Stop trusting a key: its public key moves to ``retired/`` and its private key is deleted."""
    public = home.keys / f"{keyid}.pem"
    if not public.exists():
        raise SigningKeyError(f"no trusted key {keyid} in {home.keys}; 'hub keys list' shows the key ids")
    if keyid == current_keyid(home):
        raise SigningKeyError(f"{keyid[:16]}… is the current signer; run 'hub keys rotate' first, then retire it")
    retired = home.keys / "retired"
    retired.mkdir(exist_ok=True)
    shutil.move(str(public), retired / public.name)
    (home.signing_keys / f"{keyid}.key").unlink(missing_ok=True)
    audit.append(home.audit, "key", run_id="-", subject=keyid, action="retire")


def list_keys(home: Home) -> list[KeyInfo]:
    current = current_keyid(home)
    out = []
    for folder, status in ((home.keys, None), (home.keys / "retired", "retired")):
        for pem in sorted(folder.glob("*.pem")) if folder.exists() else []:
            keyid = pem.stem
            state = status or ("signing" if keyid == current else "verify-only")
            out.append(KeyInfo(keyid, state, dt.datetime.fromtimestamp(pem.stat().st_mtime, dt.UTC)))
    return sorted(out, key=lambda k: k.created)


def export(home: Home, target: Path) -> list[Path]:
    """Copy the public keyring (trusted and retired keys) to ``target`` for offices."""
    written = []
    for sub in ("", "retired"):
        src = home.keys / sub
        if not src.exists():
            continue
        (target / sub).mkdir(parents=True, exist_ok=True)
        for pem in sorted(src.glob("*.pem")):
            written.append(Path(shutil.copy2(pem, target / sub / pem.name)))
    return written
