"""Within one process, a read transaction and a commit of the same warehouse take turns: DuckLake
1.5.5 fails a read at an older snapshot of a table whose first inlined deletions were committed
meanwhile by the same instance."""

from __future__ import annotations

import threading
from pathlib import Path

from hub.normalize.warehouse import Warehouse


def test_a_commit_waits_for_a_read_transaction_that_began_before_it(tmp_path: Path) -> None:
    with Warehouse(tmp_path / "lake", hash_key=b"k") as wh:
        _race(wh)


def _race(wh: Warehouse) -> None:
    with wh.transaction():
        wh.con.execute("CREATE TABLE held AS SELECT range AS k FROM range(1000)")
    reader, writer = wh.cursor(), wh.cursor()
    committed = threading.Event()

    def delete_a_few() -> None:  # few enough to be inlined in the catalog: the table's first such, and more
        for k in (0, 1, 2):
            with writer.transaction():
                writer.con.execute("DELETE FROM held WHERE k = ?", [k])
            committed.set()

    with reader.reading():
        reader.con.execute("SELECT count(*) FROM hub_meta").fetchall()  # its snapshot is taken
        deleting = threading.Thread(target=delete_a_few)
        deleting.start()
        assert not committed.wait(0.5)  # the commit waits for the read transaction to end
        assert reader.con.execute("SELECT count(*) FROM held").fetchone() == (1000,)  # as of its snapshot
    deleting.join(timeout=30)
    assert committed.is_set()
    assert reader.con.execute("SELECT count(*) FROM held").fetchone() == (997,)
