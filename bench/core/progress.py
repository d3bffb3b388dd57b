"""Progress bars on stderr."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any


def progress(iterable: Iterable, desc: str = "", total: int | None = None, **kwargs: Any) -> Iterator:
    """A tqdm progress bar on stderr; silent when EAPBENCH_NO_PROGRESS is set (tests, CI logs)."""
    from tqdm.auto import tqdm  # deferred: `import bench.core` loads no third-party package

    disable = kwargs.pop("disable", False) or bool(os.environ.get("EAPBENCH_NO_PROGRESS"))
    return iter(
        tqdm(iterable, desc=desc, total=total, disable=disable, leave=False, dynamic_ncols=True, **kwargs)
    )
