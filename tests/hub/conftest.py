"""Fixtures several of the hub's test folders share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.hub.filing_tables import filing_tables


@pytest.fixture
def tables() -> Iterator[tuple[sa.Engine, list[str]]]:
    """Six filing tables on one PostgreSQL server, three rows each (``filing_tables``)."""
    with filing_tables() as found:
        yield found
