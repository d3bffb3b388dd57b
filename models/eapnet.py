"""EAPNet (Efficient Attention-and-alignment-guided Progressive Network), CVPRW 2022, as one
configurable network.

Every variant of the paper (Tables 1 and 2) is an :class:`EAPNetConfig`; nothing is a copy of a
file. The paper gives no channel table: the layer widths here are the design recorded in
``models/ARCHITECTURE.md``, fitted to the paper's MAcc and parameter counts (NTIRE counting at
1900x1060). It is *a* design that reproduces the paper's numbers, not the authors' code.

Data flow (F = full resolution, H = half, Q = quarter)::

    per frame i:  [ldr_i, ev_align(ldr_i)] (6 ch, eq. 2)
        -> encoder: multi-scale (high 32 ch at F, low 32 ch at H) or plain (64 ch at F)
    short/long:   alignment (SFT) on the high branch, conditioned on the reference's high features
                  attention (1x1 conv + sigmoid) on the low branch (plain: on the single branch)
    merge:        concat over frames of [avgpool(high), low] (192 ch at H) -> DS conv -> 64 ch
    restoration:  n_blocks x PDUB (or DRDB for the ablation rows) at H
    output:       bilinear to F, + long skip (reference features), 2 DS convs, 3x3 conv -> 3 ch, ReLU
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from models.blocks import (
    DRDB,
    DSConv,
    HDRModel,
    Upsample2x,
    act,
    conv,
    downsample2x,
    frame_inputs,
    upsample_like,
)
from models.registry import model_info, register_model

REFERENCE = 1  # the medium frame is the reference


@dataclass(frozen=True)
class EAPNetConfig:
    """One EAPNet variant. Defaults are the lightweight model (Table 1 exp6)."""

    ms_encoder: bool = True  # multi-scale encoder (high at F + low at H) instead of a plain 6->64 conv
    block: str = "pdub"  # restoration block: "pdub" or "drdb" (ablation exp1/exp2)
    n_blocks: int = 3  # number of PDUBs / DRDBs
    share_weights: bool = False  # one encoder for all frames, one attention/alignment for short+long
    align: str = "full"  # feature alignment (SFT): "none", "full" or "half" resolution
    attention_resolution: str = "full"  # "full" (its branch's resolution) or "half" of it
    upsample: str = (
        "bilinear"  # learnable x2 upsampling in PDUBs and half-res modules: "bilinear"|"transposed"
    )
    enc_channels: int = 32  # width of each encoder branch
    channels: int = 64  # width of the merged features and of the restoration network
    output_activation: str = "relu"  # non-negative, unbounded: NTIRE ground truth exceeds 1

    def __post_init__(self) -> None:
        choices = {
            "block": ("pdub", "drdb"),
            "align": ("none", "full", "half"),
            "attention_resolution": ("full", "half"),
            "upsample": ("bilinear", "transposed"),
            "output_activation": ("relu", "sigmoid", "none"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"EAPNetConfig.{key} must be one of {allowed}, not {getattr(self, key)!r}")
        if self.n_blocks < 1:
            raise ValueError("EAPNetConfig.n_blocks must be >= 1")
        if self.align != "none" and not self.ms_encoder:
            raise ValueError(
                "alignment works on the multi-scale encoder's high branch: needs ms_encoder=True"
            )
        if self.ms_encoder and 2 * self.enc_channels != self.channels:
            raise ValueError(
                "with ms_encoder, channels must be 2 * enc_channels (high + low are concatenated)"
            )


# ---------------------------------------------------------------------------------------------
# Blocks
# ---------------------------------------------------------------------------------------------


class MultiScaleEncoder(nn.Module):
    """MSEnc (paper Fig. 3, eqs. 3-5): a standard 3x3 conv, a high extractor at F, a low one at H."""

    def __init__(self, in_ch: int = 6, width: int = 32) -> None:
        super().__init__()
        self.head = nn.Sequential(conv(in_ch, width), act())  # the one standard conv of the encoder
        self.high = nn.Sequential(DSConv(width, width), act())
        self.low = nn.Sequential(conv(width, width, stride=2), act(), DSConv(width, width), act())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        high = self.high(self.head(x))
        return high, self.low(high)


class PlainEncoder(nn.Module):
    """The 'naive' encoder of the base model (exp1): one 3x3 conv 6 -> 64 at full resolution."""

    def __init__(self, in_ch: int = 6, width: int = 64) -> None:
        super().__init__()
        self.head = nn.Sequential(conv(in_ch, width), act())

    def forward(self, x: Tensor) -> tuple[Tensor, None]:
        return self.head(x), None


class Attention(nn.Module):
    """AHDR-style attention, made cheap: 1x1 conv on concat(frame, reference) -> sigmoid -> multiply.

    ``half=True`` predicts the map at half the branch's resolution and brings it back with
    ``upsample`` (bilinear, or a transposed conv in the standard model).
    """

    def __init__(self, channels: int, half: bool = False, upsample: str = "bilinear") -> None:
        super().__init__()
        self.half = half
        self.conv = nn.Conv2d(2 * channels, channels, 1)
        self.up = Upsample2x(channels, upsample) if half else None

    def forward(self, x: Tensor, ref: Tensor) -> Tensor:
        cond = torch.cat([x, ref], dim=1)
        if self.up is not None:
            logits = self.up(self.conv(downsample2x(cond)))
        else:
            logits = self.conv(cond)
        return x * torch.sigmoid(logits)


class FeatureAlignment(nn.Module):
    """Spatial feature transform (as in HDRUNet) used instead of deformable convolution.

    Per-pixel scale and shift are predicted from concat(frame, reference) by two small 1x1-conv
    branches; the output is ``x + (x * scale + shift)``. At half resolution the modulation
    ``x * scale + shift`` is computed on pooled features and brought back to full resolution with
    ``upsample`` before the residual addition, so full-resolution detail is kept.
    """

    def __init__(self, channels: int, half: bool = False, upsample: str = "bilinear") -> None:
        super().__init__()
        self.half = half

        def branch() -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(2 * channels, channels, 1), act(), nn.Conv2d(channels, channels, 1)
            )

        self.scale = branch()
        self.shift = branch()
        self.up = Upsample2x(channels, upsample) if half else None

    def forward(self, x: Tensor, ref: Tensor) -> Tensor:
        cond = torch.cat([x, ref], dim=1)
        if self.up is not None:
            cond, x_low = downsample2x(cond), downsample2x(x)
            return x + self.up(x_low * self.scale(cond) + self.shift(cond))
        return x + x * self.scale(cond) + self.shift(cond)


class PDUB(nn.Module):
    """Progressive Dilated U-shape Block (paper Fig. 6): a tiny dilated U-Net with a residual.

    Works at the restoration resolution (H) and goes one level down (Q), where most of its
    weights sit; dilations 1, 2, 4 widen the receptive field at no MAcc cost.
    """

    def __init__(self, channels: int = 64, width: int = 32, upsample: str = "bilinear") -> None:
        super().__init__()
        w1, w2, w3 = width, 2 * width, 4 * width

        def ds(i: int, o: int, dilation: int = 1, stride: int = 1) -> nn.Sequential:
            return nn.Sequential(DSConv(i, o, dilation=dilation, stride=stride), act())

        self.inp = ds(channels, w1)
        self.enc1 = nn.Sequential(ds(w1, w1), ds(w1, w1))
        self.down = ds(w1, w1, stride=2)
        self.enc2 = nn.Sequential(ds(w1, w2, 2), ds(w2, w2, 2))
        self.enc3 = nn.Sequential(ds(w2, w3, 4), ds(w3, w3, 4))
        self.dec3 = nn.Sequential(ds(w3, w3, 4), ds(w3, w3, 4))
        self.dec2 = nn.Sequential(ds(w3 + w2, w2), ds(w2, w2))
        self.up = Upsample2x(w2, upsample)
        self.dec1 = nn.Sequential(ds(w2 + w1, w1), ds(w1, w1))
        self.out = DSConv(w1, channels)

    def forward(self, x: Tensor) -> Tensor:
        e1 = self.enc1(self.inp(x))
        e2 = self.enc2(self.down(e1))
        d3 = self.dec3(self.enc3(e2))
        d2 = self.dec2(torch.cat([d3, e2], dim=1))
        d1 = self.dec1(torch.cat([self.up(d2), e1], dim=1))
        return x + self.out(d1)


def ds_drdb(channels: int = 64) -> DRDB:
    """The ablation's DRDB (exp1/exp2): AHDR's block with pointwise-then-depthwise separable convs."""
    return DRDB(
        channels,
        growth=32,
        n_layers=6,
        dilation=2,
        conv_factory=lambda i, o, d: DSConv(i, o, dilation=d, order="pw-dw"),
    )


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------


class EAPNet(HDRModel):
    """The EAPNet family; see the module docstring for the data flow and ``EAPNetConfig`` for options."""

    size_multiple = 4  # F -> H in the encoder/merge, H -> Q in PDUBs and half-resolution modules

    def __init__(self, config: EAPNetConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = replace(config or EAPNetConfig(), **overrides)
        self.config = cfg
        c, ce = cfg.channels, cfg.enc_channels
        n_enc = 1 if cfg.share_weights else 3
        n_pair = 1 if cfg.share_weights else 2  # attention / alignment for the short and long frames
        if cfg.ms_encoder:
            self.encoders = nn.ModuleList(MultiScaleEncoder(6, ce) for _ in range(n_enc))
            att_ch, merge_in = ce, 3 * c  # attention on the low branch; per frame [pool(high), low]
        else:
            self.encoders = nn.ModuleList(PlainEncoder(6, c) for _ in range(n_enc))
            att_ch, merge_in = c, 3 * c
        half_att = cfg.attention_resolution == "half"
        self.attention = nn.ModuleList(Attention(att_ch, half_att, cfg.upsample) for _ in range(n_pair))
        self.alignment = nn.ModuleList(
            FeatureAlignment(ce, cfg.align == "half", cfg.upsample)
            for _ in range(n_pair if cfg.align != "none" else 0)
        )
        self.merge = nn.Sequential(DSConv(merge_in, c), act())
        if cfg.block == "pdub":
            self.blocks = nn.Sequential(*(PDUB(c, ce, cfg.upsample) for _ in range(cfg.n_blocks)))
        else:
            self.blocks = nn.Sequential(*(ds_drdb(c) for _ in range(cfg.n_blocks)))
        self.refine = nn.Sequential(DSConv(c, c), act(), DSConv(c, c), act())
        self.head = conv(c, 3)  # the one standard conv of the restoration network
        self.out_act = {"relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), "none": nn.Identity()}[
            cfg.output_activation
        ]

    def _encoder(self, i: int) -> nn.Module:
        return self.encoders[0 if len(self.encoders) == 1 else i]

    def reconstruct(self, ldrs: Tensor, ev: Tensor) -> Tensor:
        frames = frame_inputs(ldrs, ev, self.gamma)
        feats = [self._encoder(i)(f) for i, f in enumerate(frames)]
        high_ref, low_ref = feats[REFERENCE]
        merged = []
        for i, (high, low) in enumerate(feats):
            if i != REFERENCE:
                k = 0 if len(self.attention) == 1 else int(i > REFERENCE)
                if self.alignment:
                    high = self.alignment[k](high, high_ref)
                if low is not None:
                    low = self.attention[k](low, low_ref)
                else:
                    high = self.attention[k](high, high_ref)
            pooled = downsample2x(high)
            merged.append(pooled if low is None else torch.cat([pooled, low], dim=1))
        x = self.blocks(self.merge(torch.cat(merged, dim=1)))
        skip = high_ref if low_ref is None else torch.cat([high_ref, upsample_like(low_ref, high_ref)], dim=1)
        x = upsample_like(x, skip) + skip
        return self.out_act(self.head(self.refine(x)))

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())


# ---------------------------------------------------------------------------------------------
# Registry: the paper's rows as configurations
# ---------------------------------------------------------------------------------------------

LIGHTWEIGHT = EAPNetConfig()
STANDARD = replace(LIGHTWEIGHT, n_blocks=4, align="half", attention_resolution="half", upsample="transposed")

# Table 1 rows (flags as in bench/paper_tables.csv): name -> (row, description, config)
TABLE1 = {
    "eapnet-exp1": (
        "base: AHDR with depthwise-separable convs, half-resolution restoration, 3 DRDBs",
        replace(LIGHTWEIGHT, ms_encoder=False, block="drdb", share_weights=True, align="none"),
    ),
    "eapnet-exp2": (
        "+ multi-scale encoder (3 DRDBs, shared weights)",
        replace(LIGHTWEIGHT, block="drdb", share_weights=True, align="none"),
    ),
    "eapnet-exp3": (
        "+ PDUB instead of DRDB (shared weights)",
        replace(LIGHTWEIGHT, share_weights=True, align="none"),
    ),
    "eapnet-exp4": (
        "+ alignment at full resolution (shared weights)",
        replace(LIGHTWEIGHT, share_weights=True),
    ),
    "eapnet-exp5": ("no weight sharing, no alignment", replace(LIGHTWEIGHT, align="none")),
    "eapnet-exp6": ("lightweight EAPNet (Track 2 entry)", LIGHTWEIGHT),
    "eapnet-exp7": (
        "attention and alignment at half resolution",
        replace(LIGHTWEIGHT, align="half", attention_resolution="half"),
    ),
    "eapnet-exp8": ("standard EAPNet (Track 1 entry): 4 PDUBs, transposed-conv upsampling", STANDARD),
}
ALIASES = {
    "eapnet-exp6": "eapnet-lightweight",
    "eapnet-exp8": "eapnet-standard",
    "eapnet-lightweight-pdub3": "eapnet-lightweight",
}


def _factory(config: EAPNetConfig):
    def build(**overrides: Any) -> EAPNet:
        return EAPNet(config, **overrides)

    return build


@register_model(family="eapnet", paper_table=1, paper_row="exp8")
def eapnet_standard(**overrides: Any) -> EAPNet:
    """Standard EAPNet (Track 1): 4 PDUBs, half-resolution attention/alignment, transposed-conv upsampling."""
    return EAPNet(STANDARD, **overrides)


@register_model(family="eapnet", paper_table=1, paper_row="exp6", weights="eapnet-lightweight.safetensors")
def eapnet_lightweight(**overrides: Any) -> EAPNet:
    """Lightweight EAPNet (Track 2): 3 PDUBs, full-resolution alignment, bilinear upsampling."""
    return EAPNet(LIGHTWEIGHT, **overrides)


def _alias_weights(name: str) -> str | None:
    """An alias is the same network as its target, so it shares the target's trained weights."""
    target = ALIASES.get(name)
    return model_info(target).weights if target else None


for _name, (_desc, _cfg) in TABLE1.items():
    register_model(
        _factory(_cfg),
        name=_name,
        family="eapnet",
        paper_table=1,
        paper_row=_name.split("-")[-1],
        description=_desc,
        alias_of=ALIASES.get(_name),
        weights=_alias_weights(_name),
    )

for _n in (2, 3, 4, 5):
    _name = f"eapnet-lightweight-pdub{_n}"
    register_model(
        _factory(replace(LIGHTWEIGHT, n_blocks=_n)),
        name=_name,
        family="eapnet",
        paper_table=2,
        paper_row=f"pdub{_n}",
        description=f"lightweight EAPNet with {_n} PDUBs",
        alias_of=ALIASES.get(_name),
        weights=_alias_weights(_name),
    )
