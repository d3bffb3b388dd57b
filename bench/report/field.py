"""The field table: the field's networks as published beside what this suite counts for them.

Per network of ``field_published.csv`` (the published figures, labelled *paper*): our parameters,
our MAccs under ``ntire`` and ``true`` at 1500x1000 and 1900x1060 (one meta pass each) and, for
every published MAC figure, the same figure recomputed from our implementation with the tool,
input and tiling the paper used (the tool's rules on our op-type parts:
:func:`bench.complexity.emulate`), with its difference from the printed number. A network that is
not registered keeps its paper numbers and says "not implemented".
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.complexity import COUNTING_TOOLS, build_meta_model, count, hdr_input_shapes, tool_parts
from bench.evaluation.predict import PAPER_PROTOCOLS, PAPER_TILE, paper_tile_count
from bench.report.tables import column
from models.registry import list_models, model_info

FIELD_CSV = Path(__file__).with_name("field_published.csv")
SIZES = ((1500, 1000), (1900, 1060))  # Kalantari 2017 and NTIRE 2022 frames
TILE = PAPER_TILE
# Networks whose papers scored Kalantari frames on 256x256 tiles (HDR-Transformer, SCTNet): the
# evaluation's own protocol table, so that eval and the cost recount cannot disagree.
TILED_INFERENCE = frozenset(name for name, protocol in PAPER_PROTOCOLS.items() if protocol == "tiles-256")
WITHIN = 1.0  # percent: a published figure counts as reproduced within this
KALANTARI = ("psnr_mu", "psnr_l", "ssim_mu", "ssim_l", "hdr_vdp2")
KALANTARI_LABELS = ("PSNR-µ", "PSNR-L", "SSIM-µ", "SSIM-L", "HDR-VDP-2")


@dataclass(frozen=True)
class PublishedFigure:
    """How one column of published MACs was counted: tool, input and tiling."""

    column: str  # of field_published.csv
    source: str
    tool: str  # a COUNTING_TOOLS name
    width: int
    height: int
    unit: float  # the column's unit (1e12: T)
    tiling: str  # "inference": the network's own (tiles for TILED_INFERENCE); "tile-area": one tile x area ratio; "none"


FIGURES = (
    PublishedFigure(
        "safnet_table_TMACs_thop_1500x1000", "SAFNet Table 2", "thop-legacy", 1500, 1000, 1e12, "inference"
    ),
    PublishedFigure(
        "sctnet_table_GMACs_torchinfo_1000x1500", "SCTNet Table 4", "torchinfo", 1500, 1000, 1e9, "tile-area"
    ),
    PublishedFigure(
        "measured_GMACs_torchinfo_3x256x256", "authors' code", "torchinfo", 256, 256, 1e9, "none"
    ),
    PublishedFigure("measured_GMACs_thop_3x256x256", "authors' code", "thop-legacy", 256, 256, 1e9, "none"),
    PublishedFigure("measured_GMACs_fvcore_3x256x256", "authors' code", "fvcore", 256, 256, 1e9, "none"),
)
# Figures printed outside the CSV's columns (its comment lines): network -> (GMAccs text, figure).
README_FIGURES = {
    "gsanet": (
        "199.388014513",
        PublishedFigure("readme", "GSANet readme.txt", "torchinfo", 1900, 1060, 1e9, "none"),
    ),
}
RUNTIMES = (
    ("safnet_table_time_s_A30_1500x1000", "A30, SAFNet Table 2"),
    ("sctnet_table_time_s_P6000", "P6000, SCTNet"),
)


def read_published(path: Path = FIELD_CSV) -> list[dict[str, str]]:
    """The CSV's rows (comment lines skipped), values as printed."""
    with open(path, newline="", encoding="utf-8") as f:
        lines = [line for line in f if line.strip() and not line.startswith("#")]
    return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(lines)]


