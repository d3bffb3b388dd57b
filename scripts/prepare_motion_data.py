#!/usr/bin/env python3
"""Simulate the data of the GPU training run (issue 18) on the CPU, before any GPU time.

    python scripts/prepare_motion_data.py [--hdr DIR] [--out data/gpu18] [--size 512x384] [--force]

From the twelve CC0 Poly Haven maps (default ``../shared/data/polyhaven-cc0`` beside the
repository), split by whole maps so no view of a held-out map is ever trained on:

* ``train/``       8 maps x ``--train-crops`` views, camera and object motion, noise x0.5-4
* ``val/``         2 other maps (:data:`VAL_MAPS`), the same kind of data, for ``train --val-data``
* ``test-motion/`` 2 maps no other set uses (:data:`TEST_MAPS`: the shipped weights' hold-out too)
* ``test-static/`` the same views of the test maps with the same noise, and no motion

and ``splits.json`` (which maps went where, the settings, the bytes written). The defaults keep the
whole folder under ~60 MiB, what the GPU machine receives beside the working tree (64 MiB of carried
paths). ``/data/`` is git-ignored. Deterministic for a ``--seed``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.core import UsageError, parse_size, write_json  # noqa: E402  (after the sys.path line)
from bench.data.scenes import find_hdr_files  # noqa: E402
from bench.data.simulate import make_from_hdr  # noqa: E402

TEST_MAPS = ("studio_small_03_1k.hdr", "venice_sunset_1k.hdr")
VAL_MAPS = ("rooitou_park_1k.hdr", "st_fagans_interior_1k.hdr")
MOTION = "both"  # camera motion and moving objects: what hand-held bracketed captures show
NOISE_RANGE = (0.5, 4.0)  # x the default sensor's shot and read noise, per triplet
MAX_MIB = 60.0


@dataclass(frozen=True)
class DataSet:
    """One simulated set: its folder name, maps, views per map, motion and seed."""

    name: str
    maps: tuple[str, ...]
    crops: int
    motion: str
    seed: int


@dataclass(frozen=True)
class Prepared:
    """What ``splits.json`` records."""

    hdr_dir: str
    size: str
    noise_range: tuple[float, float]
    sets: list[DataSet]
    samples: dict[str, int]
    mib: dict[str, float]
    total_mib: float
    seconds: float


def plan(maps: list[str], train_crops: int, val_crops: int, test_crops: int, seed: int) -> list[DataSet]:
    """The four sets; the test maps and the validation maps are whole maps no training view comes from."""
    missing = sorted(set(TEST_MAPS + VAL_MAPS) - set(maps))
    if missing:
        raise UsageError(f"the held-out maps {', '.join(missing)} are not in the HDR folder")
    train = tuple(m for m in maps if m not in TEST_MAPS + VAL_MAPS)
    return [
        DataSet("train", train, train_crops, MOTION, seed),
        DataSet("val", VAL_MAPS, val_crops, MOTION, seed + 1000),
        DataSet("test-motion", TEST_MAPS, test_crops, MOTION, seed + 2000),
        # the same seed: the same views and noise as test-motion, so the two differ by motion alone
        DataSet("test-static", TEST_MAPS, test_crops, "none", seed + 2000),
    ]


def folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hdr", default=str(ROOT.parent / "shared" / "data" / "polyhaven-cc0"))
    p.add_argument("--out", default=str(ROOT / "data" / "gpu18"))
    p.add_argument("--size", default="512x384", help="WIDTHxHEIGHT of every sample (default 512x384)")
    p.add_argument("--train-crops", type=int, default=3, help="views per training map (default 3)")
    p.add_argument("--val-crops", type=int, default=1, help="views per validation map (default 1)")
    p.add_argument("--test-crops", type=int, default=2, help="views per test map (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-mib", type=float, default=MAX_MIB, help="fail when the data is larger")
    p.add_argument("--force", action="store_true", help="replace data sets already in --out")
    args = p.parse_args(argv)
    try:
        return prepare(args)
    except UsageError as exc:
        print(f"prepare_motion_data: {exc}", file=sys.stderr)
        return 2


def prepare(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    size = parse_size(args.size)
    maps = [f.name for f in find_hdr_files(args.hdr)]
    sets = plan(maps, args.train_crops, args.val_crops, args.test_crops, args.seed)
    out = Path(args.out)
    samples, mib = {}, {}
    for ds in sets:
        ids = make_from_hdr(
            args.hdr,
            out / ds.name,
            size=size,
            seed=ds.seed,
            crops_per_image=ds.crops,
            motion=ds.motion,
            noise_range=NOISE_RANGE,
            overwrite=args.force,
            names=list(ds.maps),
        )
        samples[ds.name], mib[ds.name] = len(ids), round(folder_mib(out / ds.name), 2)
        print(f"{ds.name}: {len(ids)} samples from {len(ds.maps)} maps, {mib[ds.name]:.1f} MiB", flush=True)
    total = round(sum(mib.values()), 2)
    record = Prepared(
        str(Path(args.hdr).resolve()),
        f"{size[0]}x{size[1]}",
        NOISE_RANGE,
        sets,
        samples,
        mib,
        total,
        round(time.perf_counter() - start, 1),
    )
    write_json(out / "splits.json", asdict(record))
    print(f"{sum(samples.values())} samples, {total:.1f} MiB in {out} ({record.seconds:.1f} s)")
    if total > args.max_mib:
        print(f"prepare_motion_data: {total:.1f} MiB is over --max-mib {args.max_mib:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
