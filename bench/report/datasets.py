"""Which data set the report's accuracy comes from: one per report, named beside every accuracy value.

A PSNR is only comparable with a PSNR of the same images scored the same way. An eval's data set
is identified by the fingerprint its cache key holds (folder, chosen ids and the files' names,
sizes and times: :func:`bench.data.dataset_fingerprint`) and by its scoring mode (in memory or
through a 16-bit round trip); rows stored without a fingerprint fall back to the resolved folder
and the number of images. The report shows the evals of exactly one such data set:

* ``report --data DIR|FINGERPRINT`` pins it (a folder: its current fingerprint first, else the
  evals of that folder; a fingerprint: any unique prefix of at least 6 hex digits);
* by default the main job's data set (:data:`bench.core.DEFAULT_DATA_DIR`, or the folder the
  main job passes), else the data set with the most evaluated models (the newest on a tie).

A pinned data set that no eval matches shows no accuracy at all: another data set never stands in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core import DEFAULT_DATA_DIR, REPO_ROOT
from bench.data import dataset_fingerprint
from bench.results import EvalRecord

FINGERPRINT_SHOWN = 12  # hex digits of a fingerprint printed in labels (any unique prefix pins it)
MIN_PREFIX = 6


def resolved(path: Any) -> str | None:
    """``path`` made absolute (the form eval cache keys hold), or None for no path."""
    if not path:
        return None
    try:
        return str(Path(str(path)).expanduser().resolve())
    except (OSError, RuntimeError):  # a symlink loop or an unreadable parent: compare as written
        return str(path)


def display_path(path: Any) -> str:
    """A path inside this repository relative to it (reports read the same on every machine), else as given."""
    p = Path(str(path))
    try:
        return str(p.relative_to(REPO_ROOT)) if p.is_absolute() else str(path)
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class DataSet:
    """The data an accuracy value was measured on: folder, fingerprint, number of images, scoring mode."""

    path: str
    fingerprint: str | None
    n_images: int | None
    scoring: str

    @property
    def key(self) -> tuple[str, str]:
        """What two evals must share to be shown side by side."""
        ident = self.fingerprint or f"path:{resolved(self.path)}:{self.n_images}"
        return ident, self.scoring

    def label(self) -> str:
        """``data/synthetic-default (8 images, in-memory, fingerprint 3f2a...)``."""
        fp = f"fingerprint {self.fingerprint[:FINGERPRINT_SHOWN]}" if self.fingerprint else "no fingerprint"
        return f"{display_path(self.path)} ({self.n_images} images, {self.scoring}, {fp})"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": display_path(self.path),
            "fingerprint": self.fingerprint,
            "n_images": self.n_images,
            "scoring": self.scoring,
            "label": self.label(),
        }


def data_set_of(row: dict) -> DataSet:
    """The data set of a stored eval row (its cache key's fingerprint, its record's images and scoring)."""
    rec: EvalRecord = row["record"]
    settings = row.get("settings") or {}
    fingerprint = settings.get("data_fingerprint")
    scoring = rec.scoring or ("roundtrip16" if rec.roundtrip16 else "in-memory")
    scoring += "" if rec.get("protocol", "full") == "full" else f", {rec.get('protocol')} protocol"
    return DataSet(
        path=str(rec.data or settings.get("data") or "?"),
        fingerprint=fingerprint if isinstance(fingerprint, str) and fingerprint else None,
        n_images=rec.n_images,
        scoring=scoring,
    )


def _current_fingerprint(folder: str) -> str | None:
    try:
        return dataset_fingerprint(folder) if Path(folder).is_dir() else None
    except Exception:  # noqa: BLE001 (an unreadable or odd folder: match the evals by path instead)
        return None


def matching_rows(rows: list[dict], data: str) -> list[dict]:
    """The eval rows that ``--data`` names: a fingerprint prefix, else a folder."""
    text = data.strip()
    if re.fullmatch(rf"[0-9a-fA-F]{{{MIN_PREFIX},}}", text) and not Path(text).exists():
        return [r for r in rows if (data_set_of(r).fingerprint or "").startswith(text.lower())]
    folder = resolved(text)
    in_folder = [
        r
        for r in rows
        if folder in (resolved(r["record"].data), resolved((r.get("settings") or {}).get("data")))
    ]
    now = _current_fingerprint(text)
    current = [r for r in in_folder if now is not None and data_set_of(r).fingerprint == now]
    return current or in_folder


def choose_data_set(rows: list[dict], data: str | None, usable: Callable[[dict], bool]) -> DataSet | None:
    """The one data set whose accuracy the report shows (see the module doc); None when none fits.

    ``rows``: the store's eval rows (typed records); ``usable``: whether a row's score counts.
    """
    candidates = [r for r in rows if usable(r)]
    if data is not None:
        candidates = matching_rows(candidates, data)
    elif matching_rows(candidates, str(DEFAULT_DATA_DIR)):
        candidates = matching_rows(candidates, str(DEFAULT_DATA_DIR))
    groups: dict[tuple, list[dict]] = {}
    for r in candidates:
        groups.setdefault(data_set_of(r).key, []).append(r)
    if not groups:
        return None
    best = max(groups.values(), key=lambda g: (len({r["model"] for r in g}), max(r["id"] for r in g)))
    return data_set_of(max(best, key=lambda r: r["id"]))


def data_sets(rows: list[dict], usable: Callable[[dict], bool]) -> list[DataSet]:
    """Every data set with a usable eval, newest first (what ``--data`` can pin)."""
    seen: dict[tuple, DataSet] = {}
    for r in sorted((r for r in rows if usable(r)), key=lambda r: -r["id"]):
        seen.setdefault(data_set_of(r).key, data_set_of(r))
    return list(seen.values())
