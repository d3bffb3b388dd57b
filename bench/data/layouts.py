"""Data layouts: how a data set's files sit on disk, behind one interface, with a registry.

A layout knows whether a folder looks like it (:meth:`Layout.detect`), which scene ids the folder
holds, what is wrong with them (every problem, checked before any work starts), how to read one
scene into a typed :class:`Sample` and how to write one (so ``make-data`` and tests can produce it).
The built-in layout is NTIRE 2021/2022 (:mod:`bench.data.ntire`); a plugin adds its own with::

    from bench.data.layouts import Layout, register_layout

    @register_layout
    class MyLayout(Layout):
        name = "mine"
        ...

:func:`open_layout` picks the layout of a folder: the one named (``--layout NAME``), or the single
registered layout whose :meth:`~Layout.detect` accepts it.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bench.core import UsageError
from bench.core.registry import Registry
from bench.data.hdrio import GAMMA
from models.conventions import CONTRACT, Convention, shortest_stops

DEFAULT_LAYOUT = "ntire"
MAX_LISTED_PROBLEMS = 25  # beyond this, the message says how many more there are

GtEncoding = Literal["gamma", "linear"]


class DatasetError(UsageError):
    """The data set on disk does not follow its layout; the message lists every problem found."""

    def __init__(self, message: str) -> None:
        # A DataLoader worker re-raises this error with a traceback wrapped around the message
        # ("Caught DatasetError in DataLoader worker process 0. Original Traceback ..."): keep ours.
        marker = f"{type(self).__name__}: "
        if "Original Traceback" in message and marker in message:
            message = message.rsplit(marker, 1)[1].strip()
        super().__init__(message)


@dataclass
class Sample:
    """One scene, decoded, in the convention of the data it came from.

    ``ldrs``: (3, H, W, 3) float32 RGB in [0, 1], short, medium, long. ``exposures``: (3,) float64
    EV stops as the layout stores them (models see them relative to the medium frame: :attr:`ev`).
    ``gt``: (H, W, 3) float32 or None (test inputs).

    ``convention`` (a :class:`models.conventions.Convention`) says what ``ldrs`` and ``gt`` mean:
    :data:`~models.conventions.KALANTARI` for the Kalantari family (LDRs gamma 2.2, GT linear on
    the shortest frame's scale), :data:`~models.conventions.CONTRACT` for NTIRE's. Without one
    (``None``, what plugins written before conventions existed give) the LDRs are the contract's
    and ``gt_encoding`` names the GT's: ``"gamma"`` is radiance ``** (1 / gamma)`` on the medium
    frame's scale (NTIRE's), ``"linear"`` that radiance itself. Models and metrics only ever see
    :meth:`contract_ldrs` and :meth:`contract_gt`; :meth:`native_hdr` converts a contract HDR
    (GT or prediction) back into the data's own convention, for metrics defined there.
    """

    id: str
    ldrs: np.ndarray
    exposures: np.ndarray
    gt: np.ndarray | None = None
    gt_encoding: GtEncoding = "gamma"
    gamma: float = GAMMA
    convention: Convention | None = None

    @property
    def ev(self) -> np.ndarray:
        """Exposures in stops relative to the medium frame, float32 (the model contract)."""
        return (np.asarray(self.exposures, dtype=np.float64) - self.exposures[1]).astype(np.float32)

    @property
    def shortest(self) -> float:
        """How many stops the medium frame is above the shortest (``ev_medium - ev_min`` >= 0)."""
        return float(shortest_stops(np.asarray(self.exposures, dtype=np.float64) - self.exposures[1]))

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return int(self.ldrs.shape[2]), int(self.ldrs.shape[1])

    def contract_ldrs(self) -> np.ndarray:
        """The LDR frames in the contract's encoding (gamma 2.24), float32."""
        if self.convention is None or self.convention.ldr_gamma == CONTRACT.ldr_gamma:
            return self.ldrs
        return np.asarray(self.convention.ldr_to_contract(self.ldrs), dtype=np.float32)

    def contract_gt(self) -> np.ndarray | None:
        """The GT in the contract's convention (gamma 2.24 on the medium frame's scale), float32."""
        if self.gt is None:
            return None
        if self.convention is not None:
            if self.convention == CONTRACT:
                return self.gt
            return np.asarray(self.convention.hdr_to_contract(self.gt, self.shortest), dtype=np.float32)
        if self.gt_encoding == "gamma":
            return self.gt
        return (np.maximum(self.gt, 0.0) ** (1.0 / self.gamma)).astype(np.float32)

    def gamma_gt(self) -> np.ndarray | None:
        """The GT in NTIRE's gamma-encoded convention, whatever the layout stores (= :meth:`contract_gt`)."""
        return self.contract_gt()

    def native_hdr(self, contract_hdr: Any) -> Any:
        """A contract HDR image (GT or prediction; NumPy or torch, any shape) in this data's convention.

        Kalantari data: linear radiance on the shortest frame's scale, as its metrics expect. The
        exact inverse of :meth:`contract_gt`: ``native_hdr(contract_gt()) == gt`` up to rounding.
        """
        if self.convention is not None:
            return self.convention.hdr_from_contract(contract_hdr, self.shortest)
        if self.gt_encoding == "gamma":
            return contract_hdr
        return contract_hdr.clip(0) ** self.gamma

    def in_convention(self, convention: Convention) -> Sample:
        """This sample with its LDRs and GT re-encoded into ``convention`` (itself when already there)."""
        if self.convention == convention:
            return self
        ldrs = np.asarray(convention.ldr_from_contract(self.contract_ldrs()), dtype=np.float32)
        gt = self.contract_gt()
        if gt is not None:
            gt = np.asarray(convention.hdr_from_contract(gt, self.shortest), dtype=np.float32)
        encoding: GtEncoding = "linear" if convention.hdr_encoding == "linear" else "gamma"
        return replace(self, ldrs=ldrs, gt=gt, gt_encoding=encoding, convention=convention)

    def crop(self, ys: slice, xs: slice) -> Sample:
        """A window of every frame and the GT."""
        gt = None if self.gt is None else self.gt[ys, xs]
        return replace(self, ldrs=self.ldrs[:, ys, xs], gt=gt)


