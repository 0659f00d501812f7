"""hub.yaml validation: every mistake names the file, the key and what to do."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.config import load_config, secret
from hub.errors import ConfigError
from hub.normalize.warehouse import Warehouse

VALID: dict[str, Any] = {
    "version": 1,
    "institutions": [
        {"id": "c1", "name": "乌海市中级人民法院", "kind": "court", "court_code": "内03"},
        {"id": "p1", "name": "乌海市人民检察院", "kind": "procuratorate"},
    ],
    "sources": [
        {
            "name": "c1_filing", "institution": "c1", "record_type": "filing", "kind": "database",
            "database": {"url": "sqlite:///x.sqlite", "table": "t_la", "cursor": "gxsj"},
            "key": "id", "mapping": {"case_no": "ah", "filing_date": "larq"},
        },
        {
            "name": "p1_sup", "institution": "p1", "record_type": "supervision", "kind": "sftp",
            "sftp": {"host": "127.0.0.1", "username": "u", "key_path": "k", "host_key": "ssh-ed25519 AAAAC3Nz"},
            "key": "文书编号",
            "mapping": {"doc_no": "文书编号", "measure": "监督方式", "target_case_no": "案号", "issued_date": "发出日期"},
        },
    ],
    "offices": [{"id": "spo", "name": "审判管理办公室", "institution": "c1"}],
    "agreements": [
        {"id": "A1", "office": "spo", "shares": [
            {"record_type": "supervision",
             "where": [{"column": "target_court_code", "op": "in", "value": ["内03"]}],
             "columns": {"doc_no": "clear", "measure": "clear"}},
        ]},
    ],
}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def broken(tmp_path: Path, edit: Any) -> ConfigError:
    data = copy.deepcopy(VALID)
    edit(data)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, data))
    return info.value


def test_valid_config_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert [s.name for s in config.sources_of("supervision")] == ["p1_sup"]
    agency_only = copy.deepcopy(VALID)  # recommendations to agencies only: no target case column to map
    del agency_only["sources"][1]["mapping"]["target_case_no"]
    agency_only["sources"][1]["mapping"]["target_agency"] = "建议对象"
    assert load_config(write(tmp_path, agency_only)).sources[1].mapping["target_agency"] == "建议对象"
    assert config.agreement_for("spo").id == "A1"  # type: ignore[union-attr]
    assert config.sources[0].database.batch_size == 50_000  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("edit", "key", "needle"),
    [
        (lambda d: d["sources"][0]["mapping"].update(colour="x"), "sources[0]", "'colour' is not a filing field"),
        (lambda d: d["sources"][0]["mapping"].pop("filing_date"), "sources[0]", "lacks required filing fields: filing_date"),
        (lambda d: d["sources"][1]["mapping"].pop("target_case_no"), "sources[1]",
         "lacks required supervision fields: target_case_no"),
        (lambda d: d["sources"][0]["database"].update(table="t; DROP TABLE x"), "sources[0].database.table", "not a plain SQL identifier"),
        (lambda d: d["sources"][0]["mapping"].update(cause='ay" OR 1=1'), "sources[0]", "not a plain SQL identifier"),
        (lambda d: d["sources"][0].pop("database"), "sources[0].database", "needs a 'database:' block"),
        (lambda d: d["sources"][1].pop("sftp"), "sources[1].sftp", "needs an 'sftp:' block"),
        (lambda d: d["sources"][1]["sftp"].update(host_key="AAAA"), "sources[1].sftp.host_key", "pin the server's host key"),
        (lambda d: d["sources"][1]["sftp"].pop("host_key"), "sources[1].sftp", "set host_key"),
        (lambda d: d["sources"][1]["sftp"].update(regex="jdcs_(\\d+"), "sources[1].sftp.regex", "does not compile"),
        (lambda d: d["sources"][0].update(soft_delete={"column": "sc; DROP", "values": ["1"]}),
         "sources[0].soft_delete.column", "not a plain SQL identifier"),
        (lambda d: d["sources"][0]["database"].update(reconcile_every_hours=0), "sources[0].database.reconcile_every_hours",
         "greater than 0"),
        (lambda d: d["sources"][0].update(cadence="hourly"), "sources[0].cadence", "not a cron schedule"),
        (lambda d: d["sources"][0].update(institution="nobody"), "sources[0].institution", "'nobody' is not declared under institutions"),
        (lambda d: d["sources"][0]["database"].update(password_env="lower-case"), "sources[0].database.password_env", "not an environment variable name"),
        (lambda d: d["institutions"][0].pop("court_code"), "institutions[0]", "needs court_code"),
        (lambda d: d["agreements"][0].update(office="ghost"), "agreements[0].office", "'ghost' is not declared under offices"),
        (lambda d: d["agreements"][0].update(heartbeat_hours=24 * 31), "agreements[0].heartbeat_hours",
         "longer than a bundle lives (hub.bundle_ttl_days: 720 hours)"),
        (lambda d: d["agreements"][0]["shares"][0]["columns"].update(salary="clear"), "agreements[0].shares[0]", "'salary' is not a column of supervision"),
        (lambda d: d["agreements"][0]["shares"][0]["columns"].update(doc_no="encrypt"), "agreements[0].shares[0].columns.doc_no", "Input should be"),
        (lambda d: d["agreements"][0]["shares"][0]["where"][0].update(op="in", value="内03"), "agreements[0].shares[0].where[0]", "needs a list value"),
        (lambda d: d["agreements"][0]["shares"][0]["where"][0].update(op="eq", value=None), "agreements[0].shares[0].where[0]", "needs one scalar value"),
        (lambda d: d["agreements"][0]["shares"][0].update(columns={"doc_no": "drop"}), "agreements[0].shares[0]", "names no column to send"),
        (lambda d: d["offices"][0].update(id="../etc"), "offices[0].id", "office ids name folders"),
        (lambda d: d["offices"][0].update(delivery={"kind": "sftp"}), "offices[0].delivery", "needs an 'sftp:' block"),
        (lambda d: d["offices"][0].update(recipients=["ssh-ed25519 AAAA"]), "offices[0].recipients", "not an age X25519 recipient"),
        (lambda d: d["sources"].append(copy.deepcopy(d["sources"][0])), "sources[2]", "'c1_filing' appears more than once"),
        (lambda d: d.update(extra_section=1), "extra_section", "unknown key 'extra_section'; remove it"),
    ],
)
def test_errors_name_file_key_and_fix(tmp_path: Path, edit: Any, key: str, needle: str) -> None:
    err = broken(tmp_path, edit)
    text = str(err)
    assert text.startswith(str(tmp_path / "hub.yaml")), text
    assert f": {key}" in text, text
    assert needle in text, text


def test_missing_file_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="hub demo"):
        load_config(tmp_path / "nope.yaml")


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text("sources: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_secret_comes_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURT_DB_PASSWORD", "s3cret")
    assert secret("COURT_DB_PASSWORD", "x") == "s3cret"
    monkeypatch.delenv("COURT_DB_PASSWORD")
    with pytest.raises(ConfigError, match="COURT_DB_PASSWORD is not set"):
        secret("COURT_DB_PASSWORD", "sources.c1.database.password_env")


def test_duckdb_memory_limit_is_checked_and_applied(tmp_path: Path) -> None:
    from hub.home import Home
    
    with pytest.raises(ConfigError, match=r"hub\.duckdb_memory_limit: 'lots' is not an amount of memory.*1GB"):
        load_config(write(tmp_path, VALID | {"hub": {"duckdb_memory_limit": "lots"}}))
    with pytest.raises(ConfigError, match="is not an amount of memory"):
        load_config(write(tmp_path, VALID | {"hub": {"duckdb_memory_limit": "1GB'; PRAGMA x; --"}}))
    home = Home(tmp_path)
    for limit, expected in (("1500MB", "1.3 GiB"), ("2GiB", "2.0 GiB")):
        config = load_config(write(tmp_path, VALID | {"hub": {"duckdb_memory_limit": limit}}))
        with Warehouse.open(config, home) as wh:
            assert wh.con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0] == expected


def test_a_source_is_a_database_or_an_sftp_drop_and_says_which(tmp_path: Path) -> None:
    """The ``kind`` decides which block a source has: the other kind's block is refused, and an
    unknown kind names the ones there are."""
    from hub.config import DatabaseSource, SftpDropSource

    config = load_config(write(tmp_path, VALID))
    assert isinstance(config.source("c1_filing"), DatabaseSource) and config.source("c1_filing").database.table == "t_la"
    assert isinstance(config.source("p1_sup"), SftpDropSource) and config.source("p1_sup").format.type == "csv"
    err = broken(tmp_path, lambda d: d["sources"][0].update(sftp=d["sources"][1]["sftp"]))
    assert err.key == "sources[0].sftp" and "unknown key 'sftp'" in str(err)
    err = broken(tmp_path, lambda d: d["sources"][0].update(kind="ftp"))
    assert err.key == "sources[0].kind" and "a source's kind is database or sftp" in str(err)
    err = broken(tmp_path, lambda d: d["sources"][1].pop("kind"))
    assert err.key == "sources[1].kind"


def test_a_config_written_before_sources_had_one_block_each_still_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = copy.deepcopy(VALID)
    old["sources"][0] |= {"sftp": None, "format": {"type": "csv"}}
    old["sources"][1] |= {"database": None}
    config = load_config(write(tmp_path, old))
    assert config.sources == load_config(write(tmp_path, VALID)).sources
    assert caplog.messages == ["hub.yaml: sources[0].format has no effect on a database source; remove it"]


def test_lookups_by_id_name_what_is_declared(tmp_path: Path) -> None:
    from hub.home import Home

    config = load_config(write(tmp_path, VALID))
    assert config.office("spo").name == "审判管理办公室" and config.institution("p1").kind == "procuratorate"
    with pytest.raises(ConfigError, match="'ghost' is not declared under offices in hub.yaml; use one of: spo"):
        config.office("ghost")
    with pytest.raises(ConfigError, match="under sources"):
        config.source("nope")
    home = Home(tmp_path)
    assert config.office("spo").outbox(home) == tmp_path / "outbox" / "spo"
    moved = copy.deepcopy(VALID)
    moved["offices"][0]["delivery"] = {"outbox": "/srv/exchange/out"}
    assert load_config(write(tmp_path, moved)).office("spo").outbox(home) == Path("/srv/exchange/out/spo")


def test_mart_thresholds_have_their_own_section_and_are_still_read_under_hub(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``marts:`` holds the marts' thresholds; a config written before it, with them under
    ``hub:``, still loads the same (with a warning to move them), and naming one in both
    places is an error."""
    config = load_config(write(tmp_path, VALID | {"marts": {"population": 556621, "reply_deadline_days": {"抗诉": 45}}}))
    assert config.marts.population == 556621 and config.marts.reply_deadline_days["抗诉"] == 45
    assert config.marts.reply_deadline_days["检察建议"] == 90  # the others keep their default
    legacy = load_config(write(tmp_path, VALID | {"hub": {"name": "x", "population": 556621}}))
    assert legacy.marts.population == 556621 and legacy.hub.name == "x"
    assert caplog.messages == ["hub.yaml: hub.population moved to the marts: section; move them there"]
    err = broken(tmp_path, lambda d: d.update(hub={"population": 1}, marts={"population": 2}))
    assert err.key == "hub.population"
    err = broken(tmp_path, lambda d: d.update(marts={"class_case_min_cases": 1}))
    assert err.key == "marts.class_case_min_cases"


