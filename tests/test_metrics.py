"""PSNR / PSNR-µ against an independent implementation, known values, and the 16-bit round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.data import hdrio
from bench.evaluation import metrics


def _hdr_pair(seed: int = 0, h: int = 24, w: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """A gamma-encoded GT with highlights above 1 and a noisy prediction of it (HxWx3 float32)."""
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0.0, 1.0, (h, w, 3)).astype(np.float32)
    gt[: h // 4, : w // 4] *= 2.5  # highlights, as in the NTIRE GT
    pred = np.clip(gt + rng.normal(0, 0.03, gt.shape), 0, None).astype(np.float32)
    return pred, gt


def _reference_scores(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """The protocol's formulas written again, independently: torch, float32, natural log, sort-based percentile."""
    p = torch.from_numpy(pred).float()
    g = torch.from_numpy(gt).float()
    peak = g.max()
    psnr_l = -10 * torch.log10(torch.mean((g / peak - p / peak) ** 2))
    gl, pl = g**2.24, p**2.24
    # 99th percentile with linear interpolation between the two nearest order statistics
    flat = torch.sort(gl.flatten().double()).values
    pos = 0.99 * (flat.numel() - 1)
    lo = int(math.floor(pos))
    norm = flat[lo] + (pos - lo) * (flat[min(lo + 1, flat.numel() - 1)] - flat[lo])
    mu = 5000.0

    def tonemap(x):
        return torch.log(1 + mu * torch.tanh(x / norm.float())) / math.log(1 + mu)

    psnr_mu = -10 * torch.log10(torch.mean((tonemap(gl) - tonemap(pl)) ** 2))
    return float(psnr_l), float(psnr_mu)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_independent_implementation(seed):
    pred, gt = _hdr_pair(seed)
    ref_l, ref_mu = _reference_scores(pred, gt)
    s = metrics.score(pred, gt)
    assert abs(s["psnr"] - ref_l) < 1e-4
    assert abs(s["psnr_mu"] - ref_mu) < 1e-4
    assert 20 < s["psnr"] < 60 and 20 < s["psnr_mu"] < 60


def test_identical_images_score_inf():
    _, gt = _hdr_pair()
    assert metrics.psnr(gt, gt) == math.inf
    assert metrics.psnr_mu(gt, gt) == math.inf


def test_known_offset_gives_known_psnr():
    _, gt = _hdr_pair()
    gt = gt / gt.max() * 2.0  # max(gt) = 2 exactly
    # an offset of 0.02 is 0.01 of the GT's max everywhere: MSE 1e-4 -> 40 dB
    assert metrics.psnr(gt + 0.02, gt) == pytest.approx(40.0, abs=1e-4)
    # halving the error adds 20 log10(2) dB
    assert metrics.psnr(gt + 0.01, gt) == pytest.approx(40.0 + 20 * math.log10(2), abs=1e-4)


def test_psnr_mu_known_value_on_uniform_image():
    # GT uniform linear value 1 (gamma-encoded 1): percentile n = 1, T(gt) = mu_law(tanh(1)).
    gt = np.ones((8, 8, 3))
    pred_lin = 0.5
    pred = np.full((8, 8, 3), pred_lin ** (1 / 2.24))
    t = lambda x: math.log(1 + 5000 * math.tanh(x)) / math.log(1 + 5000)  # noqa: E731
    expected = -10 * math.log10((t(1.0) - t(pred_lin)) ** 2)
    assert metrics.psnr_mu(pred, gt) == pytest.approx(expected, abs=1e-6)


def test_layouts_and_array_types_agree():
    pred, gt = _hdr_pair()
    base = metrics.score(pred, gt)
    chw = metrics.score(pred.transpose(2, 0, 1), gt.transpose(2, 0, 1))
    tens = metrics.score(torch.from_numpy(pred).permute(2, 0, 1), torch.from_numpy(gt))
    for other in (chw, tens):
        assert other["psnr"] == pytest.approx(base["psnr"], abs=1e-9)
        assert other["psnr_mu"] == pytest.approx(base["psnr_mu"], abs=1e-9)


def test_bad_shapes_are_rejected():
    pred, gt = _hdr_pair()
    with pytest.raises(ValueError, match="differs"):
        metrics.psnr(pred[:-1], gt)
    with pytest.raises(ValueError, match="HxWx3"):
        metrics.psnr(pred[..., 0], gt[..., 0])


