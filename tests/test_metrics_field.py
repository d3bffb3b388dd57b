"""The field's metrics: each equals an independent implementation of its formula; domains and conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.evaluation import DOMAINS, METRICS, Metric, score
from bench.evaluation.kalantari_metrics import psnr_l, psnr_mu_k, pu21_psnr, pu21_ssim, ssim_l, ssim_mu
from bench.evaluation.pu21 import PARAMETERS, SCTNET_DISPLAY, DisplayModel, pu21_encode
from bench.evaluation.ssim import gaussian_taps, ssim_matlab, ssim_valid

FIELD = [
    "psnr_mu_k",
    "psnr_l",
    "ssim_mu",
    "ssim_l",
    "ssim_mu_matlab",
    "ssim_l_matlab",
    "pu21_psnr",
    "pu21_ssim",
]


@pytest.fixture(scope="module")
def linear_pair() -> tuple[np.ndarray, np.ndarray]:
    """Linear HDR on the shortest frame's scale: GT in [0, 1.2], a noisy prediction partly out of [0, 1]."""
    rng = np.random.default_rng(3)
    gt = np.clip(rng.gamma(0.6, 0.15, size=(36, 44, 3)), 0, 1.2)
    pred = gt * (1 + 0.1 * rng.standard_normal(gt.shape)) + 0.01 * rng.standard_normal(gt.shape)
    return pred, gt


def ref_psnr(a, b, peak=1.0) -> float:
    return 10 * math.log10(peak**2 / np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2))


def ref_mu(x):
    return np.log(1 + 5000 * np.asarray(x, float)) / np.log(5001)


def ref_skimage_ssim(a, b, data_range):
    from skimage.metrics import structural_similarity  # optional dev dependency of this cross-check

    return structural_similarity(
        a,
        b,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=data_range,
        channel_axis=2,
    )


def ref_matlab_ssim(a, b, data_range=1.0):
    """MATLAB's defaults written with scipy: N-D Gaussian sigma 1.5, radius 5, edges replicated, map mean."""
    from scipy.ndimage import gaussian_filter  # scipy comes with scikit-image

    def f(x):
        return gaussian_filter(x, 1.5, mode="nearest", truncate=3.0)  # radius int(3.0 * 1.5 + 0.5) = 5

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ma, mb = f(a), f(b)
    va, vb, cab = f(a * a) - ma**2, f(b * b) - mb**2, f(a * b) - ma * mb
    return float((((2 * ma * mb + c1) * (2 * cab + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))).mean())


def test_psnr_type_metrics_equal_their_formula(linear_pair):
    p, g = linear_pair
    cp, cg = np.clip(p, 0, 1), np.clip(g, 0, 1)
    assert psnr_l(p, g) == pytest.approx(ref_psnr(cp, cg), abs=1e-4)
    assert psnr_mu_k(p, g) == pytest.approx(ref_psnr(ref_mu(cp), ref_mu(cg)), abs=1e-4)
    assert psnr_l(g, g) == math.inf and psnr_mu_k(g, g) == math.inf
    # A known perturbation: +0.01 everywhere inside the range is exactly 40 dB of PSNR-L.
    flat = np.full((16, 16, 3), 0.5)
    assert psnr_l(flat + 0.01, flat) == pytest.approx(40.0, abs=1e-9)


def test_ssim_matches_scikit_image_configured_as_wang(linear_pair):
    p, g = linear_pair
    a, b = np.clip(p * 255, 0, 255), np.clip(g * 255, 0, 255)
    assert ssim_l(p, g) == pytest.approx(ref_skimage_ssim(a, b, 255), abs=1e-6)
    am, bm = ref_mu(np.clip(p, 0, 1)) * 255, ref_mu(np.clip(g, 0, 1)) * 255
    assert ssim_mu(p, g) == pytest.approx(ref_skimage_ssim(am, bm, 255), abs=1e-6)
    # Scale invariance: on 0..255 with C scaled by 255^2 it is SSIM on 0..1 with range 1.
    assert ssim_valid(a, b, 255) == pytest.approx(ssim_valid(a / 255, b / 255, 1.0), abs=1e-12)
    assert ssim_l(g, g) == pytest.approx(1.0, abs=1e-12)


def test_matlab_ssim_is_a_3d_volume_with_replicated_edges(linear_pair):
    p, g = linear_pair
    assert ssim_matlab(p, g) == pytest.approx(ref_matlab_ssim(p, g), abs=1e-6)
    pp = np.maximum(p, 0)  # the µ-law of a negative value is undefined: MATLAB form clips at 0 only
    assert METRICS.get("ssim_mu_matlab").fn(p, g) == pytest.approx(
        ref_matlab_ssim(ref_mu(pp), ref_mu(g)), abs=1e-6
    )
    assert METRICS.get("ssim_l_matlab").fn(p, g) == pytest.approx(ref_matlab_ssim(p, g), abs=1e-6)
    # The colour planes are filtered together: not the mean of three 2-D SSIMs.
    per_channel = np.mean([ssim_matlab(p[..., c], g[..., c]) for c in range(3)])
    assert abs(ssim_matlab(p, g) - per_channel) > 1e-4
    assert ssim_matlab(p[..., 0], g[..., 0]) == pytest.approx(ref_matlab_ssim(p[..., 0], g[..., 0]), abs=1e-6)


