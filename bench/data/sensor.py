"""The sensor of the EAPNet paper's eq. 1: one exposure of linear radiance -> a noisy, clipped, 8-bit LDR frame.

The degradation model is eq. 1 of the EAPNet paper, ``I = min(Φ t / g + I0 + n, Imax)``, written in
units where the medium frame's noise-free signal equals the ground truth's linear value ``E``:

* frame ``i`` sees ``s_i = E * 2 ** (ev_i - ev_medium)`` (exposure time and gain folded in);
* noise ``n`` is Gaussian with variance ``gain * shot**2 * s + (gain * read)**2``: shot noise grows
  with the signal, read noise does not, and a higher analog ``gain`` (at the same brightness)
  amplifies both (``shot`` is the shot-noise std of a full-scale signal at gain 1);
* ``I0`` is a constant ``offset``; saturation ``Imax = 1``; negative values clip at 0;
* the frame is gamma-encoded (``I ** (1 / 2.24)``) and quantised to 8 bits.

The ground truth is ``E ** (1 / 2.24)``, noise-free and aligned with the medium frame, capped at the
short frame's saturation point (what a bracketed capture can record), written as a 16-bit PNG with
its alignratio. With ``motion=True`` the short and long frames see a warped scene (global shift and
rotation plus a smooth local displacement field), as hand-held captures with moving content do.

Radiance is scaled per sample (:func:`auto_scale`) so that the median luminance lands at a mid-grey
"key" (an auto-exposure), jittered by up to half a stop, unless that would clip more than 10% of the
medium frame. Randomness comes only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.core import UsageError
from bench.data.hdrio import GAMMA

KEY = 0.18  # mid-grey: the medium frame's median linear value before jitter
MAX_CLIPPED = 0.1  # auto-exposure keeps at most this fraction of the medium frame above saturation


@dataclass(frozen=True)
class Sensor:
    """Eq. 1's sensor: shot/read noise std (full-scale units), offset I0, analog gain."""

    shot: float = 0.01
    read: float = 0.002
    offset: float = 0.0002
    gain: float = 1.0

    def __post_init__(self) -> None:
        for name in ("shot", "read", "offset"):
            if not (getattr(self, name) >= 0 and math.isfinite(getattr(self, name))):
                raise UsageError(f"sensor {name} must be a finite number >= 0, got {getattr(self, name)}")
        if not (self.gain > 0 and math.isfinite(self.gain)):
            raise UsageError(f"sensor gain must be a finite number > 0, got {self.gain}")

    def noise_std(self, signal: np.ndarray | float) -> np.ndarray:
        """Standard deviation of ``n`` for a noise-free linear signal (output units)."""
        return np.sqrt(self.gain * self.shot**2 * np.maximum(signal, 0.0) + (self.gain * self.read) ** 2)


# ---------------------------------------------------------------------------------------------
# The degradation


def expose(radiance: np.ndarray, rel_ev: float, sensor: Sensor, rng: np.random.Generator) -> np.ndarray:
    """Eq. 1 for one frame: linear sensor values in [0, 1] (before gamma and quantisation)."""
    signal = radiance * 2.0**rel_ev
    noise = rng.standard_normal(signal.shape, dtype=np.float32) * sensor.noise_std(signal).astype(np.float32)
    return np.clip(signal + sensor.offset + noise, 0.0, 1.0).astype(np.float32)


