"""The EMA copy of the model (the one the paper evaluates): updated every ``--ema-every`` steps."""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_copy(model: nn.Module) -> nn.Module:
    """A frozen copy of ``model`` in eval mode: the start of its exponential moving average."""
    return copy.deepcopy(model).eval().requires_grad_(False)


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * model`` for parameters; buffers are copied."""
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p.detach(), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


def ema_updates(iteration: int, every: int) -> int:
    """How many EMA updates ``iteration`` steps have made."""
    return iteration // every
