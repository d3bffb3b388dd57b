"""The report: the paper's Tables 1-6 beside what this suite measured, plus plots and an index page.

Reads only the results store (:mod:`bench.results`) and the paper's numbers (:mod:`bench.report.paper`),
so a report can be re-rendered at any time without measuring anything.

- :mod:`bench.report.quantities`: record field -> label, printed unit, format;
- :mod:`bench.report.datasets`: :class:`DataSet`, the one data set whose accuracy a report shows;
- :mod:`bench.report.selection`: :class:`Measurements`, which stored result fills each cell;
- :mod:`bench.report.tables`: Tables 1-6 as plain dicts (paper / measured / diff);
- :mod:`bench.report.render`: Markdown, CSV and LaTeX;
- :mod:`bench.report.plots`: accuracy/cost plots with Pareto fronts;
- :mod:`bench.report.index`: the summary, ``index.md``, ``report.json`` (:func:`write_report`).
"""

from __future__ import annotations

from bench.report.datasets import DataSet, choose_data_set, data_set_of
from bench.report.index import environment_lines, format_summary, render_index, summary_rows, write_report
from bench.report.quantities import QUANTITIES, Quantity
from bench.report.render import latex_escape, render_csv, render_latex, render_markdown
from bench.report.selection import (
    FULL_SIZES,
    PAPER_CONVENTIONS,
    Measurements,
    display_path,
    eval_data_label,
    is_full_size,
    is_real_data,
    model_info_or_none,
    runtime_setting,
)
from bench.report.tables import build_table, build_tables

__all__ = [
    "FULL_SIZES",
    "DataSet",
    "PAPER_CONVENTIONS",
    "QUANTITIES",
    "Measurements",
    "Quantity",
    "build_table",
    "build_tables",
    "choose_data_set",
    "data_set_of",
    "display_path",
    "environment_lines",
    "eval_data_label",
    "format_summary",
    "is_full_size",
    "is_real_data",
    "latex_escape",
    "model_info_or_none",
    "render_csv",
    "render_index",
    "render_latex",
    "render_markdown",
    "runtime_setting",
    "summary_rows",
    "write_report",
]
