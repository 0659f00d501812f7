"""The office kit: what a coordination office runs, without a hub, to take in its bundles.

``receive`` verifies the bundles in its inbox for this office, in order, and applies full and
incremental ones to its own store (a DuckDB file, or any SQLAlchemy database: ``open_store``),
so its tables equal the share's rows at the last bundle's snapshot; ``OfficeStore.held`` says
what it holds (``hub office status``); ``acknowledge`` signs, with the office's own key, that
it applied each bundle; ``run_kit`` does all of it for an office's settings (``Kit``), an SFTP inbox mirrored first.
"""

from hub.office.acknowledge import acknowledge
from hub.office.receive import Received, receive
from hub.office.run import KitRun, run_kit
from hub.office.settings import Kit, load_kit
from hub.office.store import Held, OfficeStore
from hub.office.stores import open_store

__all__ = ["Held", "Kit", "KitRun", "OfficeStore", "Received", "acknowledge", "load_kit", "open_store", "receive",
           "run_kit"]
