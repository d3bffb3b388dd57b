"""The whole report: every table in three formats, the plots, ``index.md`` and ``report.json``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench.core import OUTPUT_DIR, atomic_write_text, write_json
from bench.core.tables import format_table
from bench.report.field import build_field_table
from bench.report.field_plot import render_field_plot
from bench.report.paper import TABLES
from bench.report.plots import render_plots
from bench.report.quantities import QUANTITIES, with_legacy_keys
from bench.report.render import render_csv, render_latex, render_markdown
from bench.report.runtime_plot import render_runtime_plot
from bench.report.selection import Measurements, display_path
from bench.report.tables import build_tables

# The measured model summary: record fields, in the order of its columns.
SUMMARY_FIELDS = ("maccs", "params", "median_s", "psnr", "psnr_mu")
SUMMARY_HEADERS = ["model", "GMAccs", "params (k)", "runtime (s)", "PSNR", "PSNR-mu"]


def summary_rows(meas: Measurements) -> list[dict]:
    """One row per measured model (everything in the store), for the terminal and the index page."""
    rows = []
    for model in meas.models():
        m = meas.measured_metrics(model)
        rows.append(
            {
                "model": model,
                **{f: m.get(f) for f in SUMMARY_FIELDS[:3]},
                "runtime_setting": m.get("runtime_setting"),
                **{f: m.get(f) for f in SUMMARY_FIELDS[3:]},
                "eval_data": m.get("eval_data"),
                "eval_fingerprint": m.get("eval_fingerprint"),
            }
        )
    return rows


def format_summary(rows: list[dict]) -> str:
    body = [[r["model"], *[QUANTITIES[f].format(r[f]) for f in SUMMARY_FIELDS]] for r in rows]
    return format_table(SUMMARY_HEADERS, body, align="lrrrrr")


def environment_lines(store_rows: list[dict]) -> list[str]:
    envs = {}
    for r in store_rows:
        env = r.get("environment") or {}
        key = (
            env.get("suite_version"),
            env.get("git_revision"),
            env.get("torch_version"),
            env.get("gpu_name"),
        )
        envs[key] = env
    lines = []
    for env in envs.values():
        rev = env.get("git_revision") or "no commit"
        dirty = " (uncommitted changes)" if env.get("git_dirty") else ""
        lines.append(
            f"- eapbench {env.get('suite_version')}, git {rev[:12]}{dirty}, torch {env.get('torch_version')}, "
            f"CUDA {env.get('cuda_version') or 'none'}, GPU {env.get('gpu_name') or 'none'}, "
            f"Python {env.get('python')}, {env.get('platform')}"
        )
    return lines


def accuracy_lines(meas: Measurements) -> list[str]:
    """Which data set every accuracy value of the report comes from, and which were left out."""
    if meas.data_set is None:
        pinned = f" on the pinned data set {meas.pinned}" if meas.pinned else ""
        lines = [f"No accuracy is shown: no usable evaluation{pinned} in the store."]
    else:
        lines = [f"Accuracy (PSNR, PSNR-µ) in every table and plot: {meas.data_set.label()}."]
    if meas.other_data_sets:
        lines.append("Not shown (pick one with `report --data DIR|FINGERPRINT`):")
        lines += [f"- {d.label()}" for d in meas.other_data_sets]
    return lines


def render_index(
    tables: list[dict],
    files: dict[str, list[str]],
    plots: list[str],
    summary: list[dict],
    store_rows: list[dict],
    db_path: str | None,
    accuracy: list[str] | None = None,
    field: dict | None = None,
) -> str:
    lines = [
        "# eapbench report",
        "",
        "The EAPNet paper's tables beside this suite's measurements. Every number is labelled *paper* "
        "(printed in the paper) or *measured* (by this suite, from the results store"
        + (f" `{display_path(db_path)}`" if db_path else "")
        + "); *diff* is measured - paper.",
        "",
    ]
    if accuracy:
        lines += ["## Accuracy data set", "", *accuracy, ""]
    lines += ["## Tables", ""]
    for t in tables:
        links = ", ".join(f"[{Path(p).suffix.lstrip('.')}]({Path(p).name})" for p in files[t["number"]])
        n_measured = sum(
            any(r.get(f"{m}_measured") is not None for m in TABLES[t["number"]].metrics) for r in t["rows"]
        )
        lines.append(
            f"- Table {t['number']}: {t['title']} ({n_measured}/{len(t['rows'])} rows measured): {links}"
        )
    if field is not None:
        links = ", ".join(f"[{Path(p).suffix.lstrip('.')}]({Path(p).name})" for p in files["field"])
        implemented = sum(r["model"] != "not implemented" for r in field["rows"])
        lines.append(
            f"- {field['heading']}: {field['title']} ({implemented}/{len(field['rows'])} implemented): {links}"
        )
    if plots:
        lines += ["", "## Plots", ""]
        for p in plots:
            if p.endswith(".png"):
                svg = Path(p).with_suffix(".svg").name
                lines += [f"![{Path(p).stem}]({Path(p).name}) ([svg]({svg}))", ""]
    lines += ["", "## Measured models", "", "```", format_summary(summary), "```", ""]
    settings = sorted({r["runtime_setting"] for r in summary if r.get("runtime_setting")})
    if settings:
        lines += ["Runtimes measured on: " + "; ".join(settings) + ".", ""]
    env_lines = environment_lines(store_rows)
    if env_lines:
        lines += ["## Environment", "", *env_lines, ""]
    return "\n".join(lines)


def write_report(
    store_rows: list[dict],
    out_dir: str | os.PathLike = OUTPUT_DIR,
    plots: bool = True,
    db_path: str | None = None,
    data: str | None = None,
) -> dict[str, Any]:
    """Render every table (md, csv, tex), the plots and ``index.md`` into ``out_dir``.

    ``data`` pins the data set of every accuracy value (a folder or a fingerprint prefix;
    :mod:`bench.report.datasets`), None for the default. Returns ``{"index": path, "tables": {n:
    [paths]}, "plots": [paths], "field": [paths of field.md/csv/tex], "field_plots": [paths], "summary": rows, "data_set": ..., "other_data_sets": [...], "json": path}``.
    """
    out = Path(out_dir)
    meas = Measurements(store_rows, data=data)
    tables = build_tables(meas)
    files: dict[str, list[str]] = {}
    for t in tables:
        stem = out / f"table{t['number']}"
        files[t["number"]] = [
            str(atomic_write_text(stem.with_suffix(".md"), render_markdown(t))),
            str(atomic_write_text(stem.with_suffix(".csv"), render_csv(t))),
            str(atomic_write_text(stem.with_suffix(".tex"), render_latex(t))),
        ]
    field = build_field_table()  # the field's networks, counted on meta tensors (cached per model)
    field_files = [
        str(atomic_write_text(out / f"field.{ext}", render(field)))
        for ext, render in (("md", render_markdown), ("csv", render_csv), ("tex", render_latex))
    ]
    plot_paths = (
        [str(p) for p in [*render_plots(meas, out), *render_runtime_plot(meas, out)]] if plots else []
    )
    field_plots = [str(p) for p in render_field_plot(field, meas, out)] if plots else []
    summary = summary_rows(meas)
    index = atomic_write_text(
        out / "index.md",
        render_index(
            tables,
            {**files, "field": field_files},
            plot_paths + field_plots,
            summary,
            store_rows,
            db_path,
            accuracy_lines(meas),
            field,
        ),
    )
    data_set = meas.data_set.to_json() if meas.data_set is not None else None
    others = [d.to_json() for d in meas.other_data_sets]
    summary = [with_legacy_keys(r) for r in summary]  # JSON readers of 0.1 keep their keys
    legacy_tables = [{**t, "rows": [with_legacy_keys(r) for r in t["rows"]]} for t in tables]
    json_path = write_json(
        out / "report.json",
        {
            "data_set": data_set,
            "other_data_sets": others,
            "tables": legacy_tables,
            "field": field,
            "summary": summary,
        },
    )
    return {
        "index": str(index),
        "tables": files,
        "plots": plot_paths,
        "field": field_files,
        "field_plots": field_plots,
        "summary": summary,
        "data_set": data_set,
        "other_data_sets": others,
        "json": str(json_path),
    }
