"""Key rotation with overlap, retirement, export — and what an office's verifier then accepts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from hub.cli import main
from hub.errors import ConfigError, SigningKeyError, VerificationError
from hub.home import Home
from hub.observe import audit
from hub.publish import keys
from hub.publish.bundle import publish_bundle
from hub.publish.verify import verify_bundle
from tests.hub.config.test_config import VALID

NOW = dt.datetime(2024, 11, 22, tzinfo=dt.UTC)


def publish(home: Home) -> Path:
    return publish_bundle(home.outbox, "spo", {"supervision": pa.table({"doc_no": ["乌检1号"]})}, {"office": "spo"},
                          keys.signing_key(home), now=NOW, ttl=dt.timedelta(days=30)).path


def test_rotation_overlaps_then_retirement_rejects(tmp_path: Path) -> None:
    home = Home(tmp_path)
    old_bundle = publish(home)
    old = keys.current_keyid(home)
    new = keys.rotate(home)
    assert new != old and keys.current_keyid(home) == new
    new_bundle = publish(home)
    ring = tmp_path / "office-keyring"
    keys.export(home, ring)
    assert verify_bundle(old_bundle, ring, now=NOW).keyid == old   # overlap: the old key still verifies
    assert verify_bundle(new_bundle, ring, now=NOW).keyid == new
    assert {k.keyid: k.status for k in keys.list_keys(home)} == {old: "verify-only", new: "signing"}

    with pytest.raises(SigningKeyError, match="current signer"):
        keys.retire(home, new)
    keys.retire(home, old)
    assert not (home.signing_keys / f"{old}.key").exists()
    keys.export(home, ring)
    (ring / f"{old}.pem").unlink()  # the office replaces its keyring with the exported one
    with pytest.raises(VerificationError) as info:
        verify_bundle(old_bundle, ring, now=NOW)
    assert info.value.reason == "retired-key"
    assert verify_bundle(new_bundle, ring, now=NOW).keyid == new
    # each change announced to offices in the next version of the signed trust metadata
    assert [e["details"]["action"] for e in map(json.loads, home.audit.read_text().splitlines())] == [
        "rotate", "trust", "rotate", "trust", "retire", "trust"]
    assert audit.verify(home.audit) == 6


def test_keys_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "rotate", "--home", str(tmp_path)]) == 0
    assert main(["keys", "list", "--home", str(tmp_path)]) == 0
    assert "signing" in capsys.readouterr().out
    assert main(["keys", "retire", "nope", "--home", str(tmp_path)]) == 1
    assert "hub keys list" in capsys.readouterr().err


PASSPHRASE_ENV = "HUB_TEST_SIGNING_PASSPHRASE"


def test_signing_keys_encrypted_at_rest_open_only_with_their_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = Home(tmp_path)
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse battery staple")
    key = keys.signing_key(home, PASSPHRASE_ENV)  # the first call writes the keyring, encrypted
    stored = (home.signing_keys / f"{key.keyid}.key").read_bytes()
    assert stored.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    bundle = publish_bundle(home.outbox, "spo", {"supervision": pa.table({"doc_no": ["乌检1号"]})}, {"office": "spo"},
                            key, now=NOW, ttl=dt.timedelta(days=30)).path
    assert verify_bundle(bundle, home.keys, now=NOW).keyid == key.keyid

    with pytest.raises(SigningKeyError, match="is encrypted: set hub.signing_passphrase_env in hub.yaml"):
        keys.signing_key(home)
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong horse")
    with pytest.raises(SigningKeyError, match=rf"the passphrase in \${PASSPHRASE_ENV} does not open signing key"):
        keys.signing_key(home, PASSPHRASE_ENV)
    monkeypatch.delenv(PASSPHRASE_ENV)
    with pytest.raises(ConfigError, match=f"hub.signing_passphrase_env: environment variable {PASSPHRASE_ENV} is not set"):
        keys.signing_key(home, PASSPHRASE_ENV)


def test_protect_encrypts_a_keyring_written_before_the_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    home = Home(tmp_path)
    old, new = keys.rotate(home), keys.rotate(home)  # unencrypted, as before the setting
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump(VALID | {"hub": {"signing_passphrase_env": PASSPHRASE_ENV}},
                                                      allow_unicode=True), encoding="utf-8")
    assert main(["keys", "protect", "--home", str(tmp_path)]) == 2  # the variable is not exported yet
    assert PASSPHRASE_ENV in capsys.readouterr().err
    monkeypatch.setenv(PASSPHRASE_ENV, "s3cret passphrase")
    assert main(["keys", "protect", "--home", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [f"  {k}" for k in sorted([old, new])]
    assert {k.keyid: k.private for k in keys.list_keys(home)} == {old: "encrypted", new: "encrypted"}
    assert keys.signing_key(home, PASSPHRASE_ENV).keyid == new
    assert main(["keys", "protect", "--home", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "every signing key was already encrypted"
    actions = [e["details"]["action"] for e in map(json.loads, home.audit.read_text().splitlines())]
    assert actions == ["rotate", "trust", "rotate", "trust", "protect", "protect"]
    assert audit.verify(home.audit) == 6


def test_during_a_rotation_bundles_verify_for_an_office_that_has_not_imported_the_new_key(tmp_path: Path) -> None:
    home = Home(tmp_path)
    old = keys.rotate(home)
    stale = tmp_path / "office-keyring"  # the office imported the first key only
    keys.export(home, stale)
    new = keys.rotate(home)
    signers = keys.overlap_signers(home)
    assert [s.keyid for s in signers] == [new, old]  # the current signer first
    bundle = publish_bundle(home.outbox, "spo", {"supervision": pa.table({"doc_no": ["乌检1号"]})}, {"office": "spo"},
                            signers, now=NOW, ttl=dt.timedelta(days=30)).path
    assert [s["keyid"] for s in json.loads((bundle / "manifest.dsse.json").read_text())["signatures"]] == [new, old]
    assert verify_bundle(bundle, stale, now=NOW).keyid == old
    current = tmp_path / "current-keyring"
    keys.export(home, current)
    assert verify_bundle(bundle, current, now=NOW).keyid == new
    keys.retire(home, old)  # the overlap ends: its private key is gone, bundles carry one signature
    assert [s.keyid for s in keys.overlap_signers(home)] == [new]
