"""Evaluation on an NTIRE-format split: per-image metrics (PSNR, PSNR-µ, ...), failures counted, tiling.

:func:`evaluate` resolves a model (registered name or variant), loads its weights (its default
``weights/`` file, or ``--weights``), and refuses a model with parameters but no weights: scores
of random weights are never reported. :func:`evaluate_module` scores any ``nn.Module`` that
follows the model contract. Both return the eval record::

    model, weights, data, ids (count), n_images, n_scored, n_failed, failed, <metric>...,
    roundtrip16, scoring, device, tile, protocol, protocol_description, data_layout, seconds,
    world_size, saved_to, save_layout, metrics {name: description}, metric_domains {name: domain},
    per_image [{id, <metric>...,
    finite, error (only when it failed)}]

where ``<metric>`` is one key per metric scored (by default ``psnr`` and ``psnr_mu``, see
:mod:`bench.evaluation.registry`). Images are scored by :func:`bench.evaluation.metrics.score_image`
and aggregated by :func:`bench.evaluation.metrics.summarize`: ``psnr``/``psnr_mu`` are the mean of
per-image dB values over the images that could be scored (the organizers' way; None when none
could); an image whose prediction holds NaN/inf is counted in ``n_failed`` and listed in
``failed``. ``protocol`` names the inference every number of the record comes from
(:data:`bench.evaluation.predict.PROTOCOLS`), and ``metrics`` says each metric's convention (its
``description`` and ``domain``: a ``"linear"`` metric scores prediction and GT converted per image
to linear HDR on the shortest frame's scale, from the sample's EVs). Under torchrun the images are sharded over the processes and the records gathered, so
every rank returns the same record. Tiled and padded inference is :mod:`bench.evaluation.predict`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.core import WEIGHTS_DIR, UsageError, progress, resolve_device
from bench.core import distributed as D
from bench.data import NTIREDataset
from bench.evaluation.config import EvalConfig
from bench.evaluation.metrics import score_image, summarize
from bench.evaluation.predict import check_tiling, describe_protocol, predict, tile_starts
from bench.evaluation.registry import METRICS
from bench.evaluation.saving import save_layout_for, save_prediction
from bench.spec.variants import load_variant
from bench.train.checkpoint import load_weights
from models.conventions import shortest_stops
from models.registry import is_model, model_info


def _has_parameters(model: nn.Module) -> bool:
    return any(True for _ in model.parameters())


@torch.no_grad()
def evaluate_module(
    model: nn.Module,
    data: str | Path | None = None,
    ids: list[str] | None = None,
    *,
    config: EvalConfig | None = None,
    name: str | None = None,
    weights: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Score ``model`` on a data set; see the module doc for the record.

    Give either ``config`` or ``data`` (+ ``ids``) and the other options of :class:`EvalConfig`
    as keywords (``roundtrip16``, ``save_predictions``, ``tile``, ``overlap``, ``device``,
    ``metrics``, ``workers``, ``show_progress``, ``distributed``). ``weights`` is what the record
    names as loaded (the model already holds them).

    ``save_predictions`` writes each prediction as ``DIR/XXXX.png`` + ``DIR/XXXX_alignratio.npy``
    (the NTIRE submission format), or as ``DIR/<id>/HDRImg.hdr`` (linear, Kalantari style) for
    data of another layout or with ``save_layout="kalantari"`` (:mod:`bench.evaluation.saving`). Without a ground truth an image is only predicted (and must
    then be saved); with ``roundtrip16`` scores are computed on the 16-bit quantised prediction,
    exactly what the saved files hold.
    """
    if config is None:
        if data is None:
            raise TypeError("evaluate_module needs data= or config=")
        config = EvalConfig(data=str(data), ids=ids, **options)
    elif data is not None or ids is not None or options:
        raise TypeError("evaluate_module takes either config= or data= and options, not both")
    cfg = config
    ctx = D.setup(cfg.device) if cfg.distributed else D.DistContext(device=resolve_device(cfg.device))
    dev = ctx.device
    dataset = open_dataset(cfg)
    all_ids = list(dataset.ids)
    data_layout = getattr(getattr(dataset, "layout", None), "name", None)
    save_layout = save_layout_for(data_layout, cfg.save_layout) if cfg.save_predictions is not None else None
    mine = list(range(ctx.rank, len(dataset), ctx.world))  # this rank's shard
    was_training = model.training
    model.to(dev).eval()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, mine), batch_size=None, shuffle=False, num_workers=cfg.workers
    )
    records: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    show = cfg.show_progress and ctx.is_main
    items = progress(loader, desc=f"eval {name or type(model).__name__}", total=len(mine)) if show else loader
    for item in items:
        ldrs = item["ldrs"][None].to(dev)
        ev = item["ev"][None].to(dev)
        pred = predict(model, ldrs, ev, tile=cfg.tile, overlap=cfg.overlap, protocol=cfg.protocol)
        pred = pred[0].float().permute(1, 2, 0).cpu().numpy()
        finite = bool(np.isfinite(pred).all())
        # Stops of the shortest frame below the medium: the scale of linear (Kalantari-style) HDR.
        shortest = float(shortest_stops(item["ev"].double().numpy()))
        if finite and cfg.save_predictions is not None:
            # The NTIRE file holds exactly what --roundtrip16 scores (write_hdr_png quantises the same way).
            save_prediction(Path(cfg.save_predictions), str(item["id"]), pred, shortest, save_layout)
        if "gt" in item:
            rec = score_image(
                pred,
                item["gt"],
                roundtrip=cfg.roundtrip16,
                image_id=item["id"],
                metrics=cfg.metrics,
                shortest=shortest,
            )
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
    scored = [r for r in gathered if "scoring" in r]  # images without GT have no score
    summary = summarize(scored, cfg.metrics)
    return {
        "model": name or getattr(model, "eapbench_name", type(model).__name__),
        "weights": weights,
        "data": cfg.data,
        "ids": len(all_ids),
        "n_images": len(gathered),
        "n_scored": summary["n_scored"],
        "n_failed": summary["n_failed"],
        "failed": summary["failed_ids"],
        **{m: summary[m] for m in cfg.metrics},
        "roundtrip16": cfg.roundtrip16,
        "scoring": cfg.scoring,
        "device": str(dev),
        "tile": cfg.tile,
        "protocol": cfg.protocol,
        "protocol_description": describe_protocol(cfg.protocol, cfg.tile, cfg.overlap),
        "data_layout": data_layout,
        "seconds": round(seconds, 3),
        "world_size": ctx.world,
        "saved_to": cfg.save_predictions,
        "save_layout": save_layout,
        "metrics": describe_metrics(cfg.metrics),
        "metric_domains": metric_domains(cfg.metrics),
        "per_image": [
            {
                "id": r["id"],
                **{m: r.get(m) for m in cfg.metrics},
                "finite": r["finite"],
                **({"error": r["error"]} if "error" in r else {}),
            }
            for r in gathered
        ],
    }


