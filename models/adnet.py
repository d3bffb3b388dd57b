"""ADNet (Liu et al., NTIRE 2021 HDR challenge winner): PCD alignment + spatial attention + DRDBs.

Written from the architecture of the public code (liuzhen03/ADNet, configuration ``ADNet(6, 5, 64,
32)`` of its ``train.py``), not copied. Two branches per frame, fed by the two halves of the
paper's eq.-2 input ``[ldr, ev_aligned]``:

- **alignment branch** (EV-aligned half): a feature pyramid shared by the three frames (1x1 conv
  3 -> 64, leaky ReLU 0.1, one residual block of two 3x3 convs; two levels of 3x3 stride-2 conv +
  3x3 conv, each followed by leaky ReLU 0.1), then pyramid, cascading and deformable (PCD)
  alignment of the short and of the long frame to the medium frame (EDVR's PCD, 64 features,
  8 deformable groups, one module shared by both frames). Each deformable conv is a modulated
  (DCNv2) 3x3 conv: a 3x3 conv predicts offsets and a sigmoid mask from the offset features, and
  ``torchvision.ops.DeformConv2d`` samples and convolves;
- **attention branch** (LDR half): 3x3 conv 3 -> 64 + ReLU shared by the three frames, AHDR-style
  spatial attention for the short and the long frame (separate weights);
- **merge**: concat of the six feature maps (384 ch) -> 3x3 conv -> 64; three DRDBs (5 dense
  layers, growth 32, dilation 2); 1x1 conv 192 -> 64, 3x3 conv 64 -> 64, plus the medium frame's
  full-resolution pyramid features; 3x3 conv 64 -> 64, leaky ReLU, 3x3 conv 64 -> 3, **ReLU**
  (non-negative and unbounded, so it can reach HDR values above 1).

Heights and widths must be multiples of 4 (two stride-2 levels); ``HDRModel`` pads and crops
otherwise. NTIRE count at 1060x1900: see ``models/ARCHITECTURE-baselines.md`` (our module counts
the deformable convs' own weights, which the original's DCN wrapper hides from torchinfo 1.6).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import DeformConv2d

from models.ahdr import AttentionModule
from models.blocks import DRDB, HDRModel, conv, frame_inputs, upsample_like
from models.registry import register_model

__all__ = ["ADNet", "FeaturePyramid", "ModulatedDeformConv", "PCDAlign", "adnet"]


def lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.1)


class ResidualBlock(nn.Module):
    """Two 3x3 convs with a ReLU between them, plus the input (no normalisation)."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.conv1 = conv(channels, channels, 3)
        self.conv2 = conv(channels, channels, 3)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class FeaturePyramid(nn.Module):
    """Three-level features: full, 1/2 and 1/4 resolution, 64 channels each."""

    def __init__(self, in_channels: int = 3, features: int = 64) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(in_channels, features, 1), lrelu(), ResidualBlock(features))
        self.down1 = nn.Sequential(
            conv(features, features, 3, stride=2), lrelu(), conv(features, features, 3), lrelu()
        )
        self.down2 = nn.Sequential(
            conv(features, features, 3, stride=2), lrelu(), conv(features, features, 3), lrelu()
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        l1 = self.head(x)
        l2 = self.down1(l1)
        return [l1, l2, self.down2(l2)]


class ModulatedDeformConv(nn.Module):
    """DCNv2 3x3 conv whose offsets and mask are predicted from separate features.

    ``offset_mask`` (a plain 3x3 conv) maps the offset features to ``groups * 9`` (dy, dx) pairs
    and ``groups * 9`` mask logits; ``dcn`` is torchvision's ``DeformConv2d``, which samples the
    input bilinearly at the shifted positions, weights each sample by the sigmoid mask and
    convolves. The offset conv starts at zero (EDVR's practice), so an untrained module behaves
    as a plain conv with every tap weighted 0.5.
    """

    def __init__(self, channels: int = 64, groups: int = 8, kernel: int = 3) -> None:
        super().__init__()
        self.groups = groups
        taps = groups * kernel * kernel
        self.offset_mask = conv(channels, 3 * taps, kernel)
        self.dcn = DeformConv2d(channels, channels, kernel, padding=(kernel - 1) // 2)
        nn.init.zeros_(self.offset_mask.weight)
        nn.init.zeros_(self.offset_mask.bias)

    def forward(self, x: Tensor, offset_feat: Tensor) -> Tensor:
        taps = self.offset_mask.out_channels // 3
        offset, mask_logits = self.offset_mask(offset_feat).split([2 * taps, taps], dim=1)
        return self.dcn(x, offset, torch.sigmoid(mask_logits))


class PCDLevel(nn.Module):
    """One level of EDVR's PCD alignment: offsets from (neighbour, reference), a deformable conv.

    Below the coarsest level the offsets also see the coarser level's offsets (x2: offsets are in
    pixels of their level), and the aligned features are fused with the coarser level's.
    """

    def __init__(self, features: int, groups: int, coarsest: bool, act_out: bool = True) -> None:
        super().__init__()
        nf = features
        self.offset1 = conv(2 * nf, nf, 3)
        self.offset2 = conv(nf if coarsest else 2 * nf, nf, 3)
        self.offset3 = None if coarsest else conv(nf, nf, 3)
        self.dcn = ModulatedDeformConv(nf, groups)
        self.fuse = None if coarsest else conv(2 * nf, nf, 3)
        self.act = lrelu()
        self.act_out = act_out

    def forward(
        self, nbr: Tensor, ref: Tensor, coarser: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """Returns ``(aligned features, offset features)`` of this level."""
        a = self.act
        off = a(self.offset1(torch.cat([nbr, ref], 1)))
        if coarser is None:
            off = a(self.offset2(off))
            fea = self.dcn(nbr, off)
        else:
            coarse_fea, coarse_off = coarser
            off = a(self.offset2(torch.cat([off, upsample_like(coarse_off, off) * 2], 1)))
            off = a(self.offset3(off))
            fea = self.fuse(torch.cat([self.dcn(nbr, off), upsample_like(coarse_fea, off)], 1))
        return (a(fea) if self.act_out else fea), off


class PCDAlign(nn.Module):
    """EDVR's pyramid, cascading and deformable alignment of a neighbour to the reference (3 levels)."""

    def __init__(self, features: int = 64, groups: int = 8) -> None:
        super().__init__()
        self.l3 = PCDLevel(features, groups, coarsest=True)  # 1/4 resolution
        self.l2 = PCDLevel(features, groups, coarsest=False)  # 1/2 resolution
        self.l1 = PCDLevel(features, groups, coarsest=False, act_out=False)  # full resolution
        self.cascade = PCDLevel(
            features, groups, coarsest=True
        )  # refinement of l1's output at full resolution

    def forward(self, nbr: list[Tensor], ref: list[Tensor]) -> Tensor:
        level3 = self.l3(nbr[2], ref[2])
        level2 = self.l2(nbr[1], ref[1], level3)
        fea1, _ = self.l1(nbr[0], ref[0], level2)
        return self.cascade(fea1, ref[0])[0]


class ADNet(HDRModel):
    """Alignment (PCD) + attention + DRDB merging network (see the module docstring)."""

    size_multiple = 4

    def __init__(
        self,
        features: int = 64,
        n_blocks: int = 3,
        n_dense_layers: int = 5,
        growth: int = 32,
        groups: int = 8,
    ) -> None:
        super().__init__()
        self.pyramid = FeaturePyramid(3, features)
        self.align = PCDAlign(features, groups)
        self.extract = nn.Sequential(conv(3, features, 3), nn.ReLU())
        self.att_short = AttentionModule(features)
        self.att_long = AttentionModule(features)
        self.conv1 = conv(6 * features, features, 3)
        self.blocks = nn.ModuleList(
            DRDB(features, growth=growth, n_layers=n_dense_layers, dilation=2) for _ in range(n_blocks)
        )
        self.fuse = nn.Sequential(conv(n_blocks * features, features, 1), conv(features, features, 3))
        self.post = nn.Sequential(
            conv(features, features, 3), nn.LeakyReLU(0.01), conv(features, 3, 3), nn.ReLU()
        )

    def reconstruct(self, ldrs: Tensor, ev: Tensor) -> Tensor:
        frames = frame_inputs(ldrs, ev, self.gamma)  # per frame [ldr (3 ch), ev-aligned (3 ch)]
        pyr_short, pyr_medium, pyr_long = (self.pyramid(x[:, 3:]) for x in frames)
        aligned_short = self.align(pyr_short, pyr_medium)
        aligned_long = self.align(pyr_long, pyr_medium)

        t_short, t_medium, t_long = (self.extract(x[:, :3]) for x in frames)
        t_short = t_short * self.att_short(t_short, t_medium)
        t_long = t_long * self.att_long(t_long, t_medium)

        x = self.conv1(torch.cat([aligned_short, t_short, pyr_medium[0], t_medium, aligned_long, t_long], 1))
        block_outputs = []
        for block in self.blocks:
            x = block(x)
            block_outputs.append(x)
        x = self.fuse(torch.cat(block_outputs, 1)) + pyr_medium[0]
        return self.post(x)


@register_model(
    family="adnet",
    paper_table="6",
    paper_row="ADNet",
    description="ADNet (NTIRE 2021 winner): PCD alignment with torchvision DCNv2, attention, 3 DRDBs, ReLU output",
)
def adnet(**overrides) -> nn.Module:
    """ADNet: pyramid/cascading/deformable alignment, spatial attention, DRDB merging."""
    return ADNet(**overrides)
