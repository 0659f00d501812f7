"""The marts as a stage: rebuild one as of a day and write its report files, or write a
quarter's or a year's report files again; every file written is audited with its digest."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from hub.errors import ReportError
from hub.marts import report_files
from hub.marts.registry import mart
from hub.normalize.warehouse import Warehouse
from hub.observe.run import RunContext
from hub.signing.primitives import sha256_file


@dataclass
class BuiltMart:
    tables: dict[str, int]  # mart table -> rows
    files: list[Path]  # report files written under <home>/reports


def build_mart(run: RunContext, name: str, *, as_of: dt.date | None = None) -> BuiltMart:
    """Rebuild one mart (``hub.marts.MARTS``) as of ``as_of`` (today) and write its report
    files; each is audited with its digest, so a filed table can be matched to its run."""
    spec = mart(name)
    as_of = as_of or dt.date.today()
    with Warehouse.open(run.config, run.home) as wh:
        tables = spec.build(wh.con, run.config, as_of)
        files = spec.write_files(wh.con, as_of, run.home.reports) if spec.write_files else []
    _audit_files(run, name, files, as_of=as_of.isoformat())
    return BuiltMart(tables, files)


def write_report_files(
    run: RunContext, *, quarter: str | None = None, year: int | None = None, folder: Path | None = None,
) -> list[Path]:
    """Write a quarter's statistics tables and/or a year's chart from the marts as they stand
    (a filed quarter's figures do not change, so any quarter can be written again); audited."""
    folder = folder or run.home.reports
    with Warehouse.open(run.config, run.home, read_only=True) as wh:
        needed = {"mart_nonlit_quarterly"} if quarter else set()
        needed |= {"mart_admin_litigation"} if year else set()
        if missing := needed - wh.has_tables(*needed):
            raise ReportError(f"{', '.join(sorted(missing))} not built yet; run 'hub run --home {run.home.root}' first")
        files = report_files.quarterly_statistics(wh.con, quarter, folder / "quarterly") if quarter else []
        files += report_files.admin_litigation_chart(wh.con, year, folder / "admin_litigation") if year else []
    _audit_files(run, "reports", files)
    return files


def _audit_files(run: RunContext, subject: str, files: list[Path], **details: str) -> None:
    if files:
        run.record("report", subject=subject, **details, files={str(p): sha256_file(p) for p in files})
