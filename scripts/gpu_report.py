"""The output folder of scripts/gpu_timing.py: timing, numerics and memory tables, the runtime plot.

Everything is rewritten from the run's summary after every step (a cut-off run keeps what it
finished). Files, under ``OUT/<card-slug>/``: ``timing.md|csv|json``, ``numerics.md|csv``,
``memory.md|csv``, ``runtime_vs_maccs.png``; the raw JSON of every step is under ``raw/``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

PAPER_V100_S = {"eapnet-standard": 0.24, "eapnet-lightweight": 0.15}  # the paper, V100, padded 1920x1080
TIMING_FIELDS = (
    "model", "backend", "precision", "mode", "median_s", "p10_s", "p90_s", "cv", "runs", "compile_s",
    "peak_memory_bytes", "rel_l2_error", "rel_l2_bound", "maccs", "floor_s", "floor_bound", "floor_fraction",
    "roofline_source", "status", "error", "step",
)  # fmt: skip
VERSION_KEYS = (
    ("card", "card"), ("driver", "driver"), ("CUDA", "cuda_version"), ("cuDNN", "cudnn_version"),
    ("torch", "torch_version"), ("torch-tensorrt", "torch_tensorrt_version"), ("TensorRT", "tensorrt_version"),
)  # fmt: skip


def ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e3:.1f}"


def mib(x: float | None) -> str:
    return "-" if x is None else f"{x / 2**20:.0f}"


def version_line(versions: dict | None) -> str:
    if not versions:
        return ""
    return " | ".join(f"{label} {versions.get(key) or '-'}" for label, key in VERSION_KEYS)


def status_text(r: dict) -> str:
    status = r.get("status", "-")
    if status != "ok":
        why = r.get("error") or "; ".join(r.get("warnings", []))
        status = f"{status}: {why}"[:120].replace("|", "/")
    return status


def timing_markdown(
    card: str, records: list[dict], calibration: dict | None, notes: list[str], versions: dict | None = None
) -> str:
    """The timing table, headed by the card (and, given ``versions``, driver, CUDA, cuDNN, torch, TensorRT)."""
    r0 = next((r for r in records if r.get("torch_version")), {})
    head = [f"# Inference time on {card}", ""]
    if versions:
        head += [version_line(versions), ""]
    head += [
        f"{r0.get('width', '?')}x{r0.get('height', '?')} input"
        + (f" (replicate-padded from {r0['pad_from']}, output cropped back)" if r0.get("pad_from") else "")
        + ", batch 1, "
        f"torch {r0.get('torch_version')}, CUDA {r0.get('cuda_version')}, cuDNN {r0.get('cudnn_version')}. "
        + ("CUDA events" if str(r0.get("device", "")).startswith("cuda") else "time.perf_counter")
        + " around the forward only; warm-up excluded; compile time reported separately. "
        "rel L2: output vs eager fp32 with TF32 off on the same input. Floor: roofline "
        "max(2 x MAccs / peak, (weights + activations) bytes / bandwidth), ceilings from "
        f"{r0.get('roofline_source') or 'no known source'}; 'of floor' = floor / median.",
        "",
        "| model | backend | precision | median ms | p10-p90 ms | CV | runs | compile s | peak MiB | rel L2 "
        "| floor ms | of floor | paper (V100) ms | status | mode |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    lines = head
    for r in records:
        paper_setting = (r.get("backend"), r.get("precision"), r.get("width"), r.get("height")) == (
            "eager", "fp32", 1920, 1080,
        )  # fmt: skip
        paper = PAPER_V100_S.get(r["model"]) if paper_setting else None
        lines.append(
            f"| {r['model']} | {r.get('backend')} | {r.get('precision')} | {ms(r.get('median_s'))} "
            + (f"| {ms(r.get('p10_s'))}-{ms(r.get('p90_s'))} | " if r.get("p10_s") is not None else "| - | ")
            + ("-" if r.get("cv") is None else f"{r['cv']:.1%}")
            + f" | {r.get('runs', '-')} | "
            + ("-" if r.get("compile_s") is None else f"{r['compile_s']:.1f}")
            + f" | {mib(r.get('peak_memory_bytes'))} | "
            + ("-" if r.get("rel_l2_error") is None else f"{r['rel_l2_error']:.1e}")
            + f" | {ms(r.get('floor_s'))} | "
            + ("-" if r.get("floor_fraction") is None else f"{r['floor_fraction']:.1%}")
            + f" | {ms(paper)} | {status_text(r)} | {r.get('mode') or '-'} |"
        )
    if calibration:
        flops = ", ".join(
            f"{k} {v / 1e12:.3g} TFLOP/s" for k, v in calibration.get("peak_flops", {}).items() if v
        )
        lines += [
            "",
            f"Measured ceilings (calibrate): copy {calibration['bandwidth_Bps'] / 1e12:.3g} TB/s; matmul {flops}.",
        ]
    if notes:
        lines += ["", "Notes:", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def to_csv(rows: list[dict], fields: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k) for k in fields})
    return buf.getvalue()


def numerics_rows(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """Per record (error vs bound) and per precision (largest error, bound, whether the bound fits)."""
    rows = [
        {
            "model": r["model"],
            "backend": r.get("backend"),
            "precision": r.get("precision"),
            "mode": r.get("mode") or "",
            "rel_l2_error": r["rel_l2_error"],
            "rel_l2_bound": r.get("rel_l2_bound"),
            "within": r.get("rel_l2_bound") is not None and r["rel_l2_error"] <= r["rel_l2_bound"],
        }  # fmt: skip
        for r in records
        if r.get("rel_l2_error") is not None
    ]
    summary = []
    for prec in sorted({row["precision"] for row in rows}):
        errs = [row for row in rows if row["precision"] == prec]
        worst = max(errs, key=lambda row: row["rel_l2_error"])
        bound = worst["rel_l2_bound"]
        summary.append(
            {
                "precision": prec,
                "configurations": len(errs),
                "max_rel_l2_error": worst["rel_l2_error"],
                "worst": f"{worst['model']} {worst['backend']} {worst['mode']}".strip(),
                "rel_l2_bound": bound,
                "bound_fits": all(row["within"] for row in errs),
                "headroom": None if not worst["rel_l2_error"] else bound / worst["rel_l2_error"],
            }  # fmt: skip
        )
    return rows, summary


def numerics_markdown(card: str, records: list[dict]) -> str:
    rows, summary = numerics_rows(records)
    lines = [
        f"# Numerics on {card}: relative L2 error vs eager fp32 (TF32 off), same input", "",
        "| precision | configurations | largest error | where | bound | bound fits | bound / largest |",
        "|---|---:|---:|---|---:|---|---:|",
    ]  # fmt: skip
    for s in summary:
        lines.append(
            f"| {s['precision']} | {s['configurations']} | {s['max_rel_l2_error']:.2e} | {s['worst']} "
            f"| {s['rel_l2_bound']:g} | {'yes' if s['bound_fits'] else 'NO'} | "
            + ("-" if s["headroom"] is None else f"{s['headroom']:.1f}x")
            + " |"
        )
    lines += [
        "",
        "| model | backend | precision | mode | rel L2 | bound | within |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['backend']} | {r['precision']} | {r['mode'] or '-'} | {r['rel_l2_error']:.2e} "
            f"| {r['rel_l2_bound']:g} | {'yes' if r['within'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def memory_rows(records: list[dict], profile: list[dict] | None) -> list[dict]:
    """Per model: the profiler's fp32 estimate beside the measured peaks of each configuration."""
    estimate = {p["model"]: p for p in profile or []}
    rows = []
    for model in dict.fromkeys(r["model"] for r in records):
        measured = {
            f"{r.get('backend')} {r.get('precision')} {r.get('mode') or ''}".strip(): r["peak_memory_bytes"]
            for r in records
            if r["model"] == model and r.get("peak_memory_bytes") is not None
        }
        est = estimate.get(model, {})
        ref = next(
            (v for k, v in measured.items() if k.startswith("eager fp32") and "TF32 off" in k),
            next((v for k, v in measured.items() if k.startswith("eager fp32")), None),
        )
        est_bytes = est.get("peak_memory_bytes")
        rows.append(
            {
                "model": model,
                "estimate_bytes": est_bytes,
                "weights_bytes": 4 * (est.get("params") or 0) or None,
                "measured_eager_fp32_bytes": ref,
                "measured_over_estimate": ref / est_bytes if ref and est_bytes else None,
                "measured": measured,
            }  # fmt: skip
        )
    return rows


