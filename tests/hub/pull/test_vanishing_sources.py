"""Sources that go away mid-pull: a real TCP proxy (tests/proxy.py) between the hub and
PostgreSQL, MariaDB or OpenSSH's sshd is killed (a reset) or vanishes (no FIN, no reset: a host
that lost power) while a pull is under way. The pull fails with a temporary error naming where,
within its timeout rather than never; what landed is whole, the watermark (or a file's "seen"
mark) goes no further than it; the next run, through the restarted proxy, completes, and the
shared table then holds every source row exactly once.

No pull may hang the suite: each runs in a thread given a deadline (``Call``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from benchmarks.sshd import SshdUnavailable, running_sshd
from connectors import files
from hub.config import HubConfig
from hub.errors import TransientSourceError
from hub.home import Home
from hub.lake.location import Lake
from hub.normalize import apply_pending
from hub.observe import audit
from hub.observe.run import RunContext
from hub.pull import pull
from tests.proxy import TcpProxy

DATABASES = {
    "postgresql": os.environ.get("HUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mariadb": os.environ.get("HUB_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
ROWS, BATCH = 3000, 250  # twelve pages
KEYS = [f"K{i:05d}" for i in range(1, ROWS + 1)]
DEADLINE = 60  # seconds any pull may take here before it counts as hung
vanishing = pytest.mark.skipif(not TcpProxy.can_vanish(), reason="a silent close needs Linux and CAP_NET_ADMIN")


class Call:
    """``fn(*args)`` in a thread of its own, so a test can act while it runs and fail, not hang,
    when it never returns."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._fn = fn
        self._outcome: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, args=args, daemon=True)
        self._thread.start()

    def _run(self, *args: Any) -> None:
        try:
            self._outcome["value"] = self._fn(*args)
        except BaseException as exc:  # raised again by result()
            self._outcome["error"] = exc

    def result(self, seconds: float = DEADLINE) -> Any:
        self._thread.join(seconds)
        if self._thread.is_alive():
            pytest.fail(f"{self._fn.__name__} still running after {seconds} s: it hangs")
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["value"]


def wait_for(condition: Callable[[], bool], what: str, seconds: float = DEADLINE) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {seconds} s")
        time.sleep(0.02)


def whole_landing(home: Home, source: str) -> list[dict[str, Any]]:
    """The source's landed batches (sidecars), each checked whole: its Parquet reads back with
    the rows and sha256 the sidecar records, and nothing else lies in the folder (no
    temporary file, no Parquet without a sidecar)."""
    folder = home.landing / source
    sidecars = [json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json")]
    expected = {m["file"] for m in sidecars} | {f"{m['batch_id']}.json" for m in sidecars}
    assert sorted(os.listdir(folder)) == sorted(expected)
    for meta in sidecars:
        data = (folder / meta["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"]
        assert pq.read_table(folder / meta["file"]).num_rows == meta["rows"]
    return sidecars


def keys_of(home: Home, source: str, sidecars: list[dict[str, Any]], column: str) -> list[str]:
    return [k for m in sidecars for k in pq.read_table(home.landing / source / m["file"]).column(column).to_pylist()]


def failed_pull(home: Home, source: str) -> dict[str, Any]:
    [entry] = [e for e in audit.entries(home.audit) if e["event"] == "pull" and e["subject"] == source]
    assert entry["details"]["status"] == "failed"
    return entry["details"]


def shared_keys(config: HubConfig, home: Home, table: str) -> list[str]:
    with Lake.of(config, home).connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
        return [k for (k,) in con.execute(f"SELECT source_key FROM {table} ORDER BY source_key").fetchall()]


# --- databases ---------------------------------------------------------------------------------


@dataclass
class Table:
    url: sa.URL
    name: str


@pytest.fixture(params=sorted(DATABASES))
def database(request: pytest.FixtureRequest) -> Iterator[Table]:
    """A fresh table of ``ROWS`` filings (key order is update order) in a real server."""
    url = sa.make_url(DATABASES[request.param])
    table = sa.Table(
        f"t_gone_{uuid.uuid4().hex[:8]}", sa.MetaData(),
        sa.Column("ajbs", sa.String(20), primary_key=True), sa.Column("ah", sa.String(64)),
        sa.Column("larq", sa.String(10)), sa.Column("gxsj", sa.DateTime, nullable=False),
    )
    engine = sa.create_engine(url)
    t0 = dt.datetime(2024, 3, 1, 9, 0, 0)
    try:
        table.create(engine)
    except sa.exc.OperationalError as exc:
        pytest.fail(f"{request.param} is not reachable at {url}: run scripts/ensure-services.sh: {exc}")
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"ajbs": k, "ah": f"（2024）内03民初{i}号", "larq": "2024-03-01",
                                       "gxsj": t0 + dt.timedelta(seconds=i)} for i, k in enumerate(KEYS, 1)])
    yield Table(url, table.name)
    _end_abandoned_sessions(engine)
    table.drop(engine)
    engine.dispose()


