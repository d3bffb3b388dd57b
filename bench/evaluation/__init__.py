"""Evaluation: the metric registry, scoring of images, and evaluation of models on data sets.

:mod:`~bench.evaluation.registry` (``METRICS``, ``register_metric``), :mod:`~bench.evaluation.metrics`
(PSNR, PSNR-µ, ``score``/``summarize``), :mod:`~bench.evaluation.kalantari_metrics` (the field's
Kalantari-style PSNR-µ/PSNR-L/SSIM/PU21 on linear HDR; :mod:`~bench.evaluation.ssim`,
:mod:`~bench.evaluation.pu21`), :mod:`~bench.evaluation.config` (``EvalConfig``),
:mod:`~bench.evaluation.predict` (padded and tiled inference), :mod:`~bench.evaluation.evaluate`
(the evaluation loop and its record).
"""

from bench.evaluation import kalantari_metrics  # noqa: F401 (registers the field's metrics)
from bench.evaluation.config import EvalConfig
from bench.evaluation.metrics import psnr, psnr_mu, score, score_image, summarize
from bench.evaluation.registry import (
    AGGREGATIONS,
    DOMAINS,
    METRICS,
    Metric,
    default_metrics,
    register_metric,
    select_metrics,
)

__all__ = [
    "AGGREGATIONS",
    "DOMAINS",
    "METRICS",
    "EvalConfig",
    "Metric",
    "default_metrics",
    "psnr",
    "psnr_mu",
    "register_metric",
    "score",
    "score_image",
    "select_metrics",
    "summarize",
]
