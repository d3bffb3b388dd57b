"""GSANet (Li et al., NTIRE 2022 HDR challenge, efficiency track): gamma-enhanced spatial attention.

Written from the architecture of the public code (gkyAiLab/GSANet,
``codes/models/modules/GSANet.py``, ``Model_G(32)``), not copied. 32 features throughout:

- **denoiser** for the EV-aligned short frame: 3x3 conv 3 -> 16, a 3x3 stride-2 conv 16 -> 32 and
  a depthwise-separable (DS) conv 32 -> 32 (each followed by leaky ReLU 0.1), a DS conv 32 -> 64
  and a pixel shuffle back to full resolution (16 ch; no skip connection), 3x3 conv 16 -> 3;
- **features**: one 3x3 conv 3 -> 32 + ReLU shared by every input;
- **attention** (AHDR-style, DS convs, two modules ``att_low``/``att_high`` shared by both groups):
  group 1 weights the short LDR's features by attention against the denoised short frame's and the
  medium LDR's features by attention of the denoised short frame against them; group 3 does the
  same with (medium LDR, aligned long) and (aligned long, long LDR); group 2 is the features of
  (denoised short, aligned medium, aligned long) unweighted;
- **fusion**: concat (224 ch) -> DS conv -> 32; a channel-attention block (RCAN's CAB: 3x3 conv,
  PReLU, 3x3 conv, no biases, squeeze-excitation with reduction 4, residual); DS conv 32 -> 32;
  one DRDB (3 dense layers, growth 16, dilation 2); DS conv, leaky ReLU, 3x3 conv 32 -> 3, ReLU.

The authors' forward computes some values twice (the denoiser on the aligned short frame, the
features of the medium LDR and of the aligned long frame); so does this one, so that the count is
theirs: torchinfo 1.6 at (1,3,3,1060,1900)+(1,3) gives 199,388,014,513 MAccs, the 199.388014513 G
of their challenge readme, with 80,647 parameters.

The authors read PNGs with OpenCV and never convert, so the released weights work on **BGR**
frames and return BGR; this module reverses the channels on the way in and out
(``channel_order="bgr"``), so it takes and returns RGB like every model here. Heights and widths
must be even (a stride-2 conv and a pixel shuffle); ``HDRModel`` pads and crops otherwise.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.ahdr import AttentionModule
from models.blocks import DRDB, DSConv, HDRModel, conv, frame_inputs
from models.official import Rename, StateDict, register_official_converter, rename_keys
from models.registry import register_model

__all__ = ["GSANet", "ChannelAttentionBlock", "DenoiseNet", "gsanet", "gsanet_from_official"]


class DenoiseNet(nn.Module):
    """GSANet's small encoder-decoder for the EV-aligned short frame (no skip connection)."""

    def __init__(self, features: int = 16) -> None:
        super().__init__()
        self.head = conv(3, features, 3)
        self.down = nn.Sequential(
            conv(features, 2 * features, 3, stride=2),
            nn.LeakyReLU(0.1),
            DSConv(2 * features, 2 * features),
            nn.LeakyReLU(0.1),
        )
        self.up = nn.Sequential(DSConv(2 * features, 4 * features), nn.PixelShuffle(2))
        self.tail = conv(features, 3, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.tail(self.up(self.down(self.head(x))))


class ChannelAttentionBlock(nn.Module):
    """RCAN's channel-attention block: conv, PReLU, conv (no biases), squeeze-excitation, residual."""

    def __init__(self, channels: int = 32, reduction: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(channels, channels, 3, bias=False), nn.PReLU(), conv(channels, channels, 3, bias=False)
        )
        self.squeeze = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            conv(channels, channels // reduction, 1, bias=False),
            nn.ReLU(),
            conv(channels // reduction, channels, 1, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        res = self.body(x)
        return res * self.squeeze(res) + x


class GSANet(HDRModel):
    """Gamma-enhanced spatial attention network (see the module docstring)."""

    size_multiple = 2

    def __init__(self, features: int = 32, channel_order: str = "bgr") -> None:
        super().__init__()
        if channel_order not in ("bgr", "rgb"):
            raise ValueError(f"GSANet channel_order must be 'bgr' or 'rgb', not {channel_order!r}")
        self.channel_order = channel_order
        self.denoise = DenoiseNet(16)
        self.att_low = AttentionModule(features, conv_factory=DSConv)
        self.att_high = AttentionModule(features, conv_factory=DSConv)
        self.extract = nn.Sequential(conv(3, features, 3), nn.ReLU())
        self.fuse_in = DSConv(7 * features, features)
        self.channel_att = ChannelAttentionBlock(features, reduction=4)
        self.fuse_mid = DSConv(features, features)
        self.block = DRDB(features, growth=16, n_layers=3, dilation=2)
        self.post = nn.Sequential(
            DSConv(features, features), nn.LeakyReLU(0.01), conv(features, 3, 3), nn.ReLU()
        )

    def reconstruct(self, ldrs: Tensor, ev: Tensor) -> Tensor:
        if self.channel_order == "bgr":
            ldrs = ldrs.flip(2)  # what the weights were trained on (OpenCV's order)
        frames = frame_inputs(ldrs, ev, self.gamma)
        (ldr_s, aligned_s), (ldr_m, aligned_m), (ldr_l, aligned_l) = (f.split(3, dim=1) for f in frames)
        f = self.extract
        # Group 1: short frame against its denoised aligned version; medium against that.
        s_ldr, s_denoised, m_ldr = f(ldr_s), f(self.denoise(aligned_s)), f(ldr_m)
        group1 = [s_ldr * self.att_low(s_ldr, s_denoised), m_ldr * self.att_high(s_denoised, m_ldr)]
        # Group 2: the three aligned frames, unweighted (the denoiser and the features run again,
        # as in the authors' forward, so that the count is theirs).
        group2 = [f(self.denoise(aligned_s)), f(aligned_m), f(aligned_l)]
        # Group 3: medium against the aligned long frame; the long LDR against that.
        m_ldr2, l_aligned, l_ldr = f(ldr_m), f(aligned_l), f(ldr_l)
        group3 = [m_ldr2 * self.att_low(m_ldr2, l_aligned), l_ldr * self.att_high(l_aligned, l_ldr)]

        y = self.fuse_in(torch.cat(group1 + group2 + group3, dim=1))
        y = self.block(self.fuse_mid(self.channel_att(y)))
        out = self.post(y)
        return out.flip(1) if self.channel_order == "bgr" else out


@register_model(
    family="field",
    description="GSANet (NTIRE 2022 HDR entry): denoiser + separable spatial attention, 80,647 params, 199.39 GMAccs",
)
def gsanet(**overrides) -> nn.Module:
    """GSANet, the authors' ``Model_G(32)``: NTIRE convention, BGR weights behind an RGB contract."""
    return GSANet(**overrides)


# The authors' names (gkyAiLab/GSANet Model_G) -> ours.
GSANET_RENAMES: list[Rename] = [
    (r"^module\.", ""),  # a checkpoint saved from nn.DataParallel
    (r"^denoise\.conv1\.", "denoise.head."),
    (r"^denoise\.conv2\.", "denoise.tail."),
    (r"^denoise\.downsample\.", "denoise.down."),
    (r"^denoise\.upsample\.", "denoise.up."),
    (r"^att_module_l\.att([12])\.", r"att_low.conv\1."),
    (r"^att_module_h\.att([12])\.", r"att_high.conv\1."),
    (r"^feat_exract\.", "extract."),
    (r"^conv1\.", "fuse_in."),
    (r"^channel_att\.0\.body\.", "channel_att.body."),
    (r"^channel_att\.0\.CA\.conv_du\.([02])\.", lambda m: f"channel_att.squeeze.{int(m.group(1)) + 1}."),
    (r"^conv2\.", "fuse_mid."),
    (r"^RDB\.dense_layers\.(\d+)\.conv\.", r"block.layers.\1."),
    (r"^RDB\.conv_1x1\.", "block.fuse."),
    (r"^post_conv\.", "post."),
]


@register_official_converter("gsanet")
def gsanet_from_official(state: StateDict) -> StateDict:
    """The authors' GSANet checkpoint (``experiments/GSANet/models/latest_G.pth``) under our names."""
    return rename_keys(state, GSANET_RENAMES)
