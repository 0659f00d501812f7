"""``hub.yaml``'s ``include:``: institutions, sources, offices and agreements written in other
YAML files (a folder per institution, say), read with it and validated together.

A province's hundreds of courts are easier to keep as one small file each, edited by whoever
answers for that court, than as one file of thousands of lines. Every problem still names the
file it is in and the key within that file (``courts/wh.yaml: sources[0].mapping``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hub.errors import ConfigError

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML has it, for a province's config (docs/performance.md)."""

SECTIONS = ("institutions", "sources", "offices", "agreements")
"""What an included file may hold; the hub's settings stay in ``hub.yaml`` itself."""

_ITEM = re.compile(r"^(" + "|".join(SECTIONS) + r")\[(\d+)\](.*)$")
_MENTION = re.compile(r"\b(?:" + "|".join(SECTIONS) + r")\[\d+\]")


@dataclass(frozen=True)
class Origin:
    """Where one item of a section was written: its file and its place in that file's list."""

    file: Path
    index: int


@dataclass(frozen=True)
class Gathered:
    """``hub.yaml``'s mapping with every included file's items appended, and where each came from."""

    raw: dict[str, Any]
    origins: dict[str, list[Origin]]
    files: list[Path]  # the included files read, in the order their items were appended
    problems: list[tuple[Path, str, str]]  # (file, key, what to do) found while reading them

    def locate(self, main: Path, key: str) -> tuple[Path, str]:
        """The file and that file's own key for a key of the merged config (``sources[57].key``
        -> ``courts/wh.yaml``, ``sources[0].key``)."""
        found = _ITEM.match(key)
        if found is None:
            return main, key
        section, index, rest = found[1], int(found[2]), found[3]
        places = self.origins.get(section, [])
        if index >= len(places):
            return main, key
        origin = places[index]
        return origin.file, f"{section}[{origin.index}]{rest}"

    def name_places(self, main: Path, message: str) -> str:
        """``message`` with each merged key it mentions (``first at sources[3]``) written as the
        file and key a person would look for (``first at courts/a.yaml: sources[0]``)."""
        def place(found: re.Match[str]) -> str:
            file, key = self.locate(main, found[0])
            return key if file == main else f"{shown(main, file)}: {key}"
        return _MENTION.sub(place, message)


def shown(main: Path, file: Path) -> str:
    """``file`` as a person editing ``main`` finds it: relative to its folder where it can be."""
    try:
        return str(file.relative_to(main.parent.resolve()))
    except ValueError:
        return str(file)


def read_mapping(path: Path) -> dict[str, Any]:
    """A YAML file holding a mapping, or ``ConfigError`` naming the file and what to do."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.load(text, Loader=SAFE_LOADER)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file. Run 'hub demo' to create an example home, "
            "or pass --config / --home.", path=str(path)
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_quoting(text, exc)}", path=str(path)) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level", path=str(path))
    return raw


def _quoting(text: str, fast: yaml.YAMLError) -> yaml.YAMLError:
    """The pure-Python loader's error where it has one: it quotes the line and marks the column,
    libyaml's does not."""
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as slow:
        return slow
    return fast


def gather(main: Path, raw: dict[str, Any]) -> Gathered:
    """``raw`` (``main``'s mapping) with the items of every file its ``include:`` patterns match
    appended to its own, section by section: the patterns in order, each one's files by path.
    Patterns are globs relative to ``main``'s folder (``courts/*.yaml``, ``institutions/**/*.yaml``)."""
    rest = dict(raw)
    origins = {s: [Origin(main, i) for i in range(len(rest[s]))] for s in SECTIONS if isinstance(rest.get(s), list)}
    problems: list[tuple[Path, str, str]] = []
    patterns = raw.get("include") or []
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        return Gathered(rest, origins, [], [])  # its validation names the key
    files: list[Path] = []
    for n, pattern in enumerate(patterns):
        if Path(pattern).is_absolute():
            problems.append((main, f"include[{n}]", f"{pattern!r}: write it relative to {main.parent}, so the "
                             "home keeps working when moved or copied"))
            continue
        matched = _matches(main, pattern)
        if not matched:
            problems.append((main, f"include[{n}]", f"{pattern!r} matches no file under {main.parent}; fix the "
                             "pattern, or remove it"))
        files += [f for f in matched if f not in files and f != main.resolve()]
    for file in files:
        try:
            part = read_mapping(file)
        except ConfigError as exc:
            problems.append((file, "(top level)", str(exc).removeprefix(f"{file}: ")))
            continue
        for key in part:
            if key not in SECTIONS:
                problems.append((file, key, f"an included file holds only {', '.join(SECTIONS)}; "
                                 f"move {key!r} into {main.name}" if key != "include" else
                                 f"included files include nothing further; list its pattern in {main.name}"))
        for section in SECTIONS:
            items = part.get(section)
            if items is None:
                continue
            if not isinstance(items, list):
                problems.append((file, section, f"a list of {section}, as in {main.name}"))
                continue
            mine = rest.get(section)
            rest[section] = (mine if isinstance(mine, list) else []) + items
            origins.setdefault(section, []).extend(Origin(file, i) for i in range(len(items)))
    return Gathered(rest, origins, files, problems)


def _matches(main: Path, pattern: str) -> list[Path]:
    """The files ``pattern`` names, relative to ``main``'s folder, sorted by path."""
    return sorted(p.resolve() for p in main.parent.resolve().glob(pattern) if p.is_file())
