"""The Kalantari 2017 family of layouts: one folder per scene, three 16-bit tifs, an exposure file, a Radiance GT.

A data set of these layouts is a folder of scene folders (the scene id is the folder's name: ``001``,
``BarbequeDay``, ``scene_0001_1``). The published sets ship as ``Training/`` and ``Test/``: each of
those is one data set (``--data Kalantari/Test``); the root holding both is refused with a line
saying so. Per scene:

=============  ==========================================  ==================  ================================
layout         LDR frames (short, medium, long)            exposures           ground truth
=============  ==========================================  ==================  ================================
``kalantari``  any three ``*.tif``, sorted by name          ``exposure.txt``    ``HDRImg.hdr``
``hu``         ``input_1_aligned.tif`` .. ``input_3_...``   ``input_exp.txt``   ``ref_hdr_aligned_linear.hdr``
``tel``        ``input_1.tif`` .. ``input_3.tif``           ``exposure.txt``    ``HDRImg.hdr``
=============  ==========================================  ==================  ================================

The frames are 16-bit RGB tifs, gamma 2.2; the exposure file holds one EV stop per line (three
lines, short to long, e.g. ``0 / 2 / 4``); the GT is linear radiance aligned to the medium frame on
the *shortest* frame's scale (the field's readers linearise with ``ldr ** 2.2 / 2 ** (ev - min ev)``):
the :data:`~models.conventions.KALANTARI` convention, converted to the contract at the Sample.

``tif_scale``: what a tif value is divided by. The field's Python readers (HDR-Transformer, SCTNet,
SAFNet, ...) divide by ``2 ** 16`` although their comment says "as im2single" (MATLAB's, which
divides by 65535); the published scores come from those readers, so 65536 is the default and 65535
is the option (the two differ by 1.5e-5 relative, about 1.3e-4 dB in PSNR-L).

A Tel folder is also a valid Kalantari folder (three tifs, ``exposure.txt``, ``HDRImg.hdr``):
detection gives scene folders holding ``input_1.tif`` to ``tel`` and Hu's file names to ``hu``;
both read the same, so the choice only decides the names written.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.core import UsageError, atomic_write_text
from bench.data.hdrio import write_radiance, write_tif16
from bench.data.headers import radiance_header, tiff_header
from bench.data.layouts import DatasetError, Layout, Sample, list_folder, register_layout
from bench.data.ntire import imread
from models.conventions import KALANTARI

TIF_SCALES = (
    65536,
    65535,
)  # 2 ** 16 (the field's Python readers, the published scores) or MATLAB's im2single
DEFAULT_TIF_SCALE = 65536
UINT16_MAX = 65535


def check_tif_scale(scale: int) -> int:
    if scale not in TIF_SCALES:
        raise UsageError(
            f"--tif-scale {scale} must be 65536 (2^16, the field's readers) or 65535 (im2single)"
        )
    return int(scale)


def read_exposure_file(path: Path) -> np.ndarray:
    """Three EV stops, one per line, short <= medium <= long; ValueError saying what is wrong otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError("not a text file") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) != 3:
        raise ValueError(f"{len(lines)} line(s), expected 3 (one EV stop per frame: short, medium, long)")
    try:
        stops = [float(line) for line in lines]
    except ValueError:
        raise ValueError(f"lines {lines} are not all numbers") from None
    if not all(math.isfinite(v) for v in stops):
        raise ValueError(f"values {stops} are not all finite")
    if not (stops[0] <= stops[1] <= stops[2]):
        raise ValueError(f"values {stops} are not in short <= medium <= long order")
    return np.array(stops, dtype=np.float64)


@dataclass
class StoredScene:
    """What a patch dataset caches: the tif values as stored (uint16, half the bytes of floats) and the GT."""

    id: str
    ldr16: np.ndarray
    exposures: np.ndarray
    gt: np.ndarray | None


