"""Training with the paper's recipe (protocol section 5), resumable, on one CPU, one GPU or many (torchrun).

The package by concern:

- :mod:`bench.train.config`: :class:`TrainConfig` (the recipe, frozen and validated), ``lr_at``, resume rules;
- :mod:`bench.train.losses`: the loss registry ``LOSSES`` and ``register_loss``;
- :mod:`bench.train.batches`: the reproducible data order, random flips, the in-memory patch cache;
- :mod:`bench.train.ema`: the EMA copy of the model;
- :mod:`bench.train.log`: ``RUN/log.csv`` and the progress bar;
- :mod:`bench.train.loop`: :func:`train`;
- :mod:`bench.train.summary`: the :class:`TrainSummary` record;
- :mod:`bench.train.checkpoint`: checkpoints and weight files; :mod:`bench.train.card`: model cards.

This module only re-exports, and lazily: ``bench.spec.weights`` imports ``bench.train.checkpoint``
while the loop imports evaluation and data code that imports ``bench.spec.weights``, so importing the
package itself must import none of its modules (that would be an import cycle).
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> the module that defines it.
EXPORTS = {
    "IterationBatches": "bench.train.batches",
    "PatchCache": "bench.train.batches",
    "cache_bytes": "bench.train.batches",
    "check_cache_fits": "bench.train.batches",
    "free_memory": "bench.train.batches",
    "random_flips": "bench.train.batches",
    "RUNTIME_KEYS": "bench.train.config",
    "TrainConfig": "bench.train.config",
    "lr_at": "bench.train.config",
    "resolve_config": "bench.train.config",
    "ema_update": "bench.train.ema",
    "LOG_FIELDS": "bench.train.log",
    "build_model": "bench.train.loop",
    "train": "bench.train.loop",
    "LOSSES": "bench.train.losses",
    "get_loss": "bench.train.losses",
    "register_loss": "bench.train.losses",
    "TrainSummary": "bench.train.summary",
}

__all__ = list(EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the defining module on first use of a re-exported name (PEP 562)."""
    if name not in EXPORTS:
        raise AttributeError(f"module 'bench.train' has no attribute {name!r}")
    return getattr(importlib.import_module(EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(EXPORTS))
