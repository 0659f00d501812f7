"""The hub's own settings (``hub:``), the marts' thresholds (``marts:``) and where lineage
events go (``lineage:``). Where a default comes from an agreement, docs/domain-rules.md says which."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from hub.config.base import Model, cron, env_name, identifier
from schemas.codes import NO_REPLY_MEASURES, SUPERVISION_MEASURES

MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)? ?([KMGT]i?B)$", re.IGNORECASE)
DEFAULT_REPLY_DAYS = {"抗诉": 30, "再审检察建议": 90, "检察建议": 90, "纠正违法": 90, "司法建议": 90}


class HubSettings(Model):
    name: str = "case-exchange hub"
    hash_key_env: str = "HUB_HASH_KEY"
    signing_passphrase_env: str | None = None  # the variable holding the signing keys' passphrase; unset: unencrypted
    bundle_ttl_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # a bundle an acknowledging office has not signed for this long after it was published is overdue
    acknowledgement_overdue_hours: Annotated[int, Field(ge=1, le=87_600)] = 24
    min_link_rate: Annotated[float, Field(ge=0, le=1)] = 0.9  # below it, extracts are held back
    duckdb_memory_limit: str | None = None  # e.g. "1GB": the warehouse's DuckDB spills to disk beyond it
    # how long 'hub run' waits for a pool another live run holds (the warehouse) before giving up
    pool_wait_seconds: Annotated[int, Field(ge=0, le=86_400)] = 900
    # sources one step pulls at once, and at most this many on one server (a database or SFTP host)
    pull_threads: Annotated[int, Field(ge=1, le=256)] = 16
    pull_per_host: Annotated[int, Field(ge=1, le=256)] = 4
    # steps each record type's sources are split over (by name), for several workers to share
    pull_steps: Annotated[int, Field(ge=1, le=64)] = 1

    _env = field_validator("hash_key_env", "signing_passphrase_env")(env_name)

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory(cls, v: str | None) -> str | None:
        if v is not None and not MEMORY.match(v):
            raise ValueError(f"{v!r} is not an amount of memory; write it like 1GB, 1500MB or 2GiB")
        return v


class MartSettings(Model):
    """The thresholds the marts apply (docs/domain-rules.md, "Marts")."""

    # days a target institution has to answer each measure in writing when the document states no
    # deadline (docs/domain-rules.md, "Reply tracking")
    reply_deadline_days: dict[str, Annotated[int, Field(ge=1, le=3650)]] = Field(
        default_factory=lambda: dict(DEFAULT_REPLY_DAYS)
    )
    # enforcement watch: days an enforcement case may stay open, and untouched; days a court has to
    # rule on a non-litigation administrative enforcement application (行审), and to examine one
    # further (docs/domain-rules.md, "Enforcement watch")
    enforcement_time_limit_days: Annotated[int, Field(ge=1, le=3650)] = 180
    enforcement_inactive_days: Annotated[int, Field(ge=1, le=3650)] = 90
    non_litigation_ruling_days: Annotated[int, Field(ge=1, le=3650)] = 7
    non_litigation_review_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # years after a ruling takes effect within which a measure may be issued, and how early to
    # warn that the window is closing (docs/domain-rules.md, "Supervision window")
    supervision_window_years: Annotated[int, Field(ge=1, le=20)] = 3
    window_warning_days: Annotated[int, Field(ge=1, le=3650)] = 90
    # residents of the area the exchange serves, for cases per 10,000 residents (万人成讼率):
    # one figure for every year, or one per year ({2023: 556900, 2024: 558200})
    population: Annotated[int, Field(ge=1)] | dict[int, Annotated[int, Field(ge=1)]] | None = None
    # class-case consistency: a group of decided cases with the same cause and court level is
    # flagged when fewer than (1 - threshold) of them go the most common way
    class_case_divergence_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.35
    class_case_min_cases: Annotated[int, Field(ge=2)] = 5

    @field_validator("reply_deadline_days")
    @classmethod
    def _measures(cls, v: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(v) - set(SUPERVISION_MEASURES) | set(v) & set(NO_REPLY_MEASURES))
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a supervision measure that takes a reply; use one of "
                             f"{', '.join(m for m in SUPERVISION_MEASURES if m not in NO_REPLY_MEASURES)}")
        return DEFAULT_REPLY_DAYS | v  # measures not named keep their default

    @model_validator(mode="after")
    def _ruling_before_review(self) -> MartSettings:
        if self.non_litigation_ruling_days > self.non_litigation_review_days:
            raise ValueError(f"non_litigation_ruling_days ({self.non_litigation_ruling_days}) is longer than "
                             f"non_litigation_review_days ({self.non_litigation_review_days}): the ruling period is "
                             "the shorter one (7 and 30 days in law)")
        return self


MOVED_TO_MARTS = frozenset(MartSettings.model_fields)
"""Settings that were under ``hub:`` before the ``marts:`` section existed; still read there."""


class LineageSettings(Model):
    """Where OpenLineage run events go: a JSON Lines file, an HTTP endpoint, or both."""

    namespace: str = "case-exchange-hub"  # OpenLineage job namespace
    file: str | None = None  # relative to the home, e.g. lineage/openlineage.jsonl
    url: str | None = None  # e.g. http://marquez.example:5000 (events POSTed to url/endpoint)
    endpoint: str = "api/v1/lineage"
    api_key_env: str | None = None  # bearer token for the endpoint, read from the environment
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5

    _env = field_validator("api_key_env")(env_name)

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


class S3Settings(Model):
    """An S3-compatible object store for the lakehouse's data files; keys from the environment."""

    endpoint: str  # host:port, e.g. 127.0.0.1:8333 or s3.cn-north-1.amazonaws.com.cn
    region: str = "us-east-1"
    url_style: Literal["path", "vhost"] = "path"
    use_ssl: bool = True
    key_id_env: str = "HUB_S3_KEY_ID"
    secret_env: str = "HUB_S3_SECRET"

    _env = field_validator("key_id_env", "secret_env")(env_name)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$", v):
            raise ValueError(f"{v!r} is not host[:port]; write the endpoint without a scheme, e.g. 127.0.0.1:8333")
        return v


