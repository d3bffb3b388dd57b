"""Expanding model-name patterns (``eapnet-*,ahdr``) into registered names."""

from __future__ import annotations

from collections.abc import Iterable

from bench.core.errors import UsageError
from models.registry import list_models, suggest


def resolve_model_names(patterns: str | Iterable[str]) -> list[str]:
    """Expand comma-separated names/wildcards (``eapnet-*,ahdr``) into registered model names.

    A pattern that matches nothing is an error naming close matches, so typos never silently
    shrink a benchmark.
    """
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
