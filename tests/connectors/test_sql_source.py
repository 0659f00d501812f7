"""Incremental SQL pulls against real SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from connectors.base import SOURCE_ROW
from connectors.errors import TerminalSourceError, TransientSourceError
from connectors.sql import SqlSettings, SqlSource
from hub.observe.run import RunContext
from hub.pull import pull
from hub.pull import stage as pull_stage

PG_URL = os.environ.get("HUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("HUB_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(url, table) with a fresh table in each real database."""
    url = {"sqlite": f"sqlite:///{tmp_path}/src.sqlite", "postgresql": PG_URL, "mariadb": MARIADB_URL}[request.param]
    table = f"t_la_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                f"CREATE TABLE {table} (ajbs VARCHAR(20) PRIMARY KEY, ah VARCHAR(64), gxsj TIMESTAMP NOT NULL)"
            ))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"{request.param} is not reachable at {url}: start it (see .ci/run): {exc}")
    yield url, table
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {table}"))
    engine.dispose()


def insert(url: str, table: str, rows: list[tuple[str, str, dt.datetime]]) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"INSERT INTO {table} (ajbs, ah, gxsj) VALUES (:k, :a, :t)"),
            [{"k": k, "a": a, "t": t} for k, a, t in rows],
        )
    engine.dispose()


def pull_all(url: str, table: str, watermark: dict | None, batch_size: int) -> tuple[list[pa.Table], dict | None]:
    source = SqlSource(SqlSettings("src", url, table, ("ajbs", "ah", "gxsj"), "gxsj", "ajbs", batch_size))
    tables = []
    for batch in source.pull(watermark):
        tables.append(batch.table)
        watermark = batch.watermark
    source.close()
    return tables, watermark


def test_ties_across_batch_boundaries_neither_lost_nor_duplicated(db: tuple[str, str]) -> None:
    url, table = db
    t0 = dt.datetime(2024, 5, 1, 9, 0, 0)
    # 10 rows share one timestamp, so every batch boundary (size 3) falls inside the tie
    rows = [(f"K{i:03d}", f"（2024）内03民终{i}号", t0) for i in range(10)]
    rows += [(f"L{i:03d}", f"（2024）内03民终{100 + i}号", t0 + dt.timedelta(seconds=i)) for i in range(5)]
    insert(url, table, rows)
    tables, wm = pull_all(url, table, None, batch_size=3)
    keys = [k for t in tables for k in t.column("ajbs").to_pylist()]
    assert sorted(keys) == sorted(r[0] for r in rows)
    assert len(keys) == len(set(keys))
    assert all(t.num_rows <= 3 for t in tables)
    assert tables[0].column(SOURCE_ROW).to_pylist() == [1, 2, 3]

    # a later pull from the saved watermark sees only rows written after it, including a
    # row with the same cursor value as the last one pulled but a later key
    later = [("L999", "（2024）内03民终999号", t0 + dt.timedelta(seconds=4)), ("M001", "（2024）内03民终7号", t0 + dt.timedelta(days=1))]
    insert(url, table, later)
    tables2, _ = pull_all(url, table, wm, batch_size=3)
    assert sorted(k for t in tables2 for k in t.column("ajbs").to_pylist()) == ["L999", "M001"]

    # nothing new: nothing pulled
    tables3, wm3 = pull_all(url, table, _, batch_size=3)
    assert tables3 == [] and wm3 == _


def test_unknown_column_is_terminal_and_names_the_columns(db: tuple[str, str]) -> None:
    url, table = db
    source = SqlSource(SqlSettings("src", url, table, ("ajbs", "nope"), "gxsj", "ajbs"))
    with pytest.raises(TerminalSourceError, match=r"no column\(s\) nope.*columns are: ajbs, ah, gxsj"):
        list(source.pull(None))


def test_missing_table_is_terminal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/empty.sqlite"
    with pytest.raises(TerminalSourceError, match="does not exist"):
        list(SqlSource(SqlSettings("src", url, "ghost", ("a",), "a", "a")).pull(None))


def test_unreachable_database_is_transient_and_hides_password() -> None:
    url = "postgresql+psycopg://hub:topsecret@127.0.0.1:1/test?connect_timeout=2"
    with pytest.raises(TransientSourceError) as info:
        list(SqlSource(SqlSettings("src", url, "t", ("a",), "a", "a")).pull(None))
    assert "topsecret" not in str(info.value)


