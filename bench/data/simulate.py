"""Data sets simulated from HDR radiance (the paper's eq. 1), written in any layout, so the suite runs without NTIRE data.

Scenes come from :mod:`bench.data.scenes` (procedural, or crops of ``.hdr``/``.exr`` radiance maps);
:mod:`bench.data.sensor` turns each into three LDR frames and a ground truth (eq. 1: exposure, gain,
offset, shot and read noise, saturation, gamma 2.24, 8 bits). The GT is gamma-encoded HDR on the
medium frame's scale, capped at the short frame's saturation point. Samples are written through
the chosen :class:`~bench.data.layouts.Layout` (default: NTIRE, ids ``0000``...) next to a
``manifest.json`` recording source, crop, scale, noise and seed. Everything random comes from
``numpy.random.default_rng([seed, ...])``: a seed reproduces the written files byte for byte.
``motion`` picks a kind of :data:`~bench.data.sensor.MOTION_KINDS`; ``noise_range`` scales each
triplet's shot and read noise by its own factor (recorded per sample). Both off by default, and
then the written files are those the simulator always wrote.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import UsageError, progress, write_json
from bench.data.layouts import DEFAULT_LAYOUT, Layout, Sample, open_layout
from bench.data.scenes import (
    HDR_SUFFIXES,
    crop_scene,
    find_hdr_files,
    flat_crop,
    is_panorama,
    perspective_crop,
    read_radiance,
    synthetic_scene,
)
from bench.data.sensor import (
    KEY,
    MAX_CLIPPED,
    MOTION_KINDS,
    MovingObject,
    Sensor,
    auto_scale,
    check_noise_range,
    encode_ldr,
    expose,
    motion_kind,
    object_mask,
    paste_objects,
    random_motion,
    random_objects,
    scaled_sensor,
    simulate_triplet,
    warp,
)

MANIFEST = "manifest.json"
NOISE_STREAM = 7  # per-triplet noise levels draw from [seed, ..., NOISE_STREAM]: nothing else moves


def prepare_out(out_dir: str | os.PathLike, overwrite: bool, layout: Layout) -> Path:
    """Create ``out_dir``; refuse one that already holds a data set of ``layout`` unless ``overwrite``,
    then remove only that layout's files and the manifest (a stale sample must not mix with new ones)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    members = [p for sid in layout.find_samples(out) for p in layout.member_files(out, sid)]
    existing = sorted({p for p in [*members, out / MANIFEST] if p.is_file()})
    if existing and not overwrite:
        first = existing[0].relative_to(out).as_posix()
        raise UsageError(
            f"output folder {out} already holds a data set ({first}, ...); use --force to replace it"
        )
    for p in existing:
        p.unlink()
    return out


def check_evs(evs: tuple[float, ...]) -> tuple[float, float, float]:
    if len(evs) != 3 or not all(math.isfinite(e) for e in evs):
        raise UsageError(f"evs {list(evs)} must be three finite numbers (short, medium, long)")
    if not (evs[0] <= evs[1] <= evs[2]):
        raise UsageError(f"evs {list(evs)} must be in short <= medium <= long order")
    return (float(evs[0]), float(evs[1]), float(evs[2]))


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    w, h = int(size[0]), int(size[1])
    if w < 16 or h < 16:
        raise UsageError(f"size {w}x{h} is too small (at least 16x16)")
    return w, h


def write_sample(
    out: Path,
    sid: str,
    ldrs: np.ndarray,
    evs: tuple[float, float, float],
    gt: np.ndarray,
    layout: str | Layout = DEFAULT_LAYOUT,
) -> None:
    """One simulated sample (uint8 LDR frames, gamma-encoded GT) written through ``layout``."""
    sample = Sample(
        id=sid,
        ldrs=np.asarray(ldrs, dtype=np.float32) / 255.0,
        exposures=np.asarray(evs, dtype=np.float64),
        gt=gt,
        gt_encoding="gamma",
    )
    open_layout(out, layout).write(out, sid, sample)


