"""Signed bundles: real Ed25519 signatures over real files, every rejection reason, and an
independent DSSE check with securesystemslib."""

from __future__ import annotations

import base64
import datetime as dt
import errno
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hub.cli import main
from hub.errors import PublishError, VerificationError
from hub.publish.bundle import (
    MANIFEST,
    PREDICATE_TYPE,
    PublishedBundle,
    publish_bundle,
    schema_fingerprint,
)
from hub.publish.verify import verify_bundle
from hub.signing.crypto import SigningKey, generate_signing_key, load_signing_key
from hub.signing.primitives import pae

NOW = dt.datetime(2024, 11, 22, 8, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(days=30)
OFFICE = "wh-court-spo"


@dataclass(frozen=True)
class Keys:
    signing: SigningKey
    keys_dir: Path
    keyid: str


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    keyid = generate_signing_key(tmp_path / "private", tmp_path / "keys")
    return Keys(load_signing_key(tmp_path / "private" / f"{keyid}.key"), tmp_path / "keys", keyid)


def tables(rows: int = 3) -> dict[str, pa.Table]:
    return {
        "supervision": pa.table({"doc_no": [f"乌检民监〔2024〕{i}号" for i in range(rows)]}),
        "filing": pa.table({"case_no": [f"（2024）内03民终{i}号" for i in range(rows)], "n": list(range(rows))}),
    }


def predicate() -> dict[str, Any]:
    return {"office": OFFICE, "agreement": {"id": "wuhai-001", "version": 2}, "run_id": "run-1",
            "source_watermarks": {"乌海中院": "2024-11-21T23:00:00"}}


def publish(outbox: Path, keys: Keys, rows: int = 3, now: dt.datetime = NOW) -> PublishedBundle:
    return publish_bundle(outbox, OFFICE, tables(rows), predicate(), keys.signing, now=now, ttl=TTL)


def rejection(bundle: Path, keys_dir: Path, *, now: dt.datetime = NOW, **kw: Any) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify_bundle(bundle, keys_dir, now=now, **kw)
    return info.value


def reason(bundle: Path, keys_dir: Path, **kw: Any) -> str:
    return rejection(bundle, keys_dir, **kw).reason


def envelope(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / MANIFEST).read_bytes())


def statement(bundle: Path) -> dict[str, Any]:
    return json.loads(base64.b64decode(envelope(bundle)["payload"]))


def resign(bundle: Path, key: SigningKey, change: Callable[[dict[str, Any]], None]) -> None:
    """Alter the statement and sign it validly: exercises the checks made after the signature."""
    st = statement(bundle)
    change(st)
    body = json.dumps(st).encode()
    sig = base64.b64encode(key.sign(pae("application/vnd.in-toto+json", body))).decode()
    env = {"payloadType": "application/vnd.in-toto+json", "payload": base64.b64encode(body).decode(),
           "signatures": [{"keyid": key.keyid, "sig": sig}]}
    (bundle / MANIFEST).write_text(json.dumps(env))


def test_round_trip(tmp_path: Path, keys: Keys) -> None:
    published = publish(tmp_path / "outbox", keys)
    bundle = tmp_path / "outbox" / OFFICE / "00000001"
    assert published.path == bundle and published.rows == {"filing": 3, "supervision": 3}
    assert sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()) == [
        "data/filing.parquet", "data/supervision.parquet", MANIFEST]
    v = verify_bundle(bundle, keys.keys_dir, now=NOW)
    assert (v.office, v.sequence, v.keyid) == (OFFICE, 1, keys.keyid)
    assert v.datasets == {"filing": 3, "supervision": 3}
    assert (v.created, v.expires) == (NOW, NOW + TTL)
    assert v.manifest_sha256 == published.manifest_sha256
    assert v.manifest_sha256 == hashlib.sha256((bundle / MANIFEST).read_bytes()).hexdigest()
    for name, table in tables().items():
        assert pq.read_table(bundle / "data" / f"{name}.parquet").equals(table)


