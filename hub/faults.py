"""Crash points: a test names one in ``HUB_CRASH_AT`` and the process kills itself there
(SIGKILL, as an OOM kill or a power cut would), so crash safety is proven at every stage
boundary and inside every transaction, not only where a timer happened to land.

``HUB_CRASH_AT=normalize.committed`` kills at the first time that point is reached;
``normalize.committed#3`` at the third. ``HUB_CRASH_SIGNAL=TERM`` sends SIGTERM there instead
(a service manager stopping the hub), and the process goes on to stop as it would. Unset
(always, outside tests), a point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "HUB_CRASH_AT"
SIGNAL_ENV = "HUB_CRASH_SIGNAL"

POINTS: dict[str, str] = {
    "pull.landed": "a batch is landed (Parquet and sidecar), the source's position not yet saved",
    "pull.saved": "the source's position is saved, its landing not yet audited",
    "normalize.applying": "inside a chunk's apply transaction, before it commits",
    "normalize.committed": "a chunk is committed, its batches not yet audited",
    "marts.building": "inside a mart's rebuild transaction, before it commits",
    "publish.written": "a bundle is in the outbox, its receipts and holdings not yet recorded",
    "publish.recording": "inside the transaction recording a bundle's receipts and holdings, before it commits",
    "publish.recorded": "a bundle's receipts and holdings are committed, its publish not yet audited",
    "publish.audited": "a bundle's publish is audited, its in-flight marker not yet removed",
    "deliver.uploaded": "a bundle is in place on the office's server, its delivery not yet audited",
    "deliver.audited": "a delivery is audited, the office's delivered sequence not yet saved",
    "audit.writing": "half of an audit entry's line is written and synced, the rest not",
    "migrate.moved": "a single-file warehouse is moved into the lakehouse and committed, the file not yet renamed",
}
"""Every crash point, with what has happened and what has not when it fires."""

_hits: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """Die here, at once and without cleanup, if ``HUB_CRASH_AT`` names this point (and hit)."""
    if armed(name):
        die()


def armed(name: str) -> bool:
    """True when this reach of ``name`` is the one ``HUB_CRASH_AT`` names (for a point that must
    do part of its work before dying, as a torn write does)."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return False
    if name not in POINTS:
        raise ValueError(f"unknown crash point {name!r}")
    point, _, nth = wanted.partition("#")
    if point != name:
        return False
    _hits[name] += 1
    return _hits[name] == int(nth or 1)


def die() -> None:
    os.kill(os.getpid(), signal.Signals[f"SIG{os.environ.get(SIGNAL_ENV, 'KILL')}"])
