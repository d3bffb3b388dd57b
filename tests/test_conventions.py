"""Input and output conventions at the data boundary: a known radiance through every layout and back,
and a Kalantari-convention model scored on NTIRE and Kalantari data alike."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from bench import data
from bench.data import simulate
from bench.data.hdrio import GAMMA, roundtrip16
from bench.data.layouts import Sample
from bench.evaluation.metrics import score_image
from models.blocks import HDRModel
from models.conventions import CONTRACT, KALANTARI, shortest_stops

EVS = (-2.0, 0.0, 2.0)
LAYOUT_NAMES = ("ntire", "kalantari", "hu", "tel")


def known_radiance(h: int = 12, w: int = 20, seed: int = 0) -> np.ndarray:
    """Linear radiance on the medium frame's scale, 6 stops of range, below the short frame's clipping."""
    rng = np.random.default_rng(seed)
    return (2.0 ** rng.uniform(-5, 1.5, (h, w, 3))).astype(np.float32)


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_a_known_radiance_through_each_layout_and_back(tmp_path, name):
    radiance = known_radiance()
    silent = simulate.Sensor(shot=0.0, read=0.0, offset=0.0)
    sim = simulate.simulate_triplet(radiance, EVS, silent, np.random.default_rng(1))
    simulate.write_sample(tmp_path, "0000", sim["ldrs"], EVS, sim["gt"], name)
    layout = data.LAYOUTS.get(name)
    sample = layout.load(tmp_path, "0000")
    assert sample.shortest == 2.0 and sample.ev.tolist() == [-2.0, 0.0, 2.0]
    contract = sample.contract_gt()
    if name == "ntire":  # the contract itself: the 16-bit PNG's quantisation only
        assert sample.convention is None and np.array_equal(contract, roundtrip16(sim["gt"]))
        stored_radiance = contract.astype(np.float64) ** GAMMA
        rtol = 1e-3
    else:  # linear on the shortest frame's scale: radiance / 2^2, in RGBE (8-bit mantissas)
        assert sample.convention is KALANTARI
        stored_radiance = KALANTARI.radiance(sample.gt.astype(np.float64), sample.shortest)
        assert np.allclose(sample.gt * 4.0, stored_radiance, rtol=1e-6)
        rtol = 8e-3
    peak = radiance.max(axis=-1, keepdims=True)
    assert np.all(np.abs(stored_radiance - radiance) <= rtol * peak)
    # contract -> the data's own convention: the exact inverse of contract_gt
    assert np.allclose(sample.native_hdr(contract), sample.gt, rtol=1e-5, atol=1e-8)
    # the LDRs reach models as the simulator encoded them (gamma 2.24, 8 bits), whatever is on disk
    assert np.abs(sample.contract_ldrs() - sim["ldrs"] / 255.0).max() < 2e-4
    again = sample.in_convention(CONTRACT).in_convention(KALANTARI)
    reference = sample.in_convention(KALANTARI)
    assert np.allclose(again.ldrs, reference.ldrs, atol=1e-6) and np.allclose(
        again.gt, reference.gt, rtol=1e-5
    )


def test_sample_conversions_are_the_convention_functions():
    rng = np.random.default_rng(3)
    ldrs = rng.uniform(0, 1, (3, 4, 5, 3)).astype(np.float32)
    gt = rng.uniform(0, 3, (4, 5, 3)).astype(np.float32)
    sample = Sample("x", ldrs, np.array([0.0, 3.0, 5.0]), gt, "linear", convention=KALANTARI)
    ev = sample.ev
    assert ev.tolist() == [-3.0, 0.0, 2.0] and sample.shortest == float(shortest_stops(ev)) == 3.0
    assert np.array_equal(sample.contract_ldrs(), KALANTARI.ldr_to_contract(ldrs))
    assert np.allclose(sample.contract_gt(), KALANTARI.hdr_to_contract(gt, 3.0), rtol=1e-6)
    assert np.allclose(sample.contract_gt(), (gt * 8.0) ** (1 / 2.24), rtol=1e-5)
    pred = torch.from_numpy(sample.contract_gt()).permute(2, 0, 1)
    back = sample.native_hdr(pred)  # torch in, torch out: metrics pass predictions as they come
    assert isinstance(back, torch.Tensor) and torch.allclose(
        back, torch.from_numpy(gt).permute(2, 0, 1), rtol=1e-5
    )
    item = data.to_item(sample)
    assert torch.allclose(item["gt"], pred) and torch.allclose(
        item["ldrs"], torch.from_numpy(np.ascontiguousarray(sample.contract_ldrs().transpose(0, 3, 1, 2)))
    )
    # a sample without a convention keeps its old meaning (a plugin's linear GT on the medium scale)
    legacy = Sample("y", ldrs, np.array([-2.0, 0.0, 2.0]), gt, "linear")
    assert legacy.contract_ldrs() is ldrs and np.allclose(
        legacy.native_hdr(legacy.contract_gt()), gt, rtol=1e-5
    )


class MediumFrameKalantari(HDRModel):
    """A Kalantari-convention network that knows the radiance exactly: the linearised medium frame."""

    convention = KALANTARI

    def reconstruct(self, ldrs: torch.Tensor, ev: torch.Tensor) -> torch.Tensor:
        # Kalantari's linearisation ldr^2.2 / 2^(ev - min ev), on the shortest frame's scale
        return ldrs[:, 1] ** 2.2 / 2.0 ** ev[:, 1, None, None, None]


def exact_scene() -> Sample:
    """An NTIRE sample whose GT is the medium frame's radiance exactly (no clipping, 8-bit-exact values)."""
    rng = np.random.default_rng(7)
    medium = rng.integers(20, 230, (8, 16, 3)).astype(np.float32) / 255.0
    radiance = medium.astype(np.float64) ** GAMMA
    frames = [np.clip(radiance * 2.0**ev, 0, 1) ** (1 / GAMMA) for ev in EVS]
    ldrs = np.round(np.stack(frames) * 255.0).astype(np.float32) / 255.0
    return Sample("0000", ldrs, np.array(EVS), medium.copy())


