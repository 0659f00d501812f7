"""The office kit: what a coordination office runs, without a hub, to take in its bundles.

``receive`` verifies the bundles in its inbox for this office, in order, and applies full and
incremental ones to its own DuckDB store, so its tables equal the share's rows at the last
bundle's snapshot; ``OfficeStore.held`` says what it holds (``hub office status``).
"""

from hub.office.receive import Received, receive
from hub.office.store import Held, OfficeStore

__all__ = ["Held", "OfficeStore", "Received", "receive"]
