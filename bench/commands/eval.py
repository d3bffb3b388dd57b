"""`run_bench.py eval --models PATTERN --data DIR`: PSNR and PSNR-µ per image and per model."""

from __future__ import annotations

import argparse
import csv
import io
import sys

from bench.core import UsageError, atomic_write_text, write_json
from bench.core.tables import format_table
from bench.data.layouts import add_layout_argument
from bench.results import add_store_arguments, store_from_args
from bench.spec.names import resolve_model_names

NAME = "eval"
ORDER = 65
HELP = (
    "evaluate models on an NTIRE-format split: PSNR, PSNR-mu per image (optional 16-bit round trip, tiling)"
)
DESCRIPTION = (
    "Evaluate trained models (their shipped weights in bench/weights/, or --weights) and parameter-free "
    "references on a data set in the NTIRE layout. Scores are the mean of per-image dB values; images with "
    "non-finite predictions are counted as failed and excluded. --roundtrip16 scores the 16-bit PNG + "
    "alignratio quantisation of the official scoring; --save-predictions writes that submission format. "
    "Models with parameters but no weights are refused. Under torchrun the images are sharded over processes."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--models", metavar="PATTERN", help="registered names or wildcards, comma-separated")
    which.add_argument(
        "--variant", metavar="SPEC", help="a registered name, path/file.py:factory or module:Class"
    )
    p.add_argument(
        "--weights",
        metavar="CKPT",
        help="weights for a single model: .safetensors, a checkpoint .json or a run folder (its EMA weights)",
    )
    p.add_argument("--data", required=True, metavar="DIR", help="NTIRE-format data with ground truth")
    add_layout_argument(p)
    p.add_argument("--ids", default=None, help="evaluate these ids only, e.g. 0000-0099,0150")
    p.add_argument("--split", default=None, metavar="FILE", help="evaluate the ids listed in FILE")
    p.add_argument(
        "--roundtrip16", action="store_true", help="score the 16-bit PNG quantisation (as the leaderboard)"
    )
    p.add_argument(
        "--save-predictions",
        metavar="DIR",
        help="write XXXX.png + XXXX_alignratio.npy per image (one sub-folder per model if several)",
    )
    p.add_argument(
        "--tile", type=int, default=None, metavar="PX", help="tiled inference with PX-sized windows"
    )
    p.add_argument("--overlap", type=int, default=None, metavar="PX", help="tile overlap (default: tile/4)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--workers", type=int, default=0, help="data-loader workers (default: 0)")
    p.add_argument("--json", metavar="PATH", help="write the eval records (with per-image scores) as JSON")
    p.add_argument(
        "--csv", metavar="PATH", help="write per-image scores as CSV (model, id, psnr, psnr_mu, finite)"
    )
    add_store_arguments(p)


def _models_to_evaluate(patterns: str, weights: str | None) -> list[str]:
    """Expand the patterns; models that a *wildcard* matched but that ship no weights are skipped
    with a note (a model named explicitly without weights is still an error, in bench.evaluation.evaluate)."""
    from models.registry import model_info

    names, skipped = [], []
    for pattern in patterns.split(","):
        wildcard = any(c in pattern for c in "*?[")
        for name in resolve_model_names(pattern):
            info = model_info(name)
            if wildcard and weights is None and info.trainable and not info.weights:
                skipped.append(name)
            else:
                names.append(name)
    names = list(dict.fromkeys(names))
    if skipped:
        print(
            f"note: skipped {len(skipped)} model(s) without trained weights: {', '.join(skipped)}",
            file=sys.stderr,
        )
    if not names:
        raise UsageError(
            f"no model matched by {patterns!r} has trained weights; pass --weights for one model"
        )
    return names


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def run(args: argparse.Namespace) -> int:
    from bench.core import distributed as D
    from bench.data import ids_from_args
    from bench.evaluation.evaluate import check_tiling
    from bench.jobs import measure
    from bench.spec.variants import load_variant
    from models.registry import is_model

    ids = ids_from_args(args.ids, args.split)
    specs = [args.variant] if args.variant else _models_to_evaluate(args.models, args.weights)
    if args.weights and len(specs) > 1:
        raise UsageError(f"--weights applies to one model, but {args.models!r} names {len(specs)}")
    check_tiling(args.tile, args.overlap)
    # Under torchrun every rank reads the store (all must agree on what to evaluate); rank 0 writes.
    store = store_from_args(args)
    records = []
    try:
        for spec in specs:
            save = args.save_predictions
            if save and len(specs) > 1:
                save = f"{save}/{spec}"
            name, factory = load_variant(spec)
            rec, hit = measure.evaluate(
                store,
                name,
                None if is_model(name) else factory,
                data=args.data,
                layout=args.layout,
                weights=args.weights,
                ids=ids,
                device=args.device,
                force=args.force,
                roundtrip16=args.roundtrip16,
                tile=args.tile,
                overlap=args.overlap,
                save_predictions=save,
                workers=args.workers,
                distributed=True,
            )
            records.append({**rec, "cached": hit})
    finally:
        if store is not None:
            store.close()
        D.teardown()
    if not D.is_main_process():
        return 0
    rows = [
        [
            r["model"],
            r["n_images"],
            r["n_failed"],
            _fmt(r["psnr"]),
            _fmt(r["psnr_mu"]),
            r["weights"] or "-",
            "cached" if r["cached"] else "measured",
        ]
        for r in records
    ]
    mode = "16-bit round trip" if args.roundtrip16 else "in memory"
    print(f"data {args.data} ({records[0]['ids']} images), scored {mode}, device {records[0]['device']}")
    print(
        format_table(
            ["model", "images", "failed", "PSNR", "PSNR-mu", "weights", "result"], rows, align="lrrrrll"
        )
    )
    if args.json:
        write_json(args.json, records)
    if args.csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["model", "id", "psnr", "psnr_mu", "finite"])
        for r in records:
            for im in r["per_image"]:
                writer.writerow([r["model"], im["id"], im["psnr"], im["psnr_mu"], im["finite"]])
        atomic_write_text(args.csv, buf.getvalue())
    return 1 if any(r["n_failed"] for r in records) else 0
