"""An office's extract is read at one snapshot while another office's bundle is recorded on
another connection of the same process (``publish_offices``): the holdings that commit deletes
are still read at the older snapshot. DuckLake 1.5.5 fails such a read of a table whose
deletions are kept in its catalog ("Failed to read inlined file deletions"): the holdings
tables keep none there."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.normalize.tables import HUB_TABLES
from hub.normalize.warehouse import Warehouse


@pytest.mark.parametrize("table", [name for name, t in HUB_TABLES.items() if t.uninlined])
def test_a_read_at_an_older_snapshot_sees_rows_other_commits_deleted_since(tmp_path: Path, table: str) -> None:
    with Warehouse(tmp_path / "lake", hash_key=b"k") as wh:
        columns = [c.name for c in HUB_TABLES[table].columns]
        with wh.transaction():
            wh.con.execute(f"INSERT INTO {table} ({columns[0]}, {columns[1]}) "
                           "SELECT 'wh-court-spo', 'filing-' || range FROM range(100)")
        reader, writer = wh.cursor(), wh.cursor()
        with reader.reading():  # an office's extract, at its snapshot
            for n in range(3):  # another office's bundles recorded meanwhile, each deleting a few rows
                with writer.transaction():
                    writer.con.execute(f"DELETE FROM {table} WHERE {columns[1]} = ?", [f"filing-{n}"])
            assert reader.con.execute(f"SELECT count(*) FROM {table}").fetchone() == (100,)
        assert reader.con.execute(f"SELECT count(*) FROM {table}").fetchone() == (97,)
