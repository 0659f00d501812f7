"""SQLAlchemy's errors as the SQL connector's own: transient (retry) or terminal (a person
fixes something), each naming the source, where the database is and the driver's own words,
never the password."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from connectors.errors import TerminalSourceError, TransientSourceError


@contextmanager
def translated(name: str, table: str, url: sa.URL) -> Iterator[None]:
    """Raise SQLAlchemy's errors inside as ``TransientSourceError`` or ``TerminalSourceError``
    of source ``name`` reading ``table`` at ``url``."""
    try:
        yield
    except sa_exc.NoSuchTableError:
        raise TerminalSourceError(
            f"{name}: table {table!r} does not exist in the source database; fix database.table", source=name,
        ) from None
    except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as exc:
        cause, where = _cause(exc, url), _where(url)
        refused = _LOGIN_REFUSED.search(str(getattr(exc, "orig", None) or exc))  # any of several attempts' lines
        if refused:  # retrying would only lock the account
            cause = _cause_line(exc, url, refused.start())
            raise TerminalSourceError(
                f"{name}: login refused for user {url.username} at {where} ({cause}); check the user in "
                "database.url and the password in the variable its password_env names", source=name,
            ) from None
        raise TransientSourceError(
            f"{name}: cannot use the database at {where} ({cause}); a temporary failure: the next "
            "attempt may succeed", source=name,
        ) from None
    except sa_exc.SQLAlchemyError as exc:
        raise TerminalSourceError(f"{name}: query failed ({_cause(exc, url)}); check the "
                                  "user's grants on the table", source=name) from None


_LOGIN_REFUSED = re.compile(
    r"password authentication failed|authentication failed|no password supplied|role .* does not exist"
    r"|Access denied for user|\(1045,|\(1698,", re.IGNORECASE)
"""What PostgreSQL and MySQL/MariaDB say when a login is refused (not a network failure)."""


def _where(url: sa.URL) -> str:
    """host:port of a server database, the file of a SQLite one."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.database or "(memory)"
    return f"{url.host or 'localhost'}:{url.port or {'postgresql': 5432, 'mysql': 3306}.get(backend, '?')}"


def _cause(exc: sa_exc.SQLAlchemyError, url: sa.URL) -> str:
    """The driver's own first line (``exc.orig``), without the password should it quote it."""
    return _cause_line(exc, url, 0)


def _cause_line(exc: sa_exc.SQLAlchemyError, url: sa.URL, at: int) -> str:
    """The line of the driver's message holding character ``at``, without the password."""
    text = str(getattr(exc, "orig", None) or exc)
    start = text.rfind("\n", 0, at) + 1
    line = (text[start:].splitlines() or [type(exc).__name__])[0].strip()[:300]
    return line.replace(url.password, "***") if url.password and len(url.password) > 3 else line
