"""The scale profile: the lakehouse's catalog in PostgreSQL and its data files on S3 (a real
SeaweedFS), configured in hub.yaml with secrets from the environment. The exchange run on it
ends with the same warehouse and bundles as on the embedded default, keeps nothing under the
home, and each bad setting fails with one error that names it."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

import hub
from benchmarks.s3 import S3Server, seaweedfs
from hub.config import load_config
from hub.demo import exchange
from hub.demo.sftp_server import DemoSftpServer
from hub.errors import ConfigError, WarehouseError
from hub.home import Home
from hub.inspect.reproduce import reproduce
from hub.lake.location import Lake
from hub.normalize import upkeep_warehouse
from hub.normalize.warehouse import Warehouse
from hub.observe.run import RunContext
from hub.orchestration.execute import run_exchange
from hub.pull.landing import landed_batches
from schemas.tables import RECORD_TYPES
from tests.proxy import TcpProxy

AS_OF = dt.date(2024, 11, 22)
PG = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def catalog_db() -> Iterator[str]:
    name = f"hub_lake_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    yield name
    with psycopg.connect(PG, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def scale_section(s3: S3Server, db: str, prefix: str) -> dict:
    return {"catalog": f"postgresql://postgres@127.0.0.1:5432/{db}", "catalog_password_env": "HUB_TEST_LAKE_PASSWORD",
            "data_path": f"s3://{s3.bucket}/{prefix}/",
            "s3": {"endpoint": s3.endpoint, "use_ssl": False, "key_id_env": "HUB_TEST_S3_KEY",
                   "secret_env": "HUB_TEST_S3_SECRET"}}


def demo_home(root: Path, warehouse: dict | None) -> tuple[Home, object]:
    """A demo home whose hub.yaml has ``warehouse`` (None: the embedded default); its exchange run."""
    home = Home(root)
    root.mkdir(parents=True)
    exchange.ensure_keys(home)
    with DemoSftpServer(exchange.sftp_root(home), exchange.host_key_path(home),
                        exchange.client_public_line(home)) as server:
        exchange.create(home, port=server.port, as_of=AS_OF)
        if warehouse is not None:
            raw = yaml.safe_load(home.config.read_text(encoding="utf-8"))
            home.config.write_text(yaml.safe_dump(raw | {"warehouse": warehouse}, allow_unicode=True, sort_keys=False),
                                   encoding="utf-8")
        done = run_exchange(home, as_of=AS_OF)
    return home, done


def sftp_port(home: Home) -> int:
    from hub.config import SftpDropSource
    return next(s.sftp.port for s in load_config(home.config).sources if isinstance(s, SftpDropSource))


def contents(home: Home) -> dict[str, object]:
    """What the warehouse holds, without what differs from run to run (run ids, times)."""
    config = load_config(home.config)
    with Lake.of(config, home).connect(read_only=True) as con:
        out: dict[str, object] = {
            rt: con.execute(f"SELECT record_key, row_hash, deleted FROM {rt}_history ORDER BY ALL").fetchall()
            for rt in RECORD_TYPES}
        out["quarantine"] = con.execute("SELECT source_name, source_row, rule FROM quarantine ORDER BY ALL").fetchall()
        out["batches"] = con.execute("SELECT source_name, rows_in, rows_applied, rows_quarantined FROM hub_batches "
                                     "ORDER BY ALL").fetchall()
        out["receipts"] = con.execute("SELECT office, dataset, bundle_row, change, record_key, row_hash "
                                      "FROM hub_receipts ORDER BY ALL").fetchall()
        out["holdings"] = con.execute("SELECT office, dataset, record_key FROM hub_holdings ORDER BY ALL").fetchall()
    return out


def bundle_rows(home: Home) -> dict[str, dict[str, int]]:
    import base64
    out = {}
    for manifest in sorted(home.outbox.glob("*/0*/manifest.dsse.json")):
        pred = json.loads(base64.b64decode(json.loads(manifest.read_text())["payload"]))["predicate"]
        out[f"{pred['office']}/{pred['sequence']}"] = {k: v["rows"] for k, v in pred["datasets"].items()}
    return out


def test_the_exchange_on_postgresql_and_s3_ends_as_on_the_embedded_default(
    s3: S3Server, catalog_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUB_TEST_LAKE_PASSWORD", "unused-with-trust-auth")
    monkeypatch.setenv("HUB_TEST_S3_KEY", s3.key_id)
    monkeypatch.setenv("HUB_TEST_S3_SECRET", s3.secret)
    embedded, done = demo_home(tmp_path / "embedded", None)
    assert done, done.failures
    scaled, done = demo_home(tmp_path / "scaled", scale_section(s3, catalog_db, "exchange"))
    assert done, done.failures
    assert not scaled.lake.exists()  # nothing of the warehouse under the home
    assert contents(scaled) == contents(embedded)
    assert bundle_rows(scaled) == bundle_rows(embedded) and bundle_rows(scaled)
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={catalog_db}") as pg:
        files = pg.execute("SELECT count(*) FROM ducklake_data_file WHERE end_snapshot IS NULL").fetchone()[0]
    config = load_config(scaled.config)
    with hub.connect(scaled.root) as con:
        paths = [r[0] for r in con.execute("SELECT data_file FROM ducklake_list_files('lake', 'filing_versions')").fetchall()]
    assert files > 0 and paths and all(p.startswith(f"s3://{s3.bucket}/exchange/") for p in paths)
    for bundle in sorted(scaled.outbox.glob("*/0*")):  # time travel over S3 and PostgreSQL
        assert reproduce(config, scaled, bundle).ok
    upkept = upkeep_warehouse(RunContext(config, scaled, "upkeep"))
    assert upkept.files_compacted > 0
    assert contents(scaled) == contents(embedded)


def test_secrets_never_reach_what_the_hub_writes(s3: S3Server, catalog_db: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_TEST_LAKE_PASSWORD", "pw-" + uuid.uuid4().hex)
    monkeypatch.setenv("HUB_TEST_S3_KEY", s3.key_id)
    monkeypatch.setenv("HUB_TEST_S3_SECRET", s3.secret)
    home, done = demo_home(tmp_path / "home", scale_section(s3, catalog_db, "secrets"))
    assert done, done.failures
    written = b"".join(p.read_bytes() for p in home.root.rglob("*") if p.is_file() and not p.is_symlink())
    for value in (s3.secret, s3.key_id):
        assert value.encode() not in written
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={catalog_db}") as pg:
        dumped = " ".join(str(r) for r in pg.execute("SELECT * FROM ducklake_metadata").fetchall())
    assert s3.secret not in dumped and s3.key_id not in dumped


def test_each_bad_setting_fails_with_one_error_naming_it(s3: S3Server, catalog_db: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    home = Home(tmp_path / "home")
    home.root.mkdir()
    (home.root / "hub.yaml").write_text(yaml.safe_dump({
        "institutions": [], "sources": [], "offices": [], "agreements": [],
        "warehouse": scale_section(s3, catalog_db, "bad")}), encoding="utf-8")
    config = load_config(home.config)
    monkeypatch.setenv("HUB_TEST_LAKE_PASSWORD", "x")
    monkeypatch.setenv("HUB_TEST_S3_KEY", s3.key_id)
    with pytest.raises(ConfigError, match="warehouse.s3.secret_env: environment variable HUB_TEST_S3_SECRET is not set"):
        Warehouse.open(config, home)
    monkeypatch.setenv("HUB_TEST_S3_SECRET", "wrong")
    with pytest.raises(WarehouseError, match=r"cannot write the lakehouse \(PostgreSQL catalog .*data s3://hub-lake/bad/\)"
                       r".*Forbidden.*check warehouse.data_path .*keys in \$HUB_TEST_S3_KEY and \$HUB_TEST_S3_SECRET"):
        Warehouse.open(config, home)
    monkeypatch.setenv("HUB_TEST_S3_SECRET", s3.secret)
    missing = config.model_copy(update={"warehouse": config.warehouse.model_copy(
        update={"catalog": "postgresql://postgres@127.0.0.1:5432/no_such_database"})})
    with pytest.raises(WarehouseError, match="cannot open the lakehouse .*no_such_database.*check warehouse.catalog "
                       r"in hub.yaml and the password in \$HUB_TEST_LAKE_PASSWORD"):
        Warehouse.open(missing, home)
    stopped = config.model_copy(update={"warehouse": config.warehouse.model_copy(
        update={"catalog": "postgresql://postgres@127.0.0.1:1/hub"})})
    with pytest.raises(WarehouseError, match="cannot open the lakehouse .*port=1.*PostgreSQL server is up"):
        Warehouse.open(stopped, home)
    moved = config.model_copy(update={"warehouse": config.warehouse.model_copy(update={"data_path": "s3://hub-lake/w/"})})
    with pytest.raises(WarehouseError, match="does not match existing data path.*check warehouse.data_path"):
        Warehouse.open(moved, home)
    no_bucket = config.model_copy(update={"warehouse": config.warehouse.model_copy(
        update={"data_path": "s3://no-such-bucket/w/", "catalog_schema": "fresh"})})
    with pytest.raises(WarehouseError, match="cannot write the lakehouse .*s3://no-such-bucket/w/.*the bucket must exist"):
        Warehouse.open(no_bucket, home)


def test_a_run_the_lakehouse_refused_leaves_nothing_half_written_and_the_rerun_applies_all(
    s3: S3Server, catalog_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUB_TEST_LAKE_PASSWORD", "x")
    monkeypatch.setenv("HUB_TEST_S3_KEY", s3.key_id)
    monkeypatch.setenv("HUB_TEST_S3_SECRET", "wrong-secret")
    home, done = demo_home(tmp_path / "home", scale_section(s3, catalog_db, "refused"))
    failed = dict(done.failures)
    assert "normalize" in failed and "check warehouse.data_path" in failed["normalize"], done.failures
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={catalog_db}") as pg:
        tables = pg.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'ducklake_table'"
                            ).fetchone()[0]
        held = pg.execute("SELECT count(*) FROM ducklake_table WHERE end_snapshot IS NULL").fetchone()[0] if tables else 0
    assert held == 0  # not even the schema: the transaction that would have written it was undone
    monkeypatch.setenv("HUB_TEST_S3_SECRET", s3.secret)
    with DemoSftpServer(exchange.sftp_root(home), exchange.host_key_path(home), exchange.client_public_line(home),
                        port=sftp_port(home)):
        assert run_exchange(home, as_of=AS_OF)
    config = load_config(home.config)
    landed = {b.batch_id for b in landed_batches(home.landing, [s.name for s in config.sources])}
    with Lake.of(config, home).connect(read_only=True) as con:
        applied = [r[0] for r in con.execute("SELECT batch_id FROM hub_batches").fetchall()]
    assert landed and sorted(applied) == sorted(landed)  # every landed batch, each once


@pytest.mark.parametrize(("section", "fix"), [
    ({"data_path": "s3://b/p/"}, "data_path s3://b/p/ is on S3: add an s3: block"),
    ({"catalog": "postgresql://hub:secret@127.0.0.1/db"}, "is not a PostgreSQL URL"),
    ({"s3": {"endpoint": "127.0.0.1:1"}}, "an s3: block needs data_path: s3://"),
    ({"data_path": "s3://b/p/", "s3": {"endpoint": "127.0.0.1:1"}}, "need a catalog other processes"),
    ({"s3": {"endpoint": "http://x:1"}, "data_path": "s3://b/", "catalog": "postgresql://u@h/d"}, "without a scheme"),
    ({"snapshot_retention_days": 7}, "shorter than a bundle lives"),
])
def test_warehouse_settings_are_checked_on_load(tmp_path: Path, section: dict, fix: str) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({"institutions": [], "sources": [], "offices": [], "agreements": [],
                                    "warehouse": section}), encoding="utf-8")
    with pytest.raises(ConfigError, match="warehouse") as raised:
        load_config(path)
    assert fix in str(raised.value)


def test_the_catalog_is_reached_with_the_host_user_and_password_of_its_secret(
    catalog_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a password, the catalog's connection is made from the secret alone: through a proxy
    on the port hub.yaml names, the bytes show it went there (the password itself cannot be
    checked here: this PostgreSQL trusts local connections)."""
    monkeypatch.setenv("HUB_TEST_LAKE_PASSWORD", "pw-" + uuid.uuid4().hex)
    home = Home(tmp_path / "home")
    home.root.mkdir()
    with TcpProxy(("127.0.0.1", 5432)) as proxy:
        (home.root / "hub.yaml").write_text(yaml.safe_dump({
            "institutions": [], "sources": [], "offices": [], "agreements": [],
            "warehouse": {"catalog": f"postgresql://postgres@127.0.0.1:{proxy.port}/{catalog_db}",
                          "catalog_password_env": "HUB_TEST_LAKE_PASSWORD", "data_path": "lake-files"}}),
            encoding="utf-8")
        with Warehouse.open(load_config(home.config), home) as wh:
            assert wh.applied() == set()
        assert proxy.bytes_down > 0
    assert (home.root / "lake-files").is_dir()
