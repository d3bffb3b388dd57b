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

Both metrics are entries of :data:`bench.evaluation.registry.METRICS` (the default ones);
:func:`score`, :func:`score_image` and :func:`summarize` go through the registry, so a metric
registered by a plugin is scored, recorded and averaged the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from bench.data.hdrio import GAMMA, NonFiniteError, UnscorableError, roundtrip16, to_hwc
from bench.evaluation.registry import METRICS, register_metric, select_metrics
from models.conventions import KALANTARI

MU = 5000.0
PERCENTILE = 99.0


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


@register_metric(
    "psnr",
    label="PSNR",
    default=True,
    description="NTIRE PSNR: gamma-encoded values, pred and gt divided by max(gt), peak 1, no clipping (NTIRE 2022)",
)
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
        return torch.log1p(mu * x) / math.log1p(mu)
    return np.log1p(mu * np.asarray(x)) / math.log1p(mu)


def mu_tonemap(x: Any, norm: Any, mu: float = MU) -> Any:
    """The PSNR-µ tonemap of linear values: ``mu_law(tanh(x / norm))``; NumPy or torch (``norm`` may broadcast)."""
    if hasattr(x, "detach"):
        return mu_law(torch.tanh(x / norm), mu)
    return mu_law(np.tanh(np.asarray(x) / norm), mu)


def psnr_mu(pred: Any, gt: Any) -> float:
    """PSNR-µ: linearise (gamma 2.24), normalise by the GT's 99th percentile, tanh, µ-law (µ = 5000).

    Negative predicted values are clipped to 0 before linearising (a negative base has no real
    power); the official 16-bit round trip clips them the same way.
    """
    return _psnr_mu(*_pair(pred, gt))


@register_metric(
    "psnr_mu",
    label="PSNR-mu",
    default=True,
    description=(
        "PSNR of mu-law tonemapped linear values: gamma 2.24, divided by the 99th percentile of the linear gt, "
        "tanh, mu = 5000 (NTIRE 2022)"
    ),
)
def _psnr_mu(p: np.ndarray, g: np.ndarray) -> float:
    g_lin = np.maximum(g, 0.0) ** GAMMA
    p_lin = np.maximum(p, 0.0) ** GAMMA
    norm = float(np.percentile(g_lin, PERCENTILE))
    if norm <= 0:
        raise UnscorableError("ground truth's 99th percentile is 0: PSNR-µ normalisation is undefined")
    return _psnr_peak1(mu_tonemap(g_lin, norm), mu_tonemap(p_lin, norm))


def linear_pair(p: np.ndarray, g: np.ndarray, shortest: float) -> tuple[np.ndarray, np.ndarray]:
    """Contract images -> linear HDR on the shortest frame's scale (``shortest``: its stops below the medium)."""
    return KALANTARI.hdr_from_contract(p, shortest), KALANTARI.hdr_from_contract(g, shortest)


def score(
    pred: Any, gt: Any, metrics: Sequence[str] | str | None = None, *, shortest: float | None = None
) -> dict[str, float]:
    """The metrics of one image, ``{name: value}`` (default: ``{"psnr": dB, "psnr_mu": dB}``).

    ``pred`` and ``gt`` are in the contract's encoding (gamma 2.24, medium frame's scale). A metric
    of the ``"linear"`` domain gets both as linear HDR on the shortest frame's scale, which needs
    ``shortest``: how many stops the shortest frame is below the medium one (``-min(ev)`` of the
    contract's EVs; 2 for EVs -2, 0, 2). ``metrics`` names registered metrics (default: the default
    ones). Raises :class:`NonFiniteError` for a non-finite input and :class:`UnscorableError` when
    a metric is undefined (or NaN) here.
    """
    p, g = _pair(pred, gt)  # convert and check once for every metric
    out: dict[str, float] = {}
    linear: tuple[np.ndarray, np.ndarray] | None = None
    for name in select_metrics(metrics):
        metric = METRICS.get(name)
        if metric.domain == "linear":
            if shortest is None:
                raise ValueError(f"metric {name} scores linear HDR: score() needs shortest= (stops)")
            linear = linear_pair(p, g, float(shortest)) if linear is None else linear
            value = float(metric.fn(*linear))
        else:
            value = float(metric.fn(p, g))
        if math.isnan(value):
            raise UnscorableError(f"metric {name} is undefined for this image (NaN)")
        out[name] = value
    return out


def score_image(
    pred: Any,
    gt: Any,
    roundtrip: bool = False,
    image_id: str | None = None,
    metrics: Sequence[str] | str | None = None,
    shortest: float | None = None,
) -> dict[str, Any]:
    """One evaluation record: ``id``, one key per metric (``psnr``, ``psnr_mu``), ``scoring``.

    ``scoring`` is ``"roundtrip16"`` or ``"in-memory"``; ``roundtrip=True`` scores the prediction
    after the 16-bit PNG quantisation of the official scoring (the leaderboard's numbers). A
    non-finite prediction gives a record with ``error`` instead of scores, which :func:`summarize`
    counts and leaves out of the aggregate; so does a ground truth for which a metric is undefined
    (all black). ``shortest`` is passed to :func:`score` (needed by linear-domain metrics).
    """
    record: dict[str, Any] = {"id": image_id, "scoring": "roundtrip16" if roundtrip else "in-memory"}
    try:
        record.update(score(roundtrip16(pred) if roundtrip else pred, gt, metrics, shortest=shortest))
    except UnscorableError as exc:
        record["error"] = str(exc)
    return record


def summarize(records: Iterable[dict], metrics: Sequence[str] | str | None = None) -> dict[str, Any]:
    """Each metric's aggregate of per-image scores (the mean for PSNR), excluding images that failed.

    ``records`` are dicts with one key per metric or with ``error`` (e.g. a :class:`NonFiniteError`
    message). The data set's score is the mean of per-image dB values, as the organizers compute it;
    failed images are counted, never averaged as NaN, and with no image scored the scores are None.
    An image whose score is ``inf`` (a perfect match) makes the mean ``inf``, which is the honest
    answer.
    """
    records = list(records)
    ok = [r for r in records if not r.get("error")]
    failed = [r for r in records if r.get("error")]
    out: dict[str, Any] = {"n_images": len(records), "n_scored": len(ok), "n_failed": len(failed)}
    for name in select_metrics(metrics):
        out[name] = METRICS.get(name).aggregate([r[name] for r in ok])
    out["failed_ids"] = [r.get("id") for r in failed]
    scorings = sorted({r["scoring"] for r in records if r.get("scoring")})
    if scorings:
        out["scoring"] = ",".join(scorings)
    return out
