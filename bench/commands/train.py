"""`run_bench.py train --model NAME --data DIR --out RUN`: the paper's training recipe, resumable, torchrun-ready."""

from __future__ import annotations

import argparse
import sys

from bench.core import check_output_file, check_outside, parse_ids, progress_enabled, write_json
from bench.core import distributed as D
from bench.data import ids_from_args
from bench.results import add_store_arguments, store_from_args
from bench.spec.model import ModelSpec
from bench.train.config import TrainConfig
from bench.train.loop import train
from bench.train.losses import LOSSES

NAME = "train"
ORDER = 60
HELP = "train a model with the paper's recipe (checkpoints, --resume, --amp, torchrun/DDP)"
DESCRIPTION = (
    "Train a registered model (or a variant file.py:factory) on an NTIRE-format data set. Defaults are the "
    "paper's recipe: Adam, lr 8e-4, warm-up 1000 steps, x0.75 every 100k iterations, batch 32 of 256x256 "
    "crops at stride 128, loss 0.5 mu-law L1 + 0.5 tanh L1, EMA every 5000 steps with decay 0.5. "
    "Writes RUN/config.json, RUN/log.csv, RUN/checkpoints/ (safetensors + JSON sidecar), and at the end "
    "RUN/ema.safetensors (the model to evaluate), RUN/model.safetensors and RUN/summary.json. "
    "Scale out with `torchrun --nproc_per_node N run_bench.py train ...` (DDP; gloo on CPU, NCCL on GPUs; "
    "--batch is the global batch, split over the processes; only rank 0 writes)."
)

# Recipe options default to None here so that --resume can tell what the user changed.
RECIPE_OPTIONS = {
    "iters": (int, "iterations in total (default: 10000000, as the paper writes)"),
    "batch": (int, "global batch size (default: 32)"),
    "patch": (int, "training crop size in pixels (default: 256)"),
    "stride": (int, "crop grid stride (default: 128)"),
    "lr": (float, "initial learning rate (default: 8e-4)"),
    "lr_decay": (float, "learning-rate factor applied every --lr-step iterations (default: 0.75)"),
    "lr_step": (int, "iterations between learning-rate decays (default: 100000)"),
    "warmup": (int, "linear warm-up steps (default: 1000; 0: none)"),
    "ema_every": (int, "iterations between EMA updates (default: 5000)"),
    "ema_decay": (float, "EMA decay per update: ema = d*ema + (1-d)*model (default: 0.5)"),
    "seed": (int, "seed of initial weights, data order and flips (default: 0)"),
    "workers": (int, "data-loader worker processes (default: 2)"),
    "max_minutes": (float, "stop cleanly (checkpoint and weights saved) after this much training time"),
    "save_every": (int, "iterations between checkpoints (default: 1000)"),
    "log_every": (int, "iterations between log rows (default: 50)"),
    "val_every": (int, "evaluate the EMA model on --val-data every N iterations (default: 0, never)"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        required=True,
        metavar="NAME",
        help="registered model name, or a variant path/file.py:factory or module:Class",
    )
    p.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="training data (GT required): an NTIRE-format folder, or a `prepare-data` store (fast)",
    )
    p.add_argument("--ids", default=None, help="train on these ids only, e.g. 0000-0099,0150")
    p.add_argument(
        "--split", default=None, metavar="FILE", help="train on the ids listed in FILE (one per line)"
    )
    p.add_argument(
        "--out", required=True, metavar="RUN_DIR", help="run folder (created; must be new unless --resume)"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    for key, (typ, help_text) in RECIPE_OPTIONS.items():
        p.add_argument(f"--{key.replace('_', '-')}", type=typ, default=None, help=help_text)
    p.add_argument(
        "--loss",
        default=None,
        choices=LOSSES.names(),
        help="training loss (default: mu_tanh = 0.5 mu-law L1 with 99th-percentile tanh normalisation + "
        "0.5 tanh L1; plugins add more with bench.train.losses.register_loss)",
    )
    p.add_argument(
        "--flips", action="store_true", default=None, help="random horizontal/vertical flips (default: off)"
    )
    p.add_argument(
        "--amp", action="store_true", default=None, help="bfloat16 autocast (GPU: faster; CPU: if supported)"
    )
    p.add_argument(
        "--deterministic",
        action="store_true",
        default=None,
        help="deterministic kernels (bit-for-bit resume on GPUs; slower)",
    )
    p.add_argument(
        "--cache",
        action="store_true",
        default=None,
        help="hold all training patches in memory (on the GPU when training there): fast for small sets",
    )
    p.add_argument(
        "--device",
        default=None,
        help="auto (default), cpu, cuda or cuda:N (torchrun: cuda = cuda:LOCAL_RANK)",
    )
    p.add_argument("--val-data", default=None, metavar="DIR", help="held-out NTIRE data for --val-every")
    p.add_argument("--val-ids", default=None, help="ids of --val-data to use (default: all)")
    p.add_argument("--json", metavar="PATH", help="also write the train summary as JSON")
    add_store_arguments(p)  # --force is accepted for symmetry: training always runs


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, set[str]]:
    """A TrainConfig from the parsed options, and the set of options given explicitly."""
    given = {"model", "data", "out"}
    values: dict = {"model": args.model, "data": args.data, "out": args.out}
    ids = ids_from_args(args.ids, args.split)
    if ids is not None:
        values["ids"] = ids
        given.add("ids")
    keys = [*RECIPE_OPTIONS, "loss", "flips", "amp", "deterministic", "cache", "device", "val_data"]
    for key in keys:
        value = getattr(args, key)
        if value is not None:
            values[key] = value
            given.add(key)
    if args.val_ids:
        values["val_ids"] = parse_ids(args.val_ids)
        given.add("val_ids")
    return TrainConfig(**values), given


def _print_row(row: dict) -> None:
    parts = [f"{k} {v}" for k, v in row.items() if v not in (None, "")]
    print("train: " + ", ".join(parts), file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    for data_option, data in (("--data", args.data), ("--val-data", args.val_data)):
        check_outside(args.out, data, "--out", data_option)
        check_outside(args.json, data, "--json", data_option)
    check_output_file(args.json, "--json")
    cfg, given = config_from_args(args)
    # Without a progress bar (stderr not a terminal, EAPBENCH_NO_PROGRESS), print each log row as one line.
    quiet = not progress_enabled()
    on_log = _print_row if quiet and D.is_main_process() else None
    # Opened first so that a bad --db stops the run before training, not after; only rank 0 writes.
    store = store_from_args(args) if D.is_main_process() else None
    try:
        summary = train(cfg, resume=args.resume, given=given, on_log=on_log)
        if D.is_main_process():
            print(summary.describe())
            if summary.ema_updates == 0:
                print(
                    f"note: the EMA was never updated (--ema-every {summary.ema_every} > {summary.iters} "
                    "iterations): "
                    "ema.safetensors holds the initial weights; evaluate model.safetensors or lower --ema-every"
                )
            if args.json:
                write_json(args.json, summary.to_json())
        if store is not None:  # one transaction: an interruption here leaves the database as it was
            result_id = store.add(
                "train",
                summary.to_json(),
                model=summary.model,
                config_hash=ModelSpec.parse(cfg.model).config_hash(),
                settings=cfg.to_json(),
            )
            print(f"train summary stored in {store.path} (result {result_id})")
    finally:
        if store is not None:
            store.close()
        D.teardown()
    return 0
