"""``ModelSpec``: one way to name a model, a registered name or a user's variant, for every command.

``ModelSpec.parse("eapnet-lightweight")`` and ``ModelSpec.parse("my_net.py:build")`` give the same
kind of object: a ``name`` (what results are stored under), the ``source`` the user wrote, and a
``factory`` that builds a fresh ``nn.Module``. The architecture hash (:meth:`ModelSpec.config_hash`)
is computed from the module actually built, on the meta device, so editing a variant file never
reuses an old result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from bench.spec.variants import load_variant
from models.registry import create_model, is_model


def model_config_hash(model: nn.Module) -> str:
    """Fingerprint of an architecture: its printed module tree and parameter/buffer shapes.

    Editing a layer, a channel count or a block count changes the hash, so a cached result is
    never reused for a model that has changed. Build the model on the meta device to make this free.
    """
    shapes = [(n, tuple(p.shape)) for n, p in model.named_parameters()]
    shapes += [(n, tuple(b.shape)) for n, b in model.named_buffers()]
    text = f"{type(model).__module__}.{type(model).__qualname__}\n{model!r}\n{shapes!r}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class ModelSpec:
    """A model to measure: its ``name``, where it comes from (``source``) and how to build it."""

    name: str
    source: str
    factory: Callable[[], nn.Module] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """A registered name, ``file.py:factory``, ``file.py:registered-name`` or ``module:Class``."""
        name, factory = load_variant(text)
        return cls(name=name, source=text.strip(), factory=factory)

    @classmethod
    def registered(cls, name: str) -> ModelSpec:
        return cls(name=name, source=name, factory=lambda: create_model(name))

    @classmethod
    def of(cls, name: str, factory: Callable[[], nn.Module] | None = None) -> ModelSpec:
        """From a name and an optional factory (the form older call sites use)."""
        if factory is None:
            return cls.registered(name)
        return cls(name=name, source=name, factory=factory)

    @property
    def is_registered(self) -> bool:
        """A registry model built by the registry (not a variant file that reuses a registered name)."""
        return self.source == self.name and is_model(self.name)

    def build(self) -> nn.Module:
        """A fresh model; inside ``torch.device("meta")`` a free, weightless copy."""
        model = self.factory()
        model.eapbench_name = self.name  # type: ignore[attr-defined]  # results carry the spec's name
        return model

    def config_hash(self) -> str:
        """The architecture hash; built on the meta device (free), or for real if the model refuses meta."""
        try:
            with torch.device("meta"):
                model = self.factory()
        except Exception:  # a user's model may create tensors on an explicit device in __init__
            model = self.factory()
        return model_config_hash(model)
