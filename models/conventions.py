"""Input and output conventions of HDR networks, and the conversions to and from the model contract.

The field trains on two kinds of data, and its networks expect what their data gave them:

- **ntire** (NTIRE 2021/2022, the contract of this suite): LDRs gamma-encoded with 2.24, EVs in
  stops relative to the *medium* frame, output HDR gamma-encoded with 2.24 on the medium frame's
  scale (``hdr ** (1 / 2.24)``, may exceed 1).
- **kalantari** (Kalantari 2017 and the papers that train on it: AHDRNet, HDR-Transformer, SCTNet,
  SAFNet): LDRs gamma-encoded with 2.2, EVs relative to the *shortest* frame (the reader computes
  ``ldr ** 2.2 / 2 ** (ev - min ev)``), output *linear* HDR on the shortest frame's scale.

A model declares its convention (``HDRModel.convention``); :class:`models.blocks.HDRModel`
converts the contract's inputs into it and its output back, so every model runs on every data
layout and every metric sees one encoding. Data layouts use the same functions on NumPy arrays
(every function here works on ``torch.Tensor`` and ``numpy.ndarray`` alike).

``shortest_stops`` below is how many stops the medium frame is above the shortest one
(``ev_medium - ev_min`` >= 0), a float or an array broadcastable against the images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

Array = TypeVar("Array")  # torch.Tensor or numpy.ndarray: only ``**``, ``*`` and ``.clip`` are used

__all__ = ["CONTRACT", "CONVENTIONS", "KALANTARI", "NTIRE", "Convention", "convention", "shortest_stops"]


@dataclass(frozen=True)
class Convention:
    """What a network expects as input and what its output means."""

    name: str
    ldr_gamma: float  # the gamma the network assumes its LDR frames carry
    ev_reference: Literal["medium", "shortest"]  # which frame its EVs are relative to
    hdr_encoding: Literal["gamma", "linear"]  # its output: radiance ** (1 / hdr_gamma), or radiance
    hdr_gamma: float  # used when hdr_encoding is "gamma"
    hdr_scale: Literal["medium", "shortest"]  # the frame whose exposure the output radiance matches
    description: str = ""

    def ldr_from_contract(self, ldr: Array) -> Array:
        """Re-encode contract LDRs (gamma 2.24) into this convention's gamma (exact inverse below)."""
        if self.ldr_gamma == CONTRACT_GAMMA:
            return ldr
        return ldr.clip(0) ** (CONTRACT_GAMMA / self.ldr_gamma)

    def ldr_to_contract(self, ldr: Array) -> Array:
        if self.ldr_gamma == CONTRACT_GAMMA:
            return ldr
        return ldr.clip(0) ** (self.ldr_gamma / CONTRACT_GAMMA)

    def ev_from_contract(self, ev: Array) -> Array:
        """EVs relative to the medium frame (``[..., 3]``) -> relative to this convention's reference."""
        if self.ev_reference == "medium":
            return ev
        return ev + shortest_stops(ev)[..., None]

    def radiance(self, hdr: Array, shortest: float | Array) -> Array:
        """This convention's HDR -> linear radiance on the medium frame's scale."""
        linear = hdr if self.hdr_encoding == "linear" else hdr.clip(0) ** self.hdr_gamma
        return linear * 2.0**shortest if self.hdr_scale == "shortest" else linear

    def from_radiance(self, radiance: Array, shortest: float | Array) -> Array:
        """Linear radiance on the medium frame's scale -> this convention's HDR (inverse of radiance)."""
        linear = radiance * 2.0 ** (-shortest) if self.hdr_scale == "shortest" else radiance
        return linear if self.hdr_encoding == "linear" else linear.clip(0) ** (1.0 / self.hdr_gamma)

    def hdr_to_contract(self, hdr: Array, shortest: float | Array) -> Array:
        """This convention's HDR -> the contract's (gamma 2.24, medium frame's scale)."""
        if self == CONTRACT:
            return hdr
        return CONTRACT.from_radiance(self.radiance(hdr, shortest), 0.0)

    def hdr_from_contract(self, hdr: Array, shortest: float | Array) -> Array:
        if self == CONTRACT:
            return hdr
        return self.from_radiance(CONTRACT.radiance(hdr, 0.0), shortest)


CONTRACT_GAMMA = 2.24  # the NTIRE 2022 data's gamma (protocol section 1)

NTIRE = Convention(
    "ntire",
    ldr_gamma=CONTRACT_GAMMA,
    ev_reference="medium",
    hdr_encoding="gamma",
    hdr_gamma=CONTRACT_GAMMA,
    hdr_scale="medium",
    description="NTIRE 2021/2022: LDR gamma 2.24, EV relative to the medium frame, HDR ** (1/2.24) on its scale",
)
KALANTARI = Convention(
    "kalantari",
    ldr_gamma=2.2,
    ev_reference="shortest",
    hdr_encoding="linear",
    hdr_gamma=1.0,
    hdr_scale="shortest",
    description="Kalantari 2017: LDR gamma 2.2, EV relative to the shortest frame, linear HDR on its scale",
)
CONTRACT = NTIRE  # what every model's forward() takes and returns in this suite
CONVENTIONS: dict[str, Convention] = {c.name: c for c in (NTIRE, KALANTARI)}


def convention(name: str) -> Convention:
    """The convention called ``name``; ``KeyError`` listing the known ones otherwise."""
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise KeyError(f"unknown convention {name!r} (known: {', '.join(CONVENTIONS)})") from None


def shortest_stops(ev: Array) -> Array:
    """``ev_medium - ev_min`` per sample from contract EVs ``[..., 3]`` (the medium is 0 there)."""
    if hasattr(ev, "dim"):  # torch
        return -ev.amin(-1)
    return -ev.min(-1)
