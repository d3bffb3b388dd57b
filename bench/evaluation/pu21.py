"""The PU21 perceptually uniform encoding (Mantiuk & Azimi, PCS 2021) and the display model it needs.

PU21 maps absolute luminance ``Y`` (cd/m^2, clipped to [0.005, 10000]) to values in which a unit
step is about equally visible everywhere, scaled so that 100 cd/m^2 encodes to about 256 (the
range of an 8-bit SDR image, so SDR metrics apply unchanged)::

    V(Y) = max(0, p7 * (((p1 + p2 Y^p4) / (1 + p3 Y^p4)) ^ p5 - p6))

with the paper's parameters for the ``banding_glare`` fit (the authors' default):
``p = (0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166, 0.9099517204,
596.3148142)``. The other published fits are available by name.

Relative images must first become luminance. :class:`DisplayModel` is the gain-gamma-offset
model of the PU21 toolbox: ``L = (Y_peak - Y_black) V^gamma + Y_black`` with
``Y_black = Y_peak / contrast + k_refl E_ambient / pi`` for display-encoded pixel values ``V`` in
[0, 1]. :data:`SCTNET_DISPLAY` is what SCTNet's evaluation used (``gog(55, 1000, [], 10)``:
55 cd/m^2 peak, 1000:1, gamma 2.2, 10 lux, reflectivity 0.005; black level 0.0709 cd/m^2), the
display of the ``pu21_psnr``/``pu21_ssim`` metrics. The toolbox's PSNR is on the encoded RGB values
with peak 256; its SSIM on the encoded luminance (Rec. 709 weights) with dynamic range 256.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

L_MIN = 0.005  # cd/m^2: the encoding's valid range (values outside are clipped first)
L_MAX = 10000.0
PEAK = 256.0  # the encoded value the toolbox's PSNR and SSIM take as the peak / dynamic range

PARAMETERS: dict[str, tuple[float, ...]] = {
    "banding": (1.070275272, 0.4088273932, 0.153224308, 0.2520326168, 1.063512885, 1.14115047, 521.4527484),
    "banding_glare": (
        0.353487901,
        0.3734658629,
        8.277049286e-05,
        0.9062562627,
        0.09150303166,
        0.9099517204,
        596.3148142,
    ),
    "peaks": (1.043882782, 0.6459495343, 0.3194584211, 0.374025247, 1.114783422, 1.095360363, 384.9217577),
    "peaks_glare": (
        816.885024,
        1479.463946,
        0.001253215609,
        0.9329636822,
        0.06746643971,
        1.573435413,
        419.6006374,
    ),
}
DEFAULT_FIT = "banding_glare"
LUMINANCE_WEIGHTS = (0.212656, 0.715158, 0.072186)  # Rec. 709 / sRGB primaries, as the toolbox


def pu21_encode(luminance: np.ndarray | float, fit: str = DEFAULT_FIT) -> np.ndarray:
    """PU21 values of absolute luminance (cd/m^2); inputs outside [0.005, 10000] are clipped first."""
    p1, p2, p3, p4, p5, p6, p7 = PARAMETERS[fit]
    y = np.clip(np.asarray(luminance, dtype=np.float64), L_MIN, L_MAX)
    yp = y**p4
    return np.maximum(p7 * (((p1 + p2 * yp) / (1.0 + p3 * yp)) ** p5 - p6), 0.0)


@dataclass(frozen=True)
class DisplayModel:
    """Gain-gamma-offset display: display-encoded values in [0, 1] -> emitted luminance (cd/m^2)."""

    peak: float  # cd/m^2
    contrast: float = 1000.0
    gamma: float = 2.2
    ambient_lux: float = 0.0
    reflectivity: float = 0.005

    @property
    def black(self) -> float:
        """Black level: the panel's leak plus the reflected ambient light (cd/m^2)."""
        return self.peak / self.contrast + self.reflectivity * self.ambient_lux / math.pi

    def luminance(self, pixels: np.ndarray) -> np.ndarray:
        v = np.clip(np.asarray(pixels, dtype=np.float64), 0.0, 1.0)
        return (self.peak - self.black) * v**self.gamma + self.black

    def describe(self) -> str:
        return (
            f"gain-gamma-offset display, peak {self.peak:g} cd/m^2, contrast {self.contrast:g}:1, "
            f"gamma {self.gamma:g}, ambient {self.ambient_lux:g} lux, reflectivity {self.reflectivity:g} "
            f"(black level {self.black:.4g} cd/m^2)"
        )


SCTNET_DISPLAY = DisplayModel(peak=55.0, contrast=1000.0, gamma=2.2, ambient_lux=10.0)


def luminance_of(rgb: np.ndarray) -> np.ndarray:
    """Luminance of an ``HxWx3`` linear RGB array (Rec. 709 weights)."""
    w = LUMINANCE_WEIGHTS
    return rgb[..., 0] * w[0] + rgb[..., 1] * w[1] + rgb[..., 2] * w[2]
