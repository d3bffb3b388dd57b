"""Inference for scoring: pad to the model's size multiple, optionally on tiles.

:func:`predict` gives a model's ``[B,3,H,W]`` output for a full image under one of the evaluation
:data:`PROTOCOLS`:

* ``full``: the whole image in one forward pass (padded to the model's ``size_multiple``), or,
  with ``--tile``/``--overlap``, window by window, stitched so that each seam lies in the middle
  of an overlap, far from every window's border;
* ``tiles-256``: the protocol HDR-Transformer and SCTNet were scored with on Kalantari 2017 (the
  authors' test reader): the frames are padded at the bottom and right with 1.0 (saturated white)
  to ``(size // 256 + 1) * 256`` per axis (so 1000x1500 becomes 1024x1536: 24 tiles; a size that
  is already a multiple of 256 still gets one more row or column of tiles, as in their code), cut
  into non-overlapping 256x256 tiles, each run on its own, stitched and cropped back.

:data:`PAPER_PROTOCOLS` names the protocol each model's paper used; :func:`protocol_for` is the
default ``eval`` applies when ``--protocol`` is not given (a model class may also say it with an
``eval_protocol`` attribute).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from bench.core import UsageError
from bench.data import grid_positions
from models.blocks import pad_to_multiple


def forward_padded(model: nn.Module, ldrs: Tensor, ev: Tensor) -> Tensor:
    """Pad to the model's ``size_multiple`` (HDRModel does this itself; other modules may not), crop back."""
    h, w = ldrs.shape[-2:]
    multiple = int(getattr(model, "size_multiple", 1) or 1)
    return model(pad_to_multiple(ldrs, multiple), ev)[..., :h, :w]


PROTOCOLS: dict[str, str] = {
    "full": "full-image inference",
    "tiles-256": "non-overlapping 256x256 tiles, frames padded with 1.0 to (size//256+1)*256, stitched and "
    "cropped (HDR-Transformer/SCTNet test code)",
}
PAPER_TILE = 256
PAD_VALUE = 1.0  # the authors' reader fills its padded canvas with ones (a saturated LDR pixel)
# Models whose papers report numbers computed on tiles (facts from the authors' test code).
PAPER_PROTOCOLS: dict[str, str] = {"hdr-transformer": "tiles-256", "sctnet": "tiles-256"}


def protocol_for(name: str | None, model: Any = None) -> str:
    """The protocol a model's paper used: the model's ``eval_protocol``, :data:`PAPER_PROTOCOLS`, else ``full``."""
    declared = getattr(model, "eval_protocol", None) if model is not None else None
    if declared:
        return str(declared)
    return PAPER_PROTOCOLS.get(name or "", "full")


def check_protocol(protocol: str, tile: int | None) -> None:
    """A known protocol; ``--tile`` (overlapping windows) only with the ``full`` protocol."""
    if protocol not in PROTOCOLS:
        raise UsageError(f"--protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")
    if protocol != "full" and tile is not None:
        raise UsageError(f"--tile applies to the full protocol, not to --protocol {protocol}")


def describe_protocol(protocol: str, tile: int | None = None, overlap: int | None = None) -> str:
    """One line for records and tables: what the inference did."""
    if protocol == "full" and tile:
        used = tile // 4 if overlap is None else overlap
        return f"full image in overlapping {tile}x{tile} windows (overlap {used}), centres stitched"
    return PROTOCOLS[protocol]


def paper_tile_count(height: int, width: int, tile: int = PAPER_TILE) -> int:
    """How many tiles the paper protocol runs on an image (24 at 1000x1500)."""
    return (height // tile + 1) * (width // tile + 1)


def predict_paper_tiles(model: nn.Module, ldrs: Tensor, ev: Tensor, tile: int = PAPER_TILE) -> Tensor:
    """The ``tiles-256`` protocol: pad with 1.0 to ``(size // tile + 1) * tile``, run each tile, stitch, crop."""
    h, w = ldrs.shape[-2:]
    ph, pw = (h // tile + 1) * tile, (w // tile + 1) * tile
    canvas = ldrs.new_full((*ldrs.shape[:-2], ph, pw), PAD_VALUE)
    canvas[..., :h, :w] = ldrs
    out: Tensor | None = None
    for y in range(0, ph, tile):
        for x in range(0, pw, tile):
            part = forward_padded(model, canvas[..., y : y + tile, x : x + tile], ev)
            if out is None:
                out = part.new_zeros(part.shape[0], part.shape[1], ph, pw)
            out[..., y : y + tile, x : x + tile] = part
    assert out is not None
    return out[..., :h, :w]


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
    model: nn.Module,
    ldrs: Tensor,
    ev: Tensor,
    tile: int | None = None,
    overlap: int | None = None,
    protocol: str = "full",
) -> Tensor:
    """The model's output ``[B,3,H,W]`` under ``protocol``; for ``full`` with ``tile``, on overlapping windows.

    Each window contributes only its centre: a margin of ``overlap // 2`` pixels is dropped on
    every side that touches another window, so the seams see no border effects as long as the
    margin exceeds the network's receptive radius. Window origins are multiples of the model's
    ``size_multiple`` (except those flush with the image end), which keeps its pooling grid.
    """
    check_protocol(protocol, tile)
    if protocol == "tiles-256":
        return predict_paper_tiles(model, ldrs, ev)
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
