"""The numerics check: every configuration but the reference is compared with eager fp32 (TF32 off).

The verdict is ``ok`` or ``numerics-failed``: an error above the precision's bound, or NaN/inf in
the output or in the reference (then the model itself fails on the input, not the backend).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

# Largest accepted relative L2 error of a backend's output against eager fp32 (TF32 off), on the
# same input. fp32 allows for TF32 convolutions (cuDNN's default on Ampere+, ~1e-3 after a few
# dozen layers) and reordered reductions in compiled kernels; fp16 has an 11-bit mantissa
# (~5e-4 per op), bf16 an 8-bit one (~4e-3 per op). A wrong kernel or a broken conversion is off
# by 1e-1 or more, so these bounds separate "rounding" from "wrong" with a wide margin.
REL_L2_BOUNDS = {"fp32": 5e-3, "fp16": 2e-2, "bf16": 5e-2}


@contextlib.contextmanager
def strict_fp32() -> Iterator[None]:
    """TF32 off for convolutions and matmuls (the reference forward), restored afterwards."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


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


@dataclass
class NumericsVerdict:
    """What the check found: the record's ``status``, ``rel_l2_error`` and warnings to add."""

    status: str = "ok"
    rel_l2_error: float | None = None
    warnings: list[str] = field(default_factory=list)


def check_numerics(output: Tensor, reference: Tensor | None, bound: float, label: str) -> NumericsVerdict:
    """Judge ``output`` against ``reference`` (None: the reference configuration, only finiteness)."""
    verdict = NumericsVerdict()
    if reference is not None and not torch.isfinite(reference).all():
        verdict.status = "numerics-failed"
        verdict.warnings.append(
            "the eager fp32 reference output has NaN/inf values: the model itself fails on this "
            "input, so no configuration of it can be checked"
        )
    elif reference is not None:
        err = relative_l2(output, reference)
        verdict.rel_l2_error = err
        if not err <= bound:
            verdict.status = "numerics-failed"
            verdict.warnings.append(
                f"{label}: relative L2 error {err:.3g} vs eager fp32 exceeds the bound {bound:g}; "
                "its time is not comparable"
            )
    elif not torch.isfinite(output).all():
        verdict.status = "numerics-failed"
        verdict.warnings.append("the output has NaN/inf values: the model fails on this input")
    return verdict