def test_lookback_catches_a_late_commit_and_full_refresh_rereads(db: tuple[str, str]) -> None:
    url, table = db
    t0 = dt.datetime(2024, 5, 1, 9, 0, 0)
    insert(url, table, [(f"K{i}", f"（2024）内03民终{i}号", t0 + dt.timedelta(seconds=i)) for i in range(5)])
    _, wm = pull_all(url, table, None, batch_size=2)
    # a transaction that started earlier commits a row whose cursor is behind the watermark
    insert(url, table, [("LATE", "（2024）内03民终99号", t0 + dt.timedelta(seconds=2))])

    def pull(**kw: object) -> list[str]:
        source = SqlSource(SqlSettings("src", url, table, ("ajbs", "ah", "gxsj"), "gxsj", "ajbs", 2, **kw))  # type: ignore[arg-type]
        keys = [k for b in source.pull(wm) for k in b.table.column("ajbs").to_pylist()]
        source.close()
        return keys

    assert pull() == []  # plain keyset: the late row is behind the watermark
    assert sorted(pull(lookback_seconds=3)) == ["K1", "K2", "K3", "K4", "LATE"]  # overlap re-read + late row
    assert sorted(pull(full_refresh=True)) == ["K0", "K1", "K2", "K3", "K4", "LATE"]


def test_connection_killed_mid_extract_then_rerun_loses_and_duplicates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real pg_terminate_backend between pages; the rerun resumes from the landed watermark."""
    import pyarrow.parquet as pq

    from hub.config import HubConfig
    from hub.home import Home
    from hub.pull.landing import landed_batches

    table = f"t_kill_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (ajbs VARCHAR(20) PRIMARY KEY, ah VARCHAR(64), larq VARCHAR(10), gxsj TIMESTAMP)"))
        conn.execute(sa.text(f"INSERT INTO {table} SELECT 'K' || lpad(i::text, 4, '0'), '（2024）内03民初' || i || '号', "
                             "'2024-03-01', TIMESTAMP '2024-03-01' + (i / 3) * INTERVAL '1 second' FROM generate_series(1, 1000) i"))
    url = PG_URL + ("&" if "?" in PG_URL else "?") + "application_name=hub_kill_test"
    config = HubConfig.model_validate({
        "institutions": [{"id": "c1", "name": "乌海中院", "kind": "court", "court_code": "内03"}],
        "sources": [{"name": "pg_filing", "institution": "c1", "record_type": "filing", "kind": "database",
                     "database": {"url": url, "table": table, "cursor": "gxsj", "batch_size": 100},
                     "key": "ajbs", "mapping": {"case_no": "ah", "filing_date": "larq", "source_updated_at": "gxsj"}}],
        "offices": [], "agreements": [],
    })
    home = Home(tmp_path)
    real_land = pull_stage.land
    calls = {"n": 0}

    def land_then_kill(*args: object, **kwargs: object) -> object:
        landed = real_land(*args, **kwargs)  # type: ignore[arg-type]
        calls["n"] += 1
        if calls["n"] == 3:  # after the third page is durably landed, the database drops us
            with engine.begin() as conn:
                killed = conn.execute(sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'hub_kill_test'"
                )).scalar()
            assert killed == 1
        return landed

    monkeypatch.setattr(pull_stage, "land", land_then_kill)
    with pytest.raises(TransientSourceError):
        pull(RunContext(config, home, "run-1"), "pg_filing")
    monkeypatch.setattr(pull_stage, "land", real_land)
    pull(RunContext(config, home, "run-2"), "pg_filing")
    keys = [k for b in landed_batches(home.landing) for k in pq.read_table(b.path).column("ajbs").to_pylist()]
    assert len(keys) == 1000 and len(set(keys)) == 1000
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {table}"))
    engine.dispose()


def test_postgresql_pages_come_through_copy_keeping_null_apart_from_empty() -> None:
    table = f"t_copy_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (ajbs VARCHAR(20) PRIMARY KEY, ah VARCHAR(64), gxsj TIMESTAMP NOT NULL)"))
        conn.execute(sa.text(f"INSERT INTO {table} VALUES ('K1', NULL, '2024-05-01 09:00:00'), "
                             f"('K2', '', '2024-05-01 09:00:00'), ('K3', '含,逗号\"引号', '2024-05-01 09:00:01')"))
    try:
        tables, wm = pull_all(PG_URL, table, None, batch_size=2)
        merged = pa.concat_tables(tables)
        assert all(f.type == pa.string() for f in merged.schema if f.name != SOURCE_ROW)  # COPY's CSV, parsed by Arrow
        assert merged.column("ah").to_pylist() == [None, "", '含,逗号"引号']
        assert wm is not None and wm["tiebreak"] == "K3"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()


def test_pages_stream_in_chunks_and_a_loosely_typed_column_stays_whole(tmp_path: Path) -> None:
    """A page larger than one streamed chunk, whose column changes type between chunks (SQLite
    lets a clerk type text into a number column), arrives whole and as text."""
    url = f"sqlite:///{tmp_path}/loose.sqlite"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE la (ajbs INTEGER PRIMARY KEY, bdje, gxsj TEXT)"))
        conn.execute(sa.text("INSERT INTO la VALUES (:k, :v, '2024-03-01 10:00:00')"),
                     [{"k": k, "v": k if k <= 10_000 else f"约{k}元"} for k in range(1, 10_101)])
    engine.dispose()
    source = SqlSource(SqlSettings(name="loose", url=url, table="la", columns=("ajbs", "bdje"),
                                   cursor="gxsj", tiebreak="ajbs", batch_size=20_000))
    [page] = list(source.pull(None))
    source.close()
    values = page.table.column("bdje").to_pylist()
    assert page.table.num_rows == 10_100 and page.table.schema.field("bdje").type == pa.string()
    assert values[0] == "1" and values[-1] == "约10100元"


def test_postgresql_pages_start_by_index_range_at_the_watermark(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each page's query is planned as an index range starting at (cursor, tiebreak), so a page
    never re-reads the rows before it (an OR of comparisons is only an index filter)."""
    from connectors import sql as sql_module

    table = f"t_range_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (ajbs VARCHAR(20) PRIMARY KEY, ah VARCHAR(64), gxsj TIMESTAMP NOT NULL)"))
        conn.execute(sa.text(f"CREATE INDEX ON {table} (gxsj, ajbs)"))
        conn.execute(sa.text(f"INSERT INTO {table} SELECT 'K' || lpad(i::text, 6, '0'), NULL, "
                             "TIMESTAMP '2024-01-01' + (i / 7) * INTERVAL '1 second' FROM generate_series(1, 20000) i"))
        conn.execute(sa.text(f"ANALYZE {table}"))
    queries: list[str] = []
    real_copy_page = sql_module._copy_page

    def recording(conn: sa.Connection, query: sa.Select, columns: tuple[str, ...]) -> object:  # type: ignore[type-arg]
        queries.append(str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})))
        return real_copy_page(conn, query, columns)

    monkeypatch.setattr(sql_module, "_copy_page", recording)
    try:
        tables, _ = pull_all(PG_URL, table, None, batch_size=5000)
        assert sum(t.num_rows for t in tables) == 20000 and len(queries) == 5
        with engine.begin() as conn:
            conn.execute(sa.text("SET enable_bitmapscan = off"))  # the plan a large table gets for one page
            plan = "\n".join(r[0] for r in conn.execute(sa.text("EXPLAIN " + queries[2])))  # a page mid-table
        assert "Index Cond: (ROW(gxsj, " in plan, plan
        assert "Filter" not in plan, plan
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()


