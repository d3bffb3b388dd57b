"""Timing one model in one :class:`~bench.timing.config.TimeConfig`: the record, or the record of a failure."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from bench import complexity
from bench.core.environment import device_name, torch_versions
from bench.roofline import roofline_fields
from bench.timing.config import TimeConfig
from bench.timing.inputs import build_model, crop_to_size, make_inputs, pad_to_size
from bench.timing.memory import cpu_peak_memory, cuda_memory_baseline, cuda_peak_bytes
from bench.timing.numerics import check_numerics, strict_fp32
from bench.timing.stats import is_noisy, noise_warning, summarize
from bench.timing.timers import Timer, capture_cuda_graph, make_timer, measure, synchronize

CPU_MACC_LIMIT = 1e12  # on CPU, models above 1 TMAcc at full size are skipped unless --all

RECORD_KEYS = (
    "model", "device", "device_name", "backend", "precision", "width", "height", "pad_from", "batch",
    "threads", "channels_last", "cuda_graphs", "tf32", "runs", "warmup", "median_s", "mean_s", "p10_s",
    "p90_s", "iqr_s", "cv", "min_s", "max_s", "compile_s", "peak_memory_bytes", "rel_l2_error",
    "rel_l2_bound", "noisy", "rounds", "max_cv", "status", "warnings", "weights", "scene", "torch_version", "cuda_version",
    "cudnn_version",
)  # fmt: skip


def model_label(model: str | nn.Module) -> str:
    return model if isinstance(model, str) else getattr(model, "eapbench_name", type(model).__name__)


def time_model(
    model: str | nn.Module,
    config: TimeConfig | None = None,
    *,
    profile: dict | None = None,
    timer: Timer | None = None,
    **options: Any,
) -> dict:
    """Time one model in one configuration; returns the time record (see :mod:`bench.timing`).

    ``config`` (default: ``TimeConfig(**options)``; with both, ``options`` change ``config``).
    ``profile`` (a complexity record with ``maccs``, ``params``, ``activations`` at the timed size)
    adds the roofline fields. ``timer`` replaces the device's timer (tests). ``status`` is ``ok``,
    ``numerics-failed`` (error above the bound, or NaN/inf in the output or the reference; a
    warning says which) or ``error`` (with ``error`` saying what failed); only ``ok`` results are
    comparable.
    """
    config = TimeConfig(**options) if config is None else config.replace(**options) if options else config
    dev = config.torch_device
    backend = config.backend_entry
    (width, height), (src_w, src_h) = config.size, config.source_size
    if dev.type == "cpu":
        if config.threads:
            torch.set_num_threads(config.threads)
        config = config.replace(threads=torch.get_num_threads())  # the number used, recorded
    name = model_label(model)
    bound = config.rel_l2_bound

    record: dict[str, Any] = {
        "model": name, "device": dev.type, "device_name": device_name(dev), "backend": config.backend,
        "precision": config.precision, "width": width, "height": height,
        "pad_from": f"{src_w}x{src_h}" if (src_w, src_h) != (width, height) else None, "batch": config.batch,
        "threads": config.threads if dev.type == "cpu" else torch.get_num_threads(),
        "channels_last": config.channels_last, "cuda_graphs": config.cuda_graphs, "tf32": config.tf32,
        "warmup": config.warmup, "compile_s": None, "peak_memory_bytes": None, "rel_l2_error": None,
        "rel_l2_bound": bound, "status": "ok", "warnings": [],
        "weights": str(config.weights.path) if config.weights else None, "scene": config.scene or "synthetic",
        **torch_versions(),
    }  # fmt: skip

    src_ldrs, src_ev = make_inputs(src_w, src_h, config.batch, config.scene)
    ldrs = pad_to_size(src_ldrs, width, height).to(dev)
    ev = src_ev.to(dev)
    # Seeded: the same random weights in every run, so a deployment backend's cached export
    # (keyed by the weights it embeds) is found again.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = build_model(model, config.weights, dev)

    reference = None
    if config.needs_numerics_check():
        with torch.no_grad(), strict_fp32():
            reference = crop_to_size(net(ldrs, ev), src_w, src_h).float().cpu()

    # The converted model: precision, memory format, backend.
    net = net.to(config.dtype)
    x = (ldrs.to(config.dtype), ev.to(config.dtype))
    if config.channels_last:
        net = net.to(memory_format=torch.channels_last)

    timer = timer or make_timer(dev)
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    with torch.no_grad():
        # Compile time = preparing the backend (torch-tensorrt compiles here, ahead of time) plus
        # the first call (torch.compile compiles lazily, there); reported as compile_s, never timed.
        synchronize(dev)
        t0 = time.perf_counter()
        fn = backend.prepare(net, x, config)
        record.update(getattr(fn, "record_fields", {}))  # a deployment backend's export, provider, threads
        fn(*x)
        synchronize(dev)
        if backend.compiles:
            record["compile_s"] = time.perf_counter() - t0
        if config.cuda_graphs and not backend.own_cuda_graphs:
            t0 = time.perf_counter()
            step = capture_cuda_graph(fn, x, dev)
            record["compile_s"] = (record["compile_s"] or 0.0) + time.perf_counter() - t0
        else:

            def step() -> Tensor:
                return fn(*x)

        baseline = cuda_memory_baseline(dev) if dev.type == "cuda" else 0
        stats, rounds = measure_rounds(step, timer, config)
        if dev.type == "cuda":
            record["peak_memory_bytes"] = cuda_peak_bytes(dev, baseline)
        out = crop_to_size(step(), src_w, src_h)

    expected = [config.batch, 3, src_h, src_w]
    if list(out.shape) != expected:
        raise RuntimeError(f"{name}: output shape {list(out.shape)}, expected {expected}")
    record.update(stats)
    record["noisy"], record["rounds"], record["max_cv"] = (
        is_noisy(stats, config.max_cv),
        rounds,
        config.max_cv,
    )
    verdict = check_numerics(out, reference, bound, f"{config.backend} {config.precision}")
    record["status"], record["rel_l2_error"] = verdict.status, verdict.rel_l2_error
    record["warnings"] += verdict.warnings
    warning = noise_warning(stats, config.max_cv, rounds)
    if warning:
        record["warnings"].append(warning)
    if config.memory and dev.type == "cpu":
        record["peak_memory_bytes"], note = cpu_peak_memory(model, config)
        if note:
            record["warnings"].append(note)
    record.update(
        roofline_fields(
            profile, record["device_name"], config.precision, record["median_s"], tf32=record["tf32"]
        )
    )
    return record


def measure_rounds(step: Callable[[], Any], timer: Timer, config: TimeConfig) -> tuple[dict, int]:
    """The statistics of the quietest of up to ``noise_rounds`` rounds, and how many rounds ran.

    The first round follows the warm-up; a round whose CV is above ``max_cv`` is measured again
    (without a new warm-up), so a burst of other load costs one round, not the result.
    """
    best: dict | None = None
    for rounds in range(1, config.noise_rounds + 1):
        stats = summarize(measure(step, timer, config.warmup if rounds == 1 else 0, config.repeat))
        if best is None or stats["cv"] < best["cv"]:
            best = stats
        if not is_noisy(best, config.max_cv):
            break
    assert best is not None  # noise_rounds >= 1
    return best, rounds


def failed_record(model: str, exc: BaseException, **config: Any) -> dict:
    """The record of a configuration that could not run (kept so that a report shows the failure)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    blocked = {"blocking_op": exc.op} if getattr(exc, "op", None) else {}  # a deployment export's blocker
    return {
        "model": model,
        **config,
        "status": "error",
        "error": f"{type(exc).__name__}: {first}"[:500],
        "median_s": None,
        "warnings": [],
        **blocked,
        **torch_versions(),
    }


def model_profile(name: str, width: int, height: int, batch: int = 1) -> dict | None:
    """The complexity record (maccs, params, activations, ...) of ``name`` at ``width x height``.

    Comes from :mod:`bench.complexity` (counted on the meta device: no memory, no compute); None
    when the model cannot run on meta tensors, in which case the roofline fields stay empty.
    """
    try:
        # The "true" convention (real multiply-accumulates) for a physical floor, not the NTIRE count.
        return complexity.profile(name, width=width, height=height, batch=batch, convention="true")
    except Exception:  # e.g. a custom op without a meta kernel: timing still works without a floor
        return None
