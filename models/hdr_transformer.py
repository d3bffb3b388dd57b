"""HDR-Transformer (Liu et al., ECCV 2022): context-aware vision transformer (CA-ViT) blocks.

Written from the architecture of the public code (liuzhen03/HDR-Transformer-PyTorch,
``models/hdr_transformer.py``, configured as its ``test.py``: 60 features, three stages of six
blocks, 6 heads, 8x8 windows, MLP ratio 2), not copied:

- per frame a 3x3 conv 6 -> 60 (separate weights); AHDR's spatial attention (:class:`AttentionModule`,
  separate weights) on the short and the long frame's features against the medium's; a 3x3 conv
  180 -> 60 merges them;
- tokens are layer-normalised, then three residual stages (:class:`ResidualWindowStage`) of six
  CA-ViT blocks each and a 3x3 conv with dilation 2; a final LayerNorm;
- a CA-ViT block is a Swin block (window attention, shifted every second block, then an MLP) plus
  a local context branch on the block's normalised input: 1x1 conv 60 -> 7, 3x3 conv 7 -> 7,
  1x1 conv 7 -> 60, leaky ReLU (0.2), times a channel gate (global average pool, linear 60 -> 7,
  ReLU, linear 7 -> 60, sigmoid; no biases), added to the block's output;
- 3x3 conv 60 -> 60 on (features + merged input), plus the medium frame's features, 3x3 conv 60 -> 3,
  **sigmoid**: linear HDR in 0..1.

1,222,113 parameters, as the authors' code. torchinfo 1.6 counts 43.01 G at 3x256x256 (it prices
each linear layer once per batch row, not per token, and no attention matmul).

Inputs as the authors' loader builds them (Kalantari 2017 convention, :data:`KALANTARI`): frames read
by OpenCV, so colour channels in **BGR** order; per frame ``[ldr ** 2.2 / 2 ** ev, ldr]`` (linear
first) with EVs relative to the shortest frame. Their test pads the image with 1.0 to 256x256
tiles; the network itself only needs a multiple of the window, so ``reconstruct`` pads the LDRs with
1.0 to a multiple of 8 and crops back. The global pooling of the context branch makes the output
depend on the whole input: running the authors' 256x256 tiles gives slightly different numbers.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor, nn

from models.ahdr import AttentionModule
from models.attention import (
    ResidualWindowStage,
    SwinBlock,
    image_to_tokens,
    pad_frames,
    shifted_window_mask,
    tokens_to_image,
)
from models.blocks import HDRModel, conv
from models.conventions import KALANTARI
from models.official import StateDict, register_official_converter, rename_keys
from models.registry import register_model

__all__ = [
    "ContextAwareBlock",
    "HDRTransformer",
    "LocalContextExtractor",
    "hdr_transformer",
    "hdr_transformer_from_official",
    "init_transformer_weights",
    "sig17_frame_inputs",
]

KALANTARI_GAMMA = 2.2


def sig17_frame_inputs(ldrs: Tensor, ev: Tensor, gamma: float = KALANTARI_GAMMA) -> list[Tensor]:
    """Per frame, ``[ldr ** gamma / 2 ** ev, ldr]`` (6 channels, linear first) in BGR order.

    ``ldrs [B, 3, 3, H, W]`` RGB, gamma-encoded; ``ev [B, 3]`` relative to the shortest frame. This
    is the SIG17 loader that HDR-Transformer and SCTNet share (its ``1e-8`` added to the exposure
    time does not change a float32 result and is left out).
    """
    bgr = ldrs.flip(2)
    linear = bgr**gamma / torch.pow(2.0, ev.to(ldrs.dtype))[:, :, None, None, None]
    return [torch.cat([linear[:, i], bgr[:, i]], dim=1) for i in range(ldrs.shape[1])]


def init_transformer_weights(module: nn.Module) -> None:
    """The authors' initialisation: linear weights truncated normal (std 0.02), zero biases; LayerNorm 1, 0."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class LocalContextExtractor(nn.Module):
    """Local context branch of a CA-ViT block: a conv bottleneck re-weighted by a channel gate."""

    def __init__(self, dim: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = dim // reduction
        self.convs = nn.Sequential(
            nn.Conv2d(dim, hidden, 1),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.Conv2d(hidden, dim, 1),
            nn.LeakyReLU(0.2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.gate = nn.Sequential(
            nn.Linear(dim, hidden, bias=False), nn.ReLU(), nn.Linear(hidden, dim, bias=False), nn.Sigmoid()
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.convs(x)
        b, c = x.shape[:2]
        return x * self.gate(self.pool(x).view(b, c)).view(b, c, 1, 1)


class ContextAwareBlock(SwinBlock):
    """CA-ViT: a Swin block plus :class:`LocalContextExtractor` on its normalised input."""

    def __init__(self, dim: int, heads: int, window: int, shift: int, mlp_ratio: float) -> None:
        super().__init__(dim, heads, window, shift, mlp_ratio)
        self.context = LocalContextExtractor(dim)

    def forward(self, x: Tensor, size: tuple[int, int], mask: Tensor | None) -> Tensor:
        normed = self.norm1(x)
        x = x + self.attend(normed, size, mask)
        x = x + self.mlp(self.norm2(x))
        return x + image_to_tokens(self.context(tokens_to_image(normed, size, batch_stride_of_tokens=True)))


class HDRTransformer(HDRModel):
    """HDR-Transformer (see the module docstring for the layer list)."""

    convention = KALANTARI
    size_multiple = 1  # reconstruct pads itself, with 1.0 as the authors' loader does

    def __init__(
        self,
        features: int = 60,
        depths: tuple[int, ...] = (6, 6, 6),
        heads: tuple[int, ...] = (6, 6, 6),
        window: int = 8,
        mlp_ratio: float = 2.0,
    ) -> None:
        super().__init__()
        if len(depths) != len(heads):
            raise ValueError(f"depths {depths} and heads {heads} must have one entry per stage")
        self.window = window
        self.frame_convs = nn.ModuleList(conv(6, features, 3) for _ in range(3))
        self.att_short = AttentionModule(features)
        self.att_long = AttentionModule(features)
        self.merge = conv(3 * features, features, 3)
        self.embed_norm = nn.LayerNorm(features)
        self.stages = nn.ModuleList(
            ResidualWindowStage(
                [
                    ContextAwareBlock(features, n_heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio)
                    for i in range(depth)
                ],
                conv(features, features, 3, dilation=2),
            )
            for depth, n_heads in zip(depths, heads, strict=True)
        )
        self.norm = nn.LayerNorm(features)
        self.body_conv = conv(features, features, 3)
        self.out_conv = conv(features, 3, 3)
        self.apply(init_transformer_weights)

    def reconstruct(self, ldrs: Tensor, ev: Tensor) -> Tensor:
        h, w = ldrs.shape[-2:]
        x_short, x_medium, x_long = sig17_frame_inputs(pad_frames(ldrs, self.window, "ones"), ev)
        f_short, f_medium, f_long = (
            c(x) for c, x in zip(self.frame_convs, (x_short, x_medium, x_long), strict=True)
        )
        f_short = f_short * self.att_short(f_short, f_medium)
        f_long = f_long * self.att_long(f_long, f_medium)
        x = self.merge(torch.cat([f_short, f_medium, f_long], dim=1))

        size = (x.shape[2], x.shape[3])
        mask = shifted_window_mask(*size, self.window, self.window // 2, x.device, x.dtype)
        tokens = self.embed_norm(image_to_tokens(x))
        for stage in self.stages:
            tokens = stage(tokens, size, mask)
        features = tokens_to_image(self.norm(tokens), size)
        out = torch.sigmoid(self.out_conv(f_medium + self.body_conv(features + x)))
        return out.flip(1)[..., :h, :w]  # BGR -> RGB


@register_model(
    family="field",
    convention="kalantari",
    description="HDR-Transformer (Liu et al., ECCV 2022): CA-ViT, 3x6 window-attention blocks; sigmoid output",
)
def hdr_transformer(**overrides) -> nn.Module:
    """HDR-Transformer as its authors' test.py builds it: 60 features, 3 stages of 6 CA-ViT blocks, 8x8 windows."""
    return HDRTransformer(**overrides)


# The authors' names -> ours; applied in order to each key (after DataParallel's "module." is removed).
HDR_TRANSFORMER_RENAMES: tuple[tuple[str, object], ...] = (
    (r"^conv_f([123])\.", lambda m: f"frame_convs.{int(m.group(1)) - 1}."),
    (r"^att_module_h\.att([12])\.", r"att_short.conv\1."),
    (r"^att_module_l\.att([12])\.", r"att_long.conv\1."),
    (r"^conv_first\.", "merge."),
    (r"^patch_embed\.norm\.", "embed_norm."),
    (r"^layers\.(\d+)\.residual_group\.blocks\.", r"stages.\1.blocks."),
    (r"^layers\.(\d+)\.dilated_conv\.", r"stages.\1.conv."),
    (r"\.lce\.conv\.", ".context.convs."),
    (r"\.lce\.fc\.", ".context.gate."),
    (r"^conv_after_body\.", "body_conv."),
    (r"^conv_last\.", "out_conv."),
)
# Buffers the authors' checkpoints carry that are derived from the window size, not learned.
DERIVED_BUFFERS = re.compile(r"(\.attn\.relative_position_index|\.attn_mask)$")


@register_official_converter("hdr-transformer")
def hdr_transformer_from_official(state: StateDict) -> StateDict:
    """The authors' checkpoint (``torch.load(...)["state_dict"]``) -> this module's parameter names."""
    return rename_keys(state, HDR_TRANSFORMER_RENAMES, drop=DERIVED_BUFFERS)
