"""What a timing runs on: the model built on the device, and one scene as an LDR triplet, padded like the paper."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.core import UsageError
from bench.data import DatasetError, load_sample, scan_dataset, simulate
from bench.spec.weights import WeightsRef
from models.registry import create_model

DEFAULT_EV = (-2.0, 0.0, 2.0)


def build_model(model: str | nn.Module, weights: WeightsRef | None, device: torch.device) -> nn.Module:
    """A registered model by name (with ``weights`` loaded) or a copy of a module, in eval mode on ``device``."""
    if isinstance(model, nn.Module):
        m = copy.deepcopy(model)
    else:
        m = create_model(model)
        if weights is not None:
            weights.load_into(m, model_name=model)
    return m.to(device).eval()


def read_ntire_scene(prefix: str, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """LDR triplet (3, H, W, 3) in 0..1 and relative EV (3,) of the NTIRE sample ``DIR/XXXX``, resized."""
    import cv2  # only for scenes read from files

    p = Path(prefix)
    try:
        scan_dataset(p.parent, ids=[p.name])  # the same checks as any data set, before decoding
    except DatasetError as exc:
        raise UsageError(
            f"scene {prefix!r}: cannot read it as an NTIRE sample (give an .hdr/.exr file or a "
            f"prefix DIR/0000): {str(exc).splitlines()[0]}"
        ) from None
    sample = load_sample(p.parent, p.name)
    frames = [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in sample["ldrs"]]
    return np.stack(frames), sample["ev"]


def make_inputs(
    width: int, height: int, batch: int = 1, scene: str | None = None, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """``ldrs [B, 3, 3, H, W]`` and ``ev [B, 3]`` for one scene (repeated over the batch).

    ``scene``: an ``.hdr``/``.exr`` radiance map (resized, exposed by :mod:`bench.data.simulate`), an
    NTIRE prefix ``DIR/0000``, or None for :func:`bench.data.simulate.synthetic_scene` (seeded). A
    realistic scene matters for the numerics check: clipped highlights, deep shadows and flat
    areas exercise a network unlike random noise does.
    """
    rng = np.random.default_rng(seed)
    if scene and Path(scene).suffix.lower() not in simulate.HDR_SUFFIXES:
        ldr, ev = read_ntire_scene(scene, width, height)
    else:
        if scene:
            import cv2  # only for scenes read from files

            radiance = cv2.resize(
                simulate.read_radiance(scene), (width, height), interpolation=cv2.INTER_AREA
            )
        else:
            radiance = simulate.synthetic_scene((width, height), rng)
        radiance = radiance * simulate.auto_scale(radiance, rng)
        trip = simulate.simulate_triplet(radiance, DEFAULT_EV, simulate.Sensor(), rng)
        ldr, ev = trip["ldrs"].astype(np.float32) / 255.0, np.array(DEFAULT_EV, np.float32)
    ldrs = torch.from_numpy(np.ascontiguousarray(ldr)).permute(0, 3, 1, 2)  # (3 frames, 3, H, W)
    ldrs = ldrs.unsqueeze(0).expand(batch, -1, -1, -1, -1).contiguous()
    ev_t = torch.from_numpy(np.asarray(ev, np.float32)).unsqueeze(0).expand(batch, -1).contiguous()
    return ldrs, ev_t


def pad_to_size(x: Tensor, width: int, height: int) -> Tensor:
    """Replicate-pad the last two dims on the right and bottom to ``height x width`` (the paper's 1900x1060 -> 1920x1080)."""
    h, w = x.shape[-2:]
    if h > height or w > width:
        raise ValueError(f"cannot pad {w}x{h} to the smaller {width}x{height}")
    if (h, w) == (height, width):
        return x
    lead = x.shape[:-2]
    flat = F.pad(x.reshape(-1, 1, h, w), (0, width - w, 0, height - h), mode="replicate")
    return flat.reshape(*lead, height, width)


def crop_to_size(x: Tensor, width: int, height: int) -> Tensor:
    return x[..., :height, :width]
