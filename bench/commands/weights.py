"""`run_bench.py weights import --model NAME FILE.pth`: the authors' checkpoint as this suite's weights."""

from __future__ import annotations

import argparse

from bench.core import check_output_file, write_json
from bench.core.paths import user_cache_dir
from bench.spec.official import import_official_weights

NAME = "weights"
ORDER = 75
HELP = "import an authors' released checkpoint (.pth) as safetensors that --weights loads"
DESCRIPTION = (
    "weights import --model NAME FILE.pth: loads FILE with torch.load(weights_only=True) (a nested "
    "state_dict/model entry and a module. prefix are accepted), renames its keys with the model's "
    "official-weights converter, refuses missing or extra keys and wrong shapes in one line before "
    "writing anything, and writes safetensors naming the model and the source's SHA-256."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="weights_action", metavar="ACTION", required=True, parser_class=type(p))
    imp = sub.add_parser("import", help="convert an authors' checkpoint", description=DESCRIPTION)
    imp.add_argument("file", metavar="FILE.pth", help="the authors' checkpoint")
    imp.add_argument("--model", required=True, metavar="NAME", help="the registered model it is for")
    imp.add_argument(
        "--out",
        metavar="PATH",
        help="the .safetensors to write (default: "
        f"{user_cache_dir() / 'weights'}/NAME/<FILE's stem>.safetensors, or under $EAPBENCH_CACHE)",
    )
    imp.add_argument(
        "--json", metavar="PATH", help="also write the import record (source, SHA-256, output) as JSON"
    )


def run(args: argparse.Namespace) -> int:
    check_output_file(args.out, "--out")
    check_output_file(args.json, "--json")
    record = import_official_weights(args.model, args.file, args.out)
    print(
        f"{record.model}: {record.source_name} (sha256 {record.source_sha256[:16]}) -> {record.out} "
        f"({record.tensors} tensors, {record.params:,} params); load it with --weights {record.out}"
    )
    if args.json:
        write_json(args.json, record.as_dict())
    return 0
