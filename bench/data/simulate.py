"""NTIRE-format LDR triplets simulated from HDR radiance (the paper's eq. 1), so the suite runs without NTIRE data.

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

Radiance is scaled per sample so that the median luminance lands at a mid-grey "key" (an
auto-exposure), jittered by up to half a stop, unless that would clip more than 10% of the medium frame. Everything random comes from
``numpy.random.default_rng([seed, ...])``: a seed reproduces the written files byte for byte.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import UsageError, progress, write_json
from bench.data.hdrio import GAMMA, write_hdr_png, write_npy, write_png

HDR_SUFFIXES = (".hdr", ".exr")
KEY = 0.18  # mid-grey: the medium frame's median linear value before jitter
MAX_CLIPPED = 0.1  # auto-exposure keeps at most this fraction of the medium frame above saturation
_NTIRE_FILE = re.compile(r"^\d{4}_(short|medium|long|exposures|gt|alignratio)\.(png|npy)$")


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


# ---------------------------------------------------------------------------------------------
# Scenes: procedural, or crops of real radiance maps


def synthetic_scene(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A procedural linear HDR scene (HxWx3 float32): gradients, textures, edges, dark areas, lights.

    Light sources sit 4 to 9 stops above the median, so the medium frame clips and the short frame
    must recover them; dark areas sit 4 to 6 stops below, where the long frame is needed.
    """
    import cv2

    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    yn, xn = ys / max(h - 1, 1), xs / max(w - 1, 1)

    def smooth_noise(cells: int, channels: int = 1) -> np.ndarray:
        grid = rng.uniform(-1.0, 1.0, (cells, cells, channels)).astype(np.float32)
        out = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        return out.reshape(h, w, channels)

    # sky-to-ground gradient with a tint
    top, bottom = rng.uniform(0.5, 2.0, 3), rng.uniform(0.05, 0.4, 3)
    horizon = rng.uniform(0.3, 0.7)
    t = np.clip((yn - horizon) * 4 + 0.5, 0, 1)[..., None]
    img = (1 - t) * top + t * bottom
    # multi-scale texture (multiplicative, around 1)
    texture = 1.0 + 0.5 * smooth_noise(4) + 0.25 * smooth_noise(16) + 0.12 * smooth_noise(max(4, w // 8))
    img = img * np.clip(texture, 0.2, None)
    # sharp-edged shapes: rectangles and discs of flat colour with a little texture
    for _ in range(rng.integers(4, 9)):
        colour = rng.uniform(0.02, 1.2, 3) * rng.choice([1.0, 0.1])
        cx, cy, rx, ry = (
            rng.uniform(0, 1),
            rng.uniform(0, 1),
            rng.uniform(0.03, 0.25),
            rng.uniform(0.03, 0.25),
        )
        if rng.random() < 0.5:
            mask = (np.abs(xn - cx) < rx) & (np.abs(yn - cy) < ry)
        else:
            mask = ((xn - cx) / rx) ** 2 + ((yn - cy) / ry) ** 2 < 1
        img[mask] = colour * (1.0 + 0.1 * smooth_noise(8)[mask])
    # dark regions (shadows) 4-6 stops down
    for _ in range(rng.integers(1, 3)):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.08, 0.3)
        mask = (xn - cx) ** 2 + ((yn - cy) * h / w) ** 2 < r**2
        img[mask] *= 2.0 ** -rng.uniform(4, 6)
    img = np.maximum(img, 1e-4)
    median = float(np.median(img.mean(axis=-1)))
    # light sources: small soft-edged blobs 4-9 stops above the median, slightly coloured
    for _ in range(rng.integers(1, 4)):
        cx, cy = rng.uniform(0.05, 0.95), rng.uniform(0.05, 0.6)
        r = rng.uniform(0.01, 0.05)
        d2 = (xn - cx) ** 2 + ((yn - cy) * h / w) ** 2
        blob = np.exp(-d2 / (2 * r * r))[..., None] * np.where(d2 < (2 * r) ** 2, 1.0, 0.0)[..., None]
        img = img + blob * median * 2.0 ** rng.uniform(4, 9) * rng.uniform(0.8, 1.0, 3)
    return img.astype(np.float32)


def read_radiance(path: str | os.PathLike) -> np.ndarray:
    """Read a linear ``.hdr`` (OpenCV) or ``.exr`` (OpenEXR package) as HxWx3 float32 RGB, >= 0, finite."""
    p = Path(path)
    if p.suffix.lower() == ".exr":
        img = _read_exr(p)
    else:
        import cv2

        bgr = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if bgr is None or bgr.ndim != 3 or bgr.shape[2] < 3:
            raise UsageError(f"{p}: cannot read as a 3-channel Radiance .hdr image")
        img = bgr[..., 2::-1]
    img = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return np.ascontiguousarray(np.maximum(img, 0.0))


def _read_exr(path: Path) -> np.ndarray:
    try:
        import OpenEXR
    except ImportError as exc:
        raise UsageError(
            f"{path}: reading .exr needs the OpenEXR package: pip install -e '.[exr]' (or pip install OpenEXR)"
        ) from exc
    try:
        # the channel dict is only valid while the file is open: copy the pixels out inside
        with OpenEXR.File(str(path)) as f:
            channels = f.channels()
            if "RGB" in channels or "RGBA" in channels:
                return np.array(channels.get("RGB", channels.get("RGBA")).pixels[..., :3], dtype=np.float32)
            if all(c in channels for c in "RGB"):
                return np.stack([np.asarray(channels[c].pixels, dtype=np.float32) for c in "RGB"], axis=-1)
            found = ", ".join(sorted(channels))
    except Exception as exc:  # the binding raises plain Exceptions on bad files
        raise UsageError(f"{path}: cannot read as OpenEXR ({exc})") from exc
    raise UsageError(f"{path}: no R, G, B channels (found {found or 'none'})")


def is_panorama(shape: tuple[int, ...]) -> bool:
    """Equirectangular maps are twice as wide as high."""
    h, w = shape[:2]
    return abs(w / h - 2.0) < 0.02


def perspective_crop(
    pano: np.ndarray, size: tuple[int, int], yaw_deg: float, pitch_deg: float, hfov_deg: float = 70.0
) -> np.ndarray:
    """A pinhole view of an equirectangular panorama (avoids the stretched poles of a plain crop)."""
    import cv2

    w, h = size
    ph, pw = pano.shape[:2]
    f = (w / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y, z = (xs - (w - 1) / 2.0) / f, -(ys - (h - 1) / 2.0) / f, np.ones_like(xs)
    pitch, yaw = math.radians(pitch_deg), math.radians(yaw_deg)
    y, z = y * math.cos(pitch) + z * math.sin(pitch), z * math.cos(pitch) - y * math.sin(pitch)
    x, z = x * math.cos(yaw) + z * math.sin(yaw), z * math.cos(yaw) - x * math.sin(yaw)
    lon = np.arctan2(x, z)
    lat = np.arctan2(y, np.hypot(x, z))
    col = (lon / (2 * math.pi) + 0.5) * pw - 0.5
    row = (0.5 - lat / math.pi) * ph - 0.5
    # wrap around horizontally: pad two columns on each side
    padded = np.concatenate([pano[:, -2:], pano, pano[:, :2]], axis=1)
    out = cv2.remap(
        padded,
        (col + 2).astype(np.float32),
        row.astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    return np.maximum(out, 0.0)


def flat_crop(
    img: np.ndarray, size: tuple[int, int], rng: np.random.Generator, central: bool
) -> tuple[np.ndarray, dict]:
    """A ``size`` crop of a flat image (central, or at a random place); images too small are upscaled first."""
    import cv2

    w, h = size
    ih, iw = img.shape[:2]
    factor = max(w / iw, h / ih, 1.0)
    if factor > 1.0:
        iw, ih = math.ceil(iw * factor), math.ceil(ih * factor)
        img = cv2.resize(img, (iw, ih), interpolation=cv2.INTER_LINEAR)
    x = (iw - w) // 2 if central else int(rng.integers(0, iw - w + 1))
    y = (ih - h) // 2 if central else int(rng.integers(0, ih - h + 1))
    return img[y : y + h, x : x + w], {
        "kind": "central" if central else "random",
        "x": x,
        "y": y,
        "upscale": factor,
    }


def crop_scene(
    img: np.ndarray, size: tuple[int, int], rng: np.random.Generator, index: int
) -> tuple[np.ndarray, dict]:
    """Crop number ``index`` of a source image: perspective views of panoramas, flat crops otherwise."""
    if is_panorama(img.shape):
        yaw, pitch, hfov = float(rng.uniform(-180, 180)), float(rng.uniform(-15, 15)), 70.0
        return perspective_crop(img, size, yaw, pitch, hfov), {
            "kind": "perspective",
            "yaw_deg": yaw,
            "pitch_deg": pitch,
            "hfov_deg": hfov,
        }
    return flat_crop(img, size, rng, central=index == 0)


# ---------------------------------------------------------------------------------------------
# Writing NTIRE-layout folders


def _prepare_out(out_dir: str | os.PathLike, overwrite: bool) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    existing = sorted(p for p in out.iterdir() if _NTIRE_FILE.match(p.name) or p.name == "manifest.json")
    if existing and not overwrite:
        raise UsageError(
            f"output folder {out} already holds a data set ({existing[0].name}, ...); use --force to replace it"
        )
    for p in existing:  # only files of our own layout: a stale sample must not mix with the new ones
        p.unlink()
    return out


def _check_evs(evs: tuple[float, ...]) -> tuple[float, float, float]:
    if len(evs) != 3 or not all(math.isfinite(e) for e in evs):
        raise UsageError(f"evs {list(evs)} must be three finite numbers (short, medium, long)")
    if not (evs[0] <= evs[1] <= evs[2]):
        raise UsageError(f"evs {list(evs)} must be in short <= medium <= long order")
    return (float(evs[0]), float(evs[1]), float(evs[2]))


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    w, h = int(size[0]), int(size[1])
    if w < 16 or h < 16:
        raise UsageError(f"size {w}x{h} is too small (at least 16x16)")
    return w, h


def write_sample(
    out: Path, sid: str, ldrs: np.ndarray, evs: tuple[float, float, float], gt: np.ndarray
) -> None:
    """One sample in NTIRE layout: three 8-bit PNGs, exposures .npy, 16-bit GT PNG + alignratio."""
    for name, frame in zip(("short", "medium", "long"), ldrs, strict=True):
        write_png(out / f"{sid}_{name}.png", frame)
    # NTIRE stores integer stops as int64; fractional stops need floats
    exposures = np.array(evs, dtype=np.int64 if all(float(e).is_integer() for e in evs) else np.float64)
    write_npy(out / f"{sid}_exposures.npy", exposures)
    write_hdr_png(out / f"{sid}_gt.png", gt)


def _manifest(
    kind: str, seed: int, size, evs, sensor: Sensor, motion: bool, samples: list[dict], **extra
) -> dict:
    return {
        "format": "ntire2022-hdr",
        "generator": "eapbench make-data",
        "kind": kind,
        "seed": seed,
        "size": f"{size[0]}x{size[1]}",
        "evs": list(evs),
        "gamma": GAMMA,
        "noise": asdict(sensor),
        "motion": motion,
        **extra,
        "samples": samples,
    }


def make_synthetic(
    out_dir: str | os.PathLike,
    n: int,
    size: tuple[int, int] = (1900, 1060),
    seed: int = 0,
    evs: tuple[float, float, float] = (-2, 0, 2),
    motion: bool = False,
    sensor: Sensor | None = None,
    overwrite: bool = False,
) -> list[str]:
    """Write ``n`` procedural HDR scenes as NTIRE samples ``0000``... plus ``manifest.json``; returns the ids."""
    if n < 1 or n > 10000:
        raise UsageError(f"--synthetic {n}: the number of samples must be 1 to 10000")
    size, evs, sensor = _check_size(size), _check_evs(evs), sensor or Sensor()
    out = _prepare_out(out_dir, overwrite)
    ids, samples = [], []
    for i in progress(range(n), desc="synthetic", total=n):
        rng = np.random.default_rng([seed, i])
        scene = synthetic_scene(size, rng)
        scale = auto_scale(scene, rng)
        sim = simulate_triplet(scene * scale, evs, sensor, rng, motion)
        sid = f"{i:04d}"
        write_sample(out, sid, sim["ldrs"], evs, sim["gt"])
        ids.append(sid)
        samples.append(
            {"id": sid, "source": f"synthetic:{seed}:{i}", "crop": None, "scale": scale, **sim["record"]}
        )
    write_json(out / "manifest.json", _manifest("synthetic", seed, size, evs, sensor, motion, samples))
    return ids


def find_hdr_files(src_dir: str | os.PathLike) -> list[Path]:
    src = Path(src_dir)
    if not src.is_dir():
        raise UsageError(f"--from-hdr {src}: not a folder")
    files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in HDR_SUFFIXES)
    if not files:
        raise UsageError(f"--from-hdr {src}: no .hdr or .exr file in this folder")
    return files


def make_from_hdr(
    src_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    size: tuple[int, int] = (1900, 1060),
    seed: int = 0,
    evs: tuple[float, float, float] = (-2, 0, 2),
    crops_per_image: int = 1,
    motion: bool = False,
    sensor: Sensor | None = None,
    overwrite: bool = False,
) -> list[str]:
    """Every ``.hdr``/``.exr`` in ``src_dir`` -> ``crops_per_image`` NTIRE samples each, plus ``manifest.json``.

    Panoramas (2:1) give perspective views (random yaw, pitch within +-15 degrees, 70 degree
    horizontal field of view); other images give a central crop first, then random crops, upscaled
    when smaller than ``size``. Sources are processed in sorted name order, so ids are stable.
    """
    if crops_per_image < 1:
        raise UsageError(f"--crops-per-image {crops_per_image} must be at least 1")
    size, evs, sensor = _check_size(size), _check_evs(evs), sensor or Sensor()
    files = find_hdr_files(src_dir)
    for path in files:  # an unreadable source stops the command before OUT is touched (read again below)
        read_radiance(path)
    out = _prepare_out(out_dir, overwrite)
    ids, samples = [], []
    jobs = [(f_idx, c_idx) for f_idx in range(len(files)) for c_idx in range(crops_per_image)]
    radiance, loaded = None, None
    for f_idx, c_idx in progress(jobs, desc="from-hdr", total=len(jobs)):
        if loaded != f_idx:  # one source in memory at a time
            radiance, loaded = read_radiance(files[f_idx]), f_idx
        rng = np.random.default_rng([seed, f_idx, c_idx])
        view, crop = crop_scene(radiance, size, rng, c_idx)
        scale = auto_scale(view, rng)
        sim = simulate_triplet(view * scale, evs, sensor, rng, motion)
        sid = f"{len(ids):04d}"
        write_sample(out, sid, sim["ldrs"], evs, sim["gt"])
        ids.append(sid)
        samples.append(
            {"id": sid, "source": files[f_idx].name, "crop": crop, "scale": scale, **sim["record"]}
        )
    manifest = _manifest("from-hdr", seed, size, evs, sensor, motion, samples, source_dir=str(Path(src_dir)))
    write_json(out / "manifest.json", manifest)
    return ids
