"""Progress bars on stderr, only where a person watches them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any


def progress_enabled() -> bool:
    """True when stderr is a terminal and EAPBENCH_NO_PROGRESS is unset.

    A bar redraws itself with ``\\r``: in a CI log or a redirected file that is noise, not progress.
    """
    if os.environ.get("EAPBENCH_NO_PROGRESS"):
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed or detached stream
        return False


def progress(iterable: Iterable, desc: str = "", total: int | None = None, **kwargs: Any) -> Iterator:
    """A tqdm progress bar on stderr; silent when stderr is not a terminal or EAPBENCH_NO_PROGRESS is set."""
    from tqdm.auto import tqdm  # deferred: `import bench.core` loads no third-party package

    disable = kwargs.pop("disable", False) or not progress_enabled()
    return iter(
        tqdm(iterable, desc=desc, total=total, disable=disable, leave=False, dynamic_ncols=True, **kwargs)
    )
