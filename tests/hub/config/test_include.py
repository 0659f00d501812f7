"""hub.yaml's include: institutions and their sources kept a file per institution, read as one
config, every problem named in the file a person would open."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.cli import main
from hub.config import load_config
from hub.errors import ConfigError
from tests.hub.config.test_config import VALID


def dump(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def split_home(tmp_path: Path) -> Path:
    """VALID's settings in hub.yaml, each institution with its sources in courts/<id>.yaml or
    procuratorates/<id>/<id>.yaml, the offices and agreements in offices.yaml."""
    data = copy.deepcopy(VALID)
    for inst in data["institutions"]:
        folder = "courts" if inst["kind"] == "court" else f"procuratorates/{inst['id']}"
        dump(tmp_path / folder / f"{inst['id']}.yaml", {
            "institutions": [inst], "sources": [s for s in data["sources"] if s["institution"] == inst["id"]]})
    dump(tmp_path / "offices.yaml", {"offices": data["offices"], "agreements": data["agreements"]})
    main_part = {k: v for k, v in data.items() if k not in ("institutions", "sources", "offices", "agreements")}
    return dump(tmp_path / "hub.yaml", main_part | {"include": ["courts/*.yaml", "procuratorates/**/*.yaml", "offices.yaml"]})


def test_a_config_split_over_files_reads_as_the_one_file_it_replaces(tmp_path: Path) -> None:
    whole = load_config(dump(tmp_path / "whole" / "hub.yaml", VALID))
    split = load_config(split_home(tmp_path / "split"))
    assert split.model_dump(exclude={"include"}) == whole.model_dump(exclude={"include"})
    assert split.include == ["courts/*.yaml", "procuratorates/**/*.yaml", "offices.yaml"]


def test_a_problem_in_an_included_file_names_that_file_and_its_own_key(tmp_path: Path) -> None:
    path = split_home(tmp_path)
    court = (tmp_path / "courts" / "c1.yaml").resolve()  # as the loader names it
    part = yaml.safe_load(court.read_text(encoding="utf-8"))
    part["sources"][0]["database"]["cusor"] = part["sources"][0]["database"].pop("cursor")
    dump(court, part)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (f"{court}: sources[0].database.cusor: unknown key 'cusor'; did you mean 'cursor'?")
    assert info.value.path == str(court) and info.value.key == "sources[0].database.cusor"


def test_a_name_declared_in_two_files_names_both(tmp_path: Path) -> None:
    path = split_home(tmp_path)
    twin = yaml.safe_load((tmp_path / "courts" / "c1.yaml").read_text(encoding="utf-8"))
    twin["institutions"][0]["id"] = "c2"
    twin["sources"][0]["institution"] = "c2"  # the same source name under another court
    dump(tmp_path / "courts" / "c2.yaml", twin)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (f"{(tmp_path / 'courts' / 'c2.yaml').resolve()}: sources[0]: 'c1_filing' appears more than once "
                               "(first at courts/c1.yaml: sources[0]); each must be unique")


def test_what_an_include_cannot_do_is_refused_all_at_once(tmp_path: Path) -> None:
    path = split_home(tmp_path)
    main_part = yaml.safe_load(path.read_text(encoding="utf-8"))
    main_part["include"] += ["agencies/*.yaml", str(tmp_path / "offices.yaml")]
    dump(path, main_part)
    dump(tmp_path / "courts" / "c9.yaml", {"hub": {"bundle_ttl_days": 1}, "include": ["more/*.yaml"],
                                           "sources": {"name": "x"}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).splitlines() == [
        f"{path}: 5 problems:",
        f"  include[3]: 'agencies/*.yaml' matches no file under {tmp_path}; fix the pattern, or remove it",
        f"  include[4]: '{tmp_path / 'offices.yaml'}': write it relative to {tmp_path}, so the home keeps working "
        "when moved or copied",
        "  courts/c9.yaml: hub: an included file holds only institutions, sources, offices, agreements; "
        "move 'hub' into hub.yaml",
        "  courts/c9.yaml: include: included files include nothing further; list its pattern in hub.yaml",
        "  courts/c9.yaml: sources: a list of sources, as in hub.yaml",
    ]


def test_config_check_counts_what_the_files_declare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    split_home(tmp_path)
    assert main(["config", "check", "--home", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{tmp_path / 'hub.yaml'} and 3 included file(s): valid",
        "  institutions      2  (court 1, procuratorate 1)",
        "  sources           2  (database 1, sftp 1; filing 1, supervision 1)",
        "  offices           1  (agreements 1)",
        "  included: courts/c1.yaml",
        "  included: procuratorates/p1/p1.yaml",
        "  included: offices.yaml",
    ]
    dump(tmp_path / "courts" / "bad.yaml", {"sources": [{"name": "x"}]})
    assert main(["config", "check", "--home", str(tmp_path)]) == 2
    assert "courts/bad.yaml" in capsys.readouterr().err
