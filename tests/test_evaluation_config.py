"""EvalConfig: validation in one place, the cache key derived from its fields, old database rows still hit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from torch import nn

from bench.core import UsageError
from bench.data import dataset_fingerprint
from bench.evaluation import METRICS, EvalConfig, register_metric
from bench.evaluation.evaluate import evaluate_module
from bench.jobs import measure
from bench.results import ResultsStore
from bench.spec.weights import WeightsRef
from bench.train.checkpoint import save_weights
from models.registry import create_model


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from bench.data.simulate import make_synthetic

    root = tmp_path_factory.mktemp("config_data")
    make_synthetic(root, 2, size=(32, 32), seed=4)
    return root


def _settings_written_before_eval_config(data: Path, ids=None, device="cpu", **changed) -> dict:
    """The settings the hand-written key held (measure.evaluate before EvalConfig), for old rows."""
    return {
        "data": str(Path(data).resolve()),
        "data_fingerprint": dataset_fingerprint(data, ids),
        "ids": ids,
        "weights": None,
        "device": device,
        "roundtrip16": False,
        "tile": None,
        "overlap": None,
        **changed,
    }


def test_default_key_is_the_one_of_old_databases(data):
    assert EvalConfig(data=str(data), device="cpu").cache_settings() == _settings_written_before_eval_config(
        data
    )
    cfg = EvalConfig(data=data, ids=["0001"], device="cuda:1", roundtrip16=True, tile=32, overlap=8)
    assert cfg.cache_settings() == _settings_written_before_eval_config(
        data, ids=["0001"], device="cuda", roundtrip16=True, tile=32, overlap=8
    )


def test_every_field_is_in_the_key_unless_marked_as_not_changing_a_score(data, tmp_path):
    base = EvalConfig(data=str(data), device="cpu")
    other_data = tmp_path / "copy"
    other_data.mkdir()
    weights = tmp_path / "w.safetensors"
    save_weights(weights, nn.Conv2d(9, 3, 3), "x")
    changes = {
        "data": str(other_data),
        "ids": ("0000",),
        "weights": WeightsRef.resolve(weights),
        "device": "cuda",
        "roundtrip16": True,
        "tile": 64,
        "overlap": 4,
        "metrics": ("psnr",),
        "layout": "ntire",
        "protocol": "tiles-256",
        "tif_scale": 65535,
    }
    in_key = EvalConfig.score_fields()
    assert sorted(in_key) == sorted(changes), "a new option must say whether it changes a score"
    for name, value in changes.items():
        changed = dataclasses.replace(
            base, **({name: value, "tile": 64} if name == "overlap" else {name: value})
        )
        assert changed.cache_settings() != base.cache_settings(), name
    for name, value in {"save_predictions": str(tmp_path), "workers": 2, "show_progress": False}.items():
        assert dataclasses.replace(base, **{name: value}).cache_settings() == base.cache_settings(), name
    assert dataclasses.replace(base, distributed=False).cache_settings() == base.cache_settings()


def test_metrics_enter_the_key_only_when_not_the_default(data):
    plain = EvalConfig(data=str(data), device="cpu")
    assert plain.metrics == ("psnr", "psnr_mu") and "metrics" not in plain.cache_settings()
    same = EvalConfig(data=str(data), device="cpu", metrics="psnr_mu,psnr")
    assert same.metrics == plain.metrics and same.cache_settings() == plain.cache_settings()
    only = EvalConfig(data=str(data), device="cpu", metrics=["psnr"])
    assert only.cache_settings()["metrics"] == ["psnr"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tile": 8}, "too small"),
        ({"overlap": 4}, "needs --tile"),
        ({"tile": 32, "overlap": 32}, "less than --tile 32"),
        ({"workers": -1}, "--workers -1"),
        ({"metrics": "psnr,ssim"}, "unknown metric 'ssim'"),
    ],
)
def test_bad_options_are_one_usage_error(data, options, message):
    with pytest.raises(UsageError, match=message):
        EvalConfig(data=str(data), **options)


def test_a_row_stored_before_eval_config_is_reused(data, tmp_path):
    with ResultsStore(tmp_path / "old.sqlite") as store:
        old = {"model": "ref-frame", "psnr": 12.5, "psnr_mu": 13.5, "n_failed": 0, "per_image": []}
        store.add(
            "eval",
            old,
            config_hash=measure.config_hash("ref-frame"),
            settings=_settings_written_before_eval_config(data),
        )
        record, hit = measure.evaluate(store, "ref-frame", data=data, device="cpu")
        assert hit and record["psnr"] == 12.5
        # Another metric selection is another key: measured, not the old row.
        record, hit = measure.evaluate(store, "ref-frame", data=data, device="cpu", metrics="psnr")
        assert not hit and record["psnr"] != 12.5 and "psnr_mu" not in record
        assert list(record["metrics"]) == ["psnr"]


def test_config_and_options_are_exclusive(data):
    cfg = EvalConfig(data=str(data), device="cpu")
    with pytest.raises(TypeError):
        measure.evaluate(None, "ref-frame")
    with pytest.raises(TypeError):
        evaluate_module(create_model("ref-frame"), data, config=cfg)
    rec = evaluate_module(create_model("ref-frame"), config=dataclasses.replace(cfg, show_progress=False))
    assert rec["n_images"] == 2 and set(rec["metrics"]) == {"psnr", "psnr_mu"}


def test_a_plugin_metric_is_part_of_the_record(data):
    try:
        register_metric("mean-gt", unit="", format=".2f")(lambda p, g: float(g.mean()))
        rec, _ = measure.evaluate(None, "ref-frame", data=data, metrics="mean-gt,psnr_mu")
        assert list(rec["metrics"]) == ["psnr_mu", "mean-gt"]
        assert all(set(p) == {"id", "psnr_mu", "mean-gt", "finite"} for p in rec["per_image"])
        assert rec["mean-gt"] == pytest.approx(sum(p["mean-gt"] for p in rec["per_image"]) / 2)
    finally:
        METRICS.remove("mean-gt")
