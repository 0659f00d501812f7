"""The hub's one exception tree.

Every error the hub raises on purpose is a ``HubError``; third-party errors (paramiko,
SQLAlchemy, DuckDB, cryptography) are translated into it at the boundary where they occur,
so callers never need to import those libraries to handle a failure. Connectors raise their
own tree (``connectors.errors``); the pull and delivery stages wrap it (``from_connector``)
into the classes below, which are also the connectors' classes of the same name.

    HubError
    ├── ConfigError              hub.yaml is wrong: names file, key and fix   (terminal)
    ├── SourceError              pulling from an institution failed
    │   ├── TransientSourceError     connection drop, timeout: retry makes sense
    │   └── TerminalSourceError      auth, host key, missing table: fix first
    │       └── HostKeyError         unknown or changed SFTP host key
    ├── LandingError             a batch could not be landed durably
    ├── WarehouseError           the lakehouse could not be reached, written or queried
    │   └── WarehouseBusy            another process committed first: undone, try again   (transient)
    ├── ReportError              a mart report (workbook, chart) could not be made
    ├── PublishError             an extract could not be built or delivered
    │   └── HeldBack             an office waits for set-aside batches of what it receives
    ├── SigningKeyError          signing key missing, unsafe permissions, retired
    ├── VerificationError        a bundle failed verification (one opaque type, reason in text)
    ├── OfficeKitError           the office kit could not take in a verified bundle (its store, its files)
    └── RunError                 a run could not start (a pool held too long) or was stopped

``Terminal`` and ``Transient`` are mix-ins (as in dlt), owned by ``connectors.errors``, so a
retry loop can ask ``isinstance(exc, Transient)`` without knowing the stage.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from connectors import errors as connector
from connectors.errors import Terminal, Transient

__all__ = [
    "ConfigError", "HeldBack", "HostKeyError", "HubError", "LandingError", "OfficeKitError", "PublishError", "ReportError", "SigningKeyError",
    "RunError", "SourceError", "Terminal", "TerminalSourceError", "Transient", "TransientSourceError", "VerificationError",
    "WarehouseBusy", "WarehouseError", "connector_errors", "first_line", "from_connector",
]


RETRY_WAITS = (2, 4, 8)
"""Seconds before each retry of a step (or a source's pull) that failed in a way that may pass
(``Transient``); after the last, it is given up and its error reported."""


class HubError(Exception):
    """Root of every error the hub raises on purpose."""


class ConfigError(HubError, Terminal):
    """Configuration is invalid. The message names the file, the key and the fix."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.key = key


class SourceError(HubError, connector.SourceError):
    """Pulling from an institution (or delivering to an office's server) failed."""


class TransientSourceError(SourceError, connector.TransientSourceError):
    """A source failed in a way that a later retry may fix."""


class TerminalSourceError(SourceError, connector.TerminalSourceError):
    """A source failed in a way that needs a person (credentials, schema, host key)."""


class HostKeyError(TerminalSourceError, connector.HostKeyError):
    """The SFTP server's host key is unknown or differs from the pinned one."""


def from_connector(exc: connector.ConnectorError) -> HubError:
    """The hub's error for a connector's: same message, same class of retry; raise it ``from`` the original."""
    if isinstance(exc, connector.KeyFileError):
        return ConfigError(str(exc), path=exc.path)
    source = exc.source if isinstance(exc, connector.SourceError) else None
    for theirs, ours in ((connector.HostKeyError, HostKeyError), (connector.TerminalSourceError, TerminalSourceError),
                         (connector.TransientSourceError, TransientSourceError)):
        if isinstance(exc, theirs):
            return ours(str(exc), source=source)
    return SourceError(str(exc), source=source)


def first_line(exc: BaseException) -> str:
    """An error's first line, for messages that add what to do about it."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@contextmanager
def connector_errors() -> Iterator[None]:
    """Raise a connector's error as the hub's of the same kind (``from_connector``); the hub's
    own pass through as they are."""
    try:
        yield
    except connector.ConnectorError as exc:
        if isinstance(exc, HubError):
            raise
        raise from_connector(exc) from exc


class LandingError(HubError, Terminal):
    """A pulled batch could not be written to landing."""


class WarehouseError(HubError):
    """The lakehouse could not be reached, or applying batches to it or querying it failed."""


class WarehouseBusy(WarehouseError, Transient):
    """Another process committed to the warehouse while this transaction was open; it was
    undone whole, and can be run again against what is there now."""


class ReportError(HubError, Terminal):
    """A report file (statistics workbook, chart) could not be made from the marts."""


class PublishError(HubError):
    """An extract bundle could not be built or delivered."""


class HeldBack(PublishError):
    """An office receives nothing until the set-aside batches of its tables are released or
    dropped; the other offices' bundles and deliveries go on."""


class SigningKeyError(HubError, Terminal):
    """A signing key is missing, unreadable, retired or stored with unsafe permissions."""


class VerificationError(HubError, Terminal):
    """A bundle failed verification; ``reason`` is a short machine-readable code."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class OfficeKitError(HubError, Terminal):
    """The office kit could not take in a verified bundle: its store, an inbox, a data file."""


class RunError(HubError):
    """A run could not start (a pool it needs stayed held past the bound) or was stopped by a signal."""
