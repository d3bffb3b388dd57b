"""PSNR and PSNR-µ exactly as the NTIRE 2022 HDR organizers compute them, and the 16-bit PNG round trip.

The definitions (protocol section 2, see ``shared/reference/ntire2022_protocol.md``):

* ``psnr(a, b) = -10 log10(mean((a - b) ** 2))`` with peak 1 and no clipping;
* **PSNR** compares ``pred / max(gt)`` with ``gt / max(gt)`` on the stored gamma-encoded values;
* **PSNR-µ** linearises both (``x ** 2.24``), normalises by the 99th percentile of the linear GT
  (all pixels and channels, NumPy's linear interpolation), tonemaps with
  ``log(1 + µ tanh(x / n)) / log(1 + µ)``, µ = 5000, and takes the PSNR of the tonemapped pair.

Inputs may be NumPy arrays or torch tensors, ``HxWx3`` or ``3xHxW``. Everything is computed in float64
so that results do not depend on the input dtype (the organizers' float32 code agrees to ~1e-5 dB).

Official scoring reads predictions back from a 16-bit PNG written with ``ratio = 65535 / max(pred)``
(:func:`write_hdr_png`, :func:`read_hdr_png`); :func:`roundtrip16` applies that same quantisation in
memory, so an evaluation can score "as the leaderboard did" without touching the disk.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import atomic_write_bytes

GAMMA = 2.24
MU = 5000.0
PERCENTILE = 99.0
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


def _pair(pred: Any, gt: Any) -> tuple[np.ndarray, np.ndarray]:
    p, g = to_hwc(pred), to_hwc(gt)
    if p.shape != g.shape:
        raise ValueError(
            f"prediction shape {p.shape} differs from ground-truth shape {g.shape} (both as HxWx3)"
        )
    if not np.isfinite(g).all():
        raise NonFiniteError("ground truth holds NaN or inf values")
    if not np.isfinite(p).all():
        bad = int((~np.isfinite(p)).sum())
        raise NonFiniteError(f"prediction holds {bad} NaN or inf values")
    return p, g


def _psnr_peak1(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0.0 else -10.0 * math.log10(mse)


def psnr(pred: Any, gt: Any) -> float:
    """PSNR on the gamma-encoded values, both normalised by the ground truth's maximum (PSNR-L)."""
    return _psnr_l(*_pair(pred, gt))


def _psnr_l(p: np.ndarray, g: np.ndarray) -> float:
    peak = g.max()
    if peak <= 0:
        raise UnscorableError(
            "ground truth is all zeros or negative: PSNR normalisation by max(gt) is undefined"
        )
    return _psnr_peak1(g / peak, p / peak)


def mu_law(x: Any, mu: float = MU) -> Any:
    """µ-law compression ``log(1 + µ x) / log(1 + µ)``; NumPy arrays and torch tensors alike (for losses)."""
    if hasattr(x, "detach"):
        import torch

        return torch.log1p(mu * x) / math.log1p(mu)
    return np.log1p(mu * np.asarray(x)) / math.log1p(mu)


def mu_tonemap(x: Any, norm: Any, mu: float = MU) -> Any:
    """The PSNR-µ tonemap of linear values: ``mu_law(tanh(x / norm))``; NumPy or torch (``norm`` may broadcast)."""
    if hasattr(x, "detach"):
        import torch

        return mu_law(torch.tanh(x / norm), mu)
    return mu_law(np.tanh(np.asarray(x) / norm), mu)


def psnr_mu(pred: Any, gt: Any) -> float:
    """PSNR-µ: linearise (gamma 2.24), normalise by the GT's 99th percentile, tanh, µ-law (µ = 5000).

    Negative predicted values are clipped to 0 before linearising (a negative base has no real
    power); the official 16-bit round trip clips them the same way.
    """
    return _psnr_mu(*_pair(pred, gt))


def _psnr_mu(p: np.ndarray, g: np.ndarray) -> float:
    g_lin = np.maximum(g, 0.0) ** GAMMA
    p_lin = np.maximum(p, 0.0) ** GAMMA
    norm = float(np.percentile(g_lin, PERCENTILE))
    if norm <= 0:
        raise UnscorableError("ground truth's 99th percentile is 0: PSNR-µ normalisation is undefined")
    return _psnr_peak1(mu_tonemap(g_lin, norm), mu_tonemap(p_lin, norm))


