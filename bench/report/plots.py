"""Accuracy/cost plots (PNG and SVG): paper points and measured points, with Pareto fronts.

Points measured on different data or hardware are never joined: the paper's accuracy comes from
two data sets (Tables 1, 2, 6: the authors' validation split; Tables 4, 5: the online test set),
so each gets its own series and its own front, and measured points sit in a separate panel (or,
for parameters, a separate series). Parameter-free references (0 MAccs) cannot sit on a log axis,
so they are drawn as horizontal lines. Labels are placed so that they do not overlap.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from bench.core import atomic_write_bytes
from bench.report.paper import DATA_SET_NAMES, paper_points
from bench.report.quantities import ACCURACY, QUANTITIES
from bench.report.selection import model_info_or_none

PAPER_STYLE = {"marker": "s", "color": "#1f77b4", "label": "paper"}
PAPER_VALIDATION_STYLE = {"marker": "D", "color": "#9467bd", "label": "paper"}
MEASURED_STYLE = {"marker": "o", "color": "#d62728", "label": "measured"}
VARIANT_STYLE = {"marker": "*", "color": "#2ca02c", "label": "variant"}
# Further measured data sets (a user's folder beside the synthetic set), one colour each.
EXTRA_COLORS = ("#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f")
LABEL_FONTSIZE = 7


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


def _draw_panel(ax: Any, panel: dict, logx: bool, front: bool) -> list[dict]:
    """Markers, fronts and reference lines; returns the point labels for :func:`_place_labels`."""
    logy = panel.get("logy", False)
    labels, drawn = [], []
    for s in panel["series"]:
        pts = [
            p
            for p in s["points"]
            if p["x"] is not None
            and p["y"] is not None
            and (p["x"] > 0 or not logx)
            and (p["y"] > 0 or not logy)
        ]
        if not pts:
            continue
        drawn += pts
        ax.scatter(
            [p["x"] for p in pts],
            [p["y"] for p in pts],
            marker=s["marker"],
            color=s["color"],
            label=f"{s['label']} ({len(pts)})",
            s=90 if s["marker"] == "*" else 36,
            zorder=3,
            edgecolors="black",
            linewidths=0.4,
        )
        bars = [p for p in pts if p.get("yerr")]
        if bars:  # a noisy timing's p10-p90 spread
            ax.errorbar(
                [p["x"] for p in bars],
                [p["y"] for p in bars],
                yerr=[[p["y"] - p["yerr"][0] for p in bars], [p["yerr"][1] - p["y"] for p in bars]],
                fmt="none",
                ecolor=s["color"],
                elinewidth=1,
                capsize=3,
                zorder=2,
                label="noisy: p10-p90",
            )
        on_front = pareto_front(pts) if front and len(pts) > 1 else []
        if on_front:
            ax.step(
                [p["x"] for p in on_front],
                [p["y"] for p in on_front],
                where="post",
                color=s["color"],
                linewidth=1.5,
                zorder=4,
                label="its Pareto front",
            )
        front_ids = {id(p) for p in on_front}
        for p in pts:
            # Crowded ablation rows are labelled only on the front; a point may ask to be skipped.
            if p.get("quiet") and id(p) not in front_ids:
                continue
            labels.append(
                {
                    "x": p["x"],
                    "y": p["y"],
                    "text": p["label"],
                    "color": s["color"],
                    "first": id(p) in front_ids,
                }
            )
    if panel.get("joint_front") and len(drawn) > 1:
        # Series measured under identical settings (compare): one front across all of them.
        on_front = pareto_front(drawn)
        ax.step(
            [p["x"] for p in on_front],
            [p["y"] for p in on_front],
            where="post",
            color="black",
            linewidth=1.2,
            linestyle="--",
            zorder=2,
            label="Pareto front",
        )
        for lab in labels:
            lab["first"] = lab["first"] or any(p["label"] == lab["text"] for p in on_front)
    for label, value in panel.get("hlines", []):
        ax.axhline(value, color="grey", linestyle=":", linewidth=1)
        ax.annotate(
            label,
            (0.01, value),
            xycoords=("axes fraction", "data"),
            fontsize=LABEL_FONTSIZE,
            color="grey",
            xytext=(0, 2),
            textcoords="offset points",
        )
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_ylabel(panel["ylabel"])
    ax.set_title(panel.get("title", ""), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        # Below the axes: inside, a legend hides points or labels whatever corner it takes.
        ax.legend(
            fontsize=LABEL_FONTSIZE, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False
        )
    return labels


# Where a label may go relative to its point (offset in points, horizontal alignment), best first.
_OFFSETS = [
    (4, 3, "left"),
    (4, -9, "left"),
    (-4, 3, "right"),
    (-4, -9, "right"),
    (4, 11, "left"),
    (4, -17, "left"),
    (-4, 11, "right"),
    (-4, -17, "right"),
    (0, 19, "center"),
    (0, -25, "center"),
]


def _overlap(a: Any, b: Any) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _place_labels(ax: Any, labels: list[dict]) -> None:
    """Annotate each point at the first offset where its text hits no marker, label or the axes' edge.

    Front points are placed first; a label that fits nowhere takes the offset with the least overlap.
    Run after the layout is final (positions are in display units).
    """
    from matplotlib.transforms import Bbox  # deferred: matplotlib only when a plot is drawn

    renderer = ax.figure.canvas.get_renderer()
    r = 3.5 * ax.figure.dpi / 72  # a marker's half-width in display units
    taken = []
    for lab in labels:
        x, y = ax.transData.transform((lab["x"], lab["y"]))
        taken.append(Bbox.from_extents(x - r, y - r, x + r, y + r))
    taken += [t.get_window_extent(renderer) for t in ax.texts]  # reference-line labels
    frame = ax.get_window_extent(renderer)
    for lab in sorted(labels, key=lambda lab: not lab["first"]):
        best = None
        for dx, dy, ha in _OFFSETS:
            ann = ax.annotate(
                lab["text"],
                (lab["x"], lab["y"]),
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                fontsize=LABEL_FONTSIZE,
                color=lab["color"],
            )
            box = ann.get_window_extent(renderer)
            outside = box.width * box.height - _overlap(box, frame)
            cost = sum(_overlap(box, t) for t in taken) + outside
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann, box)
            else:
                ann.remove()
            if cost == 0:
                break
        taken.append(best[2])


def scatter_plot(
    panels: list[dict],
    stem: str | os.PathLike,
    xlabel: str,
    title: str,
    logx: bool = True,
    front: bool = False,
) -> list[Path]:
    """Draw side-by-side panels to ``stem``.png and .svg.

    A panel is ``{"series": [{"points": [{"label", "x", "y"[, "quiet", "yerr": (low, high)]}], "marker",
    "color", "label"}],
    "ylabel", "title"[, "logy", "hlines": [(label, y)], "joint_front"]}``. Quantities measured under
    different conditions (paper data vs ours, a V100 vs this CPU) go in separate panels, never on one
    axis; ``front`` draws each series' own Pareto front, ``joint_front`` one front across the panel's
    series (for series measured under identical settings).
    """
    import matplotlib  # deferred: matplotlib (~0.5 s) is only needed when a plot is drawn, not at CLI start-up

    matplotlib.use("Agg")  # no display; also keeps tests headless
    import matplotlib.pyplot as plt  # deferred: after matplotlib.use('Agg')

    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 5.4), squeeze=False, sharex=True)
    try:
        labels = []
        for ax, panel in zip(axes[0], panels, strict=True):
            labels.append(_draw_panel(ax, panel, logx, front))
            ax.set_xlabel(xlabel)
        fig.suptitle(title, fontsize=11)
        fig.tight_layout()
        for ax, panel_labels in zip(axes[0], labels, strict=True):
            _place_labels(ax, panel_labels)
        return _save(fig, Path(stem))
    finally:
        plt.close(fig)


def _short(model: str) -> str:
    return model.removeprefix("eapnet-")


def gmaccs(maccs: float | None) -> float | None:
    """MAccs in G, the x axis of every plot."""
    return QUANTITIES["maccs"].shown(maccs)


def render_plots(meas: Any, out_dir: str | os.PathLike) -> list[Path]:
    """The four report plots from a :class:`bench.report.Measurements`; returns the files written.

    Points are drawn in the paper's units: GMAccs on x, the quantity's printed unit on y.
    """
    out = Path(out_dir)
    models = meas.models()
    # An alias (eapnet-exp6 = eapnet-lightweight) would sit on top of its original: drawn once.
    measured = {
        m: meas.measured_metrics(m)
        for m in models
        if getattr(model_info_or_none(m), "alias_of", None) not in models
    }
    paths: list[Path] = []
    several_settings = len({v.get("runtime_short") for v in measured.values() if v.get("runtime_short")}) > 1
    xlabel = "MAccs (G) at 1900x1060, log scale"

    def paper_series(metric: str) -> list[dict]:
        """One series per data set the paper measured ``metric`` on (one for runtime and parameters)."""
        q = QUANTITIES[metric]
        by_data: dict[str, list[dict]] = {}
        for p in paper_points(metric):
            by_data.setdefault(p["data"], []).append(p)
        series = []
        for data, pts in by_data.items():
            tables = sorted({t for p in pts for t in p["tables"]})
            style = PAPER_STYLE if "4" in tables or "5" in tables else PAPER_VALIDATION_STYLE
            name = f"paper, {DATA_SET_NAMES[data]}" if metric in ACCURACY else "paper"
            series.append(
                {
                    **style,
                    "label": f"{name}, Tables {', '.join(tables)}",
                    "points": [
                        {
                            "label": p["label"],
                            "x": gmaccs(p["maccs"]),
                            "y": q.shown(p["value"]),
                            "quiet": p["ablation"],
                        }
                        for p in pts
                    ],
                }
            )
        return series

    def measured_series(metric: str) -> list[dict]:
        """Measured points; accuracy split by the data set it was evaluated on (one front each)."""
        by_data: dict[str, list[dict]] = {}
        for m, v in measured.items():
            if v.get(metric) is None:
                continue
            # The setting is in the panel title; a label names it only when settings differ.
            tag = (
                f" ({v['runtime_short']})"
                if metric == "median_s" and several_settings and v.get("runtime_short")
                else ""
            )
            group = v.get("eval_data", "") if metric in ACCURACY else ""
            point = {
                "label": _short(m) + tag,
                "x": gmaccs(v.get("maccs")),
                "y": QUANTITIES[metric].shown(v[metric]),
            }
            spread = v.get("runtime_spread") if metric == "median_s" else None
            if spread and None not in spread:
                point["yerr"] = tuple(QUANTITIES[metric].shown(t) for t in spread)  # (p10, p90)
            by_data.setdefault(group, []).append(point)
        colors = [MEASURED_STYLE["color"], *EXTRA_COLORS]
        return [
            {
                **MEASURED_STYLE,
                "color": colors[i % len(colors)],
                "points": pts,
                "label": f"measured, {group}" if len(by_data) > 1 else "measured",
            }
            for i, (group, pts) in enumerate(sorted(by_data.items()))
        ]

    def references(metric: str) -> list[tuple[str, float]]:
        return [
            (f"reference: {m}", QUANTITIES[metric].shown(v[metric]))
            for m, v in measured.items()
            if v.get(metric) is not None and not v.get("maccs")
        ]

    data = sorted({v["eval_data"] for v in measured.values() if v.get("eval_data")})
    for metric, name, label in (
        ("psnr_mu", "psnr_mu_vs_gmaccs", "PSNR-µ (dB)"),
        ("psnr", "psnr_vs_gmaccs", "PSNR (dB)"),
    ):
        panels = [
            {
                "series": paper_series(metric),
                "ylabel": f"{label}, paper",
                "title": "paper: two data sets, one front each (not comparable with each other)",
            },
            {
                "series": measured_series(metric),
                "ylabel": f"{label}, measured",
                "hlines": references(metric),
                "title": f"measured: {'; '.join(data) if data else 'no accuracy measured yet'}",
            },
        ]
        paths += scatter_plot(
            panels,
            out / name,
            xlabel,
            f"{label} vs MAccs (Pareto fronts: fewer MAccs, higher {label.split(' ')[0]})",
            front=True,
        )
    settings = sorted({v["runtime_setting"] for v in measured.values() if v.get("runtime_setting")})
    panels = [
        {
            "series": paper_series("median_s"),
            "ylabel": "Runtime (s), paper",
            "logy": True,
            "title": "paper: self-reported, each team's GPU, 1900x1060",
        },
        {
            "series": measured_series("median_s"),
            "ylabel": "Runtime (s), measured (median)",
            "logy": True,
            "title": "measured: " + ("\n".join(settings) if settings else "no timing yet"),
        },
    ]
    paths += scatter_plot(panels, out / "runtime_vs_gmaccs", xlabel, "Runtime vs MAccs")
    # Parameters and MAccs are counted the same way for paper and ours: one panel, two series.
    panel = {
        "series": [*paper_series("params"), *measured_series("params")],
        "ylabel": "Parameters (k), log scale",
        "logy": True,
        "title": "paper (Tables 4, 5) and measured",
    }
    paths += scatter_plot([panel], out / "params_vs_gmaccs", xlabel, "Parameters vs MAccs")
    return paths
