"""What every asset, check and sensor shares: the ``hub`` resource (the home and its config),
the warehouse pool, and how the hub's errors become Dagster's retries and failures. (No
``from __future__ import annotations``: Dagster reads the annotations.)"""

import datetime as dt
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg

from hub.config import HubConfig, load_config
from hub.errors import RETRY_WAITS, HubError, Transient
from hub.home import Home
from hub.normalize.warehouse import Warehouse
from hub.observe.run import RunContext

WAREHOUSE_POOL = "warehouse"
"""The concurrency pool of every step that writes or reads the warehouse (limit 1: one writer)."""


class HubResource(dg.ConfigurableResource):  # type: ignore[misc]
    """Where the hub lives; config is read from ``<home>/hub.yaml`` at run time."""

    home: str
    config_path: str | None = None  # default: <home>/hub.yaml
    as_of: str | None = None  # YYYY-MM-DD: the day the marts count from (overdue, open too long); default: today

    @property
    def as_of_date(self) -> dt.date | None:
        return dt.date.fromisoformat(self.as_of) if self.as_of else None

    @cached_property
    def paths(self) -> Home:
        return Home.find(self.home)

    @cached_property
    def config(self) -> HubConfig:
        path = Path(self.config_path) if self.config_path else self.paths.require_config()
        return load_config(path)

    def run(self, context: dg.AssetExecutionContext) -> RunContext:
        """The stages' view of this Dagster run."""
        return RunContext(self.config, self.paths, context.run.run_id)

    def warehouse(self) -> Warehouse:
        """The warehouse opened read-only, for metadata and checks."""
        return Warehouse.open(self.config, self.paths, read_only=True)


def translate(fn: Callable[[], Any], what: str, context: dg.AssetExecutionContext) -> Any:
    """Run a stage; transient errors are retried after each of ``RETRY_WAITS``, each retry
    logged with its attempt and delay, and the last failure says how many attempts were made;
    terminal ones fail at once with the message that says what to fix."""
    try:
        return fn()
    except HubError as exc:
        attempt = context.retry_number + 1
        if isinstance(exc, Transient) and attempt <= len(RETRY_WAITS):
            wait = RETRY_WAITS[attempt - 1]
            context.log.warning(f"{what}: attempt {attempt} of {len(RETRY_WAITS) + 1} failed ({exc}); "
                                f"trying again in {wait} s")
            raise dg.RetryRequested(max_retries=len(RETRY_WAITS), seconds_to_wait=wait) from exc
        tries = f" (gave up after {attempt} attempts)" if isinstance(exc, Transient) else ""
        raise dg.Failure(description=f"{what}: {exc}{tries}") from exc
