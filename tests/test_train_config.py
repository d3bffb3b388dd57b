"""TrainConfig: frozen, every recipe value validated at construction, config.json keys stable, resume rules."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from bench.core import UsageError
from bench.train import LOSSES, TrainConfig, TrainSummary, resolve_config

BASE = dict(model="eapnet-lightweight", data="data", out="run")

# The keys of RUN/config.json: runs written by earlier versions must still resume.
CONFIG_KEYS = [
    "model", "data", "out", "ids", "iters", "batch", "patch", "stride", "lr", "lr_decay", "lr_step", "warmup",
    "loss", "ema_every", "ema_decay", "flips", "seed", "amp", "deterministic", "device", "workers", "cache",
    "max_minutes", "save_every", "log_every", "val_data", "val_ids", "val_every", "extra",
]  # fmt: skip
# The keys of RUN/summary.json and the stored train record.
SUMMARY_KEYS = [
    "model", "run_dir", "iters", "batch", "patch", "loss", "final_loss", "lr", "seconds", "device",
    "device_name", "world_size", "amp", "torch_version", "weights", "ema_updates", "ema_every", "ema_decay",
    "stopped", "params", "n_patches", "data_hash",
]  # fmt: skip


def test_config_is_frozen_and_replace_validates_again():
    cfg = TrainConfig(**BASE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]
    assert dataclasses.replace(cfg, lr=1e-3).lr == 1e-3 and cfg.lr == 8e-4
    with pytest.raises(UsageError, match="--lr"):
        dataclasses.replace(cfg, lr=-1.0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lr", math.nan, "--lr must be a finite number"),
        ("lr", math.inf, "--lr must be a finite number"),
        ("lr", 0.0, "--lr must be a positive"),
        ("lr_decay", 0.0, "--lr-decay must be a positive"),
        ("lr_decay", math.nan, "--lr-decay must be a finite"),
        ("ema_decay", 1.0, r"--ema-decay must be in \[0, 1\)"),
        ("ema_decay", math.nan, "--ema-decay must be a finite"),
        ("max_minutes", 0.0, "--max-minutes must be positive"),
        ("max_minutes", math.inf, "--max-minutes must be a finite"),
        ("iters", 0, "--iters must be at least 1"),
        ("batch", 0, "--batch must be at least 1"),
        ("lr_step", 0, "--lr-step must be at least 1"),
        ("ema_every", 0, "--ema-every must be at least 1"),
        ("warmup", -1, "--warmup must not be negative"),
        ("workers", -1, "--workers must not be negative"),
        ("val_every", 3, "--val-every needs --val-data"),
        ("patch", 2.5, "--patch must be an integer"),
        ("loss", "l7", "--loss 'l7': choose one of mu_tanh"),
    ],
)
def test_every_bad_recipe_value_is_a_usage_error(field, value, message):
    with pytest.raises(UsageError, match=message):
        TrainConfig(**BASE, **{field: value})


def test_config_json_and_summary_keys_are_stable():
    assert list(TrainConfig(**BASE).to_json()) == CONFIG_KEYS
    assert [f.name for f in dataclasses.fields(TrainSummary)] == SUMMARY_KEYS
    assert list(LOSSES.names()[:4]) == ["mu_tanh", "mu", "tanh", "l1"]


def test_resume_takes_the_saved_recipe_and_the_given_runtime_options(tmp_path):
    saved = TrainConfig(**{**BASE, "out": str(tmp_path)}, lr=1e-3, iters=10, workers=4, extra={"note": "x"})
    (tmp_path / "config.json").write_text(json.dumps({**saved.to_json(), "from_a_newer_version": 1}))
    asked = TrainConfig(**{**BASE, "out": str(tmp_path)}, iters=20, workers=0)
    cfg = resolve_config(asked, resume=True, given={"iters", "workers"})
    assert (cfg.lr, cfg.iters, cfg.workers, cfg.extra) == (1e-3, 20, 0, {"note": "x"})
    with pytest.raises(UsageError, match="trained with lr=0.001"):
        resolve_config(dataclasses.replace(asked, lr=2e-3), resume=True, given={"lr"})
    assert resolve_config(asked, resume=False, given=set()) is asked  # no checkpoint there yet


def test_resume_refuses_a_broken_saved_config(tmp_path):
    asked = TrainConfig(**{**BASE, "out": str(tmp_path)})
    with pytest.raises(UsageError, match="cannot read"):
        resolve_config(asked, resume=True, given=set())
    (tmp_path / "config.json").write_text(json.dumps({"data": "d", "out": "o"}))
    with pytest.raises(UsageError, match="incomplete"):
        resolve_config(asked, resume=True, given=set())
    (tmp_path / "config.json").write_text(json.dumps({**asked.to_json(), "ema_decay": 2.0}))
    with pytest.raises(UsageError, match="--ema-decay"):
        resolve_config(asked, resume=True, given=set())
