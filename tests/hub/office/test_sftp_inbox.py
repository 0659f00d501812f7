"""The office kit on an SFTP inbox, from its settings file: bundles mirrored, acknowledgements returned."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from connectors.sftp import host_key_line
from hub.cli import main
from hub.config import load_config
from hub.demo.exchange import sftp_root
from hub.home import Home
from hub.observe.run import RunContext
from hub.publish.acknowledgements import collect_acknowledgements
from hub.publish.bundle import ACKS
from hub.publish.trust import TRUST
from hub.signing.crypto import generate_ssh_key
from tests.hub.exchange_homes import copy_of, sftp_drop_served
from tests.hub.office.kit_homes import COURT, office_key, run


def kit_settings(home: Path, office_dir: Path, key: Path, **sftp: str) -> Path:
    """office.yaml for the court's office: its inbox is the folder the hub delivers to on the
    demo's SFTP server (the demo's client key stands in for the office's own account)."""
    inbox = load_config(home / "hub.yaml").office(COURT).delivery.sftp
    assert inbox is not None
    shutil.copytree(home / "keys", office_dir / "hub-keys", ignore=shutil.ignore_patterns(TRUST))
    settings = {
        "office": COURT, "store": "court.duckdb", "keys": "hub-keys", "inbox": "mirror", "key": str(key),
        "sftp": {"host": inbox.host, "port": inbox.port, "username": inbox.username,
                 "key_path": str(Home(home).resolve(inbox.key_path)), "host_key": inbox.host_key,
                 "remote_dir": f"{inbox.remote_dir}/{COURT}"} | sftp,
    }
    path = office_dir / "office.yaml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True))
    return path


def test_an_office_mirrors_its_sftp_inbox_and_returns_what_it_signed(
        demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = copy_of(demo, tmp_path)
    key = office_key(home, COURT)
    office = tmp_path / "court-office"
    settings = kit_settings(home, office, key)
    served = sftp_root(Home(home)) / "inbox" / COURT

    with sftp_drop_served(home):
        assert main(["office", "receive", "--config", str(settings)]) == 0
        out = capsys.readouterr().out
        assert "bundle 1 downloaded" in out and "1 bundle(s) applied" in out and "1 returned" in out
        assert sorted(p.name for p in (office / "mirror").iterdir()) == ["00000001", ACKS, TRUST]
        assert (served / ACKS / "00000001.dsse.json").read_bytes() == (
            office / "mirror" / ACKS / "00000001.dsse.json").read_bytes()
        done = collect_acknowledgements(RunContext(load_config(home / "hub.yaml"), Home(home), "collect"))
    assert [(r.office, r.acknowledged) for r in done] == [(COURT, [1])]

    config = yaml.safe_load((home / "hub.yaml").read_text())
    for agreement in config["agreements"]:
        if agreement["office"] == COURT:  # new terms: the office gets a bundle under them
            agreement["version"] = agreement.get("version", 1) + 1
    (home / "hub.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    run(home)  # bundle 2, delivered to the server
    with sftp_drop_served(home):
        assert main(["office", "receive", "--config", str(settings)]) == 0
    out = capsys.readouterr().out
    assert "bundle 2 downloaded" in out and "bundle 1 downloaded" not in out
    assert main(["office", "status", "--config", str(settings)]) == 0
    assert f"office {COURT}, bundle 2 applied" in capsys.readouterr().out


def test_an_inbox_whose_host_key_does_not_match_is_refused_naming_the_server(
        demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = copy_of(demo, tmp_path)
    generate_ssh_key(tmp_path / "impostor")
    impostor = host_key_line(tmp_path / "impostor")  # another server's key
    settings = kit_settings(home, tmp_path / "office", office_key(home, COURT), host_key=impostor)
    with sftp_drop_served(home):
        assert main(["office", "receive", "--config", str(settings)]) != 0
    err = capsys.readouterr().err
    assert "host key" in err and "127.0.0.1" in err
    assert not (tmp_path / "office" / "mirror" / "00000001").exists()
