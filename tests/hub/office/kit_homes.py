"""The demo exchange the office kit's tests receive from: its date, its offices, a rerun."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
import yaml

from hub.cli import main
from hub.home import Home
from hub.orchestration.execute import run_exchange
from tests.hub.exchange_homes import sftp_drop_served

AS_OF = "2024-11-22"
NOW = dt.datetime(2024, 11, 22, 12, tzinfo=dt.UTC)
PROC, JUSTICE, COURT = "wh-proc-zhyw", "wh-justice-office", "wh-court-spo"
SERVERS = {"postgresql": os.environ.get("HUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
           "mariadb": os.environ.get("HUB_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")}


@contextmanager
def office_database(kind: str) -> Iterator[str]:
    """A new, empty database on the ``kind`` server for an office's store: its URL; dropped after."""
    server = sa.make_url(SERVERS[kind])
    name = f"kit_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as con:
            if kind == "postgresql":
                con.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
            else:
                con.execute(sa.text(f"DROP DATABASE {name}"))
        admin.dispose()


def held_in(url: str) -> dict[str, set[tuple]]:
    """Each dataset table of the office's store in the database at ``url``, as sets of rows."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            names = [n for n in sa.inspect(con).get_table_names() if not n.startswith("kit_")]
            return {n: set(map(tuple, con.execute(sa.select(sa.table(n, *(
                sa.column(c["name"]) for c in sa.inspect(con).get_columns(n))))).fetchall())) for n in names}
    finally:
        engine.dispose()


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
