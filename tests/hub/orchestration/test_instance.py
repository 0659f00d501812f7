"""The home's Dagster instance follows hub.yaml's orchestration: section (PostgreSQL storage, the
run queue, retries), never holds a password, and an operator's own edits are left alone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hub.cli import main
from hub.errors import ConfigError
from hub.home import Home
from hub.orchestration.instance import dagster_instance

BASE = {"institutions": [], "sources": [], "offices": [], "agreements": []}


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    found = Home(tmp_path / "home")
    found.root.mkdir()
    yield found
    os.environ.pop("DAGSTER_HOME", None)


def write(home: Home, orchestration: dict[str, object] | None) -> None:
    raw = BASE | ({"orchestration": orchestration} if orchestration is not None else {})
    home.config.write_text(yaml.safe_dump(raw), encoding="utf-8")


def settings(home: Home) -> dict[str, object]:
    return yaml.safe_load((home.dagster / "dagster.yaml").read_text(encoding="utf-8"))


def test_the_section_decides_storage_queue_and_retries_and_a_change_is_followed(
    home: Home, storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(home, None)
    dagster_instance(home).dispose()
    embedded = settings(home)
    assert "storage" not in embedded and "run_retries" not in embedded  # SQLite beside the file, as ever
    (home.dagster / ".hub-written").unlink()  # a home an earlier hub made: the shipped file, nothing beside it

    monkeypatch.setenv("HUB_TEST_DAGSTER_PASSWORD", "s3cret-value")
    write(home, {"storage": storage, "storage_password_env": "HUB_TEST_DAGSTER_PASSWORD", "max_concurrent_runs": 7,
                 "run_retries": 3})
    dagster_instance(home).dispose()  # PostgreSQL reached with the password from the environment
    found = settings(home)
    assert found["storage"]["postgres"]["postgres_db"]["password"] == {"env": "HUB_TEST_DAGSTER_PASSWORD"}
    assert found["concurrency"]["runs"]["max_concurrent_runs"] == 7 and found["run_retries"]["max_retries"] == 3
    assert "s3cret-value" not in "".join(p.read_text(errors="replace") for p in home.dagster.iterdir() if p.is_file())

    write(home, {"storage": storage, "max_concurrent_runs": 2})
    dagster_instance(home).dispose()
    assert settings(home)["concurrency"]["runs"]["max_concurrent_runs"] == 2  # what the hub wrote follows hub.yaml

    edited = (home.dagster / "dagster.yaml").read_text(encoding="utf-8").replace("max_concurrent_runs: 2",
                                                                                 "max_concurrent_runs: 5")
    (home.dagster / "dagster.yaml").write_text(edited, encoding="utf-8")
    write(home, {"storage": storage, "max_concurrent_runs": 3})
    dagster_instance(home).dispose()
    assert settings(home)["concurrency"]["runs"]["max_concurrent_runs"] == 5  # an operator's edit is kept


@pytest.mark.parametrize(("orchestration", "says"), [
    ({"storage": "postgresql://u:pw@db/dagster"}, "storage_password_env"),
    ({"storage": "postgresql://u@db/dagster", "broker": "pyamqp://guest:guest@mq:5672//"}, "broker_password_env"),
    ({"broker": "redis://127.0.0.1:6379/0"}, "set storage to a PostgreSQL URL"),
])
def test_a_password_in_a_url_or_workers_without_shared_storage_are_refused(
    home: Home, orchestration: dict[str, object], says: str
) -> None:
    write(home, orchestration)
    with pytest.raises(ConfigError, match=says):
        dagster_instance(home)


def test_a_worker_needs_a_broker_and_its_password(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    write(home, None)
    assert main(["worker", "--home", str(home.root)]) == 2
    assert "no orchestration.broker" in capsys.readouterr().err
    write(home, {"storage": "postgresql://postgres@127.0.0.1:5432/postgres", "broker": "pyamqp://guest@127.0.0.1:5672//",
                 "broker_password_env": "HUB_TEST_UNSET_BROKER_PASSWORD"})
    assert main(["worker", "--home", str(home.root)]) != 0
    assert "HUB_TEST_UNSET_BROKER_PASSWORD is not set" in capsys.readouterr().err
