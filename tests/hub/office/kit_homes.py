"""The demo exchange the office kit's tests receive from: its date, its offices, a rerun."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from hub.cli import main
from hub.home import Home
from hub.orchestration.execute import run_exchange
from tests.hub.exchange_homes import sftp_drop_served

AS_OF = "2024-11-22"
NOW = dt.datetime(2024, 11, 22, 12, tzinfo=dt.UTC)
PROC, JUSTICE, COURT = "wh-proc-zhyw", "wh-justice-office", "wh-court-spo"


def run(home: Path) -> None:
    """The exchange once more on ``home`` (a copy of the demo), its SFTP drop served."""
    with sftp_drop_served(home):
        assert run_exchange(Home(home), as_of=dt.date.fromisoformat(AS_OF))


def office_key(home: Path, office: str, *, register: bool = True) -> Path:
    """The office makes its key with the kit; the hub lists its public half in hub.yaml (unless not
    ``register``: a key the hub never heard of)."""
    folder = home / "offices" / (office if register else f"{office}-stranger")
    private, public = folder / "private", folder / "public"
    assert main(["office", "keygen", "--private", str(private), "--public", str(public)]) == 0
    (pem,) = public.glob("*.pem")
    if register:
        config = yaml.safe_load((home / "hub.yaml").read_text())
        for o in config["offices"]:
            if o["id"] == office:
                o.setdefault("acknowledgement_keys", []).append(str(pem.relative_to(home)))
        (home / "hub.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    (key,) = private.glob("*.key")
    return key