def test_non_finite_prediction_is_an_error_and_excluded_from_the_mean():
    pred, gt = _hdr_pair()
    bad = pred.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(metrics.NonFiniteError, match="1 NaN"):
        metrics.score(bad, gt)
    records = [{"id": "0000", **metrics.score(pred, gt)}, {"id": "0001", "error": "prediction holds 1 NaN"}]
    summary = metrics.summarize(records)
    assert summary["n_scored"] == 1 and summary["n_failed"] == 1 and summary["failed_ids"] == ["0001"]
    assert summary["psnr"] == pytest.approx(records[0]["psnr"])
    assert math.isfinite(summary["psnr_mu"])


def test_mu_law_numpy_and_torch_agree():
    x = np.linspace(0, 1, 11)
    assert np.allclose(metrics.mu_law(x), metrics.mu_law(torch.from_numpy(x)).numpy())
    assert metrics.mu_law(np.array(1.0)) == pytest.approx(1.0)
    assert metrics.mu_law(np.array(0.0)) == pytest.approx(0.0)


def test_png_round_trip(tmp_path):
    _, gt = _hdr_pair()
    img = gt.copy()
    img[0, 0] = -0.3  # negatives must be clipped, not wrapped around
    path = hdrio.write_hdr_png(tmp_path / "0007_gt.png", img)
    assert (tmp_path / "0007_alignratio.npy").is_file()
    back = hdrio.read_hdr_png(path)
    assert back.dtype == np.float32 and back.shape == img.shape
    assert np.array_equal(back, hdrio.roundtrip16(img))
    assert np.all(back[0, 0] == 0)
    # quantisation error is at most half a step of max/65535
    step = img.max() / 65535
    assert np.abs(back - np.maximum(img, 0)).max() <= 0.5 * step * 1.0001
    assert back.max() == pytest.approx(img.max(), rel=1e-6)
    # prediction naming: XXXX.png pairs with XXXX_alignratio.npy too
    assert hdrio.alignratio_path(tmp_path / "0007.png").name == "0007_alignratio.npy"


def test_roundtrip_changes_scores_only_slightly():
    pred, gt = _hdr_pair()
    direct = metrics.score(pred, gt)
    through = metrics.score(hdrio.roundtrip16(pred), gt)
    assert through["psnr"] != direct["psnr"]
    assert abs(through["psnr"] - direct["psnr"]) < 0.05
    assert abs(through["psnr_mu"] - direct["psnr_mu"]) < 0.05


def test_score_image_records_scoring_mode_and_errors():
    pred, gt = _hdr_pair()
    mem = metrics.score_image(pred, gt, image_id="0000")
    rt = metrics.score_image(pred, gt, roundtrip=True, image_id="0000")
    assert mem["scoring"] == "in-memory" and rt["scoring"] == "roundtrip16"
    assert rt["psnr"] == pytest.approx(metrics.psnr(hdrio.roundtrip16(pred), gt))
    bad = pred.copy()
    bad[1, 1, 1] = np.inf
    failed = metrics.score_image(bad, gt, roundtrip=True, image_id="0001")
    assert "error" in failed and "psnr" not in failed
    summary = metrics.summarize([rt, failed])
    assert summary["scoring"] == "roundtrip16" and summary["n_failed"] == 1
    assert summary["psnr"] == pytest.approx(rt["psnr"])


def test_summary_of_only_failed_images_has_no_mean():
    summary = metrics.summarize([{"id": "0000", "error": "prediction holds 3 NaN or inf values"}])
    assert summary["n_failed"] == 1 and summary["n_scored"] == 0
    assert summary["psnr"] is None and summary["psnr_mu"] is None  # not NaN: there is nothing to average


def test_black_ground_truth_is_a_per_image_failure_not_a_crash():
    import numpy as np

    from bench.evaluation.metrics import score_image, summarize

    black = np.zeros((8, 8, 3))
    ok = score_image(np.full((8, 8, 3), 0.5), np.full((8, 8, 3), 0.6), image_id="0001")
    bad = score_image(np.full((8, 8, 3), 0.5), black, image_id="0000")
    assert "error" in bad and "psnr" not in bad
    summary = summarize([bad, ok])
    assert summary["n_failed"] == 1 and summary["failed_ids"] == ["0000"]
    assert summary["psnr"] == ok["psnr"]
