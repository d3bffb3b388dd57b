"""SAFNet and SAFNet-S: the authors' parameter counts and key layout, their input convention, warping, meta runs."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest
import torch

from bench.complexity import count, hdr_input_shapes
from models.conventions import KALANTARI
from models.official import official_converter
from models.registry import create_model, model_info
from models.safnet import SAFNet, merge_exposures, warp

FIXTURES = Path(__file__).parent / "fixtures" / "official_keys"
# params_official_code of field_published.csv: the authors' SAFNet / SAFNet_S classes, counted.
OFFICIAL_PARAMS = {"safnet": 1_120_849, "safnet-s": 566_713}
# measured_GMACs_torchinfo_3x256x256 (a recount of the authors' code) and SAFNet's Table 2 (thop,
# 1500x1000, TMACs), as field_published.csv prints them.
TORCHINFO_256_G = {"safnet": 42.59, "safnet-s": 6.324}
PAPER_THOP_1500x1000_T = {"safnet": 0.976, "safnet-s": 0.146}


def official_keys(name: str) -> dict[str, list[int]]:
    return json.loads((FIXTURES / f"{name}.json").read_text())["keys"]


@pytest.mark.parametrize("name", sorted(OFFICIAL_PARAMS))
def test_parameters_equal_the_authors_code(name):
    with torch.device("meta"):
        model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMS[name]
    assert sum(math.prod(s) for s in official_keys(name).values()) == OFFICIAL_PARAMS[name]
    info = model_info(name)
    assert info.family == "field" and info.convention == "kalantari"
    assert type(model).convention is KALANTARI and model.size_multiple == 1


@pytest.mark.parametrize("name", sorted(OFFICIAL_PARAMS))
def test_the_converter_maps_every_official_key_onto_ours(name):
    with torch.device("meta"):
        model = create_model(name)
    theirs = {k: torch.empty(shape, device="meta") for k, shape in official_keys(name).items()}
    ours = official_converter(name)(theirs)
    own = model.state_dict()
    assert set(ours) == set(own)
    assert all(ours[k].shape == own[k].shape for k in own)
    # a pure renaming: one of ours per key of theirs, the tensors themselves untouched
    assert len(ours) == len(theirs) and {id(v) for v in ours.values()} == {id(v) for v in theirs.values()}


def test_safnet_s_and_safnet_share_the_flow_branch_keys():
    s, full = official_converter("safnet-s"), official_converter("safnet")
    shared = {k: torch.empty(1) for k in official_keys("safnet") if not k.startswith("refinenet.")}
    assert s(shared).keys() == full(shared).keys()


@pytest.mark.parametrize("name", sorted(OFFICIAL_PARAMS))
@pytest.mark.parametrize("size", [(37, 53), (64, 96)])
def test_forward_at_small_sizes_any_size_without_padding(name, size):
    model = create_model(name).eval()
    h, w = size
    ev = torch.tensor([[-2.0, 0.0, 2.0], [-3.0, 0.0, 1.0]])
    with torch.no_grad():
        out = model(torch.rand(2, 3, 3, h, w), ev)
    assert out.shape == (2, 3, h, w) and torch.isfinite(out).all()
    # linear output clamped to [0, 1] on the shortest frame's scale, as the authors' code does:
    # in the contract that is at most (2 ** stops below the medium) ** (1 / 2.24)
    bound = (2.0 ** -ev.amin(1)) ** (1 / 2.24)
    assert (out >= 0).all() and (out.amax(dim=(1, 2, 3)) <= bound * (1 + 1e-5)).all()


@pytest.mark.parametrize("name", sorted(OFFICIAL_PARAMS))
def test_ntire_count_equals_torchinfo_and_the_published_figures(name):
    torchinfo = pytest.importorskip("torchinfo")  # a dev dependency; only this count test needs it
    with torch.device("meta"):
        model = create_model(name)
    ours = count(model, hdr_input_shapes(256, 256))["maccs_ntire"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchinfo 1.6 touches the deprecated TypedStorage
        inputs = [torch.empty(1, 3, 3, 256, 256, device="meta"), torch.zeros(1, 3, device="meta")]
        stats = torchinfo.summary(model, input_data=inputs, device="meta", verbose=0)
    assert ours == stats.total_mult_adds
    assert round(ours / 1e9, 3 if name == "safnet-s" else 2) == TORCHINFO_256_G[name]
    # the paper's thop figure on the full Kalantari image is the same count (old thop = torchinfo here)
    full = count(model, hdr_input_shapes(1500, 1000))["maccs_ntire"]
    assert full / 1e12 == pytest.approx(PAPER_THOP_1500x1000_T[name], rel=0.005)


@pytest.mark.parametrize("name", sorted(OFFICIAL_PARAMS))
def test_forward_at_full_resolutions_on_meta(name):
    with torch.device("meta"):
        model = create_model(name)
        for h, w in ((1000, 1500), (1060, 1900)):
            assert model(torch.empty(1, 3, 3, h, w), torch.zeros(1, 3)).shape == (1, 3, h, w)


def test_reconstruct_gets_kalantari_inputs_and_builds_the_authors_network_input(monkeypatch):
    model = create_model("safnet-s").eval()
    seen = {}

    def capture(ldrs, ev):
        seen["ldrs"], seen["ev"] = ldrs, ev
        return ldrs[:, 1] ** 2.2 / 2.0 ** ev[:, 1, None, None, None]

    monkeypatch.setattr(model, "reconstruct", capture)
    ldrs = torch.rand(1, 3, 3, 8, 8)
    model(ldrs, torch.tensor([[-2.0, 0.0, 2.0]]))
    assert torch.allclose(seen["ldrs"], ldrs ** (2.24 / 2.2), atol=1e-6)  # gamma 2.2
    assert seen["ev"].tolist() == [[0.0, 2.0, 4.0]]  # relative to the shortest frame
    # their loader: linear = ldr ** 2.2 / 2 ** (ev - min ev), concatenated before the LDR
    frames = SAFNet.network_inputs(model, seen["ldrs"], seen["ev"])
    for i, stops in enumerate((0.0, 2.0, 4.0)):
        expected = torch.cat([seen["ldrs"][:, i] ** 2.2 / 2.0**stops, seen["ldrs"][:, i]], 1)
        assert torch.allclose(frames[i], expected)


def test_warp_by_zero_flow_is_identity_and_by_whole_pixels_a_shift():
    x = torch.rand(1, 2, 9, 11)
    assert torch.allclose(warp(x, torch.zeros(1, 2, 9, 11)), x, atol=1e-6)
    flow = torch.zeros(1, 2, 9, 11)
    flow[:, 0] = 2.0  # sample two pixels to the right
    assert torch.allclose(warp(x, flow)[..., :-2], x[..., 2:], atol=1e-5)
    assert torch.allclose(warp(x, flow)[..., -1], x[..., -1], atol=1e-6)  # border padding


def test_merge_recovers_a_consistent_radiance():
    radiance = torch.full((1, 3, 4, 4), 0.05)
    frames = []
    for stops in (0.0, 2.0, 4.0):
        ldr = (radiance * 2**stops).clamp(0, 1) ** (1 / 2.2)
        frames.append(torch.cat([ldr**2.2 / 2**stops, ldr], 1))
    ones = torch.ones(1, 1, 4, 4)
    for masks in ((ones, ones), (0 * ones, 0 * ones), (0.3 * ones, 0.7 * ones)):
        assert torch.allclose(merge_exposures(frames, *masks), radiance, rtol=1e-4)
