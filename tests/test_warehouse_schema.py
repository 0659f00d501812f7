"""Opening the warehouse creates its schema once, and again only when the definitions change."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from hub import warehouse
from hub.warehouse import Warehouse


def test_schema_is_written_once_then_only_when_its_definition_changes(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "w.duckdb"
    Warehouse(path, hash_key=b"k").con.close()
    with Warehouse(path, hash_key=b"k") as wh:  # nothing changed: the schema is not rewritten
        wh.con.execute("DELETE FROM code_court WHERE court_code = '内03'")
    with Warehouse(path, hash_key=b"k") as wh:
        assert wh.query("SELECT count(*) FROM code_court WHERE court_code = '内03'").fetchall() == [(0,)]
    codes = warehouse.code_tables()
    monkeypatch.setattr(warehouse, "code_tables", lambda: codes | {"code_court": pa.concat_tables([
        codes["code_court"], pa.table({"court_code": ["内99"], "name": ["测试法院"], "level": ["基层"]})])})
    with Warehouse(path, hash_key=b"k") as wh:  # a new code: every table is brought up to date
        assert wh.query("SELECT count(*) FROM code_court WHERE court_code IN ('内03', '内99')").fetchall() == [(2,)]
        assert wh.query("SELECT count(*) FROM duckdb_views() WHERE view_name IN ('links', 'code_flags')").fetchall() == [(2,)]
