"""Cached measurements: profile, time and evaluate a model through the results store.

Each function here calls the concern's own module (``bench.complexity``, ``bench.timing``,
``bench.evaluation.evaluate``) and stores its record with :func:`bench.results.cached`, keyed by the model
name, the hash of the architecture actually built and every setting the number depends on. The
main job and ``compare`` use these, so a second run with the same settings measures nothing again
(``force=True`` measures anew). A model is given by its registered name or, for a user's variant,
by ``(name, factory)`` from :func:`bench.spec.variants.load_variant`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from bench import complexity, timing
from bench.core import NTIRE_SIZE, format_size
from bench.core import distributed as D
from bench.core.errors import ModelFailure, UsageError
from bench.evaluation import evaluate as ev
from bench.evaluation.config import EvalConfig
from bench.results import ResultsStore, cached
from bench.roofline import roofline_fields
from bench.spec.model import ModelSpec
from bench.spec.weights import WeightsRef
from models.registry import is_model

if TYPE_CHECKING:
    from bench.timing import TimeConfig

Factory = Callable[[], nn.Module]


def _spec(name: str, factory: Factory | None) -> ModelSpec:
    return ModelSpec.of(name, factory)


def build(name: str, factory: Factory | None = None) -> nn.Module:
    """Build the model (call inside ``torch.device("meta")`` for a free, weightless copy)."""
    return _spec(name, factory).build()


def config_hash(name: str, factory: Factory | None = None) -> str:
    """The architecture hash (:meth:`bench.spec.model.ModelSpec.config_hash`)."""
    return _spec(name, factory).config_hash()


def default_weights(name: str) -> str | None:
    """The registered model's shipped weights file, if it exists on disk."""
    ref = WeightsRef.default_for(name)
    return None if ref is None else str(ref.path)


def weights_ref(weights: str | None) -> WeightsRef | None:
    """The file ``weights`` resolves to and its digest (the same file the loader reads); exit 2 if bad."""
    return None if weights is None else WeightsRef.resolve(weights)


def profile(
    store: ResultsStore | None,
    name: str,
    factory: Factory | None = None,
    size: tuple[int, int] = NTIRE_SIZE,
    convention: str = "ntire",
    force: bool = False,
    dtype: str = "float32",
    per_layer: bool = False,
) -> tuple[dict, bool]:
    """The complexity record at ``size`` (meta tensors: no memory, no compute); ``(record, from_cache)``."""
    settings: dict[str, Any] = {
        "size": format_size(*size),
        "convention": convention,
        "dtype": dtype,
        "batch": 1,
    }
    if per_layer:  # the per-layer table makes a larger record; a plain run keeps the plain key
        settings["per_layer"] = True

    def compute() -> dict:
        if factory is None:
            return complexity.profile(
                name, size[0], size[1], convention=convention, dtype=dtype, per_layer=per_layer
            )
        with torch.device("meta"):
            model = factory()
        record = complexity.profile(
            model, size[0], size[1], convention=convention, dtype=dtype, per_layer=per_layer
        )
        record["model"] = name
        return record

    return cached(store, "profile", name, config_hash(name, factory), settings, compute, force)


# measure.time's defaults where they differ from TimeConfig's: the main job and compare time many
# models, so a few runs and no child process for CPU memory.
TIME_DEFAULTS: dict[str, Any] = {"warmup": 1, "repeat": 3, "memory": False}


def time(
    store: ResultsStore | None,
    name: str,
    factory: Factory | None = None,
    config: TimeConfig | None = None,
    *,
    force: bool = False,
    profile: dict | None = None,
    **options: Any,
) -> tuple[dict, bool]:
    """One timing (``bench.timing.time_model``); ``(record, from_cache)``.

    ``config`` is a :class:`bench.timing.TimeConfig`; without it one is built from ``options``
    (its field names: ``device=``, ``size=``, ``warmup=``, ...; :data:`TIME_DEFAULTS` first);
    with both, ``options`` change it. The key is :meth:`TimeConfig.cache_settings`: every option,
    the device's name and the torch version, so a time measured on another machine or another
    torch is not reused. ``profile`` (a complexity record at the timed size) adds the roofline
    fields; on a cache hit they are derived again from it (cheap), so the latest calibration is used.
    """
    if config is None:
        if "size" not in options:  # no silent 1920x1080 default: the caller's plan decides the size
            raise TypeError("measure.time() needs size= (or config=)")
        config = timing.TimeConfig(**{**TIME_DEFAULTS, **options})
    elif options:
        config = config.replace(**options)
    if config.threads is None and config.torch_device.type == "cpu":
        config = config.replace(threads=torch.get_num_threads())  # the key and the run use one number

    def compute() -> dict:
        model: str | nn.Module = name if factory is None else factory()
        if isinstance(model, nn.Module):
            model.eapbench_name = name  # type: ignore[attr-defined]
        return timing.time_model(model, config, profile=profile)

    settings = config.cache_settings()
    arch = config_hash(name, factory)
    record, hit = cached(store, "time", name, arch, settings, compute, force)
    if hit and (record.get("cv") or 0) > config.max_cv:
        # Clean under the bound it was measured with, noisy under this one: not reused as clean.
        record, hit = cached(store, "time", name, arch, settings, compute, True)
    if not hit and record.get("noisy") and store is not None and record.get("status", "ok") == "ok":
        # cached() keeps only results its kind judges ok; a noisy one is kept too, for the report to
        # show with its spread (a later lookup still measures again: see bench.results.kinds).
        store.add("time", record, model=name, config_hash=arch, settings=settings)
    if hit and profile is not None:
        record = {
            **record,
            **roofline_fields(
                profile,
                record["device_name"],
                config.precision,
                record["median_s"],
                tf32=bool(record.get("tf32")),
            ),
        }
    return record, hit


