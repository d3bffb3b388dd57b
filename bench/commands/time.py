"""`run_bench.py time --models PATTERN ...`: inference time with statistics, numerics and a roofline floor."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from bench.core import (
    NTIRE_SIZE,
    PADDED_SIZE,
    UsageError,
    format_size,
    parse_size,
    write_json,
)
from bench.core.tables import format_table
from bench.results import ResultsStore, add_store_arguments, store_from_args
from bench.spec.names import resolve_model_names

if TYPE_CHECKING:
    import torch

NAME = "time"
ORDER = 40
HELP = "time the forward pass (CPU or CUDA; eager, torch.compile, TensorRT; fp32/fp16/bf16)"
DESCRIPTION = (
    "Time each model's forward at --size (default 1920x1080, padded from 1900x1060 as in the paper): "
    "warm-up excluded, CUDA events on the GPU, perf_counter on the CPU; median, mean, p10, p90, IQR and CV. "
    "Every non-reference configuration is checked against eager fp32 on the same input (relative L2 error); "
    "a result above the bound is marked numerics-failed and the command exits 1. "
    "On the CPU, models above 1 TMAcc at the timed size are skipped unless --all."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--models",
        required=True,
        metavar="PATTERN",
        help="names or wildcards, comma-separated (e.g. 'eapnet-*,ahdr')",
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: cpu)")
    p.add_argument(
        "--backend", default="eager", choices=["eager", "compile", "tensorrt"], help="default: eager"
    )
    p.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "fp16", "bf16"],
        help="model and input dtype (default: fp32); TensorRT is usually run with fp16",
    )
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format for the model")
    p.add_argument(
        "--cuda-graphs",
        action="store_true",
        help="replay the forward as a CUDA graph (with --backend compile: mode reduce-overhead)",
    )
    p.add_argument(
        "--compile-mode",
        default=None,
        metavar="MODE",
        help="torch.compile mode, e.g. max-autotune (default: torch's default)",
    )
    p.add_argument(
        "--size",
        default=format_size(*PADDED_SIZE),
        metavar="WxH",
        help="timed input size (default: 1920x1080)",
    )
    p.add_argument(
        "--pad-from",
        default="auto",
        metavar="WxH|none",
        help="make the input at this size and replicate-pad it to --size, output cropped back "
        "(default: 1900x1060 when --size is 1920x1080, else none)",
    )
    p.add_argument("--batch", type=int, default=1, help="batch size (default: 1)")
    p.add_argument("--warmup", type=int, default=10, help="untimed forwards first (default: 10)")
    p.add_argument("--repeat", type=int, default=100, help="timed forwards (default: 100)")
    p.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: torch's choice; always recorded)"
    )
    p.add_argument(
        "--weights", default=None, metavar="PATH", help="safetensors weights (timing does not depend on them)"
    )
    p.add_argument(
        "--scene",
        default=None,
        metavar="PATH",
        help="input scene: an .hdr/.exr radiance map or an NTIRE prefix DIR/0000 (default: a synthetic HDR scene)",
    )
    p.add_argument(
        "--max-rel-error",
        type=float,
        default=None,
        help="numerics bound on the relative L2 error (default: 5e-3 fp32, 2e-2 fp16, 5e-2 bf16)",
    )
    p.add_argument(
        "--no-memory", action="store_true", help="skip the peak-memory measurement (CPU: a child process)"
    )
    p.add_argument(
        "--no-roofline", action="store_true", help="skip the complexity profile and roofline floor"
    )
    p.add_argument("--all", action="store_true", help="on the CPU, also time models above 1 TMAcc")
    p.add_argument("--json", metavar="PATH", help="write the records as JSON (rewritten after each model)")
    add_store_arguments(p)


def resolve_pad_from(text: str, size: tuple[int, int]) -> tuple[int, int] | None:
    text = str(text).strip().lower()
    if text == "none":
        return None
    if text == "auto":
        return NTIRE_SIZE if size == PADDED_SIZE else None
    pad = parse_size(text)
    if pad[0] > size[0] or pad[1] > size[1]:
        raise UsageError(f"--pad-from {text} is larger than --size {format_size(*size)}")
    return pad


def _ms(x) -> str:
    return "-" if x is None else f"{x * 1e3:.2f}"


def result_table(records: list[dict]) -> str:
    rows = []
    for r in records:
        mem = r.get("peak_memory_bytes")
        rows.append(
            [
                r["model"],
                r.get("backend", "-"),
                r.get("precision", "-"),
                _ms(r.get("median_s")),
                f"{_ms(r.get('p10_s'))}-{_ms(r.get('p90_s'))}" if r.get("p10_s") is not None else "-",
                f"{r['cv']:.1%}" if r.get("cv") is not None else "-",
                "-" if r.get("compile_s") is None else f"{r['compile_s']:.1f}",
                "-" if mem is None else f"{mem / 2**20:.0f}",
                "-" if r.get("rel_l2_error") is None else f"{r['rel_l2_error']:.1e}",
                _ms(r.get("floor_s")),
                "-" if r.get("floor_fraction") is None else f"{r['floor_fraction']:.1%}",
                r.get("status", "-") if r.get("status") != "error" else f"error: {r.get('error', '')}"[:60],
                "cached" if r.get("cached") else "measured",
            ]
        )
    head = [
        "model",
        "backend",
        "prec",
        "median ms",
        "p10-p90 ms",
        "CV",
        "compile s",
        "peak MiB",
        "rel L2",
        "floor ms",
        "of floor",
        "status",
        "result",
    ]
    return format_table(head, rows, align="lllrrrrrrrrll")


def run(args: argparse.Namespace) -> int:
    from bench import timing
    from bench.core import check_output_file

    names = resolve_model_names(args.models)
    size = parse_size(args.size)
    pad_from = resolve_pad_from(args.pad_from, size)
    dev = timing.resolve_device(args.device)
    timing.check_options(dev, args.backend, args.precision, args.cuda_graphs)
    timing.check_counts(args.batch, args.warmup, args.repeat, args.threads, args.max_rel_error)
    if args.weights and len(names) > 1:
        raise UsageError(f"--weights belongs to one model, but --models {args.models!r} names {len(names)}")
    check_output_file(args.json, "--json")
    store = store_from_args(args)  # after the option checks (bad options create no file), before any timing
    try:
        return _time_all(args, store, names, size, pad_from, dev)
    finally:
        if store is not None:
            store.close()


def _time_all(
    args: argparse.Namespace,
    store: ResultsStore | None,
    names: list[str],
    size: tuple[int, int],
    pad_from: tuple[int, int] | None,
    dev: torch.device,
) -> int:
    from bench import timing
    from bench.jobs import measure

    config = {
        "device": dev.type,
        "backend": args.backend,
        "precision": args.precision,
        "width": size[0],
        "height": size[1],
        "batch": args.batch,
    }
    records: list[dict] = []

    def save() -> None:  # after every model, so that an interrupted run keeps what it finished
        if args.json:
            write_json(args.json, records)

    for name in names:
        profile = None
        if not args.no_roofline or (dev.type == "cpu" and not args.all):
            profile = timing.model_profile(name, *size, batch=args.batch)
            if profile is None:
                print(
                    f"note: {name}: cannot be profiled on meta tensors: no roofline floor"
                    + ("" if args.all or dev.type != "cpu" else ", and the 1 TMAcc CPU limit is not applied"),
                    file=sys.stderr,
                )
        if (
            dev.type == "cpu"
            and not args.all
            and profile
            and (profile.get("maccs") or 0) > timing.CPU_MACC_LIMIT
        ):
            print(
                f"skipping {name}: {profile['maccs'] / 1e12:.2f} TMAcc at {format_size(*size)} is too slow for "
                "a CPU run (add --all to time it anyway)",
                file=sys.stderr,
            )
            continue
        try:
            # A stored result with the same model, architecture and settings is reused (not a failed one).
            rec, hit = measure.time(
                store,
                name,
                device=args.device,
                backend=args.backend,
                precision=args.precision,
                size=size,
                pad_from=pad_from,
                batch=args.batch,
                warmup=args.warmup,
                repeat=args.repeat,
                threads=args.threads,
                channels_last=args.channels_last,
                cuda_graphs=args.cuda_graphs,
                weights=args.weights,
                scene=args.scene,
                memory=not args.no_memory,
                max_rel_error=args.max_rel_error,
                compile_mode=args.compile_mode,
                profile=None if args.no_roofline else profile,
                force=args.force,
            )
            rec = {**rec, "cached": hit}
        except UsageError:
            raise
        except Exception as exc:  # one failing model/backend must not lose the others' results
            rec = {**timing.failed_record(name, exc, **config), "cached": False}
        for w in rec.get("warnings", []):
            print(f"warning: {name}: {w}", file=sys.stderr)
        records.append(rec)
        save()
    if not records:
        print("nothing timed", file=sys.stderr)
        save()
        return 0
    r0 = records[0]
    print(
        f"{r0.get('device_name', dev.type)} | torch {r0.get('torch_version')} CUDA {r0.get('cuda_version')} "
        f"cuDNN {r0.get('cudnn_version')} | {format_size(*size)}"
        + (f" padded from {format_size(*pad_from)}" if pad_from else "")
        + f" | batch {args.batch} | threads {r0.get('threads')} | {args.warmup} warm-up + {args.repeat} runs"
    )
    print(result_table(records))
    return 0 if all(r.get("status") == "ok" for r in records) else 1