def manifest_record(
    layout: Layout,
    kind: str,
    seed: int,
    size,
    evs,
    sensor: Sensor,
    motion: bool | str,
    samples: list[dict],
    noise_range: tuple[float, float] | None = None,
    **extra,
) -> dict:
    """What ``manifest.json`` holds: how the data set was made, and one record per sample.

    ``motion`` stays a bool (any motion at all); ``motion_kind`` names the kind when there is
    motion, and ``noise_range`` is there when the noise level varies per sample (then each
    sample's ``noise`` and ``noise_scale`` say what it got).
    """
    moving = motion_kind(motion)
    varied = {"motion_kind": moving} if moving != "none" else {}
    if noise_range is not None:
        varied["noise_range"] = list(noise_range)
    return {
        "format": layout.manifest_format,
        **layout.describe(),  # reading options (the tif layouts' tif_scale); nothing for NTIRE
        "generator": "eapbench make-data",
        "kind": kind,
        "seed": seed,
        "size": f"{size[0]}x{size[1]}",
        "evs": list(evs),
        "gamma": layout.convention.ldr_gamma,  # of the LDR files: 2.24 (NTIRE) or 2.2 (Kalantari family)
        "noise": asdict(sensor),
        "motion": moving != "none",
        **varied,
        **extra,
        "samples": samples,
    }


def sample_sensor(
    sensor: Sensor, noise_range: tuple[float, float] | None, stream: list[int]
) -> tuple[Sensor, dict[str, Any]]:
    """The sensor of one triplet, and what its manifest record says about it (nothing for a fixed one)."""
    if noise_range is None:
        return sensor, {}
    chosen, factor = scaled_sensor(sensor, noise_range, np.random.default_rng([*stream, NOISE_STREAM]))
    return chosen, {"noise": asdict(chosen), "noise_scale": factor}


def capture(
    out: Path,
    layout: Layout,
    sid: str,
    radiance: np.ndarray,
    rng: np.random.Generator,
    evs: tuple[float, float, float],
    sensor: Sensor,
    noise_range: tuple[float, float] | None,
    noise_key: list[int],
    motion: bool | str,
) -> dict[str, Any]:
    """Expose one scene as an LDR triplet, write it as sample ``sid``; returns its manifest entry.

    The one step both sources share: auto-exposure, the triplet's noise level, eq. 1, the files.
    """
    scale = auto_scale(radiance, rng)
    triplet_sensor, noise_record = sample_sensor(sensor, noise_range, noise_key)
    sim = simulate_triplet(radiance * scale, evs, triplet_sensor, rng, motion)
    write_sample(out, sid, sim["ldrs"], evs, sim["gt"], layout)
    return {"id": sid, "source": None, "crop": None, "scale": scale, **noise_record, **sim["record"]}


def make_synthetic(
    out_dir: str | os.PathLike,
    n: int,
    size: tuple[int, int] = (1900, 1060),
    seed: int = 0,
    evs: tuple[float, float, float] = (-2, 0, 2),
    motion: bool | str = False,
    sensor: Sensor | None = None,
    overwrite: bool = False,
    layout: str | Layout = DEFAULT_LAYOUT,
    noise_range: tuple[float, float] | None = None,
) -> list[str]:
    """Write ``n`` procedural HDR scenes as samples ``0000``... (in ``layout``) plus ``manifest.json``; returns the ids."""
    if n < 1 or n > 10000:
        raise UsageError(f"--synthetic {n}: the number of samples must be 1 to 10000")
    size, evs, sensor = check_size(size), check_evs(evs), sensor or Sensor()
    motion_kind(motion)  # a bad kind stops the command before OUT is touched
    noise_range = None if noise_range is None else check_noise_range(noise_range)
    chosen = open_layout(out_dir, layout)
    out = prepare_out(out_dir, overwrite, chosen)
    ids, samples = [], []
    for i in progress(range(n), desc="synthetic", total=n):
        rng = np.random.default_rng([seed, i])
        scene = synthetic_scene(size, rng)
        sid = f"{i:04d}"
        samples.append(capture(out, chosen, sid, scene, rng, evs, sensor, noise_range, [seed, i], motion))
        samples[-1].update(source=f"synthetic:{seed}:{i}", crop=None)
        ids.append(sid)
    manifest = manifest_record(chosen, "synthetic", seed, size, evs, sensor, motion, samples, noise_range)
    write_json(out / MANIFEST, manifest)
    return ids


