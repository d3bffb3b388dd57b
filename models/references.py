"""Non-learned references: parameter-free ``nn.Module``s under the same model contract.

They need no training and no weights, so every accuracy table has real numbers on any data, and
they bound what a learned model should beat:

- ``ref-frame``: the EV-aligned medium frame as the HDR estimate (what a network that learned
  nothing but the identity would output). It cannot recover clipped highlights.
- ``exposure-merge``: a classic weighted merge of the three linearised, EV-aligned frames
  (Debevec & Malik's estimator with the known gamma-2.24 response, written in PyTorch so it runs
  on any device and batch like the networks).

Merge details. Each frame gives a linear radiance estimate on the medium frame's scale,
``ldr ** 2.24 * 2 ** -ev``, exact wherever the frame is neither black nor clipped. The estimates
are averaged per pixel and channel with hat-shaped well-exposedness weights ``1 - |2z - 1|`` of
the frame's own value ``z`` (zero at 0 and at 1), except at the ends of the exposure range: the
short frame keeps full weight towards white (``min(2z, 1)``: where it is clipped, every frame is
clipped and it gives the highest lower bound) and the long frame towards black (``min(2(1 - z),
1)``). Where all weights are zero the medium frame is used. The result is gamma-encoded again.
We chose this over OpenCV's ``MergeDebevec`` because that works on 8-bit NumPy images one by one,
outside autograd and off the GPU, and applies its own weighting of 8-bit codes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.blocks import HDRModel, ev_align
from models.registry import register_model

__all__ = ["ExposureMerge", "ReferenceFrame", "exposure_merge", "merge_weights", "ref_frame"]


class ReferenceFrame(HDRModel):
    """The medium frame, brought to EV 0 (a no-op when its EV is 0, as in the NTIRE data)."""

    def reconstruct(self, ldrs: Tensor, ev: Tensor) -> Tensor:
        return ev_align(ldrs, ev, self.gamma)[:, 1]


def merge_weights(ldrs: Tensor) -> Tensor:
    """Well-exposedness weights ``[B, 3, 3, H, W]`` for (short, medium, long) gamma-encoded frames."""
    z = ldrs.clamp(0.0, 1.0)
    hat = 1.0 - (2.0 * z - 1.0).abs()
    short = torch.minimum(2.0 * z[:, 0], torch.ones_like(z[:, 0]))
    long = torch.minimum(2.0 * (1.0 - z[:, 2]), torch.ones_like(z[:, 2]))
    medium = hat[:, 1]
    # Pixels that no frame sees (cannot happen with consistent exposures): fall back on the medium frame.
    medium = medium + ((short + medium + long) == 0).to(ldrs.dtype)
    return torch.stack([short, medium, long], dim=1)


class ExposureMerge(HDRModel):
    """Weighted merge of the linearised, EV-aligned frames (see the module docstring)."""

    def reconstruct(self, ldrs: Tensor, ev: Tensor) -> Tensor:
        linear = ev_align(ldrs.clamp_min(0.0), ev, self.gamma) ** self.gamma  # radiance, medium's scale
        weights = merge_weights(ldrs)
        merged = (weights * linear).sum(dim=1) / weights.sum(dim=1)
        return merged ** (1.0 / self.gamma)


@register_model(
    family="reference",
    trainable=False,
    description="non-learned: the EV-aligned medium frame as the HDR estimate (no highlight recovery)",
)
def ref_frame(**overrides) -> nn.Module:
    """The EV-aligned medium frame."""
    return ReferenceFrame(**overrides)


@register_model(
    family="reference",
    trainable=False,
    description="non-learned: hat-weighted merge of the three linearised, EV-aligned frames (gamma 2.24)",
)
def exposure_merge(**overrides) -> nn.Module:
    """Classic weighted exposure merge with the known gamma-2.24 response."""
    return ExposureMerge(**overrides)
