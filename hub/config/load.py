"""``hub.yaml`` as one validated ``HubConfig``: loading, cross-references, and secrets from
the environment.

Every error names the file, the key (``sources[1].mapping.case_no``) and the fix, because the
people editing this file are coordination-office staff, not the hub's developers. Secrets are
never written here: the config names environment variables (``password_env``) that are read
at run time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import weakref
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError, model_validator

from hub.config.base import Model
from hub.config.include import gather, read_mapping, shown
from hub.config.offices import Agreement, Office
from hub.config.problems import problems
from hub.config.settings import (
    MOVED_TO_MARTS,
    HubSettings,
    LineageSettings,
    MartSettings,
    OrchestrationSettings,
    WarehouseSettings,
)
from hub.config.sources import Institution, Source
from hub.errors import ConfigError

log = logging.getLogger(__name__)


_DIGESTS: dict[int, str] = {}
"""Each live config's digest, by the config's id."""


class HubConfig(Model):
    version: Literal[1] = 1
    include: list[str] = []  # files of institutions, sources, offices, agreements (hub.config.include)
    hub: HubSettings = HubSettings()
    marts: MartSettings = MartSettings()
    institutions: list[Institution]
    sources: list[Source]
    offices: list[Office]
    agreements: list[Agreement]
    lineage: LineageSettings | None = None  # no section: no OpenLineage events
    warehouse: WarehouseSettings = WarehouseSettings()  # no section: the lakehouse under the home
    orchestration: OrchestrationSettings = OrchestrationSettings()  # no section: Dagster on SQLite, in process

    @model_validator(mode="before")
    @classmethod
    def _written_before(cls, data: Any) -> Any:
        """Read a config written before the ``marts:`` section and before a source had only its
        kind's block: the marts' thresholds under ``hub:``, ``database: null`` or ``sftp: null``
        beside the other block, a ``format:`` on a database source (it never had an effect)."""
        if not isinstance(data, dict):
            return data
        if isinstance(data.get("sources"), list):
            data = data | {"sources": [_source_as_now(i, s) for i, s in enumerate(data["sources"])]}
        if not isinstance(data.get("hub"), dict):
            return data
        moved = {k: v for k, v in data["hub"].items() if k in MOVED_TO_MARTS}
        marts = data.get("marts") or {}
        if not moved or not isinstance(marts, dict) or set(moved) & set(marts):
            return data  # nothing to move, or let validation name the key that is both, or the bad section
        _outdated(f"{', '.join(f'hub.{k}' for k in moved)} moved to the marts: section; move them there")
        hub = {k: v for k, v in data["hub"].items() if k not in MOVED_TO_MARTS}
        return data | {"hub": hub, "marts": marts | moved}

    def digest(self) -> str:
        """sha256 of the validated config, recorded with every audit entry: made once per
        config object (every pull audits it), kept beside it, not in it (a copy makes its own)."""
        found = _DIGESTS.get(id(self))
        if found is None:
            found = _DIGESTS[id(self)] = hashlib.sha256(self.model_dump_json().encode()).hexdigest()
            weakref.finalize(self, _DIGESTS.pop, id(self), None)  # gone with the object, before its id is reused
        return found

    def institution(self, institution_id: str) -> Institution:
        return _one(self.institutions, "id", institution_id, "institutions")

    def source(self, name: str) -> Source:
        return _one(self.sources, "name", name, "sources")

    def office(self, office_id: str) -> Office:
        return _one(self.offices, "id", office_id, "offices")

    def agreement_for(self, office_id: str) -> Agreement | None:
        return next((a for a in self.agreements if a.office == office_id), None)

    def sources_of(self, record_type: str) -> list[Source]:
        return [s for s in self.sources if s.record_type == record_type]


def _refuse(path: Path, found: list[tuple[Path, str, str]]) -> None:
    """Raise every problem found at once, one per line, each with the file it is in (when not
    ``path`` itself); ``ConfigError.path`` and ``.key`` name the first."""
    if not found:
        return
    if len(found) == 1:
        file, key, msg = found[0]
        raise ConfigError(f"{file}: {key}: {msg}", path=str(file), key=key)
    lines = "\n".join(f"  {'' if file == path else shown(path, file) + ': '}{key}: {msg}" for file, key, msg in found)
    raise ConfigError(f"{path}: {len(found)} problems:\n{lines}", path=str(found[0][0]), key=found[0][1])


def _source_as_now(index: int, source: Any) -> Any:
    if not isinstance(source, dict):
        return source
    other = {"database": "sftp", "sftp": "database"}.get(source.get("kind"))
    if other is None:
        return source
    source = {k: v for k, v in source.items() if not (k == other and v is None)}
    if other == "sftp" and "format" in source:
        _outdated(f"sources[{index}].format has no effect on a database source; remove it")
        source = {k: v for k, v in source.items() if k != "format"}
    return source


def _outdated(message: str) -> None:
    """Warn, where a person running the hub sees it (stderr, Dagster's log), that hub.yaml should be updated."""
    log.warning("hub.yaml: %s", message)


def _one(items: list[Any], attr: str, value: str, section: str) -> Any:
    for item in items:
        if getattr(item, attr) == value:
            return item
    raise ConfigError(f"{value!r} is not declared under {section} in hub.yaml; use one of: "
                      f"{', '.join(getattr(i, attr) for i in items) or '(none)'}", key=section)


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
            if (first := names.index(name)) != i:
                errors.append((f"{section}[{i}]", f"{name!r} appears more than once (first at {section}[{first}]); "
                               "each must be unique"))
    inst = {i.id for i in c.institutions}
    offices = {o.id for o in c.offices}
    for section, items in (("sources", c.sources), ("offices", c.offices)):
        for i, item in enumerate(items):
            if item.institution not in inst:
                errors.append((f"{section}[{i}].institution",
                               f"{item.institution!r} is not declared under institutions; add it or fix the id"))
    lifetime = c.hub.bundle_ttl_days * 24
    for i, a in enumerate(c.agreements):
        if a.office not in offices:
            errors.append((f"agreements[{i}].office", f"{a.office!r} is not declared under offices; add it or fix the id"))
        if a.heartbeat_hours is not None and a.heartbeat_hours > lifetime:
            errors.append((f"agreements[{i}].heartbeat_hours",
                           f"{a.heartbeat_hours} is longer than a bundle lives (hub.bundle_ttl_days: {lifetime} hours): "
                           "a quiet office's last bundle would expire first, and its feed look frozen; lower it, "
                           "or raise hub.bundle_ttl_days"))
    if c.warehouse.snapshot_retention_days < c.hub.bundle_ttl_days:
        errors.append(("warehouse.snapshot_retention_days",
                       f"{c.warehouse.snapshot_retention_days} days is shorter than a bundle lives "
                       f"(hub.bundle_ttl_days: {c.hub.bundle_ttl_days}): a live bundle's snapshot would be gone and "
                       "'hub audit reproduce' could not rebuild it; raise it"))
    return errors


def load_config(path: Path) -> HubConfig:
    """Read and validate ``hub.yaml`` and the files its ``include:`` names, as one config;
    raise ``ConfigError`` naming each problem's file, key and fix."""
    return load_config_files(path)[0]


def load_config_files(path: Path) -> tuple[HubConfig, list[Path]]:
    """``load_config``, and the included files it read (``hub config check`` lists them)."""
    gathered = gather(path, read_mapping(path))
    found = list(gathered.problems)
    try:
        config = HubConfig.model_validate(gathered.raw)
    except ValidationError as exc:
        _refuse(path, found + [(*gathered.locate(path, key), msg) for key, msg in problems(exc)])
        raise  # unreachable: a validation error is always at least one problem
    _refuse(path, found + [(*gathered.locate(path, key), gathered.name_places(path, msg))
                           for key, msg in _reference_errors(config)])
    return config, gathered.files


def secret(env_name: str | None, what: str) -> str | None:
    """Read a secret named by config from the environment at run time (never logged)."""
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if value is None:
        raise ConfigError(f"{what}: environment variable {env_name} is not set; export it before running")
    return value
