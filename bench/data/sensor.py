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
its alignratio. Motion (:data:`MOTION_KINDS`) misaligns the short and long frames against the medium
one, as hand-held captures of moving content are: ``global`` warps the whole frame (camera shift and
rotation plus a smooth, gentle displacement field); ``local`` pastes one to three moving objects
(soft-edged ellipses textured with another part of the scene) that sit at their reference place in
the medium frame and the GT but are displaced by their own vectors in the short and long frames,
uncovering the true background behind them; ``both`` does the two (objects move against a moving
camera). ``motion=True`` means ``global`` (the first kind the simulator had: same bytes).
:func:`scaled_sensor` draws a per-triplet noise level from a range (varied-noise training sets).

Radiance is scaled per sample (:func:`auto_scale`) so that the median luminance lands at a mid-grey
"key" (an auto-exposure), jittered by up to half a stop, unless that would clip more than 10% of the
medium frame. Randomness comes only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from bench.core import UsageError
from bench.data.hdrio import GAMMA

KEY = 0.18  # mid-grey: the medium frame's median linear value before jitter
MAX_CLIPPED = 0.1  # auto-exposure keeps at most this fraction of the medium frame above saturation
MOTION_KINDS = ("none", "global", "local", "both")
OBJECT_STREAM = 1  # moving objects draw from [motion seed, OBJECT_STREAM]: the global warps stay as they were
EDGE_PX = 1.5  # width of a moving object's soft (anti-aliased) border


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


