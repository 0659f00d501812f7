"""Signing keys: the only module that touches ``cryptography.hazmat``.

Safe recipes only: Ed25519 keys stored as PEM (private 0600 in a 0700 folder, refused when
others can read them, and encrypted under a passphrase when one is given), key ids as the hex
SHA-256 of the raw public key, and verification that answers yes or no instead of raising on a
bad signature. What signs is a ``Signer``: a key file here, or a key that never leaves an HSM.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol

import pyrage
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from hub.errors import SigningKeyError
from hub.home import check_private


def _keyid(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


ENCRYPTED_PEM = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


class Signer(Protocol):
    """What signs bundles and audit checkpoints: an Ed25519 key with its key id. ``SigningKey``
    holds one loaded from a file; an HSM or KMS (PKCS#11, say) serves as well by signing with a
    key it never releases (docs/operations.md, "Signing keys at rest")."""

    keyid: str

    def sign(self, data: bytes) -> bytes: ...


class SigningKey:
    """A private Ed25519 key loaded from a file whose permissions were checked."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.keyid = _keyid(private.public_key())

    def sign(self, data: bytes) -> bytes:
        """Ed25519 over ``data`` (callers pass the DSSE PAE, never the raw payload)."""
        return self._private.sign(data)


class PublicKey:
    """A trusted Ed25519 public key, as an office loads it from a published PEM."""

    def __init__(self, public: Ed25519PublicKey) -> None:
        self._public = public
        self.keyid = _keyid(public)

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True only for a valid signature; a forged or truncated one is just False."""
        try:
            self._public.verify(signature, data)
            return True
        except InvalidSignature:
            return False


def _private_pem(key: Ed25519PrivateKey, passphrase: bytes | None) -> bytes:
    """PKCS#8 PEM, encrypted under ``passphrase`` (the library's best available scheme) when given."""
    protection = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection)


def generate_signing_key(private_dir: Path, public_dir: Path, passphrase: bytes | None = None) -> str:
    """Create a key pair: ``private_dir/<keyid>.key`` (0600; encrypted under ``passphrase`` when
    given) and ``public_dir/<keyid>.pem``."""
    key = Ed25519PrivateKey.generate()
    keyid = _keyid(key.public_key())
    private_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(private_dir, 0o700)
    public_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_dir / f"{keyid}.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(_private_pem(key, passphrase))
    (public_dir / f"{keyid}.pem").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return keyid


def is_encrypted(path: Path) -> bool:
    """Whether a private key file is stored encrypted (PKCS#8 ``ENCRYPTED PRIVATE KEY``)."""
    return path.read_bytes().lstrip().startswith(ENCRYPTED_PEM)


def load_signing_key(path: Path, passphrase: bytes | None = None, *,
                     passphrase_from: str = "the passphrase given") -> SigningKey:
    """Load a private key, refusing one that group or others may read; an encrypted one needs
    ``passphrase`` (an unencrypted one loads either way: ``encrypt_signing_key`` protects it).
    ``passphrase_from`` says where the passphrase came from, for the error when it is wrong."""
    if not path.exists():
        raise SigningKeyError(f"signing key {path} does not exist")
    check_private(path)
    data = path.read_bytes()
    encrypted = data.lstrip().startswith(ENCRYPTED_PEM)
    if encrypted and passphrase is None:
        raise SigningKeyError(f"signing key {path} is encrypted and no passphrase was given")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase if encrypted else None)
    except ValueError as exc:
        if encrypted:
            raise SigningKeyError(f"{passphrase_from} does not open signing key {path}") from None
        raise SigningKeyError(f"signing key {path} is not a PEM private key: {exc}") from None
    except (TypeError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError(f"signing key {path} is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"signing key {path} is not an Ed25519 key")
    return SigningKey(key)


def encrypt_signing_key(path: Path, passphrase: bytes) -> bool:
    """Rewrite an unencrypted private key file encrypted under ``passphrase`` (a new 0600 file
    moved into place, so a crash leaves the old or the new, never half of one); False if it
    already was encrypted."""
    if is_encrypted(path):
        return False
    key = load_signing_key(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(_private_pem(key._private, passphrase))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return True


def public_key_from_pem(pem: bytes) -> PublicKey:
    """Parse a published key; anything but an Ed25519 SubjectPublicKeyInfo PEM is refused."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"public key is {type(key).__name__}, not Ed25519")
    return PublicKey(key)


def keyid_of_public_pem(pem: bytes) -> str:
    """The KEYID an office computes from a published ``.pem`` (docs/bundle-format.md, "Key ids")."""
    return public_key_from_pem(pem).keyid


def load_public_keys(keys_dir: Path) -> dict[str, PublicKey]:
    """Every ``*.pem`` public key in a folder, by key id; a bad file is named, never skipped."""
    if not keys_dir.is_dir():
        raise SigningKeyError(f"public key folder {keys_dir} does not exist")
    keys = {}
    for path in sorted(keys_dir.glob("*.pem")):
        try:
            key = public_key_from_pem(path.read_bytes())
        except SigningKeyError as exc:
            raise SigningKeyError(f"{path}: {exc}; replace or remove this file") from None
        keys[key.keyid] = key
    return keys


def generate_ssh_key(path: Path) -> None:
    """An Ed25519 SSH private key in OpenSSH format, mode 0600 (SFTP host or client key)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def encrypt_for(src: Path, dst: Path, recipients: list[str]) -> None:
    """Encrypt a file to age X25519 recipients (age v1 format: ``age -d`` decrypts it)."""
    try:
        parsed = [pyrage.x25519.Recipient.from_str(r) for r in recipients]
        pyrage.encrypt_file(str(src), str(dst), parsed)
    except (pyrage.RecipientError, pyrage.EncryptError) as exc:
        raise SigningKeyError(f"cannot encrypt {src.name} for {', '.join(recipients)}: {exc}") from None


def decrypt_with(src: Path, dst: Path, identity_file: Path) -> None:
    """Decrypt an age file with the X25519 identity in ``identity_file`` (as ``age-keygen``
    writes it, readable by its owner only), as ``age -d -i`` would."""
    if not identity_file.is_file():
        raise SigningKeyError(f"no age identity at {identity_file}: give the office's identity file, as age-keygen "
                              "wrote it")
    check_private(identity_file)
    try:
        lines = [ln.strip() for ln in identity_file.read_text().splitlines()]
        identities = [pyrage.x25519.Identity.from_str(ln) for ln in lines if ln.startswith("AGE-SECRET-KEY-")]
    except (OSError, pyrage.IdentityError) as exc:
        raise SigningKeyError(f"cannot read the age identity {identity_file}: {exc}") from None
    if not identities:
        raise SigningKeyError(f"{identity_file} holds no age identity (a line AGE-SECRET-KEY-1…): give the office's "
                              "identity file, as age-keygen wrote it")
    try:
        pyrage.decrypt_file(str(src), str(dst), identities)
    except pyrage.DecryptError as exc:
        raise SigningKeyError(f"cannot decrypt {src.name} with {identity_file}: {exc}; was the bundle made for this "
                              "office's recipient key?") from None


def generate_age_identity(path: Path) -> str:
    """An age X25519 identity file (0600) like ``age-keygen`` writes; returns its recipient."""
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"# public key: {recipient}\n{identity}\n")
    return recipient
