"""SAFNet and SAFNet-S (Kong et al., ECCV 2024): selective alignment fusion, trained on Kalantari 2017.

Written from the architecture of the public code (ltkong218/SAFNet, ``models/SAFNet.py`` and
``models/SAFNet_S.py``), not copied. Both variants share everything but the refinement stage:

- **input** per frame, as the authors' data loader builds it: ``[linear, ldr]`` (6 channels) with
  ``linear = ldr ** 2.2 / 2 ** ev`` and EVs relative to the shortest frame (the Kalantari
  convention, :data:`models.conventions.KALANTARI`);
- **flows and masks** at half resolution (rounded up to a multiple of 16, bilinear resize): a
  pyramid encoder shared by the three frames (4 levels, each a stride-2 3x3 conv + a 3x3 conv,
  40 channels, PReLU), and one decoder shared by all levels, coarse to fine. The decoder warps the
  short and long features by the current flows, concatenates them with the medium features, the
  flows and the mask logits (126 channels), runs 3x3 convs 120 wide (three of them grouped by 3,
  each followed by a channel shuffle) and a transposed conv (k4, s2) to 6 channels: residuals of
  the two flows (2 + 2) and the two mask logits (1 + 1) at twice the resolution. The final flows
  are resized to the input size (scaled per axis), the masks pass a sigmoid;
- **merge**: Kalantari's triangle weights on the medium LDR, where the masks decide how much of
  the short (bright regions) and long (dark regions) frame replaces the medium; warping is
  ``grid_sample`` (bilinear, border padding, ``align_corners=True``) by the flow in pixels;
- **refinement** at full resolution, 5 blocks with dilations 1, 2, 4, 2, 1 and a 3x3 conv to 3
  channels added to the merged HDR, clamped to [0, 1] (the authors' code clamps the output):
  SAFNet extracts per-frame features (20, 40, 20 channels; the medium stem also sees the flows / 20,
  the masks and the merged HDR), warps the short and long ones and runs residual blocks 80 wide;
  SAFNet-S warps the images and runs plain convs 32 wide on everything concatenated (27 channels).

The output is linear HDR on the shortest frame's scale; :class:`HDRModel` converts to and from the
contract. No padding: any size works (the half-resolution branch resizes, as the authors' code does).
Key names differ from the authors'; the converters below rename their checkpoints' keys.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.blocks import HDRModel, upsample_like
from models.conventions import KALANTARI
from models.official import StateDict, register_official_converter
from models.registry import register_model

__all__ = [
    "ConvPReLU",
    "DetailRefiner",
    "FlowMaskDecoder",
    "PyramidEncoder",
    "SAFNet",
    "SAFNetConfig",
    "merge_exposures",
    "safnet",
    "safnet_from_official",
    "safnet_s",
    "safnet_s_from_official",
    "warp",
]

FLOW_HINT_SCALE = 20.0  # the refinement sees flows / 20 (the authors' ``div_flow``)


class ConvPReLU(nn.Module):
    """3x3 conv ('same' padding for its dilation) followed by a per-channel PReLU."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, stride, padding=dilation, dilation=dilation, groups=groups)
        self.act = nn.PReLU(out_ch)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv(x))


