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

import os
import re
from pathlib import Path
from typing import Any

from bench.core import (
    REPORTS_DIR,
    UsageError,
    atomic_write_text,
    format_size,
    progress,
    resolve_device,
    write_json,
)
from bench.jobs import measure
from bench.results import ResultsStore

DEFAULT_AGAINST = "eapnet-standard,eapnet-lightweight,ahdr"

COLUMNS = [
    ("model", "model"),
    ("role", "role"),
    ("gmaccs", "MAccs (G) at 1900x1060"),
    ("params_k", "Params (k)"),
    ("runtime_s", "Runtime (s), median"),
    ("psnr", "PSNR (dB)"),
    ("psnr_mu", "PSNR-µ (dB)"),
    ("weights", "weights"),
    ("note", "note"),
]


def _evaluable(name: str, factory: Any, weights: str | None) -> tuple[bool, str | None]:
    """Whether a model can be scored: it has weights, or it has no parameters at all."""
    if weights:
        return True, None
    import torch

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
    out_dir: str | os.PathLike = REPORTS_DIR / "compare",
    plots: bool = True,
) -> dict[str, Any]:
    """Run the comparison; returns ``{"rows", "settings", "files"}`` (rows are plain dicts)."""
    from bench.spec.variants import check_contract, load_variant

    if weights is not None and not Path(weights).exists():
        raise UsageError(f"weights {weights}: no such file or folder")
    if data is not None and not Path(data).is_dir():
        raise UsageError(f"data {data}: no such folder")
    name, factory = load_variant(variant)
    check_contract(factory(), name)  # a UsageError naming what is wrong; nothing measured before this
    dev = str(resolve_device(device))
    plan = measure.timing_plan(dev, size, warmup, repeat)
    entries = [(name, factory, weights, "variant")]
    entries += [(b, None, measure.default_weights(b), "baseline") for b in against if b != name]

    rows = []
    for model, fac, wts, role in progress(entries, desc="compare"):
        row: dict[str, Any] = {"model": model, "role": role, "weights": wts, "cached": []}
        notes = []
        prof, hit, err = measure.safe(measure.profile, store, model, fac, force=force)
        if prof:
            row["gmaccs"], row["params_k"] = prof["maccs"] / 1e9, prof["params"] / 1e3
            row["cached"] += ["profile"] if hit else []
        else:
            notes.append(f"profile failed: {err}")
        tim, hit, err = measure.safe(
            measure.time,
            store,
            model,
            fac,
            device=dev,
            size=plan["size"],
            pad_from=plan["pad_from"],
            warmup=plan["warmup"],
            repeat=plan["repeat"],
            force=force,
        )
        if tim and tim.get("status", "ok") == "ok":
            row["runtime_s"] = tim["median_s"]
            row["device_name"] = tim.get("device_name")
            row["cached"] += ["time"] if hit else []
        else:
            notes.append(f"timing failed: {err or (tim or {}).get('error') or (tim or {}).get('status')}")
        if data is not None:
            ok, why = _evaluable(model, fac, wts)
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
                    row["psnr"], row["psnr_mu"] = ev["psnr"], ev["psnr_mu"]
                    row["n_images"], row["weights"] = ev["n_images"], ev.get("weights")
                    row["cached"] += ["eval"] if hit else []
                else:
                    notes.append(f"eval failed: {err}")
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


def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def table_cells(row: dict) -> list[str]:
    return [
        row["model"],
        row["role"],
        _fmt(row.get("gmaccs"), ".2f"),
        _fmt(row.get("params_k"), ".2f"),
        _fmt(row.get("runtime_s"), ".4f"),
        _fmt(row.get("psnr"), ".3f"),
        _fmt(row.get("psnr_mu"), ".3f"),
        row.get("weights") or "–",
        row.get("note") or "",
    ]


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
        "|"
        + "|".join(
            "---:" if k in ("gmaccs", "params_k", "runtime_s", "psnr", "psnr_mu") else "---"
            for k, _ in COLUMNS
        )
        + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in table_cells(row)) + " |")
    return "\n".join(lines) + "\n"


def render_csv(rows: list[dict]) -> str:
    import csv
    import io

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
        str(write_json(stem.with_suffix(".json"), {"settings": settings, "rows": rows})),
    ]
    if plots:
        from bench.report.plots import MEASURED_STYLE, VARIANT_STYLE, scatter_plot

        # Accuracy when it was measured, otherwise runtime: the front that this comparison can draw.
        metric, label = (
            ("psnr_mu", "PSNR-µ (dB)")
            if any(r.get("psnr_mu") is not None for r in rows)
            else ("runtime_s", "Runtime (s)")
        )

        def points(variant: bool) -> list[dict]:
            return [
                {"label": r["model"], "x": r.get("gmaccs"), "y": r.get(metric)}
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
            if not r.get("gmaccs") and r.get(metric) is not None
        ]
        sub = (
            settings["data"] if metric == "psnr_mu" else f"{settings['device_name']}, {settings['time_size']}"
        )
        # Every row was measured with the same settings, so one front spans variant and baselines; it is
        # drawn for accuracy (higher is better) only.
        panel = {
            "series": series,
            "ylabel": f"{label}, measured",
            "logy": metric == "runtime_s",
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
