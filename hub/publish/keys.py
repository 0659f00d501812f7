"""The hub's signing keyring: one key signs, older keys still verify, retired keys never do.

    <home>/private/signing/<keyid>.key    private keys (0600); CURRENT names the signer
    <home>/keys/<keyid>.pem               public keys offices trust (the exported keyring)
    <home>/keys/retired/<keyid>.pem       retired keys: a verifier rejects what they signed

Rotation overlaps: ``rotate`` makes a new signer while the old public key stays trusted, so
bundles already delivered keep verifying until the old key is retired. Each change is
announced in the next version of the signed trust metadata (``hub.publish.trust``), which
offices follow. With
``hub.signing_passphrase_env`` set, private keys are stored encrypted under the passphrase that
variable holds (``protect`` encrypts those written before).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hub.config import secret
from hub.errors import SigningKeyError
from hub.home import Home
from hub.observe import audit
from hub.publish import trust
from hub.signing.crypto import (
    Signer,
    SigningKey,
    encrypt_signing_key,
    generate_signing_key,
    is_encrypted,
    load_signing_key,
)

PASSPHRASE_SETTING = "hub.signing_passphrase_env"


@dataclass(frozen=True)
class KeyInfo:
    keyid: str
    status: str  # signing | verify-only | retired
    created: dt.datetime
    private: str  # encrypted | unencrypted | none (no private key here: retired, or only its public key)


def _current_file(home: Home) -> Path:
    return home.signing_keys / "CURRENT"


def current_keyid(home: Home) -> str | None:
    path = _current_file(home)
    return path.read_text().strip() if path.exists() else None


def _passphrase(passphrase_env: str | None) -> bytes | None:
    """The passphrase from the variable ``hub.signing_passphrase_env`` names (None: keys unencrypted)."""
    value = secret(passphrase_env, PASSPHRASE_SETTING)
    if value == "":
        raise SigningKeyError(f"${passphrase_env} ({PASSPHRASE_SETTING}) is empty: export the signing keys' passphrase")
    return value.encode() if value is not None else None


def _open(home: Home, keyid: str, passphrase: bytes | None, passphrase_env: str | None) -> SigningKey:
    """A private key of the keyring, an encrypted one without a passphrase naming the setting to add."""
    path = home.signing_keys / f"{keyid}.key"
    if passphrase is None and path.exists() and is_encrypted(path):
        raise SigningKeyError(f"signing key {path} is encrypted: set {PASSPHRASE_SETTING} in hub.yaml to the "
                              "environment variable that holds its passphrase, and export it")
    return load_signing_key(path, passphrase, passphrase_from=f"the passphrase in ${passphrase_env}")


def signing_key(home: Home, passphrase_env: str | None = None) -> SigningKey:
    """The current signer, opened with the passphrase in ``passphrase_env`` when keys are
    encrypted; the first call creates the keyring."""
    return _open(home, current_keyid(home) or rotate(home, passphrase_env), _passphrase(passphrase_env), passphrase_env)


def overlap_signers(home: Home, passphrase_env: str | None = None) -> list[SigningKey]:
    """Every key that signs a bundle: the current signer first, then each earlier key not yet
    retired (its private key is deleted at retirement). During a rotation's overlap a bundle
    so verifies for an office that has not imported the new key yet."""
    current = signing_key(home, passphrase_env)
    passphrase = _passphrase(passphrase_env)
    earlier = [k.keyid for k in list_keys(home) if k.status == "verify-only" and k.private != "none"]
    return [current, *(_open(home, keyid, passphrase, passphrase_env) for keyid in earlier)]


def rotate(home: Home, passphrase_env: str | None = None) -> str:
    """Create a key and make it the signer (encrypted under the passphrase in
    ``passphrase_env`` when set); the previous public key stays trusted."""
    passphrase = _passphrase(passphrase_env)
    home.private.mkdir(mode=0o700, parents=True, exist_ok=True)  # before signing/ inside it: owner-only too
    keyid = generate_signing_key(home.signing_keys, home.keys, passphrase)
    previous = current_keyid(home)
    _current_file(home).write_text(keyid + "\n")
    audit.append(home.audit, "key", run_id="-", subject=keyid, action="rotate", previous=previous,
                 public=str(home.keys / f"{keyid}.pem"))
    announce(home, overlap_signers(home, passphrase_env))
    return keyid


def announce(home: Home, signers: Sequence[Signer]) -> None:
    """Sign the keyring's next trust metadata version when it changed (``hub.publish.trust``), audited."""
    version = trust.write_next(home, signers)
    if version is not None:
        audit.append(home.audit, "key", run_id="-", subject=f"trust-{version}", action="trust",
                     version=version, signed_by=[s.keyid for s in signers])


def retire(home: Home, keyid: str, passphrase_env: str | None = None) -> None:
    """Stop trusting a key: its public key moves to ``retired/`` and its private key is deleted;
    the trust metadata's next version, signed by the keys that remain, says so to offices."""
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
    announce(home, overlap_signers(home, passphrase_env))


def protect(home: Home, passphrase_env: str | None) -> list[str]:
    """Encrypt every private key still stored unencrypted under the passphrase in
    ``passphrase_env``; the key ids encrypted now (audited)."""
    passphrase = _passphrase(passphrase_env)
    if passphrase is None:
        raise SigningKeyError(f"set {PASSPHRASE_SETTING} in hub.yaml to the environment variable that holds the "
                              "passphrase, export it, then run 'hub keys protect' again")
    done = []
    for path in sorted(home.signing_keys.glob("*.key")) if home.signing_keys.exists() else []:
        if encrypt_signing_key(path, passphrase):
            done.append(path.stem)
            audit.append(home.audit, "key", run_id="-", subject=path.stem, action="protect")
    return done


def list_keys(home: Home) -> list[KeyInfo]:
    current = current_keyid(home)
    out = []
    for folder, status in ((home.keys, None), (home.keys / "retired", "retired")):
        for pem in sorted(folder.glob("*.pem")) if folder.exists() else []:
            keyid = pem.stem
            state = status or ("signing" if keyid == current else "verify-only")
            private = home.signing_keys / f"{keyid}.key"
            stored = ("encrypted" if is_encrypted(private) else "unencrypted") if private.exists() else "none"
            out.append(KeyInfo(keyid, state, dt.datetime.fromtimestamp(pem.stat().st_mtime, dt.UTC), stored))
    return sorted(out, key=lambda k: k.created)


def export(home: Home, target: Path) -> list[Path]:
    """Copy the public keyring (trusted and retired keys) and its newest trust metadata to
    ``target`` for offices: an office installed from it follows the hub's key changes from there."""
    written = []
    if (newest := trust.latest(home)) and not (target / trust.TRUST / trust.trust_name(newest)).exists():
        (target / trust.TRUST).mkdir(parents=True, exist_ok=True)
        name = trust.trust_name(newest)
        written.append(Path(shutil.copy2(home.keys / trust.TRUST / name, target / trust.TRUST / name)))
    for sub in ("", "retired"):
        src = home.keys / sub
        if not src.exists():
            continue
        (target / sub).mkdir(parents=True, exist_ok=True)
        for pem in sorted(src.glob("*.pem")):
            written.append(Path(shutil.copy2(pem, target / sub / pem.name)))
    return written
