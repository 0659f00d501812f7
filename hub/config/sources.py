"""Who shares and where their rows come from: institutions, and each source (a database
table or an SFTP drop folder) with how its columns map onto a shared table."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from hub.config.base import Model, cron, env_name, identifier
from schemas.tables import RECORD_TYPES, TABLES, source_fields

RecordType = Literal[tuple(RECORD_TYPES)]  # type: ignore[valid-type]  # the shared tables, named once in schemas


class Institution(Model):
    id: str
    name: str
    kind: Literal["court", "procuratorate", "government"]
    court_code: str | None = None

    @model_validator(mode="after")
    def _court_has_code(self) -> Institution:
        if self.kind == "court" and not self.court_code:
            raise ValueError("a court needs court_code (its 法院代字, e.g. 内03)")
        return self


class DatabaseSettings(Model):
    url: str
    password_env: str | None = None
    table: str
    cursor: str
    tiebreak: str | None = None
    batch_size: Annotated[int, Field(gt=0, le=1_000_000)] = 50_000
    lookback_seconds: Annotated[float, Field(ge=0)] = 0  # re-read behind the watermark for late commits
    full_refresh: bool = False  # re-read the whole table every pull (small code tables)
    # this often, read every key: fetch the rows the cursor missed, tombstone the records whose key is gone
    reconcile_every_hours: Annotated[float, Field(gt=0)] | None = None
    # to connect, and about how long a server that vanished mid-pull goes unnoticed (TCP keepalive)
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30

    @field_validator("table", "cursor", "tiebreak")
    @classmethod
    def _ids(cls, v: str | None) -> str | None:
        return v if v is None else identifier(v)

    @field_validator("url")
    @classmethod
    def _no_password(cls, v: str) -> str:
        if urlsplit(v).password is not None:
            raise ValueError("the URL holds a password, which would be kept in the audit log's config snapshots; "
                             "remove it and name the environment variable that holds it in password_env")
        return v

    _env = field_validator("password_env")(env_name)


class SftpEndpoint(Model):
    """An SFTP server and folder: an institution's drop (a source) or an office's inbox (a delivery)."""

    host: str
    port: Annotated[int, Field(gt=0, lt=65536)] = 22
    username: str
    key_path: str
    passphrase_env: str | None = None
    host_key: str | None = None  # pinned OpenSSH public-key line
    known_hosts: str | None = None  # or a known_hosts file holding the pin
    remote_dir: str = "."
    pattern: str = "*.csv"
    regex: str | None = None  # instead of pattern: a regular expression the whole file name must match
    min_age_seconds: Annotated[float, Field(ge=0)] = 0
    settle_seconds: Annotated[float, Field(ge=0, le=300)] = 0  # list twice this far apart; skip files still growing
    ready_marker: str | None = None  # e.g. ".done": a file is complete once <file>.done exists
    archive_dir: str | None = None  # move landed files here on the server (else remember them)
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 15

    _env = field_validator("passphrase_env")(env_name)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"regex {v!r} does not compile: {exc}") from None
        return v

    @field_validator("host_key")
    @classmethod
    def _pinned(cls, v: str | None) -> str | None:
        if v is not None and len(v.split()) < 2:
            raise ValueError("pin the server's host key as an OpenSSH line, e.g. 'ssh-ed25519 AAAA…'")
        return v

    @model_validator(mode="after")
    def _has_pin(self) -> SftpEndpoint:
        if not self.host_key and not self.known_hosts:
            raise ValueError("pin the server's host key: set host_key ('ssh-ed25519 AAAA…') or known_hosts")
        return self


class FileFormat(Model):
    type: Literal["csv", "jsonl", "parquet"] = "csv"
    encoding: str = "auto"
    delimiter: str = ","


class SoftDelete(Model):
    """The source marks deleted rows instead of removing them (e.g. ``sfsc`` = ``1``)."""

    column: str
    values: Annotated[list[str], Field(min_length=1)]  # values meaning "deleted", compared as trimmed text

    _column = field_validator("column")(identifier)


class _Source(Model):
    """What every source declares, whatever it is read from."""

    name: str
    institution: str
    record_type: RecordType
    key: str
    mapping: dict[str, str]
    cadence: str = "0 * * * *"
    soft_delete: SoftDelete | None = None

    _name = field_validator("name")(identifier)
    _cadence = field_validator("cadence")(cron)

    @model_validator(mode="after")
    def _mapping_fits(self) -> _Source:
        allowed = source_fields(self.record_type)
        for field, column in self.mapping.items():
            if field not in allowed:
                raise ValueError(
                    f"mapping key {field!r} is not a {self.record_type} field; "
                    f"use one of: {', '.join(sorted(allowed))}"
                )
            identifier(column)
        missing = [f.name for f in TABLES[self.record_type]
                   if f.required and f.name not in self.mapping and f.unless not in self.mapping]
        if missing:
            raise ValueError(f"mapping lacks required {self.record_type} fields: {', '.join(missing)}")
        identifier(self.key)
        return self


class DatabaseSource(_Source):
    """A table read incrementally through SQLAlchemy."""

    kind: Literal["database"]
    database: DatabaseSettings


class SftpDropSource(_Source):
    """Files an institution drops into a folder on its SFTP server."""

    kind: Literal["sftp"]
    sftp: SftpEndpoint
    format: FileFormat = FileFormat()


Source = Annotated[DatabaseSource | SftpDropSource, Field(discriminator="kind")]
