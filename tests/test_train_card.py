"""A tiny run with validation, then its model card: every number in the card comes from the run's files."""

from __future__ import annotations

import csv
import hashlib
import json
import math

from bench.train import TrainConfig, train
from bench.train.card import main as card_main

TINY = dict(batch=2, patch=32, stride=16, workers=0, warmup=0, log_every=1, save_every=2, device="cpu")


def test_validation_rows_and_the_card(tmp_path):
    from bench.data.simulate import make_synthetic

    data = tmp_path / "data"
    make_synthetic(data, 2, size=(48, 32), seed=7)
    run = tmp_path / "run"
    cfg = TrainConfig(
        model="eapnet-lightweight",
        data=str(data),
        out=str(run),
        iters=2,
        val_data=str(data),
        val_every=2,
        **TINY,
    )
    summary = train(cfg)
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert [r["val_psnr_mu"] != "" for r in rows] == [False, True]  # validated at iteration 2 only
    assert math.isfinite(float(rows[-1]["val_psnr_mu"]))

    ids = ["0000", "0001"]
    evals = [
        {"model": summary.model, "n_images": 2, "n_failed": 0, "psnr": 20.0, "psnr_mu": 21.5,
         "per_image": [{"id": i, "psnr_mu": 21.0 + k} for k, i in enumerate(ids)]},
        {"model": "ref-frame", "n_images": 2, "n_failed": 0, "psnr": 25.0, "psnr_mu": 24.0,
         "per_image": [{"id": i, "psnr_mu": 24.0} for i in ids]},
    ]  # fmt: skip
    (tmp_path / "eval.json").write_text(json.dumps(evals))
    card = tmp_path / "card.md"
    args = ["--run", str(run), "--eval", str(tmp_path / "eval.json"), "--out", str(card)]
    assert card_main([*args, "--train-data", str(data), "--plot", str(tmp_path / "curve.png")]) == 0
    text = card.read_text()
    sha = hashlib.sha256((run / "ema.safetensors").read_bytes()).hexdigest()
    assert f"sha256 `{sha}`" in text
    assert "does **not** beat the `ref-frame` reference in PSNR-µ (21.50 dB vs 24.00 dB, -2.50 dB)" in text
    assert f"after {summary.iters} iterations ({summary.ema_updates} EMA updates" in text
    assert "batch 2 (paper: 32)" in text and "loss 'mu_tanh'" not in text  # only deviations are listed
    assert "| 0001 | 22.00 | 24.00 |" in text  # the per-image table
    assert f"| 2 | {float(rows[-1]['loss']):.5f} |" in text  # the logged row with a held-out score
    # --weights resolves like every command's: a run folder means its newest checkpoint; a missing file is exit 2.
    assert card_main([*args, "--weights", str(run)]) == 0
    newest = run / "checkpoints" / json.loads((run / "checkpoints" / "last.json").read_text())["weights"]
    assert f"sha256 `{hashlib.sha256(newest.read_bytes()).hexdigest()}`" in card.read_text()
    assert card_main([*args, "--weights", str(tmp_path / "missing.safetensors")]) == 2
