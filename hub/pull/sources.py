"""From ``hub.yaml`` to a connector: each configured source (and each office's SFTP inbox) as
the connector settings it is read or written with, and connector errors as the hub's."""

from __future__ import annotations

from connectors import sftp as sftp_connector
from connectors.sql import SqlSettings, SqlSource
from hub.config import DatabaseSource, FileFormat, SftpDropSource, SftpEndpoint, secret
from hub.home import Home


def sql_source(home: Home, src: DatabaseSource) -> SqlSource:
    """The source's table as a ``SqlSource``: the mapped, key, cursor and flag columns only."""
    db = src.database
    url = db.url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{home.resolve(url.removeprefix('sqlite:///'))}"
    tiebreak = db.tiebreak or src.key
    flag = [src.soft_delete.column] if src.soft_delete else []
    columns = tuple(dict.fromkeys([*src.mapping.values(), src.key, db.cursor, tiebreak, *flag]))
    return SqlSource(SqlSettings(
        name=src.name, url=url, table=db.table, columns=columns, cursor=db.cursor,
        tiebreak=tiebreak, batch_size=db.batch_size, lookback_seconds=db.lookback_seconds,
        full_refresh=db.full_refresh, timeout=db.timeout_seconds,
        password=secret(db.password_env, f"sources.{src.name}.database.password_env"),
    ))


def sftp_settings(home: Home, name: str, s: SftpEndpoint, fmt: FileFormat = FileFormat()) -> sftp_connector.SftpSettings:
    """An SFTP endpoint from config (a drop folder or an office's inbox) as the connector's settings."""
    return sftp_connector.SftpSettings(
        name=name, host=s.host, port=s.port, username=s.username,
        key_path=home.resolve(s.key_path),
        passphrase=secret(s.passphrase_env, f"{name}: sftp.passphrase_env"),
        host_key=s.host_key, known_hosts=home.resolve(s.known_hosts) if s.known_hosts else None,
        timeout=s.timeout_seconds, remote_dir=s.remote_dir, pattern=s.pattern, regex=s.regex,
        settle_seconds=s.settle_seconds,
        ready_marker=s.ready_marker, archive_dir=s.archive_dir,
        min_age_seconds=s.min_age_seconds, file_format=fmt.type, encoding=fmt.encoding, delimiter=fmt.delimiter,
    )


def sftp_source(home: Home, src: SftpDropSource) -> sftp_connector.SftpSource:
    return sftp_connector.SftpSource(sftp_settings(home, src.name, src.sftp, src.format), home.staging / src.name)
