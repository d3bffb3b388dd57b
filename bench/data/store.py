"""A random-access store of decoded whole frames (``prepare-data``), read as the ``store`` data layout.

Decoding a 1900x1060 NTIRE triplet from PNG takes ~160 ms; a training crop needs only a 256x256
window of it. ``prepare-data DIR --out STORE`` decodes every scene once into one flat file of raw
arrays (``frames.bin``) described by ``store.json``; training then maps the file into memory
(``numpy`` memmap) and copies only the window of each crop, so random crops stay random and cost a
memcpy of ~1.4 MB instead of a PNG decode. Memory-mapped arrays rather than LMDB: a crop is a
strided window of one frame, which a memmap serves without reading the rest of the frame (an LMDB
value is a whole frame or a pre-cut patch: patches would fix the crop grid, frames would be read
whole); the OS page cache shares the pages between DataLoader workers; no extra dependency.

Per scene the store holds the three LDR frames in the smallest dtype that reproduces the source's
float values exactly (uint8 for NTIRE's 8-bit PNGs, else uint16, else float32) and the
gamma-encoded GT (float32: exact; ``float16`` halves it at ~5e-4 relative error). The manifest
ties the store to its source: the source folder, layout and :meth:`Layout.fingerprint`. A store
whose source still exists and has changed since (files added, rewritten, touched), whose
``frames.bin`` is shorter or longer than the manifest says, or whose manifest is of another format
version is refused in one line (exit 2).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import UsageError
from bench.data.layouts import LAYOUTS, DatasetError, Layout, Sample, register_layout
from models.conventions import CONTRACT, Convention, convention

STORE_FORMAT = "eapbench-frame-store"
STORE_VERSION = 2  # 2: planar arrays and the data's convention per scene
MANIFEST = "store.json"
FRAMES = "frames.bin"
ALIGN = 64  # byte alignment of every array in frames.bin (aligned views copy faster)
GT_DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class SceneEntry:
    """Where one scene's arrays sit in ``frames.bin``."""

    id: str
    width: int
    height: int
    exposures: list[float]
    ldr_dtype: str
    ldr_scale: float
    ldr_offset: int
    gt_dtype: str | None
    gt_offset: int | None
    convention: str = "ntire"  # what the stored LDRs and GT mean (models.conventions)

    @property
    def ldr_shape(self) -> tuple[int, int, int, int]:
        """As stored: planar, (frame, channel, H, W)."""
        return (3, 3, self.height, self.width)

    @property
    def gt_shape(self) -> tuple[int, int, int]:
        return (3, self.height, self.width)


@dataclass
class StoredScene:
    """What a patch dataset caches for a store scene: views into the memory map (no pixels copied)."""

    id: str
    ldrs: np.ndarray
    ldr_scale: float
    exposures: np.ndarray
    gt: np.ndarray | None
    convention: Convention = CONTRACT


def nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    return int(np.dtype(dtype).itemsize * np.prod(shape))


