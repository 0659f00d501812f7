"""Where the lakehouse lives and how a DuckDB connection reaches it.

The lakehouse is a DuckLake: a catalog database (what tables, files and snapshots exist) and
Parquet data files. By default both are under the home (a SQLite catalog, so several processes
read and write at once); at scale the catalog is in PostgreSQL and the files on S3-compatible
storage (``warehouse:`` in hub.yaml). Every connection attaches it as ``lake`` and uses it, so
the hub's SQL names its tables unqualified.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from hub.config import HubConfig, S3Settings, load_config, secret
from hub.config.settings import POSTGRES_URL
from hub.errors import WarehouseError, first_line
from hub.home import Home
from hub.lake.extensions import connect
from schemas.sql import lit

LOCKED_ATTEMPTS = 6
"""Times attaching is tried while a SQLite catalog is locked by another process (about 6 s in all)."""

CATALOG_SECRET = "hub_catalog"
"""The TEMPORARY secret holding the PostgreSQL catalog's connection and password."""

NAME = "lake"
"""The name every connection attaches the lakehouse under (``lake.<table>``; ``USE lake``)."""

SHARED_INSTANCES = 4
"""Writing DuckDB instances a process keeps open (the homes it used last)."""

_shared: OrderedDict[tuple[Any, ...], duckdb.DuckDBPyConnection] = OrderedDict()
_shared_lock = threading.Lock()
_KEY_SALT = secrets.token_bytes(32)  # the secrets in a shared instance's key are digested under it


