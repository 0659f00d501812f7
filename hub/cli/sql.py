"""``hub sql``: the lakehouse, read-only, for analysts: one query, or a small SQL shell.

The hub keeps writing meanwhile; each statement sees the latest commit, or the snapshot
``--snapshot`` names (``FROM lake.snapshots()`` lists them).
"""

from __future__ import annotations

import argparse
import json
import sys

import duckdb
import pyarrow.csv as pa_csv

from hub.lake.location import connect_read_only

PROMPT, MORE = "hub> ", "...> "
FORMATS = ("table", "csv", "json")


def cmd_sql(args: argparse.Namespace) -> int:
    con = connect_read_only(args.home, snapshot=args.snapshot)
    with con:
        if args.query is not None:
            return 0 if _run(con, args.query, args.format) else 1
        if not sys.stdin.isatty():  # statements piped in: run them all, stop at the first failure
            return 0 if _run(con, sys.stdin.read(), args.format) else 1
        return _shell(con, args.format)


def _run(con: duckdb.DuckDBPyConnection, sql: str, fmt: str) -> bool:
    """Run ``sql`` (one or more statements) and print the last result; False on an error, printed."""
    try:
        rel = con.sql(sql)
    except duckdb.Error as exc:
        print(f"error: {str(exc).strip()}", file=sys.stderr)
        return False
    if rel is None:
        return True
    if fmt == "table":
        rel.show(max_width=200, max_rows=200)
    elif fmt == "csv":
        sys.stdout.flush()
        pa_csv.write_csv(rel.to_arrow_table(), sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:  # one JSON object per line
        for row in rel.to_arrow_table().to_pylist():
            print(json.dumps(row, ensure_ascii=False, default=str))
    return True


def _shell(con: duckdb.DuckDBPyConnection, fmt: str) -> int:
    """Read statements ending in ``;`` and print each result; Ctrl-D quits."""
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    print("read-only SQL on the hub's lakehouse; end a statement with ';', Ctrl-D to quit. "
          "Try: SHOW TABLES; FROM quarantine LIMIT 5;", file=sys.stderr)
    lines: list[str] = []
    while True:
        try:
            line = input(MORE if lines else PROMPT)
        except EOFError:
            print(file=sys.stderr)
            return 0
        except KeyboardInterrupt:
            print(file=sys.stderr)
            lines = []
            continue
        lines.append(line)
        if line.rstrip().endswith(";"):
            _run(con, "\n".join(lines), fmt)
            lines = []
