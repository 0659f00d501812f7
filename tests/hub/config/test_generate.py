"""``hub config generate``: a province's courts, a row each in a spreadsheet, turned into a file
each by one template, read with hub.yaml through ``include:``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hub.cli import main
from hub.config import load_config

TEMPLATE = {
    "institutions": [{"id": "${id}", "name": "${法院名称}", "kind": "court", "court_code": "${court_code}"}],
    "sources": [{
        "name": "${id}_filing", "institution": "${id}", "record_type": "filing", "kind": "database",
        "database": {"url": "postgresql://hub@${db_host}:5432/${id}", "table": "filings", "cursor": "gxsj",
                     "password_env": "COURT_DB_PASSWORD"},
        "key": "ajbs", "mapping": {"case_no": "ah", "filing_date": "larq", "source_updated_at": "gxsj"},
    }],
}
HEADER = "id,法院名称,court_code,db_host\n"
ROWS = ["wh_middle,乌海市中级人民法院,内03,10.0.0.1\n",
        'hbw,"海勃湾区人民法院: 立案庭, 一号",内0302,10.0.0.2\n',  # a colon and a comma: still one value
        "wd,乌达区人民法院,内0303,10.0.0.2\n"]


def province(tmp_path: Path, rows: list[str]) -> tuple[Path, Path]:
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump({
        "version": 1, "include": ["courts/*.yaml"], "institutions": [], "sources": [], "offices": [], "agreements": [],
    }), encoding="utf-8")
    template = tmp_path / "court.template.yaml"
    template.write_text(yaml.safe_dump(TEMPLATE, allow_unicode=True), encoding="utf-8")
    table = tmp_path / "courts.csv"
    table.write_text("\ufeff" + HEADER + "".join(rows), encoding="utf-8")  # as a spreadsheet exports it
    return template, table


def generate(tmp_path: Path, template: Path, table: Path) -> int:
    return main(["config", "generate", "--template", str(template), "--table", str(table),
                 "--out", str(tmp_path / "courts")])


def test_a_file_per_court_from_a_table_reads_as_one_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template, table = province(tmp_path, ROWS)
    assert generate(tmp_path, template, table) == 0
    assert "3 file(s) written, 0 already as generated" in capsys.readouterr().out
    assert main(["config", "check", "--home", str(tmp_path)]) == 0
    config = load_config(tmp_path / "hub.yaml")
    assert [(i.id, i.name, i.court_code) for i in config.institutions] == [
        ("hbw", "海勃湾区人民法院: 立案庭, 一号", "内0302"), ("wd", "乌达区人民法院", "内0303"),
        ("wh_middle", "乌海市中级人民法院", "内03")]  # included files are read in path order
    assert config.source("wd_filing").database.url == "postgresql://hub@10.0.0.2:5432/wd"  # type: ignore[union-attr]

    assert generate(tmp_path, template, table) == 0  # again: nothing to rewrite
    assert "0 file(s) written, 3 already as generated" in capsys.readouterr().out

    table.write_text(HEADER + "".join(ROWS[:2]), encoding="utf-8")  # a court leaves the table
    assert generate(tmp_path, template, table) == 0
    assert f"{tmp_path / 'courts' / 'wd.yaml'}: generated earlier, its row is gone" in capsys.readouterr().out
    assert (tmp_path / "courts" / "wd.yaml").exists()  # a person decides: it is not deleted


def test_every_bad_row_is_named_and_nothing_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template, table = province(tmp_path, ROWS)
    table.write_text("id,法院名称,court_code\nwh_middle,乌海市中级人民法院,内03\nhbw,海勃湾区人民法院,内0302\n",
                     encoding="utf-8")
    assert generate(tmp_path, template, table) == 2
    err = capsys.readouterr().err
    for row in (2, 3):
        assert f"row {row}: court.template.yaml.sources[0].database.url: ${{db_host}} is not a column of the table" in err
    assert "2 problem(s), nothing written" in err and not (tmp_path / "courts").exists()

    table.write_text(HEADER + ROWS[0] + ROWS[0].replace("乌海市中级人民法院", "又一个"), encoding="utf-8")
    assert generate(tmp_path, template, table) == 2
    assert "row 3: names wh_middle.yaml, as row 2 does" in capsys.readouterr().err
    assert not (tmp_path / "courts").exists()

    table.write_text(HEADER + ROWS[0] + "hbw,海勃湾区人民法院, 立案庭,内0302,10.0.0.2\n", encoding="utf-8")
    assert generate(tmp_path, template, table) == 2  # an unquoted comma would shift every value after it
    assert "the header has 4 columns; row 3: 5 cells (quote a value holding a comma)" in capsys.readouterr().err
    assert not (tmp_path / "courts").exists()


def test_a_file_someone_wrote_by_hand_is_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template, table = province(tmp_path, ROWS)
    (tmp_path / "courts").mkdir()
    (tmp_path / "courts" / "wd.yaml").write_text("institutions: []\n", encoding="utf-8")
    assert generate(tmp_path, template, table) == 2
    assert f"row 4: {tmp_path / 'courts' / 'wd.yaml'} exists and was not generated; move it aside" in (
        capsys.readouterr().err)
    assert (tmp_path / "courts" / "wd.yaml").read_text(encoding="utf-8") == "institutions: []\n"
    assert [p.name for p in (tmp_path / "courts").iterdir()] == ["wd.yaml"]  # nor the other courts' files