class ResidualPReLU(nn.Module):
    """Two dilated 3x3 convs (PReLU between), the input added, then a PReLU."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = ConvPReLU(channels, channels, dilation=dilation)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.act = nn.PReLU(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x + self.conv2(self.conv1(x)))


def warp(x: Tensor, flow: Tensor) -> Tensor:
    """Backward-warp ``x`` by ``flow`` (pixels, x then y): bilinear ``grid_sample``, border padding."""
    b, _, h, w = flow.shape
    # The base grid in fp32, then cast: a half-precision linspace would be off by up to 1e-3.
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device).to(flow.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device).to(flow.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
    grid = torch.cat([xs + flow[:, 0:1] / ((w - 1.0) / 2.0), ys + flow[:, 1:2] / ((h - 1.0) / 2.0)], 1)
    return F.grid_sample(
        x, grid.permute(0, 2, 3, 1), mode="bilinear", padding_mode="border", align_corners=True
    )


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class PyramidEncoder(nn.Module):
    """``levels`` stages of (stride-2 ConvPReLU, ConvPReLU): features at 1/2 ... 1/2**levels."""

    def __init__(self, in_ch: int = 6, width: int = 40, levels: int = 4) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(ConvPReLU(in_ch if i == 0 else width, width, stride=2), ConvPReLU(width, width))
            for i in range(levels)
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


class FlowMaskDecoder(nn.Module):
    """One coarse-to-fine step, shared by every level: flows and mask logits at twice the resolution."""

    def __init__(
        self, feat_width: int = 40, width: int = 120, groups: int = 3, grouped_layers: int = 3
    ) -> None:
        super().__init__()
        self.groups = groups
        in_ch = 3 * feat_width + 2 + 2 + 1 + 1  # three frames' features, two flows, two mask logits
        grouped = [ConvPReLU(width, width, groups=groups) for _ in range(grouped_layers)]
        self.layers = nn.ModuleList([ConvPReLU(in_ch, width), *grouped, ConvPReLU(width, width)])
        self.upsample = nn.ConvTranspose2d(width, 6, 4, stride=2, padding=1)

    def forward(
        self, feats: list[Tensor], flows: tuple[Tensor, Tensor], masks: tuple[Tensor, Tensor]
    ) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        x = torch.cat([warp(feats[0], flows[0]), feats[1], warp(feats[2], flows[1]), *flows, *masks], 1)
        x = self.layers[0](x)
        for layer in self.layers[1:-1]:
            x = channel_shuffle(layer(x), self.groups)
        out = self.upsample(self.layers[-1](x))
        new_flows = (
            2.0 * upsample_like(flows[0], out) + out[:, 0:2],
            2.0 * upsample_like(flows[1], out) + out[:, 2:4],
        )
        new_masks = (upsample_like(masks[0], out) + out[:, 4:5], upsample_like(masks[1], out) + out[:, 5:6])
        return new_flows, new_masks


def exposure_weights(medium_ldr: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Kalantari 2017's triangle weights of the medium LDR: (low, mid, high), each in 0..1."""
    m = medium_ldr
    low = torch.where(m >= 0.5, m - 0.5, 0.0) / 0.5
    mid = torch.where(m < 0.5, m, 1.0 - m) / 0.5
    high = torch.where(m < 0.5, 0.5 - m, 0.0) / 0.5
    return low, mid, high


def merge_exposures(frames: list[Tensor], mask_short: Tensor, mask_long: Tensor) -> Tensor:
    """Weighted merge of the (warped) ``[linear, ldr]`` frames; the masks select short and long pixels."""
    low, mid, high = exposure_weights(frames[1][:, 3:6])
    weights = (
        low * mask_short,
        mid + low * (1.0 - mask_short) + high * (1.0 - mask_long),
        high * mask_long,
    )
    total = weights[0] + weights[1] + weights[2]
    merged = weights[0] * frames[0][:, 0:3] + weights[1] * frames[1][:, 0:3] + weights[2] * frames[2][:, 0:3]
    return merged / (total + 1e-9)


class DetailRefiner(nn.Module):
    """Full-resolution refinement: a residual on the merged HDR, from flows, masks and the frames.

    ``frame_widths`` set: per-frame feature stems (warped for short and long) feed residual blocks
    of ``sum(frame_widths)`` channels (SAFNet). ``None``: the warped frames and every hint are
    concatenated into one stem of ``width`` channels and plain convs (SAFNet-S).
    """

    def __init__(
        self,
        frame_widths: tuple[int, int, int] | None = (20, 40, 20),
        width: int = 32,
        dilations: tuple[int, ...] = (1, 2, 4, 2, 1),
    ) -> None:
        super().__init__()
        hints = 2 + 2 + 1 + 1 + 3  # flows, masks, merged HDR
        self.per_frame = frame_widths is not None
        if frame_widths is not None:
            width = sum(frame_widths)
            in_chs = (6, 6 + hints, 6)
            self.stems = nn.ModuleList(
                nn.Sequential(ConvPReLU(i, o), ConvPReLU(o, o))
                for i, o in zip(in_chs, frame_widths, strict=True)
            )
            self.body = nn.Sequential(*(ResidualPReLU(width, d) for d in dilations))
        else:
            self.stems = nn.ModuleList([nn.Sequential(ConvPReLU(3 * 6 + hints, width))])
            self.body = nn.Sequential(*(ConvPReLU(width, width, dilation=d) for d in dilations))
        self.head = nn.Conv2d(width, 3, 3, padding=1)

    def forward(
        self, frames: list[Tensor], flows: tuple[Tensor, Tensor], masks: tuple[Tensor, Tensor], merged: Tensor
    ) -> Tensor:
        hints = [flows[0] / FLOW_HINT_SCALE, flows[1] / FLOW_HINT_SCALE, *masks, merged]
        if self.per_frame:
            short = warp(self.stems[0](frames[0]), flows[0])
            medium = self.stems[1](torch.cat([frames[1], *hints], 1))
            long = warp(self.stems[2](frames[2]), flows[1])
            feat = torch.cat([short, medium, long], 1)
        else:
            warped = [warp(frames[0], flows[0]), frames[1], warp(frames[2], flows[1])]
            feat = self.stems[0](torch.cat([*warped, *hints], 1))
        return torch.clamp(merged + self.head(self.body(feat)), 0.0, 1.0)


