"""SFTP pulls against a real OpenSSH sshd on a loopback port (installed by scripts/ensure-services.sh)."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from benchmarks.sshd import SshdUnavailable, running_sshd
from connectors.channel import MAX_READ, ReceiveBuffer, open_sftp
from connectors.errors import HostKeyError, TerminalSourceError
from connectors.sftp import SftpSettings, SftpSource, host_key_line, sftp_session
from connectors.transfer import Download
from hub.signing.crypto import generate_ssh_key

CSV_GBK = "文书编号,监督方式\n乌检民监〔2024〕1号,再审检察建议\n乌检民监〔2024〕2号,检察建议\n".encode("gbk")


@dataclass
class Sshd:
    port: int
    drop: Path
    host_key: Path
    client_key: Path
    user: str

    def settings(self, **changes: object) -> SftpSettings:
        base = SftpSettings(
            name="proc", host="127.0.0.1", port=self.port, username=self.user, key_path=self.client_key,
            host_key=host_key_line(self.host_key), remote_dir=str(self.drop), pattern="*.csv", encoding="gbk",
        )
        return replace(base, **changes)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    tmp = tmp_path_factory.mktemp("sshd")
    drop = tmp / "drop"
    drop.mkdir()
    try:
        with running_sshd(tmp) as server:
            yield Sshd(server.port, drop, server.host_key, server.client_key, server.user)
    except SshdUnavailable as exc:
        pytest.fail(str(exc))


def put(sshd: Sshd, name: str, data: bytes, age: float = 3600) -> Path:
    path = sshd.drop / name
    path.write_bytes(data)
    os.utime(path, (time.time() - age,) * 2)
    return path


def test_pinned_host_key_pulls_and_decodes_gbk(sshd: Sshd, tmp_path: Path) -> None:
    put(sshd, "a.csv", CSV_GBK)
    batches = list(SftpSource(sshd.settings(), tmp_path).pull({}))
    assert len(batches) == 1
    assert batches[0].table.column("监督方式").to_pylist() == ["再审检察建议", "检察建议"]
    assert batches[0].watermark["file"] == str(sshd.drop / "a.csv")
    seen = {b.watermark["file"]: b.watermark for b in batches}
    assert list(SftpSource(sshd.settings(), tmp_path).pull(seen)) == []
    (sshd.drop / "a.csv").unlink()


def test_sessions_and_their_downloads_read_replies_off_a_bytearray(sshd: Sshd, tmp_path: Path) -> None:
    put(sshd, "pipe.csv", CSV_GBK)
    with sftp_session(sshd.settings()) as sftp:
        assert isinstance(sftp.get_channel().in_buffer, ReceiveBuffer)
        second = open_sftp(sftp.get_channel().get_transport())  # how a download opens its own channel
        assert isinstance(second.get_channel().in_buffer, ReceiveBuffer)
        second.close()
        with Download(sftp, str(sshd.drop / "pipe.csv"), tmp_path / "p.part", len(CSV_GBK), "proc") as download:
            download.finish(tmp_path / "p.csv")
    assert (tmp_path / "p.csv").read_bytes() == CSV_GBK
    (sshd.drop / "pipe.csv").unlink()


def test_downloads_ask_as_much_per_read_as_openssh_states_and_arrive_whole(sshd: Sshd, tmp_path: Path) -> None:
    data = os.urandom(5 * MAX_READ + 12_345)  # many requests, the last one short
    put(sshd, "large.bin", data)
    with sftp_session(sshd.settings()) as sftp:
        assert "limits@openssh.com" in sftp.extensions
        assert sftp.read_size() == MAX_READ  # OpenSSH states 255 KiB; paramiko would ask 32
        sock = sftp.get_channel().get_transport().sock
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)  # no handshake step waits on a delayed ACK
        with Download(sftp, str(sshd.drop / "large.bin"), tmp_path / "l.part", len(data), "proc") as download:
            digest = download.finish(tmp_path / "large.bin")
    assert (tmp_path / "large.bin").read_bytes() == data
    assert digest == hashlib.sha256(data).hexdigest()
    (sshd.drop / "large.bin").unlink()


def test_a_server_refusing_its_limits_request_is_read_32_kib_at_a_time(
    sshd: Sshd, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.channel import DEFAULT_READ, SFTPClient

    def refuse(self: SFTPClient, t: int, *args: object) -> None:
        raise OSError("Operation unsupported")

    with sftp_session(sshd.settings()) as sftp:
        monkeypatch.setattr(SFTPClient, "_request", refuse)
        assert sftp.read_size() == DEFAULT_READ


def test_aes_gcm_is_agreed_where_the_server_offers_it_and_ctr_where_not(sshd: Sshd, tmp_path: Path) -> None:
    with sftp_session(sshd.settings()) as sftp:
        assert sftp.get_channel().get_transport().remote_cipher == "aes128-gcm@openssh.com"
    with running_sshd(tmp_path / "old", extra_config="Ciphers aes256-ctr,aes128-ctr\n") as old:
        settings = sshd.settings(port=old.port, host_key=old.host_key_line, key_path=old.client_key)
        with sftp_session(settings) as sftp:
            assert sftp.get_channel().get_transport().remote_cipher == "aes128-ctr"
        put(sshd, "old.csv", CSV_GBK)
        batches = list(SftpSource(replace(settings, pattern="old.csv"), tmp_path / "staging").pull({}))
    assert batches[0].table.column("监督方式").to_pylist() == ["再审检察建议", "检察建议"]
    (sshd.drop / "old.csv").unlink()


def test_unknown_host_key_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate_ssh_key(other)
    with pytest.raises(HostKeyError, match="SHA256:"):
        list(SftpSource(sshd.settings(host_key=host_key_line(other)), tmp_path).pull({}))


def test_partial_file_waits_for_min_age(sshd: Sshd, tmp_path: Path) -> None:
    put(sshd, "fresh.csv", CSV_GBK, age=0)
    assert list(SftpSource(sshd.settings(min_age_seconds=30), tmp_path).pull({})) == []
    (sshd.drop / "fresh.csv").unlink()


def test_wrong_client_key_is_terminal(sshd: Sshd, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    generate_ssh_key(stranger)
    with pytest.raises(TerminalSourceError, match="authentication as .* failed.*check username and key_path"):
        list(SftpSource(sshd.settings(key_path=stranger), tmp_path).pull({}))


def test_delivery_is_atomic_resumes_after_a_crash_and_is_idempotent(
    sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    import paramiko
    import pyarrow as pa

    from connectors.errors import TransientSourceError
    from hub.publish.bundle import MANIFEST, publish_bundle
    from hub.publish.delivery import deliver_pending
    from hub.publish.verify import verify_bundle
    from hub.signing.crypto import generate_signing_key, load_signing_key

    now = dt.datetime(2024, 11, 22, tzinfo=dt.UTC)
    keyid = generate_signing_key(tmp_path / "private", tmp_path / "keys")
    key = load_signing_key(tmp_path / "private" / f"{keyid}.key")
    bundles = [
        publish_bundle(tmp_path / "outbox", "spo", {"supervision": pa.table({"doc_no": [f"乌检{i}号"]})},
                       {"office": "spo"}, key, now=now, ttl=dt.timedelta(days=30)).path
        for i in range(2)
    ]
    remote = sshd.drop.parent / "office-inbox"
    settings = sshd.settings(remote_dir=str(remote))

    real_put = paramiko.SFTPClient.put

    def crash_on_manifest(self: paramiko.SFTPClient, local: str, target: str, *a: object, **kw: object) -> object:
        if target.endswith(MANIFEST):
            raise OSError("connection lost")  # the link drops after the data files, before the manifest
        return real_put(self, local, target, *a, **kw)

    monkeypatch.setattr(paramiko.SFTPClient, "put", crash_on_manifest)
    with pytest.raises(TransientSourceError, match="connection lost"):
        deliver_pending(bundles, "spo", settings)
    office_dir = remote / "spo"
    assert not (office_dir / "00000001").exists()  # nothing half-visible under a final name
    assert (office_dir / ".tmp-00000001" / "data").is_dir()

    monkeypatch.setattr(paramiko.SFTPClient, "put", real_put)
    assert deliver_pending(bundles, "spo", settings) == [str(office_dir / "00000001"), str(office_dir / "00000002")]
    assert sorted(p.name for p in office_dir.iterdir()) == ["00000001", "00000002"]
    state = tmp_path / "office-state.json"
    for seq in ("00000001", "00000002"):
        assert verify_bundle(office_dir / seq, tmp_path / "keys", now=now, state_file=state).office == "spo"
    assert deliver_pending(bundles, "spo", settings) == []  # redelivery is a no-op


def test_ready_marker_and_archive_after_landing(sshd: Sshd, tmp_path: Path) -> None:
    archive = sshd.drop.parent / "archive"
    archive.mkdir(exist_ok=True)
    put(sshd, "b.csv", CSV_GBK)
    settings = sshd.settings(ready_marker=".done", archive_dir=str(archive))
    assert list(SftpSource(settings, tmp_path).pull({})) == []  # no b.csv.done yet: still being written
    put(sshd, "b.csv.done", b"")
    pulled = SftpSource(settings, tmp_path).pull({})
    batch = next(pulled)
    assert (sshd.drop / "b.csv").exists()  # not moved before the caller has landed the batch
    assert list(pulled) == []  # resuming the pull means "landed": now it moves
    assert sorted(p.name for p in archive.iterdir()) == ["b.csv", "b.csv.done"]
    assert not (sshd.drop / "b.csv").exists()
    assert batch.table.num_rows == 2


def test_interrupted_transfer_restarts_cleanly(sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    import paramiko

    from connectors.errors import TransientSourceError
    from connectors.sftp import safe_local_name

    data = CSV_GBK * 2000  # ~200 KB, several SFTP requests
    remote = put(sshd, "big.csv", data)
    real_read = paramiko.SFTPFile.read

    def half_then_drop(self: paramiko.SFTPFile, size: int | None = None) -> bytes:
        if self.tell() >= len(data) // 2:
            raise OSError("connection reset by peer")
        return real_read(self, size)

    monkeypatch.setattr(paramiko.SFTPFile, "read", half_then_drop)
    with pytest.raises(TransientSourceError, match="connection reset"):
        list(SftpSource(sshd.settings(), tmp_path).pull({}))
    staged = [p for p in tmp_path.iterdir() if not p.name.endswith(".part")]
    assert staged == []  # only a .part file may remain: nothing half-written under the final name
    monkeypatch.setattr(paramiko.SFTPFile, "read", real_read)
    batch = next(iter(SftpSource(sshd.settings(), tmp_path).pull({})))
    assert batch.watermark["sha256"] == hashlib.sha256(data).hexdigest()
    assert (tmp_path / safe_local_name(str(remote))).read_bytes() == data
    assert batch.table.num_rows == 3 * 2000 - 1  # every line after the first header (repeats included)
    remote.unlink()


def test_deliveries_racing_to_make_a_shared_inbox_both_succeed(
    sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two offices' deliveries to one inbox folder run at once: the folder one of them makes
    between the other's look and its mkdir must not fail that one."""
    import datetime as dt

    import pyarrow as pa

    from hub.publish import delivery as deliver
    from hub.publish.bundle import publish_bundle
    from hub.signing.crypto import generate_signing_key, load_signing_key

    now = dt.datetime(2024, 11, 22, tzinfo=dt.UTC)
    keyid = generate_signing_key(tmp_path / "private", tmp_path / "keys")
    key = load_signing_key(tmp_path / "private" / f"{keyid}.key")
    bundle = publish_bundle(tmp_path / "outbox", "spo", {"supervision": pa.table({"doc_no": ["乌检1号"]})},
                            {"office": "spo"}, key, now=now, ttl=dt.timedelta(days=30)).path
    inbox = sshd.drop.parent / "shared-inbox"
    real_exists = deliver._exists

    def made_meanwhile(sftp: object, path: str) -> bool:
        if path == str(inbox) and not inbox.exists():
            inbox.mkdir()  # the other delivery, just after our look
            return False
        return real_exists(sftp, path)  # type: ignore[arg-type]

    monkeypatch.setattr(deliver, "_exists", made_meanwhile)
    assert deliver.deliver_pending([bundle], "spo", sshd.settings(remote_dir=str(inbox))) == [
        str(inbox / "spo" / "00000001")]
