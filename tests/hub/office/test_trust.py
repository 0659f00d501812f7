"""Trust metadata: an office follows the hub's key rotations without importing a key by hand."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from hub.cli import main
from hub.errors import VerificationError
from hub.home import Home
from hub.office import receive
from hub.publish.bundle import publish_bundle
from hub.publish.keys import current_keyid, export, signing_key
from hub.publish.trust import TRUST, TRUST_TYPE, trust_name
from hub.publish.verify import verify_bundle
from hub.signing.crypto import generate_signing_key, load_signing_key
from hub.signing.envelope import seal, unseal
from hub.signing.primitives import canonical_json
from tests.hub.exchange_homes import change_court_filings, copy_of
from tests.hub.office.kit_homes import NOW, PROC, run


def installed_keys(home: Path, into: Path) -> str:
    """The hub's public key as the office was installed with it, before any rotation."""
    shutil.copytree(home / "keys", into, ignore=shutil.ignore_patterns(TRUST))
    (keyid,) = [p.stem for p in into.glob("*.pem")]
    return keyid


def sequences(home: Path, store: Path, keys: Path) -> list[int]:
    return [r.sequence for r in receive(home / "outbox" / PROC, store, keys, office=PROC, identity=None, now=NOW)]


def test_an_office_follows_a_rotation_and_refuses_the_retired_key_from_the_metadata_alone(
        demo: Path, tmp_path: Path) -> None:
    home = copy_of(demo, tmp_path)
    keys, store = tmp_path / "office-keys", tmp_path / "proc.duckdb"
    old = installed_keys(home, keys)
    assert sequences(home, store, keys) == [1]

    assert main(["keys", "rotate", "--home", str(home)]) == 0
    stolen = load_signing_key(Home(home).signing_keys / f"{old}.key")  # what a retirement answers
    change_court_filings(home)
    run(home)  # bundle 2, signed by the old key and the new
    assert main(["keys", "retire", old, "--home", str(home)]) == 0
    change_court_filings(home, 8)
    run(home)  # bundle 3, signed by the new key alone
    envelope = json.loads((home / "outbox" / PROC / "00000003" / "manifest.dsse.json").read_text())
    assert [s["keyid"] for s in envelope["signatures"]] == [current_keyid(Home(home))] != [old]

    assert sequences(home, store, keys) == [2, 3]
    assert [p.stem for p in keys.glob("*.pem")] == [old] and not (keys / "retired").exists()  # nothing by hand

    # a bundle the retired key signed, chained properly: refused, though the office's folder trusts it
    data = pa.table({"_change": ["new"], "record_key": ["forged"], "n": [1]})
    publish_bundle(home / "outbox", PROC, {"filing": data}, {"office": PROC, "extract": "incremental"}, stolen,
                   now=dt.datetime.now(dt.UTC), ttl=dt.timedelta(days=1))
    with pytest.raises(VerificationError) as refused:
        sequences(home, store, keys)
    assert refused.value.reason == "retired-key"

    # a new store re-reads the chain from the installed keys on: bundles 3 and 2 verify (the new
    # key signed them), but the full snapshot it would start from is the retired key's alone
    shutil.rmtree(home / "outbox" / PROC / "00000004")
    with pytest.raises(VerificationError) as refused:
        sequences(home, tmp_path / "again.duckdb", keys)
    assert refused.value.reason == "retired-key" and "00000001" in str(refused.value)

    # an office installed from the keyring exported after the retirement follows on from its trust
    # metadata, and a stale copy of the retired key left among the trusted ones does not pass
    late = tmp_path / "late-keys"
    export(Home(home), late)
    shutil.copy2(late / "retired" / f"{old}.pem", late / f"{old}.pem")
    with pytest.raises(VerificationError) as refused:  # the old snapshot: the retired key's alone
        sequences(home, tmp_path / "late.duckdb", late)
    assert refused.value.reason == "retired-key"
    with pytest.raises(VerificationError) as refused:
        verify_bundle(home / "outbox" / PROC / "00000001", late, now=NOW)
    assert refused.value.reason == "retired-key"
    assert verify_bundle(home / "outbox" / PROC / "00000003", late, now=NOW).sequence == 3


def test_trust_metadata_not_signed_by_the_keys_trusted_or_skipping_a_version_is_refused(
        demo: Path, tmp_path: Path) -> None:
    home = copy_of(demo, tmp_path)
    keys, trust = tmp_path / "office-keys", home / "outbox" / PROC / TRUST
    installed_keys(home, keys)
    (latest,) = sorted(trust.iterdir())[-1:]
    body = json.loads(unseal(latest.read_bytes(), TRUST_TYPE)[0])
    version = body["version"]

    # an attacker's key, announced in a version signed only by itself
    stranger_id = generate_signing_key(tmp_path / "s-private", tmp_path / "s-public")
    stranger = load_signing_key(tmp_path / "s-private" / f"{stranger_id}.key")
    pem = (tmp_path / "s-public" / f"{stranger_id}.pem").read_text()
    forged = body | {"version": version + 1, "keys": {stranger_id: pem}}
    (trust / trust_name(version + 1)).write_bytes(seal(TRUST_TYPE, canonical_json(forged), [stranger]))
    with pytest.raises(VerificationError) as refused:
        sequences(home, tmp_path / "a.duckdb", keys)
    assert refused.value.reason == "trust" and "not signed by the keys the office trusts" in str(refused.value)

    # a version further on, signed by the hub's own key, with the one between missing
    (trust / trust_name(version + 1)).unlink()
    (trust / trust_name(version + 2)).write_bytes(
        seal(TRUST_TYPE, canonical_json(body | {"version": version + 2}), [signing_key(Home(home))]))
    with pytest.raises(VerificationError) as refused:
        sequences(home, tmp_path / "b.duckdb", keys)
    assert refused.value.reason == "trust" and f"the next must be {version + 1}" in str(refused.value)
