"""AHDR, ADNet and the non-learned references (issue 3).

Full-resolution complexity is counted with torchinfo 1.6 (the NTIRE tool) on the meta device:
shapes only, no memory, no compute. Forwards with real numbers run at tiny sizes on CPU.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from models.adnet import ModulatedDeformConv
from models.blocks import GAMMA
from models.registry import create_model, list_models, model_info

NTIRE_H, NTIRE_W = 1060, 1900
LEARNED = ["ahdr", "adnet"]
REFERENCES = ["ref-frame", "exposure-merge"]


def ntire_summary(name: str):
    """torchinfo 1.6 summary at 1060x1900 (the NTIRE convention), on the meta device."""
    torchinfo = pytest.importorskip("torchinfo")  # a dev dependency; only the count tests need it
    with torch.device("meta"):
        model = create_model(name)
    ldrs = torch.empty(1, 3, 3, NTIRE_H, NTIRE_W, device="meta")
    ev = torch.zeros(1, 3, device="meta")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchinfo 1.6 touches the deprecated TypedStorage
        return torchinfo.summary(model, input_data=[ldrs, ev], device="meta", verbose=0)


def random_inputs(h: int = 18, w: int = 26, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    ldrs = torch.rand(batch, 3, 3, h, w)
    ev = torch.tensor([[-2.0, 0.0, 2.0]]).repeat(batch, 1)
    return ldrs, ev


def render_exposures(linear: torch.Tensor, ev: list[float]) -> torch.Tensor:
    """Gamma-encoded, clipped LDR frames [1, 3, 3, H, W] of a linear scene [1, 3, H, W] (medium's scale)."""
    frames = [(linear * 2.0**e).clamp(0, 1) ** (1 / GAMMA) for e in ev]
    return torch.stack(frames, dim=1)


# --------------------------------------------------------------------------------------- AHDR


def test_ahdr_counts_exactly_the_ntire_numbers():
    stats = ntire_summary("ahdr")
    assert stats.total_mult_adds == 2_916_922_522_000  # 2916.92 G, paper Table 6 / challenge report
    assert stats.total_params == 1_441_283  # the paper prints 1141.28 k (digit transposition)


def test_ahdr_parameter_count_matches_torchinfo():
    # Every parameter runs in the forward, so torchinfo's count equals the module's own.
    model = create_model("ahdr")
    assert sum(p.numel() for p in model.parameters()) == 1_441_283


def test_ahdr_sigmoid_output_is_bounded_by_one():
    ldrs, ev = random_inputs()
    with torch.no_grad():
        out = create_model("ahdr")(ldrs * 4, ev)  # even out-of-range inputs cannot push it past 1
    assert out.shape == (1, 3, 18, 26)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_ahdr_rejects_unknown_output():
    with pytest.raises(ValueError, match="output"):
        create_model("ahdr", output="tanh")


# -------------------------------------------------------------------------------------- ADNet


def test_adnet_count_and_the_papers_figure():
    stats = ntire_summary("adnet")
    dcn = [layer for layer in stats.summary_list if layer.class_name == "DeformConv2d"]
    dcn_macs = sum(layer.macs for layer in dcn)
    # 4 deformable convs (Q, H, F, F) x 2 frames, each (64*64*9 + 64) x output pixels
    q, h, f = 265 * 475, 530 * 950, NTIRE_H * NTIRE_W
    assert len(dcn) == 8
    assert dcn_macs == 2 * 36_928 * (q + h + 2 * f)
    assert stats.total_mult_adds == 6_593_405_004_000
    # The original code wraps each DCN weight in a module that also holds its offset conv, so
    # torchinfo 1.6 (leaf layers only) never counts it: without those weights we get the paper's
    # 6249.43 G exactly.
    assert stats.total_mult_adds - dcn_macs == 6_249_429_916_000
    assert stats.total_params == sum(p.numel() for p in create_model("adnet").parameters()) == 2_956_483


def test_adnet_forward_small_cpu():
    ldrs, ev = random_inputs(h=18, w=26, batch=2)  # not multiples of 4: exercises pad and crop
    with torch.no_grad():
        out = create_model("adnet")(ldrs, ev)
    assert out.shape == (2, 3, 18, 26)
    assert torch.isfinite(out).all() and out.min() >= 0  # ReLU output


def test_adnet_deformable_offsets_change_the_output():
    model = create_model("adnet").eval()
    ldrs, ev = random_inputs(h=16, w=24)
    with torch.no_grad():
        before = model(ldrs, ev)
        taps = model.align.l1.dcn.offset_mask.out_channels // 3
        model.align.l1.dcn.offset_mask.bias[: 2 * taps] = 0.7  # shift every sampling point
        after = model(ldrs, ev)
    assert not torch.allclose(before, after, atol=1e-6)


def test_modulated_deform_conv_is_dcnv2():
    torch.manual_seed(1)
    layer = ModulatedDeformConv(channels=8, groups=2)
    x = torch.randn(1, 8, 10, 12)
    feat = torch.randn(1, 8, 10, 12)
    w, b = layer.dcn.weight, layer.dcn.bias
    with torch.no_grad():
        # Zero-initialised offset conv: no shift, mask sigmoid(0) = 0.5 on every tap (not on the bias).
        assert torch.allclose(layer(x, feat), 0.5 * F.conv2d(x, w, padding=1) + b[:, None, None], atol=1e-5)
        # Offsets of (dy, dx) = (0, 1) on every tap and a mask of ~1: a conv of the input moved one
        # pixel left (compared away from the borders, where zero padding differs).
        taps = layer.offset_mask.out_channels // 3
        offsets = torch.tensor([0.0, 1.0]).repeat(taps)
        layer.offset_mask.bias.copy_(torch.cat([offsets, torch.full((taps,), 30.0)]))
        shifted = F.conv2d(x[..., 1:], w, padding=1) + b[:, None, None]
        assert torch.allclose(layer(x, feat)[..., 1:-2], shifted[..., 1:-1], atol=1e-4)


# --------------------------------------------------------------------------------- references


@pytest.mark.parametrize("name", REFERENCES)
def test_references_have_no_parameters_and_are_not_trainable(name):
    assert sum(p.numel() for p in create_model(name).parameters()) == 0
    info = model_info(name)
    assert info.family == "reference" and info.trainable is False


@pytest.mark.parametrize("name", REFERENCES)
def test_references_return_the_scene_when_all_frames_agree(name):
    scene = torch.rand(1, 3, 12, 16) * 0.9 + 0.05
    ldrs = scene[:, None].repeat(1, 3, 1, 1, 1)
    out = create_model(name)(ldrs, torch.zeros(1, 3))
    assert torch.allclose(out, scene, atol=1e-5)


def test_ref_frame_aligns_the_medium_frame():
    ldrs = torch.rand(1, 3, 3, 6, 8)
    out = create_model("ref-frame")(ldrs, torch.tensor([[-3.0, -1.0, 1.0]]))  # medium at EV -1
    assert torch.allclose(out, ldrs[:, 1] * 2 ** (1 / GAMMA), atol=1e-6)


def test_exposure_merge_recovers_highlights_the_reference_frame_clips():
    torch.manual_seed(2)
    ev = [-2.0, 0.0, 2.0]
    # Linear radiance up to 3.9x the medium frame's white: clipped in the medium and long frames,
    # never in the short one, and above the long frame's black everywhere.
    linear = torch.rand(1, 3, 16, 16) * 3.85 + 0.05
    ldrs = render_exposures(linear, ev)
    truth = linear ** (1 / GAMMA)
    merged = create_model("exposure-merge")(ldrs, torch.tensor([ev]))
    reference = create_model("ref-frame")(ldrs, torch.tensor([ev]))
    assert torch.allclose(merged, truth, atol=1e-4)
    assert (truth - reference).abs().max() > 0.3  # the medium frame alone saturates at 1


# ------------------------------------------------------------------------------ registry + contract


def test_registry_families_and_paper_rows():
    assert list_models(family="ahdr") == ["ahdr"]
    assert list_models(family="adnet") == ["adnet"]
    assert set(REFERENCES) <= set(list_models(family="reference"))
    assert (model_info("ahdr").paper_table, model_info("ahdr").paper_row) == ("6", "AHDR-organizers")
    assert (model_info("adnet").paper_table, model_info("adnet").paper_row) == ("6", "ADNet")
    assert model_info("ahdr").trainable and model_info("adnet").trainable


@pytest.mark.parametrize("name", LEARNED + REFERENCES)
def test_contract_shape_and_input_checks(name):
    model = create_model(name).eval()
    ldrs, ev = random_inputs(h=9, w=13)
    with torch.no_grad():
        out = model(ldrs, ev)
    assert out.shape == (1, 3, 9, 13) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="ev must be"):
        model(ldrs, ev[:, :2])


def test_adnet_trains_through_the_deformable_offsets():
    model = create_model("adnet")
    ldrs, ev = random_inputs(h=16, w=16)
    model(ldrs, ev).mean().backward()
    grad = model.align.cascade.dcn.offset_mask.weight.grad
    # Zero-initialised offsets still receive a gradient (bilinear sampling is differentiable).
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
