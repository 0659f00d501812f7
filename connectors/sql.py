"""Pull a table from an institution's database, incrementally, with SQLAlchemy.

Rows are read in keyset pages ordered by (cursor, tiebreak): the next page starts strictly
after the last (cursor, tiebreak) pair seen, so rows sharing a cursor value across a page
boundary are neither skipped nor read twice. Table and column names are checked against the
reflected schema and every value is a bound parameter.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from connectors.ahead import ahead
from connectors.base import SOURCE_ROW, Batch
from connectors.errors import TerminalSourceError
from connectors.sql_errors import translated
from connectors.sql_timeouts import driver_options, keepalive


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
    timeout: float = 30  # seconds to connect, and about as long to notice a server that stopped answering


class SqlSource:
    """One source table; ``pull(watermark)`` yields pages after the watermark."""

    def __init__(self, settings: SqlSettings) -> None:
        self.settings = settings
        url = sa.make_url(settings.url)
        if settings.password is not None:
            url = url.set(password=settings.password)
        self._engine = sa.create_engine(url, connect_args=driver_options(url, settings.timeout))
        if url.get_driver_name() == "pymysql":  # PyMySQL takes no keepalive options: set on its socket
            sa.event.listen(self._engine, "connect", lambda dbapi, _: keepalive(dbapi._sock, settings.timeout))

    def pull(self, watermark: dict[str, Any] | None) -> Iterator[Batch]:
        """Pages after ``watermark``; each next page is read while the caller lands this one."""
        return ahead(self._pages(watermark))

    def _pages(self, watermark: dict[str, Any] | None) -> Iterator[Batch]:
        s = self.settings
        with translated(s.name, s.table, self._engine.url), self._engine.connect() as conn:
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
            last = _typed(last, cur.type, tie.type) if last else None
            start = _as(_behind(last[0], s.lookback_seconds), cur.type) if last and s.lookback_seconds else None
            while True:
                if start is not None:  # first page of a lookback: everything from start on
                    query = select.where(cur >= start)
                    start = None
                elif last is None:
                    query = select
                else:
                    # a row-value comparison, not "cur > a OR (cur = a AND tie > b)": databases
                    # start an index range scan at (a, b) for it, so page k does not re-read the
                    # k-1 pages before it (quadratic in the table size)
                    after = sa.tuple_(sa.literal(last[0], cur.type), sa.literal(last[1], tie.type))
                    query = select.where(sa.tuple_(cur, tie) > after)
                page, end = (_copy_page if conn.dialect.name == "postgresql" else _page)(conn, query, s.columns)
                if end is None:
                    return
                page = page.append_column(SOURCE_ROW, pa.array(range(1, page.num_rows + 1), pa.int64()))
                compiled = query.compile(dialect=conn.dialect)  # what ran: _source_row counts its rows
                yield Batch(
                    source=s.name,
                    table=page,
                    origin=f"{_safe_url(self._engine.url)}#{s.table}",
                    watermark=_dump_watermark(end),
                    details={"after": watermark, "rows": page.num_rows, "query": str(compiled),
                             "params": _params(compiled)},
                )
                last = _typed(end, cur.type, tie.type)
                if page.num_rows < s.batch_size:
                    return

    def keys(self, column: str) -> pa.Table:
        """Every value of the key ``column`` in the source table now, for reconciliation:
        records whose key is missing were deleted at the source, keys never pulled were missed."""
        s = self.settings
        with translated(s.name, s.table, self._engine.url), self._engine.connect() as conn:
            table = self._reflect(conn, (column,))
            query = sa.select(table.c[column]).order_by(table.c[column])
            if conn.dialect.name == "postgresql":
                return _copy(conn, query, (column,))
            return _stream(conn, query, (column,), _CHUNK)

    def rows_by_keys(self, keys: pa.Table) -> Iterator[Batch]:
        """The rows whose key is in ``keys`` (its columns: the key's, several for a composite
        key), read ``KEYS_PER_QUERY`` keys at a time by ``WHERE key IN (...)`` and typed as
        ``pull``'s pages are: rows a cursor never reached (committed behind its lookback). No
        watermark: the cursor stays where it was. A key gone from the table is left out."""
        s = self.settings
        names = tuple(keys.column_names)
        with translated(s.name, s.table, self._engine.url), self._engine.connect() as conn:
            table = self._reflect(conn, names)
            columns = [table.c[n] for n in names]
            select = sa.select(*[table.c[c] for c in s.columns]).order_by(*columns)
            for start in range(0, keys.num_rows, KEYS_PER_QUERY):
                chunk = keys.slice(start, KEYS_PER_QUERY)
                values = [[_as(v, col.type) for v in chunk.column(col.name).to_pylist()] for col in columns]
                where = (columns[0].in_(values[0]) if len(columns) == 1
                         else sa.tuple_(*columns).in_(list(zip(*values, strict=True))))
                query = select.where(where)
                page = (_copy(conn, query, s.columns) if conn.dialect.name == "postgresql"
                        else _stream(conn, query, s.columns, _CHUNK))
                if not page.num_rows:
                    continue
                # each key its own placeholder, so the query and its parameters recorded run as written
                compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
                yield Batch(
                    source=s.name,
                    table=page.append_column(SOURCE_ROW, pa.array(range(1, page.num_rows + 1), pa.int64())),
                    origin=f"{s.name}: {page.num_rows} key(s) missed behind the cursor",
                    details={"keys": chunk.num_rows, "rows": page.num_rows, "query": str(compiled),
                             "params": _params(compiled)},
                )

    def _reflect(self, conn: sa.Connection, keys: tuple[str, ...] = ()) -> sa.Table:
        """The source table's columns as the database declares them (names and types only: a
        full reflection also reads keys, indexes and constraints, several catalog queries that
        cost an incremental pull more than its rows); ``keys``, columns read or bound besides
        the settings' own."""
        s = self.settings
        typed = (s.cursor, s.tiebreak, *keys)
        declared = pg_columns(conn, s.table, typed) if conn.dialect.name == "postgresql" else None
        if declared is None:
            declared = [(c["name"], c["type"]) for c in sa.inspect(conn).get_columns(s.table)]
        if not declared:
            raise sa_exc.NoSuchTableError(s.table)
        table = sa.Table(s.table, sa.MetaData(), *(sa.Column(name, type_) for name, type_ in declared))
        missing = sorted({*s.columns, *keys} - set(table.c.keys()))
        if missing:
            raise TerminalSourceError(
                f"{s.name}: table {s.table!r} has no column(s) {', '.join(missing)}; "
                f"fix the mapping (columns are: {', '.join(table.c.keys())})",
                source=s.name,
            )
        return table

    def close(self) -> None:
        self._engine.dispose()