def make_from_hdr(
    src_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    size: tuple[int, int] = (1900, 1060),
    seed: int = 0,
    evs: tuple[float, float, float] = (-2, 0, 2),
    crops_per_image: int = 1,
    motion: bool | str = False,
    sensor: Sensor | None = None,
    overwrite: bool = False,
    layout: str | Layout = DEFAULT_LAYOUT,
    noise_range: tuple[float, float] | None = None,
    names: list[str] | None = None,
) -> list[str]:
    """Every ``.hdr``/``.exr`` in ``src_dir`` -> ``crops_per_image`` samples each (in ``layout``), plus ``manifest.json``.

    ``names`` (file names in ``src_dir``) restricts the sources, for splits of one folder of maps.

    Panoramas (2:1) give perspective views (random yaw, pitch within +-15 degrees, 70 degree
    horizontal field of view); other images give a central crop first, then random crops, upscaled
    when smaller than ``size``. Sources are processed in sorted name order, so ids are stable.
    """
    if crops_per_image < 1:
        raise UsageError(f"--crops-per-image {crops_per_image} must be at least 1")
    size, evs, sensor = check_size(size), check_evs(evs), sensor or Sensor()
    motion_kind(motion)  # a bad kind stops the command before OUT is touched
    noise_range = None if noise_range is None else check_noise_range(noise_range)
    files = find_hdr_files(src_dir)
    if names is not None:
        missing = sorted(set(names) - {p.name for p in files})
        if missing:
            raise UsageError(f"--from-hdr {src_dir}: no HDR file named {', '.join(missing)}")
        files = [p for p in files if p.name in set(names)]
        if not files:
            raise UsageError(f"--from-hdr {src_dir}: the list of source names is empty")
    for path in files:  # an unreadable source stops the command before OUT is touched (read again below)
        read_radiance(path)
    chosen = open_layout(out_dir, layout)
    out = prepare_out(out_dir, overwrite, chosen)
    ids, samples = [], []
    jobs = [(f_idx, c_idx) for f_idx in range(len(files)) for c_idx in range(crops_per_image)]
    radiance, loaded = None, None
    for f_idx, c_idx in progress(jobs, desc="from-hdr", total=len(jobs)):
        if loaded != f_idx:  # one source in memory at a time
            radiance, loaded = read_radiance(files[f_idx]), f_idx
        rng = np.random.default_rng([seed, f_idx, c_idx])
        view, crop = crop_scene(radiance, size, rng, c_idx)
        sid = f"{len(ids):04d}"
        key = [seed, f_idx, c_idx]
        samples.append(capture(out, chosen, sid, view, rng, evs, sensor, noise_range, key, motion))
        samples[-1].update(source=files[f_idx].name, crop=crop)
        ids.append(sid)
    manifest = manifest_record(
        chosen,
        "from-hdr",
        seed,
        size,
        evs,
        sensor,
        motion,
        samples,
        noise_range,
        source_dir=str(Path(src_dir)),
    )
    write_json(out / MANIFEST, manifest)
    return ids


__all__ = [
    "HDR_SUFFIXES",
    "KEY",
    "MANIFEST",
    "MAX_CLIPPED",
    "MOTION_KINDS",
    "NOISE_STREAM",
    "MovingObject",
    "Sensor",
    "auto_scale",
    "check_evs",
    "check_noise_range",
    "check_size",
    "crop_scene",
    "encode_ldr",
    "expose",
    "find_hdr_files",
    "flat_crop",
    "is_panorama",
    "make_from_hdr",
    "make_synthetic",
    "manifest_record",
    "motion_kind",
    "object_mask",
    "paste_objects",
    "perspective_crop",
    "prepare_out",
    "random_motion",
    "random_objects",
    "read_radiance",
    "sample_sensor",
    "scaled_sensor",
    "simulate_triplet",
    "synthetic_scene",
    "warp",
    "write_sample",
]
