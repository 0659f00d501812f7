"""Who receives what: coordination offices, how their bundles are delivered, and the sharing
agreement that says which rows and columns each may receive."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from hub.config.base import Model, cron
from hub.config.sources import SftpEndpoint
from hub.home import Home
from schemas.marts import MART_TABLES, shareable_columns
from schemas.tables import TABLES

OFFICE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")


class Delivery(Model):
    kind: Literal["directory", "sftp"] = "directory"
    outbox: str | None = None  # local folder of <office id>/<sequence>/ bundles; default <home>/outbox
    sftp: SftpEndpoint | None = None  # kind sftp: bundles also go to <remote_dir>/<office id>/ there

    @model_validator(mode="after")
    def _sftp_needs_settings(self) -> Delivery:
        if self.kind == "sftp" and self.sftp is None:
            raise ValueError("delivery kind sftp needs an 'sftp:' block (host, username, key_path, host_key, remote_dir)")
        return self


class Office(Model):
    id: str
    name: str
    institution: str
    delivery: Delivery = Delivery()
    recipients: list[str] = []  # age X25519 public keys (age1…): data files are delivered encrypted
    # the office's Ed25519 public keys (PEM files, relative to the home): it signs for each bundle it
    # applies, and the hub accepts only what these signed
    acknowledgement_keys: list[str] = []

    @field_validator("recipients")
    @classmethod
    def _age_keys(cls, v: list[str]) -> list[str]:
        for key in v:
            if not AGE_RECIPIENT.match(key):
                raise ValueError(f"{key!r} is not an age X25519 recipient (age1… from 'age-keygen -y')")
        return v

    @field_validator("id")
    @classmethod
    def _safe_id(cls, v: str) -> str:
        if not OFFICE_ID.match(v):
            raise ValueError(f"{v!r}: office ids name folders; use lowercase letters, digits, '-' and '_'")
        return v

    def outbox(self, home: Home) -> Path:
        """The folder of this office's bundles (``<outbox>/<office id>``): the one place it is resolved."""
        return (home.resolve(self.delivery.outbox) if self.delivery.outbox else home.outbox) / self.id


Op = Literal["eq", "ne", "in", "not_in", "gte", "lte", "is_null", "not_null"]
Treatment = Literal["clear", "mask", "hash", "drop"]


class Condition(Model):
    column: str
    op: Op
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Condition:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} needs a list value, e.g. value: [内03, 内0302]")
        if self.op in ("is_null", "not_null") and self.value is not None:
            raise ValueError(f"op {self.op!r} takes no value")
        if self.op in ("eq", "ne", "gte", "lte") and (self.value is None or isinstance(self.value, (list, dict))):
            raise ValueError(f"op {self.op!r} needs one scalar value")
        return self


class Share(Model):
    record_type: str  # a shared table (schemas.tables.TABLES) or a mart table
    where: list[Condition] = []
    columns: dict[str, Treatment]

    @field_validator("record_type")
    @classmethod
    def _shareable(cls, v: str) -> str:
        if not shareable_columns(v):
            raise ValueError(f"{v!r} is neither a shared table nor a mart table; use one of: "
                             f"{', '.join([*TABLES, *MART_TABLES])}")
        return v

    @model_validator(mode="after")
    def _columns_exist(self) -> Share:
        known = set(shareable_columns(self.record_type))
        for name in [c.column for c in self.where] + list(self.columns):
            if name not in known:
                raise ValueError(
                    f"{name!r} is not a column of {self.record_type}; use one of: {', '.join(sorted(known))}"
                )
        if all(t == "drop" for t in self.columns.values()):
            raise ValueError(f"share of {self.record_type} names no column to send; list columns as clear/mask/hash")
        return self


class Agreement(Model):
    id: str
    version: Annotated[int, Field(ge=1)] = 1
    office: str
    shares: list[Share]
    mode: Literal["full", "incremental"] = "full"
    full_every: Annotated[int, Field(ge=1)] = 7  # incremental: every Nth bundle is a full snapshot
    # cron (Asia/Shanghai): a schedule publishing (and delivering) this office's extract, besides
    # each sync of a source it receives; the marts it shares move with the calendar too
    cadence: str = "0 7 * * *"
    # an office with nothing new gets no bundle, except a signed empty one once its last is this
    # many hours old, so it can tell a quiet feed from a frozen one; default: half the bundle
    # lifetime (hub.bundle_ttl_days); 0: never
    heartbeat_hours: Annotated[int, Field(ge=0, le=87_600)] | None = None

    _cadence = field_validator("cadence")(cron)
