"""Torch datasets over any data layout: full images for evaluation, deterministic patches for training.

Both validate every sample up front (:func:`~bench.data.layouts.check_dataset`: all problems in one
:class:`~bench.data.layouts.DatasetError`, exit 2) and read through the folder's
:class:`~bench.data.layouts.Layout` (``layout=`` a registered name, or detected from the files).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from bench.core import UsageError, parse_ids, read_split_file
from bench.data.layouts import (
    DEFAULT_LAYOUT,
    DatasetError,
    Layout,
    Sample,
    check_dataset,
    detect_layouts,
    open_layout,
)


def scan_dataset(
    root: str | os.PathLike,
    ids: list[str] | None = None,
    require_gt: bool = False,
    layout: str | Layout | None = None,
) -> list[str]:
    """Validate the samples of ``root`` (all, or ``ids``) and return their ids; raises :class:`DatasetError`.

    What is checked is the layout's :meth:`~bench.data.layouts.Layout.validate` (for NTIRE: member
    files present, PNGs complete, bit depths, sizes, exposures and alignratio arrays).
    """
    return check_dataset(root, ids, require_gt, layout)[1]


def to_item(sample: Sample) -> dict[str, Any]:
    """A sample -> the model contract's tensors: ldrs [3,3,H,W], ev [3], gt [3,H,W] (gamma-encoded).

    The conversion from the data's own convention happens here (:meth:`Sample.contract_ldrs`,
    :meth:`Sample.contract_gt`): every model and metric sees the contract, whatever the layout.
    """
    item = {
        "id": sample.id,
        "ldrs": torch.from_numpy(np.ascontiguousarray(sample.contract_ldrs().transpose(0, 3, 1, 2))),
        "ev": torch.from_numpy(sample.ev),
    }
    gt = sample.contract_gt()
    if gt is not None:
        item["gt"] = torch.from_numpy(np.ascontiguousarray(gt.transpose(2, 0, 1)))
    return item


class NTIREDataset(Dataset):
    """Full images. Item: ``id`` str, ``ldrs`` float32 [3,3,H,W] (short, medium, long; RGB 0..1),
    ``ev`` float32 [3] relative to the medium frame, and ``gt`` float32 [3,H,W] only when the
    sample has a ground truth (the key is absent otherwise). Any layout, despite the name."""

    def __init__(
        self,
        root: str | os.PathLike,
        ids: list[str] | None = None,
        require_gt: bool = False,
        layout: str | Layout | None = None,
    ) -> None:
        self.root = Path(root)
        self.layout, self.ids = check_dataset(self.root, ids, require_gt, layout)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return to_item(self.layout.load(self.root, self.ids[index]))


class PatchDataset(Dataset):
    """Training crops: ``patch`` x ``patch`` windows every ``stride`` pixels (paper: 256, stride 128).

    The crop grid is deterministic; along each axis it also holds a window flush with the far edge,
    so every pixel is covered. Items are the :class:`NTIREDataset` dict (GT required) plus ``pos``
    ``(y, x)``. ``flips=True`` applies random horizontal/vertical flips drawn from torch's global
    generator (so ``torch.manual_seed`` and DataLoader worker seeding make them reproducible).
    Decoded images are kept in a small LRU cache: iterate patch indices in order, or with a
    sampler that groups them by image, to avoid decoding a 1900x1060 sample per patch.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        ids: list[str] | None = None,
        patch: int = 256,
        stride: int = 128,
        flips: bool = False,
        cache_size: int = 4,
        layout: str | Layout | None = None,
    ) -> None:
        if patch < 1 or stride < 1:
            raise UsageError(f"patch ({patch}) and stride ({stride}) must be positive")
        self.root = Path(root)
        self.patch, self.stride, self.flips = patch, stride, flips
        self.layout, self.ids = check_dataset(self.root, ids, True, layout)
        sizes = [self.layout.sample_size(self.root, sid) for sid in self.ids]
        small = [f"{sid} ({w}x{h})" for sid, (w, h) in zip(self.ids, sizes, strict=True) if min(w, h) < patch]
        if small:
            raise DatasetError(
                f"data set {self.root}: images smaller than the {patch}px patch: {', '.join(small)}"
            )
        self.index: list[tuple[int, int, int]] = []
        for n, (width, height) in enumerate(sizes):
            for y in grid_positions(height, patch, stride):
                for x in grid_positions(width, patch, stride):
                    self.index.append((n, y, x))
        self._cache: OrderedDict[int, Any] = OrderedDict()
        self._cache_size = max(1, cache_size)

    def __len__(self) -> int:
        return len(self.index)

    def _stored(self, n: int) -> Any:
        if n in self._cache:
            self._cache.move_to_end(n)
        else:
            self._cache[n] = self.layout.load_stored(self.root, self.ids[n])
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return self._cache[n]

    def __getitem__(self, index: int) -> dict[str, Any]:
        n, y, x = self.index[index]
        p = self.patch
        crop = self.layout.decode(self._stored(n), slice(y, y + p), slice(x, x + p))
        ldrs, gt = crop.ldrs, crop.gt
        if self.flips:
            flip_h, flip_v = (torch.rand(2) < 0.5).tolist()
            if flip_h:
                ldrs, gt = ldrs[:, :, ::-1], gt[:, ::-1]
            if flip_v:
                ldrs, gt = ldrs[:, ::-1], gt[::-1]
        crop.ldrs, crop.gt = ldrs, gt
        item = to_item(crop)
        item["pos"] = (y, x)
        return item


def grid_positions(length: int, patch: int, stride: int) -> list[int]:
    """Window starts ``0, stride, ...`` plus one flush with the end, so the whole length is covered."""
    if length < patch:
        return []
    starts = list(range(0, length - patch + 1, stride))
    if starts[-1] != length - patch:
        starts.append(length - patch)
    return starts


def dataset_fingerprint(
    root: str | os.PathLike, ids: list[str] | None = None, layout: str | Layout | None = None
) -> str:
    """A SHA-256 over the member files' names, sizes and modification times (not their bytes: fast).

    Stored in checkpoints as the data-manifest hash and in result keys: it changes when a file is
    added, removed, rewritten or touched. ``ids=None`` covers every sample in the folder. Never
    raises for a missing or unrecognised folder (the dataset reports that): it then hashes nothing
    found, through the default layout.
    """
    r = Path(root)
    if layout is None:
        found = detect_layouts(r)
        chosen = found[0] if len(found) == 1 else open_layout(r, DEFAULT_LAYOUT)
    else:
        chosen = open_layout(r, layout)
    if ids is None:
        ids = chosen.find_samples(r) if r.is_dir() else []
    return chosen.fingerprint(r, [str(i) for i in ids])


def ids_from_args(ids: str | None = None, split: str | os.PathLike | None = None) -> list[str] | None:
    """Combine the CLI's ``--ids 0000-0099,0150`` and ``--split FILE`` options (at most one) into an id list."""
    if ids and split:
        raise UsageError("give either --ids or --split, not both")
    if ids:
        return parse_ids(ids)
    if split:
        return read_split_file(split)
    return None
