"""The connectors' own errors: what went wrong reading from an institution, and whether a
retry can help. The hub wraps them into its ``HubError`` tree at the pull boundary.

    ConnectorError
    ├── SourceError              reading a source failed
    │   ├── TransientSourceError     connection drop, timeout, file changed: retry makes sense
    │   └── TerminalSourceError      auth, missing table, unreadable file: fix first
    │       └── HostKeyError         unknown or changed SFTP host key
    └── KeyFileError             a key file cannot be read or parsed

``Terminal`` and ``Transient`` are mix-ins (as in dlt), shared with the hub's errors, so a
retry loop asks ``isinstance(exc, Transient)`` whatever raised it.
"""

from __future__ import annotations


class Terminal:
    """Mix-in: retrying will not help until a person fixes something."""


class Transient:
    """Mix-in: the same call may succeed later (network, lock, timeout)."""


class ConnectorError(Exception):
    """Root of every error a connector raises on purpose."""


class SourceError(ConnectorError):
    """Pulling from an institution failed; ``source`` names it."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


class TransientSourceError(SourceError, Transient):
    """A source failed in a way that a later retry may fix."""


class TerminalSourceError(SourceError, Terminal):
    """A source failed in a way that needs a person (credentials, schema, host key)."""


class HostKeyError(TerminalSourceError):
    """The SFTP server's host key is unknown or differs from the pinned one."""


class KeyFileError(ConnectorError, Terminal):
    """A key file cannot be read, or holds neither a public key line nor a private key."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path
