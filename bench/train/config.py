"""The recipe of a training run: :class:`TrainConfig` (frozen, validated once), the lr schedule, resume rules.

Defaults are the paper's (protocol section 5): Adam, lr 8e-4 with a linear warm-up over 1000 steps
and x0.75 every 100k iterations, batch 32 of 256x256 crops at stride 128, loss 0.5 µ-law L1 + 0.5
tanh L1, an EMA copy updated every 5k steps with decay 0.5, 10 million iterations. Every value is a
field of :class:`TrainConfig` and a CLI option; the fields are the keys of ``RUN/config.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from bench.core import UsageError
from bench.train.checkpoint import CKPT_DIR
from bench.train.losses import LOSSES

# Options that may change when a run is resumed; everything else must match the run's config.json.
RUNTIME_KEYS = frozenset(
    {
        "iters",
        "max_minutes",
        "workers",
        "device",
        "save_every",
        "log_every",
        "val_every",
        "cache",
        "out",
        "data",
    }
)

# Integer options that must be at least 1, and those that must not be negative (0 means "none"/"off").
POSITIVE_INTS = ("iters", "batch", "patch", "stride", "lr_step", "ema_every", "save_every", "log_every")
NON_NEGATIVE_INTS = ("warmup", "workers", "val_every")


def option(name: str) -> str:
    """The CLI spelling of a config field (``lr_step`` -> ``--lr-step``), for error messages."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (written to ``RUN/config.json``); invalid values never exist.

    Derive a changed copy with :func:`dataclasses.replace` (which validates the result again).
    """

    model: str
    data: str
    out: str
    ids: list[str] | None = None
    iters: int = 10_000_000
    batch: int = 32  # global batch: split evenly over torchrun processes
    patch: int = 256
    stride: int = 128
    lr: float = 8e-4
    lr_decay: float = 0.75
    lr_step: int = 100_000
    warmup: int = 1000
    loss: str = "mu_tanh"
    ema_every: int = 5000
    ema_decay: float = 0.5
    flips: bool = False  # random horizontal/vertical flips (the paper does not mention any augmentation)
    seed: int = 0
    amp: bool = False  # bfloat16 autocast
    deterministic: bool = False
    # Runtime options (may change on --resume).
    device: str = "auto"
    workers: int = 2
    cache: bool = False  # hold all training patches in memory (on the GPU when training there)
    max_minutes: float | None = None
    save_every: int = 1000
    log_every: int = 50
    val_data: str | None = None
    val_ids: list[str] | None = None
    val_every: int = 0  # 0: never; otherwise evaluate the EMA model on val_data every N iterations
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes stored with the config

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every recipe value (the one place that does); a bad one is a :class:`UsageError`."""
        self.check_types()
        if self.loss not in LOSSES:
            raise UsageError(f"--loss {self.loss!r}: choose one of {', '.join(LOSSES.names())}")
        for name in POSITIVE_INTS + NON_NEGATIVE_INTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"{option(name)} must be an integer, got {value!r}")
        for name in POSITIVE_INTS:
            if getattr(self, name) < 1:
                raise UsageError(f"{option(name)} must be at least 1, got {getattr(self, name)}")
        for name in NON_NEGATIVE_INTS:
            if getattr(self, name) < 0:
                raise UsageError(f"{option(name)} must not be negative, got {getattr(self, name)}")
        for name in ("lr", "lr_decay", "ema_decay", "max_minutes"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise UsageError(f"{option(name)} must be a finite number, got {value!r}")
        if self.lr <= 0:
            raise UsageError(f"--lr must be a positive number, got {self.lr}")
        if self.lr_decay <= 0:
            raise UsageError(f"--lr-decay must be a positive number, got {self.lr_decay}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise UsageError(f"--ema-decay must be in [0, 1), got {self.ema_decay}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise UsageError(f"--max-minutes must be positive, got {self.max_minutes}")
        if self.val_every and not self.val_data:
            raise UsageError("--val-every needs --val-data")

    def check_types(self) -> None:
        """Strings, flags and id lists of the right type: a hand-edited ``config.json`` is refused here."""
        for name in ("model", "data", "out", "loss", "device"):
            if not isinstance(getattr(self, name), str):
                raise UsageError(f"{option(name)} must be a string, got {getattr(self, name)!r}")
        if self.val_data is not None and not isinstance(self.val_data, str):
            raise UsageError(f"--val-data must be a string, got {self.val_data!r}")
        for name in ("flips", "amp", "deterministic", "cache"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{option(name)} must be true or false, got {getattr(self, name)!r}")
        for name in ("ids", "val_ids"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, list | tuple) and all(isinstance(i, str) and i.isdigit() for i in value)
            ):
                raise UsageError(f"{option(name)} must be a list of numeric ids, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise UsageError(f"--seed must be an integer, got {self.seed!r}")
        if not isinstance(self.extra, dict):
            raise UsageError(f"extra must be a mapping, got {self.extra!r}")

    def to_json(self) -> dict[str, Any]:
        """The ``config.json`` record (also stored in each checkpoint's sidecar)."""
        return asdict(self)


def lr_at(cfg: TrainConfig, iteration: int) -> float:
    """The learning rate of step ``iteration`` (0-based): linear warm-up, then step decay."""
    warm = min(1.0, (iteration + 1) / cfg.warmup) if cfg.warmup else 1.0
    return cfg.lr * warm * cfg.lr_decay ** (iteration // cfg.lr_step)


def read_saved_config(path: Path) -> dict[str, Any]:
    """The fields of a run's ``config.json`` (unknown keys of other versions are dropped)."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"--resume: cannot read {path} ({exc})") from exc
    if not isinstance(saved, dict):
        raise UsageError(f"--resume: {path} does not hold a training config")
    known = {f.name for f in fields(TrainConfig)}
    return {k: v for k, v in saved.items() if k in known}


def resolve_config(cfg: TrainConfig, resume: bool, given: set[str]) -> TrainConfig:
    """The config a run uses: ``cfg`` for a new run; on resume the saved one, with runtime options from ``cfg``.

    An explicitly ``given`` recipe option that differs from the saved value is an error (a resumed run
    must continue the same run); a new run in a folder that holds one needs ``--resume``.
    """
    run_dir = Path(cfg.out)
    if not resume:
        if (run_dir / CKPT_DIR / "last.json").exists():
            raise UsageError(
                f"{cfg.out} already holds a training run: pass --resume to continue it, or choose another --out"
            )
        return cfg
    merged = read_saved_config(run_dir / "config.json")
    for key in given:
        new = getattr(cfg, key)
        if key in RUNTIME_KEYS:
            merged[key] = new
        elif merged.get(key) != new:
            raise UsageError(
                f"--resume: {cfg.out} was trained with {key}={merged.get(key)!r}; it cannot change to {new!r} "
                "(start a new --out instead)"
            )
    merged["out"] = cfg.out
    try:
        return TrainConfig(**merged)
    except TypeError as exc:  # a config.json that lacks a required field
        raise UsageError(f"--resume: {run_dir / 'config.json'} is incomplete ({exc})") from exc
