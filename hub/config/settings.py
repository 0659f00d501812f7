"""The hub's own settings (``hub:``), the marts' thresholds (``marts:``) and where lineage
events go (``lineage:``). Where a default comes from an agreement, docs/domain-rules.md says which."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from hub.config.base import Model, env_name
from schemas.codes import SUPERVISION_MEASURES

MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)? ?([KMGT]i?B)$", re.IGNORECASE)
DEFAULT_REPLY_DAYS = {"抗诉": 30, "再审检察建议": 90, "检察建议": 90, "纠正违法": 90, "司法建议": 90}


class HubSettings(Model):
    name: str = "case-exchange hub"
    hash_key_env: str = "HUB_HASH_KEY"
    bundle_ttl_days: Annotated[int, Field(ge=1, le=3650)] = 30
    min_link_rate: Annotated[float, Field(ge=0, le=1)] = 0.9  # below it, extracts are held back
    duckdb_memory_limit: str | None = None  # e.g. "1GB": the warehouse's DuckDB spills to disk beyond it
    # how long 'hub run' waits for a pool another live run holds (the warehouse) before giving up
    pool_wait_seconds: Annotated[int, Field(ge=0, le=86_400)] = 900

    _env = field_validator("hash_key_env")(env_name)

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
    # enforcement watch: days an enforcement case may stay open, and a court has to decide a
    # non-litigation administrative enforcement application (行审) (docs/domain-rules.md, "Enforcement watch")
    enforcement_time_limit_days: Annotated[int, Field(ge=1, le=3650)] = 180
    non_litigation_review_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # years after a ruling takes effect within which a measure may be issued, and how early to
    # warn that the window is closing (docs/domain-rules.md, "Supervision window")
    supervision_window_years: Annotated[int, Field(ge=1, le=20)] = 3
    window_warning_days: Annotated[int, Field(ge=1, le=3650)] = 90
    # residents of the area the exchange serves, for cases per 10,000 residents (万人成讼率):
    # one figure for every year, or one per year ({2023: 556900, 2024: 558200})
    population: Annotated[int, Field(ge=1)] | dict[int, Annotated[int, Field(ge=1)]] | None = None
    # class-case consistency: a group of decided cases with the same cause and court level is
    # flagged when fewer than (1 - threshold) of them share the most common outcome
    class_case_divergence_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5
    class_case_min_cases: Annotated[int, Field(ge=2)] = 5

    @field_validator("reply_deadline_days")
    @classmethod
    def _measures(cls, v: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(v) - set(SUPERVISION_MEASURES))
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a supervision measure; use one of {', '.join(SUPERVISION_MEASURES)}")
        return DEFAULT_REPLY_DAYS | v  # measures not named keep their default


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
