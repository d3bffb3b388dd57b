"""Compare a user's variant with baselines under identical settings.

The variant is loaded with :func:`bench.spec.variants.load_variant` (a registered name,
``path/to/file.py:factory``, ``module.path:ClassName``, or a name the file registers), so nothing
in this repository changes. It must pass :func:`bench.spec.variants.check_contract` before anything is
measured. Then the variant and every baseline are, with the same settings each:

* profiled at 1900x1060 (the paper's counting rules, meta tensors),
* timed on one device at one size with the same warm-up and repeats,
* evaluated on ``data`` when given, for models with weights (the variant's ``--weights``, a
  baseline's shipped weights) and parameter-free references; the others are listed as not
  evaluated, never scored with random weights.

Results go through the results store (cached unless ``force``) and into a comparison table
(Markdown, CSV, JSON) and a front plot.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Any

import torch

from bench.core import (
    OUTPUT_DIR,
    UsageError,
    atomic_write_text,
    format_size,
    progress,
    resolve_device,
    write_json,
)
from bench.core.errors import ModelFailure
from bench.jobs import measure
from bench.report.plots import MEASURED_STYLE, VARIANT_STYLE, gmaccs, scatter_plot
from bench.report.quantities import QUANTITIES, with_legacy_keys
from bench.results import EvalRecord, ProfileRecord, ResultsStore, TimeRecord
from bench.spec.names import one_per_architecture
from bench.spec.variants import check_contract, load_variant
from models.registry import canonical_name

DEFAULT_AGAINST = "eapnet-standard,eapnet-lightweight,ahdr"

# (row key, label). Numbers are stored under their record field names in record units (MAccs and
# parameters as counts) and shown in the paper's units (bench.report.quantities).
COLUMNS = [
    ("model", "model"),
    ("role", "role"),
    ("maccs", "MAccs (G) at 1900x1060"),
    ("params", "Params (k)"),
    ("median_s", "Runtime (s), median"),
    ("psnr", "PSNR (dB)"),
    ("psnr_mu", "PSNR-µ (dB)"),
    ("weights", "weights"),
    ("note", "note"),
]


def evaluable(name: str, factory: Any, weights: str | None) -> tuple[bool, str | None]:
    """Whether a model can be scored: it has weights, or it has no parameters at all."""
    if weights:
        return True, None

    with torch.device("meta"):
        has_params = any(True for _ in measure.build(name, factory).parameters())
    return (not has_params), ("no weights: not evaluated" if has_params else None)


def compare(
    variant: str,
    against: list[str],
    *,
    weights: str | None = None,
    data: str | os.PathLike | None = None,
    ids: list[str] | None = None,
    device: str = "auto",
    size: tuple[int, int] | None = None,
    warmup: int | None = None,
    repeat: int | None = None,
    store: ResultsStore | None = None,
    force: bool = False,
    out_dir: str | os.PathLike = OUTPUT_DIR / "compare",
    plots: bool = True,
) -> dict[str, Any]:
    """Run the comparison; returns ``{"rows", "settings", "files"}`` (rows are plain dicts)."""
    if weights is not None and not Path(weights).exists():
        raise UsageError(f"weights {weights}: no such file or folder")
    if data is not None and not Path(data).is_dir():
        raise UsageError(f"data {data}: no such folder")
    name, factory = load_variant(variant)
    check_contract(factory(), name)  # a UsageError naming what is wrong; nothing measured before this
    dev = str(resolve_device(device))
    plan = measure.timing_plan(dev, size, warmup, repeat)
    entries = [(name, factory, weights, "variant")]
    # Aliases (eapnet-exp6 = eapnet-lightweight) are one baseline, and none of them the variant itself.
    baselines = [b for b in one_per_architecture(against)[0] if canonical_name(b) != canonical_name(name)]
    entries += [(b, None, measure.default_weights(b), "baseline") for b in baselines]

    rows = []
    for model, fac, wts, role in progress(entries, desc="compare"):
        row: dict[str, Any] = {"model": model, "role": role, "weights": wts, "cached": []}
        notes = []
        prof, hit, err = measure.safe(measure.profile, store, model, fac, force=force)
        if prof:
            counted = ProfileRecord.from_json(prof)
            row["maccs"], row["params"] = counted.maccs, counted.params
            row["cached"] += ["profile"] if hit else []
        else:
            notes.append(f"profile failed: {err.message}")
        tim, hit, err = measure.safe(measure.time, store, model, fac, device=dev, force=force, **plan)
        timed = None if tim is None else TimeRecord.from_json(tim)
        if timed is not None and (timed.status or "ok") == "ok":
            row["median_s"], row["device_name"] = timed.median_s, timed.device_name
            row["cached"] += ["time"] if hit else []
        else:
            why = err.message if err is not None else (timed.error or timed.status)
            notes.append(f"timing failed: {why}")
        if data is not None:
            try:
                ok, why = evaluable(model, fac, wts)
            except UsageError:
                raise
            except Exception as exc:  # the model cannot even be built: its failure, the others go on
                ok, why = False, f"eval failed: {ModelFailure(model, exc).message}"
            if ok:
                ev, hit, err = measure.safe(
                    measure.evaluate,
                    store,
                    model,
                    fac,
                    data=data,
                    weights=wts,
                    ids=ids,
                    device=dev,
                    force=force,
                )
                if ev:
                    scored = EvalRecord.from_json(ev)
                    row["psnr"], row["psnr_mu"] = scored.psnr, scored.psnr_mu
                    row["n_images"], row["weights"] = scored.n_images, scored.weights
                    row["cached"] += ["eval"] if hit else []
                else:
                    notes.append(f"eval failed: {err.message}")
            else:
                notes.append(why)
        row["note"] = "; ".join(n for n in notes if n)
        rows.append(row)

    settings = {
        "variant": variant,
        "device": dev,
        "device_name": next((r.get("device_name") for r in rows if r.get("device_name")), dev),
        "time_size": format_size(*plan["size"]),
        "pad_from": format_size(*plan["pad_from"]) if plan["pad_from"] else None,
        "warmup": plan["warmup"],
        "repeat": plan["repeat"],
        "profile_size": "1900x1060",
        "convention": "ntire",
        "data": str(data) if data is not None else None,
        "ids": len(ids) if ids else None,
    }
    files = write_comparison(rows, settings, out_dir, plots=plots)
    return {"rows": rows, "settings": settings, "files": files}


def table_cells(row: dict) -> list[str]:
    """The printed cells of one row, in :data:`COLUMNS` order (numbers in the paper's units)."""
    cells = []
    for key, _ in COLUMNS:
        if key in QUANTITIES:
            cells.append(QUANTITIES[key].format(row.get(key), missing="–"))
        elif key == "weights":
            cells.append(row.get(key) or "–")
        else:
            cells.append(row.get(key) or "")
    return cells


def render_markdown(rows: list[dict], settings: dict) -> str:
    lines = [
        f"# Comparison: {settings['variant']}",
        "",
        "All numbers measured by this suite with identical settings for every row:",
        "",
        f"- MAccs and parameters: {settings['profile_size']}, NTIRE counting rules (torchinfo 1.6)",
        f"- runtime: {settings['device_name']} ({settings['device']}), eager fp32, {settings['time_size']}"
        + (f" padded from {settings['pad_from']}" if settings["pad_from"] else "")
        + f", median of {settings['repeat']} after {settings['warmup']} warm-up",
        f"- accuracy: {settings['data'] or 'not evaluated (no --data)'}",
        "",
        "| " + " | ".join(label for _, label in COLUMNS) + " |",
        "|" + "|".join("---:" if k in QUANTITIES else "---" for k, _ in COLUMNS) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in table_cells(row)) + " |")
    return "\n".join(lines) + "\n"


