"""`run_bench.py make-data OUT --synthetic N | --from-hdr DIR [--layout NAME]`: data simulated with eq. 1."""

from __future__ import annotations

import argparse
import json
import math
import time

from bench.core import UsageError, check_output_file, check_outside, format_size, parse_size, write_json
from bench.data import simulate
from bench.data.kalantari import add_tif_scale_argument
from bench.data.layouts import DEFAULT_LAYOUT, LAYOUTS, add_layout_argument
from bench.data.sensor import MOTION_KINDS, check_noise_range

# What a training set gets unless --motion / --noise-range say otherwise (issue 15): captures move
# and sensors differ, and weights trained on static, one-noise data lose to the reference frame there.
TRAIN_MOTION = "both"
TRAIN_NOISE_RANGE = (0.5, 4.0)

NAME = "make-data"
ORDER = 60
HELP = "simulate a data set (NTIRE format, or --layout kalantari/hu/tel) from HDR radiance maps or procedural scenes"
DESCRIPTION = (
    "Write an NTIRE 2022-format data set into OUT: XXXX_short/medium/long.png (8-bit), XXXX_exposures.npy, "
    "XXXX_gt.png (16-bit) + XXXX_alignratio.npy, and manifest.json (source, crop, scale, evs, noise, seed). "
    "LDR frames follow the EAPNet paper's eq. 1 (exposure, gain, offset, shot and read noise, saturation), "
    "gamma 2.24 and 8-bit quantisation; the GT is gamma-encoded HDR on the medium frame's scale. "
    "Deterministic for a --seed. Write negative EVs with '=': --evs=-2,0,2. "
    "--layout writes another registered data layout instead (kalantari, hu, tel, or a plugin's). "
    "--purpose train changes the defaults to motion 'both' and noise x0.5-4 per triplet."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "out", metavar="OUT", help="output folder (created; must not already hold a data set unless --force)"
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--from-hdr", metavar="DIR", help="every .hdr / .exr in DIR (linear radiance) becomes samples"
    )
    src.add_argument("--synthetic", metavar="N", type=int, help="N procedural HDR scenes (no input needed)")
    p.add_argument(
        "--size", default="1900x1060", help="WIDTHxHEIGHT of every sample (default: 1900x1060, NTIRE's)"
    )
    p.add_argument(
        "--evs",
        default="-2,0,2",
        help="exposures of short,medium,long in EV stops (default: -2,0,2; write --evs=-2,0,2)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="random seed; the same seed writes the same bytes (default: 0)"
    )
    p.add_argument(
        "--crops-per-image", type=int, default=None, help="samples per --from-hdr source (default: 1)"
    )
    p.add_argument(
        "--motion",
        nargs="?",
        const="global",
        default=None,
        choices=MOTION_KINDS,
        help="misalign the short/long frames against the medium one: global (camera shift+rotation and a "
        "gentle warp; what --motion alone means), local (1-3 moving objects; medium frame and GT show "
        "them where they are), both, or none (default: none; both with --purpose train)",
    )
    p.add_argument(
        "--purpose",
        choices=("test", "train"),
        default="test",
        help="test (default: no motion, the sensor's one noise level, as before) or train (defaults "
        f"--motion {TRAIN_MOTION} --noise-range {TRAIN_NOISE_RANGE[0]:g},{TRAIN_NOISE_RANGE[1]:g}; "
        "explicit options still win)",
    )
    p.add_argument(
        "--noise-range",
        metavar="LO,HI",
        default=None,
        help="scale each triplet's shot and read noise by its own factor, log-uniform in [LO, HI], "
        "recorded per sample in the manifest (e.g. 0.5,4; default: every triplet gets the sensor's noise; "
        "0.5,4 with --purpose train)",
    )
    p.add_argument(
        "--shot", type=float, default=None, help="shot-noise std of a full-scale signal (default: 0.01)"
    )
    p.add_argument(
        "--read", type=float, default=None, help="read-noise std, full-scale units (default: 0.002)"
    )
    p.add_argument("--offset", type=float, default=None, help="constant offset I0 of eq. 1 (default: 0.0002)")
    p.add_argument("--gain", type=float, default=None, help="analog gain, amplifies both noises (default: 1)")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a data set already in OUT (only that layout's files + manifest)",
    )
    add_layout_argument(p, default=DEFAULT_LAYOUT)
    add_tif_scale_argument(p)
    p.add_argument(
        "--json", metavar="PATH", help="also write a summary (ids, manifest path, settings) as JSON"
    )


