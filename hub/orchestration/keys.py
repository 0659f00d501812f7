"""Asset keys, named once: what a schedule, a sensor, the UI and asset metadata call each asset.
(No ``from __future__ import annotations``: Dagster reads the annotations.)"""

from collections.abc import Iterable, Mapping

import dagster as dg


def landing_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(f"landing_{source}")


def pulled_key(step: str) -> dg.AssetKey:
    """A pull step's sweep (``pull_filing`` -> ``pulled_filing``): what the shared table waits on."""
    return dg.AssetKey("pulled_" + step.removeprefix("pull_"))


def pull_keys(sweeps: Mapping[str, dg.AssetKey], sources: Iterable[str]) -> list[dg.AssetKey]:
    """What a run pulling these sources selects: their landings and their steps' sweeps, which
    the tables follow (``sweeps``: each source's)."""
    names = sorted(set(sources))
    return [*(landing_key(n) for n in names), *sorted({sweeps[n] for n in names})]


def extract_key(office_id: str) -> dg.AssetKey:
    return dg.AssetKey(f"extract_{office_id.replace('-', '_')}")


def delivery_key(office_id: str) -> dg.AssetKey:
    return dg.AssetKey(f"delivery_{office_id.replace('-', '_')}")
