"""DuckDB connections that load extensions from their PyPI packages (``duckdb-extension-*``),
never from DuckDB's extension site: machines running the hub often have no route to it.

DuckDB finds an extension by name in ``<extension_directory>/v<version>/<platform>/``; the
packages install each file under its package's name, so a private folder of links gives each
the name DuckDB loads it by (the SQLite and PostgreSQL scanners are ``sqlite_scanner`` and
``postgres_scanner``). Autoloading then finds them when an ``ATTACH`` needs them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import stat
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from hub.errors import WarehouseError

PACKAGED = {"ducklake": "ducklake", "sqlite_scanner": "sqlite", "postgres_scanner": "postgres", "httpfs": "httpfs"}
"""Extension name as DuckDB loads it -> the ``duckdb-extension-<package>`` that ships it."""


def connect(database: str = ":memory:", *, read_only: bool = False, config: dict[str, Any] | None = None,
            ) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection whose extensions come from the installed packages only, and that never
    draws DuckDB's progress bar on stdout (it would corrupt the output of the command it runs in);
    its cursors inherit that."""
    settings = {"extension_directory": str(_extension_directory()), "autoinstall_known_extensions": False,
                "autoload_known_extensions": True} | (config or {})
    con = duckdb.connect(database, read_only=read_only, config=settings)
    con.execute("SET enable_progress_bar = false")
    return con


@cache
def _extension_directory() -> Path:
    """``<tmp>/hub-duckdb-<uid>/``, holding a link per packaged extension under DuckDB's version
    and platform; links are made atomically, so processes starting at once agree."""
    version = duckdb.__version__
    platform = duckdb.connect().execute("PRAGMA platform").fetchone()[0]  # type: ignore[index]
    root = Path(tempfile.gettempdir()) / f"hub-duckdb-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        os.mkdir(root, 0o700)
    found = os.lstat(root)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
        raise WarehouseError(f"{root} is not a folder of this user's (another user's, or a link); remove it, "
                             "the hub makes it again")
    os.chmod(root, 0o700)  # whatever the umask: the links inside decide which files DuckDB loads
    folder = root / f"v{version}" / platform
    folder.mkdir(parents=True, exist_ok=True)
    for name, package in PACKAGED.items():
        link = folder / f"{name}.duckdb_extension"
        target = _packaged_file(package, version)
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        tmp = folder / f".{name}.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)
    return root


def _packaged_file(package: str, version: str) -> Path:
    spec = importlib.util.find_spec(f"duckdb_extension_{package}")
    if spec is None or spec.origin is None:
        raise WarehouseError(f"the DuckDB extension package duckdb-extension-{package}=={version} is not installed; "
                             "run `make install` (it installs every pinned package)")
    found = Path(spec.origin).parent / "extensions" / f"v{version}" / f"{package}.duckdb_extension"
    if not found.exists():
        raise WarehouseError(f"duckdb-extension-{package} does not match DuckDB {version} (no {found}); "
                             f"install duckdb-extension-{package}=={version}, as constraints.txt pins it")
    return found
