"""The run summary a coordination office reads after ``hub run``: what moved, what was held back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hub.config import load_config
from hub.home import Home
from hub.lake.location import Lake
from hub.normalize import set_aside
from hub.normalize.missing_keys import describe, missing_keys
from hub.normalize.warehouse import Warehouse
from hub.observe import audit
from hub.orchestration.execute import Exchange
from schemas.tables import RECORD_TYPES


def print_summary(
    home: Home, config_path: Path | None = None, *, demo: bool = False, exchange: Exchange | None = None,
) -> bool:
    """What ``exchange`` (the runs just made) did, then what the warehouse, marts and outboxes
    hold; true when the run left something undone (a failed step, a batch set aside, an office
    held back)."""
    config = load_config(config_path or home.require_config())
    undone = _this_run(home, exchange) if exchange is not None else False
    if not Lake.of(config, home).exists():
        print("no warehouse yet: nothing was applied")
        return True
    with Warehouse.open(config, home, read_only=True) as wh:
        if not wh.has_tables("hub_batches"):  # a first normalize that failed before making its tables
            print("no warehouse yet: nothing was applied")
            return True
        pulled = {r[0]: r[1:] for r in wh.query(
            "SELECT source_name, sum(rows_in) FILTER (WHERE kind = 'rows'), sum(rows_deleted) FROM hub_batches GROUP BY 1"
        ).fetchall()}
        counts = wh.table_counts()
        waiting = set_aside.listed(wh)
        lacking = missing_keys(wh, home.landing, config.sources)
        rules = wh.query(
            "SELECT rule, count(*), any_value(reason) FROM quarantine GROUP BY rule ORDER BY 2 DESC, 1"
        ).fetchall()
        withheld, flagged = (wh.query(f"SELECT rule, count(*), any_value(reason) FROM {t} GROUP BY rule "
                                      "ORDER BY 2 DESC, 1").fetchall() if wh.has_tables(t) else []
                             for t in ("withheld", "flagged"))
        marts = {r[0] for r in wh.query("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'mart_%'").fetchall()}
        replies = wh.query("SELECT any_value(as_of), status, count(*) FROM mart_replies GROUP BY status ORDER BY status"
                           ).fetchall() if "mart_replies" in marts else []
        escalations = wh.query("SELECT coalesce(target_court_code || ' ' || coalesce(target_court_name, ''), "
                               "target_agency), overdue, max_days_overdue FROM mart_reply_escalation"
                               ).fetchall() if replies else []
        agencies = wh.query("SELECT target_agency, sum(issued), sum(replied), sum(overdue), sum(extended) "
                            "FROM mart_agency_recommendations GROUP BY 1 ORDER BY 1"
                            ).fetchall() if "mart_agency_recommendations" in marts else []
        follow_up = wh.query("SELECT status, count(*) FROM mart_follow_up GROUP BY 1 ORDER BY 1"
                             ).fetchall() if "mart_follow_up" in marts else []
        protests = wh.query("SELECT result, count(*) FROM mart_protest_outcomes GROUP BY 1 ORDER BY 2 DESC, 1"
                            ).fetchall() if "mart_protest_outcomes" in marts else []
        referred = wh.query("SELECT status, count(*) FROM mart_referrals GROUP BY 1 ORDER BY 2 DESC, 1"
                            ).fetchall() if "mart_referrals" in marts else []
        window = dict(wh.query("SELECT kind, count(*) FROM mart_supervision_window GROUP BY 1").fetchall()
                      ) if "mart_supervision_window" in marts else {}
        watch = wh.query("SELECT rule, count(*) FROM mart_enforcement_watch GROUP BY 1 ORDER BY 2 DESC, 1"
                         ).fetchall() if "mart_enforcement_watch" in marts else []
        nonlit = wh.query("SELECT kind, quarter, max(counted_to), sum(measures), sum(replied), sum(overdue) "
                          "FROM mart_nonlit_quarterly "
                          "WHERE measures > 0 GROUP BY ALL ORDER BY quarter DESC, kind LIMIT 4"
                          ).fetchall() if "mart_nonlit_quarterly" in marts else []
        admin = wh.query("SELECT year, cases_filed, decided, loss_rate, appeal_loss_rate, head_appearance_rate, "
                         "settlement_rate, cases_per_10k "
                         "FROM mart_admin_litigation_year ORDER BY year DESC LIMIT 3"
                         ).fetchall() if "mart_admin_litigation_year" in marts else []
        divergent = wh.query("SELECT cause, court_level, cases, outcomes FROM mart_class_divergence ORDER BY divergence DESC"
                             ).fetchall() if "mart_class_divergence" in marts else []
    print("\nrows pulled per source, all runs")
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
    if withheld:
        print(f"\nrows kept with a value withheld (table withheld): {sum(n for _, n, _ in withheld)}")
        for rule, n, reason in withheld:
            print(f"  {rule:<24} {n:>7}  e.g. {reason}")
    if flagged:
        print(f"\nrows kept with a value the hub converted or split (table flagged): {sum(n for _, n, _ in flagged)}")
        for rule, n, reason in flagged:
            print(f"  {rule:<24} {n:>7}  e.g. {reason}")
    if waiting:
        print(f"\nbatches set aside (nothing of them applied; offices receiving their tables held back): {len(waiting)}")
        for b in waiting[:5]:
            print(f"  {b.batch_id[:12]}  {b.rows:>7} rows  {b.reason}")
        print(f"  hub batches list --home {home.root}   (then release or drop each)")
    if lacking:
        print(f"\nkeys at the source the warehouse lacks (check no_source_key_missing): {sum(m.keys for m in lacking)}")
        for m in lacking:
            print(f"  {describe(m, config.institution(config.source(m.source).institution).name)}")
    if replies:
        print(f"\nreplies to supervision measures as of {replies[0][0]} (mart_replies)")
        for _, status, n in replies:
            print(f"  {status:<24} {n:>7}")
        for target, overdue, days in escalations:
            print(f"  escalate: {target.strip()}: {overdue} overdue, longest {days} days (mart_reply_escalation)")
    if agencies:
        print("\nrecommendations to agencies (mart_agency_recommendations)")
        for agency, issued, replied, overdue, extended in agencies:
            print(f"  {agency}: {issued} issued, {replied} answered, {overdue} overdue, {extended} deadline(s) extended")
    _counted("measures rejected or unanswered, and their follow-up (mart_follow_up)", follow_up)
    _counted("protests and retrial recommendations, and their retrials (mart_protest_outcomes)", protests)
    _counted("clues referred to other institutions, and their feedback (mart_referrals)", referred)
    _counted("supervision window, 3 years from the ruling (mart_supervision_window)", sorted(window.items()))
    if watch:
        print("\nenforcement cases flagged (mart_enforcement_watch)")
        for rule, n in watch:
            print(f"  {rule:<36} {n:>7}")
    if nonlit:
        print("\nnon-litigation enforcement supervision, latest quarters (mart_nonlit_quarterly)")
        for kind, quarter, counted_to, measures, replied, overdue in nonlit:
            print(f"  {quarter} {kind:<4} {measures:>4} measures, {replied} replied, {overdue} overdue on {counted_to}")
    for table in sorted(home.reports.glob("quarterly/*/*.xlsx"))[-1:]:
        print(f"  statistics tables for filing: {table}")
    if admin:
        print("\nadministrative litigation per year (mart_admin_litigation, mart_admin_litigation_year)")
        for year, filed, decided, loss, appeal_loss, head, settled, per_10k in admin:
            print(f"  {year}: {filed} filed, {decided} decided at first instance, loss rate {_pct(loss)} "
                  f"(on appeal {_pct(appeal_loss)}), head appearance {_pct(head)}, mediated/withdrawn {_pct(settled)}, "
                  f"{per_10k if per_10k is not None else '-'} civil and administrative cases per 10,000 residents")
    for chart in sorted(home.reports.glob("admin_litigation/*.png"))[-1:]:
        print(f"  white paper chart: {chart}")
    if divergent:
        print("\nclass cases decided inconsistently (mart_class_divergence)")
        for cause, level, cases, outcomes in divergent[:5]:
            print(f"  {cause} ({level}法院, {cases} decisions): {outcomes}")
    print("\nbundles published per office")
    for office in config.offices:
        folder = office.outbox(home)
        bundles = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()) if folder.exists() else []  # not trust/
        latest = f"latest {bundles[-1]}" if bundles else "none"
        print(f"  {office.id:<24} {len(bundles):>7}  {office.name}; {latest}")
    h = f" --home {home.root}"
    example = next(
        (b for o in config.offices for b in sorted(o.outbox(home).glob("0*"))[-1:]), home.outbox / "<office>/<seq>"
    )
    print("\nnext")
    print(f"  hub verify {example} --keys {home.keys}")
    print(f"  hub sql{h} \"FROM quarantine\"   (the warehouse, read-only; no query: a SQL shell)")
    print(f"  hub audit verify{h}")
    print(f"  hub trace --bundle {example} --dataset <dataset> --row 1{h}   (that row back to its source)")
    print(f"  hub audit report{h} --out report.csv   (what each office received; what each source sent)")
    if demo:
        print(f"  hub demo-server{h} &  then  hub run{h}   (pull again: nothing new lands twice)")
    print(f"  hub dev{h}   (Dagster UI on http://127.0.0.1:3000)")
    print("  docs/analyst-guide.md   (every table and column, queries to paste)")
    return undone


def _this_run(home: Home, exchange: Exchange) -> bool:
    """This run's own work, from its audit entries: pulls, applies, set-aside batches, bundles,
    deliveries; true when something was left undone."""
    entries = []
    for e in audit.newest_first(home.audit):
        if dt.datetime.fromisoformat(e["at"]) < exchange.started:
            break
        if e["run_id"] in exchange.run_ids:
            entries.append(e)
    entries.reverse()
    undone = [e for e in entries if e["event"] == "set_aside" or (
        e["event"] == "publish" and e["details"].get("status") == "failed")]
    outcome = ("succeeded" if not undone else "succeeded, but left work undone (below)") if exchange else (
        f"FAILED: {len(exchange.failures)} step(s) failed")
    print(f"\nthis run {outcome}")
    for step, message in exchange.failures:
        print(f"  failed {step}: {message}")
    applied: dict[str, dict[str, int]] = {}
    for e in entries:
        if e["event"] == "apply":
            agg = applied.setdefault(e["subject"], {})
            for k in ("rows_applied", "rows_quarantined", "rows_duplicate", "rows_deleted"):
                agg[k] = agg.get(k, 0) + e["details"].get(k, 0)
    for e, attempts in _last_attempts(entries, "pull"):
        d = e["details"]
        if d["status"] == "failed":
            print(f"  pull {e['subject']:<24} FAILED ({attempts} attempt(s), {d['rows']} rows landed): {d['error']}")
            continue
        a = applied.get(e["subject"], {})
        missed = (f"; reconcile found {d['missed_keys']} key(s) missed behind the cursor, fetched {d['missed_fetched']} "
                  "row(s)") if d.get("missed_keys") else ""
        print(f"  pull {e['subject']:<24} {d['rows']:>7} rows in {d['batches']} batch(es); applied "
              f"{a.get('rows_applied', 0)}, quarantined {a.get('rows_quarantined', 0)}, duplicate "
              f"{a.get('rows_duplicate', 0)}, deleted {a.get('rows_deleted', 0)}{missed}")
    for e in (e for e in entries if e["event"] == "set_aside"):
        print(f"  set aside {e['details']['batch_id'][:12]} from {e['subject']}: {e['details']['reason']}")
    for e in (e for e in entries if e["event"] == "publish"):
        d = e["details"]
        made = (f"bundle {d['sequence']} ({d['extract']}, {sum(d['rows'].values())} rows)" if d["status"] == "ok"
                else "nothing new since its last bundle: none made" if d["status"] == "nothing_new"
                else f"FAILED: {d['error']}")
        print(f"  publish {e['subject']:<21} {made}")
    for e in (e for e in entries if e["event"] == "deliver" and "sequence" in e["details"]):
        print(f"  deliver {e['subject']:<21} bundle {e['details']['sequence']} {e['details']['status']}")
    for e, attempts in _last_attempts(entries, "deliver"):
        if "sequence" in e["details"]:  # the last attempt delivered: the earlier failures were recovered
            continue
        print(f"  deliver {e['subject']:<21} FAILED ({attempts} attempt(s)), waiting: "
              f"{', '.join(map(str, e['details']['sequences']))}: {e['details']['error']}")
    for e in (e for e in entries if e["event"] == "acknowledged"):
        print(f"  acknowledged {e['subject']:<16} bundle {e['details']['sequence']} (signed by its key "
              f"{e['details']['keyid'][:12]}…)")
    for e in (e for e in entries if e["event"] == "acknowledgement_refused"):
        print(f"  acknowledgement REFUSED {e['subject']}: {e['details']['file']}: {e['details']['reason']}")
    for e in (e for e in entries if e["event"] == "acknowledgements" and e["details"].get("status") == "failed"):
        print(f"  acknowledgements of {e['subject']} not collected: {e['details']['error']}")
    return bool(undone) or not exchange


def _last_attempts(entries: list[dict[str, Any]], event: str) -> list[tuple[dict[str, Any], int]]:
    """Per subject, the last of ``event``'s entries and how many attempts failed (a retried step
    writes one entry per failed attempt)."""
    last: dict[str, tuple[dict[str, Any], int]] = {}
    for e in entries:
        if e["event"] == event:
            failed = last.get(e["subject"], (e, 0))[1] + (e["details"].get("status") == "failed")
            last[e["subject"]] = (e, failed)
    return list(last.values())


def _counted(title: str, counts: list[tuple[str, int]]) -> None:
    """A mart's rows counted by a label, under its title; nothing when it has none."""
    if counts:
        print(f"\n{title}")
        for label, n in counts:
            print(f"  {label:<24} {n:>7}")


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"
