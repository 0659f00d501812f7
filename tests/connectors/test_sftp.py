"""SFTP pulls against a real in-process SSH server: pinning, auth, selection, safe staging, errors."""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import paramiko
import pyarrow.parquet as pq
import pytest

from connectors.base import SOURCE_ROW
from connectors.errors import (
    HostKeyError,
    SourceError,
    TerminalSourceError,
    TransientSourceError,
)
from connectors.sftp import (
    SftpSettings,
    SftpSource,
    fingerprint,
    host_key_line,
    parse_key_line,
    safe_local_name,
)
from hub.demo import sftp_server
from hub.demo.sftp_server import DemoSftpServer, generate_host_key

OLD = time.time() - 3600
CSV = "文书编号,措施\n乌检民监〔2024〕1号,再审检察建议\n乌检民监〔2024〕2号,检察建议\n"


@dataclass
class Drop:
    root: Path
    keys: Path
    server: DemoSftpServer
    settings: SftpSettings
    staging: Path

    def put(self, name: str, data: bytes, mtime: float = OLD) -> Path:
        path = self.root / "outgoing" / name
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))
        return path

    def pull(self, seen: dict | None = None, **changes: object) -> list:
        return list(SftpSource(replace(self.settings, **changes), self.staging).pull(seen or {}))


def key(keys: Path, name: str) -> Path:
    path = keys / name
    if not path.exists():
        generate_host_key(path)
    return path


@pytest.fixture
def drop(tmp_path: Path) -> Iterator[Drop]:
    keys = tmp_path / "keys"
    root = tmp_path / "sftp"
    (root / "outgoing").mkdir(parents=True)
    host, client = key(keys, "host"), key(keys, "client")
    with DemoSftpServer(root, host, host_key_line(client)) as server:
        settings = SftpSettings(
            name="wh_proc", host="127.0.0.1", port=server.port, username="wh-proc", key_path=client,
            host_key=host_key_line(host), remote_dir="outgoing", timeout=5,
        )
        yield Drop(root, keys, server, settings, tmp_path / "staging")


def test_pinned_host_key_pulls_and_stages_safely(drop: Drop) -> None:
    drop.put("b.csv", CSV.encode("gbk"))
    drop.put("a.csv", CSV.encode("utf-8-sig"))
    drop.put("notes.txt", b"ignored by pattern")
    drop.put(".c.csv", b"upload in progress")
    batches = drop.pull()
    assert [b.watermark["file"] for b in batches] == ["/outgoing/a.csv", "/outgoing/b.csv"]
    for b in batches:
        assert b.source == "wh_proc"
        assert b.origin == f"sftp://127.0.0.1:{drop.server.port}{b.watermark['file']}"
        assert b.table.column("措施").to_pylist() == ["再审检察建议", "检察建议"]
        assert b.table.column(SOURCE_ROW).to_pylist() == [2, 3]
        assert b.rejects is not None and b.rejects.num_rows == 0
        local = Path(b.details["local_path"])
        remote = drop.root / b.watermark["file"].lstrip("/")
        assert local.parent == drop.staging
        assert local.read_bytes() == remote.read_bytes()
        assert b.watermark["size"] == b.details["bytes"] == remote.stat().st_size
        assert b.watermark["mtime"] == int(OLD)
        assert b.watermark["sha256"] == b.details["sha256"] == hashlib.sha256(remote.read_bytes()).hexdigest()
    assert not list(drop.staging.glob("*.part"))


def test_known_hosts_file_pins_too(drop: Drop) -> None:
    drop.put("a.csv", CSV.encode())
    known = drop.keys / "known_hosts"
    known.write_text(f"[127.0.0.1]:{drop.server.port} {drop.settings.host_key}\n")
    assert len(drop.pull(host_key=None, known_hosts=known)) == 1
    known.write_text(f"[127.0.0.1]:1 {drop.settings.host_key}\n")  # another host's entry only
    with pytest.raises(HostKeyError, match=r"no host key is pinned for \[127\.0\.0\.1\]:\d+.*offered ssh-ed25519 SHA"):
        drop.pull(host_key=None, known_hosts=known)
    known.write_text(f"[127.0.0.1]:{drop.server.port} ssh-ed25519 not*base64\n")
    with pytest.raises(HostKeyError, match="cannot read known_hosts"):
        drop.pull(host_key=None, known_hosts=known)
    with pytest.raises(HostKeyError, match="no host key pinned"):
        drop.pull(host_key=None)