def _end_abandoned_sessions(engine: sa.Engine) -> None:
    """End the server sessions a vanished proxy left behind: the server never heard their client
    go, so each still holds its open transaction's locks, and dropping the table would wait for
    them as long as the server's lock timeout (a day, on MariaDB)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"))
            return
        for (session,) in conn.execute(sa.text(
                "SELECT id FROM information_schema.processlist WHERE id <> connection_id() AND db = database() "
                "AND command = 'Sleep'")).fetchall():
            with contextlib.suppress(sa.exc.DBAPIError):
                conn.execute(sa.text(f"KILL {int(session)}"))


def database_config(source: Table, port: int) -> HubConfig:
    """A court's filings read through the proxy at ``port``, ``BATCH`` rows a page, and
    noticing a vanished server within about 2 s."""
    through = source.url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    return HubConfig.model_validate({
        "institutions": [{"id": "c1", "name": "乌海中院", "kind": "court", "court_code": "内03"}],
        "sources": [{"name": "court_filing", "institution": "c1", "record_type": "filing", "kind": "database",
                     "database": {"url": through, "table": source.name, "cursor": "gxsj",
                                  "batch_size": BATCH, "timeout_seconds": 2},
                     "key": "ajbs", "mapping": {"case_no": "ah", "filing_date": "larq", "source_updated_at": "gxsj"}}],
        "offices": [], "agreements": [],
    })


@pytest.mark.parametrize("silently", [False, pytest.param(True, marks=vanishing)], ids=["killed", "vanished"])
def test_a_database_gone_mid_pull_leaves_whole_batches_and_the_next_run_completes(
    database: Table, silently: bool, tmp_path: Path
) -> None:
    with TcpProxy((database.url.host or "127.0.0.1", database.url.port or 5432)) as proxy:
        config = database_config(database, proxy.port)
        Call(pull, RunContext(config, Home(tmp_path / "measure"), "measure"), "court_filing").result()
        proxy.kill_after_bytes(proxy.bytes_down // 2, silently=silently)  # mid-page, half way through
        home = Home(tmp_path / "home")
        with pytest.raises(TransientSourceError) as failed:
            Call(pull, RunContext(config, home, "run-1"), "court_filing").result()
        message = str(failed.value)
        assert message.startswith(f"court_filing: cannot use the database at 127.0.0.1:{proxy.port} (")
        assert "temporary" in message and "will retry" not in message

        landed = whole_landing(home, "court_filing")
        got = keys_of(home, "court_filing", landed, "ajbs")
        assert 0 < len(landed) < ROWS // BATCH
        assert sorted(got) == KEYS[:len(got)]  # the first pages, each row once
        last = max(landed, key=lambda m: m["watermark"]["tiebreak"])
        saved = json.loads((home.state / "court_filing.json").read_text())["watermark"]
        assert saved == last["watermark"] and saved["tiebreak"] == KEYS[len(got) - 1]
        assert failed_pull(home, "court_filing")["rows"] == len(got)
        apply_pending(RunContext(config, home, "refresh-1"))  # what landed is applied, as a run would

        assert proxy.died.wait(10)
        proxy.start()
        Call(pull, RunContext(config, home, "run-2"), "court_filing").result()
    apply_pending(RunContext(config, home, "refresh-2"))
    assert sum(m["rows"] for m in whole_landing(home, "court_filing")) == ROWS  # nothing landed twice
    assert shared_keys(config, home, "filing") == KEYS


# --- an SFTP drop ------------------------------------------------------------------------------

PIECE = 1 << 20  # a CSV is landed in pieces of about this many bytes (files.CHUNK_BYTES)
MEASURES = 64_000  # about 4.7 MB of GBK: five pieces, many SFTP reads


@dataclass
class Drop:
    port: int
    host_key: str
    client_key: Path
    user: str
    folder: Path


@pytest.fixture(scope="module")
def drop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drop]:
    tmp = tmp_path_factory.mktemp("vanishing-sshd")
    try:
        with running_sshd(tmp / "sshd") as server:
            yield Drop(server.port, server.host_key_line, server.client_key, server.user, tmp / "drop")
    except SshdUnavailable as exc:
        pytest.fail(str(exc))


def sftp_config(drop: Drop, port: int) -> HubConfig:
    return HubConfig.model_validate({
        "institutions": [{"id": "p1", "name": "乌海市人民检察院", "kind": "procuratorate"}],
        "sources": [{"name": "proc_supervision", "institution": "p1", "record_type": "supervision", "kind": "sftp",
                     "sftp": {"host": "127.0.0.1", "port": port, "username": drop.user,
                              "key_path": str(drop.client_key), "host_key": drop.host_key,
                              "remote_dir": str(drop.folder), "timeout_seconds": 3},
                     "format": {"type": "csv", "encoding": "gbk"}, "key": "文书编号",
                     "mapping": {"doc_no": "文书编号", "measure": "监督方式", "target_case_no": "被监督案号",
                                 "issued_date": "发出日期"}}],
        "offices": [], "agreements": [],
    })


@pytest.mark.parametrize("silently", [False, pytest.param(True, marks=vanishing)], ids=["killed", "vanished"])
def test_an_sftp_server_gone_mid_download_lands_the_file_once_on_the_next_run(
    drop: Drop, silently: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "CHUNK_BYTES", PIECE)
    keys = [f"乌检民监〔2024〕{i}号" for i in range(1, MEASURES + 1)]
    data = "".join(["文书编号,监督方式,被监督案号,发出日期\n"] + [
        f"{k},再审检察建议,（2023）内03民终{i}号,2024-03-01\n" for i, k in enumerate(keys, 1)]).encode("gbk")
    drop.folder.mkdir(exist_ok=True)
    remote = drop.folder / f"measures-{uuid.uuid4().hex[:6]}.csv"
    remote.write_bytes(data)
    os.utime(remote, (time.time() - 3600,) * 2)
    with TcpProxy(("127.0.0.1", drop.port)) as proxy:
        config = sftp_config(drop, proxy.port)
        Call(pull, RunContext(config, Home(tmp_path / "measure"), "measure"), "proc_supervision").result()
        handshake = proxy.bytes_down - len(data)
        pieces = len(list((tmp_path / "measure" / "landing" / "proc_supervision").glob("*.json")))
        assert pieces >= 4
        # the file stops arriving half way through its third piece: two pieces can land, then
        # the server goes away mid-download
        proxy.hold_after_bytes(handshake + 2 * PIECE + PIECE // 2)
        home = Home(tmp_path / "home")
        run_1 = Call(pull, RunContext(config, home, "run-1"), "proc_supervision")
        wait_for(lambda: len(list((home.landing / "proc_supervision").glob("*.json"))) == 2, "two pieces landed")
        proxy.vanish() if silently else proxy.kill()
        with pytest.raises(TransientSourceError) as failed:
            run_1.result()
        message = str(failed.value)
        assert message.startswith(f"proc_supervision: SSH/SFTP with [127.0.0.1]:{proxy.port} failed (")
        assert "temporary" in message and "will retry" not in message
        if silently:
            assert "no answer within 3 s" in message

        landed = whole_landing(home, "proc_supervision")
        assert len(landed) == 2 and all(m["watermark"] is None for m in landed)  # pieces; the file is not done
        got = keys_of(home, "proc_supervision", landed, "文书编号")
        assert sorted(got) == sorted(keys[:len(got)])  # the file's first rows, each once
        assert str(remote) not in json.loads((home.state / "proc_supervision.json").read_text()).get("seen", {})
        assert os.listdir(home.staging / "proc_supervision") == []  # no part file, no half a file
        assert failed_pull(home, "proc_supervision")["batches"] == 2
        apply_pending(RunContext(config, home, "refresh-1"))

        proxy.start()
        Call(pull, RunContext(config, home, "run-2"), "proc_supervision").result()
    seen = json.loads((home.state / "proc_supervision.json").read_text())["seen"]
    assert seen[str(remote)]["sha256"] == hashlib.sha256(data).hexdigest()
    again = whole_landing(home, "proc_supervision")
    assert len(again) == pieces and sum(m["rows"] for m in again) == MEASURES  # the first two not twice
    apply_pending(RunContext(config, home, "refresh-2"))
    assert shared_keys(config, home, "supervision") == sorted(keys)
    remote.unlink()
