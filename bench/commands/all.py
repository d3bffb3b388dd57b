"""`run_bench.py` (no command) or `run_bench.py all`: the main job, from nothing to the report."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.core import (
    OUTPUT_DIR,
    OUTPUT_DIR_SHOWN,
    UsageError,
    check_output_dir,
    check_output_file,
    check_outside,
    parse_size,
    write_json,
)
from bench.jobs.mainjob import run_main_job
from bench.report import format_summary
from bench.timing.threads import choose_threads

NAME = "all"
ORDER = 1
HELP = "the main job (default): profile all models, time the EAPNet family, evaluate, render the report"
DESCRIPTION = (
    "Profile every registered model at 1900x1060, time the EAPNet family on the best device (GPU: 1920x1080, "
    "10 warm-up + 100 timed; CPU: 640x360, 1 + 5), generate a small synthetic data set once "
    "(data/synthetic-default), evaluate the parameter-free references and every model with shipped weights, "
    "render the report (into reports/latest/ of a checkout, ./eapbench-out/ when installed; --out to choose) and print a summary. Results are cached in the results store: a second run only "
    "re-renders (--force measures again). About 2 minutes on 2 CPU cores."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--models", default="*", metavar="PATTERN", help="models to include (default: all registered)"
    )
    p.add_argument(
        "--device", default="auto", help="auto (a GPU if present), cpu or cuda[:N] (default: auto)"
    )
    p.add_argument(
        "--time-size", metavar="WxH", help="timed size (default: 1920x1080 on a GPU, 640x360 on the CPU)"
    )
    p.add_argument(
        "--repeat", type=int, help="timed forwards per model (default: 100 on a GPU, 5 on the CPU)"
    )
    p.add_argument(
        "--threads",
        default="auto",
        metavar="N|auto",
        help="CPU threads for the timings (default: auto = the fastest count by this machine's calibration, "
        "else by a short probe kept in the user cache folder; said in the log)",
    )
    p.add_argument(
        "--data", metavar="DIR", help="NTIRE-format folder to evaluate on (default: generated synthetic set)"
    )
    p.add_argument(
        "--db",
        metavar="PATH",
        help=f"results database (default: {OUTPUT_DIR_SHOWN}results.sqlite, or $EAPBENCH_DB)",
    )
    p.add_argument(
        "--out", metavar="DIR", default=str(OUTPUT_DIR), help=f"report folder (default: {OUTPUT_DIR_SHOWN})"
    )
    p.add_argument("--force", action="store_true", help="measure again even when cached results exist")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: time at 64x64 with 1 warm-up + 1 forward, 2 tiny synthetic samples (for tests and CI)",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the plots")
    p.add_argument("--json", metavar="PATH", help="also write the summary as JSON")


def run(args: argparse.Namespace) -> int:
    if args.repeat is not None and args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat} must be at least 1")
    if str(args.threads).strip().lower() != "auto":
        choose_threads(args.threads)  # a bad N: exit 2 before any work
    check_outside(args.out, args.data, "--out")
    check_outside(args.json, args.data, "--json")
    check_output_dir(args.out, "--out")
    check_output_file(args.json, "--json")
    if args.data is not None:
        if not Path(args.data).is_dir():
            raise UsageError(f"--data {args.data}: no such folder")
    result = run_main_job(
        models=args.models,
        device=args.device,
        db=args.db,
        out=args.out,
        data=args.data,
        quick=args.quick,
        force=args.force,
        time_size=parse_size(args.time_size) if args.time_size else None,
        repeat=args.repeat,
        plots=not args.no_plots,
        threads=args.threads,
    )
    s = result["settings"]
    print(format_summary(result["summary"]))
    print(
        f"\nruntimes: {s['device']}, eager fp32, {s['time_size']}, median of {s['repeat']} "
        f"(after {s['warmup']} warm-up)"
        + (f", {s['threads']} CPU threads ({s['threads_source']})" if s.get("threads") else "")
        + f"; accuracy on {s['data']}"
    )
    c = result["counts"]
    print(
        f"{c['measured']} measured, {c['cached']} reused from {s['db']}, {len(result['failures'])} failed, "
        f"{len(result['warnings'])} warnings, "
        f"{result['seconds']:.0f} s"
    )
    for failure in result["failures"]:
        print(f"  failed: {failure}")
    for warning in result["warnings"]:
        print(f"  warning: {warning}")
    rep = result["report"]
    print(f"report:  {rep['index']}")
    print(f"tables:  {', '.join(p for paths in rep['tables'].values() for p in paths if p.endswith('.md'))}")
    print("         (+ .csv and .tex beside each)")
    if rep["plots"]:
        print(f"plots:   {', '.join(p for p in rep['plots'] if p.endswith('.png'))} (+ .svg)")
    print(f"results: {s['db']}")
    if args.json:
        write_json(args.json, {k: v for k, v in result.items() if k != "report"} | {"files": rep})
    return 1 if result["failures"] and not result["summary"] else 0
