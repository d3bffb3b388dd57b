"""`run_bench.py reproduce --table N --data TRAIN --test TEST --out RUNS`: train and score a whole paper table."""

from __future__ import annotations

import argparse

from bench.core import check_output_file, check_outside, write_json
from bench.data.layouts import add_layout_argument
from bench.reproduce import ReproduceOptions, reproduce
from bench.reproduce.executor import EXECUTORS
from bench.reproduce.plan import TABLES

NAME = "reproduce"
ORDER = 66
HELP = "train and evaluate every row of a paper table over several seeds (submitit: local or Slurm)"
DESCRIPTION = (
    "Plan one training run per (row, seed) under one recipe (the paper's, scaled to the budget; every "
    "deviation is recorded in RUNS/plan.json), train each with `train`, evaluate each EMA model on TEST "
    "with `eval` (all default metrics of the layout), and render the table with the measured mean ± std "
    "over seeds beside the paper's values; each ablation step is tested against run-to-run noise "
    "(Welch's t over seeds). Runs go to submitit: Slurm where it is found, else local processes, one run "
    "per visible GPU (or the CPU). --resume continues unfinished runs from their last checkpoint and "
    "skips finished ones."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", required=True, choices=TABLES, help="the paper table to reproduce, or field")
    p.add_argument(
        "--rows", nargs="+", default=None, metavar="ROW", help="only these rows (row ids or models)"
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="FILE:NAME",
        help="a user's model (file.py:factory, module:Class) as an extra row under the same recipe; repeatable",
    )
    p.add_argument(
        "--data", required=True, metavar="TRAIN", help="training data: a data set folder or a store"
    )
    p.add_argument("--test", required=True, metavar="TEST", help="test data with ground truth")
    add_layout_argument(p)
    p.add_argument("--seeds", type=int, default=3, help="training runs per row (seeds 0..N-1; default: 3)")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--iters", type=int, default=None, help="iterations per run (the schedule scales)")
    budget.add_argument(
        "--minutes", type=float, default=None, help="minutes per run (iterations from a measured probe)"
    )
    p.add_argument(
        "--recipe",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override recipe values (batch=8 patch=128 lr=4e-4 loss=mu ...); recorded as deviations",
    )
    p.add_argument("--out", required=True, metavar="RUNS", help="folder of the plan, runs and results")
    p.add_argument("--executor", choices=EXECUTORS, default="auto", help="submitit executor (default: auto)")
    p.add_argument(
        "--gpus-per-run", type=int, default=1, help="GPUs per run (above 1: Slurm, one DDP task per GPU)"
    )
    p.add_argument("--device", default="auto", help="device of each run: auto (default), cpu or cuda")
    p.add_argument(
        "--runs-per-device",
        type=int,
        default=1,
        help="local executor: runs sharing one GPU (or the CPU) at a time, for small runs (default: 1)",
    )
    p.add_argument("--workers", type=int, default=2, help="data-loader processes per run (default: 2)")
    p.add_argument("--resume", action="store_true", help="continue unfinished runs, skip finished ones")
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan and its measured cost estimate only"
    )
    p.add_argument("--probe-steps", type=int, default=2, help="timed training steps per model of --dry-run")
    p.add_argument("--json", metavar="PATH", help="also write the results (table, runs) as JSON")


def run(args: argparse.Namespace) -> int:
    for data_option, data in (("--data", args.data), ("--test", args.test)):
        check_outside(args.out, data, "--out", data_option)
    check_output_file(args.json, "--json")
    opts = ReproduceOptions(
        table=args.table,
        data=args.data,
        test=args.test,
        out=args.out,
        rows=args.rows,
        variants=args.variant,
        layout=args.layout,
        seeds=args.seeds,
        iters=args.iters,
        minutes=args.minutes,
        recipe=args.recipe,
        executor=args.executor,
        gpus_per_run=args.gpus_per_run,
        device=args.device,
        resume=args.resume,
        dry_run=args.dry_run,
        probe_steps=args.probe_steps,
        workers=args.workers,
        runs_per_device=args.runs_per_device,
    )
    record = reproduce(opts)
    if args.json:
        write_json(args.json, record)
    return 1 if record.get("failed") else 0
