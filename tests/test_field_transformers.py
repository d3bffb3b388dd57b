"""HDR-Transformer and SCTNet (issue 13): the field's window-attention networks.

The expected numbers are facts of the authors' public code (``field_published.csv``:
``params_official_code``; torchinfo 1.6.6 on their models at 3x256x256), and the official
state-dict names and shapes are in ``tests/fixtures/official_keys/``. Full resolutions run on the
meta device (shapes only); real forwards at tiny sizes.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from models.attention import (
    MASK_LOGIT,
    SwinBlock,
    pad_frames,
    relative_position_index,
    shifted_window_mask,
    window_partition,
    window_reverse,
)
from models.conventions import KALANTARI
from models.hdr_transformer import sig17_frame_inputs
from models.official import official_converter
from models.registry import create_model, model_info
from models.sctnet import ChannelLayerNorm

FIXTURES = Path(__file__).parent / "fixtures" / "official_keys"
NAMES = ["hdr-transformer", "sctnet"]
OFFICIAL_PARAMS = {"hdr-transformer": 1_222_113, "sctnet": 994_555}  # params_official_code
# torchinfo 1.6.6 on the authors' own models, inputs 3 x [1, 6, 256, 256] (measured_GMACs_torchinfo_3x256x256)
OFFICIAL_TORCHINFO_256 = {"hdr-transformer": 43_010_936_328, "sctnet": 12_869_920_808}
ONE_STAGE = {"depths": (2,), "heads": (6,)}  # the same layers, fewer of them: fast forwards


def official_state(name: str, prefix: str = "") -> dict[str, torch.Tensor]:
    """A random state dict under the authors' key names and shapes (as their checkpoints hold it)."""
    keys = json.loads((FIXTURES / f"{name}.json").read_text())["keys"]
    gen = torch.Generator().manual_seed(1)
    return {
        prefix + k: torch.randn(v["shape"], generator=gen).to(getattr(torch, v["dtype"]))
        for k, v in keys.items()
    }


def contract_inputs(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(1, 3, 3, h, w), torch.tensor([[-2.0, 0.0, 2.0]])


# ------------------------------------------------------------------------------ registration


@pytest.mark.parametrize("name", NAMES)
def test_parameters_equal_the_authors_code(name):
    model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMS[name]


@pytest.mark.parametrize("name", NAMES)
def test_registered_as_kalantari_field_networks(name):
    info = model_info(name)
    assert (info.family, info.convention) == ("field", "kalantari")
    assert create_model(name).convention is KALANTARI


# ------------------------------------------------------------------------------ forward


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [(24, 40), (21, 27)])  # a window multiple, and one padded to 24x32
def test_forward_at_small_sizes(name, size):
    model = create_model(name).eval()
    ldrs, ev = contract_inputs(*size)
    with torch.no_grad():
        out = model(ldrs, ev)
    assert out.shape == (1, 3, *size)
    assert torch.isfinite(out).all() and (out >= 0).all()
    # sigmoid-bounded linear HDR on the shortest frame's scale (2 stops under the medium here)
    assert out.max() <= (2.0**2) ** (1 / 2.24) + 1e-5


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("width,height", [(1500, 1000), (1900, 1060)])
def test_forward_on_meta_at_full_resolution(name, width, height):
    with torch.device("meta"):
        model = create_model(name).eval()
    ldrs = torch.empty(1, 3, 3, height, width, device="meta")
    out = model(ldrs, torch.zeros(1, 3, device="meta"))
    assert out.shape == (1, 3, height, width) and out.is_meta


def test_hdr_transformer_pads_with_ones_like_the_authors_loader():
    model = create_model("hdr-transformer", **ONE_STAGE).eval()
    ldrs, ev = torch.rand(1, 3, 3, 21, 27), torch.tensor([[0.0, 2.0, 4.0]])
    filled = torch.ones(1, 3, 3, 24, 32)
    filled[..., :21, :27] = ldrs
    with torch.no_grad():
        assert torch.equal(model.reconstruct(ldrs, ev), model.reconstruct(filled, ev)[..., :21, :27])


