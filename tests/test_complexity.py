"""Tests of bench/complexity/ and the `profile` command.

Reference numbers come from the tools themselves (torchinfo 1.6, fvcore, thop, ptflops run here on
small real tensors), from hand-computed single layers, and from the published AHDR count.
"""

from __future__ import annotations

import json
import os
import resource
import tracemalloc

import pytest
import torch
import torch.nn.functional as F
import torchinfo
from torch import nn

from bench import complexity as cx
from bench.cli import main as cli_main
from models.blocks import HDRModel, frame_inputs
from models.registry import create_model, list_models

SMALL = (48, 32)  # width, height: enough for every model's downsampling, cheap on a real forward


def _torchinfo(model: nn.Module, shapes: list[tuple[int, ...]]) -> tuple[int, int]:
    s = torchinfo.summary(model, input_size=shapes, verbose=0, device="cpu")
    return int(s.total_mult_adds), int(s.total_params)


class _Single(nn.Module):
    """Wraps one layer (or function) so that its inputs can be any shape."""

    def __init__(self, layer: nn.Module | None = None, fn=None) -> None:
        super().__init__()
        self.layer = layer
        self.fn = fn

    def forward(self, x):
        return self.fn(x) if self.fn is not None else self.layer(x)


# --- torchinfo 1.6 equality (ntire convention) ------------------------------------------------


@pytest.mark.parametrize("name", list_models())
def test_ntire_equals_torchinfo_for_every_registered_model(name):
    w, h = SMALL
    model = create_model(name).eval()
    ti_maccs, ti_params = _torchinfo(model, cx.hdr_input_shapes(w, h))
    rec = cx.profile(name, w, h)  # built on the meta device, counted on meta tensors
    assert (rec["maccs"], rec["params"]) == (ti_maccs, ti_params)
    assert rec["convention"] == "ntire" and rec["maccs"] == rec["maccs_ntire"]


class _Quirks(HDRModel):
    """Shared module, unused modules, a functional conv, a transposed conv, a non-conv layer with weights."""

    size_multiple = 2

    def __init__(self, unused: nn.Module) -> None:
        super().__init__()
        self.enc = nn.Conv2d(6, 8, 3, padding=1)  # shared by the three frames
        self.unused_conv = nn.Conv2d(8, 8, 3)  # never runs; its class does run elsewhere
        self.unused = unused
        self.down = nn.Conv2d(24, 8, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.norm = nn.GroupNorm(2, 8)
        self.w = nn.Parameter(torch.randn(3, 8, 1, 1))

    def reconstruct(self, ldrs, ev):
        f = torch.cat([F.leaky_relu(self.enc(x), 0.1) for x in frame_inputs(ldrs, ev)], 1)
        x = self.norm(self.up(self.down(f)))
        return F.relu(F.conv2d(x, self.w) + F.interpolate(x[:, :3], scale_factor=1.0, mode="bilinear"))


@pytest.mark.parametrize("unused", [nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8)], ids=["known-class", "new-class"])
def test_torchinfo_quirks_reproduced(unused):
    # torchinfo re-adds never-run modules only when their class never ran: BatchNorm2d's
    # parameters then count, an unused Conv2d's do not. Both must match torchinfo exactly.
    model = _Quirks(unused).eval()
    w, h = 20, 14
    ti_maccs, ti_params = _torchinfo(model, cx.hdr_input_shapes(w, h))
    rec = cx.profile(model, w, h)
    assert (rec["maccs"], rec["params"]) == (ti_maccs, ti_params)
    true = cx.profile(model, w, h, convention="true")
    unused_params = sum(p.numel() for p in model.unused_conv.parameters()) + sum(
        p.numel() for p in unused.parameters()
    )
    # true params: everything some op read, the functional conv's weight included, unused modules not.
    assert true["params"] == true["params_total"] - unused_params


# --- AHDR: the published count ----------------------------------------------------------------


