"""The hub's home folder: where config, warehouse, landing, keys and outboxes live.

Every command finds it from ``--home``, else ``HUB_HOME``, else the current directory.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from hub.errors import ConfigError, SigningKeyError


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def find(cls, explicit: str | Path | None = None) -> Home:
        raw = explicit or os.environ.get("HUB_HOME") or os.getcwd()
        return cls(Path(raw).expanduser().resolve())

    @property
    def config(self) -> Path:
        return self.root / "hub.yaml"

    @property
    def lake(self) -> Path:
        """The lakehouse when hub.yaml keeps it under the home: ``catalog.sqlite`` and ``data/``."""
        return self.root / "lake"

    @property
    def single_file_warehouse(self) -> Path:
        """The warehouse of hubs before the lakehouse: one DuckDB file (``hub migrate`` moves it)."""
        return self.root / "warehouse.duckdb"

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def claims(self) -> Path:
        """Claims on work in progress (``hub.claims``): which run is applying, which office publishing."""
        return self.state / "claims"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def reports(self) -> Path:
        """Files made from the marts: quarterly statistics workbooks, annual charts."""
        return self.root / "reports"

    @property
    def keys(self) -> Path:
        """Public signing keys (PEM) that offices trust."""
        return self.root / "keys"

    @property
    def private(self) -> Path:
        """Private keys and the identifier hash key; 0700, files 0600."""
        return self.root / "private"

    @property
    def signing_keys(self) -> Path:
        """Private signing keys (``<keyid>.key``), newest signs."""
        return self.private / "signing"

    @property
    def audit(self) -> Path:
        return self.root / "audit" / "audit.jsonl"

    @property
    def audit_checkpoints(self) -> Path:
        """Signed heads of the audit log (``hub.observe.audit.checkpoint``)."""
        return self.root / "audit" / "checkpoints.jsonl"

    @property
    def acknowledgements(self) -> Path:
        """What offices signed for the bundles they applied, per office, as collected."""
        return self.root / "acknowledgements"

    @property
    def dagster(self) -> Path:
        return self.root / ".dagster"

    def resolve(self, path: str) -> Path:
        """A path from config: absolute as given, relative to the home otherwise."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.root / p

    def hash_key(self, env_name: str) -> bytes:
        """Key for hashing personal identifiers: ``$env_name`` if set, else ``private/hash.key``.

        The file is created on first use with 0600 and refused if others can read it.
        """
        value = os.environ.get(env_name)
        if value:
            return value.encode()
        path = self.private / "hash.key"
        if not path.exists():
            self.private.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        check_private(path)
        return path.read_text().strip().encode()

    def require_config(self) -> Path:
        if not self.config.exists():
            raise ConfigError(
                f"no hub.yaml in {self.root}; run 'hub demo --home {self.root}' for an example, "
                "or pass --home / set HUB_HOME to your hub's folder",
                path=str(self.config),
            )
        return self.config


def check_private(path: Path) -> None:
    """Refuse a secret file that group or others can read, or one in a folder they can enter."""
    for target, fix in ((path, "600"), (path.parent, "700")):
        mode = target.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SigningKeyError(f"{target} is open to others (mode {oct(mode & 0o777)}); run: chmod {fix} {target}")
