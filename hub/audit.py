"""Append-only, hash-chained audit log: one JSON line per pull, apply, publish and key change.

Each entry carries the sha256 of the previous entry's line, so editing, deleting or
reordering entries breaks the chain at the first altered place, which ``verify`` names.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from hub.errors import HubError

GENESIS = "0" * 64


def _digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def append(log: Path, event: str, *, run_id: str, subject: str, **details: Any) -> dict[str, Any]:
    """Append one entry under an exclusive lock (parallel pulls share one log)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        last = b""
        seq = 0
        for line in fh:
            if line.strip():
                last, seq = line.rstrip(b"\n"), seq + 1
        entry = {
            "seq": seq + 1,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
            "event": event,
            "run_id": run_id,
            "subject": subject,
            "details": details,
            "prev": _digest(last) if last else GENESIS,
        }
        fh.write(json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str).encode() + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    return entry


def verify(log: Path) -> int:
    """Recompute the chain; return the number of entries or raise naming the first bad one."""
    prev, count = GENESIS, 0
    if not log.exists():
        return 0
    with open(log, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip(b"\n")
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                raise HubError(f"{log}:{lineno}: entry is not valid JSON; the log was edited") from None
            if entry.get("prev") != prev or entry.get("seq") != lineno:
                raise HubError(
                    f"{log}:{lineno}: chain broken (entry seq {entry.get('seq')}); an entry before it "
                    "was edited, removed or reordered"
                )
            prev, count = _digest(line), lineno
    return count