def render_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([k for k, _ in COLUMNS])
    for row in rows:
        writer.writerow(["" if row.get(k) is None else row.get(k) for k, _ in COLUMNS])
    return buf.getvalue()


def write_comparison(
    rows: list[dict], settings: dict, out_dir: str | os.PathLike, plots: bool = True
) -> list[str]:
    out = Path(out_dir)
    stem = out / ("compare_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", rows[0]["model"]))
    files = [
        str(atomic_write_text(stem.with_suffix(".md"), render_markdown(rows, settings))),
        str(atomic_write_text(stem.with_suffix(".csv"), render_csv(rows))),
        str(
            write_json(
                stem.with_suffix(".json"), {"settings": settings, "rows": [with_legacy_keys(r) for r in rows]}
            )
        ),
    ]
    if plots:
        # Accuracy when it was measured, otherwise runtime: the front that this comparison can draw.
        metric, label = (
            ("psnr_mu", "PSNR-µ (dB)")
            if any(r.get("psnr_mu") is not None for r in rows)
            else ("median_s", "Runtime (s)")
        )

        def points(variant: bool) -> list[dict]:
            return [
                {"label": r["model"], "x": gmaccs(r.get("maccs")), "y": r.get(metric)}
                for r in rows
                if (r["role"] == "variant") == variant
            ]

        series = [
            {**VARIANT_STYLE, "label": "variant", "points": points(True)},
            {**MEASURED_STYLE, "label": "baselines", "points": points(False)},
        ]
        # Parameter-free references have 0 MAccs, off a log axis: drawn as horizontal lines.
        references = [
            (f"reference: {r['model']}", r[metric])
            for r in rows
            if not r.get("maccs") and r.get(metric) is not None
        ]
        sub = (
            settings["data"] if metric == "psnr_mu" else f"{settings['device_name']}, {settings['time_size']}"
        )
        # Every row was measured with the same settings, so one front spans variant and baselines; it is
        # drawn for accuracy (higher is better) only.
        panel = {
            "series": series,
            "ylabel": f"{label}, measured",
            "logy": metric == "median_s",
            "title": f"measured: {sub}",
            "hlines": references,
            "joint_front": metric == "psnr_mu",
        }
        files += [
            str(p)
            for p in scatter_plot(
                [panel],
                Path(str(stem) + "_front"),
                "MAccs (G) at 1900x1060, log scale",
                f"{rows[0]['model']} vs baselines",
            )
        ]
    return files
