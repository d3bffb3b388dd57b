"""The cost of a plan from a short measured probe: a few training steps of each row's model on the device.

The probe times forward + backward + Adam step on random tensors of the recipe's batch and crop
size (data loading is not timed: a prepare-data store keeps it off the critical path), after one
warm-up step. Hours = iterations x seconds per step, summed over the runs.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from bench.core import resolve_device
from bench.train.loop import build_model
from bench.train.losses import get_loss


@dataclass(frozen=True)
class Probe:
    """Seconds per training step of one model at the recipe's batch and crop size on ``device``."""

    model: str
    seconds_per_step: float
    steps: int
    batch: int
    patch: int
    device: str


def probe_model(model_spec: str, batch: int, patch: int, loss: str, device: str, steps: int = 2) -> Probe:
    """Time ``steps`` training steps (after one warm-up) of a freshly built model."""
    dev = resolve_device(device)
    _, model = build_model(model_spec)
    model.to(dev).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = get_loss(loss)
    gen = torch.Generator().manual_seed(0)
    ldrs = torch.rand(batch, 3, 3, patch, patch, generator=gen).to(dev)
    ev = torch.tensor([[-2.0, 0.0, 2.0]]).repeat(batch, 1).to(dev)
    gt = torch.rand(batch, 3, patch, patch, generator=gen).to(dev)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(ldrs, ev).float(), gt).backward()
        optimizer.step()

    step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return Probe(model_spec, (time.perf_counter() - t0) / steps, steps, batch, patch, str(dev))


def estimate(runs: list[dict[str, Any]], probes: dict[str, Probe]) -> dict[str, Any]:
    """Iterations and device-hours of ``runs`` (train configs) from the probes of their models."""
    seconds = sum(r["iters"] * probes[r["model"]].seconds_per_step for r in runs)
    device = next(iter(probes.values())).device if probes else "cpu"
    unit = "GPU-hours" if device.startswith("cuda") else "CPU-hours"
    return {
        "iterations": sum(r["iters"] for r in runs),
        "hours": round(seconds / 3600, 4),
        "unit": unit,
        "device": device,
        "probes": [asdict(p) for p in probes.values()],
        "note": "compute only (forward, backward, Adam) on random tensors; evaluation and data loading not included",
    }
