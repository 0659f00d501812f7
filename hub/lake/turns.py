"""Reads at a snapshot and commits, taking turns within one DuckDB instance.

DuckLake 1.5.5 keeps what it knows of a table's inlined deletions for the whole instance. When
commits of that instance make a table's first inlined deletions (a catalog table of their own)
and more after them, a transaction that began before them and reads that table afterwards looks
for that catalog table at its older snapshot, which does not have it yet, and fails: "Failed to
read inlined file deletions … does not exist" (``tests/hub/lake/test_turns.py``). So, within one
instance, a commit waits until no read transaction is open, and a read transaction waits while
one commits; reads still overlap each other.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Turns:
    """A readers-writer lock: ``reading`` for read transactions, ``writing`` for write
    transactions (one at a time). A writer waiting goes before readers arriving after it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and not self._waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            try:
                self._cond.wait_for(lambda: not self._writing and not self._readers)
            finally:
                self._waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
