"""Class-case divergence from hand-made decisions; each group's figures worked out by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.marts import class_cases
from hub.normalize.warehouse import Warehouse
from tests.sources import load

FIL_MAP = {"case_no": "ah", "filing_date": "larq", "cause": "ay"}
JUD_MAP = {"case_no": "ah", "decided_date": "cprq", "outcome": "cpjg"}


def cases(court: str, cause: str, outcomes: list[str], start: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    nos = [f"（2024）{court}民初{start + i}号" for i in range(len(outcomes))]
    return ([{"ah": n, "larq": "2024-01-05", "ay": cause} for n in nos],
            [{"ah": n, "cprq": "2024-06-05", "cpjg": o} for n, o in zip(nos, outcomes)])


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = Warehouse(tmp_path / "lake", hash_key=b"k")
    groups = {
        # 民间借贷纠纷 at two basic courts: 支持 2, 驳回 2, 部分支持 2 (a mediation and a withdrawal left out)
        "内0302": [("民间借贷纠纷", ["支持", "驳回", "部分支持", "调解"], 1),
                   # 买卖合同纠纷: 支持 4, 驳回 1: consistent
                   ("买卖合同纠纷", ["支持", "支持", "支持", "支持", "驳回"], 20)],
        "内0303": [("民间借贷纠纷", ["支持", "驳回", "部分支持", "撤诉"], 1)],
        # 劳动争议 at the intermediate court: only 4 decisions, 部分支持 2, 支持 1, 驳回 1
        "内03": [("劳动争议", ["部分支持", "部分支持", "支持", "驳回"], 40)],
    }
    for court, specs in groups.items():
        filings, judgments = [], []
        for cause, outcomes, start in specs:
            f, j = cases(court, cause, outcomes, start)
            filings += f
            judgments += j
        load(w, tmp_path, "filing", filings, FIL_MAP, court_code=court, source=f"fil{court}")
        load(w, tmp_path, "judgment", judgments, JUD_MAP, court_code=court, source=f"jud{court}")
    yield w
    w.con.close()


def test_divergent_groups_are_flagged_with_why(wh: Warehouse) -> None:
    assert class_cases.build(wh.con, threshold=0.5, min_cases=5) == {"mart_class_divergence": 1}
    row = wh.query("SELECT cause, case_category, court_level, cases, courts, outcomes, dominant_outcome, "
                   "dominant_share, divergence, why FROM mart_class_divergence").fetchone()
    # 6 decisions on the merits at 2 basic courts; the three outcomes tie at 2: the first by name (支持) is dominant;
    # 2/6 = 0.3333 share, divergence 0.6667 > 0.5. 买卖合同纠纷: 4/5 = 0.8 share, divergence 0.2: not flagged;
    # 劳动争议: 4 decisions, fewer than 5: not considered
    assert row[:9] == ("民间借贷纠纷", "民事", "基层", 6, 2, "支持 2, 部分支持 2, 驳回 2", "支持", 0.3333, 0.6667)
    assert "only 33.3% of 6 decisions" in row[9] and "> 0.5" in row[9]


def test_threshold_and_minimum_come_from_config(wh: Warehouse) -> None:
    class_cases.build(wh.con, threshold=0.4, min_cases=4)
    # 劳动争议 now counts: 部分支持 2 of 4 -> divergence 0.5 > 0.4; 买卖合同纠纷's 0.2 still is not
    assert wh.query("SELECT cause, court_level, divergence FROM mart_class_divergence ORDER BY cause").fetchall() == [
        ("劳动争议", "中级", 0.5), ("民间借贷纠纷", "基层", 0.6667)]
    class_cases.build(wh.con, threshold=0.7, min_cases=2)
    assert wh.query("SELECT count(*) FROM mart_class_divergence").fetchone() == (0,)