def test_statement_is_canonical_in_toto_with_our_predicate(tmp_path: Path, keys: Keys) -> None:
    bundle = publish(tmp_path / "outbox", keys).path
    env = envelope(bundle)
    assert env.keys() == {"payloadType", "payload", "signatures"}
    assert env["payloadType"] == "application/vnd.in-toto+json"
    assert [s["keyid"] for s in env["signatures"]] == [keys.keyid]
    body = base64.b64decode(env["payload"])
    st = json.loads(body)
    assert body == json.dumps(st, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert "乌海中院".encode() in body
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == PREDICATE_TYPE == "https://case-exchange-hub.example/extract/v1"
    assert st["subject"] == [
        {"name": f"data/{f}", "digest": {"sha256": hashlib.sha256((bundle / "data" / f).read_bytes()).hexdigest()}}
        for f in ("filing.parquet", "supervision.parquet")
    ]
    pred = st["predicate"]
    assert {k: pred[k] for k in predicate()} == predicate()
    assert (pred["sequence"], pred["previous_manifest_sha256"]) == (1, None)
    assert (pred["created"], pred["expires"]) == ("2024-11-22T08:00:00Z", "2024-12-22T08:00:00Z")
    assert pred["datasets"] == {
        name: {"rows": 3, "schema_fingerprint": schema_fingerprint(t.schema), "file": f"data/{name}.parquet"}
        for name, t in tables().items()
    }


def test_schema_fingerprint_follows_names_types_and_nullability() -> None:
    base = pa.schema([pa.field("case_no", pa.string())])
    assert schema_fingerprint(base) == schema_fingerprint(pa.schema([pa.field("case_no", pa.string())]))
    for changed in (pa.field("case_number", pa.string()), pa.field("case_no", pa.large_string()),
                    pa.field("case_no", pa.string(), nullable=False)):
        assert schema_fingerprint(pa.schema([changed])) != schema_fingerprint(base)


def test_same_tables_give_the_same_parquet_bytes(tmp_path: Path, keys: Keys) -> None:
    a, b = publish(tmp_path / "a", keys).path, publish(tmp_path / "b", keys).path
    for name in ("filing", "supervision"):
        assert (a / "data" / f"{name}.parquet").read_bytes() == (b / "data" / f"{name}.parquet").read_bytes()


def test_sequence_increments_and_chains(tmp_path: Path, keys: Keys) -> None:
    first, second = publish(tmp_path / "outbox", keys), publish(tmp_path / "outbox", keys, rows=5)
    assert (first.sequence, second.sequence) == (1, 2)
    assert second.path.name == "00000002"
    assert statement(second.path)["predicate"]["previous_manifest_sha256"] == first.manifest_sha256
    assert not list((tmp_path / "outbox" / OFFICE).glob(".tmp-*"))
    state = tmp_path / "state.json"
    assert verify_bundle(first.path, keys.keys_dir, now=NOW, state_file=state).sequence == 1
    v2 = verify_bundle(second.path, keys.keys_dir, now=NOW, state_file=state)
    assert v2.datasets == {"filing": 5, "supervision": 5}
    assert json.loads(state.read_text()) == {OFFICE: {"sequence": 2, "manifest_sha256": second.manifest_sha256}}


def test_sequence_follows_the_highest_existing_bundle(tmp_path: Path, keys: Keys) -> None:
    first = publish(tmp_path / "outbox", keys)
    ninth = first.path.rename(first.path.with_name("00000009"))
    tenth = publish(tmp_path / "outbox", keys)
    assert (tenth.sequence, tenth.path.name) == (10, "00000010")
    assert statement(tenth.path)["predicate"]["previous_manifest_sha256"] == hashlib.sha256(
        (ninth / MANIFEST).read_bytes()).hexdigest()


def test_incomplete_last_bundle_stops_publishing(tmp_path: Path, keys: Keys) -> None:
    (publish(tmp_path / "outbox", keys).path / MANIFEST).unlink()
    with pytest.raises(PublishError, match="has no manifest.dsse.json"):
        publish(tmp_path / "outbox", keys)


@pytest.mark.parametrize(("office", "datasets", "pred", "match"), [
    ("other", tables(), predicate(), "predicate names office"),
    (OFFICE, tables(), predicate() | {"sequence": 7}, "set by publish_bundle"),
    (OFFICE, {}, predicate(), "no datasets"),
    (OFFICE, {"../escape": tables()["filing"]}, predicate(), "cannot be used as file names"),
    ("../up", tables(), predicate() | {"office": "../up"}, "cannot be used as a folder name"),
])
def test_publish_refuses_bad_inputs(tmp_path: Path, keys: Keys, office: str, datasets: dict[str, pa.Table],
                                    pred: dict[str, Any], match: str) -> None:
    with pytest.raises(PublishError, match=match):
        publish_bundle(tmp_path / "outbox", office, datasets, pred, keys.signing, now=NOW, ttl=TTL)
    assert not (tmp_path / "outbox").exists()


def test_failed_publish_leaves_no_trace(tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenKey:
        keyid = keys.keyid

        def sign(self, data: bytes) -> bytes:
            raise RuntimeError("HSM unplugged")

    with pytest.raises(RuntimeError):
        publish_bundle(tmp_path / "outbox", OFFICE, tables(), predicate(), BrokenKey(),  # type: ignore[arg-type]
                       now=NOW, ttl=TTL)
    assert list((tmp_path / "outbox" / OFFICE).iterdir()) == []

    def lost_race(src: str, dst: str) -> None:
        raise OSError(errno.ENOTEMPTY, "Directory not empty", dst)

    monkeypatch.setattr(os, "rename", lost_race)
    with pytest.raises(PublishError, match="another publish"):
        publish(tmp_path / "outbox", keys)
    assert list((tmp_path / "outbox" / OFFICE).iterdir()) == []


def test_envelope_verifies_independently_with_securesystemslib(tmp_path: Path, keys: Keys) -> None:
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError as SslibVerificationError
    from securesystemslib.signer import SSlibKey

    from tests.hub.signing.test_crypto import raw_public_key

    bundle = publish(tmp_path / "outbox", keys).path
    raw = raw_public_key((keys.keys_dir / f"{keys.keyid}.pem").read_bytes())
    key = SSlibKey(keys.keyid, "ed25519", "ed25519", {"public": raw.hex()})
    env = Envelope.from_dict(envelope(bundle))
    assert list(env.verify([key], threshold=1)) == [keys.keyid]
    assert json.loads(env.payload)["predicate"]["sequence"] == 1

    env.payload = env.payload.replace(b'"sequence":1', b'"sequence":2')
    with pytest.raises(SslibVerificationError):
        env.verify([key], threshold=1)


def test_every_changed_manifest_byte_is_rejected(tmp_path: Path, keys: Keys) -> None:
    bundle = publish(tmp_path / "outbox", keys).path
    original = (bundle / MANIFEST).read_bytes()
    env = envelope(bundle)
    fields = [(original.index(text.encode()), text) for text in (env["payload"], env["signatures"][0]["sig"])]
    # one flipped bit at every position, and every other byte value at the ends of the base64
    # fields, where padding bits live (a decoder ignoring them would accept some changes)
    changes = [(i, original[i] ^ 0x01) for i in range(len(original))]
    for start, text in fields:
        end = start + len(text.rstrip("="))
        changes += [(i, v) for i in range(end - 3, end) for v in range(256) if v != original[i]]
    reasons = {}
    for i, value in changes:
        changed = bytearray(original)
        changed[i] = value
        (bundle / MANIFEST).write_bytes(bytes(changed))
        reasons[(i, value)] = reason(bundle, keys.keys_dir)
    assert set(reasons.values()) == {"malformed", "bad-signature"}
    # inside the payload and the signature, a change makes another base64 letter (the signature
    # fails) or an invalid or non-canonical one (the envelope is malformed)
    for start, text in fields:
        assert {r for (i, _), r in reasons.items() if start <= i < start + len(text)} == {"malformed", "bad-signature"}
    (bundle / MANIFEST).write_bytes(original)
    verify_bundle(bundle, keys.keys_dir, now=NOW)


@pytest.mark.parametrize("field", ["payload", "sig"])
def test_any_changed_bit_of_payload_or_signature_is_rejected(tmp_path: Path, keys: Keys, field: str) -> None:
    """Flips made on the decoded bytes and re-encoded, as a careful forger would."""
    bundle = publish(tmp_path / "outbox", keys).path
    original = envelope(bundle)
    decoded = base64.b64decode(original["payload"] if field == "payload" else original["signatures"][0]["sig"])
    for offset in (0, 1, len(decoded) // 2, len(decoded) - 2, len(decoded) - 1):
        changed = bytearray(decoded)
        changed[offset] ^= 0x01
        env = json.loads(json.dumps(original))
        holder = env if field == "payload" else env["signatures"][0]
        holder[field] = base64.b64encode(bytes(changed)).decode()
        (bundle / MANIFEST).write_text(json.dumps(env))
        assert reason(bundle, keys.keys_dir) == "bad-signature", offset


def test_non_canonical_base64_is_rejected(tmp_path: Path, keys: Keys) -> None:
    """'QR==' decodes like 'QQ==': a changed manifest byte must not slip through as padding bits."""
    bundle = publish(tmp_path / "outbox", keys).path
    env = envelope(bundle)
    sig = env["signatures"][0]["sig"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = sig.rstrip("=")[-1]
    twin = alphabet[alphabet.index(last) ^ 0x01]  # differs only in bits that 64 signature bytes leave unused
    assert base64.b64decode(sig[:-3] + twin + "==") == base64.b64decode(sig)
    env["signatures"][0]["sig"] = sig[:-3] + twin + "=="
    (bundle / MANIFEST).write_text(json.dumps(env))
    assert reason(bundle, keys.keys_dir) == "malformed"


def test_any_changed_data_byte_is_rejected(tmp_path: Path, keys: Keys) -> None:
    bundle = publish(tmp_path / "outbox", keys).path
    for name in ("filing", "supervision"):
        path = bundle / "data" / f"{name}.parquet"
        original = path.read_bytes()
        for offset in sorted({0, 4, len(original) // 3, len(original) // 2, len(original) - 1}):
            changed = bytearray(original)
            changed[offset] ^= 0x01
            path.write_bytes(bytes(changed))
            err = rejection(bundle, keys.keys_dir)
            assert (err.reason, f"{name}.parquet" in str(err)) == ("digest-mismatch", True), offset
        path.write_bytes(original[:-1])
        assert reason(bundle, keys.keys_dir) == "digest-mismatch"
        path.write_bytes(original)
    verify_bundle(bundle, keys.keys_dir, now=NOW)


def test_missing_files_are_rejected(tmp_path: Path, keys: Keys) -> None:
    bundle = publish(tmp_path / "outbox", keys).path
    for victim in ("data/filing.parquet", "data", MANIFEST):
        copy = tmp_path / victim.replace("/", "-")
        shutil.copytree(bundle, copy)
        target = copy / victim
        shutil.rmtree(target) if target.is_dir() else target.unlink()
        err = rejection(copy, keys.keys_dir)
        assert err.reason == "missing-file" and Path(victim).name in str(err), victim


@pytest.mark.parametrize("add", ["data-file", "top-file", "top-folder", "data-folder", "symlink"])
def test_extra_files_are_rejected(tmp_path: Path, keys: Keys, add: str) -> None:
    bundle = publish(tmp_path / "outbox", keys).path
    data = bundle / "data"
    if add == "data-file":
        (data / "secret.parquet").write_bytes(b"PAR1")
    elif add == "top-file":
        (bundle / "README.txt").write_text("hello")
    elif add == "top-folder":
        (bundle / "notes").mkdir()
    elif add == "data-folder":
        (data / "more").mkdir()
    else:  # same bytes, but not the file that was delivered
        shutil.copy(data / "filing.parquet", tmp_path / "elsewhere.parquet")
        (data / "filing.parquet").unlink()
        (data / "filing.parquet").symlink_to(tmp_path / "elsewhere.parquet")
    err = rejection(bundle, keys.keys_dir)
    assert err.reason == "extra-file"
    assert {"data-file": "secret.parquet", "top-file": "README.txt", "top-folder": "notes",
            "data-folder": "data/more", "symlink": "data/filing.parquet"}[add] in str(err)


def test_untrusted_or_missing_keys_are_rejected(tmp_path: Path, keys: Keys) -> None:
    bundle = publish(tmp_path / "outbox", keys).path
    stranger = tmp_path / "stranger"
    stranger_id = generate_signing_key(stranger / "private", stranger / "keys")
    err = rejection(bundle, stranger / "keys")
    assert err.reason == "bad-signature" and keys.keyid in str(err)
    (tmp_path / "empty").mkdir()
    assert "no trusted public keys" in str(rejection(bundle, tmp_path / "empty"))
    assert reason(bundle, tmp_path / "absent") == "bad-signature"
    # rotation: a folder trusting both the old and the new key accepts either's bundles
    shutil.copy(keys.keys_dir / f"{keys.keyid}.pem", stranger / "keys")
    assert verify_bundle(bundle, stranger / "keys", now=NOW).keyid == keys.keyid
    assert stranger_id != keys.keyid


def test_a_known_key_id_with_a_wrong_signature_is_rejected(tmp_path: Path, keys: Keys) -> None:
    bundle = publish(tmp_path / "outbox", keys).path
    other = generate_signing_key(tmp_path / "p2", tmp_path / "k2")
    env = envelope(bundle)
    body = base64.b64decode(env["payload"])
    forged = load_signing_key(tmp_path / "p2" / f"{other}.key").sign(pae(env["payloadType"], body))
    env["signatures"][0]["sig"] = base64.b64encode(forged).decode()  # keyid still names the hub's key
    (bundle / MANIFEST).write_text(json.dumps(env))
    assert "altered" in str(rejection(bundle, keys.keys_dir))


def test_expired_bundle_is_rejected(tmp_path: Path, keys: Keys) -> None:
    bundle = publish(tmp_path / "outbox", keys).path
    assert verify_bundle(bundle, keys.keys_dir, now=NOW + TTL).expires == NOW + TTL
    err = rejection(bundle, keys.keys_dir, now=NOW + TTL + dt.timedelta(seconds=1))
    assert err.reason == "expired" and "2024-12-22T08:00:00Z" in str(err)


@pytest.mark.parametrize("change", [
    lambda st: st.update(predicateType="https://example.com/other/v1"),
    lambda st: st.update(_type="https://in-toto.io/Statement/v0.1"),
    lambda st: st["subject"][0].update(name="data/../../escape.parquet"),
    lambda st: st["subject"][0].update(name="filing.parquet"),
    lambda st: st["subject"][0]["digest"].update(sha256="0" * 63),
    lambda st: st["predicate"].update(sequence="2"),
    lambda st: st["predicate"].update(expires="2024-12-22"),
    lambda st: st["predicate"].pop("office"),
    lambda st: st["predicate"]["datasets"].pop("filing"),
])
def test_signed_but_malformed_statement_is_rejected(tmp_path: Path, keys: Keys,
                                                    change: Callable[[dict[str, Any]], None]) -> None:
    bundle = publish(tmp_path / "outbox", keys).path
    resign(bundle, keys.signing, lambda st: None)
    verify_bundle(bundle, keys.keys_dir, now=NOW)  # re-signing alone keeps it valid
    resign(bundle, keys.signing, change)
    assert reason(bundle, keys.keys_dir) == "malformed"


@pytest.mark.parametrize("manifest", [
    b"{not json",
    b"[]",
    b'{"payloadType": "application/json", "payload": "e30=", "signatures": [{"keyid": "k", "sig": "AA=="}]}',
    b'{"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}',
    b'{"payloadType": "application/vnd.in-toto+json", "payload": "e30", "signatures": [{"keyid": "k", "sig": "AA=="}]}',
    b"\xff\xfe",
])
def test_malformed_envelope_is_rejected(tmp_path: Path, keys: Keys, manifest: bytes) -> None:
    bundle = publish(tmp_path / "outbox", keys).path
    (bundle / MANIFEST).write_bytes(manifest)
    assert reason(bundle, keys.keys_dir) == "malformed"


def test_rollback_and_chain_via_the_state_file(tmp_path: Path, keys: Keys) -> None:
    outbox, state = tmp_path / "outbox", tmp_path / "state.json"
    first = publish(outbox, keys)
    verify_bundle(first.path, keys.keys_dir, now=NOW, state_file=state)
    recorded = state.read_bytes()
    assert reason(first.path, keys.keys_dir, state_file=state) == "rollback"  # replay
    # the outbox is rewritten: a different bundle 1, then a bundle 2 chained to it, not to the accepted one
    shutil.rmtree(first.path)
    forked = publish(outbox, keys, rows=4)
    assert reason(forked.path, keys.keys_dir, state_file=state) == "rollback"
    successor = publish(outbox, keys)
    err = rejection(successor.path, keys.keys_dir, state_file=state)
    assert err.reason == "chain" and "bundle 2" in str(err)
    assert state.read_bytes() == recorded  # rejections never move the state
    # a gap (bundle 3 after 1): an incremental bundle cannot stand without the one skipped ...
    third = publish_bundle(outbox, OFFICE, tables(), predicate() | {"extract": "incremental"}, keys.signing,
                           now=NOW, ttl=TTL)
    err = rejection(third.path, keys.keys_dir, state_file=state)
    assert err.reason == "gap" and "bundle(s) 2 are missing" in str(err)
    assert state.read_bytes() == recorded
    # ... a full snapshot can: it is accepted, and the skipped ones are then old
    fourth = publish_bundle(outbox, OFFICE, tables(), predicate() | {"extract": "full"}, keys.signing, now=NOW, ttl=TTL)
    assert verify_bundle(fourth.path, keys.keys_dir, now=NOW, state_file=state).sequence == 4
    assert reason(successor.path, keys.keys_dir, state_file=state) == "rollback"


def test_damaged_state_file_fails_closed(tmp_path: Path, keys: Keys) -> None:
    bundle = publish(tmp_path / "outbox", keys).path
    state = tmp_path / "state.json"
    for damaged in ("{", '{"wh-court-spo": {"sequence": "1"}}', "[1]"):
        state.write_text(damaged)
        err = rejection(bundle, keys.keys_dir, state_file=state)
        assert err.reason == "state" and "restore it" in str(err)
        assert state.read_text() == damaged


def test_encrypted_bundle_decrypts_with_the_age_tool(tmp_path: Path, keys: Keys) -> None:
    import subprocess

    from hub.signing.crypto import generate_age_identity

    identity = tmp_path / "office.agekey"
    recipient = generate_age_identity(identity)
    assert oct(os.stat(identity).st_mode & 0o777) == "0o600"
    bundle = publish_bundle(tmp_path / "outbox", OFFICE, tables(), predicate(), keys.signing, now=NOW, ttl=TTL,
                            recipients=[recipient]).path
    files = sorted(p.name for p in (bundle / "data").iterdir())
    assert files == ["filing.parquet.age", "supervision.parquet.age"]
    # the signed digest covers the ciphertext as delivered, and the bundle verifies as is
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement(bundle)["subject"]}
    assert subjects["data/filing.parquet.age"] == hashlib.sha256((bundle / "data" / files[0]).read_bytes()).hexdigest()
    assert verify_bundle(bundle, keys.keys_dir, now=NOW).datasets == {"filing": 3, "supervision": 3}
    out = tmp_path / "filing.parquet"
    subprocess.run(["age", "-d", "-i", str(identity), "-o", str(out), str(bundle / "data" / files[0])], check=True)
    assert pq.read_table(out).equals(tables()["filing"])
    stranger = tmp_path / "stranger.agekey"
    generate_age_identity(stranger)
    failed = subprocess.run(["age", "-d", "-i", str(stranger), str(bundle / "data" / files[0])], capture_output=True)
    assert failed.returncode != 0


def test_a_streamed_file_is_described_like_the_table_it_holds(tmp_path: Path, keys: Keys) -> None:
    """Extracts arrive as Parquet files written batch by batch; the manifest cannot tell the difference."""
    from hub.publish.bundle import write_parquet

    data = tables(250)
    files = {}
    for name, table in data.items():
        files[name] = tmp_path / f"{name}-streamed.parquet"
        assert write_parquet(pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=100)),
                             files[name]) == 250
    from_tables = publish_bundle(tmp_path / "a", OFFICE, data, predicate(), keys.signing, now=NOW, ttl=TTL)
    from_files = publish_bundle(tmp_path / "b", OFFICE, files, predicate(), keys.signing, now=NOW, ttl=TTL)
    assert from_files.rows == from_tables.rows == {"supervision": 250, "filing": 250}
    assert statement(from_files.path)["predicate"]["datasets"] == statement(from_tables.path)["predicate"]["datasets"]
    assert not any(p.exists() for p in files.values())  # moved into the bundle, not copied
    for name, table in data.items():
        assert pq.read_table(from_files.path / "data" / f"{name}.parquet").equals(table)
    assert verify_bundle(from_files.path, keys.keys_dir, now=NOW).office == OFFICE


def test_a_bundle_made_for_another_office_is_refused(tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]) -> None:
    mine = publish(tmp_path / "outbox", keys).path
    theirs = publish_bundle(tmp_path / "outbox", "wh-justice-office", tables(),
                            predicate() | {"office": "wh-justice-office"}, keys.signing, now=NOW, ttl=TTL).path
    assert verify_bundle(mine, keys.keys_dir, now=NOW, office=OFFICE).office == OFFICE
    err = rejection(theirs, keys.keys_dir, office=OFFICE)
    assert err.reason == "wrong-office" and f"made for office wh-justice-office, not for {OFFICE}" in str(err)
    assert main(["verify", str(theirs), "--keys", str(keys.keys_dir), "--office", OFFICE]) == 1
    assert "REJECTED (wrong-office)" in capsys.readouterr().err
    state = tmp_path / "state.json"  # without --office, the state file is one office's record
    verify_bundle(mine, keys.keys_dir, now=NOW, state_file=state)
    recorded = state.read_bytes()
    err = rejection(theirs, keys.keys_dir, state_file=state)
    assert err.reason == "wrong-office" and f"records the bundles of office {OFFICE}" in str(err)
    assert state.read_bytes() == recorded



def test_an_office_witnesses_the_audit_checkpoints_its_bundles_carry(tmp_path: Path, keys: Keys) -> None:
    from hub.observe import audit

    def hub_log(folder: Path, subject: str) -> dict[str, Any]:
        """An audit log of three entries and its checkpoint (over entry 3)."""
        for i in range(3):
            audit.append(folder / "audit.jsonl", "land", run_id="r", subject=f"{subject}{i}")
        cp = audit.checkpoint(folder / "audit.jsonl", folder / "checkpoints.jsonl", keys.signing)
        assert cp is not None and cp["seq"] == 3
        return cp

    cp = hub_log(tmp_path / "hub", "src")
    fork = hub_log(tmp_path / "other", "elsewhere")  # the same position, another log, the same key
    witness, outbox = tmp_path / "office" / "witness.jsonl", tmp_path / "outbox"
    first = publish_bundle(outbox, OFFICE, tables(), predicate() | {"audit_checkpoint": cp}, keys.signing,
                           now=NOW, ttl=TTL).path
    verify_bundle(first, keys.keys_dir, now=NOW, witness=witness)
    assert audit.read_witness(witness) == [cp]
    second = publish_bundle(outbox, OFFICE, tables(), predicate() | {"audit_checkpoint": cp}, keys.signing,
                            now=NOW, ttl=TTL).path
    verify_bundle(second, keys.keys_dir, now=NOW, witness=witness)
    assert audit.read_witness(witness) == [cp]  # kept once
    forked = publish_bundle(outbox, OFFICE, tables(), predicate() | {"audit_checkpoint": fork}, keys.signing,
                            now=NOW, ttl=TTL).path
    err = rejection(forked, keys.keys_dir, witness=witness)
    assert err.reason == "fork" and "the hub showed two different audit logs" in str(err)
    unsigned = publish_bundle(outbox, OFFICE, tables(), predicate() | {"audit_checkpoint": cp | {"seq": 4}},
                              keys.signing, now=NOW, ttl=TTL).path
    assert reason(unsigned, keys.keys_dir, witness=witness) == "fork"
    assert audit.read_witness(witness) == [cp]
