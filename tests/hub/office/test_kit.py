"""The office kit: an office takes in its bundles, full and incremental, and holds what its share selects."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import re
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import duckdb
import pytest
import yaml

from hub.cli import main
from hub.config import load_config
from hub.demo.exchange import office_identity_path
from hub.errors import OfficeKitError, VerificationError
from hub.home import Home
from hub.normalize.warehouse import Warehouse
from hub.office import receive
from hub.publish.agreements import office_key, select_sql
from tests.hub.exchange_homes import change_court_filings, copy_of
from tests.hub.office.kit_homes import (
    COURT,
    JUSTICE,
    NOW,
    PROC,
    held_in,
    office_database,
    run,
)


def shared(home: Path, office: str) -> dict[str, set[tuple]]:
    """Each dataset's rows as the office's share selects them on the hub now, keys as sent."""
    config = load_config(home / "hub.yaml")
    agreement = config.agreement_for(office)
    assert agreement is not None
    out = {}
    with Warehouse.open(config, Home(home), read_only=True) as wh:
        for share in agreement.shares:
            sql, params = select_sql(share, with_key=True)
            out[share.record_type] = set(wh.con.execute(
                f"SELECT {office_key(share)}, * EXCLUDE (record_key) FROM ({sql})", params).fetchall())
    return out


def held(store: Path) -> dict[str, set[tuple]]:
    with duckdb.connect(str(store), read_only=True) as con:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT starts_with(table_name, "
                                           "'kit_')").fetchall()]  # the kit's own: its ledger, the trust it follows
        return {n: set(con.execute(f'SELECT * FROM "{n}"').fetchall()) for n in names}


def withdraw_hbw_filings(home: Path, n: int = 2) -> None:
    """Flag ``n`` filings deleted at the other court: their records leave the shared table."""
    with sqlite3.connect(home / "sources" / "hbw-court.sqlite") as db:
        db.execute("UPDATE filings SET is_deleted = 1, updated_at = '2099-01-02 00:00:00' "
                   "WHERE id IN (SELECT id FROM filings WHERE is_deleted = 0 ORDER BY id LIMIT ?)", [n])
    db.close()


def test_an_office_applies_full_and_incremental_bundles_and_holds_what_its_share_selects(
        demo: Path, tmp_path: Path) -> None:
    home = copy_of(demo, tmp_path)
    inbox, keys, store = home / "outbox" / PROC, home / "keys", tmp_path / "office" / "proc.duckdb"
    first = receive(inbox, store, keys, office=PROC, identity=None, now=NOW)
    assert [(r.sequence, r.full) for r in first] == [(1, True)]
    assert held(store) == shared(home, PROC)

    change_court_filings(home)
    withdraw_hbw_filings(home)
    run(home)
    witness = tmp_path / "office" / "checkpoints.jsonl"
    later = receive(inbox, store, keys, office=PROC, identity=None, now=NOW, witness=witness)
    assert [(r.sequence, r.full) for r in later] == [(2, False)] and later[0].rows["filing"] == 7  # 5 changed, 2 withdrawn
    assert witness.read_text().count("\n") == 1  # the hub's audit checkpoint bundle 2 carried, kept
    assert held(store) == shared(home, PROC)
    assert receive(inbox, store, keys, office=PROC, identity=None, now=NOW) == []  # nothing new: nothing applied

    change_court_filings(home, 8)
    run(home)
    assert [r.sequence for r in receive(inbox, store, keys, office=PROC, identity=None, now=NOW)] == [3]
    assert held(store) == shared(home, PROC)

    # the store lost: a new one re-reads the chain from the newest full snapshot, and then an old
    # bundle offered again (under any name) is a replay
    store.unlink()
    assert [r.sequence for r in receive(inbox, store, keys, office=PROC, identity=None, now=NOW)] == [1, 2, 3]
    assert held(store) == shared(home, PROC)
    shutil.copytree(inbox / "00000002", inbox / "00000004")
    with pytest.raises(VerificationError) as refused:
        receive(inbox, store, keys, office=PROC, identity=None, now=NOW)
    assert refused.value.reason == "rollback"
    assert held(store) == shared(home, PROC)  # the store is untouched


def test_another_offices_bundle_is_refused_and_its_store_stays_bound(demo: Path, tmp_path: Path) -> None:
    store = tmp_path / "court.duckdb"
    with pytest.raises(VerificationError) as refused:
        receive(demo / "outbox" / PROC, store, demo / "keys", office=COURT, identity=None, now=NOW)
    assert refused.value.reason == "wrong-office"
    receive(demo / "outbox" / COURT, store, demo / "keys", office=COURT, identity=None, now=NOW)
    with pytest.raises(OfficeKitError, match="holds office wh-court-spo's bundles"):
        receive(demo / "outbox" / PROC, store, demo / "keys", office=PROC, identity=None, now=NOW)


def test_an_encrypted_bundle_is_applied_with_the_offices_identity_only(demo: Path, tmp_path: Path) -> None:
    inbox, keys = demo / "outbox" / JUSTICE, demo / "keys"
    with pytest.raises(OfficeKitError, match="--identity"):
        receive(inbox, tmp_path / "a.duckdb", keys, office=JUSTICE, identity=None, now=NOW)
    stranger = tmp_path / "stranger.agekey"
    stranger.write_text("AGE-SECRET-KEY-1" + "Q" * 58 + "\n")
    stranger.chmod(0o600)
    with pytest.raises(Exception, match="age identity|decrypt"):
        receive(inbox, tmp_path / "b.duckdb", keys, office=JUSTICE, identity=stranger, now=NOW)
    assert held(tmp_path / "b.duckdb") == {}  # nothing of the bundle was applied
    identity = office_identity_path(Home(demo), JUSTICE)
    assert [r.full for r in receive(inbox, tmp_path / "c.duckdb", keys, office=JUSTICE, identity=identity, now=NOW)] == [True]
    assert held(tmp_path / "c.duckdb") == shared(demo, JUSTICE)


def test_the_kit_from_the_command_line(demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "court.duckdb"
    args = ["office", "receive", "--inbox", str(demo / "outbox" / COURT), "--store", str(store),
            "--keys", str(demo / "keys"), "--office", COURT]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "bundle 1 applied (full: " in out and f"1 bundle(s) applied to {store}" in out
    assert "  supervision: " in out  # the status after it: rows per table
    assert store.stat().st_mode & 0o077 == 0  # the office's data: its own eyes only
    assert main(args) == 0 and "nothing new in" in capsys.readouterr().out
    assert main(["office", "status", "--store", str(store)]) == 0
    assert f"office {COURT}, bundle 1 applied" in capsys.readouterr().out
    assert main(["office", "receive", "--inbox", str(demo / "outbox" / PROC), "--store", str(tmp_path / "x.duckdb"),
                 "--keys", str(demo / "keys"), "--office", COURT]) == 1
    assert "REJECTED (wrong-office)" in capsys.readouterr().err


def test_an_expired_bundle_is_passed_over_only_for_a_later_full_snapshot(tmp_path: Path) -> None:
    import pyarrow as pa

    from hub.publish.bundle import publish_bundle
    from hub.signing.crypto import generate_signing_key, load_signing_key

    keyid = generate_signing_key(tmp_path / "private", tmp_path / "keys")
    key, outbox, ttl = load_signing_key(tmp_path / "private" / f"{keyid}.key"), tmp_path / "outbox", dt.timedelta(days=1)
    t0 = dt.datetime(2024, 11, 1, tzinfo=dt.UTC)

    def bundle(keys: list[str], at: dt.datetime, extract: str) -> None:
        data = pa.table({"record_key": keys, "n": list(range(len(keys)))})
        if extract == "incremental":
            data = data.add_column(0, "_change", pa.array(["new"] * len(keys)))
        publish_bundle(outbox, COURT, {"filing": data}, {"office": COURT, "extract": extract}, key, now=at, ttl=ttl)

    bundle(["a", "b"], t0, "full")
    inbox, store = outbox / COURT, tmp_path / "court.duckdb"
    assert [r.sequence for r in receive(inbox, store, tmp_path / "keys", office=COURT, identity=None,
                                        now=t0 + dt.timedelta(minutes=1))] == [1]
    bundle(["c"], t0 + dt.timedelta(hours=1), "incremental")
    later = t0 + dt.timedelta(days=2)  # the office was away: bundle 2 expired unapplied
    with pytest.raises(VerificationError) as refused:  # nothing replaces it yet: it stays refused
        receive(inbox, store, tmp_path / "keys", office=COURT, identity=None, now=later)
    assert refused.value.reason == "expired"
    bundle(["a", "c", "d"], later - dt.timedelta(hours=1), "full")
    notes: list[str] = []
    applied = receive(inbox, store, tmp_path / "keys", office=COURT, identity=None, now=later, progress=notes.append)
    assert [(r.sequence, r.full) for r in applied] == [(3, True)] and "bundle 2 expired unapplied" in notes[0]
    assert held(store) == {"filing": {("a", 0), ("c", 1), ("d", 2)}}


def test_ten_bundles_with_a_periodic_full_snapshot_and_withdrawals_leave_each_kind_of_store_equal_to_the_share(
        demo: Path, tmp_path: Path) -> None:
    home = copy_of(demo, tmp_path)
    inbox, keys = home / "outbox" / PROC, home / "keys"
    with office_database("postgresql") as pg, office_database("mariadb") as maria:
        stores: dict[str, str | Path] = {"duckdb": tmp_path / "proc.duckdb", "postgresql": pg, "mariadb": maria}

        def take() -> list[tuple[int, bool]]:
            """Each store takes the new bundles; each then holds what the share selects on the hub."""
            applied = {kind: [(r.sequence, r.full) for r in receive(inbox, where, keys, office=PROC, identity=None,
                                                                     now=NOW)] for kind, where in stores.items()}
            want = shared(home, PROC)
            for kind, where in stores.items():
                assert (held(where) if isinstance(where, Path) else held_in(where)) == want, kind
            assert applied["postgresql"] == applied["mariadb"] == applied["duckdb"]
            return applied["duckdb"]

        applied = take()
        for n in range(2, 11):  # the procuratorate's agreement: incremental, every 7th bundle a full snapshot
            with sqlite3.connect(home / "sources" / "wh-court.sqlite") as db:  # each round later than the last
                db.execute("UPDATE t_ajxx_la SET ay = ay || ?, gxsj = ? WHERE ajbs IN "
                           "(SELECT ajbs FROM t_ajxx_la ORDER BY ajbs LIMIT 3 OFFSET ?)",
                           [f"（第{n}次更正）", f"2099-02-{n:02d} 00:00:00", 3 * n])
            db.close()
            if n in (4, 9):
                withdraw_hbw_filings(home, n)
            if n == 5:  # the agreement's new version shares one more column: sent in an incremental bundle
                text = (home / "hub.yaml").read_text(encoding="utf-8")
                text = text.replace("  - id: FJXZ-2024-02\n    version: 1", "  - id: FJXZ-2024-02\n    version: 2")
                assert text.count("juvenile: clear, public_interest: clear}") == 1
                text = text.replace("juvenile: clear, public_interest: clear}", "juvenile: clear, public_interest: clear, "
                                    "court_name: clear}")
                (home / "hub.yaml").write_text(text, encoding="utf-8")
            run(home)
            applied += take()  # after every bundle, not only the last
    assert applied == [(n, n in (1, 8)) for n in range(1, 11)]


def test_an_office_keeps_its_store_in_its_own_database_named_by_url_with_the_password_from_the_environment(
        demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = tmp_path / "office.yaml"

    def kit(**store: str) -> list[str]:
        settings.write_text(yaml.safe_dump({"office": COURT, "keys": str(demo / "keys"),
                                            "inbox": str(demo / "outbox" / COURT), **store}))
        return ["--config", str(settings)]

    with office_database("postgresql") as url:
        assert main(["office", "receive", *kit(store=url.replace("postgres@", "postgres:s3cret@"))]) == 2
        assert "the store's URL holds a password" in capsys.readouterr().err  # secrets stay out of files

        monkeypatch.delenv("KIT_DB_PASSWORD", raising=False)
        args = kit(store=url, store_password_env="KIT_DB_PASSWORD")
        assert main(["office", "receive", *args]) == 2
        assert "KIT_DB_PASSWORD is not set" in capsys.readouterr().err
        monkeypatch.setenv("KIT_DB_PASSWORD", "any")  # the test server trusts loopback: any password does
        assert main(["office", "receive", *args]) == 0
        assert f"1 bundle(s) applied to {url}" in capsys.readouterr().out
        assert held_in(url) == shared(demo, COURT)
        assert main(["office", "status", *args]) == 0
        assert f"office {COURT}, bundle 1 applied" in capsys.readouterr().out
        assert main(["office", "receive", *args]) == 0 and "nothing new in" in capsys.readouterr().out

    down = "postgresql+psycopg://postgres@127.0.0.1:9/kit"  # nothing listens on the discard port
    assert main(["office", "status", "--store", down]) == 1
    err = capsys.readouterr().err
    assert f"cannot open the office store {down}" in err and "the database is up" in err


def test_the_kit_runs_with_its_own_requirements_only(demo: Path, tmp_path: Path) -> None:
    """Every package the hub depends on beyond requirements-office.txt made unimportable, the kit
    still makes its key, receives, signs and reports."""
    root = Path(__file__).parents[3]

    def names(lines: list[str]) -> set[str]:
        found = (re.match(r"[A-Za-z0-9._-]+", line.strip()) for line in lines if not line.lstrip().startswith("#"))
        return {re.sub(r"[-_.]+", "-", m.group(0)).lower() for m in found if m}

    hub_needs = names(tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"])
    kit_needs = names((root / "requirements-office.txt").read_text().splitlines())
    assert kit_needs < hub_needs
    blocked = sorted({module for module, dists in importlib.metadata.packages_distributions().items()
                      if any(re.sub(r"[-_.]+", "-", d).lower() in hub_needs - kit_needs for d in dists)})
    assert {"dagster", "openlineage", "matplotlib", "psycopg"} <= set(blocked)
    kit = f"""import sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError("not in requirements-office.txt: " + name)
sys.meta_path.insert(0, Blocked())
from hub.cli import main
sys.exit(main(sys.argv[1:]))"""

    def hub_office(*args: str) -> str:
        done = subprocess.run([sys.executable, "-c", kit, "office", *args], capture_output=True, text=True,
                              cwd=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    hub_office("keygen", "--private", "private", "--public", "public")
    (key,) = (tmp_path / "private").glob("*.key")
    inbox = tmp_path / "inbox"
    shutil.copytree(demo / "outbox" / PROC, inbox)
    out = hub_office("receive", "--inbox", str(inbox), "--store", "proc.duckdb", "--keys", str(demo / "keys"),
                     "--office", PROC, "--key", str(key))
    assert "bundle 1 applied" in out and "acknowledged bundle(s) 1" in out
    assert f"office {PROC}, bundle 1 applied" in hub_office("status", "--store", "proc.duckdb")
    assert held(tmp_path / "proc.duckdb") == shared(demo, PROC)
