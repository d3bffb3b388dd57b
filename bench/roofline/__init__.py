"""Roofline floors: the fastest a forward could possibly run on a device, and how close we get.

A forward needs ``2 x MAccs`` floating-point operations and has to move at least its weights and
its activations through memory once. On a device with peak rate ``P`` (FLOP/s) and memory
bandwidth ``B`` (bytes/s) it therefore cannot take less than::

    floor = max(2 * maccs / P, (params + activations) * bytes_per_element / B)

``floor / measured`` is the fraction of the device's ceiling that a backend achieves (1.0 would
be perfect). MAccs are the complexity profile's ``true`` convention (real multiply-accumulates),
``params`` the weights some op read, and ``activations`` its activations: the elements of every
conv output, each counted once (written, never read back; elementwise intermediates left out).
A backend that fuses a conv with its neighbours keeps some of these out of memory, so for a
memory-bound model the floor is the floor of *unfused* execution: a fraction above 1 then means
the backend fused, not that the clock is wrong.

Ceilings come from two sources: the vendor's data sheets for known GPUs (:data:`DEVICE_SPECS`,
dense rates without sparsity) and ``run_bench.py calibrate``, which measures a large copy and a
large matmul on the current device and stores the result in the user cache folder. A
calibration file, when present, wins over the data sheet because it is what this machine really
does. A CPU has no data-sheet entry: calibrate it.
"""

from __future__ import annotations

import json
import platform
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.core import CALIBRATION_CACHE_DIR, SHIPPED_CALIBRATION_DIR, UsageError, write_json

CALIBRATION_DIR = CALIBRATION_CACHE_DIR  # where `calibrate` writes; the shipped files are a fallback
PRECISION_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}


@dataclass(frozen=True)
class DeviceSpec:
    """Peak dense rates in FLOP/s per precision and memory bandwidth in bytes/s.

    ``fp32`` is the plain (CUDA-core) rate; ``tf32`` the tensor-core rate PyTorch's cuDNN
    convolutions use by default for fp32 on Ampere and newer (``None`` where there is none).
    """

    name: str
    match: str  # regular expression tested against torch.cuda.get_device_name()
    fp32: float
    tf32: float | None
    fp16: float
    bf16: float | None
    bandwidth: float
    source: str


T = 1e12
# Vendor data-sheet numbers, dense (no 2:4 sparsity). More specific patterns come first.
DEVICE_SPECS: tuple[DeviceSpec, ...] = (
    DeviceSpec(
        "NVIDIA H200",
        r"H200",
        67 * T,
        494.7 * T,
        989.4 * T,
        989.4 * T,
        4.8e12,
        "NVIDIA H200 data sheet (SXM)",
    ),
    DeviceSpec(
        "NVIDIA H100 PCIe",
        r"H100.*PCIe",
        51 * T,
        378 * T,
        756 * T,
        756 * T,
        2.0e12,
        "NVIDIA H100 data sheet (PCIe)",
    ),
    DeviceSpec(
        "NVIDIA H100 SXM",
        r"H100",
        67 * T,
        494.7 * T,
        989.4 * T,
        989.4 * T,
        3.35e12,
        "NVIDIA H100 data sheet (SXM5)",
    ),
    DeviceSpec(
        "NVIDIA A100 40GB",
        r"A100.*(40GB|PCIE-40)",
        19.5 * T,
        156 * T,
        312 * T,
        312 * T,
        1.555e12,
        "NVIDIA A100 data sheet (40 GB)",
    ),
    DeviceSpec(
        "NVIDIA A100 80GB",
        r"A100",
        19.5 * T,
        156 * T,
        312 * T,
        312 * T,
        2.039e12,
        "NVIDIA A100 data sheet (80 GB SXM)",
    ),
    DeviceSpec(
        "NVIDIA V100", r"V100", 15.7 * T, None, 125 * T, None, 0.9e12, "NVIDIA V100 data sheet (SXM2)"
    ),
)


