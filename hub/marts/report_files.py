"""Files made from the marts for people outside the warehouse: the quarterly statistics tables
(Parquet, and an ``.xlsx`` workbook with Chinese headers as the tables are filed) and the
annual administrative-litigation chart (PNG) for the white paper.

Each report is written to a temporary name and renamed into place, so a reader never opens a
half-written file, and rewriting a period's report replaces it whole.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from hub.errors import ReportError
from hub.marts import nonlit_stats

TOTAL_LABEL = "合计"


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def quarterly_statistics(con: duckdb.DuckDBPyConnection, quarter: str, folder: Path) -> list[Path]:
    """Write ``<folder>/<quarter>/``: one Parquet file per kind (``civil.parquet``,
    ``administrative.parquet``: the mart's rows for that quarter) and ``统计表_<quarter>.xlsx``
    with one sheet per kind (附件1 民事, 附件2 行政), a 合计 row under each."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    first, last, counted_to = con.execute("SELECT min(quarter), max(quarter), max(counted_to) FILTER (WHERE quarter = ?) "
                                          "FROM mart_nonlit_quarterly", [quarter]).fetchall()[0]
    if counted_to is None:
        raise ReportError(f"no statistics for {quarter}: mart_nonlit_quarterly holds {first or '-'} to {last or '-'}")
    year, q = quarter.split("Q")
    subtitle = f"统计截止：{counted_to}    报送期限：{nonlit_stats.quarter_dates(quarter)[2]}"
    sums = ", ".join(f"CAST(sum({c}) AS BIGINT) AS {c}" for c in nonlit_stats.COUNTS)
    rate = nonlit_stats.adoption_rate("sum(adopted)", "sum(partly_adopted)", "sum(replied)")
    columns = nonlit_stats.COLUMNS["mart_nonlit_quarterly"]
    out = folder / quarter
    written: list[Path] = []
    book = Workbook()
    book.remove(book.active)
    for n, (kind, title) in enumerate(nonlit_stats.KINDS.items(), 1):
        table = con.sql("SELECT * FROM mart_nonlit_quarterly WHERE quarter = ? AND kind = ? ORDER BY procuratorate",
                        params=[quarter, kind]).to_arrow_table()
        name = "civil" if kind == "民事" else "administrative"
        written.append(_atomic(out / f"{name}.parquet", lambda p, t=table: pq.write_table(t, p)))
        shown = nonlit_stats.shown_in(kind)
        sheet = book.create_sheet(f"附件{n} {kind}")
        sheet.append([f"{title}（{year}年第{q}季度）"])
        sheet["A1"].font = Font(bold=True, size=14)
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(shown))
        sheet.append([subtitle])
        sheet.append([columns[c][0] for c in shown])
        for cell in sheet[3]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, horizontal="center")
        for row in table.select(shown).to_pylist():
            sheet.append([row[c] for c in shown])
        totals = con.sql(f"SELECT {sums}, {rate} AS adoption_rate FROM mart_nonlit_quarterly WHERE quarter = ? AND kind = ?",
                         params=[quarter, kind]).to_arrow_table().to_pylist()[0]
        sheet.append([TOTAL_LABEL if c == "procuratorate" else totals[c] for c in shown])
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
        sheet.column_dimensions["A"].width = 24
    written.append(_atomic(out / f"统计表_{quarter}.xlsx", book.save))
    return written


def admin_litigation_chart(con: duckdb.DuckDBPyConnection, year: int, folder: Path) -> list[Path]:
    """Write ``<folder>/<year>.parquet`` (the year's rows of ``mart_admin_litigation``) and
    ``<folder>/<year>.png``: loss rate and agency-head appearance rate per agency."""
    table = con.sql("SELECT * FROM mart_admin_litigation WHERE year = ? ORDER BY decided DESC, agency",
                    params=[year]).to_arrow_table()
    if table.num_rows == 0:
        raise ReportError(f"no administrative cases in {year}: nothing to chart; choose a year present in "
                          "mart_admin_litigation")
    parquet = _atomic(folder / f"{year}.parquet", lambda p: pq.write_table(table, p))
    return [parquet, _atomic(folder / f"{year}.png", lambda p: _draw(table, year, p))]


def _draw(table: pa.Table, year: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    matplotlib.rcParams["font.sans-serif"] = [*_cjk_fonts(), *matplotlib.rcParams["font.sans-serif"]]
    matplotlib.rcParams["axes.unicode_minus"] = False
    rows = table.to_pylist()[::-1]  # most decisions at the top
    labels = [r["agency"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(rows) + 1.8), sharey=True)
    for ax, col, title, colour in ((axes[0], "loss_rate", "败诉率 loss rate", "#c0392b"),
                                   (axes[1], "head_appearance_rate", "负责人出庭应诉率 head appearance", "#2e86c1")):
        values = [100 * (r[col] or 0) for r in rows]
        ax.barh(labels, values, color=colour)
        for y, (v, r) in enumerate(zip(values, rows)):
            ax.text(v + 1, y, "—" if r[col] is None else f"{v:.0f}%", va="center", fontsize=8)
        ax.set_xlim(0, 110)
        ax.set_title(title)
        ax.set_xlabel("%")
    axes[1].axvline(100, color="grey", linestyle="--", linewidth=0.8)
    fig.suptitle(f"{year}年行政诉讼案件：各被诉行政机关败诉率与负责人出庭应诉率")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)


def _cjk_fonts() -> list[str]:
    """Installed fonts that can draw Chinese (fonts-wqy-microhei, Noto CJK…); without one the
    labels still render, as boxes, and matplotlib says which glyphs are missing."""
    from matplotlib import font_manager

    wanted = ("WenQuanYi", "Noto Sans CJK", "Noto Serif CJK", "Source Han", "SimHei", "Microsoft YaHei", "PingFang")
    return sorted({f.name for f in font_manager.fontManager.ttflist if f.name.startswith(wanted)})


def chart_year(con: duckdb.DuckDBPyConnection, as_of_year: int) -> int | None:
    """The white paper's year: the latest full year before ``as_of_year`` with cases, else the latest year."""
    years = [r[0] for r in con.execute("SELECT DISTINCT year FROM mart_admin_litigation WHERE year IS NOT NULL").fetchall()]
    past = [y for y in years if y < as_of_year]
    return max(past or years, default=None)
