#!/usr/bin/env python3
"""One prepared GPU timing run: EAPNet standard / lightweight and AHDR at 1920x1080 on one CUDA card.

    python scripts/gpu_timing.py --out OUT_DIR [--budget-s 225]
    python scripts/gpu_timing.py --out /tmp/rehearsal --device cpu --size 64x48 --repeat 2 --no-store  # rehearsal

It needs only the runtime dependencies (torch, torchvision, numpy, opencv): the profilers of the
``dev`` extra (torchinfo, fvcore, thop, ptflops) are never imported on this path.

Steps, in order of importance, under one wall-clock budget (default 225 s, fits a ~4-minute slot):

1. ``calibrate --device cuda``: measured copy bandwidth and matmul rates (roofline ceilings);
2. ``time`` eager fp32 for the three models (the paper's setting: padded from 1900x1060);
3. ``time --backend compile --precision fp16``;
4. ``time --backend tensorrt --precision fp16`` if torch_tensorrt imports (else one line, recorded).

Each step is a child process with its own timeout (killed with its process group when it runs
over), so one slow compile or crashing backend costs only its own rows; ``time --json`` rewrites
its file after every model, so a killed step keeps the models it finished. Writes
``OUT/gpu_timing.json`` (every record, the calibration, what failed and why) and
``OUT/gpu_timing.md`` (the table, headed by the card's name). Exit 0 when it wrote both files.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MODELS = ("eapnet-lightweight", "eapnet-standard", "ahdr")  # cheapest first: a timeout loses the costliest
# (backend, precision, share of the remaining budget this step may use)
STEPS = (("eager", "fp32", 0.30), ("compile", "fp16", 0.60), ("tensorrt", "fp16", 1.0))
PAPER_V100_S = {"eapnet-standard": 0.24, "eapnet-lightweight": 0.15}  # the paper, V100, padded 1920x1080


def run_step(argv: list[str], timeout_s: float, log: Path) -> tuple[int | None, float]:
    """Run ``run_bench.py ARGV`` with a timeout; returns (exit code or None on timeout, seconds)."""
    t0 = time.perf_counter()
    env = {**os.environ, "EAPBENCH_NO_PROGRESS": "1", "PYTHONUNBUFFERED": "1"}
    with open(log, "a") as fh:
        fh.write(f"\n$ run_bench.py {' '.join(argv)}  (timeout {timeout_s:.0f} s)\n")
        fh.flush()
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "run_bench.py"), *argv],
            cwd=REPO,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=max(timeout_s, 1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the child and the compile workers it started
            proc.wait()
            rc = None
    return rc, time.perf_counter() - t0


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def ms(x) -> str:
    return "-" if x is None else f"{x * 1e3:.1f}"


def markdown(card: str, records: list[dict], calibration: dict | None, notes: list[str]) -> str:
    r0 = next((r for r in records if r.get("torch_version")), {})
    lines = [
        f"# Inference time on {card}",
        "",
        f"{r0.get('width', '?')}x{r0.get('height', '?')} input"
        + (f" (replicate-padded from {r0['pad_from']}, output cropped back)" if r0.get("pad_from") else "")
        + ", batch 1, "
        f"torch {r0.get('torch_version')}, CUDA {r0.get('cuda_version')}, cuDNN {r0.get('cudnn_version')}. "
        + ("CUDA events" if str(r0.get("device", "")).startswith("cuda") else "time.perf_counter")
        + " around the forward only; warm-up excluded; compile time reported separately. "
        "rel L2: output vs eager fp32 with TF32 off on the same input. Floor: roofline "
        "max(2 x MAccs / peak, (weights + activations) bytes / bandwidth), ceilings from "
        f"{r0.get('roofline_source') or 'no known source'}.",
        "",
        "| model | backend | precision | median ms | p10-p90 ms | CV | runs | compile s | peak MiB | rel L2 "
        "| floor ms | of floor | paper (V100) ms | status |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in records:
        mem = r.get("peak_memory_bytes")
        status = r.get("status", "-")
        if status != "ok":
            status = f"{status}: {r.get('error', '; '.join(r.get('warnings', [])))}"[:120].replace("|", "/")
        paper_setting = (r.get("backend"), r.get("precision"), r.get("width"), r.get("height")) == (
            "eager",
            "fp32",
            1920,
            1080,
        )
        paper = PAPER_V100_S.get(r["model"]) if paper_setting else None
        lines.append(
            f"| {r['model']} | {r.get('backend')} | {r.get('precision')} | {ms(r.get('median_s'))} "
            + (f"| {ms(r.get('p10_s'))}-{ms(r.get('p90_s'))} | " if r.get("p10_s") is not None else "| - | ")
            + ("-" if r.get("cv") is None else f"{r['cv']:.1%}")
            + f" | {r.get('runs', '-')} | "
            + ("-" if r.get("compile_s") is None else f"{r['compile_s']:.1f}")
            + " | "
            + ("-" if mem is None else f"{mem / 2**20:.0f}")
            + " | "
            + ("-" if r.get("rel_l2_error") is None else f"{r['rel_l2_error']:.1e}")
            + f" | {ms(r.get('floor_s'))} | "
            + ("-" if r.get("floor_fraction") is None else f"{r['floor_fraction']:.1%}")
            + f" | {ms(paper)} | {status} |"
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument(
        "--budget-s", type=float, default=225.0, help="wall-clock budget for all steps (default 225)"
    )
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument(
        "--device", default="cuda", help="cuda (default); cpu only to rehearse the script at a tiny --size"
    )
    ap.add_argument(
        "--size", default="1920x1080", help="timed size (default 1920x1080, padded from 1900x1060)"
    )
    ap.add_argument(
        "--no-store",
        action="store_true",
        help="leave the results database alone (a rehearsal); by default every time is stored",
    )
    args = ap.parse_args()

    import torch

    from bench.core import atomic_write_text, write_json

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu_timing: no CUDA device (torch {torch.__version__}); nothing to do", file=sys.stderr)
        return 2
    from bench.timing import device_name, resolve_device

    card = device_name(resolve_device(args.device))
    deadline = time.perf_counter() + args.budget_s
    log = out / "gpu_timing.log"
    notes: list[str] = []
    models = [m.strip() for m in args.models.split(",") if m.strip()]

    cal_path = out / "calibration.json"
    big = args.device.startswith("cuda")
    rc, secs = run_step(
        [
            "calibrate",
            "--device",
            args.device,
            "--copy-mib",
            "1024" if big else "64",
            "--matmul-n",
            "8192" if big else "512",
            "--repeat",
            "5",
            "--no-save",
            "--json",
            str(cal_path),
        ],
        min(40.0, deadline - time.perf_counter()),
        log,
    )
    calibration = read_json(cal_path)
    if calibration is None:
        notes.append(f"calibrate failed (exit {rc}, {secs:.0f} s): see gpu_timing.log")

    records: list[dict] = []
    # --force: always measure; a stored result from an earlier run is never passed off as this card's.
    common = [
        "--device",
        args.device,
        "--size",
        args.size,
        "--pad-from",
        "auto",
        "--warmup",
        str(args.warmup),
        "--repeat",
        str(args.repeat),
        "--no-store" if args.no_store else "--force",
    ]
    trt = importlib.util.find_spec("torch_tensorrt") is not None
    runnable = [s for s in STEPS if s[0] != "tensorrt" or trt]
    for backend, precision, share in STEPS:
        if (backend, precision, share) == runnable[-1]:
            share = 1.0  # the last step that can run gets whatever budget is left
        base = {
            "device": args.device,
            "device_name": card,
            "backend": backend,
            "precision": precision,
            "size": args.size,
            "median_s": None,
            "warnings": [],
        }
        if backend == "tensorrt" and not trt:
            notes.append(
                "TensorRT not timed: torch_tensorrt is not installed here (pip install 'eapbench[tensorrt]')"
            )
            records += [
                {**base, "model": m, "status": "skipped", "error": "torch_tensorrt not installed"}
                for m in models
            ]
            continue
        left = deadline - time.perf_counter()
        if left < 15:
            records += [{**base, "model": m, "status": "skipped", "error": "budget spent"} for m in models]
            continue
        path = out / f"time-{backend}-{precision}.json"
        rc, secs = run_step(
            [
                "time",
                "--models",
                ",".join(models),
                "--backend",
                backend,
                "--precision",
                precision,
                *common,
                "--json",
                str(path),
            ],
            left * share,
            log,
        )
        got = read_json(path) or []
        records += got
        done = {r["model"] for r in got}
        why = "timeout" if rc is None else f"exit {rc}"
        for m in models:
            if m not in done:
                records.append(
                    {
                        **base,
                        "model": m,
                        "status": "error",
                        "error": f"not finished ({why} after {secs:.0f} s)",
                    }
                )
        if rc not in (0, 1):
            notes.append(
                f"{backend} {precision}: step ended with {why} after {secs:.0f} s; see gpu_timing.log"
            )

    summary = {
        "card": card,
        "budget_s": args.budget_s,
        "records": records,
        "calibration": calibration,
        "notes": notes,
    }
    write_json(out / "gpu_timing.json", summary)
    atomic_write_text(out / "gpu_timing.md", markdown(card, records, calibration, notes))
    print((out / "gpu_timing.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
