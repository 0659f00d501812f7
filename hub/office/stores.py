"""Where an office keeps what it receives: a DuckDB file by default, or any database SQLAlchemy
reaches, named by its URL (``postgresql+psycopg://kit@db.office/kit``) with the password in an
environment variable, never in the URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from hub.config import secret
from hub.errors import ConfigError
from hub.office.store import OfficeStore
from hub.office.store_duckdb import DuckDbStore
from hub.office.store_sql import SqlStore


def is_url(where: str | Path) -> bool:
    return isinstance(where, str) and "://" in where


def store_location(where: str, base: Path | None = None) -> str | Path:
    """A store setting as ``open_store`` takes it: a URL as it is, a file's path (relative to
    ``base``, the settings file's folder, when given)."""
    if is_url(where):
        return where
    return base / where if base is not None else Path(where)


def check_store(where: str) -> str:
    """A store setting that keeps no secret: a URL's password belongs in the environment."""
    if is_url(where) and urlsplit(where).password is not None:
        raise ValueError("the store's URL holds a password: remove it and name the environment variable that holds "
                         "it (store_password_env, --store-password-env)")
    return where


def open_store(where: str | Path, *, password_env: str | None = None) -> OfficeStore:
    """The store at ``where``: a SQLAlchemy URL, or the path of a DuckDB file (made if missing)."""
    if is_url(where):
        try:
            check_store(str(where))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return SqlStore(str(where), secret(password_env, "the office store's password"))
    if password_env is not None:
        raise ConfigError("a password is given for the office store, but it is a DuckDB file: give a database URL")
    return DuckDbStore(Path(where))
