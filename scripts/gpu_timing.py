#!/usr/bin/env python3
"""The prepared GPU timing run of issue 17: every network at 1920x1080 on one CUDA card, in ~8 minutes.

    python scripts/gpu_timing.py --out OUT                     # on the GPU machine (default budget 450 s)
    python scripts/gpu_timing.py --out OUT --device cpu --size 64x48 --repeat 2 --no-store   # rehearsal

Under one wall-clock budget (``--budget-s``, installs included), in priority order, each step a
child process with its own timeout (see scripts/gpu_plan.py), the outputs rewritten after EVERY
step so that a cut-off run keeps what it finished:

0. describe the machine (a child: the parent never touches CUDA); pip install torch-tensorrt
   matching the installed torch (and onnxruntime-gpu if an ``onnxruntime`` backend is registered),
   with a timeout; a failed install is recorded and TensorRT is then "not available";
1. ``list`` and ``profile`` (meta tensors, CPU: the model list, MAccs, the peak-memory estimate),
   then ``calibrate --device cuda`` (roofline ceilings, saved in ``OUT/cache``);
2. ``time``: eager fp32 with TF32 off and on, fp16 and bf16 with CUDA graphs; TensorRT fp16;
   ONNX Runtime with its TensorRT provider (fp16) and its CUDA provider (fp16, fp32), each skipped
   with the reason when onnxruntime lacks that provider; torch.compile fp16; for the paper's
   networks first, then every other registered one;
3. the tables: timing (md/csv/json), numerics vs eager fp32, peak memory vs the estimate, the
   runtime-vs-MAccs plot, in ``OUT/<card-slug>/`` (raw JSON of every step in ``raw/``), ready to be
   copied to ``reports/gpu/<card-slug>/`` unchanged.

With ``--device cpu`` it is a rehearsal: the same plan, with CUDA graphs, TensorRT, nvidia-smi and
the installs skipped and recorded as such. It needs only the runtime dependencies (the dev
profilers torchinfo, fvcore, thop, ptflops are never imported). Exit 0 when it wrote the folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
sys.path[:0] = [str(SCRIPTS), str(REPO)]  # the helper modules beside this file, and bench (also under runpy)

from gpu_env import card_slug, driver_version, install_all  # noqa: E402  (needs the sys.path line above)
from gpu_plan import (  # noqa: E402
    HEADLINE,
    PlanOptions,
    Step,
    StepResult,
    child,
    deploy_skips,
    run_step,
    select,
    timing_plan,
)  # fmt: skip
from gpu_report import timing_markdown, write_card_folder  # noqa: E402

markdown = timing_markdown  # the name tests/test_timing.py calls
DEFAULT_BUDGET_S = 450.0  # 7.5 minutes: the ~8-minute slot, installs included, with a margin


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output folder (created); the card's folder goes inside")
    ap.add_argument(
        "--budget-s",
        type=float,
        default=DEFAULT_BUDGET_S,
        help=f"wall-clock budget of the whole run, installs included (default {DEFAULT_BUDGET_S:.0f})",
    )
    ap.add_argument(
        "--models",
        default=None,
        help="comma-separated (default: every registered network but the parameter-free references)",
    )
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=20, help="timed forwards per model (others: half)")
    ap.add_argument("--device", default="cuda", help="cuda (default); cpu to rehearse at a tiny --size")
    ap.add_argument(
        "--size", default="1920x1080", help="timed size (default 1920x1080, padded from 1900x1060)"
    )
    ap.add_argument(
        "--no-store",
        action="store_true",
        help="leave every results database alone (default: append to OUT/results.sqlite)",
    )
    ap.add_argument(
        "--steps",
        default=None,
        metavar="PATTERNS",
        help="run only the time steps matching these wildcards, comma-separated (a rerun)",
    )
    ap.add_argument(
        "--step-timeout",
        action="append",
        default=[],
        metavar="PATTERN=S",
        help="override the timeout of the steps matching PATTERN (repeatable)",
    )
    ap.add_argument("--dry-run", action="store_true", help="print the plan with its estimates; time nothing")
    return ap.parse_args(argv)  # fmt: skip


def child_env(out: Path) -> dict[str, str]:
    path = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {
        **os.environ, "EAPBENCH_NO_PROGRESS": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": path,
        "EAPBENCH_CACHE": str(out / "cache"),  # this run's calibration, never the user's cache
    }  # fmt: skip


def describe(device: str, env: dict[str, str], log: Path) -> dict:
    """The machine's facts from ``gpu_child.py --describe`` (a UsageError-like exit 2 if that fails)."""
    cmd = [sys.executable, str(SCRIPTS / "gpu_child.py"), "--describe", device]
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    with open(log, "a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n{res.stdout}{res.stderr}")
    if res.returncode != 0:
        raise SystemExit(f"gpu_timing: cannot describe the machine: {res.stderr.strip().splitlines()[-1:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def step_records(step: Step, result: StepResult, raw: Path) -> list[dict]:
    """The records a time step wrote, marked with its step and mode; a record per model it did not finish."""
    got = [r for r in (read_json(raw / step.outputs[0]) or []) if isinstance(r, dict)] if step.outputs else []
    records = [{**r, "mode": step.mode, "step": step.name} for r in got]
    done = {r.get("model") for r in got}
    for model in step.models:
        if model not in done:
            records.append(
                {
                    "model": model,
                    "backend": step.backend,
                    "precision": step.precision,
                    "mode": step.mode,
                    "step": step.name,
                    "median_s": None,
                    "warnings": [],
                    "status": result.status if result.status != "ok" else "error",
                    "error": result.detail or "no record written",
                }  # fmt: skip
            )
    return records


def parse_timeouts(items: list[str]) -> dict[str, float]:
    timeouts = {}
    for item in items:
        pattern, _, seconds = item.partition("=")
        try:
            timeouts[pattern] = float(seconds)
        except ValueError:
            raise SystemExit(f"gpu_timing: --step-timeout {item!r}: expected PATTERN=SECONDS") from None
    return timeouts


def networks(listing: list[dict] | None, wanted: str | None) -> list[str]:
    """``--models``, else every registered model with parameters that is not an alias of another."""
    if wanted:
        return [m.strip() for m in wanted.split(",") if m.strip()]
    if not listing:
        return list(HEADLINE)
    return [
        r["name"]
        for r in listing
        if r.get("params") and r.get("family") != "reference" and not r.get("alias_of")
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    deadline = t_start + args.budget_s
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "gpu_timing.log"
    env = child_env(out)
    rehearsal = not args.device.startswith("cuda")

    facts = describe(args.device, env, log)
    if not facts["cuda_available"]:
        print(f"gpu_timing: no CUDA device (torch {facts['torch_version']}); nothing to do", file=sys.stderr)
        return 2
    card = facts["device_name"]
    folder = out / card_slug(card)
    raw = folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    if rehearsal:
        notes.append("cpu rehearsal: CUDA graphs, TensorRT, nvidia-smi and the installs skipped")

    installs = [] if args.dry_run else install_all(facts, rehearsal, deadline, log)
    if any(i.status == "installed" for i in installs):
        facts = describe(args.device, env, log)  # the versions now importable
    versions = {"card": card, "driver": driver_version(rehearsal), **facts}
    trt = facts.get("torch_tensorrt_version", "")
    tensorrt = (
        "GPU-only: skipped in the cpu rehearsal" if rehearsal else (trt if trt.startswith("not") else None)
    )
    if tensorrt and not rehearsal:
        notes.append(f"TensorRT not timed: torch_tensorrt {tensorrt}")

    summary: dict = {
        "card": card, "rehearsal": rehearsal, "command": sys.argv if argv is None else argv,
        "budget_s": args.budget_s, "versions": versions, "installs": [i.as_dict() for i in installs],
        "steps": [], "calibration": None, "profile": None, "records": [], "notes": notes,
    }  # fmt: skip

    def save() -> None:  # after every step: a cut-off run keeps what it finished
        summary["elapsed_s"] = time.perf_counter() - t_start
        write_card_folder(folder, summary)
        if log.exists():
            shutil.copyfile(log, raw / "gpu_timing.log")

    store = ("--no-store",) if args.no_store else ("--db", str(out / "results.sqlite"), "--force")
    cal_args = (
        ("--copy-mib", "1024", "--matmul-n", "8192")
        if not rehearsal
        else ("--copy-mib", "64", "--matmul-n", "512")
    )
    prelude = [
        Step("list", child("list", "--json", str(raw / "list.json")), 5, 60, ("list.json",)),
        Step("profile", child("profile", "--models", args.models or "*", "--size", args.size, "--convention",
                              "true", "--no-store", "--json", str(raw / "profile.json")), 10, 90, ("profile.json",)),
        Step("calibrate", child("calibrate", "--device", args.device, *cal_args, "--repeat", "5",
                                "--json", str(raw / "calibrate.json")), 20, 60, ("calibrate.json",)),
    ]  # fmt: skip
    for step in prelude:
        if args.dry_run and step.name == "calibrate":
            break
        result = run_step(step, deadline, log, env)
        summary["steps"].append(result.as_dict())
        if result.status != "ok":
            notes.append(f"{step.name}: {result.status} {result.detail} (see raw/gpu_timing.log)")
        if step.name == "profile":
            summary["profile"] = read_json(raw / "profile.json")
        if step.name == "calibrate":
            summary["calibration"] = read_json(raw / "calibrate.json")
        save()

    profile = {p["model"]: p.get("maccs") for p in summary["profile"] or []}
    deploy = deploy_skips(facts.get("onnxruntime_providers"), rehearsal)
    notes += [f"{b} not timed: {why}" for b, why in deploy.items() if not rehearsal]
    opts = PlanOptions(
        args.device, args.size, args.repeat, args.warmup, raw, store, tensorrt, profile,
        parse_timeouts(args.step_timeout), deploy,
    )  # fmt: skip
    plan = select(timing_plan(opts, networks(read_json(raw / "list.json"), args.models)),
                  args.steps.split(",") if args.steps else None)  # fmt: skip
    if args.dry_run:
        for s in plan:
            print(f"{s.name:32} {len(s.models):2} models  estimate {s.estimate_s:6.0f} s  timeout {s.timeout_s:6.0f} s"
                  + (f"  skip: {s.skip}" if s.skip else ""))  # fmt: skip
        print(
            f"total estimate {sum(s.estimate_s for s in plan if not s.skip):.0f} s (budget {args.budget_s:.0f} s)"
        )
        return 0
    for step in plan:
        result = run_step(step, deadline, log, env)
        summary["steps"].append(result.as_dict())
        summary["records"] += step_records(step, result, raw)
        print(
            f"gpu_timing: {step.name}: {result.status} in {result.seconds:.0f} s {result.detail}",
            file=sys.stderr,
        )
        save()
    summary["notes"].append(
        f"wall time {time.perf_counter() - t_start:.0f} s of a {args.budget_s:.0f} s budget"
    )
    save()
    print((folder / "timing.md").read_text())
    print(f"gpu_timing: wrote {folder}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
