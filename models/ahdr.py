"""AHDR (Yan et al., CVPR 2019), as the NTIRE 2022 organizers ran it: the challenge's baseline.

Written from the architecture of the public AHDRNet code (qingsenyangit/AHDRNet), not copied:

- one 3x3 conv (6 -> 64) shared by the three frames, leaky ReLU (slope 0.01, PyTorch's default,
  as in the original);
- attention for the short and for the long frame (separate weights): concat(frame, medium)
  (128 ch) -> 3x3 conv 128 -> 128, leaky ReLU -> 3x3 conv 128 -> 64 -> sigmoid, multiplied into
  the frame's features;
- merge: 3x3 conv 192 -> 64; three DRDBs (6 dense layers, growth 32, dilation 2, 1x1 fusion);
  global feature fusion (1x1 conv 192 -> 64, 3x3 conv 64 -> 64) plus the medium frame's features;
  a 3x3 conv 64 -> 64 and a 3x3 conv 64 -> 3; **sigmoid** output.

The original also defines two attention convs (``attConv1``, ``attConv3``, 3x3 64 -> 64) that its
forward never calls; ``ahdr`` leaves them out. torchinfo 1.6 (the NTIRE tool) ignores modules that
never run, so the NTIRE count is the same either way; torchinfo 1.7+ would count their 73,856
parameters.

``ahdrnet`` is the same class configured as the authors' own release (Kalantari 2017 data): the
two unused convs are kept (``unused_attention_convs=True``, 1,515,139 parameters, exactly the
authors' ``AHDR(nChannel=6, nDenselayer=6, growthRate=32, nFeat=64)``), and its convention is
``kalantari``: each frame's input is built as the authors' MATLAB loader builds it,
``[ldr, clip(ldr, 0, 1) ** 2.2 / 2 ** ev]`` with EVs relative to the shortest frame (a linear HDR
half, not the organizers' gamma-domain one), and its sigmoid output is linear HDR on the shortest
frame's scale. :func:`ahdrnet_from_official` renames the authors' checkpoint keys to ours.

Under the NTIRE convention (torchinfo 1.6, 1060x1900, bias included) this module counts exactly
2,916,922,522,000 MAccs and 1,441,283 parameters, the paper's 2916.92 G. The paper prints
1141.28 k parameters, read as a digit transposition of 1441.28 k (see bench/paper_tables.csv).

The sigmoid output cannot exceed 1, whereas the NTIRE ground truth (gamma-encoded HDR on the
medium frame's scale) does in highlights: this is the organizers' model and is kept as it was.
``output="relu"`` gives an unbounded variant for experiments (same counts: activations are free).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from models.blocks import DRDB, HDRModel, conv, frame_inputs
from models.conventions import KALANTARI, NTIRE
from models.official import Rename, StateDict, register_official_converter, rename_keys
from models.registry import register_model

__all__ = [
    "AHDR",
    "AttentionModule",
    "ahdr",
    "ahdrnet",
    "ahdrnet_from_official",
    "kalantari_frame_inputs",
]

ConvFactory = Callable[[int, int, int], nn.Module]  # (in_ch, out_ch, kernel) -> a 'same' conv


class AttentionModule(nn.Module):
    """AHDR's spatial attention: a per-pixel, per-channel weight in 0..1 for a non-reference frame.

    ``conv_factory`` builds the two convs (GSANet uses depthwise-separable ones, DRHDR reflect-padded
    ones); ``unused_conv`` adds the 3x3 conv the original AHDRNet defines next to its attention
    but never calls (kept only so that checkpoints and parameter counts match the authors' code).
    """

    def __init__(
        self, channels: int = 64, conv_factory: ConvFactory = conv, unused_conv: bool = False
    ) -> None:
        super().__init__()
        self.conv1 = conv_factory(2 * channels, 2 * channels, 3)
        self.conv2 = conv_factory(2 * channels, channels, 3)
        self.act = nn.LeakyReLU(0.01)
        self.unused_conv = conv(channels, channels, 3) if unused_conv else None

    def forward(self, feat: Tensor, ref: Tensor) -> Tensor:
        return torch.sigmoid(self.conv2(self.act(self.conv1(torch.cat([feat, ref], dim=1)))))


def kalantari_frame_inputs(ldrs: Tensor, ev: Tensor, gamma: float = KALANTARI.ldr_gamma) -> list[Tensor]:
    """Per frame ``[ldr, clip(ldr, 0, 1) ** gamma / 2 ** ev]``: the AHDRNet loader's 6 channels.

    ``ldrs`` are gamma-2.2 LDRs and ``ev`` stops relative to the shortest frame (the Kalantari
    convention); the second half is the frame's linear HDR estimate on the shortest frame's scale.
    """
    linear = ldrs.clamp(0, 1) ** gamma / torch.pow(2.0, ev.to(ldrs.dtype))[:, :, None, None, None]
    return [torch.cat([ldrs[:, i], linear[:, i]], dim=1) for i in range(ldrs.shape[1])]


class AHDR(HDRModel):
    """Attention-guided HDR network (see the module docstring for the layer list).

    ``convention="ntire"``: the organizers' inputs (gamma-domain EV alignment, medium reference);
    ``"kalantari"``: the authors' (linear HDR half, shortest reference, linear HDR output).
    """

    def __init__(
        self,
        in_channels: int = 6,
        features: int = 64,
        n_blocks: int = 3,
        n_dense_layers: int = 6,
        growth: int = 32,
        output: str = "sigmoid",
        convention: str = "ntire",
        unused_attention_convs: bool = False,
    ) -> None:
        super().__init__()
        if output not in ("sigmoid", "relu"):
            raise ValueError(f"AHDR output must be 'sigmoid' or 'relu', not {output!r}")
        conventions = {c.name: c for c in (NTIRE, KALANTARI)}
        if convention not in conventions:
            raise ValueError(f"AHDR convention must be one of {sorted(conventions)}, not {convention!r}")
        self.convention = conventions[convention]
        self.output = output
        self.conv1 = conv(in_channels, features, 3)  # shared by the three frames
        self.att_short = AttentionModule(features, unused_conv=unused_attention_convs)
        self.att_long = AttentionModule(features, unused_conv=unused_attention_convs)
        self.conv2 = conv(3 * features, features, 3)
        self.blocks = nn.ModuleList(
            DRDB(features, growth=growth, n_layers=n_dense_layers, dilation=2) for _ in range(n_blocks)
        )
        self.gff_1x1 = conv(n_blocks * features, features, 1)
        self.gff_3x3 = conv(features, features, 3)
        self.conv_up = conv(features, features, 3)
        self.conv3 = conv(features, 3, 3)
        self.act = nn.LeakyReLU(0.01)

    def reconstruct(self, ldrs: Tensor, ev: Tensor) -> Tensor:
        if self.convention is KALANTARI:
            x_short, x_medium, x_long = kalantari_frame_inputs(ldrs, ev)
        else:
            x_short, x_medium, x_long = frame_inputs(ldrs, ev, self.gamma)
        f_short = self.act(self.conv1(x_short))
        f_medium = self.act(self.conv1(x_medium))
        f_long = self.act(self.conv1(x_long))
        f_short = f_short * self.att_short(f_short, f_medium)
        f_long = f_long * self.att_long(f_long, f_medium)

        x = self.conv2(torch.cat([f_short, f_medium, f_long], dim=1))
        block_outputs = []
        for block in self.blocks:
            x = block(x)
            block_outputs.append(x)
        x = self.gff_3x3(self.gff_1x1(torch.cat(block_outputs, dim=1))) + f_medium
        out = self.conv3(self.conv_up(x))
        return torch.sigmoid(out) if self.output == "sigmoid" else torch.relu(out)


@register_model(
    family="ahdr",
    paper_table="6",
    paper_row="AHDR-organizers",
    description="AHDR as run by the NTIRE 2022 organizers (2916.92 GMAccs, 1441.28 k params; sigmoid output <= 1)",
)
def ahdr(**overrides) -> nn.Module:
    """AHDR, the NTIRE 2022 baseline: 64 features, 3 DRDBs of 6 dilated dense layers, sigmoid output."""
    return AHDR(**overrides)


@register_model(
    family="field",
    convention="kalantari",
    description="AHDRNet (Yan et al., CVPR 2019) as released for Kalantari 2017: 1,515,139 params, linear sigmoid output",
)
def ahdrnet(**overrides) -> nn.Module:
    """AHDRNet, the authors' configuration: Kalantari inputs, the two unused attention convs kept."""
    return AHDR(**{"convention": "kalantari", "unused_attention_convs": True, **overrides})


# The authors' names (qingsenyangit/AHDRNet model.py) -> ours.
AHDRNET_RENAMES: list[Rename] = [
    (r"^att1([12])\.", r"att_short.conv\1."),
    (r"^att3([12])\.", r"att_long.conv\1."),
    (r"^attConv1\.", "att_short.unused_conv."),
    (r"^attConv3\.", "att_long.unused_conv."),
    (r"^RDB([123])\.", lambda m: f"blocks.{int(m.group(1)) - 1}."),
    (r"\.dense_layers\.(\d+)\.conv\.", r".layers.\1."),
    (r"\.conv_1x1\.", ".fuse."),
    (r"^GFF_1x1\.", "gff_1x1."),
    (r"^GFF_3x3\.", "gff_3x3."),
]


@register_official_converter("ahdrnet")
def ahdrnet_from_official(state: StateDict) -> StateDict:
    """The authors' AHDRNet checkpoint (``trained-model/ahdr_model.pt``) under this module's names."""
    return rename_keys(state, AHDRNET_RENAMES)