def test_unknown_host_key_is_refused(drop: Drop) -> None:
    drop.put("a.csv", CSV.encode())
    other = host_key_line(key(drop.keys, "other"))
    with pytest.raises(HostKeyError) as info:
        drop.pull(host_key=other)
    message = str(info.value)
    assert f"expected {fingerprint(parse_key_line(other))}" in message
    assert f"offered ssh-ed25519 {fingerprint(parse_key_line(drop.settings.host_key or ''))}" in message
    assert "update sftp.host_key" in message and info.value.source == "wh_proc"
    assert not drop.staging.exists()


def test_changed_host_key_is_refused(drop: Drop) -> None:
    drop.put("a.csv", CSV.encode())
    assert len(drop.pull()) == 1
    drop.server.stop()
    new_host = key(drop.keys, "host2")
    with DemoSftpServer(drop.root, new_host, host_key_line(drop.settings.key_path), port=drop.server.port):
        offered = fingerprint(paramiko.PKey.from_path(new_host))
        with pytest.raises(HostKeyError, match=re.escape(f"offered ssh-ed25519 {offered}")):
            drop.pull()


def test_client_key_readable_by_others_is_refused_before_connecting(drop: Drop) -> None:
    drop.settings.key_path.chmod(0o644)
    with pytest.raises(TerminalSourceError, match=r"readable by others \(mode 0o644\); run: chmod 600"):
        drop.pull(port=closed_port())  # terminal, not a connection error: checked first


def test_passphrase_protected_rsa_client_key(drop: Drop, tmp_path: Path) -> None:
    drop.put("a.csv", CSV.encode())
    rsa = paramiko.RSAKey.generate(2048)
    path = tmp_path / "rsa_client"
    rsa.write_private_key_file(str(path), password="口令-secret")
    path.chmod(0o600)
    with DemoSftpServer(drop.root, drop.settings.key_path.with_name("host"), f"ssh-rsa {rsa.get_base64()}") as srv:
        assert len(drop.pull(port=srv.port, key_path=path, passphrase="口令-secret")) == 1
        with pytest.raises(TerminalSourceError, match="passphrase-protected: set sftp.passphrase_env"):
            drop.pull(port=srv.port, key_path=path)
        with pytest.raises(TerminalSourceError, match="cannot load client key"):
            drop.pull(port=srv.port, key_path=path, passphrase="wrong")


def test_unauthorized_client_key_fails_auth(drop: Drop) -> None:
    stranger = key(drop.keys, "stranger")
    with pytest.raises(TerminalSourceError, match="authentication as 'wh-proc' .* failed.*check username and key_path"):
        drop.pull(key_path=stranger)


def test_missing_remote_dir_is_terminal(drop: Drop) -> None:
    with pytest.raises(TerminalSourceError, match="remote folder 'incoming' does not exist"):
        drop.pull(remote_dir="incoming")


def test_young_files_wait_for_min_age(drop: Drop) -> None:
    path = drop.put("a.csv", CSV.encode(), mtime=time.time())
    assert drop.pull(min_age_seconds=60) == []
    os.utime(path, (OLD, OLD))
    assert len(drop.pull(min_age_seconds=60)) == 1


def test_seen_files_are_skipped_until_they_change(drop: Drop) -> None:
    path = drop.put("a.csv", CSV.encode())
    first = drop.pull()
    seen = {b.watermark["file"]: b.watermark for b in first}
    assert drop.pull(seen) == []
    path.write_bytes(CSV.encode() + "乌检民监〔2024〕3号,纠正违法通知\n".encode())
    os.utime(path, (OLD, OLD))  # same mtime, new size
    again = drop.pull(seen)
    assert len(again) == 1 and again[0].table.num_rows == 3
    seen = {b.watermark["file"]: b.watermark for b in again}
    os.utime(path, (OLD + 60, OLD + 60))  # same size, new mtime
    assert len(drop.pull(seen)) == 1