@dataclass(frozen=True)
class SAFNetConfig:
    """The two published networks differ only in ``refine_frame_widths`` / ``refine_width``."""

    encoder_width: int = 40
    levels: int = 4  # pyramid levels: the half-resolution input is resized to a multiple of 2**levels
    decoder_width: int = 120
    decoder_groups: int = 3
    flow_scale: float = 0.5  # flows and masks are estimated at this fraction of the input size
    refine_frame_widths: tuple[int, int, int] | None = (20, 40, 20)
    refine_width: int = 80


class SAFNet(HDRModel):
    """SAFNet / SAFNet-S on the Kalantari convention (see the module doc)."""

    convention = KALANTARI
    size_multiple = 1  # no padding: the flow branch resizes to its own multiple

    def __init__(self, config: SAFNetConfig | None = None, **overrides) -> None:
        super().__init__()
        cfg = config or SAFNetConfig()
        if overrides:
            cfg = SAFNetConfig(**{**cfg.__dict__, **overrides})
        self.config = cfg
        self.encoder = PyramidEncoder(6, cfg.encoder_width, cfg.levels)
        self.decoder = FlowMaskDecoder(cfg.encoder_width, cfg.decoder_width, cfg.decoder_groups)
        self.refiner = DetailRefiner(cfg.refine_frame_widths, cfg.refine_width)

    def network_inputs(self, ldrs: Tensor, ev: Tensor) -> list[Tensor]:
        """Per frame ``[ldr ** 2.2 / 2 ** ev, ldr]``, as the authors' data loader builds it."""
        linear = ldrs**self.convention.ldr_gamma / torch.pow(2.0, ev.to(ldrs.dtype))[:, :, None, None, None]
        return [torch.cat([linear[:, i], ldrs[:, i]], 1) for i in range(ldrs.shape[1])]

    def flows_and_masks(self, frames: list[Tensor]) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """Flows (pixels, full resolution) from the medium to the short and long frame, and their masks."""
        cfg = self.config
        h, w = frames[1].shape[-2:]
        div = 2**cfg.levels
        size = (div * math.ceil(h * cfg.flow_scale / div), div * math.ceil(w * cfg.flow_scale / div))
        if size != (h, w):
            frames = [F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in frames]
        pyramids = [self.encoder(f) for f in frames]
        coarse = pyramids[1][-1]
        zero_flow = coarse.new_zeros(coarse.shape[0], 2, *coarse.shape[-2:])
        zero_mask = coarse.new_zeros(coarse.shape[0], 1, *coarse.shape[-2:])
        flows, masks = (zero_flow, zero_flow), (zero_mask, zero_mask)
        for level in reversed(range(cfg.levels)):
            flows, masks = self.decoder([p[level] for p in pyramids], flows, masks)
        if size != (h, w):
            sx, sy = w / size[1], h / size[0]
            flows = tuple(
                torch.cat([f[:, 0:1] * sx, f[:, 1:2] * sy], 1)
                for f in (F.interpolate(f, size=(h, w), mode="bilinear", align_corners=False) for f in flows)
            )
            masks = tuple(F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False) for m in masks)
        return flows, (torch.sigmoid(masks[0]), torch.sigmoid(masks[1]))

    def reconstruct(self, ldrs: Tensor, ev: Tensor) -> Tensor:
        frames = self.network_inputs(ldrs, ev)
        flows, masks = self.flows_and_masks(frames)
        warped = [warp(frames[0], flows[0]), frames[1], warp(frames[2], flows[1])]
        merged = merge_exposures(warped, *masks)
        return self.refiner(frames, flows, masks, merged)


