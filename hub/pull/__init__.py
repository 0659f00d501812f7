"""Pull: from each institution's database or SFTP drop into landing.

    sources    config → connector settings, and connector errors as the hub's
    landing    immutable Parquet batches named by content hash; progress state files
    reconcile  every key, now and then: the rows the cursor missed fetched by key, then a key snapshot
    stage      the stage: everything new from one source, landed batch by batch (``pull``)
    sweep      many sources pulled at once, bounded per server, transient failures retried
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.pull.stage import PullResult, pending_files, pull
    from hub.pull.sweep import SourceOutcome, pull_sources

_STAGE = {"PullResult": "hub.pull.stage", "pending_files": "hub.pull.stage", "pull": "hub.pull.stage",
          "SourceOutcome": "hub.pull.sweep", "pull_sources": "hub.pull.sweep"}
__all__ = ["PullResult", "SourceOutcome", "pending_files", "pull", "pull_sources"]


def __getattr__(name: str) -> Any:
    """The stage, imported on first use, so the package's other modules load without it."""
    if name not in _STAGE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_STAGE[name]), name)
