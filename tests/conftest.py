"""Shared test hygiene."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _release_duckdb_connections() -> Iterator[None]:
    """Close warehouse connections a test left open (DuckDB relations can keep them alive in
    reference cycles): a read-only connection still open in this process would make the next
    read-write open of the same file fail, as a second hub process would."""
    yield
    gc.collect()
