"""Opening the warehouse creates its schema once, and again only when the definitions change."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from hub.lake.location import Lake
from hub.normalize import warehouse
from hub.normalize.warehouse import Warehouse
from schemas import identifiers


def test_schema_is_written_once_then_only_when_its_definition_changes(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lake"
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


def test_macros_are_stored_but_never_the_keyed_hash(tmp_path: Path) -> None:
    """Any session sees the case-number and ID macros; the hash key stays with the connection."""
    path = tmp_path / "lake"
    with Warehouse(path, hash_key=b"secret") as wh:
        assert wh.query("SELECT hub_case_no('（2024）内03民初1号'), hub_keyed_hash('x') IS NOT NULL").fetchall() == [
            ("（2024）内03民初1号", True)]
        other = wh.cursor()  # a second connection of the same process: the keyed hash is made for it too
        assert other.query("SELECT hub_keyed_hash('x')").fetchall() == wh.query("SELECT hub_keyed_hash('x')").fetchall()
    plain = Lake.embedded(path).connect(read_only=True)
    try:
        assert plain.execute("SELECT hub_case_no('(2024)内03民初1号')").fetchall() == [("（2024）内03民初1号",)]
        names = {r[0] for r in plain.execute("SELECT function_name FROM duckdb_functions() WHERE function_name LIKE 'hub_%'").fetchall()}
        assert "hub_keyed_hash" not in names and "hub_case_no" in names
        ipad = bytes(b ^ 0x36 for b in b"secret".ljust(64, b"\0")).hex().encode()  # how the macro holds the key
        written = b"".join(p.read_bytes() for p in path.rglob("*") if p.is_file())
        assert ipad not in written and ipad in identifiers.keyed_hash_macro(b"secret").encode()
    finally:
        plain.close()
    with Warehouse(path, hash_key=b"secret", read_only=True) as ro:
        assert ro.query("SELECT hub_case_no('（2024）内03民初1号')").fetchall() == [("（2024）内03民初1号",)]