def evaluate(
    store: ResultsStore | None,
    name: str,
    factory: Factory | None = None,
    *,
    config: EvalConfig | None = None,
    data: str | Path | None = None,
    weights: str | None = None,
    ids: list[str] | None = None,
    device: str = "cpu",
    force: bool = False,
    roundtrip16: bool = False,
    tile: int | None = None,
    overlap: int | None = None,
    save_predictions: str | Path | None = None,
    workers: int = 0,
    distributed: bool = False,
    metrics: list[str] | tuple[str, ...] | str | None = None,
    layout: str | None = None,
) -> tuple[dict, bool]:
    """The eval record on ``data`` (``bench.evaluation.evaluate``); ``(record, from_cache)``.

    The options are those of :class:`bench.evaluation.EvalConfig`, given as keywords (as here) or
    as ``config=`` (then only ``weights`` and ``force`` may be added). ``weights`` defaults to the
    registered model's shipped file. A model with parameters and no weights is refused by
    ``bench.evaluation.evaluate`` (random weights are never scored). The key is
    :meth:`EvalConfig.cache_settings`: the data set's fingerprint and the weights file's digest
    among the rest, so new data or retrained weights are measured anew. ``save_predictions``
    always evaluates (the files must be written). Under torchrun (``distributed``) every rank reads
    the store and only rank 0 writes.
    """
    if config is None:
        if data is None:
            raise TypeError("measure.evaluate needs data= or config=")
        config = EvalConfig(
            data=str(data), ids=ids, device=device, roundtrip16=roundtrip16, tile=tile, overlap=overlap,
            metrics=metrics, layout=layout, save_predictions=save_predictions, workers=workers,
            show_progress=True, distributed=distributed,
        )  # fmt: skip
    if config.weights is None:
        wref = weights_ref(weights) if weights else WeightsRef.default_for(name)
        config = replace(config, weights=wref)
    # The loader reads exactly the file the key hashes.
    loaded_from = None if config.weights is None else str(config.weights.path)

    def compute() -> dict:
        model = _spec(name, factory).build()
        loaded = ev.resolve_weights(model, name, loaded_from, registered=is_model(name) and factory is None)
        return ev.evaluate_module(model, config=config, name=name, weights=loaded)

    return cached(
        store,
        "eval",
        name,
        config_hash(name, factory),
        config.cache_settings(),
        compute,
        force or config.must_measure,
        write=D.is_main_process() or not config.distributed,
    )


def safe(
    fn: Callable[..., tuple[dict, bool]], store: ResultsStore | None, name: str, *args: Any, **kwargs: Any
) -> tuple[dict | None, bool, ModelFailure | None]:
    """Run one measurement of model ``name``: ``(record, from_cache, None)``, or ``(None, False, failure)``.

    Any error of the model at run time (a RuntimeError, a shape or type error, out of memory...)
    becomes a :class:`~bench.core.errors.ModelFailure` that keeps its message, so a job records it
    and goes on with the next model. Usage errors (bad paths, bad sizes, broken files the user gave)
    still propagate: they are the user's to fix, and the same for every model. Ctrl-C stops the job.
    """
    try:
        record, hit = fn(store, name, *args, **kwargs)
        return record, hit, None
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 (any failure of one model; see the docstring)
        return None, False, ModelFailure(name, exc)


# The timing plan when the user does not choose: the paper's protocol on a GPU; on a CPU a
# third of the width and height (1/9 of the work, still far larger than the caches) and a few
# repeats, which keeps the main job's EAPNet family around two minutes on two cores.
GPU_PLAN = {"size": (1920, 1080), "pad_from": NTIRE_SIZE, "warmup": 10, "repeat": 100}
CPU_PLAN = {"size": (640, 360), "pad_from": None, "warmup": 1, "repeat": 5}


def timing_plan(
    device: str, size: tuple[int, int] | None = None, warmup: int | None = None, repeat: int | None = None
) -> dict[str, Any]:
    """Size, padding, warm-up and repeats for ``device``; explicit values win."""
    plan = dict(GPU_PLAN if device.startswith("cuda") else CPU_PLAN)
    if size is not None:
        plan["size"] = size
        plan["pad_from"] = NTIRE_SIZE if size == GPU_PLAN["size"] else None
    if warmup is not None:
        plan["warmup"] = warmup
    if repeat is not None:
        plan["repeat"] = repeat
    return plan
