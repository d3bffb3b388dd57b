"""Cached measurements: profile, time and evaluate a model through the results store.

Each function here calls the concern's own module (``bench.complexity``, ``bench.timing``,
``bench.evaluate``) and stores its record with :func:`bench.results.cached`, keyed by the model
name, the hash of the architecture actually built and every setting the number depends on. The
main job and ``compare`` use these, so a second run with the same settings measures nothing again
(``force=True`` measures anew). A model is given by its registered name or, for a user's variant,
by ``(name, factory)`` from :func:`bench.variants.load_variant`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.common import NTIRE_SIZE, WEIGHTS_DIR, format_size
from bench.results import ResultsStore, cached, file_digest, model_config_hash

Factory = Callable[[], nn.Module]


def _factory(name: str, factory: Factory | None) -> Factory:
    if factory is not None:
        return factory
    from models.registry import create_model

    return lambda: create_model(name)


def build(name: str, factory: Factory | None = None) -> nn.Module:
    """Build the model (call inside ``torch.device("meta")`` for a free, weightless copy)."""
    return _factory(name, factory)()


def config_hash(name: str, factory: Factory | None = None) -> str:
    """The architecture hash; built on the meta device (free), or for real if the model refuses meta."""
    build = _factory(name, factory)
    try:
        with torch.device("meta"):
            model = build()
    except Exception:  # a user's model may create tensors on an explicit device in __init__
        model = build()
    return model_config_hash(model)


def default_weights(name: str) -> str | None:
    """The registered model's shipped weights file, if it exists on disk."""
    from models.registry import is_model, model_info

    if not is_model(name):
        return None
    info = model_info(name)
    if info.weights and (WEIGHTS_DIR / info.weights).exists():
        return str(WEIGHTS_DIR / info.weights)
    return None


def profile(
    store: ResultsStore | None,
    name: str,
    factory: Factory | None = None,
    size: tuple[int, int] = NTIRE_SIZE,
    convention: str = "ntire",
    force: bool = False,
) -> tuple[dict, bool]:
    """The complexity record at ``size`` (meta tensors: no memory, no compute); ``(record, from_cache)``."""
    from bench import complexity

    settings = {"size": format_size(*size), "convention": convention, "dtype": "float32", "batch": 1}

    def compute() -> dict:
        if factory is None:
            return complexity.profile(name, size[0], size[1], convention=convention)
        with torch.device("meta"):
            model = factory()
        record = complexity.profile(model, size[0], size[1], convention=convention)
        record["model"] = name
        return record

    return cached(store, "profile", name, config_hash(name, factory), settings, compute, force)


def time(
    store: ResultsStore | None,
    name: str,
    factory: Factory | None = None,
    *,
    device: str = "cpu",
    size: tuple[int, int],
    pad_from: tuple[int, int] | None = None,
    warmup: int = 1,
    repeat: int = 3,
    threads: int | None = None,
    memory: bool = False,
    force: bool = False,
) -> tuple[dict, bool]:
    """One eager fp32 timing (``bench.timing.time_model``); ``(record, from_cache)``.

    The key holds the device's name and the torch version besides the sizes and repeat counts:
    a time measured on another machine or another torch is not reused.
    """
    from bench import timing

    dev = timing.resolve_device(device)
    threads = threads or (torch.get_num_threads() if dev.type == "cpu" else None)
    settings = {
        "device": timing.device_name(dev), "backend": "eager", "precision": "fp32", "size": format_size(*size),
        "pad_from": format_size(*pad_from) if pad_from else None, "warmup": warmup, "repeat": repeat,
        "threads": threads, "memory": memory, "torch": torch.__version__,
    }

    def compute() -> dict:
        model: str | nn.Module = name if factory is None else factory()
        if isinstance(model, nn.Module):
            model.eapbench_name = name  # type: ignore[attr-defined]
        return timing.time_model(model, device=str(dev), size=size, pad_from=pad_from, warmup=warmup,
                                 repeat=repeat, threads=threads, memory=memory)

    return cached(store, "time", name, config_hash(name, factory), settings, compute, force)


def evaluate(
    store: ResultsStore | None,
    name: str,
    factory: Factory | None = None,
    *,
    data: str | Path,
    weights: str | None = None,
    ids: list[str] | None = None,
    device: str = "cpu",
    force: bool = False,
) -> tuple[dict, bool]:
    """PSNR / PSNR-µ on ``data`` (``bench.evaluate``); ``(record, from_cache)``.

    ``weights`` defaults to the registered model's shipped file. A model with parameters and no
    weights is refused by ``bench.evaluate`` (random weights are never scored). The key holds the
    data set's fingerprint and the weights file's digest, so new data or retrained weights are
    measured anew.
    """
    from bench import evaluate as ev
    from bench.data import dataset_fingerprint
    from models.registry import is_model

    weights = weights or default_weights(name)
    settings = {
        "data": str(Path(data).resolve()), "data_fingerprint": dataset_fingerprint(data, ids),
        "ids": ids, "weights": file_digest(weights) if weights and Path(weights).is_file() else weights,
        "device": str(device), "roundtrip16": False,
    }

    def compute() -> dict:
        model = _factory(name, factory)()
        loaded = ev.resolve_weights(model, name, weights, registered=is_model(name) and factory is None)
        return ev.evaluate_module(model, data, ids, name=name, weights=loaded, device=device, distributed=False)

    return cached(store, "eval", name, config_hash(name, factory), settings, compute, force)


def safe(fn: Callable[..., tuple[dict, bool]], *args: Any, **kwargs: Any) -> tuple[dict | None, bool, str | None]:
    """Run one measurement; a failure of one model becomes ``(None, False, message)``, not a crash of the job.

    Usage errors (bad paths, bad sizes) still propagate: they are the user's to fix.
    """
    from bench.common import UsageError

    try:
        record, hit = fn(*args, **kwargs)
        return record, hit, None
    except UsageError:
        raise
    except (RuntimeError, ValueError, MemoryError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        return None, False, f"{type(exc).__name__}: {first}"[:300]


# The timing plan when the user does not choose: the paper's protocol on a GPU; on a CPU a
# sixth of the width and height (1/35 of the work) and a few repeats, which keeps the main
# job's EAPNet family under two minutes on two cores.
GPU_PLAN = {"size": (1920, 1080), "pad_from": NTIRE_SIZE, "warmup": 10, "repeat": 100}
CPU_PLAN = {"size": (320, 180), "pad_from": None, "warmup": 2, "repeat": 5}


def resolve_device(device: str = "auto") -> str:
    """``auto`` is the first CUDA GPU when there is one, else the CPU."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    from bench import timing

    return str(timing.resolve_device(device))


def timing_plan(device: str, size: tuple[int, int] | None = None, warmup: int | None = None,
                repeat: int | None = None) -> dict[str, Any]:
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
