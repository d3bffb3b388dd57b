"""The field's convolutional networks (issue 13): ahdrnet, gsanet, drhdr.

Parameter counts are the authors' code's, counted from their public repositories (the fixtures in
``tests/fixtures/official_keys/`` hold their state-dict key names and shapes, and the total).
Full-resolution counts run on meta tensors; forwards with numbers run at tiny sizes.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from bench.complexity import count, hdr_input_shapes
from models.ahdr import kalantari_frame_inputs
from models.conventions import KALANTARI, NTIRE
from models.official import official_converter
from models.registry import create_model, model_info

FIXTURES = Path(__file__).parent / "fixtures" / "official_keys"
FIELD = ["ahdrnet", "gsanet", "drhdr"]
OFFICIAL_PARAMS = {"ahdrnet": 1_515_139, "gsanet": 80_647, "drhdr": 1_222_035}


def official_keys(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def official_state(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict under the authors' key names and shapes, with random values."""
    gen = torch.Generator().manual_seed(seed)
    keys = official_keys(name)["keys"]
    return {k: torch.randn(shape, generator=gen) * 0.05 for k, shape in keys.items()}


def meta_model(name: str) -> torch.nn.Module:
    with torch.device("meta"):
        return create_model(name)


def torchinfo_count(name: str, h: int, w: int) -> tuple[int, int]:
    """torchinfo 1.6's (MAccs, params) of our model, on the meta device."""
    torchinfo = pytest.importorskip("torchinfo")  # a dev dependency; only the count tests need it
    ldrs = torch.empty(1, 3, 3, h, w, device="meta")
    ev = torch.zeros(1, 3, device="meta")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchinfo 1.6 touches the deprecated TypedStorage
        stats = torchinfo.summary(meta_model(name), input_data=[ldrs, ev], device="meta", verbose=0)
    return stats.total_mult_adds, stats.total_params


def contract_inputs(h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, 3, h, w, generator=gen), torch.tensor([[-2.0, 0.0, 2.0]])


# --------------------------------------------------------------------------------- registry


@pytest.mark.parametrize("name", FIELD)
def test_parameters_equal_the_authors_code(name):
    model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMS[name]
    assert official_keys(name)["params"] == OFFICIAL_PARAMS[name]  # the fixture was counted, not typed


@pytest.mark.parametrize(
    ("name", "convention"), [("ahdrnet", "kalantari"), ("gsanet", "ntire"), ("drhdr", "ntire")]
)
def test_registered_in_the_field_family_with_its_convention(name, convention):
    info = model_info(name)
    assert info.family == "field" and info.convention == convention
    assert create_model(name).convention.name == convention


def test_ahdrnet_is_a_configuration_of_ahdr():
    ahdr, ahdrnet = create_model("ahdr"), create_model("ahdrnet")
    assert type(ahdr) is type(ahdrnet)
    assert ahdr.convention is NTIRE and ahdrnet.convention is KALANTARI
    extra = set(ahdrnet.state_dict()) - set(ahdr.state_dict())
    assert extra == {f"att_{f}.unused_conv.{p}" for f in ("short", "long") for p in ("weight", "bias")}


# ----------------------------------------------------------------------------------- counts


def test_gsanet_counts_its_published_ntire_figure_exactly():
    # 199.388014513 GMAccs: the authors' challenge readme, torchinfo at (1,3,3,1060,1900)+(1,3)
    assert torchinfo_count("gsanet", 1060, 1900) == (199_388_014_513, 80_647)
    assert count(meta_model("gsanet"), hdr_input_shapes(1900, 1060))["maccs_ntire"] == 199_388_014_513


def test_ahdrnet_torchinfo_matches_the_field_table_and_ignores_the_unused_convs():
    # field_published.csv: torchinfo 94.92 G at 3x256x256; torchinfo 1.6 skips the two unused convs
    maccs, params = torchinfo_count("ahdrnet", 256, 256)
    assert maccs == 94_917_296_128 and params == 1_515_139 - 2 * (64 * 64 * 9 + 64)
    assert torchinfo_count("ahdrnet", 1060, 1900)[0] == 2_916_922_522_000  # the same convs as ahdr


@pytest.mark.parametrize("name", FIELD)
@pytest.mark.parametrize(("w", "h"), [(1500, 1000), (1900, 1060)])
def test_full_resolution_counts_on_meta_tensors(name, w, h):
    counts = count(meta_model(name), hdr_input_shapes(w, h))
    assert counts["params_total"] == OFFICIAL_PARAMS[name]
    # every op priced under `true`, except PReLU (GSANet's one), whose rule bench/complexity lacks so far
    assert set(counts["uncounted_ops"]) <= {"_prelu_kernel"}
    assert counts["maccs_true"] > 0.98 * counts["maccs_ntire"]  # ntire adds only biases (and PReLU)
    if (w, h) == (1900, 1060):
        assert counts["maccs_ntire"] == torchinfo_count(name, h, w)[0]


