"""Class-case divergence from hand-made decisions; each group's figures worked out by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.marts import class_cases
from hub.normalize.warehouse import Warehouse
from tests.sources import load

FIL_MAP = {"case_no": "ah", "filing_date": "larq", "cause": "ay"}
JUD_MAP = {"case_no": "ah", "decided_date": "cprq", "outcome": "cpjg", "document_type": "wslx"}


def cases(court: str, cause: str, outcomes: list[str], start: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Decisions of ``outcome`` or ``outcome/document type`` (a 判决书 unless said)."""
    nos = [f"（2024）{court}民初{start + i}号" for i in range(len(outcomes))]
    return ([{"ah": n, "larq": "2024-01-05", "ay": cause} for n in nos],
            [{"ah": n, "cprq": "2024-06-05", "cpjg": o.split("/")[0], "wslx": (o.split("/") + ["判决书"])[1]}
             for n, o in zip(nos, outcomes)])


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = Warehouse(tmp_path / "lake", hash_key=b"k")
    groups = {
        # 民间借贷纠纷 at two basic courts: 支持 2, 驳回 2, 部分支持 2 (a mediation and a withdrawal left out):
        # a claim upheld 4 times of 6, in whole or in part
        "内0302": [("民间借贷纠纷", ["支持", "驳回", "部分支持", "调解"], 1),
                   # 买卖合同纠纷: 支持 4, 驳回 1: consistent
                   ("买卖合同纠纷", ["支持", "支持", "支持", "支持", "驳回"], 20),
                   # 房屋租赁合同纠纷: upheld 3 (支持 2, 部分支持 1), dismissed 3; a mediation agreement that
                   # upheld part of a claim is left out as a settlement
                   ("房屋租赁合同纠纷", ["支持", "驳回", "驳回", "部分支持", "驳回", "支持", "部分支持/调解书"], 60)],
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
    assert class_cases.build(wh.con, threshold=0.4, min_cases=5) == {"mart_class_divergence": 1}
    row = wh.query("SELECT cause, case_category, court_level, cases, courts, outcomes, dominant_outcome, "
                   "dominant_share, divergence, why FROM mart_class_divergence").fetchone()
    # 房屋租赁合同纠纷: 6 decisions on the merits at one court, half upheld (in whole or part), half dismissed:
    # 3/6 = 0.5 share, divergence 0.5 > 0.4. 民间借贷纠纷: upheld 4 of 6, divergence 0.3333 (by outcome, 支持,
    # 部分支持 and 驳回 would tie at 2 and diverge by 0.6667); 买卖合同纠纷 0.2; 劳动争议: fewer than 5 decisions
    assert row[:9] == ("房屋租赁合同纠纷", "民事", "基层", 6, 1, "驳回 3, 支持 2, 部分支持 1", "支持（含部分支持）", 0.5, 0.5)
    assert "only 50.0% of 6 decisions go the most common way" in row[9] and "> 0.4" in row[9]


def test_threshold_and_minimum_come_from_config(wh: Warehouse) -> None:
    class_cases.build(wh.con, threshold=0.3, min_cases=4)
    # 民间借贷纠纷's 0.3333 and 房屋租赁合同纠纷's 0.5 exceed 0.3; 劳动争议 now counts, but upheld 3 of 4
    # (部分支持 2, 支持 1) is 0.25; 买卖合同纠纷's 0.2 is not
    assert wh.query("SELECT cause, court_level, divergence FROM mart_class_divergence ORDER BY cause").fetchall() == [
        ("房屋租赁合同纠纷", "基层", 0.5), ("民间借贷纠纷", "基层", 0.3333)]
    class_cases.build(wh.con, threshold=0.7, min_cases=2)
    assert wh.query("SELECT count(*) FROM mart_class_divergence").fetchone() == (0,)
