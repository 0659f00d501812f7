"""The hash-chained audit log detects edited, deleted and reordered entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub import audit
from hub.errors import HubError


def make_log(tmp_path: Path, n: int = 5) -> Path:
    log = tmp_path / "audit.jsonl"
    for i in range(n):
        audit.append(log, "land", run_id="r1", subject=f"src{i}", rows=i)
    return log


def test_intact_log_verifies(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    assert audit.verify(log) == 5
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[2]["details"] == {"rows": 2}


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder", "garble"])
def test_tampering_names_the_first_broken_entry(tmp_path: Path, tamper: str) -> None:
    log = make_log(tmp_path)
    lines = log.read_text().splitlines()
    if tamper == "edit":
        lines[1] = lines[1].replace('"rows": 1', '"rows": 100')
        assert '100' in lines[1]
    elif tamper == "delete":
        del lines[1]
    elif tamper == "reorder":
        lines[1], lines[2] = lines[2], lines[1]
    else:
        lines[1] = lines[1][:-3]
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(HubError, match=r"audit.jsonl:(2|3):"):
        audit.verify(log)
