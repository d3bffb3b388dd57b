"""`run_bench.py report`: the paper's tables beside the measured numbers, plots and an index page."""

from __future__ import annotations

import argparse

from bench.core import OUTPUT_DIR, OUTPUT_DIR_SHOWN, check_output_dir, check_output_file, write_json
from bench.report import Measurements, format_summary, write_report
from bench.results import open_store

NAME = "report"
ORDER = 70
HELP = "render Tables 1-6 (paper vs measured; Markdown, CSV, LaTeX), plots and index.md"
DESCRIPTION = (
    "Render the paper's Tables 1-6 with every measurable number from the results store beside the "
    "paper's (columns labelled paper / measured / diff), accuracy-vs-MAccs plots with Pareto fronts "
    "(PNG and SVG) and an index page. Measures nothing: run `run_bench.py` (or profile/time/eval) first."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="PATH",
        help=f"results database (default: {OUTPUT_DIR_SHOWN}results.sqlite, or $EAPBENCH_DB)",
    )
    p.add_argument(
        "--out", metavar="DIR", default=str(OUTPUT_DIR), help=f"output folder (default: {OUTPUT_DIR_SHOWN})"
    )
    p.add_argument(
        "--data",
        metavar="DIR|FINGERPRINT",
        help="the data set whose accuracy every table and plot shows: an evaluated folder or a "
        "fingerprint prefix (default: the main job's data set, else the one with the most evaluated "
        "models); evaluations of other data sets are never mixed in",
    )
    p.add_argument("--no-plots", action="store_true", help="tables and index only")
    p.add_argument("--json", metavar="PATH", help="also write the rendered tables and summary as JSON")


def run(args: argparse.Namespace) -> int:
    check_output_dir(args.out, "--out")
    check_output_file(args.json, "--json")
    with open_store(args.db, must_exist=True) as store:
        rows = store.query(latest_only=True)
        db_path = str(store.path)
    if args.data is not None:
        Measurements(rows, data=args.data).require_data_set()  # exit 2 before anything is written
    result = write_report(rows, args.out, plots=not args.no_plots, db_path=db_path, data=args.data)
    print(format_summary(result["summary"]))
    shown = result["data_set"]
    print(f"accuracy: {shown['label'] if shown else 'none measured'}", end="")
    others = result["other_data_sets"]
    print(f" ({len(others)} other data set(s) not shown; --data picks one)" if others else "")
    print(
        f"report: {result['index']} ({len(result['tables'])} tables x md/csv/tex, {len(result['plots'])} plot files)"
    )
    if args.json:
        write_json(args.json, result)
    return 0
