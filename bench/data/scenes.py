"""HDR scenes for the simulator: procedural ones, or crops (perspective views of panoramas) of radiance maps."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from bench.core import UsageError

HDR_SUFFIXES = (".hdr", ".exr")


def synthetic_scene(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A procedural linear HDR scene (HxWx3 float32): gradients, textures, edges, dark areas, lights.

    Light sources sit 4 to 9 stops above the median, so the medium frame clips and the short frame
    must recover them; dark areas sit 4 to 6 stops below, where the long frame is needed.
    """
    import cv2  # deferred: only simulating needs OpenCV; the CLI start-up does not load it

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
        import cv2  # deferred: only simulating needs OpenCV; the CLI start-up does not load it

        bgr = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if bgr is None or bgr.ndim != 3 or bgr.shape[2] < 3:
            raise UsageError(f"{p}: cannot read as a 3-channel Radiance .hdr image")
        img = bgr[..., 2::-1]
    img = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return np.ascontiguousarray(np.maximum(img, 0.0))


def _read_exr(path: Path) -> np.ndarray:
    try:
        import OpenEXR  # optional dependency (the exr extra): only .exr maps need it
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
    import cv2  # deferred: only simulating needs OpenCV; the CLI start-up does not load it

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
    import cv2  # deferred: only simulating needs OpenCV; the CLI start-up does not load it

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


def find_hdr_files(src_dir: str | os.PathLike) -> list[Path]:
    src = Path(src_dir)
    if not src.is_dir():
        raise UsageError(f"--from-hdr {src}: not a folder")
    files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in HDR_SUFFIXES)
    if not files:
        raise UsageError(f"--from-hdr {src}: no .hdr or .exr file in this folder")
    return files