KEYS_PER_QUERY = 1_000
"""Keys bound by one ``rows_by_keys`` query: far within the drivers' limits on bound values
(SQLite's is 32,766), while the few keys a cursor misses take one query or a few."""


_PG_COLUMNS = sa.text(
    "SELECT attname, format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute "
    "WHERE attrelid = to_regclass(:table) AND attnum > 0 AND NOT attisdropped ORDER BY attnum")


def pg_columns(conn: sa.Connection, table: str, typed: tuple[str, ...]) -> list[tuple[str, Any]] | None:
    """PostgreSQL's columns of ``table`` (found as SQLAlchemy would: on the search path, quoted
    as it quotes) from one catalog query, typed by the dialect's names for ``format_type``'s;
    None, for SQLAlchemy's own reflection, when a column in ``typed`` has a type it does not
    name. SQLAlchemy's reflection compiles and runs three catalog queries per new engine, as
    long as this source's whole incremental page."""
    rows = conn.execute(_PG_COLUMNS, {"table": conn.dialect.identifier_preparer.quote(table)}).fetchall()
    names = conn.dialect.ischema_names  # type: ignore[attr-defined]
    out: list[tuple[str, Any]] = []
    for name, declared in rows:
        base = re.sub(r"\(.*?\)", "", declared).strip()
        kind = names.get(base)
        if kind is None and name in typed:
            return None
        out.append((name, sa.types.NullType() if kind is None else
                    kind(timezone=True) if base.endswith("with time zone") else kind()))
    return out


