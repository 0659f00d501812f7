"""Offices sign for the bundles they applied; the hub collects, checks and records what they signed."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from hub.cli import main
from hub.config import load_config
from hub.demo.exchange import sftp_root
from hub.home import Home
from hub.inspect.trace import render, trace
from hub.normalize.warehouse import Warehouse
from hub.observe import audit
from hub.observe.run import RunContext
from hub.office import acknowledge, open_store
from hub.orchestration.checks import build_checks
from hub.orchestration.resources import HubResource
from hub.publish.acknowledgements import collect_acknowledgements, outstanding
from hub.publish.bundle import ACK_TYPE, ACKS
from hub.signing.crypto import load_signing_key, public_key_from_pem
from hub.signing.envelope import seal, unseal, valid_signers
from hub.signing.primitives import canonical_json
from tests.hub.exchange_homes import change_court_filings, copy_of, sftp_drop_served
from tests.hub.office.kit_homes import COURT, NOW, PROC, office_key, run


def receive(home: Path, office: str, inbox: Path, key: Path, tmp_path: Path) -> None:
    assert main(["office", "receive", "--inbox", str(inbox), "--store", str(tmp_path / f"{office}.duckdb"),
                 "--keys", str(home / "keys"), "--office", office, "--key", str(key)]) == 0


def collect(home: Path) -> dict[str, tuple[list[int], dict[str, str], str | None]]:
    config = load_config(home / "hub.yaml")
    with sftp_drop_served(home):  # the court's inbox is on the demo's SFTP server
        done = collect_acknowledgements(RunContext(config, Home(home), "collect"))
    return {r.office: (r.acknowledged, r.refused, r.error) for r in done}


def ledger(home: Path) -> list[tuple]:
    config = load_config(home / "hub.yaml")
    with Warehouse.open(config, Home(home), read_only=True) as wh:
        return wh.query("SELECT office, bundle_sequence, keyid FROM hub_acknowledgements ORDER BY ALL").fetchall()


def events(home: Path, name: str) -> list[dict]:
    return [e for e in audit.entries(Home(home).audit) if e["event"] == name]


def test_offices_sign_for_what_they_applied_and_the_hub_records_it_in_its_ledger_log_and_trace(
        demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = copy_of(demo, tmp_path)
    proc_key, court_key = office_key(home, PROC), office_key(home, COURT)
    proc_inbox, court_inbox = home / "outbox" / PROC, sftp_root(Home(home)) / "inbox" / COURT  # a folder; SFTP
    receive(home, PROC, proc_inbox, proc_key, tmp_path)
    receive(home, COURT, court_inbox, court_key, tmp_path)
    assert sorted(p.name for p in (proc_inbox / ACKS).iterdir()) == ["00000001.dsse.json"]

    assert collect(home) == {PROC: ([1], {}, None), COURT: ([1], {}, None)}
    keyids = {PROC: load_signing_key(proc_key).keyid, COURT: load_signing_key(court_key).keyid}
    assert ledger(home) == [(COURT, 1, keyids[COURT]), (PROC, 1, keyids[PROC])]
    logged = events(home, "acknowledged")
    assert {(e["subject"], e["details"]["sequence"], e["details"]["keyid"]) for e in logged} == {(o, 1, k) for o, k in keyids.items()}
    assert collect(home) == {PROC: ([], {}, None), COURT: ([], {}, None)}  # taken once

    # the hub keeps what each office signed: the envelope verifies with the office's key alone
    kept = Home(home).acknowledgements / PROC / "00000001.dsse.json"
    body, signatures = unseal(kept.read_bytes(), ACK_TYPE)
    public = public_key_from_pem((home / "offices" / PROC / "public" / f"{keyids[PROC]}.pem").read_bytes())
    assert valid_signers(ACK_TYPE, body, signatures, {public.keyid: public}) == [keyids[PROC]]
    assert json.loads(body)["office"] == PROC and json.loads(body)["sequence"] == 1

    config = load_config(home / "hub.yaml")
    with Warehouse.open(config, Home(home), read_only=True) as wh:
        status = wh.query("SELECT office, bool_and(acknowledged) FROM acknowledgement_status GROUP BY ALL ORDER BY ALL"
                          ).fetchall()
        assert (PROC, True) in status and (COURT, True) in status
        record = wh.query("SELECT record_key FROM hub_receipts WHERE office = ? AND dataset = 'filing' LIMIT 1",
                          [PROC]).fetchone()[0]
        traced = render(trace(config, Home(home), wh, record=record))
    assert "acknowledged: the office applied it" in traced and keyids[PROC][:12] in traced
    # the auditor's report names, per bundle, the office's own signed word and its key
    capsys.readouterr()
    assert main(["audit", "report", "--home", str(home), "--office", PROC]) == 0
    assert keyids[PROC][:12] in capsys.readouterr().out


def test_a_forged_or_misfiled_acknowledgement_is_refused_with_why_and_the_others_still_recorded(
        demo: Path, tmp_path: Path) -> None:
    home = copy_of(demo, tmp_path)
    key = office_key(home, PROC)
    stranger = office_key(home, PROC, register=False)  # a key the hub never registered for the office
    inbox = home / "outbox" / PROC
    change_court_filings(home)
    run(home)  # bundle 2
    store = tmp_path / "proc.duckdb"
    from hub.office import receive as kit_receive

    witness = tmp_path / "witnessed.jsonl"
    kit_receive(inbox, store, home / "keys", office=PROC, identity=None, now=NOW, witness=witness)
    with open_store(store) as opened:
        acknowledge(opened, inbox / ACKS, load_signing_key(stranger))  # both signed by the stranger
    (inbox / ACKS / "00000002.dsse.json").unlink()
    with open_store(store) as opened:  # the lost one signed again, with the checkpoint bundle 2 carried
        assert acknowledge(opened, inbox / ACKS, load_signing_key(key), witness=witness) == [2]

    taken, refused, error = collect(home)[PROC]
    assert taken == [2] and error is None and list(refused) == ["00000001.dsse.json"]
    assert refused["00000001.dsse.json"].startswith("bad-signature: signed by ")
    assert [(e["details"]["file"], e["details"]["reason"]) for e in events(home, "acknowledgement_refused")] == [
        ("00000001.dsse.json", "bad-signature")]
    assert len(list((Home(home).acknowledgements / PROC / "refused").glob("00000001.dsse.json.*"))) == 1  # set aside
    assert ledger(home) == [(PROC, 2, load_signing_key(key).keyid)]
    # the hub checkpoint the office handed back: the hub's log checks out against it
    handed_back = Home(home).acknowledgements / PROC / "checkpoints.jsonl"
    assert handed_back.read_text() == witness.read_text()
    assert main(["audit", "verify", "--home", str(home), "--witness", str(handed_back)]) == 0
    assert collect(home)[PROC] == ([], {}, None)  # refused before and unchanged: not refused again

    # an acknowledgement the office's own key signed that names a bundle the hub never sent
    body = json.loads(unseal((inbox / ACKS / "00000002.dsse.json").read_bytes(), ACK_TYPE)[0])
    (inbox / ACKS / "00000001.dsse.json").write_bytes(
        seal(ACK_TYPE, canonical_json(body | {"sequence": 1}), [load_signing_key(key)]))
    taken, refused, _ = collect(home)[PROC]
    assert taken == [] and refused["00000001.dsse.json"].startswith("unknown-bundle: ")
    reasons = [e["details"]["reason"] for e in events(home, "acknowledgement_refused")]
    assert reasons == ["bad-signature", "unknown-bundle"]

    # the office signs for bundle 1 properly: taken in
    (inbox / ACKS / "00000001.dsse.json").unlink()
    with open_store(store) as opened:
        acknowledge(opened, inbox / ACKS, load_signing_key(key))
    assert collect(home)[PROC][0] == [1]
    assert [r[:2] for r in ledger(home)] == [(PROC, 1), (PROC, 2)]


def test_a_bundle_not_acknowledged_in_time_is_overdue_in_the_check(demo: Path, tmp_path: Path) -> None:
    home = copy_of(demo, tmp_path)
    office_key(home, PROC)
    config = load_config(home / "hub.yaml")
    with Warehouse.open(config, Home(home), read_only=True) as wh:
        assert outstanding(wh, config, dt.datetime.now(dt.UTC)) == []  # published just now: not yet overdue
        late = outstanding(wh, config, dt.datetime.now(dt.UTC) + dt.timedelta(hours=25))
    assert [(o.office, o.bundle_sequence) for o in late] == [(PROC, 1)]  # only offices that acknowledge

    (check,) = [c for c in build_checks(config)
                if dg.AssetCheckKey(dg.AssetKey("acknowledgements"), "no_acknowledgement_overdue") in c.check_keys]
    assert check(hub=HubResource(home=str(home))).passed
    with Warehouse.open(config, Home(home)) as wh, wh.transaction():  # a day and more goes by
        wh.con.execute("UPDATE hub_bundles SET published_at = published_at - INTERVAL 25 HOUR")
    result = check(hub=HubResource(home=str(home)))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert f"{PROC} bundle 1" in (result.description or "")


def test_an_encrypted_office_key_signs_with_its_passphrase_and_fails_clearly_without(
        demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OFFICE_PASS", "correct horse")
    keygen = ["office", "keygen", "--private", str(tmp_path / "k"), "--public", str(tmp_path / "p"),
              "--passphrase-env", "OFFICE_PASS"]
    assert main(keygen) == 0
    (key,) = (tmp_path / "k").glob("*.key")
    inbox = tmp_path / "inbox"
    shutil.copytree(demo / "outbox" / PROC, inbox)
    args = ["office", "receive", "--inbox", str(inbox), "--store", str(tmp_path / "s.duckdb"), "--keys",
            str(demo / "keys"), "--office", PROC, "--key", str(key), "--passphrase-env", "OFFICE_PASS"]
    assert main(args) == 0 and "acknowledged bundle(s) 1" in capsys.readouterr().out
    (inbox / ACKS / "00000001.dsse.json").unlink()
    monkeypatch.setenv("OFFICE_PASS", "wrong horse")
    assert main(args) == 1
    assert "$OFFICE_PASS does not open signing key" in capsys.readouterr().err
    monkeypatch.delenv("OFFICE_PASS")
    assert main(args) == 1
    assert "$OFFICE_PASS is not set" in capsys.readouterr().err
    assert not (inbox / ACKS / "00000001.dsse.json").exists()


def test_bundles_a_later_acknowledged_full_snapshot_replaces_are_not_overdue(demo: Path, tmp_path: Path) -> None:
    home = copy_of(demo, tmp_path)
    key = office_key(home, PROC)
    settings = yaml.safe_load((home / "hub.yaml").read_text())
    for agreement in settings["agreements"]:
        if agreement["office"] == PROC:
            agreement["full_every"] = 2
    (home / "hub.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True, sort_keys=False))
    change_court_filings(home)
    run(home)  # bundle 2: the changes
    change_court_filings(home, 8)
    run(home)  # bundle 3: a full snapshot
    config, later = load_config(home / "hub.yaml"), dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)

    def overdue_and_status() -> tuple[list[int], list[tuple]]:
        with Warehouse.open(config, Home(home), read_only=True) as wh:
            return ([o.bundle_sequence for o in outstanding(wh, config, later)],
                    wh.query("SELECT bundle_sequence, acknowledged, superseded_by FROM acknowledgement_status "
                             "WHERE office = ? ORDER BY 1", [PROC]).fetchall())

    assert overdue_and_status()[0] == [1, 2, 3]  # nobody has signed for any of them
    receive(home, PROC, home / "outbox" / PROC, key, tmp_path)  # a new store: it starts from bundle 3
    assert collect(home)[PROC][0] == [3]
    assert overdue_and_status() == ([], [(1, False, 3), (2, False, 3), (3, True, None)])
