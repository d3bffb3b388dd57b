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
CV_MAX_CHANNELS = 512
RADIUS = 5  # 11 taps: the paper's window; also MATLAB's ceil(3 * 1.5) and scikit-image's int(3.5 * 1.5 + 0.5)


def gaussian_taps(sigma: float = SIGMA, radius: int = RADIUS) -> np.ndarray:
    """The normalised 1-D Gaussian ``exp(-x^2 / (2 sigma^2))``, ``x = -radius..radius`` (sums to 1)."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-(x**2) / (2.0 * sigma**2))
    return taps / taps.sum()


def smooth_planes(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable correlation with ``taps`` along the first two axes (each plane), edges replicated (same size)."""
    import cv2  # deferred: the CLI start-up does not load OpenCV; its separable filter is ~50x numpy's loop

    planes = np.ascontiguousarray(x.reshape(x.shape[0], x.shape[1], -1), dtype=np.float64)
    out = np.empty(planes.shape, dtype=np.float64)
    for c in range(0, planes.shape[2], CV_MAX_CHANNELS):  # OpenCV filters up to 512 channels at once
        part = np.ascontiguousarray(planes[..., c : c + CV_MAX_CHANNELS])
        smoothed = cv2.sepFilter2D(part, cv2.CV_64F, taps, taps, borderType=cv2.BORDER_REPLICATE)
        out[..., c : c + CV_MAX_CHANNELS] = smoothed.reshape(part.shape)
    return out.reshape(x.shape)


def filter_valid(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Correlation along the first two axes, only where the window fits (each shrinks by ``len(taps) - 1``)."""
    r = len(taps) // 2
    return smooth_planes(x, taps)[r : x.shape[0] - r, r : x.shape[1] - r]


def replicate_mixing(length: int, taps: np.ndarray) -> np.ndarray:
    """The ``length x length`` matrix of a correlation along a short axis whose ends are replicated."""
    r = len(taps) // 2
    mix = np.zeros((length, length))
    for out in range(length):
        for k, weight in enumerate(taps):
            mix[out, min(max(out + k - r, 0), length - 1)] += weight
    return mix


def filter_replicate(x: np.ndarray, taps: np.ndarray, image_ndim: int | None = None) -> np.ndarray:
    """Separable correlation along the first ``image_ndim`` axes (default: all), edges replicated (same size).

    Axes after ``image_ndim`` are independent images stacked together (not filtered across).
    """
    out = smooth_planes(x, taps)
    for axis in range(2, x.ndim if image_ndim is None else image_ndim):  # the colour axis of HxWx3
        mix = replicate_mixing(x.shape[axis], taps)
        out = np.moveaxis(np.tensordot(out, mix, axes=([axis], [1])), -1, axis)
    return out


def ssim_map(
    a: np.ndarray, b: np.ndarray, data_range: float, smooth, k1: float = K1, k2: float = K2
) -> np.ndarray:
    """The local SSIM values; ``smooth(x)`` gives the Gaussian-weighted local means of ``x``, whose last
    axis stacks the five images the statistics need (it must not filter across that axis)."""
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    # One filtering pass over the five images stacked on a new last axis (the smoothing acts per plane).
    stats = smooth(np.stack([a, b, a * a, b * b, a * b], axis=-1))
    mu_a, mu_b, aa, bb, ab = (stats[..., i] for i in range(5))
    var_a, var_b, cov = aa - mu_a**2, bb - mu_b**2, ab - mu_a * mu_b
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
    return float(ssim_map(a, b, data_range, lambda x: filter_valid(x, taps), k1, k2).mean())


def ssim_matlab(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, sigma: float = SIGMA) -> float:
    """MATLAB ``ssim(a, b)`` defaults: an N-D Gaussian over every axis (colour included), replicate padding."""
    a, b = check_pair(a, b, 1)
    taps = gaussian_taps(sigma, int(math.ceil(3 * sigma)))
    return float(ssim_map(a, b, data_range, lambda x: filter_replicate(x, taps, a.ndim)).mean())
