"""The NTIRE 2021/2022 HDR layout: one flat folder of 4-digit ids (protocol section 1)::

    XXXX_short.png XXXX_medium.png XXXX_long.png   8-bit RGB LDR frames
    XXXX_exposures.npy                             3 exposures in EV stops (used relative to medium)
    XXXX_gt.png XXXX_alignratio.npy                16-bit RGB GT and its scale (optional: test inputs lack them)

Validation reads only PNG headers and the small ``.npy`` files, so scanning the 1494 training
triplets takes well under a second; a PNG whose pixel data is corrupt is reported, with its path,
when it is decoded. The GT is gamma-encoded HDR (``png / alignratio``, as the organizers read it).
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.hdrio import read_alignratio, write_hdr_png, write_npy, write_png
from bench.data.layouts import DatasetError, Layout, Sample, list_folder, register_layout

LDR_NAMES = ("short", "medium", "long")

_MEMBER_RE = re.compile(r"^(\d{4})_(short|medium|long|exposures|gt|alignratio)\.(png|npy)$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}


def member_paths(root: str | os.PathLike, sid: str) -> dict[str, Path]:
    """The six member files of sample ``sid`` (whether or not they exist)."""
    r = Path(root)
    paths = {name: r / f"{sid}_{name}.png" for name in LDR_NAMES}
    paths["exposures"] = r / f"{sid}_exposures.npy"
    paths["gt"] = r / f"{sid}_gt.png"
    paths["alignratio"] = r / f"{sid}_alignratio.npy"
    return paths


def png_header(path: str | os.PathLike) -> dict[str, Any]:
    """Width, height, bit depth and colour type from a PNG's IHDR chunk; ValueError if not a whole PNG."""
    with open(path, "rb") as fh:
        head = fh.read(33)
        if len(head) < 33 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
            raise ValueError("not a PNG file")
        width, height, depth, color = struct.unpack(">IIBB", head[16:26])
        # A complete PNG ends with the IEND chunk; a truncated copy (interrupted download) does not.
        fh.seek(0, os.SEEK_END)
        if fh.tell() < 45:
            raise ValueError("truncated PNG")
        fh.seek(-12, os.SEEK_END)
        if fh.read(12)[4:8] != b"IEND":
            raise ValueError("truncated PNG (no IEND chunk at the end)")
    return {
        "width": width,
        "height": height,
        "bit_depth": depth,
        "color": _PNG_COLOR.get(color, f"type {color}"),
    }


def read_exposures(path: str | os.PathLike) -> np.ndarray:
    """The exposures array as float64 ``(3,)``; ValueError if it is not 3 finite, non-decreasing numbers."""
    arr = np.load(path, allow_pickle=False)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"dtype {arr.dtype} is not numeric")
    if arr.shape != (3,):
        raise ValueError(f"shape {arr.shape} is not (3,)")
    ev = arr.astype(np.float64)
    if not np.isfinite(ev).all():
        raise ValueError(f"values {ev.tolist()} are not all finite")
    if not (ev[0] <= ev[1] <= ev[2]):
        raise ValueError(f"values {ev.tolist()} are not in short <= medium <= long order")
    return ev


def check_sample(root: Path, sid: str, require_gt: bool) -> list[str]:
    """Problems of one sample, as message lines."""
    paths = member_paths(root, sid)
    problems: list[str] = []

    missing = [p.name for k, p in paths.items() if k not in ("gt", "alignratio") and not p.is_file()]
    has_gt, has_ratio = paths["gt"].is_file(), paths["alignratio"].is_file()
    if has_gt != has_ratio:
        missing.append(paths["alignratio" if has_gt else "gt"].name)
    elif require_gt and not has_gt:
        missing += [paths["gt"].name, paths["alignratio"].name]
    if missing:
        problems.append(f"{sid}: missing {', '.join(missing)}")

    sizes: dict[str, tuple[int, int]] = {}
    expected = {name: (8, "LDR", "8-bit RGB") for name in LDR_NAMES}
    expected["gt"] = (16, "GT", "16-bit RGB")
    for key, (depth, what, wanted) in expected.items():
        p = paths[key]
        if not p.is_file():
            continue
        try:
            h = png_header(p)
        except (OSError, ValueError) as exc:
            problems.append(f"{p.name}: unreadable ({exc})")
            continue
        if h["bit_depth"] != depth or h["color"] != "RGB":
            problems.append(f"{p.name}: {what} must be {wanted}, found {h['bit_depth']}-bit {h['color']}")
        sizes[key] = (h["width"], h["height"])
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{k} {w}x{h}" for k, (w, h) in sizes.items())
        problems.append(f"{sid}: frames of different sizes ({listed})")

    for key, reader in (("exposures", read_exposures), ("alignratio", read_alignratio)):
        p = paths[key]
        if not p.is_file():
            continue
        try:
            np.load(p, allow_pickle=False)
        except Exception as exc:  # np.load raises several types on garbage (ValueError, OSError, EOFError)
            problems.append(f"{p.name}: unreadable (not a NumPy .npy array: {exc})")
            continue
        try:
            reader(p)
        except ValueError as exc:
            problems.append(f"{p.name}: bad {key} array ({exc})")
    return problems