@functools.lru_cache(maxsize=64)
def counted(model: str, width: int, height: int) -> dict[str, Any]:
    """One meta pass of a registered model (cached: counts depend only on the architecture)."""
    c = count(build_meta_model(model), hdr_input_shapes(width, height))
    return {
        "ntire": c["maccs_ntire"],
        "true": c["maccs_true"],
        "params": c["params_total"],
        "parts": tool_parts(c),
    }


def tool_total(model: str, width: int, height: int, tool: str) -> tuple[int, list]:
    """What ``tool`` prints for ``model`` at ``width`` x ``height`` and the terms beyond our conv MAccs."""
    return COUNTING_TOOLS.get(tool).explain(counted(model, width, height)["parts"])


def macs_text(maccs: float) -> str:
    return f"{maccs / 1e12:.3f} T" if maccs >= 1e12 else f"{maccs / 1e9:.2f} G"


def recount(model: str, fig: PublishedFigure) -> tuple[int, str, list]:
    """Our count by the figure's tool, input and tiling: (MAccs, how, the tool's terms)."""
    tiled = fig.tiling == "inference" and model in TILED_INFERENCE
    if tiled or fig.tiling == "tile-area":
        per_tile, terms = tool_total(model, TILE, TILE, fig.tool)
        if tiled:
            tiles = paper_tile_count(fig.height, fig.width)
            return tiles * per_tile, f"{fig.tool} on {tiles} tiles of {TILE}x{TILE}", terms
        ratio = fig.width * fig.height / TILE**2
        how = f"{fig.tool} on one {TILE}x{TILE} tile x {ratio:.2f} (area of {fig.width}x{fig.height})"
        return round(per_tile * ratio), how, terms
    total, terms = tool_total(model, fig.width, fig.height, fig.tool)
    where = "the full image" if fig.tiling == "inference" else "the input"
    return total, f"{fig.tool} on {where} {fig.width}x{fig.height}", terms


def explain_figure(model: str, fig: PublishedFigure, printed: str) -> dict[str, Any]:
    """One published figure recomputed from ours: the numbers, the difference and a sentence."""
    published = float(printed) * fig.unit
    ours, how, terms = recount(model, fig)
    diff = 100.0 * (ours - published) / published
    text = f"{fig.source}: {how} = {macs_text(ours)} vs {macs_text(published)} ({diff:+.2f}%)"
    if abs(diff) > WITHIN:
        big = sorted(terms, key=lambda t: -abs(t.maccs))[:2]
        why = "; ".join(f"{t.why}: {t.maccs / 1e9:+.2f} G at the counted size" for t in big)
        text += " not reproduced within 1%" + (f" ({why})" if why else "")
    return {
        "source": fig.source,
        "tool": fig.tool,
        "setting": how,
        "published": published,
        "ours": ours,
        "diff_percent": diff,
        "reproduced": abs(diff) <= WITHIN,
        "text": text,
    }


def _number(text: str, scale: float = 1.0) -> float | None:
    return float(text) * scale if text else None


