"""Signed bundles: real Ed25519 signatures, every rejection reason, an independent DSSE check."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives import serialization

from hub.bundle import MANIFEST, publish_bundle
from hub.crypto import generate_signing_key, load_signing_key
from hub.errors import SigningKeyError, VerificationError
from hub.verify import verify_bundle

NOW = dt.datetime(2024, 11, 22, 8, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(days=30)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path, str]:
    keyid = generate_signing_key(tmp_path / "private", tmp_path / "keys")
    return tmp_path / "private", tmp_path / "keys", keyid


def publish(tmp_path: Path, keys: tuple[Path, Path, str], rows: int = 3, now: dt.datetime = NOW) -> Path:
    private, _, keyid = keys
    data = {"supervision": pa.table({"doc_no": [f"乌检民监〔2024〕{i}号" for i in range(rows)]}),
            "filing": pa.table({"case_no": ["（2024）内03民终1号"] * rows, "n": list(range(rows))})}
    return publish_bundle(tmp_path / "outbox", "spo", data, {"office": "spo", "run_id": "r"},
                          load_signing_key(private / f"{keyid}.key"), now=now, ttl=TTL).path


def reason(bundle: Path, keys_dir: Path, **kw: object) -> str:
    with pytest.raises(VerificationError) as info:
        verify_bundle(bundle, keys_dir, now=kw.pop("now", NOW), **kw)  # type: ignore[arg-type]
    return info.value.reason


def test_keyid_is_sha256_of_raw_public_key(keys: tuple[Path, Path, str]) -> None:
    _, keys_dir, keyid = keys
    pub = serialization.load_pem_public_key((keys_dir / f"{keyid}.pem").read_bytes())
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert hashlib.sha256(raw).hexdigest() == keyid
    assert os.stat(keys[0] / f"{keyid}.key").st_mode & 0o777 == 0o600


def test_private_key_readable_by_others_is_refused(keys: tuple[Path, Path, str]) -> None:
    path = keys[0] / f"{keys[2]}.key"
    os.chmod(path, 0o644)
    with pytest.raises(SigningKeyError, match="chmod 600"):
        load_signing_key(path)


def test_round_trip_and_sequence_chain(tmp_path: Path, keys: tuple[Path, Path, str]) -> None:
    first = publish(tmp_path, keys)
    second = publish(tmp_path, keys)
    state = tmp_path / "state.json"
    v1 = verify_bundle(first, keys[1], now=NOW, state_file=state)
    v2 = verify_bundle(second, keys[1], now=NOW, state_file=state)
    assert (v1.sequence, v2.sequence) == (1, 2)
    assert v1.datasets == {"filing": 3, "supervision": 3}
    statement = json.loads(base64.b64decode(json.loads((second / MANIFEST).read_text())["payload"]))
    assert statement["predicate"]["previous_manifest_sha256"] == hashlib.sha256((first / MANIFEST).read_bytes()).hexdigest()
    assert sorted(s["name"] for s in statement["subject"]) == ["data/filing.parquet", "data/supervision.parquet"]
    assert reason(first, keys[1], state_file=state) == "rollback"
    assert not list((tmp_path / "outbox" / "spo").glob(".tmp-*"))


def test_chain_break_is_detected(tmp_path: Path, keys: tuple[Path, Path, str]) -> None:
    first = publish(tmp_path, keys)
    state = tmp_path / "state.json"
    verify_bundle(first, keys[1], now=NOW, state_file=state)
    # the office accepted bundle 1; the outbox is then rewritten with a different bundle 1
    shutil.rmtree(first)
    second = publish(tmp_path, keys, rows=4)  # a different sequence-1 bundle
    assert reason(second, keys[1], state_file=state) == "rollback"
    third = publish(tmp_path, keys)  # sequence 2, but its predecessor is not the accepted bundle 1
    assert reason(third, keys[1], state_file=state) == "chain"


@pytest.mark.parametrize("victim", ["data", "manifest-payload", "manifest-signature"])
def test_any_changed_byte_is_rejected(tmp_path: Path, keys: tuple[Path, Path, str], victim: str) -> None:
    bundle = publish(tmp_path, keys)
    if victim == "data":
        path = bundle / "data" / "filing.parquet"
        for offset in (0, 100, path.stat().st_size - 1):
            b = tmp_path / f"copy{offset}"
            shutil.copytree(bundle, b)
            data = bytearray((b / "data" / "filing.parquet").read_bytes())
            data[offset] ^= 0x20
            (b / "data" / "filing.parquet").write_bytes(bytes(data))
            assert reason(b, keys[1]) == "digest-mismatch"
        return
    env = json.loads((bundle / MANIFEST).read_text())
    field = "payload" if victim == "manifest-payload" else "sig"
    holder = env if field == "payload" else env["signatures"][0]
    raw = bytearray(base64.b64decode(holder[field]))
    raw[len(raw) // 2] ^= 0x01
    holder[field] = base64.b64encode(bytes(raw)).decode()
    (bundle / MANIFEST).write_text(json.dumps(env))
    assert reason(bundle, keys[1]) == "bad-signature"


def test_missing_extra_unknown_key_expired_malformed(tmp_path: Path, keys: tuple[Path, Path, str]) -> None:
    bundle = publish(tmp_path, keys)
    b = tmp_path / "missing"
    shutil.copytree(bundle, b)
    (b / "data" / "filing.parquet").unlink()
    assert reason(b, keys[1]) == "missing-file"
    b = tmp_path / "extra"
    shutil.copytree(bundle, b)
    (b / "data" / "secret.parquet").write_bytes(b"x")
    assert reason(b, keys[1]) == "extra-file"
    stranger = tmp_path / "stranger"
    generate_signing_key(stranger / "private", stranger / "keys")
    assert reason(bundle, stranger / "keys") == "bad-signature"
    assert reason(bundle, keys[1], now=NOW + TTL + dt.timedelta(seconds=1)) == "expired"
    b = tmp_path / "malformed"
    shutil.copytree(bundle, b)
    (b / MANIFEST).write_text("{not json")
    assert reason(b, keys[1]) == "malformed"


def test_envelope_verifies_with_securesystemslib(tmp_path: Path, keys: tuple[Path, Path, str]) -> None:
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    bundle = publish(tmp_path, keys)
    pub = serialization.load_pem_public_key((keys[1] / f"{keys[2]}.pem").read_bytes())
    key = SSlibKey.from_crypto(pub, keyid=keys[2])
    envelope = Envelope.from_dict(json.loads((bundle / MANIFEST).read_text()))
    assert list(envelope.verify([key], threshold=1)) == [keys[2]]
    statement = json.loads(envelope.pae().split(b" ", 4)[4])
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
