"""Reading NTIRE 2022 HDR data sets: validation up front, a full-image Dataset and a patch Dataset.

A data set is one flat folder of 4-digit ids (protocol section 1)::

    XXXX_short.png XXXX_medium.png XXXX_long.png   8-bit RGB LDR frames
    XXXX_exposures.npy                             3 exposures in EV stops (used relative to medium)
    XXXX_gt.png XXXX_alignratio.npy                16-bit RGB GT and its scale (optional: test inputs lack them)

:func:`scan_dataset` checks every sample before any work starts and reports *all* problems in one
:class:`DatasetError` (a :class:`UsageError`: the CLI prints it and exits 2). The checks read only PNG
headers and the small ``.npy`` files, so scanning the 1494 training triplets takes well under a second;
a PNG whose pixel data is corrupt is reported, with its path, when it is decoded.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from bench.core import UsageError
from bench.data.hdrio import read_alignratio

LDR_NAMES = ("short", "medium", "long")
MAX_LISTED_PROBLEMS = 25  # beyond this, the message says how many more there are

_MEMBER_RE = re.compile(r"^(\d{4})_(short|medium|long|exposures|gt|alignratio)\.(png|npy)$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}


class DatasetError(UsageError):
    """The data set on disk is not valid NTIRE layout; the message lists every problem found."""

    def __init__(self, message: str) -> None:
        # A DataLoader worker re-raises this error with a traceback wrapped around the message
        # ("Caught DatasetError in DataLoader worker process 0. Original Traceback ..."): keep ours.
        marker = f"{type(self).__name__}: "
        if "Original Traceback" in message and marker in message:
            message = message.rsplit(marker, 1)[1].strip()
        super().__init__(message)


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


def _discover_ids(root: Path) -> list[str]:
    ids = {m.group(1) for name in os.listdir(root) if (m := _MEMBER_RE.match(name))}
    return sorted(ids)


def _check_sample(root: Path, sid: str, require_gt: bool) -> tuple[list[str], dict[str, Any]]:
    """Problems of one sample (as message lines) and what was learned (size, has_gt)."""
    paths = member_paths(root, sid)
    problems: list[str] = []
    info: dict[str, Any] = {"id": sid, "size": None, "has_gt": False}

    missing = [p.name for k, p in paths.items() if k not in ("gt", "alignratio") and not p.is_file()]
    has_gt, has_ratio = paths["gt"].is_file(), paths["alignratio"].is_file()
    if has_gt != has_ratio:
        missing.append(paths["alignratio" if has_gt else "gt"].name)
    elif require_gt and not has_gt:
        missing += [paths["gt"].name, paths["alignratio"].name]
    if missing:
        problems.append(f"{sid}: missing {', '.join(missing)}")
    info["has_gt"] = has_gt and has_ratio

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
    elif sizes:
        info["size"] = next(iter(sizes.values()))

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
    return problems, info


def _scan(root: str | os.PathLike, ids: list[str] | None, require_gt: bool) -> list[dict[str, Any]]:
    r = Path(root)
    if not r.is_dir():
        raise DatasetError(f"data set folder {r} does not exist or is not a folder")
    if ids is None:
        ids = _discover_ids(r)
        if not ids:
            raise DatasetError(
                f"data set folder {r} holds no NTIRE samples (XXXX_short.png, XXXX_medium.png, ...)"
            )
    else:
        ids = [str(i) for i in ids]
        if not ids:
            raise DatasetError(f"data set {r}: the id list is empty")
    problems: list[str] = []
    infos = []
    for sid in ids:
        found, info = _check_sample(r, sid, require_gt)
        problems += found
        infos.append(info)
    if problems:
        shown = problems[:MAX_LISTED_PROBLEMS]
        more = len(problems) - len(shown)
        tail = f"\n  ... and {more} more" if more else ""
        raise DatasetError(
            f"data set {r}: {len(problems)} problem(s) in {len(ids)} sample(s):\n  "
            + "\n  ".join(shown)
            + tail
        )
    return infos


def scan_dataset(
    root: str | os.PathLike, ids: list[str] | None = None, require_gt: bool = False
) -> list[str]:
    """Validate the samples of ``root`` (all, or ``ids``) and return their ids; raises :class:`DatasetError`.

    Checks: every member file present (GT and alignratio both or neither; both when ``require_gt``),
    PNGs complete, LDRs 8-bit RGB, GT 16-bit RGB, all frames of one sample the same size,
    exposures 3 finite numbers in short <= medium <= long order, alignratio one positive number.
    """
    return [info["id"] for info in _scan(root, ids, require_gt)]


# ---------------------------------------------------------------------------------------------
# Loading


def _imread(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DatasetError(f"{path}: cannot decode the image (corrupt file?)")
    return img


def load_raw(root: str | os.PathLike, sid: str) -> dict[str, Any]:
    """One sample as stored: ``ldr8`` (3,H,W,3) uint8 RGB, ``ev`` (3,) float32 relative to medium,
    and, with a GT, ``gt16`` (H,W,3) uint16 RGB and its ``ratio``. About 3x smaller than floats:
    what :class:`PatchDataset` keeps in its cache."""
    paths = member_paths(root, sid)
    frames = [_imread(paths[name])[..., ::-1] for name in LDR_NAMES]  # OpenCV reads BGR
    exposures = read_exposures(paths["exposures"])
    out: dict[str, Any] = {
        "id": sid,
        "ldr8": np.stack(frames),
        "ev": (exposures - exposures[1]).astype(np.float32),
    }
    if paths["gt"].is_file():
        out["gt16"] = np.ascontiguousarray(_imread(paths["gt"])[..., ::-1])
        out["ratio"] = read_alignratio(paths["alignratio"])
    return out


def _decode(raw: dict[str, Any], ys: slice = slice(None), xs: slice = slice(None)) -> dict[str, Any]:
    """Stored values (optionally a window) -> floats: LDRs / 255, GT = png / alignratio (as the organizers read it)."""
    out = {"id": raw["id"], "ev": raw["ev"], "ldrs": raw["ldr8"][:, ys, xs].astype(np.float32) / 255.0}
    if "gt16" in raw:
        out["gt"] = (raw["gt16"][ys, xs].astype(np.float64) / raw["ratio"]).astype(np.float32)
    return out


def load_sample(root: str | os.PathLike, sid: str) -> dict[str, Any]:
    """One sample as NumPy: ``ldrs`` (3,H,W,3) float32 RGB in 0..1, ``ev`` (3,) float32, ``gt`` (H,W,3) if any."""
    return _decode(load_raw(root, sid))


def _to_item(sample: dict[str, Any]) -> dict[str, Any]:
    """NumPy sample -> the model contract's tensors: ldrs [3,3,H,W], ev [3], gt [3,H,W]."""
    item = {
        "id": sample["id"],
        "ldrs": torch.from_numpy(np.ascontiguousarray(sample["ldrs"].transpose(0, 3, 1, 2))),
        "ev": torch.from_numpy(sample["ev"]),
    }
    if "gt" in sample:
        item["gt"] = torch.from_numpy(np.ascontiguousarray(sample["gt"].transpose(2, 0, 1)))
    return item


