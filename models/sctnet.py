"""SCTNet (Tel et al., ICCV 2023): spatial attention (Swin) and channel cross-attention, alternating.

Written from the architecture of the public code (Zongwei97/SCTNet, ``models/SCTNet.py`` and
``models/SCAB.py``, configured as its ``test_sct.py``: 60 features, four stages of six Swin blocks,
6 heads, 8x8 windows, MLP ratio 2; channel blocks with 4 heads and FFN ratio 4), not copied:

- per frame a 3x3 conv 6 -> 20 (separate weights), concatenated to 60 channels;
- tokens are layer-normalised; their three 20-channel thirds (short, medium, long) are kept as
  the frames' embeddings ``e_s, e_m, e_l``; an MLP 60 -> 60 -> 60 (GELU) starts the body;
- four times: a residual Swin stage (:class:`ResidualWindowStage`: six blocks, 3x3 conv, plus its
  input) whose output splits into thirds ``s, m, l``; medium ``m' = e_m + m``; two channel
  cross-attention blocks (:class:`ChannelCrossAttention`, separate weights) let ``m'`` query
  ``e_s + s`` and ``e_l + l``; an MLP 60 -> 60 -> 60 fuses ``[short, m', long]``;
- LayerNorm, 3x3 conv 60 -> 60, plus a 3x3 conv 20 -> 60 of the medium frame's first features,
  3x3 conv 60 -> 3, **sigmoid**: linear HDR in 0..1.

The channel block (Restormer-style "transposed" attention, ``SCAB`` in the code): both inputs
layer-normalised (mean/variance written out, as the authors do, so that tools that price
``layer_norm`` see what they saw); 1x1 convs without bias give q from the query, k and v from the
other frame; q and k are L2-normalised over the pixels, ``softmax(q k^T * temperature)`` is a
per-head channel x channel matrix (learned temperature per head) applied to v; a 1x1 conv
projects; residual on the query; LayerNorm and an MLP 20 -> 80 -> 20, residual. It attends over
the whole image, so the output depends on the whole input (as do the authors' 256x256 tiles).

994,555 parameters, as the authors' code. torchinfo 1.6 counts 12.87 G at 3x256x256.

Inputs as HDR-Transformer's (the authors reuse its loader, :func:`sig17_frame_inputs`): BGR, per
frame ``[ldr ** 2.2 / 2 ** ev, ldr]``, EVs relative to the shortest frame (:data:`KALANTARI`). The
network reflect-pads its input to a multiple of the window and crops back, as the authors'
forward does. Their mean subtraction and ``img_range`` scaling are identities for 18 input
channels (mean 0, range 1) and are left out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.attention import (
    Mlp,
    ResidualWindowStage,
    SwinBlock,
    image_to_tokens,
    pad_frames,
    shifted_window_mask,
    tokens_to_image,
)
from models.blocks import HDRModel, conv
from models.conventions import KALANTARI
from models.hdr_transformer import DERIVED_BUFFERS, init_transformer_weights, sig17_frame_inputs
from models.official import StateDict, register_official_converter, rename_keys
from models.registry import register_model

__all__ = ["ChannelCrossAttention", "ChannelLayerNorm", "SCTNet", "sctnet", "sctnet_from_official"]


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the last dimension with the formula written out (eps 1e-5, biased variance)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + 1e-5) * self.weight + self.bias


class ChannelCrossAttention(nn.Module):
    """Channel cross-attention block: the query frame's channels attend to another frame's."""

    def __init__(self, dim: int, heads: int = 4, ffn_ratio: float = 4.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"{dim} channels do not split into {heads} heads")
        self.heads = heads
        self.norm_query = ChannelLayerNorm(dim)
        self.norm_source = ChannelLayerNorm(dim)
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.q = nn.Conv2d(dim, dim, 1, bias=False)
        self.k = nn.Conv2d(dim, dim, 1, bias=False)
        self.v = nn.Conv2d(dim, dim, 1, bias=False)
        self.proj = nn.Conv2d(dim, dim, 1, bias=False)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * ffn_ratio))

    def attend(self, query: Tensor, source: Tensor) -> Tensor:
        """``[B, C, H, W]`` each -> ``[B, C, H, W]``."""
        b, c, h, w = query.shape

        def heads(x: Tensor) -> Tensor:
            return x.reshape(b, self.heads, c // self.heads, h * w)

        q = F.normalize(heads(self.q(query)), dim=-1)
        k = F.normalize(heads(self.k(source)), dim=-1)
        weights = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1)
        return self.proj((weights @ heads(self.v(source))).reshape(b, c, h, w))

    def forward(self, query: Tensor, source: Tensor, size: tuple[int, int]) -> Tensor:
        """Tokens ``[B, H*W, C]`` in and out."""
        attended = self.attend(
            tokens_to_image(self.norm_query(query), size, batch_stride_of_tokens=True),
            tokens_to_image(self.norm_source(source), size, batch_stride_of_tokens=True),
        )
        fused = image_to_tokens(tokens_to_image(query, size) + attended)
        return fused + self.mlp(self.norm2(fused))


class SCTNet(HDRModel):
    """SCTNet (see the module docstring for the layer list)."""

    convention = KALANTARI
    size_multiple = 1  # reconstruct reflect-pads itself, as the authors' forward does

    def __init__(
        self,
        features: int = 60,
        depths: tuple[int, ...] = (6, 6, 6, 6),
        heads: tuple[int, ...] = (6, 6, 6, 6),
        channel_heads: int = 4,
        window: int = 8,
        mlp_ratio: float = 2.0,
    ) -> None:
        super().__init__()
        if len(depths) != len(heads):
            raise ValueError(f"depths {depths} and heads {heads} must have one entry per stage")
        if features % 3:
            raise ValueError(f"features ({features}) must split into three frames")
        third = features // 3
        self.window = window
        self.frame_convs = nn.ModuleList(conv(6, third, 3) for _ in range(3))
        self.medium_skip = conv(third, features, 3)
        self.embed_norm = nn.LayerNorm(features)
        self.embed_mlp = Mlp(features, features)
        self.stages = nn.ModuleList(
            ResidualWindowStage(
                [
                    SwinBlock(features, n_heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio)
                    for i in range(depth)
                ],
                conv(features, features, 3),
            )
            for depth, n_heads in zip(depths, heads, strict=True)
        )
        self.fuse_short = nn.ModuleList(ChannelCrossAttention(third, channel_heads) for _ in depths)
        self.fuse_long = nn.ModuleList(ChannelCrossAttention(third, channel_heads) for _ in depths)
        self.fusion_mlps = nn.ModuleList(Mlp(features, features) for _ in depths)
        self.norm = nn.LayerNorm(features)
        self.body_conv = conv(features, features, 3)
        self.out_conv = conv(features, 3, 3)
        self.apply(init_transformer_weights)

    def reconstruct(self, ldrs: Tensor, ev: Tensor) -> Tensor:
        h, w = ldrs.shape[-2:]
        # The authors pad the 18 built channels, not the LDRs: the same values but for the last bit
        # of ``**`` (vectorised and scalar paths round differently), so this order matches them.
        frames = pad_frames(torch.cat(sig17_frame_inputs(ldrs, ev), dim=1), self.window, "reflect")
        f_short, f_medium, f_long = (
            c(x) for c, x in zip(self.frame_convs, frames.chunk(3, dim=1), strict=True)
        )
        x = torch.cat([f_short, f_medium, f_long], dim=1)

        size = (x.shape[2], x.shape[3])
        mask = shifted_window_mask(*size, self.window, self.window // 2, x.device, x.dtype)
        embedded = self.embed_norm(image_to_tokens(x))
        e_short, e_medium, e_long = embedded.chunk(3, dim=2)
        tokens = self.embed_mlp(embedded)
        for stage, fuse_short, fuse_long, mlp in zip(
            self.stages, self.fuse_short, self.fuse_long, self.fusion_mlps, strict=True
        ):
            tokens = stage(tokens, size, mask)
            t_short, t_medium, t_long = tokens.chunk(3, dim=2)
            medium = e_medium + t_medium
            short = fuse_short(medium, e_short + t_short, size)
            long = fuse_long(medium, e_long + t_long, size)
            tokens = mlp(torch.cat([short, medium, long], dim=2))
        features = tokens_to_image(self.norm(tokens), size)
        out = self.out_conv(self.body_conv(features) + self.medium_skip(f_medium))
        return torch.sigmoid(out).flip(1)[..., :h, :w]  # BGR -> RGB


@register_model(
    family="field",
    convention="kalantari",
    description="SCTNet (Tel et al., ICCV 2023): Swin stages + channel cross-attention fusion; sigmoid output",
)
def sctnet(**overrides) -> nn.Module:
    """SCTNet as its authors' test_sct.py builds it: 60 features, 4 stages of 6 Swin blocks, 8x8 windows."""
    return SCTNet(**overrides)


