"""The metric registry: entries, checks at registration, selection, aggregation, failures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.core import UsageError
from bench.evaluation import (
    METRICS,
    Metric,
    default_metrics,
    register_metric,
    score,
    score_image,
    select_metrics,
    summarize,
)
from bench.evaluation.metrics import psnr, psnr_mu


@pytest.fixture()
def temporary():
    """Names registered by a test, removed afterwards (the registry is process-global)."""
    names: list[str] = []
    yield names
    for name in names:
        METRICS.remove(name)


def _pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0.05, 1.5, (12, 10, 3))
    return np.clip(gt + rng.normal(0, 0.02, gt.shape), 0, None), gt


def test_builtins_are_registered_with_their_conventions():
    assert METRICS.names()[:2] == ["psnr", "psnr_mu"]
    assert default_metrics() == ("psnr", "psnr_mu")
    for name, fn in (("psnr", psnr), ("psnr_mu", psnr_mu)):
        m = METRICS.get(name)
        assert m.unit == "dB" and m.higher_is_better and m.aggregation == "mean" and m.format == ".3f"
        assert m.layouts is None and m.default and "NTIRE" in m.description
        pred, gt = _pair()
        assert m.fn(pred, gt) == fn(pred, gt)  # the entry is the public function's definition
    assert "2.24" in METRICS.get("psnr_mu").description and "99th" in METRICS.get("psnr_mu").description
    assert METRICS.get("psnr_mu").header == "PSNR-mu (dB)"


def test_a_registered_metric_is_scored_and_aggregated_by_its_own_rule(temporary):
    temporary.append("max-abs")

    @register_metric("max-abs", unit="", higher_is_better=False, aggregation="median", format=".4f")
    def max_abs(pred, gt):
        """Largest absolute difference."""
        return float(np.abs(pred - gt).max())

    m = METRICS.get("max-abs")
    assert m.description == "Largest absolute difference." and m.header == "max-abs" and not m.default
    assert default_metrics() == (
        "psnr",
        "psnr_mu",
    )  # a plugin metric does not change what is scored by default
    records = [{"id": str(i), **score(*_pair(i), metrics=["max-abs", "psnr"])} for i in range(3)]
    assert all(set(r) == {"id", "psnr", "max-abs"} for r in records)
    values = [max_abs(*_pair(i)) for i in range(3)]
    assert [r["max-abs"] for r in records] == values
    summary = summarize(records, "psnr,max-abs")
    assert summary["max-abs"] == float(np.median(values)) and "psnr_mu" not in summary
    assert summary["psnr"] == pytest.approx(np.mean([r["psnr"] for r in records]))
    assert m.best([0.3, None, 0.1]) == 0.1 and METRICS.get("psnr").best([0.3, None, 0.1]) == 0.3
    assert m.format_value(None) == "-" and m.format_value(0.5) == "0.5000"


def test_selection_is_checked_and_in_registry_order(temporary):
    temporary.append("only-raw")
    register_metric("only-raw", layouts=["raw"])(lambda p, g: 0.0)
    assert select_metrics("psnr_mu,psnr,psnr_mu") == ("psnr", "psnr_mu")
    assert select_metrics(None) == default_metrics()
    with pytest.raises(UsageError, match="unknown metric 'psnr-mu'.*did you mean psnr_mu"):
        select_metrics("psnr,psnr-mu")
    with pytest.raises(UsageError, match="no metric named"):
        select_metrics(" , ")
    with pytest.raises(UsageError, match="does not apply to the 'ntire' layout"):
        select_metrics("only-raw", layout="ntire")
    assert select_metrics("only-raw", layout="raw") == ("only-raw",)
    assert "only-raw" not in default_metrics("raw")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "error"}, "reserved"),
        ({"name": "n_failed"}, "reserved"),
        ({"name": "a,b"}, "letters, digits"),
        ({"name": "x", "aggregation": "geomean"}, "aggregation 'geomean'"),
        ({"name": "x", "format": "%d"}, "not a float format"),
    ],
)
def test_bad_entries_are_refused_at_registration(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Metric(fn=lambda p, g: 0.0, **kwargs)


def test_a_second_metric_of_one_name_needs_replace(temporary):
    temporary.append("dup")
    register_metric("dup")(lambda p, g: 1.0)
    with pytest.raises(ValueError, match="already registered"):
        register_metric("dup")(lambda p, g: 2.0)
    register_metric("dup", replace=True)(lambda p, g: 2.0)
    assert METRICS.get("dup").fn(None, None) == 2.0


def test_a_nan_metric_fails_the_image_and_is_never_averaged(temporary):
    temporary.append("sometimes-nan")
    register_metric("sometimes-nan")(lambda p, g: math.nan if p.mean() > 1.5 else 1.0)
    ok = score_image(*_pair(0), image_id="0000", metrics="psnr,sometimes-nan")
    high = _pair(0)[0] + 1.0
    bad = score_image(high, _pair(0)[1], image_id="0001", metrics="psnr,sometimes-nan")
    assert "metric sometimes-nan is undefined" in bad["error"] and "psnr" not in bad
    summary = summarize([ok, bad], "psnr,sometimes-nan")
    assert summary["n_failed"] == 1 and summary["failed_ids"] == ["0001"]
    assert summary["sometimes-nan"] == 1.0 and summary["psnr"] == ok["psnr"]
