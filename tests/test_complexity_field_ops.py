"""The ops of the field's transformer and warping networks, on toy modules: priced (`true`), counted
exactly as torchinfo 1.6 (`ntire`), and every profiler's total explained (cross-check)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bench.complexity as cx
from bench.complexity.builtin_rules import attention_cost
from models.blocks import HDRModel


class WindowAttention(nn.Module):
    """Swin-style: qkv Linear over all tokens, q @ k^T, relative bias, nn.Softmax, @ v, projection."""

    def __init__(self, dim: int = 16, heads: int = 2, window: int = 4) -> None:
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros(heads, window * window, window * window))
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B*nW, N, C]
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = self.softmax((q * 0.5) @ k.transpose(-2, -1) + self.bias_table)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class ToyTransformer(HDRModel):
    """Conv embedding, shifted-window attention (roll, unfold into windows), LayerNorm + GELU MLP,
    channel attention with F.normalize and a fused F.scaled_dot_product_attention, pixel shuffle."""

    size_multiple = 8

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Conv2d(9, dim, 3, padding=1)
        self.norm = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.temperature = nn.Parameter(torch.ones(1))
        self.up = nn.Conv2d(dim, 3 * 4, 3, padding=1)
        self.down = nn.Conv2d(dim * 4, dim, 1)

    def reconstruct(self, ldrs: torch.Tensor, ev: torch.Tensor) -> torch.Tensor:
        b, _, _, h, w = ldrs.shape
        x = self.embed(ldrs.flatten(1, 2))
        x = torch.roll(x, (-2, -2), (2, 3))
        c = x.shape[1]
        win = F.unfold(x, 4, stride=4).view(b, c, 16, -1).permute(0, 3, 2, 1).reshape(-1, 16, c)
        win = win + self.attn(self.norm(win))
        win = win + self.mlp(F.layer_norm(win, (c,)))
        x = F.fold(win.reshape(b, -1, 16, c).permute(0, 3, 2, 1).reshape(b, c * 16, -1), (h, w), 4, stride=4)
        t = F.normalize(x.flatten(2), dim=-1)
        chan = (t @ t.transpose(1, 2)) * self.temperature
        x = x + (chan.softmax(-1) @ x.flatten(2)).view_as(x)
        tokens = x.flatten(2).transpose(1, 2).unsqueeze(1)
        x = x + F.scaled_dot_product_attention(tokens, tokens, tokens).squeeze(1).transpose(1, 2).view_as(x)
        x = self.down(F.pixel_unshuffle(x, 2))
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return torch.sigmoid(F.pixel_shuffle(self.up(x), 2)[..., ::2, ::2])


class ToyWarp(HDRModel):
    """SAFNet-style: a flow head, grid_sample warping of the non-reference frames, squeeze-excitation, an explicit
    einsum / baddbmm / torch.matmul / x.mul() mix (the calls ptflops and thop treat differently)."""

    def __init__(self) -> None:
        super().__init__()
        self.flow = nn.Conv2d(9, 4, 3, padding=1)
        self.up = nn.ConvTranspose2d(3, 3, 4, stride=2, padding=1)
        self.merge = nn.Conv2d(9, 3, 1)
        # GSANet-style squeeze-excitation: PReLU, global pool, sigmoid modules
        self.squeeze = nn.Sequential(nn.PReLU(), nn.AdaptiveAvgPool2d(1), nn.Conv2d(3, 3, 1), nn.Sigmoid())

    def reconstruct(self, ldrs: torch.Tensor, ev: torch.Tensor) -> torch.Tensor:
        b, _, _, h, w = ldrs.shape
        flow = torch.tanh(self.flow(ldrs.flatten(1, 2)))
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        base = torch.stack((xs, ys), -1).to(ldrs)[None]
        warped = [
            F.grid_sample(
                ldrs[:, i], base + flow[:, 2 * j : 2 * j + 2].permute(0, 2, 3, 1), align_corners=True
            )
            for j, i in enumerate((0, 2))
        ]
        x = self.merge(torch.cat([warped[0], ldrs[:, 1], warped[1]], 1))
        x = x * self.squeeze(x)
        f = x.flatten(2)
        # an equation fvcore prices exactly (others it reads from numpy's rounded path estimate)
        gram = torch.einsum("bnc,bnd->bcd", f.transpose(1, 2), f.transpose(1, 2))
        gram = torch.baddbmm(gram, f, f.transpose(1, 2))
        x = x + torch.matmul(gram.softmax(-1), f).view_as(x).mul(0.1)
        return torch.sigmoid(self.up(F.avg_pool2d(x, 2)))


TOYS = {"transformer": ToyTransformer, "warp": ToyWarp}


@pytest.mark.parametrize("toy", TOYS)
def test_every_op_is_priced(toy):
    rec = cx.profile(TOYS[toy]().eval(), 32, 24, convention="true")
    assert rec["uncounted_ops"] == {}
    assert rec["maccs_true"] > 0


def test_attention_and_linear_are_priced_over_all_tokens():
    model = ToyTransformer().eval()
    parts = cx.count(model, cx.hdr_input_shapes(32, 24))["parts"]
    tokens = 32 * 24
    qkv, proj, mlp = tokens * 16 * 48, tokens * 16 * 16, 2 * tokens * 16 * 32
    assert parts["linear_module"] == qkv + proj + mlp
    # windows of 16 tokens: q k^T and attn v per head; channel attention 16x16 over all tokens
    window = 2 * 2 * (tokens // 16) * 16 * 16 * 8
    assert parts["matmul_functional"] == window + 2 * 16 * 16 * tokens
    assert (
        parts["attention"] == attention_cost((1, 1, tokens, 16), (1, 1, tokens, 16), (1, 1, tokens, 16)).maccs
    )


def test_fused_attention_kernels_are_priced():
    q = torch.empty(2, 4, 64, 8, device="meta")
    expected = attention_cost(q.shape, q.shape, q.shape)
    for op in (
        torch.ops.aten._scaled_dot_product_flash_attention_for_cpu,
        torch.ops.aten._scaled_dot_product_efficient_attention,
    ):
        got = cx.op_cost(op.default, cx.bind_arguments(op.default, (q, q, q), {}), q)
        assert (
            (got.maccs, got.elementwise)
            == (expected.maccs, expected.elementwise)
            == (2 * 4 * 64 * 64 * 16, 3 * 2 * 4 * 64 * 64)
        )


@pytest.mark.parametrize("toy", TOYS)
def test_ntire_equals_torchinfo(toy):
    torchinfo = pytest.importorskip("torchinfo")
    model = TOYS[toy]().eval()
    ours = cx.count(model, cx.hdr_input_shapes(32, 24))
    ldrs, ev = torch.rand(1, 3, 3, 24, 32), torch.tensor([[-2.0, 0.0, 2.0]])
    s = torchinfo.summary(model, input_data=[ldrs, ev], verbose=0, device="cpu")
    assert (ours["maccs_ntire"], ours["params_ntire"]) == (s.total_mult_adds, s.total_params)


@pytest.mark.parametrize("toy", TOYS)
def test_cross_check_explains_every_tool(toy):
    res = cx.cross_check(TOYS[toy]().eval(), 32, 24)
    for row in res["tools"]:
        if "error" in row and "not installed" in row["error"]:
            continue
        assert "error" not in row, row
        assert row["residual"] == 0, f"{toy}/{row['tool']}: {row['maccs']:,} vs {row['expected']:,}"
        assert row["maccs"] != res["ours"]["true"] or not row["terms"]


def test_emulated_tools_on_meta_equal_the_real_tools():
    """The field table's recounts (tool rules on one meta pass) equal what the tools print."""
    model = ToyWarp().eval()
    inputs = cx.crosscheck.real_inputs(32, 24)
    for tool in ("torchinfo", "thop-legacy", "fvcore"):
        if not cx.COUNTING_TOOLS.get(tool).available():
            continue
        assert cx.emulate(model, 32, 24, tool) == cx.run_tool(tool, model, inputs).maccs, tool
