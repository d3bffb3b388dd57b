"""Training losses on gamma-encoded HDR (the paper's eqs. 6-9, protocol section 5).

The default ``mu_tanh`` loss is ``0.5 * L1(T(gt), T(pred)) + 0.5 * L1(tanh(gt), tanh(pred))``:
``T`` is the PSNR-µ tonemap (linearise with gamma 2.24, divide by the ground truth's 99th
percentile, tanh, then µ-law with µ = 5000), so the first term optimises what PSNR-µ measures;
the tanh term keeps a gradient on bright, saturated regions that the µ-law flattens.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from bench.evaluation.metrics import GAMMA, MU, PERCENTILE, mu_tonemap

LOSSES = ("mu_tanh", "mu", "tanh", "l1")


def tonemap_mu(pred: Tensor, gt: Tensor, mu: float = MU, gamma: float = GAMMA) -> tuple[Tensor, Tensor]:
    """PSNR-µ's tonemap applied to ``pred`` and ``gt`` ``[B, 3, H, W]``, normalised per sample.

    The normaliser is each ground truth's 99th percentile of linear values (over pixels and
    channels), as the metric does; it is a constant for the gradient.
    """
    # Clamping before the power keeps negative predictions (a linear output layer) from giving NaN.
    lin_gt = gt.clamp(min=0).pow(gamma)
    lin_pred = pred.clamp(min=0).pow(gamma)
    with torch.no_grad():
        norm = torch.quantile(lin_gt.flatten(1).float(), PERCENTILE / 100, dim=1).clamp(min=1e-6)
        norm = norm.to(lin_gt.dtype)[:, None, None, None]
    return mu_tonemap(lin_pred, norm, mu), mu_tonemap(lin_gt, norm, mu)


def mu_loss(pred: Tensor, gt: Tensor) -> Tensor:
    t_pred, t_gt = tonemap_mu(pred, gt)
    return (t_pred - t_gt).abs().mean()


def tanh_loss(pred: Tensor, gt: Tensor) -> Tensor:
    return (torch.tanh(pred) - torch.tanh(gt)).abs().mean()


def mu_tanh_loss(pred: Tensor, gt: Tensor) -> Tensor:
    return 0.5 * mu_loss(pred, gt) + 0.5 * tanh_loss(pred, gt)


def l1_loss(pred: Tensor, gt: Tensor) -> Tensor:
    return (pred - gt).abs().mean()


def get_loss(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The loss function called ``name`` (one of :data:`LOSSES`)."""
    table = {"mu_tanh": mu_tanh_loss, "mu": mu_loss, "tanh": tanh_loss, "l1": l1_loss}
    if name not in table:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return table[name]
