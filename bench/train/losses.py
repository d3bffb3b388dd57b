"""Training losses on gamma-encoded HDR (the paper's eqs. 6-9, protocol section 5).

The default ``mu_tanh`` loss is ``0.5 * L1(T(gt), T(pred)) + 0.5 * L1(tanh(gt), tanh(pred))``:
``T`` is the PSNR-µ tonemap (linearise with gamma 2.24, divide by the ground truth's 99th
percentile, tanh, then µ-law with µ = 5000), so the first term optimises what PSNR-µ measures;
the tanh term keeps a gradient on bright, saturated regions that the µ-law flattens.

Losses are entries of :data:`LOSSES`; ``train --loss`` offers every registered name. A plugin adds
one with the decorator::

    from bench.train.losses import register_loss

    @register_loss("l2")
    def l2_loss(pred, gt):
        return (pred - gt).square().mean()
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from bench.core.registry import Registry
from bench.evaluation.metrics import GAMMA, MU, PERCENTILE, mu_tonemap

LossFn = Callable[[Tensor, Tensor], Tensor]
"""A training loss: ``loss(pred, gt)`` of ``[B, 3, H, W]`` gamma-encoded HDR images -> a scalar tensor."""

LOSSES: Registry[LossFn] = Registry("loss")


def register_loss(name: str, *, replace: bool = False) -> Callable[[LossFn], LossFn]:
    """Decorator: register ``fn(pred, gt) -> scalar`` as the loss ``name`` (``train --loss NAME``)."""
    return LOSSES.register(name, replace=replace)


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


@register_loss("mu_tanh")
def mu_tanh_loss(pred: Tensor, gt: Tensor) -> Tensor:
    """The paper's loss: 0.5 µ-law L1 (PSNR-µ's tonemap) + 0.5 tanh L1."""
    return 0.5 * mu_loss(pred, gt) + 0.5 * tanh_loss(pred, gt)


@register_loss("mu")
def mu_loss(pred: Tensor, gt: Tensor) -> Tensor:
    """L1 of PSNR-µ's tonemap (:func:`tonemap_mu`)."""
    t_pred, t_gt = tonemap_mu(pred, gt)
    return (t_pred - t_gt).abs().mean()


@register_loss("tanh")
def tanh_loss(pred: Tensor, gt: Tensor) -> Tensor:
    """L1 of tanh of the gamma-encoded values."""
    return (torch.tanh(pred) - torch.tanh(gt)).abs().mean()


@register_loss("l1")
def l1_loss(pred: Tensor, gt: Tensor) -> Tensor:
    """Plain L1 of the gamma-encoded values."""
    return (pred - gt).abs().mean()


def get_loss(name: str) -> LossFn:
    """The loss registered as ``name``; an unknown name is a UsageError listing the known ones."""
    return LOSSES.get(name)