def memory_markdown(card: str, records: list[dict], profile: list[dict] | None, rehearsal: bool) -> str:
    what = "RSS growth of a fresh process" if rehearsal else "torch.cuda.max_memory_allocated"
    lines = [
        f"# Peak memory on {card}: measured vs the profiler's estimate", "",
        f"Measured: {what} during the timed forwards, above the loaded model and input. Estimate: "
        "`run_bench.py profile` (fp32, weights + input + peak live activations), so measured/estimate "
        "below 1 by about the weights and input is expected.", "",
        "| model | estimate MiB | weights MiB | measured eager fp32 MiB | measured / estimate | other configurations (MiB) |",
        "|---|---:|---:|---:|---:|---|",
    ]  # fmt: skip
    for r in memory_rows(records, profile):
        others = ", ".join(f"{k} {mib(v)}" for k, v in r["measured"].items()) or "-"
        ratio = r["measured_over_estimate"]
        lines.append(
            f"| {r['model']} | {mib(r['estimate_bytes'])} | {mib(r['weights_bytes'])} "
            f"| {mib(r['measured_eager_fp32_bytes'])} | {'-' if ratio is None else f'{ratio:.2f}'} | {others} |"
        )
    return "\n".join(lines) + "\n"


def runtime_plot(card: str, records: list[dict], path: Path) -> Path | None:
    """Median runtime against MAccs, one series per backend/precision/mode; None when nothing is timed."""
    points = [r for r in records if r.get("median_s") and r.get("maccs") and r.get("status") == "ok"]
    if not points:
        return None
    import matplotlib  # the plot only: tables never need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    try:
        series: dict[str, list[dict]] = {}
        for r in points:
            series.setdefault(f"{r['backend']} {r['precision']} {r.get('mode') or ''}".strip(), []).append(r)
        for label, rs in series.items():
            ax.plot([r["maccs"] / 1e9 for r in rs], [r["median_s"] * 1e3 for r in rs], "o", label=label)
            for r in rs:
                ax.annotate(r["model"].removeprefix("eapnet-"), (r["maccs"] / 1e9, r["median_s"] * 1e3),
                            fontsize=6, xytext=(3, 2), textcoords="offset points")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("GMAccs at the timed size (true convention)")
        ax.set_ylabel("median forward time (ms)")
        ax.set_title(f"Runtime vs MAccs on {card}", fontsize=10)
        ax.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(path, dpi=150)
    finally:
        plt.close(fig)
    return path