SAFNET_S = SAFNetConfig(refine_frame_widths=None, refine_width=32)


@register_model(
    family="field",
    convention="kalantari",
    description="SAFNet (ECCV 2024): selective alignment fusion, shared flow/mask decoder, residual refinement",
)
def safnet(**overrides) -> nn.Module:
    """SAFNet: half-resolution flows and masks, explicit merge, residual refinement 80 wide."""
    return SAFNet(SAFNetConfig(), **overrides)


@register_model(
    family="field",
    convention="kalantari",
    description="SAFNet-S (ECCV 2024): SAFNet with a plain 32-wide refinement on the warped frames",
)
def safnet_s(**overrides) -> nn.Module:
    """SAFNet-S: SAFNet's flow/mask branch and merge, a light refinement on the warped frames."""
    return SAFNet(SAFNET_S, **overrides)


# ---------------------------------------------------------------------------------------------
# The authors' checkpoints (ltkong218/SAFNet checkpoints/*.pth): key renaming only
# ---------------------------------------------------------------------------------------------

CONV_OR_ACT = {"0": "conv", "1": "act"}  # their convrelu is Sequential(conv, PReLU)

SHARED_RULES: list[tuple[str, str]] = [
    (r"encoder\.pyramid(\d)\.(\d)\.([01])\.", "encoder.stages.{0-1}.{1}.{2c}."),
    (r"decoder\.conv([1-5])\.([01])\.", "decoder.layers.{0-1}.{1c}."),
    (r"decoder\.conv6\.", "decoder.upsample."),
]
SAFNET_RULES = SHARED_RULES + [
    (r"refinenet\.conv([0-2])\.(\d)\.([01])\.", "refiner.stems.{0}.{1}.{2c}."),
    (r"refinenet\.resblock(\d)\.conv1\.([01])\.", "refiner.body.{0-1}.conv1.{1c}."),
    (r"refinenet\.resblock(\d)\.conv2\.", "refiner.body.{0-1}.conv2."),
    (r"refinenet\.resblock(\d)\.prelu\.", "refiner.body.{0-1}.act."),
    (r"refinenet\.conv3\.", "refiner.head."),
]
SAFNET_S_RULES = SHARED_RULES + [
    (r"refinenet\.conv1\.([01])\.", "refiner.stems.0.0.{0c}."),
    (r"refinenet\.conv([2-6])\.([01])\.", "refiner.body.{0-2}.{1c}."),
    (r"refinenet\.conv7\.", "refiner.head."),
]


def fill_template(template: str, match: re.Match) -> str:
    """``{i}`` is group i+1 of ``match``, ``{i-1}`` it minus one (their names count from 1), ``{ic}``
    their Sequential index mapped to conv/act."""

    def field(spec: re.Match) -> str:
        value = match.group(int(spec.group(1)) + 1)
        op = spec.group(2)
        if op == "c":
            return CONV_OR_ACT[value]
        return str(int(value) - int(op[1:])) if op else value

    return re.sub(r"\{(\d)(c|-\d)?\}", field, template)


def rename_key(key: str, rules: list[tuple[str, str]]) -> str:
    """The first rule whose pattern matches the key's start rewrites that start; a key no rule
    matches is left as it is (the import then reports it as unexpected)."""
    for pattern, template in rules:
        match = re.match(pattern, key)
        if match:
            return fill_template(template, match) + key[match.end() :]
    return key


@register_official_converter("safnet")
def safnet_from_official(state: StateDict) -> StateDict:
    """ltkong218/SAFNet ``SAFNet`` state dict -> ours."""
    return {rename_key(k, SAFNET_RULES): v for k, v in state.items()}


@register_official_converter("safnet-s")
def safnet_s_from_official(state: StateDict) -> StateDict:
    """ltkong218/SAFNet ``SAFNet_S`` state dict -> ours."""
    return {rename_key(k, SAFNET_S_RULES): v for k, v in state.items()}
