"""Signing keys: safe storage, key ids an office can recompute by hand, yes/no verification."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

import pytest

from hub.errors import SigningKeyError
from hub.signing.crypto import (
    generate_signing_key,
    keyid_of_public_pem,
    load_public_keys,
    load_signing_key,
)
from tests import REPO

ROOT = REPO
# RFC 8410: an Ed25519 SubjectPublicKeyInfo is this 12-byte header + the 32-byte raw key
ED25519_SPKI_HEADER = bytes.fromhex("302a300506032b6570032100")
P256_PUBLIC_PEM = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2S34OUCFjbi1ZFd6YHFcfWSTCEUO
Qz1t6NJaNFNt/knioGQjFMN1iMqCdkJd/kfkB1b7XdKeICwYzT0jrI54hA==
-----END PUBLIC KEY-----
"""


def raw_public_key(pem: bytes) -> bytes:
    """The raw key from a PEM, decoded by hand so the test does not lean on hub.signing.crypto."""
    der = base64.b64decode(b"".join(line for line in pem.splitlines() if not line.startswith(b"-----")))
    assert len(der) == 44 and der[:12] == ED25519_SPKI_HEADER
    return der[12:]


@pytest.fixture
def pair(tmp_path: Path) -> tuple[str, Path, Path]:
    keyid = generate_signing_key(tmp_path / "private", tmp_path / "keys")
    return keyid, tmp_path / "private" / f"{keyid}.key", tmp_path / "keys" / f"{keyid}.pem"


def test_keyid_is_sha256_of_raw_public_key(pair: tuple[str, Path, Path]) -> None:
    keyid, private, public = pair
    pem = public.read_bytes()
    assert keyid == hashlib.sha256(raw_public_key(pem)).hexdigest()
    assert keyid_of_public_pem(pem) == keyid
    assert load_signing_key(private).keyid == keyid
    assert list(load_public_keys(public.parent)) == [keyid]
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8, unencrypted


def test_private_key_is_0600_in_a_0700_folder(pair: tuple[str, Path, Path]) -> None:
    _, private, _ = pair
    assert private.stat().st_mode & 0o777 == 0o600
    assert private.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_private_key_readable_by_others_is_refused(pair: tuple[str, Path, Path], mode: int) -> None:
    _, private, _ = pair
    os.chmod(private, mode)
    with pytest.raises(SigningKeyError, match=re.escape(f"chmod 600 {private}")):
        load_signing_key(private)


def test_missing_private_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="does not exist"):
        load_signing_key(tmp_path / "nope.key")


def test_verify_answers_yes_or_no_and_never_raises(tmp_path: Path, pair: tuple[str, Path, Path]) -> None:
    keyid, private, public = pair
    key = load_signing_key(private)
    trusted = load_public_keys(public.parent)[keyid]
    sig = key.sign(b"payload")
    assert len(sig) == 64 and trusted.verify(sig, b"payload")
    flipped = bytes([sig[0] ^ 1]) + sig[1:]
    for bad_sig, data in [(sig, b"payloaD"), (flipped, b"payload"), (sig[:-1], b"payload"), (b"", b"payload")]:
        assert trusted.verify(bad_sig, data) is False
    other = generate_signing_key(tmp_path / "p2", tmp_path / "k2")
    assert trusted.verify(load_signing_key(tmp_path / "p2" / f"{other}.key").sign(b"payload"), b"payload") is False


def test_public_key_folder_problems_are_named(tmp_path: Path, pair: tuple[str, Path, Path]) -> None:
    _, _, public = pair
    with pytest.raises(SigningKeyError, match="does not exist"):
        load_public_keys(tmp_path / "absent")
    (public.parent / "ec.pem").write_bytes(P256_PUBLIC_PEM)
    with pytest.raises(SigningKeyError, match=r"ec\.pem.*not Ed25519"):
        load_public_keys(public.parent)
    (public.parent / "ec.pem").write_text("garbage")
    with pytest.raises(SigningKeyError, match=r"ec\.pem.*not a PEM public key"):
        load_public_keys(public.parent)


def test_only_hub_crypto_imports_hazmat() -> None:
    """Dangerous primitives stay behind one module's safe recipes (hub/signing/crypto.py)."""
    imports = re.compile(r"^\s*(from|import)\s+cryptography\.hazmat", re.MULTILINE)
    sources = (p for p in ROOT.rglob("*.py") if not any(part.startswith(".") for part in p.relative_to(ROOT).parts))
    offenders = [p.relative_to(ROOT).as_posix() for p in sources if imports.search(p.read_text(encoding="utf-8"))]
    assert offenders == ["hub/signing/crypto.py"]
