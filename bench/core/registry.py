"""One registry per kind of extension (metrics, data layouts, timing backends, counting tools, op rules...).

Shaped after BasicSR's ``Registry``: a kind's module creates ``METRICS = Registry("metric")`` and
entries are added with a decorator or a call. A plugin module (``--plugin FILE``, see
:mod:`bench.core.plugins`) registers its own entries the same way, so adding a metric or a layout is
one file outside ``bench/``. CLI ``choices=`` are taken from :meth:`Registry.names`, so a registered
entry is usable from the command line at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from bench.core.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind; ``get`` of an unknown name is a :class:`UsageError` with close matches."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Register ``entry`` under ``name``; a second, different entry of that name needs ``replace``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} needs a non-empty name, got {name!r}")
        old = self._entries.get(name)
        if old is not None and old is not entry and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered (pass replace=True to override it)")
        self._entries[name] = entry
        return entry

    def register(self, name: str | None = None, *, replace: bool = False) -> Callable[[T], T]:
        """Decorator form: ``@METRICS.register("psnr")``; without a name, the object's ``name`` or ``__name__``."""

        def deco(entry: T) -> T:
            key = name or getattr(entry, "name", None) or getattr(entry, "__name__", None)
            self.add(str(key), entry, replace=replace)
            return entry

        return deco

    def remove(self, name: str) -> None:
        """Drop an entry (tests that register temporary entries clean up with this)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), list(self._entries), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UsageError(
                f"unknown {self.kind} {name!r} (known: {', '.join(self.names()) or 'none'}){hint}"
            ) from None

    def names(self) -> list[str]:
        """Registered names in registration order (built-ins first, then plugins)."""
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
