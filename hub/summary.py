"""The short report a coordination office reads after a run: what moved, what was held back."""

from __future__ import annotations

from pathlib import Path

from hub import pipeline
from hub.config import load_config
from hub.home import Home
from schemas.tables import RECORD_TYPES


def print_summary(home: Home, config_path: Path | None = None, *, demo: bool = False) -> None:
    config = load_config(config_path or home.require_config())
    if not home.warehouse.exists():
        print("no warehouse yet: nothing was applied")
        return
    with pipeline.open_warehouse(config, home, read_only=True) as wh:
        pulled = {r[0]: r[1:] for r in wh.query(
            "SELECT source_name, sum(rows_in) FILTER (WHERE kind = 'rows'), sum(rows_deleted) FROM hub_batches GROUP BY 1"
        ).fetchall()}
        counts = wh.table_counts()
        rules = wh.query(
            "SELECT rule, count(*), any_value(reason) FROM quarantine GROUP BY rule ORDER BY 2 DESC, 1"
        ).fetchall()
        marts = {r[0] for r in wh.query("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'mart_%'").fetchall()}
        replies = wh.query("SELECT any_value(as_of), status, count(*) FROM mart_replies GROUP BY status ORDER BY status"
                           ).fetchall() if "mart_replies" in marts else []
        escalations = wh.query("SELECT target_court_code, target_court_name, overdue, max_days_overdue "
                               "FROM mart_reply_escalation").fetchall() if replies else []
        window = dict(wh.query("SELECT kind, count(*) FROM mart_supervision_window GROUP BY 1").fetchall()
                      ) if "mart_supervision_window" in marts else {}
        watch = wh.query("SELECT rule, count(*) FROM mart_enforcement_watch GROUP BY 1 ORDER BY 2 DESC, 1"
                         ).fetchall() if "mart_enforcement_watch" in marts else []
    print("\nrows pulled per source")
    for src in config.sources:
        rows, deleted = pulled.get(src.name, (0, 0))
        gone = f", {deleted} deleted at the source" if deleted else ""
        print(f"  {src.name:<24} {rows or 0:>7}  ({src.kind}, {src.record_type}{gone})")
    print("\nrows in the shared tables")
    for rt in RECORD_TYPES:
        print(f"  {rt:<24} {counts[rt]:>7}")
    print(f"\nrows quarantined: {counts['quarantine']}")
    for rule, n, reason in rules:
        print(f"  {rule:<24} {n:>7}  e.g. {reason}")
    if replies:
        print(f"\nreplies to supervision measures as of {replies[0][0]} (mart_replies)")
        for _, status, n in replies:
            print(f"  {status:<24} {n:>7}")
        for code, name, overdue, days in escalations:
            print(f"  escalate: {code} {name or ''}: {overdue} overdue, longest {days} days (mart_reply_escalation)")
    if window:
        print("\nsupervision window, 3 years from the ruling (mart_supervision_window)")
        for kind, n in sorted(window.items()):
            print(f"  {kind:<24} {n:>7}")
    if watch:
        print("\nenforcement cases flagged (mart_enforcement_watch)")
        for rule, n in watch:
            print(f"  {rule:<36} {n:>7}")
    print("\nbundles published per office")
    for office in config.offices:
        folder = (home.resolve(office.delivery.outbox) if office.delivery.outbox else home.outbox) / office.id
        bundles = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.exists() else []
        latest = f"latest {bundles[-1]}" if bundles else "none"
        print(f"  {office.id:<24} {len(bundles):>7}  {office.name}; {latest}")
    h = f" --home {home.root}"
    example = next(
        (b for o in config.offices for b in sorted((home.outbox / o.id).glob("0*"))[-1:]), home.outbox / "<office>/<seq>"
    )
    print("\nnext")
    print(f"  hub verify {example} --keys {home.keys}")
    print(f"  python -c \"import duckdb; duckdb.connect('{home.warehouse}', read_only=True).sql('FROM quarantine').show()\"")
    print(f"  hub audit verify{h}")
    print(f"  hub trace --bundle {example} --dataset <dataset> --row 1{h}   (that row back to its source)")
    print(f"  hub audit report{h} --out report.csv   (what each office received; what each source sent)")
    if demo:
        print(f"  hub demo-server{h} &  then  hub run{h}   (pull again: nothing new lands twice)")
    print(f"  hub dev{h}   (Dagster UI on http://127.0.0.1:3000)")