def write_card_folder(folder: Path, summary: dict[str, Any]) -> list[Path]:
    """All tables and the plot from the run's summary (see scripts/gpu_timing.py); returns the files."""
    from bench.core import atomic_write_text, write_json  # bench is on sys.path via gpu_timing

    card, records = summary["card"], summary["records"]
    rehearsal = summary.get("rehearsal", False)
    files = [
        write_json(folder / "timing.json", summary),
        atomic_write_text(
            folder / "timing.md",
            timing_markdown(card, records, summary.get("calibration"), summary["notes"], summary["versions"]),
        ),
        atomic_write_text(folder / "timing.csv", to_csv(records, TIMING_FIELDS)),
        atomic_write_text(folder / "numerics.md", numerics_markdown(card, records)),
        atomic_write_text(
            folder / "numerics.csv",
            to_csv(
                numerics_rows(records)[0],
                ("model", "backend", "precision", "mode", "rel_l2_error", "rel_l2_bound", "within"),
            ),
        ),
        atomic_write_text(
            folder / "memory.md", memory_markdown(card, records, summary.get("profile"), rehearsal)
        ),
        atomic_write_text(
            folder / "memory.csv",
            to_csv(
                memory_rows(records, summary.get("profile")),
                (
                    "model",
                    "estimate_bytes",
                    "weights_bytes",
                    "measured_eager_fp32_bytes",
                    "measured_over_estimate",
                ),
            ),
        ),  # fmt: skip
    ]
    plot = runtime_plot(card, records, folder / "runtime_vs_maccs.png")
    return [Path(f) for f in files] + ([plot] if plot else [])