class SceneFolderLayout(Layout):
    """One folder per scene (see the module doc); subclasses name the files."""

    #: the three LDR file names, short to long (``None``: any three ``*.tif`` sorted by name)
    ldr_names: tuple[str, str, str] | None = None
    written_ldr_names: tuple[str, str, str] = ("1.tif", "2.tif", "3.tif")
    exposure_name = "exposure.txt"
    hdr_name = "HDRImg.hdr"
    convention = KALANTARI

    def __init__(self, tif_scale: int = DEFAULT_TIF_SCALE) -> None:
        self.tif_scale = check_tif_scale(tif_scale)

    def configured(self, tif_scale: int | None = None) -> SceneFolderLayout:
        return self if tif_scale is None else type(self)(tif_scale=tif_scale)

    def describe(self) -> dict[str, Any]:
        return {"tif_scale": self.tif_scale}

    def is_scene(self, names: set[str]) -> bool:
        """Does a folder holding these file names read as one of this layout's scenes (``--layout NAME``)?"""
        return self.exposure_name in names or self.hdr_name in names

    def claims(self, names: set[str]) -> bool:
        """Is such a folder this layout's rather than a sibling's (detection without ``--layout``)?"""
        return self.is_scene(names)

    def scene_folders(self, root: Path, detecting: bool = False) -> list[str]:
        root = Path(root)
        if not root.is_dir():
            return []
        found = []
        for name in list_folder(root):
            folder = root / name
            if folder.is_dir():
                try:
                    names = set(os.listdir(folder))
                except OSError:  # an unreadable scene is reported by validate, when asked for
                    continue
                if (self.claims if detecting else self.is_scene)(names):
                    found.append(name)
        return sorted(found)

    def detect(self, root: Path) -> bool:
        return bool(self.scene_folders(root, detecting=True))

    def find_samples(self, root: Path) -> list[str]:
        return self.scene_folders(root)

    def ldr_paths(self, folder: Path) -> list[Path]:
        if self.ldr_names is not None:
            return [folder / name for name in self.ldr_names]
        try:
            names = os.listdir(folder)
        except OSError:
            return []
        return [folder / n for n in sorted(n for n in names if n.lower().endswith((".tif", ".tiff")))]

    def member_files(self, root: Path, sid: str) -> list[Path]:
        folder = Path(root) / sid
        ldrs = self.ldr_paths(folder) or [folder / n for n in self.written_ldr_names]
        return [*ldrs, folder / self.exposure_name, folder / self.hdr_name]

    def validate(self, root: Path, ids: list[str], require_gt: bool) -> list[str]:
        """Scene folder present; three 16-bit RGB tifs (complete files), the exposure file (three
        finite, ordered numbers), the GT when ``require_gt`` (a Radiance RGBE file), one size for all."""
        return [line for sid in ids for line in self.check_scene(Path(root), sid, require_gt)]

    def check_scene(self, root: Path, sid: str, require_gt: bool) -> list[str]:
        folder = root / sid
        if not folder.is_dir():
            return [f"{sid}: no scene folder {folder}"]
        problems: list[str] = []
        ldrs = self.ldr_paths(folder)
        missing = [p.name for p in ldrs if not p.is_file()]
        if self.ldr_names is None and len(ldrs) != 3:
            names = ", ".join(p.name for p in ldrs) or "none"
            problems.append(
                f"{sid}: holds {len(ldrs)} .tif file(s) ({names}), expected 3 (short, medium, long)"
            )
        exposure, hdr = folder / self.exposure_name, folder / self.hdr_name
        missing += [p.name for p in (exposure,) if not p.is_file()]
        if require_gt and not hdr.is_file():
            missing.append(hdr.name)
        if missing:
            problems.insert(0, f"{sid}: missing {', '.join(missing)}")
        sizes: dict[str, tuple[int, int]] = {}
        for p in ldrs:
            if not p.is_file():
                continue
            try:
                h = tiff_header(p)
            except (OSError, ValueError) as exc:
                problems.append(f"{sid}/{p.name}: unreadable ({exc})")
                continue
            if h.bits != 16 or h.channels != 3:
                bits = "mixed-depth" if h.bits < 0 else f"{h.bits}-bit"
                problems.append(
                    f"{sid}/{p.name}: LDR must be a 16-bit RGB tif, found {bits} {h.channels}-channel"
                )
            sizes[p.name] = h.size
        if hdr.is_file():
            try:
                sizes[hdr.name] = radiance_header(hdr).size
            except (OSError, ValueError) as exc:
                problems.append(f"{sid}/{hdr.name}: unreadable ({exc})")
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{k} {w}x{h}" for k, (w, h) in sizes.items())
            problems.append(f"{sid}: frames of different sizes ({listed})")
        if exposure.is_file():
            try:
                read_exposure_file(exposure)
            except (OSError, ValueError) as exc:
                problems.append(f"{sid}/{exposure.name}: bad exposures ({exc})")
        return problems

    def load_stored(self, root: Path, sid: str) -> StoredScene:
        folder = Path(root) / sid
        frames = []
        for p in self.ldr_paths(folder):
            img = imread(p)
            if img.dtype != np.uint16 or img.ndim != 3 or img.shape[2] != 3:
                raise DatasetError(f"{p}: expected a 16-bit RGB tif, decoded {img.dtype} shape {img.shape}")
            frames.append(img[..., ::-1])  # OpenCV decodes BGR
        gt = None
        hdr = folder / self.hdr_name
        if hdr.is_file():
            img = imread(hdr)
            if img.dtype != np.float32 or img.ndim != 3 or img.shape[2] != 3:
                raise DatasetError(
                    f"{hdr}: expected a Radiance RGB image, decoded {img.dtype} shape {img.shape}"
                )
            gt = np.ascontiguousarray(img[..., ::-1])
        exposures = read_exposure_file(folder / self.exposure_name)
        return StoredScene(id=sid, ldr16=np.stack(frames), exposures=exposures, gt=gt)

    def decode(self, stored: Any, ys: slice = slice(None), xs: slice = slice(None)) -> Sample:
        ldrs = (stored.ldr16[:, ys, xs].astype(np.float32) / np.float32(self.tif_scale)).astype(np.float32)
        gt = None if stored.gt is None else stored.gt[ys, xs]
        return Sample(stored.id, ldrs, stored.exposures, gt, gt_encoding="linear", convention=KALANTARI)

    def load(self, root: Path, sid: str) -> Sample:
        return self.decode(self.load_stored(root, sid))

    def sample_size(self, root: Path, sid: str) -> tuple[int, int]:
        return tiff_header(self.ldr_paths(Path(root) / sid)[1]).size

    def write(self, root: Path, sid: str, sample: Sample) -> None:
        """Three 16-bit tifs (gamma 2.2, ``round(ldr * tif_scale)``), the exposure file (stops relative
        to the shortest frame, as the published files hold them) and, with a GT, the linear Radiance GT."""
        native = sample.in_convention(KALANTARI)
        folder = Path(root) / sid
        folder.mkdir(exist_ok=True)
        names = self.ldr_names or self.written_ldr_names
        for name, frame in zip(names, native.ldrs, strict=True):
            values = np.clip(np.round(np.asarray(frame, dtype=np.float64) * self.tif_scale), 0, UINT16_MAX)
            write_tif16(folder / name, values.astype(np.uint16))
        stops = np.asarray(native.exposures, dtype=np.float64)
        atomic_write_text(folder / self.exposure_name, "".join(f"{e - stops.min():.6f}\n" for e in stops))
        if native.gt is not None:
            write_radiance(folder / self.hdr_name, native.gt)