class Layout(ABC):
    """One way of storing a data set. Subclasses set :attr:`name` and implement the abstract methods.

    Scene ids are strings (NTIRE's are 4 digits, other layouts may use folder names). Paths passed
    in are :class:`~pathlib.Path` objects of the data-set folder.
    """

    name: str = ""
    #: what an empty folder lacks, in "holds no ..." messages
    sample_hint: str = "samples"
    #: the convention of the files (what :meth:`load` returns); every Sample reaches models in the contract
    convention: Convention = CONTRACT

    def configured(self, tif_scale: int | None = None) -> Layout:
        """This layout with reading options set (``tif_scale``: what a 16-bit tif is divided by).

        A layout without such options returns itself; the Kalantari family returns a new instance.
        """
        return self

    def describe(self) -> dict[str, Any]:
        """The reading options in effect, recorded in ``make-data``'s manifest (none by default)."""
        return {}

    @property
    def manifest_format(self) -> str:
        """The ``format`` field of ``make-data``'s ``manifest.json``."""
        return self.name

    @abstractmethod
    def detect(self, root: Path) -> bool:
        """Does this folder look like a data set of this layout (cheap: names, not contents)?"""

    @abstractmethod
    def find_samples(self, root: Path) -> list[str]:
        """The scene ids in ``root``, sorted."""

    @abstractmethod
    def validate(self, root: Path, ids: list[str], require_gt: bool) -> list[str]:
        """Every problem of these samples, one message line each (empty: all good).

        Read headers and small files only; a problem must name the file (or scene) it is about.
        """

    @abstractmethod
    def load(self, root: Path, sid: str) -> Sample:
        """Decode one (validated) scene; an undecodable file raises :class:`DatasetError` naming it."""

    @abstractmethod
    def write(self, root: Path, sid: str, sample: Sample) -> None:
        """Store ``sample`` as scene ``sid`` in ``root`` (the folder exists)."""

    @abstractmethod
    def member_files(self, root: Path, sid: str) -> list[Path]:
        """The files of one scene, whether or not they exist (for fingerprints and ``--force``)."""

    def fingerprint(self, root: Path, ids: list[str]) -> str:
        """SHA-256 over the member files' relative paths, sizes and modification times."""
        return stat_fingerprint(root, (p for sid in sorted(ids) for p in self.member_files(root, sid)))

    def sample_size(self, root: Path, sid: str) -> tuple[int, int]:
        """``(width, height)`` of a validated scene; override when a header tells it without decoding."""
        return self.load(root, sid).size

    def load_stored(self, root: Path, sid: str) -> Any:
        """What a patch dataset keeps in its cache (override with something smaller than floats)."""
        return self.load(root, sid)

    def decode(self, stored: Any, ys: slice = slice(None), xs: slice = slice(None)) -> Sample:
        """A window of what :meth:`load_stored` returned, as a :class:`Sample`."""
        return stored.crop(ys, xs)


LAYOUTS: Registry[Layout] = Registry("data layout")


def register_layout(cls: type[Layout]) -> type[Layout]:
    """Class decorator: register one instance of ``cls`` under ``cls.name``."""
    LAYOUTS.add(cls.name, cls())
    return cls


