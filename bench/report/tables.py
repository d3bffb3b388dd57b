"""The paper's Tables 1-6 as plain dicts: every paper row, its measured cells and the differences.

Every column is labelled *paper*, *measured* or *diff* (measured - paper); a paper row with no
matching model, or a model with no stored result, has an empty measured cell, never a paper number
in its place. Values are in record units under the record field names (``maccs_paper``,
``maccs_measured``...); :mod:`bench.report.render` scales them for printing.
"""

from __future__ import annotations

from typing import Any

from bench.report.paper import (
    AHDR_PARAMS_CORRECTED,
    AHDR_PARAMS_NOTE,
    METRICS,
    TABLES,
    paper_table,
    row_label,
)
from bench.report.quantities import ACCURACY, QUANTITIES
from bench.report.selection import Measurements


def column(key: str, label: str, source: str, metric: str | None = None) -> dict:
    """A column: its row key, label, source (paper, measured, diff or info) and quantity, if any."""
    col = {"key": key, "label": label, "source": source}
    if metric is not None:
        col["metric"] = metric
    return col


def _columns(number: str) -> list[dict]:
    spec = TABLES[number]
    columns = [column("row", "Row", "paper"), column("model", "Our model", "info")]
    columns += [column(d, d.replace("_", " "), "paper") for d in spec.descriptors]
    for m in spec.metrics:
        columns += [
            column(f"{m}_{source}", METRICS[m], source, m) for source in ("paper", "measured", "diff")
        ]
    if "median_s" in spec.metrics:
        columns.append(column("runtime_backend", "Runtime backend", "measured"))
        columns.append(column("runtime_setting", "Runtime measured on", "measured"))
    if any(m in spec.metrics for m in ACCURACY):
        # One data set per table (bench.report.datasets), named on every row that shows accuracy.
        columns.append(column("eval_data", "Accuracy measured on", "measured"))
    columns.append(column("note", "Note", "info"))
    return columns


def _comparable(metric: str, measured: dict[str, Any]) -> bool:
    # A difference only where both numbers measure the same thing: full-resolution runtimes,
    # accuracy on real captures (never on simulated scenes).
    if metric == "median_s":
        return bool(measured.get("runtime_full_size"))
    if metric in ACCURACY:
        return bool(measured.get("eval_real_data"))
    return True


def build_table(number: str, meas: Measurements) -> dict:
    """One paper table as a plain dict: columns (each labelled by source), rows, notes."""
    spec = TABLES[number]
    rows, data_sets, notes = [], set(), list(spec.notes)
    for prow in paper_table(number):
        model = prow.get("model")
        row: dict[str, Any] = {"row": row_label(prow), "model": model or "paper only"}
        row.update({d: prow.get(d) or "" for d in spec.descriptors})
        measured: dict[str, Any] = {}
        row_notes = [prow["note"]] if prow.get("note") else []
        if model and number == "3":
            run = meas.trained_evaluation(model, prow["train_loss"])
            if run is not None:
                train, ev = run
                measured = meas.eval_fields(ev)
                row_notes.append(f"trained {train.iters} iters, batch {train.batch}")
            else:
                row["model"] = f"{model} ({prow['train_loss']}): not trained here"
        elif model:
            # Tables 1 and 2 are mu-law L1 runs; a stored train run with that loss may stand in.
            measured = meas.measured_metrics(model, loss="mu" if number in ("1", "2") else None)
        if measured.get("eval_data"):
            data_sets.add(measured["eval_data"])
        for m in spec.metrics:
            paper, ours = prow.get(m), measured.get(m)
            row[f"{m}_paper"], row[f"{m}_measured"] = paper, ours
            both = paper is not None and ours is not None
            row[f"{m}_diff"] = ours - paper if both and _comparable(m, measured) else None
        if "median_s" in spec.metrics:
            row["runtime_backend"] = measured.get("runtime_backend", "")
            row["runtime_setting"] = measured.get("runtime_setting", "")
            row["median_s_spread"] = measured.get("runtime_spread")
        if any(m in spec.metrics for m in ACCURACY):
            row["eval_data"] = measured.get("eval_data", "")
            row["eval_fingerprint"] = measured.get("eval_fingerprint")
        printed = prow.get("params")
        if model == "ahdr" and printed is not None and printed != AHDR_PARAMS_CORRECTED:
            k = QUANTITIES["params"]
            ours, fixed = k.shown(measured.get("params")), k.shown(AHDR_PARAMS_CORRECTED)
            extra = "" if ours is None else f"; measured - {fixed:.2f} k = {ours - fixed:+.2f} k"
            row_notes.append(
                f"paper's {k.shown(printed):.2f} k read as {fixed:.2f} k (digit transposition){extra}"
            )
            notes.append(AHDR_PARAMS_NOTE)
        row["note"] = "; ".join(row_notes)
        rows.append(row)

    if any(m in spec.metrics for m in ACCURACY):
        notes.append(f"Paper accuracy: {spec.data}.")
        if data_sets:
            notes.append(
                "Measured accuracy: " + "; ".join(sorted(data_sets)) + ". PSNR differences are given "
                "only for real captures, not for data simulated by make-data; even then they compare "
                "different images unless yours are the paper's."
            )
        if meas.other_data_sets:
            notes.append(
                f"Evaluations of {len(meas.other_data_sets)} other data set(s) in the store are not shown "
                "(one data set per table; `report --data DIR|FINGERPRINT` picks another)."
            )
    if "median_s" in spec.metrics:
        notes.append(
            "Runtime differences are given only for timings at full resolution (1900x1060 or 1920x1080)."
        )
    return {
        "number": number,
        "title": spec.title,
        "caption": spec.caption,
        "columns": _columns(number),
        "rows": rows,
        "notes": list(dict.fromkeys(notes)),
    }


def build_tables(meas: Measurements) -> list[dict]:
    return [build_table(n, meas) for n in TABLES]
