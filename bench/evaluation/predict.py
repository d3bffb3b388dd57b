"""Inference for scoring: pad to the model's size multiple, optionally on overlapping tiles.

:func:`predict` gives a model's ``[B,3,H,W]`` output for a full image, computed whole or window by
window (``--tile``/``--overlap``); the windows are stitched so that each seam lies in the middle
of an overlap, far from every window's border.
"""

from __future__ import annotations

from torch import Tensor, nn

from bench.core import UsageError
from bench.data import grid_positions
from models.blocks import pad_to_multiple


def forward_padded(model: nn.Module, ldrs: Tensor, ev: Tensor) -> Tensor:
    """Pad to the model's ``size_multiple`` (HDRModel does this itself; other modules may not), crop back."""
    h, w = ldrs.shape[-2:]
    multiple = int(getattr(model, "size_multiple", 1) or 1)
    return model(pad_to_multiple(ldrs, multiple), ev)[..., :h, :w]


def tile_starts(length: int, tile: int, step: int) -> list[int]:
    """Tile origins ``0, step, ...`` plus one flush with the end (``[0]`` when one tile covers the length)."""
    return grid_positions(length, tile, step) or [0]


def check_tiling(tile: int | None, overlap: int | None) -> None:
    """``--tile`` at least 16 pixels, ``--overlap`` from 0 to less than the tile (else the windows never advance)."""
    if tile is None:
        if overlap is not None:
            raise UsageError(f"--overlap {overlap} needs --tile")
        return
    if tile < 16:
        raise UsageError(f"--tile {tile} is too small (at least 16 pixels)")
    if overlap is not None and not 0 <= overlap < tile:
        raise UsageError(f"--overlap {overlap} must be at least 0 and less than --tile {tile}")


def predict(
    model: nn.Module, ldrs: Tensor, ev: Tensor, tile: int | None = None, overlap: int | None = None
) -> Tensor:
    """The model's output ``[B,3,H,W]``; with ``tile``, computed on overlapping ``tile x tile`` windows.

    Each window contributes only its centre: a margin of ``overlap // 2`` pixels is dropped on
    every side that touches another window, so the seams see no border effects as long as the
    margin exceeds the network's receptive radius. Window origins are multiples of the model's
    ``size_multiple`` (except those flush with the image end), which keeps its pooling grid.
    """
    h, w = ldrs.shape[-2:]
    if not tile or (h <= tile and w <= tile):
        return forward_padded(model, ldrs, ev)
    multiple = int(getattr(model, "size_multiple", 1) or 1)
    overlap = tile // 4 if overlap is None else overlap
    check_tiling(tile, overlap)
    step = max(multiple, (tile - overlap) // multiple * multiple)
    out: Tensor | None = None
    ys, xs = tile_starts(h, tile, step), tile_starts(w, tile, step)
    for y in ys:
        for x in xs:
            part = forward_padded(model, ldrs[..., y : y + tile, x : x + tile], ev)
            if out is None:
                out = part.new_zeros(part.shape[0], part.shape[1], h, w)
            th, tw = part.shape[-2:]
            # The region this window owns: from the middle of its overlap with the previous window
            # to the middle of its overlap with the next one (image borders owned fully).
            y0 = 0 if y == ys[0] else (y + previous_end(ys, y, tile)) // 2
            y1 = h if y == ys[-1] else (y + th + next_start(ys, y)) // 2
            x0 = 0 if x == xs[0] else (x + previous_end(xs, x, tile)) // 2
            x1 = w if x == xs[-1] else (x + tw + next_start(xs, x)) // 2
            out[..., y0:y1, x0:x1] = part[..., y0 - y : y1 - y, x0 - x : x1 - x]
    assert out is not None
    return out


def previous_end(starts: list[int], s: int, tile: int) -> int:
    """Where the window before the one at ``s`` ends."""
    return starts[starts.index(s) - 1] + tile


def next_start(starts: list[int], s: int) -> int:
    """Where the window after the one at ``s`` starts."""
    return starts[starts.index(s) + 1]