@dataclass(frozen=True)
class Lake:
    """A lakehouse's catalog and data path, and the environment variables holding its secrets."""

    catalog: str  # DuckLake's metadata: sqlite:<path> or postgres:<libpq conninfo, no password>
    data_path: str  # a folder, or s3://bucket/prefix/
    catalog_schema: str | None = None
    catalog_password_env: str | None = None
    s3: S3Settings | None = None

    @classmethod
    def embedded(cls, folder: Path) -> Lake:
        """A lakehouse in ``folder``: ``catalog.sqlite`` and ``data/``."""
        return cls(f"sqlite:{folder / 'catalog.sqlite'}", f"{folder / 'data'}/")

    @classmethod
    def of(cls, config: HubConfig, home: Home) -> Lake:
        wh = config.warehouse
        data = wh.data_path or "lake/data/"
        data = data if data.startswith("s3://") else f"{home.resolve(data)}/"
        if wh.catalog is None:
            return cls(f"sqlite:{home.lake / 'catalog.sqlite'}", data)
        url = POSTGRES_URL.match(wh.catalog)
        assert url is not None  # validated on load
        conninfo = " ".join(f"{k}={url[k]}" for k in ("dbname", "host", "port", "user") if url[k])
        return cls(f"postgres:{conninfo}", data, wh.catalog_schema, wh.catalog_password_env, wh.s3)

    @property
    def sqlite_file(self) -> Path | None:
        return Path(self.catalog.removeprefix("sqlite:")) if self.catalog.startswith("sqlite:") else None

    def describe(self) -> str:
        """The lakehouse for messages: where its catalog and data are (never a secret)."""
        kind = "SQLite" if self.sqlite_file else "PostgreSQL"
        return f"lakehouse ({kind} catalog {self.catalog.split(':', 1)[1]}, data {self.data_path})"

    def catalog_hint(self) -> str:
        """What to check when the catalog cannot be reached: the settings that name it."""
        if self.sqlite_file is not None:
            return f"that {self.sqlite_file.parent} exists and this user may write it"
        password = f" and the password in ${self.catalog_password_env}" if self.catalog_password_env else ""
        return f"warehouse.catalog in hub.yaml{password}, and that the PostgreSQL server is up"

    def storage_hint(self) -> str:
        """What to check when the data files cannot be written or read."""
        if self.s3 is None:
            return f"that {self.data_path} exists and this user may write it (warehouse.data_path)"
        return (f"warehouse.data_path (the bucket must exist) and warehouse.s3 in hub.yaml: endpoint {self.s3.endpoint}, "
                f"keys in ${self.s3.key_id_env} and ${self.s3.secret_env}")

    def exists(self) -> bool:
        """Whether the catalog has been created (only knowable without connecting for SQLite)."""
        return self.sqlite_file is None or self.sqlite_file.exists()

    def connect(self, *, read_only: bool = False, snapshot: int | None = None,
                config: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
        """A connection with the lakehouse attached as ``lake`` and in use: read-only, or as of
        ``snapshot`` (read-only too), when asked. A process's writing connections are cursors of
        one DuckDB instance per lakehouse (``SHARED_INSTANCES``): its extensions are loaded, their
        signatures checked and the catalog attached once, not at every stage."""
        if read_only or snapshot is not None:
            if self.sqlite_file is not None and not self.sqlite_file.exists():
                raise WarehouseError(f"no warehouse yet at {self.sqlite_file}: run `hub run` (or `hub demo`) first")
            return self._attached(read_only=read_only, snapshot=snapshot, config=config)
        if self.sqlite_file is not None:
            _create_sqlite_catalog(self.sqlite_file)
        key = self._instance_key(config)
        with _shared_lock:
            instance = _shared.get(key)
            if instance is None:
                instance = _shared[key] = self._attached(read_only=False, snapshot=None, config=config)
                while len(_shared) > SHARED_INSTANCES:  # its cursors in use keep it alive until closed
                    _shared.popitem(last=False)
            _shared.move_to_end(key)
        con = instance.cursor()
        try:
            con.execute(f"USE {NAME}")
        except BaseException:
            con.close()
            raise
        return con

    def forget_instance(self) -> None:
        """Open the next writing connection on a new DuckDB instance (after an error that may
        have left this one's catalog connection broken: a restarted server, say)."""
        with _shared_lock:
            for key in [k for k in _shared if k[1] == self]:
                del _shared[key]

    def _instance_key(self, config: dict[str, Any] | None) -> tuple[Any, ...]:
        """What a shared instance is valid for: this process, this lakehouse, these settings and
        secrets (digested, never kept), and for SQLite the catalog file itself (one made anew
        at the same path is another lakehouse)."""
        digest = hashlib.blake2b(key=_KEY_SALT)
        for name in (self.catalog_password_env, self.s3 and self.s3.key_id_env, self.s3 and self.s3.secret_env):
            digest.update(f"{name}={os.environ.get(name, '') if name else ''}\0".encode())
        found = os.stat(self.sqlite_file) if self.sqlite_file is not None else None
        return (os.getpid(), self, tuple(sorted((config or {}).items())), digest.digest(),
                found and (found.st_dev, found.st_ino))

    def _attached(self, *, read_only: bool, snapshot: int | None, config: dict[str, Any] | None,
                  ) -> duckdb.DuckDBPyConnection:
        attempt = 1
        while True:
            try:
                return self._attach(read_only=read_only, snapshot=snapshot, config=config)
            except duckdb.Error as exc:
                if "database is locked" not in str(exc) or attempt == LOCKED_ATTEMPTS:
                    raise WarehouseError(f"cannot open the {self.describe()}: {first_line(exc)}; "
                                         f"{self._attach_hint(str(exc), snapshot)}") from None
            time.sleep(0.1 * 2 ** attempt)  # another process is creating or committing to the SQLite catalog
            attempt += 1

    def _attach_hint(self, message: str, snapshot: int | None) -> str:
        if snapshot is not None and "snapshot" in message.lower():
            return f"snapshot {snapshot} is not kept: `hub sql \"FROM lake.snapshots()\"` lists those that are"
        if "data path" in message:
            return "check warehouse.data_path: a catalog keeps its files where it was created"
        if "database is locked" in message:
            return "another process kept the SQLite catalog locked throughout; try again"
        return f"check {self.catalog_hint()}"

    def _attach(self, *, read_only: bool, snapshot: int | None, config: dict[str, Any] | None,
                ) -> duckdb.DuckDBPyConnection:
        con = connect(config=config)
        try:
            self._secrets(con)
            options = [f"DATA_PATH {lit(self.data_path)}"]
            if self.sqlite_file is not None:  # files beside their catalog: a home moved or copied keeps working
                options.append("OVERRIDE_DATA_PATH true")
            if self.catalog_schema:
                options.append(f"METADATA_SCHEMA {lit(self.catalog_schema)}")
            if self.catalog_password_env:  # the catalog's connection takes host, user and password from it
                options.append(f"META_SECRET {lit(CATALOG_SECRET)}")
            if read_only or snapshot is not None:
                options.append("READ_ONLY")
            if snapshot is not None:
                options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
            con.execute(f"ATTACH {lit('ducklake:' + self._metadata())} AS {NAME} ({', '.join(options)})")
            con.execute(f"USE {NAME}")
        except BaseException:
            con.close()
            raise
        return con

    def _params(self) -> dict[str, str]:
        return dict(p.split("=", 1) for p in self.catalog.removeprefix("postgres:").split())

    def _metadata(self) -> str:
        """DuckLake's metadata connection: with a password, only the database; the rest (host,
        port, user, password) is in the catalog secret, which the connection then takes whole."""
        if self.catalog_password_env:
            return f"postgres:dbname={self._params()['dbname']}"
        return self.catalog

    def _secrets(self, con: duckdb.DuckDBPyConnection) -> None:
        """The catalog's password and the object store's keys, from the environment, as TEMP
        secrets: held by this connection only, never written anywhere."""
        if self.catalog_password_env:
            password = secret(self.catalog_password_env, "warehouse.catalog_password_env")
            params = self._params()
            con.execute(f"CREATE TEMPORARY SECRET {CATALOG_SECRET} (TYPE postgres, HOST {lit(params['host'])}, "
                        f"PORT {int(params.get('port', 5432))}, DATABASE {lit(params['dbname'])}, "
                        f"USER {lit(params['user'])}, PASSWORD {lit(password or '')})")
        if self.s3 is not None:
            key_id = secret(self.s3.key_id_env, "warehouse.s3.key_id_env")
            key = secret(self.s3.secret_env, "warehouse.s3.secret_env")
            bucket = "/".join(self.data_path.split("/", 3)[:3])
            con.execute(f"CREATE TEMPORARY SECRET hub_s3 (TYPE s3, KEY_ID {lit(key_id or '')}, SECRET {lit(key or '')}, "
                        f"ENDPOINT {lit(self.s3.endpoint)}, REGION {lit(self.s3.region)}, "
                        f"URL_STYLE {lit(self.s3.url_style)}, USE_SSL {str(self.s3.use_ssl).lower()}, SCOPE {lit(bucket)})")


def _create_sqlite_catalog(path: Path) -> None:
    """The SQLite catalog file, in write-ahead-log mode (kept by the file): readers then never
    block the writer's commit, nor it them. Made aside and linked into place, so two processes
    starting at once find one file, never one still being switched to WAL."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        with sqlite3.connect(aside) as db:
            db.execute("PRAGMA journal_mode=WAL")
        db.close()
        os.link(aside, path)
    except FileExistsError:  # another process linked its own first
        pass
    finally:
        aside.unlink(missing_ok=True)


def connect_read_only(home: Home | str | Path | None = None, *, snapshot: int | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a hub's lakehouse, for analysts (``hub.connect``): the home from
    the argument, else ``HUB_HOME``, else the current folder; as of ``snapshot`` when given.
    The hub goes on writing meanwhile; this connection sees each commit from its next query."""
    found = home if isinstance(home, Home) else Home.find(home)
    return Lake.of(load_config(found.require_config()), found).connect(read_only=True, snapshot=snapshot)
