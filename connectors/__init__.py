"""Extract: pull rows from institutions as Arrow batches with provenance.

Connectors know nothing of Dagster or DuckDB; the hub lands what they yield.
"""

from connectors.base import Batch

__all__ = ["Batch"]