def aligned(offset: int) -> int:
    return -(-offset // ALIGN) * ALIGN


def scene_bytes(width: int, height: int, ldr_dtype: str = "uint8", gt_dtype: str = "float32") -> int:
    """Bytes one scene takes in a store (three LDR frames and the GT, alignment aside)."""
    return nbytes(ldr_dtype, (3, height, width, 3)) + nbytes(gt_dtype, (height, width, 3))


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass
class OpenStore:
    """A checked store: its manifest, scene entries by id, and the memory map of ``frames.bin``."""

    root: Path
    manifest: dict[str, Any]
    scenes: dict[str, SceneEntry]
    frames: np.memmap

    def scene(self, sid: str) -> StoredScene:
        entry = self.scenes[sid]
        # Views in the Sample's (frame, H, W, channel) order over the planar bytes: no pixel is copied.
        ldrs = np.frombuffer(
            self.frames, entry.ldr_dtype, int(np.prod(entry.ldr_shape)), entry.ldr_offset
        ).reshape(entry.ldr_shape)
        gt = None
        if entry.gt_dtype is not None and entry.gt_offset is not None:
            gt = np.frombuffer(
                self.frames, entry.gt_dtype, int(np.prod(entry.gt_shape)), entry.gt_offset
            ).reshape(entry.gt_shape)
            gt = gt.transpose(1, 2, 0)
        exposures = np.asarray(entry.exposures, dtype=np.float64)
        return StoredScene(
            sid, ldrs.transpose(0, 2, 3, 1), entry.ldr_scale, exposures, gt, convention(entry.convention)
        )


def refuse(root: Path, problem: str) -> DatasetError:
    return DatasetError(f"store {root}: {problem}")


def read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise refuse(root, f"cannot read {MANIFEST} ({exc}); rerun prepare-data") from None
    if not isinstance(manifest, dict) or manifest.get("format") != STORE_FORMAT:
        raise refuse(root, f"{MANIFEST} is not a {STORE_FORMAT} manifest; rerun prepare-data")
    if manifest.get("version") != STORE_VERSION:
        raise refuse(
            root,
            f"manifest version {manifest.get('version')!r}, this suite reads version {STORE_VERSION}; "
            "rerun prepare-data",
        )
    return manifest


def check_source(root: Path, manifest: dict[str, Any], ids: list[str]) -> None:
    """Refuse a stale store: its source still exists and its fingerprint changed since prepare-data."""
    source = manifest.get("source") or {}
    path, layout_name = Path(str(source.get("path", ""))), source.get("layout")
    if not source.get("path") or not path.is_dir() or layout_name not in LAYOUTS:
        return  # the store travels without its source (copied to a cluster): nothing to compare
    now = LAYOUTS.get(layout_name).fingerprint(path, ids)
    if now != source.get("fingerprint"):
        raise refuse(
            root,
            f"stale: its source {path} changed since prepare-data (files added, rewritten or touched); "
            "rerun prepare-data --force",
        )


def open_store(root: str | os.PathLike, check_stale: bool = True) -> OpenStore:
    """Open and check a store; a bad, truncated or stale one is one :class:`DatasetError` line (exit 2)."""
    r = Path(root)
    manifest = read_manifest(r)
    try:
        scenes = {s["id"]: SceneEntry(**s) for s in manifest["scenes"]}
        expected = int(manifest["bytes"])
        for entry in scenes.values():
            convention(entry.convention)  # a KeyError naming the known ones
    except (KeyError, TypeError, ValueError) as exc:
        raise refuse(
            r, f"{MANIFEST} is incomplete ({type(exc).__name__}: {exc}); rerun prepare-data"
        ) from None
    try:
        size = (r / FRAMES).stat().st_size
    except OSError as exc:
        raise refuse(r, f"cannot read {FRAMES} ({exc.strerror or exc}); rerun prepare-data") from None
    if size != expected:
        raise refuse(
            r, f"{FRAMES} holds {size} bytes, the manifest says {expected} (truncated?); rerun prepare-data"
        )
    if check_stale:
        check_source(r, manifest, list(scenes))
    frames = np.memmap(r / FRAMES, dtype=np.uint8, mode="r") if expected else np.zeros(0, np.uint8)
    return OpenStore(r, manifest, scenes, frames)  # type: ignore[arg-type]


def is_store(root: str | os.PathLike) -> bool:
    """Does ``root`` look like a prepare-data store (its manifest is there)?"""
    return (Path(root) / MANIFEST).is_file()


@register_layout
class StoreLayout(Layout):
    """Read a prepare-data store as a data set (``train --data STORE``, ``eval --data STORE``)."""

    name = "store"
    sample_hint = f"prepare-data stores ({MANIFEST})"

    def __init__(self) -> None:
        self._open: dict[tuple[str, int], OpenStore] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Sent to spawned DataLoader workers: the memory map must not travel (it would copy the file).
        return {"_open": {}}

    def opened(self, root: Path) -> OpenStore:
        """The store at ``root``, checked once per process and manifest version on disk."""
        try:
            stamp = (root / MANIFEST).stat().st_mtime_ns
        except OSError:
            stamp = 0
        key = (str(root.resolve()), stamp)
        if key not in self._open:
            self._open = {key: open_store(root)}  # one store open at a time per process is enough
        return self._open[key]

    def detect(self, root: Path) -> bool:
        return is_store(root)

    def find_samples(self, root: Path) -> list[str]:
        return sorted(self.opened(root).scenes) if is_store(root) else []

    def validate(self, root: Path, ids: list[str], require_gt: bool) -> list[str]:
        self._open = {}  # checked afresh once per data set opened (truncation, staleness), then cached
        store = self.opened(root)
        problems = [f"scene {sid}: not in the store" for sid in ids if sid not in store.scenes]
        if require_gt:
            problems += [
                f"scene {sid}: the store holds no ground truth for it"
                for sid in ids
                if sid in store.scenes and store.scenes[sid].gt_dtype is None
            ]
        return problems

    def load(self, root: Path, sid: str) -> Sample:
        return self.decode(self.load_stored(root, sid))

    def load_stored(self, root: Path, sid: str) -> StoredScene:
        return self.opened(root).scene(sid)

    def decode(self, stored: Any, ys: slice = slice(None), xs: slice = slice(None)) -> Sample:
        window = stored.ldrs[:, ys, xs]
        if stored.ldr_scale != 1.0:  # one pass: cast and divide in float32, as astype + divide would
            ldrs = np.divide(window, np.float32(stored.ldr_scale), dtype=np.float32)
        else:
            ldrs = window.astype(np.float32)
        gt = None
        if stored.gt is not None:
            # One copy, in the planar order: to_item's channel-first view of it is then contiguous (no
            # second copy), and the tensor owns writable memory, never the read-only memory map.
            gt = np.array(stored.gt[ys, xs], dtype=np.float32, order="K")
        encoding = "linear" if stored.convention.hdr_encoding == "linear" else "gamma"
        return Sample(
            id=stored.id,
            ldrs=ldrs,
            exposures=stored.exposures,
            gt=gt,
            gt_encoding=encoding,
            convention=stored.convention,
        )

    def sample_size(self, root: Path, sid: str) -> tuple[int, int]:
        entry = self.opened(root).scenes[sid]
        return entry.width, entry.height

    def member_files(self, root: Path, sid: str) -> list[Path]:
        return [root / MANIFEST, root / FRAMES]

    def fingerprint(self, root: Path, ids: list[str]) -> str:
        """The source's fingerprint, the ids and the store files' sizes and times (changes with any of them)."""
        h = hashlib.sha256()
        try:
            source = read_manifest(root).get("source", {})
        except DatasetError:
            source = {}
        h.update(f"store\t{source.get('fingerprint', '')}\n".encode())
        for sid in sorted(ids):
            h.update(f"{sid}\n".encode())
        for p in self.member_files(root, ""):
            try:
                st = p.stat()
            except OSError:
                continue
            h.update(f"{p.name}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        return h.hexdigest()

    def write(self, root: Path, sid: str, sample: Sample) -> None:
        raise UsageError(
            "a store is written whole by `run_bench.py prepare-data DIR --out STORE`, not per scene"
        )


__all__ = [
    "FRAMES",
    "MANIFEST",
    "STORE_FORMAT",
    "STORE_VERSION",
    "OpenStore",
    "StoreLayout",
    "is_store",
    "open_store",
    "scene_bytes",
]
