"""Validate OpenLineage events against the vendored spec schemas (see README.md here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

HERE = Path(__file__).parent
_SCHEMAS = [json.loads(p.read_text()) for p in sorted(HERE.glob("*.json"))]
REGISTRY = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in _SCHEMAS)
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def _validate(ref: str, instance: Any) -> None:
    Draft202012Validator({"$ref": ref}, registry=REGISTRY).validate(instance)


def _facets(event: dict[str, Any]) -> list[dict[str, Any]]:
    groups = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    for ds in event.get("inputs", []) + event.get("outputs", []):
        groups += [ds.get("facets", {}), ds.get("inputFacets", {}), ds.get("outputFacets", {})]
    return [facet for group in groups for facet in group.values()]


def validate_event(event: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless the event and every facet in it conform."""
    _validate(RUN_EVENT, event)
    for facet in _facets(event):
        url = facet["_schemaURL"]
        assert url.split("#")[0] in REGISTRY, f"facet schema {url} is not vendored in tests/openlineage_spec"
        _validate(url, facet)