def test_sctnet_reflect_pads_like_the_authors_forward():
    model = create_model("sctnet", **ONE_STAGE).eval()
    ldrs, ev = torch.rand(1, 3, 3, 21, 27), torch.tensor([[0.0, 2.0, 4.0]])
    reflected = F.pad(ldrs.view(1, 9, 21, 27), (0, 5, 0, 3), mode="reflect").view(1, 3, 3, 24, 32)
    with torch.no_grad():
        whole = model.reconstruct(ldrs, ev)
        # the same pixels (built channels are per pixel; only the last bit of ** may differ)
        assert torch.allclose(whole, model.reconstruct(reflected, ev)[..., :21, :27], atol=1e-5)
        ones = model.reconstruct(pad_frames(ldrs, 8, "ones"), ev)[..., :21, :27]
    assert not torch.allclose(whole, ones, atol=1e-5)  # the channel attention sees the padding


def test_inputs_are_built_as_the_sig17_loader_does():
    ldrs = torch.zeros(1, 3, 3, 2, 2)
    ldrs[0, 1, 0] = 0.5  # medium frame, red
    ev = torch.tensor([[0.0, 2.0, 4.0]])  # relative to the shortest frame
    short, medium, long = sig17_frame_inputs(ldrs, ev)
    assert medium.shape == (1, 6, 2, 2)
    # BGR order (OpenCV), linear first: channel 2 = red linear, channel 5 = red LDR
    assert torch.allclose(medium[0, 2], torch.full((2, 2), 0.5**2.2 / 4))
    assert torch.equal(medium[0, 5], torch.full((2, 2), 0.5))
    assert medium[0, [0, 1, 3, 4]].abs().max() == 0 and short.abs().max() == 0 and long.abs().max() == 0


# ------------------------------------------------------------------------------ counts


