"""`run_bench.py eval --models PATTERN --data DIR`: PSNR, PSNR-µ (or ``--metrics``) per image and per model.

Each model runs under an evaluation protocol (``--protocol``, default: the one its paper used,
:func:`bench.evaluation.predict.protocol_for`); the table's footer says which protocol every row
used and the convention of every metric column.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import replace
from typing import Any

from bench.core import UsageError, atomic_write_text, check_output_file, check_outside, write_json
from bench.core import distributed as D
from bench.core.errors import ModelFailure
from bench.core.tables import format_table
from bench.data import ids_from_args
from bench.data.kalantari import add_tif_scale_argument
from bench.data.layouts import add_layout_argument
from bench.evaluation import METRICS, EvalConfig, Metric, default_metrics
from bench.evaluation.evaluate import describe_metrics, metric_domains
from bench.evaluation.predict import PROTOCOLS, describe_protocol, protocol_for
from bench.evaluation.saving import SAVE_LAYOUTS
from bench.jobs import measure
from bench.results import add_store_arguments, store_from_args
from bench.spec.names import one_per_architecture, resolve_model_names
from bench.spec.variants import check_contract, load_variant
from models.registry import is_model, model_info

NAME = "eval"
ORDER = 65
HELP = (
    "evaluate models on a data set: PSNR, PSNR-mu (or --metrics: the field's Kalantari-style PSNR/SSIM/PU21) "
    "per image (optional 16-bit round trip, tiling, the papers' tile protocol)"
)
DESCRIPTION = (
    "Evaluate trained models (their shipped weights in bench/weights/, or --weights) and parameter-free "
    "references on a data set (NTIRE layout, or any registered layout). Scores are the mean of per-image dB values; images with "
    "non-finite predictions are counted as failed and excluded. --roundtrip16 scores the 16-bit PNG + "
    "alignratio quantisation of the official scoring; --save-predictions writes that submission format. "
    "Models with parameters but no weights are refused. Under torchrun the images are sharded over processes. "
    "--metrics picks the metrics (registered ones, plugins' included); the table marks the best value of "
    "each by its direction. --protocol full|tiles-256 picks full-image inference or the transformer papers' "
    "non-overlapping 256x256 tiles (default: what each model's paper used)."
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
    p.add_argument(
        "--data",
        required=True,
        metavar="DIR",
        help="a data set with ground truth (ntire, kalantari, hu, tel or a plugin layout; detected)",
    )
    add_layout_argument(p)
    add_tif_scale_argument(p)
    p.add_argument("--ids", default=None, help="evaluate these ids only, e.g. 0000-0099,0150")
    p.add_argument("--split", default=None, metavar="FILE", help="evaluate the ids listed in FILE")
    p.add_argument(
        "--roundtrip16", action="store_true", help="score the 16-bit PNG quantisation (as the leaderboard)"
    )
    p.add_argument(
        "--save-predictions",
        metavar="DIR",
        help="write each prediction (one sub-folder per model if several): NTIRE data as XXXX.png + "
        "XXXX_alignratio.npy, other layouts as <id>/HDRImg.hdr (linear, for HDR-VDP's MATLAB scripts)",
    )
    p.add_argument(
        "--save-layout",
        choices=sorted(SAVE_LAYOUTS),
        default=None,
        help="format of --save-predictions: ntire or kalantari (default: ntire for NTIRE data, else kalantari)",
    )
    p.add_argument(
        "--protocol",
        choices=list(PROTOCOLS),
        default=None,
        help="full (whole image; --tile for overlapping windows) or tiles-256 (pad with 1.0 to "
        "(size//256+1)*256, non-overlapping 256x256 tiles, as HDR-Transformer/SCTNet); default: each "
        "model's paper protocol (tiles-256 for hdr-transformer and sctnet, else full)",
    )
    p.add_argument(
        "--tile", type=int, default=None, metavar="PX", help="tiled inference with PX-sized windows"
    )
    p.add_argument("--overlap", type=int, default=None, metavar="PX", help="tile overlap (default: tile/4)")
    p.add_argument(
        "--metrics",
        default=None,
        metavar="NAME,...",
        help=f"metrics to score, comma-separated, from: {', '.join(METRICS.names())} "
        f"(default: {','.join(default_metrics())})",
    )
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--workers", type=int, default=0, help="data-loader workers (default: 0)")
    p.add_argument("--json", metavar="PATH", help="write the eval records (with per-image scores) as JSON")
    p.add_argument(
        "--csv",
        metavar="PATH",
        help="write per-image scores as CSV (model, id, one column per metric, finite)",
    )
    add_store_arguments(p)


def _models_to_evaluate(patterns: str, weights: str | None) -> list[str]:
    """Expand the patterns; models that a *wildcard* matched but that ship no weights are skipped
    with a note (a model named explicitly without weights is still an error, in bench.evaluation.evaluate)."""
    names, skipped = [], []
    for pattern in patterns.split(","):
        wildcard = any(c in pattern for c in "*?[")
        for name in resolve_model_names(pattern):
            info = model_info(name)
            if wildcard and weights is None and info.trainable and not info.weights:
                skipped.append(name)
            else:
                names.append(name)
    names, aliases = one_per_architecture(names)
    if aliases:  # the same network and weights: scored once
        same = ", ".join(f"{alias} = {kept}" for alias, kept in aliases.items())
        print(f"note: evaluated once per architecture ({same})", file=sys.stderr)
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


def metric_cells(records: list[dict[str, Any]], metric: Metric) -> list[str]:
    """One metric's column: each value in its format, the best by its direction marked ``*``."""
    values = [r.get(metric.name) for r in records]
    cells = [metric.format_value(v) for v in values]
    best = metric.best(values) if len(records) > 1 else None
    if best is None:  # one model, or no value: nothing to compare
        return cells
    # The unmarked cells get a blank where the mark goes, so the right-aligned digits stay in line.
    return [c + ("*" if v == best else " ") for c, v in zip(cells, values, strict=True)]