def test_postgresql_columns_read_in_one_query_match_sqlalchemys_reflection() -> None:
    """The one-query catalog read (``pg_columns``) names and types a table's columns as
    SQLAlchemy's reflection does (timestamps with and without zone, dates, numbers, text, an
    upper-case table found as SQLAlchemy quotes it), and leaves types it has no name for to
    that reflection when the cursor needs one."""
    from connectors.sql import pg_columns

    table = f"T_Cols_{uuid.uuid4().hex[:6]}"
    engine = sa.create_engine(PG_URL)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE TYPE "{table}_mood" AS ENUM (\'a\', \'b\')'))
            conn.execute(sa.text(
                f'CREATE TABLE "{table}" (id BIGINT, n INTEGER, amount NUMERIC(18, 2), ah VARCHAR(64), t TEXT, '
                f'd DATE, ts TIMESTAMP(3), tz TIMESTAMP WITH TIME ZONE, gone TEXT, mood "{table}_mood")'))
            conn.execute(sa.text(f'ALTER TABLE "{table}" DROP COLUMN gone'))
        with engine.connect() as conn:
            ours = pg_columns(conn, table, ("ts", "id"))
            theirs = [(c["name"], c["type"]) for c in sa.inspect(conn).get_columns(table)]
            assert ours is not None
            assert [n for n, _ in ours] == [n for n, _ in theirs]
            for (name, got), (_, want) in zip(ours, theirs):
                if name != "mood":
                    assert type(got) is type(want) and getattr(got, "timezone", None) == getattr(want, "timezone", None)
            assert pg_columns(conn, table, ("mood", "id")) is None  # SQLAlchemy's reflection knows its enum
            assert pg_columns(conn, "no_such_table", ("id",)) == []
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"'))
            conn.execute(sa.text(f'DROP TYPE IF EXISTS "{table}_mood"'))
        engine.dispose()


