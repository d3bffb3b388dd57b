"""`run_bench.py prepare-data DIR --out STORE`: decode a data set once into a random-access frame store."""

from __future__ import annotations

import argparse

from bench.core import check_outside, progress_enabled, write_json
from bench.data import ids_from_args
from bench.data.layouts import add_layout_argument
from bench.data.prepare import prepare_store
from bench.data.store import GT_DTYPES

NAME = "prepare-data"
ORDER = 61
HELP = "decode a data set once into a memory-mapped frame store that `train --data STORE` reads fast"
DESCRIPTION = (
    "Decode every scene of DIR (any registered layout) once into STORE: frames.bin (the three LDR frames "
    "and the gamma-encoded GT of each scene as raw arrays, whole frames so that training crops stay "
    "random) and store.json (the manifest: source folder, layout and fingerprint, scene offsets). "
    "`train --data STORE` and `eval --data STORE` read it through a memory map. A store whose source "
    "changed since, that is truncated, or whose manifest is of another version is refused (exit 2). "
    "Written in a temporary folder and renamed: an interrupted run leaves no half store."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="the data set to decode")
    p.add_argument("--out", required=True, metavar="STORE", help="the store folder to write (must be new)")
    add_layout_argument(p)
    p.add_argument("--ids", default=None, help="only these ids, e.g. 0000-0099,0150")
    p.add_argument("--split", default=None, metavar="FILE", help="only the ids listed in FILE")
    p.add_argument(
        "--patch",
        type=int,
        default=None,
        metavar="P",
        help="refuse scenes smaller than PxP (the --patch you will train with; default: no check)",
    )
    p.add_argument(
        "--gt-dtype",
        choices=GT_DTYPES,
        default="float32",
        help="dtype of the stored GT: float32 (default, exact) or float16 (half the size, ~5e-4 relative error)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing store at --out")
    p.add_argument("--json", metavar="PATH", help="also write the summary as JSON")


def run(args: argparse.Namespace) -> int:
    check_outside(args.out, args.dir, "--out", "DIR")
    summary = prepare_store(
        args.dir,
        args.out,
        layout=args.layout,
        ids=ids_from_args(args.ids, args.split),
        patch=args.patch,
        gt_dtype=args.gt_dtype,
        force=args.force,
        show_progress=progress_enabled(),
    )
    print(summary.describe())
    if args.json:
        write_json(args.json, summary.__dict__)
    return 0
