"""The EAPNet family: forward contract, gradients, and the paper's complexity figures.

Counts use torchinfo 1.6 (the NTIRE organizers' tool) on the meta device: no full-resolution
tensor is allocated and no arithmetic is done.
"""

import pytest
import torch
import torchinfo

from models.eapnet import EAPNet, EAPNetConfig
from models.registry import create_model, list_models

EAPNETS = list_models("eapnet-*")
NTIRE_INPUT = [(1, 3, 3, 1060, 1900), (1, 3)]

# bench/paper_tables.csv: GMAccs of Table 1 and Table 2, params of Tables 4 and 5
PAPER_GMACCS = {
    "eapnet-exp1": 152.11,
    "eapnet-exp2": 137.66,
    "eapnet-exp3": 121.03,
    "eapnet-exp4": 146.28,
    "eapnet-exp5": 121.03,
    "eapnet-exp6": 146.28,
    "eapnet-exp7": 126.43,
    "eapnet-exp8": 198.38,
    "eapnet-lightweight": 146.28,
    "eapnet-standard": 198.38,
    "eapnet-lightweight-pdub2": 128.25,
    "eapnet-lightweight-pdub3": 146.28,
    "eapnet-lightweight-pdub4": 164.31,
    "eapnet-lightweight-pdub5": 182.34,
}
PAPER_PARAMS = {"eapnet-standard": 576.23e3, "eapnet-lightweight": 393.73e3}


def ntire_count(name: str) -> tuple[int, int]:
    with torch.device("meta"):
        model = create_model(name)
    s = torchinfo.summary(model, input_size=NTIRE_INPUT, device="meta", verbose=0)
    return s.total_mult_adds, s.total_params


@pytest.fixture(scope="module")
def counts():
    return {name: ntire_count(name) for name in EAPNETS}


def test_every_paper_row_is_registered():
    assert set(PAPER_GMACCS) <= set(EAPNETS)


@pytest.mark.parametrize("name", EAPNETS)
def test_forward_small_input(name):
    model = create_model(name).eval()
    ldrs = torch.rand(2, 3, 3, 64, 96)
    ev = torch.tensor([[-2.0, 0.0, 2.0], [-3.0, 0.0, 3.0]])
    with torch.no_grad():
        out = model(ldrs, ev)
    assert out.shape == (2, 3, 64, 96)
    assert torch.isfinite(out).all()
    assert (out >= 0).all()  # ReLU output: non-negative, unbounded


def test_odd_sizes_are_padded_and_cropped_back():
    model = create_model("eapnet-standard").eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 3, 67, 101), torch.tensor([[-2.0, 0.0, 2.0]]))
    assert out.shape == (1, 3, 67, 101)


def test_bad_inputs_are_rejected_clearly():
    model = create_model("eapnet-lightweight")
    with pytest.raises(ValueError, match="ldrs must be"):
        model(torch.rand(1, 3, 64, 64), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="ev must be"):
        model(torch.rand(1, 3, 3, 64, 64), torch.zeros(3))


@pytest.mark.parametrize("name", ["eapnet-standard", "eapnet-lightweight", "eapnet-exp1", "eapnet-exp4"])
def test_gradients_reach_every_parameter(name):
    model = create_model(name)
    out = model(torch.rand(1, 3, 3, 64, 64), torch.tensor([[-2.0, 0.0, 2.0]]))
    out.mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"parameters without a finite gradient: {missing[:5]}"


def test_exposure_changes_the_output():
    # EV alignment happens inside the model: the same pixels at other EVs give another answer.
    model = create_model("eapnet-lightweight").eval()
    ldrs = torch.rand(1, 3, 3, 64, 64)
    with torch.no_grad():
        a = model(ldrs, torch.tensor([[-2.0, 0.0, 2.0]]))
        b = model(ldrs, torch.tensor([[-3.0, 0.0, 3.0]]))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("name", [n for n in PAPER_GMACCS if n not in ("eapnet-exp1", "eapnet-exp2")])
def test_gmaccs_within_1_percent_of_paper(counts, name):
    maccs, _ = counts[name]
    assert abs(maccs / 1e9 / PAPER_GMACCS[name] - 1) < 0.01


@pytest.mark.parametrize("name", ["eapnet-exp1", "eapnet-exp2"])
def test_drdb_rows_within_2_percent(counts, name):
    maccs, _ = counts[name]
    assert abs(maccs / 1e9 / PAPER_GMACCS[name] - 1) < 0.02


@pytest.mark.parametrize("name", list(PAPER_PARAMS))
def test_params_within_1_percent_of_paper(counts, name):
    _, params = counts[name]
    assert abs(params / PAPER_PARAMS[name] - 1) < 0.01


def test_paper_identities(counts):
    # Table 2 is exactly linear: one PDUB adds 18.03 G.
    steps = [
        counts[f"eapnet-lightweight-pdub{n + 1}"][0] - counts[f"eapnet-lightweight-pdub{n}"][0]
        for n in (2, 3, 4)
    ]
    assert len(set(steps)) == 1 and abs(steps[0] / 1e9 - 18.03) < 0.1
    # Weight sharing changes parameters, not MAccs (each call is counted).
    assert counts["eapnet-exp3"][0] == counts["eapnet-exp5"][0]
    assert counts["eapnet-exp4"][0] == counts["eapnet-exp6"][0]
    assert counts["eapnet-exp3"][1] < counts["eapnet-exp5"][1]
    # Aliases are the same network.
    assert counts["eapnet-exp6"] == counts["eapnet-lightweight"] == counts["eapnet-lightweight-pdub3"]
    assert counts["eapnet-exp8"] == counts["eapnet-standard"]


def test_depthwise_separable_everywhere_but_first_and_last():
    model = EAPNet(EAPNetConfig())
    dense3x3 = [
        n
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) and m.groups == 1
    ]
    # per frame: the encoder's first conv and its stride-2 low-branch conv; plus the output conv
    assert sorted(dense3x3) == sorted(
        [f"encoders.{i}.head.0" for i in range(3)] + [f"encoders.{i}.low.0" for i in range(3)] + ["head"]
    )
