"""The train-summary record: what ``train`` returns, prints, writes to ``RUN/summary.json`` and stores."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TrainSummary:
    """One finished (or stopped) training window; the field names are the stored JSON keys."""

    model: str
    run_dir: str
    iters: int  # the iteration reached (all windows of a resumed run)
    batch: int
    patch: int
    loss: str
    final_loss: float  # mean training loss of the last log row (NaN if none was logged)
    lr: float
    seconds: float  # training time of all windows
    device: str
    device_name: str
    world_size: int
    amp: bool
    torch_version: str
    weights: str  # RUN/ema.safetensors: the model to evaluate
    ema_updates: int
    ema_every: int
    ema_decay: float
    stopped: str  # "iterations" or "time limit (N min)"
    params: int
    n_patches: int
    data_hash: str

    def to_json(self) -> dict[str, Any]:
        """The JSON record (``summary.json``, ``--json``, the results store)."""
        return asdict(self)

    def describe(self) -> str:
        """The one line ``train`` prints at the end."""
        return (
            f"{self.model}: {self.iters} iterations ({self.stopped}), final loss {self.final_loss:.5f}, "
            f"{self.seconds:.1f} s on {self.device} x{self.world_size}; EMA weights: {self.weights}"
        )