# --------------------------------------------------------------------------------- forwards


@pytest.mark.parametrize("name", FIELD)
@pytest.mark.parametrize(("h", "w"), [(16, 24), (17, 23)])  # 17x23: not a multiple of any stride
def test_forward_at_small_sizes(name, h, w):
    ldrs, ev = contract_inputs(h, w)
    with torch.no_grad():
        out = create_model(name).eval()(ldrs, ev)
    assert out.shape == (1, 3, h, w)
    assert torch.isfinite(out).all() and out.min() >= 0


def test_gsanet_pads_odd_sizes_and_crops_back():
    model = create_model("gsanet").eval()
    ldrs, ev = contract_inputs(17, 23)
    padded = torch.nn.functional.pad(ldrs.reshape(3, 3, 17, 23), (0, 1, 0, 1), mode="replicate")
    with torch.no_grad():
        full = model(padded.reshape(1, 3, 3, 18, 24), ev)
        cropped = model(ldrs, ev)
    torch.testing.assert_close(cropped, full[..., :17, :23])


def test_gsanet_takes_rgb_and_feeds_its_weights_bgr():
    bgr = create_model("gsanet").eval()
    rgb = create_model("gsanet", channel_order="rgb").eval()
    rgb.load_state_dict(bgr.state_dict())
    ldrs, ev = contract_inputs(16, 24)
    with torch.no_grad():
        torch.testing.assert_close(bgr(ldrs, ev), rgb(ldrs.flip(2), ev).flip(1))
    with pytest.raises(ValueError, match="channel_order"):
        create_model("gsanet", channel_order="rgba")


def test_ahdrnet_builds_the_authors_inputs_and_returns_linear_hdr():
    # the MATLAB loader: per frame [ldr, clip(ldr)^2.2 / 2^ev], ev from exposure.txt (shortest = 0)
    ldrs = torch.rand(1, 3, 3, 4, 5)
    ev = torch.tensor([[0.0, 2.0, 4.0]])
    frames = kalantari_frame_inputs(ldrs, ev)
    for i, x in enumerate(frames):
        torch.testing.assert_close(x, torch.cat([ldrs[:, i], ldrs[:, i] ** 2.2 / 2 ** ev[0, i].item()], 1))
    # through the contract: gamma 2.24 / medium-relative EVs in, gamma-encoded HDR on the medium's scale out
    model = create_model("ahdrnet").eval()
    contract_ldrs, contract_ev = ldrs ** (2.2 / 2.24), ev - ev[:, 1:2]
    with torch.no_grad():
        native = model.reconstruct(ldrs, ev)  # linear, shortest frame's scale
        out = model(contract_ldrs, contract_ev)
    torch.testing.assert_close(out, (native * 2.0**2).clamp(min=0) ** (1 / 2.24), atol=1e-5, rtol=1e-5)


def test_drhdr_deformable_offsets_change_the_output():
    model = create_model("drhdr").eval()
    model.load_state_dict(official_converter("drhdr")(official_state("drhdr")))
    with torch.no_grad():
        torch.nn.init.zeros_(model.align_short.dcn.offset_mask.weight)  # a plain conv, taps weighted 0.5
        ldrs, ev = contract_inputs(16, 24)
        before = model(ldrs, ev)
        torch.nn.init.normal_(model.align_short.dcn.offset_mask.weight, 0, 0.05)
        after = model(ldrs, ev)
    assert not torch.allclose(before, after)


# ------------------------------------------------------------------------- official weights


@pytest.mark.parametrize("name", FIELD)
def test_official_state_dict_loads_strictly_after_conversion(name):
    official = official_state(name)
    converted = official_converter(name)(official)
    model = create_model(name)
    model.load_state_dict(converted, strict=True)
    # a pure renaming: every tensor arrives unchanged under its new name
    assert sorted(id(t) for t in converted.values()) == sorted(id(t) for t in official.values())
    assert model.state_dict().keys() == converted.keys()


@pytest.mark.parametrize("name", FIELD)
def test_official_state_dict_from_data_parallel_converts(name):
    official = {f"module.{k}": v for k, v in official_state(name).items()}
    create_model(name).load_state_dict(official_converter(name)(official), strict=True)


@pytest.mark.parametrize("name", FIELD)
def test_missing_or_extra_official_key_is_refused(name):
    official = official_state(name)
    missing = dict(official)
    dropped = next(iter(missing))
    del missing[dropped]
    with pytest.raises(RuntimeError, match="Missing key"):
        create_model(name).load_state_dict(official_converter(name)(missing), strict=True)
    extra = {**official, "extra_head.weight": torch.zeros(3)}
    with pytest.raises(RuntimeError, match="Unexpected key"):
        create_model(name).load_state_dict(official_converter(name)(extra), strict=True)
