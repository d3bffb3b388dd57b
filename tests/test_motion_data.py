"""Issue 18's training data: moving objects, per-triplet noise levels, map-disjoint splits, the GPU script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench import data
from bench.cli import main
from bench.data import simulate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import prepare_motion_data  # noqa: E402  (a script, found through the sys.path line)

QUIET = simulate.Sensor(shot=0, read=0, offset=0)


def _linear(ldr: np.ndarray) -> np.ndarray:
    return (ldr.astype(np.float64) / 255.0) ** 2.24


def test_local_motion_moves_the_objects_and_not_the_background():
    rng = np.random.default_rng(5)
    scene = simulate.synthetic_scene((160, 120), rng)
    sim = simulate.simulate_triplet(scene * simulate.auto_scale(scene, rng), (-2, 0, 2), QUIET, rng, "local")
    short, medium = _linear(sim["ldrs"][0]) * 4.0, _linear(sim["ldrs"][1])
    objects = [simulate.MovingObject(**o, shift_px={}) for o in sim["record"]["objects"]]
    shifts = [tuple(s) for s in sim["record"]["motion"]["short"]["object_shift_px"]]
    assert sim["record"]["motion"].keys() == {"short", "long"} and len(shifts) == len(objects) >= 1
    usable = (medium < 0.9) & (short < 0.9) & (medium > 0.02)  # unsaturated, clear of the darkest steps
    # the background (away from every object, where it is and where it moves to) does not move
    anywhere = sum(
        simulate.object_mask(medium.shape[:2], o, s) + simulate.object_mask(medium.shape[:2], o, (0, 0))
        for o, s in zip(objects, shifts, strict=True)
    )
    still = (
        cv2.erode((anywhere == 0).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)[..., None]
        & usable
    )
    background_error = np.abs(short - medium)[still].mean()
    # the top object (painted last, never covered) moved by its recorded shift
    top, d = objects[-1], shifts[-1]
    inside = (simulate.object_mask(medium.shape[:2], top, d) > 0.999)[..., None] & usable
    moved = cv2.warpAffine(
        medium.astype(np.float32), np.float32([[1, 0, d[0]], [0, 1, d[1]]]), medium.shape[1::-1]
    )
    error_if_moved = np.abs(short - moved)[inside].mean()
    error_if_still = np.abs(short - medium)[inside].mean()
    assert still.sum() > 1000 and inside.sum() > 100
    assert error_if_moved < 0.35 * error_if_still
    assert background_error < 0.35 * error_if_still
    assert np.hypot(*d) >= 0.02 * 120 - 1e-6
    # the GT is aligned with the medium frame: it shows the objects where the medium frame does
    gt = sim["gt"].astype(np.float64) ** 2.24
    assert np.abs(np.minimum(gt, 1.0) - medium)[usable[..., 0]].mean() < 0.01


def test_both_motion_kinds_and_the_legacy_flag(tmp_path):
    simulate.make_synthetic(tmp_path / "both", 1, size=(64, 48), seed=2, motion="both")
    manifest = json.loads((tmp_path / "both" / "manifest.json").read_text())
    assert manifest["motion"] is True and manifest["motion_kind"] == "both"
    short = manifest["samples"][0]["motion"]["short"]
    assert {"rotation_deg", "shift_px", "local_px", "object_shift_px"} <= short.keys()
    assert manifest["samples"][0]["objects"]
    # --motion alone is --motion global, which is what motion=True always wrote
    assert main(["make-data", str(tmp_path / "flag"), "--synthetic", "1", "--size", "64x48", "--motion"]) == 0
    simulate.make_synthetic(tmp_path / "lib", 1, size=(64, 48), motion=True)
    for name in ("0000_short.png", "0000_long.png", "0000_gt.png"):
        assert (tmp_path / "flag" / name).read_bytes() == (tmp_path / "lib" / name).read_bytes()
    with pytest.raises(SystemExit):
        main(["make-data", str(tmp_path / "bad"), "--synthetic", "1", "--motion", "sideways"])


def test_noise_range_is_honoured_and_recorded(tmp_path):
    out = tmp_path / "noisy"
    assert (
        main(["make-data", str(out), "--synthetic", "6", "--size", "128x96", "--noise-range", "0.5,4"]) == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["noise_range"] == [0.5, 4.0]
    scales = [s["noise_scale"] for s in manifest["samples"]]
    assert all(0.5 <= f <= 4.0 for f in scales) and max(scales) / min(scales) > 1.5
    for rec in manifest["samples"]:
        f = rec["noise_scale"]
        assert rec["noise"]["shot"] == pytest.approx(0.01 * f) and rec["noise"]["read"] == pytest.approx(
            0.002 * f
        )
        # the medium frame's noise is the recorded sensor's: residuals / predicted std have std ~1
        s = data.load_sample(out, rec["id"])
        lin, gt = s["ldrs"][1].astype(np.float64) ** 2.24, s["gt"].astype(np.float64) ** 2.24
        mid = (gt > 0.1) & (gt < 0.7)
        sensor = simulate.Sensor(**rec["noise"])
        ratio = (lin - gt - sensor.offset)[mid] / sensor.noise_std(gt[mid])
        assert 0.8 < ratio.std() < 1.35, (f, ratio.std())
    plain = tmp_path / "plain"
    simulate.make_synthetic(plain, 1, size=(64, 48))
    manifest = json.loads((plain / "manifest.json").read_text())
    assert "noise_range" not in manifest and "noise_scale" not in manifest["samples"][0]
    assert main(["make-data", str(tmp_path / "bad"), "--synthetic", "1", "--noise-range", "4,0.5"]) == 2


def _fake_maps(folder: Path) -> Path:
    """Twelve tiny panoramas named as the CC0 maps, so the split logic runs without the real ones."""
    folder.mkdir()
    names = [*prepare_motion_data.TEST_MAPS, *prepare_motion_data.VAL_MAPS]
    names += [f"train_map_{i}_1k.hdr" for i in range(8)]
    for i, name in enumerate(names):
        pano = np.random.default_rng(i).uniform(0.01, 2.0, (64, 128, 3)).astype(np.float32)
        assert cv2.imwrite(str(folder / name), pano[..., ::-1])
    return folder


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("prep")
    maps = _fake_maps(root / "maps")
    args = ["--hdr", str(maps), "--out", str(root / "data"), "--size", "64x48", "--train-crops", "1"]
    assert prepare_motion_data.main([*args, "--val-crops", "1", "--test-crops", "1"]) == 0
    return root / "data"


def test_held_out_sets_share_no_source_map_with_training(prepared):
    sources = {}
    for name in ("train", "val", "test-motion", "test-static"):
        manifest = json.loads((prepared / name / "manifest.json").read_text())
        sources[name] = {s["source"] for s in manifest["samples"]}
        assert manifest["noise_range"] == list(prepare_motion_data.NOISE_RANGE)
        assert manifest["motion"] is (name != "test-static")
    assert len(sources["train"]) == 8
    assert not sources["train"] & (sources["val"] | sources["test-motion"] | sources["test-static"])
    assert not sources["val"] & sources["test-motion"]
    assert sources["test-motion"] == sources["test-static"] == set(prepare_motion_data.TEST_MAPS)
    splits = json.loads((prepared / "splits.json").read_text())
    assert splits["samples"] == {"train": 8, "val": 2, "test-motion": 2, "test-static": 2}
    assert 0 < splits["total_mib"] < prepare_motion_data.MAX_MIB


@pytest.mark.slow
def test_gpu_script_rehearsed_on_the_cpu(prepared, tmp_path):
    settings = {
        "DEVICE": "cpu",
        "PYTHON": sys.executable,
        "MAIN_MODELS": "eapnet-lightweight",
        "PDUB_MODELS": "eapnet-lightweight-pdub2",
        "MAIN_ITERS": "2",
        "PDUB_ITERS": "1",
        "BUDGET_MINUTES": "60",
        "BATCH": "2",
        "PATCH": "32",
        "STRIDE": "32",
        "WARMUP": "1",
        "EMA_EVERY": "1",
        "VAL_EVERY": "2",
        "SAVE_EVERY": "1",
        "LOG_EVERY": "1",
        "WORKERS": "0",
        "AMP": "0",
        "OMP_NUM_THREADS": "1",
    }
    env = {**os.environ, **settings, "PYTHONPATH": str(ROOT)}
    work, pack = tmp_path / "work", tmp_path / "pack"
    script = ROOT / "scripts" / "gpu_train_motion.sh"
    done = subprocess.run(
        ["bash", str(script), str(prepared), str(work), str(pack)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    scores = json.loads((work / "eval" / "scores.json").read_text())
    scored = {(s["model"], s["set"]) for s in scores if s["psnr_mu"] is not None}
    for model in ("eapnet-lightweight", "eapnet-lightweight (shipped)", "ref-frame", "exposure-merge"):
        assert {(model, "test-motion"), (model, "test-static"), (model, "val")} <= scored
    pdub = json.loads((work / "eval-pdub" / "scores.json").read_text())
    assert ("eapnet-lightweight-pdub2", "test-motion") in {(s["model"], s["set"]) for s in pdub}
    assert (work / "cards" / "eapnet-lightweight.md").is_file() and (work / "summary.md").is_file()
    packs = sorted(p.name for p in pack.iterdir())
    assert packs == ["eapnet-lightweight.tar.gz", "pdub.tar.gz", "scores.tar.gz"]
    assert all(p.stat().st_size < 16 * 2**20 for p in pack.iterdir())
    with tarfile.open(pack / "eapnet-lightweight.tar.gz") as tar:
        names = set(tar.getnames())
    assert {
        "eapnet-lightweight/ema.safetensors",
        "eapnet-lightweight/log.csv",
        "eapnet-lightweight/checkpoints/last.json",
    } <= names
