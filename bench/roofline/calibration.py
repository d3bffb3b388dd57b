"""Calibration: measure the two roofline ceilings (copy bandwidth, matmul rate) on the current device.

``run_bench.py calibrate`` stores the result in the user cache folder (``$EAPBENCH_CACHE``, else
``~/.cache/eapbench``) as ``calibration/<device>.json``; a calibration file, when present, wins over
the data sheet because it is what this machine really does. A calibration records the machine that
made it (:mod:`bench.roofline.machine`) and the spread of its runs; one whose machine key differs
from this machine's is not used (one line on stderr says so, once per file).
"""

from __future__ import annotations

import json
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bench.core import (
    CALIBRATION_CACHE_DIR,
    SHIPPED_CALIBRATION_DIR,
    UsageError,
    environment,
    resolve_device,
    write_json,
)
from bench.roofline.machine import machine_key, machine_mismatch, measured_signature

CALIBRATION_DIR = CALIBRATION_CACHE_DIR  # where `calibrate` writes; the shipped files are a fallback


def device_slug(device_name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-") or "device"


def calibration_path(device_name: str, directory: Path | None = None) -> Path:
    return Path(directory or CALIBRATION_DIR) / f"{device_slug(device_name)}.json"


REJECTED: set[str] = set()  # calibration files already reported as another machine's (said once)


def this_machine(record: dict) -> tuple[dict, float | None]:
    """This machine's key for the device kind ``record`` was made on, and (CPU) its measured signature."""
    if record.get("device") == "cuda":
        import torch  # the GPU's properties; only for a CUDA calibration

        if not torch.cuda.is_available():
            return {"device_name": "no CUDA device"}, None
        return machine_key("cuda"), None
    return machine_key("cpu"), measured_signature()


def foreign_machine(record: dict) -> str | None:
    """Why ``record`` was made on another machine, or None when it is this one's (or records no key)."""
    if "machine" not in record:
        return None  # a hand-written or older file: trusted as the user's (its source says unverified)
    current, signature = this_machine(record)
    return machine_mismatch(record["machine"], current, signature)


def load_calibration(device_name: str, directory: Path | None = None) -> dict | None:
    """The calibration of ``device_name`` on this machine, or None (none, or another machine's)."""
    path = calibration_path(device_name, directory)
    if directory is None and not path.is_file():
        path = SHIPPED_CALIBRATION_DIR / path.name  # the committed calibration of the project's CI machine
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"calibration file {path}: cannot read ({exc}); delete it or rerun calibrate"
        ) from exc
    if not isinstance(record, dict):
        raise UsageError(f"calibration file {path}: not a JSON object; delete it or rerun calibrate")
    why = foreign_machine(record)
    if why is not None:
        if str(path) not in REJECTED:
            REJECTED.add(str(path))
            print(f"note: calibration {path} is from another machine ({why}): not used", file=sys.stderr)
        return None
    return record


def run_seconds(fn: Callable[[], object], sync: Callable[[], object], repeat: int) -> list[float]:
    """The seconds of ``repeat`` synchronized runs of ``fn``."""
    times = []
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def best_seconds(fn: Callable[[], object], sync: Callable[[], object], repeat: int) -> float:
    # The best of several runs estimates the ceiling: slower runs only add interference.
    return min(run_seconds(fn, sync, repeat))


def spread(times: list[float]) -> dict[str, float]:
    """Best, median and worst seconds of a ceiling's runs and their CV (how much to trust the best)."""
    t = np.asarray(times, dtype=np.float64)
    cv = float(t.std(ddof=1) / t.mean()) if t.size > 1 and t.mean() > 0 else 0.0
    return {"best_s": float(t.min()), "median_s": float(np.median(t)), "max_s": float(t.max()), "cv": cv}


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
    dev = resolve_device(device)
    if threads:
        torch.set_num_threads(threads)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)

    n_bytes = copy_mib * 2**20
    src = torch.empty(n_bytes // 4, dtype=torch.float32, device=dev).uniform_()
    dst = torch.empty_like(src)
    dst.copy_(src)  # first touch: page faults and allocator growth are not bandwidth
    copy_times = run_seconds(lambda: dst.copy_(src), sync, repeat)
    copy_s = min(copy_times)
    spreads = {"bandwidth": spread(copy_times)}

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
                times = run_seconds(lambda a=a, b=b: torch.mm(a, b), sync, repeat)
                secs = min(times)
                spreads[f"matmul_{precision}"] = spread(times)
            finally:
                torch.backends.cuda.matmul.allow_tf32 = old
            flops[precision] = 2 * matmul_n**3 / secs
        except (RuntimeError, TypeError) as exc:  # e.g. no fp16 matmul kernel on this CPU
            flops[precision] = None
            errors[precision] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return {
        "device": dev.type,
        "device_name": environment.device_name(dev),
        "threads": torch.get_num_threads() if dev.type == "cpu" else None,
        "bandwidth_Bps": 2 * n_bytes / copy_s,
        "copy_mib": copy_mib,
        "matmul_n": matmul_n,
        "repeat": repeat,
        "peak_flops": flops,
        "errors": errors,
        "spread": spreads,
        "machine": {
            **machine_key(dev),
            **({"signature_gflops": measured_signature()} if dev.type == "cpu" else {}),
        },
        "torch_version": torch.__version__,
        "host": platform.node(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def save_calibration(record: dict, directory: Path | None = None) -> Path:
    return write_json(calibration_path(record["device_name"], directory), record)
