"""One (row, seed) run as a submitit job: train (resuming from its last checkpoint), then evaluate the EMA model.

:class:`RunJob` follows submitit's checkpointing protocol: ``__call__(task)`` does the work and
``checkpoint(task)`` tells submitit how to requeue it after a preemption or a time limit (the
same call again, which resumes from the run's last checkpoint: at most ``save_every`` iterations
are lost). Every step is idempotent: a finished run (``result.json``) returns at once, a trained
one is only evaluated, a killed one continues from ``checkpoints/last.json``.

Run folder (``RUNS/runs/ROW/seedN/``): the training run (``config.json``, ``log.csv``,
``checkpoints/``, ``ema.safetensors``, ``summary.json``), ``eval.json`` (the eval record on TEST)
and ``result.json`` (written last: the run is done).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from bench.core import distributed as D
from bench.core import write_json
from bench.evaluation.evaluate import evaluate
from bench.train import checkpoint as ckpt
from bench.train.config import TrainConfig
from bench.train.ema import ema_copy
from bench.train.loop import build_model, train

RESULT = "result.json"
EVAL = "eval.json"


@dataclass(frozen=True)
class RunTask:
    """What a job needs: the run's train config, the test set, and how to score it."""

    key: str
    row: str
    seed: int
    config: dict[str, Any]
    test: str
    layout: str | None = None
    device: str = "auto"
    world: int = 1  # processes (GPUs) of the run: more than one only on Slurm (--gpus-per-run)


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run: its metrics on TEST (None for a metric no image could be scored on)."""

    key: str
    row: str
    seed: int
    iters: int
    train_seconds: float
    metrics: dict[str, float | None]
    n_scored: int
    device: str


def read_result(run_dir: Path) -> RunResult | None:
    """The stored result of a finished run, or None when it is not finished (or the file is damaged)."""
    try:
        return RunResult(**json.loads((run_dir / RESULT).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def trained_iterations(run_dir: Path) -> int | None:
    """Iterations of a finished training (``summary.json`` and ``ema.safetensors`` both there), else None."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return int(summary["iters"]) if (run_dir / "ema.safetensors").is_file() else None


def weights_from_last_checkpoint(cfg: TrainConfig) -> None:
    """A run killed after its final checkpoint and before its weight files: write them from the checkpoint."""
    name, model = build_model(cfg.model)
    ema = ema_copy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    side = ckpt.load_checkpoint(cfg.out, model_name=name, model=model, ema=ema, optimizer=optimizer)
    meta = {"iteration": str(side["iteration"]), "data_hash": str(side.get("data_hash"))}
    ckpt.save_weights(Path(cfg.out) / "model.safetensors", model, name, meta)
    ckpt.save_weights(Path(cfg.out) / "ema.safetensors", ema, name, {**meta, "ema": "true"})
    write_json(
        Path(cfg.out) / "summary.json", {"iters": side["iteration"], "seconds": side.get("seconds", 0)}
    )


def train_run(cfg: TrainConfig) -> None:
    """Train, or continue the run's last checkpoint; nothing when the training is already finished."""
    run_dir = Path(cfg.out)
    done = trained_iterations(run_dir)
    if done is not None and done >= cfg.iters:
        return
    last = run_dir / ckpt.CKPT_DIR / "last.json"
    if last.exists():
        side = json.loads(last.read_text())
        if int(side.get("iteration", 0)) >= cfg.iters:
            weights_from_last_checkpoint(cfg)
            return
        # every recipe key is "given": resuming with a changed recipe is refused by resolve_config
        train(cfg, resume=True, given=set(cfg.to_json()))
    else:
        train(cfg)


class RunJob:
    """The submitit job of one run (see the module doc); picklable, holds no state."""

    def __call__(self, task: RunTask) -> RunResult:
        if task.world > 1:
            # multi-GPU rows (--gpus-per-run N): one task per GPU, DDP through the torchrun variables
            import submitit  # optional dependency (the `reproduce` extra)

            submitit.helpers.TorchDistributedEnvironment().export()
        run_dir = Path(task.config["out"])
        finished = read_result(run_dir)
        if finished is not None:
            return finished
        cfg = TrainConfig(**{**task.config, "device": task.device})
        train_run(cfg)
        if not D.is_main_process():
            D.teardown()
            return RunResult(task.key, task.row, task.seed, cfg.iters, 0.0, {}, 0, task.device)
        rec = evaluate(
            cfg.model,
            task.test,
            weights=str(run_dir / "ema.safetensors"),
            layout=task.layout,
            device=task.device,
            show_progress=False,
            distributed=False,
        )
        write_json(run_dir / EVAL, rec)
        summary = json.loads((run_dir / "summary.json").read_text())
        result = RunResult(
            key=task.key,
            row=task.row,
            seed=task.seed,
            iters=int(summary["iters"]),
            train_seconds=float(summary.get("seconds", 0.0)),
            metrics={m: rec[m] for m in rec["metrics"]},
            n_scored=int(rec["n_scored"]),
            device=rec["device"],
        )
        write_json(run_dir / RESULT, asdict(result))
        return result

    def checkpoint(self, task: RunTask) -> Any:
        """submitit's requeue hook: the same call again (it resumes from the run's last checkpoint)."""
        import submitit  # optional dependency (the `reproduce` extra)

        return submitit.helpers.DelayedSubmission(RunJob(), task)
