"""The connectors' errors become the hub's at the boundary, keeping their message, source and retry class."""

from __future__ import annotations

import pytest

from connectors import errors as connector
from hub import errors


@pytest.mark.parametrize(("theirs", "ours"), [
    (connector.HostKeyError, errors.HostKeyError),
    (connector.TerminalSourceError, errors.TerminalSourceError),
    (connector.TransientSourceError, errors.TransientSourceError),
    (connector.SourceError, errors.SourceError),
])
def test_a_connector_error_becomes_the_hubs_of_the_same_kind(theirs: type, ours: type) -> None:
    exc = errors.from_connector(theirs("c1: host key changed", source="c1"))
    assert type(exc) is ours and isinstance(exc, errors.HubError) and isinstance(exc, theirs)
    assert (str(exc), exc.source) == ("c1: host key changed", "c1")
    assert isinstance(exc, errors.Transient) == issubclass(theirs, connector.Transient)
    assert isinstance(exc, errors.Terminal) == issubclass(theirs, connector.Terminal)


def test_an_unreadable_key_file_is_a_config_error_naming_it() -> None:
    exc = errors.from_connector(connector.KeyFileError("cannot read key file /k: denied", path="/k"))
    assert isinstance(exc, errors.ConfigError) and exc.path == "/k" and isinstance(exc, errors.Terminal)
