"""HDR and LDR image files: 16-bit HDR PNGs with their alignratio (the NTIRE format), PNG and NPY writing.

Official NTIRE scoring reads predictions back from a 16-bit PNG written with
``ratio = 65535 / max(pred)`` (:func:`write_hdr_png`, :func:`read_hdr_png`); :func:`roundtrip16` applies
that same quantisation in memory, so an evaluation can score "as the leaderboard did" without disk I/O.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import atomic_write_bytes

GAMMA = 2.24  # the NTIRE 2022 frames' encoding gamma (LDRs and the HDR PNGs' stored values)
UINT16_MAX = 65535


class UnscorableError(ValueError):
    """This image cannot be scored (the metrics are undefined for it); evaluation records it as failed."""


class NonFiniteError(UnscorableError):
    """A prediction (or ground truth) holds NaN or inf: that image cannot be scored."""


def to_hwc(img: Any) -> np.ndarray:
    """Return ``img`` (NumPy or torch; ``HxWx3``, ``3xHxW`` or with a leading batch of 1) as float64 HxWx3."""
    if hasattr(img, "detach"):  # torch tensor, on any device
        img = img.detach().to("cpu").double().numpy()
    arr = np.asarray(img, dtype=np.float64)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3:
        raise ValueError(f"expected an image HxWx3 or 3xHxW, got shape {tuple(arr.shape)}")
    if arr.shape[-1] == 3:
        return arr
    if arr.shape[0] == 3:
        return np.moveaxis(arr, 0, -1)
    raise ValueError(f"expected an image HxWx3 or 3xHxW, got shape {tuple(arr.shape)}")


def alignratio_path(png_path: str | os.PathLike) -> Path:
    """``XXXX.png`` and ``XXXX_gt.png`` both pair with ``XXXX_alignratio.npy`` (the NTIRE naming)."""
    p = Path(png_path)
    stem = p.stem[: -len("_gt")] if p.stem.endswith("_gt") else p.stem
    return p.with_name(f"{stem}_alignratio.npy")


def _quantise16(img: Any) -> tuple[np.ndarray, float]:
    """Clip negatives (they would wrap around in the uint16 cast), scale max to 65535, round."""
    arr = np.maximum(to_hwc(img), 0.0)
    if not np.isfinite(arr).all():
        raise NonFiniteError("image holds NaN or inf values: cannot quantise to 16 bits")
    peak = float(arr.max())
    ratio = UINT16_MAX / peak if peak > 0 else 1.0  # an all-black image keeps ratio 1
    return np.round(arr * ratio).astype(np.uint16), ratio


def roundtrip16(img: Any) -> np.ndarray:
    """The values :func:`read_hdr_png` would return after :func:`write_hdr_png`, computed in memory."""
    q, ratio = _quantise16(img)
    return (q.astype(np.float64) / ratio).astype(np.float32)


def write_hdr_png(path: str | os.PathLike, img: Any) -> Path:
    """Write an HxWx3 RGB float HDR image as a 16-bit PNG plus its ``_alignratio.npy`` (atomically)."""
    q, ratio = _quantise16(img)
    # The ratio file first: a PNG is never on disk without the ratio that decodes it.
    write_npy(alignratio_path(path), np.float64(ratio))
    return write_png(path, q)


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Atomically write an HxWx3 RGB uint8 or uint16 array as a PNG (OpenCV stores BGR)."""
    import cv2  # deferred: only reading/writing pixels needs OpenCV; the CLI start-up does not load it

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise OSError(f"OpenCV could not encode {path} as PNG")
    return atomic_write_bytes(path, buf.tobytes())


def write_tif16(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Atomically write an HxWx3 RGB uint16 array as an uncompressed 16-bit TIFF (the Kalantari family's frames)."""
    import cv2  # deferred: only reading/writing pixels needs OpenCV; the CLI start-up does not load it

    if rgb.dtype != np.uint16:
        raise ValueError(f"{path}: a 16-bit TIFF needs uint16 pixels, got {rgb.dtype}")
    # uncompressed, as the published sets' tifs are (9 MB at 1500x1000; decodes ~10x faster than LZW)
    ok, buf = cv2.imencode(".tif", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_TIFF_COMPRESSION, 1])
    if not ok:
        raise OSError(f"OpenCV could not encode {path} as TIFF")
    return atomic_write_bytes(path, buf.tobytes())


def write_radiance(path: str | os.PathLike, rgb: Any) -> Path:
    """Atomically write an HxWx3 RGB float image as a Radiance RGBE ``.hdr`` (8-bit mantissas, one shared
    exponent per pixel: about 0.4% of the pixel's largest channel). Negative values are clipped first."""
    import cv2  # deferred: only reading/writing pixels needs OpenCV; the CLI start-up does not load it

    arr = np.maximum(to_hwc(rgb), 0.0).astype(np.float32)
    if not np.isfinite(arr).all():
        raise NonFiniteError(f"{path}: image holds NaN or inf values: cannot write a Radiance .hdr")
    ok, buf = cv2.imencode(".hdr", np.ascontiguousarray(arr[..., ::-1]))
    if not ok:
        raise OSError(f"OpenCV could not encode {path} as Radiance .hdr")
    return atomic_write_bytes(path, buf.tobytes())


def write_npy(path: str | os.PathLike, arr: Any) -> Path:
    """Atomically write ``arr`` as a ``.npy`` file (no pickled objects: readers use ``allow_pickle=False``)."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())


def read_alignratio(path: str | os.PathLike) -> float:
    """Read a scalar alignratio ``.npy``; raises ValueError when it is not one finite positive number."""
    arr = np.load(path, allow_pickle=False)
    # Complex numbers are numbers to NumPy but not a scale: only integers and reals are accepted.
    real = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    if arr.size != 1 or not real:
        raise ValueError(f"{path}: alignratio must be one number, got dtype {arr.dtype} shape {arr.shape}")
    ratio = float(arr.reshape(()))
    if not math.isfinite(ratio) or ratio <= 0:
        raise ValueError(f"{path}: alignratio must be finite and positive, got {ratio}")
    return ratio


def read_hdr_png(path: str | os.PathLike) -> np.ndarray:
    """Read a 16-bit HDR PNG and divide by its alignratio: HxWx3 RGB float32."""
    import cv2  # deferred: only reading/writing pixels needs OpenCV; the CLI start-up does not load it

    png = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if png is None:
        raise OSError(f"{path}: cannot read as an image")
    if png.dtype != np.uint16 or png.ndim != 3 or png.shape[2] != 3:
        raise ValueError(f"{path}: expected a 16-bit RGB PNG, got dtype {png.dtype} shape {png.shape}")
    ratio = read_alignratio(alignratio_path(path))
    return (png[..., ::-1].astype(np.float64) / ratio).astype(np.float32)
