"""The office kit's own settings file (``hub office receive --config office.yaml``): what an
office runs unattended, from cron or a scheduled task, without a hub.yaml.

Paths are relative to the file's folder. With ``sftp:``, the inbox is on that server
(``remote_dir``: the folder the hub delivers this office's bundles to) and ``inbox`` is the local
folder it is mirrored into.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError, field_validator

from connectors.sftp import SftpSettings
from hub.config import secret
from hub.config.base import Model, env_name
from hub.config.sources import SftpEndpoint
from hub.errors import ConfigError
from hub.office.stores import check_store, is_url, store_location


class KitSettings(Model):
    office: str  # this office's id: another office's bundle is refused
    store: str  # the office's DuckDB file, or a SQLAlchemy URL of its database
    store_password_env: str | None = None  # the variable holding that database's password
    keys: str  # the hub's public keys the office was installed with
    inbox: str  # the folder the bundles are read from (with sftp: mirrored into)
    identity: str | None = None  # the office's age identity, for encrypted bundles
    key: str | None = None  # the office's signing key: each bundle applied is acknowledged
    passphrase_env: str | None = None  # the variable holding the signing key's passphrase
    witness: str | None = None  # the hub checkpoints seen (default: beside the store)
    sftp: SftpEndpoint | None = None

    _env = field_validator("passphrase_env", "store_password_env")(env_name)
    _store = field_validator("store")(check_store)


def load_kit(path: Path) -> tuple[KitSettings, Path]:
    """The settings in ``path`` and the folder their paths are relative to; ConfigError names
    each problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the office kit's settings {path}: {exc}") from None
    try:
        return KitSettings.model_validate(raw), path.resolve().parent
    except ValidationError as exc:
        found = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {found}") from None


def sftp_inbox(settings: KitSettings, base: Path) -> SftpSettings | None:
    """The connector's settings for the office's SFTP inbox (None: the inbox is a folder)."""
    s = settings.sftp
    if s is None:
        return None
    return SftpSettings(name=f"inbox of {settings.office}", host=s.host, port=s.port, username=s.username,
                        key_path=base / s.key_path, host_key=s.host_key,
                        known_hosts=base / s.known_hosts if s.known_hosts else None, remote_dir=s.remote_dir,
                        passphrase=secret(s.passphrase_env, "sftp.passphrase_env"), timeout=s.timeout_seconds)


@dataclass(frozen=True)
class Kit:
    """What one ``receive`` works with, every path resolved."""

    office: str
    store: str | Path  # a DuckDB file, or a database URL (``hub.office.stores``)
    keys: Path
    inbox: Path
    identity: Path | None = None
    key: Path | None = None
    passphrase_env: str | None = None
    witness: Path | None = None
    sftp: SftpSettings | None = None
    store_password_env: str | None = None

    @property
    def checkpoints(self) -> Path:
        """The file of hub checkpoints witnessed: as set, else beside the store's file (or the inbox)."""
        if self.witness is not None:
            return self.witness
        beside = self.inbox if is_url(self.store) else Path(self.store)
        return beside.with_name(beside.name + ".checkpoints.jsonl")

    @classmethod
    def of(cls, settings: KitSettings, base: Path) -> Kit:
        def at(p: str | None) -> Path | None:
            return None if p is None else base / p  # an absolute path stays as it is

        return cls(settings.office, store_location(settings.store, base), base / settings.keys, base / settings.inbox,
                   at(settings.identity), at(settings.key), settings.passphrase_env, at(settings.witness),
                   sftp_inbox(settings, base), settings.store_password_env)
