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


def one_per_architecture(names: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """``names`` with each group of aliases (eapnet-exp6 = eapnet-lightweight = eapnet-lightweight-pdub3)
    kept once, in the order given; returns ``(kept, {dropped alias: the name kept for it})``.

    Aliases build the same network with the same weights: a command measures them once, under the
    registered original's name when it is among ``names`` (results stay where they always were),
    else under the first alias given.
    """
    from models.registry import canonical_name  # as in resolve_model_names: the zoo loads torch

    given = list(dict.fromkeys(names))
    chosen: dict[str, str] = {}  # canonical name -> the name that stands for the group
    for name in given:
        canonical = canonical_name(name)
        if canonical not in chosen or name == canonical:
            chosen[canonical] = name
    kept = [n for n in given if chosen[canonical_name(n)] == n]
    dropped = {n: chosen[canonical_name(n)] for n in given if chosen[canonical_name(n)] != n}
    return kept, dropped