def score(pred: Any, gt: Any) -> dict[str, float]:
    """Both metrics of one image: ``{"psnr": dB, "psnr_mu": dB}``. Raises :class:`NonFiniteError`."""
    p, g = _pair(pred, gt)  # convert and check once for both metrics
    return {"psnr": _psnr_l(p, g), "psnr_mu": _psnr_mu(p, g)}


def score_image(pred: Any, gt: Any, roundtrip: bool = False, image_id: str | None = None) -> dict[str, Any]:
    """One evaluation record: ``id``, ``psnr``, ``psnr_mu``, ``scoring`` (``"roundtrip16"`` or ``"in-memory"``).

    ``roundtrip=True`` scores the prediction after the 16-bit PNG quantisation of the official
    scoring (the leaderboard's numbers). A non-finite prediction gives a record with ``error``
    instead of scores, which :func:`summarize` counts and leaves out of the mean; so does a ground
    truth for which the metrics are undefined (all black).
    """
    record: dict[str, Any] = {"id": image_id, "scoring": "roundtrip16" if roundtrip else "in-memory"}
    try:
        record.update(score(roundtrip16(pred) if roundtrip else pred, gt))
    except UnscorableError as exc:
        record["error"] = str(exc)
    return record


def summarize(records: Iterable[dict]) -> dict[str, Any]:
    """Mean of per-image scores, excluding images that could not be scored.

    ``records`` are dicts with ``psnr`` and ``psnr_mu`` or with ``error`` (e.g. a
    :class:`NonFiniteError` message). The data set's score is the mean of per-image dB values, as
    the organizers compute it; failed images are counted, never averaged as NaN, and with no image
    scored the means are None. An image whose score is ``inf`` (a perfect match) makes the mean
    ``inf``, which is the honest answer.
    """
    records = list(records)
    ok = [r for r in records if not r.get("error")]
    failed = [r for r in records if r.get("error")]
    out: dict[str, Any] = {"n_images": len(records), "n_scored": len(ok), "n_failed": len(failed)}
    for key in ("psnr", "psnr_mu"):
        out[key] = float(np.mean([r[key] for r in ok])) if ok else None
    out["failed_ids"] = [r.get("id") for r in failed]
    scorings = sorted({r["scoring"] for r in records if r.get("scoring")})
    if scorings:
        out["scoring"] = ",".join(scorings)
    return out


# ---------------------------------------------------------------------------------------------
# The 16-bit PNG + alignratio round trip of the official scoring.


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
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise OSError(f"OpenCV could not encode {path} as PNG")
    return atomic_write_bytes(path, buf.tobytes())


def write_npy(path: str | os.PathLike, arr: Any) -> Path:
    """Atomically write ``arr`` as a ``.npy`` file (no pickled objects: readers use ``allow_pickle=False``)."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())


def read_alignratio(path: str | os.PathLike) -> float:
    """Read a scalar alignratio ``.npy``; raises ValueError when it is not one finite positive number."""
    arr = np.load(path, allow_pickle=False)
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{path}: alignratio must be one number, got dtype {arr.dtype} shape {arr.shape}")
    ratio = float(arr.reshape(()))
    if not math.isfinite(ratio) or ratio <= 0:
        raise ValueError(f"{path}: alignratio must be finite and positive, got {ratio}")
    return ratio


def read_hdr_png(path: str | os.PathLike) -> np.ndarray:
    """Read a 16-bit HDR PNG and divide by its alignratio: HxWx3 RGB float32."""
    import cv2

    png = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if png is None:
        raise OSError(f"{path}: cannot read as an image")
    if png.dtype != np.uint16 or png.ndim != 3 or png.shape[2] != 3:
        raise ValueError(f"{path}: expected a 16-bit RGB PNG, got dtype {png.dtype} shape {png.shape}")
    ratio = read_alignratio(alignratio_path(path))
    return (png[..., ::-1].astype(np.float64) / ratio).astype(np.float32)