def find_spec(device_name: str) -> DeviceSpec | None:
    """The data-sheet entry whose pattern matches ``device_name`` (case-insensitive), if any."""
    for spec in DEVICE_SPECS:
        if re.search(spec.match, device_name, re.IGNORECASE):
            return spec
    return None


def spec_ceilings(spec: DeviceSpec, precision: str, tf32: bool = False) -> tuple[float | None, float]:
    """(peak FLOP/s, bandwidth) of a data-sheet device for one precision."""
    if precision == "fp32":
        peak = spec.tf32 if (tf32 and spec.tf32) else spec.fp32
    elif precision == "fp16":
        peak = spec.fp16
    else:
        peak = spec.bf16
    return peak, spec.bandwidth


# ---------------------------------------------------------------------------------------------
# Calibration: measure the two ceilings on the current device
# ---------------------------------------------------------------------------------------------


def device_slug(device_name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-") or "device"


def calibration_path(device_name: str, directory: Path | None = None) -> Path:
    return Path(directory or CALIBRATION_DIR) / f"{device_slug(device_name)}.json"


def load_calibration(device_name: str, directory: Path | None = None) -> dict | None:
    path = calibration_path(device_name, directory)
    if directory is None and not path.is_file():
        path = SHIPPED_CALIBRATION_DIR / path.name  # the committed calibration of the project's CI machine
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"calibration file {path}: cannot read ({exc}); delete it or rerun calibrate"
        ) from exc


