"""``hub config``: check hub.yaml and the files it includes; write those files from a table."""

from __future__ import annotations

import argparse
from pathlib import Path

from hub.home import Home


def cmd_config_check(args: argparse.Namespace) -> int:
    """Validate hub.yaml and the files it includes, as ``hub run`` would, and say what they declare."""
    from collections import Counter

    from hub.config.include import shown
    from hub.config.load import load_config_files

    home = Home.find(args.home)
    path = Path(args.config).resolve() if args.config else home.require_config()
    config, files = load_config_files(path)

    def counted(items: Counter[str]) -> str:
        return ", ".join(f"{k} {n:,}" for k, n in sorted(items.items()))

    print(f"{path}" + (f" and {len(files)} included file(s)" if files else "") + ": valid")
    print(f"  institutions {len(config.institutions):>6,}  ({counted(Counter(i.kind for i in config.institutions))})")
    print(f"  sources      {len(config.sources):>6,}  ({counted(Counter(s.kind for s in config.sources))}; "
          f"{counted(Counter(s.record_type for s in config.sources))})")
    print(f"  offices      {len(config.offices):>6,}  (agreements {len(config.agreements):,})")
    for file in files:
        print(f"  included: {shown(path, file)}")
    return 0


def cmd_config_generate(args: argparse.Namespace) -> int:
    """Write a file per row of a table from one template; then ``hub config check`` reads them all."""
    from hub.config.generate import generate

    done = generate(Path(args.template), Path(args.table), Path(args.out), args.name)
    print(f"{args.out}: {len(done.written)} file(s) written, {len(done.unchanged)} already as generated")
    for path in done.orphaned:
        print(f"  {path}: generated earlier, its row is gone from {args.table}; delete it if it left the exchange")
    print(f"Next: include {Path(args.out) / '*.yaml'} in hub.yaml (relative to its folder) and run 'hub config check'.")
    return 0