def describe_metrics(names: tuple[str, ...] | list[str]) -> dict[str, dict[str, Any]]:
    """``{name: {label, unit, higher_is_better, aggregation, format, description}}`` from the registry."""
    return {name: METRICS.get(name).describe() for name in names}


def metric_domains(names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``{name: domain}``: the encoding each metric scored (see :data:`bench.evaluation.registry.DOMAINS`)."""
    return {name: METRICS.get(name).domain for name in names}


def open_dataset(cfg: EvalConfig) -> NTIREDataset:
    """The data set an evaluation reads (ground truth required unless the predictions are only saved)."""
    # layout None: detected from the folder's files (an NTIRE folder reads as the suite always did).
    return NTIREDataset(
        cfg.data, cfg.id_list, require_gt=cfg.save_predictions is None, layout=cfg.data_layout
    )


def resolve_weights(model: nn.Module, name: str, weights: str | None, registered: bool) -> str | None:
    """Load the weights a model is evaluated with and return their path (None for parameter-free models).

    Explicit ``weights`` win; otherwise a registered model's default (``models.registry`` ``weights``,
    relative to ``weights/``). A model with parameters and no weights is a :class:`UsageError`.
    """
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

    Keyword arguments go to :func:`evaluate_module` (the options of :class:`EvalConfig`:
    ``roundtrip16``, ``save_predictions``, ``tile``, ``device``, ``metrics``, ...). The record's
    ``weights`` is the file actually loaded.
    """
    name, factory = load_variant(spec)
    model = factory()
    loaded = resolve_weights(model, name, weights, registered=is_model(name))
    return evaluate_module(model, data, ids, name=name, weights=loaded, **kwargs)


__all__ = [
    "EvalConfig",
    "check_tiling",
    "describe_metrics",
    "metric_domains",
    "evaluate",
    "evaluate_module",
    "open_dataset",
    "predict",
    "resolve_weights",
    "tile_starts",
]
