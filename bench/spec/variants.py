"""Load a user's model without editing this repository, and check that it follows the contract.

A variant is named by one of:

- a registered name (``eapnet-lightweight``);
- ``path/to/file.py:factory`` - a function or class in a file; importing the file also runs its
  ``@register_model`` decorators, so ``path/to/file.py:my-registered-name`` works too;
- ``package.module:ClassName`` - an importable module.

A bare ``path/to/file.py`` is accepted when the file registers exactly one model.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from bench.core import UsageError
from bench.core.plugins import import_file
from models.registry import create_model, is_model, list_models, suggest

__all__ = ["check_contract", "load_variant"]


def load_variant(spec: str) -> tuple[str, Callable[[], nn.Module]]:
    """Resolve ``spec`` to ``(name, factory)``; ``factory()`` builds a fresh model."""
    spec = spec.strip()
    if not spec:
        raise UsageError("empty variant")
    if is_model(spec):
        return spec, lambda: create_model(spec)
    target, _, attr = spec.rpartition(":") if ":" in spec else (spec, "", "")
    if target.endswith(".py") or "/" in target or Path(target).suffix == ".py":
        before = set(list_models())
        module = import_file(Path(target), what="variant")
        added = [n for n in list_models() if n not in before]
        if not attr:
            if len(added) == 1:
                return added[0], lambda: create_model(added[0])
            raise UsageError(
                f"variant {spec!r}: name the model as {target}:NAME (the file registers "
                f"{len(added)} models{': ' + ', '.join(added) if added else ''})"
            )
    else:
        if not attr:
            close = suggest(spec)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UsageError(
                f"variant {spec!r} is not a registered model, a file.py:factory or a module:Class{hint}"
            )
        try:
            module = importlib.import_module(target)
        except Exception as exc:
            raise UsageError(
                f"variant {spec!r}: cannot import module {target!r}: {type(exc).__name__}: {exc}"
            ) from exc
    if is_model(attr):
        return attr, lambda: create_model(attr)
    obj = getattr(module, attr, None)
    if obj is None:
        raise UsageError(f"variant {spec!r}: {target} has no attribute {attr!r}")
    if not callable(obj):
        raise UsageError(f"variant {spec!r}: {attr!r} is not a class or a function")
    name = attr.lower().replace("_", "-")

    def factory() -> nn.Module:
        try:
            model = obj()
        except Exception as exc:
            raise UsageError(
                f"variant {spec!r}: building {attr}() failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(model, nn.Module):
            raise UsageError(
                f"variant {spec!r}: {attr}() returned {type(model).__name__}, not a torch.nn.Module"
            )
        model.eapbench_name = name  # type: ignore[attr-defined]
        return model

    return name, factory


def check_contract(model: nn.Module, name: str = "model", size: tuple[int, int] = (96, 64)) -> None:
    """Run ``model`` once on a small input and check the model contract; raise UsageError if broken.

    The contract: ``forward(ldrs [B,3,3,H,W], ev [B,3]) -> [B,3,H,W]`` with finite values, for any
    ``H, W >= 64`` (padding to what the model needs is the model's job).
    """
    params = list(inspect.signature(model.forward).parameters)
    if len(params) < 2:
        raise UsageError(f"{name}: forward must take (ldrs, ev), it takes ({', '.join(params)})")
    width, height = size
    gen = torch.Generator().manual_seed(0)
    ldrs = torch.rand(1, 3, 3, height, width, generator=gen)
    ev = torch.tensor([[-2.0, 0.0, 2.0]])
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(ldrs, ev)
    except Exception as exc:
        raise UsageError(
            f"{name}: forward(ldrs [1,3,3,{height},{width}], ev [1,3]) failed: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise UsageError(f"{name}: forward must return a tensor, returned {type(out).__name__}")
    if tuple(out.shape) != (1, 3, height, width):
        raise UsageError(
            f"{name}: output shape {list(out.shape)} != [1, 3, {height}, {width}] (the input's size)"
        )
    if not torch.isfinite(out).all():
        raise UsageError(f"{name}: output has non-finite values on a random input")
