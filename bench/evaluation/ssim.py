"""SSIM (Wang et al. 2004) as the field computes it: the Python (valid-window) form and MATLAB's ``ssim``.

Both use the Gaussian-weighted local statistics of the paper (sigma 1.5, 11 taps per axis, weights
summing to 1), population (not sample) variances, and
``SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))`` with
``C1 = (K1 L)^2``, ``C2 = (K2 L)^2``, ``K1 = 0.01``, ``K2 = 0.03`` and ``L`` the data range. They
differ in where the window may go and in what a colour image is:

* :func:`ssim_valid` (the HDR-Transformer family's ``calculate_ssim``, and scikit-image's
  ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``): each
  channel on its own, the window only where it fits inside the image (a 5-pixel border of the map
  is dropped), the mean over the channels' maps.
* :func:`ssim_matlab` (MATLAB's ``ssim(A, ref)`` with its defaults): the array is one volume of as
  many dimensions as it has, so an ``HxWx3`` image is filtered with an ``11x11x11`` Gaussian that
  also mixes the three colour planes; the borders are padded by replicating the edge value
  (``imgaussfilt``/``imgaussfilt3`` with ``'Padding','replicate'`` and filter size
  ``2*ceil(3*sigma)+1``) and the mean is over the whole map. ``L`` defaults to 1 (MATLAB's range of
  a ``double`` image). The filter size and padding are those of MATLAB's implementation, which
  its documentation does not spell out; they were not checked against a MATLAB run here.

Inputs are NumPy arrays, computed in float64.
"""

from __future__ import annotations

import math

import numpy as np

SIGMA = 1.5
K1 = 0.01
K2 = 0.03
RADIUS = 5  # 11 taps: the paper's window; also MATLAB's ceil(3 * 1.5) and scikit-image's int(3.5 * 1.5 + 0.5)


def gaussian_taps(sigma: float = SIGMA, radius: int = RADIUS) -> np.ndarray:
    """The normalised 1-D Gaussian ``exp(-x^2 / (2 sigma^2))``, ``x = -radius..radius`` (sums to 1)."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-(x**2) / (2.0 * sigma**2))
    return taps / taps.sum()


def filter_valid(x: np.ndarray, taps: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Separable correlation with ``taps`` along ``axes``, only where the window fits (each axis shrinks)."""
    n = len(taps)
    for axis in axes:
        length = x.shape[axis] - n + 1
        out = np.zeros(x.shape[:axis] + (length,) + x.shape[axis + 1 :], dtype=np.float64)
        for k, weight in enumerate(taps):
            index = [slice(None)] * x.ndim
            index[axis] = slice(k, k + length)
            out += weight * x[tuple(index)]
        x = out
    return x


def filter_replicate(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable correlation along every axis, edges padded by replicating the border value (same size)."""
    radius = len(taps) // 2
    padded = np.pad(x, radius, mode="edge")
    return filter_valid(padded, taps, tuple(range(x.ndim)))


def ssim_map(
    a: np.ndarray, b: np.ndarray, data_range: float, smooth, k1: float = K1, k2: float = K2
) -> np.ndarray:
    """The local SSIM values, with ``smooth(x)`` giving the Gaussian-weighted local mean of ``x``."""
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu_a, mu_b = smooth(a), smooth(b)
    var_a = smooth(a * a) - mu_a**2
    var_b = smooth(b * b) - mu_b**2
    cov = smooth(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def check_pair(a: np.ndarray, b: np.ndarray, min_size: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"SSIM of arrays of different shapes {a.shape} and {b.shape}")
    if a.ndim < 2 or min(a.shape[:2]) < min_size:
        raise ValueError(f"SSIM needs images of at least {min_size}x{min_size} pixels (got {a.shape})")
    return a, b


def ssim_valid(
    a: np.ndarray, b: np.ndarray, data_range: float, sigma: float = SIGMA, k1: float = K1, k2: float = K2
) -> float:
    """Mean SSIM of ``HxW`` or ``HxWxC`` arrays, per channel, Gaussian window only where it fits."""
    taps = gaussian_taps(sigma, RADIUS)
    a, b = check_pair(a, b, len(taps))
    return float(ssim_map(a, b, data_range, lambda x: filter_valid(x, taps, (0, 1)), k1, k2).mean())


def ssim_matlab(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, sigma: float = SIGMA) -> float:
    """MATLAB ``ssim(a, b)`` defaults: an N-D Gaussian over every axis (colour included), replicate padding."""
    a, b = check_pair(a, b, 1)
    taps = gaussian_taps(sigma, int(math.ceil(3 * sigma)))
    return float(ssim_map(a, b, data_range, lambda x: filter_replicate(x, taps)).mean())
