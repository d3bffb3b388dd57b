"""Model registry, shaped after timm's: a model is a plain factory function behind a decorator.

    @register_model(family="eapnet", paper_table="1", paper_row="exp8", description="...")
    def eapnet_standard(**overrides) -> nn.Module: ...

    create_model("eapnet-standard")           # one call by name
    list_models("eapnet-*")                   # wildcards, natural sort

The function name becomes the model name with ``_`` written as ``-``. Every model follows one
contract (the NTIRE organizers' rule that all preprocessing happens inside the model)::

    forward(ldrs: [B, 3, 3, H, W] in 0..1, gamma-encoded; short, medium, long,
            ev:   [B, 3] exposure in EV stops relative to the medium frame) -> [B, 3, H, W]

returning gamma-encoded HDR on the medium frame's scale (values may exceed 1).
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from models.conventions import CONVENTIONS

__all__ = [
    "ModelInfo",
    "UnknownModelError",
    "canonical_name",
    "create_model",
    "is_model",
    "list_models",
    "load_builtin_models",
    "model_info",
    "register_model",
    "suggest",
]


class UnknownModelError(KeyError):
    """Raised for a name that is not registered; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model besides how to build it."""

    name: str
    factory: Callable[..., nn.Module] = field(repr=False, compare=False)
    family: str
    description: str = ""
    paper_table: str | None = None  # table number in the paper (see bench/paper_tables.csv)
    paper_row: str | None = None  # row id in that table
    alias_of: str | None = None  # the name of the model this one is identical to
    weights: str | None = None  # default trained weights, relative to the repository's weights/
    trainable: bool = True  # False for parameter-free references
    convention: str = "ntire"  # its inputs and outputs (models/conventions.py); the contract converts

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "paper_table": self.paper_table,
            "paper_row": self.paper_row,
            "alias_of": self.alias_of,
            "weights": self.weights,
            "trainable": self.trainable,
            "convention": self.convention,
            "description": self.description,
        }


_REGISTRY: dict[str, ModelInfo] = {}


def _name_of(fn: Callable) -> str:
    return fn.__name__.lower().replace("_", "-")


def register_model(
    fn: Callable[..., nn.Module] | None = None,
    *,
    name: str | None = None,
    family: str = "other",
    description: str | None = None,
    paper_table: str | int | None = None,
    paper_row: str | None = None,
    alias_of: str | None = None,
    weights: str | None = None,
    trainable: bool = True,
    convention: str = "ntire",
    overwrite: bool = False,
):
    """Register a model factory; usable bare (``@register_model``) or with metadata."""

    def decorate(func: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        model_name = name or _name_of(func)
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", model_name):
            raise ValueError(f"model name {model_name!r} must be lower-case and dash-separated")
        if convention not in CONVENTIONS:
            raise ValueError(
                f"model {model_name!r}: unknown convention {convention!r} ({', '.join(CONVENTIONS)})"
            )
        if model_name in _REGISTRY and not overwrite:
            raise ValueError(f"model {model_name!r} is already registered")
        doc = (func.__doc__ or "").strip().splitlines()
        _REGISTRY[model_name] = ModelInfo(
            name=model_name,
            factory=func,
            family=family,
            description=description if description is not None else (doc[0] if doc else ""),
            paper_table=None if paper_table is None else str(paper_table),
            paper_row=paper_row,
            alias_of=alias_of,
            weights=weights,
            trainable=trainable,
            convention=convention,
        )
        return func

    return decorate(fn) if fn is not None else decorate


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def list_models(pattern: str | list[str] | None = None, family: str | None = None) -> list[str]:
    """Registered names matching a wildcard pattern (or any of several), in natural order."""
    load_builtin_models()
    patterns = [pattern] if isinstance(pattern, str) else list(pattern or ["*"])
    names = [
        n
        for n, info in _REGISTRY.items()
        if any(fnmatch.fnmatchcase(n, p.lower()) for p in patterns)
        and (family is None or info.family == family)
    ]
    return sorted(names, key=_natural_key)


def is_model(name: str) -> bool:
    load_builtin_models()
    return name in _REGISTRY


def suggest(name: str, n: int = 3) -> list[str]:
    """Registered names close to ``name`` (for error messages)."""
    load_builtin_models()
    return difflib.get_close_matches(name.lower(), list(_REGISTRY), n=n, cutoff=0.5)


def model_info(name: str) -> ModelInfo:
    load_builtin_models()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = suggest(name)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(f"unknown model {name!r}{hint} (see `run_bench.py list`)") from None


def canonical_name(name: str) -> str:
    """The name a model is registered under when ``name`` is an alias of it; else ``name`` itself."""
    if not is_model(name):
        return name
    return _REGISTRY[name].alias_of or name


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a registered model by name; ``overrides`` go to its factory (e.g. ``n_blocks=5``)."""
    info = model_info(name)
    model = info.factory(**overrides)
    model.eapbench_name = name  # type: ignore[attr-defined]  # lets results carry the registry name
    return model


_LOADED = False


def load_builtin_models() -> None:
    # Importing the architecture modules runs their decorators; done lazily so that
    # `models.registry` itself imports nothing heavy and has no import cycle.
    global _LOADED
    if _LOADED:
        return
    _LOADED = True

    from models import BUILTIN_MODULES  # here, not at the top: `models/__init__` imports this module

    for module in BUILTIN_MODULES:
        importlib.import_module(module)
