"""Signed trust metadata: the hub keys an office trusts, carried to it beside the bundles.

In the manner of TUF's root role (docs/bundle-format.md, "Trust metadata"). Each version lists
the hub's keys that sign bundles (key id and public key), how many of them must sign a
version of the metadata (``threshold``), and the keys retired. Version N+1 is signed by a
threshold of version N's keys and a threshold of its own, so an office that trusts version N,
or the keys it was installed with, follows every rotation without importing a key by hand, and
refuses a retired key from the metadata alone, whatever its keys folder holds.

    <home>/keys/trust/<version:08d>.trust.dsse.json    written at each key change (``hub keys``)
    <outbox>/<office>/trust/                           the same files, delivered with its bundles
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hub.durable import write_atomic
from hub.errors import SigningKeyError, VerificationError
from hub.home import Home
from hub.signing.crypto import (
    PublicKey,
    Signer,
    keyid_of_public_pem,
    load_public_keys,
    public_key_from_pem,
)
from hub.signing.envelope import seal, unseal, valid_signers
from hub.signing.primitives import canonical_json

TRUST_TYPE = "application/vnd.case-exchange-hub.trust+json"
TRUST = "trust"
"""The folder of trust metadata: under the hub's public keys, and in each office's inbox."""

THRESHOLD = 1


def trust_name(version: int) -> str:
    return f"{version:08d}.trust.dsse.json"


@dataclass(frozen=True)
class Trust:
    """One version of the trust metadata, as a verifier holds it."""

    version: int
    keys: dict[str, PublicKey]
    threshold: int
    retired: dict[str, PublicKey]

    @classmethod
    def installed(cls, keys_dir: Path) -> Trust:
        """What the office was installed with: the newest trust metadata in ``keys_dir/trust/``
        (``hub keys export`` writes it), signed by its own keys; else, as version 0, the keys
        (``*.pem``; retired ones in ``retired/``, never trusted)."""
        versions = sorted((keys_dir / TRUST).glob("[0-9]" * 8 + ".trust.dsse.json")) if (keys_dir / TRUST).is_dir() else []
        if versions:
            trust, signatures, payload = read(versions[-1].read_bytes(), str(versions[-1]))
            if len(valid_signers(TRUST_TYPE, payload, signatures, trust.keys)) < trust.threshold:
                raise VerificationError(f"{versions[-1]} is not signed by its own keys: install the hub's exported "
                                        "keyring again", reason="trust")
            return trust
        retired_dir = keys_dir / "retired"
        try:
            keys = load_public_keys(keys_dir)
            retired = load_public_keys(retired_dir) if retired_dir.is_dir() else {}
        except SigningKeyError as exc:
            raise VerificationError(f"cannot read the hub keys the office was installed with: {exc}",
                                    reason="bad-signature") from None
        trusted = {k: v for k, v in keys.items() if k not in retired}
        if not trusted:
            raise VerificationError(f"no hub key to trust in {keys_dir}: install the hub's exported keyring there",
                                    reason="bad-signature")
        return cls(0, trusted, THRESHOLD, retired)


def _pems(folder: Path) -> dict[str, str]:
    return {keyid_of_public_pem(p.read_bytes()): p.read_text() for p in sorted(folder.glob("*.pem"))
            } if folder.is_dir() else {}


def latest(home: Home) -> int:
    folder = home.keys / TRUST
    return max((int(p.name[:8]) for p in folder.glob("[0-9]" * 8 + ".trust.dsse.json")), default=0)


def write_next(home: Home, signers: Sequence[Signer]) -> int | None:
    """Write the next version when the keyring (``keys/``, ``keys/retired/``) differs from the
    latest; the version written, or None. ``signers`` are the keys whose private halves the hub
    holds: every version is signed by those among the previous version's keys and its own. The
    same keyring always gives the same bytes (Ed25519 signs deterministically), so two
    processes writing a version at once write one file."""
    folder = home.keys / TRUST
    version = latest(home)
    keys, retired = _pems(home.keys), _pems(home.keys / "retired")
    previous: dict[str, object] = {}
    if version:
        previous = json.loads(unseal((folder / trust_name(version)).read_bytes(), TRUST_TYPE)[0])
        if previous["keys"] == keys and previous["retired"] == retired:
            return None
    body = canonical_json({"version": version + 1, "threshold": THRESHOLD, "keys": keys, "retired": retired})
    before: dict[str, str] = previous.get("keys", {})  # type: ignore[assignment]
    signing = [s for s in signers if s.keyid in set(keys) | set(before)]
    if not any(s.keyid in keys for s in signing) or (version and not any(s.keyid in before for s in signing)):
        raise SigningKeyError(f"trust metadata version {version + 1} cannot be signed by a key of its own and one of "
                              f"version {version}: offices would refuse it; the private keys in the keyring do not "
                              "match its public keys")
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / trust_name(version + 1), seal(TRUST_TYPE, body, signing), mode=0o644)
    return version + 1


def copy_to(home: Home, office_folder: Path) -> list[str]:
    """Put every version of the hub's trust metadata the office's folder lacks beside its
    bundles (``<office folder>/trust/``); the names copied."""
    source, target = home.keys / TRUST, office_folder / TRUST
    copied = []
    for path in sorted(source.glob("*.trust.dsse.json")) if source.is_dir() else []:
        if not (target / path.name).exists():
            target.mkdir(parents=True, exist_ok=True)
            write_atomic(target / path.name, path.read_bytes(), mode=0o644)  # an office may be reading the folder
            copied.append(path.name)
    return copied


def read(raw: bytes, where: str) -> tuple[Trust, list[tuple[str, bytes]], bytes]:
    """A version's contents, its signatures and signed payload; nothing in them is trusted yet."""
    try:
        payload, signatures = unseal(raw, TRUST_TYPE)
        body = json.loads(payload)
        keys = {k: public_key_from_pem(v.encode()) for k, v in body["keys"].items()}
        retired = {k: public_key_from_pem(v.encode()) for k, v in body["retired"].items()}
        trust = Trust(int(body["version"]), keys, int(body["threshold"]), retired)
    except (KeyError, TypeError, ValueError, AttributeError, SigningKeyError) as exc:
        raise VerificationError(f"{where} is not trust metadata this verifier reads ({exc})", reason="trust") from None
    if (any(k != key.keyid for k, key in (keys | retired).items()) or trust.threshold < 1 or not keys
            or set(keys) & set(retired)):
        raise VerificationError(f"{where} names keys under other ids, or none, or a key both trusted and retired, or "
                                "a threshold below 1", reason="trust")
    return trust, signatures, payload


def follow(current: Trust, raw: bytes, where: str) -> Trust:
    """The version after ``current``, from its envelope ``raw``, once a threshold of
    ``current``'s keys and a threshold of its own have signed it; ``VerificationError``
    (reason ``trust``) otherwise."""
    new, signatures, payload = read(raw, where)
    if new.version != current.version + 1:
        raise VerificationError(f"{where} is version {new.version}; the office trusts version {current.version}, so "
                                f"the next must be {current.version + 1}: ask the hub for the missing ones",
                                reason="trust")
    if len(valid_signers(TRUST_TYPE, payload, signatures, current.keys)) < current.threshold:
        raise VerificationError(f"{where} is not signed by the keys the office trusts (version {current.version}): "
                                "it did not come from the hub, or a version between was skipped", reason="trust")
    if len(valid_signers(TRUST_TYPE, payload, signatures, new.keys)) < new.threshold:
        raise VerificationError(f"{where} is not signed by its own keys", reason="trust")
    return new