def torchinfo_256(name: str) -> tuple[int, int]:
    torchinfo = pytest.importorskip("torchinfo")  # a dev dependency; only the count tests need it
    with torch.device("meta"):
        model = create_model(name).eval()
    inputs = [torch.empty(1, 3, 3, 256, 256, device="meta"), torch.zeros(1, 3, device="meta")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchinfo 1.6 touches the deprecated TypedStorage
        stats = torchinfo.summary(model, input_data=inputs, device="meta", verbose=0)
    return stats.total_mult_adds, stats.total_params


@pytest.mark.parametrize("name", NAMES)
def test_torchinfo_counts_what_it_counts_on_the_authors_code(name):
    # Every linear layer sees the tensor shape it sees in the authors' code (windows for q/k/v and
    # the projection, all tokens for the MLPs), so torchinfo's batch x params rule gives their number.
    maccs, _ = torchinfo_256(name)
    assert maccs == OFFICIAL_TORCHINFO_256[name]


@pytest.mark.parametrize("name", NAMES)
def test_ntire_convention_equals_torchinfo(name):
    from bench import complexity  # here: the models' tests need nothing from bench otherwise

    counts = complexity.count(complexity.build_meta_model(name), complexity.hdr_input_shapes(256, 256))
    assert counts["maccs_ntire"] == torchinfo_256(name)[0]


# ------------------------------------------------------------------------------ official weights


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("prefix", ["", "module."])
def test_official_state_dict_converts_and_loads_strictly(name, prefix):
    state = official_state(name, prefix)
    converted = official_converter(name)(state)
    model = create_model(name)
    model.load_state_dict(converted, strict=True)
    # nothing is lost but the derived buffers (position index, shifted-window masks)
    derived = [k for k in state if k.endswith(("relative_position_index", "attn_mask"))]
    assert len(converted) == len(state) - len(derived) == len(model.state_dict())
    first_conv = {"hdr-transformer": "conv_f1.weight", "sctnet": "conv1.weight"}[name]
    assert torch.equal(model.frame_convs[0].weight, state[prefix + first_conv])


@pytest.mark.parametrize("name", NAMES)
def test_official_names_land_on_the_matching_layers(name):
    state = official_state(name)
    model = create_model(name)
    model.load_state_dict(official_converter(name)(state))
    if name == "hdr-transformer":
        pairs = {
            "att_module_h.att2.weight": model.att_short.conv2.weight,  # x1 (short) is att_module_h's
            "layers.2.dilated_conv.weight": model.stages[2].conv.weight,
            "layers.1.residual_group.blocks.3.lce.fc.2.weight": model.stages[1]
            .blocks[3]
            .context.gate[2]
            .weight,
        }
    else:
        pairs = {
            "channel_layers_rm.3.attn.project_out.weight": model.fuse_long[3].proj.weight,
            "channel_layers_lm.0.norm1_y.body.bias": model.fuse_short[0].norm_source.bias,
            "upsample.0.bias": model.out_conv.bias,
        }
    for key, ours in pairs.items():
        assert torch.equal(ours, state[key]), key


@pytest.mark.parametrize("name", NAMES)
def test_missing_or_extra_official_key_is_refused(name):
    model = create_model(name)
    state = official_state(name)
    missing = dict(list(state.items())[1:])
    with pytest.raises(RuntimeError, match="Missing key"):
        model.load_state_dict(official_converter(name)(missing), strict=True)
    extra = {**state, "layers.0.residual_group.blocks.0.attn.extra.weight": torch.zeros(3)}
    with pytest.raises(RuntimeError, match="Unexpected key"):
        model.load_state_dict(official_converter(name)(extra), strict=True)
    wrong = dict(state)
    first = next(iter(wrong))
    wrong[first] = torch.zeros(1)
    with pytest.raises(RuntimeError, match="size mismatch"):
        model.load_state_dict(official_converter(name)(wrong), strict=True)


# ------------------------------------------------------------------------------ attention pieces


def test_window_partition_round_trip_and_order():
    x = torch.arange(2 * 8 * 12 * 3, dtype=torch.float32).view(2, 8, 12, 3)
    windows = window_partition(x, 4)
    assert windows.shape == (2 * 2 * 3, 16, 3)
    assert torch.equal(windows[1, 0], x[0, 0, 4])  # second window of the first row starts at column 4
    assert torch.equal(window_reverse(windows, 4, 8, 12), x)


def test_relative_position_index_numbers_offsets_row_major():
    index = relative_position_index(2)  # pixels (0,0) (0,1) (1,0) (1,1); offsets in -1..1 -> (dy+1)*3+(dx+1)
    expected = torch.tensor([[4, 3, 1, 0], [5, 4, 2, 1], [7, 6, 4, 3], [8, 7, 5, 4]])
    assert torch.equal(index, expected)


def test_shifted_window_mask_separates_wrapped_regions():
    mask = shifted_window_mask(8, 8, window=4, shift=2, device="cpu")
    assert mask.shape == (4, 16, 16)
    assert set(mask.unique().tolist()) == {0.0, MASK_LOGIT}
    assert (mask[0] == 0).all()  # the top-left window holds no wrapped pixels
    # the bottom-right window holds four regions of 2x2 pixels: each pixel sees only its own 4
    assert ((mask[3] == 0).sum(-1) == 4).all()
    assert torch.equal(mask, mask.transpose(-2, -1))


def test_shifted_block_never_mixes_opposite_borders():
    block = SwinBlock(dim=6, heads=2, window=4, shift=2, mlp_ratio=2.0).eval()
    tokens = torch.randn(1, 64, 6)
    mask = shifted_window_mask(8, 8, 4, 2, "cpu")
    changed = tokens.clone()
    changed[0, 7 * 8 + 7] += 5.0  # bottom-right pixel: wraps next to the top-left one after the shift
    with torch.no_grad():
        delta = (block(changed, (8, 8), mask) - block(tokens, (8, 8), mask)).abs().sum(-1).view(8, 8)
    assert delta[0, 0] == 0 and delta[7, 7] > 0


def test_channel_layer_norm_is_layer_norm():
    x = torch.randn(2, 10, 20)
    norm = ChannelLayerNorm(20)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    assert torch.allclose(norm(x), F.layer_norm(x, (20,), norm.weight, norm.bias), atol=1e-5)
