"""Writing files safely: every write goes through a temporary file and a rename (an interrupted run
never leaves a half-written result), JSON without NaN, and output paths checked before any work."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.core.errors import UsageError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()

# The temporary files of atomic_write_bytes: ".NAME." + mkstemp's 8 random characters + ".tmp".
TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
# A temp file older than this belongs to a write that was killed (a live write takes seconds).
STALE_TEMP_SECONDS = 3600.0
SWEPT_FOLDERS: set[Path] = set()  # folders already swept by this process (a sweep lists the folder once)


def remove_stale_temp_files(folder: Path, older_than: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete the temp files a killed :func:`atomic_write_bytes` left in ``folder`` (its pattern, old only)."""
    removed = []
    cutoff = time.time() - older_than
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not TEMP_NAME.match(name):
            continue
        p = folder / name
        try:
            if p.is_file() and not p.is_symlink() and p.stat().st_mtime < cutoff:
                p.unlink()
                removed.append(p)
        except OSError:  # gone already, or not ours to delete: leave it
            continue
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A failed write (a full disk, no permission) is one :class:`UsageError` naming the file; the
    previous file, if any, is left as it was. The first write to a folder also removes the stale
    temp files of earlier writes that were killed.
    """
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"cannot write {target}: it is a folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:  # a bad output path is the user's to fix: one line, exit 2
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from exc
    folder = target.parent.resolve()
    if folder not in SWEPT_FOLDERS:
        SWEPT_FOLDERS.add(folder)
        remove_stale_temp_files(folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the user's usual mode
        os.replace(tmp, target)
    except OSError as exc:  # a full disk (ENOSPC from write or fsync), a vanished folder...
        Path(tmp).unlink(missing_ok=True)
        kept = " (the previous file is unchanged)" if target.exists() else ""
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}{kept}") from exc
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
    if p.is_dir() or str(path).endswith(("/", os.sep)):
        raise UsageError(f"{option} {path}: is a folder, not a file")
    try:
        check_output_dir(p.parent, option)
    except UsageError:
        raise UsageError(
            f"{option} {path}: its folder {p.parent} cannot be created (a file is in the way "
            "or no permission)"
        ) from None


def check_outside(
    path: str | os.PathLike | None,
    data_dir: str | os.PathLike | None,
    option: str,
    data_option: str = "--data",
) -> None:
    """Refuse an output ``path`` that is ``data_dir`` or lies inside it, before any work.

    Writing into a data set being read changes it (``eval --save-predictions DATA`` would overwrite
    the ground truth's ``_alignratio.npy``, and every later score with it). Both paths are resolved,
    so a symlink or ``..`` does not get around the check.
    """
    if path is None or data_dir is None:
        return
    out, data = Path(path).resolve(), Path(data_dir).resolve()
    if out == data or out.is_relative_to(data):
        raise UsageError(
            f"{option} {path}: inside the data set being read ({data_option} {data_dir}); write it elsewhere"
        )


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
