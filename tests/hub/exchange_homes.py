"""Demo homes for tests that run whole exchanges: a copy to change, source changes, the SFTP drop served."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hub.config import SftpDropSource, load_config
from hub.demo import exchange
from hub.demo.sftp_server import DemoSftpServer
from hub.home import Home


def copy_of(demo: Path, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(demo, home, ignore=shutil.ignore_patterns(".dagster"))
    return home


def change_court_filings(home: Path, n: int = 5) -> None:
    """Correct ``n`` filings at the court (a later update time): the next pull lands them, and
    an incremental bundle carries them as changed."""
    with sqlite3.connect(home / "sources" / "wh-court.sqlite") as db:
        db.execute("UPDATE t_ajxx_la SET ay = ay || '（更正）', gxsj = '2099-01-01 00:00:00' "
                   "WHERE ajbs IN (SELECT ajbs FROM t_ajxx_la ORDER BY ajbs LIMIT ?)", [n])
    db.close()


@contextmanager
def sftp_drop_served(home: Path) -> Iterator[None]:
    """The demo's SFTP drop on the port its hub.yaml names, as `hub demo-server` serves it."""
    config = load_config(home / "hub.yaml")
    port = next(s.sftp.port for s in config.sources if isinstance(s, SftpDropSource))
    h = Home(home)
    with DemoSftpServer(exchange.sftp_root(h), exchange.host_key_path(h), exchange.client_public_line(h), port=port):
        yield