def directions_note(metrics: list[Metric], marked: bool) -> str:
    """``higher is better: PSNR, PSNR-mu; lower is better: mae-linear`` (+ what ``*`` means)."""
    parts = []
    for higher in (True, False):
        labels = [m.label or m.name for m in metrics if m.higher_is_better == higher]
        if labels:
            parts.append(f"{'higher' if higher else 'lower'} is better: {', '.join(labels)}")
    return "; ".join(parts) + ("; * best of each column" if marked else "")


def model_protocol(args: argparse.Namespace, name: str, model: Any) -> str:
    """``--protocol`` when given; with ``--tile`` (overlapping windows) ``full``; else the model's paper one."""
    requested = getattr(args, "protocol", None)
    if requested:
        return requested
    return "full" if args.tile is not None else protocol_for(name, model)


def protocol_lines(records: list[dict[str, Any]]) -> list[str]:
    """``protocol tiles-256 (...): hdr-transformer, sctnet``: which inference every row's numbers come from."""
    groups: dict[str, list[str]] = {}
    for r in records:
        protocol = r.get("protocol", "full")  # rows stored before protocols existed ran the full image
        text = r.get("protocol_description") or describe_protocol(protocol, r.get("tile"), None)
        groups.setdefault(f"protocol {protocol} ({text})", []).append(r["model"])
    return [f"{head}: {', '.join(models)}" for head, models in groups.items()]


def convention_lines(metrics: list[Metric]) -> list[str]:
    """One line per metric column: its label, convention and the encoding it scores."""
    return [f"{m.label or m.name}: {m.description} [{m.domain} domain]" for m in metrics]


