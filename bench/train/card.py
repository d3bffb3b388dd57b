"""A model card (Markdown) for a trained run: data, recipe, hardware, held-out scores, learning curve.

    python -m bench.train.card --run RUN --eval eval.json [--eval more.json] \
        --train-data DIR --val-data DIR --out CARD.md [--plot CURVE.png] [--weights FILE]

Everything in the card is read from files the suite wrote (``RUN/summary.json``, ``RUN/config.json``,
``RUN/log.csv``, eval JSON records, the data sets' ``manifest.json``), so the card cannot disagree
with the run it describes.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

from bench.core import UsageError, atomic_write_bytes, atomic_write_text
from bench.spec.weights import WeightsRef

# The paper's recipe (protocol section 5), to list where a run deviates from it.
PAPER_RECIPE = {
    "batch": 32,
    "patch": 256,
    "stride": 128,
    "lr": 8e-4,
    "lr_decay": 0.75,
    "lr_step": 100_000,
    "warmup": 1000,
    "loss": "mu_tanh",
    "ema_every": 5000,
    "ema_decay": 0.5,
    "flips": False,
    "amp": False,
}


def _read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def _manifest(data_dir: str | Path | None) -> dict[str, Any]:
    if not data_dir:
        return {}
    p = Path(data_dir) / "manifest.json"
    return _read_json(p) if p.is_file() else {}


def _scenes(manifest: dict[str, Any]) -> list[str]:
    return sorted({s.get("source", "?") for s in manifest.get("samples", [])})


def _read_log(run_dir: Path) -> list[dict[str, str]]:
    p = run_dir / "log.csv"
    if not p.is_file():
        return []
    with p.open(newline="") as fh:
        return list(csv.DictReader(fh))


def plot_curve(rows: list[dict[str, str]], path: str | Path, title: str) -> Path | None:
    """Training loss (and validation PSNR-µ, if logged) against iterations, as a PNG."""
    if not rows:
        return None

    try:
        import matplotlib  # deferred: only the loss curve needs it (~0.5 s); optional here
    except ImportError:  # the card still has the table of the log
        return None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: after matplotlib.use('Agg')

    its = [int(r["iteration"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    ax.plot(its, [float(r["loss"]) for r in rows], color="tab:blue", lw=1.2)
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss", color="tab:blue")
    ax.set_yscale("log")
    val = [(int(r["iteration"]), float(r["val_psnr_mu"])) for r in rows if r.get("val_psnr_mu")]
    if val:
        ax2 = ax.twinx()
        ax2.plot([v[0] for v in val], [v[1] for v in val], "o-", color="tab:red", ms=3, lw=1)
        ax2.set_ylabel("held-out PSNR-µ (dB), EMA", color="tab:red")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def _f(x: Any, nd: int = 2) -> str:
    return "-" if x is None or x == "" else f"{float(x):.{nd}f}"


def model_card(
    run_dir: str | Path,
    evals: list[dict[str, Any]],
    train_data: str | Path | None = None,
    val_data: str | Path | None = None,
    weights_file: str | Path | None = None,
    plot_name: str | None = None,
) -> str:
    """The card's Markdown text."""
    run = Path(run_dir)
    summary = _read_json(run / "summary.json")
    cfg = _read_json(run / "config.json")
    rows = _read_log(run)
    train_m, val_m = _manifest(train_data), _manifest(val_data)
    name = summary["model"]
    # A given file, checkpoint sidecar or run folder resolves as for every command (a missing one is an error).
    weights = WeightsRef.resolve(weights_file).path if weights_file else run / "ema.safetensors"
    sha = hashlib.sha256(weights.read_bytes()).hexdigest() if weights.is_file() else None

    by_model = {e["model"]: e for e in evals}
    own = by_model.get(name)
    ref = by_model.get("ref-frame")
    lines = [f"# {name}: weights trained by eapbench (draft card)", ""]
    if own and ref and own["psnr_mu"] is not None and ref["psnr_mu"] is not None:
        delta = own["psnr_mu"] - ref["psnr_mu"]
        verdict = "beats" if delta > 0 else "does **not** beat"
        lines += [
            f"**Held-out result:** the EMA model {verdict} the `ref-frame` reference in PSNR-µ "
            f"({own['psnr_mu']:.2f} dB vs {ref['psnr_mu']:.2f} dB, {delta:+.2f} dB) on "
            f"{own['n_images']} held-out images.",
            "",
        ]
    lines += [
        "These weights come from a short run on simulated data. They demonstrate the training and evaluation "
        "pipeline; they are **not** the paper's model and their scores are not comparable with the paper's "
        "NTIRE 2022 numbers (different data, a tiny fraction of the paper's iterations).",
        "",
        "## Weights",
        "",
        f"- file: `{weights.name}` ({weights.stat().st_size / 1e6:.2f} MB, safetensors; sha256 `{sha}`)"
        if sha
        else f"- file: `{weights.name}`",
        f"- the EMA copy of the model after {summary['iters']} iterations ({summary['ema_updates']} EMA updates, "
        f"every {summary['ema_every']} steps with decay {summary['ema_decay']})",
        f"- {summary['params']:,} trainable parameters",
        "",
        "## Data",
        "",
    ]
    if train_m:
        lines.append(
            f"- training: {len(train_m.get('samples', []))} triplets simulated by `run_bench.py make-data "
            f"--from-hdr` from {len(_scenes(train_m))} CC0 Poly Haven radiance maps "
            f"({', '.join(_scenes(train_m))}); size {train_m.get('size')}, EVs {train_m.get('evs')}, "
            f"seed {train_m.get('seed')}; {summary['n_patches']} patches of {cfg['patch']} px at stride {cfg['stride']}"
        )
    else:
        lines.append(f"- training: `{cfg['data']}` ({summary['n_patches']} patches of {cfg['patch']} px)")
    if val_m:
        lines.append(
            f"- held out (never trained on): {len(val_m.get('samples', []))} triplets from "
            f"{', '.join(_scenes(val_m))}; size {val_m.get('size')}, seed {val_m.get('seed')}"
        )
    for m, label in ((train_m, "training"), (val_m, "held-out")):
        if m.get("noise"):
            lines.append(
                f"- {label} sensor model (eq. 1): {json.dumps(m['noise'])}; motion: {m.get('motion')}"
            )
    lines += ["- data-manifest hash of the training set: `" + str(summary.get("data_hash")) + "`", ""]

    lines += [
        "## Training",
        "",
        f"- hardware: {summary.get('device_name', summary['device'])} x{summary['world_size']}, "
        f"torch {summary.get('torch_version', '?')}, AMP (bf16): {summary.get('amp')}",
        f"- {summary['iters']} iterations in {summary['seconds'] / 60:.1f} min (stopped by: {summary['stopped']}); "
        f"final training loss {summary['final_loss']:.5f}",
        f"- recipe: batch {cfg['batch']}, Adam lr {cfg['lr']:g}, warm-up {cfg['warmup']} steps, x{cfg['lr_decay']} "
        f"every {cfg['lr_step']} iterations, loss `{cfg['loss']}`, EMA every {cfg['ema_every']} steps with "
        f"decay {cfg['ema_decay']}, flips {cfg['flips']}, seed {cfg['seed']}",
    ]
    changed = [f"{k} {cfg.get(k)!r} (paper: {v!r})" for k, v in PAPER_RECIPE.items() if cfg.get(k) != v]
    if changed:
        lines.append(
            "- deviations from the paper's recipe: " + "; ".join(changed) + ". The paper's EMA (every 5k "
            "steps, decay 0.5) and lr schedule (x0.75 every 100k) span a 10-million-iteration run; for a run "
            "of a few thousand iterations they were scaled down so that the EMA averages the last ~100 "
            "steps and the learning rate decays during the run."
        )
    lines += [
        "",
        "## Held-out scores",
        "",
        "Mean of per-image dB values (NTIRE definitions, `bench/metrics`), scored in memory.",
        "",
        "| model | images | failed | PSNR (dB) | PSNR-µ (dB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for e in evals:
        lines.append(
            f"| {e['model']} | {e['n_images']} | {e['n_failed']} | {_f(e['psnr'])} | {_f(e['psnr_mu'])} |"
        )
    if own and own.get("per_image"):
        others = [e for e in evals if e is not own]
        lines += [
            "",
            "Per image (PSNR-µ, dB):",
            "",
            "| id | " + " | ".join([name] + [e["model"] for e in others]) + " |",
            "|---|" + "---:|" * (1 + len(others)),
        ]
        per = {e["model"]: {p["id"]: p for p in e["per_image"]} for e in evals}
        for p in own["per_image"]:
            vals = [_f(p["psnr_mu"])] + [_f(per[e["model"]].get(p["id"], {}).get("psnr_mu")) for e in others]
            lines.append(f"| {p['id']} | " + " | ".join(vals) + " |")
    lines += ["", "## Learning curve", ""]
    if plot_name:
        lines += [f"![learning curve]({plot_name})", ""]
    if rows:
        # Rows with a held-out score if there are any (they carry the learning curve), else ~12 evenly spaced.
        picked = [r for r in rows if r.get("val_psnr_mu")]
        if not picked:
            step = max(1, len(rows) // 12)
            picked = rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else [])
        if len(picked) > 16:
            picked = picked[:: len(picked) // 16 + 1] + [picked[-1]]
        lines += ["| iteration | loss | lr | held-out PSNR-µ (EMA) | it/s |", "|---:|---:|---:|---:|---:|"]
        for r in picked:
            lines.append(
                f"| {r['iteration']} | {float(r['loss']):.5f} | {float(r['lr']):.2e} | "
                f"{_f(r.get('val_psnr_mu'))} | {_f(r.get('it_per_s'), 1)} |"
            )
    lines += [
        "",
        "## Reproduce",
        "",
        "`scripts/gpu_train.sh HDR_DIR OUT_DIR MINUTES` (see docs/training.md, section 'Reproduce on a GPU').",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="write a Markdown model card for a training run")
    p.add_argument("--run", required=True)
    p.add_argument("--eval", action="append", default=[], help="eval JSON (a record or a list); repeatable")
    p.add_argument("--train-data")
    p.add_argument("--val-data")
    p.add_argument(
        "--weights",
        help="the weights the card describes: a file, a checkpoint or a run folder (default: RUN/ema.safetensors)",
    )
    p.add_argument("--out", required=True)
    p.add_argument(
        "--plot", help="also write the learning curve PNG here (linked from the card by file name)"
    )
    args = p.parse_args(argv)
    evals: list[dict] = []
    for path in args.eval:
        data = _read_json(path)
        evals.extend(data if isinstance(data, list) else [data])
    plot_name = None
    if args.plot:
        run = Path(args.run)
        if plot_curve(_read_log(run), args.plot, f"{_read_json(run / 'summary.json')['model']} training"):
            plot_name = Path(args.plot).name
    try:
        text = model_card(args.run, evals, args.train_data, args.val_data, args.weights, plot_name)
    except UsageError as exc:
        print(f"model card: error: {exc}", file=sys.stderr)
        return 2
    atomic_write_text(args.out, text)
    print(f"model card: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
