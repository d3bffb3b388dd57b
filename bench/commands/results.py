"""`run_bench.py results`: list, filter and export what the results store holds."""

from __future__ import annotations

import argparse

from bench.core import OUTPUT_DIR_SHOWN, UsageError, check_output_file, to_json, write_json
from bench.core.tables import format_table
from bench.results import RESULT_KINDS, export_csv, open_store, summarize

NAME = "results"
ORDER = 80
HELP = "list, filter and export the stored results (CSV/JSON)"
DESCRIPTION = (
    "Show what the results store holds: one line per stored measurement (newest per cache key unless "
    "--all), filtered by kind and model pattern; --show ID prints one result with its environment."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="PATH",
        help=f"results database (default: {OUTPUT_DIR_SHOWN}results.sqlite, or $EAPBENCH_DB)",
    )
    p.add_argument("--kind", choices=RESULT_KINDS.names(), help="only this kind of result")
    p.add_argument("--model", metavar="PATTERN", help="only models matching these wildcards, comma-separated")
    p.add_argument(
        "--all", action="store_true", help="include results superseded by a newer one with the same key"
    )
    p.add_argument(
        "--show", metavar="ID", type=int, help="print one result in full (record, settings, environment)"
    )
    p.add_argument("--csv", metavar="PATH", help="export the listed results as CSV (one column per field)")
    p.add_argument("--json", metavar="PATH", help="export the listed results as JSON")


def run(args: argparse.Namespace) -> int:
    check_output_file(args.csv, "--csv")
    check_output_file(args.json, "--json")
    with open_store(args.db, must_exist=True) as store:
        if args.show is not None:
            row = store.get(args.show)
            if row is None:
                raise UsageError(f"no result with id {args.show} in {store.path}")

            print(to_json(row), end="")
            rows = [row]
        else:
            rows = store.query(kind=args.kind, model=args.model, latest_only=not args.all)
            table = [[r["id"], r["kind"], r["model"], r["created"], summarize(r)] for r in rows]
            print(format_table(["id", "kind", "model", "stored (UTC)", "result"], table, align="rllll"))
            print(f"{len(rows)} result(s) in {store.path}")
    if args.csv:
        print(f"wrote {export_csv(rows, args.csv)}")
    if args.json:
        print(f"wrote {write_json(args.json, rows)}")
    return 0