# The authors' names -> ours; applied in order to each key (after DataParallel's "module." is removed).
SCTNET_RENAMES: tuple[tuple[str, object], ...] = (
    (r"^conv([123])\.", lambda m: f"frame_convs.{int(m.group(1)) - 1}."),
    (r"^conv_end\.", "medium_skip."),
    (r"^conv_first\.", "embed_mlp."),
    (r"^patch_embed\.norm\.", "embed_norm."),
    (r"^layers\.(\d+)\.residual_group\.blocks\.", r"stages.\1.blocks."),
    (r"^layers\.(\d+)\.conv\.", r"stages.\1.conv."),
    (r"^channel_layers_lm\.", "fuse_short."),
    (r"^channel_layers_rm\.", "fuse_long."),
    (r"\.norm1_x\.body\.", ".norm_query."),
    (r"\.norm1_y\.body\.", ".norm_source."),
    (r"^(fuse_(?:short|long)\.\d+\.)attn\.project_out\.", r"\1proj."),
    (r"^(fuse_(?:short|long)\.\d+\.)attn\.", r"\1"),
    (r"^(fuse_(?:short|long)\.\d+\.)ffn\.", r"\1mlp."),
    (r"^mlps\.", "fusion_mlps."),
    (r"^conv_after_body\.", "body_conv."),
    (r"^upsample\.0\.", "out_conv."),
)


@register_official_converter("sctnet")
def sctnet_from_official(state: StateDict) -> StateDict:
    """The authors' checkpoint (``torch.load(...)["state_dict"]``) -> this module's parameter names."""
    return rename_keys(state, SCTNET_RENAMES, drop=DERIVED_BUFFERS)