def field_row(prow: dict[str, str], registered: set[str]) -> dict[str, Any]:
    name = prow["model"]
    row: dict[str, Any] = {
        "row": name,
        "venue": prow.get("venue", ""),
        "code": prow.get("code", ""),
        "params_paper": _number(prow.get("params_published_M", ""), 1e6),
        "params_code_paper": _number(prow.get("params_official_code", "")),
        "psnr_mu_paper": _number(prow.get("kalantari_psnr_mu", "")),
    }
    for key in KALANTARI[1:]:
        row[f"{key}_paper"] = _number(prow.get(f"kalantari_{key}", ""))
    printed = [(fig, prow.get(fig.column, "")) for fig in FIGURES if prow.get(fig.column)]
    if name in README_FIGURES:
        text, fig = README_FIGURES[name]
        printed.append((fig, text))
    row["published_macs"] = "; ".join(
        f"{macs_text(float(v) * fig.unit)} ({fig.tool.removesuffix('-legacy')}, {fig.width}x{fig.height}, {fig.source})"
        for fig, v in printed
    )
    row["runtime_paper"] = "; ".join(f"{prow[c]} s ({where})" for c, where in RUNTIMES if prow.get(c))
    if name not in registered:
        row.update(model="not implemented", explanation="", figures=[])
        return row
    row["model"] = name
    try:
        counted(name, *SIZES[0])
    except Exception as exc:  # noqa: BLE001 (a model that cannot be counted is a cell, not a failed report)
        row.update(explanation=f"not counted: {type(exc).__name__}: {exc}".splitlines()[0][:200], figures=[])
        return row
    row["params_measured"] = counted(name, *SIZES[0])["params"]
    for w, h in SIZES:
        c = counted(name, w, h)
        for convention in ("ntire", "true"):
            row[f"maccs_{convention}_{w}x{h}"] = c[convention]
    row["figures"] = [explain_figure(name, fig, v) for fig, v in printed]
    row["explanation"] = "; ".join(f["text"] for f in row["figures"])
    return row


def field_columns() -> list[dict]:
    cols = [
        column("row", "Network", "paper"),
        column("venue", "Venue", "paper"),
        column("model", "Our model", "info"),
        column("params_paper", "Params (k), published", "paper", "params"),
        column("params_code_paper", "Params (k), authors' code", "paper", "params"),
        column("params_measured", "Params (k)", "measured", "params"),
    ]
    cols.append(column("psnr_mu_paper", "Kalantari PSNR-µ", "paper", "psnr_mu"))
    cols += [
        column(f"{k}_paper", f"Kalantari {lab}", "paper")
        for k, lab in zip(KALANTARI[1:], KALANTARI_LABELS[1:], strict=True)
    ]
    cols += [
        column("published_macs", "MACs (tool, input, table)", "paper"),
        column("runtime_paper", "Runtime", "paper"),
    ]
    for w, h in SIZES:
        for convention in ("ntire", "true"):
            cols.append(
                column(f"maccs_{convention}_{w}x{h}", f"MAccs (G) {convention} {w}x{h}", "measured", "maccs")
            )
    cols.append(column("explanation", "Published MACs recomputed from ours", "measured"))
    return cols


def build_field_table(path: Path = FIELD_CSV) -> dict[str, Any]:
    """The field table, in the shape of Tables 1-6 (:func:`bench.report.tables.build_table`)."""
    registered = set(list_models())
    rows = [field_row(p, registered) for p in read_published(path)]
    # A registered field network the CSV has no published figures for still gets its measured row.
    listed = {r["row"] for r in rows}
    extra = [n for n in list_models(family="field") if n not in listed]
    rows += [field_row({"model": n, "code": model_info(n).description}, registered) for n in extra]
    figures = [f for r in rows for f in r.get("figures", [])]
    reproduced = sum(f["reproduced"] for f in figures)
    return {
        "number": "field",
        "heading": "Field table",
        "title": "the field's networks, published (paper) and counted here (measured)",
        "caption": (
            "Paper columns as printed (Kalantari 2017 test set; 'thop' and 'torchinfo' return MACs although "
            "papers call them FLOPs). Measured: our implementation on meta tensors, `ntire` = torchinfo 1.6, "
            "`true` = real multiply-accumulates (attention and linear layers over all tokens)."
        ),
        "columns": field_columns(),
        "rows": rows,
        "notes": [
            f"{reproduced} of {len(figures)} published MAC figures of the implemented networks reproduced within "
            f"{WITHIN:g}% by counting ours with the paper's tool, input and tiling.",
            "thop-legacy = thop as those papers ran it (module hooks only: no functional matmul, transposed "
            "convs on their output size); tiled networks ("
            + ", ".join(sorted(TILED_INFERENCE))
            + f") run {TILE}x{TILE} tiles on Kalantari frames, as their test code does.",
        ],
    }
