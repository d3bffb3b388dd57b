"""Shifted-window self-attention (Swin) pieces shared by the transformer HDR networks.

HDR-Transformer (Liu et al., ECCV 2022) and SCTNet (Tel et al., ICCV 2023) both build on SwinIR's
residual Swin stage; the pieces are written once here, from the architecture of their public code:

- tokens are ``[B, H*W, C]`` (row-major pixels); :func:`tokens_to_image` / :func:`image_to_tokens`
  convert to and from ``[B, C, H, W]`` for the convolutions;
- :class:`WindowAttention`: multi-head attention inside non-overlapping ``window x window``
  windows, queries scaled by ``head_dim ** -0.5`` *before* the product, a learned relative
  position bias (a ``(2w-1)^2 x heads`` table indexed by the offset between two pixels);
- :class:`SwinBlock`: LayerNorm, window attention (every second block on windows shifted by
  ``window // 2``, cyclically, with :func:`shifted_window_mask` keeping pixels that were not
  neighbours apart by -100 logits), residual; LayerNorm, :class:`Mlp` (GELU), residual;
- :class:`ResidualWindowStage`: blocks, a 3x3 conv on the image, plus the stage's input.

Inference only: the authors' dropout and stochastic depth (DropPath) are identity in eval mode
and left out. The index table and the masks are derived, not learned: they are computed from the
window size (and the image size) rather than stored, so a model built on the meta device works.

The layer types and the tensor shapes each layer sees follow the authors' code (``nn.Linear`` on
windows ``[B*nW, N, C]`` for q/k/v and the projection, on all tokens ``[B, H*W, C]`` for the MLP;
``nn.Softmax``, ``nn.GELU`` and ``nn.LayerNorm`` as modules): torchinfo, thop and fvcore count
each layer by its type and output shape, so this keeps every tool's count equal to theirs.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "Mlp",
    "ResidualWindowStage",
    "SwinBlock",
    "WindowAttention",
    "image_to_tokens",
    "pad_frames",
    "relative_position_index",
    "shifted_window_mask",
    "tokens_to_image",
    "window_partition",
    "window_reverse",
]

MASK_LOGIT = -100.0  # added to the logits of pixel pairs a shifted window must not mix (as Swin does)


def image_to_tokens(x: Tensor) -> Tensor:
    """``[B, C, H, W]`` -> ``[B, H*W, C]``."""
    return x.flatten(2).transpose(1, 2)


def tokens_to_image(x: Tensor, size: tuple[int, int], batch_stride_of_tokens: bool = False) -> Tensor:
    """``[B, H*W, C]`` -> ``[B, C, H, W]``, a view with channels-last strides.

    Two views of the same values exist for one image (B = 1): the transposed view (batch stride C)
    or the permuted ``[B, H, W, C]`` view (batch stride H*W*C, ``batch_stride_of_tokens``). CPU
    convolutions pick their kernel by strides, and the last bits of their sums with it; each
    caller takes the view the authors' code takes at that point, so outputs match bit for bit.
    """
    b, _, c = x.shape
    if batch_stride_of_tokens:
        return x.reshape(b, size[0], size[1], c).permute(0, 3, 1, 2)
    return x.transpose(1, 2).reshape(b, c, size[0], size[1])


def window_partition(x: Tensor, window: int) -> Tensor:
    """``[B, H, W, C]`` -> ``[B*nW, window*window, C]``: windows in row-major order, pixels within each."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def window_reverse(windows: Tensor, window: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`window_partition`: ``[B*nW, window*window, C]`` -> ``[B, H, W, C]``."""
    c = windows.shape[-1]
    b = windows.shape[0] // ((h // window) * (w // window))
    x = windows.view(b, h // window, w // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


@functools.lru_cache(maxsize=8)
def relative_position_index(window: int) -> Tensor:
    """``[N, N]`` (N = window^2): row of the bias table for each (query, key) pixel pair of a window.

    The offset ``(dy, dx)`` from key to query, each in ``-(w-1)..w-1``, is numbered row-major:
    ``(dy + w - 1) * (2w - 1) + (dx + w - 1)``. Built on the CPU whatever the default device is
    (the table is read with it on the model's device); cached, so never modify the result.
    """
    ys, xs = torch.meshgrid(
        torch.arange(window, device="cpu"), torch.arange(window, device="cpu"), indexing="ij"
    )
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + window - 1
    dx = xs[:, None] - xs[None, :] + window - 1
    return dy * (2 * window - 1) + dx


def shifted_window_mask(
    h: int, w: int, window: int, shift: int, device: torch.device | str, dtype: torch.dtype = torch.float32
) -> Tensor:
    """``[nW, N, N]`` additive mask for attention on windows shifted by ``shift`` (0 or -100).

    After the cyclic shift, the last window row and column hold pixels from opposite image
    borders. Pixels are labelled by region (rows ``< h - window``, ``< h - shift``, the rest, and the
    same for columns); a pair from different regions gets :data:`MASK_LOGIT`.
    """

    def region(n: int) -> Tensor:
        idx = torch.arange(n, device=device)
        return (idx >= n - window).long() + (idx >= n - shift).long()

    labels = region(h)[:, None] * 3 + region(w)[None, :]
    windows = window_partition(labels.view(1, h, w, 1), window).squeeze(-1)  # [nW, N]
    different = windows[:, None, :] != windows[:, :, None]
    return torch.zeros(different.shape, device=device, dtype=dtype).masked_fill(different, MASK_LOGIT)


def pad_frames(ldrs: Tensor, multiple: int, mode: str) -> Tensor:
    """Pad ``[..., H, W]`` at the bottom and right to a multiple of ``multiple``.

    ``mode`` is ``"ones"`` (constant 1.0, how HDR-Transformer's and SCTNet's test loaders fill
    their tiles) or ``"reflect"`` (SCTNet's own forward).
    """
    h, w = ldrs.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return ldrs
    flat = ldrs.reshape(-1, 1, h, w)
    if mode == "ones":
        flat = F.pad(flat, (0, pw, 0, ph), mode="constant", value=1.0)
    elif mode == "reflect":
        flat = F.pad(flat, (0, pw, 0, ph), mode="reflect")
    else:
        raise ValueError(f"padding mode must be 'ones' or 'reflect', not {mode!r}")
    return flat.reshape(*ldrs.shape[:-2], h + ph, w + pw)


class Mlp(nn.Sequential):
    """Linear -> GELU -> Linear, on the last dimension."""

    def __init__(self, in_features: int, hidden: int, out_features: int | None = None) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, out_features or in_features)


