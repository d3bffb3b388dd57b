"""The field's metrics on Kalantari-style linear HDR: PSNR-µ, PSNR-L, SSIM-µ, SSIM-L (two SSIM forms), PU21.

Every metric here is registered with ``domain="linear"``: it receives prediction and ground truth
as linear HDR on the shortest frame's scale (what Kalantari 2017's ``HDRImg.hdr`` holds; in [0, 1]
where the short frame is not saturated), converted per image by the evaluation from the sample's
exposures. ``T(x) = log(1 + 5000 x) / log(5001)`` is the field's µ-law tonemap, with no percentile
normalisation and no tanh (unlike NTIRE's ``psnr_mu``).

Clipping rule (stated once, used everywhere below): prediction and ground truth are clipped to
[0, 1] (the convention's range) before any formula, except in the ``*_matlab`` metrics. The
networks these numbers come from (AHDRNet, HDR-Transformer, SCTNet) end in a sigmoid, so their
outputs are in [0, 1] already, and their SSIM clips both images; their PSNR leaves the GT as
stored, which is the same wherever the GT is within [0, 1] (NTIRE GT on the shortest frame's scale
is capped at the short frame's saturation point, 1). Clipping both keeps ``metric(gt, gt)``
perfect. The ``*_matlab`` metrics follow SAFNet's MATLAB script, which scores the unclipped
``.hdr`` files (only negative values, which the conversion from the contract never gives, are
clipped to 0 before the µ-law, whose logarithm is undefined there).

* ``psnr_mu_k``: ``PSNR(T(clip(p)), T(clip(g)))``, peak 1.
* ``psnr_l``: ``PSNR(clip(p), clip(g))``, peak 1.
* ``ssim_mu``, ``ssim_l``: the HDR-Transformer family's SSIM: both images as
  ``clip(255 x, 0, 255)`` (of ``T(.)`` for µ), Gaussian 11x11 sigma 1.5, ``C1 = (0.01*255)^2``,
  ``C2 = (0.03*255)^2``, each channel on its own, the 5-pixel border of the map where the window
  does not fit dropped (:func:`bench.evaluation.ssim.ssim_valid`).
* ``ssim_mu_matlab``, ``ssim_l_matlab``: MATLAB ``ssim(pred, gt)`` defaults on the ``HxWx3`` array
  (one 3-D volume, dynamic range 1, :func:`bench.evaluation.ssim.ssim_matlab`), as SAFNet.
* ``pu21_psnr``, ``pu21_ssim``: SCTNet's PU21 setup: ``T(clip(x))`` taken as display-encoded
  pixels, shown on :data:`bench.evaluation.pu21.SCTNET_DISPLAY`, PU21-encoded (``banding_glare``);
  PSNR of the encoded RGB with peak 256, SSIM (MATLAB form, 2-D) of the encoded luminance with
  dynamic range 256. SCTNet scored 8-bit PNGs; no 8-bit quantisation is applied here.
"""

from __future__ import annotations

import math

import numpy as np

from bench.evaluation.metrics import mu_law
from bench.evaluation.pu21 import PEAK, SCTNET_DISPLAY, luminance_of, pu21_encode
from bench.evaluation.registry import register_metric
from bench.evaluation.ssim import ssim_matlab, ssim_valid

PIXEL_PEAK = 255.0  # the HDR-Transformer family scores SSIM on 0..255 values