class NTIREDataset(Dataset):
    """Full images. Item: ``id`` str, ``ldrs`` float32 [3,3,H,W] (short, medium, long; RGB 0..1),
    ``ev`` float32 [3] relative to the medium frame, and ``gt`` float32 [3,H,W] only when the
    sample has a ground truth (the key is absent otherwise)."""

    def __init__(
        self, root: str | os.PathLike, ids: list[str] | None = None, require_gt: bool = False
    ) -> None:
        self.root = Path(root)
        self.infos = _scan(self.root, ids, require_gt)
        self.ids = [info["id"] for info in self.infos]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return _to_item(load_sample(self.root, self.ids[index]))


class PatchDataset(Dataset):
    """Training crops: ``patch`` x ``patch`` windows every ``stride`` pixels (paper: 256, stride 128).

    The crop grid is deterministic; along each axis it also holds a window flush with the far edge,
    so every pixel is covered. Items are the :class:`NTIREDataset` dict (GT required) plus ``pos``
    ``(y, x)``. ``flips=True`` applies random horizontal/vertical flips drawn from torch's global
    generator (so ``torch.manual_seed`` and DataLoader worker seeding make them reproducible).
    Decoded images are kept in a small LRU cache: iterate patch indices in order, or with a
    sampler that groups them by image, to avoid decoding a 1900x1060 sample per patch.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        ids: list[str] | None = None,
        patch: int = 256,
        stride: int = 128,
        flips: bool = False,
        cache_size: int = 4,
    ) -> None:
        if patch < 1 or stride < 1:
            raise UsageError(f"patch ({patch}) and stride ({stride}) must be positive")
        self.root = Path(root)
        self.patch, self.stride, self.flips = patch, stride, flips
        infos = _scan(self.root, ids, require_gt=True)
        self.ids = [info["id"] for info in infos]
        small = [f"{i['id']} ({i['size'][0]}x{i['size'][1]})" for i in infos if min(i["size"]) < patch]
        if small:
            raise DatasetError(
                f"data set {self.root}: images smaller than the {patch}px patch: {', '.join(small)}"
            )
        self.index: list[tuple[int, int, int]] = []
        for n, info in enumerate(infos):
            width, height = info["size"]
            for y in grid_positions(height, patch, stride):
                for x in grid_positions(width, patch, stride):
                    self.index.append((n, y, x))
        self._cache: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._cache_size = max(1, cache_size)

    def __len__(self) -> int:
        return len(self.index)

    def _sample(self, n: int) -> dict[str, Any]:
        if n in self._cache:
            self._cache.move_to_end(n)
        else:
            self._cache[n] = load_raw(self.root, self.ids[n])
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return self._cache[n]

    def __getitem__(self, index: int) -> dict[str, Any]:
        n, y, x = self.index[index]
        p = self.patch
        crop = _decode(self._sample(n), slice(y, y + p), slice(x, x + p))
        if self.flips:
            flip_h, flip_v = (torch.rand(2) < 0.5).tolist()
            if flip_h:
                crop["ldrs"], crop["gt"] = crop["ldrs"][:, :, ::-1], crop["gt"][:, ::-1]
            if flip_v:
                crop["ldrs"], crop["gt"] = crop["ldrs"][:, ::-1], crop["gt"][::-1]
        item = _to_item(crop)
        item["pos"] = (y, x)
        return item


def grid_positions(length: int, patch: int, stride: int) -> list[int]:
    """Window starts ``0, stride, ...`` plus one flush with the end, so the whole length is covered."""
    if length < patch:
        return []
    starts = list(range(0, length - patch + 1, stride))
    if starts[-1] != length - patch:
        starts.append(length - patch)
    return starts


def dataset_fingerprint(root: str | os.PathLike, ids: list[str] | None = None) -> str:
    """A SHA-256 over the member files' names, sizes and modification times (not their bytes: fast).

    Stored in checkpoints as the data-manifest hash: it changes when a file is added, removed,
    rewritten or touched. ``ids=None`` covers every sample in the folder.
    """
    r = Path(root)
    if ids is None:
        ids = _discover_ids(r) if r.is_dir() else []
    h = hashlib.sha256()
    for sid in sorted(str(i) for i in ids):
        for p in member_paths(r, sid).values():
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            h.update(f"{p.name}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def ids_from_args(ids: str | None = None, split: str | os.PathLike | None = None) -> list[str] | None:
    """Combine the CLI's ``--ids 0000-0099,0150`` and ``--split FILE`` options (at most one) into an id list."""
    from bench.core import parse_ids, read_split_file

    if ids and split:
        raise UsageError("give either --ids or --split, not both")
    if ids:
        return parse_ids(ids)
    if split:
        return read_split_file(split)
    return None


__all__ = [
    "DatasetError",
    "NTIREDataset",
    "PatchDataset",
    "dataset_fingerprint",
    "grid_positions",
    "ids_from_args",
    "load_raw",
    "load_sample",
    "member_paths",
    "png_header",
    "read_exposures",
    "scan_dataset",
]