def check_noise_range(noise_range: tuple[float, float]) -> tuple[float, float]:
    """A noise range is two finite factors ``0 < LO <= HI`` applied to the sensor's shot and read noise."""
    lo, hi = (float(v) for v in noise_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise UsageError(f"noise range {lo:g},{hi:g} must be two finite factors with 0 < LO <= HI")
    return lo, hi


def scaled_sensor(
    sensor: Sensor, noise_range: tuple[float, float], rng: np.random.Generator
) -> tuple[Sensor, float]:
    """``sensor`` with its shot and read noise scaled by one factor drawn log-uniformly from ``noise_range``
    (log-uniform: as many triplets between 0.5x and 1x as between 1x and 2x); returns it and the factor."""
    lo, hi = check_noise_range(noise_range)
    factor = float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if hi > lo else lo
    return replace(sensor, shot=sensor.shot * factor, read=sensor.read * factor), factor


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
    import cv2  # deferred: only simulating needs OpenCV; the CLI start-up does not load it

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


def motion_kind(motion: bool | str | None) -> str:
    """The kind of motion ``motion`` names: ``True`` is ``global`` (the original meaning), ``False`` ``none``."""
    if motion is True:
        return "global"
    if motion is False or motion is None:
        return "none"
    if motion not in MOTION_KINDS:
        raise UsageError(f"motion {motion!r} is not one of {', '.join(MOTION_KINDS)}")
    return str(motion)


@dataclass(frozen=True)
class MovingObject:
    """One moving object: where it sits in the medium frame, its shape, texture, and its motion.

    The object is a soft-edged ellipse (``radii_px`` semi-axes, rotated by ``angle_deg``) at
    ``centre_px``; its content is the scene seen ``texture_offset_px`` away, times ``gain`` (a
    different surface than the background behind it). In frame ``f`` it is displaced by
    ``shift_px[f]`` (none in the medium frame, which the GT is aligned to).
    """

    centre_px: tuple[float, float]
    radii_px: tuple[float, float]
    angle_deg: float
    texture_offset_px: tuple[float, float]
    gain: float
    shift_px: dict[str, tuple[float, float]]


def random_objects(
    size: tuple[int, int], rng: np.random.Generator, strength: float = 1.0
) -> list[MovingObject]:
    """One to three moving objects for a ``size`` (w, h) frame, each moving by 2-8% of the short side.

    The long frame's displacement is roughly opposite to the short one's (short before, long after
    the medium exposure), with its own length and a bend of up to 30 degrees.
    """
    w, h = size
    short_side = min(w, h)
    objects = []
    for _ in range(int(rng.integers(1, 4))):
        radii = rng.uniform(0.08, 0.22, 2) * short_side
        centre = rng.uniform(0.15, 0.85, 2) * (w, h)
        away = rng.uniform(0.25, 0.5) * short_side
        theta = rng.uniform(0, 2 * math.pi)
        speed = rng.uniform(0.02, 0.08) * short_side * strength
        heading = rng.uniform(0, 2 * math.pi)
        back = heading + math.pi + rng.uniform(-0.5, 0.5)
        long_len = speed * rng.uniform(0.5, 1.5)
        objects.append(
            MovingObject(
                centre_px=(round(float(centre[0]), 3), round(float(centre[1]), 3)),
                radii_px=(round(float(radii[0]), 3), round(float(radii[1]), 3)),
                angle_deg=round(float(rng.uniform(0, 180)), 3),
                texture_offset_px=(round(away * math.cos(theta), 3), round(away * math.sin(theta), 3)),
                gain=round(float(2.0 ** rng.uniform(-1.0, 1.0)), 4),
                shift_px={
                    "short": (round(speed * math.cos(heading), 3), round(speed * math.sin(heading), 3)),
                    "long": (round(long_len * math.cos(back), 3), round(long_len * math.sin(back), 3)),
                },
            )
        )
    return objects


def object_mask(shape: tuple[int, int], obj: MovingObject, shift: tuple[float, float]) -> np.ndarray:
    """HxW coverage in [0, 1] of ``obj`` displaced by ``shift``, with an ``EDGE_PX`` soft border."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xs - (obj.centre_px[0] + shift[0]), ys - (obj.centre_px[1] + shift[1])
    a = math.radians(obj.angle_deg)
    u, v = dx * math.cos(a) + dy * math.sin(a), -dx * math.sin(a) + dy * math.cos(a)
    rho = np.sqrt((u / obj.radii_px[0]) ** 2 + (v / obj.radii_px[1]) ** 2)
    return np.clip((1.0 - rho) * min(obj.radii_px) / EDGE_PX + 0.5, 0.0, 1.0)


def paste_objects(scene: np.ndarray, objects: list[MovingObject], frame: str | None) -> np.ndarray:
    """``scene`` with ``objects`` painted over it where they are in ``frame`` (``None``: the medium frame)."""
    import cv2  # deferred: only simulating needs OpenCV; the CLI start-up does not load it

    h, w = scene.shape[:2]
    out = scene.copy()
    for obj in objects:
        shift = (0.0, 0.0) if frame is None else obj.shift_px[frame]
        # the texture moves with the object: pixel x shows the scene at x - shift + texture_offset
        to_source = np.float32(
            [[1, 0, obj.texture_offset_px[0] - shift[0]], [0, 1, obj.texture_offset_px[1] - shift[1]]]
        )
        texture = cv2.warpAffine(
            scene,
            to_source,
            (w, h),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        )
        cover = object_mask((h, w), obj, shift)[..., None]
        out = out * (1.0 - cover) + texture * obj.gain * cover
    return np.maximum(out, 0.0).astype(np.float32)


def simulate_triplet(
    radiance: np.ndarray,
    evs: tuple[float, float, float],
    sensor: Sensor,
    rng: np.random.Generator,
    motion: bool | str = False,
) -> dict[str, Any]:
    """Radiance already on the medium frame's scale (HxWx3 linear) -> LDR uint8 frames and GT.

    ``motion`` is one of :data:`MOTION_KINDS` (or a bool, see :func:`motion_kind`). Returns ``ldrs``
    (3,H,W,3) uint8 RGB, ``gt`` HxWx3 float32 gamma-encoded, and a record of what was done (cap,
    saturated fractions, motion parameters, moving objects) for the manifest.
    """
    kind = motion_kind(motion)
    rel = [float(e - evs[1]) for e in evs]
    cap = 2.0 ** (-rel[0])  # the short frame saturates here: nothing brighter can be recovered
    scene = np.minimum(radiance, cap).astype(np.float32)
    h, w = scene.shape[:2]
    frames, record = [], {"peak_cap": cap, "motion": None, "saturated_fraction": {}}
    motions: dict[str, dict[str, Any]] = {}
    # Motion draws from its own streams, so motion changes the short and long frames only (and, with
    # moving objects, what the medium frame and GT show): every noise sample stays byte-identical.
    motion_seed = int(rng.integers(2**62))
    motion_rng = np.random.default_rng(motion_seed)
    objects = []
    if kind in ("local", "both"):
        objects = random_objects((w, h), np.random.default_rng([motion_seed, OBJECT_STREAM]))
    reference = np.minimum(paste_objects(scene, objects, None), cap) if objects else scene
    for idx, name in enumerate(("short", "medium", "long")):
        view = reference
        if kind != "none" and idx != 1:
            view = np.minimum(paste_objects(scene, objects, name), cap) if objects else scene
            motions[name] = {}
            if kind in ("global", "both"):
                motions[name] = random_motion((w, h), motion_rng)
                view = warp(view, motions[name])
            if objects:
                motions[name]["object_shift_px"] = [list(o.shift_px[name]) for o in objects]
        linear = expose(view, rel[idx], sensor, rng)
        frames.append(encode_ldr(linear))
        record["saturated_fraction"][name] = float((frames[-1] == 255).any(axis=-1).mean())
    if kind != "none":
        record["motion"] = motions
    if objects:
        record["objects"] = [{k: v for k, v in asdict(o).items() if k != "shift_px"} for o in objects]
    gt = reference ** (1.0 / GAMMA)
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
