"""Reading HDR data sets: layouts (how files sit on disk), validation up front, a full-image and a patch Dataset.

The built-in layouts are NTIRE 2021/2022 (:mod:`bench.data.ntire`) and the Kalantari 2017 family
(``kalantari``, ``hu``, ``tel``: :mod:`bench.data.kalantari`); plugins register more in
:data:`bench.data.layouts.LAYOUTS`. :func:`scan_dataset` checks every sample before any work starts
and reports *all* problems in one :class:`DatasetError` (a :class:`~bench.core.UsageError`: the CLI
prints it and exits 2).
"""

from __future__ import annotations

from bench.data.datasets import (
    NTIREDataset,
    PatchDataset,
    dataset_fingerprint,
    grid_positions,
    ids_from_args,
    scan_dataset,
    to_item,
)
from bench.data.kalantari import (
    TIF_SCALES,
    HuLayout,
    KalantariLayout,
    SceneFolderLayout,
    TelLayout,
    add_tif_scale_argument,
)
from bench.data.layouts import (
    DEFAULT_LAYOUT,
    LAYOUTS,
    MAX_LISTED_PROBLEMS,
    DatasetError,
    Layout,
    Sample,
    add_layout_argument,
    check_dataset,
    detect_layouts,
    open_layout,
    register_layout,
    resolve_layout,
    stat_fingerprint,
)
from bench.data.ntire import (
    LDR_NAMES,
    NTIRELayout,
    decode_raw,
    load_raw,
    load_sample,
    member_paths,
    png_header,
    read_exposures,
)
from bench.data.store import StoreLayout, is_store, open_store  # the "store" layout of prepare-data

__all__ = [
    "StoreLayout",
    "is_store",
    "open_store",
    "DEFAULT_LAYOUT",
    "LAYOUTS",
    "LDR_NAMES",
    "MAX_LISTED_PROBLEMS",
    "TIF_SCALES",
    "DatasetError",
    "HuLayout",
    "KalantariLayout",
    "SceneFolderLayout",
    "TelLayout",
    "add_tif_scale_argument",
    "resolve_layout",
    "Layout",
    "NTIREDataset",
    "NTIRELayout",
    "PatchDataset",
    "Sample",
    "add_layout_argument",
    "check_dataset",
    "dataset_fingerprint",
    "decode_raw",
    "detect_layouts",
    "grid_positions",
    "ids_from_args",
    "load_raw",
    "load_sample",
    "member_paths",
    "open_layout",
    "png_header",
    "read_exposures",
    "register_layout",
    "scan_dataset",
    "stat_fingerprint",
    "to_item",
]
