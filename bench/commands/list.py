"""`run_bench.py list [PATTERN]`: the model registry as a table."""

from __future__ import annotations

import argparse

import torch

from bench.core import check_output_file, write_json
from bench.core.tables import format_table
from bench.spec.names import resolve_model_names
from models.registry import create_model, model_info

NAME = "list"
ORDER = 10
HELP = "list registered models (name, family, paper row, params, description)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "pattern", nargs="?", default="*", help="wildcard pattern(s), comma-separated (default: all)"
    )
    p.add_argument("--json", metavar="PATH", help="also write the listing as JSON")


def registry_rows(pattern: str = "*") -> list[dict]:
    """One dict per model: name, family, paper_table, paper_row, params, alias_of, description."""
    rows = []
    for name in resolve_model_names(pattern):
        info = model_info(name)
        # Parameters are counted on the meta device: no memory, no initialisation cost.
        with torch.device("meta"):
            model = create_model(name)
        params = sum(p.numel() for p in model.parameters())
        rows.append({**info.as_dict(), "params": params})
    return rows


def run(args: argparse.Namespace) -> int:
    check_output_file(args.json, "--json")  # before building every model
    rows = registry_rows(args.pattern)
    table = [
        [
            r["name"],
            r["family"],
            f"T{r['paper_table']} {r['paper_row']}" if r["paper_table"] else "-",
            f"{r['params']:,}",
            (f"(= {r['alias_of']}) " if r["alias_of"] else "") + r["description"],
        ]
        for r in rows
    ]
    print(format_table(["name", "family", "paper row", "params", "description"], table, align="lllrl"))
    if args.json:
        write_json(args.json, rows)
    return 0