def test_gaussian_window_is_the_papers():
    taps = gaussian_taps()
    assert len(taps) == 11 and taps.sum() == pytest.approx(1.0)
    assert taps[5] / taps[6] == pytest.approx(math.exp(1 / (2 * 1.5**2)))


def test_pu21_encoding_by_hand_at_known_luminances():
    p1, p2, p3, p4, p5, p6, p7 = (
        0.353487901,
        0.3734658629,
        8.277049286e-05,
        0.9062562627,
        0.09150303166,
        0.9099517204,
        596.3148142,
    )
    assert PARAMETERS["banding_glare"] == (p1, p2, p3, p4, p5, p6, p7)

    def by_hand(y):
        return max(0.0, p7 * (((p1 + p2 * y**p4) / (1 + p3 * y**p4)) ** p5 - p6))

    for y in (0.005, 0.1, 1.0, 100.0, 1000.0, 10000.0):
        assert float(pu21_encode(y)) == pytest.approx(by_hand(y), rel=1e-12), y
    assert float(pu21_encode(100.0)) == pytest.approx(256.38, abs=0.01)  # 100 cd/m^2 ~ the SDR range
    assert float(pu21_encode(1e-4)) == float(pu21_encode(0.005))  # clipped to the valid range
    assert float(pu21_encode(1e6)) == float(pu21_encode(10000.0))
    assert np.all(np.diff(pu21_encode(np.geomspace(0.005, 10000, 50))) > 0)


def test_display_model_is_sctnets_gog():
    assert SCTNET_DISPLAY.black == pytest.approx(55 / 1000 + 0.005 * 10 / math.pi)
    assert float(SCTNET_DISPLAY.luminance(1.0)) == pytest.approx(55.0)
    assert float(SCTNET_DISPLAY.luminance(0.0)) == pytest.approx(SCTNET_DISPLAY.black)
    half = DisplayModel(peak=100, contrast=100, gamma=2.0)
    assert float(half.luminance(0.5)) == pytest.approx((100 - 1) * 0.25 + 1)


def test_pu21_metrics_equal_their_formula(linear_pair):
    p, g = linear_pair

    def encode(x):
        v = ref_mu(np.clip(x, 0, 1))
        black = 55 / 1000 + 0.005 * 10 / math.pi
        return pu21_encode((55 - black) * v**2.2 + black)

    assert pu21_psnr(p, g) == pytest.approx(ref_psnr(encode(p), encode(g), 256), abs=1e-4)

    def luminance_encode(x):
        v = ref_mu(np.clip(x, 0, 1))
        black = 55 / 1000 + 0.005 * 10 / math.pi
        rgb = (55 - black) * v**2.2 + black
        return pu21_encode(rgb[..., 0] * 0.212656 + rgb[..., 1] * 0.715158 + rgb[..., 2] * 0.072186)

    assert pu21_ssim(p, g) == pytest.approx(
        ref_matlab_ssim(luminance_encode(p), luminance_encode(g), 256), abs=1e-6
    )


def test_linear_metrics_get_kalantari_hdr_from_the_contract(linear_pair):
    _, g_lin = linear_pair
    stops = 2.0
    contract = (g_lin * 2**stops) ** (1 / 2.24)  # linear on the shortest frame's scale -> gamma 2.24, medium
    pred = contract * 0.98
    got = score(pred, contract, FIELD + ["psnr"], shortest=stops)
    p_lin = (np.clip(pred, 0, None) ** 2.24) / 2**stops
    cp, cg = np.clip(p_lin, 0, 1), np.clip(g_lin, 0, 1)
    assert got["psnr_l"] == pytest.approx(ref_psnr(cp, cg), abs=1e-4)
    assert got["psnr_mu_k"] == pytest.approx(ref_psnr(ref_mu(cp), ref_mu(cg)), abs=1e-4)
    assert got["psnr"] == pytest.approx(ref_psnr(pred / contract.max(), contract / contract.max()), abs=1e-4)
    perfect = score(contract, contract, FIELD, shortest=stops)
    assert all(perfect[n] == math.inf for n in ("psnr_l", "psnr_mu_k", "pu21_psnr"))
    assert all(perfect[n] == pytest.approx(1.0) for n in FIELD if "ssim" in n)
    with pytest.raises(ValueError, match="needs shortest"):
        score(pred, contract, ["psnr_l"])
    assert set(score(pred, contract, ["psnr", "psnr_mu"])) == {"psnr", "psnr_mu"}  # no EVs needed


def test_every_field_metric_declares_linear_domain_and_a_convention():
    for name in FIELD:
        metric = METRICS.get(name)
        assert metric.domain == "linear" and metric.description and not metric.default, name
    assert METRICS.get("psnr").domain == METRICS.get("psnr_mu").domain == "contract"
    assert set(DOMAINS) == {"contract", "linear"}
    with pytest.raises(ValueError, match="domain 'gamma'"):
        Metric(name="x", fn=lambda p, g: 0.0, domain="gamma")
