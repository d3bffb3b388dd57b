"""Where the suite reads and writes: the checkout's folders (shipped weights, reports, calibrations)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
REPORTS_DIR = REPO_ROOT / "reports"
WEIGHTS_DIR = REPO_ROOT / "weights"
