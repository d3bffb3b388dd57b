"""The one training recipe of a reproduction: the paper's, scaled to the budget, every deviation recorded.

The paper trains 10 million iterations with a warm-up of 1000 steps, the learning rate x0.75 every
100k iterations and an EMA update every 5000 steps (protocol section 5). A shorter budget keeps the
*shape* of that schedule: warm-up, decay interval and EMA interval scale with the iterations, so the
run sees the same number of decays and EMA updates per iteration budget fraction. Crops larger than
the training images shrink to fit. Each change is a :class:`Deviation` in ``plan.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from bench.core import UsageError
from bench.train.config import RUNTIME_KEYS, TrainConfig

PAPER_ITERS = 10_000_000
# Schedule lengths in iterations that scale with the budget (protocol section 5), and their minimum.
SCALED = {"warmup": 0, "lr_step": 1, "ema_every": 1}
# Fields a --recipe KEY=VALUE may set: the recipe, not the run's identity or runtime.
FIXED = {"model", "data", "out", "ids", "seed", "iters", "val_data", "val_ids", "val_every", "extra"}
RECIPE_KEYS = tuple(f.name for f in fields(TrainConfig) if f.name not in FIXED | RUNTIME_KEYS)
# The loss each table's caption names (Tables 1-2: mu-law L1); Table 3 sets it per row.
TABLE_LOSS = {"1": "mu", "2": "mu"}


@dataclass(frozen=True)
class Deviation:
    """One value that differs from the paper's recipe, and why."""

    key: str
    paper: Any
    used: Any
    why: str


@dataclass(frozen=True)
class Recipe:
    """The recipe values (TrainConfig fields) shared by every run, and the deviations from the paper."""

    values: dict[str, Any]
    deviations: tuple[Deviation, ...]

    def to_json(self) -> dict[str, Any]:
        return {"values": self.values, "deviations": [asdict(d) for d in self.deviations]}


def paper_values(table: str) -> dict[str, Any]:
    """The paper's recipe (TrainConfig's defaults) with the loss the table's caption names."""
    defaults = {f.name: f.default for f in fields(TrainConfig) if f.name in RECIPE_KEYS}
    if table in TABLE_LOSS:
        defaults["loss"] = TABLE_LOSS[table]
    return defaults


def parse_override(text: str, paper: dict[str, Any]) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (key, typed value), typed like the paper's value; UsageError naming the problem."""
    key, sep, raw = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or key not in paper:
        raise UsageError(f"--recipe {text!r}: write KEY=VALUE with KEY one of {', '.join(RECIPE_KEYS)}")
    kind = type(paper[key])
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return key, raw.lower() in ("true", "1", "yes")
        return key, kind(raw)
    except ValueError:
        raise UsageError(f"--recipe {text!r}: {raw!r} is not a {kind.__name__}") from None


def scaled_recipe(table: str, iters: int, overrides: list[str], min_side: int) -> Recipe:
    """The paper's recipe for ``table`` scaled to ``iters`` iterations, crops fitted to ``min_side`` pixels."""
    paper = paper_values(table)
    values = dict(paper)
    deviations: list[Deviation] = []
    if iters != PAPER_ITERS:
        deviations.append(Deviation("iters", PAPER_ITERS, iters, "budget (--iters / --minutes)"))
        for key, floor in SCALED.items():
            values[key] = max(floor, round(paper[key] * iters / PAPER_ITERS))
    if values["patch"] > min_side:
        values["patch"] = max(8, min_side // 8 * 8)
        values["stride"] = max(1, values["patch"] // 2)
    given = dict(parse_override(o, paper) for o in overrides)
    values.update(given)
    for key in RECIPE_KEYS:
        if values[key] != paper[key]:
            if key in given:
                why = "--recipe override"
            elif key in SCALED:
                why = f"scaled with the budget ({paper[key]} per {PAPER_ITERS} iterations)"
            else:
                why = f"training images are {min_side} px on their short side"
            deviations.append(Deviation(key, paper[key], values[key], why))
    TrainConfig(model="x", data="x", out="x", iters=iters, **values)  # validates every value now
    return Recipe(values, tuple(deviations))


def runtime_values(iters: int) -> dict[str, Any]:
    """Checkpoint and log intervals of a run: at most 1000 iterations (a kill loses at most that), ~10 per run."""
    every = max(1, min(1000, iters // 10))
    return {"save_every": every, "log_every": max(1, min(50, every))}
