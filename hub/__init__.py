"""The hub: pull case data from institutions, normalize it into shared tables, publish signed
extracts to coordination offices (README.md; docs/architecture.md draws the stages).

The front door is the handful of names a caller needs, each loaded on first use, so that
importing ``hub`` (or ``hub.config``) does not load DuckDB or Dagster::

    import hub

    home = hub.Home.find("demo-home")
    hub.run_exchange(home)                                   # every stage, as Dagster runs
    run = hub.RunContext(hub.load_config(home.config), home, run_id="manual-1")
    hub.pull.pull(run, "wh_proc_supervision")                # or one stage at a time:
    hub.normalize.apply_pending(run)                         # each stage package exports its stage
    hub.publish.publish_offices(run, ["wh-court-spo"])
    hub.connect(home).sql("FROM filing LIMIT 5").show()      # the warehouse, read-only, for analysts
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.config import HubConfig, load_config
    from hub.errors import HubError
    from hub.home import Home
    from hub.lake.location import connect_read_only as connect
    from hub.observe.run import RunContext
    from hub.orchestration.execute import run_exchange
    from hub.publish.verify import verify_bundle

_EXPORTS = {
    "Home": "hub.home", "HubConfig": "hub.config", "load_config": "hub.config", "HubError": "hub.errors",
    "connect": "hub.lake.location", "RunContext": "hub.observe.run", "run_exchange": "hub.orchestration.execute", "verify_bundle": "hub.publish.verify",
}
__all__ = ["Home", "HubConfig", "HubError", "RunContext", "connect", "load_config", "run_exchange", "verify_bundle"]


_RENAMED = {"connect": "connect_read_only"}

STAGES = ("pull", "normalize", "marts", "publish")
"""The stage packages, each exporting its stage function, importable as ``hub.<stage>``."""


def __getattr__(name: str) -> Any:
    if name in STAGES:
        return import_module(f"hub.{name}")
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hub' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), _RENAMED.get(name, name))
