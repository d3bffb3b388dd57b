"""Building blocks shared by every architecture in ``models/``.

Every network here follows one contract (see ``models/registry.py``): ``forward(ldrs, ev)`` with
``ldrs [B, 3, 3, H, W]`` gamma-encoded LDR frames (short, medium, long) and ``ev [B, 3]`` EV stops
relative to the medium frame, returning gamma-encoded HDR ``[B, 3, H, W]`` on the medium frame's
scale. :class:`HDRModel` implements the contract once (checks, EV alignment, padding to what the
downsampling needs, cropping back); subclasses only write :meth:`HDRModel.reconstruct`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.conventions import CONTRACT, Convention, shortest_stops

GAMMA = 2.24  # the NTIRE 2022 data's gamma (protocol section 1)


def conv(
    in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, dilation: int = 1, bias: bool = True
) -> nn.Conv2d:
    """A standard convolution with 'same' padding (for odd kernels)."""
    return nn.Conv2d(
        in_ch,
        out_ch,
        kernel,
        stride=stride,
        padding=dilation * (kernel - 1) // 2,
        dilation=dilation,
        bias=bias,
    )


class DSConv(nn.Sequential):
    """Depthwise-separable convolution (MobileNet): a depthwise kxk and a pointwise 1x1, both with bias.

    ``order="dw-pw"`` is the usual MobileNet order; ``"pw-dw"`` puts the pointwise conv first, which
    is the variant whose cost fits the paper's DRDB ablation (exp2 - exp3 = 16.63 GMAccs).
    Stride and dilation apply to the depthwise conv.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int = 3,
        stride: int = 1,
        dilation: int = 1,
        order: str = "dw-pw",
    ) -> None:
        if order == "dw-pw":
            dw = nn.Conv2d(in_ch, in_ch, kernel, stride, dilation * (kernel - 1) // 2, dilation, groups=in_ch)
            pw = nn.Conv2d(in_ch, out_ch, 1)
            super().__init__(dw, pw)
        elif order == "pw-dw":
            pw = nn.Conv2d(in_ch, out_ch, 1)
            dw = nn.Conv2d(
                out_ch, out_ch, kernel, stride, dilation * (kernel - 1) // 2, dilation, groups=out_ch
            )
            super().__init__(pw, dw)
        else:
            raise ValueError(f"DSConv order must be 'dw-pw' or 'pw-dw', not {order!r}")


def act() -> nn.Module:
    return nn.LeakyReLU(0.1)


class Upsample2x(nn.Module):
    """x2 upsampling: bilinear (free under the NTIRE counting rules) or a learnable ConvTranspose2d(k2, s2)."""

    def __init__(self, channels: int, mode: str = "bilinear") -> None:
        super().__init__()
        if mode not in ("bilinear", "transposed"):
            raise ValueError(f"upsample mode must be 'bilinear' or 'transposed', not {mode!r}")
        self.mode = mode
        self.deconv = nn.ConvTranspose2d(channels, channels, 2, stride=2) if mode == "transposed" else None

    def forward(self, x: Tensor) -> Tensor:
        if self.deconv is not None:
            return self.deconv(x)
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def downsample2x(x: Tensor) -> Tensor:
    """Parameter-free x2 downsampling (2x2 average pooling)."""
    return F.avg_pool2d(x, 2)


def upsample_like(x: Tensor, ref: Tensor) -> Tensor:
    """Bilinear resize of ``x`` to ``ref``'s spatial size."""
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


class DRDB(nn.Module):
    """Dilated residual dense block (AHDR): dense dilated convs, 1x1 fusion, residual.

    ``conv_factory(in_ch, out_ch, dilation)`` builds each dense layer's conv, so the same block
    serves AHDR (standard 3x3 convs) and the EAPNet ablation rows (depthwise-separable convs).
    """

    def __init__(
        self, channels: int = 64, growth: int = 32, n_layers: int = 6, dilation: int = 2, conv_factory=None
    ) -> None:
        super().__init__()
        conv_factory = conv_factory or (lambda i, o, d: conv(i, o, 3, dilation=d))
        self.layers = nn.ModuleList(
            conv_factory(channels + i * growth, growth, dilation) for i in range(n_layers)
        )
        self.fuse = nn.Conv2d(channels + n_layers * growth, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        feats = x
        for layer in self.layers:
            feats = torch.cat([feats, F.relu(layer(feats))], dim=1)
        return x + self.fuse(feats)


# ---------------------------------------------------------------------------------------------
# The model contract
# ---------------------------------------------------------------------------------------------


def ev_align(ldrs: Tensor, ev: Tensor, gamma: float = GAMMA) -> Tensor:
    """Bring each LDR frame to the medium frame's exposure, staying in the gamma domain.

    The organizers' formula is ``((ldr ** gamma) * 2 ** (-ev)) ** (1 / gamma)``; for ``ldr >= 0``
    this equals ``ldr * 2 ** (-ev / gamma)``, which we use because it has a finite gradient at 0
    and costs one multiplication.
    """
    scale = torch.pow(2.0, -ev.to(ldrs.dtype) / gamma)  # [B, 3]
    return ldrs * scale[:, :, None, None, None]


def frame_inputs(ldrs: Tensor, ev: Tensor, gamma: float = GAMMA) -> list[Tensor]:
    """The paper's eq. 2: per frame, the 6-channel concatenation ``[ldr_i, aligned_i]``."""
    aligned = ev_align(ldrs, ev, gamma)
    return [torch.cat([ldrs[:, i], aligned[:, i]], dim=1) for i in range(ldrs.shape[1])]


def check_inputs(ldrs: Tensor, ev: Tensor) -> None:
    if ldrs.dim() != 5 or ldrs.shape[1] != 3 or ldrs.shape[2] != 3:
        raise ValueError(f"ldrs must be [B, 3 frames, 3 channels, H, W], got {list(ldrs.shape)}")
    if ev.dim() != 2 or ev.shape[0] != ldrs.shape[0] or ev.shape[1] != 3:
        raise ValueError(
            f"ev must be [B, 3] (one EV per frame), got {list(ev.shape)} for {ldrs.shape[0]} samples"
        )
    if not ldrs.is_floating_point():
        raise ValueError(f"ldrs must be a float tensor in 0..1, got {ldrs.dtype}")


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Replicate-pad the last two dims of ``x`` (any leading dims) up to a multiple of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    lead = x.shape[:-2]
    flat = x.reshape(-1, 1, h, w)
    flat = F.pad(flat, (0, pw, 0, ph), mode="replicate")
    return flat.reshape(*lead, h + ph, w + pw)


class HDRModel(nn.Module):
    """Base class implementing the model contract once.

    Subclasses set ``size_multiple`` (the product of their downsampling strides) and implement
    ``reconstruct(ldrs, ev)`` on inputs whose height and width are multiples of it. A network
    trained on other data sets ``convention`` (:mod:`models.conventions`): ``reconstruct`` then
    receives its LDRs and EVs in that convention and returns HDR in it, and ``forward`` converts at
    the boundary, so the contract holds for callers.
    """

    size_multiple: int = 1
    gamma: float = GAMMA
    convention: Convention = CONTRACT

    def reconstruct(self, ldrs: Tensor, ev: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, ldrs: Tensor, ev: Tensor) -> Tensor:
        check_inputs(ldrs, ev)
        h, w = ldrs.shape[-2:]
        native = self.convention
        x = native.ldr_from_contract(ldrs)
        out = self.reconstruct(pad_to_multiple(x, self.size_multiple), native.ev_from_contract(ev))
        out = out[..., :h, :w]
        if native is CONTRACT:
            return out
        return native.hdr_to_contract(out, shortest_stops(ev.to(out.dtype))[:, None, None, None])
