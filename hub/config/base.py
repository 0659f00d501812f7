"""The building blocks every section of ``hub.yaml`` shares: a strict, frozen model and the
validators for SQL identifiers, environment variable names and cron schedules.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

IDENTIFIER = re.compile(r"^[^\W\d]\w{0,62}$")
"""SQL identifiers from config: a letter (any script) then letters, digits, underscores."""

CRON = re.compile(r"^(@(hourly|daily|weekly|monthly)|(\S+\s+){4}\S+)$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class Model(BaseModel):
    """A config section: unknown keys are refused (a typo is an error, not a silent default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def identifier(value: str) -> str:
    if not IDENTIFIER.match(value):
        raise ValueError(
            f"{value!r} is not a plain SQL identifier; use letters, digits and underscores only"
        )
    return value


def env_name(value: str | None) -> str | None:
    if value is not None and not ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name (e.g. COURT_DB_PASSWORD)")
    return value


def cron(value: str | None) -> str | None:
    if value is not None and not CRON.match(value.strip()):
        raise ValueError(f"{value!r} is not a cron schedule; write five fields like '0 2 * * *'")
    return value
