"""``reproduce``: plan the runs of a table, hand the unfinished ones to submitit, aggregate, render.

RUNS folder: ``plan.json`` (rows, seeds, the recipe and its deviations, data fingerprints, runs),
``runs/ROW/seedN/`` (one training run + its ``eval.json`` and ``result.json``), ``submitit/`` (the
executor's job files and logs), ``train-store/`` (only with ``--layout`` on a non-store TRAIN: the
data decoded once by prepare-data), and after aggregation ``table.md`` and ``results.json``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.core import UsageError, atomic_write_text, check_output_dir, write_json
from bench.data import check_dataset, dataset_fingerprint
from bench.data.prepare import prepare_store
from bench.data.store import is_store
from bench.reproduce.executor import Outcome, execute, local_slots
from bench.reproduce.job import RunTask, read_result
from bench.reproduce.plan import Plan, PlannedRun, check_resume, select_rows, write_plan
from bench.reproduce.probe import estimate, probe_model
from bench.reproduce.recipe import runtime_values, scaled_recipe
from bench.reproduce.table import build_report, render_markdown


@dataclass(frozen=True)
class ReproduceOptions:
    """The options of one ``reproduce`` call (the CLI's, typed)."""

    table: str
    data: str
    test: str
    out: str
    rows: list[str] | None = None
    variants: list[str] = field(default_factory=list)
    layout: str | None = None
    seeds: int = 3
    iters: int | None = None
    minutes: float | None = None
    recipe: list[str] = field(default_factory=list)
    executor: str = "auto"
    gpus_per_run: int = 1
    device: str = "auto"
    resume: bool = False
    dry_run: bool = False
    probe_steps: int = 2
    runs_per_device: int = 1  # local: runs sharing one GPU (or the CPU) at a time
    workers: int = 2  # data-loader processes per run (runtime: not part of the recipe)


def folder_name(row: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", row)


def training_source(opts: ReproduceOptions) -> tuple[str, bool]:
    """Where training reads (TRAIN, or RUNS/train-store when --layout names TRAIN's layout), and whether to prepare it."""
    if opts.layout is None or is_store(opts.data):
        return opts.data, False
    store = str(Path(opts.out) / "train-store")
    return store, not is_store(store)


def describe_budget(iters: int, minutes: float | None) -> str:
    return f"{iters} iterations per run" + (f" (at most {minutes:g} min)" if minutes else "")


def build_plan(opts: ReproduceOptions) -> Plan:
    """The plan (nothing written); the data sets are checked and fingerprinted now."""
    if opts.seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {opts.seeds}")
    if (opts.iters is None) == (opts.minutes is None):
        raise UsageError("give one budget: --iters N or --minutes M (per run)")
    if opts.iters is not None and opts.iters < 1:
        raise UsageError(f"--iters must be at least 1, got {opts.iters}")
    if opts.minutes is not None and not opts.minutes > 0:
        raise UsageError(f"--minutes must be positive, got {opts.minutes}")
    rows = select_rows(opts.table, opts.rows, opts.variants)
    read_from, _ = training_source(opts)
    scan_root, scan_layout = (opts.data, opts.layout) if not is_store(read_from) else (read_from, None)
    layout, ids = check_dataset(scan_root, None, True, scan_layout)
    min_side = min(min(layout.sample_size(Path(scan_root), sid)) for sid in ids)
    test_layout, test_ids = check_dataset(opts.test, None, True, opts.layout)
    data = {
        "path": opts.data,
        "read_from": read_from,
        "layout": layout.name,
        "scenes": len(ids),
        "fingerprint": dataset_fingerprint(scan_root, ids, layout),
    }
    test = {
        "path": opts.test,
        "layout": opts.layout,
        "images": len(test_ids),
        "fingerprint": dataset_fingerprint(opts.test, test_ids, test_layout),
    }
    estimate_record = None
    iters = opts.iters
    if iters is None:  # --minutes: the iterations the slowest row does in that time, for every row
        base = scaled_recipe(opts.table, 1000, opts.recipe, min_side).values
        probes = {
            r.model: probe_model(r.model, base["batch"], base["patch"], r.loss or base["loss"], opts.device)
            for r in rows
        }
        iters = max(1, int(opts.minutes * 60 / max(p.seconds_per_step for p in probes.values())))
    recipe = scaled_recipe(opts.table, iters, opts.recipe, min_side)
    runs = []
    for row in rows:
        for seed in range(opts.seeds):
            key = f"{folder_name(row.row)}-seed{seed}"
            run_dir = Path(opts.out) / "runs" / folder_name(row.row) / f"seed{seed}"
            config = {
                **recipe.values,
                **runtime_values(iters),
                "workers": opts.workers,
                "model": row.model,
                "data": read_from,
                "out": str(run_dir),
                "seed": seed,
                "iters": iters,
                "max_minutes": opts.minutes,
                "extra": {"reproduce_table": opts.table, "reproduce_row": row.row},
            }
            if row.loss is not None:
                config["loss"] = row.loss
            runs.append(PlannedRun(key, row.row, seed, str(run_dir), config))
    launch = {
        "executor": opts.executor,
        "gpus_per_run": opts.gpus_per_run,
        "devices": [f"cuda:{s}" if s is not None else "cpu" for s in local_slots()],
        "runs_per_device": opts.runs_per_device,
        "multi_gpu": "Slurm: tasks_per_node = gpus_per_node = N, DDP via submitit's TorchDistributedEnvironment"
        if opts.gpus_per_run > 1
        else "one process per run",
    }
    budget = {"iters": iters, "minutes": opts.minutes, "describe": describe_budget(iters, opts.minutes)}
    plan = Plan(opts.table, rows, opts.seeds, recipe, budget, data, test, runs, launch, estimate_record)
    if opts.dry_run:
        probes = {}
        for r in rows:
            loss = r.loss or recipe.values["loss"]
            probes[r.model] = probe_model(
                r.model, recipe.values["batch"], recipe.values["patch"], loss, opts.device, opts.probe_steps
            )
        plan.estimate = estimate([run.config for run in runs], probes)
    return plan


def describe_plan(plan: Plan) -> str:
    lines = [
        f"Table {plan.table}: {len(plan.rows)} rows x {plan.seeds} seeds = {len(plan.runs)} runs, "
        f"{plan.budget['describe']}",
        f"train: {plan.data['path']} ({plan.data['scenes']} scenes, read from {plan.data['read_from']}); "
        f"test: {plan.test['path']} ({plan.test['images']} images)",
        "rows: " + ", ".join(f"{r.row}={r.model}" + (f" [{r.loss}]" if r.loss else "") for r in plan.rows),
        "recipe: " + ", ".join(f"{k}={v}" for k, v in plan.recipe.values.items()),
        "deviations from the paper's recipe:",
        *[f"  {d.key}: {d.paper} -> {d.used} ({d.why})" for d in plan.recipe.deviations],
        f"launch: {plan.launch['executor']} executor, devices {', '.join(plan.launch['devices'])}, "
        f"{plan.launch['multi_gpu']}",
    ]
    if plan.estimate:
        e = plan.estimate
        per = ", ".join(f"{p['model']} {p['seconds_per_step']:.3f} s/step" for p in e["probes"])
        lines.append(
            f"estimated cost: {e['iterations']} iterations, {e['hours']:.4f} {e['unit']} ({per}; {e['note']})"
        )
    return "\n".join(lines)


def reproduce(opts: ReproduceOptions) -> dict[str, Any]:
    """Plan, run what is unfinished, aggregate; returns the record written to ``RUNS/results.json``."""
    plan = build_plan(opts)
    if opts.dry_run:
        print(describe_plan(plan))
        return {"plan": plan.to_json(), "dry_run": True}
    out = Path(opts.out)
    check_resume(out, plan, opts.resume)
    check_output_dir(out, "--out")
    _, prepare = training_source(opts)
    if prepare:
        print(
            prepare_store(
                opts.data, plan.data["read_from"], layout=opts.layout, show_progress=False
            ).describe()
        )
    write_plan(out, plan)
    todo = [run for run in plan.runs if read_result(Path(run.run_dir)) is None]
    print(describe_plan(plan))
    print(f"reproduce: {len(todo)} of {len(plan.runs)} runs to do ({len(plan.runs) - len(todo)} finished)")
    tasks = [
        RunTask(r.key, r.row, r.seed, r.config, opts.test, opts.layout, opts.device, opts.gpus_per_run)
        for r in todo
    ]

    def on_done(outcome: Outcome) -> None:
        state = f"FAILED: {outcome.error}" if outcome.error else "done"
        print(f"reproduce: {outcome.key} {state}", file=sys.stderr, flush=True)

    hours = opts.minutes / 60 + 0.5 if opts.minutes else 24.0  # Slurm's time limit per job (see executor)
    outcomes = execute(
        tasks, opts.executor, out / "submitit", hours, opts.gpus_per_run, on_done, opts.runs_per_device
    )
    results = {r.key: res for r in plan.runs if (res := read_result(Path(r.run_dir))) is not None}
    report = build_report(plan, results)
    text = render_markdown(report)
    atomic_write_text(out / "table.md", text)
    record = {
        "table": report.to_json(),
        "submitted": len(tasks),
        "finished": len(results),
        "failed": [asdict(o) for o in outcomes if o.error],
        "plan": str(out / "plan.json"),
    }
    write_json(out / "results.json", record)
    print(text)
    return record
