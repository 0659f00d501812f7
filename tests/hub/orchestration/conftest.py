"""A PostgreSQL database of its own for each test that keeps Dagster's storage there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

PG = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
def storage() -> Iterator[str]:
    """A new PostgreSQL database for Dagster's storage, dropped after the test."""
    name = f"dagster_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    yield f"{PG}/{name}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as con:
        con.execute(f"DROP DATABASE {name} WITH (FORCE)")
