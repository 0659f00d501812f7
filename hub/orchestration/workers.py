"""The production profile's workers: each step of a run sent to a Celery worker (``hub
worker``) on the broker ``orchestration.broker`` names, its password read from the environment
by each process that needs it, never written to a file or a run's config."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

import dagster as dg

from hub.config import HubConfig, OrchestrationSettings, secret
from hub.errors import ConfigError

QUEUE = "dagster"
"""The queue dagster-celery sends steps to, and a worker listens on."""


def broker_url(settings: OrchestrationSettings) -> str:
    """``orchestration.broker`` with the password from ``broker_password_env`` put in."""
    if settings.broker is None:
        raise ConfigError("orchestration.broker is not set: a worker needs the broker its steps come from")
    password = secret(settings.broker_password_env, "orchestration.broker_password_env")
    if password is None:
        return settings.broker
    parts = urlsplit(settings.broker)
    user = parts.username or ""
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def executor(config: HubConfig) -> dg.ExecutorDefinition | None:
    """Dagster's Celery executor on the configured broker; None without one (each run's own
    process runs its steps)."""
    if config.orchestration.broker is None:
        return None
    # the production profile's extra, imported only when configured
    from dagster_celery import celery_executor

    return celery_executor.configured({"broker": broker_url(config.orchestration), "backend": "rpc://"},
                                      name="hub_celery")
