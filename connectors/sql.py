"""Pull a table from an institution's database, incrementally, with SQLAlchemy.

Rows are read in keyset pages ordered by (cursor, tiebreak): the next page starts strictly
after the last (cursor, tiebreak) pair seen, so rows sharing a cursor value across a page
boundary are neither skipped nor read twice. Table and column names are checked against the
reflected schema and every value is a bound parameter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from connectors.base import SOURCE_ROW, Batch
from hub.errors import TerminalSourceError, TransientSourceError


@dataclass(frozen=True)
class SqlSettings:
    name: str
    url: str
    table: str
    columns: tuple[str, ...]
    cursor: str
    tiebreak: str
    batch_size: int = 50_000
    password: str | None = None
    lookback_seconds: float = 0  # re-read this far behind the watermark: rows committed late
    full_refresh: bool = False  # ignore the watermark: small code tables, sources without a cursor


class SqlSource:
    """One source table; ``pull(watermark)`` yields pages after the watermark."""

    def __init__(self, settings: SqlSettings) -> None:
        self.settings = settings
        url = sa.make_url(settings.url)
        if settings.password is not None:
            url = url.set(password=settings.password)
        self._engine = sa.create_engine(url)

    def pull(self, watermark: dict[str, Any] | None) -> Iterator[Batch]:
        s = self.settings
        try:
            with self._engine.connect() as conn:
                table = self._reflect(conn)
                cur, tie = table.c[s.cursor], table.c[s.tiebreak]
                if conn.dialect.name == "sqlite":
                    # SQLite keeps timestamps as text in whatever format the writer chose;
                    # compare the stored text, not SQLAlchemy's re-rendering of a datetime.
                    cur = sa.type_coerce(cur, sa.String)
                select = (
                    sa.select(*[table.c[c] for c in s.columns], cur.label("_hub_cursor"), tie.label("_hub_tiebreak"))
                    .order_by(cur, tie)
                    .limit(s.batch_size)
                )
                last = None if s.full_refresh else _load_watermark(watermark)
                start = _behind(last[0], s.lookback_seconds) if last and s.lookback_seconds else None
                while True:
                    if start is not None:  # first page of a lookback: everything from start on
                        query = select.where(cur >= start)
                        start = None
                    elif last is None:
                        query = select
                    else:
                        query = select.where(sa.or_(cur > last[0], sa.and_(cur == last[0], tie > last[1])))
                    rows = conn.execute(query).all()
                    if not rows:
                        return
                    cols = list(zip(*rows))
                    data = {n: _column(v) for n, v in zip(s.columns, cols)}
                    data[SOURCE_ROW] = pa.array(range(1, len(rows) + 1), pa.int64())
                    end = (rows[-1][-2], rows[-1][-1])
                    yield Batch(
                        source=s.name,
                        table=pa.table(data),
                        origin=f"{_safe_url(self._engine.url)}#{s.table}",
                        watermark=_dump_watermark(end),
                        details={"after": watermark, "rows": len(rows)},
                    )
                    last = end
                    if len(rows) < s.batch_size:
                        return
        except sa_exc.NoSuchTableError:
            raise TerminalSourceError(
                f"{s.name}: table {s.table!r} does not exist in the source database; fix database.table",
                source=s.name,
            ) from None
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError) as exc:
            raise TransientSourceError(
                f"{s.name}: database connection failed ({type(exc.orig or exc).__name__}); will retry",
                source=s.name,
            ) from None
        except sa_exc.SQLAlchemyError as exc:
            raise TerminalSourceError(f"{s.name}: query failed: {type(exc).__name__}", source=s.name) from None

    def _reflect(self, conn: sa.Connection) -> sa.Table:
        s = self.settings
        table = sa.Table(s.table, sa.MetaData(), autoload_with=conn)
        missing = sorted(set(s.columns) - set(table.c.keys()))
        if missing:
            raise TerminalSourceError(
                f"{s.name}: table {s.table!r} has no column(s) {', '.join(missing)}; "
                f"fix the mapping (columns are: {', '.join(table.c.keys())})",
                source=s.name,
            )
        return table

    def close(self) -> None:
        self._engine.dispose()


def _column(values: tuple[Any, ...]) -> pa.Array:
    """Arrow column with the source's type; text when a loosely typed source mixes types."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _safe_url(url: sa.URL) -> str:
    return url.render_as_string(hide_password=True)


def _dump_watermark(end: tuple[Any, Any]) -> dict[str, Any]:
    return {"cursor": _jsonable(end[0]), "cursor_type": type(end[0]).__name__, "tiebreak": _jsonable(end[1])}


def _load_watermark(w: dict[str, Any] | None) -> tuple[Any, Any] | None:
    if not w:
        return None
    cursor = w["cursor"]
    if w.get("cursor_type") == "datetime":
        cursor = dt.datetime.fromisoformat(cursor)
    elif w.get("cursor_type") == "date":
        cursor = dt.date.fromisoformat(cursor)
    return cursor, w["tiebreak"]


def _behind(cursor: Any, seconds: float) -> Any:
    """The cursor value ``seconds`` earlier; text timestamps keep their own layout.

    Rows re-read by a lookback land again; the warehouse counts them as exact duplicates, so
    a late commit is caught without applying anything twice."""
    delta = dt.timedelta(seconds=seconds)
    if isinstance(cursor, (dt.datetime, dt.date)):
        return cursor - delta
    if isinstance(cursor, str):
        try:
            parsed = dt.datetime.fromisoformat(cursor)
        except ValueError:
            return cursor  # not a timestamp: no lookback possible, keyset as usual
        sep = "T" if "T" in cursor else " "
        return (parsed - delta).isoformat(sep=sep, timespec="microseconds" if "." in cursor else "seconds")
    return cursor


def _jsonable(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v
