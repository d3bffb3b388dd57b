"""Stored results as flat rows and CSV (``run_bench.py results --csv``)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from bench.core import atomic_write_text
from bench.results.store import canonical_json


def flat_rows(rows: list[dict]) -> list[dict]:
    """Flatten stored results for CSV: metadata columns, then every record field (lists/dicts as JSON)."""
    out = []
    for row in rows:
        flat: dict[str, Any] = {
            "id": row["id"],
            "kind": row["kind"],
            "model": row["model"],
            "created": row["created"],
            "config_hash": row["config_hash"],
            "settings": canonical_json(row["settings"]),
        }
        env = row.get("environment") or {}
        flat["git_revision"] = env.get("git_revision")
        flat["suite_version"] = env.get("suite_version")
        for k, v in row["record"].items():
            if k in flat:
                k = f"record_{k}"
            flat[k] = canonical_json(v) if isinstance(v, (list, dict)) else v
        out.append(flat)
    return out


def export_csv(rows: list[dict], path: str | os.PathLike) -> Path:
    flat = flat_rows(rows)
    columns = list(dict.fromkeys(k for row in flat for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return atomic_write_text(path, buf.getvalue())
