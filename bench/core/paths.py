"""Where the suite reads and writes, in a checkout and in an installed wheel alike.

Read-only data ships inside the ``bench`` package and is found next to its modules, never through
the checkout: the shipped weights (``bench/weights/``), the paper's tables
(``bench/report/paper_tables.csv``) and the committed calibration of the project's CI machine
(``bench/roofline/calibration/``).

Nothing is written into the installed package. Written files go to

- outputs of the main job, ``report`` and ``compare``, and the results database (:data:`OUTPUT_DIR`):
  the checkout's ``reports/latest/`` when the suite runs from a checkout, else ``./eapbench-out/``
  under the current folder (a relative path, so it follows the folder the command is run from);
  ``--out``, ``--db`` and ``$EAPBENCH_DB`` win. ``reports/latest/`` is git-ignored: no default run
  rewrites a tracked file. The committed snapshot of a main-job run is ``reports/snapshot/``
  (:data:`SNAPSHOT_DIR`), refreshed only on purpose with ``--out reports/snapshot``;
- calibrations written by ``calibrate`` and, outside a checkout, the generated default data set:
  the user cache folder, ``$EAPBENCH_CACHE``, else ``$XDG_CACHE_HOME/eapbench``, else
  ``~/.cache/eapbench``. A calibration there wins over the shipped one of the same device.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the `bench` package folder


def find_checkout(package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The checkout holding ``package_dir`` (its parent has the project's pyproject.toml), else None.

    An editable install counts as a checkout; a wheel installed into site-packages does not.
    """
    root = package_dir.parent
    return root if (root / "pyproject.toml").is_file() and (root / "run_bench.py").is_file() else None


def user_cache_dir() -> Path:
    """``$EAPBENCH_CACHE``, else ``$XDG_CACHE_HOME/eapbench``, else ``~/.cache/eapbench``."""
    if os.environ.get("EAPBENCH_CACHE"):
        return Path(os.environ["EAPBENCH_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "eapbench"


CHECKOUT_ROOT = find_checkout()
# The checkout, or the folder the packages are installed in (report paths are shown relative to it).
REPO_ROOT = CHECKOUT_ROOT or PACKAGE_DIR.parent

# Shipped, read-only package data.
WEIGHTS_DIR = PACKAGE_DIR / "weights"
PAPER_TABLES_CSV = PACKAGE_DIR / "report" / "paper_tables.csv"
SHIPPED_CALIBRATION_DIR = PACKAGE_DIR / "roofline" / "calibration"

# Written files. REPORTS_DIR holds the tracked snapshot and the ignored latest/ in a checkout.
REPORTS_DIR = CHECKOUT_ROOT / "reports" if CHECKOUT_ROOT else Path("eapbench-out")
SNAPSHOT_DIR = CHECKOUT_ROOT / "reports" / "snapshot" if CHECKOUT_ROOT else None
# Every default output: an untracked folder (git-ignored in a checkout), never the tracked snapshot.
OUTPUT_DIR = REPORTS_DIR / "latest" if CHECKOUT_ROOT else REPORTS_DIR
OUTPUT_DIR_SHOWN = "reports/latest/" if CHECKOUT_ROOT else "./eapbench-out/"  # for --help texts
DEFAULT_DB = OUTPUT_DIR / "results.sqlite"
CACHE_DIR = user_cache_dir()
CALIBRATION_CACHE_DIR = CACHE_DIR / "calibration"
DEFAULT_DATA_DIR = (CHECKOUT_ROOT / "data" if CHECKOUT_ROOT else CACHE_DIR / "data") / "synthetic-default"
