"""The hash-chained audit log detects edited, deleted, reordered and truncated entries."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from hub.errors import HubError
from hub.observe import audit
from hub.signing.crypto import (
    PublicKey,
    SigningKey,
    generate_signing_key,
    load_public_keys,
    load_signing_key,
)
from tests.hub.signing.test_crypto import raw_public_key


def make_log(tmp_path: Path, n: int = 5) -> Path:
    log = tmp_path / "audit.jsonl"
    for i in range(n):
        audit.append(log, "land", run_id="r1", subject=f"src{i}", rows=i)
    return log


def test_intact_log_verifies(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    assert audit.verify(log) == 5
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[2]["details"] == {"rows": 2}


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder", "garble"])
def test_tampering_names_the_first_broken_entry(tmp_path: Path, tamper: str) -> None:
    log = make_log(tmp_path)
    lines = log.read_text().splitlines()
    if tamper == "edit":
        lines[1] = lines[1].replace('"rows": 1', '"rows": 100')
        assert '100' in lines[1]
    elif tamper == "delete":
        del lines[1]
    elif tamper == "reorder":
        lines[1], lines[2] = lines[2], lines[1]
    else:
        lines[1] = lines[1][:-3]
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(HubError, match=r"audit.jsonl:(2|3):"):
        audit.verify(log)


# --- signed checkpoints: truncation and wholesale rewriting --------------------------------

@pytest.fixture
def keyring(tmp_path: Path) -> tuple[SigningKey, dict[str, PublicKey]]:
    keyid = generate_signing_key(tmp_path / "private", tmp_path / "keys")
    return load_signing_key(tmp_path / "private" / f"{keyid}.key"), load_public_keys(tmp_path / "keys")


def checkpointed_log(tmp_path: Path, key: SigningKey) -> tuple[Path, Path]:
    """Entries 1-5, checkpoint over 5 (entry 6 records it), entries 7-8, checkpoint over 8 (entry 9)."""
    log, cps = make_log(tmp_path), tmp_path / "checkpoints.jsonl"
    assert audit.checkpoint(log, cps, key)["seq"] == 5  # type: ignore[index]
    audit.append(log, "pull", run_id="r2", subject="src5", rows=0)
    audit.append(log, "pull", run_id="r2", subject="src6", rows=0)
    assert audit.checkpoint(log, cps, key)["seq"] == 8  # type: ignore[index]
    assert audit.checkpoint(log, cps, key) is None  # nothing new since: no empty checkpoint
    return log, cps


def rewrite(log: Path, entries: list[dict[str, object]]) -> None:
    """What a careful forger does: recompute every hash so the chain itself verifies."""
    prev, lines = audit.GENESIS, []
    for seq, entry in enumerate(entries, 1):
        entry = entry | {"seq": seq, "prev": prev}
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str)
        prev = hashlib.sha256(line.encode()).hexdigest()
        lines.append(line)
    log.write_text("\n".join(lines) + "\n")


def test_checkpointed_log_verifies(tmp_path: Path, keyring: tuple[SigningKey, dict[str, PublicKey]]) -> None:
    key, trusted = keyring
    log, cps = checkpointed_log(tmp_path, key)
    assert audit.verify(log, cps, trusted=trusted) == 9
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["event"], e["details"].get("covers")) for e in entries if e["event"] == "checkpoint"] == [
        ("checkpoint", 5), ("checkpoint", 8)]
    # and the checkpoint's head really is the hash of that line
    line5 = log.read_text().splitlines()[4].encode()
    assert json.loads(cps.read_text().splitlines()[0])["head"] == hashlib.sha256(line5).hexdigest()



def test_a_checkpoint_a_crash_cut_short_is_set_aside_and_named(
    tmp_path: Path, keyring: tuple[SigningKey, dict[str, PublicKey]],
) -> None:
    key, trusted = keyring
    log, cps = checkpointed_log(tmp_path, key)
    cut = cps.read_bytes().splitlines()[-1][:40]
    whole = cps.stat().st_size
    with open(cps, "ab") as fh:
        fh.write(cut)  # the power went out while the next checkpoint was being written
    audit.append(log, "pull", run_id="r", subject="s")
    assert audit.checkpoint(log, cps, key) is not None
    entries = list(audit.entries(log))
    (recovered,) = [e for e in entries if e["event"] == "recovered"]
    assert recovered["details"]["torn_checkpoint"] == {
        "at_byte": whole, "bytes": len(cut), "sha256": hashlib.sha256(cut).hexdigest(),
        "kept_in": "checkpoints.jsonl.torn"}
    assert (tmp_path / "checkpoints.jsonl.torn").read_bytes() == cut + b"\n"
    assert audit.verify(log, cps, trusted=trusted) == len(entries)


def test_a_checkpoint_is_signed_as_docs_bundle_format_says(tmp_path: Path,
                                                           keyring: tuple[SigningKey, dict[str, PublicKey]]) -> None:
    """An auditor checks a checkpoint line without the hub's code: an Ed25519 signature over DSSE's
    PAE of the documented payload type and the canonical JSON of seq, head, at and prev."""
    from securesystemslib.signer import Signature, SSlibKey

    key, _ = keyring
    log, cps = checkpointed_log(tmp_path, key)
    cp = json.loads(cps.read_text().splitlines()[-1])
    body = json.dumps({k: cp[k] for k in ("seq", "head", "at", "prev")}, sort_keys=True, separators=(",", ":")).encode()
    kind = b"application/vnd.case-exchange-hub.audit-checkpoint+json"
    signed = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)
    raw = raw_public_key((tmp_path / "keys" / f"{cp['keyid']}.pem").read_bytes())
    key = SSlibKey(cp["keyid"], "ed25519", "ed25519", {"public": raw.hex()})
    key.verify_signature(Signature(cp["keyid"], base64.b64decode(cp["sig"]).hex()), signed)  # raises if not


@pytest.mark.parametrize("keep", [4, 7])
def test_truncation_below_a_checkpoint_is_detected(
    tmp_path: Path, keyring: tuple[SigningKey, dict[str, PublicKey]], keep: int
) -> None:
    key, trusted = keyring
    log, cps = checkpointed_log(tmp_path, key)
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:keep]) + "\n")
    assert audit.verify(log) == keep  # the chain of what is left is intact...
    with pytest.raises(HubError, match=rf"has {keep} entries but checkpoint \d \(signed .*\) covers (5|8): "
                                       rf"entries {keep + 1}–(5|8) were removed"):
        audit.verify(log, cps, trusted=trusted)  # ...but a signed checkpoint says there was more


def test_rewritten_chain_is_caught_by_the_checkpoint(
    tmp_path: Path, keyring: tuple[SigningKey, dict[str, PublicKey]]
) -> None:
    key, trusted = keyring
    log, cps = checkpointed_log(tmp_path, key)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    entries[6]["details"]["rows"] = 999  # entry 7, after the first checkpoint
    rewrite(log, entries)
    assert audit.verify(log) == 9  # the forged chain is self-consistent
    with pytest.raises(HubError, match=r"audit.jsonl:8: differs from what checkpoint 2 .* entries 6–8 were rewritten "
                                       r"after the last matching checkpoint \(seq 5\)"):
        audit.verify(log, cps, trusted=trusted)


def test_removed_or_forged_checkpoints_are_detected(
    tmp_path: Path, keyring: tuple[SigningKey, dict[str, PublicKey]]
) -> None:
    key, trusted = keyring
    log, cps = checkpointed_log(tmp_path, key)
    good = cps.read_text()
    first, second = good.splitlines()

    cps.write_text(first + "\n")  # the newest checkpoint dropped: the log recorded it
    with pytest.raises(HubError, match=r"audit.jsonl:9: records checkpoint 2, but .* has only 1: checkpoints were removed"):
        audit.verify(log, cps, trusted=trusted)
    cps.unlink()
    with pytest.raises(HubError, match="checkpoints were removed"):
        audit.verify(log, cps, trusted=trusted)

    cps.write_text(second + "\n")  # the first one dropped: the checkpoint chain breaks
    with pytest.raises(HubError, match=r"checkpoints.jsonl:1: checkpoint chain broken"):
        audit.verify(log, cps, trusted=trusted)

    forged = json.loads(first) | {"seq": 4}  # re-pointed at an earlier entry without re-signing
    cps.write_text(json.dumps(forged) + "\n" + second + "\n")
    with pytest.raises(HubError, match=r"checkpoints.jsonl:1: checkpoint signature does not verify"):
        audit.verify(log, cps, trusted=trusted)

    cps.write_text(good)
    other = generate_signing_key(tmp_path / "other", tmp_path / "other-keys")
    with pytest.raises(HubError, match="checkpoint signature does not verify"):  # only the hub's keys count
        audit.verify(log, cps, trusted=load_public_keys(tmp_path / "other-keys"))
    assert other not in trusted
    assert audit.verify(log, cps, trusted={}, retired=trusted) == 9  # a retired key's past checkpoints stand


def test_config_changes_are_entries(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    for digest in ("a" * 64, "a" * 64, "b" * 64, "b" * 64, "a" * 64):
        audit.append(log, "pull", run_id="r", subject="s", config=digest)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    changes = [(e["seq"], e["details"]["digest"][0], (e["details"]["previous"] or "-")[0])
               for e in entries if e["event"] == "config"]
    assert changes == [(1, "a", "-"), (4, "b", "a"), (7, "a", "b")]
    assert all(e["details"]["config"] in ("a" * 64, "b" * 64) for e in entries if e["event"] == "pull")
    assert audit.verify(log) == 8


def test_an_append_finds_the_config_in_force_however_far_back_it_was_named(tmp_path: Path) -> None:
    """The config in force is the one the newest entry naming a config names, even behind more
    than a read block of entries that name none; after a crash cut the last line, appends count
    every line."""
    log = tmp_path / "audit.jsonl"
    for digest in ("a" * 64, "b" * 64):
        for i in range(30):
            audit.append(log, "pull", run_id="r", subject=f"s{i}", config=digest, note="长" * (i % 7))
    for i in range(20):  # entries that name no config, 100 kB of them
        audit.append(log, "key", run_id="-", subject=f"k{i}", action="rotate", note="x" * 5000)
    assert audit.verify(log) == 82
    audit.append(log, "pull", run_id="r", subject="same", config="b" * 64)
    audit.append(log, "pull", run_id="r", subject="changed", config="a" * 64)
    entries = list(audit.entries(log))
    assert [(e["seq"], e["event"]) for e in entries[-4:]] == [(82, "key"), (83, "pull"), (84, "config"), (85, "pull")]
    assert entries[-2]["details"]["previous"] == "b" * 64
    with open(log, "ab") as fh:
        fh.write(b'{"seq": 86, "event": "pu')  # the power went out mid-line
    audit.append(log, "pull", run_id="r", subject="after", config="a" * 64)
    lines = log.read_bytes().splitlines()
    assert json.loads(lines[-1])["seq"] == 87 and json.loads(lines[-1])["prev"] == hashlib.sha256(lines[-2]).hexdigest()
    assert audit.verify(log) == 87  # the cut line left the chain, which stays whole


def test_a_line_a_crash_cut_short_is_set_aside_and_named_not_hidden(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    for i in range(3):
        audit.append(log, "pull", run_id="r", subject=f"s{i}")
    cut = b'{"seq": 4, "event": "apply", "details": {"rows": 1' + "长".encode() * 40_000  # longer than a read block
    with open(log, "ab") as fh:
        fh.write(cut)
    size_before = log.stat().st_size - len(cut)
    audit.append(log, "pull", run_id="r", subject="after")
    entries = list(audit.entries(log))
    assert [(e["seq"], e["event"]) for e in entries] == [(1, "pull"), (2, "pull"), (3, "pull"), (4, "recovered"), (5, "pull")]
    torn = entries[3]["details"]["torn_line"]
    assert torn == {"at_byte": size_before, "bytes": len(cut), "sha256": hashlib.sha256(cut).hexdigest(),
                    "kept_in": "audit.jsonl.torn"}
    assert (tmp_path / "audit.jsonl.torn").read_bytes() == cut + b"\n"
    assert audit.verify(log) == 5


def test_a_log_that_is_one_cut_line_starts_over_with_its_recovery(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b'{"seq": 1, "ev')
    audit.append(log, "pull", run_id="r", subject="s")
    assert [e["event"] for e in audit.entries(log)] == ["recovered", "pull"]
    assert audit.verify(log) == 2


def test_config_snapshots_are_readable_by_the_hub_only(tmp_path: Path) -> None:
    from hub.config import load_config
    from tests.hub.config.test_config import VALID, write

    config = load_config(write(tmp_path, VALID))
    log = tmp_path / "audit" / "audit.jsonl"
    audit.record(log, config, "pull", run_id="r", subject="s")
    snapshot = log.parent / "configs" / f"{config.digest()}.json"
    assert json.loads(snapshot.read_text())["sources"][0]["name"] == "c1_filing"
    assert oct(snapshot.stat().st_mode & 0o777) == "0o600" and oct(snapshot.parent.stat().st_mode & 0o777) == "0o700"


# --- offices as witnesses: a tail cut together with the hub's own checkpoints -----------------

def test_a_tail_cut_with_its_checkpoints_passes_alone_but_not_against_a_witness(
    tmp_path: Path, keyring: tuple[SigningKey, dict[str, PublicKey]]
) -> None:
    key, trusted = keyring
    log, cps = checkpointed_log(tmp_path, key)
    witness = tmp_path / "office-witness.jsonl"  # what an office kept from the bundles it received
    witness.write_text(cps.read_text())
    assert audit.latest_checkpoint(cps) == json.loads(cps.read_text().splitlines()[-1])
    assert audit.verify_witnessed(log, witness, trusted) == 2
    # the hub cuts entries 7-9 and its second checkpoint: consistent in itself
    log.write_text("\n".join(log.read_text().splitlines()[:6]) + "\n")
    cps.write_text(cps.read_text().splitlines()[0] + "\n")
    assert audit.verify(log, cps, trusted=trusted) == 6
    with pytest.raises(HubError, match=r"has 6 entries but the checkpoint .*office-witness.jsonl:2 witnessed \(signed "
                                       r".*\) covers 8: entries 7–8 were removed after an office received"):
        audit.verify_witnessed(log, witness, trusted)


def test_a_rewritten_log_or_a_forged_witness_is_named(
    tmp_path: Path, keyring: tuple[SigningKey, dict[str, PublicKey]]
) -> None:
    key, trusted = keyring
    log, cps = checkpointed_log(tmp_path, key)
    witness = tmp_path / "office-witness.jsonl"
    witness.write_text(cps.read_text())
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    entries[1]["details"]["rows"] = 999
    rewrite(log, entries)
    with pytest.raises(HubError, match=r"audit.jsonl:5: differs from the checkpoint .*office-witness.jsonl:1 witnessed"):
        audit.verify_witnessed(log, witness, trusted)
    forged = json.loads(cps.read_text().splitlines()[0]) | {"head": "0" * 64}
    witness.write_text(json.dumps(forged) + "\n")
    with pytest.raises(HubError, match=r"office-witness.jsonl:1: checkpoint signature does not verify"):
        audit.verify_witnessed(log, witness, trusted)
