"""The whole-exchange benchmark at a tiny N: it runs, prints its summary line, and loses no record.

No timing is asserted here (timing goals live in benchmarks/); this checks that the runner
works and that what it measures is a correct exchange.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hub
from benchmarks.generate import COURTS, PROCURATORATES, source_name
from benchmarks.measure import Phase
from hub.observe import audit
from tests import REPO

LAST_LINE = re.compile(r"e2e_ratio=\d+\.\d\d incremental_ratio=\d+\.\d\d peak_rss_mb=\d+")


@pytest.mark.slow
def test_benchmark_runs_and_every_record_reaches_warehouse_or_quarantine(tmp_path: Path) -> None:
    home = tmp_path / "bench-home"
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--records", "2000", "--home", str(home)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert LAST_LINE.fullmatch(last), last
    for stage in ("pull", "land", "normalize", "publish", "sign", "deliver"):
        assert re.search(rf"^{stage} +\d+\.\d\d +[\d,]+ ", done.stdout, re.MULTILINE), stage

    manifest = json.loads((home / "bench" / "manifest.json").read_text())
    sources = manifest["sources"]
    assert set(sources) == {source_name(c.id, rt) for c in COURTS for rt in ("filing", "judgment", "enforcement")} | {
        source_name(p.id, "supervision") for p in PROCURATORATES}
    assert sum(s["rows"] for s in sources.values()) == 2000
    assert all(s["defects"] + s["withheld"] >= 1 for s in sources.values())
    con = hub.connect(home)
    held = dict(con.execute(
        "SELECT source_name, count(*) FROM (SELECT source_name FROM filing UNION ALL SELECT source_name FROM judgment "
        "UNION ALL SELECT source_name FROM enforcement UNION ALL SELECT source_name FROM supervision) GROUP BY 1"
    ).fetchall())
    quarantined = dict(con.execute("SELECT source_name, count(*) FROM quarantine GROUP BY 1").fetchall())
    withheld = dict(con.execute("SELECT source_name, count(*) FROM withheld GROUP BY 1").fetchall())
    assert sum(s["withheld"] for s in sources.values()) >= 1
    for name, s in sources.items():
        # each record is one current row or one quarantined row; the deliberate defects, and only they, are
        # quarantined, but for bad party IDs: those rows are kept, the ID withheld
        assert quarantined.get(name, 0) == s["defects"], name
        assert withheld.get(name, 0) == s["withheld"], name
        assert held.get(name, 0) + quarantined.get(name, 0) == s["rows"], name
    # the incremental run applied the changed records as new versions and delivered them
    changed = json.loads((home / "bench" / "result.json").read_text())["changed"]
    versions = con.execute("SELECT count(*) FROM filing_history").fetchone()[0]
    filings = con.execute("SELECT count(*) FROM filing").fetchone()[0]
    assert versions - filings == sum(n for k, n in changed.items() if k.endswith("_filing")) > 0
    con.close()
    delivered = sorted(p.relative_to(home / "sources" / "sftp" / "inbox").as_posix()
                       for p in (home / "sources" / "sftp" / "inbox").glob("*/" + "[0-9]" * 8))
    # every bundle made was delivered; an incremental office the 0.1 % change did not touch got no empty one
    made = [e for e in audit.entries(home / "audit" / "audit.jsonl") if e["event"] == "publish"]
    assert len(made) == 6 and {e["details"]["status"] for e in made} <= {"ok", "nothing_new"}
    assert delivered == sorted(f"{e['subject']}/{e['details']['sequence']:08d}" for e in made
                               if e["details"]["status"] == "ok")
    assert [e["details"]["sequence"] for e in made if e["subject"] == "wh-court-spo"] == [1, 2]


@pytest.mark.slow
def test_connector_benchmark_pulls_every_row_beside_its_baselines() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks.connectors", "--sizes", "3000"],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]  # it asserts the row counts itself
    for stage in ("sql_baseline", "sql", "sftp_baseline", "sftp"):
        assert re.search(rf"^  {stage} +\d+\.\d\d +[\d,]+ +\d+ +\d+$", done.stdout, re.MULTILINE), stage
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"sql_ratio=\d+\.\d\d sftp_ratio=\d+\.\d\d sql_peak_mb@3000=\d+ sftp_peak_mb@3000=\d+ sql_own_mb@3000=\d+ sftp_own_mb@3000=\d+", last), last


def test_time_inside_calls_overlapping_in_threads_counts_once() -> None:
    """Concurrent pulls land at once: the land row is wall time with some landing running."""
    phase = Phase(calls={"land": [(0.0, 2.0), (1.0, 3.0), (5.0, 6.0), (5.5, 5.7)], "sign": [(1.0, 1.5)]})
    assert phase.inside == {"land": 4.0, "sign": 0.5}
