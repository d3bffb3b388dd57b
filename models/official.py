"""Converters from the authors' checkpoints to this suite's parameter names, one per model.

A network written here from a published architecture keeps its own module names; its authors'
checkpoint uses theirs. The model's file registers a pure function that renames (and, where the
layout differs, reshapes) the authors' state dict into ours::

    @register_official_converter("safnet-s")
    def safnet_s_from_official(state: dict[str, Tensor]) -> dict[str, Tensor]: ...

``run_bench.py weights import --model NAME FILE.pth`` loads the file with ``weights_only=True``,
applies the converter, and refuses missing or extra keys and wrong shapes before writing anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from torch import Tensor

StateDict = dict[str, Tensor]
Converter = Callable[[StateDict], StateDict]
Rename = tuple[str, str | Callable[[re.Match], str]]  # (pattern, replacement) for re.sub

__all__ = [
    "OFFICIAL_CONVERTERS",
    "Converter",
    "StateDict",
    "official_converter",
    "register_official_converter",
]

OFFICIAL_CONVERTERS: dict[str, Converter] = {}


def register_official_converter(*names: str) -> Callable[[Converter], Converter]:
    """Register ``fn`` as the converter of the authors' checkpoints for the models ``names``."""

    def decorate(fn: Converter) -> Converter:
        for name in names:
            if name in OFFICIAL_CONVERTERS:
                raise ValueError(f"an official-weights converter for {name!r} is already registered")
            OFFICIAL_CONVERTERS[name] = fn
        return fn

    return decorate


def rename_keys(
    state: StateDict, rules: list[Rename] | tuple[Rename, ...], drop: re.Pattern | None = None
) -> StateDict:
    """Apply the regex renames ``rules`` (in order, each once) to every key of ``state``.

    A leading ``module.`` (a checkpoint saved from ``nn.DataParallel``) is removed first, keys that
    match ``drop`` (buffers derived from the architecture, not learned) are left out, and every other
    key passes through renamed or not, so that a strict load names what does not fit.
    """
    renamed = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if drop is not None and drop.search(key):
            continue
        for pattern, replacement in rules:
            key = re.sub(pattern, replacement, key)
        renamed[key] = value
    return renamed


def official_converter(name: str) -> Converter | None:
    """The converter registered for model ``name`` (None: the model has no official weights)."""
    from models.registry import load_builtin_models  # here: the model files import this module

    load_builtin_models()
    return OFFICIAL_CONVERTERS.get(name)
