"""Which machine a calibration belongs to: more than the CPU's name.

Two VMs can report the same CPU name with different core counts, instruction sets or speeds, and a
calibration made on one says nothing about the other. :func:`machine_key` is what must match
exactly (device name, logical cores, a digest of the CPU flags; on a GPU its memory and compute
capability); :func:`measured_signature` is a short measured matmul rate that must agree within
:data:`SIGNATURE_TOLERANCE` (a grossly different machine, not noise).
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from functools import cache
from pathlib import Path
from typing import Any

import torch

from bench.core.environment import device_name

SIGNATURE_TOLERANCE = 3.0  # a measured signature within a factor 3 of the stored one agrees
SIGNATURE_N = 256  # a 256 x 256 fp32 matmul: about a millisecond on a CPU core


def cpu_flags_digest() -> str:
    """A short digest of the CPU's instruction-set flags (``/proc/cpuinfo``), else of the platform."""
    text = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                text = " ".join(sorted(line.split(":", 1)[1].split()))
                break
    except OSError:
        pass
    text = text or f"{platform.machine()} {platform.processor()}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def machine_key(device: str | torch.device = "cpu") -> dict[str, Any]:
    """What must match exactly for a calibration of ``device`` to apply here."""
    dev = torch.device(device)
    key: dict[str, Any] = {"device_name": device_name(dev), "logical_cores": os.cpu_count()}
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        key["gpu_memory_bytes"] = int(props.total_memory)
        key["compute_capability"] = f"{props.major}.{props.minor}"
    else:
        key["cpu_flags"] = cpu_flags_digest()
    return key


@cache
def measured_signature() -> float:
    """The best of 5 single-thread 256 x 256 fp32 matmuls, in GFLOP/s (CPU; measured once per process)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = torch.ones(SIGNATURE_N, SIGNATURE_N)
        torch.mm(a, a)
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            torch.mm(a, a)
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(saved)
    return 2 * SIGNATURE_N**3 / max(best, 1e-9) / 1e9


def machine_mismatch(stored: dict | None, current: dict, signature: float | None = None) -> str | None:
    """None when a calibration's ``machine`` (``stored``) is this machine's, else what differs (one phrase)."""
    if not isinstance(stored, dict):
        return "it records no machine key (made by an older version)"
    for name, value in current.items():
        if stored.get(name) != value:
            return f"{name.replace('_', ' ')} {stored.get(name)!r} there, {value!r} here"
    theirs = stored.get("signature_gflops")
    if signature and isinstance(theirs, (int, float)) and theirs > 0:
        ratio = max(signature / theirs, theirs / signature)
        if ratio > SIGNATURE_TOLERANCE:
            return f"measured signature {theirs:.1f} GFLOP/s there, {signature:.1f} here"
    return None