def test_a_refused_login_is_terminal_and_names_user_and_host() -> None:
    """Retrying a wrong password only locks the account: it is a person's to fix, and says where."""
    url = MARIADB_URL.replace("root@", "root:wrong-secret@", 1)
    with pytest.raises(TerminalSourceError) as info:
        list(SqlSource(SqlSettings("court_db", url, "t", ("a",), "a", "a")).pull(None))
    message = str(info.value)
    assert message.startswith("court_db: login refused for user root at 127.0.0.1:3306 (")
    assert "Access denied" in message and "password_env" in message and "wrong-secret" not in message


def test_an_unreachable_server_is_temporary_and_says_where_and_why() -> None:
    url = "postgresql+psycopg://hub@127.0.0.1:1/test?connect_timeout=2"
    with pytest.raises(TransientSourceError) as info:
        list(SqlSource(SqlSettings("court_db", url, "t", ("a",), "a", "a")).pull(None))
    message = str(info.value)
    assert message.startswith("court_db: cannot use the database at 127.0.0.1:1 (") and "refused" in message
    assert "will retry" not in message


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_rows_by_keys_come_typed_as_pages_by_one_or_several_key_columns(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows fetched by key look like any page of the same table (columns, types, row numbers);
    a composite key is matched as a tuple; a key no longer in the table is left out, no error."""
    from connectors import sql as sql_module

    url = {"sqlite": f"sqlite:///{tmp_path}/src.sqlite", "postgresql": PG_URL, "mariadb": MARIADB_URL}[backend]
    table = f"t_bykey_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (fydm VARCHAR(10), xh INTEGER, ah VARCHAR(64), gxsj TIMESTAMP NOT NULL, "
                             "PRIMARY KEY (fydm, xh))"))
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (:c, :n, :a, '2024-05-01 09:00:00')"),
                     [{"c": c, "n": n, "a": f"（2024）{c}民初{n}号"} for c in ("内03", "内0302") for n in range(1, 5)])
    source = SqlSource(SqlSettings("src", url, table, ("fydm", "xh", "ah", "gxsj"), "gxsj", "xh"))
    try:
        [page] = list(source.pull(None))
        typed = source.keys("xh").schema  # as a reconcile reads keys: text through PostgreSQL's COPY, typed elsewhere
        [by_one] = list(source.rows_by_keys(pa.table({"xh": pa.array(["2", "9"])}).cast(typed)))  # 9: not there
        assert by_one.table.schema == page.table.schema and by_one.watermark is None
        assert sorted(by_one.table.column("ah").to_pylist()) == ["（2024）内0302民初2号", "（2024）内03民初2号"]
        assert by_one.table.column(SOURCE_ROW).to_pylist() == [1, 2]
        assert by_one.origin == "src: 2 key(s) missed behind the cursor"

        monkeypatch.setattr(sql_module, "KEYS_PER_QUERY", 2)
        wanted = pa.table({"fydm": ["内03", "内9", "内0302", "内03"], "xh": [3, 1, 4, 1]})  # 内9 has none
        batches = list(source.rows_by_keys(wanted))  # two queries of two keys each
        assert [sorted(b.table.column("ah").to_pylist()) for b in batches] == [
            ["（2024）内03民初3号"], sorted(["（2024）内03民初1号", "（2024）内0302民初4号"])]
        assert [b.table.column(SOURCE_ROW).to_pylist() for b in batches] == [[1], [1, 2]]
        assert batches[0].details["keys"] == 2 and all(b.table.schema == page.table.schema for b in batches)
    finally:
        source.close()
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()


def test_a_postgresql_user_without_select_gets_a_terminal_error_from_copy() -> None:
    """Pages come through the driver's own COPY, whose errors SQLAlchemy never sees: they are
    translated like its own, so a missing grant says what to fix instead of escaping raw."""
    table, role = f"t_grant_{uuid.uuid4().hex[:8]}", f"r_grant_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (ajbs VARCHAR(20) PRIMARY KEY, gxsj TIMESTAMP NOT NULL)"))
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
    try:
        url = sa.make_url(PG_URL).set(username=role).render_as_string(hide_password=False)
        source = SqlSource(SqlSettings("court_db", url, table, ("ajbs",), "gxsj", "ajbs"))
        with pytest.raises(TerminalSourceError, match=f"permission denied for table {table}.*check the user's grants"):
            list(source.pull(None))
        source.close()
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {table}"))
            conn.execute(sa.text(f"DROP ROLE {role}"))
        engine.dispose()
