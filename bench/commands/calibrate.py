"""`run_bench.py calibrate`: measure this device's memory bandwidth and matmul FLOP rate (roofline ceilings)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.core import UsageError, check_output_file, resolve_device, write_json
from bench.core.tables import format_table
from bench.roofline import PRECISION_BYTES, calibrate, calibration_path
from bench.timing import threads

NAME = "calibrate"
ORDER = 45
HELP = "measure memory bandwidth and peak matmul rate on this device (ceilings for the roofline floor)"
DESCRIPTION = (
    "Times a large tensor copy (bandwidth = 2 x bytes / s) and an n x n matmul (2 n^3 FLOP / s) per precision, "
    "best of --repeat (the spread of the runs is recorded). The result, keyed by this machine (CPU name, cores, "
    "CPU flags, a short measured signature), is saved to calibration/<device>.json in the user cache folder "
    "($EAPBENCH_CACHE, else $XDG_CACHE_HOME/eapbench or ~/.cache/eapbench), where `time` finds it and "
    "prefers it to the data-sheet numbers; the calibration shipped for the project's CI machine is a fallback. "
    "A calibration made on another machine is not used."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: cpu)")
    p.add_argument(
        "--precisions", default=None, help="comma-separated (default: fp32 on CPU, fp32,fp16,bf16 on CUDA)"
    )
    p.add_argument(
        "--copy-mib", type=int, default=256, help="size of the copied tensor in MiB (default: 256)"
    )
    p.add_argument(
        "--matmul-n", type=int, default=None, help="matrix size (default: 2048 on CPU, 8192 on CUDA)"
    )
    p.add_argument("--repeat", type=int, default=5, help="best of this many runs (default: 5)")
    p.add_argument(
        "--threads",
        default=None,
        metavar="N|auto",
        help="CPU threads (default: torch's choice); auto: time a short conv probe at 1, 2, 4... threads, "
        "calibrate with the fastest and store the probe (the main job's --threads auto uses it)",
    )
    p.add_argument("--no-save", action="store_true", help="do not save it in the user cache folder")
    p.add_argument("--json", metavar="PATH", help="also write the record here")


def _rate(flops: float) -> str:
    return f"{flops / 1e12:.1f} TFLOP/s" if flops >= 1e12 else f"{flops / 1e9:.1f} GFLOP/s"


def run(args: argparse.Namespace) -> int:
    dev = resolve_device(args.device)
    cuda = dev.type == "cuda"
    precisions = tuple(
        p.strip() for p in (args.precisions or ("fp32,fp16,bf16" if cuda else "fp32")).split(",") if p.strip()
    )
    bad = [p for p in precisions if p not in PRECISION_BYTES]
    if bad or not precisions:
        raise UsageError(f"--precisions {args.precisions!r}: choose from {', '.join(PRECISION_BYTES)}")
    if args.copy_mib < 1 or args.repeat < 1 or (args.matmul_n is not None and args.matmul_n < 1):
        raise UsageError("--copy-mib, --matmul-n and --repeat must be >= 1")
    auto = str(args.threads).strip().lower() == "auto"
    if auto and cuda:
        raise UsageError("--threads auto picks CPU threads: use it with --device cpu")
    choice = (
        threads.choose_threads(args.threads) if args.threads is not None and not auto else None
    )  # checks N
    check_output_file(args.json, "--json")
    if auto:
        choice = threads.probe_threads()
        print(f"threads: {choice.describe()}")
    rec = calibrate(
        str(dev),
        precisions,
        copy_mib=args.copy_mib,
        matmul_n=args.matmul_n or (8192 if cuda else 2048),
        repeat=args.repeat,
        threads=choice.threads if choice else None,
    )
    if auto:
        rec["threads_probe"] = threads.probe_record(choice)
    rows = [["memory bandwidth", f"{rec['bandwidth_Bps'] / 1e9:.1f} GB/s"]]
    for prec, flops in rec["peak_flops"].items():
        rows.append([f"matmul {prec}", "-" if flops is None else _rate(flops)])
    print(rec["device_name"] + (f" | {rec['threads']} threads" if rec["threads"] else ""))
    print(format_table(["ceiling", "measured"], rows, align="lr"))
    noisy = [f"{name} CV {s['cv']:.0%}" for name, s in rec["spread"].items() if s["cv"] > 0.05]
    if noisy:
        print(f"note: the runs spread ({', '.join(noisy)}): the machine was busy; the best run is kept")
    for prec, err in rec["errors"].items():
        print(f"{prec}: not measured ({err})")
    paths = ([] if args.no_save else [calibration_path(rec["device_name"])]) + (
        [Path(args.json)] if args.json else []
    )
    for path in paths:
        print(f"wrote {write_json(path, rec)}")
    return 0
