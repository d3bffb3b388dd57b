"""Training: the loss goes down, resume is bit for bit, checkpoints are checked, torchrun (gloo) works."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bench.cli import main as cli
from bench.core import REPO_ROOT, UsageError
from bench.train import IterationBatches, TrainConfig, lr_at, train
from bench.train.checkpoint import CheckpointError, load_weights, save_weights
from bench.train.losses import get_loss, mu_tanh_loss
from models.registry import create_model

MODEL = "eapnet-lightweight"
TINY = dict(batch=2, patch=32, stride=16, workers=0, warmup=0, log_every=1, save_every=2, device="cpu")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from bench.data.simulate import make_synthetic

    root = tmp_path_factory.mktemp("train_data")
    make_synthetic(root, 3, size=(64, 48), seed=3)
    return root


def _cfg(data: Path, out: Path, **kw) -> TrainConfig:
    return TrainConfig(model=MODEL, data=str(data), out=str(out), **{**TINY, **kw})


def _mean_loss(model: torch.nn.Module, data: Path) -> float:
    from bench.data import PatchDataset

    ds = PatchDataset(data, patch=32, stride=16)
    batch = torch.utils.data.default_collate([ds[i] for i in range(len(ds))])
    with torch.no_grad():
        return float(mu_tanh_loss(model(batch["ldrs"], batch["ev"]), batch["gt"]))


def test_lr_schedule_is_the_papers():
    cfg = TrainConfig(model=MODEL, data=".", out=".")
    assert lr_at(cfg, 0) == pytest.approx(8e-4 / 1000)
    assert lr_at(cfg, 999) == pytest.approx(8e-4)
    assert lr_at(cfg, 99_999) == pytest.approx(8e-4)
    assert lr_at(cfg, 100_000) == pytest.approx(8e-4 * 0.75)
    assert lr_at(cfg, 250_000) == pytest.approx(8e-4 * 0.75**2)


def test_losses_match_their_definitions():
    gt = torch.rand(2, 3, 8, 8) * 3
    pred = gt + 0.1
    assert float(get_loss("l1")(pred, gt)) == pytest.approx(0.1, rel=1e-5)
    assert float(get_loss("tanh")(pred, gt)) == pytest.approx(
        float((torch.tanh(pred) - torch.tanh(gt)).abs().mean())
    )
    both = 0.5 * get_loss("mu")(pred, gt) + 0.5 * get_loss("tanh")(pred, gt)
    assert float(get_loss("mu_tanh")(pred, gt)) == pytest.approx(float(both))
    assert float(get_loss("mu")(gt, gt)) == 0.0
    with pytest.raises(UsageError, match="unknown loss 'l2'"):
        get_loss("l2")


def test_batches_cover_every_index_once_per_epoch_and_shard_over_ranks():
    one = IterationBatches(n=10, batch=5, start=0, stop=2, seed=0)
    assert sorted(i for b in one for i in b) == list(range(10))
    ranks = [IterationBatches(n=10, batch=5, start=0, stop=1, seed=0, rank=r, world=2) for r in (0, 1)]
    assert sorted(i for s in ranks for b in s for i in b) == list(range(10))
    # A batch larger than the data set wraps into the next (differently shuffled) epoch.
    assert len(IterationBatches(n=3, batch=8, start=0, stop=1, seed=0).indices(0)) == 8


def test_a_few_iterations_lower_the_loss(data, tmp_path):
    torch.manual_seed(0)
    before = _mean_loss(create_model(MODEL), data)
    summary = train(_cfg(data, tmp_path / "run", iters=25, lr=2e-3, ema_every=1000))
    trained = create_model(MODEL)
    load_weights(trained, tmp_path / "run" / "model.safetensors", MODEL)
    after = _mean_loss(trained, data)
    assert summary.iters == 25 and summary.stopped == "iterations"
    assert after < 0.8 * before, (before, after)
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert [int(r["iteration"]) for r in rows] == list(range(1, 26))
    assert json.loads((tmp_path / "run" / "config.json").read_text())["lr"] == 2e-3


def test_resume_equals_uninterrupted_training(data, tmp_path):
    kw = dict(iters=4, flips=True, ema_every=1, ema_decay=0.5, lr=1e-3)
    train(_cfg(data, tmp_path / "a", **kw))
    train(_cfg(data, tmp_path / "b", **{**kw, "iters": 2}))
    train(_cfg(data, tmp_path / "b", **kw), resume=True, given={"iters"})
    for name in ("model.safetensors", "ema.safetensors"):
        a, b = load_file(tmp_path / "a" / name), load_file(tmp_path / "b" / name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    rows = [[r["iteration"], r["loss"]] for r in csv.DictReader((tmp_path / "a" / "log.csv").open())]
    assert rows == [[r["iteration"], r["loss"]] for r in csv.DictReader((tmp_path / "b" / "log.csv").open())]
    side = json.loads((tmp_path / "b" / "checkpoints" / "last.json").read_text())
    assert side["iteration"] == 4 and side["model"] == MODEL and len(side["data_hash"]) == 64


def test_time_limit_stops_cleanly_and_saves(data, tmp_path):
    summary = train(_cfg(data, tmp_path / "run", iters=1000, max_minutes=1e-6))
    assert summary.iters == 1 and summary.stopped.startswith("time limit")
    assert (tmp_path / "run" / "ema.safetensors").is_file()
    assert json.loads((tmp_path / "run" / "checkpoints" / "last.json").read_text())["iteration"] == 1


def test_resume_refuses_changed_recipe_and_existing_run(data, tmp_path):
    train(_cfg(data, tmp_path / "run", iters=1))
    with pytest.raises(UsageError, match="lr"):
        train(_cfg(data, tmp_path / "run", iters=2, lr=1.0), resume=True, given={"iters", "lr"})
    with pytest.raises(UsageError, match="--resume"):
        train(_cfg(data, tmp_path / "run", iters=2))


def test_bad_checkpoints_are_clear_errors(data, tmp_path, capsys):
    run = tmp_path / "run"
    args = [
        "train",
        "--model",
        MODEL,
        "--data",
        str(data),
        "--out",
        str(run),
        "--iters",
        "2",
        "--batch",
        "2",
        "--patch",
        "32",
        "--stride",
        "16",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--save-every",
        "1",
    ]
    assert cli(args) == 0
    side = json.loads((run / "checkpoints" / "last.json").read_text())
    weights = run / "checkpoints" / side["weights"]
    weights.write_bytes(weights.read_bytes()[:200])  # truncated: as after a crash or a bad copy
    assert cli([*args[:-2], "--iters", "3", "--resume"]) == 2
    assert "not a valid safetensors" in capsys.readouterr().err
    # A checkpoint of another model.
    other = tmp_path / "other"
    side["model"] = "eapnet-standard"
    (other / "checkpoints").mkdir(parents=True)
    (other / "checkpoints" / "last.json").write_text(json.dumps(side))
    (other / "config.json").write_text((run / "config.json").read_text())
    assert cli(["train", "--model", MODEL, "--data", str(data), "--out", str(other), "--resume"]) == 2
    assert "eapnet-standard" in capsys.readouterr().err
    # Wrong keys/shapes: weights of one model loaded into another.
    save_weights(tmp_path / "std.safetensors", create_model("eapnet-standard"), "unnamed")
    with pytest.raises(CheckpointError, match="does not fit"):
        load_weights(create_model(MODEL), tmp_path / "std.safetensors")
    # Resume where there is no checkpoint at all.
    assert (
        cli(["train", "--model", MODEL, "--data", str(data), "--out", str(tmp_path / "none"), "--resume"])
        == 2
    )


def test_torchrun_two_processes_gloo_train_and_eval(data, tmp_path):
    env = {**os.environ, "EAPBENCH_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "run_bench.py",
    ]
    run = tmp_path / "run"
    proc = subprocess.run(
        [
            *torchrun,
            "train",
            "--model",
            MODEL,
            "--data",
            str(data),
            "--out",
            str(run),
            "--iters",
            "3",
            "--batch",
            "4",
            "--patch",
            "32",
            "--stride",
            "16",
            "--workers",
            "0",
            "--device",
            "cpu",
            "--ema-every",
            "1",
            "--max-minutes",
            "10",
            "--json",
            str(tmp_path / "train.json"),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "train.json").read_text())
    assert summary["world_size"] == 2 and summary["iters"] == 3
    assert (run / "ema.safetensors").is_file()
    proc = subprocess.run(
        [
            *torchrun,
            "eval",
            "--models",
            MODEL,
            "--weights",
            str(run / "ema.safetensors"),
            "--data",
            str(data),
            "--device",
            "cpu",
            "--json",
            str(tmp_path / "eval.json"),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    sharded = json.loads((tmp_path / "eval.json").read_text())[0]
    assert sharded["world_size"] == 2 and sharded["n_images"] == 3

    from bench.evaluation.evaluate import evaluate

    single = evaluate(MODEL, data, weights=str(run / "ema.safetensors"), device="cpu", show_progress=False)
    assert [p["id"] for p in sharded["per_image"]] == [p["id"] for p in single["per_image"]]
    for a, b in zip(sharded["per_image"], single["per_image"], strict=True):
        assert a["psnr_mu"] == pytest.approx(b["psnr_mu"], abs=1e-4)


def test_mu_loss_is_the_protocols_tonemap_written_independently():
    # Protocol section 5: L1 of T(tanh(gt_lin / n)) with T(x) = log(1 + 5000 x) / log(1 + 5000), gt_lin = gt ** 2.24
    # and n the 99th percentile of each sample's linear GT (NumPy's linear interpolation); same for pred.
    import numpy as np

    torch.manual_seed(0)
    gt = torch.rand(2, 3, 16, 16, dtype=torch.float64) * 2.5
    pred = (gt + 0.05 * torch.randn_like(gt)).clamp(min=0)

    def tonemap(x, n):
        return np.log(1 + 5000 * np.tanh(x**2.24 / n)) / np.log(1 + 5000)

    want = []
    for g, p in zip(gt.numpy(), pred.numpy(), strict=True):
        n = np.percentile(g**2.24, 99)
        want.append(np.abs(tonemap(g, n) - tonemap(p, n)))
    assert float(get_loss("mu")(pred, gt)) == pytest.approx(float(np.mean(want)), rel=1e-9)


def test_cache_gives_the_same_batches_and_refuses_what_does_not_fit(data, tmp_path, monkeypatch):
    from bench.data import PatchDataset
    from bench.train import batches

    ds = PatchDataset(data, patch=32, stride=16)
    cached = batches.PatchCache(ds, torch.device("cpu"), workers=0, show=False)
    idx = [5, 0, len(ds) - 1]
    want = torch.utils.data.default_collate([ds[i] for i in idx])
    got = cached.batch(idx)
    assert all(torch.equal(got[k], want[k]) for k in ("ldrs", "ev", "gt"))  # bit for bit, LDRs kept as uint8
    assert batches.cache_bytes(1494 * 112, 256) > 200e9  # the full NTIRE set: far beyond any GPU
    monkeypatch.setattr(batches, "free_memory", lambda device: 10_000)  # bytes
    with pytest.raises(UsageError, match="--cache: the .* training patches need"):
        train(_cfg(data, tmp_path / "run", iters=1, cache=True))
