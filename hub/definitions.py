"""``dagster dev -m hub.definitions`` (and ``hub dev``) load the exchange's Definitions from here."""

from hub.orchestration.definitions import build_definitions, defs

__all__ = ["build_definitions", "defs"]
