"""`run_bench.py time --models PATTERN ...`: inference time with statistics, numerics and a roofline floor."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from bench import timing
from bench.core import UsageError, check_output_file, format_size, progress, write_json
from bench.core.tables import format_table
from bench.jobs import measure
from bench.results import ResultsStore, add_store_arguments, store_from_args
from bench.spec.names import resolve_model_names
from bench.timing import TimeConfig, add_config_arguments
from bench.timing.trace import format_trace, trace_model

if TYPE_CHECKING:
    from bench.timing import TimeConfig

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
    add_config_arguments(p)  # one option per TimeConfig field (--device ... --no-memory)
    p.add_argument(
        "--no-roofline", action="store_true", help="skip the complexity profile and roofline floor"
    )
    p.add_argument("--all", action="store_true", help="on the CPU, also time models above 1 TMAcc")
    p.add_argument(
        "--trace",
        action="store_true",
        help="after each timing, a per-op-type breakdown of one forward: MAccs share vs time share and "
        "the roofline floor per op type (torch.profiler on eager; ONNX Runtime's profiler with --backend onnxruntime)",
    )
    p.add_argument("--json", metavar="PATH", help="write the records as JSON (rewritten after each model)")
    add_store_arguments(p)


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
                (r.get("status", "-") + (", noisy" if r.get("noisy") else ""))
                if r.get("status") != "error"
                else f"error: {r.get('error', '')}"[:60],
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
    names = resolve_model_names(args.models)
    if args.weights and len(names) > 1:
        raise UsageError(f"--weights belongs to one model, but --models {args.models!r} names {len(names)}")
    config = TimeConfig.from_args(args)  # every option checked here, each bad one in one line
    check_output_file(args.json, "--json")
    store = store_from_args(args)  # after the option checks (bad options create no file), before any timing
    try:
        return _time_all(args, store, names, config)
    finally:
        if store is not None:
            store.close()


def _time_all(
    args: argparse.Namespace, store: ResultsStore | None, names: list[str], config: TimeConfig
) -> int:
    dev = config.torch_device
    size, pad_from = config.size, config.pad_from
    records: list[dict] = []

    def save() -> None:  # after every model, so that an interrupted run keeps what it finished
        if args.json:
            write_json(args.json, records)

    for name in progress(names, desc="time"):  # one step per model
        profile = None
        if not args.no_roofline or (dev.type == "cpu" and not args.all):
            profile = timing.model_profile(name, *size, batch=config.batch)
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
                store, name, config=config, profile=None if args.no_roofline else profile, force=args.force
            )
            rec = {**rec, "cached": hit}
        except UsageError:
            raise
        except Exception as exc:  # one failing model/backend must not lose the others' results
            rec = {**timing.failed_record(name, exc, **config.describe()), "cached": False}
        for w in rec.get("warnings", []):
            print(f"warning: {name}: {w}", file=sys.stderr)
        if args.trace:
            try:
                traces = trace_model(name, config)
            except UsageError:
                raise
            except Exception as exc:  # a trace that fails leaves the timing standing
                print(
                    f"warning: {name}: no trace: {timing.failed_record(name, exc)['error']}", file=sys.stderr
                )
            else:
                rec["trace"] = [t.to_json() for t in traces]  # the --json file only, not the store
                print("\n\n".join(format_trace(t) for t in traces) + "\n")
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
        + f" | batch {config.batch} | threads {r0.get('threads')} | {config.warmup} warm-up + {config.repeat} runs"
    )
    print(result_table(records))
    return 0 if all(r.get("status") == "ok" for r in records) else 1
