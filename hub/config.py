"""``hub.yaml``: institutions, sources, offices and sharing agreements, validated on load.

Every error names the file, the key (``sources[1].mapping.case_no``) and the fix, because the
people editing this file are coordination-office staff, not the hub's developers. Secrets are
never written here: the config names environment variables (``password_env``) that are read
at run time.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hub.errors import ConfigError
from hub.marts import MART_TABLES, shareable_columns
from schemas.codes import SUPERVISION_MEASURES
from schemas.tables import TABLES, source_fields

IDENTIFIER = re.compile(r"^[^\W\d]\w{0,62}$")
"""SQL identifiers from config: a letter (any script) then letters, digits, underscores."""

CRON = re.compile(r"^(@(hourly|daily|weekly|monthly)|(\S+\s+){4}\S+)$")
OFFICE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)? ?([KMGT]i?B)$", re.IGNORECASE)

RecordType = Literal["filing", "judgment", "enforcement", "supervision"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _identifier(value: str) -> str:
    if not IDENTIFIER.match(value):
        raise ValueError(
            f"{value!r} is not a plain SQL identifier; use letters, digits and underscores only"
        )
    return value


def _env_name(value: str | None) -> str | None:
    if value is not None and not ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name (e.g. COURT_DB_PASSWORD)")
    return value


class Institution(_Model):
    id: str
    name: str
    kind: Literal["court", "procuratorate", "government"]
    court_code: str | None = None

    @model_validator(mode="after")
    def _court_has_code(self) -> Institution:
        if self.kind == "court" and not self.court_code:
            raise ValueError("a court needs court_code (its 法院代字, e.g. 内03)")
        return self


class DatabaseSettings(_Model):
    url: str
    password_env: str | None = None
    table: str
    cursor: str
    tiebreak: str | None = None
    batch_size: Annotated[int, Field(gt=0, le=1_000_000)] = 50_000
    lookback_seconds: Annotated[float, Field(ge=0)] = 0  # re-read behind the watermark for late commits
    full_refresh: bool = False  # re-read the whole table every pull (small code tables)
    # hard deletes: this often, read every key and tombstone the records whose key is gone
    reconcile_every_hours: Annotated[float, Field(gt=0)] | None = None

    @field_validator("table", "cursor", "tiebreak")
    @classmethod
    def _ids(cls, v: str | None) -> str | None:
        return v if v is None else _identifier(v)
    _env = field_validator("password_env")(_env_name)


class SftpSettings(_Model):
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

    _env = field_validator("passphrase_env")(_env_name)

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
    def _has_pin(self) -> SftpSettings:
        if not self.host_key and not self.known_hosts:
            raise ValueError("pin the server's host key: set host_key ('ssh-ed25519 AAAA…') or known_hosts")
        return self


class FileFormat(_Model):
    type: Literal["csv", "jsonl", "parquet"] = "csv"
    encoding: str = "auto"
    delimiter: str = ","


class SoftDelete(_Model):
    """The source marks deleted rows instead of removing them (e.g. ``sfsc`` = ``1``)."""

    column: str
    values: Annotated[list[str], Field(min_length=1)]  # values meaning "deleted", compared as trimmed text

    _column = field_validator("column")(_identifier)


class Source(_Model):
    name: str
    institution: str
    record_type: RecordType
    kind: Literal["database", "sftp"]
    key: str
    mapping: dict[str, str]
    database: DatabaseSettings | None = None
    sftp: SftpSettings | None = None
    format: FileFormat = FileFormat()
    cadence: str = "0 * * * *"
    soft_delete: SoftDelete | None = None

    _name = field_validator("name")(_identifier)

    @field_validator("cadence")
    @classmethod
    def _cron(cls, v: str) -> str:
        if not CRON.match(v.strip()):
            raise ValueError(f"{v!r} is not a cron schedule; write five fields like '0 2 * * *'")
        return v

    @model_validator(mode="after")
    def _settings_match_kind(self) -> Source:
        if self.kind == "database" and self.database is None:
            raise ValueError("a database source needs a 'database:' block (url, table, cursor)")
        if self.kind == "sftp" and self.sftp is None:
            raise ValueError("an sftp source needs an 'sftp:' block (host, username, key_path, host_key)")
        allowed = source_fields(self.record_type)
        for field, column in self.mapping.items():
            if field not in allowed:
                raise ValueError(
                    f"mapping key {field!r} is not a {self.record_type} field; "
                    f"use one of: {', '.join(sorted(allowed))}"
                )
            _identifier(column)
        missing = [f.name for f in TABLES[self.record_type] if f.required and f.name not in self.mapping]
        if missing:
            raise ValueError(f"mapping lacks required {self.record_type} fields: {', '.join(missing)}")
        _identifier(self.key)
        return self


class Delivery(_Model):
    kind: Literal["directory", "sftp"] = "directory"
    outbox: str | None = None  # local folder of <office id>/<sequence>/ bundles; default <home>/outbox
    sftp: SftpSettings | None = None  # kind sftp: bundles also go to <remote_dir>/<office id>/ there

    @model_validator(mode="after")
    def _sftp_needs_settings(self) -> Delivery:
        if self.kind == "sftp" and self.sftp is None:
            raise ValueError("delivery kind sftp needs an 'sftp:' block (host, username, key_path, host_key, remote_dir)")
        return self


class Office(_Model):
    id: str
    name: str
    institution: str
    delivery: Delivery = Delivery()
    recipients: list[str] = []  # age X25519 public keys (age1…): data files are delivered encrypted

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


Op = Literal["eq", "ne", "in", "not_in", "gte", "lte", "is_null", "not_null"]
Treatment = Literal["clear", "mask", "hash", "drop"]


class Condition(_Model):
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


class Share(_Model):
    record_type: str  # a shared table (filing, judgment, enforcement, supervision) or a mart table
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


class Agreement(_Model):
    id: str
    version: Annotated[int, Field(ge=1)] = 1
    office: str
    shares: list[Share]
    mode: Literal["full", "incremental"] = "full"
    full_every: Annotated[int, Field(ge=1)] = 7  # incremental: every Nth bundle is a full snapshot
    cadence: str | None = None  # cron: a schedule publishing (and delivering) this office's extract

    @field_validator("cadence")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None and not CRON.match(v.strip()):
            raise ValueError(f"{v!r} is not a cron schedule; write five fields like '0 6 * * 1'")
        return v


DEFAULT_REPLY_DAYS = {"抗诉": 30, "再审检察建议": 90, "检察建议": 90, "纠正违法": 90, "司法建议": 90}


class HubSettings(_Model):
    name: str = "case-exchange hub"
    hash_key_env: str = "HUB_HASH_KEY"
    bundle_ttl_days: Annotated[int, Field(ge=1, le=3650)] = 30
    min_link_rate: Annotated[float, Field(ge=0, le=1)] = 0.9  # below it, extracts are held back
    duckdb_memory_limit: str | None = None  # e.g. "1GB": the warehouse's DuckDB spills to disk beyond it
    # days a target institution has to answer each measure in writing, when the document states no
    # deadline: a court rules on a protest within 30 days (民事诉讼法 art. 222); recommendations and
    # correction notices get 3 months (enforcement supervision: 3 months, extendable by 1)
    reply_deadline_days: dict[str, Annotated[int, Field(ge=1, le=3650)]] = Field(
        default_factory=lambda: dict(DEFAULT_REPLY_DAYS)
    )
    # enforcement watch: an enforcement case should close within 6 months of filing; a court
    # decides a non-litigation administrative enforcement application (行审) within 30 days
    enforcement_time_limit_days: Annotated[int, Field(ge=1, le=3650)] = 180
    non_litigation_review_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # a procuratorate protests or recommends within 3 years of the ruling taking effect; warn this early
    supervision_window_years: Annotated[int, Field(ge=1, le=20)] = 3
    window_warning_days: Annotated[int, Field(ge=1, le=3650)] = 90
    # residents of the area the exchange serves, for cases per 10,000 residents (万人成讼率):
    # one figure for every year, or one per year ({2023: 556900, 2024: 558200})
    population: Annotated[int, Field(ge=1)] | dict[int, Annotated[int, Field(ge=1)]] | None = None
    # class-case consistency: a group of decided cases with the same cause and court level is
    # flagged when fewer than (1 - threshold) of them share the most common outcome
    class_case_divergence_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5
    class_case_min_cases: Annotated[int, Field(ge=2)] = 5

    _env = field_validator("hash_key_env")(_env_name)

    @field_validator("reply_deadline_days")
    @classmethod
    def _measures(cls, v: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(v) - set(SUPERVISION_MEASURES))
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a supervision measure; use one of {', '.join(SUPERVISION_MEASURES)}")
        return DEFAULT_REPLY_DAYS | v  # measures not named keep their default

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory(cls, v: str | None) -> str | None:
        if v is not None and not MEMORY.match(v):
            raise ValueError(f"{v!r} is not an amount of memory; write it like 1GB, 1500MB or 2GiB")
        return v


class LineageSettings(_Model):
    """Where OpenLineage run events go: a JSON Lines file, an HTTP endpoint, or both."""

    namespace: str = "case-exchange-hub"  # OpenLineage job namespace
    file: str | None = None  # relative to the home, e.g. lineage/openlineage.jsonl
    url: str | None = None  # e.g. http://marquez.example:5000 (events POSTed to url/endpoint)
    endpoint: str = "api/v1/lineage"
    api_key_env: str | None = None  # bearer token for the endpoint, read from the environment
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5

    _env = field_validator("api_key_env")(_env_name)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"{v!r} is not an http(s) URL, e.g. http://marquez.example:5000")
        return v

    @model_validator(mode="after")
    def _has_target(self) -> LineageSettings:
        if self.file is None and self.url is None:
            raise ValueError("lineage needs a target: file (a JSON Lines path) and/or url (an HTTP endpoint)")
        return self


class HubConfig(_Model):
    version: Literal[1] = 1
    hub: HubSettings = HubSettings()
    institutions: list[Institution]
    sources: list[Source]
    offices: list[Office]
    agreements: list[Agreement]
    lineage: LineageSettings | None = None  # no section: no OpenLineage events

    def digest(self) -> str:
        """sha256 of the validated config, recorded with every audit entry."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()

    def institution(self, institution_id: str) -> Institution:
        return next(i for i in self.institutions if i.id == institution_id)

    def agreement_for(self, office_id: str) -> Agreement | None:
        return next((a for a in self.agreements if a.office == office_id), None)

    def sources_of(self, record_type: str) -> list[Source]:
        return [s for s in self.sources if s.record_type == record_type]


