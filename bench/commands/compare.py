"""`run_bench.py compare --variant FILE.py:factory`: a user's model against the baselines, same settings."""

from __future__ import annotations

import argparse

from bench.core import (
    OUTPUT_DIR,
    OUTPUT_DIR_SHOWN,
    UsageError,
    check_output_dir,
    check_output_file,
    check_outside,
    parse_ids,
    parse_size,
    write_json,
)
from bench.core.tables import format_table
from bench.jobs.compare import COLUMNS, DEFAULT_AGAINST, compare, table_cells
from bench.results import add_store_arguments, store_from_args
from bench.spec.names import resolve_model_names

NAME = "compare"
ORDER = 75
HELP = "profile, time and (with weights and data) evaluate your variant against baselines"
DESCRIPTION = (
    "Load a variant without changing this repository (path/to/file.py:factory, module.path:ClassName, a name "
    "the file registers with @register_model, or a registered name), check the model contract, then profile "
    "(1900x1060), time (one device, one size, same repeats) and, given --data, evaluate it and the baselines. "
    "Writes a table (md, csv, json) and a front plot to --out. Results are cached in the results store."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--variant", required=True, metavar="SPEC", help="file.py:factory, module:Class or a model name"
    )
    p.add_argument(
        "--against",
        default=DEFAULT_AGAINST,
        metavar="PATTERN",
        help=f"baselines, names or wildcards, comma-separated (default: {DEFAULT_AGAINST})",
    )
    p.add_argument("--weights", metavar="CKPT", help="the variant's trained weights (needed to evaluate it)")
    p.add_argument(
        "--data", metavar="DIR", help="an NTIRE-format folder to evaluate on (default: no evaluation)"
    )
    p.add_argument("--ids", metavar="IDS", help="only these ids of --data, e.g. 0000-0009")
    p.add_argument(
        "--device", default="auto", help="auto (a GPU if present), cpu or cuda[:N] (default: auto)"
    )
    p.add_argument(
        "--size",
        metavar="WxH",
        help="timed size (default: 1920x1080 padded from 1900x1060 on a GPU, 640x360 on the CPU)",
    )
    p.add_argument("--warmup", type=int, help="untimed forwards (default: 10 on a GPU, 1 on the CPU)")
    p.add_argument("--repeat", type=int, help="timed forwards (default: 100 on a GPU, 5 on the CPU)")
    add_store_arguments(p)
    p.add_argument(
        "--out",
        metavar="DIR",
        default=str(OUTPUT_DIR / "compare"),
        help=f"output folder (default: {OUTPUT_DIR_SHOWN}compare)",
    )
    p.add_argument("--no-plots", action="store_true", help="table only")
    p.add_argument("--json", metavar="PATH", help="also write the comparison as JSON here")


def run(args: argparse.Namespace) -> int:
    against = resolve_model_names(args.against)
    size = parse_size(args.size) if args.size else None
    if args.data is None and args.weights:
        raise UsageError("--weights is used to evaluate the variant: give --data too")
    for flag in ("warmup", "repeat"):
        value = getattr(args, flag)
        if value is not None and value < (0 if flag == "warmup" else 1):
            raise UsageError(f"--{flag} {value} is too small")
    check_outside(args.out, args.data, "--out")
    check_outside(args.json, args.data, "--json")
    check_output_dir(args.out, "--out")
    check_output_file(args.json, "--json")
    store = store_from_args(args)
    try:
        result = compare(
            args.variant,
            against,
            weights=args.weights,
            data=args.data,
            ids=parse_ids(args.ids) if args.ids else None,
            device=args.device,
            size=size,
            warmup=args.warmup,
            repeat=args.repeat,
            store=store,
            force=args.force,
            out_dir=args.out,
            plots=not args.no_plots,
        )
    finally:
        if store is not None:
            store.close()

    print(
        format_table(
            [label for _, label in COLUMNS], [table_cells(r) for r in result["rows"]], align="llrrrrrll"
        )
    )
    s = result["settings"]
    print(f"runtime: {s['device_name']}, eager fp32, {s['time_size']}, median of {s['repeat']}")
    reused = sum(len(r["cached"]) for r in result["rows"])
    if reused:
        print(f"{reused} measurement(s) reused from the results store (--force to measure again)")
    for path in result["files"]:
        print(f"wrote {path}")
    if args.json:
        write_json(args.json, result)
    return 0
