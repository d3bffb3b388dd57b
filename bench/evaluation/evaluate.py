"""Evaluation on an NTIRE-format split: per-image PSNR and PSNR-µ, failures counted, optional tiling.

:func:`evaluate` resolves a model (registered name or variant), loads its weights (its default
``weights/`` file, or ``--weights``), and refuses a model with parameters but no weights: scores
of random weights are never reported. :func:`evaluate_module` scores any ``nn.Module`` that
follows the model contract. Both return the eval record::

    model, weights, data, ids (count), n_images, n_scored, n_failed, failed, psnr, psnr_mu,
    roundtrip16, scoring, device, tile, seconds, world_size, saved_to,
    per_image [{id, psnr, psnr_mu, finite, error (only when it failed)}]

Images are scored by :func:`bench.evaluation.metrics.score_image` and averaged by :func:`bench.evaluation.metrics.summarize`:
``psnr``/``psnr_mu`` are the mean of per-image dB values over the images that could be scored
(the organizers' way; None when none could); an image whose prediction holds NaN/inf is counted
in ``n_failed`` and listed in ``failed``. Under torchrun the images are sharded over the processes and the records
gathered, so every rank returns the same record.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from bench.core import WEIGHTS_DIR, UsageError, progress, resolve_device
from bench.core import distributed as D
from bench.data import NTIREDataset, grid_positions
from bench.data.hdrio import write_hdr_png
from bench.evaluation.metrics import score_image, summarize
from models.blocks import pad_to_multiple


def _forward(model: nn.Module, ldrs: Tensor, ev: Tensor) -> Tensor:
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
        return _forward(model, ldrs, ev)
    multiple = int(getattr(model, "size_multiple", 1) or 1)
    overlap = tile // 4 if overlap is None else overlap
    check_tiling(tile, overlap)
    step = max(multiple, (tile - overlap) // multiple * multiple)
    out: Tensor | None = None
    ys, xs = tile_starts(h, tile, step), tile_starts(w, tile, step)
    for y in ys:
        for x in xs:
            part = _forward(model, ldrs[..., y : y + tile, x : x + tile], ev)
            if out is None:
                out = part.new_zeros(part.shape[0], part.shape[1], h, w)
            th, tw = part.shape[-2:]
            # The region this window owns: from the middle of its overlap with the previous window
            # to the middle of its overlap with the next one (image borders owned fully).
            y0 = 0 if y == ys[0] else (y + _prev_end(ys, y, tile)) // 2
            y1 = h if y == ys[-1] else (y + th + _next_start(ys, y)) // 2
            x0 = 0 if x == xs[0] else (x + _prev_end(xs, x, tile)) // 2
            x1 = w if x == xs[-1] else (x + tw + _next_start(xs, x)) // 2
            out[..., y0:y1, x0:x1] = part[..., y0 - y : y1 - y, x0 - x : x1 - x]
    assert out is not None
    return out


def _prev_end(starts: list[int], s: int, tile: int) -> int:
    return starts[starts.index(s) - 1] + tile


def _next_start(starts: list[int], s: int) -> int:
    return starts[starts.index(s) + 1]


def _has_parameters(model: nn.Module) -> bool:
    return any(True for _ in model.parameters())


@torch.no_grad()
def evaluate_module(
    model: nn.Module,
    data: str | Path,
    ids: list[str] | None = None,
    *,
    name: str | None = None,
    weights: str | None = None,
    roundtrip16: bool = False,
    save_predictions: str | Path | None = None,
    tile: int | None = None,
    overlap: int | None = None,
    device: str | torch.device = "auto",
    workers: int = 0,
    show_progress: bool = True,
    distributed: bool = True,
    layout: str | None = None,
) -> dict[str, Any]:
    """Score ``model`` on the data set ``data`` (all ids, or ``ids``); see the module doc for the record.

    ``save_predictions`` writes each prediction as ``DIR/XXXX.png`` + ``DIR/XXXX_alignratio.npy``
    (the NTIRE submission format). Without a ground truth an image is only predicted (and must
    then be saved); with ``roundtrip16`` scores are computed on the 16-bit quantised prediction,
    exactly what the saved files hold.
    """
    ctx = D.setup(str(device)) if distributed else D.DistContext(device=resolve_device(str(device)))
    dev = ctx.device
    dataset = NTIREDataset(data, ids, require_gt=save_predictions is None, layout=layout)
    all_ids = list(dataset.ids)
    mine = list(range(ctx.rank, len(dataset), ctx.world))  # this rank's shard
    was_training = model.training
    model.to(dev).eval()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, mine), batch_size=None, shuffle=False, num_workers=workers
    )
    records: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    show = show_progress and ctx.is_main
    items = progress(loader, desc=f"eval {name or type(model).__name__}", total=len(mine)) if show else loader
    for item in items:
        ldrs = item["ldrs"][None].to(dev)
        ev = item["ev"][None].to(dev)
        pred = predict(model, ldrs, ev, tile=tile, overlap=overlap)[0].float().permute(1, 2, 0).cpu().numpy()
        finite = bool(np.isfinite(pred).all())
        if finite and save_predictions is not None:
            # The file holds exactly what --roundtrip16 scores: write_hdr_png applies the same quantisation.
            write_hdr_png(Path(save_predictions) / f"{item['id']}.png", pred)
        if "gt" in item:
            rec = score_image(pred, item["gt"], roundtrip=roundtrip16, image_id=item["id"])
        else:  # a test input: only predicted (and saved)
            rec = (
                {"id": item["id"]}
                if finite
                else {"id": item["id"], "error": "prediction holds NaN or inf values"}
            )
        records.append({**rec, "finite": finite})
    model.train(was_training)

    gathered = [r for part in D.gather_objects(ctx, records) for r in part]
    seconds = max(D.gather_objects(ctx, time.perf_counter() - t0))
    order = {sid: n for n, sid in enumerate(all_ids)}
    gathered.sort(key=lambda r: order[r["id"]])
    summary = summarize(r for r in gathered if "psnr" in r or "error" in r)  # images without GT have no score
    return {
        "model": name or getattr(model, "eapbench_name", type(model).__name__),
        "weights": weights,
        "data": str(data),
        "ids": len(all_ids),
        "n_images": len(gathered),
        "n_scored": summary["n_scored"],
        "n_failed": summary["n_failed"],
        "failed": summary["failed_ids"],
        "psnr": summary["psnr"],
        "psnr_mu": summary["psnr_mu"],
        "roundtrip16": roundtrip16,
        "scoring": "roundtrip16" if roundtrip16 else "in-memory",
        "device": str(dev),
        "tile": tile,
        "seconds": round(seconds, 3),
        "world_size": ctx.world,
        "saved_to": str(save_predictions) if save_predictions is not None else None,
        "per_image": [
            {
                "id": r["id"],
                "psnr": r.get("psnr"),
                "psnr_mu": r.get("psnr_mu"),
                "finite": r["finite"],
                **({"error": r["error"]} if "error" in r else {}),
            }
            for r in gathered
        ],
    }


def resolve_weights(model: nn.Module, name: str, weights: str | None, registered: bool) -> str | None:
    """Load the weights a model is evaluated with and return their path (None for parameter-free models).

    Explicit ``weights`` win; otherwise a registered model's default (``models.registry`` ``weights``,
    relative to ``weights/``). A model with parameters and no weights is a :class:`UsageError`.
    """
    from bench.train.checkpoint import load_weights
    from models.registry import model_info

    if weights is None and registered:
        default = model_info(name).weights
        if default:
            weights = str(WEIGHTS_DIR / default)
    if weights is None:
        if not _has_parameters(model):
            return None
        raise UsageError(
            f"model {name!r} has no trained weights: pass --weights CKPT (a .safetensors file, a checkpoint "
            "or a run folder from `run_bench.py train`); random weights are never evaluated"
        )
    if not _has_parameters(model):
        raise UsageError(f"model {name!r} has no parameters: --weights {weights} does not apply")
    if not Path(weights).exists():
        raise UsageError(f"weights {weights}: no such file or folder")
    loaded = load_weights(model, weights, model_name=name)
    return loaded["path"]


def evaluate(
    spec: str,
    data: str | Path,
    ids: list[str] | None = None,
    *,
    weights: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Evaluate a registered model or a variant (``file.py:factory``, ``module:Class``) on ``data``.

    Keyword arguments go to :func:`evaluate_module` (``roundtrip16``, ``save_predictions``,
    ``tile``, ``device``, ...). The record's ``weights`` is the file actually loaded.
    """
    from bench.spec.variants import load_variant
    from models.registry import is_model

    name, factory = load_variant(spec)
    model = factory()
    loaded = resolve_weights(model, name, weights, registered=is_model(name))
    return evaluate_module(model, data, ids, name=name, weights=loaded, **kwargs)
