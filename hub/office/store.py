"""The office's own store: one table per dataset its agreement shares, and the ledger of
bundles applied to it (``kit_bundles``), in a DuckDB file or any SQLAlchemy database.

A bundle is applied with its ledger row in one transaction, so the store never holds half of
one: a dataset file without ``_change`` replaces its table; one with it upserts ``new`` and
``changed`` rows by ``record_key`` and deletes ``withdrawn`` keys (docs/bundle-format.md). A full
bundle also drops the tables of datasets it no longer carries. Applying a bundle twice leaves
what applying it once does, so a database whose DDL commits on its own (MySQL) converges on the
rerun after a crash. The store is bound to the office that first applied a bundle to it.
"""

from __future__ import annotations

import datetime as dt
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow.parquet as pq

from hub.errors import OfficeKitError
from hub.publish.bundle import is_plain_name
from hub.publish.verify import VerifiedBundle

LEDGER = "kit_bundles"
TRUSTED = "kit_trust"
CHANGE = "_change"
LEDGER_COLUMNS = ("office", "sequence", "manifest_sha256", "previous", "extract", "created", "expires", "applied_at",
                  "rows")
_TIMES = frozenset({"created", "expires", "applied_at"})


@dataclass(frozen=True)
class Held:
    """What the store holds: its office, last bundle, and rows per table."""

    office: str | None
    sequence: int | None
    manifest_sha256: str | None
    applied_at: dt.datetime | None
    expires: dt.datetime | None
    tables: dict[str, int]
    bundles: int


class OfficeStore(ABC):
    """An office's store, open for applying bundles and reporting what it holds."""

    where: str  # the file or the URL (without its password), for messages

    def __enter__(self) -> OfficeStore:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    @property
    def folder(self) -> Path | None:
        """The folder the store's file is in (None for a database server): decrypted copies and
        the witnessed checkpoints are kept beside it."""
        return None

    def apply(self, bundle: VerifiedBundle, files: dict[str, Path]) -> dict[str, int]:
        """Apply a verified bundle's plaintext Parquet ``files`` (by dataset) and record it, in
        one transaction; returns the rows each dataset's file carried."""
        for name, path in files.items():
            if not is_plain_name(name):
                raise OfficeKitError(f"bundle {bundle.sequence} names a dataset {name!r} that is no table name")
            if (n := pq.read_metadata(path).num_rows) != bundle.datasets.get(name):
                raise OfficeKitError(f"bundle {bundle.sequence}'s {name} holds {n} rows, its signed statement "
                                     f"{bundle.datasets.get(name)}: ask the hub to resend it")
        ledger = dict(zip(LEDGER_COLUMNS, (
            bundle.office, bundle.sequence, bundle.manifest_sha256, bundle.previous,
            "full" if bundle.full else "incremental", bundle.created, bundle.expires, dt.datetime.now(dt.UTC),
            json.dumps(bundle.datasets, sort_keys=True)), strict=True))
        self._apply(files, bundle.full, ledger, f"bundle {bundle.sequence}")
        return dict(bundle.datasets)

    @abstractmethod
    def _apply(self, files: dict[str, Path], full: bool, ledger: dict[str, Any], what: str) -> None:
        """Apply ``files`` and insert the ``ledger`` row in one transaction; nothing of them on an error."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def ledger(self) -> list[dict[str, Any]]:
        """Every bundle applied, oldest first: its ledger columns, times in UTC."""

    @abstractmethod
    def tables(self) -> dict[str, int]:
        """The dataset tables held, with their rows."""

    @abstractmethod
    def trusted(self) -> bytes | None:
        """The newest version of the hub's trust metadata the kit followed (its envelope)."""

    @abstractmethod
    def trust(self, version: int, envelope: bytes) -> None:
        """Record a version of the trust metadata once it has been followed (``hub.publish.trust.follow``)."""

    def last(self) -> tuple[int, str] | None:
        """The last bundle applied: (sequence, manifest sha256), or None for a new store."""
        rows = self.ledger()
        return (int(rows[-1]["sequence"]), str(rows[-1]["manifest_sha256"])) if rows else None

    def office(self) -> str | None:
        rows = self.ledger()
        return str(rows[0]["office"]) if rows else None

    def held(self) -> Held:
        rows, tables = self.ledger(), self.tables()
        if not rows:
            return Held(None, None, None, None, None, tables, 0)
        last = rows[-1]
        return Held(last["office"], int(last["sequence"]), last["manifest_sha256"], last["applied_at"],
                    last["expires"], tables, len(rows))


def in_utc(row: dict[str, Any]) -> dict[str, Any]:
    """A ledger row read back from a store, its times in UTC (a database without zones returns
    the UTC it was given)."""
    return {k: _utc(v) if k in _TIMES else v for k, v in row.items()}


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
