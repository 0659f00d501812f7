"""The hub's one exception tree.

Every error the hub raises on purpose is a ``HubError``; third-party errors (paramiko,
SQLAlchemy, DuckDB, cryptography) are translated into it at the boundary where they occur,
so callers never need to import those libraries to handle a failure.

    HubError
    ├── ConfigError              hub.yaml is wrong: names file, key and fix   (terminal)
    ├── SourceError              pulling from an institution failed
    │   ├── TransientSourceError     connection drop, timeout: retry makes sense
    │   └── TerminalSourceError      auth, host key, missing table: fix first
    │       └── HostKeyError         unknown or changed SFTP host key
    ├── LandingError             a batch could not be landed durably
    ├── WarehouseError           DuckDB apply / query failed
    ├── ReportError              a mart report (workbook, chart) could not be made
    ├── PublishError             an extract could not be built or delivered
    ├── SigningKeyError          signing key missing, unsafe permissions, retired
    └── VerificationError        a bundle failed verification (one opaque type, reason in text)

``Terminal`` and ``Transient`` are mix-ins (as in dlt) so a retry loop can ask
``isinstance(exc, Transient)`` without knowing the stage.
"""

from __future__ import annotations


class Terminal:
    """Mix-in: retrying will not help until a person fixes something."""


class Transient:
    """Mix-in: the same call may succeed later (network, lock, timeout)."""


class HubError(Exception):
    """Root of every error the hub raises on purpose."""


class ConfigError(HubError, Terminal):
    """Configuration is invalid. The message names the file, the key and the fix."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.key = key


class SourceError(HubError):
    """Pulling from an institution failed."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


class TransientSourceError(SourceError, Transient):
    """A source failed in a way that a later retry may fix."""


class TerminalSourceError(SourceError, Terminal):
    """A source failed in a way that needs a person (credentials, schema, host key)."""


class HostKeyError(TerminalSourceError):
    """The SFTP server's host key is unknown or differs from the pinned one."""


class LandingError(HubError, Terminal):
    """A pulled batch could not be written to landing."""


class WarehouseError(HubError):
    """Applying batches to, or querying, the DuckDB warehouse failed."""


class ReportError(HubError, Terminal):
    """A report file (statistics workbook, chart) could not be made from the marts."""


class PublishError(HubError):
    """An extract bundle could not be built or delivered."""


class SigningKeyError(HubError, Terminal):
    """A signing key is missing, unreadable, retired or stored with unsafe permissions."""


class VerificationError(HubError, Terminal):
    """A bundle failed verification; ``reason`` is a short machine-readable code."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
