"""Asset keys, named once: what a schedule, a sensor, the UI and asset metadata call each asset.
(No ``from __future__ import annotations``: Dagster reads the annotations.)"""

import dagster as dg


def landing_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(f"landing_{source}")


def extract_key(office_id: str) -> dg.AssetKey:
    return dg.AssetKey(f"extract_{office_id.replace('-', '_')}")


def delivery_key(office_id: str) -> dg.AssetKey:
    return dg.AssetKey(f"delivery_{office_id.replace('-', '_')}")