def test_odd_remote_names_land_under_safe_local_names(drop: Drop) -> None:
    names = ["立案 名单 (1);rm -rf ~.csv", "-n $(id).csv", "a\\..\\b.csv", "x\n.csv"]
    for name in names:
        drop.put(name, CSV.encode())
    batches = drop.pull()
    assert len(batches) == 3  # "a\..\b.csv" is refused: a traversal on a Windows server
    for b in batches:
        local = Path(b.details["local_path"])
        assert local.parent == drop.staging
        assert re.fullmatch(r"[0-9a-f]{16}-[A-Za-z0-9._-]+", local.name)
    assert sorted(p.name for p in drop.staging.iterdir()) == sorted(Path(b.details["local_path"]).name for b in batches)
    for hostile in ("../../etc/passwd", "/etc/passwd", "..", "a/../../b\x00.csv"):
        assert "/" not in safe_local_name(hostile) and "\x00" not in safe_local_name(hostile)
        assert not safe_local_name(hostile).split("-", 1)[1].startswith(".")


def test_a_lying_server_cannot_make_the_client_write_outside_staging(
    drop: Drop, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    good = drop.put("a.csv", CSV.encode())
    real = sftp_server._Files.list_folder

    def lying(self: sftp_server._Files, path: str) -> list[paramiko.SFTPAttributes] | int:
        listed = real(self, path)
        assert isinstance(listed, list)
        return [*listed, paramiko.SFTPAttributes.from_stat(good.stat(), "../../escape.csv")]

    monkeypatch.setattr(sftp_server._Files, "list_folder", lying)
    with caplog.at_level(logging.WARNING, logger="connectors.sftp"):
        batches = drop.pull(pattern="*")
    assert [b.watermark["file"] for b in batches] == ["/outgoing/a.csv"]
    assert "unsafe name '../../escape.csv'" in caplog.text
    assert not (drop.staging.parent / "escape.csv").exists()


def test_jsonl_and_parquet_formats(drop: Drop) -> None:
    drop.put("a.jsonl", '{"文书编号": "乌检民监〔2024〕1号", "份数": 2}\n'.encode())
    [batch] = drop.pull(pattern="*.jsonl", file_format="jsonl")
    assert batch.table.to_pylist() == [{"文书编号": "乌检民监〔2024〕1号", "份数": "2", SOURCE_ROW: 1}]


def test_unreadable_file_names_its_origin(drop: Drop) -> None:
    drop.put("a.csv", b"a,b\n1,\xff\xfe\n")
    with pytest.raises(TerminalSourceError, match=r"sftp://127\.0\.0\.1:\d+/outgoing/a\.csv: .*line 2"):
        drop.pull(encoding="utf-8")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def rude_server() -> Iterator[Callable[[bytes | None], int]]:
    """A TCP server that is not SSH: it sends ``greeting`` and hangs up, or says nothing at all."""
    socks: list[socket.socket] = []

    def start(greeting: bytes | None) -> int:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        socks.append(sock)

        def serve() -> None:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            socks.append(conn)
            if greeting is not None:
                conn.sendall(greeting)
                conn.close()

        threading.Thread(target=serve, daemon=True).start()
        return sock.getsockname()[1]

    yield start
    for s in socks:
        s.close()


def test_network_failures_are_transient_and_nothing_else_escapes(
    drop: Drop, rude_server: Callable[[bytes | None], int]
) -> None:
    ports = {"closed": closed_port(), "http": rude_server(b"HTTP/1.1 400 Bad Request\r\n\r\n"),
             "silent": rude_server(None)}
    for what, port in ports.items():
        start = time.monotonic()
        with pytest.raises(TransientSourceError, match="a temporary failure") as info:
            drop.pull(port=port, timeout=1)
        assert info.value.source == "wh_proc", what
        assert time.monotonic() - start < 10, what
    unresolvable = replace(drop.settings, host="no-such-host.invalid")
    with pytest.raises(SourceError):
        list(SftpSource(unresolvable, drop.staging).pull({}))


def test_demo_server_confines_clients_to_its_root(drop: Drop, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    (drop.root / "outgoing" / "link.csv").symlink_to(secret)
    client = paramiko.SSHClient()
    pinned = parse_key_line(drop.settings.host_key or "")
    client.get_host_keys().add(f"[127.0.0.1]:{drop.server.port}", pinned.get_name(), pinned)
    client.connect("127.0.0.1", drop.server.port, username="x", pkey=paramiko.PKey.from_path(drop.settings.key_path),
                   look_for_keys=False, allow_agent=False)
    try:
        sftp = client.open_sftp()
        for path in ("../secret.txt", "/../secret.txt", "outgoing/link.csv"):
            with pytest.raises(OSError):
                sftp.open(path).read()
        assert sftp.normalize("../..") == "/"
        with sftp.open("outgoing/up.csv", "w") as fh:
            fh.write("a\n")
        assert (drop.root / "outgoing" / "up.csv").read_text() == "a\n"
    finally:
        client.close()
    with pytest.raises(ValueError, match="loopback only"):
        DemoSftpServer(drop.root, drop.keys / "host", drop.settings.host_key or "", host="0.0.0.0")


def test_host_key_line_and_fingerprint_match_openssh(drop: Drop) -> None:
    host = drop.keys / "host"
    assert (host.stat().st_mode & 0o777) == 0o600
    line = host_key_line(host)
    pub = drop.keys / "host.pub"
    pub.write_text(line + " comment\n")
    assert host_key_line(pub) == line and line.startswith("ssh-ed25519 AAAA")
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen not installed")
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True).stdout
    assert out.split()[1] == fingerprint(parse_key_line(line))


@pytest.mark.skipif(shutil.which("sftp") is None, reason="OpenSSH sftp client not installed")
def test_openssh_client_accepts_the_demo_server(drop: Drop) -> None:
    drop.put("a.csv", CSV.encode())
    known = drop.keys / "known_hosts"
    known.write_text(f"[127.0.0.1]:{drop.server.port} {drop.settings.host_key}\n")
    out = subprocess.run(
        ["sftp", "-b", "-", "-P", str(drop.server.port), "-i", str(drop.settings.key_path),
         "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
         "wh-proc@127.0.0.1"],
        input="ls outgoing\n", capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert "a.csv" in out.stdout


def test_a_large_file_comes_in_pieces_and_counts_as_pulled_only_when_all_landed(
    drop: Drop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors import files
    from hub.pull.landing import land, landed_batches

    monkeypatch.setattr(files, "CHUNK_BYTES", 200)
    lines = [f"乌检民监〔2024〕{n}号,检察建议" for n in range(1, 41)]
    content = ("文书编号,措施\n" + "\n".join(lines) + "\n").encode("gb18030")
    drop.put("big.csv", content)

    def land_all(batches: Iterator) -> None:  # type: ignore[type-arg]
        for b in batches:
            land(b, tmp_path / "landing", record_type="supervision", institution="p1", run_id="r")

    source = SftpSource(drop.settings, drop.staging)
    interrupted = source.pull({})
    land_all([next(interrupted)])  # a crash after the first piece landed
    interrupted.close()
    batches = drop.pull()
    assert len(batches) > 2 and [b.watermark is not None for b in batches][-1]
    assert all(b.watermark is None for b in batches[:-1])  # not "seen" until the last piece
    rows = [r for b in batches for r in b.table.to_pylist()]
    assert [r["文书编号"] for r in rows] == [line.split(",")[0] for line in lines]
    assert [r[SOURCE_ROW] for r in rows] == list(range(2, 42))  # the file's own line numbers
    land_all(batches)
    landed = [r for b in landed_batches(tmp_path / "landing") for r in pq.read_table(b.path).to_pylist()]
    assert sorted(r[SOURCE_ROW] for r in landed) == list(range(2, 42))  # the re-landed first piece is not doubled
    # only the last piece knows the whole file's sha256; a trace of a row in the first finds it there
    from hub.home import Home
    from hub.inspect.trace import file_digest

    sidecars = [json.loads(p.read_text()) for p in (tmp_path / "landing" / batches[0].source).glob("*.json")]
    first = next(s for s in sidecars if s["details"]["piece"] == 1)
    assert "sha256" not in first["details"]
    assert file_digest(Home(tmp_path), batches[0].source, first) == hashlib.sha256(content).hexdigest()


def test_a_server_stating_no_read_limit_is_read_as_paramiko_reads(drop: Drop, tmp_path: Path) -> None:
    from connectors.channel import DEFAULT_READ
    from connectors.sftp import sftp_session
    from connectors.transfer import Download

    data = os.urandom(3 * DEFAULT_READ + 7)
    remote = drop.put("plain.bin", data)
    with sftp_session(drop.settings) as sftp:
        assert "limits@openssh.com" not in sftp.extensions
        assert sftp.read_size() == DEFAULT_READ
        with Download(sftp, f"outgoing/{remote.name}", tmp_path / "p.part", len(data), "wh_proc") as download:
            assert download.finish(tmp_path / "plain.bin") == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "plain.bin").read_bytes() == data


def test_regex_selects_files_by_their_whole_name(drop: Drop) -> None:
    drop.put("jdcs_20241001.csv", CSV.encode())
    drop.put("jdcs_20241001.csv.bak", CSV.encode())
    drop.put("notes.csv", CSV.encode())
    pulled = drop.pull(regex=r"jdcs_\d{8}\.csv")
    assert [b.watermark["file"].rsplit("/", 1)[1] for b in pulled] == ["jdcs_20241001.csv"]


def test_a_file_still_growing_between_two_listings_waits(drop: Drop) -> None:
    growing = drop.put("growing.csv", CSV.encode())
    drop.put("done.csv", CSV.encode())

    def append_later() -> None:
        time.sleep(0.3)
        with open(growing, "ab") as fh:
            fh.write("乌检民监〔2024〕3号,纠正违法通知\n".encode())

    writer = threading.Thread(target=append_later)
    writer.start()
    pulled = drop.pull(settle_seconds=1.0)
    writer.join()
    assert [b.watermark["file"].rsplit("/", 1)[1] for b in pulled] == ["done.csv"]
    seen = {b.watermark["file"]: b.watermark for b in pulled}
    later = drop.pull(seen, settle_seconds=0.2)  # it stopped growing: now it is pulled, whole
    assert [b.table.num_rows for b in later] == [3]


def test_a_file_that_grew_after_the_listing_is_refused_before_any_piece(
    drop: Drop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors import files

    monkeypatch.setattr(files, "CHUNK_BYTES", 200)  # pieces land while the transfer runs
    path = drop.put("a.csv", ("文书编号,措施\n" + "乌检民监〔2024〕1号,检察建议\n" * 100).encode())
    listed = SftpSource._pending

    def then_grows(self: SftpSource, sftp: paramiko.SFTPClient, seen: dict) -> list:  # type: ignore[type-arg]
        out = listed(self, sftp, seen)
        with open(path, "ab") as fh:
            fh.write("乌检民监〔2024〕2号,检察建议\n".encode())
        return out

    monkeypatch.setattr(SftpSource, "_pending", then_grows)
    batches = SftpSource(drop.settings, drop.staging).pull({})
    with pytest.raises(TransientSourceError, match="changed since it was listed"):
        next(batches)
    assert list(drop.staging.iterdir()) == []  # nothing staged, no piece parsed


def test_a_utf16_export_pulls_in_pieces_as_its_utf8_twin_and_leaves_no_copy(
    drop: Drop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors import encodings, files

    monkeypatch.setattr(files, "CHUNK_BYTES", 200)
    monkeypatch.setattr(encodings, "TRANSCODE_BYTES", 33)  # an odd step: code units cut between steps
    text = "文书编号\t措施\t说明\r\n" + "".join(
        f"乌检民监〔2024〕{n}号\t检察建议\t\"第一行\r\n第{n}行\"\r\n" for n in range(1, 41)
    )
    drop.put("utf16.txt", codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    drop.put("utf8.txt", text.encode())
    utf16, utf8 = ([b for b in drop.pull(pattern=name, delimiter="\t")] for name in ("utf16.txt", "utf8.txt"))
    assert len(utf16) > 2 and utf16[-1].watermark is not None
    rows = [r for b in utf16 for r in b.table.to_pylist()]
    assert rows == [r for b in utf8 for r in b.table.to_pylist()]
    assert [r[SOURCE_ROW] for r in rows] == list(range(2, 82, 2))  # the file's own lines
    assert rows[-1]["说明"] == "第一行\r\n第40行"
    staged = Path(utf16[-1].details["local_path"])
    assert utf16[-1].watermark["sha256"] == hashlib.sha256(staged.read_bytes()).hexdigest()
    assert staged.read_bytes()[:2] == codecs.BOM_UTF16_LE  # the file as sent is kept; only it
    assert sorted(p.name for p in drop.staging.iterdir()) == sorted(
        Path(b[-1].details["local_path"]).name for b in (utf16, utf8))

    drop.put("bad.txt", codecs.BOM_UTF16_LE + "a\tb\r\n1\t".encode("utf-16-le") + b"\x00\xdc" + b"\r\x00\n\x00")
    with pytest.raises(TerminalSourceError, match=r"sftp://127\.0\.0\.1:\d+/outgoing/bad\.txt: .*line 2 .*utf-16-le"):
        drop.pull(pattern="bad.txt", delimiter="\t")
    assert not [p for p in drop.staging.iterdir() if "bad" in p.name]  # neither the download nor its copy