def imread(path: Path) -> np.ndarray:
    """Decode an image file as stored (BGR order, any depth); DatasetError naming it when it cannot be."""
    import cv2  # heavy import, only needed when pixels are decoded

    # A corrupt tif makes libtiff log several lines through OpenCV: the one line below says it all.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if img is None:
        raise DatasetError(f"{path}: cannot decode the image (corrupt file?)")
    return img


def load_raw(root: str | os.PathLike, sid: str) -> dict[str, Any]:
    """One sample as stored: ``ldr8`` (3,H,W,3) uint8 RGB, ``ev`` (3,) float32 relative to medium,
    ``exposures`` (3,) float64 as stored and, with a GT, ``gt16`` (H,W,3) uint16 RGB and its ``ratio``.
    About 3x smaller than floats: what :class:`~bench.data.PatchDataset` keeps in its cache."""
    paths = member_paths(root, sid)
    frames = [imread(paths[name])[..., ::-1] for name in LDR_NAMES]  # OpenCV reads BGR
    exposures = read_exposures(paths["exposures"])
    out: dict[str, Any] = {
        "id": sid,
        "ldr8": np.stack(frames),
        "ev": (exposures - exposures[1]).astype(np.float32),
        "exposures": exposures,
    }
    if paths["gt"].is_file():
        out["gt16"] = np.ascontiguousarray(imread(paths["gt"])[..., ::-1])
        out["ratio"] = read_alignratio(paths["alignratio"])
    return out


def decode_raw(raw: dict[str, Any], ys: slice = slice(None), xs: slice = slice(None)) -> Sample:
    """Stored values (optionally a window) -> floats: LDRs / 255, GT = png / alignratio (as the organizers read it)."""
    gt = None
    if "gt16" in raw:
        gt = (raw["gt16"][ys, xs].astype(np.float64) / raw["ratio"]).astype(np.float32)
    ldrs = raw["ldr8"][:, ys, xs].astype(np.float32) / 255.0
    return Sample(id=raw["id"], ldrs=ldrs, exposures=raw["exposures"], gt=gt, gt_encoding="gamma")


def load_sample(root: str | os.PathLike, sid: str) -> dict[str, Any]:
    """One sample as NumPy: ``ldrs`` (3,H,W,3) float32 RGB in 0..1, ``ev`` (3,) float32, ``gt`` (H,W,3) if any."""
    sample = decode_raw(load_raw(root, sid))
    out: dict[str, Any] = {"id": sample.id, "ev": sample.ev, "ldrs": sample.ldrs}
    if sample.gt is not None:
        out["gt"] = sample.gt
    return out


def find_ids(root: Path) -> list[str]:
    """The 4-digit ids of every NTIRE member file in ``root``, sorted."""
    return sorted({m.group(1) for name in list_folder(root) if (m := _MEMBER_RE.match(name))})


@register_layout
class NTIRELayout(Layout):
    """NTIRE 2021/2022 (see the module doc)."""

    name = "ntire"
    sample_hint = "NTIRE samples (XXXX_short.png, XXXX_medium.png, ...)"

    @property
    def manifest_format(self) -> str:
        return "ntire2022-hdr"

    def detect(self, root: Path) -> bool:
        return root.is_dir() and any(_MEMBER_RE.match(name) for name in list_folder(root))

    def find_samples(self, root: Path) -> list[str]:
        return find_ids(root) if root.is_dir() else []

    def validate(self, root: Path, ids: list[str], require_gt: bool) -> list[str]:
        """Every member file present (GT and alignratio both or neither; both when ``require_gt``),
        PNGs complete, LDRs 8-bit RGB, GT 16-bit RGB, all frames of one sample the same size,
        exposures 3 finite numbers in short <= medium <= long order, alignratio one positive number."""
        return [line for sid in ids for line in check_sample(root, sid, require_gt)]

    def load(self, root: Path, sid: str) -> Sample:
        return decode_raw(load_raw(root, sid))

    def load_stored(self, root: Path, sid: str) -> dict[str, Any]:
        return load_raw(root, sid)

    def decode(self, stored: Any, ys: slice = slice(None), xs: slice = slice(None)) -> Sample:
        return decode_raw(stored, ys, xs)

    def sample_size(self, root: Path, sid: str) -> tuple[int, int]:
        h = png_header(member_paths(root, sid)["medium"])
        return h["width"], h["height"]

    def member_files(self, root: Path, sid: str) -> list[Path]:
        return list(member_paths(root, sid).values())

    def write(self, root: Path, sid: str, sample: Sample) -> None:
        """Three 8-bit PNGs, the exposures ``.npy``, and (with a GT) the 16-bit GT PNG + alignratio;
        a sample of another convention (Kalantari's) is converted to the contract first."""
        paths = member_paths(root, sid)
        for name, frame in zip(LDR_NAMES, sample.contract_ldrs(), strict=True):
            write_png(paths[name], np.round(np.clip(frame, 0.0, 1.0) * 255.0).astype(np.uint8))
        # NTIRE stores integer stops as int64; fractional stops need floats
        evs = [float(e) for e in sample.exposures]
        write_npy(
            paths["exposures"],
            np.array(evs, dtype=np.int64 if all(e.is_integer() for e in evs) else np.float64),
        )
        gt = sample.gamma_gt()
        if gt is not None:
            write_hdr_png(paths["gt"], gt)