def _best_seconds(fn, sync, repeat: int) -> float:
    # The best of several runs estimates the ceiling: slower runs only add interference.
    best = float("inf")
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def calibrate(
    device: str = "cpu",
    precisions: tuple[str, ...] = ("fp32",),
    copy_mib: int = 256,
    matmul_n: int = 2048,
    repeat: int = 5,
    threads: int | None = None,
) -> dict:
    """Measure memory bandwidth (a large tensor copy) and matmul FLOP rate per precision.

    Bandwidth counts read + write: ``2 x bytes / seconds``. The matmul of two ``n x n`` matrices
    counts ``2 n^3`` FLOPs. fp32 matmuls run with TF32 off (the honest fp32 ceiling); on CUDA the
    TF32 rate is measured too, because cuDNN uses it for fp32 convolutions by default.
    """
    import torch

    from bench.core import resolve_device
    from bench.core.environment import device_name as _device_name

    dev = resolve_device(device)
    if threads:
        torch.set_num_threads(threads)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)

    n_bytes = copy_mib * 2**20
    src = torch.empty(n_bytes // 4, dtype=torch.float32, device=dev).uniform_()
    dst = torch.empty_like(src)
    dst.copy_(src)  # first touch: page faults and allocator growth are not bandwidth
    copy_s = _best_seconds(lambda: dst.copy_(src), sync, repeat)

    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    flops: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    cases = [(p, False) for p in precisions]
    if dev.type == "cuda" and "fp32" in precisions:
        cases.append(("tf32", True))
    for precision, tf32 in cases:
        dtype = dtypes["fp32" if tf32 else precision]
        try:
            a = torch.randn(matmul_n, matmul_n, device=dev).to(dtype)
            b = torch.randn(matmul_n, matmul_n, device=dev).to(dtype)
            old = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32
            try:
                torch.mm(a, b)
                secs = _best_seconds(lambda a=a, b=b: torch.mm(a, b), sync, repeat)
            finally:
                torch.backends.cuda.matmul.allow_tf32 = old
            flops[precision] = 2 * matmul_n**3 / secs
        except (RuntimeError, TypeError) as exc:  # e.g. no fp16 matmul kernel on this CPU
            flops[precision] = None
            errors[precision] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return {
        "device": dev.type,
        "device_name": _device_name(dev),
        "threads": torch.get_num_threads() if dev.type == "cpu" else None,
        "bandwidth_Bps": 2 * n_bytes / copy_s,
        "copy_mib": copy_mib,
        "matmul_n": matmul_n,
        "repeat": repeat,
        "peak_flops": flops,
        "errors": errors,
        "torch_version": torch.__version__,
        "host": platform.node(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def save_calibration(record: dict, directory: Path | None = None) -> Path:
    return write_json(calibration_path(record["device_name"], directory), record)


# ---------------------------------------------------------------------------------------------
# The floor
# ---------------------------------------------------------------------------------------------


def roofline_floor(
    maccs: float,
    params: float,
    activations: float,
    precision: str,
    peak_flops: float | None,
    bandwidth_Bps: float | None,
) -> dict:
    """The roofline floor in seconds and which ceiling sets it (``compute`` or ``memory``)."""
    compute_s = 2.0 * maccs / peak_flops if peak_flops else None
    memory_bytes = (params + activations) * PRECISION_BYTES[precision]
    memory_s = memory_bytes / bandwidth_Bps if bandwidth_Bps else None
    # A floor needs both ceilings: with one missing (e.g. no fp16 rate calibrated on a CPU) the
    # other alone would pass for a roofline it is not.
    floor_s = max(compute_s, memory_s) if compute_s is not None and memory_s is not None else None
    bound = None
    if floor_s is not None:
        bound = "compute" if floor_s == compute_s else "memory"
    return {
        "floor_compute_s": compute_s,
        "floor_memory_s": memory_s,
        "floor_memory_bytes": memory_bytes,
        "floor_s": floor_s,
        "floor_bound": bound,
    }


def device_ceilings(
    device_name: str, precision: str, tf32: bool = False, calibration_dir: Path | None = None
) -> dict:
    """Ceilings for a device: its calibration file if there is one, else its data sheet, else none."""
    cal = load_calibration(device_name, calibration_dir)
    if cal is not None:
        flops = cal.get("peak_flops", {})
        peak = (
            flops.get("tf32")
            if (precision == "fp32" and tf32 and flops.get("tf32"))
            else flops.get(precision)
        )
        return {
            "roofline_source": f"calibrated ({calibration_path(device_name, calibration_dir).name})",
            "peak_flops": peak,
            "bandwidth_Bps": cal.get("bandwidth_Bps"),
        }
    spec = find_spec(device_name)
    if spec is not None:
        peak, bw = spec_ceilings(spec, precision, tf32)
        return {"roofline_source": spec.source, "peak_flops": peak, "bandwidth_Bps": bw}
    return {"roofline_source": None, "peak_flops": None, "bandwidth_Bps": None}


def roofline_fields(
    profile: dict | None,
    device_name: str,
    precision: str,
    median_s: float | None,
    tf32: bool = False,
    calibration_dir: Path | None = None,
) -> dict[str, Any]:
    """The roofline fields of a time record, from a complexity profile (maccs, params, activations).

    The weights counted are those the forward reads (``params`` of a ``true`` profile); a
    profile without them falls back to all of the model's parameters.
    """
    empty = {
        "maccs": None,
        "roofline_source": None,
        "peak_flops": None,
        "bandwidth_Bps": None,
        "floor_compute_s": None,
        "floor_memory_s": None,
        "floor_memory_bytes": None,
        "floor_s": None,
        "floor_bound": None,
        "floor_fraction": None,
    }
    if not profile or profile.get("maccs") is None:
        return empty
    ceilings = device_ceilings(device_name, precision, tf32, calibration_dir)
    floor = roofline_floor(
        profile["maccs"],
        profile.get("params") or profile.get("params_total") or 0,
        profile.get("activations") or 0,
        precision,
        ceilings["peak_flops"],
        ceilings["bandwidth_Bps"],
    )
    fraction = floor["floor_s"] / median_s if (floor["floor_s"] and median_s) else None
    return {**empty, "maccs": profile["maccs"], **ceilings, **floor, "floor_fraction": fraction}


def spec_table() -> list[dict]:
    """The data-sheet table as plain records (for the README and reports)."""
    return [asdict(s) for s in DEVICE_SPECS]