class WindowAttention(nn.Module):
    """Multi-head self-attention within each window, with a learned relative position bias."""

    def __init__(self, dim: int, window: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"{dim} channels do not split into {heads} heads")
        self.window, self.heads = window, heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.softmax = nn.Softmax(dim=-1)

    def position_bias(self) -> Tensor:
        """``[heads, N, N]`` bias added to the logits."""
        table = self.relative_position_bias_table
        index = relative_position_index(self.window).to(table.device)
        n = self.window * self.window
        return table[index.view(-1)].view(n, n, -1).permute(2, 0, 1)

    def forward(self, windows: Tensor, mask: Tensor | None = None) -> Tensor:
        """``windows [B*nW, N, C]``; ``mask [nW, N, N]`` (shifted windows) or None."""
        b, n, c = windows.shape
        qkv = self.qkv(windows).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each [B*nW, heads, N, head_dim]
        logits = (q * self.scale) @ k.transpose(-2, -1) + self.position_bias().unsqueeze(0)
        if mask is not None:
            n_windows = mask.shape[0]
            logits = logits.view(b // n_windows, n_windows, self.heads, n, n) + mask[None, :, None]
            logits = logits.view(b, self.heads, n, n)
        out = self.softmax(logits) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class SwinBlock(nn.Module):
    """Pre-norm transformer block on (optionally shifted) windows; tokens ``[B, H*W, C]`` in and out."""

    def __init__(self, dim: int, heads: int, window: int, shift: int, mlp_ratio: float) -> None:
        super().__init__()
        if not 0 <= shift < window:
            raise ValueError(f"shift {shift} must be in 0..{window - 1}")
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def attend(self, normed: Tensor, size: tuple[int, int], mask: Tensor | None) -> Tensor:
        """Window attention on normalised tokens (shifted by ``self.shift``, and back)."""
        (h, w), (b, _, c) = size, normed.shape
        x = normed.view(b, h, w, c)
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        x = self.attn(window_partition(x, self.window), mask if self.shift else None)
        x = window_reverse(x, self.window, h, w)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        return x.reshape(b, h * w, c)

    def forward(self, x: Tensor, size: tuple[int, int], mask: Tensor | None) -> Tensor:
        x = x + self.attend(self.norm1(x), size, mask)
        return x + self.mlp(self.norm2(x))


class ResidualWindowStage(nn.Module):
    """SwinIR's residual stage: transformer blocks, a conv on the image they give, plus the input."""

    def __init__(self, blocks: list[nn.Module], conv: nn.Module) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.conv = conv

    def forward(self, x: Tensor, size: tuple[int, int], mask: Tensor | None) -> Tensor:
        """``mask``: :func:`shifted_window_mask` for this size (the shifted blocks use it)."""
        y = x
        for block in self.blocks:
            y = block(y, size, mask)
        return image_to_tokens(self.conv(tokens_to_image(y, size))) + x
