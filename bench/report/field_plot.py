"""The field panel of the accuracy-vs-MAccs plot: published Kalantari PSNR-µ against our `true` MAccs.

One convention on the x axis for every network (our ``true`` count at 1500x1000, the Kalantari
frame), so the published figures' tool and tiling differences are gone; the y axis is what each
paper printed (labelled paper). The Pareto front (fewer MAccs, higher PSNR-µ) is drawn. EAPNet and
AHDR, which have no published Kalantari score, are placed by their MAccs as vertical lines, or as
measured points when the results store holds their PSNR-µ on a Kalantari data set (a folder whose
name says "kalantari").
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from bench.core import atomic_write_bytes
from bench.report.field import SIZES, counted
from bench.report.plots import LABEL_FONTSIZE, MEASURED_STYLE, PAPER_STYLE, pareto_front
from models.registry import list_models

X_SIZE = SIZES[0]  # 1500x1000
X_KEY = f"maccs_true_{X_SIZE[0]}x{X_SIZE[1]}"
OWN_MODELS = ("ahdr", "eapnet-standard", "eapnet-lightweight")  # the EAPNet paper's own rows


def field_points(field: dict) -> list[dict]:
    """Implemented networks with a published Kalantari PSNR-µ: label, x (G true MAccs), y (dB)."""
    return [
        {"label": r["row"], "x": r[X_KEY] / 1e9, "y": r["psnr_mu_paper"]}
        for r in field["rows"]
        if r.get(X_KEY) and r.get("psnr_mu_paper") is not None
    ]


def own_models(meas: Any) -> tuple[list[dict], list[dict]]:
    """EAPNet-family and AHDR models: (measured points on a Kalantari data set, vertical lines)."""
    on_kalantari = meas.data_set is not None and "kalantari" in meas.data_set.path.lower()
    names = [m for m in list_models() if m in OWN_MODELS or (m in meas.models() and m.startswith("eapnet-"))]
    points, lines = [], []
    for name in names:
        x = counted(name, *X_SIZE)["true"] / 1e9
        score = meas.measured_metrics(name).get("psnr_mu") if on_kalantari else None
        if score is not None:
            points.append({"label": name.removeprefix("eapnet-"), "x": x, "y": score})
        elif name in OWN_MODELS:
            lines.append({"label": name, "x": x})
    return points, lines


def render_field_plot(field: dict, meas: Any, out_dir: str | os.PathLike) -> list[Path]:
    """``field_psnr_mu_vs_gmaccs.png`` and ``.svg``; returns the files written."""
    import matplotlib  # deferred: matplotlib only when a plot is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: after matplotlib.use('Agg')

    paper = field_points(field)
    measured, lines = own_models(meas)
    fig, ax = plt.subplots(figsize=(7.2, 5.4))
    try:
        for series, style in (
            (paper, {**PAPER_STYLE, "label": "paper: Kalantari 2017 PSNR-µ"}),
            (measured, MEASURED_STYLE),
        ):
            if not series:
                continue
            ax.scatter(
                [p["x"] for p in series],
                [p["y"] for p in series],
                marker=style["marker"],
                color=style["color"],
                label=f"{style['label']} ({len(series)})",
                edgecolors="black",
                linewidths=0.4,
                zorder=3,
            )
            for p in series:
                ax.annotate(
                    p["label"],
                    (p["x"], p["y"]),
                    xytext=(4, 3),
                    textcoords="offset points",
                    fontsize=LABEL_FONTSIZE,
                )
        front = pareto_front(paper + measured)
        if len(front) > 1:
            ax.step(
                [p["x"] for p in front],
                [p["y"] for p in front],
                where="post",
                color="black",
                linestyle="--",
                linewidth=1.2,
                label="Pareto front",
                zorder=2,
            )
        for i, line in enumerate(lines):
            ax.axvline(line["x"], color="grey", linestyle=":", linewidth=1)
            ax.annotate(
                f"{line['label']} (no Kalantari score)",
                (line["x"], 0.02 + 0.45 * (i % 2)),  # neighbouring lines' labels at two heights
                xycoords=("data", "axes fraction"),
                rotation=90,
                fontsize=LABEL_FONTSIZE,
                color="grey",
                xytext=(2, 0),
                textcoords="offset points",
            )
        if paper or measured or lines:
            ax.set_xscale("log")
        missing = sum(
            r["model"] == "not implemented" and r.get("psnr_mu_paper") is not None for r in field["rows"]
        )
        ax.set_xlabel(f"our MAccs (G), `true` convention, {X_SIZE[0]}x{X_SIZE[1]}, log scale")
        ax.set_ylabel("PSNR-µ (dB), paper (Kalantari 2017 test set)")
        ax.set_title(
            f"the field, one counting convention ({missing} published networks not implemented here)",
            fontsize=9,
        )
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(
                fontsize=LABEL_FONTSIZE,
                loc="upper center",
                bbox_to_anchor=(0.5, -0.12),
                ncol=2,
                frameon=False,
            )
        fig.tight_layout()
        paths = []
        for ext in ("png", "svg"):
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, dpi=150 if ext == "png" else None, bbox_inches="tight")
            paths.append(atomic_write_bytes(Path(out_dir) / f"field_psnr_mu_vs_gmaccs.{ext}", buf.getvalue()))
        return paths
    finally:
        plt.close(fig)