def psnr_peak(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """``10 log10(peak^2 / mean((a - b)^2))``; inf for identical arrays."""
    mse = float(np.mean((np.asarray(a, dtype=np.float64) - b) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(peak**2 / mse)


def unit(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0)


def pixels255(x: np.ndarray) -> np.ndarray:
    return np.clip(x * PIXEL_PEAK, 0.0, PIXEL_PEAK)


@register_metric(
    "psnr_mu_k",
    label="PSNR-mu (K)",
    domain="linear",
    description="Kalantari-style PSNR-mu: log(1+5000x)/log(5001) of linear HDR (shortest frame's scale), "
    "peak 1, no normalisation; pred and gt clipped to [0,1] (HDR-Transformer, SCTNet, SAFNet)",
)
def psnr_mu_k(p: np.ndarray, g: np.ndarray) -> float:
    return psnr_peak(mu_law(unit(p)), mu_law(unit(g)))


@register_metric(
    "psnr_l",
    label="PSNR-L (K)",
    domain="linear",
    description="Kalantari-style PSNR-L: linear HDR (shortest frame's scale), peak 1; pred and gt clipped to [0,1]",
)
def psnr_l(p: np.ndarray, g: np.ndarray) -> float:
    return psnr_peak(unit(p), unit(g))


@register_metric(
    "ssim_mu",
    label="SSIM-mu",
    unit="",
    format=".4f",
    domain="linear",
    description="SSIM of clip(255*T(x),0,255), T = log(1+5000x)/log(5001): Gaussian 11x11 sigma 1.5, "
    "C1=(0.01*255)^2, C2=(0.03*255)^2, per channel, valid window (HDR-Transformer family)",
)
def ssim_mu(p: np.ndarray, g: np.ndarray) -> float:
    return ssim_valid(pixels255(mu_law(unit(p))), pixels255(mu_law(g)), PIXEL_PEAK)


@register_metric(
    "ssim_l",
    label="SSIM-L",
    unit="",
    format=".4f",
    domain="linear",
    description="SSIM of clip(255*x,0,255) of linear HDR (values above 1 clipped): Gaussian 11x11 sigma 1.5, "
    "C1=(0.01*255)^2, C2=(0.03*255)^2, per channel, valid window (HDR-Transformer family)",
)
def ssim_l(p: np.ndarray, g: np.ndarray) -> float:
    return ssim_valid(pixels255(unit(p)), pixels255(g), PIXEL_PEAK)


@register_metric(
    "ssim_mu_matlab",
    label="SSIM-mu (MATLAB)",
    unit="",
    format=".4f",
    domain="linear",
    description="MATLAB ssim(T(pred), T(gt)) defaults on HxWx3 as one volume (11x11x11 Gaussian sigma 1.5, "
    "replicate padding, range 1), unclipped (SAFNet)",
)
def ssim_mu_matlab(p: np.ndarray, g: np.ndarray) -> float:
    return ssim_matlab(mu_law(np.maximum(p, 0.0)), mu_law(np.maximum(g, 0.0)), 1.0)


@register_metric(
    "ssim_l_matlab",
    label="SSIM-L (MATLAB)",
    unit="",
    format=".4f",
    domain="linear",
    description="MATLAB ssim(pred, gt) defaults on linear HxWx3 HDR as one volume (11x11x11 Gaussian "
    "sigma 1.5, replicate padding, range 1), unclipped (SAFNet)",
)
def ssim_l_matlab(p: np.ndarray, g: np.ndarray) -> float:
    return ssim_matlab(p, g, 1.0)


def pu21_display_encoded(x: np.ndarray) -> np.ndarray:
    """SCTNet's PU21 input: the µ-law image as display pixels on its display, PU21-encoded (RGB)."""
    return pu21_encode(SCTNET_DISPLAY.luminance(mu_law(unit(x))))


@register_metric(
    "pu21_psnr",
    label="PU21-PSNR",
    domain="linear",
    description="PSNR (peak 256) of PU21 (banding_glare) values of T(clip(x)) shown on a 55 cd/m^2, 1000:1, "
    "gamma 2.2, 10 lux display (SCTNet's gog(55,1000,[],10))",
)
def pu21_psnr(p: np.ndarray, g: np.ndarray) -> float:
    return psnr_peak(pu21_display_encoded(p), pu21_display_encoded(g), PEAK)


@register_metric(
    "pu21_ssim",
    label="PU21-SSIM",
    unit="",
    format=".4f",
    domain="linear",
    description="SSIM (MATLAB form, range 256) of PU21 (banding_glare) luminance of T(clip(x)) on SCTNet's "
    "display (55 cd/m^2, 1000:1, gamma 2.2, 10 lux)",
)
def pu21_ssim(p: np.ndarray, g: np.ndarray) -> float:
    def encoded_luminance(x: np.ndarray) -> np.ndarray:
        return pu21_encode(luminance_of(SCTNET_DISPLAY.luminance(mu_law(unit(x)))))

    return ssim_matlab(encoded_luminance(p), encoded_luminance(g), PEAK)
