#!/usr/bin/env python3
"""Score trained runs, the shipped weights and the two references on held-out sets, in one process.

    python scripts/eval_heldout.py --out DIR --set test-motion=DATA ... --run MODEL=RUN_DIR ...
        [--shipped eapnet-lightweight,...] [--refs ref-frame,exposure-merge] [--device auto] [--db PATH]

One ``run_bench.py eval --json`` per (model, set) through ``bench.cli.main`` (one Python start for
them all, which matters when a GPU is waiting), then ``DIR/scores.json`` (every record's mean
PSNR and PSNR-µ) and ``DIR/scores.md``: one row per model, one PSNR-µ column per set, and whether
each trained model beats both references on every set with motion and ``ref-frame`` on the static
ones (issue 18's bar; a set whose name contains "static" counts as static).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cli import main as cli_main  # noqa: E402  (after the sys.path line)
from bench.core import atomic_write_text, write_json  # noqa: E402

REFS = "ref-frame,exposure-merge"


@dataclass(frozen=True)
class Score:
    """One model's mean scores on one set (``None`` where eval failed)."""

    model: str
    weights: str
    set: str
    psnr: float | None
    psnr_mu: float | None
    n_images: int


def pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise SystemExit(f"eval_heldout: {what} {item!r} is not NAME=PATH")
        out[name] = value
    return out


def run_eval(argv: list[str], json_path: Path) -> list[dict]:
    rc = cli_main(["eval", *argv, "--json", str(json_path)])
    if rc not in (0, 1) or not json_path.is_file():  # 1: some model failed; its record says so
        print(f"eval_heldout: eval {' '.join(argv)} exited {rc}", file=sys.stderr, flush=True)
        return []
    data = json.loads(json_path.read_text())
    return data if isinstance(data, list) else [data]


def verdicts(scores: list[Score], trained: list[str]) -> list[str]:
    """For each trained model: does it beat the references as issue 18 asks?"""
    table = {(s.model, s.set): s.psnr_mu for s in scores}
    lines = []
    for model in trained:
        for name in sorted({s.set for s in scores}):
            refs = ["ref-frame"] if "static" in name else ["ref-frame", "exposure-merge"]
            own = table.get((model, name))
            beaten = [r for r in refs if own is not None and (table.get((r, name)) or float("inf")) < own]
            ok = "yes" if len(beaten) == len(refs) else "no"
            lines.append(f"- {model} on {name}: beats {' and '.join(refs)} in PSNR-µ: {ok}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for eval/*.json, scores.json, scores.md")
    p.add_argument("--set", action="append", default=[], metavar="NAME=DATA", help="a held-out set")
    p.add_argument("--run", action="append", default=[], metavar="MODEL=RUN_DIR", help="a trained run")
    p.add_argument("--shipped", default="", help="models scored with their shipped weights (comma list)")
    p.add_argument("--refs", default=REFS, help=f"parameter-free references (default: {REFS})")
    p.add_argument("--device", default="auto")
    p.add_argument("--db", default=None, help="results database (default: none written)")
    args = p.parse_args(argv)
    sets, runs = pairs(args.set, "--set"), pairs(args.run, "--run")
    out = Path(args.out)
    (out / "eval").mkdir(parents=True, exist_ok=True)
    store = ["--db", args.db] if args.db else ["--no-store"]
    scores: list[Score] = []
    for set_name, data in sets.items():
        jobs = [(f"{m}@trained", ["--models", m, "--weights", run]) for m, run in runs.items()]
        jobs += [(f"{m}@shipped", ["--models", m]) for m in filter(None, args.shipped.split(","))]
        jobs += [("refs", ["--models", args.refs])]
        for label, models in jobs:
            path = out / "eval" / f"{set_name}.{label}.json"
            for rec in run_eval([*models, "--data", data, "--device", args.device, *store], path):
                shipped = label.endswith("@shipped")
                model = f"{rec['model']} (shipped)" if shipped else rec["model"]
                scores.append(
                    Score(
                        model,
                        str(rec.get("weights") or ""),
                        set_name,
                        rec.get("psnr"),
                        rec.get("psnr_mu"),
                        int(rec.get("n_images") or 0),
                    )
                )
    write_json(out / "scores.json", [asdict(s) for s in scores])
    names = list(sets)
    models = list(dict.fromkeys(s.model for s in scores))
    table = {(s.model, s.set): s.psnr_mu for s in scores}
    lines = ["| model | " + " | ".join(f"{n} PSNR-µ" for n in names) + " |", "|---|" + "---:|" * len(names)]
    for m in models:
        cells = [f"{table[(m, n)]:.2f}" if table.get((m, n)) is not None else "-" for n in names]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    text = "\n".join([*lines, "", *verdicts(scores, list(runs)), ""])
    atomic_write_text(out / "scores.md", text)
    print(text, flush=True)
    return 0 if scores else 1


if __name__ == "__main__":
    sys.exit(main())