def _c3(i: int, o: int, d: int = 1) -> nn.Conv2d:
    return nn.Conv2d(i, o, 3, padding=d, dilation=d)


class _DRDB(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.ModuleList(_c3(64 + 32 * i, 32, 2) for i in range(6))
        self.fuse = nn.Conv2d(256, 64, 1)

    def forward(self, x):
        feats = x
        for layer in self.dense:
            feats = torch.cat([feats, F.relu(layer(feats))], 1)
        return x + self.fuse(feats)


class _OriginalAHDR(nn.Module):
    """The original AHDRNet layout (Yan et al. 2019) as the NTIRE organizers ran it, written for this test.

    Every module class here runs at least once, so torchinfo leaves the two unused attention convs
    out (with, say, a never-called ModuleDict it would re-insert them: 1,515,139 parameters).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = _c3(6, 64)
        self.conv2 = _c3(192, 64)
        self.att11, self.att12, self.attConv1 = _c3(128, 128), _c3(128, 64), _c3(64, 64)  # attConv1 unused
        self.att31, self.att32, self.attConv3 = _c3(128, 128), _c3(128, 64), _c3(64, 64)  # attConv3 unused
        self.drdb1, self.drdb2, self.drdb3 = _DRDB(), _DRDB(), _DRDB()
        self.gff1, self.gff3, self.conv_up, self.conv3 = (
            nn.Conv2d(192, 64, 1),
            _c3(64, 64),
            _c3(64, 64),
            _c3(64, 3),
        )

    def forward(self, ldrs, ev):
        x1, x2, x3 = frame_inputs(ldrs, ev)
        f1, f2, f3 = (F.relu(self.conv1(x)) for x in (x1, x2, x3))
        f1 = f1 * torch.sigmoid(self.att12(F.relu(self.att11(torch.cat([f1, f2], 1)))))
        f3 = f3 * torch.sigmoid(self.att32(F.relu(self.att31(torch.cat([f3, f2], 1)))))
        x0 = self.conv2(torch.cat([f1, f2, f3], 1))
        x1 = self.drdb1(x0)
        x2 = self.drdb2(x1)
        x3 = self.drdb3(x2)
        x = self.gff3(self.gff1(torch.cat([x1, x2, x3], 1))) + f2
        return torch.sigmoid(self.conv3(self.conv_up(x)))


def test_original_ahdr_gives_the_published_count_at_1900x1060():
    with torch.device("meta"):
        model = _OriginalAHDR()
    rec = cx.profile(model, 1900, 1060)
    assert rec["maccs"] == 2_916_922_522_000  # 2916.92 G, as the paper and the challenge report print
    assert rec["params"] == 1_441_283
    # Without bias the same network counts 2913.69 G (protocol section 3): the true conv count.
    assert round(cx.profile(model, 1900, 1060, convention="true")["maccs"] / 1e9, 2) == 2913.69


@pytest.mark.skipif("ahdr" not in list_models(), reason="ahdr not registered")
def test_registered_ahdr_gives_the_published_count():
    rec = cx.profile("ahdr", 1900, 1060)
    assert (rec["maccs"], rec["params"]) == (2_916_922_522_000, 1_441_283)


# --- hand-computed single layers ----------------------------------------------------------------


def test_depthwise_dilated_conv():
    layer = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8)
    m, shape = _Single(layer), [(1, 8, 10, 12)]
    positions = 10 * 12
    ntire = cx.profile(m, 12, 10, input_shapes=shape)
    true = cx.profile(m, 12, 10, convention="true", input_shapes=shape)
    assert ntire["maccs"] == (8 * 9 + 8) * positions == _torchinfo(m, shape)[0]
    assert true["maccs"] == 8 * 9 * positions  # one 3x3 filter per channel, bias not a MAcc
    assert true["maccs_elementwise"] == 8 * positions  # the bias adds
    assert ntire["activations"] == 8 * positions and ntire["conv_calls"] == 1


def test_transposed_conv_both_conventions():
    layer = nn.ConvTranspose2d(4, 6, 2, stride=2)
    m, shape = _Single(layer), [(1, 4, 5, 7)]
    ntire = cx.profile(m, 7, 5, input_shapes=shape)
    true = cx.profile(m, 7, 5, convention="true", input_shapes=shape)
    # torchinfo prices it on its 10x14 output; really each weight element works once per input position.
    assert ntire["maccs"] == (4 * 6 * 2 * 2 + 6) * 10 * 14 == _torchinfo(m, shape)[0]
    assert true["maccs"] == 4 * 6 * 2 * 2 * 5 * 7
    assert (ntire["maccs"] - 6 * 10 * 14) == 4 * true["maccs"]  # stride^2 overcount, bias aside


@pytest.mark.parametrize("with_mask", [False, True])
def test_deformable_conv(with_mask):
    from torchvision.ops import DeformConv2d

    class Deform(nn.Module):
        def __init__(self):
            super().__init__()
            self.offset = nn.Conv2d(4, 27 if with_mask else 18, 3, padding=1)
            self.dcn = DeformConv2d(4, 6, 3, padding=1)

        def forward(self, x):
            o = self.offset(x)
            if with_mask:
                return self.dcn(x, o[:, :18], torch.sigmoid(o[:, 18:]))
            return self.dcn(x, o)

    m, shape, pos = Deform(), [(1, 4, 8, 8)], 64
    off_ch = 27 if with_mask else 18
    ntire = cx.profile(m, 8, 8, input_shapes=shape)
    true = cx.profile(m, 8, 8, convention="true", input_shapes=shape)
    assert ntire["maccs"] == ((4 * off_ch * 9 + off_ch) + (4 * 6 * 9 + 6)) * pos == _torchinfo(m, shape)[0]
    taps = 4 * 9 * pos  # sampled input values: channels x kernel taps x output positions
    sampling = taps * (4 + (1 if with_mask else 0))  # 4 bilinear neighbours, plus the modulation
    assert true["maccs"] == 4 * off_ch * 9 * pos + 4 * 6 * 9 * pos + sampling
    assert true["conv_calls"] == 2


@pytest.mark.parametrize("mode,per_element", [("bilinear", 4), ("bicubic", 16), ("nearest", 0)])
def test_interpolation(mode, per_element):
    m, shape = _Single(fn=lambda x: F.interpolate(x, scale_factor=2, mode=mode)), [(1, 3, 5, 7)]
    true = cx.profile(m, 7, 5, convention="true", input_shapes=shape)
    ntire = cx.profile(m, 7, 5, input_shapes=shape)
    assert true["maccs"] == per_element * 3 * 10 * 14
    assert ntire["maccs"] == 0 and true["uncounted_ops"] == {}


def test_elementwise_ops_have_their_own_column():
    m, shape = _Single(fn=lambda x: torch.sigmoid(x) * x + x), [(1, 2, 3, 4)]
    true = cx.profile(m, 4, 3, convention="true", input_shapes=shape)
    assert true["maccs"] == 0 and true["maccs_elementwise"] == 3 * 24  # sigmoid, mul, add


def test_peak_memory_follows_liveness():
    m = nn.Sequential(nn.Conv2d(4, 8, 1), nn.Conv2d(8, 8, 1), nn.Conv2d(8, 4, 1))
    shape = [(1, 4, 8, 8)]
    weights = sum(p.numel() for p in m.parameters())
    for dtype, size in (("float32", 4), ("float16", 2)):
        rec = cx.profile(m, 8, 8, dtype=dtype, input_shapes=shape)
        # the input; then conv1's and conv2's outputs alive together (conv3's input and output: less).
        expected = (weights + 4 * 64 + (8 * 64 + 8 * 64)) * size
        assert rec["peak_memory_bytes"] == expected


def test_shape_shortcuts_match_meta_kernels():
    x = torch.empty(2, 3, 5, 7, device="meta")
    aten = torch.ops.aten
    for func, args in [
        (aten.leaky_relu.default, (x, 0.1)),
        (aten.upsample_bilinear2d.default, (x, [10, 14], False)),
        (aten.upsample_bilinear2d.vec, (x, None, False, [2.0, 1.5])),
        (aten.upsample_bilinear2d.vec, (x.to(memory_format=torch.channels_last), None, True, [0.5, 0.5])),
    ]:
        want, got = func(*args), cx.SHAPE_RULES[func](*args)
        assert (got.shape, got.dtype, got.stride()) == (want.shape, want.dtype, want.stride())


def test_per_layer_tree_sums_to_total():
    rec = cx.profile(_Quirks(nn.Identity()), 20, 14, per_layer=True)
    rows = {r["path"]: r for r in rec["layers"]}
    assert rows[""]["maccs"] == rec["maccs"] and rows[""]["share"] == 1.0
    assert rows["enc"]["calls"] == 3 and rows["unused_conv"]["maccs"] == 0
    top = [r for r in rec["layers"] if r["depth"] == 1]
    assert sum(r["maccs"] for r in top) == rec["maccs"]


def test_bad_convention_and_dtype_are_usage_errors():
    from bench.core import UsageError

    with pytest.raises(UsageError, match="convention"):
        cx.profile(nn.Identity(), 4, 4, convention="flops", input_shapes=[(1, 1)])
    with pytest.raises(UsageError, match="dtype"):
        cx.profile(nn.Identity(), 4, 4, dtype="int8", input_shapes=[(1, 1)])


# --- zero compute at full resolution ------------------------------------------------------------


def test_largest_model_at_4k_within_memory_bound():
    names = list_models()
    if not names:
        pytest.skip("no registered model")
    with torch.device("meta"):
        largest = max(names, key=lambda n: sum(p.numel() for p in create_model(n).parameters()))
    cx.profile(largest, 64, 64)  # warm-up: imports and torch's lazy initialisation
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        rec = cx.profile(largest, 3840, 2160, convention="true")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    # A real forward would need gigabytes (the record itself estimates how many).
    assert rec["peak_memory_bytes"] > 1e9
    assert peak < 50 * 2**20, f"{largest}: Python allocations peaked at {peak / 2**20:.1f} MiB"
    assert grown_mib < 200, f"{largest}: peak RSS grew by {grown_mib:.0f} MiB"


# --- cross-check with fvcore, thop, ptflops -----------------------------------------------------


class _ConvsOnly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(6, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)

    def forward(self, ldrs, ev):
        return self.up(self.dw(self.a(frame_inputs(ldrs, ev)[1])))[:, :3]


def test_conv_maccs_agree_with_every_tool_once_bias_is_removed():
    res = cx.cross_check(_ConvsOnly(), 16, 12)
    tools = {t["tool"]: t for t in res["tools"]}
    conv, bias = res["ours"]["conv"], res["parts"]["conv_bias"]
    assert conv == res["ours"]["true"]
    assert tools["fvcore"]["maccs"] == conv
    assert tools["thop"]["maccs"] == conv
    assert tools["ptflops"]["maccs"] - bias == conv
    assert tools["torchinfo"]["maccs"] == res["ours"]["ntire"]


@pytest.mark.parametrize("name", [n for n in ("eapnet-standard", "adnet", "ahdr") if n in list_models()])
def test_cross_check_explains_every_difference(name):
    res = cx.cross_check(name, 32, 32)
    for t in res["tools"]:
        assert "error" not in t, t
        assert t["residual"] == 0, f"{name}/{t['tool']}: {t['maccs']:,} vs expected {t['expected']:,}"


def test_cross_check_explains_functional_ops():
    res = cx.cross_check(_Quirks(nn.Identity()), 20, 14)
    for t in res["tools"]:
        assert t["residual"] == 0, t
    assert res["parts"]["conv_functional"] > 0 and res["parts"]["transposed_extra"] > 0


# --- the command --------------------------------------------------------------------------------


def test_cli_profile_json_csv_and_tables(tmp_path, capsys):
    name = (list_models("eapnet-*") or list_models())[0]
    out_json, out_csv = tmp_path / "p.json", tmp_path / "p.csv"
    rc = cli_main(["profile", "--models", name, "--size", "64x48", "--per-layer", "--by-op",
                   "--json", str(out_json), "--csv", str(out_csv)])  # fmt: skip
    assert rc == 0
    printed = capsys.readouterr().out
    assert name in printed and "share" in printed and "64x48" in printed
    (rec,) = json.loads(out_json.read_text())
    for key in ("model", "width", "height", "convention", "maccs", "params", "params_total", "activations",
                "conv_calls", "peak_memory_bytes"):  # fmt: skip
        assert key in rec
    assert (rec["model"], rec["width"], rec["height"]) == (name, 64, 48)
    assert rec["maccs"] == cx.profile(name, 64, 48)["maccs"]
    header, row = out_csv.read_text().splitlines()
    assert header.startswith("model,width,height") and row.startswith(f"{name},64,48")
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_cli_cross_check(tmp_path, capsys):
    name = (list_models("eapnet-lightweight") or list_models())[0]
    out = tmp_path / "x.json"
    assert (
        cli_main(["profile", "--cross-check", "--models", name, "--size", "32x32", "--json", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "fvcore" in printed and "explained" in printed and "UNEXPLAINED" not in printed
    assert json.loads(out.read_text())[0]["model"] == name


def _exit_code(argv: list[str]) -> int:
    try:
        return cli_main(argv)
    except SystemExit as exc:  # argparse rejects bad choices itself, also with code 2
        return int(exc.code)


@pytest.mark.parametrize(
    "argv",
    [["--size", "64by48"], ["--models", "no-such-model"], ["--convention", "flops"], ["--depth", "-1"]],
)
def test_cli_bad_input_exits_2(argv, capsys):
    assert _exit_code(["profile", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err and len(err.splitlines()) == 1


def test_counting_leaves_a_real_model_untouched():
    model = _Quirks(nn.Identity()).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rec = cx.profile(model, 20, 14, dtype="float16")
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) and v.device.type == "cpu" for k, v in model.state_dict().items())
    assert rec["maccs"] == cx.profile(model, 20, 14)["maccs"]  # MAccs do not depend on the dtype


def test_matmuls_priced_whatever_their_keyword_scalars():
    class Affine(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(8, 4)
            self.w, self.b = nn.Parameter(torch.randn(8, 4)), nn.Parameter(torch.randn(4))

        def forward(self, x):
            # addmm with beta/alpha: aten receives them as keyword arguments after the tensors
            return self.linear(x) + torch.addmm(self.b, x, self.w, beta=0.5, alpha=2.0)

    true = cx.profile(Affine(), 1, 1, convention="true", input_shapes=[(2, 8)])
    assert true["maccs"] == 2 * (2 * 8 * 4)  # two [2, 8] x [8, 4] products
    assert true["by_op"] == {"addmm": 2 * 2 * 8 * 4} and true["uncounted_ops"] == {}


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["--models", "eapnet-lightweight", "--size", "16x16", "--json", "."], "is a folder"),
        (["--models", "eapnet-lightweight", "--size", "16x16", "--csv", "."], "is a folder"),
        (
            ["--cross-check", "--models", "eapnet-lightweight", "--per-layer"],
            "--per-layer cannot be combined",
        ),
    ],
)
def test_cli_bad_outputs_and_combinations_exit_2_before_any_work(argv, fragment, capsys):
    assert _exit_code(["profile", "--no-store", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1