def stat_fingerprint(root: Path, paths: Iterable[Path]) -> str:
    """SHA-256 over ``path-relative-to-root \\t size \\t mtime_ns`` of the files that exist (not their bytes: fast).

    For a flat folder the relative path is the file name, so NTIRE fingerprints stay what they were.
    """
    h = hashlib.sha256()
    for p in paths:
        try:
            st = p.stat()
        except OSError:  # missing, a symlink loop, no permission: the validation names the file
            continue
        h.update(f"{p.relative_to(root).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def list_folder(root: Path) -> list[str]:
    """The names in a data folder; an unreadable folder (no permission, a symlink loop) is a DatasetError."""
    try:
        return os.listdir(root)
    except OSError as exc:
        raise DatasetError(f"data set folder {root}: cannot list it ({exc.strerror or exc})") from None


def detect_layouts(root: str | os.PathLike) -> list[Layout]:
    """The registered layouts that accept ``root`` (none when it is not a folder)."""
    r = Path(root)
    return [layout for layout in LAYOUTS if layout.detect(r)] if r.is_dir() else []


SPLIT_FOLDERS = ("Test", "Training", "test", "train", "training")  # how the field's sets split into parts


def no_samples_message(root: Path) -> str:
    """One line for a folder that no layout recognises (with only NTIRE registered, NTIRE's message).

    A Kalantari-style root holding ``Training/`` and ``Test/`` is not itself a data set: the line
    says which of its parts are, so the user passes one of them.
    """
    parts = [name for name in SPLIT_FOLDERS if (root / name).is_dir() and detect_layouts(root / name)]
    if parts:
        listed = ", ".join(f"{name}/" for name in parts)
        return f"data set folder {root} holds the parts {listed} of a data set: give one, e.g. --data {root / parts[0]}"
    hints = " nor ".join(layout.sample_hint for layout in LAYOUTS)
    tail = f"; name its layout with --layout ({', '.join(LAYOUTS.names())})" if len(LAYOUTS) > 1 else ""
    return f"data set folder {root} holds no {hints}{tail}"


def open_layout(
    root: str | os.PathLike, name: str | Layout | None = None, *, fallback: str | None = None
) -> Layout:
    """The layout of ``root``: ``name`` (a registered name or a :class:`Layout`), else the one detected.

    No match is a :class:`DatasetError` unless ``fallback`` names the layout to use then (a caller
    with explicit ids wants that layout's per-sample "missing" report); several matches need a name.
    """
    r = Path(root)
    if isinstance(name, Layout):
        return name
    if name is not None:
        return LAYOUTS.get(name)
    if not r.is_dir():
        raise DatasetError(f"data set folder {r} does not exist or is not a folder")
    found = detect_layouts(r)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        names = ", ".join(layout.name for layout in found)
        raise DatasetError(
            f"data set folder {r} matches several data layouts ({names}); pick one with --layout"
        )
    if fallback is not None:
        return LAYOUTS.get(fallback)
    raise DatasetError(no_samples_message(r))


def resolve_layout(
    root: str | os.PathLike, name: str | Layout | None, tif_scale: int | None = None
) -> str | Layout | None:
    """What to pass as ``layout=`` to the datasets for ``--layout NAME`` and ``--tif-scale N``.

    Without reading options, ``name`` itself (detection and its messages stay the datasets' own);
    with them, the named or detected layout configured with them (:meth:`Layout.configured`).
    """
    if tif_scale is None:
        return name
    return open_layout(root, name).configured(tif_scale=tif_scale)


def check_dataset(
    root: str | os.PathLike, ids: list[str] | None, require_gt: bool, layout: str | Layout | None = None
) -> tuple[Layout, list[str]]:
    """Open the layout, list the ids (all, or ``ids``) and validate them: one :class:`DatasetError` for all problems."""
    r = Path(root)
    if not r.is_dir():
        raise DatasetError(f"data set folder {r} does not exist or is not a folder")
    chosen = open_layout(r, layout, fallback=DEFAULT_LAYOUT if ids is not None else None)
    if ids is None:
        ids = chosen.find_samples(r)
        if not ids:
            raise DatasetError(f"data set folder {r} holds no {chosen.sample_hint}")
    else:
        ids = [str(i) for i in ids]
        if not ids:
            raise DatasetError(f"data set {r}: the id list is empty")
    problems = chosen.validate(r, ids, require_gt)
    if problems:
        shown = problems[:MAX_LISTED_PROBLEMS]
        more = len(problems) - len(shown)
        tail = f"\n  ... and {more} more" if more else ""
        raise DatasetError(
            f"data set {r}: {len(problems)} problem(s) in {len(ids)} sample(s):\n  "
            + "\n  ".join(shown)
            + tail
        )
    return chosen, ids


def add_layout_argument(p: Any, default: str | None = None) -> None:
    """The ``--layout NAME`` option (choices: the registered layouts)."""
    detected = "detected from the folder's files" if default is None else default
    p.add_argument(
        "--layout",
        choices=LAYOUTS.names(),
        default=default,
        help=f"data-set layout (default: {detected})",
    )


__all__ = [
    "DEFAULT_LAYOUT",
    "LAYOUTS",
    "DatasetError",
    "Layout",
    "Sample",
    "add_layout_argument",
    "check_dataset",
    "detect_layouts",
    "open_layout",
    "register_layout",
    "resolve_layout",
    "stat_fingerprint",
]
