"""SQL text the hub writes itself: the one place identifiers and literals are quoted.

Values from sources and offices are always bound as parameters; these helpers are for names
validated by config or declared in ``schemas`` and for constants the code owns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path


def q(name: str) -> str:
    """A quoted identifier (a table or column name already validated or declared here)."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str | Path) -> str:
    """A quoted string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def comment_on(table: str, description: str, columns: Mapping[str, tuple[str, str]]) -> list[str]:
    """COMMENT ON a table and each of its columns (Chinese / English), so DuckDB itself shows the docs."""
    return [f"COMMENT ON TABLE {q(table)} IS {lit(description)}"] + [
        f"COMMENT ON COLUMN {q(table)}.{q(column)} IS {lit(f'{zh} / {en}')}" for column, (zh, en) in columns.items()]


def lit_list(items: Iterable[str]) -> str:
    """A DuckDB list literal of strings: ``['a', 'b']``."""
    return "[" + ", ".join(lit(i) for i in items) + "]"


def lit_tuple(items: Iterable[str]) -> str:
    """A parenthesised list of strings for ``IN``: ``('a', 'b')``."""
    return "(" + ", ".join(lit(i) for i in items) + ")"


def distinct_in_order(items: str) -> str:
    """The list ``items`` with each value once, in the order of its first appearance
    (``list_distinct`` does not keep the order)."""
    return let(items, "l", "list_filter(l, lambda x, i: list_position(l, x) = i)")


def let(value: str, name: str, body: str) -> str:
    """``body`` with ``name`` bound to ``value`` evaluated once (DuckDB repeats a macro
    argument at each mention); a one-element list lambda costs next to nothing."""
    return f"list_transform([{value}], lambda {name}: {body})[1]"
