"""The training log ``RUN/log.csv`` (one row every ``--log-every`` iterations) and the progress bar.

Columns: iteration, mean training loss since the previous row, learning rate, training seconds
(summed over resumed windows), iterations/s, and the EMA model's validation PSNR / PSNR-µ when
``--val-every`` asks for them. A resumed run keeps the rows up to its checkpoint and redoes the rest.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from bench.core import UsageError, atomic_write_text, progress_enabled

LOG_FIELDS = ["iteration", "loss", "lr", "seconds", "it_per_s", "val_psnr", "val_psnr_mu"]


def read_log(path: Path, upto: int) -> list[dict[str, Any]]:
    """Rows of an existing log up to iteration ``upto`` (a resumed run drops what it redoes)."""
    if not path.is_file():
        return []
    rows = []
    try:
        with path.open(newline="") as fh:
            for n, row in enumerate(csv.DictReader(fh), 2):
                if not isinstance(row.get("iteration"), str) or not row["iteration"].strip().isdigit():
                    raise UsageError(
                        f"--resume: {path}, line {n}: iteration {row.get('iteration')!r} is not a number"
                    )
                if int(row["iteration"]) <= upto:
                    rows.append(row)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"--resume: cannot read {path} ({exc})") from exc
    return rows


def write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write all ``rows`` at once (temp file + rename: an interruption leaves the previous log)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def log_row(iteration: int, loss: float, lr: float, seconds: float, it_per_s: float) -> dict[str, Any]:
    """One log row, formatted as the CSV stores it (validation columns are added when measured)."""
    return {
        "iteration": iteration,
        "loss": f"{loss:.6g}",
        "lr": f"{lr:.6g}",
        "seconds": f"{seconds:.2f}",
        "it_per_s": f"{it_per_s:.3f}",
    }


def progress_bar(total: int, initial: int, desc: str, enabled: bool) -> tqdm:
    """A tqdm bar (iterations/s shown by tqdm, loss and lr as postfix); off on non-main ranks and in tests."""
    disable = not enabled or not progress_enabled()  # no bar when stderr is not a terminal
    return tqdm(total=total, initial=initial, desc=desc, disable=disable, dynamic_ncols=True, leave=False)