def test_every_problem_is_listed_at_once_and_a_typo_names_the_key_it_meant(tmp_path: Path) -> None:
    def typos(d: dict[str, Any]) -> None:
        db = d["sources"][0]["database"]
        db["cusor"] = db.pop("cursor")  # the key the person typed, not a missing "cursor"
        d["sources"][1]["sftp"]["hots"] = d["sources"][1]["sftp"].pop("host")
        d["offices"][0]["delivery"] = {"kind": "sftp"}
        d["hub"] = {"bundle_ttl_day": 30}

    err = broken(tmp_path, typos)
    lines = str(err).splitlines()
    assert lines[0].endswith("hub.yaml: 4 problems:") and err.key == "hub.bundle_ttl_day"
    assert lines[1:] == [
        "  hub.bundle_ttl_day: unknown key 'bundle_ttl_day'; did you mean 'bundle_ttl_days'?",
        "  sources[0].database.cusor: unknown key 'cusor'; did you mean 'cursor'?",
        "  sources[1].sftp.hots: unknown key 'hots'; did you mean 'host'?",
        "  offices[0].delivery: delivery kind sftp needs an 'sftp:' block (host, username, key_path, host_key, remote_dir)",
    ]


def test_a_password_in_a_database_url_is_refused(tmp_path: Path) -> None:
    err = broken(tmp_path, lambda d: d["sources"][0]["database"].update(url="postgresql+psycopg://hub:s3cret@db/cms"))
    assert err.key == "sources[0].database.url" and "password_env" in str(err) and "s3cret" not in str(err)