class WarehouseSettings(Model):
    """Where the lakehouse lives: by default its catalog (SQLite) and data files under the home;
    at scale, the catalog in PostgreSQL and the data files on S3-compatible storage."""

    # postgresql://user@host:port/database; the password from catalog_password_env. None: SQLite under the home
    catalog: str | None = None
    catalog_password_env: str | None = None
    catalog_schema: str | None = None  # PostgreSQL schema holding the catalog's tables (default: public)
    data_path: str | None = None  # a folder (relative to the home) or s3://bucket/prefix/; default lake/data/
    s3: S3Settings | None = None
    # days every snapshot is kept (time travel, `hub audit reproduce`); at least the bundles' lifetime
    snapshot_retention_days: Annotated[int, Field(ge=1, le=36_500)] = 90
    upkeep_cron: str = "30 3 * * *"  # compaction and snapshot expiry (Asia/Shanghai), in the warehouse pool

    _env = field_validator("catalog_password_env")(env_name)
    _cron = field_validator("upkeep_cron")(cron)
    _schema = field_validator("catalog_schema")(lambda v: v if v is None else identifier(v))

    @field_validator("catalog")
    @classmethod
    def _catalog(cls, v: str | None) -> str | None:
        if v is not None and not POSTGRES_URL.match(v):
            raise ValueError(f"{v!r} is not a PostgreSQL URL; write it like postgresql://hub@127.0.0.1:5432/hub_lake "
                             "(the password comes from catalog_password_env, never the URL)")
        return v

    @model_validator(mode="after")
    def _storage(self) -> WarehouseSettings:
        remote = self.data_path is not None and self.data_path.startswith("s3://")
        if remote and self.s3 is None:
            raise ValueError(f"data_path {self.data_path} is on S3: add an s3: block (endpoint, key_id_env, secret_env)")
        if self.s3 is not None and not remote:
            raise ValueError("an s3: block needs data_path: s3://bucket/prefix/")
        if remote and self.catalog is None:
            raise ValueError("data files on S3 need a catalog other processes and machines reach: set catalog "
                             "to a PostgreSQL URL")
        return self


POSTGRES_URL = re.compile(r"^postgres(ql)?://(?P<user>[A-Za-z0-9_.-]+)@(?P<host>[A-Za-z0-9_.-]+)(:(?P<port>[0-9]{1,5}))?"
                          r"/(?P<dbname>[A-Za-z0-9_.-]+)$")
"""A catalog or Dagster storage URL: user, host, optional port and database; no password (it
comes from the environment)."""

BROKER_URL = re.compile(r"^(?P<scheme>pyamqp|amqp|redis)://((?P<user>[A-Za-z0-9_.-]+)@)?(?P<host>[A-Za-z0-9_.-]+)"
                        r"(:(?P<port>[0-9]{1,5}))?(?P<path>/[A-Za-z0-9_./-]*)?$")
"""A Celery broker URL (RabbitMQ or Redis): optional user, host, port and vhost or database; no password."""


class OrchestrationSettings(Model):
    """Where Dagster keeps its runs, events and schedules, and where steps run. Without the
    section: SQLite under the home and each run's own process (``hub run``, ``hub dev`` on one
    machine). The production profile (docs/deployment.md): PostgreSQL and Celery workers."""

    storage: str | None = None  # postgresql://user@host:port/database; the password from storage_password_env
    storage_password_env: str | None = None
    broker: str | None = None  # pyamqp://user@host:5672// or redis://host:6379/0: steps go to `hub worker`s
    broker_password_env: str | None = None
    max_concurrent_runs: Annotated[int, Field(ge=1, le=1000)] = 4
    run_retries: Annotated[int, Field(ge=0, le=10)] = 2  # a run whose process or worker died is run again

    _env = field_validator("storage_password_env", "broker_password_env")(env_name)

    @field_validator("storage")
    @classmethod
    def _storage(cls, v: str | None) -> str | None:
        if v is not None and not POSTGRES_URL.match(v):
            raise ValueError(f"{v!r} is not a PostgreSQL URL; write it like postgresql://dagster@127.0.0.1:5432/dagster "
                             "(the password comes from storage_password_env, never the URL)")
        return v

    @field_validator("broker")
    @classmethod
    def _broker(cls, v: str | None) -> str | None:
        if v is not None and not BROKER_URL.match(v):
            raise ValueError(f"{v!r} is not a RabbitMQ or Redis URL without a password; write it like "
                             "pyamqp://hub@127.0.0.1:5672// or redis://127.0.0.1:6379/0 (the password comes from "
                             "broker_password_env)")
        return v

    @model_validator(mode="after")
    def _workers_share_storage(self) -> OrchestrationSettings:
        if self.broker is not None and self.storage is None:
            raise ValueError("steps on workers need Dagster's storage where every worker reaches it: set storage to "
                             "a PostgreSQL URL")
        return self
