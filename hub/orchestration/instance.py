"""The home's Dagster instance: its ``dagster.yaml`` written by the hub, from the shipped
settings and, in the production profile, ``hub.yaml``'s ``orchestration:`` section (storage
on PostgreSQL, the run queue's limits, run retries); an operator's own edits are left alone."""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from hub.config import HubConfig, OrchestrationSettings, load_config
from hub.config.settings import POSTGRES_URL
from hub.home import Home

_SHIPPED = {"39e41f4a20c255dab7ad5ba3d5c5984f1e865ec70f173b11cf3faefd3a35441c",
            "b667d92d16f7d2eec6f5244a7854b263c5f288a43002f6e0c628263bbee022f7",
            "3b1c0e3aedfd998fec8d30fe66748f59fcd08afe869ead202e74bea273d21bd8"}
"""sha256 of every ``dagster.yaml`` an earlier hub wrote: one still as written is replaced by
this version's; one an operator edited is left alone."""

_WRITTEN = ".hub-written"
"""Beside ``dagster.yaml``: the sha256 of the one this hub last wrote, so one rendered from an
older ``orchestration:`` section is replaced too, and an edited one still left alone."""


def dagster_instance(home: Home, config: HubConfig | None = None) -> dg.DagsterInstance:
    """The home's persistent Dagster instance (runs show up in ``hub dev``); ``config``: the
    home's, read from ``hub.yaml`` when not given and there is one."""
    if config is None and home.config.exists():
        config = load_config(home.config)
    home.dagster.mkdir(parents=True, exist_ok=True)
    target, written = home.dagster / "dagster.yaml", home.dagster / _WRITTEN
    ours = instance_yaml(config.orchestration if config else OrchestrationSettings())
    current = target.read_bytes() if target.exists() else None
    if current != ours and (current is None or _ours_before(current, written)):
        for path, content in ((target, ours), (written, _sha256(ours).encode())):
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # workers starting at once each write whole
            tmp.write_bytes(content)
            os.replace(tmp, path)
    os.environ["DAGSTER_HOME"] = str(home.dagster)
    return dg.DagsterInstance.get()


def instance_yaml(settings: OrchestrationSettings) -> bytes:
    """The shipped settings; with an ``orchestration:`` section, those it sets added."""
    shipped = (resources.files("hub.orchestration") / "dagster.yaml").read_bytes()
    if not settings.model_fields_set:  # no section, or an empty one
        return shipped
    data: dict[str, Any] = yaml.safe_load(shipped)
    data["concurrency"]["runs"]["max_concurrent_runs"] = settings.max_concurrent_runs
    data["run_retries"] = {"enabled": settings.run_retries > 0, "max_retries": settings.run_retries}
    if settings.storage is not None:
        data["storage"] = {"postgres": {"postgres_db": postgres_db(settings.storage, settings.storage_password_env)}}
    header = ("# Written by the hub from hub.yaml's orchestration: section (docs/deployment.md); change that\n"
              "# section, not this file: an edited file is left as it is, and no longer follows hub.yaml.\n")
    return (header + yaml.safe_dump(data, sort_keys=False)).encode()


def postgres_db(url: str, password_env: str | None) -> dict[str, Any]:
    """dagster-postgres's ``postgres_db`` for a storage URL: the password by its variable's name,
    read by each process that opens the instance, never written here."""
    found = POSTGRES_URL.match(url)
    assert found is not None  # validated with the config
    db: dict[str, Any] = {"username": found["user"], "hostname": found["host"], "db_name": found["dbname"],
                          "port": int(found["port"] or 5432), "scheme": "postgresql+psycopg2"}
    if password_env:
        db["password"] = {"env": password_env}
    return db


def _ours_before(content: bytes, written: Path) -> bool:
    """Written by a hub: as shipped now or before, or as this hub last rendered it."""
    digest = _sha256(content)
    shipped = _sha256((resources.files("hub.orchestration") / "dagster.yaml").read_bytes())
    return digest in _SHIPPED or digest == shipped or (written.exists() and written.read_text().strip() == digest)


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
