"""Accuracy/cost plots (PNG and SVG): paper points and measured points, with Pareto fronts.

Paper points (as printed, over all tables) and measured points (this suite's results) are drawn
with different markers and colours and never joined; each set gets its own front. Parameter-free
references (0 MAccs) cannot sit on a log axis, so they are drawn as horizontal lines.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from bench.common import atomic_write_bytes

PAPER_STYLE = {"marker": "s", "color": "#1f77b4", "label": "paper"}
MEASURED_STYLE = {"marker": "o", "color": "#d62728", "label": "measured"}
VARIANT_STYLE = {"marker": "*", "color": "#2ca02c", "label": "variant"}


def pareto_front(points: list[dict], x: str = "x", y: str = "y") -> list[dict]:
    """Points no other point beats: lower ``x`` (cost) and higher ``y`` (accuracy). Sorted by ``x``."""
    front: list[dict] = []
    best = float("-inf")
    for p in sorted(points, key=lambda p: (p[x], -p[y])):
        if p[y] > best:
            front.append(p)
            best = p[y]
    return front


def _save(fig: Any, stem: Path) -> list[Path]:
    paths = []
    for ext in ("png", "svg"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=150 if ext == "png" else None, bbox_inches="tight")
        paths.append(atomic_write_bytes(stem.with_suffix(f".{ext}"), buf.getvalue()))
    return paths


def _draw_panel(ax: Any, panel: dict, logx: bool, front: bool) -> None:
    logy = panel.get("logy", False)
    for s in panel["series"]:
        pts = [p for p in s["points"] if p["x"] is not None and p["y"] is not None
               and (p["x"] > 0 or not logx) and (p["y"] > 0 or not logy)]
        if not pts:
            continue
        ax.scatter([p["x"] for p in pts], [p["y"] for p in pts], marker=s["marker"], color=s["color"],
                   label=f"{s['label']} ({len(pts)})", s=90 if s["marker"] == "*" else 36, zorder=3,
                   edgecolors="black", linewidths=0.4)
        on_front = pareto_front(pts) if front and len(pts) > 1 else []
        if on_front:
            ax.step([p["x"] for p in on_front], [p["y"] for p in on_front], where="post", color=s["color"],
                    linewidth=1.5, zorder=4, label=f"{s['label']} Pareto front")
        front_ids = {id(p) for p in on_front}
        for p in pts:
            # Crowded ablation rows are labelled only on the front; a point may ask to be skipped.
            if p.get("quiet") and id(p) not in front_ids:
                continue
            ax.annotate(p["label"], (p["x"], p["y"]), textcoords="offset points", xytext=(4, 3), fontsize=7,
                        color=s["color"])
    for label, value in panel.get("hlines", []):
        ax.axhline(value, color="grey", linestyle=":", linewidth=1)
        ax.annotate(label, (0.01, value), xycoords=("axes fraction", "data"), fontsize=7, color="grey",
                    xytext=(0, 2), textcoords="offset points")
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_ylabel(panel["ylabel"])
    ax.set_title(panel.get("title", ""), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")


def scatter_plot(
    panels: list[dict],
    stem: str | os.PathLike,
    xlabel: str,
    title: str,
    logx: bool = True,
    front: bool = False,
) -> list[Path]:
    """Draw side-by-side panels to ``stem``.png and .svg.

    A panel is ``{"series": [{"points": [{"label", "x", "y"[, "quiet"]}], "marker", "color", "label"}],
    "ylabel", "title"[, "logy", "hlines": [(label, y)]]}``. Quantities measured under different
    conditions (paper data vs ours, a V100 vs this CPU) go in separate panels, never on one axis.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display; also keeps tests headless
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), 4.8), squeeze=False, sharex=True)
    try:
        for ax, panel in zip(axes[0], panels, strict=True):
            _draw_panel(ax, panel, logx, front)
            ax.set_xlabel(xlabel)
        fig.suptitle(title, fontsize=11)
        fig.tight_layout()
        return _save(fig, Path(stem))
    finally:
        plt.close(fig)


def _short(model: str) -> str:
    return model.removeprefix("eapnet-")


def render_plots(meas: Any, out_dir: str | os.PathLike) -> list[Path]:
    """The four report plots from a :class:`bench.report.Measurements`; returns the files written."""
    from bench.paper import paper_points

    out = Path(out_dir)
    from bench.report import _registry_info

    models = meas.models()
    # An alias (eapnet-exp6 = eapnet-lightweight) would sit on top of its original: drawn once.
    measured = {m: meas.measured_metrics(m) for m in models
                if getattr(_registry_info(m), "alias_of", None) not in models}
    paths: list[Path] = []
    several_settings = len({v.get("runtime_short") for v in measured.values() if v.get("runtime_short")}) > 1
    xlabel = "MAccs (G) at 1900x1060, log scale"

    def paper_series(metric: str) -> dict:
        pts = [{"label": p["label"], "x": p["gmaccs"], "y": p["value"], "quiet": p["table"] in ("1", "2")}
               for p in paper_points(metric)]
        return {**PAPER_STYLE, "points": pts}

    def measured_series(metric: str) -> dict:
        pts = []
        for m, v in measured.items():
            # The setting is in the panel title; a label names it only when settings differ.
            tag = f" ({v['runtime_short']})" if metric == "runtime_s" and several_settings and v.get("runtime_short") else ""
            pts.append({"label": _short(m) + tag, "x": v.get("gmaccs"), "y": v.get(metric)})
        return {**MEASURED_STYLE, "points": pts}

    def references(metric: str) -> list[tuple[str, float]]:
        return [(f"reference: {m}", v[metric]) for m, v in measured.items()
                if v.get(metric) is not None and not v.get("gmaccs")]

    data = sorted({v["eval_data"] for v in measured.values() if v.get("eval_data")})
    for metric, name, label in (("psnr_mu_db", "psnr_mu_vs_gmaccs", "PSNR-µ (dB)"),
                                ("psnr_db", "psnr_vs_gmaccs", "PSNR (dB)")):
        panels = [
            {"series": [paper_series(metric)], "ylabel": f"{label}, paper",
             "title": "paper: NTIRE 2022 data (Tables 1, 2, 4-6)"},
            {"series": [measured_series(metric)], "ylabel": f"{label}, measured", "hlines": references(metric),
             "title": f"measured: {'; '.join(data) if data else 'no accuracy measured yet'}"},
        ]
        paths += scatter_plot(panels, out / name, xlabel, f"{label} vs MAccs (Pareto fronts: fewer MAccs, higher "
                              f"{label.split(' ')[0]})", front=True)
    settings = sorted({v["runtime_setting"] for v in measured.values() if v.get("runtime_setting")})
    panels = [
        {"series": [paper_series("runtime_s")], "ylabel": "Runtime (s), paper", "logy": True,
         "title": "paper: self-reported, each team's GPU, 1900x1060"},
        {"series": [measured_series("runtime_s")], "ylabel": "Runtime (s), measured (median)", "logy": True,
         "title": "measured: " + ("\n".join(settings) if settings else "no timing yet")},
    ]
    paths += scatter_plot(panels, out / "runtime_vs_gmaccs", xlabel, "Runtime vs MAccs")
    # Parameters and MAccs are counted the same way for paper and ours: one panel, two series.
    panel = {"series": [paper_series("params_k"), measured_series("params_k")], "ylabel": "Parameters (k), log scale",
             "logy": True, "title": "paper (Tables 4, 5) and measured"}
    paths += scatter_plot([panel], out / "params_vs_gmaccs", xlabel, "Parameters vs MAccs")
    return paths
