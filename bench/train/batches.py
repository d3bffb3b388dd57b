"""Training batches: a reproducible data order, random flips, and the in-memory patch cache (``--cache``).

The data order is a pure function of (seed, iteration, rank): iteration ``i`` takes the next
``batch / world`` indices of an endless stream made of one shuffled epoch after another (each epoch
shuffled by a ``DistributedSampler`` seeded with ``seed`` and the epoch). Flips, when enabled, are
drawn from a generator seeded with (seed, iteration, rank). So a resumed run reads exactly the
batches the uninterrupted run would have read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, DistributedSampler

from bench.core import UsageError, progress


class IterationBatches(torch.utils.data.Sampler):
    """Index lists of iterations ``start .. stop-1`` for one rank (see the module doc).

    Used as a DataLoader ``batch_sampler``; also indexes the in-memory cache directly.
    """

    def __init__(
        self, n: int, batch: int, start: int, stop: int, seed: int, rank: int = 0, world: int = 1
    ) -> None:
        self.n, self.batch, self.start, self.stop = n, batch, start, stop
        self.seed, self.rank, self.world = seed, rank, world
        self._epochs: dict[int, list[int]] = {}

    def _epoch(self, epoch: int) -> list[int]:
        if epoch not in self._epochs:
            sampler = DistributedSampler(
                range(self.n), num_replicas=self.world, rank=self.rank, shuffle=True, seed=self.seed
            )
            sampler.set_epoch(epoch)
            self._epochs = {epoch: list(sampler)}  # keep only the current epoch
        return self._epochs[epoch]

    def indices(self, iteration: int) -> list[int]:
        per_epoch = len(self._epoch(0))
        pos, out = iteration * self.batch, []
        while len(out) < self.batch:
            epoch, offset = divmod(pos, per_epoch)
            take = self._epoch(epoch)[offset : offset + self.batch - len(out)]
            out.extend(take)
            pos += len(take)
        return out

    def __iter__(self) -> Iterator[list[int]]:
        for it in range(self.start, self.stop):
            yield self.indices(it)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def random_flips(batch: dict[str, Tensor], seed: int, iteration: int, rank: int) -> dict[str, Tensor]:
    """Flip each sample horizontally and/or vertically, drawn from (seed, iteration, rank)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + iteration * 1009 + rank)
    n = batch["gt"].shape[0]
    choice = torch.randint(0, 2, (n, 2), generator=gen).bool().to(batch["gt"].device)
    out = dict(batch)
    for key in ("ldrs", "gt"):
        x = out[key]
        shape = (n,) + (1,) * (x.dim() - 1)
        x = torch.where(choice[:, 0].view(shape), x.flip(-1), x)
        out[key] = torch.where(choice[:, 1].view(shape), x.flip(-2), x)
    return out


class PatchCache:
    """All training patches in memory on ``device`` (``--cache``), indexed like the dataset.

    LDR frames are kept as their 8-bit values (a quarter of float32's memory) and divided by 255
    batch by batch, which gives the dataset's float32 values bit for bit; the GT is kept as float32.
    """

    def __init__(self, dataset: Any, device: torch.device, workers: int, show: bool) -> None:
        n, p = len(dataset), dataset.patch
        self.ldr8 = torch.empty((n, 3, 3, p, p), dtype=torch.uint8, device=device)
        self.ev = torch.empty((n, 3), dtype=torch.float32, device=device)
        self.gt = torch.empty((n, 3, p, p), dtype=torch.float32, device=device)
        # In order: each worker decodes every image once (PatchDataset keeps the last few decoded).
        loader = DataLoader(dataset, batch_size=64, shuffle=False, num_workers=workers)
        start = 0
        for b in progress(loader, desc="caching patches") if show else loader:
            end = start + len(b["gt"])
            self.ldr8[start:end] = (b["ldrs"] * 255).round().to(torch.uint8)
            self.ev[start:end] = b["ev"]
            self.gt[start:end] = b["gt"]
            start = end

    def batch(self, indices: list[int]) -> dict[str, Tensor]:
        idx = torch.as_tensor(indices, device=self.gt.device)
        return {
            "ldrs": self.ldr8.index_select(0, idx).float() / 255,
            "ev": self.ev.index_select(0, idx),
            "gt": self.gt.index_select(0, idx),
        }


def cache_bytes(n_patches: int, patch: int) -> int:
    """Memory of ``--cache``: per patch 9 uint8 LDR channels, 3 float32 GT channels and 3 float32 EVs."""
    return n_patches * (patch * patch * (9 + 3 * 4) + 3 * 4)


def free_memory(device: torch.device) -> int | None:
    """Bytes free on ``device`` (a GPU's free memory, the host's MemAvailable), or None if unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_cache_fits(n_patches: int, patch: int, device: torch.device) -> None:
    """Refuse ``--cache`` when the patches would take more than half the free memory (the rest is for training).

    The full NTIRE set (1494 images of 1900x1060, 112 patches each at 256/128) would need 230 GB.
    """
    need, free = cache_bytes(n_patches, patch), free_memory(device)
    if free is not None and need > free / 2:
        raise UsageError(
            f"--cache: the {n_patches} training patches need {need / 1e9:.1f} GB, more than half of the "
            f"{free / 1e9:.1f} GB free on {device}; train without --cache (patches are then read from disk by "
            "the --workers processes) or on fewer or smaller images"
        )


def batch_stream(
    dataset: Any, sampler: IterationBatches, device: torch.device, workers: int, cache: bool, show: bool
) -> Iterator[dict[str, Tensor]]:
    """The batches of ``sampler``'s iterations: from the in-memory cache, or read by ``workers`` processes."""
    if cache:
        cached = PatchCache(dataset, device, workers, show)
        return (cached.batch(idx) for idx in sampler)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    return iter(loader)