def predict(model: HDRModel, sample: Sample) -> torch.Tensor:
    item = data.to_item(sample)
    with torch.no_grad():
        return model(item["ldrs"][None], item["ev"][None])[0]


def test_a_kalantari_model_scores_the_same_on_ntire_and_kalantari_data(tmp_path):
    model = MediumFrameKalantari().eval()
    ntire = exact_scene()
    kalantari = ntire.in_convention(KALANTARI)
    assert np.allclose(kalantari.gt * 4.0, ntire.gt.astype(np.float64) ** GAMMA, rtol=1e-5)
    for sample in (ntire, kalantari):  # in memory: exact up to float32
        pred = predict(model, sample)
        gt = torch.from_numpy(sample.contract_gt()).permute(2, 0, 1)
        assert torch.allclose(pred, gt, atol=2e-6)
        assert score_image(pred, gt)["psnr"] > 110
    # native: the model's linear HDR equals the Kalantari GT
    native = kalantari.native_hdr(predict(model, kalantari)).permute(1, 2, 0).numpy()
    assert np.allclose(native, kalantari.gt, rtol=1e-5)

    # through the files of each layout: the model's scores agree, limited by each format's precision
    scores, preds, linear_psnr = {}, {}, {}
    for name in LAYOUT_NAMES:
        root = tmp_path / name
        root.mkdir()
        data.LAYOUTS.get(name).write(root, "0000", ntire)
        loaded = data.LAYOUTS.get(name).load(root, "0000")
        preds[name] = predict(model, loaded)
        scores[name] = score_image(preds[name], loaded.contract_gt())
        native_pred = loaded.native_hdr(preds[name]).permute(1, 2, 0).numpy().astype(np.float64)
        mse = float(np.mean((native_pred - loaded.native_hdr(loaded.contract_gt())) ** 2))
        linear_psnr[name] = 10 * math.log10(1.0 / mse)  # on the data's own HDR, peak 1
    assert scores["ntire"]["psnr"] > 90  # 16-bit PNG GT, 8-bit-exact LDRs
    for name in ("kalantari", "hu", "tel"):
        # the same prediction from the 16-bit gamma-2.2 tifs as from the 8-bit PNGs
        assert torch.allclose(preds[name], preds["ntire"], atol=2e-4)
        # what is left is the RGBE GT's precision (8-bit mantissas, ~0.4% of each pixel's peak)
        assert scores[name]["psnr"] > 38 and linear_psnr[name] > 55
        assert scores[name]["psnr"] == pytest.approx(scores["kalantari"]["psnr"], abs=1e-9)


def test_layouts_declare_their_convention():
    assert data.LAYOUTS.get("ntire").convention is CONTRACT
    assert all(data.LAYOUTS.get(n).convention is KALANTARI for n in ("kalantari", "hu", "tel"))


def test_write_keeps_a_kalantari_sample_exact(tmp_path: Path):
    kalantari = exact_scene().in_convention(KALANTARI)
    layout = data.LAYOUTS.get("kalantari")
    layout.write(tmp_path, "s1", kalantari)
    back = layout.load(tmp_path, "s1")
    # 16-bit rounding only; 1.0 itself is stored as 65535 (2^16 does not fit), read as 65535/65536
    assert np.abs(back.ldrs - kalantari.ldrs).max() <= 1 / 65536 + 1e-7
    assert np.abs(back.ldrs - kalantari.ldrs)[kalantari.ldrs < 0.999].max() <= 0.5 / 65536 + 1e-7


def test_a_kalantari_sample_written_as_ntire_reads_back_in_the_contract(tmp_path: Path):
    ntire = exact_scene()
    data.LAYOUTS.get("ntire").write(tmp_path, "0000", ntire.in_convention(KALANTARI))
    back = data.LAYOUTS.get("ntire").load(tmp_path, "0000")
    assert np.array_equal(back.ldrs, ntire.ldrs)  # 8-bit exact values survive gamma 2.2 and back
    assert np.allclose(back.gt, ntire.gt, atol=2e-5)


def test_a_corrupt_tif_is_one_line_naming_it(tmp_path: Path, capfd):
    layout = data.LAYOUTS.get("kalantari")
    layout.write(tmp_path, "s1", exact_scene())
    tif = tmp_path / "s1" / "2.tif"
    pixels = np.random.default_rng(0).integers(0, 65535, (8, 16, 3)).astype(np.uint16)
    ok, lzw = cv2.imencode(".tif", pixels)  # OpenCV's default: LZW
    raw = lzw.tobytes()
    tif.write_bytes(raw[:8] + b"\xff" * (len(raw) - 208) + raw[-200:])  # directory kept, LZW codes broken
    with pytest.raises(data.DatasetError, match=r"2\.tif"):
        layout.load(tmp_path, "s1")
    assert "TIFF" not in capfd.readouterr().err  # libtiff's own lines are silenced
