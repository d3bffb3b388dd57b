"""The runtime-by-backend plot: measured runtime vs MAccs, one series per backend, one panel per setting.

Every ``ok`` timing in the store counts (the newest per model, backend and setting), for the EAPNet
family and every other network measured: eager beside the deployment backends
(``onnxruntime``, ``openvino``, ``tensorrt``...). Runtimes measured on different devices or at
different sizes sit in different panels (never on one axis). If MAccs predicted runtime, each
series would be a line of slope 1 on the log-log axes; where a backend's points leave that line,
or the backends' order changes from one model to the next, the MAccs count stops predicting it.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.report.plots import gmaccs, scatter_plot
from bench.report.selection import Measurements

BACKEND_COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
BACKEND_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")


def runtime_series(meas: Measurements) -> dict[str, dict[str, list[dict]]]:
    """``{setting: {backend: [points]}}``: setting = device and size; x = GMAccs at 1900x1060, y = median s."""
    newest: dict[tuple, tuple[int, object]] = {}
    for row in meas.rows:
        rec = row["record"]
        if row["kind"] != "time" or rec.median_s is None or (rec.status or "ok") != "ok":
            continue
        key = (
            row["model"],
            rec.backend or "eager",
            rec.device_name or rec.device,
            rec.width,
            rec.height,
            rec.precision,
        )
        if key not in newest or row["id"] > newest[key][0]:
            newest[key] = (row["id"], rec)
    panels: dict[str, dict[str, list[dict]]] = {}
    for (model, backend, device, width, height, precision), (_, rec) in sorted(newest.items(), key=str):
        prof = meas.profile(model)
        x = gmaccs(prof.maccs) if prof is not None else None
        if not x:
            continue  # a parameter-free reference (0 MAccs) has no place on a log axis
        setting = f"{device}, {width}x{height}"
        label = f"{backend} {precision}" if precision != "fp32" else backend
        point = {
            "label": model.removeprefix("eapnet-"),
            "x": x,
            "y": rec.median_s,
            "quiet": backend != "eager",
        }
        panels.setdefault(setting, {}).setdefault(label, []).append(point)
    return panels


def render_runtime_plot(meas: Measurements, out_dir: str | os.PathLike) -> list[Path]:
    """``runtime_by_backend.png``/``.svg`` in ``out_dir``; nothing when no timing is stored."""
    panels = []
    for setting, by_backend in runtime_series(meas).items():
        series = [
            {
                "points": pts,
                "label": backend,
                "color": BACKEND_COLORS[i % len(BACKEND_COLORS)],
                "marker": BACKEND_MARKERS[i % len(BACKEND_MARKERS)],
            }
            for i, (backend, pts) in enumerate(sorted(by_backend.items(), key=lambda kv: kv[0] != "eager"))
        ]
        panels.append({"series": series, "ylabel": "Runtime (s), median", "logy": True, "title": setting})
    if not panels:
        return []
    return scatter_plot(
        panels,
        Path(out_dir) / "runtime_by_backend",
        "MAccs (G) at 1900x1060, log scale",
        "Measured runtime vs MAccs per backend (one panel per device and size)",
    )
