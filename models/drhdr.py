"""DRHDR (Marín-Vega et al., NTIRE 2022 HDR challenge): a dual-branch residual network.

Written from the architecture of the public code (hermetico/drhdr, ``models/drhdr_model.py``,
class ``DRHDR`` with the defaults of its ``options.py``: 42 base channels, growth 21, 14
deformable groups, leaky ReLU (slope 0.01), the dense skip, i.e. ``last_residual`` off), not
copied. Inputs are the organizers' ``[ldr, ev-aligned ldr]`` per frame (6 channels).

- **projection** shared by the three frames: 3x3 conv 6 -> 42 (full resolution, level 0) and a
  3x3 stride-2 conv 42 -> 42 (level 1), each + leaky ReLU; the 3x3 convs here pad by reflection;
- **level 0, deformable alignment** of the short and of the long frame to the medium (separate
  weights): two 3x3 convs (84 -> 42 -> 42) on (frame, medium) give offset features, from which a
  zero-padded 3x3 conv predicts 14 x 9 offset pairs and sigmoid masks for a DCNv2 3x3 conv
  (``torchvision.ops.DeformConv2d``), + leaky ReLU;
- **level 1, spatial attention** (AHDR-style, separate weights for short and long);
- **per level**: concat (126 ch) -> 1x1 conv -> 42, three DRDBs (5 dense layers, growth 21,
  dilation 2, leaky ReLU) and a 1x1 conv over their concatenated outputs;
- **decoder**: level 1 resized bilinearly to level 0's size, concat, 3x3 conv 84 -> 42 + leaky
  ReLU; concat with the medium frame's level-0 features; 3x3 conv 84 -> 42, leaky ReLU, 1x1 conv
  42 -> 3, ReLU (NTIRE convention: gamma-encoded HDR).

Any height and width >= 2 work without padding: the decoder resizes level 1 to level 0's size,
as the authors' inference (full 1060x1900 frames, no padding) relies on. 1,222,035 parameters,
the authors' ``DRHDR(opt)`` exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.adnet import ModulatedDeformConv
from models.ahdr import AttentionModule
from models.blocks import DRDB, HDRModel, frame_inputs, upsample_like
from models.official import Rename, StateDict, register_official_converter, rename_keys
from models.registry import register_model

__all__ = ["DRHDR", "DeformableAlign", "LeakyDRDB", "ResidualDenseLevel", "drhdr", "drhdr_from_official"]

SLOPE = 0.01  # nn.LeakyReLU's default, which the authors' "leaky" activation uses


def reflect_conv(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1) -> nn.Conv2d:
    """A 'same' conv padding by reflection (the authors' choice for every 3x3 conv but the offsets')."""
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, padding_mode="reflect")


def lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(SLOPE)


class LeakyDRDB(DRDB):
    """The DRDB of :mod:`models.blocks` with leaky ReLU (slope 0.01) after each dense layer."""

    def forward(self, x: Tensor) -> Tensor:
        feats = x
        for layer in self.layers:
            feats = torch.cat([feats, F.leaky_relu(layer(feats), SLOPE)], dim=1)
        return x + self.fuse(feats)


class DeformableAlign(nn.Module):
    """Level-0 alignment: offset features from (frame, reference), a DCNv2 conv of the frame."""

    def __init__(self, channels: int = 42, groups: int = 14) -> None:
        super().__init__()
        self.offset_features = nn.Sequential(
            reflect_conv(2 * channels, channels), lrelu(), reflect_conv(channels, channels), lrelu()
        )
        self.dcn = ModulatedDeformConv(channels, groups)
        self.act = lrelu()

    def forward(self, x: Tensor, ref: Tensor) -> Tensor:
        return self.act(self.dcn(x, self.offset_features(torch.cat([x, ref], dim=1))))


class ResidualDenseLevel(nn.Module):
    """One level's merge: 1x1 projection, three leaky DRDBs, 1x1 fusion of their outputs."""

    def __init__(self, in_channels: int = 126, channels: int = 42, n_dense_layers: int = 5, growth: int = 21):
        super().__init__()
        self.proj_in = nn.Conv2d(in_channels, channels, 1)
        self.blocks = nn.ModuleList(
            LeakyDRDB(channels, growth=growth, n_layers=n_dense_layers, dilation=2) for _ in range(3)
        )
        self.proj_out = nn.Conv2d(3 * channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj_in(x)
        outputs = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return self.proj_out(torch.cat(outputs, dim=1))


class DRHDR(HDRModel):
    """Dual-branch residual HDR network (see the module docstring)."""

    def __init__(self, channels: int = 42, growth: int = 21, groups: int = 14, n_dense_layers: int = 5):
        super().__init__()
        c = channels
        self.proj0 = nn.Sequential(reflect_conv(6, c), lrelu())
        self.proj1 = nn.Sequential(reflect_conv(c, c, stride=2), lrelu())
        self.att_short = AttentionModule(c, conv_factory=reflect_conv)
        self.att_long = AttentionModule(c, conv_factory=reflect_conv)
        self.align_short = DeformableAlign(c, groups)
        self.align_long = DeformableAlign(c, groups)
        self.level0 = ResidualDenseLevel(3 * c, c, n_dense_layers, growth)
        self.level1 = ResidualDenseLevel(3 * c, c, n_dense_layers, growth)
        self.decode = nn.Sequential(reflect_conv(2 * c, c), lrelu())
        self.out = nn.Sequential(reflect_conv(2 * c, c), lrelu(), nn.Conv2d(c, 3, 1), nn.ReLU())

    def reconstruct(self, ldrs: Tensor, ev: Tensor) -> Tensor:
        full = [self.proj0(x) for x in frame_inputs(ldrs, ev, self.gamma)]  # short, medium, long
        half = [self.proj1(f) for f in full]
        f0_medium, f1_medium = full[1], half[1]
        level0 = [self.align_short(full[0], f0_medium), f0_medium, self.align_long(full[2], f0_medium)]
        level1 = [
            half[0] * self.att_short(half[0], f1_medium),
            f1_medium,
            half[2] * self.att_long(half[2], f1_medium),
        ]
        l0 = self.level0(torch.cat(level0, dim=1))
        l1 = self.level1(torch.cat(level1, dim=1))
        decoded = self.decode(torch.cat([upsample_like(l1, l0), l0], dim=1))
        return self.out(torch.cat([decoded, f0_medium], dim=1))


@register_model(
    family="field",
    description="DRHDR (NTIRE 2022 HDR entry): deformable level-0 alignment (torchvision DCNv2), attention, DRDBs",
)
def drhdr(**overrides) -> nn.Module:
    """DRHDR with the authors' defaults: 42 channels, growth 21, 14 deformable groups."""
    return DRHDR(**overrides)


# The authors' names (hermetico/drhdr DRHDR) -> ours.
DRHDR_RENAMES: list[Rename] = [
    (r"^module\.", ""),  # a checkpoint saved from nn.DataParallel
    (r"^attl\.attfeat\.", "att_short."),
    (r"^atth\.attfeat\.", "att_long."),
    (r"^defl\.", "align_short."),
    (r"^defh\.", "align_long."),
    (r"\.feat\.", ".offset_features."),
    (r"\.dconv\.dconv\.", ".dcn.dcn."),
    (r"\.dconv\.offsetconv\.", ".dcn.offset_mask."),
    (r"^ul([01])\.", r"level\1."),
    (r"\.RDB([123])\.", lambda m: f".blocks.{int(m.group(1)) - 1}."),
    (r"\.dense_layers\.(\d+)\.conv\.", r".layers.\1."),
    (r"\.conv_1x1\.", ".fuse."),
    (r"^(level[01])\.proj0\.", r"\1.proj_in."),
    (r"^(level[01])\.proj1\.", r"\1.proj_out."),
    (r"^dec\.l0\.", "decode."),
    (r"^conv_out\.", "out."),
]


@register_official_converter("drhdr")
def drhdr_from_official(state: StateDict) -> StateDict:
    """The authors' DRHDR checkpoint under our names (their file wraps it: ``checkpoint["state_dict"]``)."""
    return rename_keys(state, DRHDR_RENAMES)
