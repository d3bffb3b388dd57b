"""The suite's core: errors, parsing of user input, safe file writing, devices, paths.

Names are re-exported here so that ``from bench.core import UsageError, parse_size`` works; each lives
in one module of this package by concern.
"""

from bench.core.device import resolve_device
from bench.core.errors import ArtefactError, ModelFailure, UsageError
from bench.core.io import (
    atomic_write_bytes,
    atomic_write_text,
    check_output_dir,
    check_output_file,
    check_outside,
    to_json,
    write_json,
)
from bench.core.parse import NTIRE_SIZE, PADDED_SIZE, format_size, parse_ids, parse_size, read_split_file
from bench.core.paths import (
    CACHE_DIR,
    CALIBRATION_CACHE_DIR,
    CHECKOUT_ROOT,
    DEFAULT_DATA_DIR,
    DEFAULT_DB,
    OUTPUT_DIR,
    OUTPUT_DIR_SHOWN,
    PAPER_TABLES_CSV,
    REPO_ROOT,
    REPORTS_DIR,
    SHIPPED_CALIBRATION_DIR,
    SNAPSHOT_DIR,
    WEIGHTS_DIR,
)
from bench.core.progress import progress, progress_enabled

__all__ = [
    "CACHE_DIR",
    "CALIBRATION_CACHE_DIR",
    "CHECKOUT_ROOT",
    "DEFAULT_DATA_DIR",
    "DEFAULT_DB",
    "NTIRE_SIZE",
    "OUTPUT_DIR",
    "OUTPUT_DIR_SHOWN",
    "PADDED_SIZE",
    "PAPER_TABLES_CSV",
    "REPORTS_DIR",
    "REPO_ROOT",
    "SHIPPED_CALIBRATION_DIR",
    "SNAPSHOT_DIR",
    "WEIGHTS_DIR",
    "ArtefactError",
    "ModelFailure",
    "UsageError",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_dir",
    "check_output_file",
    "check_outside",
    "format_size",
    "parse_ids",
    "parse_size",
    "progress",
    "progress_enabled",
    "read_split_file",
    "resolve_device",
    "to_json",
    "write_json",
]
