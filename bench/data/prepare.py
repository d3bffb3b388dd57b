"""Writing a frame store (``prepare-data``): decode each scene once, write ``frames.bin`` + ``store.json`` atomically.

The format is :mod:`bench.data.store`'s. The store is written in a temporary folder beside ``--out``
and renamed when complete; ``force`` replaces an existing store only then.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import UsageError, progress, write_json
from bench.data.layouts import DatasetError, check_dataset
from bench.data.store import FRAMES, GT_DTYPES, MANIFEST, STORE_FORMAT, STORE_VERSION, StoreLayout, aligned
from models.conventions import CONTRACT

# LDR dtypes tried in order, with the scale that maps them to the float values in 0..1.
# 65536: the Kalantari-family tifs as the field reads them (value / 2^16) stay 16-bit too.
LDR_DTYPES = (("uint8", 255.0), ("uint16", 65535.0), ("uint16", 65536.0), ("float32", 1.0))


def encode_ldrs(ldrs: np.ndarray) -> tuple[np.ndarray, str, float]:
    """The smallest dtype whose values divided by its scale give ``ldrs`` bit for bit."""
    floats = np.asarray(ldrs, dtype=np.float32)
    for dtype, scale in LDR_DTYPES[:-1]:
        stored = np.round(floats * scale)
        if stored.min() >= 0 and stored.max() <= np.iinfo(dtype).max:
            stored = stored.astype(dtype)
            if np.array_equal(stored.astype(np.float32) / np.float32(scale), floats):
                return stored, dtype, scale
    return floats, "float32", 1.0


@dataclass(frozen=True)
class StoreSummary:
    """What ``prepare-data`` wrote."""

    store: str
    source: str
    layout: str
    scenes: int
    bytes: int
    seconds: float
    source_fingerprint: str

    def describe(self) -> str:
        return (
            f"prepare-data: {self.scenes} scenes of {self.source} ({self.layout}) -> {self.store} "
            f"({self.bytes / 1e9:.3f} GB, {self.seconds:.1f} s)"
        )


def prepare_store(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    layout: str | None = None,
    ids: list[str] | None = None,
    patch: int | None = None,
    gt_dtype: str = "float32",
    force: bool = False,
    show_progress: bool = True,
) -> StoreSummary:
    """Decode every scene of ``source`` into a new store at ``out`` (written in a temporary folder, then renamed)."""
    if gt_dtype not in GT_DTYPES:
        raise UsageError(f"--gt-dtype {gt_dtype!r}: choose one of {', '.join(GT_DTYPES)}")
    src, dest = Path(source), Path(out)
    chosen, scene_ids = check_dataset(src, ids, False, layout)
    if chosen.name == StoreLayout.name:
        raise UsageError(f"{src} is already a prepare-data store")
    if dest.exists() and not force:
        raise UsageError(f"--out {dest} already exists: pass --force to replace it, or choose another --out")
    if patch is not None:
        small = [sid for sid in scene_ids if min(chosen.sample_size(src, sid)) < patch]
        if small:
            raise DatasetError(
                f"data set {src}: scenes smaller than --patch {patch}: {', '.join(small[:10])}"
            )
    t0 = time.perf_counter()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    scenes: list[dict[str, Any]] = []
    offset = 0
    try:
        with open(tmp / FRAMES, "wb") as fh:
            items = progress(scene_ids, desc="prepare-data") if show_progress else scene_ids
            for sid in items:
                sample = chosen.load(src, sid)
                # Stored in the data's own convention (Kalantari LDRs stay exact 16-bit values); the
                # store's decode converts each crop to the contract, as the source layout's reader does.
                convention = sample.convention or CONTRACT
                ldrs = sample.ldrs if sample.convention is not None else sample.contract_ldrs()
                gt = sample.gt if sample.convention is not None else sample.contract_gt()
                ldr, ldr_dtype, scale = encode_ldrs(ldrs)
                # Planar (frame, channel, H, W) and (channel, H, W): a crop then copies whole rows and
                # reaches the model's layout without a transpose, the slow part of a crop.
                arrays = [ldr.transpose(0, 3, 1, 2)]
                if gt is not None:
                    arrays.append(np.asarray(gt, dtype=gt_dtype).transpose(2, 0, 1))
                offsets = []
                for arr in arrays:
                    pad = aligned(offset) - offset
                    fh.write(b"\0" * pad)
                    offset += pad
                    offsets.append(offset)
                    data = np.ascontiguousarray(arr).tobytes()
                    fh.write(data)
                    offset += len(data)
                width, height = sample.size
                scenes.append(
                    {
                        "id": sid,
                        "width": width,
                        "height": height,
                        "exposures": [float(e) for e in sample.exposures],
                        "ldr_dtype": ldr_dtype,
                        "ldr_scale": scale,
                        "ldr_offset": offsets[0],
                        "gt_dtype": gt_dtype if gt is not None else None,
                        "gt_offset": offsets[1] if gt is not None else None,
                        "convention": convention.name,
                    }
                )
            fh.flush()
            os.fsync(fh.fileno())
        fingerprint = chosen.fingerprint(src, scene_ids)
        manifest = {
            "format": STORE_FORMAT,
            "version": STORE_VERSION,
            "source": {"path": str(src.resolve()), "layout": chosen.name, "fingerprint": fingerprint},
            "min_patch": patch,
            "gt_dtype": gt_dtype,
            "bytes": offset,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "scenes": scenes,
        }
        write_json(tmp / MANIFEST, manifest)
        if dest.exists():  # --force: the old store goes only once the new one is complete
            old = dest.parent / f".{dest.name}.old-{os.getpid()}"
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return StoreSummary(
        store=str(dest),
        source=str(src),
        layout=chosen.name,
        scenes=len(scenes),
        bytes=offset,
        seconds=round(time.perf_counter() - t0, 3),
        source_fingerprint=fingerprint,
    )
