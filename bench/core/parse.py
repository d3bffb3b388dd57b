"""Parsing what users type: sizes (``WIDTHxHEIGHT``, as the paper writes them) and image ids."""

from __future__ import annotations

import os
import re
from pathlib import Path

from bench.core.errors import UsageError

NTIRE_SIZE = (1900, 1060)  # (width, height) of the NTIRE 2022 frames, as the paper writes sizes
PADDED_SIZE = (1920, 1080)  # the paper pads to this for inference
# Upper bounds on what users type: far above any real use (8K frames, NTIRE's 1500 ids), low enough
# that a typo is refused at once instead of allocating terabytes or listing ids for minutes.
MAX_SIDE = 16384
MAX_IDS = 100_000


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``WIDTHxHEIGHT`` (e.g. ``1900x1060``) into ``(width, height)``."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", str(text))
    if not m:
        raise UsageError(f"size {text!r} is not WIDTHxHEIGHT (e.g. 1900x1060)")
    width, height = int(m.group(1)), int(m.group(2))
    if width < 1 or height < 1:
        raise UsageError(f"size {text!r} must be positive")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise UsageError(f"size {text!r}: each side must be at most {MAX_SIDE} pixels")
    return width, height


def format_size(width: int, height: int) -> str:
    return f"{width}x{height}"


def parse_ids(text: str) -> list[str]:
    """Parse ``0000-0099,0150`` into 4-digit ids, keeping order and dropping repeats."""
    ids: list[str] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise UsageError(f"ids {text!r}: {part!r} is not a number or a range like 0000-0099")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise UsageError(f"ids {text!r}: range {part!r} runs backwards")
        if hi - lo + 1 + len(ids) > MAX_IDS:
            raise UsageError(f"ids {text!r}: more than {MAX_IDS} ids (is a digit too many?)")
        ids.extend(f"{i:04d}" for i in range(lo, hi + 1))
    if not ids:
        raise UsageError(f"ids {text!r} names no id")
    return list(dict.fromkeys(ids))


def read_split_file(path: str | os.PathLike) -> list[str]:
    """One id per line; blank lines and ``#`` comments ignored."""
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"split file {p}: cannot read ({exc.strerror or exc})") from exc
    ids = []
    for n, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if not line.isdigit():
            raise UsageError(f"split file {p}, line {n}: {line!r} is not a numeric id")
        ids.append(f"{int(line):04d}")
    if not ids:
        raise UsageError(f"split file {p} lists no id")
    return ids
