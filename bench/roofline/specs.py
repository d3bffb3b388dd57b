"""Vendor data sheets: peak dense FLOP rates per precision and memory bandwidth of known GPUs."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

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


def spec_table() -> list[dict]:
    """The data-sheet table as plain records (for the README and reports)."""
    return [asdict(s) for s in DEVICE_SPECS]