def run(args: argparse.Namespace) -> int:
    # Outputs first: none may be written into the data set being scored (it would change the scores).
    outputs = {"--json": args.json, "--csv": args.csv, "--save-predictions": args.save_predictions}
    for option, path in outputs.items():
        check_outside(path, args.data, option)
    check_output_file(args.json, "--json")
    check_output_file(args.csv, "--csv")
    ids = ids_from_args(args.ids, args.split)
    # Every option checked here, in one place, before any model is built or the store opened.
    config = EvalConfig(
        data=args.data,
        ids=ids,
        device=args.device,
        roundtrip16=args.roundtrip16,
        tile=args.tile,
        overlap=args.overlap,
        metrics=args.metrics,
        layout=getattr(args, "layout", None),  # bench.data's --layout, where the parser has it
        tif_scale=args.tif_scale,
        save_predictions=args.save_predictions,
        save_layout=getattr(args, "save_layout", None),
        protocol=getattr(args, "protocol", None) or "full",
        workers=args.workers,
        distributed=True,
    )
    specs = [args.variant] if args.variant else _models_to_evaluate(args.models, args.weights)
    if args.weights and len(specs) > 1:
        raise UsageError(f"--weights applies to one model, but {args.models!r} names {len(specs)}")
    # The model contract first, as compare does: a broken --variant is one line (exit 2) before any data
    # is read; of several --models, one that breaks it is reported as failed and the others go on.
    loaded = [load_variant(spec) for spec in specs]
    probe = None
    if args.variant:
        probe = loaded[0][1]()
        check_contract(probe, loaded[0][0])
    # Under torchrun every rank reads the store (all must agree on what to evaluate); rank 0 writes.
    store = store_from_args(args)
    records: list[dict] = []
    failures: list = []
    try:
        for spec, (name, factory) in zip(specs, loaded, strict=True):
            save = args.save_predictions
            if save and len(specs) > 1:
                save = f"{save}/{spec}"
            if not args.variant:
                try:
                    probe = factory()
                    check_contract(probe, name)
                except UsageError as exc:  # a forward that raised is named by its own error
                    failure = ModelFailure(name, exc.__cause__ or exc)
                    print(f"error: {failure}", file=sys.stderr)
                    failures.append(failure)
                    continue
            rec, hit, failure = measure.safe(
                measure.evaluate,
                store,
                name,
                None if is_model(name) else factory,
                config=replace(config, save_predictions=save, protocol=model_protocol(args, name, probe)),
                weights=args.weights,
                force=args.force,
            )
            if failure is not None:  # a model that fails at run time is reported; the others go on
                print(f"error: {failure}", file=sys.stderr)
                failures.append(failure)
                continue
            # Records stored before metrics were described lack the field; the registry fills it in.
            records.append(
                {
                    **rec,
                    "metrics": rec.get("metrics") or describe_metrics(config.metrics),
                    "metric_domains": rec.get("metric_domains") or metric_domains(config.metrics),
                    "cached": hit,
                }
            )
    finally:
        if store is not None:
            store.close()
        D.teardown()
    if not D.is_main_process():
        return 0
    if not records:
        print(f"no model could be evaluated ({len(failures)} failed)", file=sys.stderr)
        return 1
    metrics = [METRICS.get(m) for m in config.metrics]
    columns = [metric_cells(records, m) for m in metrics]
    rows = [
        [
            r["model"],
            r["n_images"],
            r["n_failed"],
            *(column[i] for column in columns),
            r["weights"] or "-",
            "cached" if r["cached"] else "measured",
        ]
        for i, r in enumerate(records)
    ]
    mode = "16-bit round trip" if args.roundtrip16 else "in memory"
    print(f"data {args.data} ({records[0]['ids']} images), scored {mode}, device {records[0]['device']}")
    headers = ["model", "images", "failed", *(m.header for m in metrics), "weights", "result"]
    print(format_table(headers, rows, align="lrr" + "r" * len(metrics) + "ll"))
    print(directions_note(metrics, marked=len(records) > 1))
    for line in protocol_lines(records) + convention_lines(metrics):
        print(line)
    if args.json:  # failed models are listed too, so a script sees what is missing and why
        write_json(
            args.json, records + [{"model": f.model, "status": "error", "error": f.message} for f in failures]
        )
    if args.csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["model", "id", *config.metrics, "finite"])
        for r in records:
            for im in r["per_image"]:
                writer.writerow([r["model"], im["id"], *(im.get(m) for m in config.metrics), im["finite"]])
        atomic_write_text(args.csv, buf.getvalue())
    return 1 if failures or any(r["n_failed"] for r in records) else 0
