"""The main job (``python run_bench.py`` / ``make bench``): measure what can be measured, render the report.

On a fresh machine with no data and no GPU it

1. profiles every registered model at 1900x1060 (meta tensors: seconds, no memory);
2. times the EAPNet family (one model per architecture: aliases share results) on the best
   device: the paper's 1920x1080 protocol (10 warm-up, 100 timed) on a GPU, a reduced size and a
   few repeats on a CPU (:data:`bench.jobs.measure.CPU_PLAN`); then again with the best installed
   deployment backend (:func:`bench.timing.best_deploy_backend`; on a CPU only :data:`DEPLOY_MODELS`);
3. generates a small default synthetic data set once (``data/synthetic-default``, reused after);
4. evaluates the parameter-free references and every model whose shipped weights exist;
5. renders the report (``bench.report``) and prints a summary with the paths written.

Every measurement goes through the results store, so a second run reuses them (``force`` to
measure again) and only re-renders. A model that fails to measure (any error at run time, a
timing that fails its numerics check) is recorded as a :class:`~bench.core.errors.ModelFailure`,
listed in the summary with its message, and the job goes on with the other models; only a usage
error (bad options, a broken file the user gave) stops it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.core import DEFAULT_DATA_DIR, OUTPUT_DIR, format_size, progress, resolve_device
from bench.core.errors import ModelFailure
from bench.data.simulate import make_synthetic
from bench.jobs import measure
from bench.report import write_report
from bench.results import ResultsStore, default_db
from bench.spec.names import resolve_model_names
from bench.timing.deploy_backends import DEPLOY_HINT, best_deploy_backend
from bench.timing.threads import choose_threads
from models.registry import model_info

DEFAULT_DATA = DEFAULT_DATA_DIR
# The default data set: small enough to generate in seconds and evaluate on two cores.
DATA_PLAN = {"n": 8, "size": (640, 360), "seed": 0}
QUICK_DATA_PLAN = {"n": 2, "size": (96, 64), "seed": 0}
QUICK_TIME_PLAN = {"size": (64, 64), "warmup": 1, "repeat": 1}
# Timed with the best installed deployment backend too (on a CPU; every EAPNet on a GPU): each
# costs an ONNX export (~6 s, cached after) and an eager reference forward for the numerics check.
DEPLOY_MODELS = ("eapnet-lightweight", "eapnet-standard")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ensure_data(folder: str | os.PathLike, n: int, size: tuple[int, int], seed: int) -> Path:
    """The synthetic data set in ``folder``, generated only if absent or made with other settings."""
    out = Path(folder)
    manifest = out / "manifest.json"
    if manifest.is_file():
        try:
            info = json.loads(manifest.read_text())
            if (info.get("kind"), info.get("seed"), info.get("size"), len(info.get("samples", []))) == (
                "synthetic",
                seed,
                format_size(*size),
                n,
            ):
                return out
        except (OSError, ValueError):
            pass  # unreadable manifest: regenerate
    _log(f"generating {n} synthetic samples at {format_size(*size)} in {out}")
    make_synthetic(out, n, size=size, seed=seed, overwrite=True)
    return out


def timed_models(names: list[str]) -> list[str]:
    """The EAPNet family among ``names``, one name per architecture (aliases share results)."""
    return [n for n in names if model_info(n).family == "eapnet" and not model_info(n).alias_of]


def evaluated_models(names: list[str]) -> list[str]:
    """Parameter-free references and models whose shipped weights are on disk (aliases share results)."""
    return [
        n
        for n in names
        if not model_info(n).alias_of and (not model_info(n).trainable or measure.default_weights(n))
    ]


def run_main_job(
    *,
    models: str = "*",
    device: str = "auto",
    db: str | os.PathLike | None = None,
    out: str | os.PathLike = OUTPUT_DIR,
    data: str | os.PathLike | None = None,
    quick: bool = False,
    force: bool = False,
    time_size: tuple[int, int] | None = None,
    repeat: int | None = None,
    plots: bool = True,
    threads: str | int | None = "auto",
    deploy: bool | None = None,
) -> dict[str, Any]:
    """Run the whole job; returns ``{"summary", "report", "failures", "warnings", "counts", "settings", "seconds"}``.

    ``threads`` (CPU timings): a number, ``auto`` (this machine's calibrated or probed fastest count;
    a quick run does not probe and keeps torch's default) or None (torch's default).
    ``deploy``: also time with the best installed deployment backend (default: unless ``quick``).
    """
    t0 = time.perf_counter()
    db = db or default_db()
    names = resolve_model_names(models)
    dev = str(resolve_device(device))
    if quick:
        plan = measure.timing_plan(
            dev,
            time_size or QUICK_TIME_PLAN["size"],
            QUICK_TIME_PLAN["warmup"],
            repeat or QUICK_TIME_PLAN["repeat"],
        )
    else:
        plan = measure.timing_plan(dev, time_size, None, repeat)
    data_plan = QUICK_DATA_PLAN if quick else DATA_PLAN
    failures: list[str] = []
    warnings: list[str] = []
    counts = {"measured": 0, "cached": 0}
    thread_choice = None
    if dev == "cpu":
        thread_choice = choose_threads(None if quick and threads == "auto" else threads)
        plan = {**plan, "threads": thread_choice.threads}

    def note(
        kind: str, name: str, record: dict | None, hit: bool, failure: ModelFailure | str | None
    ) -> None:
        if failure is not None:
            message = failure.message if isinstance(failure, ModelFailure) else failure
            failures.append(f"{kind} {name}: {message}")
            _log(f"  {kind} {name} failed: {message}")
        else:
            counts["cached" if hit else "measured"] += 1
        for warning in (record or {}).get("warnings") or []:  # every record's, cached ones too
            warnings.append(f"{kind} {name}: {warning}")
            _log(f"  {kind} {name} warning: {warning}")

    with ResultsStore(db) as store:
        _log(f"[1/4] profiling {len(names)} models at 1900x1060 (meta tensors)")
        for name in progress(names, desc="profile"):
            note("profile", name, *measure.safe(measure.profile, store, name, force=force))

        to_time = timed_models(names)
        pad = f" padded from {format_size(*plan['pad_from'])}" if plan["pad_from"] else ""
        _log(
            f"[2/4] timing {len(to_time)} EAPNet models on {dev} at {format_size(*plan['size'])}{pad}, "
            f"{plan['warmup']} warm-up + {plan['repeat']} timed forwards"
            + (f", {thread_choice.describe()}" if thread_choice else "")
        )
        for name in progress(to_time, desc="time"):
            rec, hit, err = measure.safe(measure.time, store, name, device=dev, force=force, **plan)
            if rec is not None and rec.get("status", "ok") != "ok":
                # A timing that ran but failed (an error the timer caught, failed numerics): its message.
                rec, err = None, rec.get("error") or rec.get("status")
            note("time", name, rec, hit, err)
        wanted = not quick if deploy is None else deploy
        backend = best_deploy_backend(dev) if wanted else None
        if wanted and backend is None:
            _log(f"  no deployment backend installed ({DEPLOY_HINT}): eager only")
        to_deploy = [n for n in to_time if dev.startswith("cuda") or n in DEPLOY_MODELS] if backend else []
        for name in progress(to_deploy, desc=backend or "deploy"):
            rec, hit, err = measure.safe(
                measure.time, store, name, device=dev, force=force, backend=backend, **plan
            )
            if rec is not None and rec.get("status", "ok") != "ok":
                rec, err = None, rec.get("error") or rec.get("status")
            note(f"time ({backend})", name, rec, hit, err)

        to_eval = evaluated_models(names)
        data_dir = (
            Path(data) if data else ensure_data(Path(out) / "_data" if quick else DEFAULT_DATA, **data_plan)
        )
        _log(f"[3/4] evaluating {len(to_eval)} models ({', '.join(to_eval) or 'none'}) on {data_dir}")
        for name in progress(to_eval, desc="eval"):
            note(
                "eval",
                name,
                *measure.safe(measure.evaluate, store, name, data=data_dir, device=dev, force=force),
            )

        _log(f"[4/4] rendering the report into {out}")
        rows = store.query(latest_only=True)
    # The report's accuracy is this job's data set only, never an older eval of other data.
    report = write_report(rows, out, plots=plots, db_path=str(db), data=str(data_dir))
    return {
        "summary": report["summary"],
        "report": report,
        "failures": failures,
        "warnings": warnings,
        "counts": counts,
        "settings": {
            "device": dev,
            "time_size": format_size(*plan["size"]),
            "warmup": plan["warmup"],
            "repeat": plan["repeat"],
            "threads": thread_choice.threads if thread_choice else None,
            "threads_source": thread_choice.source if thread_choice else None,
            "deploy_backend": backend,
            "data": str(data_dir),
            "db": str(db),
            "quick": quick,
        },
        "seconds": time.perf_counter() - t0,
    }