def _params(compiled: Any) -> list[Any] | dict[str, Any]:
    """The bound values as JSON keeps them (sidecars are JSON): in placeholder order for a
    positional driver, so the recorded query can be re-run as written."""
    def plain(v: Any) -> Any:
        return v if v is None or isinstance(v, (str, int, float, bool)) else str(v)
    if compiled.positional:
        return [plain(compiled.params[k]) for k in compiled.positiontup]
    return {k: plain(v) for k, v in compiled.params.items()}


def _page(conn: sa.Connection, query: sa.Select[Any], columns: tuple[str, ...]) -> tuple[pa.Table, Any]:
    """One page through the DB-API, streamed from a server-side cursor in chunks."""
    table = _stream(conn, query, (*columns, "_hub_cursor", "_hub_tiebreak"), _CHUNK)
    if not table.num_rows:
        return pa.table({}), None
    end = (table.column("_hub_cursor")[-1].as_py(), table.column("_hub_tiebreak")[-1].as_py())
    return table.drop_columns(["_hub_cursor", "_hub_tiebreak"]), end


_CHUNK = 10_000


def _stream(conn: sa.Connection, query: sa.Select[Any], names: tuple[str, ...], chunk: int) -> pa.Table:
    """Rows through a server-side cursor (``stream_results``: PyMySQL's SSCursor, psycopg's
    named cursor), turned into Arrow ``chunk`` rows at a time: the driver never buffers the
    whole result and only one chunk exists as Python objects at once."""
    result = conn.execution_options(stream_results=True).execute(query)
    batches = [
        pa.record_batch([_column(v) for v in zip(*rows)], names=list(names))
        for rows in result.partitions(chunk)
        if rows
    ]
    if not batches:
        return pa.table({n: pa.array([], pa.string()) for n in names})
    try:
        return pa.Table.from_batches(batches)
    except pa.ArrowInvalid:  # chunks inferred different types (e.g. all-NULL first chunk)
        return pa.Table.from_batches([b.cast(_text_schema(names)) for b in batches])


def _text_schema(names: tuple[str, ...]) -> pa.Schema:
    return pa.schema([(n, pa.string()) for n in names])


def _copy_page(conn: sa.Connection, query: sa.Select[Any], columns: tuple[str, ...]) -> tuple[pa.Table, Any]:
    """One page through PostgreSQL's COPY: CSV bytes parsed by Arrow, no Python row objects.

    COPY takes no bind parameters, so the keyset values are rendered by the dialect's own
    literal quoting; every value is still data, never SQL text from config.
    """
    table = _copy(conn, query, (*columns, "_hub_cursor", "_hub_tiebreak"))
    if not table.num_rows:
        return pa.table({}), None
    end = (table.column("_hub_cursor")[-1].as_py(), table.column("_hub_tiebreak")[-1].as_py())
    return table.drop_columns(["_hub_cursor", "_hub_tiebreak"]), end


def _copy(conn: sa.Connection, query: sa.Select[Any], names: tuple[str, ...]) -> pa.Table:
    """``query`` through ``COPY ... TO STDOUT`` as CSV, parsed by Arrow into text columns."""
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
    except conn.dialect.loaded_dbapi.Error as exc:
        # the driver's own cursor: its errors as SQLAlchemy raises them for its statements, so
        # ``sql_errors.translated`` knows them, and a lost connection dropped, not rolled back on close
        lost = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
        if lost:
            conn.invalidate()
        raise sa_exc.DBAPIError.instance(sql, None, exc, conn.dialect.loaded_dbapi.Error,
                                         connection_invalidated=lost) from exc
    if not data:
        return pa.table({n: pa.array([], pa.string()) for n in names})
    return pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=list(names)),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=True, quoted_strings_can_be_null=False,
        ),
    )


def _typed(end: tuple[Any, Any], cursor_type: Any, tiebreak_type: Any) -> tuple[Any, Any]:
    """Keyset values as the column types expect them (COPY hands back text)."""
    return _as(end[0], cursor_type), _as(end[1], tiebreak_type)


def _as(value: Any, sql_type: Any) -> Any:
    if not isinstance(value, str):
        return value
    if isinstance(sql_type, sa.DateTime):
        return dt.datetime.fromisoformat(value)
    if isinstance(sql_type, sa.Date):
        return dt.date.fromisoformat(value)
    if isinstance(sql_type, sa.Integer):
        return int(value)
    return value


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
