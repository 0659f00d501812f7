"""The `hub` command's home resolution and its errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.cli import main
from hub.errors import SigningKeyError
from hub.home import Home


def test_home_from_flag_then_env_then_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUB_HOME", raising=False)
    assert Home.find().root == tmp_path
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "env"))
    assert Home.find().root == tmp_path / "env"
    assert Home.find(tmp_path / "flag").root == tmp_path / "flag"


def test_run_without_config_says_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no hub.yaml" in err and "hub demo" in err


def test_run_with_bad_config_names_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hub.yaml").write_text("institutions: []\nsources: []\noffices: []\nagreements: []\nhub: {bundle_ttl_days: 0}\n")
    assert main(["run", "--home", str(tmp_path)]) == 2
    assert "hub.bundle_ttl_days" in capsys.readouterr().err


def test_hash_key_file_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUB_HASH_KEY", raising=False)
    home = Home(tmp_path)
    key = home.hash_key("HUB_HASH_KEY")
    assert home.hash_key("HUB_HASH_KEY") == key and len(key) == 64
    assert os.stat(home.private / "hash.key").st_mode & 0o777 == 0o600
    os.chmod(home.private / "hash.key", 0o644)
    with pytest.raises(SigningKeyError, match="chmod 600"):
        home.hash_key("HUB_HASH_KEY")
    monkeypatch.setenv("HUB_HASH_KEY", "from-env")
    assert home.hash_key("HUB_HASH_KEY") == b"from-env"