def parse_evs(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        raise UsageError(f"--evs {text!r} is not three comma-separated numbers (e.g. --evs=-2,0,2)") from None
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise UsageError(
            f"--evs {text!r} must be three finite numbers: short,medium,long (e.g. --evs=-2,0,2)"
        )
    return values  # type: ignore[return-value]


def parse_noise_range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        raise UsageError(f"--noise-range {text!r} is not two comma-separated numbers (e.g. 0.5,4)") from None
    if len(values) != 2:
        raise UsageError(f"--noise-range {text!r} must be two numbers LO,HI (e.g. 0.5,4)")
    try:
        return check_noise_range(values)
    except UsageError as exc:
        raise UsageError(f"--noise-range {text!r}: {exc}") from None


def run(args: argparse.Namespace) -> int:

    # The simulated set must not land inside the HDR sources it reads (--force would delete among them).
    check_outside(args.out, args.from_hdr, "OUT", "--from-hdr")
    check_outside(args.json, args.from_hdr, "--json", "--from-hdr")
    check_output_file(args.json, "--json")
    if args.synthetic is not None and args.crops_per_image is not None:
        raise UsageError(
            "--crops-per-image applies to --from-hdr only (--synthetic N already sets the count)"
        )
    size = parse_size(args.size)
    evs = parse_evs(args.evs)
    training = args.purpose == "train"
    motion = args.motion if args.motion is not None else (TRAIN_MOTION if training else "none")
    noise_range = parse_noise_range(args.noise_range)
    if noise_range is None and args.noise_range is None and training:
        noise_range = TRAIN_NOISE_RANGE
    layout = LAYOUTS.get(args.layout).configured(tif_scale=args.tif_scale)
    noise = {k: getattr(args, k) for k in ("shot", "read", "offset", "gain") if getattr(args, k) is not None}
    sensor = simulate.Sensor(**noise)  # options not given keep the Sensor defaults
    common = {
        "size": size,
        "seed": args.seed,
        "evs": evs,
        "motion": motion,
        "sensor": sensor,
        "overwrite": args.force,
        "layout": layout,
        "noise_range": noise_range,
    }
    start = time.perf_counter()
    if args.synthetic is not None:
        ids = simulate.make_synthetic(args.out, args.synthetic, **common)
        source = f"{args.synthetic} synthetic scene(s)"
    else:
        crops = 1 if args.crops_per_image is None else args.crops_per_image
        ids = simulate.make_from_hdr(args.from_hdr, args.out, crops_per_image=crops, **common)
        source = f"HDR files in {args.from_hdr}"
    seconds = time.perf_counter() - start
    manifest_path = f"{args.out.rstrip('/')}/manifest.json"
    print(
        f"wrote {len(ids)} sample(s) ({ids[0]}..{ids[-1]}, {format_size(*size)}, evs {','.join(f'{e:g}' for e in evs)}"
        f"{'' if motion == 'none' else f', motion {motion}'}"
        f"{'' if noise_range is None else f', noise x{noise_range[0]:g}-{noise_range[1]:g}'}) from {source} to {args.out} in {seconds:.1f} s; see {manifest_path}"
    )
    if args.json:
        with open(manifest_path) as fh:
            manifest = json.load(fh)
        write_json(
            args.json,
            {
                "out": args.out,
                "ids": ids,
                "manifest": manifest_path,
                "seconds": seconds,
                **{k: v for k, v in manifest.items() if k != "samples"},
            },
        )
    return 0
