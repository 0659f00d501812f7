"""Key rotation with overlap, retirement, export — and what an office's verifier then accepts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

from hub.cli import main
from hub.errors import SigningKeyError, VerificationError
from hub.home import Home
from hub.observe import audit
from hub.publish import keys
from hub.publish.bundle import publish_bundle
from hub.publish.verify import verify_bundle

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
    assert [e["details"]["action"] for e in map(json.loads, home.audit.read_text().splitlines())] == ["rotate", "rotate", "retire"]
    assert audit.verify(home.audit) == 3


def test_keys_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "rotate", "--home", str(tmp_path)]) == 0
    assert main(["keys", "list", "--home", str(tmp_path)]) == 0
    assert "signing" in capsys.readouterr().out
    assert main(["keys", "retire", "nope", "--home", str(tmp_path)]) == 1
    assert "hub keys list" in capsys.readouterr().err