def encode_ldr(linear: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    """Gamma-encode linear [0, 1] values and quantise to uint8."""
    return np.round(np.clip(linear, 0.0, 1.0) ** (1.0 / gamma) * 255.0).astype(np.uint8)


def random_motion(size: tuple[int, int], rng: np.random.Generator, strength: float = 1.0) -> dict[str, Any]:
    """Parameters of one frame's misalignment: global rotation/shift plus a coarse local displacement grid."""
    w, h = size
    short_side = min(w, h)
    return {
        "rotation_deg": float(rng.uniform(-1.5, 1.5) * strength),
        "shift_px": [float(v) for v in rng.uniform(-0.02, 0.02, 2) * short_side * strength],
        # a 5x5 grid of displacements, smoothly interpolated: objects moving by different amounts
        "local_px": (rng.uniform(-1.0, 1.0, (2, 5, 5)) * 0.015 * short_side * strength).round(3).tolist(),
    }


def warp(img: np.ndarray, motion: dict[str, Any]) -> np.ndarray:
    """Apply :func:`random_motion`'s parameters to an HxWx3 image (sampling with reflection at borders)."""
    import cv2

    h, w = img.shape[:2]
    rot = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), motion["rotation_deg"], 1.0)
    rot[:, 2] += motion["shift_px"]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x = rot[0, 0] * xs + rot[0, 1] * ys + rot[0, 2]
    map_y = rot[1, 0] * xs + rot[1, 1] * ys + rot[1, 2]
    local = np.asarray(motion["local_px"], dtype=np.float32)
    map_x += cv2.resize(local[0], (w, h), interpolation=cv2.INTER_CUBIC)
    map_y += cv2.resize(local[1], (w, h), interpolation=cv2.INTER_CUBIC)
    out = cv2.remap(
        img,
        map_x.astype(np.float32),
        map_y.astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    return np.maximum(out, 0.0)


def simulate_triplet(
    radiance: np.ndarray,
    evs: tuple[float, float, float],
    sensor: Sensor,
    rng: np.random.Generator,
    motion: bool = False,
) -> dict[str, Any]:
    """Radiance already on the medium frame's scale (HxWx3 linear) -> LDR uint8 frames and GT.

    Returns ``ldrs`` (3,H,W,3) uint8 RGB, ``gt`` HxWx3 float32 gamma-encoded, and a record of what
    was done (cap, saturated fractions, motion parameters) for the manifest.
    """
    rel = [float(e - evs[1]) for e in evs]
    cap = 2.0 ** (-rel[0])  # the short frame saturates here: nothing brighter can be recovered
    scene = np.minimum(radiance, cap).astype(np.float32)
    h, w = scene.shape[:2]
    frames, record = [], {"peak_cap": cap, "motion": None, "saturated_fraction": {}}
    motions = {}
    # Motion draws from its own stream, so --motion changes the short and long frames only: the
    # medium frame, the GT and every noise sample stay byte-identical.
    motion_rng = np.random.default_rng(rng.integers(2**62))
    for idx, name in enumerate(("short", "medium", "long")):
        view = scene
        if motion and idx != 1:
            motions[name] = random_motion((w, h), motion_rng)
            view = warp(scene, motions[name])
        linear = expose(view, rel[idx], sensor, rng)
        frames.append(encode_ldr(linear))
        record["saturated_fraction"][name] = float((frames[-1] == 255).any(axis=-1).mean())
    if motion:
        record["motion"] = motions
    gt = scene ** (1.0 / GAMMA)
    record["gt_max"] = float(gt.max())
    return {"ldrs": np.stack(frames), "gt": gt.astype(np.float32), "record": record}


def auto_scale(radiance: np.ndarray, rng: np.random.Generator) -> float:
    """Per-sample exposure: median luminance to ``KEY`` (jittered by up to half a stop), but never
    so bright that more than ``MAX_CLIPPED`` of the medium frame's luminance saturates (bright skies)."""
    lum = radiance @ np.array([0.2126, 0.7152, 0.0722], dtype=radiance.dtype)
    median, high = np.percentile(lum, [50, 100 * (1 - MAX_CLIPPED)])
    if not median > 0:
        median = float(lum.mean()) or 1.0
    scale = KEY * 2.0 ** rng.uniform(-0.5, 0.5) / float(median)
    return min(scale, 1.0 / float(high)) if high > 0 else scale
