"""Small helpers every command shares: user errors, sizes, ids, atomic writes, model patterns.

Anything a user types can be wrong; those mistakes raise :class:`UsageError`, which the CLI turns
into one line on stderr and exit code 2. Every file the suite writes goes through
:func:`atomic_write_bytes` so that an interrupted run never leaves a half-written result behind.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
REPORTS_DIR = REPO_ROOT / "reports"
WEIGHTS_DIR = REPO_ROOT / "weights"

NTIRE_SIZE = (1900, 1060)  # (width, height) of the NTIRE 2022 frames, as the paper writes sizes
PADDED_SIZE = (1920, 1080)  # the paper pads to this for inference


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class UsageError(Exception):
    """A problem with what the user supplied (a path, a size, a model name...): exit code 2."""


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``WIDTHxHEIGHT`` (e.g. ``1900x1060``) into ``(width, height)``."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", str(text))
    if not m:
        raise UsageError(f"size {text!r} is not WIDTHxHEIGHT (e.g. 1900x1060)")
    width, height = int(m.group(1)), int(m.group(2))
    if width < 1 or height < 1:
        raise UsageError(f"size {text!r} must be positive")
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


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"cannot write {target}: it is a folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:  # a bad output path is the user's to fix: one line, exit 2
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the user's usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def check_output_dir(path: str | os.PathLike, option: str) -> Path:
    """Create an output folder before any work, so a bad ``--out`` is one error line (exit 2), not a traceback."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"{option} {path}: not a folder (a file is in the way)") from None
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot create the folder ({exc.strerror})") from None
    return p


def check_output_file(path: str | os.PathLike | None, option: str) -> None:
    """Check that an output file (``--json``, ``--csv``) can be written, before any work."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{option} {path}: is a folder, not a file")
    try:
        check_output_dir(p.parent, option)
    except UsageError:
        raise UsageError(
            f"{option} {path}: its folder {p.parent} cannot be created (a file is in the way "
            "or no permission)"
        ) from None


def resolve_device(name: str | None = "auto", local_rank: int | None = None):
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` -> a ``torch.device``; a missing GPU is a UsageError.

    ``auto`` picks a CUDA GPU when there is one. A bare ``cuda`` means this process's GPU: under
    torchrun ``cuda:LOCAL_RANK`` (pass ``local_rank``), else the current device.
    """
    import torch

    text = (name or "auto").strip().lower()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(text)
    except RuntimeError as exc:
        raise UsageError(f"device {name!r} is not cpu, cuda, cuda:N or auto") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(
                f"device {name!r}: CUDA is not available here (torch {torch.__version__}, "
                f"built for CUDA {torch.version.cuda or 'none'}); use --device cpu"
            )
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device() if local_rank is None else local_rank)
        if dev.index >= torch.cuda.device_count():
            raise UsageError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif dev.type != "cpu":
        raise UsageError(f"device {name!r}: only cpu and cuda are supported")
    return dev


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def to_json(obj: Any) -> str:
    # Non-finite floats become null: JSON has no NaN, and a reader must not mistake them for numbers.
    return json.dumps(_finite(obj), indent=2, default=_json_default, allow_nan=False) + "\n"


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (NaN/inf written as null)."""
    return atomic_write_text(path, to_json(obj))


def progress(iterable: Iterable, desc: str = "", total: int | None = None, **kwargs: Any) -> Iterator:
    """A tqdm progress bar on stderr; silent when EAPBENCH_NO_PROGRESS is set (tests, CI logs)."""
    from tqdm.auto import tqdm

    disable = kwargs.pop("disable", False) or bool(os.environ.get("EAPBENCH_NO_PROGRESS"))
    return iter(
        tqdm(iterable, desc=desc, total=total, disable=disable, leave=False, dynamic_ncols=True, **kwargs)
    )


def resolve_model_names(patterns: str | Iterable[str]) -> list[str]:
    """Expand comma-separated names/wildcards (``eapnet-*,ahdr``) into registered model names.

    A pattern that matches nothing is an error naming close matches, so typos never silently
    shrink a benchmark.
    """
    from models.registry import list_models, suggest

    if isinstance(patterns, str):
        patterns = [p for p in patterns.split(",")]
    names: list[str] = []
    for pattern in patterns:
        pattern = pattern.strip()
        if not pattern:
            continue
        found = list_models(pattern)
        if not found:
            hint = suggest(pattern)
            extra = f"; did you mean {', '.join(hint)}?" if hint else "; see `run_bench.py list`"
            raise UsageError(f"no registered model matches {pattern!r}{extra}")
        names.extend(found)
    if not names:
        raise UsageError("no model pattern given")
    return list(dict.fromkeys(names))