HU_NAMES = ("input_exp.txt", "ref_hdr_aligned_linear.hdr")
TEL_NAMES = ("input_1.tif", "input_2.tif", "input_3.tif")


@register_layout
class KalantariLayout(SceneFolderLayout):
    """Kalantari & Ramamoorthi 2017 (SIGGRAPH): any three tifs, ``exposure.txt``, ``HDRImg.hdr``."""

    name = "kalantari"
    sample_hint = "Kalantari scene folders (SCENE/*.tif, SCENE/exposure.txt, SCENE/HDRImg.hdr)"

    def claims(self, names: set[str]) -> bool:
        # Hu's or Tel's scene folder is theirs (it still reads as Kalantari's with --layout kalantari)
        return self.is_scene(names) and not names & {*HU_NAMES, *TEL_NAMES}


@register_layout
class HuLayout(SceneFolderLayout):
    """Hu et al. 2020 (sensor-realistic synthetic, 3-exposure version)."""

    name = "hu"
    sample_hint = "Hu 2020 scene folders (SCENE/input_1_aligned.tif, SCENE/input_exp.txt, ...)"
    ldr_names = ("input_1_aligned.tif", "input_2_aligned.tif", "input_3_aligned.tif")
    exposure_name, hdr_name = HU_NAMES

    def is_scene(self, names: set[str]) -> bool:
        return bool(names & {*HU_NAMES, *self.ldr_names})

    def claims(self, names: set[str]) -> bool:
        return bool(names & set(HU_NAMES))


@register_layout
class TelLayout(SceneFolderLayout):
    """Tel et al. 2023 (SCTNet's data set)."""

    name = "tel"
    sample_hint = "Tel 2023 scene folders (SCENE/input_1.tif, SCENE/exposure.txt, ...)"
    ldr_names = TEL_NAMES

    def is_scene(self, names: set[str]) -> bool:
        return super().is_scene(names) or bool(names & set(TEL_NAMES))

    def claims(self, names: set[str]) -> bool:
        return bool(names & set(TEL_NAMES)) and not names & set(HU_NAMES)


def add_tif_scale_argument(p: Any) -> None:
    """The ``--tif-scale 65536|65535`` option of commands that read or write the tif layouts."""
    p.add_argument(
        "--tif-scale",
        type=int,
        choices=TIF_SCALES,
        default=None,
        help="what the 16-bit tifs of the kalantari/hu/tel layouts are divided by: 65536 (2^16, the "
        "field's Python readers and the published scores; the default) or 65535 (MATLAB's im2single)",
    )


__all__ = [
    "DEFAULT_TIF_SCALE",
    "TIF_SCALES",
    "HuLayout",
    "KalantariLayout",
    "SceneFolderLayout",
    "StoredScene",
    "TelLayout",
    "add_tif_scale_argument",
    "check_tif_scale",
    "read_exposure_file",
]
