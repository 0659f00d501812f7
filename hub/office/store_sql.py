"""The office's store in a database of its own choosing, through SQLAlchemy (PostgreSQL, MySQL,
SQLite, …): tables made from each dataset file's Arrow schema, rows inserted in batches of
many rows per statement, keys deleted in bound batches."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from connectors.sql_timeouts import driver_options
from hub.errors import OfficeKitError, first_line
from hub.office.store import (
    CHANGE,
    LEDGER,
    LEDGER_COLUMNS,
    TRUSTED,
    OfficeStore,
    in_utc,
)

_ROWS = 20_000  # rows per insert batch read from a dataset file
_KEYS = 500  # keys per DELETE … IN: under every database's limit on bound parameters


class _Utc(sa.TypeDecorator[dt.datetime]):
    """A point in time: with its zone where the database keeps one, else as naive UTC (MySQL and
    SQLite would refuse or misread an offset); read back as UTC by ``store.in_utc``."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None or dialect.name == "postgresql":
            return value
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


_ZONED = _Utc()
_TEXT = {"mysql_charset": "utf8mb4", "mariadb_charset": "utf8mb4"}  # names in Chinese, whatever the server's default
_META = sa.MetaData()
_LEDGER = sa.Table(LEDGER, _META, *(sa.Column(c, t) for c, t in zip(LEDGER_COLUMNS, (
    sa.Text, sa.BigInteger, sa.Text, sa.Text, sa.Text, _ZONED, _ZONED, _ZONED, sa.Text), strict=True)), **_TEXT)
_TRUSTED = sa.Table(TRUSTED, _META, sa.Column("version", sa.BigInteger),
                    sa.Column("envelope", sa.LargeBinary(2**24)), sa.Column("adopted_at", _ZONED), **_TEXT)


class SqlStore(OfficeStore):
    def __init__(self, url: str, password: str | None = None) -> None:
        address = sa.make_url(url)
        self.where = address.render_as_string(hide_password=True)
        if password is not None:
            address = address.set(password=password)
        with self._errors("open"):
            self.engine = sa.create_engine(address, connect_args=driver_options(address, 30))
            _META.create_all(self.engine)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (sa_exc.SQLAlchemyError, ImportError) as exc:
            raise OfficeKitError(f"cannot {doing} the office store {self.where}: {_cause(exc)}; check the URL, that "
                                 "the database is up, and the password's environment variable") from None

    def close(self) -> None:
        self.engine.dispose()

    def _apply(self, files: dict[str, Path], full: bool, ledger: dict[str, Any], what: str) -> None:
        try:
            with self.engine.begin() as con:
                held = set(self._names(con))
                for name, path in sorted(files.items()):
                    self._apply_file(con, name, path, name in held)
                if full:
                    for gone in sorted(held - set(files)):  # no longer shared: the office holds none of it
                        sa.Table(gone, sa.MetaData()).drop(con)
                con.execute(_LEDGER.insert(), [ledger])
        except sa_exc.SQLAlchemyError as exc:
            raise OfficeKitError(f"{what} could not be applied, and nothing of it was: {_cause(exc)}") from None

    def _apply_file(self, con: sa.Connection, name: str, path: Path, exists: bool) -> None:
        parquet = pq.ParquetFile(path)
        changes = CHANGE in parquet.schema_arrow.names
        schema = parquet.schema_arrow.remove(parquet.schema_arrow.get_field_index(CHANGE)) if changes else \
            parquet.schema_arrow
        table = sa.Table(name, sa.MetaData(), *(sa.Column(f.name, _type(f.type)) for f in schema), **_TEXT)
        if not changes and exists:  # a snapshot of the dataset: it replaces the table
            table.drop(con)
        if not changes or not exists:
            table.create(con)
        else:  # a column the share gained since: added, NULL in the rows held before
            have = {c["name"] for c in sa.inspect(con).get_columns(name)}
            for column in table.columns:
                if column.name not in have:
                    kind = column.type.compile(dialect=con.dialect)
                    con.execute(sa.text(f"ALTER TABLE {con.dialect.identifier_preparer.quote(name)} ADD COLUMN "
                                        f"{con.dialect.identifier_preparer.quote(column.name)} {kind}"))
        for batch in parquet.iter_batches(batch_size=_ROWS):
            if changes:
                keys = batch.column("record_key").to_pylist()
                for i in range(0, len(keys), _KEYS):
                    con.execute(table.delete().where(table.c.record_key.in_(keys[i:i + _KEYS])))
                kept = pa.Table.from_batches([batch]).filter(pc.not_equal(batch.column(CHANGE), "withdrawn"))
                batch_rows = kept.drop_columns([CHANGE]).to_pylist()
            else:
                batch_rows = batch.to_pylist()
            if batch_rows:
                con.execute(table.insert(), batch_rows)

    @staticmethod
    def _names(con: sa.Connection) -> list[str]:
        return sorted(set(sa.inspect(con).get_table_names()) - {LEDGER, TRUSTED})

    def tables(self) -> dict[str, int]:
        with self._errors("read"), self.engine.connect() as con:
            return {t: int(con.execute(sa.select(sa.func.count()).select_from(sa.table(t))).scalar_one())
                    for t in self._names(con)}

    def ledger(self) -> list[dict[str, Any]]:
        with self._errors("read"), self.engine.connect() as con:
            rows = con.execute(sa.select(_LEDGER).order_by(_LEDGER.c.sequence)).mappings().all()
        return [in_utc(dict(r)) for r in rows]

    def trusted(self) -> bytes | None:
        with self._errors("read"), self.engine.connect() as con:
            row = con.execute(sa.select(_TRUSTED.c.envelope).order_by(_TRUSTED.c.version.desc()).limit(1)).first()
        return bytes(row[0]) if row else None

    def trust(self, version: int, envelope: bytes) -> None:
        with self._errors("write"), self.engine.begin() as con:
            con.execute(_TRUSTED.insert(), [{"version": version, "envelope": envelope,
                                                "adopted_at": dt.datetime.now(dt.UTC)}])


def _cause(exc: sa_exc.SQLAlchemyError | ImportError) -> str:
    """The driver's own first line where there is one (SQLAlchemy's wraps it in its own words)."""
    return first_line(getattr(exc, "orig", None) or exc)


def _type(t: pa.DataType) -> sa.types.TypeEngine[Any]:
    """The column type a dataset file's Arrow type is kept in."""
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return sa.Text()
    if pa.types.is_integer(t):
        return sa.BigInteger() if t.bit_width > 32 or pa.types.is_unsigned_integer(t) else sa.Integer()
    if pa.types.is_floating(t):
        return sa.Double()
    if pa.types.is_boolean(t):
        return sa.Boolean()
    if pa.types.is_date(t):
        return sa.Date()
    if pa.types.is_timestamp(t):
        return _Utc() if t.tz is not None else sa.DateTime()
    if pa.types.is_decimal(t):
        return sa.Numeric(t.precision, t.scale)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return sa.LargeBinary()
    return sa.JSON()  # lists, structs, maps: as JSON
