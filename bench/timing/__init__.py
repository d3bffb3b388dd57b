"""Inference timing with honest statistics, a numerics check and a roofline floor.

One call of :func:`time_model` times one model in one configuration and returns a plain dict
(see :data:`RECORD_KEYS`)::

    build the model (fp32, on the device)             + load weights if given
    make one input: a scene at pad_from size (1900x1060), replicate-padded to size (1920x1080)
    reference = eager fp32 forward (TF32 off)          the truth the backend is checked against
    convert: precision, channels_last                  then prepare the backend (compile / tensorrt)
    preparation + first call (+ graph capture) -> compile_s   compilation is reported, never timed
    warmup forwards (not recorded), repeat timed forwards
    relative L2 error of the backend's output vs the reference (cropped back to pad_from)
    peak memory, roofline floor

What is timed is the model's forward on the padded input and nothing else: CUDA events around
the forward on the GPU (then a synchronize), ``time.perf_counter`` on the CPU. Input preparation
(padding, transfer) is outside the timed region, as in the NTIRE organizers' script.

Backends live in :data:`BACKENDS` (name -> function that turns a model into a callable), so a new
one is one function and one dict entry; :func:`time_model` checks every backend's numerics.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.core import UsageError, resolve_device
from bench.core.environment import cpu_name, device_name, torch_versions  # noqa: F401 (cpu_name re-exported)

BACKEND_NAMES = ("eager", "compile", "tensorrt")
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

# Largest accepted relative L2 error of a backend's output against eager fp32 (TF32 off), on the
# same input. fp32 allows for TF32 convolutions (cuDNN's default on Ampere+, ~1e-3 after a few
# dozen layers) and reordered reductions in compiled kernels; fp16 has an 11-bit mantissa
# (~5e-4 per op), bf16 an 8-bit one (~4e-3 per op). A wrong kernel or a broken conversion is off
# by 1e-1 or more, so these bounds separate "rounding" from "wrong" with a wide margin.
REL_L2_BOUNDS = {"fp32": 5e-3, "fp16": 2e-2, "bf16": 5e-2}

CV_WARNING = 0.05  # a coefficient of variation above 5% means a noisy machine
CPU_MACC_LIMIT = 1e12  # on CPU, models above 1 TMAcc at full size are skipped unless --all

TENSORRT_HINT = (
    "the tensorrt backend needs torch-tensorrt and a CUDA GPU: pip install 'eapbench[tensorrt]' "
    "(a torch-tensorrt release built for this torch version); no other backend is used instead"
)

RECORD_KEYS = (
    "model", "device", "device_name", "backend", "precision", "width", "height", "pad_from", "batch",
    "threads", "channels_last", "cuda_graphs", "tf32", "runs", "warmup", "median_s", "mean_s", "p10_s",
    "p90_s", "iqr_s", "cv", "min_s", "max_s", "compile_s", "peak_memory_bytes", "rel_l2_error",
    "rel_l2_bound", "status", "warnings", "weights", "scene", "torch_version", "cuda_version",
    "cudnn_version",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def summarize(times: Sequence[float]) -> dict[str, float | int]:
    """Median, mean, p10, p90, IQR, min, max and coefficient of variation of per-run seconds.

    Percentiles use linear interpolation (NumPy's default). CV is the sample standard deviation
    over the mean (0 for a single run).
    """
    t = np.asarray(times, dtype=np.float64)
    if t.size == 0:
        raise ValueError("no timings to summarize")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("timings must be finite and non-negative")
    p10, p25, p50, p75, p90 = np.percentile(t, [10, 25, 50, 75, 90])
    mean = float(t.mean())
    std = float(t.std(ddof=1)) if t.size > 1 else 0.0
    return {
        "runs": int(t.size),
        "median_s": float(p50),
        "mean_s": mean,
        "p10_s": float(p10),
        "p90_s": float(p90),
        "iqr_s": float(p75 - p25),
        "cv": std / mean if mean > 0 else 0.0,
        "min_s": float(t.min()),
        "max_s": float(t.max()),
    }


def noise_warning(stats: dict, limit: float = CV_WARNING) -> str | None:
    """One line when the spread says the machine was busy, else None."""
    if stats["cv"] > limit:
        return (
            f"coefficient of variation {stats['cv']:.1%} > {limit:.0%} over {stats['runs']} runs: "
            "the machine is noisy (other load, frequency scaling); trust the median, not the mean"
        )
    return None


# ---------------------------------------------------------------------------------------------
# Timers: one call of ``timer(fn)`` runs ``fn`` once and returns its seconds
# ---------------------------------------------------------------------------------------------

Timer = Callable[[Callable[[], Any]], float]


def cpu_timer(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def make_cuda_timer(device: torch.device) -> Timer:
    """CUDA events around ``fn`` only; the synchronize before makes earlier work not count."""

    def timer(fn: Callable[[], Any]) -> float:
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(device)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0

    return timer


def make_timer(device: torch.device) -> Timer:
    return make_cuda_timer(device) if device.type == "cuda" else cpu_timer


def measure(fn: Callable[[], Any], timer: Timer, warmup: int, repeat: int) -> list[float]:
    """``warmup`` untimed calls (results dropped), then ``repeat`` timed ones."""
    for _ in range(warmup):
        timer(fn)
    return [timer(fn) for _ in range(repeat)]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------------------------
# Device and environment
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def strict_fp32():
    """TF32 off for convolutions and matmuls (the reference forward), restored afterwards."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


# ---------------------------------------------------------------------------------------------
# Inputs: a scene simulated as an LDR triplet, padded like the paper
# ---------------------------------------------------------------------------------------------

DEFAULT_EV = (-2.0, 0.0, 2.0)


def _read_ntire(prefix: str, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """LDR triplet (3, H, W, 3) in 0..1 and relative EV (3,) of the NTIRE sample ``DIR/XXXX``, resized."""
    import cv2

    from bench.data import DatasetError, load_sample, scan_dataset

    p = Path(prefix)
    try:
        scan_dataset(p.parent, ids=[p.name])  # the same checks as any data set, before decoding
    except DatasetError as exc:
        raise UsageError(
            f"scene {prefix!r}: cannot read it as an NTIRE sample (give an .hdr/.exr file or a "
            f"prefix DIR/0000): {str(exc).splitlines()[0]}"
        ) from None
    sample = load_sample(p.parent, p.name)
    frames = [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in sample["ldrs"]]
    return np.stack(frames), sample["ev"]


def make_inputs(
    width: int, height: int, batch: int = 1, scene: str | None = None, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """``ldrs [B, 3, 3, H, W]`` and ``ev [B, 3]`` for one scene (repeated over the batch).

    ``scene``: an ``.hdr``/``.exr`` radiance map (resized, exposed by :mod:`bench.data.simulate`), an
    NTIRE prefix ``DIR/0000``, or None for :func:`bench.data.simulate.synthetic_scene` (seeded). A
    realistic scene matters for the numerics check: clipped highlights, deep shadows and flat
    areas exercise a network unlike random noise does.
    """
    from bench.data import simulate

    rng = np.random.default_rng(seed)
    if scene and Path(scene).suffix.lower() not in simulate.HDR_SUFFIXES:
        ldr, ev = _read_ntire(scene, width, height)
    else:
        if scene:
            import cv2

            radiance = cv2.resize(
                simulate.read_radiance(scene), (width, height), interpolation=cv2.INTER_AREA
            )
        else:
            radiance = simulate.synthetic_scene((width, height), rng)
        radiance = radiance * simulate.auto_scale(radiance, rng)
        trip = simulate.simulate_triplet(radiance, DEFAULT_EV, simulate.Sensor(), rng)
        ldr, ev = trip["ldrs"].astype(np.float32) / 255.0, np.array(DEFAULT_EV, np.float32)
    ldrs = torch.from_numpy(np.ascontiguousarray(ldr)).permute(0, 3, 1, 2)  # (3 frames, 3, H, W)
    ldrs = ldrs.unsqueeze(0).expand(batch, -1, -1, -1, -1).contiguous()
    ev_t = torch.from_numpy(np.asarray(ev, np.float32)).unsqueeze(0).expand(batch, -1).contiguous()
    return ldrs, ev_t


def pad_to_size(x: Tensor, width: int, height: int) -> Tensor:
    """Replicate-pad the last two dims on the right and bottom to ``height x width`` (the paper's 1900x1060 -> 1920x1080)."""
    h, w = x.shape[-2:]
    if h > height or w > width:
        raise ValueError(f"cannot pad {w}x{h} to the smaller {width}x{height}")
    if (h, w) == (height, width):
        return x
    lead = x.shape[:-2]
    flat = F.pad(x.reshape(-1, 1, h, w), (0, width - w, 0, height - h), mode="replicate")
    return flat.reshape(*lead, height, width)


def crop_to_size(x: Tensor, width: int, height: int) -> Tensor:
    return x[..., :height, :width]


# ---------------------------------------------------------------------------------------------
# Backends: name -> prepare(model, example_inputs, options) -> callable(ldrs, ev)
# ---------------------------------------------------------------------------------------------


def prepare_eager(model: nn.Module, example: tuple[Tensor, Tensor], options: dict) -> Callable:
    return model


def prepare_compile(model: nn.Module, example: tuple[Tensor, Tensor], options: dict) -> Callable:
    # "reduce-overhead" is torch.compile's own CUDA-graph mode: with --cuda-graphs the graphs are
    # left to it instead of being captured a second time by hand.
    mode = "reduce-overhead" if options.get("cuda_graphs") else options.get("compile_mode")
    return torch.compile(model, mode=mode, dynamic=False)


def tensorrt_module():
    """torch_tensorrt, or a UsageError saying how to get it (never a silent fallback)."""
    try:
        import torch_tensorrt
    except Exception as exc:  # ImportError, or a broken install raising OSError/RuntimeError
        raise UsageError(
            f"{TENSORRT_HINT} (import failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    return torch_tensorrt


def prepare_tensorrt(model: nn.Module, example: tuple[Tensor, Tensor], options: dict) -> Callable:
    trt = tensorrt_module()
    dtype = PRECISIONS[options["precision"]]
    return trt.compile(
        model,
        ir="dynamo",
        inputs=list(example),
        enabled_precisions={dtype},
        min_block_size=1,
    )


BACKENDS: dict[str, Callable[[nn.Module, tuple[Tensor, Tensor], dict], Callable]] = {
    "eager": prepare_eager,
    "compile": prepare_compile,
    "tensorrt": prepare_tensorrt,
}


def capture_cuda_graph(
    fn: Callable, example: tuple[Tensor, Tensor], device: torch.device
) -> Callable[[], Tensor]:
    """Capture one forward on static inputs; the returned callable replays it (CUDA only)."""
    static = tuple(t.clone() for t in example)
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):  # warm-up on a side stream, as CUDA-graph capture requires
        for _ in range(3):
            fn(*static)
    torch.cuda.current_stream(device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn(*static)

    def replay() -> Tensor:
        graph.replay()
        return out

    return replay


# ---------------------------------------------------------------------------------------------
# Numerics and memory
# ---------------------------------------------------------------------------------------------


def relative_l2(output: Tensor, reference: Tensor) -> float:
    """``||output - reference|| / ||reference||`` in float64; inf when the output is not finite."""
    out = output.detach().to("cpu", torch.float64)
    ref = reference.detach().to("cpu", torch.float64)
    if out.shape != ref.shape:
        raise ValueError(f"output shape {list(out.shape)} differs from the reference's {list(ref.shape)}")
    if not torch.isfinite(out).all():
        return math.inf
    denom = torch.linalg.vector_norm(ref).item()
    return torch.linalg.vector_norm(out - ref).item() / max(denom, 1e-30)


def needs_numerics_check(
    device: torch.device, backend: str, precision: str, channels_last: bool, cuda_graphs: bool
) -> bool:
    """Everything but the reference itself (eager fp32, contiguous, no graphs, CPU) is checked."""
    return not (
        device.type == "cpu"
        and backend == "eager"
        and precision == "fp32"
        and not channels_last
        and not cuda_graphs
    )


def _rss_bytes() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process from /proc (Linux)."""
    cur = peak = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            cur = int(line.split()[1]) * 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return cur, peak


def _cpu_memory_child(spec: dict, queue) -> None:
    """Child process: build model and input, reset the RSS high-water mark, run one forward."""
    try:
        torch.set_num_threads(spec["threads"])
        model = _build_model(spec["model"], spec["weights"], torch.device("cpu"))
        (width, height), (src_w, src_h) = spec["size"], spec["pad_from"]
        ldrs, ev = make_inputs(src_w, src_h, spec["batch"], spec["scene"])
        ldrs = pad_to_size(ldrs, width, height)
        model = model.to(PRECISIONS[spec["precision"]])
        if spec["channels_last"]:
            model = model.to(memory_format=torch.channels_last)
        ldrs, ev = ldrs.to(PRECISIONS[spec["precision"]]), ev.to(PRECISIONS[spec["precision"]])
        with torch.no_grad():
            # The first forward of a fresh process: a second one would reuse memory that the allocator
            # kept from the first and show (almost) no growth. Writing 5 to clear_refs resets VmHWM
            # (Linux >= 4.0), so the peak is this forward's alone.
            Path("/proc/self/clear_refs").write_text("5")
            base, _ = _rss_bytes()
            model(ldrs, ev)
        _, peak = _rss_bytes()
        queue.put({"peak_memory_bytes": max(peak - base, 0)})
    except Exception as exc:  # reported to the parent, which records it as a warning
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def cpu_peak_memory(
    model: str | nn.Module,
    weights: str | None,
    size: tuple[int, int],
    pad_from: tuple[int, int],
    batch: int,
    scene: str | None,
    precision: str,
    channels_last: bool,
    threads: int,
    timeout_s: float = 600.0,
) -> tuple[int | None, str | None]:
    """Peak RSS growth of one eager forward, measured in a fresh child process (Linux only).

    The child rebuilds model and input itself, so only their forward's working memory counts.
    """
    import multiprocessing as mp

    if not Path("/proc/self/clear_refs").exists():
        return None, "CPU peak memory needs Linux /proc (not measured)"
    ctx = mp.get_context("spawn")  # a fresh interpreter: no memory from this process's history
    queue = ctx.Queue()
    spec = {
        "model": model,
        "weights": weights,
        "size": size,
        "pad_from": pad_from,
        "batch": batch,
        "scene": scene,
        "precision": precision,
        "channels_last": channels_last,
        "threads": threads,
    }
    proc = ctx.Process(target=_cpu_memory_child, args=(spec, queue), daemon=True)
    proc.start()
    try:
        result = queue.get(timeout=timeout_s)
    except Exception:
        result = {"error": f"no answer within {timeout_s:.0f} s"}
    proc.join(timeout=10)
    if proc.is_alive():
        proc.kill()
    if "error" in result:
        return None, f"CPU peak memory not measured: {result['error']}"
    return result["peak_memory_bytes"], None


# ---------------------------------------------------------------------------------------------
# Timing one configuration
# ---------------------------------------------------------------------------------------------


def _build_model(model: str | nn.Module, weights: str | None, device: torch.device) -> nn.Module:
    if isinstance(model, nn.Module):
        m = copy.deepcopy(model)
    else:
        from models.registry import create_model

        m = create_model(model)
        if weights:
            from bench.train.checkpoint import load_weights

            load_weights(m, weights, model_name=model)
    return m.to(device).eval()


def check_options(device: torch.device, backend: str, precision: str, cuda_graphs: bool) -> None:
    """Reject combinations that cannot run, each with one line saying why."""
    if backend not in BACKENDS:
        raise UsageError(f"backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise UsageError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if cuda_graphs and device.type != "cuda":
        raise UsageError("--cuda-graphs needs --device cuda")
    if backend == "tensorrt":
        if device.type != "cuda":
            raise UsageError(f"--backend tensorrt needs --device cuda; {TENSORRT_HINT}")
        tensorrt_module()


def check_counts(
    batch: int, warmup: int, repeat: int, threads: int | None = None, max_rel_error: float | None = None
) -> None:
    """Reject counts and bounds that make no measurement, naming the option."""
    if batch < 1 or repeat < 1 or warmup < 0:
        raise UsageError(f"--batch {batch} and --repeat {repeat} must be >= 1, --warmup {warmup} >= 0")
    if threads is not None and threads < 1:
        raise UsageError(f"--threads {threads}: must be >= 1")
    if max_rel_error is not None and not (math.isfinite(max_rel_error) and max_rel_error > 0):
        raise UsageError(f"--max-rel-error {max_rel_error}: must be a positive number")


def time_model(
    model: str | nn.Module,
    *,
    device: str = "cpu",
    backend: str = "eager",
    precision: str = "fp32",
    size: tuple[int, int] = (1920, 1080),
    pad_from: tuple[int, int] | None = None,
    batch: int = 1,
    warmup: int = 10,
    repeat: int = 100,
    threads: int | None = None,
    channels_last: bool = False,
    cuda_graphs: bool = False,
    weights: str | None = None,
    scene: str | None = None,
    memory: bool = True,
    max_rel_error: float | None = None,
    compile_mode: str | None = None,
    profile: dict | None = None,
    timer: Timer | None = None,
) -> dict:
    """Time one model in one configuration; returns the time record (see the module docstring).

    ``size`` and ``pad_from`` are ``(width, height)``. ``profile`` (a complexity record with
    ``maccs``, ``params``, ``activations`` at ``size``) adds the roofline fields. ``timer`` replaces
    the device's timer (tests). ``status`` is ``ok``, ``numerics-failed`` (error above the bound,
    or NaN/inf in the output or the reference; a warning says which) or ``error`` (with ``error``
    saying what failed); only ``ok`` results are comparable.
    """
    from bench.roofline import roofline_fields

    dev = resolve_device(device)
    check_options(dev, backend, precision, cuda_graphs)
    check_counts(batch, warmup, repeat, threads, max_rel_error)
    width, height = size
    src_w, src_h = pad_from or size
    if src_w > width or src_h > height:
        raise UsageError(f"--pad-from {src_w}x{src_h} is larger than --size {width}x{height}")
    if dev.type == "cpu":
        if threads:
            torch.set_num_threads(threads)
        threads = torch.get_num_threads()
    name = model if isinstance(model, str) else getattr(model, "eapbench_name", type(model).__name__)
    dtype = PRECISIONS[precision]
    bound = REL_L2_BOUNDS[precision] if max_rel_error is None else max_rel_error

    record: dict[str, Any] = {
        "model": name, "device": dev.type, "device_name": device_name(dev), "backend": backend,
        "precision": precision, "width": width, "height": height,
        "pad_from": f"{src_w}x{src_h}" if (src_w, src_h) != (width, height) else None, "batch": batch,
        "threads": threads if dev.type == "cpu" else torch.get_num_threads(), "channels_last": channels_last,
        "cuda_graphs": cuda_graphs, "tf32": bool(dev.type == "cuda" and torch.backends.cudnn.allow_tf32),
        "warmup": warmup, "compile_s": None, "peak_memory_bytes": None, "rel_l2_error": None,
        "rel_l2_bound": bound, "status": "ok", "warnings": [], "weights": weights, "scene": scene or "synthetic",
        **torch_versions(),
    }  # fmt: skip

    src_ldrs, src_ev = make_inputs(src_w, src_h, batch, scene)
    ldrs = pad_to_size(src_ldrs, width, height).to(dev)
    ev = src_ev.to(dev)
    net = _build_model(model, weights, dev)

    check = needs_numerics_check(dev, backend, precision, channels_last, cuda_graphs)
    reference = None
    if check:
        with torch.no_grad(), strict_fp32():
            reference = crop_to_size(net(ldrs, ev), src_w, src_h).float().cpu()

    # The converted model: precision, memory format, backend.
    net = net.to(dtype)
    x = (ldrs.to(dtype), ev.to(dtype))
    if channels_last:
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
        fn = BACKENDS[backend](
            net, x, {"precision": precision, "cuda_graphs": cuda_graphs, "compile_mode": compile_mode}
        )
        fn(*x)
        synchronize(dev)
        if backend != "eager":
            record["compile_s"] = time.perf_counter() - t0
        if cuda_graphs and backend != "compile":
            t0 = time.perf_counter()
            step = capture_cuda_graph(fn, x, dev)
            record["compile_s"] = (record["compile_s"] or 0.0) + time.perf_counter() - t0
        else:

            def step() -> Tensor:
                return fn(*x)

        if dev.type == "cuda":
            synchronize(dev)
            baseline = torch.cuda.memory_allocated(dev)
            torch.cuda.reset_peak_memory_stats(dev)
        times = measure(step, timer, warmup, repeat)
        if dev.type == "cuda":
            synchronize(dev)
            record["peak_memory_bytes"] = torch.cuda.max_memory_allocated(dev) - baseline
        out = crop_to_size(step(), src_w, src_h)

    if tuple(out.shape) != (batch, 3, src_h, src_w):
        raise RuntimeError(f"{name}: output shape {list(out.shape)}, expected {[batch, 3, src_h, src_w]}")
    stats = summarize(times)
    record.update(stats)
    if reference is not None and not torch.isfinite(reference).all():
        record["status"] = "numerics-failed"
        record["warnings"].append(
            "the eager fp32 reference output has NaN/inf values: the model itself fails on this "
            "input, so no configuration of it can be checked"
        )
    elif reference is not None:
        err = relative_l2(out, reference)
        record["rel_l2_error"] = err
        if not err <= bound:
            record["status"] = "numerics-failed"
            record["warnings"].append(
                f"{backend} {precision}: relative L2 error {err:.3g} vs eager fp32 exceeds the bound {bound:g}; "
                "its time is not comparable"
            )
    elif not torch.isfinite(out).all():
        record["status"] = "numerics-failed"
        record["warnings"].append("the output has NaN/inf values: the model fails on this input")
    warning = noise_warning(stats)
    if warning:
        record["warnings"].append(warning)
    if memory and dev.type == "cpu":
        record["peak_memory_bytes"], note = cpu_peak_memory(
            model, weights, size, (src_w, src_h), batch, scene, precision, channels_last, threads
        )
        if note:
            record["warnings"].append(note)
    record.update(
        roofline_fields(profile, record["device_name"], precision, record["median_s"], tf32=record["tf32"])
    )
    return record


def failed_record(model: str, exc: BaseException, **config: Any) -> dict:
    """The record of a configuration that could not run (kept so that a report shows the failure)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return {
        "model": model,
        **config,
        "status": "error",
        "error": f"{type(exc).__name__}: {first}"[:500],
        "median_s": None,
        "warnings": [],
        **torch_versions(),
    }


def model_profile(name: str, width: int, height: int, batch: int = 1) -> dict | None:
    """The complexity record (maccs, params, activations, ...) of ``name`` at ``width x height``.

    Comes from :mod:`bench.complexity` (counted on the meta device: no memory, no compute); None
    when the model cannot run on meta tensors, in which case the roofline fields stay empty.
    """
    from bench import complexity

    try:
        # The "true" convention (real multiply-accumulates) for a physical floor, not the NTIRE count.
        return complexity.profile(name, width=width, height=height, batch=batch, convention="true")
    except Exception:  # e.g. a custom op without a meta kernel: timing still works without a floor
        return None
