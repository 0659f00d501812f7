"""What is wrong with a ``hub.yaml``, every problem at once, each as (key, what to do): a
mistyped key is named with the key it was probably meant to be, not reported as a missing one."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError

from hub.config.base import Model

MISSING_BLOCK = {
    "database": "a database source needs a 'database:' block (url, table, cursor)",
    "sftp": "an sftp source needs an 'sftp:' block (host, username, key_path, host_key)",
}
"""What to write when a source's block for its kind is missing."""


def problems(exc: ValidationError) -> list[tuple[str, str]]:
    """Every error of a validation, as (dotted key, message)."""
    errors = exc.errors()
    unknown = {(e["loc"][:-1], e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden"}
    out: list[tuple[str, str]] = []
    for err in errors:
        loc, kind = err["loc"], err["type"]
        key, msg = _dotted(loc), str(err["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r}" + _meant(str(loc[-1]), loc[:-1], errors)
        elif kind == "missing":
            if any(parent == loc[:-1] and _close(str(name), [str(loc[-1])]) for parent, name in unknown):
                continue  # named by the unknown key it was probably typed as
            msg = MISSING_BLOCK.get(str(loc[-1]), f"{loc[-1]!r} is required")
        elif kind in ("union_tag_not_found", "union_tag_invalid"):  # a source's kind
            key, msg = f"{key}.kind", "a source's kind is database or sftp"
        out.append((key or "(top level)", msg))
    return out


def _meant(name: str, parent: tuple[Any, ...], errors: list[Any]) -> str:
    """'; did you mean …?' from the keys missing beside it, else from every key hub.yaml has."""
    missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing" and e["loc"][:-1] == parent]
    if name in _every_key() and not missing:  # a real key, in the wrong place
        return "; it does not belong here: remove it, or move it where it belongs (docs/configuration.md)"
    match = _close(name, missing) or _close(name, sorted(_every_key() - {name}))
    return f"; did you mean {match!r}?" if match else "; remove it (hub.yaml accepts no other keys there)"


def _close(name: str, candidates: list[str]) -> str | None:
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return found[0] if found else None


def _every_key(model: type[Model] = Model) -> set[str]:
    keys: set[str] = set()
    for sub in model.__subclasses__():
        keys |= set(sub.model_fields) | _every_key(sub)
    return keys


def _dotted(loc: tuple[Any, ...]) -> str:
    """``sources[1].mapping.case_no`` from pydantic's location, without the ``kind`` tag a
    source's errors carry (``sources, 1, database, database, table``)."""
    if len(loc) > 2 and loc[0] == "sources" and loc[2] in ("database", "sftp"):
        loc = (*loc[:2], *loc[3:])
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
