"""The reproduced table: measured mean ± std over seeds beside the paper's values, each ablation step tested.

An *ablation step* is a row against the row above it, in the paper's order (a variant: against the
table's reference row, the shipped lightweight model). A step whose difference of the means is
within run-to-run noise (Welch's t over seeds, two-sided, p >= 0.05: :mod:`bench.reproduce.stats`)
is marked ``≈``; one outside noise ``*``; ``n/a`` when a row has fewer than two finished seeds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench.report.paper import TABLES, paper_table
from bench.reproduce.job import RunResult
from bench.reproduce.plan import REFERENCE_ROW, Plan
from bench.reproduce.stats import ALPHA, Spread, WelchResult, spread, welch

STEP_METRICS = ("psnr", "psnr_mu")  # the accuracy columns the paper prints


@dataclass(frozen=True)
class Step:
    """One ablation step on one metric: the row compared with, the test, and the paper's difference."""

    against: str
    test: WelchResult | None
    paper_diff: float | None

    @property
    def mark(self) -> str:
        if self.test is None:
            return "n/a"
        return "≈" if self.test.within_noise else "*"


@dataclass(frozen=True)
class RowSummary:
    row: str
    label: str
    model: str
    measured: dict[str, Spread]
    paper: dict[str, float | None]
    steps: dict[str, Step]
    seeds_done: int


@dataclass(frozen=True)
class TableReport:
    table: str
    title: str
    metrics: tuple[str, ...]
    rows: list[RowSummary]
    budget: str
    data: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def paper_values(table: str) -> dict[str, dict[str, float | None]]:
    if table not in TABLES:
        return {}
    return {r["row"]: {"psnr": r.get("psnr"), "psnr_mu": r.get("psnr_mu")} for r in paper_table(table)}


def build_report(plan: Plan, results: dict[str, RunResult]) -> TableReport:
    """Aggregate the finished runs of ``plan`` into the table."""
    metrics: list[str] = []
    for res in results.values():
        metrics += [m for m in res.metrics if m not in metrics]
    paper = paper_values(plan.table)
    by_row: dict[str, list[RunResult]] = {r.row: [] for r in plan.rows}
    for run in plan.runs:
        if run.key in results:
            by_row[run.row].append(results[run.key])
    values = {row: {m: [r.metrics.get(m) for r in done] for m in metrics} for row, done in by_row.items()}
    summaries = []
    previous = None
    for row in plan.rows:
        against = REFERENCE_ROW.get(plan.table) if row.variant else previous
        if against not in values:
            against = None
        steps = {}
        for m in STEP_METRICS:
            if m in metrics and against is not None:
                mine, theirs = paper.get(row.row, {}).get(m), paper.get(against, {}).get(m)
                paper_diff = mine - theirs if mine is not None and theirs is not None else None
                steps[m] = Step(against, welch(values[against][m], values[row.row][m]), paper_diff)
        summaries.append(
            RowSummary(
                row=row.row,
                label=row.label,
                model=row.model if row.loss is None else f"{row.model} ({row.loss})",
                measured={m: spread(values[row.row][m]) for m in metrics},
                paper=paper.get(row.row, {}),
                steps=steps,
                seeds_done=len(by_row[row.row]),
            )
        )
        if not row.variant:
            previous = row.row
    title = TABLES[plan.table].title if plan.table in TABLES else "Field networks"
    budget = f"{plan.budget['describe']}, {plan.seeds} seed(s) per row"
    data = f"trained on {plan.data['path']} ({plan.data['scenes']} scenes), tested on {plan.test['path']}"
    return TableReport(plan.table, title, tuple(metrics), summaries, budget, data)


def fmt(value: float | None, digits: int = 2, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def render_markdown(report: TableReport) -> str:
    """The table as Markdown, with its budget, data and the noise test in the caption."""
    metrics = list(report.metrics)
    steps = [m for m in STEP_METRICS if m in metrics]
    head = ["Row", "Model", "Seeds"]
    for m in metrics:
        head += [f"{m} measured", f"{m} paper"] if m in STEP_METRICS else [f"{m} measured"]
    head += [f"Δ{m} measured (paper) vs row" for m in steps]
    lines = [
        f"Table {report.table}: {report.title}",
        f"Measured: {report.budget}; {report.data}. Paper: 10M iterations, authors' validation split.",
        f"Steps: Welch t over seeds, two-sided, α={ALPHA}; ≈ within noise, * outside noise, n/a < 2 seeds.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in report.rows:
        cells = [r.label, r.model, str(r.seeds_done)]
        for m in metrics:
            cells.append(r.measured[m].describe())
            if m in STEP_METRICS:
                cells.append(fmt(r.paper.get(m)))
        for m in steps:
            step = r.steps.get(m)
            if step is None:
                cells.append("")
                continue
            diff = None if step.test is None else step.test.diff
            p = "" if step.test is None else f", p={step.test.p:.2f}"
            cells.append(
                f"{fmt(diff, sign=True)} {step.mark}{p} ({fmt(step.paper_diff, sign=True)}) vs {step.against}"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
