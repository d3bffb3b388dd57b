"""Evaluation: the metric registry, scoring of images, and evaluation of models on data sets.

:mod:`~bench.evaluation.registry` (``METRICS``, ``register_metric``), :mod:`~bench.evaluation.metrics`
(PSNR, PSNR-µ, ``score``/``summarize``), :mod:`~bench.evaluation.config` (``EvalConfig``),
:mod:`~bench.evaluation.predict` (padded and tiled inference), :mod:`~bench.evaluation.evaluate`
(the evaluation loop and its record).
"""

from bench.evaluation.config import EvalConfig
from bench.evaluation.metrics import psnr, psnr_mu, score, score_image, summarize
from bench.evaluation.registry import (
    AGGREGATIONS,
    METRICS,
    Metric,
    default_metrics,
    register_metric,
    select_metrics,
)

__all__ = [
    "AGGREGATIONS",
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