def _reference_errors(c: HubConfig) -> list[tuple[str, str]]:
    """(key, message) for names that must be unique or must point at something declared."""
    errors: list[tuple[str, str]] = []
    for section, names in (
        ("institutions", [i.id for i in c.institutions]),
        ("sources", [s.name for s in c.sources]),
        ("offices", [o.id for o in c.offices]),
        ("agreements", [a.office for a in c.agreements]),
    ):
        for i, name in enumerate(names):
            if names.index(name) != i:
                errors.append((f"{section}[{i}]", f"{name!r} appears more than once; each must be unique"))
    inst = {i.id for i in c.institutions}
    offices = {o.id for o in c.offices}
    for section, items in (("sources", c.sources), ("offices", c.offices)):
        for i, item in enumerate(items):
            if item.institution not in inst:
                errors.append((f"{section}[{i}].institution",
                               f"{item.institution!r} is not declared under institutions; add it or fix the id"))
    for i, a in enumerate(c.agreements):
        if a.office not in offices:
            errors.append((f"agreements[{i}].office", f"{a.office!r} is not declared under offices; add it or fix the id"))
    return errors


def load_config(path: Path) -> HubConfig:
    """Read and validate ``hub.yaml``; raise ``ConfigError`` naming the file, key and fix."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file. Run 'hub demo' to create an example home, "
            "or pass --config / --home.", path=str(path)
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}", path=str(path)) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level", path=str(path))
    try:
        config = HubConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = _dotted(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise ConfigError(f"{path}: {key or '(top level)'}: {msg}{more}", path=str(path), key=key) from None
    errors = _reference_errors(config)
    if errors:
        key, msg = errors[0]
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ConfigError(f"{path}: {key}: {msg}{more}", path=str(path), key=key)
    return config


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def secret(env_name: str | None, what: str) -> str | None:
    """Read a secret named by config from the environment at run time (never logged)."""
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if value is None:
        raise ConfigError(f"{what}: environment variable {env_name} is not set; export it before running")
    return value
