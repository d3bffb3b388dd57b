"""Hand the runs to submitit: Slurm on a cluster, local processes on one machine (one run per device).

``--executor auto`` is submitit's ``AutoExecutor``: Slurm where ``sbatch`` is found, else its local
executor; ``local`` and ``slurm`` force one. Locally each run is one process started by submitit's
``LocalExecutor``, pinned to one visible GPU (``visible_gpus``), or to the CPU when there is none;
at most ``--runs-per-device`` runs per device (default 1) run at a time, the next is handed over when one finishes. On Slurm all
runs go as one job array (``slurm_array_parallelism`` bounds it); a preempted or timed-out job is
requeued by submitit and resumes from its checkpoint (:class:`~bench.reproduce.job.RunJob`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.core import REPO_ROOT, UsageError
from bench.reproduce.job import RunJob, RunTask

EXECUTORS = ("auto", "local", "slurm")
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Outcome:
    """A run that was handed to an executor: its job id and, when it failed, the error's last line."""

    key: str
    job_id: str
    error: str | None = None


def submitit_module() -> Any:
    try:
        import submitit  # optional dependency (the `reproduce` extra): only `reproduce` runs need it
    except ImportError:
        raise UsageError("reproduce needs submitit: pip install 'eapbench[reproduce]'") from None
    return submitit


def local_slots(per_device: int = 1) -> list[int | None]:
    """``per_device`` slots per visible GPU, or on the CPU (several small runs share a device when they fit)."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return (list(range(count)) or [None]) * max(1, per_device)


def make_executor(kind: str, folder: Path, hours: float, gpus_per_run: int, parallel: int) -> Any:
    """A submitit executor writing its logs under ``folder``: Slurm's through ``AutoExecutor``, or the local one.

    The local executor is made directly (``submitit.LocalExecutor``): through ``AutoExecutor`` it
    accepts no ``visible_gpus``, which pins each run to its GPU.
    """
    submitit = submitit_module()
    cluster = submitit.AutoExecutor.which() if kind == "auto" else kind
    # The job processes import this checkout (a run started from elsewhere still finds `bench`).
    setup = [f"export PYTHONPATH={REPO_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}"]
    # Slurm: the job's time limit; a run that reaches it is requeued by submitit and resumes from its
    # checkpoint, so a long run goes on in several jobs. Locally no limit is wanted: a week.
    timeout = max(10, int(hours * 60 * 1.5) + 10)
    if cluster != "slurm":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=7 * 24 * 60, setup=setup)
        return executor
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    except (RuntimeError, ValueError) as exc:
        raise UsageError(f"--executor {kind}: {exc}") from None
    executor.update_parameters(
        name="eapbench-reproduce",
        timeout_min=timeout,
        slurm_setup=setup,
        tasks_per_node=gpus_per_run,
        gpus_per_node=gpus_per_run,
        slurm_array_parallelism=parallel,
    )
    return executor


def error_line(job: Any) -> str:
    try:
        job.result()
    except Exception as exc:  # submitit re-raises the job's exception with its traceback as text
        lines = [x for x in str(exc).strip().splitlines() if x.strip()]
        return lines[-1] if lines else type(exc).__name__
    return ""


def run_local(executor: Any, tasks: list[RunTask], on_done: Any, per_device: int = 1) -> list[Outcome]:
    """One process per run, at most ``per_device`` per device at a time."""
    free = list(enumerate(local_slots(per_device)))
    pending = list(tasks)
    running: dict[tuple[int, int | None], tuple[RunTask, Any]] = {}
    outcomes: list[Outcome] = []
    while pending or running:
        while pending and free:
            slot, task = free.pop(0), pending.pop(0)
            gpu = slot[1]
            executor.update_parameters(
                gpus_per_node=0 if gpu is None else 1, visible_gpus=() if gpu is None else (gpu,)
            )
            running[slot] = (task, executor.submit(RunJob(), task))
        time.sleep(POLL_SECONDS)
        for slot, (task, job) in list(running.items()):
            if job.done():
                del running[slot]
                free.append(slot)
                outcome = Outcome(task.key, str(job.job_id), error_line(job) or None)
                outcomes.append(outcome)
                on_done(outcome)
    return outcomes


def run_slurm(executor: Any, tasks: list[RunTask], on_done: Any) -> list[Outcome]:
    """All runs as one job array; wait for every job (requeues are submitit's)."""
    with executor.batch():
        jobs = [executor.submit(RunJob(), task) for task in tasks]
    outcomes = []
    for task, job in zip(tasks, jobs, strict=True):
        while not job.done():
            time.sleep(10 * POLL_SECONDS)
        outcome = Outcome(task.key, str(job.job_id), error_line(job) or None)
        outcomes.append(outcome)
        on_done(outcome)
    return outcomes


def execute(
    tasks: list[RunTask],
    kind: str,
    folder: Path,
    hours: float,
    gpus_per_run: int,
    on_done: Any,
    per_device: int = 1,
) -> list[Outcome]:
    """Run ``tasks`` through submitit; ``on_done(outcome)`` is called as each run ends."""
    if not tasks:
        return []
    if gpus_per_run > 1 and kind != "slurm":
        raise UsageError("--gpus-per-run above 1 needs --executor slurm (one task per GPU, DDP)")
    executor = make_executor(kind, folder, hours, gpus_per_run, parallel=len(tasks))
    if getattr(executor, "cluster", "local") == "slurm":
        return run_slurm(executor, tasks, on_done)
    return run_local(executor, tasks, on_done, per_device)
