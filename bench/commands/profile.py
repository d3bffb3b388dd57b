"""`run_bench.py profile`: MAccs, parameters, activations and peak memory, counted with zero compute.

The logic lives in bench/complexity/; this module parses options and prints tables. The
--convention and --cross-check choices come from ``complexity.CONVENTIONS`` and the
``complexity.COUNTING_TOOLS`` registry (plugins add tools there).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys

from bench import complexity
from bench.core import (
    UsageError,
    atomic_write_text,
    check_output_file,
    format_size,
    parse_size,
    progress,
    write_json,
)
from bench.core.tables import format_table
from bench.jobs import measure
from bench.results import add_store_arguments, store_from_args
from bench.spec.names import resolve_model_names
from bench.timing.support import DEFAULT_BACKENDS, backend_support

NAME = "profile"
ORDER = 20
HELP = "count MAccs, parameters, activations and peak memory (no compute; --cross-check vs other profilers)"
DESCRIPTION = (
    "Count each model's multiply-accumulates, parameters, activations (conv output elements), conv calls "
    "and an estimate of peak inference memory at a given size, on meta tensors: nothing is computed or "
    "allocated, so 1900x1060 and 3840x2160 take well under a second per model. --convention ntire (default) "
    "reproduces torchinfo 1.6, the NTIRE 2022 organizers' tool; --convention true counts real "
    "multiply-accumulates (transposed convs on their input, interpolation, deformable sampling) with "
    "elementwise ops in their own column. --cross-check runs the counting tools (torchinfo, fvcore, thop, "
    "ptflops and any a plugin registers; all unless named) on the same models (64x64 unless --size) and "
    "explains every difference by op type."
)

_CSV_FIELDS = [
    "model", "width", "height", "convention", "dtype", "maccs", "params", "params_total", "activations",
    "conv_calls", "peak_memory_bytes", "maccs_ntire", "maccs_true", "maccs_elementwise",
]  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backends",
        nargs="?",
        const=",".join(DEFAULT_BACKENDS),
        metavar="NAMES",
        help="also say which timing backends each model runs on (default onnxruntime,openvino): one "
        "forward at 64x64 each, checked against eager; a model that does not export names the op",
    )
    p.add_argument(
        "--models",
        default="*",
        metavar="PATTERN",
        help="model names/wildcards, comma-separated (default: all)",
    )
    p.add_argument(
        "--size", metavar="WxH", help="input size WIDTHxHEIGHT (default 1900x1060; 64x64 with --cross-check)"
    )
    p.add_argument(
        "--convention",
        choices=list(complexity.CONVENTIONS),
        default=complexity.CONVENTIONS[0],
        help=f"how MAccs are counted (default {complexity.CONVENTIONS[0]})",
    )
    p.add_argument(
        "--dtype",
        choices=list(complexity.DTYPES),
        default="float32",
        help="for the memory estimate",
    )
    p.add_argument(
        "--per-layer", action="store_true", help="print a tree of modules with MAccs, params and share"
    )
    p.add_argument(
        "--depth",
        type=int,
        default=3,
        metavar="N",
        help="deepest tree level printed by --per-layer (default 3)",
    )
    p.add_argument("--by-op", action="store_true", help="print MAccs per op type")
    tools = complexity.COUNTING_TOOLS.names()
    p.add_argument(
        "--cross-check",
        nargs="*",
        choices=tools,
        metavar="TOOL",
        help=f"compare with other profilers: {', '.join(tools)} (default: all; an uninstalled one is skipped)",
    )
    p.add_argument("--json", metavar="PATH", help="write the records as JSON")
    p.add_argument("--csv", metavar="PATH", help="write the summary table as CSV")
    add_store_arguments(p)


def _g(n: int) -> str:
    return f"{n / 1e9:,.2f}"


def run(args: argparse.Namespace) -> int:
    names = resolve_model_names(args.models)
    check_output_file(args.json, "--json")  # before any counting, not after it
    check_output_file(args.csv, "--csv")
    if args.cross_check is not None:
        return _run_cross_check(args, names)
    width, height = parse_size(args.size or "1900x1060")
    if args.depth < 0:
        raise UsageError(f"--depth {args.depth} must be 0 or more")
    store = store_from_args(args)
    records, failed, hits = [], [], set()
    try:
        for name in progress(names, desc="profile"):
            try:
                rec, hit = measure.profile(
                    store,
                    name,
                    size=(width, height),
                    convention=args.convention,
                    force=args.force,
                    dtype=args.dtype,
                    per_layer=args.per_layer,
                )
            except UsageError:
                raise
            except Exception as exc:  # one broken model must not hide the others' numbers
                failed.append(name)
                print(
                    f"eapbench profile: {name}: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr
                )
                continue
            records.append(rec)
            if hit:
                hits.add(rec["model"])
    finally:
        if store is not None:
            store.close()

    print(f"{format_size(width, height)}, convention {args.convention}, {args.dtype}")
    rows = [
        [
            r["model"],
            _g(r["maccs"]),
            f"{r['params']:,}",
            f"{r['params_total']:,}",
            f"{r['activations'] / 1e6:,.1f}",
            r["conv_calls"],
            f"{r['peak_memory_bytes'] / 2**20:,.0f}",
            _g(r["maccs_elementwise"]),
            "cached" if r["model"] in hits else "measured",
        ]
        for r in records
    ]
    headers = [
        "model",
        "GMAccs",
        "params",
        "params total",
        "activations (M)",
        "convs",
        "peak MiB",
        "G elementwise",
        "result",
    ]
    print(format_table(headers, rows, align="lrrrrrrrl"))
    for r in records:
        if r.get("uncounted_ops"):
            print(
                f"note: {r['model']}: ops without a cost rule (counted as 0): {', '.join(sorted(r['uncounted_ops']))}"
            )
        if args.by_op:
            print(f"\n{r['model']}: MAccs by op type ({args.convention})")
            total = r["maccs"] or 1
            ops = sorted(r["by_op"].items(), key=lambda kv: -kv[1])
            print(
                format_table(
                    ["op", "GMAccs", "share"], [[k, _g(v), f"{v / total:.1%}"] for k, v in ops], align="lrr"
                )
            )
        if args.per_layer:
            print(f"\n{r['model']}: per layer ({args.convention})")
            print(_tree(r["layers"], args.depth))

    if args.backends:
        wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
        support = {r["model"]: [backend_support(r["model"], b) for b in wanted] for r in records}
        print("\nbackends (one forward at 64x64 on the cpu, checked against eager fp32)")
        print(format_table(["model", *wanted], [[m, *[s.describe() for s in v]] for m, v in support.items()]))
        for r in records:
            r["backends"] = {s.backend: s.describe() for s in support[r["model"]]}
    if args.json:
        write_json(args.json, [{**r, "cached": r["model"] in hits} for r in records])
    if args.csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=_CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        atomic_write_text(args.csv, buf.getvalue())
    return 1 if failed else 0


def _tree(layers: list[dict], max_depth: int) -> str:
    rows = []
    for row in layers:
        if row["depth"] > max_depth or (row["depth"] > 0 and row["maccs"] == 0 and row["params"] == 0):
            continue
        label = "  " * row["depth"] + (row["path"].rsplit(".", 1)[-1] or "(model)") + f" ({row['class']})"
        calls = f"x{row['calls']}" if row["calls"] > 1 else ""
        rows.append([label, calls, _g(row["maccs"]), f"{row['params']:,}", f"{row['share']:.1%}"])
    return format_table(["module", "calls", "GMAccs", "params", "share"], rows, align="llrrr")


def _run_cross_check(args: argparse.Namespace, names: list[str]) -> int:
    ignored = [
        opt
        for opt, used in (("--per-layer", args.per_layer), ("--by-op", args.by_op), ("--csv", args.csv))
        if used
    ]
    if ignored:
        raise UsageError(
            f"{', '.join(ignored)} cannot be combined with --cross-check (it takes --models, --size, --json)"
        )
    width, height = parse_size(args.size or "64x64")
    tools = []
    for name in dict.fromkeys(args.cross_check or complexity.COUNTING_TOOLS.names()):
        adapter = complexity.COUNTING_TOOLS.get(name)
        if adapter.available():
            tools.append(name)
        else:  # reported once, on its own line; the other tools still run
            print(f"note: {name} is not installed ({adapter.module}); skipped")
    results = [
        complexity.cross_check(name, width, height, tools=tools)
        for name in progress(names, desc="cross-check")
    ]
    print(f"cross-check at {format_size(width, height)} (MAccs; tools on real tensors, ours on meta tensors)")
    rows = []
    for res in results:
        by_tool = {t["tool"]: t for t in res["tools"]}
        cells = [by_tool[t].get("maccs", "error") if t in by_tool else "-" for t in tools]
        o = res["ours"]
        rows.append(
            [
                res["model"],
                f"{o['ntire']:,}",
                f"{o['true']:,}",
                f"{o['conv']:,}",
                *[f"{c:,}" if isinstance(c, int) else c for c in cells],
            ]
        )
    print(
        format_table(
            ["model", "ours ntire", "ours true", "ours conv", *tools], rows, align="lrrr" + "r" * len(tools)
        )
    )
    unexplained = 0
    for res in results:
        print(f"\n{res['model']}: each tool = our conv MAccs {res['ours']['conv']:,} (no bias)")
        for t in res["tools"]:
            if "error" in t:
                print(f"  {t['tool']:9s} failed: {t['error']}")
                continue
            terms = (
                "".join(f" {x['maccs']:+,} {x['part']} ({x['why']})" for x in t["terms"]) or " (nothing else)"
            )
            status = "explained" if t["residual"] == 0 else f"UNEXPLAINED residual {t['residual']:+,}"
            print(f"  {t['tool']:9s} {t['maccs']:,} ={terms}; {status}; {t['misses']}")
            unexplained += t["residual"] != 0
    n_results = sum(1 for res in results for t in res["tools"] if "error" not in t)
    print(f"\n{n_results - unexplained} of {n_results} tool totals explained by op type")
    if args.json:
        write_json(args.json, results)
    # An unexplained residual means a tool's rules no longer hold (a new op, a new tool version).
    return 1 if unexplained else 0
